//! Google Calendar: accounts, OAuth 2.0 with PKCE, durable incremental sync, event queries
//! (CONTRACT.md §4.4, §4.5, §8).
//!
//! Layout:
//! - [`accounts`]: SQL and JSON shapes of accounts, calendars and events; [`api`]: the facade
//!   methods.
//! - OAuth: [`oauth`] (PKCE states, the auth URL, code exchange and refresh through the
//!   `oauth2` crate, callback pages), [`callback_listener`] (the one-shot loopback listener),
//!   [`credentials`] (stored tokens and their refresh).
//! - Sync: [`google`] (the outbound client and the Calendar API v3 calls), [`wire`] (typed
//!   reading of event pages), [`mapping`] (Google event → row), [`storage`] (per-calendar
//!   transactions), [`sync`] (the `connector.calendar.sync` handler).
//! - Listing: [`event_cache`] (the in-memory copy and when it is current), [`event_table`]
//!   (the rows sorted by start), [`event_list`] (one answer), [`event_columns`] (the answer in
//!   columns for JS), [`json_column`] (organizer/attendee JSON kept as stored).
//!
//! Outbound HTTP goes through the shared stack (`crate::net`): one `Retry-After` rule, proxies
//! from the environment. The `oauth2` crate builds and reads the token requests; the auth URL
//! is composed here because the contract fixes its parameter order, which `oauth2` does not
//! produce.

pub mod accounts;
mod api;
mod callback_listener;
mod credentials;
mod event_cache;
mod event_columns;
mod event_list;
mod event_table;
mod google;
mod json_column;
mod mapping;
mod oauth;
mod storage;
mod sync;
mod wire;

use std::sync::{Arc, Mutex};

use crate::config::Config;
use crate::jobs::{JobSystem, CALENDAR_SYNC};

pub use crate::email::normalize_email;
pub use accounts::{CalendarAccount, CalendarEvent, CalendarListItem, JsonColumn};
pub use event_cache::{EventCache, MAX_CACHED_ROWS};
pub use event_columns::{EventColumns, Field, CELLS_PER_ROW, FIELDS};
pub use event_list::EventList;
pub use event_table::EventTable;
pub use mapping::{map_event, EventRow};

/// The only OAuth scope the app asks for.
pub const SCOPE: &str = "https://www.googleapis.com/auth/calendar.readonly";

/// The path of the OAuth redirect, on the HTTP adapter and on the loopback listener.
pub const CALLBACK_PATH: &str = "/calendar/oauth/google/callback";

/// Per-backend calendar state that lives in memory: pending OAuth states, the HTTP adapter's
/// port, and the loopback listener (CONTRACT.md §8.1).
pub struct CalendarState {
    pub(crate) oauth: Mutex<oauth::Pending>,
    http_port: Mutex<Option<u16>>,
    /// Fired when the backend closes: stops the loopback listener.
    pub(crate) stop: tokio_util::sync::CancellationToken,
    client: std::sync::OnceLock<crate::net::HttpClient>,
    /// The in-memory copy of the event rows `listCalendarEvents` answers from.
    pub(crate) events: Arc<event_cache::EventCache>,
    /// The store's watch of [`EVENTS_TABLE`]: its version says whether `events` is current.
    pub(crate) events_table: Arc<crate::store::TableWatch>,
}

/// The table `events` copies.
pub(crate) const EVENTS_TABLE: &str = "calendar_events";

impl CalendarState {
    /// A fresh state (no pending OAuth, no adapter port), watching the event table of `store`.
    pub fn new(store: &crate::store::Store) -> crate::error::Result<Arc<CalendarState>> {
        Ok(Arc::new(CalendarState {
            oauth: Mutex::new(oauth::Pending::default()),
            http_port: Mutex::new(None),
            stop: tokio_util::sync::CancellationToken::new(),
            client: std::sync::OnceLock::new(),
            events: Arc::default(),
            events_table: store.watch(EVENTS_TABLE)?,
        }))
    }

    /// Records the port of the HTTP adapter (`None` when it stops); OAuth redirects go there.
    /// When the adapter stops, flows whose redirect points at its port can never complete
    /// and are dropped (CONTRACT.md §1.1 `stopHttp`).
    pub fn set_http_port(&self, port: Option<u16>) {
        let previous = std::mem::replace(&mut *crate::store::lock(&self.http_port), port);
        if let Some(old) = previous.filter(|old| Some(*old) != port) {
            crate::store::lock(&self.oauth)
                .flows
                .retain(|_, flow| flow.port != old);
        }
    }

    /// The port of the HTTP adapter, if it runs.
    pub fn http_port(&self) -> Option<u16> {
        *crate::store::lock(&self.http_port)
    }

    /// Stops the loopback listener (backend close).
    pub fn shutdown(&self) {
        self.stop.cancel();
        self.events.clear();
    }

    /// The HTTP client of the OAuth calls (one per backend, created on first use).
    pub(crate) fn client(&self, config: &Config) -> crate::Result<crate::net::HttpClient> {
        if let Some(c) = self.client.get() {
            return Ok(c.clone());
        }
        let c = google::http_client(config)?;
        Ok(self.client.get_or_init(|| c).clone())
    }
}

/// Registers the `connector.calendar.sync` handler (which refreshes `state`'s copy of the event
/// rows when it finishes).
pub fn register(jobs: &JobSystem, config: &Config, state: &Arc<CalendarState>) {
    match google::http_client(config) {
        Ok(client) => jobs.register_builtin(
            CALENDAR_SYNC,
            sync::handler(config.clone(), client, Arc::clone(state)),
        ),
        // Without a TLS stack the type stays known and its jobs fail clearly.
        Err(_) => jobs.register_builtin(CALENDAR_SYNC, crate::jobs::unavailable(CALENDAR_SYNC)),
    }
}
