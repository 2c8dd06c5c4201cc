//! The request guards of CONTRACT.md §3.2: Host (step 1), CORS preflight (2), Origin (3) and
//! token (5). Pure functions over headers so each rule is testable on its own.

use hyper::header::{HeaderMap, HeaderValue, HOST, ORIGIN};
use hyper::{Method, Response, StatusCode, Uri};

use crate::reply::{add_security, into_response, Body, Reply};

/// Origins every server allows (CONTRACT.md row 5).
pub const DEFAULT_ORIGINS: [&str; 3] =
    ["http://localhost:5173", "http://127.0.0.1:5173", "app://."];

/// The request header carrying the token.
pub const TOKEN_HEADER: &str = "x-backend-token";

/// The fixed facts the guards compare against, computed once per server.
pub(crate) struct Guard {
    hosts: [String; 3],
    origins: Vec<String>,
    token: Box<[u8]>,
}

/// What the Origin check decided.
pub(crate) enum OriginCheck {
    /// No `Origin` header (Node, curl): fine, no CORS headers.
    Absent,
    /// An allowed origin: every answer carries its CORS headers.
    Allowed(HeaderValue),
    /// Present and not allowed.
    Refused,
}

impl Guard {
    pub(crate) fn new(port: u16, token: &str, extra_origins: &[String]) -> Guard {
        let mut origins: Vec<String> = DEFAULT_ORIGINS.iter().map(|s| s.to_string()).collect();
        origins.extend(extra_origins.iter().cloned());
        Guard {
            hosts: [
                format!("127.0.0.1:{port}"),
                format!("localhost:{port}"),
                format!("[::1]:{port}"),
            ],
            origins,
            token: token.as_bytes().into(),
        }
    }

    /// Step 1: exactly one `Host`, a loopback name with the listening port (DNS-rebinding
    /// defence); an absolute-form request target (`GET http://host/…`) must name one too, since
    /// a proxy-style client would take it over the header.
    pub(crate) fn host_ok(&self, headers: &HeaderMap, uri: &Uri) -> bool {
        let mut hosts = headers.get_all(HOST).iter();
        let (Some(host), None) = (hosts.next(), hosts.next()) else {
            return false;
        };
        let loopback = |name: &[u8]| {
            self.hosts
                .iter()
                .any(|h| h.as_bytes().eq_ignore_ascii_case(name))
        };
        loopback(host.as_bytes())
            && uri
                .authority()
                .is_none_or(|a| loopback(a.as_str().as_bytes()))
    }

    /// Step 3: the `Origin` header against the allow-list (exact match).
    pub(crate) fn origin(&self, headers: &HeaderMap) -> OriginCheck {
        match headers.get(ORIGIN) {
            None => OriginCheck::Absent,
            Some(value)
                if self
                    .origins
                    .iter()
                    .any(|o| o.as_bytes() == value.as_bytes()) =>
            {
                OriginCheck::Allowed(value.clone())
            }
            Some(_) => OriginCheck::Refused,
        }
    }

    /// Step 5: the token, compared in constant time.
    pub(crate) fn token_ok(&self, given: Option<&[u8]>) -> bool {
        given.is_some_and(|given| constant_time_eq(given, &self.token))
    }
}

/// Compares two byte strings in time that depends only on their lengths, never on where they
/// differ (the length of a generated token is public anyway: 64 hex characters).
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u8::from(a.len() != b.len());
    let n = a.len().max(b.len());
    for i in 0..n {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= x ^ y;
    }
    std::hint::black_box(diff) == 0
}

/// Whether the request is a CORS preflight: `OPTIONS` with `Origin` and
/// `Access-Control-Request-Method`.
pub(crate) fn is_preflight(method: &Method, headers: &HeaderMap) -> bool {
    method == Method::OPTIONS
        && headers.contains_key(ORIGIN)
        && headers.contains_key("access-control-request-method")
}

/// Step 2: the preflight answer (no token needed).
pub(crate) fn preflight(check: OriginCheck, headers: &HeaderMap) -> Response<Body> {
    let OriginCheck::Allowed(origin) = check else {
        return into_response(Reply::text(
            StatusCode::BAD_REQUEST,
            "Disallowed CORS origin",
        ));
    };
    let mut response = into_response(Reply::text(StatusCode::OK, "OK"));
    let h = response.headers_mut();
    h.insert("vary", HeaderValue::from_static("Origin"));
    h.insert(
        "access-control-allow-methods",
        HeaderValue::from_static("DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"),
    );
    h.insert("access-control-max-age", HeaderValue::from_static("600"));
    h.insert(
        "access-control-allow-credentials",
        HeaderValue::from_static("true"),
    );
    h.insert("access-control-allow-origin", origin);
    if let Some(requested) = headers.get("access-control-request-headers") {
        h.insert("access-control-allow-headers", requested.clone());
    }
    add_security(&mut response);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_compare() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn hosts_and_origins() {
        let g = Guard::new(8080, "t", &["null".to_string()]);
        let mut h = HeaderMap::new();
        let path = Uri::from_static("/health");
        assert!(!g.host_ok(&h, &path));
        for ok in ["127.0.0.1:8080", "LOCALHOST:8080", "[::1]:8080"] {
            h.insert(HOST, HeaderValue::from_static(ok));
            assert!(g.host_ok(&h, &path), "{ok}");
            let absolute = Uri::try_from(format!("http://{ok}/health")).unwrap();
            assert!(g.host_ok(&h, &absolute), "{ok}");
        }
        // An absolute-form target naming another host, and a second Host header.
        let elsewhere = Uri::from_static("http://evil.example:8080/health");
        assert!(!g.host_ok(&h, &elsewhere));
        h.append(HOST, HeaderValue::from_static("evil.example"));
        assert!(!g.host_ok(&h, &path));
        h.remove(HOST);
        for bad in [
            "127.0.0.1",
            "127.0.0.1:8081",
            "evil.example",
            "evil.example:8080",
        ] {
            h.insert(HOST, HeaderValue::from_static(bad));
            assert!(!g.host_ok(&h, &path), "{bad}");
        }
        assert!(matches!(g.origin(&h), OriginCheck::Absent));
        h.insert(ORIGIN, HeaderValue::from_static("null"));
        assert!(matches!(g.origin(&h), OriginCheck::Allowed(_)));
        h.insert(ORIGIN, HeaderValue::from_static("http://evil.example"));
        assert!(matches!(g.origin(&h), OriginCheck::Refused));
        h.insert(ORIGIN, HeaderValue::from_static("app://."));
        assert!(matches!(g.origin(&h), OriginCheck::Allowed(_)));
    }
}
