//! The `claude.spawn` job handler (CONTRACT.md §6.4 step sequence, §11.1, §11.2).

use std::sync::Arc;

use serde_json::{json, Value};

use super::cli::{self, SessionFlag, SpawnRequest};
use super::runner::{self, RunEnd, RunOutput, RunSpec, Sink, Stream};
use super::sessions::{self, Exchange};
use super::ClaudeState;
use crate::events::{Event, Level};
use crate::ids::new_uuid;
use crate::jobs::{EventRow, Failure, JobCtx, Outcome, Success};
use crate::settings::Settings;
use crate::store::run_blocking;

/// What the CLI says when `--resume` names a session it does not have.
const LOST_SESSION: &str = "No conversation found";

/// A failure with the contract's `error` object and job event text.
fn fail(error: Value, event: &str) -> Failure {
    Failure {
        error,
        event: Some(EventRow::new(Level::Error, event)),
        log: None,
    }
}

/// The outcome of a run that was canceled or shut down: the worker discards it.
fn stopped() -> Failure {
    Failure::new("job was stopped")
}

fn internal(err: crate::Error) -> Failure {
    Failure::with_code(err.to_string(), "internal")
}

/// Runs one `claude.spawn` job.
pub(super) async fn run(state: Arc<ClaudeState>, ctx: JobCtx) -> Outcome {
    let req = SpawnRequest::from_payload(&ctx.job.payload);
    run_request(&state, &ctx, req, true).await
}

/// Runs `req` inside the job of `ctx` (a `claude.spawn` job, or another job that asks Claude
/// something, like `suggest.generate`). `announce` sets the job `running` with the `spawning`
/// message first, as `claude.spawn` does; callers that manage their own stages pass false.
pub(crate) async fn run_request(
    state: &ClaudeState,
    ctx: &JobCtx,
    req: SpawnRequest,
    announce: bool,
) -> Outcome {
    let ctx = ctx.clone();
    let claude_path = state.config.claude_path.clone();
    // Resolved at each run: the CLI may be installed or moved while the app runs.
    let cli = run_blocking(move || Ok(cli::find_cli(claude_path.as_deref())))
        .await
        .ok()
        .flatten();
    let Some(cli) = cli else {
        let msg = "claude cli not found";
        return Err(fail(json!({ "message": msg }), msg));
    };
    if req.args.is_empty() && req.prompt().is_none() {
        return Err(fail(
            json!({ "message": "no args provided for claude cli" }),
            "claude cli args missing",
        ));
    }
    let settings = ctx.settings().await.map_err(internal)?;
    let max = usize::try_from(settings.claude_max_concurrent).unwrap_or(1);
    let _slot = state
        .limiter
        .acquire(max, ctx.abort())
        .await
        .ok_or_else(stopped)?;
    let session_flag = match (&req.session_id, req.native_session()) {
        (Some(sid), true) => Some(prepare_native(&ctx, sid).await.map_err(internal)?),
        _ => None,
    };
    if announce {
        ctx.set_running(0.05, Some("spawning"))
            .await
            .map_err(|_| stopped())?;
    } else if ctx.abort().is_fired() {
        return Err(stopped());
    }

    let sink = make_sink(&ctx, req.session_id.clone());
    let spec = |args: Vec<String>| RunSpec {
        program: cli.clone(),
        args,
        cwd: state.config.claude_cwd.clone(),
        stdin: req.stdin.clone(),
        timeout: req.timeout(),
        cap: usize::try_from(settings.claude_output_cap_bytes).unwrap_or(1024 * 1024),
        stream_json: req.stream_json,
    };
    let mcp = if settings.claude_mcp {
        crate::memory::claude_mcp_args(&state.memory, &state.config.data_dir).await
    } else {
        Vec::new()
    };
    let spec = |mut args: Vec<String>| {
        args.extend(mcp.iter().cloned());
        spec(args)
    };
    let args = cli::build_args(&req, None, session_flag.as_ref()).unwrap_or_default();
    let mut out = runner::run(spec(args), Arc::clone(&sink), ctx.abort()).await;
    let mut cli_uuid = session_flag.map(|f| match f {
        SessionFlag::New(u) | SessionFlag::Resume(u) => u,
    });
    if let (Some(sid), Some(_)) = (&req.session_id, &cli_uuid) {
        if lost_session(&out) && !ctx.abort().is_fired() {
            let (args, uuid) = fallback_args(&ctx, &req, sid, &settings)
                .await
                .map_err(internal)?;
            cli_uuid = Some(uuid);
            out = runner::run(spec(args), Arc::clone(&sink), ctx.abort()).await;
        }
    }
    finish(&ctx, &req, cli_uuid, out, &settings).await
}

/// `--session-id` with a UUID stored on the row before the first run, `--resume` later. An
/// unknown session gets a fresh UUID and its row after a successful run.
async fn prepare_native(ctx: &JobCtx, session_id: &str) -> crate::Result<SessionFlag> {
    let sid = session_id.to_string();
    ctx.store()
        .write(move |c| {
            Ok(match sessions::cli_session(c, &sid)? {
                None => SessionFlag::New(new_uuid()),
                Some(Some(uuid)) => SessionFlag::Resume(uuid),
                Some(None) => {
                    let uuid = new_uuid();
                    match sessions::claim_cli_session(c, &sid, &uuid)? {
                        Some(stored) if stored != uuid => SessionFlag::Resume(stored),
                        _ => SessionFlag::New(uuid),
                    }
                }
            })
        })
        .await
}

/// The CLI exited non-zero saying it has no such conversation (stderr or the result's errors).
fn lost_session(out: &RunOutput) -> bool {
    matches!(out.end, RunEnd::Exited(code) if code != 0)
        && (out.stderr.lines.iter().any(|l| l.contains(LOST_SESSION))
            || out.parsed.errors_contain(LOST_SESSION))
}

/// The retry after a lost session: the stored history flattened into the prompt, under a
/// fresh UUID that the row keeps.
async fn fallback_args(
    ctx: &JobCtx,
    req: &SpawnRequest,
    session_id: &str,
    settings: &Settings,
) -> crate::Result<(Vec<String>, String)> {
    let sid = session_id.to_string();
    let uuid = new_uuid();
    let stored = uuid.clone();
    let max_messages = usize::try_from(settings.claude_session_max_messages).unwrap_or(20);
    let max_chars = usize::try_from(settings.claude_session_max_chars).unwrap_or(12000);
    let history = ctx
        .store()
        .write(move |c| {
            sessions::set_cli_session(c, &sid, &stored)?;
            sessions::history(c, &sid, max_messages, max_chars)
        })
        .await?;
    let prompt = cli::flatten_history(&history, req.prompt().unwrap_or_default());
    let args = cli::build_args(req, Some(&prompt), Some(&SessionFlag::New(uuid.clone())))
        .unwrap_or_default();
    Ok((args, uuid))
}

/// Publishes `log` `claude: <line>` and `claude.output` for each line, until the job stops.
fn make_sink(ctx: &JobCtx, session_id: Option<String>) -> Sink {
    let bus = Arc::clone(ctx.bus());
    let abort = ctx.abort().clone();
    let job_id = ctx.job_id().to_string();
    Arc::new(move |stream: Stream, line: &str, message: Option<Value>| {
        // A canceled run writes nothing more, events included.
        if abort.is_fired() {
            return;
        }
        let level = match stream {
            Stream::Stdout => Level::Info,
            Stream::Stderr => Level::Error,
        };
        bus.publish(Event::log(level, format!("claude: {line}")));
        bus.publish(Event::ClaudeOutput {
            job_id: job_id.clone(),
            session_id: session_id.clone(),
            stream: stream.as_str(),
            line: message.is_none().then(|| line.to_string()),
            message,
        });
    })
}

/// Turns the run's end into the job outcome, storing the session exchange on success.
async fn finish(
    ctx: &JobCtx,
    req: &SpawnRequest,
    cli_uuid: Option<String>,
    out: RunOutput,
    settings: &Settings,
) -> Outcome {
    let code = match &out.end {
        RunEnd::Aborted(_) => return Err(stopped()),
        RunEnd::SpawnFailed(err) => {
            return Err(fail(
                json!({ "message": format!("claude cli failed to start: {err}") }),
                "claude cli failed to start",
            ))
        }
        RunEnd::TimedOut => {
            let msg = "claude cli timeout";
            return Err(fail(json!({ "message": msg }), msg));
        }
        RunEnd::Exited(code) => *code,
    };
    if code != 0 {
        let msg = "claude cli failed";
        return Err(fail(
            json!({
                "message": msg,
                "exit_code": code,
                "stdout_tail": out.stdout.tail(),
                "stderr_tail": out.stderr.tail(),
            }),
            msg,
        ));
    }
    let mut result = json!({
        "exit_code": code,
        "duration_ms": out.duration_ms,
        "stdout_tail": out.stdout.tail(),
        "stderr_tail": out.stderr.tail(),
        "stdout_truncated": out.stdout.truncated,
        "stderr_truncated": out.stderr.truncated,
    });
    let text = out.parsed.text();
    if req.stream_json {
        if let Value::Object(map) = &mut result {
            map.insert("text".into(), text.clone());
            map.insert(
                "claude_session_id".into(),
                out.parsed
                    .cli_session_id
                    .clone()
                    .map_or(Value::Null, Value::String),
            );
        }
    }
    if let (Some(sid), Some(prompt)) = (&req.session_id, req.prompt()) {
        let assistant = if req.stream_json {
            text.as_str().unwrap_or_default().trim().to_string()
        } else {
            let joined: Vec<&str> = out.stdout.lines.iter().map(String::as_str).collect();
            joined.join("\n").trim().to_string()
        };
        let exchange = Exchange {
            job_id: ctx.job_id().to_string(),
            session_id: sid.clone(),
            cli_session_id: cli_uuid,
            user: prompt.to_string(),
            assistant,
            max_messages: usize::try_from(settings.claude_session_max_messages).unwrap_or(20),
            max_chars: usize::try_from(settings.claude_session_max_chars).unwrap_or(12000),
        };
        let written = ctx
            .store()
            .write(move |c| sessions::append_exchange(c, &exchange))
            .await
            .map_err(internal)?;
        if !written {
            return Err(stopped());
        }
    }
    Ok(Success {
        result: Some(result),
        progress: 1.0,
        message: None,
        event: Some(EventRow::new(Level::Info, "claude cli finished")),
        announce: Vec::new(),
    })
}
