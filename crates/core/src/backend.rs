//! The facade both adapters call, and its lifecycle: open and close, the lock file and this
//! process's claim on the data directory, the log writer, the accessors the capability modules
//! use, and event subscriptions (CONTRACT.md §2.3 for the open sequence). The facade's methods
//! live with their concept, each an `impl Backend` block: `jobs/api.rs`, `settings/api.rs`,
//! `status.rs`, and every capability's `api.rs`. Adapters convert types and errors; every rule
//! lives in the core.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::events::{Bus, Event, Level, Subscription};
use crate::jobs::{self, handlers, queue, scheduler::Scheduler, Handler, JobSystem};
use crate::store::{lock, run_blocking, Store};

/// The lock file that makes one process the owner of a data directory.
pub const LOCK_FILE: &str = ".enttok-backend.lock";

/// An open backend. Cheap to clone; every clone is the same backend.
#[derive(Clone)]
pub struct Backend {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    store: Arc<Store>,
    bus: Arc<Bus>,
    jobs: Arc<JobSystem>,
    scheduler: Arc<Scheduler>,
    started: Instant,
    closed: AtomicBool,
    close_done: tokio::sync::OnceCell<()>,
    /// The lock file and this process's claim on the data directory, released by `close`.
    lock_file: Mutex<Option<(File, DirClaim)>>,
    /// Pending Google OAuth flows and the HTTP adapter's port (in memory, CONTRACT.md §8.1).
    calendar: Arc<crate::calendar::CalendarState>,
    /// GitHub's per-backend state (CONTRACT.md §18).
    github: Arc<crate::github::GithubState>,
    /// Loaded vaults, their in-memory indexes and watchers (CONTRACT.md §17).
    vault: Arc<crate::vault::VaultState>,
    /// Memory's embedder, MCP endpoint and background tasks (CONTRACT.md §15, §16).
    memory: Arc<crate::memory::MemoryState>,
}

/// A handle on a backend that does not keep it alive (held by its own job system).
#[derive(Clone)]
pub(crate) struct WeakBackend(std::sync::Weak<Inner>);

impl WeakBackend {
    /// The backend, unless it was dropped.
    pub(crate) fn upgrade(&self) -> Option<Backend> {
        self.0.upgrade().map(|inner| Backend { inner })
    }
}

/// The data directories open in this process. The lock file alone does not keep a second
/// backend of the same process out if someone deleted it while the first one runs (a new file
/// locks fine), and SQLite's exclusive mode only refuses other processes.
static OPEN_DIRS: Mutex<Vec<std::path::PathBuf>> = Mutex::new(Vec::new());

/// This process's claim on a data directory; dropping it gives the directory back.
struct DirClaim(std::path::PathBuf);

impl DirClaim {
    fn take(config: &Config) -> Result<DirClaim> {
        let dir = config.data_dir.canonicalize()?;
        let mut open = lock(&OPEN_DIRS);
        if open.contains(&dir) {
            return Err(in_use(config));
        }
        open.push(dir.clone());
        Ok(DirClaim(dir))
    }
}

impl Drop for DirClaim {
    fn drop(&mut self) {
        lock(&OPEN_DIRS).retain(|d| d != &self.0);
    }
}

fn in_use(config: &Config) -> Error {
    Error::Conflict(format!(
        "data directory {} is already open in another backend",
        config.data_dir.display()
    ))
}

fn take_lock(config: &Config) -> Result<File> {
    let path = config.data_dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(in_use(config)),
        Err(std::fs::TryLockError::Error(err)) => Err(err.into()),
    }
}

/// Appends `log` events to `<logDir>/backend.log` (diagnostics; the format is not a contract).
fn spawn_log_writer(bus: &Bus, config: &Config) {
    let Some(mut sub) = bus.subscribe() else {
        return;
    };
    let path = config.log_dir.join("backend.log");
    tokio::spawn(async move {
        while let Some(batch) = sub.recv_batch(512).await {
            let lines: Vec<String> = batch
                .iter()
                .filter(|e| {
                    e.starts_with(r#"{"type":"log""#) || e.starts_with(r#"{"type":"lagged""#)
                })
                .map(|e| format!("{e}\n"))
                .collect();
            if lines.is_empty() {
                continue;
            }
            let path = path.clone();
            // Diagnostics must never hurt the backend: errors are ignored.
            let _ = run_blocking(move || {
                let mut f = OpenOptions::new().create(true).append(true).open(path)?;
                f.write_all(lines.concat().as_bytes())?;
                Ok(())
            })
            .await;
        }
    });
}

impl Backend {
    /// Opens a backend (CONTRACT.md §2.3). Must run inside a tokio runtime.
    pub async fn open(config: Config) -> Result<Backend> {
        let cfg = config.clone();
        let (store, lock_file) = run_blocking(move || {
            std::fs::create_dir_all(&cfg.data_dir)?;
            std::fs::create_dir_all(&cfg.log_dir)?;
            let claim = DirClaim::take(&cfg)?;
            let lock_file = take_lock(&cfg)?;
            let store = Store::open(&cfg.data_dir.join("index.db")).map_err(|err| {
                // The lock file was deleted while another process holds the database (its
                // connections take the file exclusively): the directory is still in use.
                if err.to_string().contains("database is locked") {
                    in_use(&cfg)
                } else {
                    err
                }
            })?;
            Ok((store, (lock_file, claim)))
        })
        .await?;
        let store = Arc::new(store);
        let bus = Arc::new(Bus::with_capacity(config.event_buffer));
        spawn_log_writer(&bus, &config);

        let jobs = JobSystem::new(Arc::clone(&store), Arc::clone(&bus), config.workers);
        jobs.register_builtin(jobs::DEMO, Arc::new(handlers::demo) as Handler);
        jobs.register_builtin(jobs::COMPACT, Arc::new(handlers::compact) as Handler);
        let memory = crate::memory::MemoryState::new(&store)?;
        let claude = crate::claude::register_shared(&jobs, &config, &memory);
        let github = crate::github::GithubState::new(&config);
        crate::github::register(&jobs, &github);
        crate::suggest::register(&jobs, &config, &claude);
        let calendar = crate::calendar::CalendarState::new(&store)?;
        crate::calendar::register(&jobs, &config, &calendar);
        crate::atlassian::register(&jobs, &config);
        let vault = crate::vault::VaultState::new(Arc::clone(&store), Arc::clone(&bus), &jobs);
        crate::vault::jobs::register(&jobs, &vault);
        crate::memory::register(&jobs, &memory);

        if let Some(key) = config.secret_key {
            store
                .write(move |c| crate::secrets::seal_existing(c, &key))
                .await?;
        }
        {
            let bus = Arc::clone(&bus);
            store.write(move |c| queue::recover(c, &bus, None)).await?;
        }
        bus.publish(Event::log(Level::Info, "backend started"));
        let scheduler = Scheduler::idle();
        // Built before the workers start, so that every job's context can reach the facade.
        let inner = Arc::new_cyclic(|weak| {
            jobs.set_facade(WeakBackend(weak.clone()));
            Inner {
                config,
                store,
                bus,
                jobs,
                scheduler,
                started: Instant::now(),
                closed: AtomicBool::new(false),
                close_done: tokio::sync::OnceCell::new(),
                lock_file: Mutex::new(Some(lock_file)),
                calendar,
                github,
                vault,
                memory,
            }
        });
        let i = &inner;
        i.jobs.start();
        for n in 0..i.config.workers {
            i.bus
                .publish(Event::log(Level::Info, format!("worker {n} ready")));
        }
        if i.config.scheduler {
            i.scheduler.start(
                Arc::clone(&i.store),
                Arc::clone(&i.bus),
                Arc::clone(&i.jobs),
                Arc::clone(&i.github),
            );
        }
        crate::memory::jobs::start(
            Arc::clone(&i.store),
            Arc::clone(&i.bus),
            Arc::clone(&i.jobs),
            Arc::clone(&i.memory),
            i.config.scheduler,
        );
        Ok(Backend { inner })
    }

    /// Shuts the backend down (CONTRACT.md §1.1 `close`). Idempotent: a second call waits for
    /// the first to finish and resolves too.
    pub async fn close(&self) -> Result<()> {
        self.inner.closed.store(true, Ordering::SeqCst);
        let inner = Arc::clone(&self.inner);
        self.inner
            .close_done
            .get_or_init(|| async move {
                inner.scheduler.stop();
                inner.memory.stop.cancel();
                inner.memory.words.clear();
                inner.calendar.shutdown();
                inner.github.shutdown();
                inner.vault.shutdown();
                // Errors while shutting down are reported as log events; close always finishes.
                if let Err(err) = inner.jobs.shutdown().await {
                    inner
                        .bus
                        .publish(Event::log(Level::Error, format!("shutdown: {err}")));
                }
                let store = Arc::clone(&inner.store);
                let _ = run_blocking(move || {
                    store.close();
                    Ok(())
                })
                .await;
                inner.bus.close();
                // Dropping the file releases the advisory lock.
                lock(&inner.lock_file).take();
            })
            .await;
        Ok(())
    }

    /// True once `close` was called.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::SeqCst)
    }

    /// `E_CLOSED` once closed; capability modules call it first in every facade method.
    pub fn check_open(&self) -> Result<()> {
        self.live().map(|_| ())
    }

    /// When the backend started (for `status`).
    pub(crate) fn started(&self) -> Instant {
        self.inner.started
    }

    /// The periodic scheduler (for `status`).
    pub(crate) fn scheduler(&self) -> &Arc<Scheduler> {
        &self.inner.scheduler
    }

    fn live(&self) -> Result<&Inner> {
        if self.is_closed() {
            Err(Error::Closed)
        } else {
            Ok(&self.inner)
        }
    }

    /// The validated configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The store (for the capability modules of the core).
    pub fn store(&self) -> &Arc<Store> {
        &self.inner.store
    }

    /// The bus (for the capability modules of the core).
    pub fn bus(&self) -> &Arc<Bus> {
        &self.inner.bus
    }

    /// The job system (for the capability modules of the core).
    pub fn jobs(&self) -> &Arc<JobSystem> {
        &self.inner.jobs
    }

    /// Tells the core which port the HTTP adapter serves (`None` when it stops): Google OAuth
    /// redirects go there instead of the core's own loopback listener (CONTRACT.md §8.1).
    pub fn set_http_port(&self, port: Option<u16>) {
        self.inner.calendar.set_http_port(port);
    }

    /// The in-memory copy of the calendar event rows `listCalendarEvents` answers from (for
    /// tests and benchmarks that check it is kept current).
    #[cfg(any(test, feature = "test-support"))]
    pub fn calendar_events_copy(&self) -> &crate::calendar::EventCache {
        &self.inner.calendar.events
    }

    /// The version of the calendar's watch of its event table (for tests that check the copy
    /// is kept current).
    #[cfg(any(test, feature = "test-support"))]
    pub fn calendar_events_version(&self) -> u64 {
        self.inner.calendar.events_table.version()
    }

    /// The calendar module's in-memory state.
    pub(crate) fn calendar_state(&self) -> &Arc<crate::calendar::CalendarState> {
        &self.inner.calendar
    }

    /// The GitHub module's state.
    pub(crate) fn github_state(&self) -> &Arc<crate::github::GithubState> {
        &self.inner.github
    }

    /// The vault module's state.
    pub fn vault_state(&self) -> &Arc<crate::vault::VaultState> {
        &self.inner.vault
    }

    /// The memory module's in-memory state.
    pub(crate) fn memory_state(&self) -> &Arc<crate::memory::MemoryState> {
        &self.inner.memory
    }

    /// Runs `f` — which starts several independent calls of this facade, e.g. the first poll
    /// of each call a host sent at once — with the writes they queue gathered into one group
    /// commit (`store::gather_writes`, now crate-private). The adapters reach batching through
    /// the facade, not the store.
    pub fn gather_writes<R>(f: impl FnOnce() -> R) -> R {
        crate::store::gather_writes(f)
    }

    /// A new event subscription; `None` once closed.
    pub fn subscribe(&self) -> Option<Subscription> {
        if self.is_closed() {
            return None;
        }
        self.inner.bus.subscribe()
    }
}
