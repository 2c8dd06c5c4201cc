//! The job routes (CONTRACT.md §4.2).

use enttok_core::Result;
use serde_json::Value;

use crate::router::{Call, ParamType, QueryParam, Route};
use crate::schema::{
    any, any_object, integer, nullable, number, object, object_with, one_of, string, wrapped,
};
use crate::Reply;

const TAG: &str = "jobs";

const STATUSES: [&str; 5] = ["queued", "running", "succeeded", "failed", "canceled"];

fn job_record() -> Value {
    object(&[
        ("job_id", string()),
        ("type", string()),
        ("status", one_of(&STATUSES)),
        ("created_at", string()),
        ("updated_at", string()),
        ("progress", nullable(number())),
        ("message", nullable(string())),
        ("payload", any_object()),
        ("result", any()),
        ("error", any()),
    ])
}

fn job_event() -> Value {
    object(&[
        ("event_id", integer()),
        ("job_id", string()),
        ("created_at", string()),
        ("level", one_of(&["info", "warn", "error"])),
        ("message", string()),
        ("meta", nullable(any_object())),
    ])
}

fn created() -> Value {
    object(&[("job_id", string()), ("status", one_of(&STATUSES))])
}

fn create_body() -> Value {
    object_with(
        &[
            ("type", string()),
            ("payload", any_object()),
            ("priority", integer()),
            ("run_at", string()),
            ("max_attempts", integer()),
            ("unique_key", string()),
        ],
        ["type"],
    )
}

/// The routes of this module.
pub fn routes() -> Vec<Route> {
    vec![
        Route::post("/jobs", create_job)
            .js("createJob")
            .doc(TAG, "Queue a job")
            .body(create_body())
            .returns(created()),
        Route::get("/jobs", list_jobs)
            .js("listJobs")
            .doc(TAG, "List jobs, newest first")
            .query(&[
                QueryParam::optional("status", ParamType::String),
                QueryParam::optional("type", ParamType::String),
                QueryParam::optional("limit", ParamType::Integer),
            ])
            .returns(wrapped("jobs", job_record())),
        Route::get("/jobs/{job_id}", get_job)
            .js("getJob")
            .doc(TAG, "One job")
            .returns(job_record()),
        Route::post("/jobs/{job_id}/cancel", cancel_job)
            .js("cancelJob")
            .doc(TAG, "Cancel a job; answers its status after the call")
            .returns(created()),
        Route::get("/jobs/{job_id}/events", list_job_events)
            .js("listJobEvents")
            .doc(TAG, "The job's event log, oldest first")
            .returns(wrapped("events", job_event())),
    ]
}

async fn create_job(call: Call) -> Result<Reply> {
    Reply::json(&call.backend.create_job(&call.body).await?)
}

async fn list_jobs(call: Call) -> Result<Reply> {
    Reply::list("jobs", &call.backend.list_jobs(&call.query).await?)
}

async fn get_job(call: Call) -> Result<Reply> {
    Reply::json(&call.backend.get_job(call.param(0)).await?)
}

async fn cancel_job(call: Call) -> Result<Reply> {
    Reply::json(&call.backend.cancel_job(call.param(0)).await?)
}

async fn list_job_events(call: Call) -> Result<Reply> {
    Reply::list(
        "events",
        &call.backend.list_job_events(call.param(0)).await?,
    )
}
