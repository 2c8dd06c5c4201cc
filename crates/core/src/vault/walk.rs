//! Walking a vault folder: the notes it holds, with their stat, in the app's walk order.
//!
//! Rules (reference A.4 step 5, CONTRACT.md §17.1): depth-first, names in byte order; files
//! whose name ends with `.md` in any case; symbolic links (to files or folders) skipped; folders
//! whose name starts with `.` and `node_modules` skipped at any depth (a documented difference:
//! the app searched `.git` and `node_modules` too). Names that are not UTF-8 are skipped. A
//! subfolder that cannot be read (vanished, no permission) is skipped; only the root's failure
//! fails a walk.

use std::io::ErrorKind;
use std::path::Path;

use super::text::{has_md_suffix_ci, mtime_ms};

/// One note file found by a walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStat {
    /// Path relative to the vault, `/` separators, with its extension.
    pub rel: String,
    /// Node's `mtime` in milliseconds.
    pub mtime_ms: i64,
    /// Size in bytes.
    pub size: i64,
}

/// Why a walk failed: only the root can fail it.
#[derive(Debug)]
pub enum WalkError {
    /// The root does not exist (the app answers an empty search).
    Missing,
    /// The root is not a folder.
    NotDir,
    /// Another I/O failure of the root.
    Io(std::io::Error),
    /// Stopped (a job's abort signal, or the backend is closing).
    Stopped,
}

/// True for a folder name the index never enters.
pub fn skipped_dir(name: &str) -> bool {
    name.starts_with('.') || name == "node_modules"
}

/// True when a relative path lies inside a skipped folder (any of its folder segments).
pub fn in_skipped_dir(rel: &str) -> bool {
    let mut parts: Vec<&str> = rel.split('/').collect();
    parts.pop();
    parts.into_iter().any(skipped_dir)
}

/// True when a relative path names something the index holds: a `.md` file (any case)
/// outside skipped folders.
pub fn indexable(rel: &str) -> bool {
    !rel.is_empty() && has_md_suffix_ci(rel) && !in_skipped_dir(rel)
}

/// One entry of a folder: name, type (not following links), and for a note file its stat.
type Entry = (String, std::fs::FileType, Option<std::fs::Metadata>);

/// Sorted UTF-8 names of a folder with their file types (not following links); note files
/// come with their stat (taken relative to the open folder: no path lookup per file).
fn entries(dir: &Path) -> std::io::Result<Vec<Entry>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let Ok(entry) = entry else { continue };
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        // A link is neither a file nor a folder here, so this stat never follows one.
        let meta = if kind.is_file() && has_md_suffix_ci(&name) {
            match entry.metadata() {
                Ok(m) => Some(m),
                // Deleted since the listing: skipped.
                Err(_) => continue,
            }
        } else {
            None
        };
        out.push((name, kind, meta));
    }
    out.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    Ok(out)
}

/// Walks `root`; `stop` is polled between folders.
pub fn walk(root: &Path, stop: &dyn Fn() -> bool) -> Result<Vec<FileStat>, WalkError> {
    let top = match entries(root) {
        Ok(top) => top,
        Err(e) if e.kind() == ErrorKind::NotFound => return Err(WalkError::Missing),
        Err(e) if e.kind() == ErrorKind::NotADirectory || root.is_file() => {
            return Err(WalkError::NotDir)
        }
        Err(e) => return Err(WalkError::Io(e)),
    };
    let mut out = Vec::new();
    // An explicit stack of (relative folder, remaining entries reversed).
    let mut stack: Vec<(String, Vec<Entry>)> = Vec::new();
    let mut first = top;
    first.reverse();
    stack.push((String::new(), first));
    while let Some((prefix, pending)) = stack.last_mut() {
        let Some((name, kind, meta)) = pending.pop() else {
            stack.pop();
            continue;
        };
        let rel = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        if kind.is_dir() {
            if skipped_dir(&name) {
                continue;
            }
            if stop() {
                return Err(WalkError::Stopped);
            }
            // A folder that vanished or cannot be read is skipped.
            if let Ok(mut children) = entries(&root.join(&rel)) {
                children.reverse();
                stack.push((rel, children));
            }
        } else if let Some(meta) = meta {
            out.push(FileStat {
                rel,
                mtime_ms: mtime_ms(&meta),
                size: meta.len() as i64,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_in_byte_order_and_skips_what_the_index_skips() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for p in [
            "b.md",
            "B.md",
            "a.MD",
            "x.txt",
            "tie.md",
            "tie-b.md",
            "tie/x.md",
            ".git/c.md",
            "node_modules/d.md",
            "sub/.hidden/e.md",
            ".dot.md",
            "..dots.md",
        ] {
            let path = root.join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "x").unwrap();
        }
        std::fs::create_dir_all(root.join("dir.md")).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(root.join("b.md"), root.join("link.md")).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(root.join("nowhere"), root.join("broken.md")).unwrap();
        let found: Vec<String> = walk(root, &|| false)
            .unwrap()
            .into_iter()
            .map(|f| f.rel)
            .collect();
        assert_eq!(
            found,
            [
                "..dots.md",
                ".dot.md",
                "B.md",
                "a.MD",
                "b.md",
                "tie/x.md",
                "tie-b.md",
                "tie.md"
            ]
        );
        assert!(matches!(
            walk(&root.join("nope"), &|| false),
            Err(WalkError::Missing)
        ));
        assert!(matches!(
            walk(&root.join("b.md"), &|| false),
            Err(WalkError::NotDir)
        ));
        assert!(matches!(walk(root, &|| true), Err(WalkError::Stopped)));
    }
}
