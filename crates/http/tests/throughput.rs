//! A rough in-process throughput probe (ignored by default; the real benchmarks live in
//! bench/ and use an external load generator). Run with:
//! `cargo test --release -p enttok-http --test throughput -- --ignored --nocapture`

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Harness;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread")]
#[ignore]
async fn health_requests_per_second() {
    let h = Harness::start().await;
    let req = format!(
        "GET /health HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nX-Backend-Token: {}\r\n\r\n",
        h.port(),
        h.token()
    );
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let (req, done, port) = (req.clone(), Arc::clone(&done), h.port());
        tasks.push(tokio::spawn(async move {
            let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .unwrap();
            let mut buf = vec![0u8; 8192];
            while Instant::now() < deadline {
                tcp.write_all(req.as_bytes()).await.unwrap();
                let mut got = 0;
                // One answer: headers + a small body; read until the JSON closes.
                loop {
                    let n = tcp.read(&mut buf[got..]).await.unwrap();
                    assert!(n > 0);
                    got += n;
                    if buf[..got].ends_with(b"}") {
                        break;
                    }
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let n = done.load(Ordering::Relaxed);
    eprintln!(
        "GET /health: {} req/s (64 connections, client in-process)",
        n / 3
    );
    h.close().await;
}
