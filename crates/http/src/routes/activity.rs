//! `GET /activity/events` (CONTRACT.md §10): the Jira and Confluence timeline.

use enttok_core::Result;
use serde_json::Value;

use crate::router::{Call, ParamType, QueryParam, Route};
use crate::schema::{nullable, object, string, wrapped};
use crate::Reply;

const TAG: &str = "activity";

fn event() -> Value {
    object(&[
        ("id", string()),
        ("source", string()),
        ("event_type", string()),
        ("title", string()),
        ("description", nullable(string())),
        ("url", nullable(string())),
        ("actor", nullable(string())),
        ("event_time", string()),
    ])
}

/// The routes of this module.
pub fn routes() -> Vec<Route> {
    vec![Route::get("/activity/events", list_events)
        .js("listActivityEvents")
        .doc(TAG, "Events with start <= time <= end, newest first")
        .query(&[
            QueryParam::required("start", ParamType::String),
            QueryParam::required("end", ParamType::String),
            QueryParam::optional("sources", ParamType::List),
            QueryParam::optional("limit", ParamType::Integer),
        ])
        .returns(wrapped("events", event()))]
}

async fn list_events(call: Call) -> Result<Reply> {
    Reply::list(
        "events",
        &call.backend.list_activity_events(&call.query).await?,
    )
}
