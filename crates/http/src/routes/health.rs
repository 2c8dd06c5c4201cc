//! `GET /health` and `GET /status` (CONTRACT.md §4.1).

use enttok_core::Result;

use crate::router::{Call, Route};
use crate::schema::{any_object, boolean, integer, object, string};
use crate::Reply;

const TAG: &str = "health";

/// The routes of this module.
pub fn routes() -> Vec<Route> {
    vec![
        Route::get("/health", health)
            .doc(TAG, "Readiness probe")
            .returns(object(&[("status", string()), ("time", string())])),
        Route::get("/status", status)
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
    Reply::json(&call.backend.health()?)
}

async fn status(call: Call) -> Result<Reply> {
    Reply::json(&call.backend.status().await?)
}
