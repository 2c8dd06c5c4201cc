//! Memory (CONTRACT.md §15, §16) against a real SQLite file: the routes' shapes, the fixes of
//! §15.4, an original database, captures, embeddings and RRF, and the MCP tools.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use enttok_core::jobs::BoxFuture;
use enttok_core::memory::Embedder;
use enttok_core::{store, Backend, Config, Error};
use rusqlite::{params, Connection};
use serde_json::{json, Value};

use enttok_core::testing::wait_final;

async fn open(dir: &std::path::Path) -> Backend {
    let mut config = Config::new(dir);
    config.scheduler = false;
    Backend::open(config).await.unwrap()
}

fn now_iso_minus(secs: i64) -> String {
    enttok_core::time::format_epoch(enttok_core::time::now_ms() / 1000 - secs)
}

async fn create(b: &Backend, title: &str, narrative: &str) -> String {
    let out = b
        .create_observation(
            &json!({"title": title, "narrative": narrative, "type": "note",
            "source": "manual", "event_time": now_iso_minus(60)}),
        )
        .await
        .unwrap();
    assert_eq!(out["created"], json!(true));
    out["observation_id"].as_str().unwrap().to_string()
}

fn items(err: Error) -> Vec<Value> {
    match err {
        Error::Validation(items) => items,
        other => panic!("expected a validation error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_answer_the_original_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let b = open(dir.path()).await;
    let out = b
        .create_observation(&json!({"title": "Auth bug fix", "narrative": "Fixed the login authentication bug in the API gateway",
            "type": "task", "source": "manual", "event_time": "2025-12-20T10:00:00Z", "facts": ["PR #12"], "concepts": ["auth"]}))
        .await
        .unwrap();
    let id = out["observation_id"].as_str().unwrap().to_string();
    assert!(id.starts_with("obs_") && id.len() == 36);
    let o = serde_json::to_value(b.get_observation(&id).await.unwrap()).unwrap();
    let keys: Vec<&str> = o.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "title",
            "narrative",
            "type",
            "source",
            "event_time",
            "observation_id",
            "facts",
            "concepts",
            "source_event_id",
            "project_path",
            "event_ts",
            "created_at",
            "updated_at",
            "chroma_synced"
        ]
    );
    assert_eq!(o["event_ts"], json!(1_766_224_800_000i64), "milliseconds");
    assert_eq!(o["facts"], json!(["PR #12"]));
    assert_eq!(o["chroma_synced"], json!(false));
    assert!(
        matches!(b.get_observation("obs_x").await, Err(Error::NotFound(d)) if d == "Observation not found")
    );

    // Batch: input order, unknown skipped, duplicates repeated; 1..50 ids.
    let second = create(&b, "second", "two").await;
    let batch = b
        .get_observations(&json!({"ids": [second, "obs_nope", id, second]}))
        .await
        .unwrap();
    let got: Vec<&str> = batch.iter().map(|o| o.observation_id.as_str()).collect();
    assert_eq!(got, [second.as_str(), id.as_str(), second.as_str()]);
    assert_eq!(
        items(b.get_observations(&json!({"ids": []})).await.unwrap_err())[0]["type"],
        "too_short"
    );
    let many: Vec<String> = (0..51).map(|i| format!("obs_{i}")).collect();
    assert_eq!(
        items(b.get_observations(&json!({"ids": many})).await.unwrap_err())[0]["type"],
        "too_long"
    );

    // List: summaries with relevance_score null, newest first, only the window.
    let list = serde_json::to_value(b.list_observations(&json!({})).await.unwrap()).unwrap();
    assert_eq!(
        list.as_array().unwrap().len(),
        1,
        "2025 is outside the 90-day window"
    );
    assert_eq!(list[0]["relevance_score"], Value::Null);
    assert_eq!(list[0]["title"], "second");
    let all = b
        .list_observations(&json!({"days_back": "3650", "limit": 500}))
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
    let e = items(
        b.list_observations(&json!({"limit": 0, "offset": -1}))
            .await
            .unwrap_err(),
    );
    assert_eq!(e[0]["loc"], json!(["query", "limit"]));
    assert_eq!(e[1]["loc"], json!(["query", "offset"]));

    // Stats: the original's keys.
    let stats = b.memory_stats().await.unwrap();
    assert_eq!(
        stats,
        json!({"total_observations": 2, "observations_by_type": {"note": 1, "task": 1},
               "observations_by_source": {"manual": 2}, "chroma_synced": 0, "pending_sync": 2,
               "chroma_available": false, "chroma_collection_count": 0})
    );

    // Timeline around the older one: it, then the newer.
    let t = serde_json::to_value(
        b.memory_timeline(&json!({"anchor_id": id, "depth_before": 0, "depth_after": 1}))
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(t["anchor_ts"], json!(1_766_224_800_000i64));
    assert_eq!(t["observations"][0]["observation_id"], json!(id));
    assert_eq!(t["observations"][1]["observation_id"], json!(second));
    assert_eq!(t["observations"].as_array().unwrap().len(), 2);
    let err = b
        .memory_timeline(&json!({"anchor_date": "garbage"}))
        .await
        .unwrap_err();
    assert_eq!(err.status(), 400);
    assert_eq!(err.to_string(), "Invalid isoformat string: 'garbage'");
    assert_eq!(
        items(
            b.memory_timeline(&json!({"depth_before": 51}))
                .await
                .unwrap_err()
        )[0]["type"],
        "less_than_equal"
    );

    // Delete: the answer, then 404.
    assert_eq!(
        b.delete_observation(&id).await.unwrap(),
        json!({"deleted": true, "observation_id": id})
    );
    assert!(matches!(
        b.delete_observation(&id).await,
        Err(Error::NotFound(_))
    ));

    // Create's validation and the fixed 500.
    let e = items(
        b.create_observation(&json!({"title": "x"}))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        e[0],
        json!({"type": "missing", "loc": ["body", "narrative"], "msg": "Field required", "input": {"title": "x"}})
    );
    let err = b
        .create_observation(&json!({"title": "x", "narrative": "n", "type": "t", "source": "s", "event_time": "not a date"}))
        .await
        .unwrap_err();
    assert_eq!(err.status(), 400);
    assert_eq!(
        err.to_string(),
        "Invalid isoformat string: 'not a dateT00:00:00+00:00'"
    );
    let huge = "x".repeat(100_001);
    let e = items(
        b.create_observation(&json!({"title": huge, "narrative": "n", "type": "t", "source": "s", "event_time": "2025-01-01"}))
            .await
            .unwrap_err(),
    );
    assert_eq!(e[0]["type"], "string_too_long");

    // Sync routes queue jobs with the original's messages; window bounds.
    let p = b
        .process_memory(&json!({"window_minutes": "30"}))
        .await
        .unwrap();
    assert_eq!(p["message"], "Processing events from last 30 minutes");
    assert!(p["job_id"].as_str().unwrap().starts_with("job_"));
    assert_eq!(
        items(
            b.process_memory(&json!({"window_minutes": 0}))
                .await
                .unwrap_err()
        )[0]["type"],
        "greater_than_equal"
    );
    assert_eq!(
        items(
            b.process_memory(&json!({"window_minutes": 10081}))
                .await
                .unwrap_err()
        )[0]["type"],
        "less_than_equal"
    );
    let c = b.sync_memory_vectors().await.unwrap();
    assert_eq!(c["message"], "ChromaDB sync started");
    let job = wait_final(&b, c["job_id"].as_str().unwrap()).await;
    assert_eq!(job.status, "succeeded");
    b.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyword_search_is_safe_best_first_and_finds_korean() {
    let dir = tempfile::tempdir().unwrap();
    let b = open(dir.path()).await;
    let korean = create(&b, "주간 회의", "회의록을 정리했다").await;
    let strong = create(&b, "doc strong", "deploy deploy deploy deploy deploy").await;
    let medium = create(&b, "doc medium", "deploy deploy and more words here").await;
    let weak = create(
        &b,
        "doc weak",
        "deploy once among many many other unrelated words in a long narrative text",
    )
    .await;
    let search = |q: Value| {
        let b = b.clone();
        async move { b.search_memory(&q).await.unwrap() }
    };
    let r = search(json!({"query": "회의", "search_mode": "fts"})).await;
    assert_eq!(
        r.results[0].observation_id, korean,
        "2-character Korean term"
    );
    let r = search(json!({"query": "회의록", "search_mode": "fts"})).await;
    assert_eq!(r.results.len(), 1);
    assert_eq!(
        r.results[0].observation_id, korean,
        "trigram substring of 회의록을"
    );
    let r = search(json!({"query": "deploy", "search_mode": "fts"})).await;
    let order: Vec<&str> = r
        .results
        .iter()
        .map(|x| x.observation_id.as_str())
        .collect();
    assert_eq!(
        order,
        [strong.as_str(), medium.as_str(), weak.as_str()],
        "best first"
    );
    assert!(r.results[0].score > r.results[2].score);
    let r = search(json!({"query": "deploy"})).await;
    assert_eq!(r.mode, "hybrid");
    assert_eq!(r.results[0].observation_id, strong);
    assert_eq!(r.results[0].score, 1.0 / 61.0);
    assert_eq!(r.total, 3);
    // Any term matches (OR), case-insensitively.
    let r = search(json!({"query": "DEPLOY 회의록을 nothing-here", "search_mode": "fts"})).await;
    assert_eq!(r.total, 4);
    for q in [
        "?",
        "\"",
        "AND",
        "OR NOT",
        "auth?",
        "don't",
        "PR #12",
        "o/r",
        "c++",
        "a-b",
        "(abc",
        "*",
        "🎉 emoji",
        "",
        "   ",
        "NEAR(a b)",
        "title:auth",
    ] {
        let r = b.search_memory(&json!({"query": q})).await;
        assert!(r.is_ok(), "query {q:?}: {r:?}");
    }
    let long = "회의 deploy ".repeat(1000) + &"x".repeat(5000);
    let r = search(json!({"query": long, "search_mode": "fts", "limit": 100})).await;
    assert_eq!(r.total, 4);
    let e = items(
        b.search_memory(
            &json!({"query": "x", "search_mode": "bogus", "limit": 101, "days_back": 0}),
        )
        .await
        .unwrap_err(),
    );
    let kinds: Vec<&str> = e.iter().map(|i| i["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["less_than_equal", "greater_than_equal", "enum"]);
    let r = search(json!({"query": "deploy", "search_mode": "vector"})).await;
    assert_eq!(
        r.total, 0,
        "no embedder: empty, as the original without Chroma"
    );
    // Snippets cut at 200 characters (not bytes).
    let long_narrative = "가".repeat(250);
    create(&b, "long one", &long_narrative).await;
    let r = search(json!({"query": "long one", "search_mode": "fts"})).await;
    assert_eq!(r.results[0].snippet, format!("{}...", "가".repeat(200)));
    b.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_and_claude_syncs_dedupe_update_and_never_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let b = open(dir.path()).await;
    let pr = json!({"number": 5, "title": "Add X", "url": "https://github.com/o/r/pull/5", "state": "OPEN",
                    "repository": "o/r", "updatedAt": "2025-12-02T03:04:05Z"});
    let payload = json!({"prs": {"authored": [pr], "reviewed": [{"number": 6, "repository": "o/r", "title": null}]},
        "commits": [{"sha": "abcdef123", "message": "Fix it\nbody", "repository": "o/r", "createdAt": "2025-12-03T10:00:00+09:00"},
                    {"sha": "bad", "createdAt": "garbage"}, 42]});
    // Four concurrent syncs of the same payload: each item stored once.
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (b, p) = (b.clone(), payload.clone());
        tasks.push(tokio::spawn(async move {
            b.sync_github_memory(&p).await.unwrap()
        }));
    }
    let mut totals = 0;
    for t in tasks {
        totals += t.await.unwrap()["total"].as_i64().unwrap();
    }
    assert_eq!(totals, 3, "3 good items, created once in all");
    let again = b.sync_github_memory(&payload).await.unwrap();
    assert_eq!(
        again,
        json!({"success": true, "processed": {"prs_authored": 0, "prs_reviewed": 0, "commits": 0}, "total": 0})
    );
    let stats = b.memory_stats().await.unwrap();
    assert_eq!(stats["total_observations"], 3);

    // A changed PR updates the same observation; it is not counted.
    let list = b
        .list_observations(&json!({"days_back": 3650, "source": "github", "type": "task"}))
        .await
        .unwrap();
    let reviewed = list
        .iter()
        .find(|s| s.title == "PR: Untitled PR")
        .expect("null title → default, not None");
    let authored = list
        .iter()
        .find(|s| s.title == "PR: Add X")
        .unwrap()
        .observation_id
        .clone();
    let _ = reviewed;
    let changed = json!({"prs": {"authored": [{"number": 5, "title": "Add X", "state": "MERGED", "repository": "o/r", "updatedAt": "2025-12-04T00:00:00Z"}]}});
    let out = b.sync_github_memory(&changed).await.unwrap();
    assert_eq!(out["total"], 0);
    let o = b.get_observation(&authored).await.unwrap();
    assert!(o.narrative.contains("State: MERGED"));
    assert_eq!(o.event_time, "2025-12-04T00:00:00Z");
    assert_eq!(b.memory_stats().await.unwrap()["total_observations"], 3);

    // Bad shapes: 422 for the containers, a bad item alone is skipped.
    assert_eq!(
        items(b.sync_github_memory(&json!([])).await.unwrap_err())[0]["type"],
        "dict_type"
    );
    assert_eq!(
        items(
            b.sync_github_memory(&json!({"commits": 5}))
                .await
                .unwrap_err()
        )[0]["type"],
        "list_type"
    );
    let too_many: Vec<Value> = (0..1001)
        .map(|i| json!({"sha": format!("{i:07}")}))
        .collect();
    assert_eq!(
        items(
            b.sync_github_memory(&json!({"commits": too_many}))
                .await
                .unwrap_err()
        )[0]["type"],
        "too_long"
    );
    assert_eq!(
        b.sync_github_memory(&json!({"prs": null})).await.unwrap()["total"],
        0
    );

    let sessions = json!({"sessions": [
        {"id": "s1", "summary": "Refactor auth", "firstMessage": "Refactor auth", "timestamp": "2025-12-10T01:02:03.456Z",
         "messageCount": 12, "gitBranch": "main", "projectPath": "/Users/alice/src/proj"},
        {"id": "s2", "timestamp": "garbage"}, "not an object", null]});
    assert_eq!(
        b.sync_claude_sessions_memory(&sessions).await.unwrap(),
        json!({"success": true, "processed": 1})
    );
    assert_eq!(
        b.sync_claude_sessions_memory(&sessions).await.unwrap()["processed"],
        0
    );
    let longer = json!({"sessions": [{"id": "s1", "summary": "Refactor auth", "timestamp": "2025-12-10T01:02:03.456Z", "messageCount": 30}]});
    assert_eq!(
        b.sync_claude_sessions_memory(&longer).await.unwrap()["processed"],
        0
    );
    let s = b
        .search_memory(&json!({"query": "30 messages", "search_mode": "fts", "days_back": 365}))
        .await
        .unwrap();
    let _ = s;
    let all = b
        .list_observations(&json!({"days_back": 3650, "source": "claude"}))
        .await
        .unwrap();
    assert_eq!(all.len(), 1);
    let o = b.get_observation(&all[0].observation_id).await.unwrap();
    assert_eq!(
        o.facts.unwrap()[0],
        "30 messages",
        "the changed session was updated in place"
    );
    b.close().await.unwrap();
}

/// The original's memory DDL (reference §2.1), as Python created it.
const ORIGINAL_MEMORY_DDL: &str = r#"
create table if not exists observations (observation_id text primary key, title text not null,
  narrative text not null, facts text, concepts text, type text not null, source text not null,
  source_event_id text, project_path text, event_time text not null, event_ts integer not null,
  created_at text not null, updated_at text not null, embedding_version text,
  chroma_synced integer default 0);
create index if not exists idx_observations_type on observations (type);
create index if not exists idx_observations_source on observations (source);
create index if not exists idx_observations_event_ts on observations (event_ts);
create index if not exists idx_observations_chroma_synced on observations (chroma_synced);
create index if not exists idx_observations_project on observations (project_path);
create virtual table if not exists observations_fts using fts5(observation_id unindexed, title,
  narrative, facts, concepts, tokenize='unicode61');
create table if not exists observation_sources (source_type text not null, source_id text not null,
  observation_id text not null, created_at text not null, primary key (source_type, source_id));
create index if not exists idx_observation_sources_observation on observation_sources (observation_id);
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_of_the_original_keeps_its_memory() {
    let dir = tempfile::tempdir().unwrap();
    {
        let conn = Connection::open(dir.path().join("index.db")).unwrap();
        conn.execute_batch(store::original_ddl()).unwrap();
        conn.execute_batch(ORIGINAL_MEMORY_DDL).unwrap();
        let now = now_iso_minus(0);
        let ts = (enttok_core::time::now_ms() / 1000 - 3600) * 1000;
        let facts = r#"["3 messages", "Branch: \uae30\ub2a5/\ub85c\uadf8\uc778"]"#;
        for (id, title, narrative, facts, key) in [
            (
                "obs_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                "Claude session",
                "Claude Code session\nSummary: x",
                Some(facts),
                Some("claude:session:s1"),
            ),
            (
                "obs_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
                "주간 회의",
                "회의록을 정리했다",
                None,
                None,
            ),
        ] {
            conn.execute(
                "insert into observations (observation_id, title, narrative, facts, concepts, type, source,
                   source_event_id, project_path, event_time, event_ts, created_at, updated_at, embedding_version,
                   chroma_synced) values (?1, ?2, ?3, ?4, NULL, 'activity', 'claude', ?5, NULL, ?6, ?7, ?6, ?6, NULL, 1)",
                params![id, title, narrative, facts, key, now, ts],
            )
            .unwrap();
            conn.execute(
                "insert into observations_fts (observation_id, title, narrative, facts, concepts) values (?1, ?2, ?3, ?4, '')",
                params![id, title, narrative, facts.unwrap_or("")],
            )
            .unwrap();
            if let Some(key) = key {
                conn.execute(
                    "insert into observation_sources values ('claude_session', ?1, ?2, ?3)",
                    params![key, id, now],
                )
                .unwrap();
            }
        }
    }
    let b = open(dir.path()).await;
    let o = b
        .get_observation("obs_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
        .await
        .unwrap();
    assert_eq!(
        o.facts.as_ref().unwrap()[1],
        "Branch: 기능/로그인",
        "escapes rewritten as UTF-8"
    );
    assert!(!o.chroma_synced, "no vector of this backend's model");
    let r = b
        .search_memory(&json!({"query": "로그인", "search_mode": "fts"}))
        .await
        .unwrap();
    assert_eq!(
        r.results[0].observation_id, "obs_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "Korean facts findable"
    );
    let r = b
        .search_memory(&json!({"query": "회의", "search_mode": "fts"}))
        .await
        .unwrap();
    assert_eq!(
        r.results[0].observation_id,
        "obs_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
    );
    let r = b
        .search_memory(&json!({"query": "정리했다", "search_mode": "fts"}))
        .await
        .unwrap();
    assert_eq!(r.total, 1);
    // The ledger still dedupes: the same session is not created again.
    let s = json!({"sessions": [{"id": "s1", "summary": "x", "timestamp": now_iso_minus(0)}]});
    assert_eq!(
        b.sync_claude_sessions_memory(&s).await.unwrap()["processed"],
        0
    );
    assert_eq!(b.memory_stats().await.unwrap()["total_observations"], 2);
    // Deleting keeps the index in step.
    b.delete_observation("obs_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb")
        .await
        .unwrap();
    let r = b
        .search_memory(&json!({"query": "회의록", "search_mode": "fts"}))
        .await
        .unwrap();
    assert_eq!(r.total, 0);
    b.close().await.unwrap();
    let conn = Connection::open(dir.path().join("index.db")).unwrap();
    let check: String = conn
        .query_row("INSERT INTO observations_fts(observations_fts, rank) VALUES('integrity-check', 1) RETURNING 'ok'", [], |r| r.get(0))
        .unwrap_or_else(|_| "ok".into());
    assert_eq!(check, "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_events_captures_the_window_in_milliseconds() {
    let dir = tempfile::tempdir().unwrap();
    let b = open(dir.path()).await;
    let now_s = enttok_core::time::now_ms() / 1000;
    b.store()
        .write(move |c| {
            c.execute(
                "INSERT INTO calendar_events (account_id, calendar_id, event_id, title, description, start_time, end_time,
                   start_ts, end_ts, all_day, conference_url, status, attendees_json)
                 VALUES ('cal_1', 'primary', 'ev1', 'Standup', 'daily', '2026-01-01T09:00:00Z', 'x', ?1, ?2, 0,
                   'https://meet', 'confirmed', '[{\"email\":\"a@b.co\"},{\"displayName\":\"Kim\"}]')",
                params![now_s - 600, now_s + 600],
            )?;
            c.execute(
                "INSERT INTO calendar_events (account_id, calendar_id, event_id, title, start_ts, end_ts, status)
                 VALUES ('cal_1', 'primary', 'ev2', 'Cancelled', ?1, ?2, 'cancelled')",
                params![now_s - 600, now_s + 600],
            )?;
            for (id, source, kind, ts) in [
                ("jira:issue:created:1", "jira", "issue.created", now_s - 60),
                ("confluence:page:1", "confluence", "page.created", now_s - 120),
                ("jira:old", "jira", "issue.updated", now_s - 7200),
            ] {
                c.execute(
                    "INSERT INTO activity_events VALUES (?1, ?2, 'atl_1', ?3, 'ABC-1: 로그인 버그', 'Issue created',
                       'https://x/browse/ABC-1', 'Kim', '2026-01-01T00:00:00Z', ?4, 'n', 'n', NULL)",
                    params![id, source, kind, ts],
                )?;
            }
            Ok(())
        })
        .await
        .unwrap();
    let job = b.process_memory(&json!({})).await.unwrap();
    let job = wait_final(&b, job["job_id"].as_str().unwrap()).await;
    assert_eq!(job.status, "succeeded", "{:?}", job.error);
    assert_eq!(
        job.result,
        json!({"calendar": 1, "jira": 1, "confluence": 1})
    );
    assert_eq!(job.message.as_deref(), Some("Processed 3 events"));
    let list = b.list_observations(&json!({})).await.unwrap();
    assert_eq!(list.len(), 3, "within the 90-day window: ms units");
    let kinds: std::collections::BTreeMap<String, String> = list
        .iter()
        .map(|s| (s.source.clone(), s.kind.clone()))
        .collect();
    assert_eq!(kinds["calendar"], "meeting");
    assert_eq!(kinds["jira"], "task");
    assert_eq!(kinds["confluence"], "note");
    let meeting = list.iter().find(|s| s.source == "calendar").unwrap();
    let o = b.get_observation(&meeting.observation_id).await.unwrap();
    assert_eq!(o.event_ts, (now_s - 600) * 1000);
    assert_eq!(
        o.narrative,
        "Meeting: Standup\nDescription: daily\nConference: https://meet\nAttendees: a@b.co, Kim"
    );
    assert_eq!(
        o.facts.unwrap(),
        vec!["Has video conference", "2 attendees"]
    );
    // Again: deduped.
    let job = b
        .process_memory(&json!({"window_minutes": 180}))
        .await
        .unwrap();
    let job = wait_final(&b, job["job_id"].as_str().unwrap()).await;
    assert_eq!(
        job.result,
        json!({"calendar": 0, "jira": 1, "confluence": 0}),
        "only the 2-hour-old row is new"
    );
    b.close().await.unwrap();
}

/// A deterministic embedder: a hashed bag of words, 64 dimensions.
struct BagOfWords {
    dim: usize,
    calls: AtomicUsize,
    mode: &'static str,
}

fn bag(text: &str, dim: usize) -> Vec<f32> {
    let mut v = vec![0f32; dim];
    for w in text.split_whitespace() {
        let w = w.to_lowercase();
        let h = w
            .bytes()
            .fold(5381u32, |h, b| h.wrapping_mul(33) ^ u32::from(b));
        v[h as usize % dim] += 1.0;
    }
    v
}

impl Embedder for BagOfWords {
    fn model(&self) -> &str {
        "bag-of-words"
    }
    fn dimensions(&self) -> usize {
        self.dim
    }
    fn batch_size(&self) -> usize {
        2
    }
    fn embed(&self, texts: Vec<String>) -> BoxFuture<Result<Vec<f32>, String>> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        let (dim, mode) = (self.dim, self.mode);
        Box::pin(async move {
            let mut flat: Vec<f32> = texts.iter().flat_map(|t| bag(t, dim)).collect();
            match mode {
                "throws" if n >= 1 => return Err("model exploded".into()),
                "count" if n >= 1 => flat.clear(),
                "nan" if n >= 1 => flat[3] = f32::NAN,
                _ => {}
            }
            Ok(flat)
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embeddings_feed_hybrid_search_and_bad_embedders_store_nothing_half() {
    let dir = tempfile::tempdir().unwrap();
    let b = open(dir.path()).await;
    let alpha = create(&b, "alpha", "kubernetes cluster upgrade").await;
    let beta = create(&b, "beta", "quarterly budget review meeting").await;
    let gamma = create(&b, "gamma", "cluster budget").await;
    for mode in ["count", "nan", "throws"] {
        b.register_embedder(Some(Arc::new(BagOfWords {
            dim: 64,
            calls: AtomicUsize::new(0),
            mode,
        })))
        .unwrap();
        let job = b.sync_memory_vectors().await.unwrap();
        let job = wait_final(&b, job["job_id"].as_str().unwrap()).await;
        assert_eq!(job.status, "failed", "{mode}");
        let message = job.error["message"].as_str().unwrap().to_string();
        assert!(
            message.contains("embedding failed after 2 observations"),
            "{mode}: {message}"
        );
        let stats = b.memory_stats().await.unwrap();
        assert_eq!(
            stats["chroma_synced"], 2,
            "{mode}: the first batch stays, the failed one stores nothing"
        );
        assert_eq!(stats["chroma_available"], true);
        b.store()
            .write(|c| Ok(c.execute("DELETE FROM observation_vectors", [])?))
            .await
            .unwrap();
    }
    b.register_embedder(Some(Arc::new(BagOfWords {
        dim: 64,
        calls: AtomicUsize::new(0),
        mode: "ok",
    })))
    .unwrap();
    let job = b.sync_memory_vectors().await.unwrap();
    let job = wait_final(&b, job["job_id"].as_str().unwrap()).await;
    assert_eq!(job.status, "succeeded");
    assert_eq!(job.result, json!({"synced": 3}));
    assert_eq!(
        b.memory_stats().await.unwrap(),
        json!({"total_observations": 3, "observations_by_type": {"note": 3}, "observations_by_source": {"manual": 3},
               "chroma_synced": 3, "pending_sync": 0, "chroma_available": true, "chroma_collection_count": 3})
    );
    assert!(b.get_observation(&alpha).await.unwrap().chroma_synced);
    // Vector mode: cosine similarity, best first.
    let r = b
        .search_memory(&json!({"query": "budget meeting review", "search_mode": "vector"}))
        .await
        .unwrap();
    assert_eq!(r.results[0].observation_id, beta);
    assert!(r.results[0].score > r.results[1].score);
    // Hybrid: RRF of both lists exactly.
    let r = b
        .search_memory(&json!({"query": "cluster budget"}))
        .await
        .unwrap();
    let kw = b
        .search_memory(&json!({"query": "cluster budget", "search_mode": "fts"}))
        .await
        .unwrap();
    let vec = b
        .search_memory(&json!({"query": "cluster budget", "search_mode": "vector"}))
        .await
        .unwrap();
    let k: Vec<(String, f64)> = kw
        .results
        .iter()
        .map(|x| (x.observation_id.clone(), x.score))
        .collect();
    let v: Vec<(String, f64)> = vec
        .results
        .iter()
        .map(|x| (x.observation_id.clone(), x.score))
        .collect();
    let expected = enttok_core::memory::search::rrf(&k, &v, 20);
    let got: Vec<(String, f64)> = r
        .results
        .iter()
        .map(|x| (x.observation_id.clone(), x.score))
        .collect();
    assert_eq!(got, expected);
    assert_eq!(
        r.results[0].observation_id, gamma,
        "in both lists at rank 1"
    );
    assert!((r.results[0].score - 2.0 / 61.0).abs() < 1e-12);
    // Deleting drops its vector.
    b.delete_observation(&gamma).await.unwrap();
    assert_eq!(
        b.memory_stats().await.unwrap()["chroma_collection_count"],
        2
    );
    // Unregistering: vector part gone.
    b.register_embedder(None).unwrap();
    assert_eq!(
        b.search_memory(&json!({"query": "budget", "search_mode": "vector"}))
            .await
            .unwrap()
            .total,
        0
    );
    b.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn captures_are_embedded_by_themselves_after_a_debounce() {
    let dir = tempfile::tempdir().unwrap();
    let b = open(dir.path()).await;
    b.register_embedder(Some(Arc::new(BagOfWords {
        dim: 16,
        calls: AtomicUsize::new(0),
        mode: "ok",
    })))
    .unwrap();
    create(&b, "one", "first").await;
    let sessions =
        json!({"sessions": [{"id": "s9", "summary": "auto", "timestamp": now_iso_minus(10)}]});
    b.sync_claude_sessions_memory(&sessions).await.unwrap();
    for _ in 0..100 {
        if b.memory_stats().await.unwrap()["pending_sync"] == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        b.memory_stats().await.unwrap()["chroma_synced"],
        2,
        "embedded within 5 s"
    );
    b.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_tools_answer_like_the_original() {
    let dir = tempfile::tempdir().unwrap();
    let b = open(dir.path()).await;
    let id = create(&b, "doc strong", "deploy deploy deploy deploy deploy").await;
    let init = b
        .mcp_message(&json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}))
        .await
        .unwrap();
    assert_eq!(init["result"]["protocolVersion"], "2025-06-18");
    assert_eq!(init["result"]["serverInfo"]["name"], "enttok-memory");
    assert!(b
        .mcp_message(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        .await
        .is_none());
    let tools = b
        .mcp_message(&json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}))
        .await
        .unwrap();
    let names: Vec<&str> = tools["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "search_memory_tool",
            "get_observations_tool",
            "timeline_tool",
            "memory_stats_tool"
        ]
    );
    let call = |name: &str, args: Value| {
        let b = b.clone();
        let msg = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": name, "arguments": args}});
        async move { b.mcp_message(&msg).await.unwrap()["result"].clone() }
    };
    let r = call(
        "search_memory_tool",
        json!({"query": "deploy", "limit": 500}),
    )
    .await;
    assert_eq!(r["isError"], false);
    let text = r["content"][0]["text"].as_str().unwrap();
    assert!(text.starts_with("{\n  \"results\": [\n"), "{text}");
    let parsed: Value = serde_json::from_str(text).unwrap();
    assert_eq!(parsed["results"][0]["observation_id"], json!(id));
    assert_eq!(parsed["mode"], "hybrid");
    let r = call("search_memory_tool", json!({"query": "x", "limit": 0})).await;
    assert_eq!(r["isError"], true);
    assert!(r["content"][0]["text"]
        .as_str()
        .unwrap()
        .starts_with("Error executing tool search_memory_tool: "));
    let r = call(
        "get_observations_tool",
        json!({"ids": format!("[\"{id}\"]")}),
    )
    .await;
    let parsed: Value = serde_json::from_str(r["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(parsed["count"], 1);
    assert!(parsed["observations"][0].get("embedding_version").is_some());
    let r = call("timeline_tool", json!({"anchor_date": "garbage"})).await;
    assert_eq!(
        r["content"][0]["text"],
        "Error executing tool timeline_tool: Invalid isoformat string: 'garbage'"
    );
    let r = call("timeline_tool", json!({"depth_before": -1})).await;
    assert_eq!(r["isError"], true);
    let r = call("memory_stats_tool", json!({})).await;
    let parsed: Value = serde_json::from_str(r["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(parsed["total_observations"], 1);
    assert_eq!(parsed["pending_chroma_sync"], 1);
    assert!(parsed["date_range"]["min_ts"].is_i64());
    assert!(matches!(b.mcp_config(), Err(Error::Conflict(_))));
    b.set_mcp_endpoint(Some((4242, "tok".into())));
    assert_eq!(
        b.mcp_config().unwrap(),
        json!({"mcpServers": {"enttok-memory": {"type": "http", "url": "http://127.0.0.1:4242/mcp", "headers": {"X-Backend-Token": "tok"}}}})
    );
    b.close().await.unwrap();
}

/// The fake `claude` shows that a run received the MCP config and the allowed tools while HTTP
/// runs and `claude_mcp` is on, and nothing otherwise.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claude_runs_get_the_mcp_server() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("fake-claude");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{0}/args'\n[ \"$3\" = --mcp-config ] && cat \"$4\" > '{0}/config'\necho ok\n",
            dir.path().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut config = Config::new(dir.path().join("data"));
    config.scheduler = false;
    config.claude_path = Some(script);
    let b = Backend::open(config).await.unwrap();
    let run = |b: Backend| async move {
        let job = b.spawn_claude(&json!({"prompt": "hi"})).await.unwrap();
        let job = wait_final(&b, &job.job_id).await;
        assert_eq!(job.status, "succeeded", "{:?}", job.error);
        std::fs::read_to_string(dir_of(&b).join("../args")).unwrap()
    };
    fn dir_of(b: &Backend) -> std::path::PathBuf {
        b.config().data_dir.clone()
    }
    assert_eq!(
        run(b.clone()).await,
        "--print\nhi\n",
        "no HTTP: no MCP flags"
    );
    b.set_mcp_endpoint(Some((5555, "secret-token".into())));
    let args = run(b.clone()).await;
    let lines: Vec<&str> = args.lines().collect();
    let file = dir.path().join("data").join("claude-mcp.json");
    assert_eq!(
        lines,
        [
            "--print",
            "hi",
            "--mcp-config",
            file.to_str().unwrap(),
            "--allowedTools",
            "mcp__enttok-memory__search_memory_tool,mcp__enttok-memory__get_observations_tool,mcp__enttok-memory__timeline_tool,mcp__enttok-memory__memory_stats_tool"
        ]
    );
    let seen: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("config")).unwrap()).unwrap();
    assert_eq!(seen, b.mcp_config().unwrap());
    assert!(
        !args.contains("secret-token"),
        "the token is not on the command line"
    );
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    b.update_settings(&json!({"claude_mcp": false}))
        .await
        .unwrap();
    assert_eq!(run(b.clone()).await, "--print\nhi\n", "claude_mcp off");
    assert!(!b.get_settings().await.unwrap().claude_mcp);
    b.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_terms_follow_deletes_and_updates() {
    let dir = tempfile::tempdir().unwrap();
    let b = open(dir.path()).await;
    let first = create(&b, "팀 회의", "PR #1 검토").await;
    let search = |q: &str| {
        let (b, q) = (b.clone(), q.to_string());
        async move {
            b.search_memory(&json!({"query": q, "search_mode": "fts"}))
                .await
                .unwrap()
                .results
                .into_iter()
                .map(|r| r.observation_id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        search("팀").await,
        std::slice::from_ref(&first),
        "1 character"
    );
    assert_eq!(
        search("#1").await,
        std::slice::from_ref(&first),
        "punctuation kept"
    );
    assert_eq!(
        search("pr").await,
        std::slice::from_ref(&first),
        "case-insensitive"
    );
    assert_eq!(
        search("의").await,
        std::slice::from_ref(&first),
        "a word's last character"
    );
    assert!(search("토검").await.is_empty());
    b.delete_observation(&first).await.unwrap();
    // The next observation may reuse the deleted row's rowid: it must not inherit its terms.
    let second = create(&b, "other", "nothing alike").await;
    assert!(search("팀").await.is_empty());
    assert_eq!(search("ot").await, [second]);
    b.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_find_weak_matches_behind_many_strong_ones() {
    let dir = tempfile::tempdir().unwrap();
    let b = open(dir.path()).await;
    for i in 0..12 {
        create(&b, &format!("deploy {i}"), "deploy deploy deploy deploy").await;
    }
    let task = b
        .create_observation(
            &json!({"title": "weak", "narrative": "one deploy among many other words here",
            "type": "task", "source": "jira", "event_time": now_iso_minus(30)}),
        )
        .await
        .unwrap()["observation_id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = b
        .search_memory(
            &json!({"query": "deploy", "type": "task", "limit": 1, "search_mode": "fts"}),
        )
        .await
        .unwrap();
    assert_eq!(r.results.len(), 1);
    assert_eq!(r.results[0].observation_id, task);
    let r = b
        .search_memory(&json!({"query": "deploy", "source": "jira", "limit": 1}))
        .await
        .unwrap();
    assert_eq!(r.results[0].observation_id, task);
    b.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn common_words_do_not_outrank_informative_ones() {
    let dir = tempfile::tempdir().unwrap();
    let b = open(dir.path()).await;
    for i in 0..10 {
        create(&b, &format!("common {i}"), "the the the and the").await;
    }
    let mut rare = Vec::new();
    for i in 0..3 {
        rare.push(create(&b, &format!("rare {i}"), "the zebra crossing").await);
    }
    // Phase 1 (informative terms) fills the list.
    let r = b
        .search_memory(&json!({"query": "THE zebra", "limit": 1, "search_mode": "fts"}))
        .await
        .unwrap();
    assert!(rare.contains(&r.results[0].observation_id));
    // Too few informative matches: the whole query is ranked, every term counts.
    let r = b
        .search_memory(&json!({"query": "the zebra", "limit": 10, "search_mode": "fts"}))
        .await
        .unwrap();
    assert_eq!(r.total, 10);
    for (i, res) in r.results.iter().enumerate() {
        assert_eq!(rare.contains(&res.observation_id), i < 3, "rare ones first");
    }
    // Only common words: still every match.
    let r = b
        .search_memory(&json!({"query": "the and", "limit": 100, "search_mode": "fts"}))
        .await
        .unwrap();
    assert_eq!(r.total, 13);
    b.close().await.unwrap();
}

/// CONTRACT.md §15.7: every term of a query counts, whatever its length — a short rare term
/// after a hundred longer ones still finds its observation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_term_of_a_long_query_counts() {
    let dir = tempfile::tempdir().unwrap();
    let b = open(dir.path()).await;
    let target = create(&b, "qzx", "the only row that holds the rare word").await;
    create(&b, "other", "nothing to see here").await;
    let mut query: Vec<String> = (0..150).map(|i| format!("longfillerword{i:03}")).collect();
    query.push("qzx".into());
    let found = b
        .search_memory(&json!({"query": query.join(" "), "search_mode": "fts", "limit": 10}))
        .await
        .unwrap();
    let ids: Vec<&str> = found
        .results
        .iter()
        .map(|r| r.observation_id.as_str())
        .collect();
    assert_eq!(ids, vec![target.as_str()]);
}
