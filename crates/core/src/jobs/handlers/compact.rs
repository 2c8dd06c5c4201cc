//! The `maintenance.compact` handler (CONTRACT.md §6.2): integrity check, VACUUM, ANALYZE.

use serde_json::{json, Value};

use crate::error::Result;
use crate::jobs::{BoxFuture, Failure, JobCtx, Outcome, Success};
use crate::validate::parse_lax_bool;

fn flag(payload: &Value, key: &str) -> bool {
    payload.get(key).and_then(parse_lax_bool).unwrap_or(true)
}

fn db_size(conn: &rusqlite::Connection) -> Result<i64> {
    let pages: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
    let size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    Ok(pages * size)
}

/// Runs a `maintenance.compact` job. Its work runs on the writer connection, so other writes
/// wait for it; that is the point of a maintenance job and why it is never scheduled.
pub fn compact(ctx: JobCtx) -> BoxFuture<Outcome> {
    Box::pin(async move {
        let fail = |e: crate::error::Error| Failure::new(e.to_string());
        ctx.set_running(0.0, Some("compacting"))
            .await
            .map_err(fail)?;
        let payload = ctx.job.payload.clone();
        let (vacuum, analyze, check) = (
            flag(&payload, "vacuum"),
            flag(&payload, "analyze"),
            flag(&payload, "integrity_check"),
        );
        let report = ctx
            .store()
            .write_slow(move |conn| {
                let size_before = db_size(conn)?;
                let integrity = if check {
                    let first: String =
                        conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
                    Some(first)
                } else {
                    None
                };
                if let Some(problem) = integrity.as_ref().filter(|s| s.as_str() != "ok") {
                    return Ok(Err(problem.clone()));
                }
                if vacuum {
                    conn.execute_batch("VACUUM")?;
                }
                if analyze {
                    conn.execute_batch("ANALYZE")?;
                }
                let size_after = db_size(conn)?;
                Ok(Ok(json!({
                    "size_before": size_before,
                    "size_after": size_after,
                    "integrity": integrity,
                    "vacuumed": vacuum,
                    "analyzed": analyze,
                })))
            })
            .await
            .map_err(fail)?;
        match report {
            Ok(result) => Ok(Success::with_result(Some(result))),
            Err(problem) => Err(Failure::new(problem)),
        }
    })
}
