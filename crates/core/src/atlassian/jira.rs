//! Jira Cloud (CONTRACT.md §9.2, §9.3, §9.6): credential check, the enhanced JQL search with
//! `nextPageToken` pagination, and the mapping of issues to activity events.

use serde_json::{json, Map, Value};

use super::client::{AtlassianClient, CallError};
use super::fields::{get, list, py_str, py_str_or, text, time, truthy, Me};
use super::sync::PageWriter;
use crate::activity::NewEvent;
use crate::jobs::Abort;
use crate::net::{Method, Request};

/// The JQL of every sync: the user's issues updated in the last 7 days.
pub const JQL: &str = "(creator = currentUser() OR reporter = currentUser() OR assignee = currentUser() OR commenter = currentUser()) AND updated >= -7d ORDER BY updated DESC";
/// The fields every search asks for.
pub const FIELDS: [&str; 8] = [
    "summary", "created", "updated", "status", "creator", "reporter", "assignee", "comment",
];
const SEARCH: &str = "/rest/api/3/search/jql";
const MAX_RESULTS: i64 = 50;
/// A safety bound on pages (50 issues each) against a server that never ends a token chain.
const MAX_PAGES: usize = 2000;

/// `GET /rest/api/3/myself?expand=groups,applicationRoles` must answer an object with a truthy
/// `accountId`.
pub async fn check_credentials(client: &AtlassianClient) -> Result<(), CallError> {
    let me = client
        .get(
            "/rest/api/3/myself",
            &[("expand", "groups,applicationRoles")],
            None,
        )
        .await?;
    if me.is_object() && truthy(get(&me, "accountId")) {
        Ok(())
    } else {
        Err(CallError::Failed("Unexpected Jira response".into()))
    }
}

/// The primary search body; `nextPageToken` only from page 2 on.
pub fn primary_body(token: Option<&str>) -> Value {
    let mut body = Map::new();
    body.insert("jql".into(), json!(JQL));
    body.insert("maxResults".into(), json!(MAX_RESULTS));
    body.insert("fieldsByKeys".into(), json!(false));
    body.insert("fields".into(), json!(FIELDS));
    if let Some(t) = token {
        body.insert("nextPageToken".into(), json!(t));
    }
    Value::Object(body)
}

/// The fallback body: `{jql, maxResults, nextPageToken?}`.
pub fn fallback_body(token: Option<&str>) -> Value {
    let mut body = Map::new();
    body.insert("jql".into(), json!(JQL));
    body.insert("maxResults".into(), json!(MAX_RESULTS));
    if let Some(t) = token {
        body.insert("nextPageToken".into(), json!(t));
    }
    Value::Object(body)
}

fn primary_request(client: &AtlassianClient, token: Option<&str>) -> Result<Request, CallError> {
    Ok(client
        .request(Method::Post, SEARCH)?
        .query("expand", "changelog")
        .json(&primary_body(token)))
}

fn fallback_request(client: &AtlassianClient, token: Option<&str>) -> Result<Request, CallError> {
    Ok(client
        .request(Method::Post, SEARCH)?
        .query("expand", "changelog")
        .query("fields", &FIELDS.join(","))
        .json(&fallback_body(token)))
}

/// One search page, resent in the fallback form when the site rejects the payload.
async fn search_page(
    client: &AtlassianClient,
    token: Option<&str>,
    abort: Option<&Abort>,
) -> Result<Value, CallError> {
    match client.call(&primary_request(client, token)?, abort).await {
        Err(CallError::Failed(text)) if text.contains("Invalid request payload") => {
            client.call(&fallback_request(client, token)?, abort).await
        }
        other => other,
    }
}

/// Fetches every page and hands each page's events to `writer` (one transaction per page).
pub async fn sync(
    client: &AtlassianClient,
    email: &str,
    since: i64,
    writer: &mut PageWriter,
) -> Result<(), CallError> {
    let abort = writer.abort();
    let me = client.get("/rest/api/3/myself", &[], Some(&abort)).await?;
    let me = Me::from_answer(&me, email);
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let page = search_page(client, token.as_deref(), Some(&abort)).await?;
        if !page.is_object() {
            return Err(CallError::Failed("Unexpected Jira response".into()));
        }
        let issues = list(&page, "issues");
        let events: Vec<NewEvent> = issues
            .iter()
            .flat_map(|issue| map_issue(issue, &me, since, client.base_url()))
            .collect();
        writer.write(events).await?;
        if issues.is_empty() || get(&page, "isLast").as_bool() == Some(true) {
            break;
        }
        match text(&page, "nextPageToken") {
            Some(next) if token.as_deref() != Some(next) => token = Some(next.to_string()),
            _ => break,
        }
    }
    Ok(())
}

/// The events of one issue (CONTRACT.md §9.3 table), times ≥ `since` only.
pub fn map_issue(issue: &Value, me: &Me, since: i64, base: &str) -> Vec<NewEvent> {
    let fields = get(issue, "fields");
    let key = text(issue, "key");
    let summary = text(fields, "summary").unwrap_or("Untitled issue");
    let title = match key {
        Some(k) => format!("{k}: {summary}"),
        None => summary.to_string(),
    };
    let url = key.map(|k| format!("{base}/browse/{k}"));
    let issue_id = py_str_or(get(issue, "id"), "unknown");
    let assigned_to_me = me.is(get(fields, "assignee"));
    let relevant = |author: &Value| me.id.is_none() || me.is(author) || assigned_to_me;
    let event =
        |event_id: String, event_type: &str, description: String, actor, ts, raw| NewEvent {
            event_id,
            event_type: event_type.into(),
            title: title.clone(),
            description: Some(description),
            url: url.clone(),
            actor,
            event_ts: ts,
            raw,
        };
    let mut out = Vec::new();

    let creator = get(fields, "creator");
    if let Some(ts) = time(get(fields, "created")) {
        if ts >= since && (me.id.is_none() || me.is(creator)) {
            out.push(event(
                format!("jira:issue:created:{issue_id}"),
                "issue.created",
                "Issue created".into(),
                Some(me.name_of(creator)),
                ts,
                json!({ "issue": key, "summary": summary }),
            ));
        }
    }

    for history in list(get(issue, "changelog"), "histories") {
        let author = get(history, "author");
        let Some(ts) = time(get(history, "created")) else {
            continue;
        };
        if ts < since || !relevant(author) {
            continue;
        }
        for item in list(history, "items") {
            if get(item, "field").as_str() != Some("status") {
                continue;
            }
            let to = if truthy(get(item, "to")) {
                py_str(get(item, "to"))
            } else {
                py_str(get(item, "toString"))
            };
            out.push(event(
                format!("jira:status:{}:{issue_id}:{to}", py_str(get(history, "id"))),
                "issue.status.changed",
                format!(
                    "Status: {} -> {}",
                    text(item, "fromString").unwrap_or("unknown"),
                    text(item, "toString").unwrap_or("unknown")
                ),
                Some(me.name_of(author)),
                ts,
                json!({ "issue": key, "from": get(item, "fromString"), "to": get(item, "toString") }),
            ));
        }
    }

    for comment in list(get(fields, "comment"), "comments") {
        let author = get(comment, "author");
        let Some(ts) = time(get(comment, "created")) else {
            continue;
        };
        if ts < since || !relevant(author) {
            continue;
        }
        let comment_id = py_str_or(get(comment, "id"), "unknown");
        out.push(event(
            format!("jira:comment:{comment_id}"),
            "issue.commented",
            "Comment added".into(),
            Some(me.name_of(author)),
            ts,
            json!({ "issue": key, "comment_id": get(comment, "id") }),
        ));
    }

    if let Some(ts) = time(get(fields, "updated")) {
        if ts >= since {
            let status = text(get(fields, "status"), "name");
            out.push(event(
                format!("jira:issue:updated:{issue_id}:{ts}"),
                "issue.updated",
                match status {
                    Some(s) => format!("Updated (status: {s})"),
                    None => "Updated".into(),
                },
                None,
                ts,
                json!({ "issue": key, "status": status }),
            ));
        }
    }
    out
}

/// One request and answer of the dev search.
async fn record(
    client: &AtlassianClient,
    request: &Request,
    params: Value,
    body: Value,
) -> (Value, Option<String>) {
    let req = json!({
        "url": request.url_without_query(),
        "method": request.method().as_str(),
        "params": params,
        "body": body,
    });
    let (response, text) = match client.exchange(request, None).await {
        Ok(r) => (
            json!({ "status": r.status, "ok": r.is_success(), "body": r.lenient_body(), "error": null }),
            Some(r.text()).filter(|_| r.status == 400),
        ),
        Err(err) => (
            json!({ "status": 0, "ok": false, "body": null, "error": err.to_string() }),
            None,
        ),
    };
    (json!({ "request": req, "response": response }), text)
}

/// `searchJira` (CONTRACT.md §9.6): one live search (plus the fallback when the primary
/// answered 400 with `Invalid request payload`), returned raw, never with credentials.
pub async fn dev_search(client: &AtlassianClient, account_id: &str) -> Result<Value, CallError> {
    let primary_req = primary_request(client, None)?;
    let (primary, bad_request_text) = record(
        client,
        &primary_req,
        json!({ "expand": "changelog" }),
        primary_body(None),
    )
    .await;
    let fallback = match bad_request_text {
        Some(text) if text.contains("Invalid request payload") => {
            let req = fallback_request(client, None)?;
            record(
                client,
                &req,
                json!({ "expand": "changelog", "fields": FIELDS.join(",") }),
                fallback_body(None),
            )
            .await
            .0
        }
        _ => Value::Null,
    };
    Ok(json!({ "account_id": account_id, "primary": primary, "fallback": fallback }))
}
