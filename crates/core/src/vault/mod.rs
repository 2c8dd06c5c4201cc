//! The notes vault (CONTRACT.md §17, reference A): an index of every note of a folder that is
//! always current, `searchNotes` with exactly the app's results answered from it, and note
//! file operations that never lose a word.
//!
//! - [`text`]: the app's JS string semantics (whitespace, lower-casing, UTF-16, URI ids);
//! - [`walk`]: which files a vault holds, in the app's walk order;
//! - [`index`]: the SQLite index (`vault_notes`, FTS5 `trigram`) and its in-memory copy;
//! - [`registry`]: registered and loaded vaults;
//! - [`scan`]: scans and updates (commit, swap the copy, then `vault.changed`);
//! - [`search`]: the search over the copy;
//! - [`words`]: the word index of the copy (distinct words and their notes);
//! - [`files`]: listing, creating, reading, atomic writing, daily notes;
//! - [`watcher`]: the debounced file watcher queueing `index.update` / `vault.scan` jobs;
//! - [`jobs`]: the `vault.scan`, `index.rebuild`, `index.update` handlers;
//! - `api`: the facade methods on [`Backend`](crate::Backend).

mod api;
pub mod files;
pub mod index;
pub mod jobs;
pub mod registry;
pub mod scan;
pub mod search;
pub mod text;
pub mod walk;
pub mod watcher;
pub mod words;

pub use api::{DailyNote, NoteText, NoteWritten, MAX_QUERY_CHARS};
pub use files::NoteInfo;
pub use registry::VaultState;
pub use search::{SearchAnswer, SearchHit};
