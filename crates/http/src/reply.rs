//! Answers: what a handler returns, the error mapping, and the headers every response carries
//! (CONTRACT.md §3.3).

use bytes::Bytes;
use enttok_core::{Error, Result};
use http_body_util::Full;
use hyper::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use serde::Serialize;

/// The body type of every response.
pub type Body = Full<Bytes>;

pub(crate) const JSON: HeaderValue = HeaderValue::from_static("application/json");
pub(crate) const TEXT: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");
const HTML: HeaderValue = HeaderValue::from_static("text/html; charset=utf-8");

/// A handler's answer: status, media type and bytes. Success is always 200 (§3.3).
#[derive(Debug, Clone)]
pub struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) content_type: HeaderValue,
    pub(crate) body: Bytes,
}

impl Reply {
    /// 200 with `value` as compact JSON.
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<Reply> {
        Ok(Reply::raw_json(StatusCode::OK, serde_json::to_vec(value)?))
    }

    /// 200 `{"<key>": <items>}`: how HTTP wraps the core's list results (`{"jobs":[…]}`).
    pub fn list<T: Serialize + ?Sized>(key: &str, items: &T) -> Result<Reply> {
        // Written directly so a long list is serialized once, without an intermediate Value.
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(b"{");
        serde_json::to_writer(&mut out, key)?;
        out.extend_from_slice(b":");
        serde_json::to_writer(&mut out, items)?;
        out.extend_from_slice(b"}");
        Ok(Reply::raw_json(StatusCode::OK, out))
    }

    /// An HTML page with the given status (the OAuth callback page).
    pub fn html(status: u16, page: String) -> Reply {
        Reply {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
            content_type: HTML,
            body: Bytes::from(page),
        }
    }

    /// JSON bytes with a status.
    pub(crate) fn raw_json(status: StatusCode, body: impl Into<Bytes>) -> Reply {
        Reply {
            status,
            content_type: JSON,
            body: body.into(),
        }
    }

    /// `{"detail": "<text>"}` with a status (adapter-level errors).
    pub(crate) fn detail(status: StatusCode, detail: &str) -> Reply {
        let body = serde_json::json!({ "detail": detail });
        Reply::raw_json(status, body.to_string())
    }

    /// A plain-text answer (CORS preflight).
    pub(crate) fn text(status: StatusCode, text: &'static str) -> Reply {
        Reply {
            status,
            content_type: TEXT,
            body: Bytes::from_static(text.as_bytes()),
        }
    }

    /// The status of this reply.
    pub fn status(&self) -> u16 {
        self.status.as_u16()
    }
}

/// The detail of every unhandled 500: internals (SQL, paths, OS texts) stay in the log.
pub(crate) const INTERNAL_DETAIL: &str = "Internal Server Error";

/// Maps a core error to its contract status and body (CONTRACT.md §1.3). An unhandled internal
/// error (one with a `kind`) answers a generic detail; the real text goes to the log.
pub(crate) fn error_reply(err: &Error) -> Reply {
    let status = StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = match err {
        Error::Internal {
            kind: Some(kind), ..
        } => serde_json::json!({ "detail": INTERNAL_DETAIL, "type": kind }),
        other => other.body(),
    };
    Reply::raw_json(status, body.to_string())
}

/// The security headers of every response (CONTRACT.md §3.3).
const SECURITY: [(HeaderName, HeaderValue); 4] = [
    (
        HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    ),
    (
        HeaderName::from_static("x-frame-options"),
        HeaderValue::from_static("DENY"),
    ),
    (
        HeaderName::from_static("cache-control"),
        HeaderValue::from_static("no-store"),
    ),
    (
        HeaderName::from_static("referrer-policy"),
        HeaderValue::from_static("no-referrer"),
    ),
];

/// The CORS headers of every answer to an allowed origin (§3.2, last paragraph).
pub(crate) fn add_cors(response: &mut Response<Body>, origin: &HeaderValue) {
    let h = response.headers_mut();
    h.insert("access-control-allow-origin", origin.clone());
    h.insert(
        "access-control-allow-credentials",
        HeaderValue::from_static("true"),
    );
    h.insert(
        "access-control-expose-headers",
        HeaderValue::from_static("*"),
    );
    h.insert("vary", HeaderValue::from_static("Origin"));
}

/// Builds the hyper response with the security headers.
pub(crate) fn into_response(reply: Reply) -> Response<Body> {
    let mut response = Response::new(Full::new(reply.body));
    *response.status_mut() = reply.status;
    let h = response.headers_mut();
    h.reserve(10);
    h.insert(CONTENT_TYPE, reply.content_type);
    add_security(&mut response);
    response
}

/// Adds the security headers (also used for the WebSocket handshake answer).
pub(crate) fn add_security(response: &mut Response<Body>) {
    let h = response.headers_mut();
    for (name, value) in SECURITY {
        h.insert(name, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_do_not_leak() {
        let err = Error::Internal {
            detail: "database error: no such table x at /secret/path".into(),
            kind: Some("DatabaseError".into()),
        };
        let reply = error_reply(&err);
        assert_eq!(reply.status(), 500);
        assert_eq!(
            &reply.body[..],
            br#"{"detail":"Internal Server Error","type":"DatabaseError"}"#
        );
        let handled = Error::Internal {
            detail: "Google OAuth not configured.".into(),
            kind: None,
        };
        assert_eq!(
            &error_reply(&handled).body[..],
            br#"{"detail":"Google OAuth not configured."}"#
        );
    }

    #[test]
    fn list_wraps_items() {
        let reply = Reply::list("jobs", &[1, 2]).unwrap();
        assert_eq!(&reply.body[..], br#"{"jobs":[1,2]}"#);
    }
}
