//! Shared helpers of the Atlassian tests: a small HTTP/1.1 server on 127.0.0.1 that records
//! every request and answers through a route closure, and helpers around a real backend.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use enttok_core::jobs::JobRecord;
use enttok_core::{Backend, Config};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One received request.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Recorded {
    /// A header value (name case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// A query parameter.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (`null` when empty).
    pub fn json(&self) -> Value {
        if self.body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&self.body).expect("request body is JSON")
        }
    }
}

/// An answer of the fake server.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub delay: Duration,
}

impl Reply {
    pub fn json(status: u16, body: &Value) -> Reply {
        Reply {
            status,
            headers: vec![(
                "content-type".into(),
                "application/json;charset=UTF-8".into(),
            )],
            body: body.to_string().into_bytes(),
            delay: Duration::ZERO,
        }
    }

    pub fn raw(status: u16, content_type: &str, body: &str) -> Reply {
        Reply {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            body: body.as_bytes().to_vec(),
            delay: Duration::ZERO,
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn delayed(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }
}

/// The route closure: sees every request (already recorded) and answers.
pub type Route = Arc<dyn Fn(&Recorded) -> Reply + Send + Sync>;

/// A running fake server.
pub struct FakeServer {
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
    /// Requests whose client hung up before the (delayed) answer was sent.
    aborted: Arc<AtomicUsize>,
}

impl FakeServer {
    pub async fn start(route: Route) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let aborted = Arc::new(AtomicUsize::new(0));
        let (reqs, ab) = (Arc::clone(&requests), Arc::clone(&aborted));
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    break;
                };
                let (route, reqs, ab) = (Arc::clone(&route), Arc::clone(&reqs), Arc::clone(&ab));
                tokio::spawn(async move {
                    let _ = serve(stream, route, reqs, ab).await;
                });
            }
        });
        FakeServer {
            addr,
            requests,
            aborted,
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    pub fn requests_to(&self, path: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }

    pub fn aborted(&self) -> usize {
        self.aborted.load(Ordering::SeqCst)
    }
}

async fn serve(
    mut stream: TcpStream,
    route: Route,
    requests: Arc<Mutex<Vec<Recorded>>>,
    aborted: Arc<AtomicUsize>,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let head_end = loop {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let method = parts.next().unwrap_or_default().to_string();
    let target = parts.next().unwrap_or_default().to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), parse_query(q)),
        None => (target.clone(), Vec::new()),
    };
    let recorded = Recorded {
        method,
        path,
        query,
        headers,
        body,
    };
    requests.lock().unwrap().push(recorded.clone());
    let reply = route(&recorded);
    if !reply.delay.is_zero() {
        let mut probe = [0u8; 1];
        tokio::select! {
            _ = tokio::time::sleep(reply.delay) => {}
            n = stream.read(&mut probe) => {
                if matches!(n, Ok(0) | Err(_)) {
                    aborted.fetch_add(1, Ordering::SeqCst);
                    return Ok(());
                }
            }
        }
    }
    let reason = match reply.status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Other",
    };
    let mut out = format!(
        "HTTP/1.1 {} {reason}\r\ncontent-length: {}\r\nconnection: close\r\n",
        reply.status,
        reply.body.len()
    );
    for (n, v) in &reply.headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    out.push_str("\r\n");
    stream.write_all(out.as_bytes()).await?;
    stream.write_all(&reply.body).await?;
    stream.shutdown().await?;
    Ok(())
}

fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `Basic base64(email:token)`.
pub fn basic(email: &str, token: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{email}:{token}")))
}

/// A backend on `dir` whose Atlassian template points at `base`; the scheduler is off.
pub async fn open_backend(dir: &Path, base: &str, key: Option<[u8; 32]>) -> Backend {
    let mut config = Config::new(dir);
    config.endpoints.atlassian_base_url = base.to_string();
    config.scheduler = false;
    config.secret_key = key;
    Backend::open(config).await.unwrap()
}

/// Polls a job until its status is `status` (10 s at most).
pub async fn wait_status(backend: &Backend, job_id: &str, status: &str) -> JobRecord {
    for _ in 0..500 {
        let job = backend.get_job(job_id).await.unwrap();
        if job.status == status {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("job {job_id} never reached {status}");
}

/// "Now" of the fake data, fixed once per test process so expected ids computed later match.
pub fn anchor() -> i64 {
    static ANCHOR: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *ANCHOR.get_or_init(|| chrono::Utc::now().timestamp())
}

/// An Atlassian-style time `secs_ago` seconds before the anchor, with a `+0900` offset and
/// milliseconds (`2024-01-01T19:00:00.123+0900`), and its epoch seconds.
pub fn atl_time(secs_ago: i64) -> (String, i64) {
    let ts = anchor() - secs_ago;
    let at = chrono::DateTime::from_timestamp(ts, 0).unwrap() + chrono::Duration::hours(9);
    (at.format("%Y-%m-%dT%H:%M:%S.123+0900").to_string(), ts)
}

/// Everything the subscription has buffered now, as JSON.
pub fn drain(sub: &mut enttok_core::Subscription) -> Vec<Value> {
    let mut out = Vec::new();
    sub.drain_ready(&mut out, 100_000);
    out.iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect()
}

/// All rows of `activity_events` as (event_id, event_type, title, description, url, actor,
/// event_time, event_ts, account_id, raw_json), ordered by event_id.
pub fn activity_rows(dir: &Path) -> Vec<Vec<Value>> {
    let conn = rusqlite::Connection::open(dir.join("index.db")).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT event_id, source, event_type, title, description, url, actor, event_time,
                    event_ts, account_id, raw_json FROM activity_events ORDER BY event_id",
        )
        .unwrap();
    let rows = stmt
        .query_map([], |r| {
            let mut row = Vec::new();
            for i in 0..11 {
                let v: rusqlite::types::Value = r.get(i)?;
                row.push(match v {
                    rusqlite::types::Value::Null => Value::Null,
                    rusqlite::types::Value::Integer(n) => Value::from(n),
                    rusqlite::types::Value::Text(t) => Value::from(t),
                    other => Value::from(format!("{other:?}")),
                });
            }
            Ok(row)
        })
        .unwrap();
    rows.map(Result::unwrap).collect()
}

/// A scalar from the database file.
pub fn db_string(dir: &Path, sql: &str) -> Option<String> {
    let conn = rusqlite::Connection::open(dir.join("index.db")).unwrap();
    conn.query_row(sql, [], |r| r.get(0)).ok()
}
