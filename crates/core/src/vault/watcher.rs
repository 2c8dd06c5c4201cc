//! The file watcher of a loaded vault: `notify` (inotify, FSEvents, ReadDirectoryChangesW),
//! debounced, queueing `index.update` jobs for changed note files and a `vault.scan` job when
//! a folder changed (a rename or removal of a folder touches every note under it).
//!
//! The watcher runs on `notify`'s own thread, which never keeps Node alive; dropping [`Watch`]
//! (at `close`) stops it, and the forwarding task ends with it.

use std::path::PathBuf;
use std::sync::{Arc, Weak};
use std::time::Duration;

use notify::RecursiveMode;
use notify_debouncer_mini::{new_debouncer, DebounceEventResult, Debouncer};
use serde_json::json;

use super::registry::{rel_text, Vault, VaultState};
use super::text::has_md_suffix_ci;
use super::walk::{in_skipped_dir, skipped_dir};
use crate::error::{Error, Result};
use crate::jobs::{JobSystem, NewJob};
use crate::store::run_blocking;

/// Quiet time before a batch of changes is handed on.
pub const DEBOUNCE: Duration = Duration::from_millis(150);

/// A running watcher; dropping it stops it.
pub struct Watch {
    _debouncer: Debouncer<notify::RecommendedWatcher>,
}

/// Starts watching a vault (recursively).
pub fn start(state: &Arc<VaultState>, vault: &Arc<Vault>) -> Result<Watch> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Vec<PathBuf>>();
    let mut debouncer = new_debouncer(DEBOUNCE, move |res: DebounceEventResult| {
        if let Ok(events) = res {
            let _ = tx.send(events.into_iter().map(|e| e.path).collect());
        }
    })
    .map_err(|e| Error::internal(format!("file watcher: {e}")))?;
    debouncer
        .watcher()
        .watch(&vault.root, RecursiveMode::Recursive)
        .map_err(|e| Error::internal(format!("file watcher: {e}")))?;
    let jobs: Weak<JobSystem> = state.jobs.clone();
    let root = vault.root.clone();
    let weak_state = Arc::downgrade(state);
    tokio::spawn(async move {
        while let Some(paths) = rx.recv().await {
            // `classify` stats paths: on the blocking pool, never on an async worker.
            let at = root.clone();
            let Ok((changed, rescan)) = run_blocking(move || Ok(classify(&at, paths))).await else {
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

/// Splits a batch into changed note paths (relative) and whether a folder changed.
fn classify(root: &std::path::Path, paths: Vec<PathBuf>) -> (Vec<String>, bool) {
    let mut changed = Vec::new();
    let mut rescan = false;
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
        } else if !path.exists() && !name.starts_with('.') {
            // Something went away that may have been a folder: re-stat the vault. (Our own
            // temporary files start with `.`, so our writes never cause this.)
            rescan = true;
        }
    }
    changed.sort();
    changed.dedup();
    (changed, rescan)
}
