//! The keyword part of memory search answered from memory (CONTRACT.md §15.3), with FTS5's
//! own BM25.
//!
//! Why: ranking a common term through FTS5 means scoring every row that holds it (`bm25()` over
//! each match, and a full pass per phrase to count its rows): 20–100 ms at 100,000
//! observations, while the app searches memory on every prompt. This index answers the same
//! list in about a millisecond.
//!
//! How: a query term never holds whitespace (terms are split on it), so each of its
//! occurrences in a column lies inside one whitespace-separated word of that column. The index
//! keeps the distinct case-folded words of all observations (each with the observations that
//! hold it and how often), plus, per trigram, the words that contain it. A term's matches are
//! the words found through its rarest trigram that contain it, counted with overlaps (as
//! FTS5's phrase matching over trigram tokens counts them); summing those counts over an
//! observation's words gives the term's frequency there. Document lengths are the trigram
//! tokenizer's (characters − 2 per non-empty column), so the score is FTS5's `bm25()` with
//! its default weights, exactly (checked against FTS5 in the tests below).
//!
//! Terms of 1–2 characters (which trigrams cannot find) match any word that contains them and
//! rank after the BM25 matches, newest first; per character pair and per character the index
//! keeps the words containing it, so such a term finds its words by one look-up (a pass over
//! every distinct word took 10–35 ms at 100,000 observations, on most Korean prompts).
//!
//! The copy stays current through the store's row-keeping watch of `observations`
//! ([`crate::store::Store::watch_rows`]): a search first re-reads the rows committed writes
//! changed (a deleted row leaves, a changed one is replaced); after more than
//! [`crate::store::MAX_KEPT_ROWS`] changes it is loaded afresh in the background, and
//! searches use the FTS5 path meanwhile ([`super::search::keyword`]), as they do before the
//! first load. Past [`MAX_INDEXED_ROWS`] observations no copy is kept.

use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use rusqlite::{params, Connection, OptionalExtension};
use rustc_hash::{FxHashMap, FxHasher};
use tokio_util::sync::CancellationToken;

use super::store::Window;
use crate::error::{Error, Result};
use crate::store::{ChangedRows, Store, TableWatch};

/// Observations above which searches stay on the FTS5 path. The copy takes ≈ 1.7 KB per
/// observation (measured: 180 MB of RSS for 110,000 observations holding 224,000 distinct
/// words, most of it postings and the trigram, pair and character lists), so the bound keeps
/// it near 500 MB at most in an app's main process; past it searches are slower (≈ 20–60 ms),
/// not different.
///
/// Measured and not kept: the word texts once instead of twice (ids by hash) and no
/// per-character lists saved 28 MB at 110k observations but made the keyword search's p50
/// 0.5–1 ms slower in alternating runs (allocation layout, not more work).
pub const MAX_INDEXED_ROWS: i64 = 300_000;

/// FTS5's `bm25()` constants.
const K1: f64 = 1.2;
const B: f64 = 0.75;

/// The columns an observation is searched by, in the FTS table's order.
const TEXT_COLUMNS: &str = "title, narrative, facts, concepts";

/// A character folded as the trigram tokenizer folds it (lower case, one character for one).
fn fold_char(c: char) -> char {
    let mut lower = c.to_lowercase();
    match (lower.next(), lower.next()) {
        (Some(l), None) => l,
        _ => c,
    }
}

/// `word` folded into `out` (cleared first).
pub(crate) fn fold_into(word: &str, out: &mut String) {
    out.clear();
    out.extend(word.chars().map(fold_char));
}

/// A trigram as one number (three 21-bit code points).
fn trigram_key(c: &[char]) -> u64 {
    (u64::from(c[0]) << 42) | (u64::from(c[1]) << 21) | u64::from(c[2])
}

/// A 1- or 2-character string as one number, apart from every [`trigram_key`] (bit 63 set;
/// bit 62 for a single character).
fn short_key(c: &[char]) -> u64 {
    match c {
        [a] => (3 << 62) | u64::from(*a),
        [a, b, ..] => (1 << 63) | (u64::from(*a) << 21) | u64::from(*b),
        [] => 1 << 63,
    }
}

/// How often `needle` occurs in `hay`, overlaps included (`aa` is twice in `aaa`).
fn occurrences(hay: &str, needle: &str) -> u32 {
    let step = needle.chars().next().map_or(1, char::len_utf8);
    let finder = memchr::memmem::Finder::new(needle.as_bytes());
    let (mut n, mut at) = (0, 0);
    let bytes = hay.as_bytes();
    while let Some(p) = finder.find(&bytes[at..]) {
        n += 1;
        at += p + step;
        if at > bytes.len() {
            break;
        }
    }
    n
}

/// One observation of the copy.
struct Doc {
    rowid: i64,
    id: Box<str>,
    event_ts: i64,
    kind: u32,
    source: u32,
    /// Trigram tokens of all columns (FTS5's document length).
    len: u32,
    /// The indexed content, to skip rewrites that changed no searchable field.
    hash: u64,
    alive: bool,
}

/// A row as read from `observations`.
struct Row {
    rowid: i64,
    id: String,
    columns: [Option<String>; 4],
    kind: String,
    source: String,
    event_ts: i64,
}

impl Row {
    fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
        Ok(Row {
            rowid: r.get(0)?,
            id: r.get(1)?,
            columns: [r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?],
            kind: r.get(6)?,
            source: r.get(7)?,
            event_ts: r.get(8)?,
        })
    }

    fn hash(&self) -> u64 {
        let mut h = FxHasher::default();
        (
            &self.id,
            &self.columns,
            &self.kind,
            &self.source,
            self.event_ts,
        )
            .hash(&mut h);
        h.finish()
    }
}

fn select(filter: &str) -> String {
    format!(
        "SELECT rowid, observation_id, {TEXT_COLUMNS}, type, source, event_ts
           FROM observations {filter}"
    )
}

/// The in-memory word index of one database (see the module documentation).
#[derive(Default)]
pub struct WordIndex {
    /// The store's version of `observations` this copy reflects.
    version: u64,
    docs: Vec<Doc>,
    slot_of: FxHashMap<i64, u32>,
    live: u32,
    /// Trigram tokens of the live documents.
    total_len: u64,
    /// Slots whose postings are dead (compacted away past a bound).
    dead: usize,
    word_ids: FxHashMap<Box<str>, u32>,
    words: Vec<Box<str>>,
    /// Per word: `(slot, count)` of the documents holding it.
    postings: Vec<Vec<(u32, u32)>>,
    /// Per trigram: the words containing it.
    trigrams: FxHashMap<u64, Vec<u32>>,
    /// Per character pair and per character ([`short_key`]): the words containing it, so
    /// that a 1–2-character term finds its words without a pass over every word.
    short: FxHashMap<u64, Vec<u32>>,
    labels: FxHashMap<Box<str>, u32>,
}

impl WordIndex {
    /// Loads every observation (inside the caller's read transaction); stops with `E_CLOSED`
    /// when `stop` is cancelled.
    pub fn load(conn: &Connection, version: u64, stop: &CancellationToken) -> Result<WordIndex> {
        let mut ix = WordIndex {
            version,
            ..WordIndex::default()
        };
        let mut stmt = conn.prepare(&select(""))?;
        let mut rows = stmt.query([])?;
        let mut scratch = Scratch::default();
        let mut n = 0u32;
        while let Some(r) = rows.next()? {
            ix.add(Row::read(r)?, &mut scratch);
            n = n.wrapping_add(1);
            if n.is_multiple_of(1024) && stop.is_cancelled() {
                return Err(Error::Closed);
            }
        }
        Ok(ix)
    }

    fn label(&mut self, text: &str) -> u32 {
        if let Some(id) = self.labels.get(text) {
            return *id;
        }
        let id = self.labels.len() as u32;
        self.labels.insert(text.into(), id);
        id
    }

    fn word_id(&mut self, word: &str) -> u32 {
        if let Some(id) = self.word_ids.get(word) {
            return *id;
        }
        let id = self.words.len() as u32;
        let chars: Vec<char> = word.chars().collect();
        for w in chars.windows(3) {
            let list = self.trigrams.entry(trigram_key(w)).or_default();
            if list.last() != Some(&id) {
                list.push(id);
            }
        }
        // A list only ever receives this word's id last, so `last()` is enough to dedupe.
        let pairs = chars.windows(2).map(short_key);
        let singles = chars.chunks(1).map(short_key);
        for key in pairs.chain(singles) {
            let list = self.short.entry(key).or_default();
            if list.last() != Some(&id) {
                list.push(id);
            }
        }
        self.word_ids.insert(word.into(), id);
        self.words.push(word.into());
        self.postings.push(Vec::new());
        id
    }

    /// Adds a row as a new document (its earlier version, if any, removed).
    fn add(&mut self, row: Row, scratch: &mut Scratch) {
        let hash = row.hash();
        if let Some(slot) = self.slot_of.get(&row.rowid) {
            if self.docs[*slot as usize].hash == hash {
                return;
            }
            self.remove(row.rowid);
        }
        let slot = self.docs.len() as u32;
        let mut len = 0u32;
        scratch.ids.clear();
        for text in row.columns.iter().flatten() {
            let chars = text.chars().count() as u32;
            len += chars.saturating_sub(2);
            for word in text.split_whitespace() {
                fold_into(word, &mut scratch.word);
                let id = self.word_id(&scratch.word);
                scratch.ids.push(id);
            }
        }
        scratch.ids.sort_unstable();
        let mut i = 0;
        while i < scratch.ids.len() {
            let id = scratch.ids[i];
            let run = scratch.ids[i..].iter().take_while(|x| **x == id).count();
            self.postings[id as usize].push((slot, run as u32));
            i += run;
        }
        let (kind, source) = (self.label(&row.kind), self.label(&row.source));
        self.docs.push(Doc {
            rowid: row.rowid,
            id: row.id.into(),
            event_ts: row.event_ts,
            kind,
            source,
            len,
            hash,
            alive: true,
        });
        self.slot_of.insert(row.rowid, slot);
        self.live += 1;
        self.total_len += u64::from(len);
    }

    /// Removes the document of `rowid`, if any.
    fn remove(&mut self, rowid: i64) {
        let Some(slot) = self.slot_of.remove(&rowid) else {
            return;
        };
        let doc = &mut self.docs[slot as usize];
        doc.alive = false;
        doc.id = "".into();
        self.live -= 1;
        self.total_len -= u64::from(doc.len);
        self.dead += 1;
    }

    /// Re-reads `rowids` (changed since the copy's version) and moves the copy to `version`.
    fn apply(&mut self, conn: &Connection, rowids: &[i64], version: u64) -> Result<()> {
        let mut stmt = conn.prepare_cached(&select("WHERE rowid = ?1"))?;
        let mut scratch = Scratch::default();
        let mut seen = rustc_hash::FxHashSet::default();
        for rowid in rowids {
            if !seen.insert(*rowid) {
                continue;
            }
            match stmt.query_row(params![rowid], Row::read).optional()? {
                Some(row) => self.add(row, &mut scratch),
                None => self.remove(*rowid),
            }
        }
        self.version = version;
        if self.dead > 10_000 && self.dead > self.live as usize {
            self.compact();
        }
        Ok(())
    }

    /// Drops dead documents from the postings (slots are kept: they are never reused).
    fn compact(&mut self) {
        let docs = &self.docs;
        for list in &mut self.postings {
            list.retain(|(slot, _)| docs[*slot as usize].alive);
        }
        self.dead = 0;
    }

    /// The words holding `term` (folded, 3+ characters) and how often each holds it.
    fn matching_words(&self, term: &str) -> Vec<(u32, u32)> {
        let chars: Vec<char> = term.chars().collect();
        let mut rarest: Option<&Vec<u32>> = None;
        for w in chars.windows(3) {
            match self.trigrams.get(&trigram_key(w)) {
                None => return Vec::new(),
                Some(list) if rarest.is_none_or(|r| list.len() < r.len()) => rarest = Some(list),
                Some(_) => {}
            }
        }
        let Some(candidates) = rarest else {
            return Vec::new();
        };
        candidates
            .iter()
            .filter_map(|w| {
                let n = occurrences(&self.words[*w as usize], term);
                (n > 0).then_some((*w, n))
            })
            .collect()
    }

    /// Whether document `slot` is live and inside the window.
    fn admits(&self, slot: u32, f: &Filter) -> bool {
        let d = &self.docs[slot as usize];
        d.alive
            && d.event_ts >= f.start
            && d.event_ts <= f.end
            && f.kind.is_none_or(|k| d.kind == k)
            && f.source.is_none_or(|s| d.source == s)
    }

    /// The keyword matches of `long` (BM25, best first) then of `short` (newest first) in the
    /// window, at most `limit`: `(id, −bm25)`, 0 for short-term-only matches.
    pub fn search(
        &self,
        long: &[String],
        short: &[String],
        w: &Window,
        limit: usize,
    ) -> Result<Vec<(String, f64)>> {
        let Some(filter) = self.filter(w) else {
            return Ok(Vec::new());
        };
        let mut out = self.ranked(long, &filter, limit);
        if !short.is_empty() && out.len() < limit {
            let have: rustc_hash::FxHashSet<u32> = out.iter().map(|(s, _)| *s).collect();
            let rest = self.newest_with(short, &filter, &have, limit - out.len());
            out.extend(rest.into_iter().map(|s| (s, 0.0)));
        }
        Ok(out
            .into_iter()
            .map(|(slot, score)| (self.docs[slot as usize].id.to_string(), score))
            .collect())
    }

    /// The window's filter in label ids; `None` when a label matches no document.
    fn filter(&self, w: &Window) -> Option<Filter> {
        let label = |l: &Option<String>| match l {
            None => Some(None),
            Some(text) => self.labels.get(text.as_str()).map(|id| Some(*id)),
        };
        Some(Filter {
            start: w.start,
            end: w.end,
            kind: label(&w.kind)?,
            source: label(&w.source)?,
        })
    }

    /// BM25 over every document holding a term, best `limit` in the window.
    fn ranked(&self, terms: &[String], filter: &Filter, limit: usize) -> Vec<(u32, f64)> {
        if terms.is_empty() || self.live == 0 || limit == 0 {
            return Vec::new();
        }
        let n_rows = f64::from(self.live);
        let avgdl = self.total_len as f64 / n_rows;
        let mut tf = vec![0u32; self.docs.len()];
        let mut score = vec![0f64; self.docs.len()];
        let mut touched: Vec<u32> = Vec::new();
        let mut scored: Vec<u32> = Vec::new();
        let mut word = String::new();
        for term in terms {
            fold_into(term, &mut word);
            touched.clear();
            for (w, occ) in self.matching_words(&word) {
                for (slot, count) in &self.postings[w as usize] {
                    if !self.docs[*slot as usize].alive {
                        continue;
                    }
                    let t = &mut tf[*slot as usize];
                    if *t == 0 {
                        touched.push(*slot);
                    }
                    *t += count * occ;
                }
            }
            // FTS5: IDF from the rows holding the phrase, clamped to 1e-6 when not positive.
            let hits = touched.len() as f64;
            let mut idf = ((n_rows - hits + 0.5) / (hits + 0.5)).ln();
            if idf <= 0.0 {
                idf = 1e-6;
            }
            for slot in &touched {
                let s = *slot as usize;
                let f = f64::from(tf[s]);
                let d = f64::from(self.docs[s].len);
                if score[s] == 0.0 {
                    scored.push(*slot);
                }
                score[s] += idf * (f * (K1 + 1.0)) / (f + K1 * (1.0 - B + B * d / avgdl));
                tf[s] = 0;
            }
        }
        let mut hits: Vec<(u32, f64)> = scored
            .into_iter()
            .filter(|s| self.admits(*s, filter))
            .map(|s| (s, score[s as usize]))
            .collect();
        let order = |a: &(u32, f64), b: &(u32, f64)| {
            b.1.total_cmp(&a.1).then_with(|| {
                self.docs[a.0 as usize]
                    .rowid
                    .cmp(&self.docs[b.0 as usize].rowid)
            })
        };
        if hits.len() > limit {
            hits.select_nth_unstable_by(limit - 1, order);
            hits.truncate(limit);
        }
        hits.sort_unstable_by(order);
        hits
    }

    /// Documents of the window holding any short term (folded, 1–2 characters), not in
    /// `have`, newest first.
    fn newest_with(
        &self,
        terms: &[String],
        filter: &Filter,
        have: &rustc_hash::FxHashSet<u32>,
        limit: usize,
    ) -> Vec<u32> {
        let mut mark = vec![false; self.docs.len()];
        let mut found: Vec<u32> = Vec::new();
        let mut folded = String::new();
        let words = terms.iter().flat_map(|t| {
            fold_into(t, &mut folded);
            let chars: Vec<char> = folded.chars().collect();
            self.short.get(&short_key(&chars)).into_iter().flatten()
        });
        for w in words {
            let w = *w as usize;
            for (slot, _) in &self.postings[w] {
                let s = *slot as usize;
                if !mark[s] && !have.contains(slot) && self.admits(*slot, filter) {
                    mark[s] = true;
                    found.push(*slot);
                }
            }
        }
        let key = |s: &u32| {
            let d = &self.docs[*s as usize];
            std::cmp::Reverse((d.event_ts, d.rowid))
        };
        if found.len() > limit && limit > 0 {
            found.select_nth_unstable_by_key(limit - 1, key);
            found.truncate(limit);
        }
        found.sort_unstable_by_key(key);
        found.truncate(limit);
        found
    }

    /// Observations in the copy.
    pub fn len(&self) -> usize {
        self.live as usize
    }

    /// Whether the copy holds no observation.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }
}

/// The window with labels as ids.
struct Filter {
    start: i64,
    end: i64,
    kind: Option<u32>,
    source: Option<u32>,
}

/// Buffers reused across documents of one load.
#[derive(Default)]
struct Scratch {
    word: String,
    ids: Vec<u32>,
}

/// The word index of one backend, current with its store (see the module documentation).
pub struct WordCache {
    watch: Arc<TableWatch>,
    slot: RwLock<Option<WordIndex>>,
    loading: AtomicBool,
    /// Row count above which no copy is kept ([`MAX_INDEXED_ROWS`], lower in tests).
    max_rows: i64,
}

impl WordCache {
    /// The cache of `store`'s observations (installs the row-keeping watch).
    pub fn new(store: &Store) -> Result<Arc<WordCache>> {
        Ok(Arc::new(WordCache {
            watch: store.watch_rows("observations")?,
            slot: RwLock::new(None),
            loading: AtomicBool::new(false),
            max_rows: MAX_INDEXED_ROWS,
        }))
    }

    /// Searches the copy, first bringing it up to date with `conn` (a reader connection, no
    /// transaction open); `None` when there is no usable copy (the caller searches FTS5 and
    /// calls [`WordCache::start_loading`]).
    pub fn search(
        &self,
        conn: &Connection,
        long: &[String],
        short: &[String],
        w: &Window,
        limit: usize,
    ) -> Result<Option<Vec<(String, f64)>>> {
        let version = self.watch.version();
        {
            let guard = self.slot.read().unwrap_or_else(|p| p.into_inner());
            match guard.as_ref() {
                None => return Ok(None),
                Some(ix) if ix.version == version => {
                    return ix.search(long, short, w, limit).map(Some)
                }
                Some(_) => {}
            }
        }
        {
            let mut guard = self.slot.write().unwrap_or_else(|p| p.into_inner());
            let stale = guard.as_ref().is_some_and(|ix| ix.version != version);
            if stale {
                // Rows that could not be applied are gone from the watch: start afresh then.
                let usable = match self.watch.take_rows() {
                    ChangedRows::Overflow => false,
                    ChangedRows::None => true,
                    ChangedRows::Rows(rows) => guard
                        .as_mut()
                        .is_some_and(|ix| ix.apply(conn, &rows, version).is_ok()),
                };
                match guard.as_mut() {
                    Some(ix) if usable => ix.version = version,
                    _ => {
                        *guard = None;
                        return Ok(None);
                    }
                }
            }
        }
        let guard = self.slot.read().unwrap_or_else(|p| p.into_inner());
        guard
            .as_ref()
            .map(|ix| ix.search(long, short, w, limit))
            .transpose()
    }

    /// Loads the copy in the background unless it is loaded or loading (no-op outside a
    /// tokio runtime). Stops early when `stop` is cancelled.
    pub fn start_loading(self: &Arc<Self>, store: &Arc<Store>, stop: &CancellationToken) {
        if self.is_loaded() || self.loading.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.loading.store(false, Ordering::Release);
            return;
        };
        let (cache, store, stop) = (Arc::clone(self), Arc::clone(store), stop.clone());
        runtime.spawn(async move {
            let loader = Arc::clone(&cache);
            // Whatever the outcome (a closed store, an error), a later search may try again.
            let _ = store.read_slow(move |c| loader.load(c, &stop)).await;
            cache.loading.store(false, Ordering::Release);
        });
    }

    /// Loads and installs the copy (see [`WordCache::start_loading`]).
    pub fn load(&self, conn: &Connection, stop: &CancellationToken) -> Result<()> {
        // Changes before this point are in the snapshot read below.
        let _ = self.watch.take_rows();
        let version = self.watch.version();
        let tx =
            rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Deferred)?;
        let count: i64 = tx
            .prepare_cached("SELECT count(*) FROM observations")?
            .query_row([], |r| r.get(0))?;
        if count > self.max_rows {
            return Ok(());
        }
        let ix = WordIndex::load(&tx, version, stop)?;
        drop(tx);
        let mut guard = self.slot.write().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            *guard = Some(ix);
        }
        Ok(())
    }

    /// Whether a copy is installed.
    pub fn is_loaded(&self) -> bool {
        self.slot
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    /// Drops the copy (the backend closes).
    pub fn clear(&self) {
        self.slot.write().unwrap_or_else(|p| p.into_inner()).take();
    }
}

/// Statistics of a loaded copy for diagnostics and benchmarks: documents, distinct words.
pub fn describe(cache: &WordCache) -> Option<(usize, usize)> {
    let guard = cache.slot.read().unwrap_or_else(|p| p.into_inner());
    guard.as_ref().map(|ix| (ix.len(), ix.words.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::observation::Draft;

    /// A tiny deterministic generator (xorshift).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// Words over a small alphabet (so that terms overlap inside words), mixed case, Korean,
    /// punctuation.
    fn word(rng: &mut Rng) -> String {
        const ALPHABET: [&str; 9] = ["a", "b", "A", "c", "회", "의", "-", "\"", "B"];
        let len = 1 + rng.below(6);
        (0..len)
            .map(|_| ALPHABET[rng.below(ALPHABET.len())])
            .collect()
    }

    fn text(rng: &mut Rng, words: usize) -> String {
        let seps = [" ", " ", "  ", "\n", "\t"];
        (0..words)
            .map(|_| word(rng) + seps[rng.below(seps.len())])
            .collect()
    }

    fn draft(rng: &mut Rng, i: i64) -> Draft {
        let (title_words, narrative_words) = (1 + rng.below(4), rng.below(30));
        Draft {
            title: text(rng, title_words),
            narrative: text(rng, narrative_words),
            facts: (rng.below(2) == 0).then(|| vec![text(rng, 3), text(rng, 1)]),
            concepts: (rng.below(3) == 0).then(|| vec![word(rng)]),
            kind: ["note", "task"][rng.below(2)].into(),
            source: ["manual", "jira"][rng.below(2)].into(),
            source_event_id: None,
            project_path: None,
            event_time: "2026-01-01T00:00:00Z".into(),
            event_ts: i,
            ledger: Some(("t".into(), format!("k{}", rng.below(400)))),
        }
    }

    /// FTS5's own ranking of `terms` OR-ed: every match with its `-bm25()`.
    fn fts5(conn: &Connection, terms: &[String]) -> Vec<(String, f64)> {
        let expr = terms
            .iter()
            .map(|t| format!("\"{}\"", t.replace('"', "\"\"")))
            .collect::<Vec<_>>()
            .join(" OR ");
        let mut stmt = conn
            .prepare(
                "SELECT o.observation_id, bm25(observations_fts) FROM observations_fts
                   JOIN observations o ON o.rowid = observations_fts.rowid
                  WHERE observations_fts MATCH ?1",
            )
            .unwrap();
        let rows = stmt
            .query_map(params![expr], |r| Ok((r.get(0)?, -r.get::<_, f64>(1)?)))
            .unwrap();
        rows.collect::<rusqlite::Result<_>>().unwrap()
    }

    fn everything() -> Window {
        Window {
            start: i64::MIN,
            end: i64::MAX,
            kind: None,
            source: None,
        }
    }

    /// Every match of the copy equals FTS5's: the same observations, the same scores.
    fn assert_same_as_fts5(cache: &WordCache, store: &Store, rng: &mut Rng, queries: usize) {
        for _ in 0..queries {
            let terms: Vec<String> = (0..1 + rng.below(3))
                .map(|_| {
                    let mut t = word(rng);
                    while t.chars().count() < 3 {
                        t.push_str(&word(rng));
                    }
                    t.chars().take(5).collect::<String>().to_lowercase()
                })
                .collect();
            let (want, got) = store
                .read_blocking(|c| {
                    let got = cache.search(c, &terms, &[], &everything(), 100_000)?;
                    Ok((fts5(c, &terms), got))
                })
                .unwrap();
            let got = got.expect("the copy is loaded");
            let want: std::collections::HashMap<String, f64> = want.into_iter().collect();
            assert_eq!(got.len(), want.len(), "terms {terms:?}");
            for (id, score) in &got {
                let expected = want[id];
                assert!(
                    (score - expected).abs() <= 1e-9 * expected.abs().max(1.0),
                    "terms {terms:?}: {id} scored {score}, FTS5 {expected}"
                );
            }
            // Best first.
            assert!(got.windows(2).all(|p| p[0].1 >= p[1].1));
        }
    }

    #[test]
    fn ranks_exactly_as_fts5_and_follows_writes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("index.db")).unwrap());
        let cache = WordCache::new(&store).unwrap();
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let drafts: Vec<Draft> = (0..300).map(|i| draft(&mut rng, i)).collect();
        store
            .write_blocking(|c| {
                let tx = c.transaction()?;
                for d in &drafts {
                    crate::memory::store::upsert(&tx, d)?;
                }
                tx.commit()?;
                Ok(())
            })
            .unwrap();
        let none = store
            .read_blocking(|c| cache.search(c, &["aab".into()], &[], &everything(), 10))
            .unwrap();
        assert!(none.is_none(), "nothing is loaded before a load");
        store
            .read_blocking(|c| cache.load(c, &CancellationToken::new()))
            .unwrap();
        assert_same_as_fts5(&cache, &store, &mut rng, 200);

        // Inserts, updates (same ledger keys, new text) and deletes reach the copy.
        let more: Vec<Draft> = (300..500).map(|i| draft(&mut rng, i)).collect();
        store
            .write_blocking(|c| {
                let tx = c.transaction()?;
                for d in &more {
                    crate::memory::store::upsert(&tx, d)?;
                }
                // As `store::delete` does: the FTS row goes first (it needs the old text).
                let doomed: Vec<i64> = tx
                    .prepare("SELECT rowid FROM observations WHERE rowid % 7 = 0")?
                    .query_map([], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?;
                for rowid in doomed {
                    crate::memory::fts::remove(&tx, rowid)?;
                }
                tx.execute("DELETE FROM observations WHERE rowid % 7 = 0", [])?;
                tx.commit()?;
                Ok(())
            })
            .unwrap();
        // The FTS table matches its content table exactly (FTS5 compares every row's tokens).
        store
            .write_blocking(|c| {
                Ok(c.execute(
                    "INSERT INTO observations_fts (observations_fts, rank) VALUES ('integrity-check', 1)",
                    [],
                )?)
            })
            .unwrap();
        assert_same_as_fts5(&cache, &store, &mut rng, 200);
        assert_short_terms_same_as_scan(&cache, &store, &mut rng, 100);
    }

    /// Short-term matches of the copy (found through its pair and character lists) equal the
    /// FTS5 path's (a scan of the rows): the same observations, newest first.
    fn assert_short_terms_same_as_scan(
        cache: &WordCache,
        store: &Store,
        rng: &mut Rng,
        queries: usize,
    ) {
        const ALPHABET: [&str; 7] = ["a", "b", "A", "c", "회", "의", "B"];
        for _ in 0..queries {
            let terms: Vec<String> = (0..1 + rng.below(2))
                .map(|_| {
                    (0..1 + rng.below(2))
                        .map(|_| ALPHABET[rng.below(ALPHABET.len())])
                        .collect()
                })
                .collect();
            let query = terms.join(" ");
            let (long, short) = crate::memory::search::terms(&query);
            assert!(long.is_empty());
            let limit = 1 + rng.below(60);
            let (copy, scan) = store
                .read_blocking(|c| {
                    let copy = cache.search(c, &[], &short, &everything(), limit)?;
                    let scan =
                        crate::memory::search::keyword(c, &query, &everything(), limit as i64)?;
                    Ok((copy, scan))
                })
                .unwrap();
            assert_eq!(copy.unwrap(), scan, "{query:?} limit {limit}");
        }
    }

    #[test]
    fn short_terms_filters_and_overflow() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("index.db")).unwrap());
        let cache = WordCache::new(&store).unwrap();
        let mut rng = Rng(7);
        let mk = |title: &str, kind: &str, ts: i64, rng: &mut Rng| Draft {
            title: title.into(),
            narrative: String::new(),
            facts: None,
            concepts: None,
            kind: kind.into(),
            ledger: None,
            ..draft(rng, ts)
        };
        let drafts = vec![
            mk("회의록을 정리했다", "note", 1, &mut rng),
            mk("PR review", "task", 3, &mut rng),
            mk("prune 회의", "note", 2, &mut rng),
            mk("nothing", "note", 4, &mut rng),
        ];
        store
            .write_blocking(|c| {
                for d in &drafts {
                    crate::memory::store::upsert(c, d)?;
                }
                Ok(())
            })
            .unwrap();
        store
            .read_blocking(|c| cache.load(c, &CancellationToken::new()))
            .unwrap();
        let titles = |hits: Vec<(String, f64)>| -> Vec<String> {
            store
                .read_blocking(|c| {
                    Ok(hits
                        .iter()
                        .map(|(id, _)| {
                            c.query_row(
                                "SELECT title FROM observations WHERE observation_id = ?1",
                                params![id],
                                |r| r.get(0),
                            )
                            .unwrap()
                        })
                        .collect())
                })
                .unwrap()
        };
        let search = |long: &[&str], short: &[&str], w: &Window| {
            let long: Vec<String> = long.iter().map(|s| s.to_string()).collect();
            let short: Vec<String> = short.iter().map(|s| s.to_string()).collect();
            store
                .read_blocking(|c| cache.search(c, &long, &short, w, 10))
                .unwrap()
                .unwrap()
        };
        // A short term matches inside words, newest first, after the BM25 matches.
        let hits = search(&["review"], &["회의", "pr"], &everything());
        assert_eq!(
            titles(hits.clone()),
            vec!["PR review", "prune 회의", "회의록을 정리했다"]
        );
        assert!(hits[0].1 > 0.0 && hits[1].1 == 0.0);
        let notes = Window {
            kind: Some("note".into()),
            ..everything()
        };
        assert_eq!(
            titles(search(&["review"], &["pr"], &notes)),
            vec!["prune 회의"]
        );
        let unknown = Window {
            source: Some("nowhere".into()),
            ..everything()
        };
        assert!(search(&["review"], &["pr"], &unknown).is_empty());
        let late = Window {
            start: 2,
            end: 3,
            ..everything()
        };
        assert_eq!(
            titles(search(&[], &["회의", "pr"], &late)),
            vec!["PR review", "prune 회의"]
        );

        // The FTS5 path (used while the copy loads) answers the same lists, also for a prompt
        // of thousands of rare short terms (one matcher for all of them).
        let fts_path = |query: &str, w: &Window| {
            titles(
                store
                    .read_blocking(|c| crate::memory::search::keyword(c, query, w, 10))
                    .unwrap(),
            )
        };
        assert_eq!(
            fts_path("review 회의 pr", &everything()),
            vec!["PR review", "prune 회의", "회의록을 정리했다"]
        );
        assert_eq!(fts_path("회의 PR", &late), vec!["PR review", "prune 회의"]);
        let mut many: Vec<String> = (0..3000u32)
            .map(|i| {
                let c = |k: u32| char::from_u32(0xAC00 + (i * 7 + k) % 11172).unwrap_or('가');
                format!("{}{}", c(0), c(5000))
            })
            .collect();
        many.push("회의".into());
        let many_refs: Vec<&str> = many.iter().map(String::as_str).collect();
        let expected = vec!["prune 회의", "회의록을 정리했다"];
        assert_eq!(titles(search(&[], &many_refs, &everything())), expected);
        assert_eq!(fts_path(&many.join(" "), &everything()), expected);

        // More changed rows than the watch keeps: the copy is dropped, to be loaded afresh.
        store
            .write_blocking(|c| {
                c.execute_batch("UPDATE observations SET chroma_synced = 1")?;
                let tx = c.transaction()?;
                for i in 0..crate::store::MAX_KEPT_ROWS as i64 {
                    crate::memory::store::upsert(&tx, &mk("bulk", "note", 10 + i, &mut Rng(9)))?;
                }
                tx.commit()?;
                Ok(())
            })
            .unwrap();
        let after = store
            .read_blocking(|c| cache.search(c, &["bulk".into()], &[], &everything(), 10))
            .unwrap();
        assert!(after.is_none());
        assert!(!cache.is_loaded());
    }

    #[test]
    fn occurrences_overlap() {
        assert_eq!(occurrences("aaaa", "aaa"), 2);
        assert_eq!(occurrences("회의회의회의", "회의회"), 2);
        assert_eq!(occurrences("abc", "abcd"), 0);
    }
}
