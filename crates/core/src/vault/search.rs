//! `searchNotes` over a [`Snapshot`]: the app's algorithm (reference A.4) with its exact
//! results — tokens, scores (title × 5 + content, non-overlapping, duplicate tokens counted
//! again), snippets, order and limit — without touching the disk.

use std::path::Path;

use memchr::memmem::Finder;
use serde::Serialize;

use super::index::Snapshot;
use super::text::{basename, encode_uri_component, iso_ms, snippet, strip_md_ci};

/// Title matches weigh this much (`TITLE_MATCH_WEIGHT`).
pub const TITLE_WEIGHT: u64 = 5;
/// `DEFAULT_SEARCH_LIMIT`.
pub const DEFAULT_LIMIT: i64 = 200;

/// One result (CONTRACT.md §17.1; the app's camelCase keys in snake_case).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SearchHit {
    pub id: String,
    pub title: String,
    pub file_path: String,
    pub updated_at: String,
    pub score: u64,
    pub snippet: Option<String>,
    pub relative_path: String,
}

/// The answer of `searchNotes`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SearchAnswer {
    /// The trimmed query, case kept.
    pub query: String,
    pub results: Vec<SearchHit>,
}

/// Adds `weight × non-overlapping count` of `finder` in each title of `text` (titles are the
/// ranges `bounds`, in order, separated by `\n`). `find_iter` reports leftmost
/// non-overlapping matches, exactly the app's `indexOf` loop.
fn accumulate(
    text: &str,
    bounds: &[(usize, usize)],
    finder: &Finder<'_>,
    weight: u64,
    scores: &mut [u64],
) {
    let mut note = 0;
    for pos in finder.find_iter(text.as_bytes()) {
        while note < bounds.len() && bounds[note].1 <= pos {
            note += 1;
        }
        if note < bounds.len() && pos >= bounds[note].0 {
            scores[note] += weight;
        }
    }
}

/// Searches the notes under `prefix` (`""` for the whole vault, else `sub/dir/`) of a
/// snapshot. `root` is the folder as the caller gave it: file paths are built from it, ids
/// and relative paths are relative to it. `limit <= 0` means no limit.
pub fn search(
    snapshot: &Snapshot,
    prefix: &str,
    root: &Path,
    tokens: &[String],
    limit: i64,
) -> Vec<SearchHit> {
    let n = snapshot.notes.len();
    let mut scores = vec![0u64; n];
    // Duplicate tokens add their counts again: count each distinct token once, weighted.
    let mut distinct: Vec<(&str, u64)> = Vec::new();
    for t in tokens {
        match distinct.iter_mut().find(|(d, _)| *d == t.as_str()) {
            Some((_, k)) => *k += 1,
            None => distinct.push((t.as_str(), 1)),
        }
    }
    for (token, times) in &distinct {
        let per_note = snapshot.token_scores(token, || {
            let finder = Finder::new(token.as_bytes());
            let mut one = vec![0u64; n];
            accumulate(
                &snapshot.titles,
                &snapshot.title_bounds,
                &finder,
                TITLE_WEIGHT,
                &mut one,
            );
            snapshot.words.count(&finder, 1, &mut one);
            one
        });
        for (score, add) in scores.iter_mut().zip(per_note.iter()) {
            *score += add * times;
        }
    }
    // (score, mtime, walk index) of each hit, in one compact array.
    let mut hits: Vec<(u64, i64, usize)> = scores
        .iter()
        .enumerate()
        .filter(|&(i, &score)| {
            score > 0 && (prefix.is_empty() || snapshot.notes[i].rel.starts_with(prefix))
        })
        .map(|(i, &score)| (score, snapshot.mtimes[i], i))
        .collect();
    // Score desc, mtime desc, then walk order (the index order, so the index itself breaks
    // the last tie and an unstable sort gives the app's stable order).
    let order = |a: &(u64, i64, usize), b: &(u64, i64, usize)| {
        b.0.cmp(&a.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2))
    };
    if limit > 0 && hits.len() as i64 > limit {
        // The order is total, so selecting the first `limit` and sorting only them gives
        // the same list as sorting everything.
        let k = limit as usize;
        hits.select_nth_unstable_by(k - 1, order);
        hits.truncate(k);
    }
    hits.sort_unstable_by(order);
    hits.into_iter()
        .map(|(score, _, i)| {
            let note = &snapshot.notes[i];
            let sub = &note.rel[prefix.len()..];
            let rel_id = strip_md_ci(sub);
            SearchHit {
                id: encode_uri_component(rel_id),
                title: basename(rel_id).to_string(),
                file_path: super::files::display(&root.join(sub)),
                updated_at: iso_ms(note.mtime_ms),
                score,
                snippet: snippet(&note.content, &note.lower, tokens),
                relative_path: rel_id.to_string(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::vault::index::{hash_bytes, NoteEntry, CACHED_TOKENS};

    fn snapshot(notes: &[(&str, String)]) -> Snapshot {
        let notes = notes
            .iter()
            .map(|(rel, text)| {
                Arc::new(NoteEntry::new(
                    (*rel).into(),
                    text.clone(),
                    1,
                    text.len() as i64,
                    hash_bytes(text.as_bytes()),
                ))
            })
            .collect();
        Snapshot::build(notes)
    }

    #[test]
    fn a_snapshot_reuses_token_counts_and_a_new_one_starts_afresh() {
        let s = snapshot(&[("a.md", "ab ab".into()), ("b.md", "ab".into())]);
        let first = search(&s, "", Path::new("/v"), &["ab".into(), "ab".into()], 0);
        let again = search(&s, "", Path::new("/v"), &["ab".into()], 0);
        assert_eq!(first[0].score, 4);
        assert_eq!(again[0].score, 2);
        assert_eq!(crate::store::lock(&s.token_scores).len(), 1);
        let next = s.with_changes(&[], &["a.md".into()]);
        assert!(crate::store::lock(&next.token_scores).is_empty());
        let hits = search(&next, "", Path::new("/v"), &["ab".into()], 0);
        assert_eq!(hits.len(), 1);
        for i in 0..40 {
            search(&next, "", Path::new("/v"), &[format!("t{i}")], 0);
        }
        assert_eq!(crate::store::lock(&next.token_scores).len(), CACHED_TOKENS);
    }

    #[test]
    fn huge_notes_count_exactly() {
        // Huge notes (the word index is built in two halves), one of them last.
        let big = "ab ".repeat(2 << 20);
        let s = snapshot(&[
            ("a.md", "ab".into()),
            ("b.md", big.clone()),
            ("c.md", "abab".into()),
            ("d.md", big.clone()),
        ]);
        let hits = search(&s, "", Path::new("/v"), &["ab".into()], 0);
        let scores: Vec<(String, u64)> = hits
            .into_iter()
            .map(|h| (h.relative_path, h.score))
            .collect();
        assert_eq!(
            scores,
            [
                ("b".to_string(), 2 << 20),
                ("d".to_string(), 2 << 20),
                ("c".to_string(), 2),
                ("a".to_string(), 1)
            ]
        );
        let s = snapshot(&[("a.md", "x".into()), ("z.md", big)]);
        let hits = search(&s, "", Path::new("/v"), &["ab".into()], 0);
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].score, 2 << 20);
    }
}
