//! The pipeline of CONTRACT.md §3.2: Host, CORS, Origin, routing, token, body limits; and the
//! start/stop API.

mod common;

use common::{send_raw, Harness};
use enttok_core::{Backend, Config, Error};
use enttok_http::{HttpOptions, Tuning};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn token_matrix() {
    let h = Harness::start().await;
    assert_eq!(h.token().len(), 64);
    assert!(h.token().bytes().all(|b| b.is_ascii_hexdigit()));

    h.get("/health")
        .without("X-Backend-Token")
        .send()
        .await
        .assert_detail(401, "unauthorized");
    h.get("/health")
        .header("X-Backend-Token", "wrong")
        .send()
        .await
        .assert_detail(401, "unauthorized");
    // Same length, one character off.
    let mut near = h.token();
    near.replace_range(63.., if near.ends_with('0') { "1" } else { "0" });
    h.get("/health")
        .header("X-Backend-Token", &near)
        .send()
        .await
        .assert_detail(401, "unauthorized");
    // Header name is case-insensitive, value exact.
    let token = h.token();
    let r = h
        .get("/health")
        .without("X-Backend-Token")
        .header("x-BACKEND-token", &token)
        .send()
        .await;
    assert_eq!(r.status, 200);
    h.get("/health")
        .header("X-Backend-Token", &token.to_uppercase())
        .send()
        .await
        .assert_detail(401, "unauthorized");
    // A token in the query is not accepted for HTTP routes.
    let r = h
        .get(&format!("/health?token={token}"))
        .without("X-Backend-Token")
        .send()
        .await;
    r.assert_detail(401, "unauthorized");
    r.assert_security_headers();
    // Token runs before body parsing: a bad body without token is 401, not 422.
    h.post("/jobs")
        .without("X-Backend-Token")
        .raw(b"{not json")
        .send()
        .await
        .assert_detail(401, "unauthorized");
    // The public route needs none, even with a wrong one.
    let r = h
        .get("/openapi.json")
        .header("X-Backend-Token", "wrong")
        .send()
        .await;
    assert_eq!(r.status, 200);
    h.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn host_check() {
    let h = Harness::start().await;
    let port = h.port();
    for host in [
        "evil.example".to_string(),
        format!("evil.example:{port}"),
        "127.0.0.1".to_string(),
        format!("127.0.0.1:{}", port.wrapping_add(1)),
        "localhost".to_string(),
        String::new(),
    ] {
        let r = h.get("/health").header("Host", &host).send().await;
        r.assert_detail(403, "invalid host");
        r.assert_security_headers();
    }
    let r = h.get("/health").without("Host").send().await;
    // HTTP/1.1 without Host: hyper may refuse it itself (400); it never reaches a handler.
    assert!(r.status == 403 || r.status == 400, "{}", r.status);
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
    ] {
        assert_eq!(
            h.get("/health").header("Host", &host).send().await.status,
            200
        );
    }
    // Host comes before everything: even the public route and unknown paths.
    h.get("/openapi.json")
        .header("Host", "evil.example")
        .send()
        .await
        .assert_detail(403, "invalid host");
    h.get("/nope")
        .header("Host", "evil.example")
        .send()
        .await
        .assert_detail(403, "invalid host");
    h.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn origin_check_and_cors_headers() {
    let h = Harness::start_with(
        HttpOptions {
            origins: vec!["http://extra.example:3000".into()],
            ..HttpOptions::default()
        },
        Tuning::default(),
    )
    .await;
    for origin in ["http://evil.example", "null", "http://localhost:5174"] {
        let r = h.get("/health").header("Origin", origin).send().await;
        r.assert_detail(403, "origin not allowed");
        assert!(r.header("access-control-allow-origin").is_none());
    }
    // Origin is checked before the token.
    h.get("/health")
        .without("X-Backend-Token")
        .header("Origin", "http://evil.example")
        .send()
        .await
        .assert_detail(403, "origin not allowed");
    for origin in [
        "http://localhost:5173",
        "http://127.0.0.1:5173",
        "app://.",
        "http://extra.example:3000",
    ] {
        let r = h.get("/health").header("Origin", origin).send().await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("access-control-allow-origin"), Some(origin));
        assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
        assert_eq!(r.header("access-control-expose-headers"), Some("*"));
        assert_eq!(r.header("vary"), Some("Origin"));
        r.assert_security_headers();
        // Errors to an allowed origin carry them too.
        let r = h
            .get("/health")
            .without("X-Backend-Token")
            .header("Origin", origin)
            .send()
            .await;
        r.assert_detail(401, "unauthorized");
        assert_eq!(r.header("access-control-allow-origin"), Some(origin));
        let r = h.get("/nope").header("Origin", origin).send().await;
        assert_eq!(r.status, 404);
        assert_eq!(r.header("access-control-allow-origin"), Some(origin));
    }
    // No Origin: fine, and no CORS headers.
    let r = h.get("/health").send().await;
    assert_eq!(r.status, 200);
    assert!(r.header("access-control-allow-origin").is_none());
    h.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn preflight() {
    let h = Harness::start().await;
    let r = h
        .req("OPTIONS", "/jobs")
        .without("X-Backend-Token")
        .header("Origin", "http://localhost:5173")
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "x-backend-token,content-type",
        )
        .send()
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "OK");
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    assert_eq!(r.header("vary"), Some("Origin"));
    assert_eq!(
        r.header("access-control-allow-methods"),
        Some("DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT")
    );
    assert_eq!(r.header("access-control-max-age"), Some("600"));
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://localhost:5173")
    );
    assert_eq!(
        r.header("access-control-allow-headers"),
        Some("x-backend-token,content-type")
    );
    r.assert_security_headers();
    // Without requested headers there is no allow-headers; any path is fine.
    let r = h
        .req("OPTIONS", "/anything/at/all")
        .header("Origin", "app://.")
        .header("Access-Control-Request-Method", "GET")
        .send()
        .await;
    assert_eq!(r.status, 200);
    assert!(r.header("access-control-allow-headers").is_none());

    for origin in ["http://evil.example", "null"] {
        let r = h
            .req("OPTIONS", "/jobs")
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .send()
            .await;
        assert_eq!(r.status, 400);
        assert_eq!(r.text(), "Disallowed CORS origin");
        assert!(r.header("content-type").unwrap().starts_with("text/plain"));
        assert!(r.header("access-control-allow-origin").is_none());
    }
    // OPTIONS without preflight headers is a plain request: 405.
    let r = h.req("OPTIONS", "/jobs").send().await;
    r.assert_detail(405, "Method Not Allowed");
    h.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn routing_errors() {
    let h = Harness::start().await;
    let r = h.req("DELETE", "/jobs").send().await;
    r.assert_detail(405, "Method Not Allowed");
    assert_eq!(r.header("allow"), Some("GET, POST"));
    r.assert_security_headers();
    let r = h.req("HEAD", "/health").send().await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET"));
    let r = h.req("PUT", "/settings").send().await;
    assert_eq!(r.header("allow"), Some("GET, POST"));
    let r = h.get("/jobs/job_1/cancel").send().await;
    assert_eq!(r.header("allow"), Some("POST"));
    // 405 comes before the token.
    let r = h
        .req("DELETE", "/jobs")
        .without("X-Backend-Token")
        .send()
        .await;
    assert_eq!(r.status, 405);

    h.get("/nope").send().await.assert_detail(404, "Not Found");
    h.get("/jobs/a/b/c")
        .send()
        .await
        .assert_detail(404, "Not Found");
    h.get("//health")
        .send()
        .await
        .assert_detail(404, "Not Found");

    let port = h.port();
    let r = h.get("/health/").without("X-Backend-Token").send().await;
    assert_eq!(r.status, 307);
    assert_eq!(
        r.header("location").map(str::to_string),
        Some(format!("http://127.0.0.1:{port}/health"))
    );
    let r = h.get("/jobs/?limit=5").send().await;
    assert_eq!(r.status, 307);
    assert_eq!(
        r.header("location").map(str::to_string),
        Some(format!("http://127.0.0.1:{port}/jobs?limit=5"))
    );
    h.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn body_limits() {
    let h = Harness::start().await;
    // Declared too large: refused before reading.
    let r = h
        .post("/jobs")
        .header("Content-Length", "1048577")
        .send()
        .await;
    r.assert_detail(413, "request body too large");
    r.assert_security_headers();
    // Without a token the answer is still 401 (token first).
    h.post("/jobs")
        .without("X-Backend-Token")
        .header("Content-Length", "5000000")
        .send()
        .await
        .assert_detail(401, "unauthorized");

    // Chunked, over the limit while reading.
    let big = vec![b' '; 1024 * 1024 + 10];
    let mut chunked = format!("{:x}\r\n", big.len()).into_bytes();
    chunked.extend_from_slice(&big);
    chunked.extend_from_slice(b"\r\n0\r\n\r\n");
    let r = h
        .post("/jobs")
        .header("Transfer-Encoding", "chunked")
        .raw(&chunked)
        .send()
        .await;
    r.assert_detail(413, "request body too large");

    // Exactly 1 MiB is accepted (here: whitespace around a valid body).
    let mut ok = br#"{"type":"demo"}"#.to_vec();
    ok.resize(1024 * 1024, b' ');
    let r = h.post("/jobs").raw(&ok).send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    h.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn start_options_and_stop() {
    let dir = tempfile::tempdir().unwrap();
    let backend = Backend::open(Config::new(dir.path())).await.unwrap();
    let s = enttok_http::start(
        backend.clone(),
        HttpOptions {
            token: Some("my-secret_token!".into()),
            ..HttpOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(s.token(), "my-secret_token!");
    assert_eq!(s.url(), format!("http://127.0.0.1:{}", s.port()));
    let req = format!(
        "GET /health HTTP/1.1\r\nHost: localhost:{}\r\nX-Backend-Token: my-secret_token!\r\nConnection: close\r\n\r\n",
        s.port()
    );
    assert_eq!(send_raw(s.port(), req.as_bytes()).await.status, 200);

    // The same port again: conflict.
    let err = enttok_http::start(
        backend.clone(),
        HttpOptions {
            port: s.port(),
            ..HttpOptions::default()
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Conflict(_)), "{err:?}");

    for bad in ["", "has space", "tab\t", "é"] {
        let err = enttok_http::start(
            backend.clone(),
            HttpOptions {
                token: Some(bad.into()),
                ..HttpOptions::default()
            },
        )
        .await
        .unwrap_err();
        assert!(matches!(err, Error::BadRequest(_)), "{bad:?}: {err:?}");
    }

    // Stop frees the port, and is idempotent.
    let port = s.port();
    s.stop().await;
    s.stop().await;
    assert!(tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err());
    let again = enttok_http::start(
        backend.clone(),
        HttpOptions {
            port,
            ..HttpOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(again.port(), port);
    assert_ne!(again.token(), s.token());
    again.stop().await;

    // A closed backend cannot be served.
    backend.close().await.unwrap();
    let err = enttok_http::start(backend, HttpOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Closed));
    let _ = json!(null);
}

#[tokio::test(flavor = "multi_thread")]
async fn keep_alive_connections_serve_several_requests() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let h = Harness::start().await;
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", h.port()))
        .await
        .unwrap();
    let one = format!(
        "GET /health HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nX-Backend-Token: {}\r\n\r\n",
        h.port(),
        h.token()
    );
    tcp.write_all(format!("{one}{one}{one}").as_bytes())
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while got.windows(12).filter(|w| w == b"HTTP/1.1 200").count() < 3 {
        let n = tokio::time::timeout(std::time::Duration::from_secs(5), tcp.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0);
        got.extend_from_slice(&buf[..n]);
    }
    h.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn stop_ends_idle_keep_alive_connections() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let h = Harness::start().await;
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", h.port()))
        .await
        .unwrap();
    let one = format!(
        "GET /health HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nX-Backend-Token: {}\r\n\r\n",
        h.port(),
        h.token()
    );
    tcp.write_all(one.as_bytes()).await.unwrap();
    let mut buf = [0u8; 4096];
    let n = tcp.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    let started = std::time::Instant::now();
    h.server.stop().await;
    // The idle connection is closed, not kept serving after stop.
    let n = tokio::time::timeout(std::time::Duration::from_secs(5), tcp.read(&mut buf))
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(n, 0);
    assert!(started.elapsed() < std::time::Duration::from_secs(4));
    h.backend.close().await.unwrap();
}

#[test]
fn server_handle_and_stop_future_are_send() {
    fn is_send_sync<T: Send + Sync>() {}
    is_send_sync::<enttok_http::HttpServer>();
    fn is_send<T: Send>(_: &T) {}
    fn check(server: &enttok_http::HttpServer, backend: Backend) {
        is_send(&server.stop());
        is_send(&enttok_http::start(backend, HttpOptions::default()));
    }
    let _ = check;
}

/// Writes the whole request first and only then reads, as most clients (Node's `http`, curl)
/// do with a body: a server that closes before reading the body makes that write fail.
async fn write_then_read(port: u16, bytes: &[u8]) -> Result<common::Resp, std::io::Error> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    stream.write_all(bytes).await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    common::Resp::parse(&raw).ok_or_else(|| std::io::Error::other("unparsable answer"))
}

/// Issue 12: an 8 MiB upload with `Content-Length` reads its 413 every time (it used to meet
/// EPIPE in 13 of 15 tries).
#[tokio::test(flavor = "multi_thread")]
async fn an_oversized_upload_reads_its_413() {
    let h = Harness::start().await;
    let body = vec![b'x'; 8 * 1024 * 1024];
    for attempt in 0..15 {
        let bytes = h.post("/jobs").raw(&body).bytes();
        let r = write_then_read(h.port(), &bytes)
            .await
            .unwrap_or_else(|e| panic!("attempt {attempt}: {e}"));
        r.assert_detail(413, "request body too large");
        assert_eq!(r.header("connection"), Some("close"));
    }
    // Chunked, found too large while reading: the same.
    let mut chunked = Vec::new();
    for _ in 0..8 {
        chunked.extend_from_slice(format!("{:x}\r\n", 1024 * 1024).as_bytes());
        chunked.extend_from_slice(&vec![b' '; 1024 * 1024]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let bytes = h
        .post("/jobs")
        .header("Transfer-Encoding", "chunked")
        .raw(&chunked)
        .bytes();
    write_then_read(h.port(), &bytes)
        .await
        .unwrap()
        .assert_detail(413, "request body too large");
    h.close().await;
}

/// Issue 12: a request with a valid token that stalls mid-body is answered 408 and closed.
#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_body_gets_408() {
    let tuning = Tuning {
        body_read_timeout: std::time::Duration::from_millis(300),
        ..Tuning::default()
    };
    let h = Harness::start_with(HttpOptions::default(), tuning).await;
    let mut bytes = h
        .post("/jobs")
        .header("Content-Length", "100")
        .raw(b"")
        .bytes();
    bytes.extend_from_slice(br#"{"type":"#);
    let raw = common::exchange(h.port(), &bytes, std::time::Duration::from_secs(10)).await;
    let r = common::Resp::parse(&raw).expect("an answer before the client gave up");
    r.assert_detail(408, "request body not received in time");
    assert!(h.backend.list_jobs(&json!({})).await.unwrap().is_empty());
    h.close().await;
}

/// Issue 12: two `Host` headers, or an absolute-form target naming another host, are 403.
#[tokio::test(flavor = "multi_thread")]
async fn ambiguous_hosts_are_refused() {
    let h = Harness::start().await;
    let port = h.port();
    let two = format!(
        "GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nHost: evil.example\r\nConnection: close\r\n\r\n"
    );
    send_raw(port, two.as_bytes())
        .await
        .assert_detail(403, "invalid host");
    let absolute = format!(
        "GET http://evil.example/health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    );
    send_raw(port, absolute.as_bytes())
        .await
        .assert_detail(403, "invalid host");
    let ours = format!(
        "GET http://127.0.0.1:{port}/health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    );
    // Past the Host check: the token check answers.
    send_raw(port, ours.as_bytes())
        .await
        .assert_detail(401, "unauthorized");
    h.close().await;
}
