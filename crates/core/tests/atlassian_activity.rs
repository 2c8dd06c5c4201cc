//! `listActivityEvents` (CONTRACT.md §10): bounds, filters, order, shape, and index use.

mod common;

use std::time::Instant;

use common::*;
use enttok_core::activity::ActivityQuery;
use enttok_core::Error;
use serde_json::{json, Value};

const DAY: i64 = 1_704_067_200; // 2024-01-01T00:00:00Z

fn insert(conn: &rusqlite::Connection, id: &str, source: &str, ts: i64) {
    conn.execute(
        "INSERT INTO activity_events (event_id, source, account_id, event_type, title, description,
            url, actor, event_time, event_ts, created_at, updated_at, raw_json)
         VALUES (?1, ?2, 'atl_x', 'issue.updated', 'T ' || ?1, NULL, NULL, 'Me',
                 strftime('%Y-%m-%dT%H:%M:%SZ', ?3, 'unixepoch'), ?3, 'x', 'x', '{}')",
        rusqlite::params![id, source, ts],
    )
    .unwrap();
}

#[tokio::test]
async fn window_sources_limit_order_and_shape() {
    let dir = tempfile::tempdir().unwrap();
    let backend = open_backend(dir.path(), "http://127.0.0.1:9", None).await;
    let conn = rusqlite::Connection::open(dir.path().join("index.db")).unwrap();
    insert(&conn, "before", "jira", DAY - 1);
    insert(&conn, "start", "jira", DAY);
    insert(&conn, "mid", "confluence", DAY + 3600);
    insert(&conn, "other", "github", DAY + 7200);
    insert(&conn, "end", "confluence", DAY + 86400);
    insert(&conn, "after", "jira", DAY + 86401);

    let ids = |events: Vec<enttok_core::activity::ActivityEvent>| -> Vec<String> {
        events.into_iter().map(|e| e.id).collect()
    };
    let all = backend
        .list_activity_events(&json!({"start": "2024-01-01T00:00:00.000Z", "end": "2024-01-02"}))
        .await
        .unwrap();
    let shape = serde_json::to_value(&all[0]).unwrap();
    assert_eq!(
        shape,
        json!({"id": "end", "source": "confluence", "event_type": "issue.updated", "title": "T end", "description": null, "url": null, "actor": "Me", "event_time": "2024-01-02T00:00:00Z"})
    );
    let keys: Vec<&String> = shape.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "id",
            "source",
            "event_type",
            "title",
            "description",
            "url",
            "actor",
            "event_time"
        ]
    );
    assert_eq!(ids(all), ["end", "other", "mid", "start"]); // both bounds inclusive, newest first
    let filtered = backend
        .list_activity_events(
            &json!({"start": "2024-01-01", "end": "2024-01-02", "sources": "jira,,confluence"}),
        )
        .await
        .unwrap();
    assert_eq!(ids(filtered), ["end", "mid", "start"]);
    let array = backend
        .list_activity_events(
            &json!({"start": "2024-01-01", "end": "2024-01-02", "sources": ["jira"], "limit": "1"}),
        )
        .await
        .unwrap();
    assert_eq!(ids(array), ["start"]);
    let empty = backend
        .list_activity_events(&json!({"start": "2024-01-01", "end": "2024-01-02", "sources": ""}))
        .await
        .unwrap();
    assert_eq!(empty.len(), 4);

    let err = backend
        .list_activity_events(&json!({"start": "2024-01-02", "end": "2024-01-01"}))
        .await
        .unwrap_err();
    assert_eq!(
        (err.status(), err.to_string()),
        (400, "start must be before end".to_string())
    );
    let err = backend
        .list_activity_events(&json!({"start": "yesterday", "end": "2024-01-01"}))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "Invalid isoformat string: 'yesterday'");
    for (limit, kind) in [
        (json!(0), "greater_than_equal"),
        (json!(-1), "greater_than_equal"),
        (json!(1001), "less_than_equal"),
        (json!("x"), "int_parsing"),
    ] {
        match backend
            .list_activity_events(
                &json!({"start": "2024-01-01", "end": "2024-01-02", "limit": limit}),
            )
            .await
            .unwrap_err()
        {
            Error::Validation(items) => {
                assert_eq!(items[0]["type"], kind);
                assert_eq!(items[0]["loc"], json!(["query", "limit"]));
            }
            other => panic!("{other:?}"),
        }
    }
    match backend
        .list_activity_events(&Value::Null)
        .await
        .unwrap_err()
    {
        Error::Validation(items) => {
            assert_eq!(items.len(), 2);
            assert_eq!(
                items[0],
                json!({"type": "missing", "loc": ["query", "start"], "msg": "Field required", "input": null})
            );
        }
        other => panic!("{other:?}"),
    }
    backend.close().await.unwrap();
}

#[tokio::test]
async fn the_query_walks_the_time_index() {
    let dir = tempfile::tempdir().unwrap();
    let backend = open_backend(dir.path(), "http://127.0.0.1:9", None).await;
    backend.close().await.unwrap();
    let conn = rusqlite::Connection::open(dir.path().join("index.db")).unwrap();
    for sources in [
        vec![],
        vec!["jira".to_string()],
        vec!["jira".to_string(), "confluence".to_string()],
    ] {
        let q = ActivityQuery {
            start: DAY,
            end: DAY + 86400,
            sources,
            limit: 50,
        };
        let (sql, args) = q.sql();
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let plan: Vec<String> = stmt
            .query_map(rusqlite::params_from_iter(args), |r| r.get::<_, String>(3))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let plan = plan.join(" | ");
        assert!(
            plan.contains("USING INDEX idx_activity_events_time"),
            "{plan}"
        );
        assert!(!plan.contains("TEMP B-TREE"), "{plan}"); // the index gives the order
    }
}

/// `listActivityEvents` for a day among 100,000 stored events (figures for the README).
/// Run with `cargo test -p enttok-core --release --test atlassian_activity -- --ignored --nocapture`.
#[tokio::test]
#[ignore]
async fn bench_day_among_100k_events() {
    let dir = tempfile::tempdir().unwrap();
    let backend = open_backend(dir.path(), "http://127.0.0.1:9", None).await;
    let mut conn = rusqlite::Connection::open(dir.path().join("index.db")).unwrap();
    let tx = conn.transaction().unwrap();
    for i in 0..100_000i64 {
        let source = ["jira", "confluence", "github"][(i % 3) as usize];
        insert(&tx, &format!("e{i}"), source, DAY - 50 * 86400 + i * 86);
    }
    tx.commit().unwrap();
    let query = json!({"start": "2024-01-01T00:00:00.000Z", "end": "2024-01-01T23:59:59.999Z", "sources": "jira,confluence", "limit": 50});
    let mut times = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        let events = backend.list_activity_events(&query).await.unwrap();
        times.push(t.elapsed());
        assert_eq!(events.len(), 50);
    }
    times.sort();
    println!(
        "listActivityEvents, a day among 100k: p50 {:?}, p95 {:?}",
        times[100], times[190]
    );
    backend.close().await.unwrap();
}
