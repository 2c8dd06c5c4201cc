//! Facade methods of the notes vault (CONTRACT.md §17). Inputs are the snake_case objects of
//! the HTTP API (body or query); the JS binding builds the same objects from its positional
//! arguments, so both surfaces share validation and answers.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use serde_json::{json, Value};

use super::files::{self, absolute, NoteInfo};
use super::registry::VaultState;
use super::search::{search, SearchAnswer, DEFAULT_LIMIT};
use super::text::{iso_ms, js_trim, mtime_ms, tokens};
use crate::error::{Error, Result};
use crate::store::run_blocking;
use crate::validate::{missing_body, Fields, Source};

/// Longest query accepted, in characters (a search box, not a document).
pub const MAX_QUERY_CHARS: usize = 1000;
/// Largest note `writeNote` accepts.
pub const MAX_WRITE_BYTES: usize = 32 * 1024 * 1024;

/// `readNote` answer.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NoteText {
    pub path: String,
    pub content: String,
    pub updated_at: String,
}

/// `writeNote` answer.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NoteWritten {
    pub path: String,
    pub updated_at: String,
}

/// `createDailyNote` answer.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DailyNote {
    pub file_path: String,
    pub created: bool,
}

fn body(input: &Value) -> Result<Fields<'_>> {
    if input.is_null() {
        return Err(missing_body());
    }
    Ok(Fields::new(Source::Body, input))
}

impl crate::Backend {
    fn vaults(&self) -> Result<&Arc<VaultState>> {
        self.check_open()?;
        Ok(self.vault_state())
    }

    /// Updates the index for one file the addon itself wrote, when a registered vault holds
    /// it (in the same call: the answer comes after the index commit).
    async fn index_own_write(&self, real: &Path) -> Result<()> {
        let state = self.vaults()?;
        if let Some((vault, rel)) = state.holding(real).await? {
            if super::walk::indexable(&rel) {
                super::scan::update(state, &vault, vec![rel]).await?;
            }
        }
        Ok(())
    }

    /// `searchNotes({vault_path, query, limit?})` / `POST /vault/search`: the app's results
    /// (reference A.4), answered from the index.
    pub async fn search_notes(&self, input: &Value) -> Result<SearchAnswer> {
        let state = self.vaults()?;
        let mut f = body(input)?;
        let vault_path = f.required_str("vault_path", 0);
        let query = f.optional_str("query", 0).unwrap_or_default();
        let limit = match f.raw("limit") {
            None | Some(Value::Null) => None,
            Some(_) => f.optional_int("limit", None, None),
        };
        if query.chars().count() > MAX_QUERY_CHARS {
            f.error(
                "string_too_long",
                "query",
                format!("String should have at most {MAX_QUERY_CHARS} characters"),
                Value::Null,
                Some(json!({ "max_length": MAX_QUERY_CHARS })),
            );
        }
        f.finish()?;
        let query = js_trim(&query).to_string();
        let vault_path = vault_path.unwrap_or_default();
        if vault_path.is_empty() {
            return Err(Error::BadRequest("Missing vault path".into()));
        }
        let root = absolute(&vault_path, "vault_path")?;
        let toks = tokens(&query);
        if toks.is_empty() {
            return Ok(SearchAnswer {
                query,
                results: Vec::new(),
            });
        }
        let Some(located) = state.locate(&root).await? else {
            // A missing folder is "no notes", as the app.
            return Ok(SearchAnswer {
                query,
                results: Vec::new(),
            });
        };
        let snapshot = located.vault.snapshot();
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        let results =
            run_blocking(move || Ok(search(&snapshot, &located.prefix, &root, &toks, limit)))
                .await?;
        Ok(SearchAnswer { query, results })
    }

    /// `listNotes(folder_path)` / `GET /vault/notes`: reference A.3.
    pub async fn list_notes(&self, input: &Value) -> Result<Vec<NoteInfo>> {
        self.vaults()?;
        let mut f = Fields::new(Source::Query, input);
        let folder = f.required_str("folder_path", 1);
        f.finish()?;
        let folder = absolute(&folder.unwrap_or_default(), "folder_path")?;
        run_blocking(move || files::list_notes(&folder)).await
    }

    /// `createNote(folder_path, title, {overwrite?})` / `POST /vault/notes`.
    pub async fn create_note(&self, input: &Value) -> Result<NoteInfo> {
        self.vaults()?;
        let mut f = body(input)?;
        let folder = f.required_str("folder_path", 1);
        let title = f.required_str("title", 1);
        let overwrite = f.optional_bool("overwrite").unwrap_or(false);
        f.finish()?;
        let folder = absolute(&folder.unwrap_or_default(), "folder_path")?;
        let title = title.unwrap_or_default();
        let (note, real) = run_blocking(move || {
            let note = files::create_note(&folder, &title, overwrite)?;
            let real = std::fs::canonicalize(&note.file_path)?;
            Ok((note, real))
        })
        .await?;
        self.index_own_write(&real).await?;
        Ok(note)
    }

    /// `getNotePath(folder_path, note_id)` / `GET /vault/note-path`: the path or `None`; never
    /// a path outside the folder.
    pub async fn get_note_path(&self, input: &Value) -> Result<Option<String>> {
        self.vaults()?;
        let mut f = Fields::new(Source::Query, input);
        let folder = f.required_str("folder_path", 1);
        let note_id = f.required_str("note_id", 0);
        f.finish()?;
        let folder = absolute(&folder.unwrap_or_default(), "folder_path")?;
        let note_id = note_id.unwrap_or_default();
        run_blocking(move || Ok(files::note_path(&folder, &note_id))).await
    }

    /// Resolves a note path for `readNote`/`writeNote`: absolute, and inside a registered
    /// vault once links are resolved. Answers the canonical path (of the file, or of its
    /// folder joined with its name when the file does not exist yet).
    async fn confined(&self, text: &str, field: &str) -> Result<PathBuf> {
        let state = self.vaults()?;
        let path = absolute(text, field)?;
        let given = path.clone();
        let name_of = field.to_string();
        let real = run_blocking(move || {
            let field = name_of;
            match std::fs::canonicalize(&given) {
                Ok(real) => Ok(real),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    let parent = given.parent().ok_or_else(|| {
                        Error::BadRequest(format!("{field} has no parent folder"))
                    })?;
                    let name = given
                        .file_name()
                        .ok_or_else(|| Error::BadRequest(format!("{field} has no file name")))?;
                    let parent = std::fs::canonicalize(parent).map_err(|_| {
                        Error::NotFound(format!(
                            "ENOENT: no such file or directory, open '{}'",
                            given.display()
                        ))
                    })?;
                    // A dangling link: its target decides, and it is outside or missing.
                    if std::fs::symlink_metadata(&given).is_ok() {
                        return Err(Error::BadRequest(format!(
                            "{field} is a link whose target is missing"
                        )));
                    }
                    Ok(parent.join(name))
                }
                Err(e) => Err(Error::from(e)),
            }
        })
        .await?;
        match state.holding(&real).await? {
            Some((_, rel)) if !rel.is_empty() => Ok(real),
            _ => Err(Error::BadRequest(format!(
                "{field} is not inside a registered vault: {}",
                path.display()
            ))),
        }
    }

    /// `readNote(path)` / `GET /vault/file`: a file inside a registered vault, as UTF-8 (invalid
    /// bytes become U+FFFD, as the app).
    pub async fn read_note(&self, input: &Value) -> Result<NoteText> {
        let mut f = Fields::new(Source::Query, input);
        let path = f.required_str("path", 1);
        f.finish()?;
        let path = path.unwrap_or_default();
        let real = self.confined(&path, "path").await?;
        let shown = files::display(Path::new(&path));
        run_blocking(move || {
            let meta = std::fs::metadata(&real).map_err(|_| {
                Error::NotFound(format!("ENOENT: no such file or directory, open '{shown}'"))
            })?;
            if !meta.is_file() {
                return Err(Error::BadRequest(format!(
                    "EISDIR: illegal operation on a directory, read '{shown}'"
                )));
            }
            let bytes = std::fs::read(&real)?;
            Ok(NoteText {
                path: shown,
                content: String::from_utf8_lossy(&bytes).into_owned(),
                updated_at: iso_ms(mtime_ms(&meta)),
            })
        })
        .await
    }

    /// `writeNote(path, content)` / `PUT /vault/file`: atomic (temporary file, fsync, rename),
    /// confined to registered vaults, the parent folder must exist (as the app); the index is
    /// updated before the answer.
    pub async fn write_note(&self, input: &Value) -> Result<NoteWritten> {
        let mut f = body(input)?;
        let path = f.required_str("path", 1);
        let content = f.required_str("content", 0);
        f.finish()?;
        let path = path.unwrap_or_default();
        let content = content.unwrap_or_default();
        if content.len() > MAX_WRITE_BYTES {
            return Err(Error::BadRequest(format!(
                "content is larger than {MAX_WRITE_BYTES} bytes"
            )));
        }
        let real = self.confined(&path, "path").await?;
        let target = real.clone();
        let shown = files::display(Path::new(&path));
        let updated_at = run_blocking(move || {
            if target.is_dir() {
                return Err(Error::BadRequest(format!(
                    "EISDIR: illegal operation on a directory, open '{}'",
                    target.display()
                )));
            }
            files::write_atomic(&target, content.as_bytes(), true)?;
            Ok(iso_ms(mtime_ms(&std::fs::metadata(&target)?)))
        })
        .await?;
        self.index_own_write(&real).await?;
        Ok(NoteWritten {
            path: shown,
            updated_at,
        })
    }

    async fn daily_input(
        &self,
        input: &Value,
        source: Source,
        date: bool,
    ) -> Result<(PathBuf, String)> {
        self.vaults()?;
        if source == Source::Body && input.is_null() {
            return Err(missing_body());
        }
        let mut f = Fields::new(source, input);
        let vault = f.required_str("vault_path", 1);
        let day = if date {
            f.required_str("date", 1)
        } else {
            None
        };
        f.finish()?;
        let vault = absolute(&vault.unwrap_or_default(), "vault_path")?;
        let day = day.unwrap_or_default();
        if date {
            files::check_segment(&day, "date")?;
        }
        Ok((vault, day))
    }

    async fn daily_folder(&self, vault: &Path) -> Result<PathBuf> {
        let settings = self.get_settings().await?;
        Ok(files::daily_folder(vault, &settings.daily_notes_folder))
    }

    /// `dailyNotePath(vault_path, date)` / `GET /vault/daily/path`: `<daily folder>/<date>.md`.
    pub async fn daily_note_path(&self, input: &Value) -> Result<String> {
        let (vault, date) = self.daily_input(input, Source::Query, true).await?;
        let folder = self.daily_folder(&vault).await?;
        Ok(files::display(&folder.join(format!("{date}.md"))))
    }

    /// `createDailyNote(vault_path, date)` / `POST /vault/daily`: the template with the date,
    /// unless the note exists (then untouched, `created: false`).
    pub async fn create_daily_note(&self, input: &Value) -> Result<DailyNote> {
        let (vault, date) = self.daily_input(input, Source::Body, true).await?;
        let settings = self.get_settings().await?;
        let folder = files::daily_folder(&vault, &settings.daily_notes_folder);
        let content = files::fill_template(&settings.daily_note_template, &date);
        let path = folder.join(format!("{date}.md"));
        let file_path = files::display(&path);
        let target = path.clone();
        let created = run_blocking(move || {
            std::fs::create_dir_all(&folder)?;
            if std::fs::metadata(&target).is_ok() {
                return Ok(false);
            }
            match files::write_atomic(&target, content.as_bytes(), false) {
                Ok(()) => Ok(true),
                Err(Error::Conflict(_)) => Ok(false),
                Err(e) => Err(e),
            }
        })
        .await?;
        // Naming a vault registers it (CONTRACT.md §17.1); the new note is indexed now.
        self.vaults()?.locate(&vault).await?;
        if created {
            if let Ok(real) = run_blocking(move || Ok(std::fs::canonicalize(&path)?)).await {
                self.index_own_write(&real).await?;
            }
        }
        Ok(DailyNote { file_path, created })
    }

    /// `listDailyNoteDates(vault_path)` / `GET /vault/daily/dates`.
    pub async fn list_daily_note_dates(&self, input: &Value) -> Result<Vec<String>> {
        let (vault, _) = self.daily_input(input, Source::Query, false).await?;
        let folder = self.daily_folder(&vault).await?;
        self.vaults()?.locate(&vault).await?;
        run_blocking(move || files::daily_dates(&folder)).await
    }
}
