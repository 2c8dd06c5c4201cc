//! Rust-side figure for the queue (ignored; run with
//! `cargo test -p enttok-core --release --test jobs_bench -- --ignored --nocapture`):
//! end-to-end `demo` jobs per second, durable, without the JS boundary. The JS figure of
//! issue 2 is `node bench/core.js` (bench/README in RESULTS.md); this one isolates the core.

use std::time::Instant;

use enttok_core::{Backend, Config};
use serde_json::json;

async fn run(workers: usize, n: usize) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::new(dir.path());
    config.workers = workers;
    config.scheduler = false;
    let backend = std::sync::Arc::new(Backend::open(config).await.unwrap());
    let mut sub = backend.subscribe().unwrap();
    let start = Instant::now();
    let creator = {
        let backend = std::sync::Arc::clone(&backend);
        tokio::spawn(async move {
            let body = json!({"type": "demo", "payload": {"simulate_ms": 0}});
            let mut chunk = Vec::with_capacity(1000);
            for i in 0..n {
                let b = std::sync::Arc::clone(&backend);
                let body = body.clone();
                chunk.push(tokio::spawn(
                    async move { b.create_job(&body).await.unwrap() },
                ));
                if chunk.len() == 1000 || i + 1 == n {
                    for t in chunk.drain(..) {
                        t.await.unwrap();
                    }
                }
            }
            start.elapsed()
        })
    };
    let mut done = 0;
    while done < n {
        let json = sub.recv().await.unwrap();
        if json.contains("\"job.status\"") && json.contains("\"succeeded\"") {
            done += 1;
        }
    }
    let total = start.elapsed();
    let create = creator.await.unwrap();
    println!(
        "jobs_bench workers={workers} n={n}: {:.0} jobs/s end-to-end (create phase {:.2} s, total {:.2} s), {} groups",
        n as f64 / total.as_secs_f64(),
        create.as_secs_f64(),
        total.as_secs_f64(),
        backend.store().groups_run(),
    );
    backend.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn bench_end_to_end_demo_jobs() {
    for workers in [2, 4] {
        run(workers, 5000).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn bench_get_job_in_rust() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::new(dir.path());
    config.scheduler = false;
    let backend = Backend::open(config).await.unwrap();
    let id = backend
        .create_job(&json!({"type": "demo", "payload": {"simulate_ms": 0}}))
        .await
        .unwrap()
        .job_id;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let n = 50_000;
    let start = Instant::now();
    for _ in 0..n {
        let job = backend.get_job(&id).await.unwrap();
        std::hint::black_box(serde_json::to_string(&job).unwrap());
    }
    println!(
        "get_job + JSON in Rust: {:.2} µs per call",
        start.elapsed().as_secs_f64() * 1e6 / n as f64
    );
    backend.close().await.unwrap();
}
