//! `memory.process_events`, the debounced embedding after captures, and the hourly pass
//! (CONTRACT.md §15.6).

use std::sync::Arc;
use std::time::Duration;

use rusqlite::{params, Connection};
use serde_json::{json, Value};

use super::capture::{activity_event, calendar_event, ACTIVITY_COLUMNS, CALENDAR_COLUMNS};
use super::observation::Draft;
use super::store::{upsert, Stored};
use super::{MemoryState, CHROMA_SYNC, PROCESS_EVENTS};
use crate::error::Result;
use crate::events::{Bus, Event, Level};
use crate::jobs::{BoxFuture, Failure, JobCtx, JobSystem, NewJob, Outcome, Success};
use crate::store::Store;
use crate::time::now_ms;
use crate::validate::parse_lax_int;

/// Items written per transaction by captures (each in its own savepoint).
const CHUNK: usize = 500;

/// How long the embedding waits after the last capture before it starts.
const DEBOUNCE: Duration = Duration::from_secs(2);

/// The hourly pass's period.
const PERIOD_MS: i64 = 3_600_000;

/// Stores drafts, each atomically (observation + FTS row + ledger row), in chunks; a failing
/// item rolls back alone. One entry per draft, in order.
pub async fn store_drafts(
    store: &Arc<Store>,
    state: &MemoryState,
    drafts: Vec<Draft>,
) -> Result<Vec<std::result::Result<Stored, String>>> {
    let mut out = Vec::with_capacity(drafts.len());
    let mut rest = drafts.into_iter().peekable();
    while rest.peek().is_some() {
        let chunk: Vec<Draft> = rest.by_ref().take(CHUNK).collect();
        let part = store.write(move |c| store_chunk(c, &chunk)).await?;
        out.extend(part);
    }
    // A changed observation lost its vectors in the same transaction.
    let updated: Vec<&str> = out
        .iter()
        .filter_map(|r| match r {
            Ok(Stored::Updated(id)) => Some(id.as_str()),
            _ => None,
        })
        .collect();
    if !updated.is_empty() {
        state.vectors_changed(|ix| updated.iter().for_each(|id| ix.remove(id)));
    }
    Ok(out)
}

/// Stores one chunk in one transaction.
///
/// Items normally all succeed, so the chunk is first written without savepoints: an FTS5
/// table writes its pending index out at every savepoint, and a savepoint per item made every
/// item a segment of its own that FTS5 then merged (two thirds of a capture's time). Only when
/// an item fails is the chunk rolled back and written again with a savepoint per item, so that
/// the failing item rolls back alone.
fn store_chunk(
    c: &mut rusqlite::Connection,
    chunk: &[Draft],
) -> Result<Vec<std::result::Result<Stored, String>>> {
    {
        let tx = c.transaction()?;
        let stored: Result<Vec<Stored>> = chunk.iter().map(|d| upsert(&tx, d)).collect();
        if let Ok(stored) = stored {
            tx.commit()?;
            return Ok(stored.into_iter().map(Ok).collect());
        }
        // Dropping the transaction rolls the whole chunk back.
    }
    let mut tx = c.transaction()?;
    let mut part = Vec::with_capacity(chunk.len());
    for draft in chunk {
        let sp = tx.savepoint()?;
        match upsert(&sp, draft) {
            Ok(stored) => {
                sp.commit()?;
                part.push(Ok(stored));
            }
            // Dropping the savepoint rolls this item back alone.
            Err(err) => part.push(Err(err.to_string())),
        }
    }
    tx.commit()?;
    Ok(part)
}

/// New observations among stored results.
pub fn created(results: &[std::result::Result<Stored, String>]) -> usize {
    results
        .iter()
        .filter(|r| matches!(r, Ok(Stored::Created(_))))
        .count()
}

fn calendar_drafts(c: &Connection, start_s: i64, end_s: i64) -> Result<Vec<Result<Draft, String>>> {
    let sql = format!(
        "SELECT {CALENDAR_COLUMNS} FROM calendar_events e
           LEFT JOIN calendar_calendars c ON c.account_id = e.account_id AND c.calendar_id = e.calendar_id
          WHERE e.start_ts < ?2 AND e.end_ts > ?1 AND coalesce(e.status, '') != 'cancelled'
            AND coalesce(c.selected, 1) = 1"
    );
    let mut stmt = c.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![start_s, end_s], calendar_event)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn activity_drafts(
    c: &Connection,
    source: &str,
    start_s: i64,
    end_s: i64,
) -> Result<Vec<Result<Draft, String>>> {
    let sql = format!(
        "SELECT {ACTIVITY_COLUMNS} FROM activity_events a
          WHERE a.event_ts >= ?1 AND a.event_ts <= ?2 AND a.source = ?3 ORDER BY a.event_ts"
    );
    let mut stmt = c.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![start_s, end_s, source], activity_event)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The `memory.process_events` handler: calendar, Jira and Confluence rows of the last
/// `window_minutes` (1..10080, default 60) → observations, deduped by the original's keys.
pub fn process_events(state: Arc<MemoryState>) -> crate::jobs::Handler {
    Arc::new(move |ctx: JobCtx| run_process(Arc::clone(&state), ctx))
}

fn fail(e: impl std::fmt::Display) -> Failure {
    Failure::new(e.to_string())
}

fn run_process(state: Arc<MemoryState>, ctx: JobCtx) -> BoxFuture<Outcome> {
    Box::pin(async move {
        ctx.set_running(0.1, None).await.map_err(fail)?;
        let payload = &ctx.job.payload;
        let window = match payload.get("window_minutes") {
            None | Some(Value::Null) => 60,
            Some(v) => parse_lax_int(v)
                .filter(|n| (1..=10_080).contains(n))
                .ok_or_else(|| Failure::new("window_minutes must be an integer from 1 to 10080"))?,
        };
        let sources: Vec<String> = match payload.get("sources") {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect(),
            _ => vec!["calendar".into(), "jira".into(), "confluence".into()],
        };
        ctx.progress(0.2, Some("Processing events...".into()), false, None)
            .await
            .map_err(fail)?;
        let end_s = now_ms() / 1000;
        let start_s = end_s - window * 60;
        let mut counts = serde_json::Map::new();
        for source in ["calendar", "jira", "confluence"] {
            if !sources.iter().any(|s| s == source) {
                counts.insert(source.into(), json!(0));
                continue;
            }
            let drafts = ctx
                .store()
                .read_slow(move |c| {
                    if source == "calendar" {
                        calendar_drafts(c, start_s, end_s)
                    } else {
                        activity_drafts(c, source, start_s, end_s)
                    }
                })
                .await
                .map_err(fail)?;
            let drafts: Vec<Draft> = drafts.into_iter().filter_map(|d| d.ok()).collect();
            if ctx.abort().is_fired() {
                return Err(Failure::new("job was stopped"));
            }
            let results = store_drafts(ctx.store(), &state, drafts)
                .await
                .map_err(fail)?;
            counts.insert(source.into(), json!(created(&results)));
        }
        let total: i64 = counts.values().filter_map(Value::as_i64).sum();
        if total > 0 {
            state.kick();
        }
        let mut success = Success::with_result(Some(Value::Object(counts)));
        success.message = Some(format!("Processed {total} events"));
        Ok(success)
    })
}

/// Starts the debounced embedding task, and the hourly pass unless `scheduler` is false. Both
/// end at close (`state.stop`).
pub fn start(
    store: Arc<Store>,
    bus: Arc<Bus>,
    jobs: Arc<JobSystem>,
    state: Arc<MemoryState>,
    scheduler: bool,
) {
    {
        let (jobs, state) = (Arc::clone(&jobs), Arc::clone(&state));
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = state.kick.notified() => {}
                    _ = state.stop.cancelled() => return,
                }
                tokio::select! {
                    _ = tokio::time::sleep(DEBOUNCE) => {}
                    _ = state.stop.cancelled() => return,
                }
                let _ = queue_chroma_sync(&jobs).await;
            }
        });
    }
    if !scheduler {
        return;
    }
    tokio::spawn(async move {
        bus.publish(Event::log(Level::Info, "memory scheduler started"));
        loop {
            let wait = match hourly_pass(&store, &bus, &jobs, &state).await {
                Ok(wait) => wait,
                Err(err) => {
                    bus.publish(Event::log(
                        Level::Error,
                        format!("memory scheduler error: {err}"),
                    ));
                    PERIOD_MS
                }
            };
            let nap = Duration::from_millis(wait.clamp(1000, 600_000) as u64);
            tokio::select! {
                _ = tokio::time::sleep(nap) => {}
                _ = state.stop.cancelled() => return,
            }
        }
    });
}

/// Queues `memory.chroma_sync` unless one is queued or running.
pub async fn queue_chroma_sync(jobs: &JobSystem) -> Result<Option<String>> {
    let mut job = NewJob::new(CHROMA_SYNC, json!({}));
    job.unique_key = Some(CHROMA_SYNC.into());
    let (created, inserted) = jobs.create_checked(job).await?;
    Ok(inserted.then_some(created.job_id))
}

/// The start (epoch ms) of the last successful `memory.process_events`, with its window.
fn last_success(c: &Connection) -> Result<Option<(String, Option<String>)>> {
    use rusqlite::OptionalExtension;
    Ok(c.prepare_cached(
        "SELECT created_at, payload_json FROM jobs WHERE type = ?1 AND status = 'succeeded'
          ORDER BY created_at DESC, rowid DESC LIMIT 1",
    )?
    .query_row(params![PROCESS_EVENTS], |r| Ok((r.get(0)?, r.get(1)?)))
    .optional()?)
}

/// The window (minutes) that reaches back to the last successful run (no gap after
/// downtime), at least 60 and at most 10080; `None` while the last run is under an hour old.
pub(crate) fn catch_up_window(last_run_ms: Option<i64>, now: i64) -> Option<i64> {
    match last_run_ms {
        None => Some(60),
        Some(at) if now - at < PERIOD_MS => None,
        // The previous run looked back from its start; reach back to there, plus a minute.
        Some(at) => Some(((now - at) / 60_000 + 1).clamp(60, 10_080)),
    }
}

/// One pass: queues `memory.process_events` (and `memory.chroma_sync` when an embedder is
/// registered) when the last successful run is an hour old; returns the ms until the next.
async fn hourly_pass(
    store: &Arc<Store>,
    bus: &Bus,
    jobs: &JobSystem,
    state: &MemoryState,
) -> Result<i64> {
    let last = store.read(last_success).await?;
    let last_ms = last
        .as_ref()
        .and_then(|(at, _)| crate::time::parse_iso_ms(at));
    let now = now_ms();
    let Some(window) = catch_up_window(last_ms, now) else {
        return Ok(last_ms.map_or(PERIOD_MS, |at| PERIOD_MS - (now - at)));
    };
    let mut job = NewJob::new(PROCESS_EVENTS, json!({ "window_minutes": window }));
    job.unique_key = Some(PROCESS_EVENTS.into());
    let (created, inserted) = jobs.create_checked(job).await?;
    if inserted {
        bus.publish(Event::log(
            Level::Info,
            format!("memory process job queued: {}", created.job_id),
        ));
    }
    if state.embedder().is_some() {
        if let Some(id) = queue_chroma_sync(jobs).await? {
            bus.publish(Event::log(
                Level::Info,
                format!("chroma sync job queued: {id}"),
            ));
        }
    }
    Ok(PERIOD_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_item_rolls_back_alone() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("index.db")).unwrap();
        store
            .write_blocking(|c| {
                Ok(c.execute_batch(
                    "CREATE TRIGGER boom BEFORE INSERT ON observations WHEN new.title = 'boom'
                     BEGIN SELECT RAISE(ABORT, 'boom'); END;",
                )?)
            })
            .unwrap();
        let draft = |title: &str, key: &str| Draft {
            title: title.into(),
            narrative: format!("{title} narrative"),
            facts: None,
            concepts: None,
            kind: "note".into(),
            source: "github".into(),
            source_event_id: None,
            project_path: None,
            event_time: "2026-01-01T00:00:00Z".into(),
            event_ts: 1,
            ledger: Some(("t".into(), key.into())),
        };
        let chunk = vec![draft("first", "a"), draft("boom", "b"), draft("third", "c")];
        let results = store.write_blocking(|c| store_chunk(c, &chunk)).unwrap();
        assert!(matches!(results[0], Ok(Stored::Created(_))));
        assert!(results[1].as_ref().is_err_and(|e| e.contains("boom")));
        assert!(matches!(results[2], Ok(Stored::Created(_))));
        let counts = store
            .read_blocking(|c| {
                let n = |sql: &str| c.query_row(sql, [], |r| r.get::<_, i64>(0));
                Ok((
                    n("SELECT count(*) FROM observations")?,
                    n("SELECT count(*) FROM observation_sources")?,
                    n("SELECT count(*) FROM observations_fts WHERE observations_fts MATCH 'narrative'")?,
                ))
            })
            .unwrap();
        assert_eq!(counts, (2, 2, 2));
        // A chunk without failures takes the one-transaction path with the same results.
        let again = store
            .write_blocking(|c| store_chunk(c, &[draft("first", "a"), draft("new", "d")]))
            .unwrap();
        assert!(matches!(again[0], Ok(Stored::Unchanged(_))));
        assert!(matches!(again[1], Ok(Stored::Created(_))));
    }

    #[test]
    fn windows_reach_back_without_gaps() {
        let now = 10 * PERIOD_MS;
        assert_eq!(catch_up_window(None, now), Some(60));
        assert_eq!(catch_up_window(Some(now - 1000), now), None);
        assert_eq!(catch_up_window(Some(now - PERIOD_MS), now), Some(61));
        assert_eq!(catch_up_window(Some(now - 5 * PERIOD_MS), now), Some(301));
        assert_eq!(catch_up_window(Some(0), 1_000 * PERIOD_MS), Some(10_080));
    }
}
