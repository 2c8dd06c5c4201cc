//! The client: timeouts, retries, cancellation, bounded bodies.

use std::future::Future;
use std::time::Duration;

use super::error::{describe, NetError};
use super::request::{Method, Request, Response};
use crate::jobs::Abort;

/// When to send a request again.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Retries after the first attempt (2: at most 3 requests).
    pub max_retries: u32,
    /// Waits before retrying a 5xx, by retry number; the last one repeats.
    pub server_error_delays: Vec<Duration>,
    /// Wait after a 429 without a usable `Retry-After`; `None`: the 5xx delays.
    pub default_retry_after: Option<Duration>,
    /// Lower bound of a `Retry-After` wait.
    pub min_retry_after: Duration,
    /// Upper bound of a `Retry-After` wait, so a hostile value cannot park a worker for hours.
    pub max_retry_after: Duration,
    /// Whether a 5xx's `Retry-After` is honoured too (else the 5xx delays apply).
    pub retry_after_on_server_errors: bool,
}

impl Default for RetryPolicy {
    /// CONTRACT.md §9.1 (Atlassian): at most 2 retries; 429 waits `Retry-After` (≥ 1 s, else
    /// 1 s); 5xx waits 0.5 s, then 1.0 s.
    fn default() -> Self {
        RetryPolicy {
            max_retries: 2,
            server_error_delays: vec![Duration::from_millis(500), Duration::from_millis(1000)],
            default_retry_after: Some(Duration::from_secs(1)),
            min_retry_after: Duration::from_secs(1),
            max_retry_after: Duration::from_secs(120),
            retry_after_on_server_errors: false,
        }
    }
}

impl RetryPolicy {
    /// CONTRACT.md §8.3 (Google): at most 2 retries of a 429 or 5xx, each honouring its
    /// `Retry-After` (at most 30 s), else waiting 0.5 s, then 1.0 s.
    pub fn google() -> Self {
        RetryPolicy {
            default_retry_after: None,
            min_retry_after: Duration::ZERO,
            max_retry_after: Duration::from_secs(30),
            retry_after_on_server_errors: true,
            ..RetryPolicy::default()
        }
    }

    /// The wait before retry number `retry` (0-based) of an answer with `status` and
    /// `Retry-After` header, or `None` when the status is not retried.
    fn wait(&self, status: u16, header: Option<&str>, retry: u32) -> Option<Duration> {
        let i = (retry as usize).min(self.server_error_delays.len().saturating_sub(1));
        let backoff = self.server_error_delays.get(i).copied().unwrap_or_default();
        let asked = header
            .and_then(retry_after)
            .map(|wait| wait.max(self.min_retry_after).min(self.max_retry_after));
        match status {
            429 => Some(asked.or(self.default_retry_after).unwrap_or(backoff)),
            500..=599 if self.retry_after_on_server_errors => Some(asked.unwrap_or(backoff)),
            500..=599 => Some(backoff),
            _ => None,
        }
    }
}

/// Options of a client.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Whole request, body included.
    pub timeout: Duration,
    /// TCP (and TLS) connect.
    pub connect_timeout: Duration,
    pub retry: RetryPolicy,
    /// Largest response body read, in bytes.
    pub max_body_bytes: usize,
    /// Honour `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` (corporate networks); turned off for
    /// loopback targets, which a proxy could not reach.
    pub use_env_proxy: bool,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            timeout: Duration::from_secs(20),
            connect_timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            max_body_bytes: 32 * 1024 * 1024,
            use_env_proxy: true,
        }
    }
}

/// An outbound client. Create one per job or call: it owns a connection pool bound to the
/// current tokio runtime.
#[derive(Clone)]
pub struct HttpClient {
    inner: reqwest::Client,
    options: ClientOptions,
}

impl HttpClient {
    /// A client with the given options. Redirects are not followed (an API answering a
    /// redirect is an error worth seeing, and credentials must not travel elsewhere).
    pub fn new(options: ClientOptions) -> Result<HttpClient, NetError> {
        let mut builder = reqwest::Client::builder();
        if !options.use_env_proxy {
            builder = builder.no_proxy();
        }
        #[cfg(feature = "test-support")]
        for pem in super::test_support::roots() {
            let root = reqwest::Certificate::from_pem(&pem).map_err(|e| describe(&e))?;
            builder = builder.add_root_certificate(root);
        }
        let inner = builder
            .timeout(options.timeout)
            .connect_timeout(options.connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            // Idle connections go after a few seconds: nothing lingers once the backend closed.
            .pool_idle_timeout(Duration::from_secs(5))
            .user_agent(concat!("enttok-backend/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| describe(&e))?;
        Ok(HttpClient { inner, options })
    }

    /// A client with the default options.
    pub fn with_defaults() -> Result<HttpClient, NetError> {
        HttpClient::new(ClientOptions::default())
    }

    /// Sends `request`, retrying 429 and 5xx answers per the policy, and returns the last
    /// answer whatever its status. Stops at once with [`NetError::Canceled`] when `abort` fires.
    pub async fn send(
        &self,
        request: &Request,
        abort: Option<&Abort>,
    ) -> Result<Response, NetError> {
        let policy = &self.options.retry;
        let mut retry: u32 = 0;
        loop {
            let response = cancelable(self.once(request), abort).await?;
            let wait = policy.wait(response.0.status, response.1.as_deref(), retry);
            match wait {
                Some(wait) if retry < policy.max_retries => {
                    cancelable(
                        async {
                            tokio::time::sleep(wait).await;
                            Ok(())
                        },
                        abort,
                    )
                    .await?;
                    retry += 1;
                }
                _ => return Ok(response.0),
            }
        }
    }

    /// One attempt: the answer and its `Retry-After` header.
    async fn once(&self, request: &Request) -> Result<(Response, Option<String>), NetError> {
        let method = match request.method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
        };
        let mut builder = self.inner.request(method, request.url.clone());
        for (name, value) in &request.headers {
            builder = builder.header(name.clone(), value.clone());
        }
        if let Some(body) = &request.body {
            builder = builder.body(body.clone());
        }
        let mut response = builder.send().await.map_err(|e| describe(&e))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| describe(&e))? {
            if body.len() + chunk.len() > self.options.max_body_bytes {
                return Err(NetError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok((Response { status, body }, retry_after))
    }
}

/// The one reading of `Retry-After`: delay-seconds (all digits, RFC 9110; too many digits
/// mean "very long"). An HTTP-date or anything else is unusable (`None`).
fn retry_after(header: &str) -> Option<Duration> {
    let v = header.trim();
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(Duration::from_secs(v.parse::<u64>().unwrap_or(u64::MAX)))
}

/// Runs `fut` unless `abort` fires first.
async fn cancelable<T>(
    fut: impl Future<Output = Result<T, NetError>>,
    abort: Option<&Abort>,
) -> Result<T, NetError> {
    match abort {
        None => fut.await,
        Some(abort) => {
            if abort.is_fired() {
                return Err(NetError::Canceled);
            }
            tokio::select! {
                biased;
                _ = abort.fired() => Err(NetError::Canceled),
                out = fut => out,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rules() {
        let p = RetryPolicy::default();
        let wait = |h: Option<&str>| p.wait(429, h, 0);
        assert_eq!(wait(Some("3")), Some(Duration::from_secs(3)));
        assert_eq!(wait(Some("0")), Some(Duration::from_secs(1)));
        assert_eq!(wait(Some("1.5")), Some(Duration::from_secs(1)));
        assert_eq!(
            wait(Some("Wed, 21 Oct 2015 07:28:00 GMT")),
            Some(Duration::from_secs(1))
        );
        assert_eq!(wait(None), Some(Duration::from_secs(1)));
        assert_eq!(
            wait(Some("99999999999999999999999")),
            Some(p.max_retry_after)
        );
        // Atlassian: a 5xx waits its delays whatever its Retry-After.
        assert_eq!(p.wait(503, Some("7"), 0), Some(Duration::from_millis(500)));
        assert_eq!(p.wait(503, None, 1), Some(Duration::from_millis(1000)));
        assert_eq!(p.wait(503, None, 5), Some(Duration::from_millis(1000)));
        assert_eq!(p.wait(404, Some("1"), 0), None);
    }

    #[test]
    fn google_retry_after_rules() {
        let p = RetryPolicy::google();
        assert_eq!(p.wait(429, Some("2"), 0), Some(Duration::from_secs(2)));
        assert_eq!(p.wait(429, Some("0"), 0), Some(Duration::ZERO));
        assert_eq!(p.wait(503, Some("3"), 0), Some(Duration::from_secs(3)));
        assert_eq!(p.wait(429, Some("3600"), 0), Some(Duration::from_secs(30)));
        assert_eq!(p.wait(429, None, 0), Some(Duration::from_millis(500)));
        assert_eq!(
            p.wait(500, Some("soon"), 1),
            Some(Duration::from_millis(1000))
        );
        assert_eq!(p.wait(410, None, 0), None);
    }
}
