//! Answers of `NativeBackend.call`, delivered to JS in batches through one threadsafe function.
//!
//! A napi-rs deferred promise builds (and tears down) a threadsafe function — with its own
//! libuv async handle — for every call, and each answer wakes the JS thread on its own. Both
//! showed as the main cost of a small call. Here each `NativeBackend` has one threadsafe
//! function: a finished call appends `[id, ok, json]` to a shared buffer, and only the answer
//! that finds the buffer empty schedules a JS call; that call takes everything buffered by
//! then. `index.js` keeps the promises by id and settles them from the batch.
//!
//! `listCalendarEvents` answers in columns instead of JSON (`ops::Answer::Events`): its entry
//! is `[id, 2, k]` and the columns travel beside the batch text, as the `k`-th element of the
//! second argument (strings and typed arrays; `index.js` builds the objects).
//!
//! The function is weak (it never keeps Node alive by itself); while calls are pending,
//! `index.js` holds it (`hold(true)`), so a pending call keeps the process alive exactly like a
//! pending promise of any other I/O.

use std::cell::Cell;
use std::fmt::Write;
use std::sync::{Arc, Mutex};

use napi::bindgen_prelude::{Float64Array, FnArgs, Function, Uint32Array};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Env, Status};
use napi_derive::napi;

use crate::ops::Answer;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `CalendarEvent[]` in columns (see `enttok_core::calendar::EventColumns` for the shape).
#[napi(object)]
pub struct EventColumns {
    pub texts: Vec<String>,
    pub ends: Uint32Array,
    pub spans: Uint32Array,
    pub json: String,
    pub cells: Float64Array,
}

impl From<enttok_core::calendar::EventColumns> for EventColumns {
    fn from(c: enttok_core::calendar::EventColumns) -> Self {
        EventColumns {
            texts: c.texts,
            ends: Uint32Array::new(c.ends),
            spans: Uint32Array::new(c.spans),
            json: c.json,
            cells: Float64Array::new(c.cells),
        }
    }
}

/// What one delivery hands to the JS callback: the batch text and the columns it refers to
/// (`None` when it refers to none, the usual case).
pub(crate) type Delivery = FnArgs<(String, Option<Vec<EventColumns>>)>;

/// The threadsafe function that hands a batch to the JS callback.
type Deliver = ThreadsafeFunction<(), (), Delivery, Status, false, true>;

/// Answers waiting for the JS thread.
#[derive(Default)]
struct Pending {
    /// `[id,ok,json]` entries joined by commas; empty when no delivery is scheduled.
    entries: String,
    /// The columns of `[id,2,k]` entries, `k` being the index here.
    columns: Vec<enttok_core::calendar::EventColumns>,
}

/// Where finished calls wait for the JS thread.
#[derive(Default)]
struct Buffer {
    pending: Mutex<Pending>,
}

impl Buffer {
    /// Takes every buffered answer: one JSON array text and the columns it refers to.
    fn take_batch(&self) -> Delivery {
        let Pending { entries, columns } = std::mem::take(&mut *lock(&self.pending));
        let mut batch = String::with_capacity(entries.len() + 2);
        batch.push('[');
        batch.push_str(&entries);
        batch.push(']');
        let columns =
            (!columns.is_empty()).then(|| columns.into_iter().map(EventColumns::from).collect());
        (batch, columns).into()
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
    pub fn complete(&self, id: u32, outcome: enttok_core::Result<Answer>) {
        let first = {
            let mut pending = lock(&self.buffer.pending);
            let first = pending.entries.is_empty();
            if !first {
                pending.entries.push(',');
            }
            // Written in place: a large answer is not copied once more through `format!`.
            let Pending { entries, columns } = &mut *pending;
            // Writing to a `String` cannot fail.
            let _ = match outcome {
                Ok(Answer::Json(json)) => {
                    let written = write!(entries, "[{id},1,");
                    entries.push_str(&json);
                    entries.push(']');
                    written
                }
                Ok(Answer::Events(events)) => {
                    columns.push(events);
                    write!(entries, "[{id},2,{}]", columns.len() - 1)
                }
                Err(err) => write!(entries, "[{id},0,{}]", err.to_json()),
            };
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
///
/// The threadsafe function holds a strong reference to the JS callback, which reaches the
/// `Backend` object and through it this struct: a cycle through a GC root. `release` (at
/// `close()`) drops this side's reference, so the function is released as soon as the calls
/// still in flight have answered, and the closed backend can be collected.
pub(crate) struct Completions {
    sender: std::cell::RefCell<Option<Sender>>,
    /// Whether the function currently keeps the event loop alive.
    held: Cell<bool>,
}

impl Completions {
    /// Wires `callback(batchJson)` as the receiver of answers (on the JS thread).
    pub fn channel(callback: Function<'_, Delivery, ()>) -> napi::Result<Sender> {
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
            sender: std::cell::RefCell::new(Some(sender)),
            held: Cell::new(false),
        }
    }

    /// A sender for one call's task; `None` once released.
    pub fn sender(&self) -> Option<Sender> {
        self.sender.borrow().clone()
    }

    /// Drops this side's reference to the channel (see the type's doc).
    pub fn release(&self) {
        self.sender.borrow_mut().take();
    }

    /// Keeps the event loop alive (`true`, calls are pending) or lets it go (`false`).
    pub fn hold(&self, env: &Env, on: bool) -> napi::Result<()> {
        if self.held.get() == on {
            return Ok(());
        }
        let sender = self.sender.borrow();
        // Released: the calls still in flight hold the function (ref'd or not, as it was) and
        // release it when they have answered.
        let Some(sender) = sender.as_ref() else {
            return Ok(());
        };
        let raw = sender.deliver.raw();
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
