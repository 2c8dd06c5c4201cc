//! The GitHub routes (CONTRACT.md §18): status, daily summary, sync.

use enttok_core::Result;
use serde_json::Value;

use crate::router::{Call, ParamType, QueryParam, Route};
use crate::schema::{array, boolean, integer, job_created, nullable, object, object_with, string};
use crate::Reply;

const TAG: &str = "github";

fn pr() -> Value {
    object(&[
        ("number", integer()),
        ("title", string()),
        ("url", string()),
        ("state", string()),
        ("repository", string()),
        ("created_at", string()),
        ("updated_at", string()),
    ])
}

fn commit() -> Value {
    object(&[
        ("sha", string()),
        ("message", string()),
        ("repository", string()),
        ("url", string()),
        ("created_at", string()),
    ])
}

fn status() -> Value {
    object(&[
        (
            "cli",
            object(&[
                ("found", boolean()),
                ("path", nullable(string())),
                ("version", nullable(string())),
                ("error", nullable(string())),
            ]),
        ),
        (
            "auth",
            object(&[
                ("authenticated", boolean()),
                ("username", nullable(string())),
                ("hostname", string()),
                ("error", nullable(string())),
            ]),
        ),
    ])
}

fn summary() -> Value {
    object(&[
        ("date", string()),
        ("username", nullable(string())),
        (
            "prs",
            object(&[("authored", array(pr())), ("reviewed", array(pr()))]),
        ),
        ("commits", array(commit())),
        (
            "stats",
            object(&[
                ("total_prs_authored", integer()),
                ("total_prs_reviewed", integer()),
                ("total_commits", integer()),
            ]),
        ),
    ])
}

/// The routes of this module.
pub fn routes() -> Vec<Route> {
    vec![
        Route::get("/github/status", get_status)
            .js("githubStatus")
            .doc(TAG, "gh CLI presence/version and the authenticated account")
            .returns(status()),
        Route::get("/github/summary", get_summary)
            .js("githubDailySummary")
            .doc(
                TAG,
                "PRs and local commits for a date (day_only: that local day)",
            )
            .query(&[
                QueryParam::optional("date", ParamType::String),
                QueryParam::optional("day_only", ParamType::Boolean),
            ])
            .returns(summary()),
        Route::post("/github/sync", sync)
            .js("syncGithub")
            .doc(TAG, "Queue connector.github.sync (unique)")
            .body(object_with(
                &[
                    ("workspace_id", nullable(string())),
                    ("cursor", nullable(string())),
                    ("since", nullable(string())),
                ],
                [],
            ))
            .returns(job_created()),
    ]
}

async fn get_status(call: Call) -> Result<Reply> {
    Reply::json(&call.backend.github_status().await?)
}

async fn get_summary(call: Call) -> Result<Reply> {
    Reply::json(&call.backend.github_daily_summary(&call.query).await?)
}

async fn sync(call: Call) -> Result<Reply> {
    Reply::json(&call.backend.sync_github(&call.body).await?)
}
