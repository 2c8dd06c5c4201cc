//! The `connector.github.sync` job (CONTRACT.md §18, §19.1): the summary since `since` (or the
//! last successful run, else today) written into `activity_events` (source `github`) and into
//! memory like `POST /memory/sync/github`.

use std::sync::Arc;

use chrono::{Local, TimeZone};
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{json, Value};

use super::exec::locate_gh;
use super::status::auth_status;
use super::summary::{daily_summary, parse_date_ms, parse_day, Commit, Pr, Summary};
use super::GithubState;
use crate::activity::NewEvent;
use crate::error::Error;
use crate::events::Level;
use crate::jobs::{EventRow, Failure, JobCtx, JobSystem, NewJob, Outcome, Success};
use crate::time::{now_iso, now_ms, parse_iso_ms};

/// The `sync_state.connector` of the last successful run.
pub const CONNECTOR: &str = "github";
/// The `account_id` of GitHub activity rows (one local `gh` account).
pub const ACCOUNT: &str = "github";

/// `since` as epoch milliseconds: a local day's start for `YYYY-MM-DD`, else an ISO time.
pub fn parse_since(text: &str) -> Option<i64> {
    if let Some(day) = parse_day(text) {
        return Some(super::summary::local_day_bounds(day).0);
    }
    parse_iso_ms(text)
}

/// JS text of a JSON scalar (`${value}` in a template literal).
pub fn js_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "null".into(),
        other => other.to_string(),
    }
}

/// `state ? state.toLowerCase() : "unknown"`.
fn state_label(pr: &Pr) -> String {
    match &pr.state {
        Value::String(s) if !s.is_empty() => s.to_lowercase(),
        Value::Null | Value::Bool(false) => "unknown".into(),
        Value::String(_) => "unknown".into(),
        other => js_text(other).to_lowercase(),
    }
}

/// The activity row of a PR (`kind` is `authored` or `reviewed`); ids and texts are the
/// stream's (reference C.2).
pub fn pr_event(pr: &Pr, kind: &str, actor: Option<&str>) -> Option<NewEvent> {
    let ts = pr.time_ms()?;
    let number = js_text(&pr.number);
    let verb = if kind == "authored" {
        "Authored"
    } else {
        "Reviewed"
    };
    Some(NewEvent {
        event_id: format!("github:pr:{kind}:{}:{number}", pr.repository),
        event_type: format!("pr.{kind}"),
        title: format!("PR #{number}: {}", js_text(&pr.title)),
        description: Some(format!("{verb} ({}) in {}", state_label(pr), pr.repository)),
        url: Some(pr.url_text()).filter(|u| !u.is_empty()),
        actor: actor.map(String::from),
        event_ts: ts.div_euclid(1000),
        raw: serde_json::to_value(pr).unwrap_or(Value::Null),
    })
}

/// The activity row of a commit.
pub fn commit_event(c: &Commit, actor: Option<&str>) -> Option<NewEvent> {
    let ts = parse_date_ms(&c.created_at)?;
    Some(NewEvent {
        event_id: format!("github:commit:{}:{}", c.repository, c.sha),
        event_type: "commit".into(),
        title: c.message.clone(),
        description: Some(format!("{} ({})", c.repository, c.sha)),
        url: Some(c.url.clone()).filter(|u| !u.is_empty()),
        actor: actor.map(String::from),
        event_ts: ts.div_euclid(1000),
        raw: serde_json::to_value(c).unwrap_or(Value::Null),
    })
}

/// The last successful run's start, from `sync_state`.
fn last_run(conn: &Connection) -> crate::Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT last_sync_at FROM sync_state WHERE connector = ?1")?
        .query_row(params![CONNECTOR], |r| r.get::<_, Option<String>>(0))
        .optional()?
        .flatten())
}

/// Rows of one summary since `since_ms`, in the memory sync's order (authored, reviewed,
/// commits), each with its counter slot (0, 1, 2).
fn rows_since(summary: &Summary, since_ms: i64) -> Vec<(usize, NewEvent)> {
    let actor = summary.username.as_deref();
    let keep = |t: Option<i64>| t.is_some_and(|t| t >= since_ms);
    let mut rows = Vec::new();
    for pr in summary.prs.authored.iter().filter(|p| keep(p.time_ms())) {
        rows.extend(pr_event(pr, "authored", actor).map(|e| (0, e)));
    }
    for pr in summary.prs.reviewed.iter().filter(|p| keep(p.time_ms())) {
        rows.extend(pr_event(pr, "reviewed", actor).map(|e| (1, e)));
    }
    for c in summary
        .commits
        .iter()
        .filter(|c| keep(parse_date_ms(&c.created_at)))
    {
        rows.extend(commit_event(c, actor).map(|e| (2, e)));
    }
    rows
}

/// Writes the rows and the run's `sync_state` in one transaction; counts new rows per slot.
fn write_rows(
    conn: &mut Connection,
    rows: &[(usize, NewEvent)],
    started_at: &str,
    abort: &crate::jobs::Abort,
) -> crate::Result<[u64; 3]> {
    let tx = conn.transaction()?;
    if abort.is_fired() {
        return Err(Error::Canceled("job was canceled".into()));
    }
    let now = now_iso();
    let mut counts = [0u64; 3];
    for (slot, event) in rows {
        let exists: bool = tx
            .prepare_cached("SELECT EXISTS(SELECT 1 FROM activity_events WHERE event_id = ?1)")?
            .query_row(params![event.event_id], |r| r.get(0))?;
        crate::activity::store::upsert(&tx, "github", ACCOUNT, event, &now)?;
        if !exists {
            counts[*slot] += 1;
        }
    }
    tx.execute(
        "INSERT INTO sync_state(connector, cursor, last_sync_at) VALUES (?1, NULL, ?2)
         ON CONFLICT(connector) DO UPDATE SET last_sync_at = excluded.last_sync_at",
        params![CONNECTOR, started_at],
    )?;
    tx.commit()?;
    Ok(counts)
}

fn internal(err: Error) -> Failure {
    Failure::with_code(err.to_string(), "internal")
}

/// Runs one `connector.github.sync` job.
pub(super) async fn run(state: Arc<GithubState>, ctx: JobCtx) -> Outcome {
    let started_at = now_iso();
    let payload = ctx.job.payload.clone();
    let since_text = payload
        .get("since")
        .and_then(Value::as_str)
        .map(String::from);
    let since_ms = match since_text.as_deref() {
        Some(text) => parse_since(text).ok_or_else(|| {
            Failure::with_code(format!("invalid since '{text}'"), "invalid_input")
        })?,
        None => {
            let last = ctx.store().read(last_run).await.map_err(internal)?;
            last.as_deref().and_then(parse_iso_ms).unwrap_or_else(|| {
                let today = Local::now().date_naive();
                super::summary::local_day_bounds(today).0
            })
        }
    };
    let since_day = Local
        .timestamp_millis_opt(since_ms)
        .single()
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_else(super::summary::local_today);
    ctx.set_running(0.1, Some("fetching"))
        .await
        .map_err(|_| Failure::new("job was stopped"))?;
    let settings = ctx.settings().await.map_err(internal)?;
    let summary = daily_summary(
        &state,
        &since_day,
        false,
        &settings.github_repo_paths,
        ctx.bus(),
        ctx.abort(),
    )
    .await;
    if ctx.abort().is_fired() {
        return Err(Failure::new("job was stopped"));
    }
    let rows = rows_since(&summary, since_ms);
    let abort = ctx.abort().clone();
    let started = started_at.clone();
    let counts = ctx
        .store()
        .write(move |c| write_rows(c, &rows, &started, &abort))
        .await
        .map_err(|e| match e {
            Error::Canceled(_) => Failure::new("job was stopped"),
            other => internal(other),
        })?;
    // The memory sync's counts (new observations, CONTRACT.md §19.1) when it took the items.
    let payload = crate::suggest::memory_link::github_payload(&summary, since_ms);
    let memory = crate::suggest::memory_link::write_github_items(&ctx, &payload).await;
    let (authored, reviewed, commits) = match &memory {
        Some(m) => (m.prs_authored, m.prs_reviewed, m.commits),
        None => (counts[0], counts[1], counts[2]),
    };
    let total = authored + reviewed + commits;
    let result = json!({
        "processed": {"prs_authored": authored, "prs_reviewed": reviewed, "commits": commits},
        "total": total,
    });
    Ok(Success {
        result: Some(result),
        progress: 1.0,
        message: None,
        event: Some(EventRow::new(
            Level::Info,
            format!("github sync finished: {total} new"),
        )),
        announce: Vec::new(),
    })
}

/// True when `interval_sec` passed since the last successful run (or none ever ran).
async fn is_due(store: &Arc<crate::store::Store>, interval_sec: i64) -> crate::Result<bool> {
    let last = store.read(last_run).await?;
    Ok(match last.as_deref().and_then(parse_iso_ms) {
        None => true,
        Some(at) => now_ms() - at >= interval_sec * 1000,
    })
}

/// The scheduler's pass: queues a sync when the interval passed since the last successful run
/// and `gh` is found and authenticated. Returns whether a job was queued.
pub async fn scheduled_pass(
    state: &GithubState,
    store: &Arc<crate::store::Store>,
    jobs: &JobSystem,
    interval_sec: i64,
) -> crate::Result<bool> {
    if !is_due(store, interval_sec).await? {
        return Ok(false);
    }
    let gh = locate_gh(state.config.gh_path.clone()).await;
    if gh.is_none() {
        return Ok(false);
    }
    let auth = auth_status(gh.as_deref(), &state.closing).await;
    // Looked at again: a sync that finished while `gh auth status` ran makes this pass moot.
    if !auth.authenticated || !is_due(store, interval_sec).await? {
        return Ok(false);
    }
    let mut job = NewJob::new(super::GITHUB_SYNC, json!({}));
    job.unique_key = Some(super::GITHUB_SYNC.to_string());
    let (_, inserted) = jobs.create_checked(job).await?;
    Ok(inserted)
}
