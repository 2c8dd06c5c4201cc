//! The one outbound HTTP stack of the backend (Atlassian and Google alike).
//!
//! It fixes the policy every remote call of the backend follows (CONTRACT.md §8.3, §9.1):
//! timeouts per request and per connect, a bounded number of retries on 429 and 5xx (one
//! reading of `Retry-After`, bounds per [`RetryPolicy`]), `HTTPS_PROXY`/`NO_PROXY` from the
//! environment (except for loopback targets), cancellation through a job's abort signal, response
//! bodies of bounded size, and error texts that never carry secrets (header values are never
//! printed, URLs are not part of network error texts). Plain `http` is refused except for
//! loopback hosts, which tests and local development use.

mod client;
mod encode;
mod error;
mod request;

pub use client::{ClientOptions, HttpClient, RetryPolicy};
pub use encode::{form, html_escape, path_segment, snippet};
pub use error::{status_text, NetError};
pub use request::{Method, Request, Response};

/// Test hooks (feature `test-support`): the integration tests reach a local TLS proxy.
#[cfg(feature = "test-support")]
pub mod test_support {
    static ROOTS: std::sync::Mutex<Vec<Vec<u8>>> = std::sync::Mutex::new(Vec::new());

    /// Trusts the PEM certificate `pem` as a root in every client created from now on.
    pub fn trust_root_pem(pem: &[u8]) {
        crate::store::lock(&ROOTS).push(pem.to_vec());
    }

    pub(crate) fn roots() -> Vec<Vec<u8>> {
        crate::store::lock(&ROOTS).clone()
    }
}

/// Checks that `url` may be called: `https`, or `http` to a loopback host only.
pub fn check_url(url: &reqwest::Url) -> Result<(), NetError> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        "http" => Err(NetError::Insecure),
        other => Err(NetError::InvalidUrl(format!(
            "unsupported scheme '{other}'"
        ))),
    }
}

/// True for `localhost`, `127.0.0.0/8` and `[::1]`.
pub fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if bare.eq_ignore_ascii_case("localhost") {
        return true;
    }
    bare.parse::<std::net::IpAddr>()
        .map(|ip| ip.is_loopback())
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_may_use_plain_http() {
        let ok = |s: &str| check_url(&reqwest::Url::parse(s).unwrap()).is_ok();
        assert!(ok("https://acme.atlassian.net"));
        assert!(ok("http://127.0.0.1:8080"));
        assert!(ok("http://localhost:1"));
        assert!(ok("http://[::1]:5"));
        assert!(!ok("http://acme.atlassian.net"));
        assert!(!ok("http://127.0.0.1.example.com"));
        assert!(!ok("ftp://127.0.0.1"));
    }
}
