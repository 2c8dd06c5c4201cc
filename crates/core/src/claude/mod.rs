//! Claude Code: streamed runs, sessions, transcripts (CONTRACT.md §4.3, §11). Not built yet:
//! `claude.spawn` stays a known type whose jobs fail with a clear message.

use crate::config::Config;
use crate::jobs::{JobSystem, CLAUDE_SPAWN};

/// Registers the `claude.spawn` handler.
pub fn register(jobs: &JobSystem, _config: &Config) {
    jobs.register_builtin(CLAUDE_SPAWN, crate::backend::unavailable(CLAUDE_SPAWN));
}
