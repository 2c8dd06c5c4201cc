//! The one error type of the core.
//!
//! Both adapters map it the same way: the JS adapter to an `Error` with a stable `code`, the
//! HTTP adapter to the contract's status code and `{"detail": …}` body (CONTRACT.md §1.3).

use serde_json::{json, Value};

/// Result alias used across the core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every failure a caller of the core can see.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// An unknown id; the string is the route's exact `detail` (`job not found`, …).
    #[error("{0}")]
    NotFound(String),
    /// Schema validation failed: the Pydantic-shaped 422 items (CONTRACT.md §3.6).
    #[error("{}", summarize_items(.0))]
    Validation(Vec<Value>),
    /// A domain check failed (bad ISO time, start after end, unknown OAuth state): HTTP 400.
    #[error("{0}")]
    BadRequest(String),
    /// A remote service failed; `status` is the HTTP status the route answers with (400 or 502).
    #[error("{detail}")]
    Upstream { status: u16, detail: String },
    /// State conflict: adapter already running, port taken, built-in type, dataDir locked.
    #[error("{0}")]
    Conflict(String),
    /// The operation belongs to a job that was canceled (or the backend is shutting it down).
    #[error("{0}")]
    Canceled(String),
    /// The backend is closed or closing.
    #[error("backend closed")]
    Closed,
    /// Anything else. `kind` is the `type` of the 500 body; `None` for handled configuration
    /// errors, whose body has no `type` (CONTRACT.md §1.3).
    #[error("{detail}")]
    Internal {
        detail: String,
        kind: Option<String>,
    },
}

impl Error {
    /// The stable code JS sees on `error.code`.
    pub fn code(&self) -> &'static str {
        match self {
            Error::NotFound(_) => "E_NOT_FOUND",
            Error::Validation(_) | Error::BadRequest(_) => "E_INVALID_INPUT",
            Error::Upstream { .. } => "E_UPSTREAM",
            Error::Conflict(_) => "E_CONFLICT",
            Error::Canceled(_) => "E_CANCELED",
            Error::Closed => "E_CLOSED",
            Error::Internal { .. } => "E_INTERNAL",
        }
    }

    /// The HTTP status of the same failure.
    pub fn status(&self) -> u16 {
        match self {
            Error::NotFound(_) => 404,
            Error::Validation(_) => 422,
            Error::BadRequest(_) => 400,
            Error::Upstream { status, .. } => *status,
            Error::Conflict(_) | Error::Canceled(_) => 409,
            Error::Closed => 503,
            Error::Internal { .. } => 500,
        }
    }

    /// The exact HTTP `detail` value: a string, or the 422 list.
    pub fn detail(&self) -> Value {
        match self {
            Error::Validation(items) => Value::Array(items.clone()),
            other => Value::String(other.to_string()),
        }
    }

    /// The HTTP body of this error (`{"detail": …}`, plus `type` for unhandled 500s).
    pub fn body(&self) -> Value {
        match self {
            Error::Internal {
                detail,
                kind: Some(kind),
            } => json!({ "detail": detail, "type": kind }),
            other => json!({ "detail": other.detail() }),
        }
    }

    /// Everything an adapter needs, as one JSON object (`code`, `status`, `detail`, `message`).
    pub fn to_json(&self) -> Value {
        json!({
            "code": self.code(),
            "status": self.status(),
            "detail": self.detail(),
            "message": self.to_string(),
        })
    }

    /// An unhandled internal failure with a kind for the 500 body.
    pub fn internal(detail: impl Into<String>) -> Self {
        Error::Internal {
            detail: detail.into(),
            kind: Some("InternalError".into()),
        }
    }

    /// One validation item as a whole error.
    pub fn invalid(item: Value) -> Self {
        Error::Validation(vec![item])
    }
}

/// `body.type: String should have at least 1 character` (first item, plus a count of the rest).
fn summarize_items(items: &[Value]) -> String {
    let Some(first) = items.first() else {
        return "invalid input".into();
    };
    let loc = first
        .get("loc")
        .and_then(Value::as_array)
        .map(|parts| {
            parts
                .iter()
                .map(|p| match p {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join(".")
        })
        .unwrap_or_default();
    let msg = first
        .get("msg")
        .and_then(Value::as_str)
        .unwrap_or("invalid");
    let more = if items.len() > 1 {
        format!(" (and {} more)", items.len() - 1)
    } else {
        String::new()
    };
    format!("{loc}: {msg}{more}")
}

impl From<rusqlite::Error> for Error {
    fn from(err: rusqlite::Error) -> Self {
        Error::Internal {
            detail: format!("database error: {err}"),
            kind: Some("DatabaseError".into()),
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(err: std::io::Error) -> Self {
        Error::Internal {
            detail: format!("i/o error: {err}"),
            kind: Some("OSError".into()),
        }
    }
}

impl From<serde_json::Error> for Error {
    fn from(err: serde_json::Error) -> Self {
        Error::internal(format!("json error: {err}"))
    }
}
