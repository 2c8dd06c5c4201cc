//! A database as the original Python backend left it (user_version 0, the 8 tables, rows, a
//! memory table) opens, migrates forward without loss, and its orphaned jobs are recovered.

use std::time::Duration;

use enttok_core::{store, Backend, Config};
use rusqlite::{params, Connection};
use serde_json::json;

fn original_database(path: &std::path::Path) {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(store::original_ddl()).unwrap();
    // The memory subsystem's rows must be kept (its tables as the original created them;
    // tests/memory.rs covers the memory migration itself).
    conn.execute_batch(
        "CREATE TABLE observations (observation_id TEXT PRIMARY KEY, title TEXT NOT NULL,
           narrative TEXT NOT NULL, facts TEXT, concepts TEXT, type TEXT NOT NULL,
           source TEXT NOT NULL, source_event_id TEXT, project_path TEXT,
           event_time TEXT NOT NULL, event_ts INTEGER NOT NULL, created_at TEXT NOT NULL,
           updated_at TEXT NOT NULL, embedding_version TEXT, chroma_synced INTEGER DEFAULT 0);
         INSERT INTO observations (observation_id, title, narrative, type, source, event_time,
           event_ts, created_at, updated_at) VALUES ('obs_1', 'kept', 'n', 'note', 'manual',
           '2024-01-01T00:00:00Z', 1704067200000, '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z');",
    )
    .unwrap();
    let jobs = [
        ("job_a", "demo", "running", None),
        ("job_b", "claude.spawn", "running", None),
        ("job_c", "memory.process_events", "running", None),
        ("job_d", "demo", "queued", None),
        ("job_e", "demo", "succeeded", Some(r#"{"ok": true}"#)),
    ];
    for (id, kind, status, result) in jobs {
        conn.execute(
            "INSERT INTO jobs (job_id, type, status, created_at, updated_at, progress, message,
                               payload_json, result_json, error_json)
             VALUES (?1, ?2, ?3, '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z', 0.5, 'm',
                     '{\"simulate_ms\": 0}', ?4, NULL)",
            params![id, kind, status, result],
        )
        .unwrap();
    }
    conn.execute(
        "INSERT INTO job_events (job_id, created_at, level, message, meta_json)
         VALUES ('job_e', '2024-01-01T00:00:00Z', 'info', 'job completed', NULL)",
        [],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO activity_events VALUES ('jira:comment:1', 'jira', 'atl_1', 'issue.commented',
         'ABC-1: Fix', 'Comment added', NULL, 'Me', '2024-01-01T10:00:00Z', 1704103200,
         '2024-01-01T10:00:00Z', '2024-01-01T10:00:00Z', '{\"issue\": \"ABC-1\"}')",
        [],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO atlassian_accounts VALUES ('atl_1', 'jira', 'acme', 'https://acme.atlassian.net',
         'a@b.co', 'plain-token', '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z')",
        [],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO calendar_accounts VALUES ('cal_1', 'google', 'a@b.co', 'A', '{\"access_token\": \"t\"}',
         '{}', '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z')",
        [],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO sync_state VALUES ('jira:atl_1', NULL, '2024-01-01T00:00:00Z')",
        [],
    )
    .unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn original_database_migrates_forward_with_every_row() {
    let dir = tempfile::tempdir().unwrap();
    original_database(&dir.path().join("index.db"));
    let mut config = Config::new(dir.path());
    config.scheduler = false;
    config.secret_key = Some([9u8; 32]);
    let backend = Backend::open(config).await.unwrap();

    // The original `running` demo job counts as one attempt of three: re-queued and then run.
    let mut a = backend.get_job("job_a").await.unwrap();
    for _ in 0..500 {
        if a.is_final() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        a = backend.get_job("job_a").await.unwrap();
    }
    assert_eq!(a.status, "succeeded");
    let a_events = backend.list_job_events("job_a").await.unwrap();
    assert_eq!(a_events[0].message, "job requeued after interruption");
    // claude.spawn has a budget of one, and a type without handler too: interrupted.
    for id in ["job_b", "job_c"] {
        let job = backend.get_job(id).await.unwrap();
        assert_eq!(job.status, "failed", "{id}");
        assert_eq!(
            job.error,
            json!({"message": "job interrupted", "code": "interrupted"})
        );
    }
    // Finished rows are untouched; Python's JSON with spaces still reads.
    let e = backend.get_job("job_e").await.unwrap();
    assert_eq!(e.result, json!({"ok": true}));
    assert_eq!(e.payload, json!({"simulate_ms": 0}));
    assert_eq!(backend.list_job_events("job_e").await.unwrap().len(), 1);
    backend.close().await.unwrap();

    let conn = Connection::open(dir.path().join("index.db")).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, store::LATEST_VERSION);
    let indexes: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'jobs'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(
        indexes.contains(&"idx_jobs_ready".to_string()),
        "{indexes:?}"
    );
    assert!(
        !indexes.contains(&"idx_jobs_queue".to_string()),
        "dropped by migration 4"
    );
    let kept: String = conn
        .query_row(
            "SELECT title FROM observations WHERE observation_id = 'obs_1'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(kept, "kept");
    let title: String = conn
        .query_row(
            "SELECT title FROM activity_events WHERE event_id = 'jira:comment:1'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(title, "ABC-1: Fix");
    let last: String = conn
        .query_row(
            "SELECT last_sync_at FROM sync_state WHERE connector = 'jira:atl_1'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(last, "2024-01-01T00:00:00Z");
    // Secrets were encrypted in place with the key, bound to their row.
    let token: String = conn
        .query_row(
            "SELECT api_token FROM atlassian_accounts WHERE account_id = 'atl_1'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(token.starts_with("enc:v1:"));
    assert_eq!(
        enttok_core::secrets::open(Some(&[9u8; 32]), "atl_1", &token).unwrap(),
        "plain-token"
    );
    let creds: String = conn
        .query_row(
            "SELECT credentials_json FROM calendar_accounts WHERE account_id = 'cal_1'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(creds.starts_with("enc:v1:"));
    // New tables and columns exist.
    for table in ["claude_sessions", "claude_session_messages", "settings"] {
        let n: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE name = ?1",
                params![table],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 1, "{table}");
    }
    let attempts: i64 = conn
        .query_row(
            "SELECT attempts FROM jobs WHERE job_id = 'job_b'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(attempts, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopening_a_migrated_database_is_a_no_op() {
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let mut config = Config::new(dir.path());
        config.scheduler = false;
        let backend = Backend::open(config).await.unwrap();
        backend.close().await.unwrap();
    }
}
