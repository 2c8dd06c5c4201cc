//! Search (CONTRACT.md §15.3): a syntax-safe keyword part over the trigram index, an exact
//! cosine vector part, and the original's reciprocal rank fusion.
//!
//! The query never reaches FTS5 as query syntax: it is split on whitespace into terms, each
//! term of 3 or more characters becomes one quoted FTS5 string (trigram: a substring match,
//! case-insensitive), and the terms are OR-ed. Shorter terms (`회의`, `PR`) cannot be looked
//! up by trigrams: any observation holding one matches.
//! Ranking is BM25 (best first); observations that only match short terms follow, newest
//! first.
//!
//! Searches are normally answered by the in-memory copy ([`super::word_index`]), the same
//! list; this module answers while that copy loads (after open, after a large sync) and past
//! its size bound. Its short terms are then found by reading the rows newest first until
//! enough match (an index of 1–2-character terms was kept at first: it cost more than every
//! other part of a capture together, for searches the copy answers anyway).

use std::collections::HashSet;

use rusqlite::{params_from_iter, types::Value as SqlValue, Connection, OptionalExtension};

use super::store::Window;
use crate::error::{Error, Result};

/// RRF's `k` (the original's).
const RRF_K: f64 = 60.0;

/// The distinct terms of a query, lower-cased, split into trigram-able and short ones.
pub fn terms(query: &str) -> (Vec<String>, Vec<String>) {
    let mut seen = HashSet::new();
    let (mut long, mut short) = (Vec::new(), Vec::new());
    for term in query.split_whitespace() {
        let term = term.to_lowercase();
        if !seen.insert(term.clone()) {
            continue;
        }
        if term.chars().count() >= 3 {
            long.push(term);
        } else {
            short.push(term);
        }
    }
    (long, short)
}

/// `"a" OR "b""c"`: each term one FTS5 string, double quotes doubled.
fn match_expression(terms: &[String]) -> String {
    terms
        .iter()
        .map(|t| format!("\"{}\"", t.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(" OR ")
}

/// Keyword matches in the window, best first, at most `limit`: `(id, score)` with score =
/// −BM25 (higher is better) for index matches and 0 for short-term-only matches.
pub fn keyword(
    conn: &Connection,
    query: &str,
    w: &Window,
    limit: i64,
) -> Result<Vec<(String, f64)>> {
    let (long, short) = terms(query);
    let mut out: Vec<(String, f64)> = Vec::new();
    if !long.is_empty() {
        // Terms in more than half of the rows weigh nothing in BM25 (their IDF is clamped to
        // 1e-6), yet they make every row a match to score. Rank by the informative terms
        // first; only when those find too few rows is the whole query ranked.
        let informative = informative_terms(conn, &long)?;
        if !informative.is_empty() && informative.len() < long.len() {
            out = ranked(conn, &match_expression(&informative), w, limit)?;
        }
        if (out.len() as i64) < limit {
            out = ranked(conn, &match_expression(&long), w, limit)?;
        }
    }
    if !short.is_empty() && (out.len() as i64) < limit {
        let have: HashSet<String> = out.iter().map(|(id, _)| id.clone()).collect();
        let want = (limit as usize).saturating_sub(out.len());
        for id in newest_with_short(conn, &short, w, &have, want)? {
            out.push((id, 0.0));
        }
    }
    Ok(out)
}

/// The short `terms` of a query (folded as the word index folds), to test columns against.
///
/// A prompt may hold thousands of short terms: one substring search per term and column took
/// 21 s for a 10,000-character prompt of rare 2-character words, so past a few terms one
/// Aho-Corasick automaton tests all of them in one pass. For a few terms the plain substring
/// searches are faster than the automaton's per-call setup.
enum ShortMatcher {
    Few(Vec<memchr::memmem::Finder<'static>>),
    Many(aho_corasick::AhoCorasick),
}

/// Up to this many short terms are searched one by one.
const FEW_SHORT_TERMS: usize = 8;

impl ShortMatcher {
    fn new(terms: &[String]) -> Result<ShortMatcher> {
        let folded: Vec<String> = terms
            .iter()
            .map(|t| {
                let mut f = String::new();
                super::word_index::fold_into(t, &mut f);
                f
            })
            .collect();
        if folded.len() <= FEW_SHORT_TERMS {
            return Ok(ShortMatcher::Few(
                folded
                    .iter()
                    .map(|t| memchr::memmem::Finder::new(t.as_bytes()).into_owned())
                    .collect(),
            ));
        }
        aho_corasick::AhoCorasick::new(&folded)
            .map(ShortMatcher::Many)
            .map_err(|e| Error::BadRequest(format!("query has too many short terms: {e}")))
    }

    /// Whether `hay` (folded) holds one of the terms.
    fn is_match(&self, hay: &str) -> bool {
        match self {
            ShortMatcher::Few(finders) => finders.iter().any(|f| f.find(hay.as_bytes()).is_some()),
            ShortMatcher::Many(automaton) => automaton.is_match(hay.as_bytes()),
        }
    }
}

/// Observations of the window (not in `have`) holding any of the short `terms` (folded as
/// the word index folds), newest first, at most `limit`: the rows are read newest first and
/// stop as soon as enough match.
fn newest_with_short(
    conn: &Connection,
    terms: &[String],
    w: &Window,
    have: &HashSet<String>,
    limit: usize,
) -> Result<Vec<String>> {
    let matcher = ShortMatcher::new(terms)?;
    let mut args = Vec::new();
    let filter = w.sql(&mut args);
    let sql = format!(
        "SELECT o.observation_id, o.title, o.narrative, o.facts, o.concepts FROM observations o
          WHERE 1 = 1{filter} ORDER BY o.event_ts DESC, o.rowid DESC"
    );
    let mut stmt = conn.prepare(&sql)?;
    let mut rows = stmt.query(params_from_iter(args))?;
    let (mut out, mut column) = (Vec::new(), String::new());
    while out.len() < limit {
        let Some(row) = rows.next()? else { break };
        let id: String = row.get(0)?;
        if have.contains(&id) {
            continue;
        }
        let mut hit = false;
        for i in 1..=4 {
            let rusqlite::types::ValueRef::Text(text) = row.get_ref(i)? else {
                continue;
            };
            super::word_index::fold_into(&String::from_utf8_lossy(text), &mut column);
            if matcher.is_match(&column) {
                hit = true;
                break;
            }
        }
        if hit {
            out.push(id);
        }
    }
    Ok(out)
}

/// The FTS index's own statistics record (`observations_fts_data` id 1: the row count, then
/// each column's token total). It changes with every write of searchable text.
fn averages(conn: &Connection) -> Result<Option<Vec<u8>>> {
    Ok(conn
        .prepare_cached("SELECT block FROM observations_fts_data WHERE id = 1")?
        .query_row([], |r| r.get::<_, Vec<u8>>(0))
        .optional()?)
}

/// The first SQLite varint of `b` (the row count of the averages record).
fn varint(b: &[u8]) -> Option<i64> {
    let mut v: u64 = 0;
    for (i, byte) in b.iter().enumerate().take(9) {
        if i == 8 {
            return Some(((v << 8) | u64::from(*byte)) as i64);
        }
        v = (v << 7) | u64::from(byte & 0x7f);
        if byte & 0x80 == 0 {
            return Some(v as i64);
        }
    }
    None
}

/// Document counts of trigrams, per database file, valid while its averages record is
/// unchanged (`observations_fts_vocab` counts a trigram by reading its whole posting list:
/// milliseconds for a common one).
type DocCounts =
    std::collections::HashMap<String, (Vec<u8>, std::collections::HashMap<String, i64>)>;
static DOC_COUNTS: std::sync::Mutex<Option<DocCounts>> = std::sync::Mutex::new(None);
/// Trigram counts kept per database before its cache starts afresh.
const MAX_CACHED: usize = 200_000;

/// The number of observations holding `trigram` (cached; see [`DOC_COUNTS`]).
fn trigram_docs(conn: &Connection, key: Option<(&str, &[u8])>, trigram: &str) -> Result<i64> {
    if let Some((path, avg)) = key {
        if let Ok(guard) = DOC_COUNTS.lock() {
            if let Some((a, m)) = guard.as_ref().and_then(|c| c.get(path)) {
                if a.as_slice() == avg {
                    if let Some(n) = m.get(trigram) {
                        return Ok(*n);
                    }
                }
            }
        }
    }
    let n: i64 = conn
        .prepare_cached("SELECT doc FROM observations_fts_vocab WHERE term = ?1")?
        .query_row(rusqlite::params![trigram], |r| r.get(0))
        .optional()?
        .unwrap_or(0);
    if let Some((path, avg)) = key {
        if let Ok(mut guard) = DOC_COUNTS.lock() {
            let cache = guard.get_or_insert_with(Default::default);
            let entry = cache
                .entry(path.to_string())
                .or_insert_with(|| (avg.to_vec(), Default::default()));
            if entry.0.as_slice() != avg || entry.1.len() >= MAX_CACHED {
                *entry = (avg.to_vec(), Default::default());
            }
            entry.1.insert(trigram.to_string(), n);
        }
    }
    Ok(n)
}

/// The terms found in at most half of the observations. A term's trigrams' document counts
/// (from `observations_fts_vocab`) bound its own from above; a term of one trigram is exact;
/// a longer term whose bound is over half is counted exactly.
fn informative_terms(conn: &Connection, terms: &[String]) -> Result<Vec<String>> {
    let avg = averages(conn)?;
    let total = match avg.as_deref().and_then(varint) {
        Some(n) => n,
        None => conn
            .prepare_cached("SELECT count(*) FROM observations")?
            .query_row([], |r| r.get(0))?,
    };
    let half = total / 2;
    // Only a file database is cached (two in-memory ones could share an averages record).
    let key = match (conn.path(), avg.as_deref()) {
        (Some(p), Some(a)) if !p.is_empty() => Some((p, a)),
        _ => None,
    };
    let mut out = Vec::new();
    for term in terms {
        let chars: Vec<char> = term.chars().collect();
        let mut bound = i64::MAX;
        for w in chars.windows(3) {
            let tri: String = w.iter().collect();
            bound = bound.min(trigram_docs(conn, key, &tri)?);
            if bound <= half {
                break;
            }
        }
        let common = if bound <= half {
            false
        } else if chars.len() == 3 {
            true
        } else {
            let n: i64 = conn
                .prepare_cached(
                    "SELECT count(*) FROM observations_fts WHERE observations_fts MATCH ?1",
                )?
                .query_row(
                    rusqlite::params![match_expression(std::slice::from_ref(term))],
                    |r| r.get(0),
                )?;
            n > half
        };
        if !common {
            out.push(term.clone());
        }
    }
    Ok(out)
}

/// How many more index matches than needed the first pass takes before it applies the filters.
const OVERFETCH: i64 = 4;

/// The BM25-ranked matches of `expr` in the window, best first, at most `limit`.
///
/// First pass: the best `OVERFETCH × limit` matches from the index alone (BM25 needs no row of
/// `observations`), then the filters on just those rows. Only when that leaves too few, and
/// the index had more matches, does the second pass rank with the filters joined to every
/// match (a lookup per matching row: the dominant cost for common words).
fn ranked(conn: &Connection, expr: &str, w: &Window, limit: i64) -> Result<Vec<(String, f64)>> {
    let take = limit.saturating_mul(OVERFETCH);
    let mut stmt = conn.prepare_cached(
        "SELECT rowid, bm25(observations_fts) AS score FROM observations_fts
          WHERE observations_fts MATCH ?1 ORDER BY score LIMIT ?2",
    )?;
    let hits: Vec<(i64, f64)> = stmt
        .query_map(rusqlite::params![expr, take], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let exhausted = (hits.len() as i64) < take;
    let mut args: Vec<SqlValue> = Vec::new();
    let filter = w.sql(&mut args);
    let sql = format!(
        "SELECT o.observation_id FROM observations o WHERE o.rowid = ?{}{filter}",
        args.len() + 1
    );
    let mut one = conn.prepare_cached(&sql)?;
    let mut out = Vec::new();
    for (rowid, score) in &hits {
        let mut a = args.clone();
        a.push(SqlValue::Integer(*rowid));
        let mut rows = one.query(params_from_iter(a))?;
        if let Some(r) = rows.next()? {
            out.push((r.get::<_, String>(0)?, -score));
            if out.len() as i64 >= limit {
                return Ok(out);
            }
        }
    }
    if exhausted {
        return Ok(out);
    }
    let mut args = vec![SqlValue::Text(expr.to_string())];
    let filter = w.sql(&mut args);
    args.push(SqlValue::Integer(limit));
    let sql = format!(
        "SELECT o.observation_id, bm25(observations_fts) AS score
           FROM observations_fts JOIN observations o ON o.rowid = observations_fts.rowid
          WHERE observations_fts MATCH ?1{filter}
          ORDER BY score LIMIT ?{}",
        args.len()
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(params_from_iter(args), |r| {
        Ok((r.get::<_, String>(0)?, -r.get::<_, f64>(1)?))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The original's reciprocal rank fusion: `1/(60 + rank)` per list (rank from 1), summed;
/// ties keep first-seen order (keyword ids first, then vector-only ids).
pub fn rrf(
    keyword: &[(String, f64)],
    vector: &[(String, f64)],
    limit: usize,
) -> Vec<(String, f64)> {
    let mut order: Vec<String> = Vec::new();
    let mut scores: std::collections::HashMap<String, f64> = std::collections::HashMap::new();
    for list in [keyword, vector] {
        for (rank, (id, _)) in list.iter().enumerate() {
            let s = scores.entry(id.clone()).or_insert_with(|| {
                order.push(id.clone());
                0.0
            });
            *s += 1.0 / (RRF_K + rank as f64 + 1.0);
        }
    }
    let mut merged: Vec<(String, f64)> = order
        .into_iter()
        .map(|id| {
            let s = scores.get(&id).copied().unwrap_or(0.0);
            (id, s)
        })
        .collect();
    // Stable: equal scores keep insertion order.
    merged.sort_by(|a, b| b.1.total_cmp(&a.1));
    merged.truncate(limit);
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_split_and_dedupe() {
        let (long, short) = terms("회의 회의록을 AND \"quote\" ? 🎉 회의");
        assert_eq!(long, vec!["회의록을", "and", "\"quote\""]);
        assert_eq!(short, vec!["회의", "?", "🎉"]);
        assert_eq!(
            match_expression(&long),
            "\"회의록을\" OR \"and\" OR \"\"\"quote\"\"\""
        );
    }

    #[test]
    fn varints_decode() {
        assert_eq!(varint(&[0x86, 0x8d, 0x20, 0x00]), Some(100_000));
        assert_eq!(varint(&[0x05]), Some(5));
        assert_eq!(varint(&[0x81]), None);
        assert_eq!(varint(&[]), None);
    }

    #[test]
    fn rrf_matches_the_original() {
        let k = vec![("a".to_string(), 1.0), ("b".to_string(), 0.5)];
        let v = vec![("c".to_string(), 0.9), ("a".to_string(), 0.8)];
        let m = rrf(&k, &v, 10);
        assert_eq!(m[0].0, "a");
        assert!((m[0].1 - (1.0 / 61.0 + 1.0 / 62.0)).abs() < 1e-12);
        // c (vector rank 1) beats b (keyword rank 2).
        assert_eq!(m[1].0, "c");
        assert_eq!(m[2].0, "b");
        // Ties keep keyword order first.
        let tie = rrf(&[("k".to_string(), 0.0)], &[("v".to_string(), 0.0)], 10);
        assert_eq!(tie[0].0, "k");
        assert_eq!(tie[1].0, "v");
        assert_eq!(rrf(&k, &[], 1), vec![("a".to_string(), 1.0 / 61.0)]);
    }
}
