//! The jobs facade methods of [`Backend`] (CONTRACT.md §1.5, §4.2), and the context calls of
//! host (JS) handlers.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::{queue, Created, Failure, Handler, JobEvent, JobRecord, NewJob, STATUSES};
use crate::error::Result;
use crate::events::Level;
use crate::validate::{missing_body, Fields, Source};
use crate::Backend;

impl Backend {
    /// Registers a handler of the host (JS) for `job_type` (CONTRACT.md §1.5).
    pub fn register_job_handler(
        &self,
        job_type: &str,
        max_attempts: i64,
        handler: Handler,
    ) -> Result<()> {
        self.check_open()?;
        self.jobs()
            .register_external(job_type, max_attempts, handler)
    }

    /// `createJob(input)` / `POST /jobs`.
    pub async fn create_job(&self, input: &Value) -> Result<Created> {
        self.check_open()?;
        let jobs = self.jobs();
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
            if jobs.type_max_attempts(t).is_none() {
                f.error(
                    "value_error",
                    "type",
                    format!(
                        "Value error, unknown job type '{t}'; known types: {}",
                        jobs.known_types().join(", ")
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
            .or_else(|| jobs.type_max_attempts(&job_type))
            .unwrap_or(1);
        job.retry_failures = max_attempts.is_some_and(|n| n > 1);
        job.priority = priority.unwrap_or(0);
        job.run_at_ms = run_at_ms;
        job.unique_key = unique_key;
        job.log = Some(|id, t| format!("job queued {id} ({t})"));
        jobs.create(job).await
    }

    /// `listJobs(query)` / `GET /jobs`.
    pub async fn list_jobs(&self, query: &Value) -> Result<Vec<JobRecord>> {
        self.check_open()?;
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
        self.store()
            .read(move |c| queue::list(c, status.as_deref(), job_type.as_deref(), limit))
            .await
    }

    /// `getJob(id)` / `GET /jobs/{job_id}`.
    pub async fn get_job(&self, job_id: &str) -> Result<JobRecord> {
        self.check_open()?;
        let id = job_id.to_string();
        self.store().read(move |c| queue::get(c, &id)).await
    }

    /// `cancelJob(id)` / `POST /jobs/{job_id}/cancel`.
    pub async fn cancel_job(&self, job_id: &str) -> Result<Created> {
        self.check_open()?;
        self.jobs().cancel(job_id).await
    }

    /// `listJobEvents(id)` / `GET /jobs/{job_id}/events`.
    pub async fn list_job_events(&self, job_id: &str) -> Result<Vec<JobEvent>> {
        self.check_open()?;
        let id = job_id.to_string();
        self.store().read(move |c| queue::events(c, &id)).await
    }

    /// `ctx.progress(value, message?)` of a host handler. The first bad argument fails the
    /// call alone, with a `loc` of its name only (`["progress"]`, `["message"]`).
    pub async fn job_progress(&self, job_id: &str, value: &Value, message: &Value) -> Result<()> {
        self.check_open()?;
        let args = arguments(&[("progress", value), ("message", message)]);
        let mut f = Fields::new(Source::Arguments, &args);
        let progress = f.required_number_in(
            "progress",
            0.0,
            1.0,
            "Value error, progress must be a finite number from 0 to 1",
        );
        let message = f.optional_str("message", 0);
        f.finish()?;
        let ctx = self.jobs().context_of(job_id).await?;
        ctx.progress(progress.unwrap_or_default(), message, true, None)
            .await
    }

    /// `ctx.log(level, message, meta?)` of a host handler. The first bad argument fails the
    /// call alone, with a `loc` of its name only (`["level"]`, `["message"]`, `["meta", …]`).
    pub async fn job_log(
        &self,
        job_id: &str,
        level: &Value,
        message: &Value,
        meta: &Value,
    ) -> Result<()> {
        self.check_open()?;
        let args = arguments(&[("level", level), ("message", message), ("meta", meta)]);
        let mut f = Fields::new(Source::Arguments, &args);
        let parsed = level.as_str().and_then(Level::parse);
        if parsed.is_none() {
            f.error(
                "enum",
                "level",
                "Input should be 'info', 'warn' or 'error'",
                level.clone(),
                Some(json!({ "expected": "'info', 'warn' or 'error'" })),
            );
        }
        let message = f.required_str("message", 0);
        let meta = f.optional_object("meta");
        f.finish()?;
        let (Some(level), Some(message)) = (parsed, message) else {
            // `finish` failed above when either is missing.
            return Ok(());
        };
        let ctx = self.jobs().context_of(job_id).await?;
        ctx.log(level, &message, meta.map(Value::Object)).await
    }
}

/// The positional arguments of a context call as one object for [`Fields`]. A `null` `meta`
/// is left out (absent); other `null`s stay, so that they fail their field's check.
fn arguments(pairs: &[(&str, &Value)]) -> Value {
    let map: Map<String, Value> = pairs
        .iter()
        .filter(|(k, v)| !(*k == "meta" && v.is_null()))
        .map(|(k, v)| ((*k).to_string(), (*v).clone()))
        .collect();
    Value::Object(map)
}

/// The handler of a built-in type whose capability is not in this build yet: the type stays
/// known (the contract lists it), and its jobs fail with a clear message instead of waiting.
pub(crate) fn unavailable(job_type: &'static str) -> Handler {
    Arc::new(move |_ctx| {
        Box::pin(async move {
            Err(Failure::with_code(
                format!("{job_type} is not available in this version of enttok-backend"),
                "unavailable",
            ))
        })
    })
}
