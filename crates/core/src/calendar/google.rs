//! Calendar API v3 calls of one sync job (CONTRACT.md §8.3): the calendar list and each
//! calendar's events, with pagination, 401 → one refresh and one retry, and 410 → full resync.

use chrono::Utc;
use serde_json::Value;

use std::time::Duration;

use super::credentials::{OAuthClient, Tokens};
use super::mapping::{map_google, EventRow};
use super::wire;
use crate::config::Config;
use crate::jobs::Abort;
use crate::net::{
    form, path_segment, snippet, ClientOptions, HttpClient, Method, NetError, Request, RetryPolicy,
};

/// Days before now covered by a full sync.
pub const WINDOW_PAST_DAYS: i64 = 30;
/// Days after now covered by a full sync.
pub const WINDOW_FUTURE_DAYS: i64 = 90;
/// Longest pagination a calendar may take; a server looping on page tokens must not hang a job.
const MAX_PAGES: usize = 10_000;

/// The text of a request stopped by its job's abort signal.
pub const STOPPED: &str = "job was stopped";

/// The calendar's outbound client (OAuth and Calendar API alike): the shared stack with
/// Google's timeouts (15 s to connect, 60 s a request) and retries (CONTRACT.md §8.3).
/// `HTTPS_PROXY`/`NO_PROXY` are honoured, as for Atlassian, unless the Calendar API is on a
/// loopback host (tests, local development), which a proxy could not reach.
pub fn http_client(config: &Config) -> crate::Result<HttpClient> {
    let loopback = reqwest::Url::parse(&config.endpoints.google_calendar_api)
        .is_ok_and(|u| crate::net::is_loopback(&u));
    HttpClient::new(ClientOptions {
        timeout: Duration::from_secs(60),
        connect_timeout: Duration::from_secs(15),
        retry: RetryPolicy::google(),
        use_env_proxy: !loopback,
        ..ClientOptions::default()
    })
    .map_err(|e| crate::Error::internal(format!("HTTP client unavailable: {e}")))
}

/// A whole answer with its body as text (the contract's error texts quote it).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

impl Answer {
    /// The body as JSON, or a clear text saying it is not.
    pub fn json(&self) -> Result<Value, String> {
        serde_json::from_str(&self.body)
            .map_err(|e| format!("response is not valid JSON ({e}): {}", snippet(&self.body)))
    }
}

/// Sends `request` (an error building it is returned as is) and reads the whole answer.
pub async fn send(
    http: &HttpClient,
    request: Result<Request, NetError>,
    abort: Option<&Abort>,
) -> Result<Answer, NetError> {
    let response = http.send(&request?, abort).await?;
    Ok(Answer {
        status: response.status,
        body: response.text(),
    })
}

/// One job's view of the API: the base URL, the account's tokens and the abort signal.
pub struct Api<'a> {
    pub base: &'a str,
    pub oauth: &'a OAuthClient,
    pub tokens: &'a mut Tokens,
    pub abort: &'a Abort,
}

/// One event of a calendar's fetch, already mapped to what its transaction writes.
#[derive(Debug)]
// Nearly every change is an upsert: boxing the row would only add an allocation per event.
#[allow(clippy::large_enum_variant)]
pub enum Change {
    /// A cancelled event: delete this id.
    Delete(String),
    /// An event with a usable start and end: upsert this row.
    Upsert(EventRow),
}

/// What a calendar's fetch produced.
pub struct Fetched {
    /// The changes in the order Google returned them (events without start or end, and items
    /// that are not events, are already dropped).
    pub changes: Vec<Change>,
    pub next_sync_token: Option<String>,
    /// The window of a full sync (`timeMin`, `timeMax` in epoch seconds), `None` when
    /// incremental.
    pub full_window: Option<(i64, i64)>,
}

/// `Google Calendar API error <status>: <error.message, else the body>`.
pub fn api_error(answer: &Answer) -> String {
    let message = serde_json::from_str::<Value>(&answer.body)
        .ok()
        .and_then(|v| {
            v.pointer("/error/message")
                .and_then(Value::as_str)
                .map(String::from)
        })
        .unwrap_or_else(|| snippet(&answer.body));
    format!("Google Calendar API error {}: {message}", answer.status)
}

fn rfc3339(secs: i64) -> String {
    crate::time::format_epoch(secs)
}

impl Api<'_> {
    /// GET with the bearer token; a 401 triggers one refresh (when possible) and one retry.
    async fn get(&mut self, url: &str) -> Result<Answer, String> {
        let mut refreshed = false;
        loop {
            let token = self.tokens.access_token()?.to_string();
            let request = Request::to(Method::Get, url).and_then(|r| r.bearer(&token));
            let answer = send(&self.oauth.http, request, Some(self.abort))
                .await
                .map_err(|e| match e {
                    NetError::Canceled => STOPPED.to_string(),
                    e => format!("Google Calendar API request failed: {e}"),
                })?;
            if answer.status == 401 && !refreshed && self.tokens.can_refresh() {
                self.tokens.refresh(self.oauth, self.abort).await?;
                refreshed = true;
                continue;
            }
            return Ok(answer);
        }
    }

    /// A 200 answer as JSON; anything else is the contract's error text.
    fn expect_json(answer: &Answer) -> Result<Value, String> {
        if answer.status != 200 {
            return Err(api_error(answer));
        }
        let value = answer
            .json()
            .map_err(|e| format!("Google Calendar API error {}: {e}", answer.status))?;
        if !value.is_object() {
            return Err(format!(
                "Google Calendar API error {}: expected a JSON object: {}",
                answer.status,
                snippet(&answer.body)
            ));
        }
        Ok(value)
    }

    /// A 200 answer read as an events page (typed, without a `Value` tree); anything else is
    /// the contract's error text, worded as [`Self::expect_json`] words it.
    fn events_page(answer: &Answer) -> Result<wire::EventsPage<'_>, String> {
        if answer.status != 200 {
            return Err(api_error(answer));
        }
        let page = wire::parse_page(&answer.body).map_err(|e| {
            format!(
                "Google Calendar API error {}: response is not valid JSON ({e}): {}",
                answer.status,
                snippet(&answer.body)
            )
        })?;
        if !page.is_object {
            return Err(format!(
                "Google Calendar API error {}: expected a JSON object: {}",
                answer.status,
                snippet(&answer.body)
            ));
        }
        Ok(page)
    }

    fn items(page: &Value) -> Vec<Value> {
        page.get("items")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    }

    fn next_page(page: &Value) -> Option<String> {
        page.get("nextPageToken")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(String::from)
    }

    /// Every entry of `GET /users/me/calendarList`, duplicates of an id kept once (first wins).
    pub async fn calendar_list(&mut self) -> Result<Vec<Value>, String> {
        let mut out: Vec<Value> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut page_token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut url = format!("{}/users/me/calendarList", self.base);
            if let Some(t) = &page_token {
                url.push('?');
                url.push_str(&form(&[("pageToken", t)]));
            }
            let page = Self::expect_json(&self.get(&url).await?)?;
            for item in Self::items(&page) {
                if let Some(id) = item.get("id").and_then(Value::as_str) {
                    if seen.insert(id.to_string()) {
                        out.push(item);
                    }
                }
            }
            page_token = Self::next_page(&page);
            if page_token.is_none() {
                return Ok(out);
            }
        }
        Err("Google Calendar API error: too many pages in the calendar list".into())
    }

    /// A calendar's events, mapped with the calendar's zone: incremental with `cursor`, else
    /// full over the window; a 410 drops what was fetched and redoes the calendar as a full
    /// sync.
    pub async fn events(
        &mut self,
        calendar_id: &str,
        zone: Option<&str>,
        cursor: Option<&str>,
    ) -> Result<Fetched, String> {
        if let Some(token) = cursor {
            // `None` is a 410 Gone: the sync token expired, so a full sync follows.
            if let Some(fetched) = self.events_pass(calendar_id, zone, Some(token)).await? {
                return Ok(fetched);
            }
        }
        self.events_pass(calendar_id, zone, None)
            .await?
            .ok_or_else(|| "Google Calendar API error 410: full sync was refused".to_string())
    }

    /// One pass over every page; `None` on a 410.
    async fn events_pass(
        &mut self,
        calendar_id: &str,
        zone: Option<&str>,
        sync_token: Option<&str>,
    ) -> Result<Option<Fetched>, String> {
        let now = Utc::now().timestamp();
        let window = (
            now - WINDOW_PAST_DAYS * 86_400,
            now + WINDOW_FUTURE_DAYS * 86_400,
        );
        let (time_min, time_max) = (rfc3339(window.0), rfc3339(window.1));
        let mut params: Vec<(&str, &str)> = vec![
            ("singleEvents", "true"),
            ("showDeleted", "true"),
            ("maxResults", "250"),
        ];
        match sync_token {
            // Never `orderBy` (nor a window) with `syncToken`: Google refuses the combination.
            Some(token) => params.push(("syncToken", token)),
            None => {
                params.push(("orderBy", "startTime"));
                params.push(("timeMin", &time_min));
                params.push(("timeMax", &time_max));
            }
        }
        let base = format!(
            "{}/calendars/{}/events",
            self.base,
            path_segment(calendar_id)
        );
        let mut changes = Vec::new();
        let mut page_token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut all = params.clone();
            if let Some(t) = &page_token {
                all.push(("pageToken", t));
            }
            let url = format!("{base}?{}", form(&all));
            let answer = self.get(&url).await?;
            if answer.status == 410 {
                return Ok(None);
            }
            let page = Self::events_page(&answer)?;
            changes.reserve(page.items.len());
            for item in page.items.iter().filter(|i| i.is_object) {
                if item.is_cancelled() {
                    if let Some(id) = item.id.as_str() {
                        changes.push(Change::Delete(id.to_string()));
                    }
                } else if let Some(row) = map_google(item, zone) {
                    changes.push(Change::Upsert(row));
                }
            }
            page_token = page
                .next_page_token
                .as_str()
                .filter(|s| !s.is_empty())
                .map(String::from);
            if page_token.is_none() {
                return Ok(Some(Fetched {
                    changes,
                    next_sync_token: page.next_sync_token.to_owned_string(),
                    full_window: sync_token.is_none().then_some(window),
                }));
            }
        }
        Err("Google Calendar API error: too many pages of events".into())
    }
}
