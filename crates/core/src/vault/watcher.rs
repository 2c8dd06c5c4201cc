//! The file watcher of a loaded vault: `notify` (inotify, FSEvents, ReadDirectoryChangesW),
//! debounced, queueing `index.update` jobs for changed note files and a `vault.scan` job when
//! a folder changed (a rename or removal of a folder touches every note under it).
//!
//! On Linux (inotify: one watch per folder) the vault's folders are watched one by one, so
//! the skipped folders (`.git`, `node_modules`, …) cost no watch at all; a folder that appears
//! later is watched when its event arrives, before the scan that event queues walks it, so
//! nothing created inside it is missed. Elsewhere (FSEvents, ReadDirectoryChangesW: one
//! recursive handle) the root is watched recursively and events inside skipped folders are
//! dropped.
//!
//! The watcher runs on `notify`'s own thread, which never keeps Node alive; dropping [`Watch`]
//! (at `close`) stops it, and the forwarding task ends with it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use notify::RecursiveMode;
use notify_debouncer_mini::{new_debouncer, DebounceEventResult, Debouncer};
use serde_json::json;

use super::registry::{rel_text, Vault, VaultState};
use super::text::has_md_suffix_ci;
use super::walk::{in_skipped_dir, skipped_dir};
use crate::error::{Error, Result};
use crate::jobs::{JobSystem, NewJob};
use crate::store::{lock, run_blocking};

/// Quiet time before a batch of changes is handed on.
pub const DEBOUNCE: Duration = Duration::from_millis(150);

type Watcher = Debouncer<notify::RecommendedWatcher>;

/// A running watcher; dropping it stops it.
pub struct Watch {
    _debouncer: Arc<Mutex<Watcher>>,
}

/// Watches `dir` and every folder under it the index enters, one by one (links not
/// followed). Only the failure to watch `dir` itself is an error: a subfolder may vanish.
#[cfg(target_os = "linux")]
fn watch_tree(watcher: &Mutex<Watcher>, dir: &Path) -> notify::Result<()> {
    lock(watcher)
        .watcher()
        .watch(dir, RecursiveMode::NonRecursive)?;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(at) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&at) else {
            continue;
        };
        for entry in entries.flatten() {
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            let name = entry.file_name();
            if !is_dir || name.to_str().is_none_or(skipped_dir) {
                continue;
            }
            let path = entry.path();
            if lock(watcher)
                .watcher()
                .watch(&path, RecursiveMode::NonRecursive)
                .is_ok()
            {
                stack.push(path);
            }
        }
    }
    Ok(())
}

/// Watches the root recursively (one handle on these platforms).
#[cfg(not(target_os = "linux"))]
fn watch_tree(watcher: &Mutex<Watcher>, dir: &Path) -> notify::Result<()> {
    lock(watcher).watcher().watch(dir, RecursiveMode::Recursive)
}

/// A folder that appeared: watched with what it holds (a recursive watch covers it already).
fn watch_new(watcher: &Mutex<Watcher>, dir: &Path) {
    if cfg!(target_os = "linux") {
        let _ = watch_tree(watcher, dir);
    }
}

/// Starts watching a vault (recursively).
pub fn start(state: &Arc<VaultState>, vault: &Arc<Vault>) -> Result<Watch> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Vec<PathBuf>>();
    let debouncer = new_debouncer(DEBOUNCE, move |res: DebounceEventResult| {
        if let Ok(events) = res {
            let _ = tx.send(events.into_iter().map(|e| e.path).collect());
        }
    })
    .map_err(|e| Error::internal(format!("file watcher: {e}")))?;
    let debouncer = Arc::new(Mutex::new(debouncer));
    watch_tree(&debouncer, &vault.root)
        .map_err(|e| Error::internal(format!("file watcher: {e}")))?;
    let watcher = Arc::downgrade(&debouncer);
    let jobs: Weak<JobSystem> = state.jobs.clone();
    let root = vault.root.clone();
    let weak_state = Arc::downgrade(state);
    tokio::spawn(async move {
        while let Some(paths) = rx.recv().await {
            // `classify` stats paths: on the blocking pool, never on an async worker.
            let at = root.clone();
            let w = watcher.clone();
            let classified = run_blocking(move || {
                let (changed, rescan, folders) = classify(&at, paths);
                // Watched before the scan queued below walks them.
                if let Some(w) = w.upgrade() {
                    for folder in folders {
                        watch_new(&w, &folder);
                    }
                }
                Ok((changed, rescan))
            })
            .await;
            let Ok((changed, rescan)) = classified else {
                return;
            };
            let (Some(jobs), Some(state)) = (jobs.upgrade(), weak_state.upgrade()) else {
                return;
            };
            if state.is_closed() {
                return;
            }
            let vault_path = root.to_string_lossy().into_owned();
            if rescan {
                let mut job =
                    NewJob::new(super::jobs::VAULT_SCAN, json!({ "vault_path": vault_path }));
                job.unique_key = Some(format!("vault.scan:{vault_path}"));
                let _ = jobs.create(job).await;
            }
            if !changed.is_empty() {
                let job = NewJob::new(
                    super::jobs::INDEX_UPDATE,
                    json!({ "vault_path": vault_path, "changed_paths": changed, "deleted_paths": [] }),
                );
                let _ = jobs.create(job).await;
            }
        }
    });
    Ok(Watch {
        _debouncer: debouncer,
    })
}

/// Splits a batch into changed note paths (relative), whether a folder changed, and the
/// folders (not links) the index enters that are there now.
fn classify(root: &Path, paths: Vec<PathBuf>) -> (Vec<String>, bool, Vec<PathBuf>) {
    let mut changed = Vec::new();
    let mut rescan = false;
    let mut folders = Vec::new();
    for path in paths {
        let Ok(rest) = path.strip_prefix(root) else {
            continue;
        };
        let Some(rel) = rel_text(rest) else { continue };
        if rel.is_empty() {
            rescan = true;
            continue;
        }
        if in_skipped_dir(&rel) {
            continue;
        }
        let name = rel.rsplit('/').next().unwrap_or(&rel);
        if has_md_suffix_ci(name) && !path.is_dir() {
            changed.push(rel);
        } else if path.is_dir() && !skipped_dir(name) {
            rescan = true;
            if std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) {
                folders.push(path);
            }
        } else if !path.exists() && !name.starts_with('.') {
            // Something went away that may have been a folder: re-stat the vault. (Our own
            // temporary files start with `.`, so our writes never cause this.)
            rescan = true;
        }
    }
    changed.sort();
    changed.dedup();
    (changed, rescan, folders)
}
