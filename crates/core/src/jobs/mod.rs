//! The durable job queue: registry of handlers, a fixed pool of workers, cancellation,
//! retries and crash recovery (CONTRACT.md §6).

mod api;
mod context;
pub(crate) mod handlers;
mod model;
pub(crate) mod queue;
pub(crate) mod scheduler;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::{oneshot, Notify};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub(crate) use api::unavailable;
pub use context::{Abort, AbortReason, BoxFuture, JobCtx, OwnedUpdate};
pub use model::*;
pub use queue::{Created, NewJob};

use crate::error::{Error, Result};
use crate::events::{Bus, Event, Level};
use crate::store::{lock, Store, WriteCtx};

/// A job handler: takes the context, returns the outcome. Panics are caught by the worker.
pub type Handler = Arc<dyn Fn(JobCtx) -> BoxFuture<Outcome> + Send + Sync>;

/// How long a stopped handler may take to settle before its slot is freed anyway.
pub const ABORT_GRACE: Duration = Duration::from_secs(5);

/// How often an idle worker looks at the queue even without a wake-up (delayed jobs, and
/// jobs inserted by hand into the database).
const IDLE_POLL: Duration = Duration::from_millis(1000);

/// Most jobs one claim takes. The extra ones wait in a shared in-memory line that every
/// worker serves before it claims again: a busy queue then costs one claim — and, since the
/// writes of a job are pipelined, one commit — per batch instead of per job. The price is
/// that a job created with a higher priority meanwhile runs after the (at most this many)
/// jobs already taken.
const CLAIM_BATCH: usize = 8;

/// Unconfirmed final writes a worker may carry before it waits for them.
const MAX_UNSETTLED: usize = 2 * CLAIM_BATCH;

struct Registered {
    handler: Handler,
    max_attempts: i64,
    builtin: bool,
}

/// The jobs part of an open backend.
pub struct JobSystem {
    store: Arc<Store>,
    bus: Arc<Bus>,
    registry: RwLock<BTreeMap<String, Registered>>,
    /// Abort signals of the jobs workers run, and jobs canceled while held but not yet run.
    live: Mutex<Live>,
    /// Jobs claimed by a batch, waiting for a worker (see [`CLAIM_BATCH`]).
    claimed: Mutex<std::collections::VecDeque<Claimed>>,
    active: AtomicUsize,
    workers: usize,
    wake: Notify,
    stop: CancellationToken,
    handles: Mutex<Vec<JoinHandle<()>>>,
    /// The backend the handlers' contexts reach (see [`JobCtx::backend`]), set once it exists.
    facade: std::sync::OnceLock<crate::backend::WeakBackend>,
}

impl JobSystem {
    /// A job system over `store`; no worker runs until [`JobSystem::start`].
    pub fn new(store: Arc<Store>, bus: Arc<Bus>, workers: usize) -> Arc<JobSystem> {
        Arc::new(JobSystem {
            store,
            bus,
            registry: RwLock::new(BTreeMap::new()),
            live: Mutex::new(Live::default()),
            claimed: Mutex::new(std::collections::VecDeque::new()),
            active: AtomicUsize::new(0),
            workers,
            wake: Notify::new(),
            stop: CancellationToken::new(),
            handles: Mutex::new(Vec::new()),
            facade: std::sync::OnceLock::new(),
        })
    }

    /// Lets handlers reach the backend's facade (called once by `Backend::open`).
    pub(crate) fn set_facade(&self, backend: crate::backend::WeakBackend) {
        let _ = self.facade.set(backend);
    }

    /// Registers a built-in handler.
    pub fn register_builtin(&self, job_type: &str, handler: Handler) {
        let mut registry = self.registry.write().unwrap_or_else(|p| p.into_inner());
        registry.insert(
            job_type.to_string(),
            Registered {
                handler,
                max_attempts: default_max_attempts(job_type),
                builtin: true,
            },
        );
    }

    /// Registers (or replaces) a handler of the host, e.g. a JS function. Built-in types are
    /// `E_CONFLICT`; an empty type is `E_INVALID_INPUT`.
    pub fn register_external(
        &self,
        job_type: &str,
        max_attempts: i64,
        handler: Handler,
    ) -> Result<()> {
        if job_type.is_empty() {
            return Err(Error::BadRequest(
                "job type must be a non-empty string".into(),
            ));
        }
        if !(1..=20).contains(&max_attempts) {
            return Err(Error::BadRequest(
                "maxAttempts must be an integer from 1 to 20".into(),
            ));
        }
        {
            let mut registry = self.registry.write().unwrap_or_else(|p| p.into_inner());
            if registry.get(job_type).is_some_and(|r| r.builtin) {
                return Err(Error::Conflict(format!(
                    "'{job_type}' is a built-in job type and cannot be replaced"
                )));
            }
            registry.insert(
                job_type.to_string(),
                Registered {
                    handler,
                    max_attempts,
                    builtin: false,
                },
            );
        }
        // Queued jobs of this type may have been waiting for a handler.
        self.wake.notify_waiters();
        Ok(())
    }

    /// Known types, sorted.
    pub fn known_types(&self) -> Vec<String> {
        let registry = self.registry.read().unwrap_or_else(|p| p.into_inner());
        registry.keys().cloned().collect()
    }

    /// The default budget of a known type, `None` for an unknown one.
    pub fn type_max_attempts(&self, job_type: &str) -> Option<i64> {
        let registry = self.registry.read().unwrap_or_else(|p| p.into_inner());
        registry.get(job_type).map(|r| r.max_attempts)
    }

    fn handler(&self, job_type: &str) -> Option<Handler> {
        let registry = self.registry.read().unwrap_or_else(|p| p.into_inner());
        registry.get(job_type).map(|r| Arc::clone(&r.handler))
    }

    fn types_json(&self) -> String {
        Value::from(self.known_types()).to_string()
    }

    /// Jobs executing now.
    pub fn active(&self) -> usize {
        self.active.load(Ordering::Relaxed)
    }

    /// Size of the pool.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Claimable queued jobs and queued jobs without handler, by type.
    pub async fn depth(&self) -> Result<(i64, Vec<(String, i64)>)> {
        let types = self.types_json();
        let (claimable, waiting) = self.store.read(move |c| queue::depth(c, &types)).await?;
        // Jobs taken by a batch but not started are still waiting to run.
        let taken = lock(&self.claimed).len() as i64;
        Ok((claimable + taken, waiting))
    }

    /// Inserts a job and wakes a worker.
    pub async fn create(&self, job: NewJob) -> Result<Created> {
        Ok(self.create_checked(job).await?.0)
    }

    /// As [`JobSystem::create`], also telling whether a new row was inserted (false when a
    /// `unique_key` matched a pending job).
    pub async fn create_checked(&self, job: NewJob) -> Result<(Created, bool)> {
        let bus = Arc::clone(&self.bus);
        let (created, inserted) = self
            .store
            .write_grouped(move |c| queue::insert(c, &bus, job))
            .await?;
        if inserted {
            self.wake.notify_one();
        }
        Ok((created, inserted))
    }

    /// Cancels a job: at once when queued; a running one is marked `canceled` first, then its
    /// abort signal fires and the handler stops.
    pub async fn cancel(&self, job_id: &str) -> Result<Created> {
        let bus = Arc::clone(&self.bus);
        let id = job_id.to_string();
        let (status, held) = self
            .store
            .write_grouped(move |c| queue::cancel(c, &bus, &id))
            .await?;
        if status == CANCELED {
            let mut live = lock(&self.live);
            if let Some((abort, _)) = live.aborts.get(job_id) {
                abort.fire(AbortReason::Canceled);
            } else if held {
                // Claimed but not started yet: the worker that takes it skips it.
                live.canceled.insert(job_id.to_string());
            }
        }
        Ok(Created {
            job_id: job_id.to_string(),
            status,
        })
    }

    /// A context for a job a worker holds (used by host handlers for `ctx.progress`/`ctx.log`).
    pub async fn context_of(&self, job_id: &str) -> Result<JobCtx> {
        let (abort, job) = lock(&self.live)
            .aborts
            .get(job_id)
            .map(|(abort, job)| (abort.clone(), Arc::clone(job)))
            .ok_or_else(|| Error::Canceled("job is not running".into()))?;
        if abort.is_fired() {
            return Err(Error::Canceled("job was canceled".into()));
        }
        Ok(JobCtx {
            attempt: 0,
            job,
            store: Arc::clone(&self.store),
            bus: Arc::clone(&self.bus),
            abort,
            // A host handler's call (e.g. JS `ctx.progress`) waits for its commit.
            pipelined: false,
            facade: self.facade.get().cloned(),
        })
    }

    /// Starts the workers.
    pub fn start(self: &Arc<Self>) {
        let mut handles = lock(&self.handles);
        for _ in 0..self.workers {
            let system = Arc::clone(self);
            handles.push(tokio::spawn(async move { system.worker_loop().await }));
        }
    }

    /// Stops claiming, aborts running jobs with `shutdown`, waits up to [`ABORT_GRACE`] for the
    /// workers, and applies the recovery policy to what they left running.
    pub async fn shutdown(&self) -> Result<()> {
        let interrupted: Vec<String> = {
            let live = lock(&self.live);
            // Under the lock `run` takes to start a job: every job is either aborted here or
            // never started (see `run`).
            self.stop.cancel();
            self.wake.notify_waiters();
            for (abort, _) in live.aborts.values() {
                abort.fire(AbortReason::Shutdown);
            }
            live.aborts.keys().cloned().collect()
        };
        let handles: Vec<_> = lock(&self.handles).drain(..).collect();
        let join_all = async {
            for h in handles {
                let _ = h.await;
            }
        };
        let _ = tokio::time::timeout(ABORT_GRACE + Duration::from_millis(500), join_all).await;
        // Jobs a batch took but no worker started stay queued, free for the next open.
        let taken: Vec<String> = lock(&self.claimed)
            .drain(..)
            .map(|c| c.record.job_id.clone())
            .collect();
        if !taken.is_empty() {
            self.store
                .write_grouped(move |c| {
                    for id in &taken {
                        queue::unclaim(c, id)?;
                    }
                    Ok(())
                })
                .await?;
        }
        if !interrupted.is_empty() {
            let bus = Arc::clone(&self.bus);
            self.store
                .write(move |c| {
                    for id in &interrupted {
                        queue::give_back_unstarted(c, id)?;
                    }
                    queue::recover(c, &bus, Some(&interrupted))
                })
                .await?;
        }
        Ok(())
    }

    async fn worker_loop(self: Arc<Self>) {
        // Final writes of jobs run since the last claim, queued but not yet confirmed: they
        // commit in the same group as the next claim, so a busy worker pays one commit per
        // claimed batch, not several per job.
        let mut unsettled: Vec<Settling> = Vec::new();
        while !self.stop.is_cancelled() {
            if unsettled.len() < MAX_UNSETTLED {
                let taken = lock(&self.claimed).pop_front();
                if let Some(claimed) = taken {
                    unsettled.push(self.run(claimed).await);
                    continue;
                }
            }
            // Register interest before looking at the queue so a wake-up between the look and
            // the wait is not lost.
            let notified = self.wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let types = self.types_json();
            let claimed = self
                .store
                .write_grouped(move |c| queue::claim(c, &types, CLAIM_BATCH))
                .await;
            for settling in unsettled.drain(..) {
                self.settle(settling).await;
            }
            match claimed {
                Ok(batch) if !batch.is_empty() => {
                    let mut batch = batch.into_iter();
                    let first = batch.next();
                    let more = {
                        let mut line = lock(&self.claimed);
                        line.extend(batch);
                        !line.is_empty()
                    };
                    if more {
                        // An idle worker can take the rest while this one runs the first.
                        self.wake.notify_one();
                    }
                    if let Some(first) = first {
                        unsettled.push(self.run(first).await);
                    }
                    continue;
                }
                Ok(_) => {}
                Err(Error::Closed) => break,
                Err(err) => {
                    // A database error (disk full, busy): say so, back off, never die.
                    self.bus.publish(Event::log(
                        Level::Error,
                        format!("job worker cannot claim: {err}"),
                    ));
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            }
            let wait = match self.store.read(queue::next_due_in_ms).await {
                Ok(Some(ms)) => Duration::from_millis(ms as u64).min(IDLE_POLL),
                _ => IDLE_POLL,
            };
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep(wait) => {}
                _ = self.stop.cancelled() => break,
            }
        }
        self.store.flush();
        for settling in unsettled {
            self.settle(settling).await;
        }
    }

    /// Runs a claimed job and queues its final write (outcome and release), returned unsettled.
    async fn run(&self, claimed: Claimed) -> Settling {
        let job_id = claimed.record.job_id.clone();
        let abort = Abort::default();
        {
            let mut live = lock(&self.live);
            if live.canceled.remove(&job_id) {
                // Canceled after the claim, before it started: the cancel wrote the final
                // state; only the hold remains to free.
                let id = job_id.clone();
                return Settling {
                    job_id,
                    stored: self.store.write_later(move |c| queue::release(c, &id)),
                    requeued: false,
                };
            }
            if self.stop.is_cancelled() {
                // close() began while this job was being claimed. Checked under the same lock
                // `shutdown` takes to fire every abort signal, so a job either is seen (and
                // aborted) there or never starts here: it goes back to the queue unchanged.
                let id = job_id.clone();
                return Settling {
                    job_id,
                    stored: self.store.write_later(move |c| queue::unclaim(c, &id)),
                    requeued: false,
                };
            }
            live.aborts
                .insert(job_id.clone(), (abort.clone(), Arc::clone(&claimed.record)));
        }
        self.active.fetch_add(1, Ordering::Relaxed);

        let outcome = match self.handler(&claimed.record.job_type) {
            Some(handler) => {
                let ctx = JobCtx {
                    job: Arc::clone(&claimed.record),
                    attempt: claimed.attempt,
                    store: Arc::clone(&self.store),
                    bus: Arc::clone(&self.bus),
                    abort: abort.clone(),
                    pipelined: true,
                    facade: self.facade.get().cloned(),
                };
                execute(handler, ctx, &abort, &self.store).await
            }
            // The handler was unregistered between claim and run: nothing sensible to do but
            // fail the job clearly.
            None => Some(Err(Failure::new(format!(
                "no handler for job type '{}'",
                claimed.record.job_type
            )))),
        };

        let settling = match (abort.reason(), outcome) {
            // Canceled: the cancel already wrote the final state; the outcome is discarded.
            // Shutdown: the job stays as it is; close() applies the recovery policy.
            (Some(AbortReason::Canceled | AbortReason::Shutdown), _) | (None, None) => {
                let id = job_id.clone();
                Settling {
                    job_id: job_id.clone(),
                    stored: self.store.write_later(move |c| queue::release(c, &id)),
                    requeued: false,
                }
            }
            // The final write also releases the hold, saving a statement per job.
            (None, Some(outcome)) => self.finish(&claimed, outcome),
        };
        lock(&self.live).aborts.remove(&job_id);
        self.active.fetch_sub(1, Ordering::Relaxed);
        settling
    }

    /// Queues the outcome's write (which also releases the job).
    fn finish(&self, claimed: &Claimed, outcome: Outcome) -> Settling {
        let job_id = claimed.record.job_id.clone();
        let id = job_id.clone();
        let bus = Arc::clone(&self.bus);
        let retry = claimed.retry_failures && claimed.attempt < claimed.max_attempts;
        let (stored, requeued) = match outcome {
            Ok(success) => (
                self.store
                    .write_later(move |c| write_success(c, &bus, &id, success)),
                false,
            ),
            Err(failure) if retry => {
                let attempt = claimed.attempt;
                let message = failure.message();
                let stored = self.store.write_later(move |c| {
                    queue::requeue_after_failure(c, &id, attempt, &message).map(|_| ())
                });
                (stored, true)
            }
            Err(failure) => (
                self.store
                    .write_later(move |c| write_failure(c, &bus, &id, failure)),
                false,
            ),
        };
        Settling {
            job_id,
            stored,
            requeued,
        }
    }

    /// Waits for a job's final write; if it could not be stored, says so and frees the job
    /// (recovery at the next open handles the row if even that fails).
    async fn settle(&self, settling: Settling) {
        let stored = settling.stored.await.unwrap_or(Err(Error::Closed));
        if stored.is_ok() && settling.requeued {
            // An idle worker recomputes its wait and runs the retry when it is due.
            self.wake.notify_one();
        }
        if let Err(err) = stored {
            if matches!(err, Error::Closed) {
                return;
            }
            self.bus.publish(Event::log(
                Level::Error,
                format!("could not store the outcome of {}: {err}", settling.job_id),
            ));
            let id = settling.job_id;
            let _ = self
                .store
                .write_grouped(move |c| queue::release(c, &id))
                .await;
        }
    }
}

/// What the workers run now, shared with `cancel`.
#[derive(Default)]
struct Live {
    /// Abort signals of running jobs, by id.
    /// The record is kept for host handlers' context calls (no read per `ctx.log`).
    aborts: HashMap<String, (Abort, Arc<JobRecord>)>,
    /// Jobs canceled while claimed but before a worker started them.
    canceled: std::collections::HashSet<String>,
}

/// A job whose final write is queued but not yet confirmed.
struct Settling {
    job_id: String,
    stored: oneshot::Receiver<Result<()>>,
    /// The job went back to the queue for another attempt.
    requeued: bool,
}

/// Runs a handler in the worker's own task, catching its panics; returns `None` when the job
/// was aborted and the handler did not settle within the grace period (it is then dropped,
/// which stops it at its next await).
async fn execute(
    handler: Handler,
    ctx: JobCtx,
    abort: &Abort,
    store: &Arc<Store>,
) -> Option<Outcome> {
    // No task of its own: a spawn and a join per job cost more than a small job itself.
    let started =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler(ctx))).map(|inner| {
            HandlerRun {
                inner,
                store: Arc::clone(store),
            }
        });
    let mut run = match started {
        Ok(run) => run,
        Err(panic) => return Some(Err(panicked(panic))),
    };
    let finished = tokio::select! {
        finished = &mut run => finished,
        _ = abort.fired() => {
            match tokio::time::timeout(ABORT_GRACE, &mut run).await {
                Ok(finished) => finished,
                Err(_) => return None,
            }
        }
    };
    Some(match finished {
        Ok(outcome) => outcome,
        Err(panic) => Err(panicked(panic)),
    })
}

/// The failure of a handler that panicked, with the panic's text.
fn panicked(panic: crate::unwind::Panic) -> Failure {
    let text = crate::unwind::panic_text(&panic, "handler panicked");
    Failure::with_code(format!("handler panicked: {text}"), "panic")
}

/// A handler's future, polled with its panics caught, that commits the handler's pipelined
/// writes whenever it waits: a write it queued is then committed (and announced) before the
/// handler sleeps, never held back by it. Writes queued while it runs without waiting ride
/// along with the next commit.
struct HandlerRun {
    inner: BoxFuture<Outcome>,
    store: Arc<Store>,
}

impl std::future::Future for HandlerRun {
    type Output = std::result::Result<Outcome, crate::unwind::Panic>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let polled = crate::unwind::poll_caught(self.inner.as_mut(), cx);
        if polled.is_pending() {
            self.store.flush();
        }
        polled
    }
}

fn write_success(w: &mut WriteCtx<'_>, bus: &Bus, job_id: &str, success: Success) -> Result<()> {
    let tx = queue::in_group(w)?;
    let result = success.result.clone().unwrap_or(Value::Null);
    let update = queue::Update {
        status: Some(SUCCEEDED),
        progress: Some(success.progress),
        message: success.message.as_deref(),
        result: success.result.as_ref().map(|_| &result),
        error: None,
    };
    let written = queue::update_live(tx, job_id, &update, success.event.as_ref())?;
    queue::release(tx, job_id)?;
    if written {
        for event in success.announce {
            w.publish(bus, event);
        }
        w.publish(bus, Event::job_status(job_id, SUCCEEDED));
    }
    Ok(())
}

fn write_failure(w: &mut WriteCtx<'_>, bus: &Bus, job_id: &str, failure: Failure) -> Result<()> {
    let tx = queue::in_group(w)?;
    let error = match failure.error {
        Value::Object(_) => failure.error.clone(),
        other => json!({ "message": other.to_string() }),
    };
    let update = queue::Update {
        status: Some(FAILED),
        error: Some(&error),
        ..Default::default()
    };
    let written = queue::update_live(tx, job_id, &update, failure.event.as_ref())?;
    queue::release(tx, job_id)?;
    if written {
        if let Some(log) = &failure.log {
            w.publish(bus, Event::log(Level::Error, log));
        }
        w.publish(bus, Event::job_status(job_id, FAILED));
    }
    Ok(())
}

use queue::Claimed;
