//! Test harness: a real core backend in a temp dir, the real server on 127.0.0.1, and a tiny
//! raw HTTP/1.1 client over a TcpStream (so the tests see exactly the bytes on the wire).
#![allow(dead_code)]

pub mod fake;

use std::time::Duration;

use enttok_core::{Backend, Config};
use enttok_http::{HttpOptions, HttpServer, Tuning};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub struct Harness {
    pub backend: Backend,
    pub server: HttpServer,
    _dir: tempfile::TempDir,
}

impl Harness {
    pub async fn start() -> Harness {
        Self::start_with(HttpOptions::default(), Tuning::default()).await
    }

    pub async fn start_with(options: HttpOptions, tuning: Tuning) -> Harness {
        Self::start_full(options, tuning, |_| {}).await
    }

    /// A harness whose core `Config` the test adjusts (endpoints, OAuth client, …).
    pub async fn start_config(adjust: impl FnOnce(&mut Config)) -> Harness {
        Self::start_full(HttpOptions::default(), Tuning::default(), adjust).await
    }

    pub async fn start_full(
        options: HttpOptions,
        tuning: Tuning,
        adjust: impl FnOnce(&mut Config),
    ) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::new(dir.path());
        config.scheduler = false;
        adjust(&mut config);
        let backend = Backend::open(config).await.unwrap();
        let server = enttok_http::start_tuned(backend.clone(), options, tuning)
            .await
            .unwrap();
        Harness {
            backend,
            server,
            _dir: dir,
        }
    }

    pub fn port(&self) -> u16 {
        self.server.port()
    }

    pub fn token(&self) -> String {
        self.server.token().to_string()
    }

    /// A request with the right Host and token; change what the test is about.
    pub fn req(&self, method: &str, path: &str) -> Req {
        Req {
            port: self.port(),
            method: method.into(),
            path: path.into(),
            headers: vec![
                ("Host".into(), format!("127.0.0.1:{}", self.port())),
                ("X-Backend-Token".into(), self.token()),
            ],
            body: Vec::new(),
        }
    }

    pub fn get(&self, path: &str) -> Req {
        self.req("GET", path)
    }

    pub fn post(&self, path: &str) -> Req {
        self.req("POST", path)
    }

    pub fn delete(&self, path: &str) -> Req {
        self.req("DELETE", path)
    }

    pub fn patch(&self, path: &str) -> Req {
        self.req("PATCH", path)
    }

    pub async fn close(self) {
        self.server.stop().await;
        self.backend.close().await.unwrap();
    }
}

pub struct Req {
    pub port: u16,
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Req {
    /// Sets (replaces) a header.
    pub fn header(mut self, name: &str, value: &str) -> Req {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Removes a header.
    pub fn without(mut self, name: &str) -> Req {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self
    }

    /// A JSON body (content-type application/json).
    pub fn json(self, body: &Value) -> Req {
        self.header("Content-Type", "application/json")
            .raw(body.to_string().as_bytes())
    }

    /// Raw body bytes (no content-type unless set).
    pub fn raw(mut self, body: &[u8]) -> Req {
        self.body = body.to_vec();
        self
    }

    pub fn bytes(&self) -> Vec<u8> {
        let mut out = format!("{} {} HTTP/1.1\r\n", self.method, self.path).into_bytes();
        for (n, v) in &self.headers {
            out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
        }
        let chunked = self
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("transfer-encoding"));
        let has_len = self
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-length"));
        if !chunked && !has_len && (!self.body.is_empty() || self.method == "POST") {
            out.extend_from_slice(format!("Content-Length: {}\r\n", self.body.len()).as_bytes());
        }
        out.extend_from_slice(b"Connection: close\r\n\r\n");
        out.extend_from_slice(&self.body);
        out
    }

    pub async fn send(self) -> Resp {
        let bytes = self.bytes();
        send_raw(self.port, &bytes).await
    }
}

/// Writes raw bytes, reads the answer until the server closes, and parses it.
pub async fn send_raw(port: u16, bytes: &[u8]) -> Resp {
    let raw = exchange(port, bytes, Duration::from_secs(10)).await;
    Resp::parse(&raw)
        .unwrap_or_else(|| panic!("unparsable answer: {:?}", String::from_utf8_lossy(&raw)))
}

/// Writes raw bytes and collects whatever comes back until EOF, an error or the deadline.
pub async fn exchange(port: u16, bytes: &[u8], deadline: Duration) -> Vec<u8> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let (mut rd, mut wr) = stream.split();
    let mut out = Vec::new();
    let write = async {
        // The server may answer (and close) before reading everything: write errors are fine.
        let _ = wr.write_all(bytes).await;
        let _ = wr.flush().await;
    };
    let read = async {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    };
    let _ = tokio::time::timeout(deadline, async { tokio::join!(write, read) }).await;
    out
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn parse(raw: &[u8]) -> Option<Resp> {
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = std::str::from_utf8(&raw[..split]).ok()?;
        let mut lines = head.split("\r\n");
        let status_line = lines.next()?;
        let status = status_line.split(' ').nth(1)?.parse().ok()?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let rest = &raw[split + 4..];
        let len = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .and_then(|(_, v)| v.parse::<usize>().ok())
            .unwrap_or(rest.len());
        Some(Resp {
            status,
            headers,
            body: rest[..len.min(rest.len())].to_vec(),
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Asserts a status and `{"detail": <detail>}`.
    #[track_caller]
    pub fn assert_detail(&self, status: u16, detail: &str) {
        assert_eq!(self.status, status, "body: {}", self.text());
        assert_eq!(self.json(), serde_json::json!({ "detail": detail }));
    }

    /// Asserts the security headers of §3.3.
    #[track_caller]
    pub fn assert_security_headers(&self) {
        assert_eq!(self.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(self.header("x-frame-options"), Some("DENY"));
        assert_eq!(self.header("cache-control"), Some("no-store"));
        assert_eq!(self.header("referrer-policy"), Some("no-referrer"));
    }
}
