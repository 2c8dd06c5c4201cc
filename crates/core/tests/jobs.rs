//! Queue semantics of the core against a real SQLite file: claim order, retries, unique keys,
//! panics, cancellation of a running handler, crash recovery and shutdown.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use enttok_core::jobs::{BoxFuture, Failure, Handler, JobCtx, Outcome, Success};
use enttok_core::testing::wait_final;
use enttok_core::{Backend, Config};
use serde_json::{json, Value};

async fn open(dir: &std::path::Path, workers: usize) -> Backend {
    let mut config = Config::new(dir);
    config.workers = workers;
    config.scheduler = false;
    Backend::open(config).await.expect("open")
}

fn handler<F, Fut>(f: F) -> Handler
where
    F: Fn(JobCtx) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Outcome> + Send + 'static,
{
    Arc::new(move |ctx| -> BoxFuture<Outcome> { Box::pin(f(ctx)) })
}

async fn ctx_running(ctx: &JobCtx) {
    ctx.set_running(0.0, None).await.expect("set running");
}

async fn create(backend: &Backend, body: Value) -> String {
    backend.create_job(&body).await.expect("create").job_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_by_priority_then_age() {
    let dir = tempfile::tempdir().unwrap();
    let backend = open(dir.path(), 1).await;
    let order = Arc::new(Mutex::new(Vec::new()));
    let gate = Arc::new(tokio::sync::Notify::new());
    let g = Arc::clone(&gate);
    backend
        .register_job_handler(
            "gate",
            1,
            handler(move |ctx| {
                let g = Arc::clone(&g);
                async move {
                    ctx_running(&ctx).await;
                    g.notified().await;
                    Ok(Success::with_result(None))
                }
            }),
        )
        .unwrap();
    let o = Arc::clone(&order);
    backend
        .register_job_handler(
            "rec",
            1,
            handler(move |ctx| {
                let o = Arc::clone(&o);
                async move {
                    o.lock()
                        .unwrap()
                        .push(ctx.job.payload["n"].as_str().unwrap().to_string());
                    Ok(Success::with_result(None))
                }
            }),
        )
        .unwrap();
    let blocker = create(&backend, json!({"type": "gate"})).await;
    while backend.get_job(&blocker).await.unwrap().status != "running" {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for (n, p) in [("a", 0), ("b", 1), ("c", 0), ("d", 7)] {
        create(
            &backend,
            json!({"type": "rec", "payload": {"n": n}, "priority": p}),
        )
        .await;
    }
    gate.notify_one();
    for _ in 0..500 {
        if order.lock().unwrap().len() == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(*order.lock().unwrap(), ["d", "b", "a", "c"]);
    backend.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_fails_its_job_and_the_worker_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let backend = open(dir.path(), 1).await;
    backend
        .register_job_handler(
            "boom",
            1,
            handler(|ctx| async move {
                if ctx.job.payload["panic"] == json!(true) {
                    panic!("kaboom");
                }
                Ok(Success::with_result(Some(json!("fine"))))
            }),
        )
        .unwrap();
    let bad = create(
        &backend,
        json!({"type": "boom", "payload": {"panic": true}}),
    )
    .await;
    let good = create(&backend, json!({"type": "boom"})).await;
    let bad = wait_final(&backend, &bad).await;
    assert_eq!(bad.status, "failed");
    assert_eq!(bad.error["code"], "panic");
    assert!(bad.error["message"].as_str().unwrap().contains("kaboom"));
    let good = wait_final(&backend, &good).await;
    assert_eq!(good.status, "succeeded");
    assert_eq!(good.result, json!("fine"));
    backend.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_a_running_handler_and_nothing_overwrites_canceled() {
    let dir = tempfile::tempdir().unwrap();
    let backend = open(dir.path(), 2).await;
    let late_write = Arc::new(Mutex::new(None));
    let lw = Arc::clone(&late_write);
    backend
        .register_job_handler(
            "waits",
            1,
            handler(move |ctx| {
                let lw = Arc::clone(&lw);
                async move {
                    ctx.set_running(0.0, None).await.unwrap();
                    ctx.abort().fired().await;
                    let err = ctx.progress(0.5, None, true, None).await.unwrap_err();
                    *lw.lock().unwrap() = Some(err.code());
                    // Claims success anyway: must be discarded.
                    Ok(Success::with_result(Some(json!("too late"))))
                }
            }),
        )
        .unwrap();
    let id = create(&backend, json!({"type": "waits"})).await;
    while backend.get_job(&id).await.unwrap().status != "running" {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let answer = backend.cancel_job(&id).await.unwrap();
    assert_eq!(answer.status, "canceled");
    for _ in 0..300 {
        if late_write.lock().unwrap().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(*late_write.lock().unwrap(), Some("E_CANCELED"));
    let job = backend.get_job(&id).await.unwrap();
    assert_eq!(job.status, "canceled");
    assert_eq!(job.result, Value::Null);
    let again = backend.cancel_job(&id).await.unwrap();
    assert_eq!(again.status, "canceled");
    let events = backend.list_job_events(&id).await.unwrap();
    assert_eq!(events.len(), 1, "cancel twice writes one event");
    backend.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explicit_max_attempts_retries_with_backoff() {
    let dir = tempfile::tempdir().unwrap();
    let backend = open(dir.path(), 1).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    backend
        .register_job_handler(
            "flaky",
            1,
            handler(move |ctx| {
                c.fetch_add(1, Ordering::SeqCst);
                async move {
                    if ctx.attempt < 2 {
                        Err(Failure::new("transient"))
                    } else {
                        Ok(Success::with_result(Some(json!(ctx.attempt))))
                    }
                }
            }),
        )
        .unwrap();
    let started = std::time::Instant::now();
    let id = create(&backend, json!({"type": "flaky", "max_attempts": 2})).await;
    let job = wait_final(&backend, &id).await;
    assert_eq!(job.status, "succeeded");
    assert_eq!(job.result, json!(2));
    assert!(
        started.elapsed() >= Duration::from_millis(1900),
        "backoff of 2 s respected"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let events = backend.list_job_events(&id).await.unwrap();
    assert_eq!(events[0].message, "attempt 1 failed: transient");
    assert_eq!(events[0].level, "warn");
    backend.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unique_key_dedups_while_pending() {
    let dir = tempfile::tempdir().unwrap();
    let backend = open(dir.path(), 1).await;
    let body = json!({"type": "demo", "unique_key": "k", "run_at": "2999-01-01T00:00:00Z"});
    let a = backend.create_job(&body).await.unwrap();
    let b = backend.create_job(&body).await.unwrap();
    assert_eq!(a, b);
    assert_eq!(backend.list_jobs(&json!({})).await.unwrap().len(), 1);
    backend.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_syncs_of_one_account_never_run_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let backend = open(dir.path(), 2).await;
    // Replace nothing built-in: use the sync type's claim rule through raw rows instead.
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (r, p) = (Arc::clone(&running), Arc::clone(&peak));
    let h = handler(move |_| {
        let (r, p) = (Arc::clone(&r), Arc::clone(&p));
        async move {
            let now = r.fetch_add(1, Ordering::SeqCst) + 1;
            p.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(150)).await;
            r.fetch_sub(1, Ordering::SeqCst);
            Ok(Success::with_result(None))
        }
    });
    backend.jobs().register_builtin("connector.test.sync", h);
    let mut ids = Vec::new();
    for _ in 0..3 {
        let job =
            enttok_core::jobs::NewJob::new("connector.test.sync", json!({"account_id": "atl_1"}));
        ids.push(backend.jobs().create(job).await.unwrap().job_id);
    }
    for id in &ids {
        assert_eq!(wait_final(&backend, id).await.status, "succeeded");
    }
    assert_eq!(peak.load(Ordering::SeqCst), 1);
    backend.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_interrupts_running_jobs_with_the_recovery_policy() {
    let dir = tempfile::tempdir().unwrap();
    let backend = open(dir.path(), 2).await;
    let h = handler(|ctx| async move {
        ctx.set_running(0.0, None).await.unwrap();
        ctx.abort().fired().await;
        Err(Failure::new("stopped"))
    });
    backend
        .register_job_handler("keep", 2, Arc::clone(&h))
        .unwrap();
    backend.register_job_handler("once", 1, h).unwrap();
    let keep = create(&backend, json!({"type": "keep"})).await;
    let once = create(&backend, json!({"type": "once"})).await;
    for id in [&keep, &once] {
        while backend.get_job(id).await.unwrap().status != "running" {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    backend.close().await.unwrap();
    let reopened = open(dir.path(), 1).await;
    assert_eq!(reopened.get_job(&keep).await.unwrap().status, "queued");
    let failed = reopened.get_job(&once).await.unwrap();
    assert_eq!(failed.status, "failed");
    assert_eq!(
        failed.error,
        json!({"message": "job interrupted", "code": "interrupted"})
    );
    reopened.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compact_reports_sizes_and_integrity() {
    let dir = tempfile::tempdir().unwrap();
    let backend = open(dir.path(), 1).await;
    let id = create(&backend, json!({"type": "maintenance.compact"})).await;
    let job = wait_final(&backend, &id).await;
    assert_eq!(job.status, "succeeded", "{job:?}");
    assert_eq!(job.result["integrity"], "ok");
    assert_eq!(job.result["vacuumed"], true);
    assert_eq!(job.result["analyzed"], true);
    assert!(job.result["size_before"].as_i64().unwrap() > 0);
    assert!(job.result["size_after"].as_i64().unwrap() > 0);
    let id = create(
        &backend,
        json!({"type": "maintenance.compact", "payload": {"vacuum": false, "analyze": "no", "integrity_check": false}}),
    )
    .await;
    let job = wait_final(&backend, &id).await;
    assert_eq!(job.result["integrity"], Value::Null);
    assert_eq!(job.result["vacuumed"], false);
    assert_eq!(job.result["analyzed"], false);
    backend.close().await.unwrap();
}

/// The attempts column of a job, read from the database file itself (not part of `JobRecord`).
fn attempts_of(dir: &std::path::Path, job_id: &str) -> (String, i64) {
    let conn = rusqlite::Connection::open(dir.join("index.db")).unwrap();
    conn.query_row(
        "SELECT status, attempts FROM jobs WHERE job_id = ?1",
        [job_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .unwrap()
}

/// Issue 12 defect 2: `close()` right after an open races the workers' first claim. A job being
/// claimed then must either be aborted or never start; it never stays `running`, and a job
/// that never started gives its attempt back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_racing_a_claim_leaves_the_job_queued_with_its_attempts() {
    let dir = tempfile::tempdir().unwrap();
    let backend = open(dir.path(), 1).await;
    // A long job that would hold a worker for a minute if it ever started unnoticed.
    let slow = create(
        &backend,
        json!({"type": "demo", "payload": {"simulate_ms": 60000}, "max_attempts": 3}),
    )
    .await;
    backend.cancel_job(&slow).await.ok();
    let job = create(
        &backend,
        json!({"type": "demo", "payload": {"simulate_ms": 60000}, "max_attempts": 3}),
    )
    .await;
    backend.close().await.unwrap();
    // The first backend's worker may have started the job already (then it was interrupted
    // and re-queued with an attempt counted): every round starts from a job that never ran.
    let conn = rusqlite::Connection::open(dir.path().join("index.db")).unwrap();
    conn.execute(
        "UPDATE jobs SET attempts = 0, status = 'queued' WHERE job_id = ?1",
        [&job],
    )
    .unwrap();
    conn.execute("DELETE FROM job_events WHERE job_id = ?1", [&job])
        .unwrap();
    drop(conn);
    for round in 0..8 {
        let (status, attempts) = attempts_of(dir.path(), &job);
        assert_eq!(status, "queued", "round {round}");
        assert_eq!(
            attempts, 0,
            "round {round}: a job that never ran used an attempt"
        );
        let backend = open(dir.path(), 2).await;
        // Sometimes before the claim, sometimes during it, sometimes after the start.
        tokio::time::sleep(Duration::from_micros(300 * round)).await;
        backend.close().await.unwrap();
        let (status, attempts) = attempts_of(dir.path(), &job);
        assert_ne!(status, "running", "round {round}");
        let conn = rusqlite::Connection::open(dir.path().join("index.db")).unwrap();
        let requeued: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM job_events WHERE job_id = ?1
                   AND message = 'job requeued after interruption'",
                [&job],
                |r| r.get(0),
            )
            .unwrap();
        if attempts > 0 {
            // It did start: interrupted by the close and re-queued with the attempt counted
            // (and said so); reset it so the next round starts from a job that never ran.
            assert_eq!(status, "queued", "round {round}");
            assert_eq!(
                requeued, 1,
                "round {round}: an attempt used by a job that never ran"
            );
            conn.execute("UPDATE jobs SET attempts = 0 WHERE job_id = ?1", [&job])
                .unwrap();
            conn.execute("DELETE FROM job_events WHERE job_id = ?1", [&job])
                .unwrap();
        }
    }
}
