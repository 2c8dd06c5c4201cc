//! enttok-http: the loopback HTTP + WebSocket adapter of enttok-backend.
//!
//! It serves the same API as the JS binding, over `127.0.0.1` only, by calling the core facade
//! [`enttok_core::Backend`]; it never touches SQL and never validates inputs itself (the core
//! does, so JS and HTTP answer the same 422 items). The JS binding holds one [`Slot`] per
//! backend and forwards `startHttp` to [`Slot::start`] (option parsing, the "already running"
//! 409, the OAuth and MCP wiring) and `stopHttp`/`close` to [`Slot::stop`]/[`Slot::shutdown`];
//! [`start`] and [`HttpServer::stop`] are the plain server underneath.
//!
//! ```no_run
//! # async fn demo(backend: enttok_core::Backend) -> enttok_core::Result<()> {
//! let server = enttok_http::start(backend, enttok_http::HttpOptions::default()).await?;
//! println!("{} {}", server.url(), server.token());
//! server.stop().await;
//! # Ok(()) }
//! ```
//!
//! # Request pipeline (CONTRACT.md §3.2, order binding)
//! The pipeline runs, in order: Host check (403 `invalid host`), CORS
//! preflight (200 / 400 `Disallowed CORS origin`), Origin allow-list (403 `origin not
//! allowed`), routing (404, 405 + `allow`, 307 for a trailing slash), token (`X-Backend-Token`,
//! constant time, 401), body size (413 over 1 MiB), body decoding (422 `json_invalid`, raw text
//! for other content types, `null` when empty), then the handler. Every answer carries the
//! security headers, and the CORS headers for an allowed origin.
//!
//! # Adding the routes of a capability
//! Each capability owns ONE file, `src/routes/<concept>.rs` (see [`routes`]):
//!
//! ```ignore
//! //! The calendar routes (CONTRACT.md §4.4).
//! use enttok_core::Result;
//! use crate::router::{Call, ParamType, QueryParam, Route};
//! use crate::schema::*;
//! use crate::Reply;
//!
//! pub fn routes() -> Vec<Route> {
//!     vec![
//!         Route::get("/calendar/accounts", list_accounts)
//!             .doc("calendar", "List calendar accounts")
//!             .returns(wrapped("accounts", any_object())),
//!         Route::post("/calendar/accounts/{account_id}/sync", sync_account)
//!             .doc("calendar", "Queue a sync")
//!             .body(any_object())                       // the route reads a body
//!             .returns(object(&[("job_id", string()), ("status", string())])),
//!         Route::get("/calendar/events", list_events)
//!             .query(&[QueryParam::required("start", ParamType::String),
//!                      QueryParam::optional("calendar_ids", ParamType::List)]),
//!         Route::get("/calendar/oauth/google/callback", callback).public()
//!             .returns_type("text/html"),                // answers Reply::html(status, page)
//!     ]
//! }
//!
//! async fn list_accounts(call: Call) -> Result<Reply> {
//!     Reply::list("accounts", &call.backend.list_calendar_accounts().await?)
//! }
//! async fn sync_account(call: Call) -> Result<Reply> {
//!     Reply::json(&call.backend.sync_calendar_account(call.param(0), &call.body).await?)
//! }
//! ```
//!
//! then add `pub mod calendar;` and `routes.extend(calendar::routes());` in
//! `src/routes/mod.rs`. A handler gets a [`Call`]: `backend`, the percent-decoded path
//! `params`, the `query` as a JSON object of strings (the core parses `"5"` and `"yes"`
//! laxly), the decoded `body` and the listening `port`. It returns `Result<Reply>`; a core
//! `Error` becomes its contract status and `{"detail": …}` (unhandled 500s hide their text,
//! which is logged). The router and `/openapi.json` both come from this table, so a new route
//! is served, token-protected and documented by that one entry.

mod guard;
mod input;
mod mcp;
pub mod openapi;
mod pipeline;
mod reply;
pub mod router;
pub mod routes;
pub mod schema;
mod server;
mod slot;
mod ws;

pub use guard::{DEFAULT_ORIGINS, TOKEN_HEADER};
pub use input::MAX_BODY;
pub use reply::Reply;
pub use router::{Call, ParamType, QueryParam, Route, Router, Surface};
pub use server::{start, HttpOptions, HttpServer};
/// Other timings for the tests (feature `test-support`).
#[cfg(feature = "test-support")]
pub use server::{start_tuned, Tuning};
pub use slot::Slot;
