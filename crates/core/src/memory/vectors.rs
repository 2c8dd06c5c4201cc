//! The vectors of the current model in memory, for exact cosine search without reading every
//! blob from SQLite per query (100,000 × 384 floats are 150 MB of rows; in memory a query is
//! one pass of dot products over normalized rows).
//!
//! Loaded lazily by the first vector search, then kept in step by memory's own writes after
//! they commit: stored vectors are added, deleted or changed observations removed. A load
//! that raced with a write is discarded (the generation moved) and the query falls back to
//! SQLite; registering an embedder drops the copy.
//!
//! A one-byte-per-dimension copy of the rows ([`super::quantized`]) finds the rows worth an
//! exact score, four times fewer bytes read per query; the result is the exact scan's.

use std::collections::HashMap;

use rusqlite::{params, Connection};

use super::quantized::{Quantized, Query};
use super::store::Window;
use crate::error::Result;

/// Indexes of at least this many rows search through the quantized copy when the processor
/// can (below, the exact scan is as fast).
const QUANTIZED_ROWS: usize = 4_000;

/// One vector with the metadata search filters on.
#[derive(Debug, Clone)]
pub struct Entry {
    pub id: String,
    pub event_ts: i64,
    pub kind: String,
    pub source: String,
    pub vector: Vec<f32>,
}

/// The in-memory copy for one model.
#[derive(Debug, Default)]
pub struct VectorIndex {
    pub(crate) model: String,
    dim: usize,
    ids: Vec<String>,
    ts: Vec<i64>,
    kind: Vec<u32>,
    source: Vec<u32>,
    labels: HashMap<String, u32>,
    /// Normalized rows, `dim` floats each.
    data: Vec<f32>,
    live: Vec<bool>,
    pos: HashMap<String, usize>,
    /// The rows as bytes, to find the rows worth an exact score (see [`super::quantized`]).
    quant: Quantized,
}

fn normalize(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        for x in v.iter_mut() {
            *x /= n;
        }
    }
}

/// Dot product written for auto-vectorization (eight independent accumulators).
/// Indexes of at least this many rows are scanned by two threads.
const PARALLEL_ROWS: usize = 20_000;

fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

impl VectorIndex {
    fn new(model: &str, dim: usize) -> VectorIndex {
        VectorIndex {
            model: model.to_string(),
            dim,
            quant: Quantized::new(dim),
            ..Default::default()
        }
    }

    fn label(&mut self, text: &str) -> u32 {
        if let Some(&k) = self.labels.get(text) {
            return k;
        }
        let k = self.labels.len() as u32;
        self.labels.insert(text.to_string(), k);
        k
    }

    /// Adds or replaces a vector (ignored when its length is not the model's).
    pub fn put(&mut self, mut e: Entry) {
        if e.vector.len() != self.dim {
            return;
        }
        normalize(&mut e.vector);
        let (kind, source) = (self.label(&e.kind), self.label(&e.source));
        if let Some(&i) = self.pos.get(&e.id) {
            self.quant.set(i, &e.vector);
            self.data[i * self.dim..(i + 1) * self.dim].copy_from_slice(&e.vector);
            self.ts[i] = e.event_ts;
            self.kind[i] = kind;
            self.source[i] = source;
            self.live[i] = true;
            return;
        }
        self.quant.set(self.ids.len(), &e.vector);
        self.pos.insert(e.id.clone(), self.ids.len());
        self.ids.push(e.id);
        self.ts.push(e.event_ts);
        self.kind.push(kind);
        self.source.push(source);
        self.data.extend_from_slice(&e.vector);
        self.live.push(true);
    }

    /// Forgets an observation's vector.
    pub fn remove(&mut self, id: &str) {
        if let Some(&i) = self.pos.get(id) {
            self.live[i] = false;
        }
    }

    /// Loads every vector of `model` from SQLite.
    pub fn load(conn: &Connection, model: &str, dim: usize) -> Result<VectorIndex> {
        let mut index = VectorIndex::new(model, dim);
        let mut stmt = conn.prepare(
            "SELECT o.observation_id, o.event_ts, o.type, o.source, v.vector
               FROM observation_vectors v JOIN observations o ON o.observation_id = v.observation_id
              WHERE v.model = ?1 AND v.dim = ?2",
        )?;
        let mut rows = stmt.query(params![model, dim as i64])?;
        while let Some(r) = rows.next()? {
            let blob = r.get_ref(4)?.as_blob().map_err(rusqlite::Error::from)?;
            let Some(vector) = super::embed::decode(blob) else {
                continue;
            };
            index.put(Entry {
                id: r.get(0)?,
                event_ts: r.get(1)?,
                kind: r.get(2)?,
                source: r.get(3)?,
                vector,
            });
        }
        Ok(index)
    }

    /// The `limit` nearest observations of the window by cosine similarity, best first (ties
    /// in insertion order).
    pub fn search(&self, query: &[f32], w: &Window, limit: usize) -> Vec<(String, f64)> {
        if query.len() != self.dim || limit == 0 {
            return Vec::new();
        }
        let mut q = query.to_vec();
        normalize(&mut q);
        let kind = match &w.kind {
            Some(k) => match self.labels.get(k) {
                Some(&k) => Some(k),
                None => return Vec::new(),
            },
            None => None,
        };
        let source = match &w.source {
            Some(s) => match self.labels.get(s) {
                Some(&s) => Some(s),
                None => return Vec::new(),
            },
            None => None,
        };
        let order = |a: &(f32, u32), b: &(f32, u32)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
        let admit = |i: usize| {
            self.live[i]
                && self.ts[i] >= w.start
                && self.ts[i] <= w.end
                && kind.is_none_or(|k| self.kind[i] == k)
                && source.is_none_or(|s| self.source[i] == s)
        };
        let exact = |i: usize| dot(&self.data[i * self.dim..(i + 1) * self.dim], &q);
        // The best `limit` of rows `from..to`.
        let scan = |from: usize, to: usize| -> Vec<(f32, u32)> {
            let mut scored: Vec<(f32, u32)> = Vec::new();
            for i in from..to {
                if admit(i) {
                    scored.push((exact(i), i as u32));
                }
            }
            if scored.len() > limit {
                scored.select_nth_unstable_by(limit - 1, order);
                scored.truncate(limit);
            }
            scored
        };
        let n = self.live.len().min(self.data.len() / self.dim.max(1));
        let quantized = (n >= QUANTIZED_ROWS && Quantized::available())
            .then(|| Query::new(&q))
            .flatten();
        let mut scored = if let Some(query) = quantized {
            self.candidates(&query, n, &admit, &exact, limit)
        } else if n >= PARALLEL_ROWS {
            // The exact scan reads every vector (150 MB at 100k × 384): memory-bound, so a
            // large index is split over two threads. Same result (ties broken by position).
            let mid = n / 2;
            std::thread::scope(|s| {
                let other = s.spawn(|| scan(mid, n));
                let mut first = scan(0, mid);
                match other.join() {
                    Ok(second) => first.extend(second),
                    Err(_) => first.extend(scan(mid, n)),
                }
                first
            })
        } else {
            scan(0, n)
        };
        if scored.len() > limit {
            scored.select_nth_unstable_by(limit - 1, order);
            scored.truncate(limit);
        }
        scored.sort_by(order);
        scored
            .into_iter()
            .map(|(s, i)| (self.ids[i as usize].clone(), f64::from(s)))
            .collect()
    }

    /// The exactly scored rows that can be in the best `limit` (see [`super::quantized`]):
    /// the best rows by the quantized scores, scored exactly, set a threshold; every row whose
    /// approximation plus its error bound reaches it is scored exactly too.
    fn candidates(
        &self,
        query: &Query,
        n: usize,
        admit: &(dyn Fn(usize) -> bool + Sync),
        exact: &dyn Fn(usize) -> f32,
        limit: usize,
    ) -> Vec<(f32, u32)> {
        let mut approx = vec![0f32; n];
        if n >= PARALLEL_ROWS {
            let (head, tail) = approx.split_at_mut(n / 2);
            std::thread::scope(|s| {
                s.spawn(|| self.quant.approximate(query, n / 2, admit, tail));
                self.quant.approximate(query, 0, admit, head);
            });
        } else {
            self.quant.approximate(query, 0, admit, &mut approx);
        }
        // The best `limit` by approximation (ties by position).
        let order = |a: &(f32, u32), b: &(f32, u32)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
        let mut best: Vec<(f32, u32)> = approx
            .iter()
            .enumerate()
            .filter(|(_, a)| a.is_finite())
            .map(|(i, a)| (*a, i as u32))
            .collect();
        if best.len() > limit {
            best.select_nth_unstable_by(limit - 1, order);
            best.truncate(limit);
        }
        let mut scored: Vec<(f32, u32)> =
            best.iter().map(|(_, i)| (exact(*i as usize), *i)).collect();
        // Fewer admitted rows than `limit`: every one is scored already.
        if scored.len() < limit {
            return scored;
        }
        let threshold = scored.iter().map(|s| s.0).fold(f32::INFINITY, f32::min);
        for (_, i) in &best {
            approx[*i as usize] = f32::NEG_INFINITY;
        }
        for (i, a) in approx.iter().enumerate() {
            if a.is_finite() && a + self.quant.bound(i, query) >= threshold {
                scored.push((exact(i), i as u32));
            }
        }
        scored
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantized_search_equals_the_exact_scan() {
        let dim = 384;
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % 2001) as f32 / 1000.0 - 1.0
        };
        // Clustered vectors (many near-ties) plus exact duplicates.
        let centers: Vec<Vec<f32>> = (0..8).map(|_| (0..dim).map(|_| next()).collect()).collect();
        let n = PARALLEL_ROWS + 500;
        let mut ix = VectorIndex::new("m", dim);
        let mut rows = Vec::new();
        for i in 0..n {
            let c = &centers[i % centers.len()];
            // Tiny perturbations: their order is decided below the quantization's resolution.
            let spread = if i % 2 == 0 { 0.003 } else { 0.3 };
            let v: Vec<f32> = if i % 11 == 0 {
                c.clone()
            } else {
                c.iter().map(|x| x + spread * next()).collect()
            };
            rows.push(v.clone());
            ix.put(Entry {
                id: format!("o{i}"),
                event_ts: i as i64,
                kind: ["note", "task"][i % 2].into(),
                source: "manual".into(),
                vector: v,
            });
        }
        for (qi, limit, kind) in [(0usize, 10usize, None), (3, 40, Some("task")), (5, 1, None)] {
            let query: Vec<f32> = centers[qi].iter().map(|x| x + 0.01 * next()).collect();
            let w = Window {
                start: 0,
                end: i64::MAX,
                kind: kind.map(String::from),
                source: None,
            };
            let got = ix.search(&query, &w, limit);
            let mut q = query.clone();
            normalize(&mut q);
            let mut want: Vec<(f32, usize)> = rows
                .iter()
                .enumerate()
                .filter(|(i, _)| kind.is_none_or(|k| ["note", "task"][i % 2] == k))
                .map(|(i, v)| {
                    let mut v = v.clone();
                    normalize(&mut v);
                    (dot(&v, &q), i)
                })
                .collect();
            want.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            want.truncate(limit);
            let want: Vec<(String, f64)> = want
                .into_iter()
                .map(|(s, i)| (format!("o{i}"), f64::from(s)))
                .collect();
            assert_eq!(got, want);
        }
    }

    #[test]
    fn split_scan_equals_one_scan() {
        let mut ix = VectorIndex::new("m", 2);
        let n = PARALLEL_ROWS + 1001;
        for i in 0..n {
            // Three groups of equal vectors: ties must keep insertion order across the split.
            let v = match i % 3 {
                0 => [1.0, 0.0],
                1 => [0.6, 0.8],
                _ => [0.0, 1.0],
            };
            ix.put(Entry {
                id: format!("o{i}"),
                event_ts: i as i64,
                kind: "note".into(),
                source: "manual".into(),
                vector: v.to_vec(),
            });
        }
        let w = Window {
            start: 0,
            end: i64::MAX,
            kind: None,
            source: None,
        };
        let hits = ix.search(&[1.0, 0.0], &w, 5);
        let ids: Vec<&str> = hits.iter().map(|h| h.0.as_str()).collect();
        assert_eq!(ids, vec!["o0", "o3", "o6", "o9", "o12"]);
        // The tail (second half only): rows of the window's end, still in order.
        let late = Window {
            start: (n - 7) as i64,
            ..w.clone()
        };
        let tail: Vec<String> = ix
            .search(&[0.0, 1.0], &late, 10)
            .into_iter()
            .map(|h| h.0)
            .collect();
        let want: Vec<String> = (n - 7..n)
            .filter(|i| i % 3 == 2)
            .chain((n - 7..n).filter(|i| i % 3 == 1))
            .chain((n - 7..n).filter(|i| i % 3 == 0))
            .map(|i| format!("o{i}"))
            .collect();
        assert_eq!(tail, want);
    }

    #[test]
    fn finds_nearest_in_window_and_forgets_removed() {
        let mut ix = VectorIndex::new("m", 3);
        for (id, ts, v) in [
            ("a", 10, [1.0, 0.0, 0.0]),
            ("b", 20, [0.7, 0.7, 0.0]),
            ("c", 30, [0.0, 0.0, 2.0]),
        ] {
            ix.put(Entry {
                id: id.into(),
                event_ts: ts,
                kind: "note".into(),
                source: "manual".into(),
                vector: v.to_vec(),
            });
        }
        let w = Window {
            start: 0,
            end: 100,
            kind: None,
            source: None,
        };
        let hits = ix.search(&[1.0, 0.1, 0.0], &w, 2);
        assert_eq!(hits[0].0, "a");
        assert_eq!(hits[1].0, "b");
        assert_eq!(hits.len(), 2);
        ix.remove("a");
        assert_eq!(ix.search(&[1.0, 0.0, 0.0], &w, 1)[0].0, "b");
        let narrow = Window {
            start: 25,
            ..w.clone()
        };
        assert_eq!(ix.search(&[1.0, 0.0, 0.0], &narrow, 5).len(), 1);
        let other = Window {
            kind: Some("task".into()),
            ..w
        };
        assert!(ix.search(&[1.0, 0.0, 0.0], &other, 5).is_empty());
        assert!((dot(&[1.0; 19], &[2.0; 19]) - 38.0).abs() < 1e-6);
    }
}
