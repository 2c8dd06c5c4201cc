//! Bringing an index up to date: a whole-vault scan (re-stat everything, re-read what changed)
//! and an update of named paths. Both commit one transaction, then swap the in-memory copy,
//! then publish `vault.changed` — only when something changed.

use std::collections::{HashMap, HashSet};
use std::sync::mpsc;
use std::sync::Arc;

use serde::Serialize;

use super::index::{read_note, Feed, NoteEntry, Snapshot, Write};
use super::registry::{Vault, VaultState};
use super::walk::{indexable, walk, FileStat, WalkError};
use crate::error::{Error, Result};
use crate::events::Event;
use crate::jobs::JobCtx;
use crate::store::run_blocking;
use crate::time::now_iso;

/// Files read per step of the blocking pool (between two progress reports).
const READ_CHUNK: usize = 512;

/// Reads note files (two threads for more than a few): the notes read, and the relative
/// paths that could not be read.
fn read_notes(root: &std::path::Path, files: &[FileStat]) -> (Vec<Arc<NoteEntry>>, Vec<String>) {
    let sequential = |files: &[FileStat]| {
        let mut read = Vec::with_capacity(files.len());
        let mut gone = Vec::new();
        for f in files {
            match read_note(root, f) {
                Some(note) => read.push(Arc::new(note)),
                None => gone.push(f.rel.clone()),
            }
        }
        (read, gone)
    };
    if files.len() < 16 {
        return sequential(files);
    }
    let (left, right) = files.split_at(files.len() / 2);
    std::thread::scope(|scope| {
        let other = scope.spawn(|| sequential(right));
        let (mut read, mut gone) = sequential(left);
        // Reading does not panic; should it, the other half is read again here.
        let (r, g) = other.join().unwrap_or_else(|_| sequential(right));
        read.extend(r);
        gone.extend(g);
        (read, gone)
    })
}

/// What a scan does beyond re-stating.
#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    /// Re-read every file, not only those whose mtime or size changed.
    pub force_full: bool,
    /// Empty the vault's rows first and index everything again (`index.rebuild`).
    pub rebuild: bool,
    /// Recorded by `index.rebuild`.
    pub embedding_model: Option<String>,
}

/// The result of a scan or an update.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ScanReport {
    pub vault_path: String,
    /// Note files found (scan) or paths looked at (update).
    pub scanned: usize,
    /// Files read.
    pub read: usize,
    /// Relative paths added or changed.
    pub changed: Vec<String>,
    /// Relative paths removed from the index.
    pub deleted: Vec<String>,
}

fn walk_error(root: &std::path::Path, e: WalkError) -> Error {
    match e {
        WalkError::Missing => {
            Error::NotFound(format!("vault folder not found: {}", root.display()))
        }
        WalkError::NotDir => Error::BadRequest(format!(
            "ENOTDIR: not a directory, scandir '{}'",
            root.display()
        )),
        WalkError::Io(e) => Error::from(e),
        WalkError::Stopped => Error::Canceled("scan stopped".into()),
    }
}

/// A stop test for blocking work: the job's abort signal or the backend closing.
fn stopper(state: &Arc<VaultState>, ctx: Option<&JobCtx>) -> Arc<dyn Fn() -> bool + Send + Sync> {
    let state = Arc::clone(state);
    let abort = ctx.map(|c| c.abort().clone());
    Arc::new(move || state.is_closed() || abort.as_ref().is_some_and(|a| a.is_fired()))
}

async fn report(ctx: Option<&JobCtx>, progress: f64, message: String, stage: &str) -> Result<()> {
    if let Some(ctx) = ctx {
        ctx.progress(progress, Some(message), true, Some(stage))
            .await?;
    }
    Ok(())
}

/// Re-stats the whole vault and re-reads what changed (everything with `force_full` or
/// `rebuild`). A vault folder that vanished fails the scan and leaves the index as it was.
///
/// Without a job (the first scan of a vault loaded by a call), the notes go to the SQLite
/// transaction as they are read, so reading and indexing overlap. A job reports its progress
/// through the database, so its scan reads everything first and then commits.
pub async fn scan(
    state: &Arc<VaultState>,
    vault: &Arc<Vault>,
    options: ScanOptions,
    ctx: Option<&JobCtx>,
) -> Result<ScanReport> {
    let _guard = vault.update.lock().await;
    let stop = stopper(state, ctx);
    report(ctx, 0.0, "walking".into(), "walking").await?;
    let root = vault.root.clone();
    let s = Arc::clone(&stop);
    let files = run_blocking(move || walk(&root, &*s).map_err(|e| walk_error(&root, e))).await?;
    let before = vault.snapshot();
    let known: HashMap<&str, &Arc<NoteEntry>> =
        before.notes.iter().map(|n| (n.rel.as_str(), n)).collect();
    let full = options.force_full || options.rebuild;
    let to_read: Vec<FileStat> = files
        .iter()
        .filter(|f| {
            full || known
                .get(f.rel.as_str())
                .is_none_or(|n| n.mtime_ms != f.mtime_ms || n.size != f.size)
        })
        .cloned()
        .collect();
    let total = to_read.len();
    report(
        ctx,
        0.1,
        format!("{} notes found, {total} to read", files.len()),
        "reading",
    )
    .await?;
    let write = Write {
        vault_id: vault.id,
        scanned: true,
        rebuild: options.rebuild,
        embedding_model: options.embedding_model.clone(),
        bulk: total >= super::index::BULK_NOTES,
    };
    let changes = Changes {
        vault,
        before: &before,
        known: &known,
        files: &files,
        rebuild: options.rebuild,
    };
    let (upserts, deleted) = if ctx.is_none() {
        let (feed, rx) = mpsc::channel();
        let writing = state.store.write_slow(move |c| write.run(c, &rx));
        let producing = async move {
            let (upserts, deleted) = changes.read(&to_read, &*stop, None, Some(&feed)).await?;
            // A closed feed means the write failed: its error is the one reported.
            let _ = feed.send(Feed::Done(deleted.clone()));
            let next = next_snapshot(vault, &upserts, &deleted, options.rebuild).await?;
            Ok::<_, Error>((upserts, deleted, next))
        };
        let (written, produced) = tokio::join!(writing, producing);
        let (upserts, deleted, next) = produced?;
        written?;
        if let Some(next) = next {
            vault.set_snapshot(Arc::new(next));
        }
        (upserts, deleted)
    } else {
        let (upserts, deleted) = changes.read(&to_read, &*stop, ctx, None).await?;
        report(ctx, 0.9, "indexing".into(), "indexing").await?;
        if stop() {
            return Err(Error::Canceled("scan stopped".into()));
        }
        commit(state, vault, write, upserts.clone(), deleted.clone()).await?;
        (upserts, deleted)
    };
    let changed = publish(state, vault, &upserts, deleted);
    Ok(ScanReport {
        vault_path: vault.root_text(),
        scanned: files.len(),
        read: total,
        changed: changed.0,
        deleted: changed.1,
    })
}

/// What a scan compares the files it reads with.
struct Changes<'a> {
    vault: &'a Arc<Vault>,
    before: &'a Snapshot,
    known: &'a HashMap<&'a str, &'a Arc<NoteEntry>>,
    files: &'a [FileStat],
    rebuild: bool,
}

impl Changes<'_> {
    /// Reads `to_read` by chunks: the notes that changed (each chunk's also sent to `feed`)
    /// and the relative paths the index loses.
    async fn read(
        &self,
        to_read: &[FileStat],
        stop: &(dyn Fn() -> bool + Send + Sync),
        ctx: Option<&JobCtx>,
        feed: Option<&mpsc::Sender<Feed>>,
    ) -> Result<(Vec<Arc<NoteEntry>>, Vec<String>)> {
        let total = to_read.len();
        let mut upserts: Vec<Arc<NoteEntry>> = Vec::new();
        let mut vanished: Vec<String> = Vec::new();
        for (n, chunk) in to_read.chunks(READ_CHUNK).enumerate() {
            if stop() {
                return Err(Error::Canceled("scan stopped".into()));
            }
            let root = self.vault.root.clone();
            let chunk = chunk.to_vec();
            let (read, gone) = run_blocking(move || Ok(read_notes(&root, &chunk))).await?;
            let changed: Vec<Arc<NoteEntry>> = if self.rebuild {
                read
            } else {
                read.into_iter()
                    .filter(|n| {
                        self.known.get(n.rel.as_str()).is_none_or(|old| {
                            old.hash != n.hash || old.mtime_ms != n.mtime_ms || old.size != n.size
                        })
                    })
                    .collect()
            };
            if let Some(feed) = feed {
                if !changed.is_empty() && feed.send(Feed::Notes(changed.clone())).is_err() {
                    // The write failed and ended: nothing more to read for it.
                    break;
                }
            }
            upserts.extend(changed);
            vanished.extend(gone);
            let done = ((n + 1) * READ_CHUNK).min(total);
            if total > 0 {
                report(
                    ctx,
                    0.1 + 0.8 * done as f64 / total as f64,
                    format!("read {done}/{total}"),
                    "reading",
                )
                .await?;
            }
        }
        let deleted: Vec<String> = if self.rebuild {
            // Everything not re-read is gone from the rebuilt index.
            let kept: HashSet<&str> = upserts.iter().map(|n| n.rel.as_str()).collect();
            self.before
                .notes
                .iter()
                .filter(|n| !kept.contains(n.rel.as_str()))
                .map(|n| n.rel.clone())
                .collect()
        } else {
            let present: HashSet<&str> = self.files.iter().map(|f| f.rel.as_str()).collect();
            let vanished: HashSet<&str> = vanished.iter().map(String::as_str).collect();
            self.before
                .notes
                .iter()
                .filter(|n| !present.contains(n.rel.as_str()) || vanished.contains(n.rel.as_str()))
                .map(|n| n.rel.clone())
                .collect()
        };
        Ok((upserts, deleted))
    }
}

/// Re-reads the named relative paths: present note files are (re)indexed when they changed,
/// absent ones removed. Paths the index never holds (not `.md`, inside skipped folders) are
/// ignored.
pub async fn update(
    state: &Arc<VaultState>,
    vault: &Arc<Vault>,
    paths: Vec<String>,
) -> Result<ScanReport> {
    let _guard = vault.update.lock().await;
    let mut paths: Vec<String> = paths.into_iter().filter(|p| indexable(p)).collect();
    paths.sort();
    paths.dedup();
    let root = vault.root.clone();
    let looked = paths.clone();
    let (read, gone) = run_blocking(move || {
        let mut read = Vec::new();
        let mut gone = Vec::new();
        for rel in looked {
            let path = root.join(&rel);
            // A path whose folder is a link, or whose file is a link, is not indexed (as a walk).
            let linked = rel_has_link(&root, &rel);
            let meta = std::fs::symlink_metadata(&path);
            let stat = match meta {
                Ok(m) if m.is_file() && !linked => FileStat {
                    rel: rel.clone(),
                    mtime_ms: super::text::mtime_ms(&m),
                    size: m.len() as i64,
                },
                _ => {
                    gone.push(rel);
                    continue;
                }
            };
            match read_note(&root, &stat) {
                Some(n) => read.push(Arc::new(n)),
                None => gone.push(rel),
            }
        }
        Ok((read, gone))
    })
    .await?;
    let before = vault.snapshot();
    let upserts: Vec<Arc<NoteEntry>> = read
        .into_iter()
        .filter(|n| {
            before.get(&n.rel).is_none_or(|old| {
                old.hash != n.hash || old.mtime_ms != n.mtime_ms || old.size != n.size
            })
        })
        .collect();
    let deleted: Vec<String> = gone
        .into_iter()
        .filter(|r| before.get(r).is_some())
        .collect();
    let write = Write {
        vault_id: vault.id,
        scanned: false,
        rebuild: false,
        embedding_model: None,
        bulk: upserts.len() >= super::index::BULK_NOTES,
    };
    commit(state, vault, write, upserts.clone(), deleted.clone()).await?;
    let (changed, deleted) = publish(state, vault, &upserts, deleted);
    Ok(ScanReport {
        vault_path: vault.root_text(),
        scanned: paths.len(),
        read: paths.len(),
        changed,
        deleted,
    })
}

/// True when a folder on the way from the root to `rel` is a symbolic link.
fn rel_has_link(root: &std::path::Path, rel: &str) -> bool {
    let mut at = root.to_path_buf();
    let mut parts: Vec<&str> = rel.split('/').collect();
    parts.pop();
    for p in parts {
        at.push(p);
        match std::fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_symlink() => return true,
            Ok(_) => {}
            Err(_) => return true,
        }
    }
    false
}

/// The in-memory copy after a change set (`None` when nothing changed).
async fn next_snapshot(
    vault: &Arc<Vault>,
    upserts: &[Arc<NoteEntry>],
    deleted: &[String],
    rebuild: bool,
) -> Result<Option<Snapshot>> {
    if upserts.is_empty() && deleted.is_empty() && !rebuild {
        return Ok(None);
    }
    let before = vault.snapshot();
    let ups = upserts.to_vec();
    let dels = deleted.to_vec();
    run_blocking(move || {
        Ok(Some(if rebuild {
            Snapshot::build(ups)
        } else {
            before.with_changes(&ups, &dels)
        }))
    })
    .await
}

/// Commits a change set and swaps the in-memory copy (built while SQLite commits; it
/// replaces the current one only once the commit succeeded).
async fn commit(
    state: &Arc<VaultState>,
    vault: &Arc<Vault>,
    write: Write,
    upserts: Vec<Arc<NoteEntry>>,
    deleted: Vec<String>,
) -> Result<()> {
    let rebuild = write.rebuild;
    if upserts.is_empty() && deleted.is_empty() && !write.scanned && !rebuild {
        return Ok(());
    }
    let (feed, rx) = mpsc::channel();
    // The receiver lives until the write ends: these sends cannot fail.
    let _ = feed.send(Feed::Notes(upserts.clone()));
    let _ = feed.send(Feed::Done(deleted.clone()));
    let writing = state.store.write_slow(move |c| write.run(c, &rx));
    let building = next_snapshot(vault, &upserts, &deleted, rebuild);
    let (written, next) = tokio::join!(writing, building);
    written?;
    if let Some(next) = next? {
        vault.set_snapshot(Arc::new(next));
    }
    Ok(())
}

/// Publishes `vault.changed` for a committed change set (when something changed); answers
/// the changed and deleted relative paths.
fn publish(
    state: &Arc<VaultState>,
    vault: &Arc<Vault>,
    upserts: &[Arc<NoteEntry>],
    deleted: Vec<String>,
) -> (Vec<String>, Vec<String>) {
    let changed: Vec<String> = upserts.iter().map(|n| n.rel.clone()).collect();
    if !changed.is_empty() || !deleted.is_empty() {
        state.bus.publish(Event::VaultChanged {
            vault_path: vault.root_text(),
            changed: changed.clone(),
            deleted: deleted.clone(),
            timestamp: now_iso(),
        });
    }
    (changed, deleted)
}
