//! OAuth 2.0 authorization code + PKCE (S256) for Google (CONTRACT.md §8.1): pending states,
//! the auth URL, the code exchange and the refresh (through the `oauth2` crate), the e-mail
//! lookup, account creation, and the callback pages. States are single-use, expire after 10
//! minutes and live only in memory.

use std::borrow::Cow;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use oauth2::basic::{BasicClient, BasicErrorResponseType};
use oauth2::{
    AuthType, AuthorizationCode, ClientId, ClientSecret, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, RefreshToken, RequestTokenError, TokenResponse, TokenUrl,
};
use serde_json::{json, Value};

use super::google::{send, Answer};
use crate::ids::random_bytes;
use crate::jobs::Abort;
use crate::net::{form, html_escape, snippet, HttpClient, Method, NetError, Request};

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

/// BASE64URL(SHA-256(verifier)), no padding (RFC 7636 S256).
pub fn challenge(verifier: &str) -> String {
    PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(verifier.to_string()))
        .as_str()
        .to_string()
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
    let query = form(&[
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

/// The grant a token request presents.
pub enum Grant<'a> {
    /// Step 7 of §8.1: the code, with the flow's PKCE verifier and redirect URI.
    Code { code: &'a str, flow: &'a Flow },
    /// §8.2: a stored refresh token.
    Refresh(&'a str),
}

/// Why a token request gave no token.
#[derive(Debug)]
pub enum TokenFailure {
    /// The job's abort signal fired.
    Canceled,
    /// No answer (network, timeout, a URL that cannot be called): the failure's text.
    Network(String),
    /// The endpoint answered without a usable token: its `error_description`, else its raw
    /// body (or what was wrong with a 200 answer); `invalid_grant` when the grant is dead.
    Refused { why: String, invalid_grant: bool },
}

/// The OAuth client: Google's token endpoint, the client credentials in the form body.
pub struct TokenEndpoint<'a> {
    pub http: &'a HttpClient,
    pub token_url: &'a str,
    pub client_id: &'a str,
    pub client_secret: &'a str,
}

impl TokenEndpoint<'_> {
    /// One token request through `oauth2`, sent by the shared outbound stack (retries,
    /// proxy, abort); the raw answer is kept for the contract's error texts.
    pub async fn request(
        &self,
        grant: Grant<'_>,
        abort: Option<&Abort>,
    ) -> Result<Granted, TokenFailure> {
        let token_url = TokenUrl::new(self.token_url.to_string())
            .map_err(|e| TokenFailure::Network(format!("invalid URL: {e}")))?;
        let client = BasicClient::new(ClientId::new(self.client_id.to_string()))
            .set_client_secret(ClientSecret::new(self.client_secret.to_string()))
            .set_token_uri(token_url)
            .set_auth_type(AuthType::RequestBody);
        let transport = Transport {
            http: self.http,
            abort,
            last: std::sync::Mutex::new(None),
        };
        let result = match grant {
            Grant::Code { code, flow } => {
                let redirect = RedirectUrl::new(flow.redirect_uri.clone())
                    .map_err(|e| TokenFailure::Network(format!("invalid URL: {e}")))?;
                client
                    .exchange_code(AuthorizationCode::new(code.to_string()))
                    .set_pkce_verifier(PkceCodeVerifier::new(flow.code_verifier.clone()))
                    .set_redirect_uri(Cow::Owned(redirect))
                    .request_async(&transport)
                    .await
            }
            Grant::Refresh(token) => {
                let token = RefreshToken::new(token.to_string());
                client
                    .exchange_refresh_token(&token)
                    .request_async(&transport)
                    .await
            }
        };
        let answer = crate::store::lock(&transport.last).take();
        let raw = || answer.as_ref().map(|a| a.body.clone()).unwrap_or_default();
        let refused = |why: String| TokenFailure::Refused {
            why,
            invalid_grant: false,
        };
        match result {
            Ok(token) if !token.access_token().secret().is_empty() => Ok(Granted {
                access_token: token.access_token().secret().clone(),
                refresh_token: token.refresh_token().map(|t| t.secret().clone()),
                expires_in: token
                    .expires_in()
                    .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
            }),
            Ok(_) => Err(refused("no access_token in the response".into())),
            Err(RequestTokenError::Request(NetError::Canceled)) => Err(TokenFailure::Canceled),
            Err(RequestTokenError::Request(e)) => Err(TokenFailure::Network(e.to_string())),
            Err(RequestTokenError::ServerResponse(e)) => Err(TokenFailure::Refused {
                why: e.error_description().cloned().unwrap_or_else(raw),
                invalid_grant: *e.error() == BasicErrorResponseType::InvalidGrant,
            }),
            Err(RequestTokenError::Parse(e, _)) => Err(refused(match &answer {
                Some(a) if a.status == 200 => match a.json() {
                    Ok(v) if v.get("access_token").and_then(Value::as_str).is_none() => {
                        "no access_token in the response".into()
                    }
                    Ok(_) => format!("unexpected token response: {e}"),
                    Err(_) => format!("invalid JSON: {}", snippet(&a.body)),
                },
                _ => raw(),
            })),
            Err(RequestTokenError::Other(text)) => Err(refused(text)),
        }
    }
}

/// `oauth2`'s transport: the shared outbound stack, keeping the last answer as text.
struct Transport<'a> {
    http: &'a HttpClient,
    abort: Option<&'a Abort>,
    last: std::sync::Mutex<Option<Answer>>,
}

impl Transport<'_> {
    async fn send(&self, request: oauth2::HttpRequest) -> Result<oauth2::HttpResponse, NetError> {
        let (parts, body) = request.into_parts();
        let method = if parts.method == oauth2::http::Method::GET {
            Method::Get
        } else {
            Method::Post
        };
        let mut out = Request::to(method, &parts.uri.to_string())?.body(body);
        for (name, value) in &parts.headers {
            out = out.raw_header(name.clone(), value.clone());
        }
        let response = self.http.send(&out, self.abort).await?;
        *crate::store::lock(&self.last) = Some(Answer {
            status: response.status,
            body: response.text(),
        });
        let mut answer = oauth2::HttpResponse::new(response.body);
        *answer.status_mut() = oauth2::http::StatusCode::from_u16(response.status)
            .unwrap_or(oauth2::http::StatusCode::BAD_GATEWAY);
        Ok(answer)
    }
}

impl<'c> oauth2::AsyncHttpClient<'c> for Transport<'_> {
    type Error = NetError;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<oauth2::HttpResponse, NetError>> + Send + 'c>,
    >;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(self.send(request))
    }
}

/// Exchanges the code. The error is `Token exchange failed: <error_description, else the raw
/// body>` (a network failure gives its text instead of a body).
pub async fn exchange(
    http: &HttpClient,
    config: &crate::Config,
    code: &str,
    flow: &Flow,
) -> Result<Granted, String> {
    let endpoint = TokenEndpoint {
        http,
        token_url: &config.endpoints.google_token_url,
        client_id: &config.google_client_id,
        client_secret: &config.google_client_secret,
    };
    endpoint
        .request(Grant::Code { code, flow }, None)
        .await
        .map_err(|failure| {
            let why = match failure {
                TokenFailure::Canceled => NetError::Canceled.to_string(),
                TokenFailure::Network(text) => text,
                TokenFailure::Refused { why, .. } => why,
            };
            format!("Token exchange failed: {why}")
        })
}

/// The account's e-mail from the userinfo endpoint; any failure gives `None`.
pub async fn user_email(http: &HttpClient, url: &str, access_token: &str) -> Option<String> {
    let request = Request::to(Method::Get, url).and_then(|r| r.bearer(access_token));
    let answer = send(http, request, None).await.ok()?;
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
