//! Where the adapter runs: its own thread by default, or the caller's runtime; either way the
//! answers are the same and work started by a handler belongs to the core's runtime.

mod common;

use std::time::Duration;

use common::Harness;
use enttok_http::{HttpOptions, Tuning};
use serde_json::{json, Value};

async fn wait_succeeded(h: &Harness, id: &str) -> Value {
    for _ in 0..200 {
        let job = h.get(&format!("/jobs/{id}")).send().await.json();
        if job["status"] == "succeeded" {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("job {id} never succeeded");
}

async fn serves_health_and_jobs(dedicated_thread: bool) {
    let tuning = Tuning {
        dedicated_thread,
        ..Tuning::default()
    };
    let h = Harness::start_with(HttpOptions::default(), tuning).await;
    let r = h.get("/health").send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status"], "ok");
    let r = h
        .post("/jobs")
        .json(&json!({"type":"demo","payload":{"simulate_ms":0}}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let id = r.json()["job_id"].as_str().unwrap().to_string();
    wait_succeeded(&h, &id).await;
    let port = h.port();
    h.close().await;
    // Stopped: the port is free again.
    std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn dedicated_thread_serves_and_frees_its_port() {
    serves_health_and_jobs(true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn caller_runtime_serves_and_frees_its_port() {
    serves_health_and_jobs(false).await;
}

/// The answer is cached per second: its `time` must still be the current second.
#[tokio::test]
async fn health_time_is_the_current_second() {
    let h = Harness::start().await;
    for _ in 0..3 {
        let before = enttok_core::time::now_ms() / 1000;
        let body = h.get("/health").send().await.json();
        let after = enttok_core::time::now_ms() / 1000;
        let time = body["time"].as_str().unwrap();
        let at = enttok_core::time::parse_iso(time).unwrap();
        assert!(
            before <= at && at <= after,
            "{time} not in [{before}, {after}]"
        );
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
    h.close().await;
}
