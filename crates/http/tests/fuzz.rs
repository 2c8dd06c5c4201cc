//! Fuzz-style robustness: a few thousand random requests (methods, paths, headers, bodies and
//! plain garbage) from a seeded PRNG against the real server on loopback. The server must keep
//! answering, never answer 500, and keep its security headers on every JSON answer.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{exchange, Harness, Resp};

/// xorshift64*: deterministic, so a failure can be replayed from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
    fn text(&mut self, min: usize, spread: usize) -> String {
        let n = min + self.below(spread);
        self.printable(n)
    }
    fn printable(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| (0x21 + self.below(0x7e - 0x21)) as u8 as char)
            .collect()
    }
}

const METHODS: &[&str] = &[
    "GET", "GET", "POST", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "TRACE", "FOO",
];

const PATHS: &[&str] = &[
    "/health",
    "/status",
    "/settings",
    "/jobs",
    "/jobs/job_00000000000000000000000000000000",
    "/jobs/%ZZ%/cancel",
    "/jobs/%F0%9F%92%A9/events",
    "/jobs/x/events/",
    "/events",
    "/openapi.json",
    "/memory/search",
    "/docs",
    "/",
    "//",
    "/jobs/../../etc/passwd",
    "/jobs?limit=-1&status=%00&type=",
    "/jobs?limit=99999999999999999999999",
    "/health/?a=b",
    "*",
    "http://127.0.0.1/health",
];

const BODIES: &[&str] = &[
    r#"{"type":"demo","payload":{"simulate_ms":1}}"#,
    r#"{"type":"demo","payload":{"simulate_ms":-5}}"#,
    r#"{"type":"demo","payload":{"simulate_ms":"abc"}}"#,
    r#"{"type":"demo","payload":{"simulate_ms":1e308}}"#,
    r#"{"type":"demo","priority":"9999999999999","run_at":"nope"}"#,
    r#"{"type":"demo","run_at":"2024-01-01T00:00:00Z","unique_key":"k"}"#,
    r#"{"type":"nope"}"#,
    r#"{"type":null,"payload":[]}"#,
    r#"{"claude_max_concurrent":"yes","calendar_sync_interval_sec":59}"#,
    r#"{"atlassian_sync_interval_sec":1e400}"#,
    r#"[1,2,3]"#,
    r#""string""#,
    r#"null"#,
    r#"{"a":"\ud800"}"#,
    r#"{"#,
    "\u{feff}{}",
];

fn random_request(rng: &mut Rng, port: u16, token: &str) -> Vec<u8> {
    if rng.chance(5) {
        let n = rng.below(300);
        return rng.bytes(n);
    }
    let method = if rng.chance(3) {
        rng.text(1, 10)
    } else {
        rng.pick(METHODS).to_string()
    };
    let mut path = if rng.chance(3) {
        format!("/{}", rng.text(0, 200))
    } else if rng.chance(15) {
        // URI-legal characters, so most reach the router rather than hyper's parser.
        const SAFE: &[u8] = b"abcXYZ019-._~%/?&=+:@!$'()*,;";
        let n = rng.below(120);
        let tail: String = (0..n).map(|_| *rng.pick(SAFE) as char).collect();
        format!("/{tail}")
    } else {
        rng.pick(PATHS).to_string()
    };
    if rng.chance(5) {
        path.push_str(&"a/".repeat(rng.below(3000)));
    }
    let version = if rng.chance(3) {
        "HTTP/1.0"
    } else {
        "HTTP/1.1"
    };
    let mut head = format!("{method} {path} {version}\r\n");
    match rng.below(10) {
        0 => head.push_str("Host: evil.example\r\n"),
        1 => {}
        2 => head.push_str(&format!("Host: localhost:{port}\r\n")),
        _ => head.push_str(&format!("Host: 127.0.0.1:{port}\r\n")),
    }
    match rng.below(10) {
        0 => {}
        1 => head.push_str("X-Backend-Token: wrong\r\n"),
        2 => head.push_str(&format!(
            "X-Backend-Token: {token}\r\nX-Backend-Token: second\r\n"
        )),
        _ => head.push_str(&format!("X-Backend-Token: {token}\r\n")),
    }
    if rng.chance(20) {
        let origin = *rng.pick(&[
            "http://localhost:5173",
            "null",
            "app://.",
            "http://evil.example",
        ]);
        head.push_str(&format!("Origin: {origin}\r\n"));
        if rng.chance(50) {
            head.push_str("Access-Control-Request-Method: POST\r\n");
        }
    }
    if rng.chance(30) {
        let ct = *rng.pick(&[
            "application/json",
            "text/plain",
            "application/x+json",
            "multipart/form-data; boundary=x",
            "\u{1}garbage",
            "",
        ]);
        head.push_str(&format!("Content-Type: {ct}\r\n"));
    }
    for _ in 0..rng.below(4) {
        // Mostly valid header names (so requests reach the pipeline), sometimes not.
        let name = if rng.chance(10) {
            rng.text(1, 20).replace(':', "-")
        } else {
            rng.text(1, 20)
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                .collect()
        };
        let value = rng.text(0, 100);
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if rng.chance(5) {
        head.push_str("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n");
    }
    let body: Vec<u8> = match rng.below(6) {
        0 => Vec::new(),
        1 => {
            let n = rng.below(2000);
            rng.bytes(n)
        }
        2 => {
            let depth = rng.below(5000);
            format!("{}{}", "[".repeat(depth), "]".repeat(depth)).into_bytes()
        }
        _ => rng.pick(BODIES).as_bytes().to_vec(),
    };
    match rng.below(12) {
        0 => head.push_str(&format!("Content-Length: {}\r\n", body.len() + 10)),
        1 => head.push_str("Content-Length: -1\r\n"),
        2 => head.push_str("Transfer-Encoding: chunked\r\n"),
        _ => head.push_str(&format!("Content-Length: {}\r\n", body.len())),
    }
    head.push_str("Connection: close\r\n\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(&body);
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn random_requests_never_break_the_server() {
    let h = Arc::new(Harness::start().await);
    let total = 3000usize;
    let workers = 8usize;
    let mut tasks = Vec::new();
    for w in 0..workers {
        let h = Arc::clone(&h);
        tasks.push(tokio::spawn(async move {
            let mut rng =
                Rng(0x9E37_79B9_7F4A_7C15 ^ (w as u64 + 1).wrapping_mul(0x1234_5678_9ABC));
            let (port, token) = (h.port(), h.token());
            let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
            for i in 0..total / workers {
                let req = random_request(&mut rng, port, &token);
                let raw = exchange(port, &req, Duration::from_millis(1500)).await;
                let Some(resp) = Resp::parse(&raw) else {
                    continue; // hyper may close on garbage without an answer
                };
                *statuses.entry(resp.status).or_default() += 1;
                assert_ne!(
                    resp.status,
                    500,
                    "worker {w} request {i}: {:?} -> {}",
                    String::from_utf8_lossy(&req[..req.len().min(400)]),
                    resp.text()
                );
                if resp.header("content-type") == Some("application/json") {
                    resp.assert_security_headers();
                    // A HEAD answer has the headers but no body.
                    if !req.starts_with(b"HEAD ") {
                        let _ = resp.json();
                    }
                }
            }
            statuses
        }));
    }
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for t in tasks {
        for (status, n) in t.await.unwrap() {
            *statuses.entry(status).or_default() += n;
        }
    }
    eprintln!("fuzz answers by status: {statuses:?}");
    let answered: usize = statuses.values().sum();
    // The mix reaches the handlers, not only the guards.
    for status in [200, 401, 403, 404, 405, 422] {
        assert!(
            statuses.contains_key(&status),
            "no {status} in {statuses:?}"
        );
    }
    assert!(answered > total / 2, "only {answered} answers");
    let r = h.get("/health").send().await;
    assert_eq!(r.status, 200);
    assert_eq!(h.get("/jobs?limit=1").send().await.status, 200);
    match Arc::try_unwrap(h) {
        Ok(h) => h.close().await,
        Err(_) => panic!("harness still shared"),
    }
}
