//! SQL and JSON shapes of calendar accounts, calendars and events (CONTRACT.md §4.4). Every
//! function takes a connection and runs inside the store's blocking closures.

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::event_list::EventList;
pub use super::json_column::JsonColumn;
use crate::error::{Error, Result};

/// The 404 detail of every calendar account route.
pub const ACCOUNT_NOT_FOUND: &str = "calendar account not found";

/// `CalendarAccount`; credentials and config are never part of it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CalendarAccount {
    pub account_id: String,
    pub provider: String,
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub connected: bool,
    pub created_at: String,
    pub updated_at: String,
    pub last_sync_at: Option<String>,
    pub sync_cursor: Option<String>,
}

/// `CalendarListItem`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CalendarListItem {
    pub account_id: String,
    pub calendar_id: String,
    pub provider: String,
    pub name: String,
    pub description: Option<String>,
    pub is_primary: bool,
    pub access_role: Option<String>,
    pub background_color: Option<String>,
    pub foreground_color: Option<String>,
    pub time_zone: Option<String>,
    pub selected: bool,
    pub created_at: String,
    pub updated_at: String,
}

/// `CalendarEvent` (the JS and HTTP answers serialize an [`EventList`] with this shape).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CalendarEvent {
    pub account_id: String,
    pub event_id: String,
    pub calendar_id: String,
    pub title: Option<String>,
    pub description: Option<String>,
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    pub start_ts: Option<i64>,
    pub end_ts: Option<i64>,
    pub all_day: bool,
    pub location: Option<String>,
    pub conference_url: Option<String>,
    pub visibility: Option<String>,
    pub status: Option<String>,
    pub organizer: JsonColumn,
    pub attendees: JsonColumn,
    pub html_link: Option<String>,
    pub time_zone: Option<String>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
    pub calendar_color: Option<String>,
    pub calendar_name: Option<String>,
}

/// True when a decrypted credentials text holds something (`{}` and `null` do not).
fn non_empty_json(text: &str) -> bool {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(m)) => !m.is_empty(),
        Ok(Value::Array(a)) => !a.is_empty(),
        Ok(Value::String(s)) => !s.is_empty(),
        Ok(Value::Null) | Ok(Value::Bool(false)) => false,
        Ok(_) => true,
        Err(_) => !text.trim().is_empty(),
    }
}

/// `connected`: stored credentials non-empty. An encrypted value that cannot be opened counts
/// as connected (CONTRACT.md §12.3); one that opens is judged by its content, so an encrypted
/// `{}` (an Apple account) stays `false`.
pub fn is_connected(key: Option<&[u8; 32]>, account_id: &str, stored: Option<&str>) -> bool {
    match stored {
        None => false,
        Some(s) if s.trim().is_empty() => false,
        Some(s) => match crate::secrets::open(key, account_id, s) {
            Ok(plain) => non_empty_json(&plain),
            Err(_) => true,
        },
    }
}

const ACCOUNT_COLUMNS: &str = "a.account_id, a.provider, a.display_name, a.email,
    a.credentials_json, a.created_at, a.updated_at,
    (SELECT MAX(s.last_sync_at) FROM sync_state s
      WHERE s.connector = 'calendar:' || a.account_id
         OR substr(s.connector, 1, length(a.account_id) + 10) = 'calendar:' || a.account_id || ':')";

fn account_from_row(key: Option<&[u8; 32]>, r: &Row<'_>) -> rusqlite::Result<CalendarAccount> {
    let account_id: String = r.get(0)?;
    let stored: Option<String> = r.get(4)?;
    Ok(CalendarAccount {
        connected: is_connected(key, &account_id, stored.as_deref()),
        account_id,
        provider: r.get(1)?,
        display_name: r.get(2)?,
        email: r.get(3)?,
        created_at: r.get(5)?,
        updated_at: r.get(6)?,
        last_sync_at: r.get(7)?,
        sync_cursor: None,
    })
}

/// All accounts, newest first; accounts of the same second in insertion order (as the original).
pub fn list(conn: &Connection, key: Option<&[u8; 32]>) -> Result<Vec<CalendarAccount>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {ACCOUNT_COLUMNS} FROM calendar_accounts a ORDER BY a.created_at DESC, a.rowid ASC"
    ))?;
    let rows = stmt.query_map([], |r| account_from_row(key, r))?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// One account, or `E_NOT_FOUND` `calendar account not found`.
pub fn get(conn: &Connection, key: Option<&[u8; 32]>, account_id: &str) -> Result<CalendarAccount> {
    conn.prepare_cached(&format!(
        "SELECT {ACCOUNT_COLUMNS} FROM calendar_accounts a WHERE a.account_id = ?1"
    ))?
    .query_row(params![account_id], |r| account_from_row(key, r))
    .optional()?
    .ok_or_else(|| Error::NotFound(ACCOUNT_NOT_FOUND.into()))
}

/// True when the account exists.
pub fn exists(conn: &Connection, account_id: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT EXISTS(SELECT 1 FROM calendar_accounts WHERE account_id = ?1)")?
        .query_row(params![account_id], |r| r.get(0))?)
}

/// A new account row (credentials already sealed by the caller).
pub struct NewAccount<'a> {
    pub account_id: &'a str,
    pub provider: &'a str,
    pub email: Option<&'a str>,
    pub display_name: Option<&'a str>,
    pub credentials_json: &'a str,
    pub config_json: &'a str,
    pub now: &'a str,
}

/// Inserts an account.
pub fn insert(conn: &Connection, a: &NewAccount<'_>) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO calendar_accounts (account_id, provider, email, display_name,
             credentials_json, config_json, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
    )?
    .execute(params![
        a.account_id,
        a.provider,
        a.email,
        a.display_name,
        a.credentials_json,
        a.config_json,
        a.now
    ])?;
    Ok(())
}

/// Deletes an account with its calendars, events and sync state in one transaction; false when
/// it did not exist.
pub fn delete(conn: &mut Connection, account_id: &str) -> Result<bool> {
    let tx = conn.transaction()?;
    let removed = tx.execute(
        "DELETE FROM calendar_accounts WHERE account_id = ?1",
        params![account_id],
    )?;
    if removed == 0 {
        return Ok(false);
    }
    let prefix = format!("calendar:{account_id}:");
    tx.execute(
        "DELETE FROM sync_state WHERE connector = ?1
            OR substr(connector, 1, length(?2)) = ?2",
        params![format!("calendar:{account_id}"), prefix],
    )?;
    tx.execute(
        "DELETE FROM calendar_events WHERE account_id = ?1",
        params![account_id],
    )?;
    tx.execute(
        "DELETE FROM calendar_calendars WHERE account_id = ?1",
        params![account_id],
    )?;
    tx.commit()?;
    Ok(true)
}

/// The provider and stored credentials of an account, `None` when it does not exist.
pub fn credentials_of(
    conn: &Connection,
    account_id: &str,
) -> Result<Option<(String, Option<String>)>> {
    Ok(conn
        .prepare_cached(
            "SELECT provider, credentials_json FROM calendar_accounts WHERE account_id = ?1",
        )?
        .query_row(params![account_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

/// Calendars, primary first, then by name (binary collation).
pub fn list_calendars(
    conn: &Connection,
    account_id: Option<&str>,
    selected_only: bool,
) -> Result<Vec<CalendarListItem>> {
    let mut stmt = conn.prepare_cached(
        "SELECT account_id, calendar_id, provider, name, description, is_primary, access_role,
                background_color, foreground_color, time_zone, selected, created_at, updated_at
         FROM calendar_calendars
         WHERE (?1 IS NULL OR account_id = ?1) AND (?2 = 0 OR selected = 1)
         ORDER BY is_primary DESC, name ASC",
    )?;
    let rows = stmt.query_map(params![account_id, selected_only as i64], |r| {
        Ok(CalendarListItem {
            account_id: r.get(0)?,
            calendar_id: r.get(1)?,
            provider: r.get(2)?,
            name: r.get::<_, Option<String>>(3)?.unwrap_or_default(),
            description: r.get(4)?,
            is_primary: r.get::<_, Option<i64>>(5)?.unwrap_or(0) != 0,
            access_role: r.get(6)?,
            background_color: r.get(7)?,
            foreground_color: r.get(8)?,
            time_zone: r.get(9)?,
            selected: r.get::<_, Option<i64>>(10)?.unwrap_or(1) != 0,
            created_at: r.get(11)?,
            updated_at: r.get(12)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// Sets `selected` of one calendar (a missing calendar updates nothing).
pub fn set_selected(
    conn: &Connection,
    account_id: &str,
    calendar_id: &str,
    selected: bool,
    now: &str,
) -> Result<()> {
    conn.prepare_cached(
        "UPDATE calendar_calendars SET selected = ?3, updated_at = ?4
         WHERE account_id = ?1 AND calendar_id = ?2",
    )?
    .execute(params![account_id, calendar_id, selected as i64, now])?;
    Ok(())
}

/// Filters of `listCalendarEvents`.
pub struct EventQuery {
    pub start: i64,
    pub end: i64,
    pub account_id: Option<String>,
    pub calendar_ids: Option<Vec<String>>,
    pub selected_only: bool,
}

/// Events of `q` read from SQLite (no in-memory copy): see [`super::event_cache::list_events`].
/// The backend's `listCalendarEvents` answers from its copy instead.
pub fn list_events(conn: &Connection, q: &EventQuery) -> Result<EventList> {
    super::event_cache::list_events(conn, q, None)
}
