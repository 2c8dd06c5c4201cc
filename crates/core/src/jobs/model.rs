//! Job records, job events and the outcome types handlers return (CONTRACT.md §4.2, §6).

use rusqlite::Row;
use serde::Serialize;
use serde_json::{json, Value};

use crate::events::Level;

/// `queued`, the only non-running, non-final state.
pub const QUEUED: &str = "queued";
/// A handler is executing the job.
pub const RUNNING: &str = "running";
/// Final: the handler succeeded.
pub const SUCCEEDED: &str = "succeeded";
/// Final: the handler failed, or recovery gave up.
pub const FAILED: &str = "failed";
/// Final: canceled by a caller.
pub const CANCELED: &str = "canceled";

/// Every status, in lifecycle order.
pub const STATUSES: [&str; 5] = [QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELED];

/// Built-in job types (CONTRACT.md §6.2).
pub const DEMO: &str = "demo";
pub const COMPACT: &str = "maintenance.compact";
pub const CLAUDE_SPAWN: &str = "claude.spawn";
pub const CALENDAR_SYNC: &str = "connector.calendar.sync";
pub const JIRA_SYNC: &str = "connector.jira.sync";
pub const CONFLUENCE_SYNC: &str = "connector.confluence.sync";

/// The default attempt budget of a type (used by creation and crash recovery).
pub fn default_max_attempts(job_type: &str) -> i64 {
    match job_type {
        DEMO | CALENDAR_SYNC | JIRA_SYNC | CONFLUENCE_SYNC => 3,
        _ => 1,
    }
}

/// A job as every API returns it: exactly these keys, in this order.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct JobRecord {
    pub job_id: String,
    #[serde(rename = "type")]
    pub job_type: String,
    pub status: String,
    pub created_at: String,
    pub updated_at: String,
    pub progress: Option<f64>,
    pub message: Option<String>,
    pub payload: Value,
    pub result: Value,
    pub error: Value,
}

/// The columns [`JobRecord::from_row`] reads, in order, as a literal: queries are written with
/// `concat!` so that no SQL text is formatted per call (the statement cache hashes the text).
macro_rules! job_columns {
    () => {
        "job_id, type, status, created_at, updated_at, progress, message, payload_json, result_json, error_json"
    };
}
pub(crate) use job_columns;

/// Columns [`JobRecord::from_row`] reads, in order.
pub const JOB_COLUMNS: &str = job_columns!();

/// Parses a stored JSON column; text that is not JSON is returned as a string, never an error
/// (a database written by hand or by the original must still list).
pub fn parse_json_column(text: Option<String>) -> Value {
    match text {
        None => Value::Null,
        Some(t) => serde_json::from_str(&t).unwrap_or(Value::String(t)),
    }
}

impl JobRecord {
    /// Reads a row selected with [`JOB_COLUMNS`].
    pub fn from_row(row: &Row<'_>) -> rusqlite::Result<JobRecord> {
        let payload = match parse_json_column(row.get(7)?) {
            Value::Null => json!({}),
            other => other,
        };
        Ok(JobRecord {
            job_id: row.get(0)?,
            job_type: row.get(1)?,
            status: row.get(2)?,
            created_at: row.get(3)?,
            updated_at: row.get(4)?,
            progress: row.get(5)?,
            message: row.get(6)?,
            payload,
            result: parse_json_column(row.get(8)?),
            error: parse_json_column(row.get(9)?),
        })
    }

    /// True for `succeeded`, `failed` and `canceled`.
    pub fn is_final(&self) -> bool {
        is_final(&self.status)
    }
}

/// True for the final states.
pub fn is_final(status: &str) -> bool {
    matches!(status, SUCCEEDED | FAILED | CANCELED)
}

/// One row of `job_events`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct JobEvent {
    pub event_id: i64,
    pub job_id: String,
    pub created_at: String,
    pub level: String,
    pub message: String,
    pub meta: Value,
}

/// A `job_events` row to write along with a state change.
#[derive(Debug, Clone)]
pub struct EventRow {
    pub level: Level,
    pub message: String,
    pub meta: Option<Value>,
}

impl EventRow {
    /// A row with the given level and message.
    pub fn new(level: Level, message: impl Into<String>) -> EventRow {
        EventRow {
            level,
            message: message.into(),
            meta: None,
        }
    }

    /// The same row with `meta_json`.
    pub fn with_meta(mut self, meta: Value) -> EventRow {
        self.meta = Some(meta);
        self
    }
}

/// What a successful handler asks the worker to write (CONTRACT.md §6.4 step sequences).
#[derive(Debug, Clone)]
pub struct Success {
    /// `result` (JSON; `None` stores NULL).
    pub result: Option<Value>,
    /// P; 1.0 for every built-in handler.
    pub progress: f64,
    /// M; `None` keeps the current message.
    pub message: Option<String>,
    /// The job event, `job completed` by default.
    pub event: Option<EventRow>,
    /// Events published after the commit and before `job.status succeeded` (`activity.sync`).
    pub announce: Vec<crate::events::Event>,
}

impl Success {
    /// Succeeded with a result, P=1.0, M kept, job event `job completed`.
    pub fn with_result(result: Option<Value>) -> Success {
        Success {
            result,
            progress: 1.0,
            message: None,
            event: Some(EventRow::new(Level::Info, "job completed")),
            announce: Vec::new(),
        }
    }
}

/// What a failed handler asks the worker to write.
#[derive(Debug, Clone)]
pub struct Failure {
    /// `error`: an object with at least `message`.
    pub error: Value,
    /// The job event (`job failed` with meta `{"error": …}` by default).
    pub event: Option<EventRow>,
    /// A `log` event published with the failure (`<service> sync failed: …`).
    pub log: Option<String>,
}

impl Failure {
    /// `{"message": text}`, job event error `job failed` with meta `{"error": text}`.
    pub fn new(message: impl Into<String>) -> Failure {
        let message = message.into();
        Failure {
            event: Some(
                EventRow::new(Level::Error, "job failed").with_meta(json!({ "error": message })),
            ),
            error: json!({ "message": message }),
            log: None,
        }
    }

    /// As [`Failure::new`], with a `code` in the error object.
    pub fn with_code(message: impl Into<String>, code: &str) -> Failure {
        let mut failure = Failure::new(message);
        if let Value::Object(map) = &mut failure.error {
            map.insert("code".into(), Value::String(code.into()));
        }
        failure
    }

    /// The `message` of the error object.
    pub fn message(&self) -> String {
        self.error
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("job failed")
            .to_string()
    }
}

/// What a handler returns.
pub type Outcome = Result<Success, Failure>;
