//! What a running handler gets: its job, its abort signal, and guarded writes.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use super::model::{EventRow, JobRecord, RUNNING};
use super::queue::{self, Update};
use crate::error::{Error, Result};
use crate::events::{Bus, Event, Level};
use crate::settings::{self, Settings};
use crate::store::{Store, WriteCtx};

/// Why a running job was stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AbortReason {
    /// `cancelJob` was called.
    Canceled,
    /// The backend is closing.
    Shutdown,
}

impl AbortReason {
    /// `canceled` or `shutdown` (the value JS `ctx.canceled` resolves to).
    pub fn as_str(self) -> &'static str {
        match self {
            AbortReason::Canceled => "canceled",
            AbortReason::Shutdown => "shutdown",
        }
    }
}

/// The abort signal of one running job.
#[derive(Clone, Default)]
pub struct Abort {
    token: CancellationToken,
    reason: Arc<OnceLock<AbortReason>>,
}

impl Abort {
    /// Fires the signal; the first reason wins.
    pub fn fire(&self, reason: AbortReason) {
        let _ = self.reason.set(reason);
        self.token.cancel();
    }

    /// Why the signal fired, if it did.
    pub fn reason(&self) -> Option<AbortReason> {
        if self.token.is_cancelled() {
            self.reason.get().copied()
        } else {
            None
        }
    }

    /// True once fired.
    pub fn is_fired(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Resolves when the signal fires.
    pub async fn fired(&self) -> AbortReason {
        self.token.cancelled().await;
        self.reason.get().copied().unwrap_or(AbortReason::Shutdown)
    }
}

/// A boxed, sendable future.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// The context handed to a job handler.
#[derive(Clone)]
pub struct JobCtx {
    /// The job as it was claimed.
    pub job: Arc<JobRecord>,
    /// 1 for the first run.
    pub attempt: i64,
    pub(crate) store: Arc<Store>,
    pub(crate) bus: Arc<Bus>,
    pub(crate) abort: Abort,
    /// Writes are queued for the next group commit instead of awaited (see [`JobCtx::write`]).
    /// Only a context whose handler runs under the worker's flush-on-yield wrapper may set it.
    pub(crate) pipelined: bool,
    /// The backend, for handlers that call another capability's facade (memory from the
    /// GitHub sync and the suggestions). Weak: the job system must not keep its backend alive.
    pub(crate) facade: Option<crate::backend::WeakBackend>,
}

impl JobCtx {
    /// The backend this job runs in, while it is open.
    pub(crate) fn backend(&self) -> Option<crate::Backend> {
        self.facade
            .as_ref()
            .and_then(crate::backend::WeakBackend::upgrade)
    }

    /// The job id.
    pub fn job_id(&self) -> &str {
        &self.job.job_id
    }

    /// The store, for handlers that keep their own tables.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The bus, for handlers that announce their own events after a commit.
    pub fn bus(&self) -> &Arc<Bus> {
        &self.bus
    }

    /// The abort signal.
    pub fn abort(&self) -> &Abort {
        &self.abort
    }

    /// The current settings (a fresh snapshot: new values apply from the next job).
    pub async fn settings(&self) -> Result<Settings> {
        self.store.read(settings::load).await
    }

    /// Writes a field update and its job event unless the job was aborted or is final, then
    /// publishes `events` after the commit. `E_CANCELED` when the job was stopped.
    ///
    /// Inside a worker (Rust handlers) the write is *pipelined*: it is queued and the handler
    /// goes on at once; the write commits with the next group — at the latest when the handler
    /// next waits for something, or together with its final state — and its events follow that
    /// commit. Order is kept (the queue is FIFO), so the contract's step sequences are exact;
    /// what a handler gives up is hearing about a failed progress write, which the final write
    /// would meet anyway. Contexts of host handlers (`context_of`) write and wait.
    pub async fn write(
        &self,
        update: OwnedUpdate,
        event: Option<EventRow>,
        events: Vec<Event>,
    ) -> Result<()> {
        if self.abort.is_fired() {
            return Err(canceled());
        }
        let job_id = self.job.job_id.clone();
        let abort = self.abort.clone();
        let bus = Arc::clone(&self.bus);
        let write = move |w: &mut WriteCtx<'_>| {
            // Checked under the writer lock: a cancel commits before it fires the signal,
            // so once fired no later write can land.
            if abort.is_fired() {
                return Err(canceled());
            }
            let tx = queue::in_group(w)?;
            let written = queue::update_live(tx, &job_id, &update.borrow(), event.as_ref())?;
            if !written {
                return Err(canceled());
            }
            for e in events {
                w.publish(&bus, e);
            }
            Ok(())
        };
        if self.pipelined {
            // The answer is not awaited: a canceled job's write is refused in the group, and
            // the abort signal tells the handler.
            drop(self.store.write_later(write));
            return Ok(());
        }
        self.store.write_grouped(write).await
    }

    /// S=`running` with P (and M when given); `job.status running`.
    pub async fn set_running(&self, progress: f64, message: Option<&str>) -> Result<()> {
        self.write(
            OwnedUpdate {
                status: Some(RUNNING.into()),
                progress: Some(progress),
                message: message.map(String::from),
                ..Default::default()
            },
            None,
            vec![Event::job_status(&self.job.job_id, RUNNING)],
        )
        .await
    }

    /// P (and M when given), with a `job.progress` event when `announce` (and its `stage`).
    pub async fn progress(
        &self,
        progress: f64,
        message: Option<String>,
        announce: bool,
        stage: Option<&str>,
    ) -> Result<()> {
        let events = if announce {
            vec![Event::JobProgress {
                job_id: self.job.job_id.clone(),
                progress,
                stage: stage.map(String::from),
            }]
        } else {
            Vec::new()
        };
        self.write(
            OwnedUpdate {
                progress: Some(progress),
                message,
                ..Default::default()
            },
            None,
            events,
        )
        .await
    }

    /// A `job_events` row plus a `log` event whose meta is `{job_id, …meta}`.
    pub async fn log(&self, level: Level, message: &str, meta: Option<Value>) -> Result<()> {
        let mut full = serde_json::Map::new();
        full.insert("job_id".into(), json!(self.job.job_id));
        if let Some(Value::Object(extra)) = &meta {
            for (k, v) in extra {
                full.insert(k.clone(), v.clone());
            }
        }
        let log = Event::Log {
            level,
            message: message.trim().to_string(),
            timestamp: crate::time::now_iso(),
            meta: Some(Value::Object(full)),
        };
        let row = EventRow {
            level,
            message: message.to_string(),
            meta,
        };
        self.write(OwnedUpdate::default(), Some(row), vec![log])
            .await
    }
}

fn canceled() -> Error {
    Error::Canceled("job was canceled".into())
}

/// An owned [`Update`], to move into a blocking closure.
#[derive(Debug, Default, Clone)]
pub struct OwnedUpdate {
    pub status: Option<String>,
    pub progress: Option<f64>,
    pub message: Option<String>,
    pub result: Option<Value>,
    pub error: Option<Value>,
}

impl OwnedUpdate {
    fn borrow(&self) -> Update<'_> {
        Update {
            status: self.status.as_deref(),
            progress: self.progress,
            message: self.message.as_deref(),
            result: self.result.as_ref(),
            error: self.error.as_ref(),
        }
    }
}
