//! Numbered migrations, tracked with `PRAGMA user_version` (CONTRACT.md §12).
//!
//! Version 0 is either an empty file or a database written by the original Python backend (the
//! same 8 tables, maybe with rows). Migration 1 first runs the original DDL with
//! `IF NOT EXISTS` — a no-op on an original database, the full schema on a fresh one — then adds
//! the new columns and tables. Existing tables and columns are never renamed or dropped.

use rusqlite::Connection;

use crate::error::Result;

/// The original backend's DDL, verbatim in names, columns, types and constraints.
const ORIGINAL_DDL: &str = r#"
CREATE TABLE IF NOT EXISTS jobs (
  job_id TEXT PRIMARY KEY, type TEXT NOT NULL, status TEXT NOT NULL,
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
  progress REAL, message TEXT, payload_json TEXT, result_json TEXT, error_json TEXT);
CREATE TABLE IF NOT EXISTS job_events (
  event_id INTEGER PRIMARY KEY,
  job_id TEXT NOT NULL, created_at TEXT NOT NULL, level TEXT NOT NULL,
  message TEXT NOT NULL, meta_json TEXT);
CREATE TABLE IF NOT EXISTS sync_state (
  connector TEXT PRIMARY KEY, cursor TEXT, last_sync_at TEXT);
CREATE TABLE IF NOT EXISTS calendar_accounts (
  account_id TEXT PRIMARY KEY, provider TEXT NOT NULL, email TEXT, display_name TEXT,
  credentials_json TEXT, config_json TEXT,
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS calendar_calendars (
  account_id TEXT NOT NULL, calendar_id TEXT NOT NULL, provider TEXT NOT NULL,
  name TEXT, description TEXT, is_primary INTEGER DEFAULT 0, access_role TEXT,
  background_color TEXT, foreground_color TEXT, time_zone TEXT, selected INTEGER DEFAULT 1,
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
  PRIMARY KEY (account_id, calendar_id));
CREATE TABLE IF NOT EXISTS calendar_events (
  account_id TEXT NOT NULL, calendar_id TEXT NOT NULL, event_id TEXT NOT NULL,
  title TEXT, description TEXT, start_time TEXT, end_time TEXT,
  start_ts INTEGER, end_ts INTEGER,
  all_day INTEGER DEFAULT 0, location TEXT, conference_url TEXT, visibility TEXT, status TEXT,
  organizer_json TEXT, attendees_json TEXT, html_link TEXT, time_zone TEXT,
  created_at TEXT, updated_at TEXT,
  PRIMARY KEY (account_id, calendar_id, event_id));
CREATE TABLE IF NOT EXISTS atlassian_accounts (
  account_id TEXT PRIMARY KEY, service TEXT NOT NULL, org TEXT NOT NULL, base_url TEXT NOT NULL,
  email TEXT NOT NULL, api_token TEXT NOT NULL,
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS activity_events (
  event_id TEXT PRIMARY KEY, source TEXT NOT NULL, account_id TEXT NOT NULL,
  event_type TEXT NOT NULL, title TEXT NOT NULL, description TEXT, url TEXT, actor TEXT,
  event_time TEXT NOT NULL, event_ts INTEGER NOT NULL,
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL, raw_json TEXT);

CREATE INDEX IF NOT EXISTS idx_atlassian_accounts_service ON atlassian_accounts(service);
CREATE INDEX IF NOT EXISTS idx_activity_events_time ON activity_events(event_ts);
CREATE INDEX IF NOT EXISTS idx_activity_events_source ON activity_events(source);
CREATE INDEX IF NOT EXISTS idx_activity_events_account ON activity_events(account_id);
CREATE INDEX IF NOT EXISTS idx_calendar_events_range ON calendar_events(start_ts, end_ts);
CREATE INDEX IF NOT EXISTS idx_calendar_events_calendar ON calendar_events(account_id, calendar_id);
CREATE INDEX IF NOT EXISTS idx_calendar_calendars_selected ON calendar_calendars(account_id, selected);
"#;

/// Migration 1: the additive columns and tables of CONTRACT.md §12.2.
///
/// Implementation columns of `jobs`:
/// - `run_at` epoch milliseconds before which the job is not claimed (NULL = at once);
/// - `priority` (higher first), `unique_key` (dedup while queued or running);
/// - `claimed` 1 while a worker holds the job (reset at open: one process owns the queue);
/// - `retry_failures` 1 when the creator asked for retries (`max_attempts > 1` explicitly):
///   only then does a handler failure re-queue the job (§6.2); the budget itself also serves
///   crash recovery.
const MIGRATION_1: &str = r#"
ALTER TABLE jobs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN max_attempts INTEGER NOT NULL DEFAULT 1;
ALTER TABLE jobs ADD COLUMN run_at INTEGER;
ALTER TABLE jobs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN unique_key TEXT;
ALTER TABLE jobs ADD COLUMN claimed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN retry_failures INTEGER NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS idx_jobs_status_created ON jobs(status, created_at);
CREATE INDEX IF NOT EXISTS idx_jobs_queue ON jobs(priority DESC, created_at, job_id) WHERE status = 'queued';
CREATE INDEX IF NOT EXISTS idx_jobs_unique_key ON jobs(unique_key) WHERE unique_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_job_events_job ON job_events(job_id, event_id);
CREATE TABLE IF NOT EXISTS claude_sessions (
  session_id TEXT PRIMARY KEY, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
  cli_session_id TEXT,
  title TEXT, cwd TEXT,
  source TEXT NOT NULL DEFAULT 'backend',
  source_path TEXT);
CREATE TABLE IF NOT EXISTS claude_session_messages (
  id INTEGER PRIMARY KEY, session_id TEXT NOT NULL, role TEXT NOT NULL,
  content TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS idx_claude_session_messages_session
  ON claude_session_messages(session_id, id);
CREATE TABLE IF NOT EXISTS settings (
  key TEXT PRIMARY KEY, value_json TEXT NOT NULL, updated_at TEXT NOT NULL);

-- Rows of the original: a job left running counts as one attempt (CONTRACT.md §6.6), and
-- every job gets its type's default budget (§6.2).
UPDATE jobs SET max_attempts = CASE
    WHEN type IN ('demo', 'connector.calendar.sync', 'connector.jira.sync',
                  'connector.confluence.sync') THEN 3
    ELSE 1 END;
UPDATE jobs SET attempts = 1 WHERE status = 'running';
"#;

/// Migration 2: indexes that keep claiming O(1) however many jobs are delayed or done.
/// `idx_jobs_ready` holds exactly the claimable rows in claim order (the rowid is implicitly
/// the last key); `idx_jobs_delayed` finds the next due time.
const MIGRATION_2: &str = r#"
CREATE INDEX IF NOT EXISTS idx_jobs_ready ON jobs(priority DESC, created_at)
  WHERE status = 'queued' AND claimed = 0 AND run_at IS NULL;
CREATE INDEX IF NOT EXISTS idx_jobs_delayed ON jobs(run_at)
  WHERE status = 'queued' AND claimed = 0 AND run_at IS NOT NULL;
"#;

/// Migration 3: the longest event duration in O(log n). `listCalendarEvents` bounds its range
/// scan from below with it (an event overlapping `[start, end)` starts at or after
/// `start - longest duration`), so a month's query reads that month's index entries instead of
/// every event that starts before the month ends.
const MIGRATION_3: &str = r#"
CREATE INDEX IF NOT EXISTS idx_calendar_events_span ON calendar_events((end_ts - start_ts));
"#;

/// Migration 4: `idx_jobs_queue` (migration 1) is superseded by `idx_jobs_ready`, which the
/// claim uses; every job's status change still paid for keeping it, a WAL page per commit.
const MIGRATION_4: &str = r#"
DROP INDEX IF EXISTS idx_jobs_queue;
"#;

/// Migration 5: the memory tables. Written in code (`crate::memory::schema`): it rewrites
/// rows of the original before it rebuilds their FTS index.
const MIGRATION_5: &str = "";

/// Migration 6: the notes vault (CONTRACT.md §17). `vaults` are registered folders (canonical
/// paths); `vault_notes` one row per indexed note (relative path with `/`, title, Node-style
/// mtime in ms, size, SHA-256, the content); `vault_notes_fts` the FTS5 `trigram` index of the
/// JS-lower-cased title and content (rowid = `note_id`; contentless: the text lives in
/// `vault_notes`; `detail=none`: no positions, so a `MATCH` gives candidates that hold every
/// trigram of a token, which the exact count then checks — a fraction of the size).
const MIGRATION_6: &str = r#"
CREATE TABLE IF NOT EXISTS vaults (
  vault_id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL,
  last_scan_at TEXT, embedding_model TEXT);
CREATE TABLE IF NOT EXISTS vault_notes (
  note_id INTEGER PRIMARY KEY, vault_id INTEGER NOT NULL, rel_path TEXT NOT NULL,
  title TEXT NOT NULL, mtime_ms INTEGER NOT NULL, size INTEGER NOT NULL,
  content_hash TEXT NOT NULL, content TEXT NOT NULL, indexed_at TEXT NOT NULL,
  UNIQUE (vault_id, rel_path));
CREATE VIRTUAL TABLE IF NOT EXISTS vault_notes_fts USING fts5(
  title, content, content='', contentless_delete=1, detail=none,
  tokenize='trigram case_sensitive 1');
"#;

/// Migration 7: memory's FTS rows are written by its code, not by triggers (a trigger made
/// FTS5 write an index segment per observation, see `crate::memory::fts`), and the index of
/// 1–2-character terms is gone (the in-memory word index answers them, see
/// `crate::memory::search`). Databases made by migration 5 of earlier builds had both.
const MIGRATION_7: &str = r#"
DROP TRIGGER IF EXISTS observations_fts_insert;
DROP TRIGGER IF EXISTS observations_fts_delete;
DROP TRIGGER IF EXISTS observations_fts_update;
DROP TABLE IF EXISTS observations_grams;
"#;

/// The migrations in order; entry `i` brings the database to version `i + 1`.
const MIGRATIONS: &[&str] = &[
    MIGRATION_1,
    MIGRATION_2,
    MIGRATION_3,
    MIGRATION_4,
    MIGRATION_5,
    MIGRATION_6,
    MIGRATION_7,
];

/// The schema version a fully migrated database has.
pub const LATEST_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database up to [`LATEST_VERSION`], each step in its own transaction.
pub fn migrate(conn: &mut Connection) -> Result<()> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (index, sql) in MIGRATIONS.iter().enumerate() {
        let target = index as i64 + 1;
        if version >= target {
            continue;
        }
        let tx = conn.transaction()?;
        if target == 1 {
            tx.execute_batch(ORIGINAL_DDL)?;
        }
        tx.execute_batch(sql)?;
        if target == 5 {
            crate::memory::schema::migrate(&tx)?;
        }
        tx.execute_batch(&format!("PRAGMA user_version = {target}"))?;
        tx.commit()?;
    }
    Ok(())
}

/// The original DDL, for tests that build a database as the Python backend left it.
#[cfg(any(test, feature = "test-support"))]
pub fn original_ddl() -> &'static str {
    ORIGINAL_DDL
}
