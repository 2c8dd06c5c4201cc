//! Calendar sync when things go wrong: token refresh (401, expiry, invalid_grant), 429 with
//! Retry-After, 5xx HTML pages and malformed JSON (clear errors, nothing half-written),
//! cancellation mid-request, secrets at rest, and the account routes' validation.

mod calendar_fake;

use std::time::{Duration, Instant};

use calendar_fake::{self as fake, Resp};
use enttok_core::testing::wait_final;
use serde_json::{json, Value};

fn two_calendars(sim: &fake::Shared) {
    let mut s = sim.lock().unwrap();
    s.calendars = vec![
        fake::calendar("a@example.com", "A", "UTC", true),
        fake::calendar("b@example.com", "B", "UTC", false),
    ];
    let day = (chrono::Utc::now() + chrono::Duration::days(1))
        .format("%Y-%m-%d")
        .to_string();
    for (cal, prefix) in [("a@example.com", "a"), ("b@example.com", "b")] {
        let full = (1..=3)
            .map(|i| {
                fake::timed(
                    &format!("{prefix}{i}"),
                    "x",
                    &format!("{day}T0{i}:00:00Z"),
                    &format!("{day}T0{i}:30:00Z"),
                )
            })
            .collect();
        s.cals.insert(
            cal.into(),
            fake::Cal {
                full,
                next_token: format!("{prefix}-tok"),
                ..Default::default()
            },
        );
    }
    s.event_page_size = 2;
}

fn count(dir: &std::path::Path, sql: &str) -> i64 {
    let conn = rusqlite::Connection::open(dir.join("index.db")).unwrap();
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

fn stored_creds(dir: &std::path::Path) -> Value {
    let conn = rusqlite::Connection::open(dir.join("index.db")).unwrap();
    let text: String = conn
        .query_row("SELECT credentials_json FROM calendar_accounts", [], |r| {
            r.get(0)
        })
        .unwrap();
    serde_json::from_str(&text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_on_401_and_on_expiry_once_per_job() {
    let (sim, base) = fake::start().await;
    two_calendars(&sim);
    let dir = tempfile::tempdir().unwrap();
    let b = fake::open(dir.path(), &base, None).await;
    // A token the server no longer accepts, though not expired locally: 401 → one refresh.
    let account = fake::google_account(&b, fake::fresh_creds("at-stale")).await;
    let mut sub = b.subscribe().unwrap();
    let job = fake::sync(&b, &account).await;
    assert_eq!(job.status, "succeeded", "{:?}", job.error);
    assert_eq!(sim.lock().unwrap().refresh_count, 1);
    let creds = stored_creds(dir.path());
    assert_eq!(creds["access_token"], "at-r1");
    assert_eq!(creds["refresh_token"], "rt-1");
    assert_eq!(creds["token_uri"], format!("{base}/token"));
    assert_eq!(creds["expires_in"], 3599);
    let keys: Vec<_> = creds.as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        keys,
        [
            "access_token",
            "refresh_token",
            "token_uri",
            "expires_in",
            "expires_at"
        ]
    );
    {
        let s = sim.lock().unwrap();
        let bearers: Vec<_> = s
            .requests
            .iter()
            .filter_map(|r| r.bearer().map(String::from))
            .collect();
        assert_eq!(bearers[0], "at-stale");
        assert!(bearers[1..].iter().all(|t| t == "at-r1"), "{bearers:?}");
        let refresh = s
            .requests
            .iter()
            .find(|r| r.raw_path == "/token")
            .unwrap()
            .form();
        assert_eq!(refresh["grant_type"], "refresh_token");
        assert_eq!(refresh["client_id"], "cid-123");
    }
    for e in fake::drain(&mut sub) {
        let t = e.to_string();
        assert!(
            !t.contains("at-r1") && !t.contains("rt-1") && !t.contains("at-stale"),
            "{t}"
        );
    }
    let job_json = serde_json::to_string(&b.get_job(&job.job_id).await.unwrap()).unwrap();
    assert!(!job_json.contains("at-r1"));

    // Expired locally: refreshed before the calendar list, then reused for every calendar.
    let at = (chrono::Utc::now() - chrono::Duration::minutes(5))
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string();
    let expired = b
        .create_calendar_account(&json!({"provider":"google","credentials":
        {"access_token":"at-old","refresh_token":"rt-1","expires_in":3599,"expires_at":at}}))
        .await
        .unwrap();
    let job = fake::sync(&b, &expired.account_id).await;
    assert_eq!(job.status, "succeeded", "{:?}", job.error);
    assert_eq!(sim.lock().unwrap().refresh_count, 2);
    fake::assert_clean(&sim);
    b.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_grant_and_missing_refresh_token() {
    let (sim, base) = fake::start().await;
    two_calendars(&sim);
    sim.lock().unwrap().invalid_grant = true;
    let dir = tempfile::tempdir().unwrap();
    let b = fake::open(dir.path(), &base, None).await;
    let at = (chrono::Utc::now() - chrono::Duration::minutes(5))
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string();
    let account = fake::google_account(
        &b,
        json!({"access_token":"at-old","refresh_token":"rt-1","expires_at":at}),
    )
    .await;
    let mut sub = b.subscribe().unwrap();
    let job = fake::sync(&b, &account).await;
    let text = "Google Calendar authorization expired. Please reconnect the account.";
    assert_eq!(job.status, "failed");
    assert_eq!(job.error, json!({"message": text}));
    let logs: Vec<_> = fake::drain(&mut sub)
        .into_iter()
        .filter(|e| e["type"] == "log" && e["level"] == "error")
        .map(|e| e["message"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        logs,
        [format!(
            "calendar sync failed: {text} (job_id={})",
            job.job_id
        )]
    );
    let jev = b.list_job_events(&job.job_id).await.unwrap();
    assert_eq!(jev.last().unwrap().message, text);
    assert_eq!(jev.last().unwrap().level, "error");
    assert_eq!(
        count(dir.path(), "SELECT COUNT(*) FROM calendar_calendars"),
        0
    );
    // `invalid_grant` marks the account disconnected: still listed, tokens cleared.
    assert_eq!(stored_creds(dir.path()), json!({}));
    let listed = b.get_calendar_account(&account).await.unwrap();
    assert!(!listed.connected);

    let no_refresh =
        fake::google_account(&b, json!({"access_token":"at-old","expires_at":at})).await;
    let job = fake::sync(&b, &no_refresh).await;
    assert_eq!(
        job.error["message"],
        "Google Calendar refresh token is missing. Please reconnect the account."
    );
    let empty = fake::google_account(&b, json!({})).await;
    let job = fake::sync(&b, &empty).await;
    assert_eq!(
        job.error["message"],
        "No access token found for this account"
    );
    assert!(!b.get_calendar_account(&empty).await.unwrap().connected);
    b.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_429_honouring_retry_after() {
    let (sim, base) = fake::start().await;
    two_calendars(&sim);
    {
        let mut s = sim.lock().unwrap();
        s.valid_tokens.insert("at-1".into());
        let busy = json!({"error":{"code":429,"message":"Rate Limit Exceeded"}});
        s.overrides.push_back((
            "calendarList".into(),
            Resp::json(429, busy.clone()).header("Retry-After", "1"),
        ));
        s.overrides.push_back((
            "b%40example.com/events".into(),
            Resp::json(429, busy).header("retry-after", "1"),
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let b = fake::open(dir.path(), &base, None).await;
    let account = fake::google_account(&b, fake::fresh_creds("at-1")).await;
    let started = Instant::now();
    let job = fake::sync(&b, &account).await;
    assert_eq!(job.status, "succeeded", "{:?}", job.error);
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "Retry-After was not honoured"
    );
    let s = sim.lock().unwrap();
    assert_eq!(
        s.requests
            .iter()
            .filter(|r| r.raw_path.ends_with("calendarList"))
            .count(),
        2
    );
    assert!(s.violations.is_empty(), "{:?}", s.violations);
    assert_eq!(job.result["synced_events"], 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn html_error_pages_and_malformed_json_fail_cleanly() {
    let (sim, base) = fake::start().await;
    two_calendars(&sim);
    let html = "<!DOCTYPE html>\n<html lang=en>\n  <title>Error 502 (Server Error)!!1</title>\n  <p><b>502.</b> That’s an error.</p>\n</html>";
    {
        let mut s = sim.lock().unwrap();
        s.valid_tokens.insert("at-1".into());
        // Calendar B: page 1 is fine, page 2 is malformed JSON.
        s.overrides.push_back((
            "b%40example.com/events|pageToken=ev-2".into(),
            Resp::raw(
                200,
                "application/json; charset=UTF-8",
                r#"{"kind":"calendar#events","items":[{"id":"#,
            ),
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let b = fake::open(dir.path(), &base, None).await;
    let account = fake::google_account(&b, fake::fresh_creds("at-1")).await;
    let job = fake::sync(&b, &account).await;
    assert_eq!(job.status, "failed");
    let msg = job.error["message"].as_str().unwrap().to_string();
    assert!(
        msg.starts_with("Google Calendar API error 200: response is not valid JSON"),
        "{msg}"
    );
    // A was committed; B was not touched at all (no events, no cursor).
    let events = |cal: &str| {
        count(
            dir.path(),
            &format!("SELECT COUNT(*) FROM calendar_events WHERE calendar_id = '{cal}'"),
        )
    };
    assert_eq!(events("a@example.com"), 3);
    assert_eq!(events("b@example.com"), 0);
    assert_eq!(
        count(
            dir.path(),
            "SELECT COUNT(*) FROM sync_state WHERE connector LIKE '%b@example.com'"
        ),
        0
    );

    // B fails with an HTML 502 page three times (2 retries): the status and a short text.
    {
        let mut s = sim.lock().unwrap();
        for _ in 0..3 {
            s.overrides.push_back((
                "b%40example.com/events".into(),
                Resp::raw(502, "text/html; charset=UTF-8", html),
            ));
        }
        s.requests.clear();
    }
    let job = fake::sync(&b, &account).await;
    assert_eq!(job.status, "failed");
    let msg = job.error["message"].as_str().unwrap();
    assert!(
        msg.starts_with("Google Calendar API error 502: <!DOCTYPE html> <html lang=en>"),
        "{msg}"
    );
    assert!(!msg.contains('\n'));
    assert_eq!(
        sim.lock()
            .unwrap()
            .requests
            .iter()
            .filter(|r| r.raw_path.contains("b%40example.com"))
            .count(),
        3
    );
    assert_eq!(events("b@example.com"), 0);

    // A plain 403 with Google's JSON error: error.message is used.
    sim.lock().unwrap().overrides.push_back((
        "a%40example.com/events".into(),
        Resp::json(403, json!({"error":{"code":403,"message":"The request is missing a valid API key.","status":"PERMISSION_DENIED"}})),
    ));
    let job = fake::sync(&b, &account).await;
    assert_eq!(
        job.error["message"],
        "Google Calendar API error 403: The request is missing a valid API key."
    );

    // The process lives on: the next sync completes.
    let job = fake::sync(&b, &account).await;
    assert_eq!(job.status, "succeeded", "{:?}", job.error);
    assert_eq!(events("b@example.com"), 3);
    fake::assert_clean(&sim);
    b.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_aborts_the_request_in_flight() {
    let (sim, base) = fake::start().await;
    two_calendars(&sim);
    {
        let mut s = sim.lock().unwrap();
        s.valid_tokens.insert("at-1".into());
        let slow = Resp::json(
            200,
            json!({"kind":"calendar#events","items":[],"nextSyncToken":"never"}),
        )
        .delayed(Duration::from_secs(20));
        s.overrides
            .push_back(("b%40example.com/events".into(), slow));
    }
    let dir = tempfile::tempdir().unwrap();
    let b = fake::open(dir.path(), &base, None).await;
    let account = fake::google_account(&b, fake::fresh_creds("at-1")).await;
    let created = b.sync_calendar_account(&account, &json!({})).await.unwrap();
    for _ in 0..200 {
        if sim
            .lock()
            .unwrap()
            .requests
            .iter()
            .any(|r| r.raw_path.contains("b%40example.com"))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let started = Instant::now();
    let out = b.cancel_job(&created.job_id).await.unwrap();
    assert_eq!(out.status, "canceled");
    // The worker slot frees long before the 20 s answer: the request was dropped.
    for _ in 0..100 {
        if b.status().await.unwrap().workers.active == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(b.status().await.unwrap().workers.active, 0);
    assert!(started.elapsed() < Duration::from_secs(3));
    let job = b.get_job(&created.job_id).await.unwrap();
    assert_eq!(
        (job.status.as_str(), &job.result, &job.error),
        ("canceled", &Value::Null, &Value::Null)
    );
    // A, done before the cancel, stays; B has nothing.
    assert_eq!(
        count(
            dir.path(),
            "SELECT COUNT(*) FROM calendar_events WHERE calendar_id = 'a@example.com'"
        ),
        3
    );
    assert_eq!(
        count(
            dir.path(),
            "SELECT COUNT(*) FROM calendar_events WHERE calendar_id = 'b@example.com'"
        ),
        0
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(b.get_job(&created.job_id).await.unwrap().status, "canceled");
    b.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_at_rest_accounts_and_validation() {
    let (sim, base) = fake::start().await;
    two_calendars(&sim);
    sim.lock().unwrap().valid_tokens.insert("at-1".into());
    let dir = tempfile::tempdir().unwrap();
    let key = [3u8; 32];
    let b = fake::open(dir.path(), &base, Some(key)).await;
    let google = b
        .create_calendar_account(
            &json!({"provider":"google","email":" A.B+c@Example.COM ","display_name":"Work",
            "credentials": fake::fresh_creds("at-1"), "extra": 1}),
        )
        .await
        .unwrap();
    assert_eq!(google.email.as_deref(), Some("A.B+c@example.com"));
    assert!(google.connected);
    assert_eq!(google.last_sync_at, None);
    let apple = b
        .create_calendar_account(
            &json!({"provider":"apple","display_name":"Apple Calendar (CalDAV/iCloud)"}),
        )
        .await
        .unwrap();
    assert!(!apple.connected);
    let listed = b.list_calendar_accounts().await.unwrap();
    assert_eq!(listed.len(), 2);
    let text = serde_json::to_string(&listed).unwrap();
    assert!(!text.contains("at-1") && !text.contains("rt-1") && !text.contains("credentials"));
    let conn = rusqlite::Connection::open(dir.path().join("index.db")).unwrap();
    let stored: Vec<String> = conn
        .prepare("SELECT credentials_json FROM calendar_accounts")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert!(
        stored.iter().all(|s| s.starts_with("enc:v1:")),
        "{stored:?}"
    );
    assert!(stored.iter().all(|s| !s.contains("at-1")));
    drop(conn);

    let job = fake::sync(&b, &google.account_id).await;
    assert_eq!(job.status, "succeeded", "{:?}", job.error);
    let job = fake::sync(&b, &apple.account_id).await;
    assert_eq!(job.status, "failed");
    assert_eq!(
        job.message.as_deref(),
        Some("Starting sync with Apple Calendar (CalDAV/iCloud)")
    );
    assert_eq!(
        job.error,
        json!({"message": "Apple Calendar sync not yet implemented"})
    );

    // Sync job creation rules.
    let err = b
        .sync_calendar_account(&google.account_id, &Value::Null)
        .await
        .unwrap_err();
    assert_eq!(
        err.detail(),
        json!([{"type":"missing","loc":["body"],"msg":"Field required","input":null}])
    );
    let err = b
        .sync_calendar_account(&google.account_id, &json!([1]))
        .await
        .unwrap_err();
    assert_eq!(err.detail()[0]["type"], "dict_type");
    let err = b
        .sync_calendar_account("cal_nope", &json!({}))
        .await
        .unwrap_err();
    assert_eq!(
        (err.status(), err.to_string().as_str()),
        (404, "calendar account not found")
    );
    let created = b
        .sync_calendar_account(
            &google.account_id,
            &json!({"account_id": "cal_other", "x": 1}),
        )
        .await
        .unwrap();
    let job = b.get_job(&created.job_id).await.unwrap();
    assert_eq!(
        job.payload,
        json!({"account_id": google.account_id, "x": 1})
    );
    wait_final(&b, &created.job_id).await;
    let bad = b
        .create_job(&json!({"type": "connector.calendar.sync", "payload": {}}))
        .await
        .unwrap();
    let job = wait_final(&b, &bad.job_id).await;
    assert_eq!(
        job.error,
        json!({"message": "account_id is required for calendar sync"})
    );
    assert_eq!(job.progress, None);
    let bad = b
        .create_job(&json!({"type": "connector.calendar.sync", "payload": {"account_id": "cal_x"}}))
        .await
        .unwrap();
    let job = wait_final(&b, &bad.job_id).await;
    assert_eq!(
        job.error,
        json!({"message": "calendar account not found: cal_x"})
    );

    // Account input validation.
    let err = b
        .create_calendar_account(&json!({"provider": "outlook"}))
        .await
        .unwrap_err();
    assert_eq!(
        err.detail(),
        json!([{"type":"enum","loc":["body","provider"],"msg":"Input should be 'google' or 'apple'",
        "input":"outlook","ctx":{"expected":"'google' or 'apple'"}}])
    );
    let err = b
        .create_calendar_account(
            &json!({"provider": "google", "email": "a@localhost", "credentials": []}),
        )
        .await
        .unwrap_err();
    let items = err.detail();
    assert_eq!(items[0]["type"], "value_error");
    assert_eq!(items[0]["loc"], json!(["body", "email"]));
    assert_eq!(items[1]["type"], "dict_type");
    let err = b.create_calendar_account(&json!({})).await.unwrap_err();
    assert_eq!(err.detail()[0]["type"], "missing");
    assert_eq!(b.list_calendar_providers().await.unwrap().len(), 2);
    b.close().await.unwrap();

    // A wrong key: accounts stay listed and connected; syncs fail with the contract's text.
    let b = fake::open(dir.path(), &base, Some([4u8; 32])).await;
    let listed = b.list_calendar_accounts().await.unwrap();
    assert!(listed
        .iter()
        .any(|a| a.account_id == google.account_id && a.connected));
    let job = fake::sync(&b, &google.account_id).await;
    assert_eq!(
        job.error["message"],
        "stored credentials cannot be decrypted (missing or wrong secretKey)"
    );
    b.close().await.unwrap();
}

/// Accounts created in the same second list in insertion order, as the original
/// (`ORDER BY created_at DESC` with SQLite's rowid order for ties); newer seconds first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_second_accounts_list_in_insertion_order() {
    let (_sim, base) = fake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let b = fake::open(dir.path(), &base, None).await;
    let mut ids = Vec::new();
    for name in ["first", "second", "third"] {
        let account = b
            .create_calendar_account(&json!({"provider": "apple", "display_name": name}))
            .await
            .unwrap();
        ids.push(account.account_id);
    }
    let conn = rusqlite::Connection::open(dir.path().join("index.db")).unwrap();
    for (id, at) in ids.iter().zip([
        "2024-01-01T00:00:00Z",
        "2024-01-01T00:00:00Z",
        "2024-01-02T00:00:00Z",
    ]) {
        conn.execute(
            "UPDATE calendar_accounts SET created_at = ?2 WHERE account_id = ?1",
            [id, at],
        )
        .unwrap();
    }
    let listed: Vec<String> = b
        .list_calendar_accounts()
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.account_id)
        .collect();
    assert_eq!(listed, [ids[2].clone(), ids[0].clone(), ids[1].clone()]);
    b.close().await.unwrap();
}
