//! Claude Code: streamed CLI runs, persisted native sessions and the transcript library
//! (CONTRACT.md §4.3, §11).
//!
//! - [`cli`]: where the CLI is and which arguments a run gets;
//! - [`runner`]: one process run (own process group, streamed lines, caps, tree kill);
//! - `job_object` (Windows only): the run's process tree in a kill-on-close job object;
//! - [`handler`]: the `claude.spawn` job handler tying both to the job queue and sessions;
//! - [`sessions`]: the `claude_sessions` / `claude_session_messages` tables;
//! - [`transcripts`]: read-only access to Claude Code's own JSONL transcripts;
//! - `api`: the facade methods on [`crate::Backend`].

mod api;
pub mod cli;
pub(crate) mod handler;
#[cfg(windows)]
mod job_object;
mod limiter;
pub(crate) mod runner;
pub(crate) mod sessions;
pub(crate) mod transcripts;

use std::sync::Arc;

use crate::config::Config;
use crate::jobs::{Handler, JobSystem, CLAUDE_SPAWN};

pub use sessions::{ClaudeSession, SessionMessage};
pub use transcripts::TranscriptSession;

/// State of the Claude module of one backend (never shared between backends).
pub(crate) struct ClaudeState {
    config: Config,
    /// Bounds the runs executing at once to `claude_max_concurrent`.
    limiter: limiter::Limiter,
    /// Where the MCP memory server runs, for `--mcp-config` (CONTRACT.md §16).
    memory: Arc<crate::memory::MemoryState>,
}

/// Registers the `claude.spawn` handler with a fresh per-backend state.
pub fn register(jobs: &JobSystem, config: &Config, memory: &Arc<crate::memory::MemoryState>) {
    register_shared(jobs, config, memory);
}

/// [`register`], answering the state so that other jobs can run Claude under the same
/// concurrency limit (`suggest.generate`).
pub(crate) fn register_shared(
    jobs: &JobSystem,
    config: &Config,
    memory: &Arc<crate::memory::MemoryState>,
) -> Arc<ClaudeState> {
    let state = Arc::new(ClaudeState {
        config: config.clone(),
        limiter: limiter::Limiter::default(),
        memory: Arc::clone(memory),
    });
    let shared = Arc::clone(&state);
    let handler: Handler = Arc::new(move |ctx| {
        let state = Arc::clone(&state);
        Box::pin(async move { handler::run(state, ctx).await })
    });
    jobs.register_builtin(CLAUDE_SPAWN, handler);
    shared
}
