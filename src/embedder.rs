//! `registerEmbedder` (CONTRACT.md §15.5): the host's JS `embed(texts)` as a core
//! [`Embedder`].
//!
//! The core asks for a batch; a weak threadsafe function hands `{id, texts}` (JSON) to the JS
//! layer, which calls the user's function, checks and copies its answer into one
//! `Float32Array` (whatever the function threw or returned: a throwing getter, a Proxy, a
//! wrong count or dimension, NaN — all become a message) and answers `settleEmbed(id, …)`
//! with a copied `Buffer` (the V8 memory cage forbids external buffers, so nothing points
//! into Rust memory). The core checks count, dimension and finiteness again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use enttok_core::jobs::BoxFuture;
use enttok_core::memory::Embedder;
use napi::bindgen_prelude::Function;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::Status;
use serde_json::json;
use tokio::sync::oneshot;

type Dispatcher = ThreadsafeFunction<String, (), String, Status, false, true>;
type Answer = Result<Vec<f32>, String>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Batches waiting for their JS answer, shared by every embedder of one backend.
#[derive(Default)]
pub(crate) struct PendingEmbeds {
    next: AtomicU32,
    waiting: Mutex<HashMap<u32, oneshot::Sender<Answer>>>,
    /// The generation of the registered embedder (unregistering an older one is a no-op).
    generation: AtomicU32,
}

impl PendingEmbeds {
    /// Hands a JS answer to the waiting batch (ignored when nobody waits any more).
    pub fn settle(&self, id: u32, answer: Answer) {
        if let Some(tx) = lock(&self.waiting).remove(&id) {
            let _ = tx.send(answer);
        }
    }
}

/// A JS embedder.
struct JsEmbedder {
    model: String,
    dimensions: usize,
    batch_size: usize,
    dispatcher: Arc<Dispatcher>,
    pending: Arc<PendingEmbeds>,
}

/// Removes a batch's waiter when its future is dropped (a canceled job, a search timeout).
struct Waiter {
    id: u32,
    pending: Arc<PendingEmbeds>,
}

impl Drop for Waiter {
    fn drop(&mut self) {
        lock(&self.pending.waiting).remove(&self.id);
    }
}

impl Embedder for JsEmbedder {
    fn model(&self) -> &str {
        &self.model
    }

    fn dimensions(&self) -> usize {
        self.dimensions
    }

    fn batch_size(&self) -> usize {
        self.batch_size
    }

    fn embed(&self, texts: Vec<String>) -> BoxFuture<Answer> {
        let pending = Arc::clone(&self.pending);
        let dispatcher = Arc::clone(&self.dispatcher);
        Box::pin(async move {
            let id = pending.next.fetch_add(1, Ordering::Relaxed);
            let (tx, rx) = oneshot::channel();
            lock(&pending.waiting).insert(id, tx);
            let _waiter = Waiter {
                id,
                pending: Arc::clone(&pending),
            };
            let message = json!({ "id": id, "texts": texts }).to_string();
            if dispatcher.call(message, ThreadsafeFunctionCallMode::NonBlocking) != Status::Ok {
                return Err("the JS environment of the embedder is gone".into());
            }
            rx.await
                .unwrap_or_else(|_| Err("the embedder never answered".into()))
        })
    }
}

/// Registers a JS embedder; returns its generation (for `unregister`).
pub(crate) fn register(
    shared: &Arc<crate::Shared>,
    model: String,
    dimensions: u32,
    batch_size: u32,
    dispatcher: Function<'_, String, ()>,
) -> napi::Result<u32> {
    shared
        .backend
        .check_open()
        .map_err(|e| crate::to_napi(&e))?;
    let tsfn = dispatcher
        .build_threadsafe_function::<String>()
        .weak::<true>()
        .build()?;
    let embedder = JsEmbedder {
        model,
        dimensions: dimensions as usize,
        batch_size: batch_size as usize,
        dispatcher: Arc::new(tsfn),
        pending: Arc::clone(&shared.embeds),
    };
    let generation = shared.embeds.generation.fetch_add(1, Ordering::SeqCst) + 1;
    shared
        .backend
        .register_embedder(Some(Arc::new(embedder)))
        .map_err(|e| crate::to_napi(&e))?;
    Ok(generation)
}

/// Unregisters the embedder of `generation` if it is still the registered one.
pub(crate) fn unregister(shared: &Arc<crate::Shared>, generation: u32) {
    if shared.embeds.generation.load(Ordering::SeqCst) == generation {
        let _ = shared.backend.register_embedder(None);
    }
}

/// Little-endian `f32`s out of the bytes of a JS `Float32Array` (copied).
pub(crate) fn floats(bytes: &[u8]) -> Answer {
    if !bytes.len().is_multiple_of(4) {
        return Err("the embedder's vectors are not whole 32-bit floats".into());
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}
