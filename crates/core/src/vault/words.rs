//! The word index of a [`Snapshot`](super::index::Snapshot): every distinct word of the
//! vault's lower-cased contents (a word is a maximal run of characters outside the JS
//! whitespace set) and, per word, the notes holding it with how many times.
//!
//! A search token never holds whitespace, so none of its matches spans two words, and the
//! app's leftmost non-overlapping count over a note's lower-cased content is the sum, over the
//! note's words, of that count within each word. [`WordIndex::count`] therefore searches the
//! token once in the distinct words (a few hundred kilobytes, not the whole vault), counts it
//! in each word that holds it, and credits `count in word × occurrences of the word` to each
//! note of the word's postings.

use std::sync::Arc;

use memchr::memmem::Finder;
use rustc_hash::FxHashMap;

use super::index::NoteEntry;
use super::text::is_js_space;

/// Below this many content bytes the index is built by one thread.
const PARALLEL_BYTES: usize = 1 << 20;

/// Distinct words and their postings, for the notes of one snapshot (note `i` is the
/// snapshot's `notes[i]`).
#[derive(Debug, Default)]
pub struct WordIndex {
    /// Every distinct word, each followed by `\n`.
    text: String,
    /// `text[starts[w]..starts[w + 1] - 1]` is word `w`.
    starts: Vec<usize>,
    /// Word → id, for updates.
    ids: FxHashMap<Box<str>, u32>,
    /// `postings[offsets[w]..offsets[w + 1]]`: `(note, occurrences)` of word `w`.
    offsets: Vec<usize>,
    postings: Vec<(u32, u32)>,
}

/// The words of a lower-cased text, in order.
fn words_of(lower: &str) -> impl Iterator<Item = &str> {
    lower.split(is_js_space).filter(|w| !w.is_empty())
}

/// `(word, note, occurrences)` of some notes, with word ids local to one builder.
struct Local<'a> {
    words: Vec<&'a str>,
    ids: FxHashMap<&'a str, u32>,
    triples: Vec<(u32, u32, u32)>,
}

impl<'a> Local<'a> {
    /// Tokenizes the notes `first..first + notes.len()`.
    fn tokenize(notes: &'a [Arc<NoteEntry>], first: usize) -> Local<'a> {
        let mut local = Local {
            words: Vec::new(),
            ids: FxHashMap::default(),
            triples: Vec::new(),
        };
        // Per word: the last note it was seen in (+1) and its slot in `triples`.
        let mut seen: Vec<(u32, usize)> = Vec::new();
        for (k, note) in notes.iter().enumerate() {
            let n = (first + k) as u32;
            for word in words_of(&note.lower) {
                let next = local.words.len() as u32;
                let id = *local.ids.entry(word).or_insert(next);
                if id == next {
                    local.words.push(word);
                    seen.push((0, 0));
                }
                let slot = &mut seen[id as usize];
                if slot.0 == n + 1 {
                    local.triples[slot.1].2 += 1;
                } else {
                    *slot = (n + 1, local.triples.len());
                    local.triples.push((id, n, 1));
                }
            }
        }
        local
    }
}

impl WordIndex {
    /// The index of `notes` (in snapshot order).
    pub fn build(notes: &[Arc<NoteEntry>]) -> WordIndex {
        let total: usize = notes.iter().map(|n| n.lower.len()).sum();
        let locals: Vec<Local<'_>> = if total < PARALLEL_BYTES || notes.len() < 2 {
            vec![Local::tokenize(notes, 0)]
        } else {
            // Two halves by size, tokenized in parallel.
            let mut acc = 0;
            let half = notes
                .iter()
                .position(|n| {
                    acc += n.lower.len();
                    acc >= total / 2
                })
                .unwrap_or(0)
                .clamp(1, notes.len() - 1);
            let (left, right) = notes.split_at(half);
            std::thread::scope(|scope| {
                let other = scope.spawn(|| Local::tokenize(right, half));
                let first = Local::tokenize(left, 0);
                match other.join() {
                    Ok(second) => vec![first, second],
                    // The tokenizer does not panic; should it, the work is redone here.
                    Err(_) => vec![first, Local::tokenize(right, half)],
                }
            })
        };
        let mut index = WordIndex::default();
        let remaps: Vec<Vec<u32>> = locals
            .iter()
            .map(|local| local.words.iter().map(|w| index.intern(w)).collect())
            .collect();
        let count = locals.iter().map(|local| local.triples.len()).sum();
        index.set_postings(count, |push| {
            for (local, remap) in locals.iter().zip(&remaps) {
                for &(w, n, c) in &local.triples {
                    push(remap[w as usize], n, c);
                }
            }
        });
        index
    }

    /// The id of a word, added when new.
    fn intern(&mut self, word: &str) -> u32 {
        if let Some(&id) = self.ids.get(word) {
            return id;
        }
        let id = self.ids.len() as u32;
        if self.starts.is_empty() {
            self.starts.push(0);
        }
        self.text.push_str(word);
        self.text.push('\n');
        self.starts.push(self.text.len());
        self.ids.insert(word.into(), id);
        id
    }

    /// Number of distinct words (live or not).
    fn word_count(&self) -> usize {
        self.starts.len().saturating_sub(1)
    }

    /// Fills the postings (grouped by word) from `(word, note, occurrences)` triples given
    /// twice by `each` (once to count, once to place). `count` is their number.
    fn set_postings(&mut self, count: usize, each: impl Fn(&mut dyn FnMut(u32, u32, u32))) {
        let words = self.word_count();
        let mut offsets = vec![0usize; words + 1];
        each(&mut |w, _, _| offsets[w as usize + 1] += 1);
        for w in 0..words {
            offsets[w + 1] += offsets[w];
        }
        let mut fill = offsets.clone();
        let mut postings = vec![(0u32, 0u32); count];
        each(&mut |w, n, c| {
            let at = &mut fill[w as usize];
            postings[*at] = (n, c);
            *at += 1;
        });
        self.offsets = offsets;
        self.postings = postings;
    }

    /// The index after a change: `remap[i]` is the new position of the previous snapshot's
    /// note `i` (`u32::MAX` when it is gone), `added` the new positions of the notes of `all`
    /// that are new or changed.
    pub fn with_changes(
        &self,
        remap: &[u32],
        all: &[Arc<NoteEntry>],
        added: &[usize],
    ) -> WordIndex {
        let mut next = WordIndex {
            text: self.text.clone(),
            starts: self.starts.clone(),
            ids: self.ids.clone(),
            offsets: Vec::new(),
            postings: Vec::new(),
        };
        let mut fresh: Vec<(u32, u32, u32)> = Vec::new();
        let mut seen: FxHashMap<u32, usize> = FxHashMap::default();
        for &i in added {
            seen.clear();
            for word in words_of(&all[i].lower) {
                let id = next.intern(word);
                match seen.get(&id) {
                    Some(&slot) => fresh[slot].2 += 1,
                    None => {
                        seen.insert(id, fresh.len());
                        fresh.push((id, i as u32, 1));
                    }
                }
            }
        }
        let kept = self
            .postings
            .iter()
            .filter(|(n, _)| remap.get(*n as usize).is_some_and(|&m| m != u32::MAX))
            .count();
        let old_words = self.word_count();
        next.set_postings(kept + fresh.len(), |push| {
            for w in 0..old_words {
                for &(n, c) in &self.postings[self.offsets[w]..self.offsets[w + 1]] {
                    if let Some(&m) = remap.get(n as usize) {
                        if m != u32::MAX {
                            push(w as u32, m, c);
                        }
                    }
                }
            }
            for &(w, n, c) in &fresh {
                push(w, n, c);
            }
        });
        // Words no note holds any more are searched for nothing: start afresh once they are
        // the majority.
        let live = (0..next.word_count())
            .filter(|&w| next.offsets[w + 1] > next.offsets[w])
            .count();
        if next.word_count() > 64 && live * 2 < next.word_count() {
            return WordIndex::build(all);
        }
        next
    }

    /// Adds `weight × (non-overlapping count of the token in note i's content)` to
    /// `scores[i]` for every note.
    pub fn count(&self, finder: &Finder<'_>, weight: u64, scores: &mut [u64]) {
        let text = self.text.as_bytes();
        let mut word = 0usize;
        let mut per_word: Vec<(usize, u64)> = Vec::new();
        for pos in finder.find_iter(text) {
            // The word holding `pos`: the last start at or before it.
            word += self.starts[word..].partition_point(|&s| s <= pos) - 1;
            match per_word.last_mut() {
                Some((w, c)) if *w == word => *c += 1,
                _ => per_word.push((word, 1)),
            }
        }
        for (w, times) in per_word {
            for &(n, c) in &self.postings[self.offsets[w]..self.offsets[w + 1]] {
                if let Some(s) = scores.get_mut(n as usize) {
                    *s += weight * times * u64::from(c);
                }
            }
        }
    }

    /// Bytes held, for the benchmark's memory figure.
    pub fn memory_bytes(&self) -> usize {
        self.text.capacity() * 2
            + self.starts.capacity() * 8
            + self.ids.capacity() * 24
            + self.offsets.capacity() * 8
            + self.postings.capacity() * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vault::index::hash_bytes;
    use crate::vault::text::count_matches;

    fn notes(texts: &[&str]) -> Vec<Arc<NoteEntry>> {
        texts
            .iter()
            .enumerate()
            .map(|(i, t)| {
                Arc::new(NoteEntry::new(
                    format!("n{i}.md"),
                    (*t).into(),
                    1,
                    t.len() as i64,
                    hash_bytes(t.as_bytes()),
                ))
            })
            .collect()
    }

    /// The brute-force count over each note's lower-cased content.
    fn brute(notes: &[Arc<NoteEntry>], token: &str) -> Vec<u64> {
        let finder = Finder::new(token.as_bytes());
        notes
            .iter()
            .map(|n| count_matches(&n.lower, &finder))
            .collect()
    }

    fn counted(index: &WordIndex, n: usize, token: &str) -> Vec<u64> {
        let mut scores = vec![0; n];
        index.count(&Finder::new(token.as_bytes()), 1, &mut scores);
        scores
    }

    const TEXTS: &[&str] = &[
        "aaaa aa a\u{3000}a\u{feff}aaa",
        "검색기능 검색\r\n기능\u{2028}검색검색",
        "ΣΊΣΥΦΟΣ σίσυφος\u{85}x",
        "",
        "   ",
        "😀😀 party🎉party",
        "Foo foo FOO\tbar\u{a0}baz",
    ];
    const TOKENS: &[&str] = &[
        "a", "aa", "aaa", "검색", "기", "σ", "ς", "\u{85}", "x", "😀", "party", "foo", "o", "zz",
    ];

    #[test]
    fn counts_equal_the_brute_force_count() {
        let all = notes(TEXTS);
        let index = WordIndex::build(&all);
        for token in TOKENS {
            assert_eq!(
                counted(&index, all.len(), token),
                brute(&all, token),
                "{token}"
            );
        }
    }

    #[test]
    fn large_inputs_are_built_in_two_halves_with_the_same_counts() {
        let big = "ab abab b ".repeat(PARALLEL_BYTES / 5);
        let mut texts: Vec<&str> = TEXTS.to_vec();
        texts.insert(2, &big);
        texts.push(&big);
        let all = notes(&texts);
        let index = WordIndex::build(&all);
        for token in TOKENS.iter().chain(["ab", "b", "bab"].iter()) {
            assert_eq!(
                counted(&index, all.len(), token),
                brute(&all, token),
                "{token}"
            );
        }
    }

    #[test]
    fn changes_keep_counts_exact_and_stale_words_are_dropped() {
        let before = notes(TEXTS);
        let index = WordIndex::build(&before);
        // Remove notes 1 and 3, keep the others, add two new ones at positions 0 and 3.
        let added = notes(&["new 검색 aa", "σς fresh"]);
        let all: Vec<Arc<NoteEntry>> = vec![
            Arc::clone(&added[0]),
            Arc::clone(&before[0]),
            Arc::clone(&before[2]),
            Arc::clone(&added[1]),
            Arc::clone(&before[4]),
            Arc::clone(&before[5]),
            Arc::clone(&before[6]),
        ];
        let remap = [1, u32::MAX, 2, u32::MAX, 4, 5, 6];
        let next = index.with_changes(&remap, &all, &[0, 3]);
        for token in TOKENS.iter().chain(["new", "fresh"].iter()) {
            assert_eq!(
                counted(&next, all.len(), token),
                brute(&all, token),
                "{token}"
            );
        }
        // Replacing every note with new words leaves mostly stale words: rebuilt.
        let many: Vec<String> = (0..100).map(|i| format!("w{i} v{i}")).collect();
        let first = notes(&many.iter().map(String::as_str).collect::<Vec<_>>());
        let index = WordIndex::build(&first);
        let other: Vec<String> = (0..100).map(|i| format!("u{i}")).collect();
        let second = notes(&other.iter().map(String::as_str).collect::<Vec<_>>());
        let remap = vec![u32::MAX; 100];
        let added: Vec<usize> = (0..100).collect();
        let next = index.with_changes(&remap, &second, &added);
        assert_eq!(next.word_count(), 100);
        assert_eq!(counted(&next, 100, "u1")[1], 1);
        assert_eq!(counted(&next, 100, "w1"), vec![0; 100]);
    }
}
