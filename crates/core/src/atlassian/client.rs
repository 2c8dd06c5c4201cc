//! The Atlassian REST client (CONTRACT.md §9.1): Basic auth, JSON headers on every call, the
//! shared retry and timeout policy, and the contract's error text
//! `Atlassian API error <status>: <body text, or the reason phrase>`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::Value;

use crate::jobs::Abort;
use crate::net::{ClientOptions, HttpClient, Method, NetError, Request, Response};

/// How much of an error body reaches a message.
const MAX_ERROR_BODY: usize = 500;

/// Why a call failed: the job was stopped, or a message for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// The abort signal fired.
    Canceled,
    /// A secret-free message.
    Failed(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Canceled => f.write_str("request canceled"),
            CallError::Failed(text) => f.write_str(text),
        }
    }
}

/// A client for one account's site.
pub struct AtlassianClient {
    http: HttpClient,
    base_url: String,
    authorization: String,
    /// Strings scrubbed from any message (the token and the encoded header).
    secrets: Vec<String>,
}

impl std::fmt::Debug for AtlassianClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AtlassianClient")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl AtlassianClient {
    /// A client for `base_url` authenticating as `email` with `api_token`.
    pub fn new(base_url: &str, email: &str, api_token: &str) -> Result<AtlassianClient, CallError> {
        let loopback = reqwest::Url::parse(base_url).is_ok_and(|u| crate::net::is_loopback(&u));
        let options = ClientOptions {
            use_env_proxy: !loopback,
            ..ClientOptions::default()
        };
        let http = HttpClient::new(options).map_err(|e| CallError::Failed(e.to_string()))?;
        let encoded = STANDARD.encode(format!("{email}:{api_token}"));
        Ok(AtlassianClient {
            http,
            base_url: base_url.trim_end_matches('/').to_string(),
            authorization: format!("Basic {encoded}"),
            secrets: vec![encoded, api_token.to_string()],
        })
    }

    /// The site's base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// A request with the contract's headers.
    pub fn request(&self, method: Method, path: &str) -> Result<Request, CallError> {
        let build = || -> Result<Request, NetError> {
            Request::new(method, &self.base_url, path)?
                .secret_header("authorization", &self.authorization)?
                .header("accept", "application/json")?
                .header("content-type", "application/json")
        };
        build().map_err(|e| self.failed(&e))
    }

    /// Sends a request and returns the raw answer (any status).
    pub async fn exchange(
        &self,
        request: &Request,
        abort: Option<&Abort>,
    ) -> Result<Response, CallError> {
        self.http
            .send(request, abort)
            .await
            .map_err(|e| self.failed(&e))
    }

    /// Sends a request and returns its JSON (`null` for an empty body). A final status ≥ 400 is
    /// `Atlassian API error <status>: <text>`; a body that is not JSON is an error too.
    pub async fn call(&self, request: &Request, abort: Option<&Abort>) -> Result<Value, CallError> {
        let response = self.exchange(request, abort).await?;
        let response = response
            .error_for_status(MAX_ERROR_BODY)
            .map_err(|e| self.failed(&e))?;
        response.json().map_err(|e| self.failed(&e))
    }

    /// `GET <base><path>?<query>` as JSON.
    pub async fn get(
        &self,
        path: &str,
        query: &[(&str, &str)],
        abort: Option<&Abort>,
    ) -> Result<Value, CallError> {
        let mut request = self.request(Method::Get, path)?;
        for (k, v) in query {
            request = request.query(k, v);
        }
        self.call(&request, abort).await
    }

    /// The message of a failure, with the contract's wording for status errors and every
    /// secret scrubbed.
    fn failed(&self, err: &NetError) -> CallError {
        let text = match err {
            NetError::Canceled => return CallError::Canceled,
            NetError::Status {
                status,
                reason,
                body,
            } => format!(
                "Atlassian API error {status}: {}",
                crate::net::status_text(reason, body)
            ),
            other => other.to_string(),
        };
        CallError::Failed(self.scrub(text))
    }

    fn scrub(&self, mut text: String) -> String {
        for secret in &self.secrets {
            if !secret.is_empty() && text.contains(secret.as_str()) {
                text = text.replace(secret.as_str(), "***");
            }
        }
        text
    }
}
