//! The `suggest.generate` job (CONTRACT.md §19): `gathering` (the day's stream),
//! `searching_memory`, `prompting` (the app's prompt, byte for byte), `running` (Claude through
//! the `claude.spawn` machinery: stream-json, a native session, `claude.output` events).

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{json, Value};

use super::memory_link::{self, MemoryRef};
use super::prompt::{assemble, format_activities, PromptInput, MAX_MEMORY_RESULTS};
use super::stream::{self, StreamItem, StreamRequest, MAX_ITEMS};
use super::SUGGEST_GENERATE;
use crate::claude::cli::SpawnRequest;
use crate::claude::{handler, sessions, ClaudeState};
use crate::config::Config;
use crate::error::Error;
use crate::events::Level;
use crate::github::summary::{local_today, parse_day};
use crate::jobs::{EventRow, Failure, Handler, JobCtx, JobSystem, Outcome, Success};
use crate::time::now_ms;

/// State of the suggestions module of one backend.
pub struct SuggestState {
    config: Config,
    claude: Arc<ClaudeState>,
}

/// Registers the `suggest.generate` handler; Claude runs share `claude.spawn`'s limiter.
pub(crate) fn register(jobs: &JobSystem, config: &Config, claude: &Arc<ClaudeState>) {
    let state = Arc::new(SuggestState {
        config: config.clone(),
        claude: Arc::clone(claude),
    });
    let handler: Handler = Arc::new(move |ctx| {
        let state = Arc::clone(&state);
        Box::pin(async move { run(state, ctx).await })
    });
    jobs.register_builtin(SUGGEST_GENERATE, handler);
}

/// The payload, read leniently (jobs created through `createJob` are not validated).
#[derive(Debug, Clone, Default)]
pub struct GenerateRequest {
    pub note_date: Option<String>,
    pub note_path: Option<String>,
    pub note_content: Option<String>,
    pub selected_text: Option<String>,
    pub prompt: Option<String>,
    pub include_note: bool,
    pub use_memory: bool,
    pub memory_query: Option<String>,
    pub context_limit: usize,
    pub session_id: Option<String>,
    pub claude_project_paths: Option<Vec<String>>,
    pub timeout_ms: Option<i64>,
}

impl GenerateRequest {
    /// Reads a job payload.
    pub fn from_payload(p: &Value) -> GenerateRequest {
        let text = |k: &str| p.get(k).and_then(Value::as_str).map(String::from);
        let flag = |k: &str| p.get(k).and_then(Value::as_bool).unwrap_or(true);
        GenerateRequest {
            note_date: text("note_date"),
            note_path: text("note_path").filter(|s| !s.is_empty()),
            note_content: text("note_content"),
            selected_text: text("selected_text"),
            prompt: text("prompt").filter(|s| !s.is_empty()),
            include_note: flag("include_note"),
            use_memory: flag("use_memory"),
            memory_query: text("memory_query").filter(|s| !s.is_empty()),
            context_limit: p
                .get("context_limit")
                .and_then(Value::as_i64)
                .map(|n| n.clamp(1, MAX_ITEMS as i64) as usize)
                .unwrap_or(MAX_ITEMS),
            session_id: text("session_id").filter(|s| !s.is_empty()),
            claude_project_paths: p.get("claude_project_paths").and_then(Value::as_array).map(
                |a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect()
                },
            ),
            timeout_ms: p.get("timeout_ms").and_then(Value::as_i64),
        }
    }
}

fn stopped() -> Failure {
    Failure::new("job was stopped")
}

fn internal(err: Error) -> Failure {
    Failure::with_code(err.to_string(), "internal")
}

/// Announces a stage: progress with `stage`, the job's message the stage's name.
async fn stage(ctx: &JobCtx, progress: f64, name: &str) -> Result<(), Failure> {
    ctx.progress(progress, Some(name.to_string()), true, Some(name))
        .await
        .map_err(|_| stopped())?;
    if ctx.abort().is_fired() {
        return Err(stopped());
    }
    Ok(())
}

/// Runs one `suggest.generate` job.
async fn run(state: Arc<SuggestState>, ctx: JobCtx) -> Outcome {
    let req = GenerateRequest::from_payload(&ctx.job.payload);
    let day_text = req.note_date.clone().unwrap_or_else(local_today);
    let Some(day) = parse_day(&day_text) else {
        return Err(Failure::with_code(
            format!("invalid note_date '{day_text}': expected YYYY-MM-DD"),
            "invalid_input",
        ));
    };
    ctx.set_running(0.05, Some("gathering"))
        .await
        .map_err(|_| stopped())?;
    stage(&ctx, 0.1, "gathering").await?;
    let activities: Vec<StreamItem> = stream::load(
        ctx.store(),
        StreamRequest {
            day,
            projects: req.claude_project_paths.clone(),
            claude_root: state.config.claude_projects_dir.clone(),
            now_ms: now_ms(),
        },
    )
    .await
    .map_err(internal)?
    .into_iter()
    .take(req.context_limit)
    .collect();
    let settings = ctx.settings().await.map_err(internal)?;
    let request = req
        .prompt
        .clone()
        .unwrap_or_else(|| settings.summarize_prompt.clone());

    let mut memory: Vec<MemoryRef> = Vec::new();
    if req.use_memory {
        stage(&ctx, 0.25, "searching_memory").await?;
        let query = req.memory_query.clone().unwrap_or_else(|| request.clone());
        let payload = memory_link::search_payload(&query, MAX_MEMORY_RESULTS);
        memory = memory_link::search(&ctx, &payload).await;
        memory.truncate(MAX_MEMORY_RESULTS);
    }

    stage(&ctx, 0.4, "prompting").await?;
    let note = match (&req.note_content, &req.note_path) {
        (Some(text), _) => Some(text.clone()),
        (None, Some(path)) if req.include_note => {
            let path = PathBuf::from(path);
            let shown = path.display().to_string();
            let read = crate::store::run_blocking(move || Ok(std::fs::read_to_string(path)?)).await;
            match read {
                Ok(text) => Some(text),
                Err(err) => {
                    return Err(Failure::with_code(
                        format!("note_path {shown} could not be read: {err}"),
                        "note_unreadable",
                    ))
                }
            }
        }
        _ => None,
    };
    let activity_context = format_activities(&activities, now_ms());
    let prompt = assemble(&PromptInput {
        memory: &memory,
        activity_context: &activity_context,
        selected_text: req.selected_text.as_deref(),
        note: note.as_deref(),
        include_note: req.include_note,
        request: &request,
    });

    stage(&ctx, 0.5, "running").await?;
    let session_id = match &req.session_id {
        Some(s) => s.clone(),
        None => ctx
            .store()
            .write(|c| sessions::create(c))
            .await
            .map_err(internal)?,
    };
    let spawn = SpawnRequest {
        args: Vec::new(),
        prompt: Some(prompt.clone()),
        stdin: None,
        session_id: Some(session_id.clone()),
        timeout_ms: req.timeout_ms,
        stream_json: true,
    };
    let out = handler::run_request(&state.claude, &ctx, spawn, false).await?;
    let text = out
        .result
        .as_ref()
        .and_then(|r| r.get("text"))
        .cloned()
        .unwrap_or(Value::Null);
    let text = match text {
        Value::String(s) => s,
        _ => String::new(),
    };
    let result = json!({
        "text": text,
        "prompt": prompt,
        "memory_references": memory,
        "activities_used": activities,
        "session_id": session_id,
    });
    Ok(Success {
        result: Some(result),
        progress: 1.0,
        message: None,
        event: Some(EventRow::new(Level::Info, "suggestion generated")),
        announce: Vec::new(),
    })
}
