//! Jira sync against a local fake of the Jira Cloud REST API (real wire format).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use enttok_core::testing::wait_final;
use enttok_core::Backend;
use serde_json::{json, Value};

const EMAIL: &str = "me@example.com";
const TOKEN: &str = "tok-SECRET-123";
const ME: &str = "5b10a2844c20165700ede21g";
const OTHER: &str = "5b10ac8d82e05b22cc7d4ef5";
const JQL: &str = "(creator = currentUser() OR reporter = currentUser() OR assignee = currentUser() OR commenter = currentUser()) AND updated >= -7d ORDER BY updated DESC";

fn user(id: &str, name: &str) -> Value {
    json!({"self": format!("https://acme.atlassian.net/rest/api/3/user?accountId={id}"),
           "accountId": id, "displayName": name, "active": true, "accountType": "atlassian",
           "avatarUrls": {"48x48": "https://avatar.example/x.png"}, "timeZone": "Europe/Berlin"})
}

fn me() -> Value {
    user(ME, "Me Myself")
}

fn other() -> Value {
    user(OTHER, "Other Person")
}

fn myself() -> Value {
    let mut m = me();
    m["emailAddress"] = json!(EMAIL);
    m["groups"] = json!({"size": 3, "items": []});
    m["applicationRoles"] = json!({"size": 1, "items": []});
    m
}

fn status_item(from: (&str, &str), to: (&str, &str)) -> Value {
    json!({"field": "status", "fieldtype": "jira", "fieldId": "status",
           "from": from.0, "fromString": from.1, "to": to.0, "toString": to.1})
}

fn history(id: &str, author: Value, ago: i64, items: Vec<Value>) -> Value {
    json!({"id": id, "author": author, "created": atl_time(ago).0, "items": items})
}

fn comment(id: &str, author: Value, ago: i64) -> Value {
    json!({"self": "https://acme.atlassian.net/rest/api/3/issue/10010/comment/1", "id": id,
           "author": author.clone(), "updateAuthor": author,
           "body": {"type": "doc", "version": 1, "content": []},
           "created": atl_time(ago).0, "updated": atl_time(ago).0, "jsdPublic": true})
}

#[allow(clippy::too_many_arguments)]
fn issue(
    id: &str,
    key: &str,
    summary: &str,
    creator: Value,
    assignee: Value,
    created_ago: i64,
    updated_ago: i64,
    histories: Vec<Value>,
    comments: Vec<Value>,
) -> Value {
    json!({
        "expand": "operations,versionedRepresentations,editmeta,changelog,renderedFields",
        "id": id, "self": format!("https://acme.atlassian.net/rest/api/3/issue/{id}"), "key": key,
        "fields": {
            "summary": summary,
            "created": atl_time(created_ago).0,
            "updated": atl_time(updated_ago).0,
            "status": {"self": "https://acme.atlassian.net/rest/api/3/status/3", "name": "In Progress", "id": "3",
                       "statusCategory": {"id": 4, "key": "indeterminate", "name": "In Progress"}},
            "creator": creator.clone(), "reporter": creator, "assignee": assignee,
            "comment": {"comments": comments, "self": "…", "maxResults": comments.len(), "total": comments.len(), "startAt": 0}
        },
        "changelog": {"startAt": 0, "maxResults": histories.len(), "total": histories.len(), "histories": histories}
    })
}

/// The three pages of the search (the `nextPageToken` chain).
fn pages() -> Vec<Value> {
    let page1 = json!({"isLast": false, "nextPageToken": "CAEaAggD", "issues": [
        issue("10001", "ABC-1", "Fix login", me(), me(), 3600, 1800,
            vec![
                history("501", me(), 3000, vec![status_item(("10000", "To Do"), ("3", "In Progress"))]),
                history("502", other(), 2400, vec![status_item(("3", "In Progress"), ("10002", "Review"))]),
                history("503", me(), 2300, vec![json!({"field": "assignee", "fromString": null, "toString": "Me Myself"})]),
            ],
            vec![comment("9001", me(), 2700), comment("9002", other(), 2100)]),
    ]});
    let page2 = json!({"isLast": false, "nextPageToken": "CAEaAggE", "issues": [
        issue("10002", "ABC-2", "Write docs", other(), other(), 7200, 1200,
            vec![
                history("601", other(), 3000, vec![status_item(("1", "Open"), ("3", "In Progress"))]),
                history("602", me(), 1500, vec![status_item(("3", "In Progress"), ("", "Done"))]),
            ],
            vec![comment("9101", other(), 1300), comment("9102", me(), 1250), comment("9103", me(), 10 * 86400)]),
    ]});
    let mut old = issue(
        "10003",
        "ABC-3",
        "Old one",
        me(),
        me(),
        9 * 86400,
        8 * 86400,
        vec![],
        vec![],
    );
    old["fields"]["updated"] = json!(1); // Atlassian's own examples have such values
    let bare = json!({"id": "10004", "fields": {"updated": atl_time(600).0}});
    let page3 = json!({"isLast": true, "issues": [old, bare]});
    vec![page1, page2, page3]
}

/// The route of a healthy Jira site serving `pages`.
fn jira_route(pages: Vec<Value>) -> Route {
    Arc::new(move |req: &Recorded| {
        if req.header("authorization") != Some(basic(EMAIL, TOKEN).as_str()) {
            return Reply::raw(
                401,
                "text/plain;charset=UTF-8",
                "Client must be authenticated to access this resource.",
            );
        }
        match (req.method.as_str(), req.path.as_str()) {
            ("GET", "/rest/api/3/myself") => Reply::json(200, &myself()),
            ("POST", "/rest/api/3/search/jql") => {
                let i = match req.json().get("nextPageToken").and_then(Value::as_str) {
                    None => 0,
                    Some("CAEaAggD") => 1,
                    Some("CAEaAggE") => 2,
                    Some(_) => return Reply::json(400, &json!({"errorMessages": ["bad token"]})),
                };
                Reply::json(200, &pages[i])
            }
            _ => Reply::json(404, &json!({"errorMessages": ["not found"]})),
        }
    })
}

async fn add_account(backend: &Backend) -> String {
    let account = backend
        .add_jira_account(&json!({"org": "acme", "email": EMAIL, "api_token": TOKEN}))
        .await
        .unwrap();
    account.account_id
}

async fn sync(backend: &Backend, account_id: &str, force: Value) -> enttok_core::jobs::JobRecord {
    let created = backend
        .sync_jira_account(account_id, &json!({"force": force}))
        .await
        .unwrap();
    wait_final(backend, &created.job_id).await
}

#[tokio::test]
async fn three_page_sync_maps_issues_changelog_and_comments() {
    let server = FakeServer::start(jira_route(pages())).await;
    let dir = tempfile::tempdir().unwrap();
    let backend = open_backend(dir.path(), &server.base(), None).await;
    let account_id = add_account(&backend).await;
    let mut sub = backend.subscribe().unwrap();

    let job = sync(&backend, &account_id, json!(true)).await;
    assert_eq!(job.status, "succeeded", "{job:?}");
    assert_eq!(job.progress, Some(1.0));
    assert_eq!(job.message.as_deref(), Some("Synced 10 Jira events"));
    assert_eq!(
        job.result,
        json!({"account_id": account_id, "synced_events": 10})
    );
    assert_eq!(
        job.payload,
        json!({"account_id": account_id, "force": true})
    );

    // The requests: myself, then the three pages with the contract's body and token chain.
    let searches = server.requests_to("/rest/api/3/search/jql");
    assert_eq!(searches.len(), 3);
    let fields = json!([
        "summary", "created", "updated", "status", "creator", "reporter", "assignee", "comment"
    ]);
    for (i, req) in searches.iter().enumerate() {
        assert_eq!(req.method, "POST");
        assert_eq!(
            req.query,
            vec![("expand".to_string(), "changelog".to_string())]
        );
        assert_eq!(req.header("accept"), Some("application/json"));
        assert_eq!(req.header("content-type"), Some("application/json"));
        let mut expected =
            json!({"jql": JQL, "maxResults": 50, "fieldsByKeys": false, "fields": fields});
        if i > 0 {
            expected["nextPageToken"] = json!(["CAEaAggD", "CAEaAggE"][i - 1]);
        }
        assert_eq!(req.json(), expected);
        let keys: Vec<String> = req.json().as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys[..4], ["jql", "maxResults", "fieldsByKeys", "fields"]);
    }
    let myself_calls = server.requests_to("/rest/api/3/myself");
    assert_eq!(myself_calls.len(), 2); // credential check, then the sync
    assert!(myself_calls[1].query.is_empty());
    assert_eq!(
        myself_calls[1].header("content-type"),
        Some("application/json")
    );

    let rows = activity_rows(dir.path());
    let ids: Vec<&str> = rows.iter().map(|r| r[0].as_str().unwrap()).collect();
    let (_, upd1) = atl_time(1800);
    let (_, upd2) = atl_time(1200);
    let (_, upd4) = atl_time(600);
    let mut expected_ids = vec![
        "jira:comment:9001".to_string(),
        "jira:comment:9002".to_string(),
        "jira:comment:9102".to_string(),
        "jira:issue:created:10001".to_string(),
        format!("jira:issue:updated:10001:{upd1}"),
        format!("jira:issue:updated:10002:{upd2}"),
        format!("jira:issue:updated:10004:{upd4}"),
        "jira:status:501:10001:3".to_string(),
        "jira:status:502:10001:10002".to_string(),
        "jira:status:602:10002:Done".to_string(),
    ];
    expected_ids.sort();
    assert_eq!(ids, expected_ids, "{rows:#?}");

    let by_id = |id: &str| rows.iter().find(|r| r[0] == id).unwrap().clone();
    let base = server.base();
    let created = by_id("jira:issue:created:10001");
    assert_eq!(created[1], "jira");
    assert_eq!(created[2], "issue.created");
    assert_eq!(created[3], "ABC-1: Fix login");
    assert_eq!(created[4], "Issue created");
    assert_eq!(created[5], json!(format!("{base}/browse/ABC-1")));
    assert_eq!(created[6], "Me Myself");
    let (_, created_ts) = atl_time(3600);
    assert_eq!(created[8], json!(created_ts));
    assert_eq!(
        created[7],
        json!(chrono::DateTime::from_timestamp(created_ts, 0)
            .unwrap()
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string())
    );
    assert_eq!(created[9], json!(account_id));
    assert_eq!(
        serde_json::from_str::<Value>(created[10].as_str().unwrap()).unwrap(),
        json!({"issue": "ABC-1", "summary": "Fix login"})
    );

    let by_other = by_id("jira:status:502:10001:10002");
    assert_eq!(by_other[2], "issue.status.changed");
    assert_eq!(by_other[4], "Status: In Progress -> Review");
    assert_eq!(by_other[6], "Other Person");
    assert_eq!(
        serde_json::from_str::<Value>(by_other[10].as_str().unwrap()).unwrap(),
        json!({"issue": "ABC-1", "from": "In Progress", "to": "Review"})
    );
    let other_comment = by_id("jira:comment:9002");
    assert_eq!(other_comment[2], "issue.commented");
    assert_eq!(other_comment[4], "Comment added");
    assert_eq!(other_comment[6], "Other Person");
    assert_eq!(
        serde_json::from_str::<Value>(other_comment[10].as_str().unwrap()).unwrap(),
        json!({"issue": "ABC-1", "comment_id": "9002"})
    );
    let updated = by_id(&format!("jira:issue:updated:10001:{upd1}"));
    assert_eq!(updated[2], "issue.updated");
    assert_eq!(updated[4], "Updated (status: In Progress)");
    assert_eq!(updated[6], Value::Null);
    let bare = by_id(&format!("jira:issue:updated:10004:{upd4}"));
    assert_eq!(bare[3], "Untitled issue");
    assert_eq!(bare[4], "Updated");
    assert_eq!(bare[5], Value::Null);
    // Issue 10002 is neither mine nor assigned to me: only my status change and comment.
    assert!(!ids
        .iter()
        .any(|i| i.contains(":601:") || *i == "jira:comment:9101"));

    // sync_state and the account's last_sync_at.
    let last = db_string(dir.path(), &format!("SELECT last_sync_at FROM sync_state WHERE connector = 'jira:{account_id}' AND cursor IS NULL")).unwrap();
    let accounts = backend.list_jira_accounts().await.unwrap();
    assert_eq!(accounts[0].last_sync_at.as_deref(), Some(last.as_str()));

    // Events: running … activity.sync right before job.status succeeded.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let events = drain(&mut sub);
    let job_events: Vec<&Value> = events
        .iter()
        .filter(|e| e["job_id"] == json!(job.job_id) || e["type"] == "activity.sync")
        .collect();
    let types: Vec<String> = job_events
        .iter()
        .map(|e| {
            format!(
                "{}:{}",
                e["type"].as_str().unwrap(),
                e["status"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        types,
        [
            "job.created:queued",
            "job.status:running",
            "activity.sync:",
            "job.status:succeeded"
        ]
    );
    let announce = job_events[2];
    assert_eq!(announce["source"], "jira");
    assert_eq!(announce["account_id"], json!(account_id));
    assert_eq!(announce["synced_events"], 10);
    let audit: Vec<String> = backend
        .list_job_events(&job.job_id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| format!("{}:{}", e.level, e.message))
        .collect();
    assert_eq!(
        audit,
        [
            format!("info:jira sync started for {account_id}"),
            "info:Synced 10 Jira events".to_string()
        ]
    );

    // The activity query sees them, newest first.
    let now = chrono::Utc::now();
    let listed = backend.list_activity_events(&json!({"start": (now - chrono::Duration::days(1)).to_rfc3339(), "end": now.to_rfc3339(), "sources": "jira"})).await.unwrap();
    assert_eq!(listed.len(), 10);
    assert_eq!(listed[0].id, format!("jira:issue:updated:10004:{upd4}"));

    // Re-sync: same rows, no duplicates.
    let again = sync(&backend, &account_id, json!("true")).await;
    assert_eq!(again.status, "succeeded");
    assert_eq!(activity_rows(dir.path()), rows);

    // A scheduled (non-forced) sync starts at last_sync_at: nothing older is parsed again.
    let incremental = sync(&backend, &account_id, json!(false)).await;
    assert_eq!(incremental.result["synced_events"], 0);
    assert_eq!(activity_rows(dir.path()).len(), 10);

    // No secret anywhere.
    let everything = format!(
        "{events:?}{:?}{:?}{:?}",
        backend.list_jira_accounts().await.unwrap(),
        backend.list_jobs(&json!({})).await.unwrap(),
        backend.list_job_events(&job.job_id).await.unwrap()
    );
    assert!(!everything.contains(TOKEN));
    assert!(!everything.contains(&basic(EMAIL, TOKEN)[6..]));
    backend.close().await.unwrap();
}

#[tokio::test]
async fn retries_429_with_retry_after_and_5xx_with_backoff() {
    let calls = Arc::new(AtomicUsize::new(0));
    let healthy = jira_route(pages());
    let c = Arc::clone(&calls);
    let route: Route = Arc::new(move |req: &Recorded| {
        if req.path == "/rest/api/3/search/jql" {
            // Page 1: 429 (Retry-After 1), then fine. Page 2: 500, 503, then fine.
            let n = c.fetch_add(1, Ordering::SeqCst);
            match n {
                0 => {
                    return Reply::json(429, &json!({"errorMessages": ["Rate limit exceeded."]}))
                        .with_header("retry-after", "1")
                }
                2 => return Reply::raw(500, "text/plain", "boom"),
                3 => return Reply::raw(503, "text/plain", "busy"),
                _ => {}
            }
        }
        healthy(req)
    });
    let server = FakeServer::start(route).await;
    let dir = tempfile::tempdir().unwrap();
    let backend = open_backend(dir.path(), &server.base(), None).await;
    let account_id = add_account(&backend).await;
    let started = Instant::now();
    let job = sync(&backend, &account_id, json!(true)).await;
    let took = started.elapsed();
    assert_eq!(job.status, "succeeded", "{job:?}");
    assert_eq!(job.result["synced_events"], 10);
    // 1 s for the 429, 0.5 s + 1.0 s for the two 5xx.
    assert!(took >= Duration::from_millis(2400), "{took:?}");
    assert_eq!(server.requests_to("/rest/api/3/search/jql").len(), 3 + 3);
    backend.close().await.unwrap();
}

#[tokio::test]
async fn persistent_5xx_fails_after_bounded_attempts_without_sync_state() {
    let healthy = jira_route(pages());
    let route: Route = Arc::new(move |req: &Recorded| {
        if req.path == "/rest/api/3/search/jql" {
            return Reply::raw(500, "text/plain", "boom");
        }
        healthy(req)
    });
    let server = FakeServer::start(route).await;
    let dir = tempfile::tempdir().unwrap();
    let backend = open_backend(dir.path(), &server.base(), None).await;
    let account_id = add_account(&backend).await;
    let mut sub = backend.subscribe().unwrap();
    let job = sync(&backend, &account_id, json!(true)).await;
    assert_eq!(job.status, "failed");
    assert_eq!(
        job.error,
        json!({"message": "Atlassian API error 500: boom"})
    );
    assert_eq!(server.requests_to("/rest/api/3/search/jql").len(), 3);
    assert_eq!(
        db_string(dir.path(), "SELECT last_sync_at FROM sync_state"),
        None
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    let events = drain(&mut sub);
    let log = events
        .iter()
        .find(|e| e["type"] == "log" && e["level"] == "error")
        .unwrap();
    assert_eq!(
        log["message"],
        json!(format!(
            "jira sync failed: Atlassian API error 500: boom (job_id={})",
            job.job_id
        ))
    );
    let audit = backend.list_job_events(&job.job_id).await.unwrap();
    assert_eq!(
        audit.last().unwrap().message,
        "Atlassian API error 500: boom"
    );
    assert_eq!(audit.last().unwrap().level, "error");
    backend.close().await.unwrap();
}

#[tokio::test]
async fn malformed_json_fails_cleanly_and_keeps_committed_pages_only() {
    // Malformed first page: nothing written at all.
    let healthy = jira_route(pages());
    let route: Route = Arc::new(move |req: &Recorded| {
        if req.path == "/rest/api/3/search/jql" {
            return Reply::raw(
                200,
                "application/json",
                r#"{"isLast": false, "issues": [{"id": "1""#,
            );
        }
        healthy(req)
    });
    let server = FakeServer::start(route).await;
    let dir = tempfile::tempdir().unwrap();
    let backend = open_backend(dir.path(), &server.base(), None).await;
    let account_id = add_account(&backend).await;
    let job = sync(&backend, &account_id, json!(true)).await;
    assert_eq!(job.status, "failed");
    let message = job.error["message"].as_str().unwrap();
    assert!(
        message.starts_with("invalid JSON in response: "),
        "{message}"
    );
    assert!(activity_rows(dir.path()).is_empty());
    assert_eq!(
        db_string(dir.path(), "SELECT last_sync_at FROM sync_state"),
        None
    );
    backend.close().await.unwrap();

    // Malformed second page: page 1 stays complete, no sync_state.
    let healthy = jira_route(pages());
    let route: Route = Arc::new(move |req: &Recorded| {
        if req.path == "/rest/api/3/search/jql" && req.json().get("nextPageToken").is_some() {
            return Reply::raw(200, "application/json", "{\"issues\": [ nope");
        }
        healthy(req)
    });
    let server = FakeServer::start(route).await;
    let dir = tempfile::tempdir().unwrap();
    let backend = open_backend(dir.path(), &server.base(), None).await;
    let account_id = add_account(&backend).await;
    let job = sync(&backend, &account_id, json!(true)).await;
    assert_eq!(job.status, "failed");
    let rows = activity_rows(dir.path());
    assert_eq!(rows.len(), 6, "{rows:#?}"); // exactly page 1's events
    assert!(rows.iter().all(|r| r[0].as_str().unwrap().contains("10001")
        || r[0].as_str().unwrap().starts_with("jira:comment:900")));
    assert_eq!(
        db_string(dir.path(), "SELECT last_sync_at FROM sync_state"),
        None
    );
    backend.close().await.unwrap();
}

#[tokio::test]
async fn invalid_request_payload_uses_the_fallback_form() {
    let healthy = jira_route(pages());
    let route: Route = Arc::new(move |req: &Recorded| {
        if req.path == "/rest/api/3/search/jql" && req.json().get("fieldsByKeys").is_some() {
            return Reply::json(
                400,
                &json!({"errorMessages": ["Invalid request payload. Refer to the REST API documentation and try again."]}),
            );
        }
        healthy(req)
    });
    let server = FakeServer::start(route).await;
    let dir = tempfile::tempdir().unwrap();
    let backend = open_backend(dir.path(), &server.base(), None).await;
    let account_id = add_account(&backend).await;
    let job = sync(&backend, &account_id, json!(true)).await;
    assert_eq!(job.status, "succeeded", "{job:?}");
    assert_eq!(job.result["synced_events"], 10);
    let searches = server.requests_to("/rest/api/3/search/jql");
    assert_eq!(searches.len(), 6); // each page: primary, then fallback
    let fallback = &searches[3];
    assert_eq!(fallback.param("expand"), Some("changelog"));
    assert_eq!(
        fallback.param("fields"),
        Some("summary,created,updated,status,creator,reporter,assignee,comment")
    );
    assert_eq!(
        fallback.json(),
        json!({"jql": JQL, "maxResults": 50, "nextPageToken": "CAEaAggD"})
    );

    // The dev search shows both exchanges, and never the credentials.
    let report = backend
        .search_jira(&json!({"account_id": account_id}))
        .await
        .unwrap();
    assert_eq!(report["account_id"], json!(account_id));
    assert_eq!(
        report["primary"]["request"],
        json!({
        "url": format!("{}/rest/api/3/search/jql", server.base()), "method": "POST",
        "params": {"expand": "changelog"},
        "body": {"jql": JQL, "maxResults": 50, "fieldsByKeys": false, "fields": ["summary","created","updated","status","creator","reporter","assignee","comment"]}})
    );
    assert_eq!(report["primary"]["response"]["status"], 400);
    assert_eq!(report["primary"]["response"]["ok"], false);
    assert_eq!(
        report["primary"]["response"]["body"]["errorMessages"][0],
        "Invalid request payload. Refer to the REST API documentation and try again."
    );
    assert_eq!(
        report["fallback"]["request"]["params"],
        json!({"expand": "changelog", "fields": "summary,created,updated,status,creator,reporter,assignee,comment"})
    );
    assert_eq!(
        report["fallback"]["request"]["body"],
        json!({"jql": JQL, "maxResults": 50})
    );
    assert_eq!(report["fallback"]["response"]["status"], 200);
    assert_eq!(
        report["fallback"]["response"]["body"]["nextPageToken"],
        "CAEaAggD"
    );
    let text = report.to_string();
    assert!(!text.contains(TOKEN) && !text.contains(&basic(EMAIL, TOKEN)[6..]));
    backend.close().await.unwrap();
}

#[tokio::test]
async fn dev_search_reports_network_failures_and_unknown_accounts() {
    let server = FakeServer::start(jira_route(pages())).await;
    let dir = tempfile::tempdir().unwrap();
    let backend = open_backend(dir.path(), &server.base(), None).await;
    let account_id = add_account(&backend).await;
    let ok = backend
        .search_jira(&json!({"account_id": account_id}))
        .await
        .unwrap();
    assert_eq!(ok["primary"]["response"]["status"], 200);
    assert_eq!(ok["primary"]["response"]["error"], Value::Null);
    assert_eq!(ok["fallback"], Value::Null);
    let err = backend
        .search_jira(&json!({"account_id": "atl_nope"}))
        .await
        .unwrap_err();
    assert_eq!(
        (err.status(), err.to_string()),
        (404, "jira account not found".to_string())
    );
    let err = backend
        .search_jira(&json!({"account_id": ""}))
        .await
        .unwrap_err();
    assert_eq!(err.status(), 422);
    // Point the account at a closed port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let conn = rusqlite::Connection::open(dir.path().join("index.db")).unwrap();
    conn.execute("UPDATE atlassian_accounts SET base_url = ?1", [&dead])
        .unwrap();
    let down = backend
        .search_jira(&json!({"account_id": account_id}))
        .await
        .unwrap();
    assert_eq!(down["primary"]["response"]["status"], 0);
    assert_eq!(down["primary"]["response"]["ok"], false);
    assert!(down["primary"]["response"]["error"]
        .as_str()
        .unwrap()
        .starts_with("connection failed"));
    backend.close().await.unwrap();
}

#[tokio::test]
async fn cancel_mid_sync_aborts_the_request_in_flight() {
    let healthy = jira_route(pages());
    let route: Route = Arc::new(move |req: &Recorded| {
        let reply = healthy(req);
        if req.path == "/rest/api/3/search/jql" && req.json().get("nextPageToken").is_some() {
            return reply.delayed(Duration::from_secs(30));
        }
        reply
    });
    let server = FakeServer::start(route).await;
    let dir = tempfile::tempdir().unwrap();
    let backend = open_backend(dir.path(), &server.base(), None).await;
    let account_id = add_account(&backend).await;
    let created = backend
        .sync_jira_account(&account_id, &json!({}))
        .await
        .unwrap();
    for _ in 0..500 {
        if server.requests_to("/rest/api/3/search/jql").len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let started = Instant::now();
    let answer = backend.cancel_job(&created.job_id).await.unwrap();
    assert_eq!(answer.status, "canceled");
    // The connection of the pending request is dropped promptly.
    for _ in 0..300 {
        if server.aborted() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(server.aborted(), 1);
    assert!(started.elapsed() < Duration::from_secs(3));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let job = backend.get_job(&created.job_id).await.unwrap();
    assert_eq!(job.status, "canceled");
    assert_eq!(job.error, Value::Null);
    assert_eq!(job.result, Value::Null);
    // Page 1 was committed before the cancel and stays; no sync_state.
    assert_eq!(activity_rows(dir.path()).len(), 6);
    assert_eq!(
        db_string(dir.path(), "SELECT last_sync_at FROM sync_state"),
        None
    );
    backend.close().await.unwrap();
}

#[tokio::test]
async fn deleting_the_account_while_a_sync_runs_leaves_no_rows() {
    let healthy = jira_route(pages());
    let route: Route = Arc::new(move |req: &Recorded| {
        let reply = healthy(req);
        if req.path == "/rest/api/3/search/jql" && req.json().get("nextPageToken").is_some() {
            return reply.delayed(Duration::from_millis(600));
        }
        reply
    });
    let server = FakeServer::start(route).await;
    let dir = tempfile::tempdir().unwrap();
    let backend = open_backend(dir.path(), &server.base(), None).await;
    let account_id = add_account(&backend).await;
    let created = backend
        .sync_jira_account(&account_id, &json!({}))
        .await
        .unwrap();
    for _ in 0..500 {
        if server.requests_to("/rest/api/3/search/jql").len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(activity_rows(dir.path()).len(), 6);
    assert_eq!(
        backend.delete_jira_account(&account_id).await.unwrap(),
        json!({"ok": true})
    );
    assert!(activity_rows(dir.path()).is_empty());
    let job = wait_final(&backend, &created.job_id).await;
    assert_eq!(job.status, "failed");
    assert_eq!(
        job.error,
        json!({"message": format!("jira account not found: {account_id}")})
    );
    assert!(activity_rows(dir.path()).is_empty());
    let count: i64 = rusqlite::Connection::open(dir.path().join("index.db"))
        .unwrap()
        .query_row("SELECT count(*) FROM sync_state", [], |r| r.get(0))
        .unwrap();
    assert_eq!(count, 0);
    backend.close().await.unwrap();
}

#[tokio::test]
async fn sync_job_fails_from_queued_without_or_with_unknown_account() {
    let server = FakeServer::start(jira_route(pages())).await;
    let dir = tempfile::tempdir().unwrap();
    let backend = open_backend(dir.path(), &server.base(), None).await;
    let created = backend
        .create_job(&json!({"type": "connector.jira.sync", "payload": {}}))
        .await
        .unwrap();
    let job = wait_final(&backend, &created.job_id).await;
    assert_eq!(
        job.error,
        json!({"message": "account_id is required for jira sync"})
    );
    let created = backend
        .create_job(
            &json!({"type": "connector.confluence.sync", "payload": {"account_id": "atl_x"}}),
        )
        .await
        .unwrap();
    let job = wait_final(&backend, &created.job_id).await;
    assert_eq!(
        job.error,
        json!({"message": "confluence account not found: atl_x"})
    );
    let audit = backend.list_job_events(&job.job_id).await.unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].message, "confluence account not found: atl_x");
    backend.close().await.unwrap();
}

/// Sync of 5,000 issues with 3 changelog items each from the local fake (figures for the
/// README; target < 2 s). Run with
/// `cargo test -p enttok-core --release --test atlassian_jira -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn bench_sync_5000_issues() {
    let pages: Vec<Value> = (0..100)
        .map(|p| {
            let issues: Vec<Value> = (0..50)
                .map(|i| {
                    let n = p * 50 + i;
                    let histories = (0..3)
                        .map(|h| {
                            history(
                                &format!("{n}{h}"),
                                me(),
                                600 + h,
                                vec![status_item(("1", "Open"), (&format!("{h}"), "Done"))],
                            )
                        })
                        .collect();
                    issue(
                        &format!("{}", 20000 + n),
                        &format!("BEN-{n}"),
                        "Benchmark",
                        me(),
                        me(),
                        3600,
                        300,
                        histories,
                        vec![],
                    )
                })
                .collect();
            let mut page = json!({"isLast": p == 99, "issues": issues});
            if p < 99 {
                page["nextPageToken"] = json!(format!("p{}", p + 1));
            }
            page
        })
        .collect();
    let bodies: Arc<Vec<Reply>> = Arc::new(pages.iter().map(|p| Reply::json(200, p)).collect());
    let route: Route = Arc::new(move |req: &Recorded| match req.path.as_str() {
        "/rest/api/3/myself" => Reply::json(200, &myself()),
        _ => {
            let i = req
                .json()
                .get("nextPageToken")
                .and_then(Value::as_str)
                .map_or(0, |t| t[1..].parse::<usize>().unwrap());
            bodies[i].clone()
        }
    });
    let server = FakeServer::start(route).await;
    let dir = tempfile::tempdir().unwrap();
    let backend = open_backend(dir.path(), &server.base(), None).await;
    let account_id = add_account(&backend).await;
    let started = Instant::now();
    let job = sync(&backend, &account_id, json!(true)).await;
    let took = started.elapsed();
    assert_eq!(job.status, "succeeded");
    assert_eq!(job.result["synced_events"], 5000 * 5);
    println!("Jira sync of 5,000 issues x 3 changelog items (25,000 events): {took:?}");
    backend.close().await.unwrap();
}
