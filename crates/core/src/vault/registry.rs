//! Registered vaults: the `vaults` table, and the vaults loaded in this process (their
//! in-memory [`Snapshot`], the lock that serialises their index changes, their watcher).
//!
//! A vault is a folder named by its absolute path; it is stored by its canonical path (links
//! resolved). The first call that names a folder registers it, unless the folder lies inside a
//! registered vault (outside its skipped folders): then that vault answers, with paths relative
//! to the folder asked about. A vault registered inside another one (a subfolder searched
//! before its parent) is absorbed when the outer one loads: unloaded and forgotten.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};

use super::index::{self, Snapshot};
use super::walk::in_skipped_dir;
use crate::error::{Error, Result};
use crate::events::Bus;
use crate::jobs::JobSystem;
use crate::store::{lock, run_blocking, Store};

/// One loaded vault.
pub struct Vault {
    /// Row id in `vaults`.
    pub id: i64,
    /// The canonical root.
    pub root: PathBuf,
    snapshot: RwLock<Arc<Snapshot>>,
    /// Held while the index of this vault changes (scan, update, own write).
    pub(crate) update: tokio::sync::Mutex<()>,
    ready: tokio::sync::OnceCell<()>,
    watch: Mutex<Option<super::watcher::Watch>>,
}

impl Vault {
    /// The current in-memory copy of the index.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&self.snapshot.read().unwrap_or_else(|p| p.into_inner()))
    }

    pub(crate) fn set_snapshot(&self, snapshot: Arc<Snapshot>) {
        *self.snapshot.write().unwrap_or_else(|p| p.into_inner()) = snapshot;
    }

    /// The root as text (the `vault_path` of events and jobs).
    pub fn root_text(&self) -> String {
        self.root.to_string_lossy().into_owned()
    }
}

/// The vault module's state in one backend.
pub struct VaultState {
    pub(crate) store: Arc<Store>,
    pub(crate) bus: Arc<Bus>,
    pub(crate) jobs: Weak<JobSystem>,
    loaded: Mutex<HashMap<PathBuf, Arc<Vault>>>,
    closed: AtomicBool,
}

/// A folder resolved to the vault that indexes it.
pub struct Located {
    pub vault: Arc<Vault>,
    /// The folder relative to the vault root, `""` or ending with `/`.
    pub prefix: String,
}

impl VaultState {
    /// The state of a new backend.
    pub fn new(store: Arc<Store>, bus: Arc<Bus>, jobs: &Arc<JobSystem>) -> Arc<VaultState> {
        Arc::new(VaultState {
            store,
            bus,
            jobs: Arc::downgrade(jobs),
            loaded: Mutex::new(HashMap::new()),
            closed: AtomicBool::new(false),
        })
    }

    /// Stops every watcher; walks in progress stop at their next folder.
    pub fn shutdown(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let vaults: Vec<Arc<Vault>> = lock(&self.loaded).drain().map(|(_, v)| v).collect();
        for vault in vaults {
            lock(&vault.watch).take();
        }
    }

    /// True once the backend closes.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    fn check_open(&self) -> Result<()> {
        if self.is_closed() {
            Err(Error::Closed)
        } else {
            Ok(())
        }
    }

    /// The loaded vaults (for tests and benchmarks).
    pub fn loaded(&self) -> Vec<Arc<Vault>> {
        lock(&self.loaded).values().cloned().collect()
    }

    /// Resolves an absolute folder to its vault, registering and indexing the folder when no
    /// registered vault holds it. `Ok(None)` when the folder does not exist.
    pub async fn locate(self: &Arc<Self>, folder: &Path) -> Result<Option<Located>> {
        self.check_open()?;
        let given = folder.to_path_buf();
        let canonical = run_blocking(move || match std::fs::canonicalize(&given) {
            Ok(c) if c.is_dir() => Ok(Some(c)),
            Ok(_) => Err(Error::BadRequest(format!(
                "ENOTDIR: not a directory, scandir '{}'",
                given.display()
            ))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::BadRequest(format!(
                "cannot open folder '{}': {e}",
                given.display()
            ))),
        })
        .await?;
        let Some(canonical) = canonical else {
            return Ok(None);
        };
        let registered = self.store.read(index::registered).await?;
        let best = registered
            .into_iter()
            .filter_map(|(id, path)| {
                let root = PathBuf::from(&path);
                let rest = canonical.strip_prefix(&root).ok()?;
                let rel = rel_text(rest)?;
                if !rel.is_empty() && in_skipped_dir(&format!("{rel}/x")) {
                    return None;
                }
                Some((id, root, rel))
            })
            .max_by_key(|(_, root, _)| root.as_os_str().len());
        let (root, prefix) = match best {
            Some((_, root, rel)) => {
                let prefix = if rel.is_empty() {
                    rel
                } else {
                    format!("{rel}/")
                };
                (root, prefix)
            }
            None => (canonical, String::new()),
        };
        let vault = self.load(&root).await?;
        Ok(Some(Located { vault, prefix }))
    }

    /// The registered vault holding an absolute, canonical path (the longest match), loaded.
    pub async fn holding(
        self: &Arc<Self>,
        canonical: &Path,
    ) -> Result<Option<(Arc<Vault>, String)>> {
        self.check_open()?;
        let registered = self.store.read(index::registered).await?;
        let best = registered
            .into_iter()
            .filter_map(|(_, path)| {
                let root = PathBuf::from(&path);
                let rel = rel_text(canonical.strip_prefix(&root).ok()?)?;
                Some((root, rel))
            })
            .max_by_key(|(root, _)| root.as_os_str().len());
        match best {
            Some((root, rel)) => Ok(Some((self.load(&root).await?, rel))),
            None => Ok(None),
        }
    }

    /// The loaded vault of a canonical root: registered, its index loaded from SQLite,
    /// watched, and re-scanned once in this process (changes made while the backend was not
    /// running are picked up here).
    pub async fn load(self: &Arc<Self>, root: &Path) -> Result<Arc<Vault>> {
        self.check_open()?;
        let existing = lock(&self.loaded).get(root).cloned();
        let vault = match existing {
            Some(v) => v,
            None => {
                let path = root.to_string_lossy().into_owned();
                let id = self.store.write(move |c| index::register(c, &path)).await?;
                let mut loaded = lock(&self.loaded);
                Arc::clone(loaded.entry(root.to_path_buf()).or_insert_with(|| {
                    Arc::new(Vault {
                        id,
                        root: root.to_path_buf(),
                        snapshot: RwLock::new(Arc::new(Snapshot::default())),
                        update: tokio::sync::Mutex::new(()),
                        ready: tokio::sync::OnceCell::new(),
                        watch: Mutex::new(None),
                    })
                }))
            }
        };
        let state = Arc::clone(self);
        let v = Arc::clone(&vault);
        vault
            .ready
            .get_or_try_init(|| async move {
                state.absorb_nested(&v).await?;
                let id = v.id;
                let notes = state.store.read_slow(move |c| index::load(c, id)).await?;
                let snapshot = run_blocking(move || Ok(Snapshot::build(notes))).await?;
                v.set_snapshot(Arc::new(snapshot));
                // Watch first, then scan: nothing changed in between is missed.
                match super::watcher::start(&state, &v) {
                    Ok(w) => *lock(&v.watch) = Some(w),
                    Err(e) => state.bus.publish(crate::events::Event::log(
                        crate::events::Level::Warn,
                        format!("vault watcher not started for {}: {e}", v.root.display()),
                    )),
                }
                super::scan::scan(&state, &v, super::scan::ScanOptions::default(), None).await?;
                Ok::<(), Error>(())
            })
            .await?;
        // Closed while this vault loaded: its watcher must not outlive the backend.
        if self.is_closed() {
            lock(&vault.watch).take();
            return Err(Error::Closed);
        }
        Ok(vault)
    }
}

impl VaultState {
    /// Vaults registered inside `outer` (outside its skipped folders), for instance a
    /// subfolder searched before its parent: `outer` indexes their notes now, so each one is
    /// unloaded (its watcher stopped, after any change in progress) and forgotten with its
    /// rows. A search of such a folder is then answered from `outer`'s index.
    async fn absorb_nested(self: &Arc<Self>, outer: &Arc<Vault>) -> Result<()> {
        let registered = self.store.read(index::registered).await?;
        for (id, path) in registered {
            let inner = PathBuf::from(&path);
            let Some(rel) = inner.strip_prefix(&outer.root).ok().and_then(rel_text) else {
                continue;
            };
            if id == outer.id || rel.is_empty() || in_skipped_dir(&format!("{rel}/x")) {
                continue;
            }
            let loaded = lock(&self.loaded).remove(&inner);
            let _quiet = match &loaded {
                Some(v) => {
                    lock(&v.watch).take();
                    Some(v.update.lock().await)
                }
                None => None,
            };
            self.store.write_slow(move |c| index::forget(c, id)).await?;
        }
        Ok(())
    }
}

/// A relative path as `/`-separated UTF-8 text (`None` when a part is not UTF-8).
pub fn rel_text(rest: &Path) -> Option<String> {
    let mut parts = Vec::new();
    for c in rest.components() {
        match c {
            std::path::Component::Normal(s) => parts.push(s.to_str()?),
            _ => return None,
        }
    }
    Some(parts.join("/"))
}
