//! Periodic sync passes (CONTRACT.md §7). Jobs go through the normal creation path, with a
//! `unique_key` per (type, account) so a pass never piles a second sync onto a pending one.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{params, Connection};
use serde_json::json;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{JobSystem, NewJob, CALENDAR_SYNC, CONFLUENCE_SYNC, JIRA_SYNC};
use crate::error::Result;
use crate::events::{Bus, Event, Level};
use crate::settings;
use crate::store::Store;
use crate::time::{now_ms, parse_iso_ms};

/// Longest sleep between two looks at the clock, so changed intervals apply soon.
const MAX_NAP: Duration = Duration::from_secs(30);
/// Delay of the first GitHub pass after start.
const GITHUB_FIRST_PASS: Duration = Duration::from_secs(60);

/// The scheduler of one backend.
pub struct Scheduler {
    running: AtomicBool,
    stop: CancellationToken,
}

impl Scheduler {
    /// A scheduler that is not running (used with `scheduler: false`).
    pub fn idle() -> Arc<Scheduler> {
        Arc::new(Scheduler {
            running: AtomicBool::new(false),
            stop: CancellationToken::new(),
        })
    }

    /// True while the loop is alive.
    pub fn is_running(&self) -> bool {
        self.running.load(Ordering::Relaxed)
    }

    /// Starts the loop: the Atlassian pass at once, then every interval; the calendar pass
    /// every `calendar_sync_interval_sec` when that is not 0.
    pub fn start(
        self: &Arc<Self>,
        store: Arc<Store>,
        bus: Arc<Bus>,
        jobs: Arc<JobSystem>,
        github: Arc<crate::github::GithubState>,
    ) {
        self.running.store(true, Ordering::Relaxed);
        bus.publish(Event::log(Level::Info, "atlassian scheduler started"));
        let me = Arc::clone(self);
        tokio::spawn(async move {
            me.run(store, bus, jobs, github).await;
            me.running.store(false, Ordering::Relaxed);
        });
    }

    /// Stops the loop.
    pub fn stop(&self) {
        self.stop.cancel();
        self.running.store(false, Ordering::Relaxed);
    }

    async fn run(
        &self,
        store: Arc<Store>,
        bus: Arc<Bus>,
        jobs: Arc<JobSystem>,
        github: Arc<crate::github::GithubState>,
    ) {
        let start = Instant::now();
        let mut next_atlassian = start;
        let mut next_calendar: Option<Instant> = None;
        // The GitHub pass looks a little after start (no `gh` run while the app opens), then
        // every interval; the job is due by the last successful run (CONTRACT.md §18).
        let mut next_github: Option<Instant> = None;
        loop {
            let current = match store.read(settings::load).await {
                Ok(s) => s,
                Err(_) => break, // the store is closed
            };
            let now = Instant::now();
            if now >= next_atlassian {
                if let Err(err) =
                    atlassian_pass(&store, &bus, &jobs, current.atlassian_sync_interval_sec).await
                {
                    bus.publish(Event::log(
                        Level::Error,
                        format!("atlassian scheduler error: {err}"),
                    ));
                }
                next_atlassian = now + secs(current.atlassian_sync_interval_sec);
            }
            if current.calendar_sync_interval_sec > 0 {
                let due =
                    *next_calendar.get_or_insert(now + secs(current.calendar_sync_interval_sec));
                if now >= due {
                    if let Err(err) =
                        calendar_pass(&store, &bus, &jobs, current.calendar_sync_interval_sec).await
                    {
                        bus.publish(Event::log(
                            Level::Error,
                            format!("calendar scheduler error: {err}"),
                        ));
                    }
                    next_calendar = Some(now + secs(current.calendar_sync_interval_sec));
                }
            } else {
                next_calendar = None;
            }
            if current.github_sync_interval_sec > 0 {
                let due = *next_github.get_or_insert(now + GITHUB_FIRST_PASS);
                if now >= due {
                    let interval = current.github_sync_interval_sec;
                    match crate::github::sync::scheduled_pass(&github, &store, &jobs, interval)
                        .await
                    {
                        Ok(true) => bus.publish(Event::log(Level::Info, "github sync queued")),
                        Ok(false) => {}
                        Err(err) => bus.publish(Event::log(
                            Level::Error,
                            format!("github scheduler error: {err}"),
                        )),
                    }
                    next_github = Some(now + secs(interval.min(300)));
                }
            } else {
                next_github = None;
            }
            let wake = next_calendar.map_or(next_atlassian, |c| c.min(next_atlassian));
            let wake = next_github.map_or(wake, |g| g.min(wake));
            let nap = wake.saturating_duration_since(Instant::now()).min(MAX_NAP);
            tokio::select! {
                _ = tokio::time::sleep(nap) => {}
                _ = self.stop.cancelled() => break,
            }
        }
    }
}

fn secs(n: i64) -> Duration {
    Duration::from_secs(n.max(1) as u64)
}

/// True when `last_sync_at` is missing, unparsable, or at least `interval` seconds old.
fn is_due(last_sync_at: Option<&str>, interval_sec: i64) -> bool {
    match last_sync_at.and_then(parse_iso_ms) {
        None => true,
        Some(at) => now_ms() - at >= interval_sec * 1000,
    }
}

/// Accounts of a service, newest first, with their `last_sync_at`.
fn atlassian_accounts(conn: &Connection, service: &str) -> Result<Vec<(String, Option<String>)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT a.account_id, s.last_sync_at FROM atlassian_accounts a
         LEFT JOIN sync_state s ON s.connector = a.service || ':' || a.account_id
         WHERE a.service = ?1 ORDER BY a.created_at DESC",
    )?;
    let rows = stmt.query_map(params![service], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// Google accounts with the latest `last_sync_at` over their calendars.
fn calendar_accounts(conn: &Connection) -> Result<Vec<(String, Option<String>)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT a.account_id, (SELECT MAX(s.last_sync_at) FROM sync_state s
                 WHERE s.connector = 'calendar:' || a.account_id
                    OR s.connector LIKE 'calendar:' || a.account_id || ':%')
         FROM calendar_accounts a WHERE a.provider = 'google' ORDER BY a.created_at DESC",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// Creates a sync job unless one for the same account is queued or running; returns whether
/// a job was created.
pub async fn enqueue_sync(jobs: &JobSystem, job_type: &str, account_id: &str) -> Result<bool> {
    let mut job = NewJob::new(job_type, json!({ "account_id": account_id }));
    job.unique_key = Some(format!("{job_type}:{account_id}"));
    let (_, inserted) = jobs.create_checked(job).await?;
    Ok(inserted)
}

async fn atlassian_pass(
    store: &Arc<Store>,
    bus: &Bus,
    jobs: &JobSystem,
    interval: i64,
) -> Result<()> {
    for (service, job_type) in [("jira", JIRA_SYNC), ("confluence", CONFLUENCE_SYNC)] {
        let accounts = store.read(move |c| atlassian_accounts(c, service)).await?;
        for (account_id, last) in accounts {
            if is_due(last.as_deref(), interval)
                && !backed_off(store, job_type, &account_id, interval).await?
                && create_if_idle(store, jobs, job_type, &account_id).await?
            {
                bus.publish(Event::log(
                    Level::Info,
                    format!("{service} sync queued {account_id}"),
                ));
            }
        }
    }
    Ok(())
}

/// Most consecutive failures counted for the backoff (the wait stops growing there).
const BACKOFF_MAX_FAILURES: i64 = 6;

/// True while an account whose last syncs failed is backed off: after `n` consecutive failed
/// syncs the next one waits `interval · (2^(n-1) − 1)` after the last failure (0, 1, 3, 7, 15,
/// then 31 intervals), instead of running at every pass. One failure keeps the normal cadence.
/// (Issue 5 item 5; CONTRACT.md §7 said a failing account was retried every pass.)
async fn backed_off(
    store: &Arc<Store>,
    job_type: &str,
    account_id: &str,
    interval: i64,
) -> Result<bool> {
    let (t, a) = (job_type.to_string(), account_id.to_string());
    let recent: Vec<(String, String)> = store
        .read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT status, updated_at FROM jobs
                  WHERE type = ?1 AND status IN ('succeeded', 'failed')
                    AND json_extract(payload_json, '$.account_id') = ?2
                  ORDER BY created_at DESC, rowid DESC LIMIT ?3",
            )?;
            let rows = stmt.query_map(params![t, a, BACKOFF_MAX_FAILURES], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await?;
    let failures = recent.iter().take_while(|(s, _)| s == "failed").count() as u32;
    let Some(last_failure) = recent
        .first()
        .filter(|_| failures > 0)
        .and_then(|(_, at)| parse_iso_ms(at))
    else {
        return Ok(false);
    };
    Ok(now_ms() - last_failure < backoff_wait_ms(failures, interval))
}

/// The backoff after `failures` consecutive failures (≥ 1), in milliseconds.
fn backoff_wait_ms(failures: u32, interval: i64) -> i64 {
    let steps = (1i64 << failures.saturating_sub(1).min(5)) - 1;
    interval.max(1) * 1000 * steps
}

async fn calendar_pass(
    store: &Arc<Store>,
    bus: &Bus,
    jobs: &JobSystem,
    interval: i64,
) -> Result<()> {
    let accounts = store.read(calendar_accounts).await?;
    for (account_id, last) in accounts {
        if is_due(last.as_deref(), interval)
            && create_if_idle(store, jobs, CALENDAR_SYNC, &account_id).await?
        {
            bus.publish(Event::log(
                Level::Info,
                format!("calendar sync queued {account_id}"),
            ));
        }
    }
    Ok(())
}

/// Creates a sync job when no job of that type for that account is queued or running (also
/// those created before unique keys existed, hence the payload check).
async fn create_if_idle(
    store: &Arc<Store>,
    jobs: &JobSystem,
    job_type: &str,
    account_id: &str,
) -> Result<bool> {
    let (t, a) = (job_type.to_string(), account_id.to_string());
    let busy: bool = store
        .read(move |c| {
            Ok(c.prepare_cached(
                "SELECT EXISTS(SELECT 1 FROM jobs WHERE type = ?1 AND status IN ('queued','running')
                   AND json_extract(payload_json, '$.account_id') = ?2)",
            )?
            .query_row(params![t, a], |r| r.get(0))?)
        })
        .await?;
    if busy {
        return Ok(false);
    }
    enqueue_sync(jobs, job_type, account_id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_rules() {
        assert!(is_due(None, 600));
        assert!(is_due(Some("garbage"), 600));
        assert!(is_due(Some("2000-01-01T00:00:00Z"), 600));
        assert!(!is_due(Some(&crate::time::now_iso()), 600));
    }

    #[test]
    fn failing_accounts_back_off() {
        assert_eq!(backoff_wait_ms(1, 600), 0);
        assert_eq!(backoff_wait_ms(2, 600), 600_000);
        assert_eq!(backoff_wait_ms(3, 600), 1_800_000);
        assert_eq!(backoff_wait_ms(6, 600), 31 * 600_000);
        assert_eq!(backoff_wait_ms(60, 600), 31 * 600_000);
    }
}
