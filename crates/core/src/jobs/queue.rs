//! SQL of the durable queue. The writes run inside a group transaction of the store
//! (`Store::write_grouped`): the group makes each one atomic (a failing write rolls back to its
//! own savepoint), and the events they publish through their `WriteCtx` are sent by the store
//! after the group's `COMMIT`, so the event order is the commit order. Writes to a job in a
//! final state are refused by their `WHERE` clause: nothing ever overwrites `succeeded`,
//! `failed` or `canceled`.

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;

use super::model::*;
use crate::error::{Error, Result};
use crate::events::{Bus, Event, Level};
use crate::ids::new_id;
use crate::store::WriteCtx;
use crate::time::{now_iso, now_ms};

/// The connection of a write that must run inside a group (see the module doc): refusing to
/// run in autocommit mode keeps a multi-statement write from ever landing half-done.
pub(crate) fn in_group(conn: &mut Connection) -> Result<&Connection> {
    if conn.is_autocommit() {
        return Err(Error::internal(
            "a job queue write ran outside a transaction (use Store::write_grouped)",
        ));
    }
    Ok(conn)
}

/// A job to insert.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub job_type: String,
    pub payload: Value,
    pub priority: i64,
    /// Epoch milliseconds before which the job is not claimed.
    pub run_at_ms: Option<i64>,
    pub max_attempts: i64,
    /// Re-queue after a failed attempt while attempts remain (explicit `max_attempts > 1`).
    pub retry_failures: bool,
    pub unique_key: Option<String>,
    /// The `log` line announcing the job, built from its id (`job queued <id> (<type>)`).
    pub log: Option<fn(&str, &str) -> String>,
}

impl NewJob {
    /// A job of `job_type` with the type's defaults.
    pub fn new(job_type: &str, payload: Value) -> NewJob {
        NewJob {
            job_type: job_type.to_string(),
            payload,
            priority: 0,
            run_at_ms: None,
            max_attempts: default_max_attempts(job_type),
            retry_failures: false,
            unique_key: None,
            log: None,
        }
    }
}

/// The answer of a creation: the job and its status (`queued`, or the status of the existing
/// job a `unique_key` matched).
#[derive(Debug, Clone, serde::Serialize, PartialEq)]
pub struct Created {
    pub job_id: String,
    pub status: String,
}

/// Inserts a job (or returns the queued/running job with the same `unique_key`).
pub fn insert(w: &mut WriteCtx<'_>, bus: &Bus, job: NewJob) -> Result<(Created, bool)> {
    let tx = in_group(w)?;
    if let Some(key) = &job.unique_key {
        let existing = tx
            .prepare_cached(
                "SELECT job_id, status FROM jobs WHERE unique_key = ?1
                 AND status IN ('queued', 'running') ORDER BY rowid LIMIT 1",
            )?
            .query_row(params![key], |r| {
                Ok(Created {
                    job_id: r.get(0)?,
                    status: r.get(1)?,
                })
            })
            .optional()?;
        if let Some(existing) = existing {
            return Ok((existing, false));
        }
    }
    let job_id = new_id("job");
    let now = now_iso();
    tx.prepare_cached(
        "INSERT INTO jobs (job_id, type, status, created_at, updated_at, payload_json,
                           attempts, max_attempts, run_at, priority, unique_key, retry_failures)
         VALUES (?1, ?2, 'queued', ?3, ?3, ?4, 0, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        job_id,
        job.job_type,
        now,
        job.payload.to_string(),
        job.max_attempts,
        job.run_at_ms,
        job.priority,
        job.unique_key,
        job.retry_failures as i64,
    ])?;
    w.publish(
        bus,
        Event::JobCreated {
            job_id: job_id.clone(),
            job_type: job.job_type.clone(),
            status: QUEUED,
            timestamp: now,
        },
    );
    if let Some(log) = job.log {
        w.publish(bus, Event::log(Level::Info, log(&job_id, &job.job_type)));
    }
    Ok((
        Created {
            job_id,
            status: QUEUED.into(),
        },
        true,
    ))
}

/// One job, or `E_NOT_FOUND` `job not found`.
pub fn get(conn: &Connection, job_id: &str) -> Result<JobRecord> {
    conn.prepare_cached(concat!(
        "SELECT ",
        job_columns!(),
        " FROM jobs WHERE job_id = ?1"
    ))?
    .query_row(params![job_id], JobRecord::from_row)
    .optional()?
    .ok_or_else(|| Error::NotFound("job not found".into()))
}

/// Jobs, newest first (`created_at DESC, rowid ASC`), optionally filtered.
pub fn list(
    conn: &Connection,
    status: Option<&str>,
    job_type: Option<&str>,
    limit: i64,
) -> Result<Vec<JobRecord>> {
    let sql = format!(
        "SELECT {JOB_COLUMNS} FROM jobs
         WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR type = ?2)
         ORDER BY created_at DESC, rowid ASC LIMIT ?3"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![status, job_type, limit], JobRecord::from_row)?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// The audit trail of a job, oldest first; `E_NOT_FOUND` for an unknown job.
pub fn events(conn: &Connection, job_id: &str) -> Result<Vec<JobEvent>> {
    let exists: bool = conn
        .prepare_cached("SELECT EXISTS(SELECT 1 FROM jobs WHERE job_id = ?1)")?
        .query_row(params![job_id], |r| r.get(0))?;
    if !exists {
        return Err(Error::NotFound("job not found".into()));
    }
    let mut stmt = conn.prepare_cached(
        "SELECT event_id, job_id, created_at, level, message, meta_json FROM job_events
         WHERE job_id = ?1 ORDER BY event_id ASC",
    )?;
    let rows = stmt.query_map(params![job_id], |r| {
        Ok(JobEvent {
            event_id: r.get(0)?,
            job_id: r.get(1)?,
            created_at: r.get(2)?,
            level: r.get(3)?,
            message: r.get(4)?,
            meta: parse_json_column(r.get(5)?),
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// Appends a `job_events` row (callers run it inside their transaction or savepoint).
pub fn add_event(tx: &Connection, job_id: &str, row: &EventRow) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO job_events (job_id, created_at, level, message, meta_json)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        job_id,
        now_iso(),
        row.level.as_str(),
        row.message,
        row.meta.as_ref().map(Value::to_string),
    ])?;
    Ok(())
}

/// Cancels a job (CONTRACT.md §6.5) and returns `(status after the call, was it held by a
/// worker)`. A job already final is left alone and no event is written.
pub fn cancel(w: &mut WriteCtx<'_>, bus: &Bus, job_id: &str) -> Result<(String, bool)> {
    let tx = in_group(w)?;
    let (status, claimed): (String, i64) = tx
        .prepare_cached("SELECT status, claimed FROM jobs WHERE job_id = ?1")?
        .query_row(params![job_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
        .ok_or_else(|| Error::NotFound("job not found".into()))?;
    if is_final(&status) {
        return Ok((status, false));
    }
    tx.prepare_cached("UPDATE jobs SET status = 'canceled', updated_at = ?2 WHERE job_id = ?1")?
        .execute(params![job_id, now_iso()])?;
    add_event(tx, job_id, &EventRow::new(Level::Info, "job canceled"))?;
    w.publish(bus, Event::job_status(job_id, CANCELED));
    Ok((CANCELED.into(), claimed != 0))
}

/// A job a worker took.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub record: std::sync::Arc<JobRecord>,
    pub attempt: i64,
    pub max_attempts: i64,
    pub retry_failures: bool,
}

/// Takes up to `max` claimable jobs for the given handler types (CONTRACT.md §6.3), in claim
/// order: queued, not held by a worker, due, and — for connector syncs — no sync of the same
/// type and account already held (the jobs taken earlier in the batch count as held).
/// Claiming increments `attempts` and sets `claimed`; the status stays `queued`.
pub fn claim(conn: &mut Connection, types_json: &str, max: usize) -> Result<Vec<Claimed>> {
    let tx = in_group(conn)?;
    // Delayed jobs that came due join the ready set (`run_at` NULL), so the claim below walks
    // `idx_jobs_ready` in claim order instead of skipping every job that is not due yet.
    tx.prepare_cached(
        "UPDATE jobs INDEXED BY idx_jobs_delayed SET run_at = NULL
         WHERE status = 'queued' AND claimed = 0 AND run_at IS NOT NULL AND run_at <= ?1",
    )?
    .execute(params![now_ms()])?;
    let mut batch = Vec::new();
    while batch.len() < max {
        match claim_one(tx, types_json)? {
            Some(claimed) => batch.push(claimed),
            None => break,
        }
    }
    Ok(batch)
}

fn claim_one(tx: &Connection, types_json: &str) -> Result<Option<Claimed>> {
    let row = tx
        .prepare_cached(
            "SELECT j.rowid, j.attempts, j.max_attempts, j.retry_failures
             FROM jobs j INDEXED BY idx_jobs_ready
             WHERE j.status = 'queued' AND j.claimed = 0 AND j.run_at IS NULL
               AND j.type IN (SELECT value FROM json_each(?1))
               AND NOT (j.type LIKE 'connector.%' AND EXISTS (
                    SELECT 1 FROM jobs o WHERE o.type = j.type AND o.claimed = 1
                      AND o.status IN ('queued', 'running')
                      AND json_extract(o.payload_json, '$.account_id')
                          IS json_extract(j.payload_json, '$.account_id')))
             ORDER BY j.priority DESC, j.created_at ASC, j.rowid ASC LIMIT 1",
        )?
        .query_row(params![types_json], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })
        .optional()?;
    let Some((rowid, attempts, max_attempts, retry)) = row else {
        return Ok(None);
    };
    tx.prepare_cached("UPDATE jobs SET attempts = attempts + 1, claimed = 1 WHERE rowid = ?1")?
        .execute(params![rowid])?;
    let record = tx
        .prepare_cached(concat!(
            "SELECT ",
            job_columns!(),
            " FROM jobs WHERE rowid = ?1"
        ))?
        .query_row(params![rowid], JobRecord::from_row)?;
    Ok(Some(Claimed {
        record: std::sync::Arc::new(record),
        attempt: attempts + 1,
        max_attempts,
        retry_failures: retry != 0,
    }))
}

/// Milliseconds until the earliest delayed job is due (`None` when none waits).
pub fn next_due_in_ms(conn: &Connection) -> Result<Option<i64>> {
    let next: Option<i64> = conn
        .prepare_cached(
            "SELECT MIN(run_at) FROM jobs INDEXED BY idx_jobs_delayed
             WHERE status = 'queued' AND claimed = 0 AND run_at IS NOT NULL AND run_at > ?1",
        )?
        .query_row(params![now_ms()], |r| r.get(0))?;
    Ok(next.map(|at| (at - now_ms()).max(0)))
}

/// A field update of a live job. `None` fields are left alone.
#[derive(Debug, Default, Clone)]
pub struct Update<'a> {
    pub status: Option<&'a str>,
    pub progress: Option<f64>,
    pub message: Option<&'a str>,
    pub result: Option<&'a Value>,
    pub error: Option<&'a Value>,
}

/// Applies an update to a job that is still `queued` or `running`; returns false (and writes
/// nothing, not even `event`) when the job is already final.
pub fn update_live(
    tx: &Connection,
    job_id: &str,
    update: &Update<'_>,
    event: Option<&EventRow>,
) -> Result<bool> {
    let changed = tx
        .prepare_cached(
            "UPDATE jobs SET
                status = COALESCE(?2, status),
                progress = COALESCE(?3, progress),
                message = COALESCE(?4, message),
                result_json = COALESCE(?5, result_json),
                error_json = COALESCE(?6, error_json),
                updated_at = ?7
             WHERE job_id = ?1 AND status IN ('queued', 'running')",
        )?
        .execute(params![
            job_id,
            update.status,
            update.progress,
            update.message,
            update.result.map(Value::to_string),
            update.error.map(Value::to_string),
            now_iso(),
        ])?;
    if changed == 0 {
        return Ok(false);
    }
    if let Some(event) = event {
        add_event(tx, job_id, event)?;
    }
    Ok(true)
}

/// Releases the worker's hold on a job (after it ended, one way or another).
pub fn release(conn: &Connection, job_id: &str) -> Result<()> {
    conn.prepare_cached("UPDATE jobs SET claimed = 0 WHERE job_id = ?1")?
        .execute(params![job_id])?;
    Ok(())
}

/// Gives back a job a worker claimed but never started (the backend is closing): the hold is
/// released and the attempt the claim counted is returned, so the job runs at the next open
/// with its whole budget.
pub fn unclaim(conn: &Connection, job_id: &str) -> Result<()> {
    conn.prepare_cached(
        "UPDATE jobs SET claimed = 0, attempts = MAX(attempts - 1, 0)
         WHERE job_id = ?1 AND claimed = 1 AND status = 'queued'",
    )?
    .execute(params![job_id])?;
    // Final or canceled meanwhile: only the hold remains to free.
    release(conn, job_id)
}

/// Gives back the attempt of a job that close() interrupted before its handler marked it
/// running (still `queued`): like a job that was claimed and never started, it keeps its whole
/// budget. A `running` job is left to [`recover`].
pub fn give_back_unstarted(conn: &Connection, job_id: &str) -> Result<()> {
    conn.prepare_cached(
        "UPDATE jobs SET claimed = 0, attempts = MAX(attempts - 1, 0)
         WHERE job_id = ?1 AND status = 'queued'",
    )?
    .execute(params![job_id])?;
    Ok(())
}

/// Puts a job whose attempt failed back in the queue, due after the backoff.
pub fn requeue_after_failure(
    conn: &mut Connection,
    job_id: &str,
    attempt: i64,
    message: &str,
) -> Result<bool> {
    let tx = in_group(conn)?;
    let delay_ms = backoff_ms(attempt);
    let changed = tx
        .prepare_cached(
            "UPDATE jobs SET status = 'queued', claimed = 0, run_at = ?2, updated_at = ?3
             WHERE job_id = ?1 AND status IN ('queued', 'running')",
        )?
        .execute(params![job_id, now_ms() + delay_ms, now_iso()])?;
    if changed > 0 {
        add_event(
            tx,
            job_id,
            &EventRow::new(Level::Warn, format!("attempt {attempt} failed: {message}")),
        )?;
    }
    Ok(changed > 0)
}

/// `min(2^attempt s, 5 min)`.
pub fn backoff_ms(attempt: i64) -> i64 {
    let secs = 1i64
        .checked_shl(attempt.clamp(0, 30) as u32)
        .unwrap_or(i64::MAX);
    secs.min(300) * 1000
}

/// The recovery policy (CONTRACT.md §6.6) for jobs left `running` without a live worker: while
/// attempts remain they go back to `queued`, else they fail with code `interrupted`. With
/// `only` the policy applies to those jobs (close), else to every running row (open).
pub fn recover(w: &mut WriteCtx<'_>, bus: &Bus, only: Option<&[String]>) -> Result<usize> {
    let tx = w.transaction()?;
    let rows: Vec<(String, i64, i64)> = {
        let mut stmt = tx.prepare_cached(
            "SELECT job_id, attempts, max_attempts FROM jobs WHERE status = 'running'",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()?
    };
    let now = now_iso();
    let mut failed = Vec::new();
    for (job_id, attempts, max_attempts) in &rows {
        if let Some(only) = only {
            if !only.contains(job_id) {
                continue;
            }
        }
        if attempts < max_attempts {
            tx.prepare_cached(
                "UPDATE jobs SET status = 'queued', claimed = 0, updated_at = ?2 WHERE job_id = ?1",
            )?
            .execute(params![job_id, now])?;
            add_event(
                &tx,
                job_id,
                &EventRow::new(Level::Info, "job requeued after interruption"),
            )?;
        } else {
            tx.prepare_cached(
                "UPDATE jobs SET status = 'failed', claimed = 0, updated_at = ?2, error_json = ?3
                 WHERE job_id = ?1",
            )?
            .execute(params![
                job_id,
                now,
                r#"{"message":"job interrupted","code":"interrupted"}"#
            ])?;
            add_event(&tx, job_id, &EventRow::new(Level::Error, "job interrupted"))?;
            failed.push(job_id.clone());
        }
    }
    if only.is_none() {
        // One process owns the queue (the lock file), so no hold survives an open.
        tx.execute("UPDATE jobs SET claimed = 0 WHERE claimed = 1", [])?;
    }
    tx.commit()?;
    for job_id in &failed {
        w.publish(bus, Event::job_status(job_id, FAILED));
    }
    Ok(rows.len())
}

/// Queue numbers for `status()`: claimable queued jobs, and queued jobs by type without handler.
pub fn depth(conn: &Connection, types_json: &str) -> Result<(i64, Vec<(String, i64)>)> {
    let claimable: i64 = conn
        .prepare_cached(
            "SELECT COUNT(*) FROM jobs WHERE status = 'queued' AND claimed = 0
               AND (run_at IS NULL OR run_at <= ?1)
               AND type IN (SELECT value FROM json_each(?2))",
        )?
        .query_row(params![now_ms(), types_json], |r| r.get(0))?;
    let mut stmt = conn.prepare_cached(
        "SELECT type, COUNT(*) FROM jobs WHERE status = 'queued'
           AND type NOT IN (SELECT value FROM json_each(?1)) GROUP BY type ORDER BY type",
    )?;
    let waiting = stmt
        .query_map(params![types_json], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok((claimable, waiting))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff_ms(1), 2000);
        assert_eq!(backoff_ms(2), 4000);
        assert_eq!(backoff_ms(9), 300_000);
        assert_eq!(backoff_ms(100), 300_000);
    }
}
