//! The table of operations: one arm per JS method of CONTRACT.md §1.2. Each arm only unpacks
//! the JSON arguments, calls the core facade and serializes the result.

use std::sync::Arc;

use enttok_core::validate::{item, STRING_TYPE};
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
                    STRING_TYPE
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

/// The result of an operation as it crosses to JS.
pub(crate) enum Answer {
    /// JSON text (every operation but one).
    Json(String),
    /// `listCalendarEvents`: the events in columns, rebuilt into objects by `index.js`. A
    /// month can hold thousands of events, and parsing them from JSON cost the JS thread more
    /// than the whole listing (see `enttok_core::calendar::EventColumns`).
    Events(enttok_core::calendar::EventColumns),
}

/// Runs `op` with the JSON array `args_json`.
pub(crate) async fn dispatch(shared: Arc<Shared>, op: &str, args_json: &str) -> Result<Answer> {
    let args = match serde_json::from_str::<Value>(args_json) {
        Ok(Value::Array(items)) => Args(items),
        Err(e) => {
            return Err(enttok_core::validate::too_deep(&e, &[json!("args")])
                .unwrap_or_else(|| Error::BadRequest("arguments must be a JSON array".into())))
        }
        Ok(_) => return Err(Error::BadRequest("arguments must be a JSON array".into())),
    };
    if op == "listCalendarEvents" {
        let list = shared.backend.list_calendar_events(args.value(0)).await?;
        return Ok(Answer::Events(list.into_columns()?));
    }
    dispatch_json(&shared, op, &args).await.map(Answer::Json)
}

/// Runs an operation that answers JSON text.
async fn dispatch_json(shared: &Arc<Shared>, op: &str, args: &Args) -> Result<String> {
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
        "startHttp" => start_http(shared, args.value(0)).await,
        // Claude (CONTRACT.md §4.3, §11)
        "spawnClaude" => to_json(b.spawn_claude(args.value(0)).await?),
        "createClaudeSession" => to_json(b.create_claude_session().await?),
        "getClaudeSession" => to_json(b.get_claude_session(&args.path(0, "session_id")?).await?),
        "listClaudeSessions" => to_json(b.list_claude_sessions(args.value(0)).await?),
        "deleteClaudeSession" => to_json(
            b.delete_claude_session(&args.path(0, "session_id")?)
                .await?,
        ),
        "listClaudeProjects" => to_json(b.list_claude_projects().await?),
        "listClaudeTranscripts" => to_json(
            b.list_claude_transcripts(&args.path(0, "project_path")?)
                .await?,
        ),
        "getClaudeTranscript" => {
            to_json(b.get_claude_transcript(&args.path(0, "file_path")?).await?)
        }
        "listClaudeTranscriptsForDate" => to_json(
            b.list_claude_transcripts_for_date(&args.path(0, "date")?, args.value(1))
                .await?,
        ),
        "importClaudeTranscript" => to_json(
            b.import_claude_transcript(&args.path(0, "file_path")?)
                .await?,
        ),
        // Calendar (CONTRACT.md §4.4, §4.5)
        "listCalendarProviders" => to_json(b.list_calendar_providers().await?),
        "createCalendarAccount" => to_json(b.create_calendar_account(args.value(0)).await?),
        "listCalendarAccounts" => to_json(b.list_calendar_accounts().await?),
        "getCalendarAccount" => {
            to_json(b.get_calendar_account(&args.path(0, "account_id")?).await?)
        }
        "deleteCalendarAccount" => to_json(
            b.delete_calendar_account(&args.path(0, "account_id")?)
                .await?,
        ),
        "listCalendars" => to_json(b.list_calendars(args.value(0)).await?),
        "updateCalendar" => to_json(
            b.update_calendar(
                &args.path(0, "account_id")?,
                &args.path(1, "calendar_id")?,
                args.value(2),
            )
            .await?,
        ),
        "syncCalendarAccount" => to_json(
            b.sync_calendar_account(&args.path(0, "account_id")?, args.value(1))
                .await?,
        ),
        "startGoogleOAuth" => to_json(b.start_google_oauth().await?),
        "completeGoogleOAuth" => to_json(b.complete_google_oauth(args.value(0)).await?),
        // Jira and Confluence (CONTRACT.md §4.6, §4.7)
        "listJiraAccounts" => to_json(b.list_jira_accounts().await?),
        "addJiraAccount" => to_json(b.add_jira_account(args.value(0)).await?),
        "deleteJiraAccount" => to_json(b.delete_jira_account(&args.path(0, "account_id")?).await?),
        "syncJiraAccount" => to_json(
            b.sync_jira_account(&args.path(0, "account_id")?, args.value(1))
                .await?,
        ),
        "searchJira" => to_json(
            b.search_jira(&json!({ "account_id": args.value(0) }))
                .await?,
        ),
        "listConfluenceAccounts" => to_json(b.list_confluence_accounts().await?),
        "addConfluenceAccount" => to_json(b.add_confluence_account(args.value(0)).await?),
        "deleteConfluenceAccount" => to_json(
            b.delete_confluence_account(&args.path(0, "account_id")?)
                .await?,
        ),
        "syncConfluenceAccount" => to_json(
            b.sync_confluence_account(&args.path(0, "account_id")?)
                .await?,
        ),
        // Activity (CONTRACT.md §10)
        "listActivityEvents" => to_json(b.list_activity_events(args.value(0)).await?),
        // GitHub and suggestions (CONTRACT.md §18-§19)
        "githubStatus" => to_json(b.github_status().await?),
        "githubDailySummary" => to_json(b.github_daily_summary(args.value(0)).await?),
        "syncGithub" => to_json(b.sync_github(args.value(0)).await?),
        "activityStream" => to_json(b.activity_stream(args.value(0)).await?),
        "generateSuggestion" => to_json(b.generate_suggestion(args.value(0)).await?),
        // Vault (CONTRACT.md §17): index.js builds the body/query object from the positional
        // arguments, so both surfaces share the facade's validation.
        "searchNotes" => to_json(b.search_notes(args.value(0)).await?),
        "listNotes" => to_json(b.list_notes(args.value(0)).await?),
        "createNote" => to_json(b.create_note(args.value(0)).await?),
        "getNotePath" => to_json(b.get_note_path(args.value(0)).await?),
        "readNote" => to_json(b.read_note(args.value(0)).await?),
        "writeNote" => to_json(b.write_note(args.value(0)).await?),
        "dailyNotePath" => to_json(b.daily_note_path(args.value(0)).await?),
        "createDailyNote" => to_json(b.create_daily_note(args.value(0)).await?),
        "listDailyNoteDates" => to_json(b.list_daily_note_dates(args.value(0)).await?),
        // Memory (CONTRACT.md §15)
        "createObservation" => to_json(b.create_observation(args.value(0)).await?),
        "getObservation" => to_json(b.get_observation(&args.path(0, "observation_id")?).await?),
        "getObservations" => to_json(b.get_observations(&json!({ "ids": args.value(0) })).await?),
        "deleteObservation" => to_json(
            b.delete_observation(&args.path(0, "observation_id")?)
                .await?,
        ),
        "listObservations" => to_json(b.list_observations(args.value(0)).await?),
        "searchMemory" => to_json(b.search_memory(args.value(0)).await?),
        "memoryTimeline" => to_json(b.memory_timeline(args.value(0)).await?),
        "memoryStats" => to_json(b.memory_stats().await?),
        "processMemory" => to_json(b.process_memory(args.value(0)).await?),
        "syncMemoryVectors" => to_json(b.sync_memory_vectors().await?),
        "syncGithubMemory" => to_json(b.sync_github_memory(args.value(0)).await?),
        "syncClaudeSessionsMemory" => to_json(b.sync_claude_sessions_memory(args.value(0)).await?),
        "mcpConfig" => to_json(b.mcp_config()?),
        "stopHttp" => stop_http(shared).await,
        other => {
            b.check_open()?;
            Err(Error::Internal {
                detail: format!("operation '{other}' is not available in this version"),
                kind: None,
            })
        }
    }
}

/// `startHttp(options)`: forwarded to the adapter's slot (`enttok_http::Slot`).
#[cfg(feature = "http")]
async fn start_http(shared: &Arc<Shared>, options: &Value) -> Result<String> {
    to_json(shared.http.start(&shared.backend, options).await?)
}

/// `stopHttp()`: forwarded to the adapter's slot.
#[cfg(feature = "http")]
async fn stop_http(shared: &Arc<Shared>) -> Result<String> {
    shared.http.stop(&shared.backend).await?;
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
