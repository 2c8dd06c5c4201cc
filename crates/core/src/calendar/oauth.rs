//! OAuth 2.0 authorization code + PKCE (S256) for Google (CONTRACT.md §8.1): pending states,
//! the auth URL, the code exchange, the e-mail lookup, account creation, and the callback
//! pages. States are single-use, expire after 10 minutes and live only in memory.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::http::{self, html_escape};
use crate::ids::random_bytes;

/// How long a state may wait for its callback.
pub const STATE_TTL: Duration = Duration::from_secs(600);

/// One flow waiting for its callback.
#[derive(Clone)]
pub struct Flow {
    pub code_verifier: String,
    pub port: u16,
    pub redirect_uri: String,
    pub created_at: Instant,
}

/// Pending flows by state, and the loopback listener's port while it runs.
#[derive(Default)]
pub struct Pending {
    pub flows: HashMap<String, Flow>,
    /// Port and stop signal of the running loopback listener.
    pub listener: Option<(u16, tokio_util::sync::CancellationToken)>,
}

impl Pending {
    /// Drops expired flows.
    pub fn purge(&mut self) {
        self.flows.retain(|_, f| f.created_at.elapsed() < STATE_TTL);
    }

    /// Removes and returns a live flow (a state is used at most once).
    pub fn take(&mut self, state: &str) -> Option<Flow> {
        self.purge();
        self.flows.remove(state)
    }

    /// True while some live flow redirects to `port`.
    pub fn waits_on(&mut self, port: u16) -> bool {
        self.purge();
        self.flows.values().any(|f| f.port == port)
    }
}

/// 32 or 64 random bytes, base64url without padding (43 or 86 characters).
fn random_token<const N: usize>() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<N>())
}

/// BASE64URL(SHA-256(verifier)), no padding.
pub fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// A new flow for `port`: `(state, flow)`.
pub fn new_flow(port: u16) -> (String, Flow) {
    let state = random_token::<32>();
    let flow = Flow {
        code_verifier: random_token::<64>(),
        port,
        redirect_uri: format!("http://127.0.0.1:{port}{}", super::CALLBACK_PATH),
        created_at: Instant::now(),
    };
    (state, flow)
}

/// The authorization URL, parameters in the contract's order.
pub fn auth_url(base: &str, client_id: &str, state: &str, flow: &Flow) -> String {
    let query = http::form(&[
        ("client_id", client_id),
        ("redirect_uri", &flow.redirect_uri),
        ("response_type", "code"),
        ("scope", super::SCOPE),
        ("state", state),
        ("code_challenge", &challenge(&flow.code_verifier)),
        ("code_challenge_method", "S256"),
        ("access_type", "offline"),
        ("prompt", "consent"),
    ]);
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}{query}")
}

/// What the token endpoint granted.
pub struct Granted {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_in: Option<i64>,
}

/// Exchanges the code. The error is `Token exchange failed: <error_description, else the raw
/// body>` (a network failure gives its text instead of a body).
pub async fn exchange(
    client: &reqwest::Client,
    config: &crate::Config,
    code: &str,
    flow: &Flow,
) -> Result<Granted, String> {
    let body = http::form(&[
        ("client_id", &config.google_client_id),
        ("client_secret", &config.google_client_secret),
        ("code", code),
        ("code_verifier", &flow.code_verifier),
        ("grant_type", "authorization_code"),
        ("redirect_uri", &flow.redirect_uri),
    ]);
    let fail = |why: String| format!("Token exchange failed: {why}");
    let answer = http::send(None, || {
        client
            .post(&config.endpoints.google_token_url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.clone())
    })
    .await
    .map_err(|e| fail(e.to_string()))?;
    let parsed = serde_json::from_str::<Value>(&answer.body).ok();
    if answer.status != 200 {
        let why = parsed
            .as_ref()
            .and_then(|v| v.get("error_description"))
            .and_then(Value::as_str)
            .map(String::from)
            .unwrap_or_else(|| answer.body.clone());
        return Err(fail(why));
    }
    let data =
        parsed.ok_or_else(|| fail(format!("invalid JSON: {}", http::snippet(&answer.body))))?;
    let access_token = data
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| fail("no access_token in the response".into()))?;
    Ok(Granted {
        access_token: access_token.to_string(),
        refresh_token: data
            .get("refresh_token")
            .and_then(Value::as_str)
            .map(String::from),
        expires_in: data.get("expires_in").and_then(Value::as_i64),
    })
}

/// The account's e-mail from the userinfo endpoint; any failure gives `None`.
pub async fn user_email(client: &reqwest::Client, url: &str, access_token: &str) -> Option<String> {
    let answer = http::send(None, || client.get(url).bearer_auth(access_token))
        .await
        .ok()?;
    if answer.status != 200 {
        return None;
    }
    answer
        .json()
        .ok()?
        .get("email")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(String::from)
}

/// `credentials_json` of a new account.
pub fn credentials(granted: &Granted) -> Value {
    json!({
        "access_token": granted.access_token,
        "refresh_token": granted.refresh_token,
        "expires_in": granted.expires_in,
        "expires_at": granted.expires_in.map(super::credentials::expires_at_text),
    })
}

/// A callback page: an exact heading and escaped text.
pub fn page(heading: &str, text: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{h}</title></head>\
         <body style=\"font-family: sans-serif; text-align: center; padding-top: 4em\">\
         <h1>{h}</h1><p>{t}</p></body></html>\n",
        h = html_escape(heading),
        t = html_escape(text)
    )
}

/// Heading of every failed callback.
pub const FAILED: &str = "Authorization Failed";
/// Heading of a successful callback.
pub const SUCCEEDED: &str = "Authorization Successful!";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_shapes() {
        let (state, flow) = new_flow(50123);
        assert_eq!(state.len(), 43);
        assert_eq!(flow.code_verifier.len(), 86);
        // RFC 7636 appendix B.
        assert_eq!(
            challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let url = auth_url("https://a.example/auth", "cid", &state, &flow);
        assert!(url.starts_with(
            "https://a.example/auth?client_id=cid&redirect_uri=http%3A%2F%2F127.0.0.1%3A50123%2Fcalendar%2Foauth%2Fgoogle%2Fcallback&response_type=code&scope=https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fcalendar.readonly&state="
        ));
        assert!(url.ends_with("&code_challenge_method=S256&access_type=offline&prompt=consent"));
    }

    #[test]
    fn states_are_single_use() {
        let mut p = Pending::default();
        let (state, flow) = new_flow(1);
        p.flows.insert(state.clone(), flow);
        assert!(p.waits_on(1));
        assert!(p.take(&state).is_some());
        assert!(p.take(&state).is_none());
        assert!(!p.waits_on(1));
    }

    #[test]
    fn states_expire_after_ten_minutes() {
        let mut p = Pending::default();
        let (state, mut flow) = new_flow(1);
        let Some(old) = Instant::now().checked_sub(STATE_TTL + Duration::from_secs(1)) else {
            return; // a clock this young cannot express the past; nothing to test
        };
        flow.created_at = old;
        p.flows.insert(state.clone(), flow);
        assert!(!p.waits_on(1));
        assert!(p.take(&state).is_none());
    }
}
