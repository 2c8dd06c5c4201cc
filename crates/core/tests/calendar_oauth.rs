//! Google OAuth with PKCE against a local fake Google: the loopback listener round trip, state
//! rules, exchange failures, the adapter-port mode, and secrets at rest.

mod calendar_fake;

use std::time::Duration;

use calendar_fake as fake;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn query_of(url: &str) -> Vec<(String, String)> {
    let q = url.split_once('?').unwrap().1;
    url::form_urlencoded::parse(q.as_bytes())
        .into_owned()
        .collect()
}

async fn raw_get(port: u16, host: &str, path: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_round_trip_through_the_loopback_listener() {
    let (sim, base) = fake::start().await;
    sim.lock().unwrap().email = Some("Person@example.com".into());
    let dir = tempfile::tempdir().unwrap();
    let key = [9u8; 32];
    let b = fake::open(dir.path(), &base, Some(key)).await;
    let mut sub = b.subscribe().unwrap();

    let start = b.start_google_oauth().await.unwrap();
    let keys: Vec<_> = start.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, ["auth_url", "state", "redirect_uri", "port"]);
    let state = start["state"].as_str().unwrap().to_string();
    let port = start["port"].as_u64().unwrap() as u16;
    let redirect = start["redirect_uri"].as_str().unwrap().to_string();
    assert_eq!(state.len(), 43);
    assert_eq!(
        redirect,
        format!("http://127.0.0.1:{port}/calendar/oauth/google/callback")
    );
    let auth_url = start["auth_url"].as_str().unwrap();
    assert!(auth_url.starts_with(&format!(
        "{base}/auth?client_id=cid-123&redirect_uri=http%3A%2F%2F127.0.0.1%3A{port}%2F"
    )));
    let q = query_of(auth_url);
    let names: Vec<_> = q.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "client_id",
            "redirect_uri",
            "response_type",
            "scope",
            "state",
            "code_challenge",
            "code_challenge_method",
            "access_type",
            "prompt"
        ]
    );
    let get = |k: &str| q.iter().find(|(n, _)| n == k).unwrap().1.clone();
    assert_eq!(get("state"), state);
    assert_eq!(
        get("scope"),
        "https://www.googleapis.com/auth/calendar.readonly"
    );
    assert_eq!(get("code_challenge").len(), 43);
    {
        let mut s = sim.lock().unwrap();
        s.expected_challenge = Some(get("code_challenge"));
        s.expected_redirect = Some(redirect.clone());
    }

    // The listener answers only its route, and checks Host.
    let other = raw_get(port, &format!("127.0.0.1:{port}"), "/health").await;
    assert!(other.starts_with("HTTP/1.1 404"), "{other}");
    let evil = raw_get(
        port,
        "evil.example:80",
        "/calendar/oauth/google/callback?code=x&state=y",
    )
    .await;
    assert!(evil.starts_with("HTTP/1.1 403"), "{evil}");
    assert!(evil.contains(r#"{"detail":"invalid host"}"#));

    // The test plays the browser coming back from Google.
    let http = reqwest::Client::new();
    let resp = http
        .get(format!("{redirect}?code=good-code&state={state}&scope=x"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html; charset=utf-8"));
    let html = resp.text().await.unwrap();
    assert!(html.contains("Authorization Successful!"), "{html}");
    assert!(html.contains("Person@example.com"));
    fake::assert_clean(&sim);

    let accounts = b.list_calendar_accounts().await.unwrap();
    assert_eq!(accounts.len(), 1);
    let a = serde_json::to_value(&accounts[0]).unwrap();
    let keys: Vec<_> = a.as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        keys,
        [
            "account_id",
            "provider",
            "display_name",
            "email",
            "connected",
            "created_at",
            "updated_at",
            "last_sync_at",
            "sync_cursor"
        ]
    );
    assert_eq!(a["provider"], "google");
    assert_eq!(a["email"], "Person@example.com");
    assert_eq!(a["display_name"], "Person@example.com");
    assert_eq!(a["connected"], true);
    let account_id = a["account_id"].as_str().unwrap().to_string();

    let events = fake::drain(&mut sub);
    let done: Vec<_> = events
        .iter()
        .filter(|e| e["type"] == "oauth.completed")
        .collect();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0]["ok"], true);
    assert_eq!(done[0]["state"], state.as_str());
    assert_eq!(done[0]["account_id"], account_id.as_str());
    assert_eq!(done[0]["email"], "Person@example.com");
    assert_eq!(done[0]["error"], Value::Null);
    for e in &events {
        let t = e.to_string();
        assert!(
            !t.contains("at-1") && !t.contains("rt-1"),
            "token leaked in {t}"
        );
    }

    // Stored encrypted, bound to the account id, never in plaintext.
    let conn = rusqlite::Connection::open(dir.path().join("index.db")).unwrap();
    let (stored, config): (String, String) = conn
        .query_row(
            "SELECT credentials_json, config_json FROM calendar_accounts",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!(stored.starts_with("enc:v1:"));
    assert!(!stored.contains("at-1"));
    assert_eq!(
        config,
        r#"{"scopes":["https://www.googleapis.com/auth/calendar.readonly"]}"#
    );
    let plain: Value = serde_json::from_str(
        &enttok_core::secrets::open(Some(&key), &account_id, &stored).unwrap(),
    )
    .unwrap();
    assert_eq!(plain["access_token"], "at-1");
    assert_eq!(plain["refresh_token"], "rt-1");
    assert_eq!(plain["expires_in"], 3599);
    assert!(plain["expires_at"].as_str().unwrap().ends_with('Z'));

    // The state was single-use.
    let (status, html) = b
        .google_oauth_callback(&json!({"code": "good-code", "state": state}))
        .await;
    assert_eq!(status, 400);
    assert!(html.contains("Authorization Failed"));
    let err = b
        .complete_google_oauth(&json!({"code": "good-code", "state": state}))
        .await
        .unwrap_err();
    assert_eq!(
        (err.status(), err.to_string().as_str()),
        (400, "Invalid or expired OAuth state")
    );

    // No pending state remains: the listener closes.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err());
    assert_eq!(b.list_calendar_accounts().await.unwrap().len(), 1);
    b.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_states_errors_and_escaping() {
    let (sim, base) = fake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let b = fake::open(dir.path(), &base, None).await;
    let mut sub = b.subscribe().unwrap();
    let start = b.start_google_oauth().await.unwrap();
    let state = start["state"].as_str().unwrap().to_string();
    let challenge = query_of(start["auth_url"].as_str().unwrap())
        .into_iter()
        .find(|(k, _)| k == "code_challenge")
        .unwrap()
        .1;
    sim.lock().unwrap().expected_challenge = Some(challenge);

    // Unknown state, missing parameters.
    let (status, html) = b
        .google_oauth_callback(&json!({"code": "c", "state": "nope"}))
        .await;
    assert_eq!(status, 400);
    assert!(html.contains("Authorization Failed"));
    let (status, _) = b.google_oauth_callback(&json!({"state": state})).await;
    assert_eq!(status, 400);

    // An error from Google, with markup: escaped, the known state consumed, ok:false emitted.
    let (status, html) = b
        .google_oauth_callback(&json!({"error": "<script>alert(1)</script>", "state": state}))
        .await;
    assert_eq!(status, 400);
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!html.contains("<script>"));
    let err = b
        .complete_google_oauth(&json!({"code": "good-code", "state": state}))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "Invalid or expired OAuth state");
    let ev = fake::drain(&mut sub);
    let done: Vec<_> = ev
        .iter()
        .filter(|e| e["type"] == "oauth.completed")
        .collect();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0]["ok"], false);
    assert_eq!(done[0]["error"], "<script>alert(1)</script>");

    // A failing exchange through complete: the doubled prefix, 400, ok:false, state used up.
    let start = b.start_google_oauth().await.unwrap();
    let state = start["state"].as_str().unwrap().to_string();
    let challenge = query_of(start["auth_url"].as_str().unwrap())
        .into_iter()
        .find(|(k, _)| k == "code_challenge")
        .unwrap()
        .1;
    sim.lock().unwrap().expected_challenge = Some(challenge);
    let err = b
        .complete_google_oauth(&json!({"code": "bad-code", "state": state}))
        .await
        .unwrap_err();
    assert_eq!(err.status(), 400);
    assert_eq!(err.code(), "E_UPSTREAM");
    assert_eq!(
        err.to_string(),
        "Token exchange failed: Token exchange failed: Malformed auth code."
    );
    let ev = fake::drain(&mut sub);
    let done: Vec<_> = ev
        .iter()
        .filter(|e| e["type"] == "oauth.completed")
        .collect();
    assert_eq!(done[0]["ok"], false);
    assert_eq!(
        done[0]["error"],
        "Token exchange failed: Malformed auth code."
    );

    // A failing exchange through the callback: 500 with the (escaped) text.
    let start = b.start_google_oauth().await.unwrap();
    let state = start["state"].as_str().unwrap().to_string();
    sim.lock().unwrap().expected_challenge = Some("something else".into());
    let (status, html) = b
        .google_oauth_callback(&json!({"code": "good-code", "state": state}))
        .await;
    assert_eq!(status, 500);
    assert!(html.contains("Authorization Failed"));
    assert!(html.contains("Token exchange failed: Invalid code verifier."));
    sim.lock().unwrap().violations.clear();

    // complete() success: the JSON shape; userinfo refused gives a null e-mail.
    let start = b.start_google_oauth().await.unwrap();
    let state = start["state"].as_str().unwrap().to_string();
    let challenge = query_of(start["auth_url"].as_str().unwrap())
        .into_iter()
        .find(|(k, _)| k == "code_challenge")
        .unwrap()
        .1;
    sim.lock().unwrap().expected_challenge = Some(challenge);
    let out = b
        .complete_google_oauth(&json!({"code": "good-code", "state": state}))
        .await
        .unwrap();
    let keys: Vec<_> = out.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, ["account", "success", "message"]);
    assert_eq!(out["message"], "Google Calendar connected successfully");
    assert_eq!(out["account"]["email"], Value::Null);
    assert_eq!(out["account"]["display_name"], "Google Calendar");
    assert!(!out.to_string().contains("at-1"));
    fake::assert_clean(&sim);

    // Validation of complete().
    let err = b
        .complete_google_oauth(&json!({"code": "x"}))
        .await
        .unwrap_err();
    assert_eq!(err.status(), 422);
    b.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adapter_port_and_configuration() {
    let (_sim, base) = fake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let b = fake::open(dir.path(), &base, None).await;
    b.set_http_port(Some(45678));
    let start = b.start_google_oauth().await.unwrap();
    assert_eq!(start["port"], 45678);
    assert_eq!(
        start["redirect_uri"],
        "http://127.0.0.1:45678/calendar/oauth/google/callback"
    );
    b.set_http_port(None);
    let start = b.start_google_oauth().await.unwrap();
    assert_ne!(start["port"], 45678);
    b.close().await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let mut c = fake::config(dir.path(), &base, None);
    c.google_client_secret.clear();
    let b = enttok_core::Backend::open(c).await.unwrap();
    let err = b.start_google_oauth().await.unwrap_err();
    assert_eq!(err.status(), 500);
    assert_eq!(
        err.body(),
        json!({"detail": "Google OAuth not configured. Set GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET."})
    );
    b.close().await.unwrap();
}
