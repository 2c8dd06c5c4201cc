//! Jira/Confluence accounts: validation, live credential check, storage, secrets.

mod common;

use std::sync::Arc;

use common::*;
use enttok_core::testing::wait_final;
use enttok_core::Error;
use serde_json::{json, Value};

const EMAIL: &str = "me@example.com";
const TOKEN: &str = "tok-SECRET-789";

/// A Jira site under `/acme` (to see the `{org}` template at work) that echoes the
/// authorization header in its 401 body (to prove errors are scrubbed).
fn route(myself: Reply) -> Route {
    Arc::new(move |req: &Recorded| {
        let path = req.path.strip_prefix("/acme").unwrap_or(&req.path);
        if req.header("authorization") != Some(basic(EMAIL, TOKEN).as_str()) {
            return Reply::raw(
                401,
                "text/plain",
                &format!(
                    "Client must be authenticated to access this resource. ({})",
                    req.header("authorization").unwrap_or("")
                ),
            );
        }
        match path {
            "/rest/api/3/myself" | "/wiki/rest/api/user/current" => myself.clone(),
            "/rest/api/3/search/jql" => Reply::json(200, &json!({"isLast": true, "issues": []})),
            _ => Reply::json(404, &json!({"errorMessages": ["nope"]})),
        }
    })
}

fn myself_ok() -> Reply {
    Reply::json(
        200,
        &json!({"accountId": "5b10a2844c20165700ede21g", "displayName": "Me", "emailAddress": EMAIL,
                             "groups": {"size": 1, "items": []}, "applicationRoles": {"size": 1, "items": []}}),
    )
}

#[tokio::test]
async fn add_list_delete_with_live_check() {
    let server = FakeServer::start(route(myself_ok())).await;
    let dir = tempfile::tempdir().unwrap();
    let backend = open_backend(dir.path(), &format!("{}/{{org}}", server.base()), None).await;
    let account = backend
        .add_jira_account(
            &json!({"org": " acme ", "email": " me@Example.COM ", "api_token": TOKEN, "extra": 1}),
        )
        .await
        .unwrap();
    // The check: GET myself with the expansions, Basic auth, JSON headers.
    let checks = server.requests();
    assert_eq!(checks.len(), 1);
    assert_eq!(checks[0].method, "GET");
    assert_eq!(checks[0].path, "/acme/rest/api/3/myself");
    assert_eq!(checks[0].param("expand"), Some("groups,applicationRoles"));
    // Basic auth with the normalised e-mail.
    assert_eq!(
        checks[0].header("authorization"),
        Some(basic(EMAIL, TOKEN).as_str())
    );
    assert_eq!(checks[0].header("accept"), Some("application/json"));
    assert_eq!(checks[0].header("content-type"), Some("application/json"));

    assert!(account.account_id.starts_with("atl_") && account.account_id.len() == 36);
    assert_eq!(account.org, "acme");
    assert_eq!(account.email, EMAIL);
    assert_eq!(account.base_url, format!("{}/acme", server.base()));
    assert!(account.has_token);
    assert_eq!(account.last_sync_at, None);
    let shown = serde_json::to_value(&account).unwrap();
    let keys: Vec<&String> = shown.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "account_id",
            "service",
            "org",
            "base_url",
            "email",
            "created_at",
            "updated_at",
            "last_sync_at",
            "has_token"
        ]
    );
    assert!(!shown.to_string().contains(TOKEN));

    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let second = backend
        .add_jira_account(&json!({"org": "acme", "email": EMAIL, "api_token": TOKEN}))
        .await
        .unwrap();
    let listed: Vec<String> = backend
        .list_jira_accounts()
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.account_id)
        .collect();
    assert_eq!(
        listed,
        [second.account_id.clone(), account.account_id.clone()]
    ); // newest first
    assert!(backend.list_confluence_accounts().await.unwrap().is_empty());

    // Delete removes the account, its activity rows and its sync_state rows in one go.
    let id = &account.account_id;
    let conn = rusqlite::Connection::open(dir.path().join("index.db")).unwrap();
    conn.execute(
        "INSERT INTO activity_events (event_id, source, account_id, event_type, title, event_time, event_ts, created_at, updated_at)
         VALUES ('jira:comment:1', 'jira', ?1, 'issue.commented', 't', '2024-01-01T00:00:00Z', 1704067200, 'x', 'x')",
        [id],
    ).unwrap();
    conn.execute("INSERT INTO sync_state (connector, cursor, last_sync_at) VALUES ('jira:' || ?1, NULL, '2024-01-01T00:00:00Z')", [id]).unwrap();
    conn.execute("INSERT INTO sync_state (connector, cursor, last_sync_at) VALUES ('jira:atl_other', NULL, 'x')", []).unwrap();
    assert_eq!(
        backend
            .list_jira_accounts()
            .await
            .unwrap()
            .iter()
            .find(|a| &a.account_id == id)
            .unwrap()
            .last_sync_at
            .as_deref(),
        Some("2024-01-01T00:00:00Z")
    );
    assert_eq!(
        backend.delete_jira_account(id).await.unwrap(),
        json!({"ok": true})
    );
    let left: (i64, i64, i64) = conn
        .query_row(
            "SELECT (SELECT count(*) FROM atlassian_accounts WHERE account_id = ?1),
                (SELECT count(*) FROM activity_events), (SELECT count(*) FROM sync_state)",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(left, (0, 0, 1));
    let err = backend.delete_jira_account(id).await.unwrap_err();
    assert_eq!(
        (err.status(), err.to_string()),
        (404, "jira account not found".to_string())
    );
    backend.close().await.unwrap();
}

/// Accounts created in the same second list in insertion order (the original's
/// `ORDER BY created_at DESC` kept SQLite's rowid order for ties), for Jira and Confluence.
#[tokio::test]
async fn same_second_accounts_list_in_insertion_order() {
    let server = FakeServer::start(route(myself_ok())).await;
    let dir = tempfile::tempdir().unwrap();
    let backend = open_backend(dir.path(), &server.base(), None).await;
    let input = json!({"org": "acme", "email": EMAIL, "api_token": TOKEN});
    let mut jira = Vec::new();
    let mut confluence = Vec::new();
    for _ in 0..3 {
        jira.push(backend.add_jira_account(&input).await.unwrap().account_id);
        confluence.push(
            backend
                .add_confluence_account(&input)
                .await
                .unwrap()
                .account_id,
        );
    }
    // Pin the creation times: the first two of each service share a second, the third is newer.
    let conn = rusqlite::Connection::open(dir.path().join("index.db")).unwrap();
    for ids in [&jira, &confluence] {
        for (id, at) in ids.iter().zip([
            "2024-01-01T00:00:00Z",
            "2024-01-01T00:00:00Z",
            "2024-01-02T00:00:00Z",
        ]) {
            conn.execute(
                "UPDATE atlassian_accounts SET created_at = ?2 WHERE account_id = ?1",
                [id, at],
            )
            .unwrap();
        }
    }
    let ids = |accounts: Vec<enttok_core::atlassian::AtlassianAccount>| -> Vec<String> {
        accounts.into_iter().map(|a| a.account_id).collect()
    };
    let want = |ids: &[String]| vec![ids[2].clone(), ids[0].clone(), ids[1].clone()];
    assert_eq!(
        ids(backend.list_jira_accounts().await.unwrap()),
        want(&jira)
    );
    assert_eq!(
        ids(backend.list_confluence_accounts().await.unwrap()),
        want(&confluence)
    );
    backend.close().await.unwrap();
}

async fn add_error(myself: Reply, base_template: Option<&str>, token: &str) -> Error {
    let server = FakeServer::start(route(myself)).await;
    let dir = tempfile::tempdir().unwrap();
    let template = base_template
        .map(String::from)
        .unwrap_or_else(|| server.base());
    let backend = open_backend(dir.path(), &template, None).await;
    let err = backend
        .add_jira_account(&json!({"org": "acme", "email": EMAIL, "api_token": token}))
        .await
        .unwrap_err();
    assert!(backend.list_jira_accounts().await.unwrap().is_empty());
    backend.close().await.unwrap();
    err
}

#[tokio::test]
async fn credential_check_failures_are_400_connection_failed() {
    // 401, with the server echoing our credentials: scrubbed.
    let err = add_error(myself_ok(), None, "wrong-token").await;
    assert_eq!(err.status(), 400);
    assert_eq!(err.code(), "E_UPSTREAM");
    let text = err.to_string();
    assert!(text.starts_with("Jira connection failed: Atlassian API error 401: Client must be authenticated to access this resource."), "{text}");
    assert!(
        !text.contains("wrong-token") && !text.contains(&basic(EMAIL, "wrong-token")[6..]),
        "{text}"
    );
    assert_eq!(err.body(), json!({"detail": text}));

    // Not JSON.
    let err = add_error(
        Reply::raw(200, "text/html", "<html>Log in</html>"),
        None,
        TOKEN,
    )
    .await;
    assert!(
        err.to_string()
            .starts_with("Jira connection failed: invalid JSON in response: "),
        "{err}"
    );
    assert_eq!(err.status(), 400);

    // JSON without accountId.
    let err = add_error(Reply::json(200, &json!({"displayName": "x"})), None, TOKEN).await;
    assert_eq!(
        err.to_string(),
        "Jira connection failed: Unexpected Jira response"
    );

    // Nobody listening.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let err = add_error(myself_ok(), Some(&dead), TOKEN).await;
    assert!(
        err.to_string()
            .starts_with("Jira connection failed: connection failed: "),
        "{err}"
    );

    // Plain http only to loopback.
    let err = add_error(myself_ok(), Some("http://{org}.example.com"), TOKEN).await;
    assert_eq!(
        err.to_string(),
        "Jira connection failed: plain http is allowed only for loopback hosts"
    );
}

#[tokio::test]
async fn add_account_validation_is_pydantic_shaped() {
    let server = FakeServer::start(route(myself_ok())).await;
    let dir = tempfile::tempdir().unwrap();
    let backend = open_backend(dir.path(), &server.base(), None).await;
    let items = |err: Error| match err {
        Error::Validation(items) => items,
        other => panic!("{other:?}"),
    };
    let missing = items(backend.add_jira_account(&Value::Null).await.unwrap_err());
    assert_eq!(
        missing,
        vec![json!({"type": "missing", "loc": ["body"], "msg": "Field required", "input": null})]
    );
    let bad = items(
        backend
            .add_jira_account(&json!({"org": "", "email": "a@localhost", "api_token": ""}))
            .await
            .unwrap_err(),
    );
    assert_eq!(bad.len(), 3);
    assert_eq!(bad[0]["type"], "string_too_short");
    assert_eq!(bad[0]["loc"], json!(["body", "org"]));
    assert_eq!(bad[1]["type"], "value_error");
    assert_eq!(bad[1]["loc"], json!(["body", "email"]));
    assert_eq!(bad[1]["input"], "a@localhost");
    assert!(bad[1]["msg"]
        .as_str()
        .unwrap()
        .starts_with("value is not a valid email address: "));
    assert!(bad[1]["ctx"]["reason"].is_string());
    assert_eq!(bad[2]["loc"], json!(["body", "api_token"]));
    let typed = items(
        backend
            .add_confluence_account(&json!({"org": "acme", "email": 5}))
            .await
            .unwrap_err(),
    );
    assert_eq!(typed[0]["type"], "string_type");
    assert_eq!(typed[1]["type"], "missing");
    assert_eq!(typed[1]["loc"], json!(["body", "api_token"]));
    for email in ["nope", "\"q\"@example.com", "a@b.test", "a@b.local"] {
        let err = backend
            .add_jira_account(&json!({"org": "acme", "email": email, "api_token": TOKEN}))
            .await
            .unwrap_err();
        assert_eq!(err.status(), 422, "{email}");
    }
    // Whitespace-only org passes the length check, then is trimmed.
    let ok = backend
        .add_jira_account(&json!({"org": "  ", "email": EMAIL, "api_token": TOKEN}))
        .await
        .unwrap();
    assert_eq!(ok.org, "");
    // The sync route's query.
    let err = backend
        .sync_jira_account(&ok.account_id, &json!({"force": "maybe"}))
        .await
        .unwrap_err();
    assert_eq!(items(err)[0]["loc"], json!(["query", "force"]));
    let job = backend
        .sync_jira_account(&ok.account_id, &Value::Null)
        .await
        .unwrap();
    assert_eq!(
        backend.get_job(&job.job_id).await.unwrap().payload,
        json!({"account_id": ok.account_id, "force": true})
    );
    let job2 = backend
        .sync_jira_account(&ok.account_id, &json!({"force": "off"}))
        .await
        .unwrap();
    let job2 = backend.get_job(&job2.job_id).await.unwrap();
    assert!(
        job2.payload == json!({"account_id": ok.account_id, "force": false})
            || job2.job_id == job.job_id
    );
    backend.close().await.unwrap();
}

#[tokio::test]
async fn tokens_are_encrypted_at_rest_and_never_shown() {
    let server = FakeServer::start(route(myself_ok())).await;
    let dir = tempfile::tempdir().unwrap();
    let key = [7u8; 32];
    let backend = open_backend(dir.path(), &server.base(), Some(key)).await;
    let mut sub = backend.subscribe().unwrap();
    let account = backend
        .add_jira_account(&json!({"org": "acme", "email": EMAIL, "api_token": TOKEN}))
        .await
        .unwrap();
    let stored = db_string(dir.path(), "SELECT api_token FROM atlassian_accounts").unwrap();
    assert!(stored.starts_with("enc:v1:"), "{stored}");
    assert!(!stored.contains(TOKEN));
    // The sync decrypts it (the fake checks the Basic header).
    let job = backend
        .sync_jira_account(&account.account_id, &json!({}))
        .await
        .unwrap();
    let job = wait_final(&backend, &job.job_id).await;
    assert_eq!(job.status, "succeeded", "{job:?}");
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let events = drain(&mut sub);
    let all = format!(
        "{events:?}{:?}{job:?}",
        backend.list_jira_accounts().await.unwrap()
    );
    assert!(!all.contains(TOKEN) && !all.contains(&stored[7..20]));
    backend.close().await.unwrap();

    // Reopened with the wrong key: still listed, syncs fail with the contract's text.
    let backend = open_backend(dir.path(), &server.base(), Some([8u8; 32])).await;
    let listed = backend.list_jira_accounts().await.unwrap();
    assert!(listed[0].has_token);
    let mut sub = backend.subscribe().unwrap();
    let job = backend
        .sync_jira_account(&account.account_id, &json!({}))
        .await
        .unwrap();
    let job = wait_final(&backend, &job.job_id).await;
    assert_eq!(
        job.error,
        json!({"message": "stored credentials cannot be decrypted (missing or wrong secretKey)"})
    );
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let logs: Vec<Value> = drain(&mut sub)
        .into_iter()
        .filter(|e| e["type"] == "log")
        .collect();
    assert_eq!(logs[0]["message"], json!(format!("jira sync failed: stored credentials cannot be decrypted (missing or wrong secretKey) (job_id={})", job.job_id)));
    assert_eq!(logs[0]["level"], "error");
    let err = backend
        .search_jira(&json!({"account_id": account.account_id}))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "stored credentials cannot be decrypted (missing or wrong secretKey)"
    );
    backend.close().await.unwrap();
}
