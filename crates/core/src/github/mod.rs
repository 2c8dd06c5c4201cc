//! GitHub activity through the `gh` CLI and local `git` (CONTRACT.md §18; reference part B).
//!
//! - [`exec`]: finding `gh`, running `gh`/`git` through the Claude runner's process-tree
//!   machinery (own process group, timeout, 1 MiB output cap, tree kill on abort);
//! - [`status`]: `githubStatus()` (CLI version, `gh auth status --json hosts` resolution);
//! - [`summary`]: pull requests, local commits and the daily summary;
//! - [`sync`]: the `connector.github.sync` job writing `activity_events` (and memory);
//! - `api`: the facade methods on [`crate::Backend`].

pub(crate) mod api;
pub mod exec;
pub mod status;
pub mod summary;
pub mod sync;

use std::sync::Arc;

use tokio::sync::OnceCell;

use crate::config::Config;
use crate::jobs::{Abort, AbortReason, Handler, JobSystem};

/// The job type of CONTRACT.md §18.
pub const GITHUB_SYNC: &str = "connector.github.sync";

/// State of the GitHub module of one backend.
pub struct GithubState {
    pub(crate) config: Config,
    /// Fired by `close()`: stops the `gh`/`git` trees of facade calls (jobs have their own).
    pub(crate) closing: Abort,
    /// `git config --global --get user.name`, read once per backend (the app caches it for the
    /// process lifetime).
    pub(crate) global_author: OnceCell<String>,
}

impl GithubState {
    /// A fresh state for one backend.
    pub fn new(config: &Config) -> Arc<GithubState> {
        Arc::new(GithubState {
            config: config.clone(),
            closing: Abort::default(),
            global_author: OnceCell::new(),
        })
    }

    /// Kills the process trees of running facade calls (backend close).
    pub fn shutdown(&self) {
        self.closing.fire(AbortReason::Shutdown);
    }
}

/// Registers the `connector.github.sync` handler.
pub fn register(jobs: &JobSystem, state: &Arc<GithubState>) {
    let state = Arc::clone(state);
    let handler: Handler = Arc::new(move |ctx| {
        let state = Arc::clone(&state);
        Box::pin(async move { sync::run(state, ctx).await })
    });
    jobs.register_builtin(GITHUB_SYNC, handler);
}
