//! Writes of the calendar sync (CONTRACT.md §8.4): calendars upserted and pruned in one
//! transaction; each calendar's events, deletions and cursor in one transaction, so a failure
//! midway never leaves a half-written calendar.

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;

use super::google::Change;
use crate::error::Result;

/// A calendar to sync: id, its `timeZone`, and its stored `nextSyncToken` (read in the
/// transaction that listed it, so a sync reads no cursor per calendar).
#[derive(Debug, Clone)]
pub struct Listed {
    pub calendar_id: String,
    pub time_zone: Option<String>,
    pub cursor: Option<String>,
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(String::from)
}

/// The `sync_state` key of one calendar.
pub fn connector(account_id: &str, calendar_id: &str) -> String {
    format!("calendar:{account_id}:{calendar_id}")
}

/// Upserts the listed calendars (keeping `selected`, 1 for new ones) and deletes the account's
/// other calendars with their events and sync state; returns the calendars in list order.
pub fn upsert_and_prune(
    conn: &mut Connection,
    account_id: &str,
    provider: &str,
    entries: &[Value],
    now: &str,
) -> Result<Vec<Listed>> {
    let tx = conn.transaction()?;
    let mut listed = Vec::with_capacity(entries.len());
    {
        let mut upsert = tx.prepare_cached(
            "INSERT INTO calendar_calendars (account_id, calendar_id, provider, name, description,
                 is_primary, access_role, background_color, foreground_color, time_zone, selected,
                 created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 1, ?11, ?11)
             ON CONFLICT (account_id, calendar_id) DO UPDATE SET
                 provider = excluded.provider, name = excluded.name,
                 description = excluded.description, is_primary = excluded.is_primary,
                 access_role = excluded.access_role, background_color = excluded.background_color,
                 foreground_color = excluded.foreground_color, time_zone = excluded.time_zone,
                 updated_at = excluded.updated_at",
        )?;
        for e in entries {
            let Some(id) = text(e, "id") else { continue };
            let primary = e.get("primary").and_then(Value::as_bool).unwrap_or(false);
            upsert.execute(params![
                account_id,
                id,
                provider,
                text(e, "summary").unwrap_or_default(),
                text(e, "description"),
                primary as i64,
                text(e, "accessRole"),
                text(e, "backgroundColor"),
                text(e, "foregroundColor"),
                text(e, "timeZone"),
                now,
            ])?;
            listed.push(Listed {
                calendar_id: id,
                time_zone: text(e, "timeZone"),
                cursor: None,
            });
        }
    }
    let keep = Value::from(
        listed
            .iter()
            .map(|l| l.calendar_id.clone())
            .collect::<Vec<_>>(),
    )
    .to_string();
    let gone: Vec<String> = {
        let mut stmt = tx.prepare_cached(
            "SELECT calendar_id FROM calendar_calendars WHERE account_id = ?1
               AND calendar_id NOT IN (SELECT value FROM json_each(?2))",
        )?;
        let rows = stmt.query_map(params![account_id, keep], |r| r.get(0))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()?
    };
    for calendar_id in gone {
        tx.execute(
            "DELETE FROM calendar_events WHERE account_id = ?1 AND calendar_id = ?2",
            params![account_id, calendar_id],
        )?;
        tx.execute(
            "DELETE FROM calendar_calendars WHERE account_id = ?1 AND calendar_id = ?2",
            params![account_id, calendar_id],
        )?;
        tx.execute(
            "DELETE FROM sync_state WHERE connector = ?1",
            params![connector(account_id, &calendar_id)],
        )?;
    }
    for calendar in &mut listed {
        calendar.cursor = read_cursor(&tx, account_id, &calendar.calendar_id)?;
    }
    tx.commit()?;
    Ok(listed)
}

/// The stored `nextSyncToken` of a calendar.
fn read_cursor(conn: &Connection, account_id: &str, calendar_id: &str) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT cursor FROM sync_state WHERE connector = ?1")?
        .query_row(params![connector(account_id, calendar_id)], |r| {
            r.get::<_, Option<String>>(0)
        })
        .optional()?
        .flatten()
        .filter(|c| !c.is_empty()))
}

/// What one calendar's transaction is given.
pub struct CalendarBatch<'a> {
    pub account_id: &'a str,
    pub calendar: &'a Listed,
    pub changes: &'a [Change],
    pub next_sync_token: Option<&'a str>,
    pub full_window: Option<(i64, i64)>,
    pub now: &'a str,
}

/// Writes one calendar's events in one transaction; returns the number of events stored.
pub fn store_calendar(tx: &rusqlite::Transaction<'_>, b: &CalendarBatch<'_>) -> Result<i64> {
    let (account_id, calendar_id) = (b.account_id, b.calendar.calendar_id.as_str());
    if let Some((time_min, time_max)) = b.full_window {
        tx.prepare_cached(
            "DELETE FROM calendar_events WHERE account_id = ?1 AND calendar_id = ?2
               AND start_ts < ?4 AND end_ts > ?3",
        )?
        .execute(params![account_id, calendar_id, time_min, time_max])?;
    }
    let mut delete = tx.prepare_cached(
        "DELETE FROM calendar_events WHERE account_id = ?1 AND calendar_id = ?2 AND event_id = ?3",
    )?;
    let mut upsert = tx.prepare_cached(
        "INSERT OR REPLACE INTO calendar_events (account_id, calendar_id, event_id, title,
             description, start_time, end_time, start_ts, end_ts, all_day, location,
             conference_url, visibility, status, organizer_json, attendees_json, html_link,
             time_zone, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
                 ?18, ?19, ?20)",
    )?;
    let mut stored = 0;
    for change in b.changes {
        let e = match change {
            Change::Delete(id) => {
                delete.execute(params![account_id, calendar_id, id])?;
                continue;
            }
            Change::Upsert(row) => row,
        };
        upsert.execute(params![
            account_id,
            calendar_id,
            e.event_id,
            e.title,
            e.description,
            e.start_time,
            e.end_time,
            e.start_ts,
            e.end_ts,
            e.all_day as i64,
            e.location,
            e.conference_url,
            e.visibility,
            e.status,
            e.organizer_json,
            e.attendees_json,
            e.html_link,
            e.time_zone,
            e.created_at,
            e.updated_at,
        ])?;
        stored += 1;
    }
    tx.prepare_cached(
        "INSERT INTO sync_state (connector, cursor, last_sync_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (connector) DO UPDATE SET cursor = excluded.cursor,
             last_sync_at = excluded.last_sync_at",
    )?
    .execute(params![
        connector(account_id, calendar_id),
        b.next_sync_token,
        b.now
    ])?;
    Ok(stored)
}
