//! Errors of outbound calls. Their texts reach job errors and API details, so they name the
//! failure (status, timeout, refused connection) but never a header value, body sent or URL.

/// Why an outbound call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetError {
    /// The final answer had a status ≥ 400. `body` is the (bounded) body text, `reason` the
    /// canonical reason phrase.
    Status {
        status: u16,
        reason: String,
        body: String,
    },
    /// The connection failed or broke (refused, DNS, TLS, reset).
    Network(String),
    /// The request took longer than the per-request timeout.
    Timeout,
    /// The caller's abort signal fired.
    Canceled,
    /// The URL could not be built.
    InvalidUrl(String),
    /// Plain `http` to a non-loopback host.
    Insecure,
    /// A header value cannot be sent (e.g. a control character in a token); names the header.
    InvalidHeader(String),
    /// The body is not JSON.
    InvalidJson(String),
    /// The body exceeded the size limit.
    TooLarge,
}

/// What a failed answer says: its body, or the reason phrase when the body is empty.
pub fn status_text<'a>(reason: &'a str, body: &'a str) -> &'a str {
    if body.trim().is_empty() {
        reason
    } else {
        body.trim()
    }
}

impl std::fmt::Display for NetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NetError::Status {
                status,
                reason,
                body,
            } => write!(f, "HTTP {status}: {}", status_text(reason, body)),
            NetError::Network(text) => write!(f, "connection failed: {text}"),
            NetError::Timeout => f.write_str("request timed out"),
            NetError::Canceled => f.write_str("request canceled"),
            NetError::InvalidUrl(text) => write!(f, "invalid URL: {text}"),
            NetError::Insecure => f.write_str("plain http is allowed only for loopback hosts"),
            NetError::InvalidHeader(name) => write!(f, "invalid value for header {name}"),
            NetError::InvalidJson(text) => write!(f, "invalid JSON in response: {text}"),
            NetError::TooLarge => f.write_str("response body too large"),
        }
    }
}

impl std::error::Error for NetError {}

/// A short, URL-free text for a transport error: its innermost cause.
pub(crate) fn describe(err: &reqwest::Error) -> NetError {
    if err.is_timeout() {
        return NetError::Timeout;
    }
    let mut inner: &dyn std::error::Error = err;
    while let Some(next) = inner.source() {
        inner = next;
    }
    let text = inner.to_string();
    // The innermost cause of reqwest errors is the OS/TLS text; never the URL. Guard anyway.
    let text = if text.contains("://") {
        "request failed".to_string()
    } else {
        text
    };
    NetError::Network(text)
}
