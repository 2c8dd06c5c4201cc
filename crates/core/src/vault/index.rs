//! The note index: rows in SQLite (`vault_notes` and the FTS5 `trigram` table
//! `vault_notes_fts`, migration 6) and the in-memory copy searches run over ([`Snapshot`]).
//!
//! SQLite is the durable index: a change is committed there first (one transaction per scan
//! or update, so an index is never partial), then the snapshot is swapped, then `vault.changed`
//! is published. The FTS rows hold the JS-lower-cased title and content (`case_sensitive 1`),
//! so a trigram `MATCH` of a lower-cased token finds exactly the notes whose lower-cased text
//! contains it.

use std::collections::HashSet;
use std::path::Path;
use std::sync::mpsc::Receiver;
use std::sync::Arc;

use rusqlite::{params, Connection};
use sha2::{Digest, Sha256};

use super::text::{basename, js_lower, strip_md_ci};
use super::walk::FileStat;
use super::words::WordIndex;
use crate::error::{Error, Result};
use crate::time::now_iso;

/// Files larger than this are not indexed (documented; the app read any size).
pub const MAX_NOTE_BYTES: u64 = 32 * 1024 * 1024;

/// One indexed note.
#[derive(Debug, Clone)]
pub struct NoteEntry {
    /// Path relative to the vault, `/` separators, with its extension.
    pub rel: String,
    /// The walk-order sort key (the path with `/` as byte 0).
    pub order: Vec<u8>,
    /// The note's content (lossy UTF-8).
    pub content: String,
    /// The content lower-cased as JS `toLowerCase` does.
    pub lower: String,
    /// Node's mtime in milliseconds.
    pub mtime_ms: i64,
    /// Size in bytes.
    pub size: i64,
    /// SHA-256 of the bytes, hex.
    pub hash: String,
}

impl NoteEntry {
    /// A note from its parts.
    pub fn new(rel: String, content: String, mtime_ms: i64, size: i64, hash: String) -> Self {
        let order = rel.bytes().map(|c| if c == b'/' { 0 } else { c }).collect();
        let lower = js_lower(&content);
        NoteEntry {
            rel,
            order,
            content,
            lower,
            mtime_ms,
            size,
            hash,
        }
    }

    /// The title of a note relative to the vault root (basename without `.md`).
    pub fn title(&self) -> &str {
        basename(strip_md_ci(&self.rel))
    }
}

/// Hex SHA-256 of some bytes.
pub fn hash_bytes(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Reads one note file. `None` when it vanished, cannot be read, is not a regular file or is
/// larger than [`MAX_NOTE_BYTES`]: such a file never fails a scan.
pub fn read_note(root: &Path, stat: &FileStat) -> Option<NoteEntry> {
    let path = root.join(&stat.rel);
    let meta = std::fs::symlink_metadata(&path).ok()?;
    if !meta.is_file() || meta.len() > MAX_NOTE_BYTES {
        return None;
    }
    let bytes = std::fs::read(&path).ok()?;
    let hash = hash_bytes(&bytes);
    let content = match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    };
    // Stat again after the read: the values describe what was read (or newer).
    let meta = std::fs::metadata(&path).unwrap_or(meta);
    Some(NoteEntry::new(
        stat.rel.clone(),
        content,
        super::text::mtime_ms(&meta),
        meta.len() as i64,
        hash,
    ))
}

/// The in-memory copy of one vault's index, in walk order: the notes (with their lower-cased
/// contents), their lower-cased titles concatenated (one `\n` between titles: a token never
/// holds whitespace, so no match spans two titles), and the word index of their contents.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// The notes in walk order.
    pub notes: Vec<Arc<NoteEntry>>,
    /// Each note's mtime in ms (the second sort key, kept together for the sort).
    pub mtimes: Vec<i64>,
    /// Lower-cased titles, joined by `\n`.
    pub titles: String,
    /// Bounds of each title in `titles`.
    pub title_bounds: Vec<(usize, usize)>,
    /// Distinct words of the contents and the notes holding them.
    pub words: WordIndex,
    /// Per-token scores already counted over this snapshot (title × 5 + content, per note),
    /// newest last. A snapshot never changes, so they stay right until it is replaced; while
    /// someone types, each query repeats the tokens of the previous one.
    pub(crate) token_scores: std::sync::Mutex<Vec<(String, Arc<Vec<u64>>)>>,
}

/// Tokens whose per-note scores a snapshot keeps.
pub const CACHED_TOKENS: usize = 16;

impl Snapshot {
    /// The per-note scores of one token, counted by `count` unless this snapshot has them.
    pub(crate) fn token_scores(
        &self,
        token: &str,
        count: impl FnOnce() -> Vec<u64>,
    ) -> Arc<Vec<u64>> {
        let hit = crate::store::lock(&self.token_scores)
            .iter()
            .find(|(t, _)| t == token)
            .map(|(_, s)| Arc::clone(s));
        if let Some(scores) = hit {
            return scores;
        }
        let scores = Arc::new(count());
        let mut cache = crate::store::lock(&self.token_scores);
        if cache.len() >= CACHED_TOKENS {
            cache.remove(0);
        }
        cache.push((token.to_string(), Arc::clone(&scores)));
        scores
    }

    /// The lower-cased titles of notes, joined, and their bounds.
    fn titles(notes: &[Arc<NoteEntry>]) -> (String, Vec<(usize, usize)>) {
        let mut titles = String::new();
        let mut bounds = Vec::with_capacity(notes.len());
        for note in notes {
            let t = titles.len();
            titles.push_str(&js_lower(note.title()));
            bounds.push((t, titles.len()));
            titles.push('\n');
        }
        (titles, bounds)
    }

    /// Builds a snapshot from notes (sorted here).
    pub fn build(mut notes: Vec<Arc<NoteEntry>>) -> Snapshot {
        notes.sort_by(|a, b| a.order.cmp(&b.order));
        let words = WordIndex::build(&notes);
        Snapshot::assemble(notes, words)
    }

    /// A snapshot of sorted `notes` with their word index.
    fn assemble(notes: Vec<Arc<NoteEntry>>, words: WordIndex) -> Snapshot {
        let (titles, title_bounds) = Snapshot::titles(&notes);
        Snapshot {
            mtimes: notes.iter().map(|n| n.mtime_ms).collect(),
            notes,
            titles,
            title_bounds,
            words,
            token_scores: Default::default(),
        }
    }

    /// A new snapshot with `upserts` replacing or adding notes and `deleted` removed. The word
    /// index is updated, not rebuilt: only the new notes are tokenized.
    pub fn with_changes(&self, upserts: &[Arc<NoteEntry>], deleted: &[String]) -> Snapshot {
        let gone: HashSet<&str> = deleted
            .iter()
            .map(String::as_str)
            .chain(upserts.iter().map(|n| n.rel.as_str()))
            .collect();
        let mut notes: Vec<Arc<NoteEntry>> = self
            .notes
            .iter()
            .filter(|n| !gone.contains(n.rel.as_str()))
            .cloned()
            .collect();
        notes.extend(upserts.iter().cloned());
        // Stable: the kept notes stay in their (sorted) order among themselves.
        notes.sort_by(|a, b| a.order.cmp(&b.order));
        let mut remap = vec![u32::MAX; self.notes.len()];
        let mut added = Vec::new();
        let mut old = 0;
        for (k, note) in notes.iter().enumerate() {
            while old < self.notes.len() && gone.contains(self.notes[old].rel.as_str()) {
                old += 1;
            }
            if old < self.notes.len() && Arc::ptr_eq(&self.notes[old], note) {
                remap[old] = k as u32;
                old += 1;
            } else {
                added.push(k);
            }
        }
        let words = self.words.with_changes(&remap, &notes, &added);
        Snapshot::assemble(notes, words)
    }

    /// The note with this relative path.
    pub fn get(&self, rel: &str) -> Option<&Arc<NoteEntry>> {
        self.notes
            .binary_search_by(|n| n.order.as_slice().cmp(order_key(rel).as_slice()))
            .ok()
            .map(|i| &self.notes[i])
    }

    /// Bytes held (contents, lower-cased copies, titles, word index), for the benchmark's
    /// memory figure.
    pub fn memory_bytes(&self) -> usize {
        self.notes
            .iter()
            .map(|n| {
                n.content.capacity()
                    + n.lower.capacity()
                    + n.rel.capacity() * 2
                    + n.hash.capacity()
                    + 120
            })
            .sum::<usize>()
            + self.titles.capacity()
            + self.mtimes.capacity() * 8
            + self.title_bounds.capacity() * 16
            + self.words.memory_bytes()
    }
}

fn order_key(rel: &str) -> Vec<u8> {
    rel.bytes().map(|c| if c == b'/' { 0 } else { c }).collect()
}

/// Registers a vault (idempotent) and returns its id.
pub fn register(conn: &Connection, path: &str) -> Result<i64> {
    conn.execute(
        "INSERT INTO vaults(path, created_at) VALUES (?1, ?2) ON CONFLICT(path) DO NOTHING",
        params![path, now_iso()],
    )?;
    Ok(
        conn.query_row("SELECT vault_id FROM vaults WHERE path = ?1", [path], |r| {
            r.get(0)
        })?,
    )
}

/// Removes a registered vault and its rows (one transaction): a vault inside another one,
/// whose notes the outer vault indexes.
pub fn forget(conn: &mut Connection, vault_id: i64) -> Result<()> {
    let tx = conn.transaction()?;
    tx.execute(
        "DELETE FROM vault_notes_fts WHERE rowid IN
           (SELECT note_id FROM vault_notes WHERE vault_id = ?1)",
        [vault_id],
    )?;
    tx.execute("DELETE FROM vault_notes WHERE vault_id = ?1", [vault_id])?;
    tx.execute("DELETE FROM vaults WHERE vault_id = ?1", [vault_id])?;
    tx.commit()?;
    Ok(())
}

/// Every registered vault: `(id, canonical path)`.
pub fn registered(conn: &Connection) -> Result<Vec<(i64, String)>> {
    let mut stmt = conn.prepare_cached("SELECT vault_id, path FROM vaults ORDER BY vault_id")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The stored notes of a vault.
pub fn load(conn: &Connection, vault_id: i64) -> Result<Vec<Arc<NoteEntry>>> {
    let mut stmt = conn.prepare_cached(
        "SELECT rel_path, content, mtime_ms, size, content_hash FROM vault_notes
         WHERE vault_id = ?1",
    )?;
    let rows = stmt.query_map([vault_id], |r| {
        Ok(Arc::new(NoteEntry::new(
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
        )))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Change sets of at least this many notes are written as a bulk load.
pub const BULK_NOTES: usize = 1000;
/// FTS5's in-memory index data before it writes a segment, during a bulk load. (10,000 notes
/// of 2 KB: 2.0 s with the default 1 MiB, 1.3 s with 16 MiB, no faster with 64 MiB.)
const BULK_HASH_BYTES: i64 = 16 << 20;
/// FTS5's default (`FTS5_DEFAULT_HASHSIZE`).
const DEFAULT_HASH_BYTES: i64 = 1 << 20;

/// What a [`Write`] receives, in order: notes to upsert (any number of batches, possibly
/// while they are still being read), then the deleted relative paths, which end the change
/// set. A feed that closes before `Done` rolls the change set back.
pub enum Feed {
    Notes(Vec<Arc<NoteEntry>>),
    Done(Vec<String>),
}

/// Writes one change set in one transaction: upserted notes (row and FTS row) and deleted
/// relative paths. `scanned` also stamps the vault's `last_scan_at`; `embedding_model` is
/// recorded by `index.rebuild`; `rebuild` first empties the vault's rows; `bulk` (many notes
/// expected) lets FTS5 keep more new index data in memory.
pub struct Write {
    pub vault_id: i64,
    pub scanned: bool,
    pub rebuild: bool,
    pub embedding_model: Option<String>,
    pub bulk: bool,
}

impl Write {
    /// Runs the change set fed by `feed` in its own transaction.
    pub fn run(&self, conn: &mut Connection, feed: &Receiver<Feed>) -> Result<()> {
        let tx = conn.transaction()?;
        let now = now_iso();
        // A bulk load (a first scan, a rebuild): FTS5 keeps up to 16 MiB of new index data
        // in memory instead of 1 MiB, so it writes a few large segments instead of many small
        // ones merged again and again. The setting goes back to the default before the
        // commit (FTS5 stores it in its config table).
        if self.bulk {
            tx.execute(
                "INSERT INTO vault_notes_fts(vault_notes_fts, rank) VALUES ('hashsize', ?1)",
                [BULK_HASH_BYTES],
            )?;
        }
        if self.rebuild {
            tx.execute(
                "DELETE FROM vault_notes_fts WHERE rowid IN
                   (SELECT note_id FROM vault_notes WHERE vault_id = ?1)",
                [self.vault_id],
            )?;
            tx.execute(
                "DELETE FROM vault_notes WHERE vault_id = ?1",
                [self.vault_id],
            )?;
        }
        // A vault without rows (first scan, rebuild) is loaded without a look-up per note.
        let empty = !tx.query_row(
            "SELECT EXISTS(SELECT 1 FROM vault_notes WHERE vault_id = ?1)",
            [self.vault_id],
            |r| r.get::<_, bool>(0),
        )?;
        {
            let mut find = tx.prepare_cached(
                "SELECT note_id FROM vault_notes WHERE vault_id = ?1 AND rel_path = ?2",
            )?;
            let mut fts_delete =
                tx.prepare_cached("DELETE FROM vault_notes_fts WHERE rowid = ?1")?;
            let mut fts_insert = tx.prepare_cached(
                "INSERT INTO vault_notes_fts(rowid, title, content) VALUES (?1, ?2, ?3)",
            )?;
            let mut update = tx.prepare_cached(
                "UPDATE vault_notes SET title = ?2, mtime_ms = ?3, size = ?4, content_hash = ?5,
                   content = ?6, indexed_at = ?7 WHERE note_id = ?1",
            )?;
            let mut insert = tx.prepare_cached(
                "INSERT INTO vault_notes(vault_id, rel_path, title, mtime_ms, size, content_hash,
                   content, indexed_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            let mut delete = tx.prepare_cached("DELETE FROM vault_notes WHERE note_id = ?1")?;
            let deleted = loop {
                let notes = match feed.recv() {
                    Ok(Feed::Notes(notes)) => notes,
                    Ok(Feed::Done(deleted)) => break deleted,
                    Err(_) => return Err(Error::Canceled("scan stopped".into())),
                };
                for note in &notes {
                    let title = note.title();
                    let id: Option<i64> = if empty {
                        None
                    } else {
                        find.query_row(params![self.vault_id, note.rel], |r| r.get(0))
                            .ok()
                    };
                    let id = match id {
                        Some(id) => {
                            fts_delete.execute([id])?;
                            update.execute(params![
                                id,
                                title,
                                note.mtime_ms,
                                note.size,
                                note.hash,
                                note.content,
                                now
                            ])?;
                            id
                        }
                        None => {
                            insert.execute(params![
                                self.vault_id,
                                note.rel,
                                title,
                                note.mtime_ms,
                                note.size,
                                note.hash,
                                note.content,
                                now
                            ])?;
                            tx.last_insert_rowid()
                        }
                    };
                    fts_insert.execute(params![id, js_lower(title), note.lower])?;
                }
            };
            for rel in &deleted {
                let id: Option<i64> = find
                    .query_row(params![self.vault_id, rel], |r| r.get(0))
                    .ok();
                if let Some(id) = id {
                    fts_delete.execute([id])?;
                    delete.execute([id])?;
                }
            }
        }
        if self.bulk {
            tx.execute(
                "INSERT INTO vault_notes_fts(vault_notes_fts, rank) VALUES ('hashsize', ?1)",
                [DEFAULT_HASH_BYTES],
            )?;
        }
        if self.scanned {
            tx.execute(
                "UPDATE vaults SET last_scan_at = ?2 WHERE vault_id = ?1",
                params![self.vault_id, now],
            )?;
        }
        if let Some(model) = &self.embedding_model {
            tx.execute(
                "UPDATE vaults SET embedding_model = ?2 WHERE vault_id = ?1",
                params![self.vault_id, model],
            )?;
        }
        tx.commit()?;
        Ok(())
    }
}

/// Candidate notes (relative paths) for lower-cased tokens through the trigram index: notes
/// holding every trigram of at least one token. `detail=none` keeps no positions, so this is a
/// superset of the notes containing a token (the exact count decides). `None` when a token is
/// shorter than 3 characters (trigrams cannot find it).
pub fn fts_candidates(
    conn: &Connection,
    vault_id: i64,
    tokens: &[String],
) -> Result<Option<Vec<String>>> {
    let mut groups = Vec::new();
    for token in tokens {
        let chars: Vec<char> = token.chars().collect();
        if chars.len() < 3 {
            return Ok(None);
        }
        let trigrams: Vec<String> = chars
            .windows(3)
            .map(|w| {
                let t: String = w.iter().collect();
                format!("\"{}\"", t.replace('"', "\"\""))
            })
            .collect();
        groups.push(format!("({})", trigrams.join(" AND ")));
    }
    if groups.is_empty() {
        return Ok(Some(Vec::new()));
    }
    let mut stmt = conn.prepare_cached(
        "SELECT n.rel_path FROM vault_notes_fts f JOIN vault_notes n ON n.note_id = f.rowid
         WHERE vault_notes_fts MATCH ?1 AND n.vault_id = ?2",
    )?;
    let rows = stmt.query_map(params![groups.join(" OR "), vault_id], |r| r.get(0))?;
    Ok(Some(rows.collect::<rusqlite::Result<_>>()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(rel: &str) -> FileStat {
        FileStat {
            rel: rel.into(),
            mtime_ms: 0,
            size: 0,
        }
    }

    #[test]
    fn a_file_gone_between_listing_and_reading_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.md"), b"caf\xe9").unwrap();
        let listed = [stat("a.md"), stat("gone.md")];
        std::fs::create_dir(dir.path().join("dir.md")).unwrap();
        let read: Vec<_> = listed
            .iter()
            .chain([stat("dir.md")].iter())
            .filter_map(|f| read_note(dir.path(), f))
            .collect();
        assert_eq!(read.len(), 1);
        assert_eq!(read[0].content, "caf\u{FFFD}");
        assert_eq!(read[0].title(), "a");
    }

    #[test]
    fn snapshot_changes_keep_walk_order_and_the_word_index() {
        let note = |rel: &str, text: &str| {
            Arc::new(NoteEntry::new(
                rel.into(),
                text.into(),
                1,
                1,
                hash_bytes(text.as_bytes()),
            ))
        };
        let count = |s: &Snapshot, token: &str| {
            let mut scores = vec![0; s.notes.len()];
            let finder = memchr::memmem::Finder::new(token.as_bytes());
            s.words.count(&finder, 1, &mut scores);
            scores
        };
        let s = Snapshot::build(vec![note("tie.md", "A"), note("tie/x.md", "B")]);
        let lower: Vec<&str> = s.notes.iter().map(|n| n.lower.as_str()).collect();
        assert_eq!(lower, ["b", "a"]);
        assert_eq!(s.titles, "x\ntie\n");
        let s2 = s.with_changes(&[note("tie-b.md", "Ç")], &["tie.md".into()]);
        let rels: Vec<&str> = s2.notes.iter().map(|n| n.rel.as_str()).collect();
        assert_eq!(rels, ["tie/x.md", "tie-b.md"]);
        let lower: Vec<&str> = s2.notes.iter().map(|n| n.lower.as_str()).collect();
        assert_eq!(lower, ["b", "ç"]);
        assert_eq!(s2.titles, "x\ntie-b\n");
        assert_eq!(count(&s2, "ç"), [0, 1]);
        assert_eq!(count(&s2, "b"), [1, 0]);
        assert_eq!(count(&s2, "a"), [0, 0]);
        assert!(s2.get("tie-b.md").is_some() && s2.get("tie.md").is_none());
    }
}
