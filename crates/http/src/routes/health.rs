//! `GET /health` and `GET /status` (CONTRACT.md §4.1).

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use enttok_core::time::format_epoch;
use enttok_core::Result;
use hyper::StatusCode;
use serde_json::Value;

use crate::router::{Call, Route};
use crate::schema::{any_object, boolean, integer, object, string};
use crate::Reply;

const TAG: &str = "health";

/// The routes of this module.
pub fn routes() -> Vec<Route> {
    vec![
        Route::get("/health", health)
            .js("health")
            .doc(TAG, "Readiness probe")
            .returns(object(&[("status", string()), ("time", string())])),
        Route::get("/status", status)
            .js("status")
            .doc(TAG, "Queue, workers and scheduler")
            .returns(object(&[
                ("uptime_sec", integer()),
                ("queue_depth", integer()),
                (
                    "workers",
                    object(&[("active", integer()), ("idle", integer())]),
                ),
                (
                    "scheduler",
                    object(&[("running", boolean()), ("jobs", integer())]),
                ),
                ("waiting_for_handler", any_object()),
            ])),
    ]
}

async fn health(call: Call) -> Result<Reply> {
    call.backend.check_open()?;
    let now = epoch_seconds();
    let cached = HEALTH.with(|cell| match &*cell.borrow() {
        Some((second, body)) if *second == now => Some(body.clone()),
        _ => None,
    });
    let body = match cached {
        Some(body) => body,
        None => {
            let body = health_body(&call, now)?;
            HEALTH.with(|cell| *cell.borrow_mut() = Some((now, body.clone())));
            body
        }
    };
    Ok(Reply::raw_json(StatusCode::OK, body))
}

thread_local! {
    /// The `/health` answer of the current second on this thread. The answer only changes when
    /// its whole-second `time` does (the readiness probe is polled often), so it is serialized
    /// once per second instead of once per request; the open check above still runs every time.
    static HEALTH: RefCell<Option<(i64, Bytes)>> = const { RefCell::new(None) };
}

/// The core's health object with `time` set to exactly `second`, so the cache key and the
/// answer can never disagree at a second boundary.
fn health_body(call: &Call, second: i64) -> Result<Bytes> {
    let mut value = call.backend.health()?;
    if let Some(time) = value.get_mut("time") {
        *time = Value::String(format_epoch(second));
    }
    Ok(Bytes::from(serde_json::to_vec(&value)?))
}

/// Whole seconds since the epoch (the clock `now_iso` reads).
fn epoch_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

async fn status(call: Call) -> Result<Reply> {
    Reply::json(&call.backend.status().await?)
}
