//! Answers of `NativeBackend.call`, delivered to JS in batches through one threadsafe function.
//!
//! A napi-rs deferred promise builds (and tears down) a threadsafe function — with its own
//! libuv async handle — for every call, and each answer wakes the JS thread on its own. Both
//! showed as the main cost of a small call. Here each `NativeBackend` has one threadsafe
//! function: a finished call appends `[id, ok, json]` to a shared buffer, and only the answer
//! that finds the buffer empty schedules a JS call; that call takes everything buffered by
//! then. `index.js` keeps the promises by id and settles them from the batch.
//!
//! The function is weak (it never keeps Node alive by itself); while calls are pending,
//! `index.js` holds it (`hold(true)`), so a pending call keeps the process alive exactly like a
//! pending promise of any other I/O.

use std::cell::Cell;
use std::sync::{Arc, Mutex};

use napi::bindgen_prelude::Function;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Env, Status};

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The threadsafe function that hands a batch (a JSON array text) to the JS callback.
type Deliver = ThreadsafeFunction<(), (), String, Status, false, true>;

/// Where finished calls wait for the JS thread.
#[derive(Default)]
struct Buffer {
    /// `[id,ok,json]` entries joined by commas; empty when no delivery is scheduled.
    entries: Mutex<String>,
}

impl Buffer {
    /// Takes every buffered answer as one JSON array text.
    fn take_batch(&self) -> String {
        let entries = std::mem::take(&mut *lock(&self.entries));
        let mut batch = String::with_capacity(entries.len() + 2);
        batch.push('[');
        batch.push_str(&entries);
        batch.push(']');
        batch
    }
}

/// The sending side, cloned into every call's task.
#[derive(Clone)]
pub(crate) struct Sender {
    buffer: Arc<Buffer>,
    deliver: Arc<Deliver>,
}

impl Sender {
    /// Buffers the answer of call `id` and schedules a delivery if none is pending.
    pub fn complete(&self, id: u32, outcome: enttok_core::Result<String>) {
        let entry = match outcome {
            Ok(json) => format!("[{id},1,{json}]"),
            Err(err) => format!("[{id},0,{}]", err.to_json()),
        };
        let first = {
            let mut entries = lock(&self.buffer.entries);
            let first = entries.is_empty();
            if !first {
                entries.push(',');
            }
            entries.push_str(&entry);
            first
        };
        if first {
            // A failure means the environment is going away: nobody is left to answer.
            let _ = self
                .deliver
                .call((), ThreadsafeFunctionCallMode::NonBlocking);
        }
    }
}

/// The JS-thread side, owned by the `NativeBackend`.
pub(crate) struct Completions {
    sender: Sender,
    /// Whether the function currently keeps the event loop alive.
    held: Cell<bool>,
}

impl Completions {
    /// Wires `callback(batchJson)` as the receiver of answers (on the JS thread).
    pub fn channel(callback: Function<'_, String, ()>) -> napi::Result<Sender> {
        let buffer = Arc::new(Buffer::default());
        let source = Arc::clone(&buffer);
        let deliver: Deliver = callback
            .build_threadsafe_function::<()>()
            .weak::<true>()
            .build_callback(move |_| Ok(source.take_batch()))?;
        Ok(Sender {
            buffer,
            deliver: Arc::new(deliver),
        })
    }

    /// The JS-thread side of a channel.
    pub fn new(sender: Sender) -> Completions {
        Completions {
            sender,
            held: Cell::new(false),
        }
    }

    /// A sender for one call's task.
    pub fn sender(&self) -> Sender {
        self.sender.clone()
    }

    /// Keeps the event loop alive (`true`, calls are pending) or lets it go (`false`).
    pub fn hold(&self, env: &Env, on: bool) -> napi::Result<()> {
        if self.held.get() == on {
            return Ok(());
        }
        let raw = self.sender.deliver.raw();
        // SAFETY: called on the JS thread of the environment that created the function (this
        // object is a napi class instance, only reachable from that thread), while that
        // environment is alive; `self` owns the function through `sender`, so it has not been
        // released. napi-rs only offers `refer`/`unref` on `&mut`, which a shared function
        // cannot give.
        let status = unsafe {
            if on {
                napi::sys::napi_ref_threadsafe_function(env.raw(), raw)
            } else {
                napi::sys::napi_unref_threadsafe_function(env.raw(), raw)
            }
        };
        if status != napi::sys::Status::napi_ok {
            return Err(napi::Error::new(
                Status::GenericFailure,
                "cannot change the keep-alive state of the answer channel",
            ));
        }
        self.held.set(on);
        Ok(())
    }
}
