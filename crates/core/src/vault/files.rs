//! Note files (reference A.3, A.5; CONTRACT.md §17): listing a folder, creating a note,
//! resolving a note id, reading and writing (atomically), daily notes. Everything here is
//! blocking file-system work: callers run it on tokio's blocking pool.

use std::io::{ErrorKind, Write as _};
use std::path::{Component, Path, PathBuf};

use serde::Serialize;

use super::text::{encode_uri_component, iso_ms, mtime_ms};
use crate::error::{Error, Result};

/// A note of a listing (`NoteInfo`, snake_case).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NoteInfo {
    pub id: String,
    pub title: String,
    pub file_path: String,
    pub updated_at: String,
}

/// Lexical normalization as Node's `path.join`/`normalize`: `.` dropped, `..` pops.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// A path as the text the API answers (normalized).
pub fn display(path: &Path) -> String {
    normalize(path).to_string_lossy().into_owned()
}

/// Rejects what no path input may be: empty, relative, holding a NUL byte. `field` names the
/// input in the message.
pub fn absolute(text: &str, field: &str) -> Result<PathBuf> {
    if text.contains('\0') {
        return Err(Error::BadRequest(format!(
            "{field} must not contain NUL bytes"
        )));
    }
    let path = Path::new(text);
    if text.is_empty() || !path.is_absolute() {
        return Err(Error::BadRequest(format!(
            "{field} must be an absolute path"
        )));
    }
    Ok(path.to_path_buf())
}

/// A single path segment a caller may name a file with (a title, a date): not empty, no
/// separator, no NUL, not `.` or `..`.
pub fn check_segment(text: &str, field: &str) -> Result<()> {
    if text.is_empty() || text == "." || text == ".." || text.contains(['/', '\\', '\0']) {
        return Err(Error::BadRequest(format!(
            "{field} must be a file name: not empty, no '/', '\\' or NUL, not '.' or '..'"
        )));
    }
    Ok(())
}

fn info(folder: &Path, name: &str, meta: &std::fs::Metadata) -> NoteInfo {
    let title = &name[..name.len() - 3];
    NoteInfo {
        id: encode_uri_component(title),
        title: title.to_string(),
        file_path: display(&folder.join(name)),
        updated_at: iso_ms(mtime_ms(meta)),
    }
}

/// `listNotes(folder)`: the root's `*.md` (case-sensitive) regular files, newest first, ties
/// in byte order of the names. Entries that are not regular files or cannot be stat'ed are
/// skipped (the app failed the whole call on one broken link: a documented difference).
pub fn list_notes(folder: &Path) -> Result<Vec<NoteInfo>> {
    let read = std::fs::read_dir(folder).map_err(|e| match e.kind() {
        ErrorKind::NotFound => Error::NotFound(format!(
            "ENOENT: no such file or directory, scandir '{}'",
            folder.display()
        )),
        _ if folder.is_file() => Error::BadRequest(format!(
            "ENOTDIR: not a directory, scandir '{}'",
            folder.display()
        )),
        _ => Error::from(e),
    })?;
    let mut names: Vec<String> = read
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".md"))
        .collect();
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    let mut notes: Vec<(i64, NoteInfo)> = names
        .iter()
        .filter_map(|name| {
            let meta = std::fs::metadata(folder.join(name)).ok()?;
            meta.is_file()
                .then(|| (mtime_ms(&meta), info(folder, name, &meta)))
        })
        .collect();
    notes.sort_by_key(|n| std::cmp::Reverse(n.0));
    Ok(notes.into_iter().map(|(_, n)| n).collect())
}

/// Writes `content` to `path` atomically: a temporary file in the same folder, `fsync`, then
/// a rename over the target (or, with `replace == false`, a link that fails when the target
/// exists). The folder is synced too, so the new name survives a crash. The parent folder
/// must exist. An existing file's permissions are kept.
pub fn write_atomic(path: &Path, content: &[u8], replace: bool) -> Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| Error::BadRequest("path has no parent folder".into()))?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| Error::BadRequest("path has no file name".into()))?;
    let mut suffix = [0u8; 6];
    let _ = getrandom::fill(&mut suffix);
    let tmp_name = format!(
        ".{name}.{}.enttok-tmp",
        suffix
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let tmp = dir.join(tmp_name);
    let result = (|| -> Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| match e.kind() {
                ErrorKind::NotFound => Error::NotFound(format!(
                    "ENOENT: no such file or directory, open '{}'",
                    path.display()
                )),
                _ => Error::from(e),
            })?;
        file.write_all(content)?;
        if let Ok(meta) = std::fs::metadata(path) {
            let _ = file.set_permissions(meta.permissions());
        }
        file.sync_all()?;
        drop(file);
        if replace {
            std::fs::rename(&tmp, path)?;
        } else {
            match std::fs::hard_link(&tmp, path) {
                Ok(()) => {
                    let _ = std::fs::remove_file(&tmp);
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                    return Err(Error::Conflict(format!(
                        "note already exists: {}",
                        path.display()
                    )))
                }
                // File systems without hard links: check, then rename (not atomic against a
                // concurrent creator, which only the app itself could be).
                Err(_) => {
                    if path.exists() {
                        return Err(Error::Conflict(format!(
                            "note already exists: {}",
                            path.display()
                        )));
                    }
                    std::fs::rename(&tmp, path)?;
                }
            }
        }
        sync_dir(dir);
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(unix)]
fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) {}

/// `createNote(folder, title)`: `mkdir -p folder`, then `# title\n\n` into `folder/title.md`,
/// never over an existing file unless `overwrite`.
pub fn create_note(folder: &Path, title: &str, overwrite: bool) -> Result<NoteInfo> {
    check_segment(title, "title")?;
    std::fs::create_dir_all(folder)?;
    let name = format!("{title}.md");
    let path = folder.join(&name);
    write_atomic(&path, format!("# {title}\n\n").as_bytes(), overwrite)?;
    let meta = std::fs::metadata(&path)?;
    Ok(info(folder, &name, &meta))
}

/// `getNotePath(folder, id)`: `folder/decodeURIComponent(id).md` when it exists and lies
/// inside the folder (after resolving links); `None` otherwise, and for malformed ids.
pub fn note_path(folder: &Path, note_id: &str) -> Option<String> {
    let decoded = super::text::decode_uri_component(note_id)?;
    if decoded.contains('\0') {
        return None;
    }
    let joined = normalize(&folder.join(format!("{decoded}.md")));
    let base = normalize(folder);
    if !joined.starts_with(&base) || joined == base {
        return None;
    }
    let real_base = std::fs::canonicalize(folder).ok()?;
    let real = std::fs::canonicalize(&joined).ok()?;
    if !real.starts_with(&real_base) {
        return None;
    }
    Some(joined.to_string_lossy().into_owned())
}

/// The daily-notes folder segments (reference A.5): the setting trimmed, `\` as `/`; the
/// default `daily` when it is empty, absolute, a drive path, or holds `.`/`..` segments.
pub fn daily_segments(setting: &str) -> Vec<String> {
    let value = super::text::js_trim(setting).replace('\\', "/");
    let fallback = vec!["daily".to_string()];
    let bytes = value.as_bytes();
    if value.is_empty()
        || value.starts_with('/')
        || (bytes.len() >= 3
            && bytes[0].is_ascii_alphabetic()
            && bytes[1] == b':'
            && bytes[2] == b'/')
    {
        return fallback;
    }
    let parts: Vec<String> = value
        .split('/')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    if parts.is_empty()
        || parts
            .iter()
            .any(|p| p == "." || p == ".." || p.contains('\0'))
    {
        return fallback;
    }
    parts
}

/// The daily folder of a vault.
pub fn daily_folder(vault: &Path, setting: &str) -> PathBuf {
    let mut p = vault.to_path_buf();
    for s in daily_segments(setting) {
        p.push(s);
    }
    p
}

/// The template with every `{{ date }}` replaced (`/\{\{\s*date\s*\}\}/g`, JS whitespace).
pub fn fill_template(template: &str, date: &str) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(i) = rest.find("{{") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let inner = after.trim_start_matches(super::text::is_js_space);
        let matched = inner.strip_prefix("date").and_then(|t| {
            t.trim_start_matches(super::text::is_js_space)
                .strip_prefix("}}")
        });
        match matched {
            Some(tail) => {
                out.push_str(date);
                rest = tail;
            }
            None => {
                out.push('{');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// `listDailyNoteDates`: names `\d{4}-\d{2}-\d{2}.md` of the daily folder, without `.md`,
/// in byte order; an absent folder gives none.
pub fn daily_dates(folder: &Path) -> Result<Vec<String>> {
    let read = match std::fs::read_dir(folder) {
        Ok(r) => r,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let mut dates: Vec<String> = read
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| {
            let b = n.as_bytes();
            b.len() == 13
                && n.ends_with(".md")
                && b[..10].iter().enumerate().all(|(i, c)| {
                    if i == 4 || i == 7 {
                        *c == b'-'
                    } else {
                        c.is_ascii_digit()
                    }
                })
        })
        .map(|n| n[..10].to_string())
        .collect();
    dates.sort();
    Ok(dates)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daily_folder_rules_follow_the_app() {
        assert_eq!(daily_segments(" journal\\daily/ "), ["journal", "daily"]);
        for bad in ["", "  ", "/abs", "C:/x", "a/../b", "./a", "//"] {
            assert_eq!(daily_segments(bad), ["daily"], "{bad:?}");
        }
    }

    #[test]
    fn template_replaces_date_with_inner_spaces() {
        assert_eq!(
            fill_template("# {{date}} {{ date }} {{x}} {{", "D"),
            "# D D {{x}} {{"
        );
        assert_eq!(fill_template("", "D"), "");
    }

    #[test]
    fn atomic_writes_never_overwrite_unless_asked() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("n.md");
        write_atomic(&p, b"one", false).unwrap();
        let err = write_atomic(&p, b"two", false).unwrap_err();
        assert_eq!(err.code(), "E_CONFLICT");
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "one");
        write_atomic(&p, b"three", true).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "three");
        // No temporary file is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let missing = dir.path().join("nope/n.md");
        assert_eq!(
            write_atomic(&missing, b"x", true).unwrap_err().code(),
            "E_NOT_FOUND"
        );
    }

    #[test]
    fn note_paths_never_leave_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let vault = dir.path().join("v");
        std::fs::create_dir_all(vault.join("sub")).unwrap();
        std::fs::write(vault.join("sub/a b.md"), "x").unwrap();
        std::fs::write(dir.path().join("outside.md"), "x").unwrap();
        assert_eq!(
            note_path(&vault, "sub%2Fa%20b"),
            Some(vault.join("sub/a b.md").to_string_lossy().into_owned())
        );
        assert_eq!(note_path(&vault, "..%2Foutside"), None);
        assert_eq!(note_path(&vault, "%E0%A4%A"), None);
        assert_eq!(note_path(&vault, "missing"), None);
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(dir.path().join("outside.md"), vault.join("link.md"))
                .unwrap();
            assert_eq!(note_path(&vault, "link"), None);
        }
    }
}
