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
pub(crate) mod fts;
pub mod input;
pub mod jobs;
pub mod mcp;
pub mod observation;
pub(crate) mod quantized;
pub(crate) mod schema;
pub mod search;
pub mod store;
pub mod vectors;
pub mod word_index;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

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
    /// Wakes the debounced embedding task (new observations).
    kick: Notify,
    /// Stops the memory tasks at close.
    pub(crate) stop: CancellationToken,
    /// The current model's vectors in memory (see [`vectors`]), once a search loaded them.
    vectors: RwLock<Option<vectors::VectorIndex>>,
    /// Moves after every change of stored vectors (a racing load is not installed).
    generation: AtomicU64,
    /// The keyword index in memory (see [`word_index`]), once a search loaded it.
    pub(crate) words: Arc<word_index::WordCache>,
}

impl MemoryState {
    /// A fresh state of `store`'s memory: no embedder, no HTTP.
    pub fn new(store: &crate::store::Store) -> crate::error::Result<Arc<MemoryState>> {
        Ok(Arc::new(MemoryState {
            embedder: Mutex::new(None),
            mcp: Mutex::new(None),
            kick: Notify::new(),
            stop: CancellationToken::new(),
            vectors: RwLock::new(None),
            generation: AtomicU64::new(0),
            words: word_index::WordCache::new(store)?,
        }))
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
        *lock(&self.embedder) = embedder;
        *self.vectors.write().unwrap_or_else(|p| p.into_inner()) = None;
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Asks for a debounced `memory.chroma_sync` (no-op without an embedder).
    pub fn kick(&self) {
        if lock(&self.embedder).is_some() {
            self.kick.notify_one();
        }
    }

    /// Applies a committed change of stored vectors to the in-memory copy (if loaded).
    pub(crate) fn vectors_changed(&self, f: impl FnOnce(&mut vectors::VectorIndex)) {
        let mut guard = self.vectors.write().unwrap_or_else(|p| p.into_inner());
        if let Some(index) = guard.as_mut() {
            f(index);
        }
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Vector search over the in-memory copy of `model`, `None` when it is not loaded.
    pub(crate) fn search_vectors(
        &self,
        model: &str,
        query: &[f32],
        w: &store::Window,
        limit: usize,
    ) -> Option<Vec<(String, f64)>> {
        let guard = self.vectors.read().unwrap_or_else(|p| p.into_inner());
        let index = guard.as_ref().filter(|ix| ix.model == model)?;
        Some(index.search(query, w, limit))
    }

    /// The generation of stored vectors (read before a load).
    pub(crate) fn vector_generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Installs a loaded copy unless vectors changed since `generation` was read.
    pub(crate) fn install_vectors(&self, index: vectors::VectorIndex, generation: u64) {
        let mut guard = self.vectors.write().unwrap_or_else(|p| p.into_inner());
        if self.generation.load(Ordering::SeqCst) == generation && self.model() == index.model {
            *guard = Some(index);
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

/// The file Claude runs read the MCP config from (owner-only: it holds the HTTP token, which
/// must not show in a process listing the way a command-line argument would).
pub const CLAUDE_MCP_FILE: &str = "claude-mcp.json";

/// `--mcp-config <file> --allowedTools <the four tools>` while the HTTP adapter runs (setting
/// `claude_mcp`, CONTRACT.md §16), else nothing. The file is rewritten for every run, so a
/// restarted adapter's port and token are always the current ones.
pub async fn claude_mcp_args(state: &MemoryState, data_dir: &std::path::Path) -> Vec<String> {
    let Some((port, token)) = state.http() else {
        return Vec::new();
    };
    let path = data_dir.join(CLAUDE_MCP_FILE);
    let text = mcp::config(port, &token).to_string();
    let target = path.clone();
    let written = crate::store::run_blocking(move || {
        write_private(&target, text.as_bytes())?;
        Ok(())
    })
    .await;
    if written.is_err() {
        return Vec::new();
    }
    vec![
        "--mcp-config".into(),
        path.to_string_lossy().into_owned(),
        "--allowedTools".into(),
        mcp::allowed_tools().join(","),
    ]
}

/// Writes a file readable by its owner only (replaced atomically).
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("json.tmp");
    let mut options = std::fs::OpenOptions::new();
    options.create(true).write(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)
}
