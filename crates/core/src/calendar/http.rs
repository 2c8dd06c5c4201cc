//! Outgoing HTTP for the calendar module: timeouts on every request, abortable by a job's
//! signal, retries of 429/5xx honouring `Retry-After` (CONTRACT.md §8.3), and the encoders the
//! Google calls need. Texts returned here never contain tokens: they carry only status codes,
//! response bodies and network error texts (without URLs).

use std::time::Duration;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::jobs::Abort;

/// Retries of a 429/5xx answer (so at most 3 attempts).
pub const MAX_RETRIES: u32 = 2;
/// Longest `Retry-After` honoured; longer waits are cut to this.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
/// Longest response body kept in an error text.
const MAX_ERROR_BODY: usize = 500;

/// A new client: rustls, connect and total timeouts, no proxies from the environment, no
/// redirects (tokens must not travel elsewhere), and idle connections dropped after a few
/// seconds so that nothing lingers once the backend is closed.
pub fn new_client() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(15))
        .timeout(Duration::from_secs(60))
        .pool_idle_timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .map_err(|e| Error::internal(format!("HTTP client unavailable: {}", e.without_url())))
}

/// A whole answer: status, `Retry-After` and body text.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

impl Answer {
    /// The body as JSON, or a clear text saying it is not.
    pub fn json(&self) -> std::result::Result<Value, String> {
        serde_json::from_str(&self.body)
            .map_err(|e| format!("response is not valid JSON ({e}): {}", snippet(&self.body)))
    }
}

/// The body cut to a readable length, whitespace collapsed (HTML error pages stay short).
pub fn snippet(body: &str) -> String {
    let collapsed = body.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.chars().count() > MAX_ERROR_BODY {
        let cut: String = collapsed.chars().take(MAX_ERROR_BODY).collect();
        format!("{cut}…")
    } else {
        collapsed
    }
}

/// Why a request produced no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// The job's abort signal fired; the request was dropped mid-flight.
    Aborted,
    /// A network failure (connect, timeout, body read).
    Network(String),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Aborted => f.write_str("job was stopped"),
            SendError::Network(text) => f.write_str(text),
        }
    }
}

async fn until_aborted(abort: Option<&Abort>) {
    match abort {
        Some(a) => {
            a.fired().await;
        }
        None => std::future::pending::<()>().await,
    }
}

fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let text = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    let secs: f64 = text.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs).min(MAX_RETRY_AFTER))
}

async fn send_once(
    abort: Option<&Abort>,
    request: reqwest::RequestBuilder,
) -> std::result::Result<(Answer, Option<Duration>), SendError> {
    let exchange = async {
        let response = request
            .send()
            .await
            .map_err(|e| SendError::Network(e.without_url().to_string()))?;
        let status = response.status().as_u16();
        let wait = retry_after(response.headers());
        let body = response
            .text()
            .await
            .map_err(|e| SendError::Network(e.without_url().to_string()))?;
        Ok((Answer { status, body }, wait))
    };
    tokio::select! {
        out = exchange => out,
        _ = until_aborted(abort) => Err(SendError::Aborted),
    }
}

/// Sends the request `make` builds, retrying 429 and 5xx up to [`MAX_RETRIES`] times (waiting
/// `Retry-After`, else 0.5 s, 1 s); the last answer is returned whatever its status.
pub async fn send(
    abort: Option<&Abort>,
    make: impl Fn() -> reqwest::RequestBuilder,
) -> std::result::Result<Answer, SendError> {
    let mut attempt = 0;
    loop {
        let (answer, wait) = send_once(abort, make()).await?;
        let retryable = answer.status == 429 || answer.status >= 500;
        if !retryable || attempt >= MAX_RETRIES {
            return Ok(answer);
        }
        let pause = wait.unwrap_or_else(|| Duration::from_millis(500 << attempt));
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = until_aborted(abort) => return Err(SendError::Aborted),
        }
        attempt += 1;
    }
}

/// `application/x-www-form-urlencoded` of `pairs`, in order (Python's `urlencode`).
pub fn form(pairs: &[(&str, &str)]) -> String {
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        ser.append_pair(k, v);
    }
    ser.finish()
}

/// One path segment, percent-encoded (calendar ids contain `#`, `@` and `/`).
pub fn path_segment(segment: &str) -> String {
    url::form_urlencoded::byte_serialize(segment.as_bytes())
        .collect::<String>()
        // `byte_serialize` writes a space as `+`, which a path does not decode.
        .replace('+', "%20")
}

/// Escapes text for HTML (element content and attribute values).
pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_python() {
        assert_eq!(
            form(&[("redirect_uri", "http://127.0.0.1:5/cb"), ("s", "a b")]),
            "redirect_uri=http%3A%2F%2F127.0.0.1%3A5%2Fcb&s=a+b"
        );
        assert_eq!(
            path_segment("en.usa#holiday@group.v.calendar.google.com"),
            "en.usa%23holiday%40group.v.calendar.google.com"
        );
        assert_eq!(path_segment("a b/c"), "a%20b%2Fc");
        assert_eq!(
            html_escape("<script>alert('x')&\"</script>"),
            "&lt;script&gt;alert(&#x27;x&#x27;)&amp;&quot;&lt;/script&gt;"
        );
        assert_eq!(
            snippet("<html>\n  <b>x</b>\n</html>"),
            "<html> <b>x</b> </html>"
        );
    }
}
