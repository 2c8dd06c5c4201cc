//! Migration 5: the memory tables (CONTRACT.md §15.2).
//!
//! A database written by the original may already hold `observations`, `observations_fts`
//! (FTS5, `unicode61`, a content-storing copy kept in step by hand) and `observation_sources`;
//! a fresh one holds none. Both end in the same state:
//! - the original's tables and indices (created when missing, never altered);
//! - `facts`/`concepts` that Python stored with `\uXXXX` escapes rewritten as real UTF-8;
//! - `observations_fts` rebuilt as an *external-content* FTS5 table over `observations` with
//!   the `trigram` tokenizer, kept in step by the code that writes observations
//!   (`super::fts`, in the same transaction: an observation and its FTS row always commit
//!   together);
//! - `observation_vectors` for the host embedder's vectors.

use rusqlite::{params, Transaction};
use serde_json::Value;

use crate::error::Result;

/// The original's DDL for the memory tables (`IF NOT EXISTS`: a no-op on its databases).
const ORIGINAL_TABLES: &str = r#"
CREATE TABLE IF NOT EXISTS observations (
  observation_id TEXT PRIMARY KEY, title TEXT NOT NULL, narrative TEXT NOT NULL,
  facts TEXT, concepts TEXT, type TEXT NOT NULL, source TEXT NOT NULL,
  source_event_id TEXT, project_path TEXT, event_time TEXT NOT NULL,
  event_ts INTEGER NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
  embedding_version TEXT, chroma_synced INTEGER DEFAULT 0);
CREATE INDEX IF NOT EXISTS idx_observations_type ON observations (type);
CREATE INDEX IF NOT EXISTS idx_observations_source ON observations (source);
CREATE INDEX IF NOT EXISTS idx_observations_event_ts ON observations (event_ts);
CREATE INDEX IF NOT EXISTS idx_observations_chroma_synced ON observations (chroma_synced);
CREATE INDEX IF NOT EXISTS idx_observations_project ON observations (project_path);
CREATE TABLE IF NOT EXISTS observation_sources (
  source_type TEXT NOT NULL, source_id TEXT NOT NULL, observation_id TEXT NOT NULL,
  created_at TEXT NOT NULL, PRIMARY KEY (source_type, source_id));
CREATE INDEX IF NOT EXISTS idx_observation_sources_observation
  ON observation_sources (observation_id);
DROP TABLE IF EXISTS observations_fts_vocab;
DROP TABLE IF EXISTS observations_fts;
"#;

/// The new index (kept in step by `super::fts`, not by triggers: see there) and the vector
/// table.
const NEW_TABLES: &str = r#"
CREATE VIRTUAL TABLE observations_fts USING fts5(
  observation_id UNINDEXED, title, narrative, facts, concepts,
  content='observations', content_rowid='rowid', tokenize='trigram');
CREATE TABLE IF NOT EXISTS observation_vectors (
  observation_id TEXT NOT NULL, model TEXT NOT NULL, dim INTEGER NOT NULL,
  vector BLOB NOT NULL, created_at TEXT NOT NULL,
  PRIMARY KEY (observation_id, model));
CREATE INDEX IF NOT EXISTS idx_observations_created ON observations (created_at);
CREATE VIRTUAL TABLE observations_fts_vocab USING fts5vocab('observations_fts', 'row');
INSERT INTO observations_fts (observations_fts) VALUES ('rebuild');
"#;

/// Runs migration 5 inside the migration's transaction.
pub(crate) fn migrate(tx: &Transaction<'_>) -> Result<()> {
    tx.execute_batch(ORIGINAL_TABLES)?;
    rewrite_escaped_lists(tx)?;
    tx.execute_batch(NEW_TABLES)?;
    Ok(())
}

/// Rewrites `facts`/`concepts` JSON stored with `\uXXXX` escapes as real UTF-8 (before the
/// FTS index is built, so that it indexes the rewritten text).
fn rewrite_escaped_lists(tx: &Transaction<'_>) -> Result<()> {
    let rows: Vec<(i64, Option<String>, Option<String>)> = {
        let mut stmt = tx.prepare(
            r"SELECT rowid, facts, concepts FROM observations
               WHERE instr(facts, '\u') > 0 OR instr(concepts, '\u') > 0",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let mut update =
        tx.prepare("UPDATE observations SET facts = ?2, concepts = ?3 WHERE rowid = ?1")?;
    for (rowid, facts, concepts) in rows {
        update.execute(params![rowid, reencode(facts), reencode(concepts)])?;
    }
    Ok(())
}

/// A JSON list re-serialized compactly with real UTF-8; anything unparsable stays as it was.
fn reencode(text: Option<String>) -> Option<String> {
    let text = text?;
    match serde_json::from_str::<Value>(&text) {
        Ok(value @ Value::Array(_)) => Some(value.to_string()),
        _ => Some(text),
    }
}
