//! One outbound request and its answer.

use reqwest::header::{HeaderName, HeaderValue};
use reqwest::Url;
use serde_json::Value;

use super::error::NetError;

/// The methods the connectors use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

impl Method {
    /// `GET` / `POST`.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// A request that can be sent several times (retries). Header values are never printed.
#[derive(Clone)]
pub struct Request {
    pub(crate) method: Method,
    pub(crate) url: Url,
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    pub(crate) body: Option<Vec<u8>>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("url", &self.url.as_str())
            .field("headers", &names)
            .field("body_len", &self.body.as_ref().map(Vec::len))
            .finish()
    }
}

impl Request {
    /// A request to `base` + `path` (`https://acme.atlassian.net` + `/rest/api/3/myself`).
    /// Plain `http` is accepted for loopback hosts only.
    pub fn new(method: Method, base: &str, path: &str) -> Result<Request, NetError> {
        let joined = format!("{}{}", base.trim_end_matches('/'), path);
        let url = Url::parse(&joined).map_err(|e| NetError::InvalidUrl(e.to_string()))?;
        super::check_url(&url)?;
        Ok(Request {
            method,
            url,
            headers: Vec::new(),
            body: None,
        })
    }

    /// A request to a whole URL (query included), under the same rule as [`Request::new`].
    pub fn to(method: Method, url: &str) -> Result<Request, NetError> {
        Request::new(method, url, "")
    }

    /// Appends a query parameter (percent-encoded).
    pub fn query(mut self, key: &str, value: &str) -> Request {
        self.url.query_pairs_mut().append_pair(key, value);
        self
    }

    /// Adds a header. A value that cannot be sent is an error naming only the header.
    pub fn header(self, name: &'static str, value: &str) -> Result<Request, NetError> {
        self.header_with(name, value, false)
    }

    /// Adds a header whose value is secret (marked sensitive, never printed).
    pub fn secret_header(self, name: &'static str, value: &str) -> Result<Request, NetError> {
        self.header_with(name, value, true)
    }

    fn header_with(
        mut self,
        name: &'static str,
        value: &str,
        sensitive: bool,
    ) -> Result<Request, NetError> {
        let mut v =
            HeaderValue::from_str(value).map_err(|_| NetError::InvalidHeader(name.into()))?;
        v.set_sensitive(sensitive);
        self.headers.push((HeaderName::from_static(name), v));
        Ok(self)
    }

    /// Adds `Authorization: Bearer <token>` (secret).
    pub fn bearer(self, token: &str) -> Result<Request, NetError> {
        self.secret_header("authorization", &format!("Bearer {token}"))
    }

    /// Sets an `application/x-www-form-urlencoded` body of `pairs`, in order.
    pub fn form(mut self, pairs: &[(&str, &str)]) -> Result<Request, NetError> {
        self.body = Some(super::form(pairs).into_bytes());
        self.header("content-type", "application/x-www-form-urlencoded")
    }

    /// Adds a header as it is (requests built by another crate, e.g. `oauth2`).
    pub(crate) fn raw_header(mut self, name: HeaderName, value: HeaderValue) -> Request {
        self.headers.push((name, value));
        self
    }

    /// Sets a raw body.
    pub fn body(mut self, body: Vec<u8>) -> Request {
        self.body = Some(body);
        self
    }

    /// Sets a JSON body.
    pub fn json(mut self, body: &Value) -> Request {
        self.body = Some(body.to_string().into_bytes());
        self
    }

    /// The URL without query (for reports such as the Jira dev search).
    pub fn url_without_query(&self) -> String {
        let mut url = self.url.clone();
        url.set_query(None);
        url.to_string()
    }

    /// The method.
    pub fn method(&self) -> Method {
        self.method
    }
}

/// A received answer (any status).
#[derive(Debug, Clone)]
pub struct Response {
    /// The HTTP status code.
    pub status: u16,
    /// The whole body (bounded by the client's `max_body_bytes`).
    pub body: Vec<u8>,
}

impl Response {
    /// True for 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The canonical reason phrase (`Unauthorized`), empty when unknown.
    pub fn reason(&self) -> &'static str {
        reqwest::StatusCode::from_u16(self.status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("")
    }

    /// The body as text (lossy UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; an empty (or all-blank) body is `null`.
    pub fn json(&self) -> Result<Value, NetError> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&self.body).map_err(|e| NetError::InvalidJson(e.to_string()))
    }

    /// The body as JSON when it parses, else as text, else `null` (raw exchanges).
    pub fn lenient_body(&self) -> Value {
        match self.json() {
            Ok(v) => v,
            Err(_) => Value::String(self.text()),
        }
    }

    /// `Err(NetError::Status)` for a status ≥ 400 (body text bounded to `max_chars`).
    pub fn error_for_status(self, max_chars: usize) -> Result<Response, NetError> {
        if self.status < 400 {
            return Ok(self);
        }
        let text = self.text();
        let body: String = if text.chars().count() > max_chars {
            let cut: String = text.chars().take(max_chars).collect();
            format!("{cut}…")
        } else {
            text
        };
        Err(NetError::Status {
            status: self.status,
            reason: self.reason().to_string(),
            body,
        })
    }
}
