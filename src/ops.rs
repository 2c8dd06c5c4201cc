//! The table of operations: one arm per JS method of CONTRACT.md §1.2. Each arm only unpacks
//! the JSON arguments, calls the core facade and serializes the result.

use std::sync::Arc;

use enttok_core::validate::item;
use enttok_core::{Error, Result};
use serde::Serialize;
use serde_json::{json, Value};

use crate::Shared;

/// Positional arguments of one call.
struct Args(Vec<Value>);

impl Args {
    fn value(&self, i: usize) -> &Value {
        self.0.get(i).unwrap_or(&Value::Null)
    }

    /// A path parameter: a string, else the 422 item at `["path", name]`.
    fn path(&self, i: usize, name: &str) -> Result<String> {
        match self.value(i) {
            Value::String(s) => Ok(s.clone()),
            other => Err(Error::invalid(item(
                if other.is_null() {
                    "missing"
                } else {
                    "string_type"
                },
                &[json!("path"), json!(name)],
                if other.is_null() {
                    "Field required"
                } else {
                    "Input should be a valid string"
                },
                other.clone(),
                None,
            ))),
        }
    }
}

fn to_json<T: Serialize>(value: T) -> Result<String> {
    Ok(serde_json::to_string(&value)?)
}

/// Runs `op` with the JSON array `args_json`; resolves to the JSON text of the result.
pub(crate) async fn dispatch(shared: Arc<Shared>, op: &str, args_json: &str) -> Result<String> {
    let args = match serde_json::from_str::<Value>(args_json) {
        Ok(Value::Array(items)) => Args(items),
        _ => return Err(Error::BadRequest("arguments must be a JSON array".into())),
    };
    let b = &shared.backend;
    match op {
        "health" => to_json(b.health()?),
        "status" => to_json(b.status().await?),
        "getSettings" => to_json(b.get_settings().await?),
        "updateSettings" => to_json(b.update_settings(args.value(0)).await?),
        "createJob" => to_json(b.create_job(args.value(0)).await?),
        "listJobs" => to_json(b.list_jobs(args.value(0)).await?),
        "getJob" => to_json(b.get_job(&args.path(0, "job_id")?).await?),
        "cancelJob" => to_json(b.cancel_job(&args.path(0, "job_id")?).await?),
        "listJobEvents" => to_json(b.list_job_events(&args.path(0, "job_id")?).await?),
        "jobProgress" => {
            b.job_progress(&args.path(0, "job_id")?, args.value(1), args.value(2))
                .await?;
            Ok("null".into())
        }
        "jobLog" => {
            b.job_log(
                &args.path(0, "job_id")?,
                args.value(1),
                args.value(2),
                args.value(3),
            )
            .await?;
            Ok("null".into())
        }
        "startHttp" => start_http(&shared, args.value(0)).await,
        "stopHttp" => stop_http(&shared).await,
        other => {
            b.check_open()?;
            Err(Error::Internal {
                detail: format!("operation '{other}' is not available in this version"),
                kind: None,
            })
        }
    }
}

#[cfg(feature = "http")]
async fn start_http(shared: &Arc<Shared>, options: &Value) -> Result<String> {
    shared.backend.check_open()?;
    let options = enttok_http::HttpOptions::from_json(options)?;
    let mut slot = shared.http.lock().await;
    if slot.is_some() {
        return Err(Error::Conflict(
            "the HTTP adapter is already running".into(),
        ));
    }
    let server = enttok_http::start(shared.backend.clone(), options).await?;
    let answer = json!({ "port": server.port(), "token": server.token(), "url": server.url() });
    *slot = Some(server);
    to_json(answer)
}

#[cfg(feature = "http")]
async fn stop_http(shared: &Arc<Shared>) -> Result<String> {
    shared.backend.check_open()?;
    if let Some(server) = shared.http.lock().await.take() {
        server.stop().await;
    }
    Ok("null".into())
}

#[cfg(not(feature = "http"))]
async fn start_http(shared: &Arc<Shared>, _options: &Value) -> Result<String> {
    shared.backend.check_open()?;
    Err(Error::Internal {
        detail: "this build of enttok-backend has no HTTP adapter (cargo feature `http`)".into(),
        kind: None,
    })
}

#[cfg(not(feature = "http"))]
async fn stop_http(shared: &Arc<Shared>) -> Result<String> {
    shared.backend.check_open()?;
    Ok("null".into())
}
