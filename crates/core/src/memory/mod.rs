//! Memory: observations, keyword + vector search, timeline, capture and the MCP tools
//! (CONTRACT.md §15, §16).
//!
//! Modules: [`schema`] (migration 5), [`observation`] (records and wire shapes), [`store`]
//! (SQL), [`search`] (keyword, vector, RRF), [`input`] (validation of every entry point),
//! [`capture`] (GitHub, Claude sessions, calendar and activity → observations), [`embed`]
//! (the host embedder and `memory.chroma_sync`), [`jobs`] (`memory.process_events`, the
//! debounced embedding and the hourly pass), [`mcp`] (the four MCP tools over JSON-RPC) and
//! [`api`] (the facade methods).

pub mod api;
pub mod capture;
pub mod embed;
pub mod input;
pub mod jobs;
pub mod mcp;
pub mod observation;
pub(crate) mod schema;
pub mod search;
pub mod store;

use std::sync::{Arc, Mutex};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub use embed::Embedder;
pub use observation::{Observation, Summary};

use crate::store::lock;

/// `memory.process_events`: calendar, Jira and Confluence rows of a window → observations.
pub const PROCESS_EVENTS: &str = "memory.process_events";
/// `memory.chroma_sync`: embeds observations that lack a vector of the current model.
pub const CHROMA_SYNC: &str = "memory.chroma_sync";

/// The memory module's in-memory state of one backend.
pub struct MemoryState {
    embedder: Mutex<Option<Arc<dyn Embedder>>>,
    /// `(port, token)` of the HTTP adapter while it runs (for `mcpConfig`).
    mcp: Mutex<Option<(u16, String)>>,
    /// Wakes the debounced embedding task (new observations, a new embedder).
    kick: Notify,
    /// Stops the memory tasks at close.
    pub(crate) stop: CancellationToken,
}

impl MemoryState {
    /// A fresh state: no embedder, no HTTP.
    pub fn new() -> Arc<MemoryState> {
        Arc::new(MemoryState {
            embedder: Mutex::new(None),
            mcp: Mutex::new(None),
            kick: Notify::new(),
            stop: CancellationToken::new(),
        })
    }

    /// The registered embedder.
    pub fn embedder(&self) -> Option<Arc<dyn Embedder>> {
        lock(&self.embedder).clone()
    }

    /// The current embedding model, `""` when none is registered.
    pub fn model(&self) -> String {
        self.embedder()
            .map(|e| e.model().to_string())
            .unwrap_or_default()
    }

    /// Replaces the embedder (`None` unregisters).
    pub fn set_embedder(&self, embedder: Option<Arc<dyn Embedder>>) {
        let some = embedder.is_some();
        *lock(&self.embedder) = embedder;
        if some {
            self.kick();
        }
    }

    /// Asks for a debounced `memory.chroma_sync` (no-op without an embedder).
    pub fn kick(&self) {
        if lock(&self.embedder).is_some() {
            self.kick.notify_one();
        }
    }

    /// Records where the HTTP adapter serves (`None` when it stops).
    pub fn set_http(&self, endpoint: Option<(u16, String)>) {
        *lock(&self.mcp) = endpoint;
    }

    /// Where the HTTP adapter serves, if it runs.
    pub fn http(&self) -> Option<(u16, String)> {
        lock(&self.mcp).clone()
    }
}

/// Registers the two built-in memory job types.
pub(crate) fn register(jobs: &crate::jobs::JobSystem, state: &Arc<MemoryState>) {
    jobs.register_builtin(PROCESS_EVENTS, jobs::process_events(Arc::clone(state)));
    jobs.register_builtin(CHROMA_SYNC, embed::chroma_sync(Arc::clone(state)));
}
