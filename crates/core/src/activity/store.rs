//! Upserts into `activity_events` (CONTRACT.md §9.5): by `event_id`, every column but
//! `created_at` overwritten on conflict; `event_time` rebuilt from `event_ts`.

use rusqlite::{params, Connection};
use serde_json::Value;

use crate::error::Result;
use crate::time::format_epoch;

/// One event a connector produced (source and account are added when it is stored).
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub event_id: String,
    pub event_type: String,
    pub title: String,
    pub description: Option<String>,
    pub url: Option<String>,
    pub actor: Option<String>,
    /// Epoch seconds.
    pub event_ts: i64,
    pub raw: Value,
}

/// Upserts one event of `source` for `account_id`.
pub fn upsert(
    conn: &Connection,
    source: &str,
    account_id: &str,
    event: &NewEvent,
    now: &str,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO activity_events (event_id, source, account_id, event_type, title,
            description, url, actor, event_time, event_ts, created_at, updated_at, raw_json)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11, ?12)
         ON CONFLICT(event_id) DO UPDATE SET source = excluded.source,
            account_id = excluded.account_id, event_type = excluded.event_type,
            title = excluded.title, description = excluded.description, url = excluded.url,
            actor = excluded.actor, event_time = excluded.event_time,
            event_ts = excluded.event_ts, updated_at = excluded.updated_at,
            raw_json = excluded.raw_json",
    )?
    .execute(params![
        event.event_id,
        source,
        account_id,
        event.event_type,
        event.title,
        event.description,
        event.url,
        event.actor,
        format_epoch(event.event_ts),
        event.event_ts,
        now,
        event.raw.to_string(),
    ])?;
    Ok(())
}
