//! The only calls from GitHub and suggestions into memory (CONTRACT.md §15, issue 14), through
//! the backend's facade (`JobCtx::backend`): `Backend::sync_github_memory` (`POST
//! /memory/sync/github`, the app's camelCase `GitHubPR` / `GitHubCommit` objects of
//! original-memory.md §2.7) and `Backend::search_memory` (`POST /memory/search`).

use serde::Serialize;
use serde_json::{json, Value};

use crate::github::summary::{parse_date_ms, Commit, Pr, Summary};
use crate::jobs::JobCtx;

/// Counts of a memory sync (`processed` of `POST /memory/sync/github`: new observations).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MemoryCounts {
    pub prs_authored: u64,
    pub prs_reviewed: u64,
    pub commits: u64,
}

/// One memory search result as `suggest.generate` reports it (`memory_references`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MemoryRef {
    pub observation_id: Value,
    pub title: Value,
    pub snippet: Value,
    #[serde(rename = "type")]
    pub kind: Value,
    pub source: Value,
    pub event_time: Value,
    pub score: Value,
}

impl MemoryRef {
    /// A result object of `POST /memory/search` (missing keys become null).
    pub fn from_result(v: &Value) -> MemoryRef {
        let get = |k: &str| v.get(k).cloned().unwrap_or(Value::Null);
        MemoryRef {
            observation_id: get("observation_id"),
            title: get("title"),
            snippet: get("snippet"),
            kind: get("type"),
            source: get("source"),
            event_time: get("event_time"),
            score: get("score"),
        }
    }
}

fn pr_payload(pr: &Pr) -> Value {
    json!({
        "number": pr.number, "title": pr.title, "url": pr.url, "state": pr.state,
        "repository": pr.repository, "createdAt": pr.created_at, "updatedAt": pr.updated_at,
    })
}

fn commit_payload(c: &Commit) -> Value {
    json!({
        "sha": c.sha, "message": c.message, "repository": c.repository, "url": c.url,
        "createdAt": c.created_at,
    })
}

/// The body of `POST /memory/sync/github` for the items of `summary` updated at or after
/// `since_ms`: `{prs:{authored, reviewed}, commits}` in the app's camelCase objects.
pub fn github_payload(summary: &Summary, since_ms: i64) -> Value {
    let keep = |t: Option<i64>| t.is_some_and(|t| t >= since_ms);
    let prs = |list: &[Pr]| -> Vec<Value> {
        list.iter()
            .filter(|p| keep(p.time_ms()))
            .map(pr_payload)
            .collect()
    };
    let commits: Vec<Value> = summary
        .commits
        .iter()
        .filter(|c| keep(parse_date_ms(&c.created_at)))
        .map(commit_payload)
        .collect();
    json!({
        "prs": {"authored": prs(&summary.prs.authored), "reviewed": prs(&summary.prs.reviewed)},
        "commits": commits,
    })
}

/// Writes GitHub items into memory like `POST /memory/sync/github` (dedupe keys of the memory
/// sync). `None` when memory could not take them (the backend is closing, or the sync failed:
/// logged); the caller then reports its own counts.
pub async fn write_github_items(ctx: &JobCtx, payload: &Value) -> Option<MemoryCounts> {
    let backend = ctx.backend()?;
    match backend.sync_github_memory(payload).await {
        Ok(answer) => {
            let n = |k: &str| answer["processed"][k].as_u64().unwrap_or(0);
            Some(MemoryCounts {
                prs_authored: n("prs_authored"),
                prs_reviewed: n("prs_reviewed"),
                commits: n("commits"),
            })
        }
        Err(err) => {
            ctx.bus().publish(crate::events::Event::log(
                crate::events::Level::Warn,
                format!("github sync: memory could not take the items: {err}"),
            ));
            None
        }
    }
}

/// The body of `POST /memory/search` of the Summarize flow: the query and a limit of 100.
pub fn search_payload(query: &str, limit: usize) -> Value {
    json!({ "query": query, "limit": limit })
}

/// Reads the `results` of a `POST /memory/search` answer.
pub fn references_of(answer: &Value) -> Vec<MemoryRef> {
    answer
        .get("results")
        .and_then(Value::as_array)
        .map(|items| items.iter().map(MemoryRef::from_result).collect())
        .unwrap_or_default()
}

/// Searches memory for the prompt's `[Related Memory]` block. A failure gives no references,
/// as in the app.
pub async fn search(ctx: &JobCtx, payload: &Value) -> Vec<MemoryRef> {
    let Some(backend) = ctx.backend() else {
        return Vec::new();
    };
    match backend.search_memory(payload).await {
        Ok(answer) => serde_json::to_value(answer)
            .map(|v| references_of(&v))
            .unwrap_or_default(),
        Err(_) => Vec::new(),
    }
}
