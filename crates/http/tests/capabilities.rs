//! The capability routes (claude, calendar, Google OAuth, jira, confluence, activity) over real
//! HTTP on 127.0.0.1, with a real backend in a temp dir and small fake upstreams.

mod common;

use common::fake::Fake;
use common::{Harness, Resp};
use serde_json::{json, Value};

/// Asserts a 422 whose single item has `type` and `loc`.
#[track_caller]
fn assert_422(r: &Resp, kind: &str, loc: Value) {
    assert_eq!(r.status, 422, "{}", r.text());
    let items = r.json()["detail"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["type"], kind, "{items:?}");
    assert_eq!(items[0]["loc"], loc, "{items:?}");
}

const MISSING_BODY: &str =
    r#"{"detail":[{"type":"missing","loc":["body"],"msg":"Field required","input":null}]}"#;

/// A closed port on 127.0.0.1 (bound, then released).
async fn closed_port() -> u16 {
    let l = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    l.local_addr().unwrap().port()
}

// ----------------------------------------------------------------------------------------------
// Claude

#[tokio::test(flavor = "multi_thread")]
async fn claude_spawn_queues_a_job() {
    let h = Harness::start_config(|c| {
        // No claude binary is needed: the test checks the queued job, not the run.
        c.claude_path = Some("/nonexistent/claude".into());
    })
    .await;
    let r = h
        .post("/claude/spawn")
        .json(&json!({"prompt": "hi", "args": ["--x"]}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let id = r.json()["job_id"].as_str().unwrap().to_string();
    assert_eq!(
        r.text(),
        format!(r#"{{"job_id":"{id}","status":"queued"}}"#)
    );
    let job = h.get(&format!("/jobs/{id}")).send().await.json();
    assert_eq!(job["type"], "claude.spawn");
    assert_eq!(
        job["payload"],
        json!({"args":["--x"],"prompt":"hi","stdin":null,"session_id":null,"timeout_ms":null,"output_format":"text"})
    );

    // A missing body is the core's 422 `missing` (the pipeline passes null).
    let r = h.post("/claude/spawn").send().await;
    assert_eq!(r.status, 422);
    assert_eq!(r.text(), MISSING_BODY);
    let r = h
        .post("/claude/spawn")
        .json(&json!({"output_format": "xml"}))
        .send()
        .await;
    assert_422(&r, "literal_error", json!(["body", "output_format"]));
    let r = h.get("/claude/spawn").send().await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("POST"));
    h.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn claude_sessions_create_get_list_delete() {
    let h = Harness::start().await;
    let r = h.get("/claude/sessions").send().await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), r#"{"sessions":[]}"#);

    let r = h.post("/claude/session").send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    let id = r.json()["session_id"].as_str().unwrap().to_string();
    assert!(id.starts_with("session_"), "{id}");
    let second = h.post("/claude/session").send().await.json()["session_id"].clone();

    let r = h.get(&format!("/claude/session/{id}")).send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    let s = r.json();
    assert_eq!(s["session_id"], id.as_str());
    assert_eq!(s["messages"], json!([]));
    assert!(s["created_at"].as_str().unwrap().ends_with('Z'));

    let list = h.get("/claude/sessions").send().await.json();
    let sessions = list["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    assert!(sessions.iter().all(|s| s.get("messages").is_none()));
    let ids: Vec<&Value> = sessions.iter().map(|s| &s["session_id"]).collect();
    assert!(ids.contains(&&json!(id)) && ids.contains(&&second));
    let limited = h.get("/claude/sessions?limit=1").send().await.json();
    assert_eq!(limited["sessions"].as_array().unwrap().len(), 1);
    let r = h.get("/claude/sessions?limit=0").send().await;
    assert_422(&r, "greater_than_equal", json!(["query", "limit"]));

    let r = h.delete(&format!("/claude/session/{id}")).send().await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), r#"{"ok":true}"#);
    h.get(&format!("/claude/session/{id}"))
        .send()
        .await
        .assert_detail(404, "session not found");
    h.delete(&format!("/claude/session/{id}"))
        .send()
        .await
        .assert_detail(404, "session not found");
    let list = h.get("/claude/sessions").send().await.json();
    assert_eq!(list["sessions"].as_array().unwrap().len(), 1);
    h.close().await;
}

// ----------------------------------------------------------------------------------------------
// Calendar

#[tokio::test(flavor = "multi_thread")]
async fn calendar_providers_and_accounts() {
    let h = Harness::start().await;
    let r = h.get("/calendar/providers").send().await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.text(),
        r#"{"providers":[{"id":"google","label":"Google Calendar","auth_method":"oauth2_pkce","scopes":["https://www.googleapis.com/auth/calendar.readonly"],"notes":"Use installed-app OAuth with loopback redirect and refresh tokens stored locally."},{"id":"apple","label":"Apple Calendar (CalDAV/iCloud)","auth_method":"caldav_basic","scopes":[],"notes":"Use CalDAV endpoint with app-specific passwords; relies on sync tokens."}]}"#
    );
    assert_eq!(
        h.get("/calendar/accounts").send().await.text(),
        r#"{"accounts":[]}"#
    );

    let r = h
        .post("/calendar/accounts")
        .json(&json!({"provider":"apple","display_name":"Apple Calendar (CalDAV/iCloud)"}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let account = r.json();
    let id = account["account_id"].as_str().unwrap().to_string();
    assert!(id.starts_with("cal_"));
    assert_eq!(account["connected"], false);
    assert!(r.text().starts_with(r#"{"account_id":""#));
    assert!(!r.text().contains("credentials"));

    let list = h.get("/calendar/accounts").send().await.json();
    assert_eq!(list["accounts"], json!([account]));
    let r = h.get(&format!("/calendar/accounts/{id}")).send().await;
    assert_eq!(r.json(), account);

    // Validation and 404s.
    let r = h.post("/calendar/accounts").send().await;
    assert_eq!(r.text(), MISSING_BODY);
    let r = h
        .post("/calendar/accounts")
        .json(&json!({"provider":"outlook"}))
        .send()
        .await;
    assert_422(&r, "enum", json!(["body", "provider"]));
    h.get("/calendar/accounts/cal_nope")
        .send()
        .await
        .assert_detail(404, "calendar account not found");
    h.delete("/calendar/accounts/cal_nope")
        .send()
        .await
        .assert_detail(404, "calendar account not found");

    // Sync: body required, an object; the path id wins.
    let sync = format!("/calendar/accounts/{id}/sync");
    assert_eq!(h.post(&sync).send().await.text(), MISSING_BODY);
    let r = h.post(&sync).json(&json!([1])).send().await;
    assert_422(&r, "dict_type", json!(["body"]));
    h.post("/calendar/accounts/cal_nope/sync")
        .json(&json!({}))
        .send()
        .await
        .assert_detail(404, "calendar account not found");
    let r = h
        .post(&sync)
        .json(&json!({"account_id":"other","full":true}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let job_id = r.json()["job_id"].as_str().unwrap().to_string();
    let job = h.get(&format!("/jobs/{job_id}")).send().await.json();
    assert_eq!(job["type"], "connector.calendar.sync");
    assert_eq!(job["payload"], json!({"account_id": id, "full": true}));

    let r = h.delete(&format!("/calendar/accounts/{id}")).send().await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), r#"{"ok":true}"#);
    h.get(&format!("/calendar/accounts/{id}"))
        .send()
        .await
        .assert_detail(404, "calendar account not found");
    h.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn calendar_calendars_and_events() {
    let h = Harness::start().await;
    let r = h.get("/calendar/calendars").send().await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), r#"{"calendars":[]}"#);
    let r = h
        .get("/calendar/calendars?selected_only=maybe")
        .send()
        .await;
    assert_422(&r, "bool_parsing", json!(["query", "selected_only"]));

    let id = h
        .post("/calendar/accounts")
        .json(&json!({"provider":"apple"}))
        .send()
        .await
        .json()["account_id"]
        .as_str()
        .unwrap()
        .to_string();
    // A percent-encoded calendar id is one segment; a missing calendar is not checked.
    let r = h
        .patch(&format!("/calendar/calendars/{id}/a%40group.calendar"))
        .json(&json!({"selected": false}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), r#"{"ok":true}"#);
    h.patch("/calendar/calendars/cal_nope/x")
        .json(&json!({"selected": true}))
        .send()
        .await
        .assert_detail(404, "calendar account not found");
    let r = h
        .patch(&format!("/calendar/calendars/{id}/x"))
        .json(&json!({}))
        .send()
        .await;
    assert_422(&r, "missing", json!(["body", "selected"]));
    let r = h.patch(&format!("/calendar/calendars/{id}/x")).send().await;
    assert_eq!(r.text(), MISSING_BODY);

    let r = h
        .get("/calendar/events?start=2024-01-01T00:00:00Z&end=2024-01-02T00:00:00Z&calendar_ids=a&calendar_ids=b")
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), r#"{"events":[]}"#);
    let r = h
        .get("/calendar/events?end=2024-01-02T00:00:00Z")
        .send()
        .await;
    assert_422(&r, "missing", json!(["query", "start"]));
    // A missing query parameter's input is null (not the query map), as FastAPI answers.
    assert_eq!(
        r.text(),
        r#"{"detail":[{"type":"missing","loc":["query","start"],"msg":"Field required","input":null}]}"#
    );
    h.get("/calendar/events?start=nope&end=2024-01-02T00:00:00Z")
        .send()
        .await
        .assert_detail(400, "Invalid isoformat string: 'nope'");
    // Out-of-range fields answer `datetime.fromisoformat`'s texts.
    for (start, detail) in [
        ("2024-13-01", "month must be in 1..12"),
        ("2024-04-31", "day is out of range for month"),
        ("2024-01-01T24:00:00Z", "hour must be in 0..23"),
    ] {
        h.get(&format!("/calendar/events?start={start}&end=2025-01-01"))
            .send()
            .await
            .assert_detail(400, detail);
    }
    h.get("/calendar/events?start=2024-01-03T00:00:00Z&end=2024-01-02T00:00:00Z")
        .send()
        .await
        .assert_detail(400, "start must be before end");
    h.close().await;
}

// ----------------------------------------------------------------------------------------------
// Google OAuth

fn with_google(c: &mut enttok_core::Config) {
    c.google_client_id = "client-1".into();
    c.google_client_secret = "secret-1".into();
}

#[tokio::test(flavor = "multi_thread")]
async fn oauth_start_needs_configuration() {
    let h = Harness::start().await;
    h.post("/calendar/oauth/google/start")
        .send()
        .await
        .assert_detail(
            500,
            "Google OAuth not configured. Set GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET.",
        );
    h.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn oauth_start_redirects_to_this_server_and_callback_is_public() {
    let h = Harness::start_config(with_google).await;
    let port = h.port();
    let r = h.post("/calendar/oauth/google/start").send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    let started = r.json();
    let redirect = format!("http://127.0.0.1:{port}/calendar/oauth/google/callback");
    assert_eq!(started["redirect_uri"], redirect.as_str());
    assert_eq!(started["port"], port);
    let state = started["state"].as_str().unwrap().to_string();
    assert_eq!(state.len(), 43);
    let auth_url = started["auth_url"].as_str().unwrap();
    assert!(auth_url.contains(&format!(
        "redirect_uri=http%3A%2F%2F127.0.0.1%3A{port}%2Fcalendar%2Foauth%2Fgoogle%2Fcallback"
    )));
    assert!(auth_url.contains("client_id=client-1"));

    // The callback needs no token and escapes what it shows.
    let r = h
        .get("/calendar/oauth/google/callback?error=%3Cscript%3Ealert(1)%3C%2Fscript%3E")
        .without("X-Backend-Token")
        .send()
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    r.assert_security_headers();
    let page = r.text();
    assert!(page.contains("Authorization Failed"), "{page}");
    assert!(!page.contains("<script>"), "{page}");
    assert!(page.contains("&lt;script&gt;"), "{page}");

    let r = h
        .get("/calendar/oauth/google/callback")
        .without("X-Backend-Token")
        .send()
        .await;
    assert_eq!(r.status, 400);
    assert!(r.text().contains("Authorization Failed"));
    let r = h
        .get("/calendar/oauth/google/callback?code=c&state=unknown")
        .without("X-Backend-Token")
        .send()
        .await;
    assert_eq!(r.status, 400);
    assert!(r.text().contains("Invalid or expired OAuth state"));

    // An `error` with a known state consumes it: completing it afterwards fails.
    let r = h
        .get(&format!(
            "/calendar/oauth/google/callback?error=access_denied&state={state}"
        ))
        .without("X-Backend-Token")
        .send()
        .await;
    assert_eq!(r.status, 400);
    h.post("/calendar/oauth/google/complete")
        .json(&json!({"code":"c","state": state}))
        .send()
        .await
        .assert_detail(400, "Invalid or expired OAuth state");

    // The other OAuth routes do need the token.
    h.post("/calendar/oauth/google/start")
        .without("X-Backend-Token")
        .send()
        .await
        .assert_detail(401, "unauthorized");
    h.post("/calendar/oauth/google/complete")
        .without("X-Backend-Token")
        .json(&json!({"code":"c","state":"s"}))
        .send()
        .await
        .assert_detail(401, "unauthorized");

    // Once the adapter stops, redirects go back to the core's own loopback listener.
    h.server.stop().await;
    let again = h.backend.start_google_oauth().await.unwrap();
    assert_ne!(again["port"], port);
    h.backend.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn oauth_port_follows_the_adapter_lifecycle() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = enttok_core::Config::new(dir.path());
    config.scheduler = false;
    with_google(&mut config);
    let backend = enttok_core::Backend::open(config).await.unwrap();
    // Started directly (no binding): the adapter itself tells the core its port.
    let server = enttok_http::start(backend.clone(), Default::default())
        .await
        .unwrap();
    let port = server.port();
    let flow = backend.start_google_oauth().await.unwrap();
    assert_eq!(flow["port"], port);
    // Dropped without `stop`: the redirect no longer points at it.
    drop(server);
    let flow = backend.start_google_oauth().await.unwrap();
    assert_ne!(flow["port"], port);
    // A second adapter on the same backend takes over.
    let server = enttok_http::start(backend.clone(), Default::default())
        .await
        .unwrap();
    let flow = backend.start_google_oauth().await.unwrap();
    assert_eq!(flow["port"], server.port());
    server.stop().await;
    backend.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn oauth_complete_validation_and_unknown_state() {
    let h = Harness::start_config(with_google).await;
    h.post("/calendar/oauth/google/complete")
        .json(&json!({"code":"c","state":"nope"}))
        .send()
        .await
        .assert_detail(400, "Invalid or expired OAuth state");
    let r = h.post("/calendar/oauth/google/complete").send().await;
    assert_eq!(r.text(), MISSING_BODY);
    let r = h
        .post("/calendar/oauth/google/complete")
        .json(&json!({"code":"c"}))
        .send()
        .await;
    assert_422(&r, "missing", json!(["body", "state"]));
    h.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn oauth_callback_success_creates_an_account() {
    let google = Fake::start(|seen| match seen.target.as_str() {
        "/token" => (
            200,
            r#"{"access_token":"at-1","refresh_token":"rt-1","expires_in":3600,"token_type":"Bearer"}"#
                .into(),
        ),
        "/userinfo" => (200, r#"{"email":"Me@Example.com"}"#.into()),
        _ => (404, "{}".into()),
    })
    .await;
    let base = google.url();
    let h = Harness::start_config(|c| {
        with_google(c);
        c.endpoints.google_token_url = format!("{base}/token");
        c.endpoints.google_userinfo_url = format!("{base}/userinfo");
    })
    .await;
    let started = h.post("/calendar/oauth/google/start").send().await.json();
    let state = started["state"].as_str().unwrap().to_string();
    let r = h
        .get(&format!(
            "/calendar/oauth/google/callback?code=the%2Fcode&state={state}"
        ))
        .without("X-Backend-Token")
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.text().contains("Authorization Successful!"),
        "{}",
        r.text()
    );

    // The exchange sent the decoded code and this server's redirect URI.
    let seen = google.requests();
    let token = seen.iter().find(|s| s.target == "/token").unwrap();
    assert_eq!(token.method, "POST");
    let form: Vec<(String, String)> = url_pairs(&token.body);
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("code"), Some("the/code"));
    assert_eq!(get("grant_type"), Some("authorization_code"));
    assert_eq!(get("redirect_uri"), started["redirect_uri"].as_str());
    assert_eq!(get("code_verifier").map(str::len), Some(86));
    let info = seen.iter().find(|s| s.target == "/userinfo").unwrap();
    assert_eq!(info.header("authorization"), Some("Bearer at-1"));

    let accounts = h.get("/calendar/accounts").send().await.json();
    let list = accounts["accounts"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["provider"], "google");
    assert_eq!(list[0]["connected"], true);
    assert!(!accounts.to_string().contains("at-1"));
    // The state was single-use.
    let r = h
        .get(&format!(
            "/calendar/oauth/google/callback?code=x&state={state}"
        ))
        .without("X-Backend-Token")
        .send()
        .await;
    assert_eq!(r.status, 400);
    h.close().await;
}

/// Decodes an `application/x-www-form-urlencoded` body.
fn url_pairs(body: &str) -> Vec<(String, String)> {
    fn decode(s: &str) -> String {
        let s = s.replace('+', " ");
        let b = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' && i + 2 < b.len() {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    }
    body.split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

// ----------------------------------------------------------------------------------------------
// Jira and Confluence

#[tokio::test(flavor = "multi_thread")]
async fn jira_add_with_unreachable_site_is_400() {
    let port = closed_port().await;
    let h = Harness::start_config(|c| {
        c.endpoints.atlassian_base_url = format!("http://127.0.0.1:{port}/{{org}}");
    })
    .await;
    let body = json!({"org":"acme","email":"a@b.co","api_token":"tok-secret"});
    let r = h.post("/jira/accounts").json(&body).send().await;
    assert_eq!(r.status, 400, "{}", r.text());
    let detail = r.json()["detail"].as_str().unwrap().to_string();
    assert!(detail.starts_with("Jira connection failed: "), "{detail}");
    assert!(!detail.contains("tok-secret"));
    let r = h.post("/confluence/accounts").json(&body).send().await;
    assert_eq!(r.status, 400, "{}", r.text());
    let detail = r.json()["detail"].as_str().unwrap().to_string();
    assert!(
        detail.starts_with("Confluence connection failed: "),
        "{detail}"
    );
    assert_eq!(
        h.get("/jira/accounts").send().await.text(),
        r#"{"accounts":[]}"#
    );
    h.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn jira_routes_with_a_fake_site() {
    let site = Fake::start(|seen| {
        if seen.target.starts_with("/acme/rest/api/3/myself") {
            (
                200,
                r#"{"accountId":"5b10a","displayName":"Person A"}"#.into(),
            )
        } else if seen.target.starts_with("/acme/wiki/rest/api/user/current") {
            (200, r#"{"accountId":"5b10a"}"#.into())
        } else if seen.target.starts_with("/acme/rest/api/3/search/jql") {
            (200, r#"{"issues":[],"isLast":true}"#.into())
        } else {
            (404, r#"{"errorMessages":["nope"]}"#.into())
        }
    })
    .await;
    let base = site.url();
    let h = Harness::start_config(|c| {
        c.endpoints.atlassian_base_url = format!("{base}/{{org}}");
    })
    .await;
    let body = json!({"org":" acme ","email":"A@B.co","api_token":"tok-secret"});
    let r = h.post("/jira/accounts").json(&body).send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    let account = r.json();
    assert_eq!(account["service"], "jira");
    assert_eq!(account["org"], "acme");
    assert_eq!(account["base_url"], format!("{base}/acme"));
    assert_eq!(account["has_token"], true);
    assert!(!r.text().contains("tok-secret"));
    let id = account["account_id"].as_str().unwrap().to_string();
    // The live check used basic auth with the token.
    let myself = site.requests().into_iter().next().unwrap();
    assert_eq!(myself.method, "GET");
    assert!(myself
        .header("authorization")
        .unwrap()
        .starts_with("Basic "));

    let list = h.get("/jira/accounts").send().await.json();
    assert_eq!(list["accounts"], json!([account]));
    // Confluence lists only its own accounts and does not know a Jira id.
    assert_eq!(
        h.get("/confluence/accounts").send().await.text(),
        r#"{"accounts":[]}"#
    );
    h.post(&format!("/confluence/accounts/{id}/sync"))
        .send()
        .await
        .assert_detail(404, "confluence account not found");

    // Sync: `force` from the query, default true.
    let r = h
        .post(&format!("/jira/accounts/{id}/sync?force=false"))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let job_id = r.json()["job_id"].as_str().unwrap().to_string();
    let job = h.get(&format!("/jobs/{job_id}")).send().await.json();
    assert_eq!(job["type"], "connector.jira.sync");
    assert_eq!(job["payload"], json!({"account_id": id, "force": false}));
    let r = h
        .post(&format!("/jira/accounts/{id}/sync?force=maybe"))
        .send()
        .await;
    assert_422(&r, "bool_parsing", json!(["query", "force"]));
    h.post("/jira/accounts/atl_nope/sync")
        .send()
        .await
        .assert_detail(404, "jira account not found");

    // Dev search: the raw exchange, never the token.
    let r = h
        .post("/jira/dev/search")
        .json(&json!({"account_id": id}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let result = r.json();
    assert_eq!(result["account_id"], id.as_str());
    assert_eq!(result["primary"]["response"]["status"], 200);
    assert_eq!(result["fallback"], Value::Null);
    assert!(!r.text().contains("tok-secret"));
    h.post("/jira/dev/search")
        .json(&json!({"account_id": "atl_nope"}))
        .send()
        .await
        .assert_detail(404, "jira account not found");
    let r = h
        .post("/jira/dev/search")
        .json(&json!({"account_id": ""}))
        .send()
        .await;
    assert_422(&r, "string_too_short", json!(["body", "account_id"]));
    assert_eq!(h.post("/jira/dev/search").send().await.text(), MISSING_BODY);

    // Validation of a new account.
    assert_eq!(h.post("/jira/accounts").send().await.text(), MISSING_BODY);
    let r = h
        .post("/jira/accounts")
        .json(&json!({"org":"acme","email":"not-an-email","api_token":"t"}))
        .send()
        .await;
    assert_422(&r, "value_error", json!(["body", "email"]));

    // Delete.
    h.delete(&format!("/confluence/accounts/{id}"))
        .send()
        .await
        .assert_detail(404, "confluence account not found");
    let r = h.delete(&format!("/jira/accounts/{id}")).send().await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), r#"{"ok":true}"#);
    h.delete(&format!("/jira/accounts/{id}"))
        .send()
        .await
        .assert_detail(404, "jira account not found");
    assert_eq!(
        h.get("/jira/accounts").send().await.text(),
        r#"{"accounts":[]}"#
    );
    h.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn confluence_routes_with_a_fake_site() {
    let site = Fake::start(|seen| {
        if seen.target.starts_with("/acme/wiki/rest/api/user/current") {
            (200, r#"{"accountId":"5b10a"}"#.into())
        } else {
            (401, r#"{"message":"no"}"#.into())
        }
    })
    .await;
    let base = site.url();
    let h = Harness::start_config(|c| {
        c.endpoints.atlassian_base_url = format!("{base}/{{org}}");
    })
    .await;
    let body = json!({"org":"acme","email":"a@b.co","api_token":"tok-secret"});
    let r = h.post("/confluence/accounts").json(&body).send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    let account = r.json();
    assert_eq!(account["service"], "confluence");
    let id = account["account_id"].as_str().unwrap().to_string();
    // Jira's check fails on the same site: the upstream status is in the detail.
    let r = h.post("/jira/accounts").json(&body).send().await;
    assert_eq!(r.status, 400);
    let detail = r.json()["detail"].as_str().unwrap().to_string();
    assert!(detail.starts_with("Jira connection failed: "), "{detail}");

    let list = h.get("/confluence/accounts").send().await.json();
    assert_eq!(list["accounts"], json!([account]));
    let r = h
        .post(&format!("/confluence/accounts/{id}/sync"))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let job_id = r.json()["job_id"].as_str().unwrap().to_string();
    let job = h.get(&format!("/jobs/{job_id}")).send().await.json();
    assert_eq!(job["type"], "connector.confluence.sync");
    assert_eq!(job["payload"], json!({"account_id": id}));
    h.post(&format!("/jira/accounts/{id}/sync"))
        .send()
        .await
        .assert_detail(404, "jira account not found");
    let r = h.delete(&format!("/confluence/accounts/{id}")).send().await;
    assert_eq!(r.text(), r#"{"ok":true}"#);
    h.delete(&format!("/confluence/accounts/{id}"))
        .send()
        .await
        .assert_detail(404, "confluence account not found");
    h.close().await;
}

// ----------------------------------------------------------------------------------------------
// Activity

#[tokio::test(flavor = "multi_thread")]
async fn activity_events_query() {
    let h = Harness::start().await;
    let r = h
        .get("/activity/events?start=2024-01-01T00:00:00Z&end=2024-01-02T00:00:00Z&sources=jira,confluence&limit=50")
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), r#"{"events":[]}"#);
    h.get("/activity/events?start=2024-01-03T00:00:00Z&end=2024-01-02T00:00:00Z")
        .send()
        .await
        .assert_detail(400, "start must be before end");
    h.get("/activity/events?start=x&end=2024-01-02T00:00:00Z")
        .send()
        .await
        .assert_detail(400, "Invalid isoformat string: 'x'");
    h.get("/activity/events?start=2024-01-01&end=2024-06-31")
        .send()
        .await
        .assert_detail(400, "day is out of range for month");
    let r = h
        .get("/activity/events?start=2024-01-01T00:00:00Z&end=2024-01-02T00:00:00Z&limit=1001")
        .send()
        .await;
    assert_422(&r, "less_than_equal", json!(["query", "limit"]));
    let r = h
        .get("/activity/events?start=2024-01-01T00:00:00Z&end=2024-01-02T00:00:00Z&limit=0")
        .send()
        .await;
    assert_422(&r, "greater_than_equal", json!(["query", "limit"]));
    let r = h
        .get("/activity/events?end=2024-01-02T00:00:00Z")
        .send()
        .await;
    assert_422(&r, "missing", json!(["query", "start"]));
    assert_eq!(r.json()["detail"][0]["input"], Value::Null);
    assert_eq!(r.json()["detail"].as_array().map(Vec::len), Some(1));
    h.close().await;
}
