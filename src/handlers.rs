//! Job handlers implemented in JavaScript (`registerJobHandler`, CONTRACT.md §1.5).
//!
//! The core sees an ordinary handler. It marks the job running, sends a `run` message to the
//! JS layer's dispatcher and waits for `settleJob`. On cancel or shutdown it sends an `abort`
//! message (the JS side aborts `ctx.signal`) and stops waiting; the worker frees the slot at
//! the latest after the grace period.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use enttok_core::jobs::{BoxFuture, EventRow, Failure, Handler, JobCtx, Outcome, Success};
use enttok_core::Level;
use napi::bindgen_prelude::Function;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::Status;
use serde_json::{json, Value};
use tokio::sync::oneshot;

use crate::Shared;

type Dispatcher = Arc<ThreadsafeFunction<String, (), String, Status, false, true>>;

/// Jobs waiting for their JS handler to settle, and the dispatcher that runs them.
#[derive(Default)]
pub(crate) struct JsJobs {
    pending: Mutex<HashMap<String, oneshot::Sender<String>>>,
    dispatcher: Mutex<Option<Dispatcher>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl JsJobs {
    /// Drops the dispatcher (at `close()`): it holds the JS layer's runner, which holds the
    /// `Backend` object. Jobs already running keep their own reference until they end.
    pub fn release(&self) {
        lock(&self.dispatcher).take();
    }

    /// Hands the outcome JSON to the waiting job (ignored when nobody waits any more).
    pub fn settle(&self, job_id: &str, outcome_json: &str) {
        if let Some(tx) = lock(&self.pending).remove(job_id) {
            let _ = tx.send(outcome_json.to_string());
        }
    }
}

/// Registers a JS-implemented job type.
pub(crate) fn register(
    shared: &Arc<Shared>,
    job_type: &str,
    max_attempts: i64,
    dispatcher: Function<'_, String, ()>,
) -> napi::Result<()> {
    shared
        .backend
        .check_open()
        .map_err(|e| crate::to_napi(&e))?;
    {
        let mut slot = lock(&shared.js_jobs.dispatcher);
        if slot.is_none() {
            let tsfn = dispatcher
                .build_threadsafe_function::<String>()
                .weak::<true>()
                .build()?;
            *slot = Some(Arc::new(tsfn));
        }
    }
    let weak = Arc::downgrade(shared);
    let handler: Handler = Arc::new(move |ctx| run(weak.clone(), ctx));
    shared
        .backend
        .register_job_handler(job_type, max_attempts, handler)
        .map_err(|e| crate::to_napi(&e))
}

fn run(shared: std::sync::Weak<Shared>, ctx: JobCtx) -> BoxFuture<Outcome> {
    Box::pin(async move {
        let Some(shared) = shared.upgrade() else {
            return Err(Failure::new("the JS environment of this handler is gone"));
        };
        ctx.set_running(0.0, None)
            .await
            .map_err(|e| Failure::new(e.to_string()))?;
        let Some(dispatcher) = lock(&shared.js_jobs.dispatcher).clone() else {
            return Err(Failure::new("no JS dispatcher is registered"));
        };
        let job_id = ctx.job_id().to_string();
        let (tx, rx) = oneshot::channel();
        lock(&shared.js_jobs.pending).insert(job_id.clone(), tx);
        let message =
            json!({ "kind": "run", "job": &*ctx.job, "attempt": ctx.attempt }).to_string();
        if dispatcher.call(message, ThreadsafeFunctionCallMode::NonBlocking) != Status::Ok {
            lock(&shared.js_jobs.pending).remove(&job_id);
            return Err(Failure::new("the JS environment of this handler is gone"));
        }
        tokio::select! {
            outcome = rx => match outcome {
                Ok(json) => parse_outcome(&json),
                Err(_) => Err(Failure::new("the JS handler never settled")),
            },
            reason = ctx.abort().fired() => {
                let abort = json!({ "kind": "abort", "job_id": job_id, "reason": reason.as_str() });
                let _ = dispatcher.call(abort.to_string(), ThreadsafeFunctionCallMode::NonBlocking);
                lock(&shared.js_jobs.pending).remove(&job_id);
                Err(Failure::new("job was stopped"))
            }
        }
    })
}

/// `{"ok":true,"result":…}` → succeeded; `{"ok":false,"message":…,"code"?:…}` → failed.
// `Outcome` is the core handler contract; boxing it here alone would buy nothing.
#[allow(clippy::result_large_err)]
fn parse_outcome(json: &str) -> Outcome {
    let outcome = match serde_json::from_str::<Value>(json) {
        Ok(outcome) => outcome,
        Err(e) if enttok_core::validate::too_deep(&e, &[]).is_some() => {
            return Err(Failure::new(format!(
                "result is nested too deeply (limit {})",
                enttok_core::validate::MAX_DEPTH
            )))
        }
        Err(_) => return Err(Failure::new("result is not JSON-serialisable")),
    };
    if outcome.get("ok").and_then(Value::as_bool) == Some(true) {
        let result = outcome.get("result").cloned().filter(|v| !v.is_null());
        return Ok(Success::with_result(result));
    }
    let message = outcome
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("job failed")
        .to_string();
    let mut error = json!({ "message": message });
    if let Some(code) = outcome.get("code").and_then(Value::as_str) {
        error["code"] = json!(code);
    }
    Err(Failure {
        error,
        event: Some(
            EventRow::new(Level::Error, "job failed").with_meta(json!({ "error": message })),
        ),
        log: None,
    })
}
