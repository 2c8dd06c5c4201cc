//! WebSocket `/events` (CONTRACT.md §3.4) with a real tokio-tungstenite client.

mod common;

use std::time::Duration;

use common::Harness;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Bytes, Message};
use tokio_tungstenite::{client_async, WebSocketStream};

type Ws = WebSocketStream<TcpStream>;

async fn connect(
    h: &Harness,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    let mut req = format!("ws://127.0.0.1:{}{path}", h.port())
        .into_client_request()
        .unwrap();
    for (n, v) in headers {
        let name =
            tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(n.as_bytes()).unwrap();
        req.headers_mut().insert(name, v.parse().unwrap());
    }
    let tcp = TcpStream::connect(("127.0.0.1", h.port())).await.unwrap();
    client_async(req, tcp).await.map(|(ws, _)| ws)
}

async fn next_json(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("no frame in time")
            .expect("socket ended")
            .expect("socket error");
        match msg {
            Message::Text(text) => return serde_json::from_str(&text).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

async fn expect_connected(ws: &mut Ws) {
    let hello = next_json(ws).await;
    assert_eq!(hello["type"], "connected");
    assert_eq!(hello.as_object().unwrap().len(), 2);
    assert!(hello["timestamp"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test(flavor = "multi_thread")]
async fn auth_by_header_or_query_and_refusal() {
    let h = Harness::start().await;
    let token = h.token();
    let mut by_header = connect(&h, "/events", &[("X-Backend-Token", &token)])
        .await
        .unwrap();
    expect_connected(&mut by_header).await;
    let mut by_query = connect(&h, &format!("/events?token={token}"), &[])
        .await
        .unwrap();
    expect_connected(&mut by_query).await;

    for (path, headers) in [
        ("/events".to_string(), vec![]),
        ("/events?token=wrong".to_string(), vec![]),
        ("/events".to_string(), vec![("X-Backend-Token", "wrong")]),
    ] {
        match connect(&h, &path, &headers).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
                assert_eq!(resp.status(), 403);
                let body = resp.body().as_deref().unwrap_or_default();
                assert_eq!(
                    serde_json::from_slice::<Value>(body).unwrap(),
                    json!({"detail":"unauthorized"})
                );
            }
            other => panic!("{path}: expected 403, got {:?}", other.map(|_| ())),
        }
    }
    // Host and Origin checks apply to the upgrade too.
    match connect(
        &h,
        "/events",
        &[
            ("X-Backend-Token", &token),
            ("Origin", "http://evil.example"),
        ],
    )
    .await
    {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 403),
        other => panic!("expected 403, got {:?}", other.map(|_| ())),
    }
    match connect(
        &h,
        "/events",
        &[("X-Backend-Token", &token), ("Host", "evil.example")],
    )
    .await
    {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 403),
        other => panic!("expected 403, got {:?}", other.map(|_| ())),
    }
    let mut allowed = connect(
        &h,
        "/events",
        &[("X-Backend-Token", &token), ("Origin", "app://.")],
    )
    .await
    .unwrap();
    expect_connected(&mut allowed).await;
    // A plain GET (no upgrade) with the token is refused cleanly.
    let r = h.get("/events").send().await;
    assert_eq!(r.status, 400);
    h.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_job_events_arrive_in_order() {
    let h = Harness::start().await;
    let token = h.token();
    let mut ws = connect(&h, "/events", &[("X-Backend-Token", &token)])
        .await
        .unwrap();
    expect_connected(&mut ws).await;
    // Garbage from the client never breaks anything.
    ws.send(Message::Binary(Bytes::from_static(&[0, 159, 146, 150])))
        .await
        .unwrap();
    ws.send(Message::text("{not json")).await.unwrap();

    let r = h
        .post("/jobs")
        .json(&json!({"type":"demo","payload":{"simulate_ms":300}}))
        .send()
        .await;
    assert_eq!(r.status, 200);
    let id = r.json()["job_id"].as_str().unwrap().to_string();

    let mut seen: Vec<Value> = Vec::new();
    loop {
        let ev = next_json(&mut ws).await;
        if ev["job_id"] != id.as_str() && ev["type"] != "log" {
            continue;
        }
        let done = ev["type"] == "job.status" && ev["status"] == "succeeded";
        seen.push(ev);
        if done {
            break;
        }
    }
    let kinds: Vec<String> = seen
        .iter()
        .filter(|e| e["type"] != "log")
        .map(|e| match e["type"].as_str().unwrap() {
            "job.status" => format!("job.status {}", e["status"].as_str().unwrap()),
            other => other.to_string(),
        })
        .collect();
    assert_eq!(kinds.first().map(String::as_str), Some("job.created"));
    assert_eq!(kinds.get(1).map(String::as_str), Some("job.status running"));
    assert_eq!(
        kinds.last().map(String::as_str),
        Some("job.status succeeded")
    );
    let progress: Vec<&String> = kinds.iter().filter(|k| *k == "job.progress").collect();
    assert!(!progress.is_empty(), "{kinds:?}");
    assert!(kinds[2..kinds.len() - 1]
        .iter()
        .all(|k| k == "job.progress"));
    assert_eq!(
        seen[0],
        json!({"type":"job.created","job_id":id,"job_type":"demo","status":"queued","timestamp":seen[0]["timestamp"]})
    );
    assert!(seen
        .iter()
        .any(|e| e["type"] == "log" && e["message"] == format!("job queued {id} (demo)").as_str()));
    let last_progress = seen
        .iter()
        .rev()
        .find(|e| e["type"] == "job.progress")
        .unwrap();
    assert_eq!(last_progress["progress"], json!(1.0));
    h.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn stop_closes_sockets_with_1001() {
    let h = Harness::start().await;
    let token = h.token();
    let mut sockets = Vec::new();
    for _ in 0..3 {
        let mut ws = connect(&h, "/events", &[("X-Backend-Token", &token)])
            .await
            .unwrap();
        expect_connected(&mut ws).await;
        sockets.push(ws);
    }
    let stopping = tokio::spawn({
        let h = std::sync::Arc::new(h);
        let h2 = std::sync::Arc::clone(&h);
        async move {
            h2.server.stop().await;
            h
        }
    });
    for mut ws in sockets {
        let mut code = None;
        while let Ok(Some(msg)) = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .map(|m| m.and_then(Result::ok))
        {
            if let Message::Close(frame) = msg {
                code = frame.map(|f| f.code);
                break;
            }
        }
        assert_eq!(code, Some(CloseCode::Away));
    }
    let h = stopping.await.unwrap();
    assert!(TcpStream::connect(("127.0.0.1", h.port())).await.is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn backend_close_ends_sockets() {
    let h = Harness::start().await;
    let token = h.token();
    let mut ws = connect(&h, "/events", &[("X-Backend-Token", &token)])
        .await
        .unwrap();
    expect_connected(&mut ws).await;
    h.backend.close().await.unwrap();
    let mut closed = false;
    while let Ok(Some(Ok(msg))) = tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
        if let Message::Close(frame) = msg {
            assert_eq!(frame.map(|f| f.code), Some(CloseCode::Away));
            closed = true;
            break;
        }
    }
    assert!(closed);
    h.server.stop().await;
}

/// A peer that completes the handshake and then never reads (so never answers pings) is
/// dropped after the pong timeout.
#[tokio::test(flavor = "multi_thread")]
async fn silent_peer_is_dropped_after_missed_pong() {
    let tuning = enttok_http::Tuning {
        ping_interval: Duration::from_millis(200),
        pong_timeout: Duration::from_millis(300),
        ..enttok_http::Tuning::default()
    };
    let h = Harness::start_with(enttok_http::HttpOptions::default(), tuning).await;
    let mut tcp = TcpStream::connect(("127.0.0.1", h.port())).await.unwrap();
    let handshake = format!(
        "GET /events HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nX-Backend-Token: {}\r\n\r\n",
        h.port(),
        h.token()
    );
    tcp.write_all(handshake.as_bytes()).await.unwrap();
    // Read everything until the server drops us; a well-behaved peer would answer the ping.
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let started = std::time::Instant::now();
    loop {
        match tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => panic!("server kept a silent peer"),
        }
    }
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 101"), "{text}");
    assert!(text.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "{text}");
    // Text frame `connected`, then a ping frame (0x89) was sent before the drop.
    assert!(got.windows(1).any(|w| w[0] == 0x89), "no ping seen");
    assert!(started.elapsed() >= Duration::from_millis(450));
    h.close().await;
}

/// A peer that answers pings stays connected across several ping periods.
#[tokio::test(flavor = "multi_thread")]
async fn responsive_peer_survives_pings() {
    let tuning = enttok_http::Tuning {
        ping_interval: Duration::from_millis(100),
        pong_timeout: Duration::from_millis(300),
        ..enttok_http::Tuning::default()
    };
    let h = Harness::start_with(enttok_http::HttpOptions::default(), tuning).await;
    let token = h.token();
    let mut ws = connect(&h, "/events", &[("X-Backend-Token", &token)])
        .await
        .unwrap();
    expect_connected(&mut ws).await;
    // Reading lets tungstenite answer each ping with a pong.
    let mut pings = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_millis(1000);
    while let Ok(Some(Ok(msg))) = tokio::time::timeout_at(deadline, ws.next()).await {
        match msg {
            Message::Ping(_) => pings += 1,
            Message::Close(_) => panic!("closed a responsive peer"),
            _ => {}
        }
    }
    assert!(pings >= 4, "{pings} pings");
    h.backend.health().unwrap();
    // Still open: an event still arrives.
    h.post("/jobs").json(&json!({"type":"demo"})).send().await;
    let ev = next_json(&mut ws).await;
    assert_eq!(ev["type"], "job.created");
    h.close().await;
}

fn publish_many(h: &Harness, n: usize) -> usize {
    let filler = "x".repeat(1000);
    let mut bytes = 0;
    for i in 0..n {
        let event = enttok_core::Event::log(enttok_core::Level::Info, format!("{i} {filler}"));
        bytes += event.to_json().len();
        h.backend.bus().publish(event);
    }
    bytes
}

/// A client that stops reading is dropped once a write stalls past the deadline, instead of
/// the server buffering the event stream for it.
#[tokio::test(flavor = "multi_thread")]
async fn stalled_client_is_dropped() {
    let tuning = enttok_http::Tuning {
        write_timeout: Duration::from_millis(300),
        ..enttok_http::Tuning::default()
    };
    let h = Harness::start_with(enttok_http::HttpOptions::default(), tuning).await;
    let mut tcp = TcpStream::connect(("127.0.0.1", h.port())).await.unwrap();
    let handshake = format!(
        "GET /events?token={} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        h.token(),
        h.port()
    );
    tcp.write_all(handshake.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let published = publish_many(&h, 30_000);
    // Not reading for longer than the write deadline.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut received = 0usize;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match tokio::time::timeout(Duration::from_secs(10), tcp.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => received += n,
            Err(_) => panic!("a stalled client was kept (received {received} bytes)"),
        }
    }
    assert!(
        received < published / 2,
        "received {received} of {published} bytes"
    );
    // The server is fine.
    assert_eq!(h.get("/health").send().await.status, 200);
    h.close().await;
}

/// A client that falls behind the bus window gets `lagged` with the count, then events again.
#[tokio::test(flavor = "multi_thread")]
async fn slow_client_gets_lagged() {
    let h = Harness::start().await;
    let token = h.token();
    let mut ws = connect(&h, "/events", &[("X-Backend-Token", &token)])
        .await
        .unwrap();
    expect_connected(&mut ws).await;
    // More than the bus window (16k) while the client does not read: the server's write
    // blocks on the full socket and its subscription falls behind.
    publish_many(&h, enttok_core::events::CAPACITY + 20_000);
    let mut lagged = None;
    let mut after = 0;
    while let Ok(Some(Ok(msg))) = tokio::time::timeout(Duration::from_secs(2), ws.next()).await {
        if let Message::Text(text) = msg {
            let ev: Value = serde_json::from_str(&text).unwrap();
            if ev["type"] == "lagged" {
                lagged = Some(ev);
            } else if lagged.is_some() {
                after += 1;
                if after > 10 {
                    break;
                }
            }
        }
    }
    let lagged = lagged.expect("no lagged event");
    assert!(lagged["missed"].as_u64().unwrap() > 0);
    assert!(lagged["timestamp"].is_string());
    assert!(after > 0);
    h.close().await;
}
