//! How items become observations (reference §2.7), with the fixes of CONTRACT.md §15.4: a JSON
//! `null` counts as absent (never the text `None`), times are milliseconds, Jira/Confluence
//! types follow the map the original meant, and every item is checked on its own (a bad item
//! fails alone).

use rusqlite::Row;
use serde_json::{Map, Value};

use super::input::{parse_time_ms, MAX_CHARS};
use super::observation::{head, Draft};
use crate::time::now_iso;

/// A field as text: strings as they are, numbers and booleans printed; absent, `null` and
/// containers are `None`.
fn text(item: &Map<String, Value>, key: &str) -> Option<String> {
    match item.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(if *b { "True" } else { "False" }.to_string()),
        _ => None,
    }
}

/// Python's `d.get(key, default)` with `null` treated as absent.
fn get_or(item: &Map<String, Value>, key: &str, default: &str) -> String {
    text(item, key).unwrap_or_else(|| default.to_string())
}

/// Python's `d.get(key) or fallback`: empty counts as absent too.
fn non_empty(item: &Map<String, Value>, key: &str) -> Option<String> {
    text(item, key).filter(|s| !s.is_empty())
}

/// The last `/` segment of a repository or path.
fn last_segment(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Checks the sizes of a finished draft (every string ≤ 100,000 characters).
fn bounded(d: Draft) -> Result<Draft, String> {
    let too_long = |s: &str| s.chars().count() > MAX_CHARS;
    if too_long(&d.title) || too_long(&d.narrative) || too_long(&d.event_time) {
        return Err("a field is longer than 100000 characters".into());
    }
    Ok(d)
}

fn time_ms(event_time: &str) -> Result<i64, String> {
    parse_time_ms(event_time).ok_or_else(|| super::input::invalid_time(event_time).to_string())
}

fn object(item: &Value) -> Result<&Map<String, Value>, String> {
    item.as_object()
        .ok_or_else(|| "item is not an object".to_string())
}

/// A GitHub PR of the renderer (`{number, title, url, state, repository, createdAt,
/// updatedAt}`); `pr_type` is `authored` or `reviewed`.
pub fn github_pr(item: &Value, pr_type: &str) -> Result<Draft, String> {
    let pr = object(item)?;
    let key = format!(
        "github:pr:{pr_type}:{}:{}",
        get_or(pr, "repository", ""),
        get_or(pr, "number", "")
    );
    let title = get_or(pr, "title", "Untitled PR");
    let repo = get_or(pr, "repository", "unknown");
    let number = get_or(pr, "number", "0");
    let state = get_or(pr, "state", "open");
    let url = get_or(pr, "url", "");
    let verb = if pr_type == "authored" {
        "Created"
    } else {
        "Reviewed"
    };
    let mut lines = vec![
        format!("{verb} PR #{number} in {repo}"),
        format!("Title: {title}"),
        format!("State: {state}"),
    ];
    if !url.is_empty() {
        lines.push(format!("URL: {url}"));
    }
    let mut facts = vec![
        format!("PR #{number}"),
        format!("Repository: {repo}"),
        format!("Type: {pr_type}"),
    ];
    if !state.is_empty() {
        facts.push(format!("State: {state}"));
    }
    let event_time = non_empty(pr, "updatedAt")
        .or_else(|| non_empty(pr, "createdAt"))
        .unwrap_or_else(now_iso);
    let event_ts = time_ms(&event_time)?;
    bounded(Draft {
        title: format!("PR: {title}"),
        narrative: lines.join("\n"),
        facts: Some(facts),
        concepts: Some(vec![
            "pull-request".to_string(),
            last_segment(&repo).to_string(),
        ]),
        kind: "task".into(),
        source: "github".into(),
        source_event_id: Some(key.clone()),
        project_path: None,
        event_time,
        event_ts,
        ledger: Some(("github_pr".into(), key)),
    })
}

/// A commit of the renderer (`{sha, message, repository, url, createdAt}`).
pub fn github_commit(item: &Value) -> Result<Draft, String> {
    let c = object(item)?;
    let sha = head(&get_or(c, "sha", ""), 7).to_string();
    let repo = get_or(c, "repository", "unknown");
    let key = format!("github:commit:{repo}:{sha}");
    let message = get_or(c, "message", "No message");
    let title_line = head(message.split('\n').next().unwrap_or(""), 100).to_string();
    let url = get_or(c, "url", "");
    let mut lines = vec![
        format!("Committed to {repo}"),
        format!("Message: {}", head(&message, 500)),
    ];
    if !url.is_empty() {
        lines.push(format!("URL: {url}"));
    }
    let event_time = non_empty(c, "createdAt").unwrap_or_else(now_iso);
    let event_ts = time_ms(&event_time)?;
    bounded(Draft {
        title: format!("Commit: {title_line}"),
        narrative: lines.join("\n"),
        facts: Some(vec![format!("SHA: {sha}"), format!("Repository: {repo}")]),
        concepts: Some(vec!["commit".into(), last_segment(&repo).to_string()]),
        kind: "activity".into(),
        source: "github".into(),
        source_event_id: Some(key.clone()),
        project_path: None,
        event_time,
        event_ts,
        ledger: Some(("github_commit".into(), key)),
    })
}

/// A Claude Code session of the renderer (`{id, summary, firstMessage, timestamp,
/// messageCount, gitBranch, projectPath}`).
pub fn claude_session(item: &Value) -> Result<Draft, String> {
    let s = object(item)?;
    let key = format!("claude:session:{}", get_or(s, "id", ""));
    let summary = get_or(s, "summary", "");
    let first = get_or(s, "firstMessage", "");
    let branch = get_or(s, "gitBranch", "");
    let project_path = get_or(s, "projectPath", "");
    let count = get_or(s, "messageCount", "0");
    let title = if !summary.is_empty() {
        head(&summary, 100).to_string()
    } else if !first.is_empty() {
        head(&first, 100).to_string()
    } else {
        "Claude Session".to_string()
    };
    let project_name = last_segment(&project_path).to_string();
    let mut lines = vec!["Claude Code session".to_string()];
    if !summary.is_empty() {
        lines.push(format!("Summary: {summary}"));
    }
    if !first.is_empty() && first != summary {
        lines.push(format!("Initial request: {}", head(&first, 300)));
    }
    if !branch.is_empty() {
        lines.push(format!("Branch: {branch}"));
    }
    if !project_path.is_empty() {
        lines.push(format!("Project: {project_name}"));
    }
    let mut facts = vec![format!("{count} messages")];
    if !branch.is_empty() {
        facts.push(format!("Branch: {branch}"));
    }
    let mut concepts = vec!["claude-code".to_string()];
    if !project_path.is_empty() {
        concepts.push(project_name);
    }
    let event_time = non_empty(s, "timestamp").unwrap_or_else(now_iso);
    let event_ts = time_ms(&event_time)?;
    bounded(Draft {
        title,
        narrative: lines.join("\n"),
        facts: Some(facts),
        concepts: Some(concepts),
        kind: "activity".into(),
        source: "claude".into(),
        source_event_id: Some(key.clone()),
        project_path: Some(project_path),
        event_time,
        event_ts,
        ledger: Some(("claude_session".into(), key)),
    })
}

/// The columns [`calendar_event`] reads from `calendar_events`.
pub const CALENDAR_COLUMNS: &str = "e.account_id, e.calendar_id, e.event_id, e.title, \
    e.description, e.start_time, e.end_time, e.start_ts, e.all_day, e.location, \
    e.conference_url, e.attendees_json";

/// A calendar event row (selected with [`CALENDAR_COLUMNS`]) → a `meeting` observation.
pub fn calendar_event(r: &Row<'_>) -> rusqlite::Result<Result<Draft, String>> {
    let account: Option<String> = r.get(0)?;
    let calendar: Option<String> = r.get(1)?;
    let event_id: Option<String> = r.get(2)?;
    let title: Option<String> = r.get(3)?;
    let description: Option<String> = r.get(4)?;
    let start_time: Option<String> = r.get(5)?;
    let end_time: Option<String> = r.get(6)?;
    let start_ts: Option<i64> = r.get(7)?;
    let all_day: Option<i64> = r.get(8)?;
    let location: Option<String> = r.get(9)?;
    let conference: Option<String> = r.get(10)?;
    let attendees_json: Option<String> = r.get(11)?;
    let key = format!(
        "{}:{}:{}",
        account.as_deref().unwrap_or("unknown"),
        calendar.as_deref().unwrap_or(""),
        event_id.as_deref().unwrap_or("")
    );
    let title = title
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "Untitled Meeting".into());
    let attendees: Vec<Value> = attendees_json
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default();
    let mut lines = vec![format!("Meeting: {title}")];
    if let Some(d) = description.as_deref().filter(|d| !d.is_empty()) {
        lines.push(format!("Description: {}", head(d, 500)));
    }
    if let Some(l) = location.as_deref().filter(|l| !l.is_empty()) {
        lines.push(format!("Location: {l}"));
    }
    let conference = conference.filter(|c| !c.is_empty());
    if let Some(c) = &conference {
        lines.push(format!("Conference: {c}"));
    }
    if !attendees.is_empty() {
        let names: Vec<String> = attendees
            .iter()
            .take(10)
            .map(|a| {
                a.as_object()
                    .and_then(|a| text(a, "email").or_else(|| text(a, "displayName")))
                    .unwrap_or_else(|| "unknown".into())
            })
            .collect();
        lines.push(format!("Attendees: {}", names.join(", ")));
    }
    let mut facts = Vec::new();
    if all_day.unwrap_or(0) != 0 {
        facts.push("All-day event".to_string());
    }
    if conference.is_some() {
        facts.push("Has video conference".to_string());
    }
    if attendees.len() > 1 {
        facts.push(format!("{} attendees", attendees.len()));
    }
    let event_time = start_time
        .filter(|s| !s.is_empty())
        .or(end_time.filter(|s| !s.is_empty()))
        .unwrap_or_else(now_iso);
    let event_ts = match start_ts.filter(|&t| t != 0) {
        Some(secs) => Ok(secs * 1000),
        None => time_ms(&event_time),
    };
    Ok(event_ts.and_then(|event_ts| {
        bounded(Draft {
            title,
            narrative: lines.join("\n"),
            facts: (!facts.is_empty()).then_some(facts),
            concepts: None,
            kind: "meeting".into(),
            source: "calendar".into(),
            source_event_id: event_id,
            project_path: None,
            event_time,
            event_ts,
            ledger: Some(("calendar_event".into(), key)),
        })
    }))
}

/// The observation type of an activity event type: what the original's map meant
/// (reference §2.7c) — Jira issues are `task`s, Confluence pages and blog posts `note`s,
/// anything else (comments) `activity`.
pub fn activity_type(event_type: &str) -> &'static str {
    if event_type.starts_with("issue.") {
        "task"
    } else if event_type.starts_with("page.") || event_type.starts_with("blogpost.") {
        "note"
    } else {
        "activity"
    }
}

/// The columns [`activity_event`] reads from `activity_events`.
pub const ACTIVITY_COLUMNS: &str =
    "a.event_id, a.source, a.event_type, a.title, a.description, a.url, a.actor, a.event_time, a.event_ts";

/// An activity row (selected with [`ACTIVITY_COLUMNS`]) → an observation.
pub fn activity_event(r: &Row<'_>) -> rusqlite::Result<Result<Draft, String>> {
    let event_id: String = r.get(0)?;
    let source: String = r.get(1)?;
    let event_type: String = r.get(2)?;
    let title: String = r.get(3)?;
    let description: Option<String> = r.get(4)?;
    let url: Option<String> = r.get(5)?;
    let actor: Option<String> = r.get(6)?;
    let event_time: String = r.get(7)?;
    let event_ts: i64 = r.get(8)?;
    let title = if title.is_empty() {
        "Untitled Activity".to_string()
    } else {
        title
    };
    let mut lines = vec![format!("{event_type}: {title}")];
    if let Some(d) = description.as_deref().filter(|d| !d.is_empty()) {
        lines.push(format!("Description: {}", head(d, 500)));
    }
    if let Some(u) = url.as_deref().filter(|u| !u.is_empty()) {
        lines.push(format!("Link: {u}"));
    }
    if let Some(a) = actor.as_deref().filter(|a| !a.is_empty()) {
        lines.push(format!("By: {a}"));
    }
    let event_time = if event_time.is_empty() {
        now_iso()
    } else {
        event_time
    };
    Ok(bounded(Draft {
        title,
        narrative: lines.join("\n"),
        facts: None,
        concepts: None,
        kind: activity_type(&event_type).into(),
        source: source.clone(),
        source_event_id: Some(event_id.clone()),
        project_path: None,
        event_time,
        event_ts: event_ts * 1000,
        ledger: Some((format!("{source}_{event_type}"), event_id)),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pr_matches_the_original_example() {
        let d = github_pr(
            &json!({"number": 5, "title": "Add X", "url": "https://github.com/o/r/pull/5",
                    "state": "OPEN", "repository": "o/r", "updatedAt": "2025-12-02T03:04:05Z"}),
            "authored",
        )
        .unwrap();
        assert_eq!(d.title, "PR: Add X");
        assert_eq!(
            d.narrative,
            "Created PR #5 in o/r\nTitle: Add X\nState: OPEN\nURL: https://github.com/o/r/pull/5"
        );
        assert_eq!(
            d.facts.unwrap(),
            vec!["PR #5", "Repository: o/r", "Type: authored", "State: OPEN"]
        );
        assert_eq!(d.concepts.unwrap(), vec!["pull-request", "r"]);
        assert_eq!(
            d.source_event_id.as_deref(),
            Some("github:pr:authored:o/r:5")
        );
        assert_eq!(d.event_ts, 1_764_644_645_000);
    }

    #[test]
    fn nulls_are_absent_not_none() {
        let d = github_pr(
            &json!({"title": null, "repository": "o/r", "number": 1}),
            "reviewed",
        )
        .unwrap();
        assert_eq!(d.title, "PR: Untitled PR");
        assert!(!d.narrative.contains("None"));
        let s = claude_session(
            &json!({"id": "s1", "summary": "Refactor auth", "firstMessage": "Refactor auth",
            "timestamp": "2025-12-10T01:02:03.456Z", "messageCount": 12, "gitBranch": "main",
            "projectPath": "/Users/alice/src/proj"}),
        )
        .unwrap();
        assert_eq!(
            s.narrative,
            "Claude Code session\nSummary: Refactor auth\nBranch: main\nProject: proj"
        );
        assert_eq!(s.facts.unwrap(), vec!["12 messages", "Branch: main"]);
        assert_eq!(s.event_ts, 1_765_328_523_000);
        assert!(claude_session(&json!({"id": "x", "timestamp": "garbage"})).is_err());
        assert!(github_commit(&json!(5)).is_err());
    }

    #[test]
    fn type_map() {
        assert_eq!(activity_type("issue.status.changed"), "task");
        assert_eq!(activity_type("page.created"), "note");
        assert_eq!(activity_type("blogpost.created"), "note");
        assert_eq!(activity_type("comment.created"), "activity");
    }
}
