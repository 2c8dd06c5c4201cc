//! Persisted Claude sessions (CONTRACT.md §11.2): `claude_sessions` and
//! `claude_session_messages`. Every function runs on a store connection (blocking pool).

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::ids::new_id;
use crate::time::now_iso;

/// One stored message.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SessionMessage {
    pub role: String,
    pub content: String,
    pub created_at: String,
}

/// A session as the API returns it; `messages` is absent in lists.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ClaudeSession {
    pub session_id: String,
    pub created_at: String,
    pub updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<SessionMessage>>,
}

fn not_found() -> Error {
    Error::NotFound("session not found".into())
}

/// Inserts an empty session and returns its id.
pub fn create(conn: &Connection) -> Result<String> {
    let id = new_id("session");
    let now = now_iso();
    conn.prepare_cached(
        "INSERT INTO claude_sessions (session_id, created_at, updated_at) VALUES (?1, ?2, ?2)",
    )?
    .execute(params![id, now])?;
    Ok(id)
}

/// Messages of a session, oldest first.
pub fn messages(conn: &Connection, session_id: &str) -> Result<Vec<SessionMessage>> {
    let mut stmt = conn.prepare_cached(
        "SELECT role, content, created_at FROM claude_session_messages
         WHERE session_id = ?1 ORDER BY id ASC",
    )?;
    let rows = stmt.query_map(params![session_id], |r| {
        Ok(SessionMessage {
            role: r.get(0)?,
            content: r.get(1)?,
            created_at: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// A session with its messages, or `session not found`.
pub fn get(conn: &Connection, session_id: &str) -> Result<ClaudeSession> {
    let row = conn
        .prepare_cached(
            "SELECT session_id, created_at, updated_at FROM claude_sessions WHERE session_id = ?1",
        )?
        .query_row(params![session_id], |r| {
            Ok(ClaudeSession {
                session_id: r.get(0)?,
                created_at: r.get(1)?,
                updated_at: r.get(2)?,
                messages: None,
            })
        })
        .optional()?;
    let mut session = row.ok_or_else(not_found)?;
    session.messages = Some(messages(conn, session_id)?);
    Ok(session)
}

/// Sessions without messages, newest first.
pub fn list(conn: &Connection, limit: i64) -> Result<Vec<ClaudeSession>> {
    let mut stmt = conn.prepare_cached(
        "SELECT session_id, created_at, updated_at FROM claude_sessions
         ORDER BY updated_at DESC, created_at DESC, rowid DESC LIMIT ?1",
    )?;
    let rows = stmt.query_map(params![limit], |r| {
        Ok(ClaudeSession {
            session_id: r.get(0)?,
            created_at: r.get(1)?,
            updated_at: r.get(2)?,
            messages: None,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// Deletes a session and its messages in one transaction.
pub fn delete(conn: &mut Connection, session_id: &str) -> Result<()> {
    let tx = conn.transaction()?;
    let n = tx
        .prepare_cached("DELETE FROM claude_sessions WHERE session_id = ?1")?
        .execute(params![session_id])?;
    if n == 0 {
        return Err(not_found());
    }
    tx.prepare_cached("DELETE FROM claude_session_messages WHERE session_id = ?1")?
        .execute(params![session_id])?;
    tx.commit()?;
    Ok(())
}

/// The native CLI session of a row: `None` when the row does not exist, `Some(None)` when
/// it has no UUID yet.
pub fn cli_session(conn: &Connection, session_id: &str) -> Result<Option<Option<String>>> {
    Ok(conn
        .prepare_cached("SELECT cli_session_id FROM claude_sessions WHERE session_id = ?1")?
        .query_row(params![session_id], |r| r.get::<_, Option<String>>(0))
        .optional()?)
}

/// Stores `uuid` as the row's CLI session unless one is already there (a concurrent run won),
/// and returns the stored one. `None` when the row does not exist.
pub fn claim_cli_session(
    conn: &Connection,
    session_id: &str,
    uuid: &str,
) -> Result<Option<String>> {
    conn.prepare_cached(
        "UPDATE claude_sessions SET cli_session_id = ?2
         WHERE session_id = ?1 AND cli_session_id IS NULL",
    )?
    .execute(params![session_id, uuid])?;
    Ok(cli_session(conn, session_id)?.flatten())
}

/// Replaces the row's CLI session (the fallback after the CLI lost the old one).
pub fn set_cli_session(conn: &Connection, session_id: &str, uuid: &str) -> Result<()> {
    conn.prepare_cached("UPDATE claude_sessions SET cli_session_id = ?2 WHERE session_id = ?1")?
        .execute(params![session_id, uuid])?;
    Ok(())
}

/// Stored messages as (role, content), kept within the limits (for the fallback prompt).
pub fn history(
    conn: &Connection,
    session_id: &str,
    max_messages: usize,
    max_chars: usize,
) -> Result<Vec<(String, String)>> {
    let all: Vec<(String, String)> = messages(conn, session_id)?
        .into_iter()
        .map(|m| (m.role, m.content))
        .collect();
    let keep = kept_suffix(
        &all.iter()
            .map(|(_, c)| c.chars().count())
            .collect::<Vec<_>>(),
        max_messages,
        max_chars,
    );
    Ok(all[all.len() - keep..].to_vec())
}

/// How many of the newest items survive: at most `max_messages`, then the oldest dropped while
/// the sizes sum to more than `max_chars`.
fn kept_suffix(sizes: &[usize], max_messages: usize, max_chars: usize) -> usize {
    let mut keep = sizes.len().min(max_messages);
    let mut total: usize = sizes[sizes.len() - keep..].iter().sum();
    while keep > 0 && total > max_chars {
        total -= sizes[sizes.len() - keep];
        keep -= 1;
    }
    keep
}

/// One exchange to append after a successful run.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub job_id: String,
    pub session_id: String,
    /// The CLI session the run used (stored on rows created on demand).
    pub cli_session_id: Option<String>,
    pub user: String,
    pub assistant: String,
    pub max_messages: usize,
    pub max_chars: usize,
}

/// Appends the exchange and trims the session, in one transaction, only while the job is
/// still `running` (a canceled run writes nothing). Creates the row on demand. Returns
/// whether anything was written.
pub fn append_exchange(conn: &mut Connection, ex: &Exchange) -> Result<bool> {
    let tx = conn.transaction()?;
    let status: Option<String> = tx
        .prepare_cached("SELECT status FROM jobs WHERE job_id = ?1")?
        .query_row(params![ex.job_id], |r| r.get(0))
        .optional()?;
    if status.as_deref() != Some(crate::jobs::RUNNING) {
        return Ok(false);
    }
    let now = now_iso();
    tx.prepare_cached(
        "INSERT INTO claude_sessions (session_id, created_at, updated_at, cli_session_id)
         VALUES (?1, ?2, ?2, ?3)
         ON CONFLICT(session_id) DO UPDATE SET updated_at = excluded.updated_at",
    )?
    .execute(params![ex.session_id, now, ex.cli_session_id])?;
    for (role, content) in [("user", &ex.user), ("assistant", &ex.assistant)] {
        if content.trim().is_empty() {
            continue;
        }
        tx.prepare_cached(
            "INSERT INTO claude_session_messages (session_id, role, content, created_at)
             VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![ex.session_id, role, content, now])?;
    }
    trim(&tx, &ex.session_id, ex.max_messages, ex.max_chars)?;
    tx.commit()?;
    Ok(true)
}

/// Keeps the newest `max_messages`, then drops the oldest while the contents sum to more
/// than `max_chars` characters.
pub fn trim(
    conn: &Connection,
    session_id: &str,
    max_messages: usize,
    max_chars: usize,
) -> Result<()> {
    let rows: Vec<(i64, usize)> = {
        let mut stmt = conn.prepare_cached(
            "SELECT id, content FROM claude_session_messages WHERE session_id = ?1 ORDER BY id ASC",
        )?;
        let rows = stmt.query_map(params![session_id], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?.chars().count()))
        })?;
        rows.collect::<rusqlite::Result<Vec<_>>>()?
    };
    let sizes: Vec<usize> = rows.iter().map(|(_, n)| *n).collect();
    let keep = kept_suffix(&sizes, max_messages, max_chars);
    let drop_count = rows.len() - keep;
    if drop_count > 0 {
        let last_dropped = rows[drop_count - 1].0;
        conn.prepare_cached(
            "DELETE FROM claude_session_messages WHERE session_id = ?1 AND id <= ?2",
        )?
        .execute(params![session_id, last_dropped])?;
    }
    Ok(())
}

/// An imported transcript: the session found by its source file, or a new one.
#[derive(Debug, Clone)]
pub struct Import {
    pub source_path: String,
    pub cli_session_id: Option<String>,
    pub title: Option<String>,
    pub cwd: Option<String>,
    /// (role, content, created_at), oldest first.
    pub messages: Vec<(String, String, String)>,
    pub max_messages: usize,
    pub max_chars: usize,
}

/// Creates or updates the session of a transcript file (idempotent: the same file always maps
/// to the same session) and replaces its messages. Returns the session id.
pub fn import(conn: &mut Connection, im: &Import) -> Result<String> {
    let tx = conn.transaction()?;
    let existing: Option<String> = tx
        .prepare_cached(
            "SELECT session_id FROM claude_sessions WHERE source = 'transcript' AND source_path = ?1
             ORDER BY rowid LIMIT 1",
        )?
        .query_row(params![im.source_path], |r| r.get(0))
        .optional()?;
    let now = now_iso();
    let id = match existing {
        Some(id) => {
            tx.prepare_cached(
                "UPDATE claude_sessions SET updated_at = ?2, cli_session_id = ?3, title = ?4,
                 cwd = ?5 WHERE session_id = ?1",
            )?
            .execute(params![id, now, im.cli_session_id, im.title, im.cwd])?;
            tx.prepare_cached("DELETE FROM claude_session_messages WHERE session_id = ?1")?
                .execute(params![id])?;
            id
        }
        None => {
            let id = new_id("session");
            tx.prepare_cached(
                "INSERT INTO claude_sessions (session_id, created_at, updated_at, cli_session_id,
                 title, cwd, source, source_path) VALUES (?1, ?2, ?2, ?3, ?4, ?5, 'transcript', ?6)",
            )?
            .execute(params![id, now, im.cli_session_id, im.title, im.cwd, im.source_path])?;
            id
        }
    };
    for (role, content, created_at) in &im.messages {
        tx.prepare_cached(
            "INSERT INTO claude_session_messages (session_id, role, content, created_at)
             VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![id, role, content, created_at])?;
    }
    trim(&tx, &id, im.max_messages, im.max_chars)?;
    tx.commit()?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_newest_within_limits() {
        assert_eq!(kept_suffix(&[5, 5, 5], 20, 100), 3);
        assert_eq!(kept_suffix(&[5, 5, 5], 2, 100), 2);
        assert_eq!(kept_suffix(&[5, 5, 5], 20, 10), 2);
        assert_eq!(kept_suffix(&[5, 5, 50], 20, 10), 0);
        assert_eq!(kept_suffix(&[], 20, 10), 0);
    }
}
