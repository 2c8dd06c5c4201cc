//! Group commit: batching, isolation of a failing write, events after the commit, close.

use std::sync::mpsc;
use std::time::Duration;

use super::*;
use crate::events::{Bus, Event, Level};

fn open_store() -> (tempfile::TempDir, Arc<Store>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("index.db")).unwrap());
    store
        .write_blocking(|c| Ok(c.execute_batch("CREATE TABLE t (x INTEGER PRIMARY KEY)")?))
        .unwrap();
    (dir, store)
}

/// Holds the writer on the blocking pool until the returned sender is used (or dropped).
async fn hold_writer(store: &Arc<Store>) -> (mpsc::Sender<()>, tokio::task::JoinHandle<()>) {
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let (held_tx, held_rx) = tokio::sync::oneshot::channel();
    let s = Arc::clone(store);
    let holder = tokio::spawn(async move {
        s.write_slow(move |_| {
            let _ = held_tx.send(());
            let _ = release_rx.recv();
            Ok(())
        })
        .await
        .unwrap();
    });
    held_rx.await.unwrap();
    (release_tx, holder)
}

async fn wait_pending(store: &Store, n: usize) {
    for _ in 0..500 {
        if lock(&store.pending).len() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("only {} writes queued", lock(&store.pending).len());
}

fn count(store: &Store, sql: &str) -> i64 {
    store
        .read_blocking(|c| Ok(c.query_row(sql, [], |r| r.get(0))?))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_writes_share_one_commit_and_a_failing_one_rolls_back_alone() {
    let (_dir, store) = open_store();
    let bus = Arc::new(Bus::new());
    let mut sub = bus.subscribe().unwrap();
    let (release, holder) = hold_writer(&store).await;
    let before = store.groups_run();

    let mut tasks = Vec::new();
    for i in 0..100i64 {
        let (s, b) = (Arc::clone(&store), Arc::clone(&bus));
        tasks.push(tokio::spawn(async move {
            s.write_grouped(move |c| {
                c.execute("INSERT INTO t (x) VALUES (?1)", [i])?;
                c.publish(&b, Event::log(Level::Info, format!("row {i}")));
                match i {
                    50 => Err(Error::BadRequest("refused".into())),
                    60 => panic!("a write panicked"),
                    _ => Ok(i),
                }
            })
            .await
        }));
    }
    wait_pending(&store, 100).await;
    assert_eq!(
        count(&store, "SELECT COUNT(*) FROM t"),
        0,
        "nothing committed yet"
    );
    release.send(()).unwrap();
    holder.await.unwrap();

    for (i, task) in tasks.into_iter().enumerate() {
        let answer = task.await.unwrap();
        match i {
            50 => assert!(matches!(answer, Err(Error::BadRequest(_)))),
            60 => assert!(matches!(answer, Err(Error::Internal { .. }))),
            _ => assert_eq!(answer.unwrap(), i as i64),
        }
    }
    assert_eq!(
        store.groups_run() - before,
        1,
        "100 queued writes, one commit"
    );
    assert_eq!(count(&store, "SELECT COUNT(*) FROM t"), 98);
    assert_eq!(
        count(&store, "SELECT COUNT(*) FROM t WHERE x IN (50, 60)"),
        0
    );

    let mut seen = Vec::new();
    while let Ok(Some(json)) = tokio::time::timeout(Duration::from_millis(200), sub.recv()).await {
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        seen.push(v["message"].as_str().unwrap().to_string());
    }
    assert_eq!(seen.len(), 98, "events of rolled-back writes are dropped");
    assert!(!seen.contains(&"row 50".to_string()) && !seen.contains(&"row 60".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_is_published_after_its_row_is_committed() {
    let (_dir, store) = open_store();
    let bus = Arc::new(Bus::new());
    let mut sub = bus.subscribe().unwrap();
    let checker = {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            let mut checked = 0;
            while checked < 800 {
                let json = sub.recv().await.unwrap();
                let v: serde_json::Value = serde_json::from_str(&json).unwrap();
                let x: i64 = v["message"].as_str().unwrap().parse().unwrap();
                // A reader connection sees only committed data.
                let n: i64 = store
                    .read(move |c| {
                        Ok(c.query_row("SELECT COUNT(*) FROM t WHERE x = ?1", [x], |r| r.get(0))?)
                    })
                    .await
                    .unwrap();
                assert_eq!(n, 1, "event for row {x} came before its commit");
                checked += 1;
            }
        })
    };
    let mut writers = Vec::new();
    for w in 0..8i64 {
        let (s, b) = (Arc::clone(&store), Arc::clone(&bus));
        writers.push(tokio::spawn(async move {
            for k in 0..100i64 {
                let x = w * 1000 + k;
                let b = Arc::clone(&b);
                s.write_grouped(move |c| {
                    c.execute("INSERT INTO t (x) VALUES (?1)", [x])?;
                    c.publish(&b, Event::log(Level::Info, x.to_string()));
                    Ok(())
                })
                .await
                .unwrap();
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    tokio::time::timeout(Duration::from_secs(10), checker)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(count(&store, "SELECT COUNT(*) FROM t"), 800);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn solo_writes_keep_their_place_between_groups() {
    let (_dir, store) = open_store();
    let (release, holder) = hold_writer(&store).await;
    let before = store.groups_run();
    let s = Arc::clone(&store);
    let a = tokio::spawn(async move {
        s.write_grouped(|c| Ok(c.execute("INSERT INTO t (x) VALUES (1)", [])?))
            .await
    });
    wait_pending(&store, 1).await;
    let s = Arc::clone(&store);
    let solo = tokio::spawn(async move {
        s.write(|c| {
            // Runs alone, after the group before it committed: it may open its own transaction.
            let tx = c.transaction()?;
            let n: i64 = tx.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))?;
            tx.execute("INSERT INTO t (x) VALUES (2)", [])?;
            tx.commit()?;
            Ok(n)
        })
        .await
    });
    wait_pending(&store, 2).await;
    let s = Arc::clone(&store);
    let b = tokio::spawn(async move {
        s.write_grouped(|c| Ok(c.query_row("SELECT COUNT(*) FROM t", [], |r| r.get::<_, i64>(0))?))
            .await
    });
    wait_pending(&store, 3).await;
    release.send(()).unwrap();
    holder.await.unwrap();
    a.await.unwrap().unwrap();
    assert_eq!(
        solo.await.unwrap().unwrap(),
        1,
        "the solo write saw the group before it"
    );
    assert_eq!(
        b.await.unwrap().unwrap(),
        2,
        "the later group saw the solo write"
    );
    assert_eq!(store.groups_run() - before, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_lands_queued_writes_and_refuses_later_ones() {
    let (dir, store) = open_store();
    let (release, holder) = hold_writer(&store).await;
    let mut tasks = Vec::new();
    for i in 0..10i64 {
        let s = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            s.write_grouped(move |c| Ok(c.execute("INSERT INTO t (x) VALUES (?1)", [i])?))
                .await
        }));
    }
    wait_pending(&store, 10).await;
    let s = Arc::clone(&store);
    let closer = tokio::task::spawn_blocking(move || s.close());
    release.send(()).unwrap();
    holder.await.unwrap();
    closer.await.unwrap();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap(), 1);
    }
    let late = tokio::time::timeout(
        Duration::from_secs(5),
        store.write_grouped(|c| Ok(c.execute("INSERT INTO t (x) VALUES (99)", [])?)),
    )
    .await
    .expect("a write after close must answer, not hang");
    assert!(matches!(late, Err(Error::Closed)));

    let reopened = Store::open(&dir.path().join("index.db")).unwrap();
    let n: i64 = reopened
        .read_blocking(|c| Ok(c.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))?))
        .unwrap();
    assert_eq!(n, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_checkpoint_thread_copies_the_wal_while_open_and_stops_at_close() {
    let (dir, store) = open_store();
    let db = dir.path().join("index.db");
    let size_before = std::fs::metadata(&db).unwrap().len();
    store
        .write(|c| Ok(c.execute_batch("CREATE TABLE big (b BLOB)")?))
        .await
        .unwrap();
    for _ in 0..300 {
        store
            .write(|c| Ok(c.execute("INSERT INTO big (b) VALUES (zeroblob(2000))", [])?))
            .await
            .unwrap();
    }
    // The writer's own automatic checkpoint is far away (16k pages): only the thread copies.
    let mut grown = false;
    for _ in 0..100 {
        if store.checkpoints_run() > 0
            && std::fs::metadata(&db).unwrap().len() > size_before + 500_000
        {
            grown = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(grown, "the database file never received the WAL's pages");
    let s = Arc::clone(&store);
    tokio::time::timeout(
        Duration::from_secs(5),
        tokio::task::spawn_blocking(move || s.close()),
    )
    .await
    .expect("close must stop the checkpoint thread")
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gathered_writes_wait_for_the_end_of_the_gathering_and_share_one_commit() {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Waker};

    let (_dir, store) = open_store();
    let before = store.groups_run();
    type Write = Pin<Box<dyn Future<Output = Result<usize>> + Send>>;
    let mut writes: Vec<Write> = (0..50i64)
        .map(|i| {
            let s = Arc::clone(&store);
            Box::pin(async move {
                s.write_grouped(move |c| Ok(c.execute("INSERT INTO t (x) VALUES (?1)", [i])?))
                    .await
            }) as Write
        })
        .collect();
    let mut cx = Context::from_waker(Waker::noop());
    gather_writes(|| {
        for write in &mut writes {
            assert!(write.as_mut().poll(&mut cx).is_pending(), "not led inside");
        }
        assert_eq!(count(&store, "SELECT COUNT(*) FROM t"), 0);
    });
    assert_eq!(
        count(&store, "SELECT COUNT(*) FROM t"),
        50,
        "led at the end"
    );
    for write in writes {
        assert_eq!(write.await.unwrap(), 1);
    }
    assert_eq!(store.groups_run() - before, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_solo_write_announces_after_it_returns_and_only_when_it_succeeded() {
    let (_dir, store) = open_store();
    let bus = Arc::new(Bus::new());
    let mut sub = bus.subscribe().unwrap();
    let b = Arc::clone(&bus);
    let failed: crate::error::Result<()> = store
        .write(move |c| {
            c.execute("INSERT INTO t (x) VALUES (1)", [])?;
            c.publish(&b, Event::log(Level::Info, "failed"));
            Err(Error::BadRequest("refused".into()))
        })
        .await;
    assert!(failed.is_err());
    let b = Arc::clone(&bus);
    let mut receiver = bus.subscribe().unwrap();
    store
        .write(move |c| {
            c.execute("INSERT INTO t (x) VALUES (2)", [])?;
            c.publish(&b, Event::log(Level::Info, "written"));
            // Not sent while the closure runs.
            let mut early = Vec::new();
            receiver.drain_ready(&mut early, 8);
            assert!(early.is_empty());
            Ok(())
        })
        .await
        .unwrap();
    let json = tokio::time::timeout(Duration::from_secs(5), sub.recv())
        .await
        .unwrap()
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        v["message"], "written",
        "the failed write's event is dropped"
    );
}
