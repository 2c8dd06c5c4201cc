//! The stored Google tokens of an account and their refresh (CONTRACT.md §8.2). Tokens live in
//! `credentials_json`, sealed with `crate::secrets` (AD = account id); they are read and written
//! only here and never copied into results, events, logs or error texts.

use std::sync::Arc;

use chrono::Utc;
use rusqlite::params;
use serde_json::{json, Map, Value};

use super::oauth::{Grant, TokenEndpoint, TokenFailure};
use crate::jobs::Abort;
use crate::net::HttpClient;
use crate::store::Store;
use crate::time::{now_iso, parse_iso_ms};

/// Refresh failed (revoked or expired grant, network, anything).
pub const AUTH_EXPIRED: &str =
    "Google Calendar authorization expired. Please reconnect the account.";
/// The token is about to expire and cannot be refreshed.
pub const REFRESH_MISSING: &str =
    "Google Calendar refresh token is missing. Please reconnect the account.";
/// No access token stored.
pub const NO_ACCESS_TOKEN: &str = "No access token found for this account";

/// A token is refreshed when it expires within this many seconds.
const EXPIRY_MARGIN_SEC: i64 = 60;

/// What the OAuth client needs to refresh.
#[derive(Clone)]
pub struct OAuthClient {
    pub http: HttpClient,
    pub token_url: String,
    pub client_id: String,
    pub client_secret: String,
}

/// The tokens of one account during one job; a refresh replaces them for the rest of it.
pub struct Tokens {
    account_id: String,
    creds: Map<String, Value>,
    key: Option<[u8; 32]>,
    store: Arc<Store>,
}

/// `expires_at` text: ISO-8601 UTC with microseconds and `Z`.
pub fn expires_at_text(expires_in: i64) -> String {
    (Utc::now() + chrono::Duration::seconds(expires_in))
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

impl Tokens {
    /// Opens the stored credentials (`stored credentials cannot be decrypted …` on a wrong key).
    pub fn open(
        store: Arc<Store>,
        key: Option<[u8; 32]>,
        account_id: &str,
        stored: Option<&str>,
    ) -> Result<Tokens, String> {
        let plain = match stored {
            None => String::new(),
            Some(s) => {
                crate::secrets::open(key.as_ref(), account_id, s).map_err(|e| e.to_string())?
            }
        };
        let creds = match serde_json::from_str::<Value>(&plain) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        Ok(Tokens {
            account_id: account_id.to_string(),
            creds,
            key,
            store,
        })
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.creds
            .get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }

    /// The access token to send.
    pub fn access_token(&self) -> Result<&str, String> {
        self.get("access_token")
            .ok_or_else(|| NO_ACCESS_TOKEN.to_string())
    }

    /// True when a refresh token is stored.
    pub fn can_refresh(&self) -> bool {
        self.get("refresh_token").is_some()
    }

    /// The §8.2 check run before the calendar list and before each calendar's events.
    pub async fn ensure_fresh(&mut self, oauth: &OAuthClient, abort: &Abort) -> Result<(), String> {
        self.access_token()?;
        // `None`: no expiry stored (null counts as none); `Some(None)`: unparsable.
        let expires = match self.creds.get("expires_at") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(parse_iso_ms(s)),
            Some(_) => Some(None),
        };
        let soon = |ms: i64| ms / 1000 <= Utc::now().timestamp() + EXPIRY_MARGIN_SEC;
        match (self.can_refresh(), expires) {
            // Neither a refresh token nor an expiry: use the token as it is.
            (false, None) => Ok(()),
            (false, Some(Some(ms))) if !soon(ms) => Ok(()),
            (false, Some(_)) => Err(REFRESH_MISSING.into()),
            (true, Some(Some(ms))) if !soon(ms) => Ok(()),
            (true, _) => self.refresh(oauth, abort).await,
        }
    }

    /// Refreshes the access token and persists the new credentials; any failure (an
    /// `invalid_grant` included) is the contract's "reconnect" error. Cancellation stays one.
    pub async fn refresh(&mut self, oauth: &OAuthClient, abort: &Abort) -> Result<(), String> {
        let refresh_token = self
            .get("refresh_token")
            .ok_or_else(|| REFRESH_MISSING.to_string())?
            .to_string();
        let endpoint = TokenEndpoint {
            http: &oauth.http,
            token_url: &oauth.token_url,
            client_id: &oauth.client_id,
            client_secret: &oauth.client_secret,
        };
        let granted = match endpoint
            .request(Grant::Refresh(&refresh_token), Some(abort))
            .await
        {
            Ok(granted) => granted,
            Err(TokenFailure::Canceled) => return Err(super::google::STOPPED.into()),
            Err(TokenFailure::Refused {
                invalid_grant: true,
                ..
            }) => {
                // The grant was revoked or expired: the stored tokens can never work again.
                // Clearing them marks the account disconnected (`connected: false`), which is
                // what the app shows to offer "reconnect"; the account and its data stay.
                let _ = self.persist(&json!({})).await;
                return Err(AUTH_EXPIRED.into());
            }
            Err(_) => return Err(AUTH_EXPIRED.into()),
        };
        let access = granted.access_token;
        let expires_in = granted.expires_in.unwrap_or(3600);
        let fresh = json!({
            "access_token": access,
            "refresh_token": refresh_token,
            "token_uri": oauth.token_url,
            "expires_in": expires_in,
            "expires_at": expires_at_text(expires_in),
        });
        self.persist(&fresh).await?;
        if let Value::Object(map) = fresh {
            self.creds = map;
        }
        Ok(())
    }

    async fn persist(&self, creds: &Value) -> Result<(), String> {
        let sealed = crate::secrets::seal(self.key.as_ref(), &self.account_id, &creds.to_string())
            .map_err(|e| e.to_string())?;
        let id = self.account_id.clone();
        self.store
            .write(move |c| {
                c.execute(
                    "UPDATE calendar_accounts SET credentials_json = ?2, updated_at = ?3
                     WHERE account_id = ?1",
                    params![id, sealed, now_iso()],
                )?;
                Ok(())
            })
            .await
            .map_err(|e| e.to_string())
    }
}
