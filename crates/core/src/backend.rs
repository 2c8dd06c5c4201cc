//! The facade both adapters call. Adapters convert types and errors; every rule lives here or
//! below. See CONTRACT.md §1 for the methods and §2.3 for the open sequence.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::events::{Bus, Event, Level, Subscription};
use crate::jobs::{
    self, handlers, queue, scheduler::Scheduler, Created, Handler, JobEvent, JobRecord, JobSystem,
    NewJob, STATUSES,
};
use crate::settings::{self, Settings};
use crate::store::{lock, run_blocking, Store};
use crate::time::now_iso;
use crate::validate::{item, missing_body, Fields, Source};

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

/// `GET /status` (CONTRACT.md §4.1).
#[derive(Debug, Serialize)]
pub struct Status {
    pub uptime_sec: u64,
    pub queue_depth: i64,
    pub workers: WorkerCounts,
    pub scheduler: SchedulerStatus,
    pub waiting_for_handler: Map<String, Value>,
}

/// Busy and idle workers.
#[derive(Debug, Serialize)]
pub struct WorkerCounts {
    pub active: usize,
    pub idle: usize,
}

/// Whether the scheduler runs, and how many periodic tasks it has.
#[derive(Debug, Serialize)]
pub struct SchedulerStatus {
    pub running: bool,
    pub jobs: u32,
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
        let memory = crate::memory::MemoryState::new();
        let claude = crate::claude::register_shared(&jobs, &config, &memory);
        let github = crate::github::GithubState::new(&config);
        crate::github::register(&jobs, &github);
        crate::suggest::register(&jobs, &config, &claude);
        let calendar = crate::calendar::CalendarState::new();
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

    /// `GET /health`.
    pub fn health(&self) -> Result<Value> {
        self.live()?;
        Ok(json!({ "status": "ok", "time": now_iso() }))
    }

    /// `GET /status`.
    pub async fn status(&self) -> Result<Status> {
        let inner = self.live()?;
        let (queue_depth, waiting) = inner.jobs.depth().await?;
        let current = self.settings().await?;
        let active = inner.jobs.active();
        let running = inner.scheduler.is_running();
        Ok(Status {
            uptime_sec: inner.started.elapsed().as_secs(),
            queue_depth,
            workers: WorkerCounts {
                active,
                idle: inner.jobs.workers().saturating_sub(active),
            },
            scheduler: SchedulerStatus {
                running,
                // Atlassian, calendar (unless off) and memory's hourly pass (CONTRACT.md §15.6).
                jobs: if running {
                    2 + u32::from(current.calendar_sync_interval_sec > 0)
                } else {
                    0
                },
            },
            waiting_for_handler: waiting.into_iter().map(|(t, n)| (t, json!(n))).collect(),
        })
    }

    async fn settings(&self) -> Result<Settings> {
        self.live()?.store.read(settings::load).await
    }

    /// `getSettings()` / `GET /settings`.
    pub async fn get_settings(&self) -> Result<Settings> {
        self.settings().await
    }

    /// `updateSettings(patch)` / `POST /settings`.
    pub async fn update_settings(&self, patch: &Value) -> Result<Settings> {
        let inner = self.live()?;
        if patch.is_null() {
            return Err(missing_body());
        }
        let patch = settings::validate_patch(patch)?;
        inner.store.write(move |c| settings::store(c, &patch)).await
    }

    /// A new event subscription; `None` once closed.
    pub fn subscribe(&self) -> Option<Subscription> {
        if self.is_closed() {
            return None;
        }
        self.inner.bus.subscribe()
    }

    /// Registers a handler of the host (JS) for `job_type` (CONTRACT.md §1.5).
    pub fn register_job_handler(
        &self,
        job_type: &str,
        max_attempts: i64,
        handler: Handler,
    ) -> Result<()> {
        self.live()?
            .jobs
            .register_external(job_type, max_attempts, handler)
    }

    /// `createJob(input)` / `POST /jobs`.
    pub async fn create_job(&self, input: &Value) -> Result<Created> {
        let inner = self.live()?;
        if input.is_null() {
            return Err(missing_body());
        }
        let mut f = Fields::new(Source::Body, input);
        let job_type = f.required_str("type", 1);
        let payload = f.optional_object("payload");
        let priority = f.optional_int("priority", Some(-1_000_000), Some(1_000_000));
        let max_attempts = f.optional_int("max_attempts", Some(1), Some(20));
        let unique_key = f.optional_str("unique_key", 1);
        let run_at = f.optional_str("run_at", 1);
        if let Some(t) = job_type.as_deref() {
            if inner.jobs.type_max_attempts(t).is_none() {
                f.error(
                    "value_error",
                    "type",
                    format!(
                        "Value error, unknown job type '{t}'; known types: {}",
                        inner.jobs.known_types().join(", ")
                    ),
                    json!(t),
                    Some(json!({ "error": "unknown job type" })),
                );
            }
        }
        f.finish()?;
        let run_at_ms = match run_at {
            None => None,
            Some(text) => Some(crate::time::parse_iso_input_ms(&text)?),
        };
        let job_type = job_type.unwrap_or_default();
        let mut job = NewJob::new(&job_type, Value::Object(payload.unwrap_or_default()));
        job.max_attempts = max_attempts
            .or_else(|| inner.jobs.type_max_attempts(&job_type))
            .unwrap_or(1);
        job.retry_failures = max_attempts.is_some_and(|n| n > 1);
        job.priority = priority.unwrap_or(0);
        job.run_at_ms = run_at_ms;
        job.unique_key = unique_key;
        job.log = Some(|id, t| format!("job queued {id} ({t})"));
        inner.jobs.create(job).await
    }

    /// `listJobs(query)` / `GET /jobs`.
    pub async fn list_jobs(&self, query: &Value) -> Result<Vec<JobRecord>> {
        let inner = self.live()?;
        let mut f = Fields::new(Source::Query, query);
        let status = f.optional_str("status", 0);
        if let Some(s) = status.as_deref() {
            if !STATUSES.contains(&s) {
                f.error(
                    "enum",
                    "status",
                    "Input should be 'queued', 'running', 'succeeded', 'failed' or 'canceled'",
                    json!(s),
                    Some(json!({ "expected": "'queued', 'running', 'succeeded', 'failed' or 'canceled'" })),
                );
            }
        }
        let job_type = f.optional_str("type", 0);
        let limit = f.optional_int("limit", Some(1), Some(1000)).unwrap_or(200);
        f.finish()?;
        inner
            .store
            .read(move |c| queue::list(c, status.as_deref(), job_type.as_deref(), limit))
            .await
    }

    /// `getJob(id)` / `GET /jobs/{job_id}`.
    pub async fn get_job(&self, job_id: &str) -> Result<JobRecord> {
        let id = job_id.to_string();
        self.live()?.store.read(move |c| queue::get(c, &id)).await
    }

    /// `cancelJob(id)` / `POST /jobs/{job_id}/cancel`.
    pub async fn cancel_job(&self, job_id: &str) -> Result<Created> {
        self.live()?.jobs.cancel(job_id).await
    }

    /// `listJobEvents(id)` / `GET /jobs/{job_id}/events`.
    pub async fn list_job_events(&self, job_id: &str) -> Result<Vec<JobEvent>> {
        let id = job_id.to_string();
        self.live()?
            .store
            .read(move |c| queue::events(c, &id))
            .await
    }

    /// `ctx.progress(value, message?)` of a host handler.
    pub async fn job_progress(&self, job_id: &str, value: &Value, message: &Value) -> Result<()> {
        let inner = self.live()?;
        let progress = value
            .as_f64()
            .filter(|p| p.is_finite() && (0.0..=1.0).contains(p));
        let Some(progress) = progress else {
            return Err(Error::invalid(item(
                "value_error",
                &[json!("progress")],
                "Value error, progress must be a finite number from 0 to 1",
                value.clone(),
                None,
            )));
        };
        let message = match message {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            other => {
                return Err(Error::invalid(item(
                    "string_type",
                    &[json!("message")],
                    "Input should be a valid string",
                    other.clone(),
                    None,
                )))
            }
        };
        let ctx = inner.jobs.context_of(job_id).await?;
        ctx.progress(progress, message, true, None).await
    }

    /// `ctx.log(level, message, meta?)` of a host handler.
    pub async fn job_log(
        &self,
        job_id: &str,
        level: &Value,
        message: &Value,
        meta: &Value,
    ) -> Result<()> {
        let inner = self.live()?;
        let level = level.as_str().and_then(Level::parse).ok_or_else(|| {
            Error::invalid(item(
                "enum",
                &[json!("level")],
                "Input should be 'info', 'warn' or 'error'",
                level.clone(),
                Some(json!({ "expected": "'info', 'warn' or 'error'" })),
            ))
        })?;
        let Value::String(message) = message else {
            return Err(Error::invalid(item(
                "string_type",
                &[json!("message")],
                "Input should be a valid string",
                message.clone(),
                None,
            )));
        };
        let meta = match meta {
            Value::Null => None,
            Value::Object(_) if crate::validate::not_json(meta).is_none() => {
                crate::validate::reject_not_json(&[json!("meta")], meta)?;
                Some(meta.clone())
            }
            other => {
                return Err(Error::invalid(item(
                    "dict_type",
                    &[json!("meta")],
                    "Input should be a valid dictionary",
                    other.clone(),
                    None,
                )))
            }
        };
        let ctx = inner.jobs.context_of(job_id).await?;
        ctx.log(level, message, meta).await
    }
}

/// The handler of a built-in type whose capability is not in this build yet: the type stays
/// known (the contract lists it), and its jobs fail with a clear message instead of waiting.
pub(crate) fn unavailable(job_type: &'static str) -> Handler {
    Arc::new(move |_ctx| {
        Box::pin(async move {
            Err(jobs::Failure::with_code(
                format!("{job_type} is not available in this version of enttok-backend"),
                "unavailable",
            ))
        })
    })
}
