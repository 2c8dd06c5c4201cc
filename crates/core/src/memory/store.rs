//! The SQL of the memory tables. Every write of one observation touches `observations`, its
//! FTS row (`super::fts`), its ledger row and its vectors inside the caller's transaction or
//! savepoint, so they commit together or not at all.

use std::collections::BTreeMap;

use rusqlite::{
    params, params_from_iter, types::Value as SqlValue, Connection, OptionalExtension, ToSql,
};

use super::observation::{encode_list, Draft, Observation, Summary, COLUMNS};
use crate::error::Result;
use crate::time::now_iso;

/// What [`upsert`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// A new observation.
    Created(String),
    /// The ledger knew the item and its content changed: the same observation was updated.
    Updated(String),
    /// The ledger knew the item and nothing changed.
    Unchanged(String),
}

impl Stored {
    /// The observation id.
    pub fn id(&self) -> &str {
        match self {
            Stored::Created(id) | Stored::Updated(id) | Stored::Unchanged(id) => id,
        }
    }
}

/// A new `obs_` + 32 hex id.
pub fn new_id() -> String {
    crate::ids::new_id("obs")
}

/// Inserts `draft`, or — when its ledger key is known — updates that observation if its
/// content changed. Runs on a connection inside a transaction or savepoint.
pub fn upsert(conn: &Connection, draft: &Draft) -> Result<Stored> {
    let now = now_iso();
    if let Some((source_type, source_id)) = &draft.ledger {
        let known: Option<String> = conn
            .prepare_cached(
                "SELECT s.observation_id FROM observation_sources s
                   JOIN observations o ON o.observation_id = s.observation_id
                  WHERE s.source_type = ?1 AND s.source_id = ?2",
            )?
            .query_row(params![source_type, source_id], |r| r.get(0))
            .optional()?;
        if let Some(id) = known {
            return update_if_changed(conn, &id, draft, &now);
        }
    }
    let id = new_id();
    let lists = Lists::of(draft);
    let mut args: Vec<&dyn ToSql> = vec![&id];
    args.extend(content(draft, &lists));
    args.push(&now);
    conn.prepare_cached(
        "INSERT INTO observations (observation_id, title, narrative, facts, concepts, type,
           source, source_event_id, project_path, event_time, event_ts, created_at, updated_at,
           embedding_version, chroma_synced)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12, NULL, 0)",
    )?
    .execute(args.as_slice())?;
    super::fts::insert(conn, conn.last_insert_rowid(), &id, &lists.text(draft))?;
    if let Some((source_type, source_id)) = &draft.ledger {
        conn.prepare_cached(
            "INSERT INTO observation_sources (source_type, source_id, observation_id, created_at)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(source_type, source_id) DO UPDATE SET
               observation_id = excluded.observation_id, created_at = excluded.created_at",
        )?
        .execute(params![source_type, source_id, id, now])?;
    }
    Ok(Stored::Created(id))
}

fn update_if_changed(conn: &Connection, id: &str, d: &Draft, now: &str) -> Result<Stored> {
    let lists = Lists::of(d);
    let fields = content(d, &lists);
    let mut args: Vec<&dyn ToSql> = vec![&id];
    args.extend(fields);
    // Asked first, so that an unchanged item (most items of a repeated sync) writes nothing.
    let changed: Option<(i64, bool)> = conn
        .prepare_cached(
            "SELECT rowid, NOT (title IS ?2 AND narrative IS ?3 AND facts IS ?4 AND concepts IS ?5)
               FROM observations
              WHERE observation_id = ?1 AND NOT (title IS ?2 AND narrative IS ?3 AND facts IS ?4
               AND concepts IS ?5 AND type IS ?6 AND source IS ?7 AND source_event_id IS ?8
               AND project_path IS ?9 AND event_time IS ?10 AND event_ts IS ?11)",
        )?
        .query_row(args.as_slice(), |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((rowid, text_changed)) = changed else {
        return Ok(Stored::Unchanged(id.to_string()));
    };
    if text_changed {
        super::fts::remove(conn, rowid)?;
    }
    let mut args: Vec<&dyn ToSql> = vec![&rowid];
    args.extend(fields);
    args.push(&now);
    conn.prepare_cached(
        "UPDATE observations SET title = ?2, narrative = ?3, facts = ?4, concepts = ?5,
           type = ?6, source = ?7, source_event_id = ?8, project_path = ?9,
           event_time = ?10, event_ts = ?11, updated_at = ?12, chroma_synced = 0,
           embedding_version = NULL
         WHERE rowid = ?1",
    )?
    .execute(args.as_slice())?;
    if text_changed {
        super::fts::insert(conn, rowid, id, &lists.text(d))?;
    }
    // The old vectors describe the old content.
    conn.prepare_cached("DELETE FROM observation_vectors WHERE observation_id = ?1")?
        .execute(params![id])?;
    Ok(Stored::Updated(id.to_string()))
}

/// A draft's `facts` and `concepts` as stored (JSON text, or NULL when empty).
struct Lists {
    facts: Option<String>,
    concepts: Option<String>,
}

impl Lists {
    fn of(d: &Draft) -> Lists {
        Lists {
            facts: encode_list(&d.facts),
            concepts: encode_list(&d.concepts),
        }
    }

    /// The searchable text of `d`, as stored.
    fn text<'a>(&'a self, d: &'a Draft) -> super::fts::Text<'a> {
        [
            Some(&d.title),
            Some(&d.narrative),
            self.facts.as_deref(),
            self.concepts.as_deref(),
        ]
    }
}

/// The ten content columns of an observation, `title` to `event_ts`, in the order every
/// statement here binds them (`?2` to `?11`).
fn content<'a>(d: &'a Draft, lists: &'a Lists) -> [&'a dyn ToSql; 10] {
    [
        &d.title,
        &d.narrative,
        &lists.facts,
        &lists.concepts,
        &d.kind,
        &d.source,
        &d.source_event_id,
        &d.project_path,
        &d.event_time,
        &d.event_ts,
    ]
}

/// One observation (`model`: the current embedding model, `""` when none).
pub fn get(conn: &Connection, id: &str, model: &str) -> Result<Option<Observation>> {
    let sql = format!("SELECT {COLUMNS} FROM observations o WHERE o.observation_id = ?2");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(params![model, id], Observation::from_row)
        .optional()?)
}

/// Observations in the order of `ids`; unknown ids are skipped, repeated ids repeated.
pub fn get_many(conn: &Connection, ids: &[String], model: &str) -> Result<Vec<Observation>> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(o) = get(conn, id, model)? {
            out.push(o);
        }
    }
    Ok(out)
}

/// Deletes an observation with its FTS row, ledger rows and vectors; false when it did not
/// exist.
pub fn delete(conn: &mut Connection, id: &str) -> Result<bool> {
    let tx = conn.transaction()?;
    let rowid: Option<i64> = tx
        .query_row(
            "SELECT rowid FROM observations WHERE observation_id = ?1",
            params![id],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(rowid) = rowid {
        super::fts::remove(&tx, rowid)?;
    }
    let n = tx.execute(
        "DELETE FROM observations WHERE observation_id = ?1",
        params![id],
    )?;
    tx.execute(
        "DELETE FROM observation_sources WHERE observation_id = ?1",
        params![id],
    )?;
    tx.execute(
        "DELETE FROM observation_vectors WHERE observation_id = ?1",
        params![id],
    )?;
    tx.commit()?;
    Ok(n > 0)
}

/// Filters shared by list and search.
#[derive(Debug, Clone, Default)]
pub struct Window {
    /// Milliseconds, inclusive.
    pub start: i64,
    /// Milliseconds, inclusive.
    pub end: i64,
    pub kind: Option<String>,
    pub source: Option<String>,
}

impl Window {
    /// ` AND o.event_ts >= ? AND …` with its arguments appended to `args`.
    pub(crate) fn sql(&self, args: &mut Vec<SqlValue>) -> String {
        let mut sql = String::new();
        args.push(SqlValue::Integer(self.start));
        sql.push_str(&format!(" AND o.event_ts >= ?{}", args.len()));
        args.push(SqlValue::Integer(self.end));
        sql.push_str(&format!(" AND o.event_ts <= ?{}", args.len()));
        if let Some(t) = &self.kind {
            args.push(SqlValue::Text(t.clone()));
            sql.push_str(&format!(" AND o.type = ?{}", args.len()));
        }
        if let Some(s) = &self.source {
            args.push(SqlValue::Text(s.clone()));
            sql.push_str(&format!(" AND o.source = ?{}", args.len()));
        }
        sql
    }
}

/// `GET /memory/observations`: newest first.
pub fn list(conn: &Connection, w: &Window, limit: i64, offset: i64) -> Result<Vec<Summary>> {
    let mut args = Vec::new();
    let filter = w.sql(&mut args);
    args.push(SqlValue::Integer(limit));
    args.push(SqlValue::Integer(offset));
    let n = args.len();
    let sql = format!(
        "SELECT o.observation_id, o.title, o.type, o.source, o.event_time FROM observations o
          WHERE 1{filter} ORDER BY o.event_ts DESC, o.rowid DESC LIMIT ?{} OFFSET ?{n}",
        n - 1
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params_from_iter(args), summary_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn summary_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Summary> {
    Ok(Summary {
        observation_id: r.get(0)?,
        title: r.get(1)?,
        kind: r.get(2)?,
        source: r.get(3)?,
        event_time: r.get(4)?,
        relevance_score: None,
    })
}

/// The `event_ts` of an observation.
pub fn event_ts_of(conn: &Connection, id: &str) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached("SELECT event_ts FROM observations WHERE observation_id = ?1")?
        .query_row(params![id], |r| r.get(0))
        .optional()?)
}

/// The timeline around `anchor_ts` (reference §3.7): `before` rows older than the anchor in
/// ascending order, then up to `after + 1` rows from the anchor on.
pub fn timeline(
    conn: &Connection,
    anchor_ts: i64,
    before: i64,
    after: i64,
) -> Result<Vec<Summary>> {
    let mut stmt = conn.prepare_cached(
        "SELECT o.observation_id, o.title, o.type, o.source, o.event_time FROM observations o
          WHERE o.event_ts < ?1 ORDER BY o.event_ts DESC, o.rowid DESC LIMIT ?2",
    )?;
    let mut out: Vec<Summary> = stmt
        .query_map(params![anchor_ts, before], summary_row)?
        .collect::<rusqlite::Result<_>>()?;
    out.reverse();
    let mut stmt = conn.prepare_cached(
        "SELECT o.observation_id, o.title, o.type, o.source, o.event_time FROM observations o
          WHERE o.event_ts >= ?1 ORDER BY o.event_ts ASC, o.rowid ASC LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![anchor_ts, after + 1], summary_row)?;
    for row in rows {
        out.push(row?);
    }
    Ok(out)
}

/// The counts behind `GET /memory/stats` and the MCP stats tool.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counts {
    pub total: i64,
    pub by_type: BTreeMap<String, i64>,
    pub by_source: BTreeMap<String, i64>,
    pub min_ts: Option<i64>,
    pub max_ts: Option<i64>,
    /// Observations with a vector of the current model.
    pub with_vector: i64,
    /// Vectors of the current model.
    pub vectors: i64,
}

/// Counts (`model` `""` when no embedder is registered: then nothing has a vector).
pub fn counts(conn: &Connection, model: &str) -> Result<Counts> {
    let (total, min_ts, max_ts) = conn.query_row(
        "SELECT count(*), min(event_ts), max(event_ts) FROM observations",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    let group = |col: &str| -> Result<BTreeMap<String, i64>> {
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {col}, count(*) FROM observations GROUP BY {col}"
        ))?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    };
    let (with_vector, vectors) = if model.is_empty() {
        (0, 0)
    } else {
        conn.query_row(
            "SELECT (SELECT count(*) FROM observation_vectors v JOIN observations o
                       ON o.observation_id = v.observation_id WHERE v.model = ?1),
                    (SELECT count(*) FROM observation_vectors WHERE model = ?1)",
            params![model],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?
    };
    Ok(Counts {
        total,
        by_type: group("type")?,
        by_source: group("source")?,
        min_ts,
        max_ts,
        with_vector,
        vectors,
    })
}
