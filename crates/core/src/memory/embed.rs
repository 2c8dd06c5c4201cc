//! The host's embedder (CONTRACT.md §15.5) and the `memory.chroma_sync` job: observations that
//! lack a vector of the current model are embedded in batches; a batch's vectors are checked
//! (count, dimension, finite values) and stored in one transaction, or none of them is.

use std::sync::Arc;

use rusqlite::{params, Connection};
use serde_json::json;

use super::observation::{embedding_text, parse_list};
use super::vectors::Entry;
use super::MemoryState;
use crate::error::Result;
use crate::jobs::{BoxFuture, Failure, JobCtx, Outcome, Success};
use crate::time::now_iso;

/// An embedding model supplied by the host (a JS function through the binding, or a Rust
/// implementation in tests and benchmarks).
pub trait Embedder: Send + Sync {
    /// The model name stored with every vector.
    fn model(&self) -> &str;
    /// The length of every vector.
    fn dimensions(&self) -> usize;
    /// Texts per call.
    fn batch_size(&self) -> usize;
    /// Embeds `texts`: `texts.len() × dimensions` numbers, row after row; `Err` carries a
    /// message for the job's error.
    fn embed(&self, texts: Vec<String>) -> BoxFuture<std::result::Result<Vec<f32>, String>>;
}

/// A vector as stored: little-endian `f32`s.
pub fn encode(vector: &[f32]) -> Vec<u8> {
    vector.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// A stored vector (`None` when its length is not a whole number of `f32`s).
pub fn decode(blob: &[u8]) -> Option<Vec<f32>> {
    if !blob.len().is_multiple_of(4) {
        return None;
    }
    Some(
        blob.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    )
}

/// Checks an embedder's answer for `n` texts.
pub fn check_vectors(flat: &[f32], n: usize, dim: usize) -> std::result::Result<(), String> {
    if flat.len() != n * dim {
        return Err(format!(
            "the embedder returned {} numbers for {n} texts of dimension {dim} (expected {})",
            flat.len(),
            n * dim
        ));
    }
    if let Some(at) = flat.iter().position(|x| !x.is_finite()) {
        return Err(format!(
            "the embedder returned a non-finite number (vector {}, index {})",
            at / dim.max(1),
            at % dim.max(1)
        ));
    }
    Ok(())
}

/// One observation waiting for a vector: rowid, id, `updated_at`, text.
type Pending = (i64, String, String, String);

fn pending_batch(conn: &Connection, model: &str, after: i64, n: usize) -> Result<Vec<Pending>> {
    let mut stmt = conn.prepare_cached(
        "SELECT o.rowid, o.observation_id, o.updated_at, o.title, o.type, o.narrative, o.facts, o.concepts
           FROM observations o
          WHERE o.rowid > ?2 AND NOT EXISTS (SELECT 1 FROM observation_vectors v
                  WHERE v.observation_id = o.observation_id AND v.model = ?1)
          ORDER BY o.rowid LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![model, after, n as i64], |r| {
        let text = embedding_text(
            &r.get::<_, String>(3)?,
            &r.get::<_, String>(4)?,
            &r.get::<_, String>(5)?,
            &parse_list(r.get(6)?),
            &parse_list(r.get(7)?),
        );
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, text))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn count_pending(conn: &Connection, model: &str) -> Result<i64> {
    Ok(conn.query_row(
        "SELECT count(*) FROM observations o WHERE NOT EXISTS (SELECT 1 FROM observation_vectors v
           WHERE v.observation_id = o.observation_id AND v.model = ?1)",
        params![model],
        |r| r.get(0),
    )?)
}

/// Stores one batch's vectors in one transaction; an observation changed since it was read
/// (its `updated_at` moved) or deleted meanwhile gets none. Returns how many were stored.
fn store_batch(
    conn: &mut Connection,
    model: &str,
    dim: usize,
    batch: &[(String, String)],
    flat: &[f32],
) -> Result<Vec<Entry>> {
    let tx = conn.transaction()?;
    let now = now_iso();
    let mut stored = Vec::with_capacity(batch.len());
    {
        let mut insert = tx.prepare_cached(
            "INSERT OR REPLACE INTO observation_vectors (observation_id, model, dim, vector, created_at)
             SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS (SELECT 1 FROM observations
               WHERE observation_id = ?1 AND updated_at = ?6)",
        )?;
        let mut meta = tx.prepare_cached(
            "SELECT event_ts, type, source FROM observations WHERE observation_id = ?1",
        )?;
        for (i, (id, updated_at)) in batch.iter().enumerate() {
            let v = &flat[i * dim..(i + 1) * dim];
            let n = insert.execute(params![id, model, dim as i64, encode(v), now, updated_at])?;
            if n > 0 {
                let (event_ts, kind, source) =
                    meta.query_row(params![id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
                stored.push(Entry {
                    id: id.clone(),
                    event_ts,
                    kind,
                    source,
                    vector: v.to_vec(),
                });
            }
        }
    }
    tx.commit()?;
    Ok(stored)
}

/// The `memory.chroma_sync` handler.
pub fn chroma_sync(state: Arc<MemoryState>) -> crate::jobs::Handler {
    Arc::new(move |ctx: JobCtx| run(Arc::clone(&state), ctx))
}

fn fail(e: impl std::fmt::Display) -> Failure {
    Failure::new(e.to_string())
}

fn run(state: Arc<MemoryState>, ctx: JobCtx) -> BoxFuture<Outcome> {
    Box::pin(async move {
        ctx.set_running(0.1, None).await.map_err(fail)?;
        let Some(embedder) = state.embedder() else {
            return Ok(Success::with_result(Some(
                json!({ "synced": 0, "message": "no embedder registered" }),
            )));
        };
        let model = embedder.model().to_string();
        let dim = embedder.dimensions();
        let size = embedder.batch_size().max(1);
        let m = model.clone();
        let total = ctx
            .store()
            .read(move |c| count_pending(c, &m))
            .await
            .map_err(fail)?;
        let (mut done, mut after) = (0usize, 0i64);
        loop {
            let m = model.clone();
            let batch = ctx
                .store()
                .read(move |c| pending_batch(c, &m, after, size))
                .await
                .map_err(fail)?;
            let Some(last) = batch.last() else { break };
            after = last.0;
            let n = batch.len();
            let (keys, texts): (Vec<(String, String)>, Vec<String>) = batch
                .into_iter()
                .map(|(_, id, updated, text)| ((id, updated), text))
                .unzip();
            let flat = tokio::select! {
                out = embedder.embed(texts) => out,
                _ = ctx.abort().fired() => return Err(Failure::new("job was stopped")),
            };
            let flat = flat
                .and_then(|flat| check_vectors(&flat, n, dim).map(|()| flat))
                .map_err(|e| {
                    Failure::new(format!("embedding failed after {done} observations: {e}"))
                })?;
            let m = model.clone();
            let stored = ctx
                .store()
                .write(move |c| store_batch(c, &m, dim, &keys, &flat))
                .await
                .map_err(fail)?;
            done += stored.len();
            state.vectors_changed(|ix| {
                if ix.model == model {
                    stored.into_iter().for_each(|e| ix.put(e));
                }
            });
            let progress = if total > 0 {
                (0.1 + 0.9 * done as f64 / total as f64).min(0.99)
            } else {
                0.99
            };
            ctx.progress(
                (progress * 100.0).round() / 100.0,
                Some(format!("Embedded {done}/{total} observations")),
                true,
                Some("embedding"),
            )
            .await
            .map_err(fail)?;
        }
        let mut success = Success::with_result(Some(json!({ "synced": done })));
        success.message = Some(format!("Synced {done} observations"));
        Ok(success)
    })
}
