//! A local fake of Google's OAuth and Calendar API v3 endpoints on 127.0.0.1, speaking their
//! wire format (shapes from /work/shared/fixtures/google-calendar) and checking what it gets:
//! PKCE verifier against the challenge, the exact events parameters, no `orderBy` with
//! `syncToken`, page tokens, percent-encoded calendar ids, bearer tokens. Violations are
//! recorded in `Sim::violations`, which every test asserts empty.

#![allow(dead_code)]

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use enttok_core::{Backend, Config};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One received request.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: String,
    /// The raw (still percent-encoded) path.
    pub raw_path: String,
    pub query: Vec<(String, String)>,
    pub headers: HashMap<String, String>,
    pub body: String,
}

impl Req {
    pub fn q(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
    pub fn form(&self) -> HashMap<String, String> {
        url::form_urlencoded::parse(self.body.as_bytes())
            .into_owned()
            .collect()
    }
    pub fn bearer(&self) -> Option<&str> {
        self.headers
            .get("authorization")
            .and_then(|h| h.strip_prefix("Bearer "))
    }
}

/// A scripted answer.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
    pub headers: Vec<(String, String)>,
    pub delay: Option<Duration>,
}

impl Resp {
    pub fn json(status: u16, body: Value) -> Resp {
        Resp {
            status,
            content_type: "application/json; charset=UTF-8",
            body: body.to_string(),
            headers: Vec::new(),
            delay: None,
        }
    }
    pub fn raw(status: u16, content_type: &'static str, body: &str) -> Resp {
        Resp {
            status,
            content_type,
            body: body.to_string(),
            headers: Vec::new(),
            delay: None,
        }
    }
    pub fn header(mut self, k: &str, v: &str) -> Resp {
        self.headers.push((k.into(), v.into()));
        self
    }
    pub fn delayed(mut self, d: Duration) -> Resp {
        self.delay = Some(d);
        self
    }
}

/// Per-calendar data of the fake.
#[derive(Debug, Clone, Default)]
pub struct Cal {
    /// What a full sync returns.
    pub full: Vec<Value>,
    /// What an incremental sync with the current token returns.
    pub changes: Vec<Value>,
    /// The token the fake hands out at the end of the next listing.
    pub next_token: String,
    /// Tokens answered with 410.
    pub gone: HashSet<String>,
}

/// The fake's state and knobs.
#[derive(Default)]
pub struct Sim {
    pub client_id: String,
    pub client_secret: String,
    pub expected_code: String,
    /// Set by the test from the auth URL.
    pub expected_challenge: Option<String>,
    pub expected_redirect: Option<String>,
    pub email: Option<String>,
    pub valid_tokens: HashSet<String>,
    pub refresh_count: usize,
    pub invalid_grant: bool,
    pub calendars: Vec<Value>,
    pub calendar_page_size: usize,
    pub cals: HashMap<String, Cal>,
    pub event_page_size: usize,
    /// Answers served before normal routing: the first whose `|`-separated parts all occur in
    /// the raw path plus decoded query; each is used once.
    pub overrides: VecDeque<(String, Resp)>,
    pub requests: Vec<Req>,
    pub violations: Vec<String>,
    /// Time spent answering (routing and serializing), for the benchmark's breakdown.
    pub busy: Duration,
}

pub type Shared = Arc<Mutex<Sim>>;

/// The `[start, end)` slice of `len` items a page token selects, the next page's token, and
/// whether the token was valid.
fn page_of(
    len: usize,
    token: Option<&str>,
    size: usize,
    prefix: &str,
) -> (std::ops::Range<usize>, Option<String>, bool) {
    let start: usize = match token {
        None => 0,
        Some(t) => t
            .strip_prefix(prefix)
            .and_then(|n| n.parse().ok())
            .unwrap_or(usize::MAX),
    };
    if start == usize::MAX || start > len {
        return (0..0, None, false);
    }
    let end = (start + size).min(len);
    let next = (end < len).then(|| format!("{prefix}{end}"));
    (start..end, next, true)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 3 <= bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn unauthorized() -> Resp {
    Resp::json(
        401,
        json!({"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}),
    )
}

fn route(sim: &mut Sim, req: &Req) -> Resp {
    let full = format!(
        "{}?{}",
        req.raw_path,
        req.query
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    );
    // A pattern is one or more `|`-separated parts that must all occur in path?query.
    if let Some(pos) = sim
        .overrides
        .iter()
        .position(|(p, _)| p.split('|').all(|part| full.contains(part)))
    {
        if let Some((_, resp)) = sim.overrides.remove(pos) {
            return resp;
        }
    }
    let path = req.raw_path.as_str();
    if path == "/token" && req.method == "POST" {
        return token(sim, req);
    }
    if path == "/userinfo" {
        return match req.bearer() {
            Some(t) if sim.valid_tokens.contains(t) => match &sim.email {
                Some(e) => Resp::json(200, json!({"id":"1","email":e,"verified_email":true})),
                None => Resp::json(
                    403,
                    json!({"error":{"code":403,"message":"Insufficient Permission"}}),
                ),
            },
            _ => unauthorized(),
        };
    }
    if !req.bearer().is_some_and(|t| sim.valid_tokens.contains(t)) {
        return unauthorized();
    }
    if path == "/calendar/v3/users/me/calendarList" {
        let extra: Vec<_> = req.query.iter().filter(|(k, _)| k != "pageToken").collect();
        if !extra.is_empty() {
            sim.violations
                .push(format!("calendarList got parameters {extra:?}"));
        }
        let (range, next, ok) = page_of(
            sim.calendars.len(),
            req.q("pageToken"),
            sim.calendar_page_size.max(1),
            "cl-",
        );
        let items = &sim.calendars[range];
        if !ok {
            sim.violations.push("bad calendarList page token".into());
            return Resp::json(
                400,
                json!({"error":{"code":400,"message":"Invalid page token"}}),
            );
        }
        let mut body = json!({"kind":"calendar#calendarList","etag":"\"e\"","items":items});
        match next {
            Some(n) => body["nextPageToken"] = json!(n),
            None => body["nextSyncToken"] = json!("CL-SYNC"),
        }
        return Resp::json(200, body);
    }
    if let Some(rest) = path.strip_prefix("/calendar/v3/calendars/") {
        if let Some(enc) = rest.strip_suffix("/events") {
            return events(sim, req, enc);
        }
    }
    Resp::json(404, json!({"error":{"code":404,"message":"Not Found"}}))
}

fn token(sim: &mut Sim, req: &Req) -> Resp {
    let f = req.form();
    if f.get("client_id") != Some(&sim.client_id)
        || f.get("client_secret") != Some(&sim.client_secret)
    {
        sim.violations.push(format!(
            "token endpoint: bad client credentials {:?}",
            f.get("client_id")
        ));
        return Resp::json(
            401,
            json!({"error":"invalid_client","error_description":"The OAuth client was not found."}),
        );
    }
    match f.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let verifier = f.get("code_verifier").cloned().unwrap_or_default();
            let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
            if sim.expected_challenge.as_deref() != Some(challenge.as_str()) {
                sim.violations
                    .push("PKCE verifier does not match the challenge".into());
                return Resp::json(
                    400,
                    json!({"error":"invalid_grant","error_description":"Invalid code verifier."}),
                );
            }
            if let Some(r) = &sim.expected_redirect {
                if f.get("redirect_uri") != Some(r) {
                    sim.violations
                        .push("redirect_uri differs from the auth request".into());
                }
            }
            if f.get("code") != Some(&sim.expected_code) {
                return Resp::json(
                    400,
                    json!({"error":"invalid_grant","error_description":"Malformed auth code."}),
                );
            }
            sim.valid_tokens.insert("at-1".into());
            Resp::json(
                200,
                json!({"access_token":"at-1","expires_in":3599,"refresh_token":"rt-1",
                "scope":"https://www.googleapis.com/auth/calendar.readonly","token_type":"Bearer"}),
            )
        }
        Some("refresh_token") => {
            if sim.invalid_grant || f.get("refresh_token").map(String::as_str) != Some("rt-1") {
                return Resp::json(
                    400,
                    json!({"error":"invalid_grant","error_description":"Bad Request"}),
                );
            }
            sim.refresh_count += 1;
            let t = format!("at-r{}", sim.refresh_count);
            sim.valid_tokens.insert(t.clone());
            Resp::json(
                200,
                json!({"access_token":t,"expires_in":3599,
                "scope":"https://www.googleapis.com/auth/calendar.readonly","token_type":"Bearer"}),
            )
        }
        other => Resp::json(
            400,
            json!({"error":"unsupported_grant_type","error_description":format!("{other:?}")}),
        ),
    }
}

fn events(sim: &mut Sim, req: &Req, enc: &str) -> Resp {
    if enc.contains('@') || enc.contains('#') {
        sim.violations
            .push(format!("calendar id not percent-encoded: {enc}"));
    }
    let id = percent_decode(enc);
    for (k, v) in [
        ("singleEvents", "true"),
        ("showDeleted", "true"),
        ("maxResults", "250"),
    ] {
        if req.q(k) != Some(v) {
            sim.violations.push(format!("events {k} = {:?}", req.q(k)));
        }
    }
    let sync_token = req.q("syncToken").map(String::from);
    if sync_token.is_some() {
        for k in ["orderBy", "timeMin", "timeMax"] {
            if req.q(k).is_some() {
                sim.violations.push(format!("{k} sent with syncToken"));
            }
        }
    } else if req.q("orderBy") != Some("startTime")
        || req.q("timeMin").is_none()
        || req.q("timeMax").is_none()
    {
        sim.violations
            .push("full sync without orderBy/timeMin/timeMax".into());
    }
    let size = sim.event_page_size.max(1);
    let Some(cal) = sim.cals.get(&id) else {
        return Resp::json(404, json!({"error":{"code":404,"message":"Not Found"}}));
    };
    let list = match &sync_token {
        Some(t) if cal.gone.contains(t) => {
            return Resp::json(
                410,
                json!({"error":{"errors":[{"domain":"calendar","reason":"fullSyncRequired",
                "message":"Sync token is no longer valid, a full sync is required.","locationType":"parameter","location":"syncToken"}],
                "code":410,"message":"Sync token is no longer valid, a full sync is required."}}),
            );
        }
        Some(_) => &cal.changes,
        None => &cal.full,
    };
    let (range, next, ok) = page_of(list.len(), req.q("pageToken"), size, "ev-");
    if !ok {
        sim.violations.push("bad events page token".into());
        return Resp::json(
            400,
            json!({"error":{"code":400,"message":"Invalid page token"}}),
        );
    }
    // Serialized straight from the stored items (no copy of the list per request), in
    // Google's own layout: pretty-printed with two spaces.
    let page = EventsPage {
        kind: "calendar#events",
        etag: "\"e\"",
        summary: &id,
        updated: "2024-03-01T00:00:00.000Z",
        time_zone: "UTC",
        access_role: "owner",
        default_reminders: [],
        next_page_token: next.as_deref(),
        next_sync_token: if next.is_none() {
            Some(cal.next_token.as_str())
        } else {
            None
        },
        items: &list[range],
    };
    Resp {
        status: 200,
        content_type: "application/json; charset=UTF-8",
        body: serde_json::to_string_pretty(&page).unwrap(),
        headers: Vec::new(),
        delay: None,
    }
}

/// An events page in the field order Google answers with.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct EventsPage<'a> {
    kind: &'a str,
    etag: &'a str,
    summary: &'a str,
    updated: &'a str,
    time_zone: &'a str,
    access_role: &'a str,
    default_reminders: [u8; 0],
    #[serde(skip_serializing_if = "Option::is_none")]
    next_page_token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_sync_token: Option<&'a str>,
    items: &'a [Value],
}

async fn read_request(stream: &mut TcpStream) -> Option<Req> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_string();
    let target = first.next()?.to_string();
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    Some(Req {
        method,
        raw_path: path.to_string(),
        query: url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

async fn serve_conn(sim: Shared, mut stream: TcpStream) {
    let Some(req) = read_request(&mut stream).await else {
        return;
    };
    let resp = {
        let mut s = sim.lock().unwrap();
        let started = std::time::Instant::now();
        s.requests.push(req.clone());
        let resp = route(&mut s, &req);
        s.busy += started.elapsed();
        resp
    };
    if let Some(d) = resp.delay {
        tokio::time::sleep(d).await;
    }
    let mut head = format!(
        "HTTP/1.1 {} X\r\ncontent-type: {}\r\ncontent-length: {}\r\nconnection: close\r\n",
        resp.status,
        resp.content_type,
        resp.body.len()
    );
    for (k, v) in &resp.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(resp.body.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Starts the fake; returns its state and base URL.
pub async fn start() -> (Shared, String) {
    let sim: Shared = Arc::new(Mutex::new(Sim {
        client_id: "cid-123".into(),
        client_secret: "secret-456".into(),
        expected_code: "good-code".into(),
        calendar_page_size: 100,
        event_page_size: 250,
        ..Default::default()
    }));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let s = Arc::clone(&sim);
    tokio::spawn(async move {
        loop {
            if let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve_conn(Arc::clone(&s), stream));
            }
        }
    });
    (sim, base)
}

/// A configuration pointing every Google endpoint at the fake.
pub fn config(dir: &Path, base: &str, key: Option<[u8; 32]>) -> Config {
    let mut c = Config::new(dir);
    c.scheduler = false;
    c.google_client_id = "cid-123".into();
    c.google_client_secret = "secret-456".into();
    c.secret_key = key;
    c.endpoints.google_auth_url = format!("{base}/auth");
    c.endpoints.google_token_url = format!("{base}/token");
    c.endpoints.google_userinfo_url = format!("{base}/userinfo");
    c.endpoints.google_calendar_api = format!("{base}/calendar/v3");
    c
}

/// A backend on a temp dir with the fake's endpoints.
pub async fn open(dir: &Path, base: &str, key: Option<[u8; 32]>) -> Backend {
    Backend::open(config(dir, base, key)).await.unwrap()
}

/// A calendarList entry.
pub fn calendar(id: &str, summary: &str, tz: &str, primary: bool) -> Value {
    let mut v = json!({"kind":"calendar#calendarListEntry","etag":"\"1\"","id":id,"summary":summary,
        "timeZone":tz,"colorId":"7","backgroundColor":"#42d692","foregroundColor":"#000000",
        "selected":true,"accessRole":"owner","defaultReminders":[]});
    if primary {
        v["primary"] = json!(true);
    }
    v
}

/// A timed event.
pub fn timed(id: &str, summary: &str, start: &str, end: &str) -> Value {
    json!({"kind":"calendar#event","etag":"\"2\"","id":id,"status":"confirmed",
        "htmlLink":format!("https://www.google.com/calendar/event?eid={id}"),
        "created":"2024-02-01T00:00:00.000Z","updated":"2024-02-02T00:00:00.000Z","summary":summary,
        "organizer":{"email":"foo@gmail.com","self":true},
        "start":{"dateTime":start,"timeZone":"UTC"},"end":{"dateTime":end,"timeZone":"UTC"},
        "iCalUID":format!("{id}@google.com"),"sequence":0,"reminders":{"useDefault":true},"eventType":"default"})
}

/// An all-day event.
pub fn all_day(id: &str, start: &str, end: &str) -> Value {
    json!({"kind":"calendar#event","etag":"\"3\"","id":id,"status":"confirmed","summary":id,
        "created":"2024-02-01T00:00:00.000Z","updated":"2024-02-02T00:00:00.000Z",
        "start":{"date":start},"end":{"date":end},"transparency":"transparent","eventType":"default"})
}

/// A cancelled instance, as the API returns it with `showDeleted`.
pub fn cancelled(id: &str) -> Value {
    json!({"kind":"calendar#event","etag":"\"4\"","id":id,"status":"cancelled"})
}

/// Inserts a Google account with the given credentials directly (bypassing OAuth), through the
/// public API so secrets go through the same sealing.
pub async fn google_account(b: &Backend, creds: Value) -> String {
    let a = b
        .create_calendar_account(
            &json!({"provider":"google","email":"me@example.com","credentials":creds}),
        )
        .await
        .unwrap();
    a.account_id
}

/// Fresh credentials valid for an hour.
pub fn fresh_creds(access: &str) -> Value {
    let at = chrono::Utc::now() + chrono::Duration::hours(1);
    json!({"access_token":access,"refresh_token":"rt-1","expires_in":3599,
        "expires_at":at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()})
}

/// Syncs an account and waits for the outcome.
pub async fn sync(b: &Backend, account_id: &str) -> enttok_core::jobs::JobRecord {
    let created = b
        .sync_calendar_account(account_id, &json!({}))
        .await
        .unwrap();
    enttok_core::testing::wait_final(b, &created.job_id).await
}

/// Drains the events a subscription has ready, parsed.
pub fn drain(sub: &mut enttok_core::Subscription) -> Vec<Value> {
    let mut out = Vec::new();
    sub.drain_ready(&mut out, 100_000);
    out.iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect()
}

/// Asserts the fake saw nothing wrong.
pub fn assert_clean(sim: &Shared) {
    let v = sim.lock().unwrap().violations.clone();
    assert!(v.is_empty(), "fake Google saw violations: {v:?}");
}
