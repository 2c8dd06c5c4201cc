//! The calendar facade methods of [`Backend`] (CONTRACT.md §1.2, §4.4, §4.5).

use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::accounts::{self, CalendarAccount, CalendarListItem, EventQuery};
use super::event_cache;
use super::event_list::EventList;
use super::oauth::{self, Flow, FAILED, SUCCEEDED};
use super::{callback_listener, normalize_email, SCOPE};
use crate::error::{Error, Result};
use crate::events::Event;
use crate::ids::new_id;
use crate::jobs::{Created, NewJob, CALENDAR_SYNC};
use crate::time::{now_iso, parse_iso_input_ms};
use crate::validate::{item, missing_body, Fields, Source};
use crate::Backend;

/// Builds the event published after an account insert, from the new account id.
type Announce = Box<dyn FnOnce(&str) -> Event + Send>;

/// The 500 detail when Google OAuth has no client id or secret.
pub const NOT_CONFIGURED: &str =
    "Google OAuth not configured. Set GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET.";

fn providers() -> Vec<Value> {
    vec![
        json!({"id":"google","label":"Google Calendar","auth_method":"oauth2_pkce",
               "scopes":[SCOPE],
               "notes":"Use installed-app OAuth with loopback redirect and refresh tokens stored locally."}),
        json!({"id":"apple","label":"Apple Calendar (CalDAV/iCloud)","auth_method":"caldav_basic",
               "scopes":[],
               "notes":"Use CalDAV endpoint with app-specific passwords; relies on sync tokens."}),
    ]
}

/// Reads a query/body value as text (the callback's parameters).
fn query_text(query: &Value, key: &str) -> Option<String> {
    match query.get(key)? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

impl Backend {
    /// `listCalendarProviders()` / `GET /calendar/providers`.
    pub async fn list_calendar_providers(&self) -> Result<Vec<Value>> {
        self.check_open()?;
        Ok(providers())
    }

    /// `createCalendarAccount(input)` / `POST /calendar/accounts`.
    pub async fn create_calendar_account(&self, input: &Value) -> Result<CalendarAccount> {
        self.check_open()?;
        if input.is_null() {
            return Err(missing_body());
        }
        let mut f = Fields::new(Source::Body, input);
        let provider = match f.raw("provider") {
            None => f.required_str("provider", 0),
            Some(Value::String(p)) if p == "google" || p == "apple" => Some(p.clone()),
            Some(other) => {
                f.error(
                    "enum",
                    "provider",
                    "Input should be 'google' or 'apple'",
                    other.clone(),
                    Some(json!({ "expected": "'google' or 'apple'" })),
                );
                None
            }
        };
        let display_name = f.optional_str("display_name", 0);
        let email = match f.optional_str("email", 0) {
            None => None,
            Some(raw) => match normalize_email(&raw) {
                Ok(e) => Some(e),
                Err(reason) => {
                    f.error(
                        "value_error",
                        "email",
                        format!("value is not a valid email address: {reason}"),
                        json!(raw),
                        Some(json!({ "reason": reason })),
                    );
                    None
                }
            },
        };
        let credentials = f.optional_object("credentials").unwrap_or_default();
        let config = f.optional_object("config").unwrap_or_default();
        f.finish()?;
        let provider = provider.unwrap_or_default();
        self.insert_account(
            &provider,
            email.as_deref(),
            display_name.as_deref(),
            &Value::Object(credentials),
            &Value::Object(config),
            None,
        )
        .await
    }

    /// Inserts an account (credentials sealed) and returns it; `announce` is published after
    /// the commit with the new id.
    async fn insert_account(
        &self,
        provider: &str,
        email: Option<&str>,
        display_name: Option<&str>,
        credentials: &Value,
        config: &Value,
        announce: Option<Announce>,
    ) -> Result<CalendarAccount> {
        let account_id = new_id("cal");
        let key = self.config().secret_key;
        let sealed = crate::secrets::seal(key.as_ref(), &account_id, &credentials.to_string())?;
        let (provider, email, display_name, config_json) = (
            provider.to_string(),
            email.map(String::from),
            display_name.map(String::from),
            config.to_string(),
        );
        let bus = std::sync::Arc::clone(self.bus());
        self.store()
            .write(move |c| {
                let tx = c.transaction()?;
                accounts::insert(
                    &tx,
                    &accounts::NewAccount {
                        account_id: &account_id,
                        provider: &provider,
                        email: email.as_deref(),
                        display_name: display_name.as_deref(),
                        credentials_json: &sealed,
                        config_json: &config_json,
                        now: &now_iso(),
                    },
                )?;
                let account = accounts::get(&tx, key.as_ref(), &account_id)?;
                tx.commit()?;
                if let Some(make) = announce {
                    c.publish(&bus, make(&account_id));
                }
                Ok(account)
            })
            .await
    }

    /// `listCalendarAccounts()` / `GET /calendar/accounts`, newest first.
    pub async fn list_calendar_accounts(&self) -> Result<Vec<CalendarAccount>> {
        self.check_open()?;
        let key = self.config().secret_key;
        self.store()
            .read(move |c| accounts::list(c, key.as_ref()))
            .await
    }

    /// `getCalendarAccount(accountId)` / `GET /calendar/accounts/{account_id}`.
    pub async fn get_calendar_account(&self, account_id: &str) -> Result<CalendarAccount> {
        self.check_open()?;
        let key = self.config().secret_key;
        let id = account_id.to_string();
        self.store()
            .read(move |c| accounts::get(c, key.as_ref(), &id))
            .await
    }

    /// `deleteCalendarAccount(accountId)` / `DELETE /calendar/accounts/{account_id}`: the
    /// account, its calendars, events and sync state in one transaction.
    pub async fn delete_calendar_account(&self, account_id: &str) -> Result<Value> {
        self.check_open()?;
        let id = account_id.to_string();
        if self
            .store()
            .write(move |c| accounts::delete(c, &id))
            .await?
        {
            Ok(json!({ "ok": true }))
        } else {
            Err(Error::NotFound(accounts::ACCOUNT_NOT_FOUND.into()))
        }
    }

    /// `listCalendars(query)` / `GET /calendar/calendars`.
    pub async fn list_calendars(&self, query: &Value) -> Result<Vec<CalendarListItem>> {
        self.check_open()?;
        let mut f = Fields::new(Source::Query, query);
        let account_id = f.optional_str("account_id", 0);
        let selected_only = f.optional_bool("selected_only").unwrap_or(true);
        f.finish()?;
        self.store()
            .read(move |c| accounts::list_calendars(c, account_id.as_deref(), selected_only))
            .await
    }

    /// `updateCalendar(accountId, calendarId, patch)` /
    /// `PATCH /calendar/calendars/{account_id}/{calendar_id}`.
    pub async fn update_calendar(
        &self,
        account_id: &str,
        calendar_id: &str,
        input: &Value,
    ) -> Result<Value> {
        self.check_open()?;
        if input.is_null() {
            return Err(missing_body());
        }
        let mut f = Fields::new(Source::Body, input);
        let selected = f.required_bool("selected");
        f.finish()?;
        let selected = selected.unwrap_or(false);
        let (a, c) = (account_id.to_string(), calendar_id.to_string());
        self.store()
            .write(move |conn| {
                if !accounts::exists(conn, &a)? {
                    return Err(Error::NotFound(accounts::ACCOUNT_NOT_FOUND.into()));
                }
                accounts::set_selected(conn, &a, &c, selected, &now_iso())
            })
            .await?;
        Ok(json!({ "ok": true }))
    }

    /// `listCalendarEvents(query)` / `GET /calendar/events`.
    pub async fn list_calendar_events(&self, query: &Value) -> Result<EventList> {
        self.check_open()?;
        let mut f = Fields::new(Source::Query, query);
        let start = f.required_str("start", 0);
        let end = f.required_str("end", 0);
        let account_id = f.optional_str("account_id", 0);
        let calendar_ids = f.optional_comma_list("calendar_ids");
        let selected_only = f.optional_bool("selected_only").unwrap_or(true);
        f.finish()?;
        let start = parse_iso_input_ms(&start.unwrap_or_default())?.div_euclid(1000);
        let end = parse_iso_input_ms(&end.unwrap_or_default())?.div_euclid(1000);
        if start > end {
            return Err(Error::BadRequest("start must be before end".into()));
        }
        let q = EventQuery {
            start,
            end,
            account_id,
            calendar_ids,
            selected_only,
        };
        // Read before the listing's read transaction begins (see `event_cache`).
        let version = self.calendar_state().events_table.version();
        let events = Arc::clone(&self.calendar_state().events);
        let copy = Arc::clone(&events);
        let list = self
            .store()
            .read(move |c| event_cache::list_events(c, &q, Some((&copy, version))))
            .await?;
        // A stale copy answered nothing; have it reloaded for the next listings.
        events.start_loading(self.store(), &self.calendar_state().events_table);
        Ok(list)
    }

    /// `syncCalendarAccount(accountId, body)` / `POST /calendar/accounts/{account_id}/sync`:
    /// queues `connector.calendar.sync` (one per account at a time); the path id wins.
    pub async fn sync_calendar_account(&self, account_id: &str, body: &Value) -> Result<Created> {
        self.check_open()?;
        let extra = match body {
            Value::Null => return Err(missing_body()),
            Value::Object(m) if crate::validate::not_json(body).is_none() => {
                crate::validate::reject_not_json(&[json!("body")], body)?;
                m.clone()
            }
            other => {
                return Err(Error::invalid(item(
                    "dict_type",
                    &[json!("body")],
                    "Input should be a valid dictionary",
                    other.clone(),
                    None,
                )))
            }
        };
        let id = account_id.to_string();
        if !self.store().read(move |c| accounts::exists(c, &id)).await? {
            return Err(Error::NotFound(accounts::ACCOUNT_NOT_FOUND.into()));
        }
        let mut payload = Map::new();
        payload.insert("account_id".into(), json!(account_id));
        for (k, v) in extra {
            if k != "account_id" {
                payload.insert(k, v);
            }
        }
        let mut job = NewJob::new(CALENDAR_SYNC, Value::Object(payload));
        job.unique_key = Some(format!("{CALENDAR_SYNC}:{account_id}"));
        self.jobs().create(job).await
    }

    /// `startGoogleOAuth()` / `POST /calendar/oauth/google/start`: `{auth_url, state,
    /// redirect_uri, port}`.
    pub async fn start_google_oauth(&self) -> Result<Value> {
        self.check_open()?;
        let config = self.config();
        if config.google_client_id.is_empty() || config.google_client_secret.is_empty() {
            return Err(Error::Internal {
                detail: NOT_CONFIGURED.into(),
                kind: None,
            });
        }
        let (state, flow) =
            callback_listener::register_flow(self)
                .await
                .map_err(|e| Error::Internal {
                    detail: e.to_string(),
                    kind: None,
                })?;
        let url = oauth::auth_url(
            &config.endpoints.google_auth_url,
            &config.google_client_id,
            &state,
            &flow,
        );
        Ok(json!({
            "auth_url": url,
            "state": state,
            "redirect_uri": flow.redirect_uri,
            "port": flow.port,
        }))
    }

    fn take_flow(&self, state: &str) -> Option<Flow> {
        crate::store::lock(&self.calendar_state().oauth).take(state)
    }

    fn announce_failure(&self, state: &str, error: &str) {
        self.bus().publish(Event::OauthCompleted {
            provider: "google",
            state: state.to_string(),
            ok: false,
            account_id: None,
            email: None,
            error: Some(error.to_string()),
            timestamp: now_iso(),
        });
    }

    /// Steps 7–8 of §8.1 for a flow already taken: exchange, e-mail, account, event. The error
    /// is the exchange's text (`Token exchange failed: …`) or a storage failure.
    async fn finish_flow(&self, state: &str, code: &str, flow: &Flow) -> Result<CalendarAccount> {
        let config = self.config();
        let client = self.calendar_state().client(config)?;
        let granted = match oauth::exchange(&client, config, code, flow).await {
            Ok(g) => g,
            Err(text) => {
                self.announce_failure(state, &text);
                return Err(Error::Upstream {
                    status: 400,
                    detail: text,
                });
            }
        };
        let email = oauth::user_email(
            &client,
            &config.endpoints.google_userinfo_url,
            &granted.access_token,
        )
        .await;
        let (st, mail) = (state.to_string(), email.clone());
        let announce = Box::new(move |account_id: &str| Event::OauthCompleted {
            provider: "google",
            state: st,
            ok: true,
            account_id: Some(account_id.to_string()),
            email: mail,
            error: None,
            timestamp: now_iso(),
        });
        let created = self
            .insert_account(
                "google",
                email.as_deref(),
                Some(email.as_deref().unwrap_or("Google Calendar")),
                &oauth::credentials(&granted),
                &json!({ "scopes": [SCOPE] }),
                Some(announce),
            )
            .await;
        if let Err(err) = &created {
            self.announce_failure(state, &err.to_string());
        }
        created
    }

    /// `completeGoogleOAuth({code, state})` / `POST /calendar/oauth/google/complete`.
    pub async fn complete_google_oauth(&self, input: &Value) -> Result<Value> {
        self.check_open()?;
        if input.is_null() {
            return Err(missing_body());
        }
        let mut f = Fields::new(Source::Body, input);
        let code = f.required_str("code", 0);
        let state = f.required_str("state", 0);
        f.finish()?;
        let (code, state) = (code.unwrap_or_default(), state.unwrap_or_default());
        let flow = self
            .take_flow(&state)
            .ok_or_else(|| Error::BadRequest("Invalid or expired OAuth state".into()))?;
        let account = self
            .finish_flow(&state, &code, &flow)
            .await
            .map_err(|e| match e {
                Error::Upstream { detail, .. } => Error::Upstream {
                    status: 400,
                    detail: format!("Token exchange failed: {detail}"),
                },
                other => other,
            })?;
        Ok(json!({
            "account": account,
            "success": true,
            "message": "Google Calendar connected successfully",
        }))
    }

    /// `GET /calendar/oauth/google/callback` (public, browser only): `(status, html)`.
    pub async fn google_oauth_callback(&self, query: &Value) -> (u16, String) {
        if self.check_open().is_err() {
            return (503, oauth::page(FAILED, "The backend is closed."));
        }
        let code = query_text(query, "code");
        let state = query_text(query, "state");
        if let Some(error) = query_text(query, "error") {
            if let Some(s) = &state {
                if self.take_flow(s).is_some() {
                    self.announce_failure(s, &error);
                }
            }
            return (400, oauth::page(FAILED, &format!("Error: {error}")));
        }
        let (Some(code), Some(state)) = (code, state) else {
            return (
                400,
                oauth::page(FAILED, "Missing parameter: code and state are required."),
            );
        };
        let Some(flow) = self.take_flow(&state) else {
            return (
                400,
                oauth::page(
                    FAILED,
                    "Invalid or expired OAuth state. Please start again.",
                ),
            );
        };
        match self.finish_flow(&state, &code, &flow).await {
            Ok(account) => {
                let who = account.email.unwrap_or_else(|| "account".into());
                (
                    200,
                    oauth::page(
                        SUCCEEDED,
                        &format!("Connected {who}. You can close this tab and return to the app."),
                    ),
                )
            }
            Err(err) => (500, oauth::page(FAILED, &err.to_string())),
        }
    }
}
