//! The MCP server's protocol half (CONTRACT.md §16): JSON-RPC 2.0 messages in, answers out,
//! with the original's server name, instructions and four tools (reference §5.2–5.4). The
//! HTTP adapter carries the messages (Streamable HTTP at `/mcp`); this module knows nothing
//! about transports, so it is tested without one.

use serde_json::{json, Value};

use super::input::{Mode, SearchInput, TimelineInput, MAX_CHARS};
use crate::error::Error;

/// Protocol revisions this server speaks, newest first.
pub const PROTOCOL_VERSIONS: [&str; 4] = ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];

/// The server name (also the `mcpServers` key and the tools' prefix in Claude Code).
pub const SERVER_NAME: &str = "enttok-memory";

/// The four tools' names as Claude Code sees them (`--allowedTools`).
pub fn allowed_tools() -> Vec<String> {
    [
        "search_memory_tool",
        "get_observations_tool",
        "timeline_tool",
        "memory_stats_tool",
    ]
    .iter()
    .map(|t| format!("mcp__{SERVER_NAME}__{t}"))
    .collect()
}

/// The `mcpConfig()` object for a server on `port` with `token`.
pub fn config(port: u16, token: &str) -> Value {
    json!({ "mcpServers": { SERVER_NAME: {
        "type": "http",
        "url": format!("http://127.0.0.1:{port}/mcp"),
        "headers": { "X-Backend-Token": token },
    }}})
}

const INSTRUCTIONS: &str = "\n# Enttok Memory System\n\nThis MCP server provides access to your work journal memory system.\nUse these tools to search and retrieve observations from your work history.\n\n## Available Tools\n\n1. **search_memory** - Search observations using hybrid search (keyword + semantic)\n   - Use this first to find relevant observations\n   - Returns compact summaries for token efficiency\n\n2. **get_observations** - Get full details for specific observation IDs\n   - Use after search_memory to get complete information\n   - Always batch multiple IDs for efficiency\n\n3. **timeline** - Get temporal context around a point in time\n   - Useful for understanding event sequences\n   - Shows observations before and after an anchor\n\n4. **memory_stats** - Get statistics about the memory system\n   - Shows counts by type and source\n   - Includes sync status information\n\n## Progressive Disclosure Workflow\n\nFor optimal token efficiency, follow this workflow:\n\n1. Call search_memory() with your query (~100 tokens per result)\n2. Review the compact summaries\n3. Call get_observations() for IDs you need (~500-1000 tokens each)\n\nThis approach saves 50-80% of tokens compared to loading all details upfront.\n\n## Observation Types\n\n- **meeting**: Calendar events and meetings\n- **task**: Jira issues and work items\n- **note**: Confluence pages and documentation\n- **decision**: Important decisions captured\n- **activity**: General activity events\n\n## Sources\n\n- **calendar**: Google Calendar events\n- **jira**: Jira issues and updates\n- **confluence**: Confluence pages and comments\n- **manual**: Manually created observations\n";

fn nullable_string(title: &str) -> Value {
    json!({"anyOf": [{"type": "string"}, {"type": "null"}], "default": null, "title": title})
}

/// `tools/list`'s answer.
pub fn tools() -> Value {
    json!({ "tools": [
        {
            "name": "search_memory_tool",
            "description": "Search memory observations using hybrid search (keyword + semantic).\n\nReturns compact index of matching observations. Use get_observations()\nto retrieve full details for specific IDs.\n\nArgs:\n    query: Search query text\n    type: Filter by type (meeting, task, decision, note)\n    source: Filter by source (calendar, jira, confluence, manual)\n    limit: Max results (default 10)\n    days_back: Days to search back (default 90)\n",
            "inputSchema": {"properties": {
                "query": {"title": "Query", "type": "string"},
                "type": nullable_string("Type"),
                "source": nullable_string("Source"),
                "limit": {"default": 10, "title": "Limit", "type": "integer"},
                "days_back": {"default": 90, "title": "Days Back", "type": "integer"}},
                "required": ["query"], "title": "search_memory_toolArguments", "type": "object"}
        },
        {
            "name": "get_observations_tool",
            "description": "Get full details for specific observations by ID.\n\nAlways batch multiple IDs in a single call for efficiency.\n\nArgs:\n    ids: List of observation IDs to retrieve\n",
            "inputSchema": {"properties": {"ids": {"items": {"type": "string"}, "title": "Ids", "type": "array"}},
                "required": ["ids"], "title": "get_observations_toolArguments", "type": "object"}
        },
        {
            "name": "timeline_tool",
            "description": "Get observations around a specific point in time.\n\nProvide anchor_id or anchor_date, or omit both for current time.\n\nArgs:\n    anchor_id: Observation ID to anchor timeline\n    anchor_date: ISO date to anchor timeline\n    depth_before: Observations before anchor (default 5)\n    depth_after: Observations after anchor (default 5)\n",
            "inputSchema": {"properties": {
                "anchor_id": nullable_string("Anchor Id"),
                "anchor_date": nullable_string("Anchor Date"),
                "depth_before": {"default": 5, "title": "Depth Before", "type": "integer"},
                "depth_after": {"default": 5, "title": "Depth After", "type": "integer"}},
                "title": "timeline_toolArguments", "type": "object"}
        },
        {
            "name": "memory_stats_tool",
            "description": "Get statistics about the memory system.\n\nReturns counts by type/source, date range, and sync status.\n",
            "inputSchema": {"properties": {}, "title": "memory_stats_toolArguments", "type": "object"}
        }
    ]})
}

fn rpc_error(id: &Value, code: i64, message: &str) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": message } })
}

fn rpc_result(id: &Value, result: Value) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "result": result })
}

/// A tool failure's text (what FastMCP answered: `Error executing tool <name>: <message>`).
struct ToolError(String);

impl From<Error> for ToolError {
    fn from(e: Error) -> Self {
        ToolError(e.to_string())
    }
}

fn arg_int(args: &Value, key: &str, default: i64) -> Result<i64, ToolError> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => crate::validate::parse_lax_int(v)
            .ok_or_else(|| ToolError(format!("{key}: Input should be a valid integer"))),
    }
}

fn arg_str(args: &Value, key: &str) -> Result<Option<String>, ToolError> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.chars().count() <= MAX_CHARS => Ok(Some(s.clone())),
        Some(Value::String(_)) => Err(ToolError(format!(
            "{key}: String should have at most {MAX_CHARS} characters"
        ))),
        Some(_) => Err(ToolError(format!("{key}: Input should be a valid string"))),
    }
}

impl crate::Backend {
    /// Answers one JSON-RPC message of an MCP client; `None` for notifications and responses
    /// (the transport answers 202).
    pub async fn mcp_message(&self, msg: &Value) -> Option<Value> {
        let Some(obj) = msg.as_object() else {
            return Some(rpc_error(&Value::Null, -32600, "Invalid Request"));
        };
        let id = obj.get("id").cloned();
        let Some(method) = obj.get("method").and_then(Value::as_str) else {
            // A response from the client (we never ask anything): nothing to answer.
            return match id {
                Some(_) if obj.contains_key("result") || obj.contains_key("error") => None,
                _ => Some(rpc_error(
                    &id.unwrap_or(Value::Null),
                    -32600,
                    "Invalid Request",
                )),
            };
        };
        let id = id?; // a notification: nothing to answer
        let params = obj.get("params").cloned().unwrap_or(json!({}));
        Some(match method {
            "initialize" => {
                let asked = params.get("protocolVersion").and_then(Value::as_str);
                let version = asked
                    .filter(|v| PROTOCOL_VERSIONS.contains(v))
                    .unwrap_or(PROTOCOL_VERSIONS[0]);
                rpc_result(
                    &id,
                    json!({
                        "protocolVersion": version,
                        "capabilities": { "tools": { "listChanged": false } },
                        "serverInfo": { "name": SERVER_NAME, "version": env!("CARGO_PKG_VERSION") },
                        "instructions": INSTRUCTIONS,
                    }),
                )
            }
            "ping" => rpc_result(&id, json!({})),
            "tools/list" => rpc_result(&id, tools()),
            "tools/call" => {
                let name = params.get("name").and_then(Value::as_str).unwrap_or("");
                let args = params.get("arguments").cloned().unwrap_or(json!({}));
                if !matches!(
                    name,
                    "search_memory_tool"
                        | "get_observations_tool"
                        | "timeline_tool"
                        | "memory_stats_tool"
                ) {
                    return Some(rpc_error(&id, -32602, &format!("Unknown tool: {name}")));
                }
                let (text, is_error) = match self.call_tool(name, &args).await {
                    Ok(value) => (
                        serde_json::to_string_pretty(&value).unwrap_or_else(|_| "null".into()),
                        false,
                    ),
                    Err(ToolError(message)) => {
                        (format!("Error executing tool {name}: {message}"), true)
                    }
                };
                rpc_result(
                    &id,
                    json!({ "content": [{ "type": "text", "text": text }], "isError": is_error }),
                )
            }
            _ => rpc_error(&id, -32601, &format!("Method not found: {method}")),
        })
    }

    async fn call_tool(&self, name: &str, args: &Value) -> Result<Value, ToolError> {
        if !args.is_object() {
            return Err(ToolError("arguments must be an object".into()));
        }
        match name {
            "search_memory_tool" => {
                let query = arg_str(args, "query")?
                    .ok_or_else(|| ToolError("query: Field required".into()))?;
                let limit = arg_int(args, "limit", 10)?;
                if limit < 1 {
                    return Err(ToolError(
                        "limit: Input should be greater than or equal to 1".into(),
                    ));
                }
                let days_back = arg_int(args, "days_back", 90)?;
                if !(1..=365).contains(&days_back) {
                    return Err(ToolError("days_back: Input should be from 1 to 365".into()));
                }
                let end = crate::time::now_ms();
                let q = SearchInput {
                    query,
                    window: super::store::Window {
                        start: end - days_back * 86_400_000,
                        end,
                        kind: arg_str(args, "type")?,
                        source: arg_str(args, "source")?,
                    },
                    limit: limit.min(50),
                    mode: Mode::Hybrid,
                };
                self.check_open()?;
                let state = std::sync::Arc::clone(self.memory_state());
                Ok(serde_json::to_value(self.run_search(&state, q).await?).unwrap_or(Value::Null))
            }
            "get_observations_tool" => {
                let ids = match args.get("ids") {
                    // FastMCP pre-parsed a JSON-encoded list.
                    Some(Value::String(s)) => serde_json::from_str::<Value>(s)
                        .map_err(|_| ToolError("ids: Input should be a valid list".into()))?,
                    Some(v) => v.clone(),
                    None => return Err(ToolError("ids: Field required".into())),
                };
                let Value::Array(items) = ids else {
                    return Err(ToolError("ids: Input should be a valid list".into()));
                };
                let ids: Vec<String> = items
                    .iter()
                    .take(50)
                    .map(|v| v.as_str().map(String::from))
                    .collect::<Option<_>>()
                    .ok_or_else(|| ToolError("ids: every item should be a valid string".into()))?;
                if ids.is_empty() {
                    return Ok(json!({ "observations": [], "count": 0 }));
                }
                let observations = self.get_observations(&json!({ "ids": ids })).await?;
                let rows: Vec<Value> = observations.iter().map(|o| o.mcp_row()).collect();
                Ok(json!({ "observations": rows, "count": observations.len() }))
            }
            "timeline_tool" => {
                let before = arg_int(args, "depth_before", 5)?;
                let after = arg_int(args, "depth_after", 5)?;
                if before < 0 || after < 0 {
                    return Err(ToolError("depths must be 0 or more".into()));
                }
                let t = TimelineInput {
                    anchor_id: arg_str(args, "anchor_id")?,
                    anchor_date: arg_str(args, "anchor_date")?,
                    before: before.min(50),
                    after: after.min(50),
                };
                self.check_open()?;
                let timeline = self.timeline_of(t).await?;
                let observations: Vec<Value> = timeline
                    .observations
                    .iter()
                    .map(|s| {
                        json!({ "observation_id": s.observation_id, "title": s.title,
                        "type": s.kind, "source": s.source, "event_time": s.event_time })
                    })
                    .collect();
                Ok(json!({ "observations": observations, "anchor_ts": timeline.anchor_ts }))
            }
            _ => {
                let (c, available) = self.memory_counts().await?;
                Ok(json!({
                    "total_observations": c.total,
                    "by_type": c.by_type,
                    "by_source": c.by_source,
                    "date_range": { "min_ts": c.min_ts, "max_ts": c.max_ts },
                    "pending_chroma_sync": c.total - c.with_vector,
                    "chroma_synced": c.with_vector,
                    "chroma_available": available,
                    "chroma_count": c.vectors,
                }))
            }
        }
    }
}
