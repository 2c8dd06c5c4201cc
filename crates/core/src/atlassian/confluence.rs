//! Confluence Cloud (CONTRACT.md §9.2, §9.4): credential check, the two CQL searches with
//! `start`/`totalSize` pagination, and the mapping of content and comments to activity events.

use serde_json::{json, Value};

use super::client::{AtlassianClient, CallError};
use super::fields::{account_id, get, list, py_str, text, time, time_ms, truthy, Me};
use super::sync::PageWriter;
use crate::activity::NewEvent;

/// Pages and blog posts I created or last modified in the last 7 days.
pub const CONTENT_CQL: &str = "type in (\"page\",\"blogpost\") AND (creator = currentUser() OR lastmodifiedby = currentUser()) AND lastmodified >= now(\"-7d\") ORDER BY lastmodified DESC";
/// Comments I created in the last 7 days.
pub const COMMENT_CQL: &str =
    "type = comment AND creator = currentUser() AND created >= now(\"-7d\") ORDER BY created DESC";
const CONTENT_EXPAND: &str = "content.history,content.version,content._links";
const COMMENT_EXPAND: &str = "content.history,content.container,content._links";
const SEARCH: &str = "/wiki/rest/api/search";
const LIMIT: &str = "50";
/// A safety bound on pages per search.
const MAX_PAGES: usize = 2000;

/// `GET /wiki/rest/api/user/current` must answer an object with a truthy `accountId`.
pub async fn check_credentials(client: &AtlassianClient) -> Result<(), CallError> {
    let me = client.get("/wiki/rest/api/user/current", &[], None).await?;
    if me.is_object() && truthy(get(&me, "accountId")) {
        Ok(())
    } else {
        Err(CallError::Failed("Unexpected Confluence response".into()))
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Content,
    Comment,
}

/// Runs both searches, handing each page's events to `writer`.
pub async fn sync(
    client: &AtlassianClient,
    email: &str,
    since: i64,
    writer: &mut PageWriter,
) -> Result<(), CallError> {
    let abort = writer.abort();
    let me = client
        .get("/wiki/rest/api/user/current", &[], Some(&abort))
        .await?;
    let me = Me::from_answer(&me, email);
    for (cql, expand, kind) in [
        (CONTENT_CQL, CONTENT_EXPAND, Kind::Content),
        (COMMENT_CQL, COMMENT_EXPAND, Kind::Comment),
    ] {
        let mut start: i64 = 0;
        for _ in 0..MAX_PAGES {
            let start_text = start.to_string();
            let page = client
                .get(
                    SEARCH,
                    &[
                        ("cql", cql),
                        ("start", &start_text),
                        ("limit", LIMIT),
                        ("expand", expand),
                    ],
                    Some(&abort),
                )
                .await?;
            if !page.is_object() {
                break;
            }
            let results = list(&page, "results");
            if results.is_empty() {
                break;
            }
            let events: Vec<NewEvent> = results
                .iter()
                .filter_map(|r| match kind {
                    Kind::Content => Some(map_content(r, &me, since, client.base_url())),
                    Kind::Comment => map_comment(r, &me, since, client.base_url()).map(|e| vec![e]),
                })
                .flatten()
                .collect();
            writer.write(events).await?;
            start += results.len() as i64;
            let total = get(&page, "totalSize").as_i64().unwrap_or(0);
            if start >= total {
                break;
            }
        }
    }
    Ok(())
}

/// A result's `content` when present, else the result itself.
fn content_of(result: &Value) -> &Value {
    match result.get("content") {
        Some(c) if truthy(c) => c,
        _ => result,
    }
}

/// `_links.webui` when absolute, else `<base>` + webui (drops Confluence's `/wiki` prefix, as
/// the original did); `None` when missing.
fn url_of(content: &Value, base: &str) -> Option<String> {
    let webui = text(get(content, "_links"), "webui")?;
    Some(if webui.starts_with("http") {
        webui.to_string()
    } else {
        format!("{base}{webui}")
    })
}

/// Created and updated events of a page or blog post (CONTRACT.md §9.4 table).
pub fn map_content(result: &Value, me: &Me, since: i64, base: &str) -> Vec<NewEvent> {
    let content = content_of(result);
    let ctype = text(content, "type").unwrap_or("page");
    let id = py_str(get(content, "id"));
    let title = text(content, "title")
        .unwrap_or("Untitled page")
        .to_string();
    let url = url_of(content, base);
    let raw = json!({ "content_id": get(content, "id"), "type": ctype });
    let history = get(content, "history");
    let created_by = get(history, "createdBy");
    let created_ms = time_ms(get(history, "createdDate"));
    let mut out = Vec::new();
    if let Some(ts) = time(get(history, "createdDate")) {
        if ts >= since && account_id(created_by) == me.id.as_deref() {
            out.push(NewEvent {
                event_id: format!("confluence:created:{id}"),
                event_type: format!("{ctype}.created"),
                title: title.clone(),
                description: Some("Content created".into()),
                url: url.clone(),
                actor: Some(me.name_of(created_by)),
                event_ts: ts,
                raw: raw.clone(),
            });
        }
    }
    let version = get(content, "version");
    let by = get(version, "by");
    if let Some(ts) = time(get(version, "when")) {
        let distinct = created_ms.is_none() || created_ms != time_ms(get(version, "when"));
        if ts >= since && account_id(by) == me.id.as_deref() && distinct {
            let number = match get(version, "number") {
                Value::Number(n) if n.is_i64() || n.is_u64() => format!(":{n}"),
                _ => String::new(),
            };
            out.push(NewEvent {
                event_id: format!("confluence:updated:{id}{number}"),
                event_type: format!("{ctype}.updated"),
                title,
                description: Some("Content updated".into()),
                url,
                actor: Some(me.name_of(by)),
                event_ts: ts,
                raw,
            });
        }
    }
    out
}

/// The `comment.created` event of a comment result.
pub fn map_comment(result: &Value, me: &Me, since: i64, base: &str) -> Option<NewEvent> {
    let content = content_of(result);
    let history = get(content, "history");
    let created_by = get(history, "createdBy");
    let ts = time(get(history, "createdDate"))?;
    if ts < since || !(me.id.is_none() || me.is(created_by)) {
        return None;
    }
    let container = text(get(content, "container"), "title");
    Some(NewEvent {
        event_id: format!("confluence:comment:{}", py_str(get(content, "id"))),
        event_type: "comment.created".into(),
        title: text(content, "title").unwrap_or("Comment").to_string(),
        description: Some(match container {
            Some(t) => format!("Commented on {t}"),
            None => "Comment added".into(),
        }),
        url: url_of(content, base),
        actor: Some(me.name_of(created_by)),
        event_ts: ts,
        raw: json!({ "content_id": get(content, "id"), "container": container }),
    })
}
