//! Event delivery to JS listeners.
//!
//! One forwarding task per subscription takes what the bus has (a batch), hands it to JS as one
//! JSON array through a *weak* threadsafe function (it never keeps Node alive), and waits until
//! JS has run the listener before sending the next batch. So at most one batch is in flight;
//! while JS is busy, events wait in the bus's bounded window, and a listener that falls too far
//! behind gets a `lagged` event with the number it missed instead of unbounded memory.

use enttok_core::Backend;
use napi::bindgen_prelude::Function;
use napi_derive::napi;
use tokio_util::sync::CancellationToken;

use crate::runtime;

/// Most events handed to JS in one call.
const MAX_BATCH: usize = 4096;

/// A live subscription; `unsubscribe()` ends it (idempotent).
#[napi]
pub struct NativeSubscription {
    stop: CancellationToken,
}

#[napi]
impl NativeSubscription {
    /// Ends the subscription.
    #[napi]
    pub fn unsubscribe(&self) {
        self.stop.cancel();
    }
}

pub(crate) fn start(
    backend: &Backend,
    callback: Function<'_, String, ()>,
) -> napi::Result<Option<NativeSubscription>> {
    let Some(mut sub) = backend.subscribe() else {
        return Ok(None);
    };
    let tsfn = callback
        .build_threadsafe_function::<String>()
        .weak::<true>()
        .build()?;
    let stop = CancellationToken::new();
    let token = stop.clone();
    runtime()?.spawn(async move {
        loop {
            let batch = tokio::select! {
                batch = sub.recv_batch(MAX_BATCH) => batch,
                _ = token.cancelled() => break,
            };
            let Some(batch) = batch else { break };
            let mut json =
                String::with_capacity(batch.iter().map(|e| e.len() + 1).sum::<usize>() + 2);
            json.push('[');
            for (i, event) in batch.iter().enumerate() {
                if i > 0 {
                    json.push(',');
                }
                json.push_str(event);
            }
            json.push(']');
            if token.is_cancelled() {
                break;
            }
            // A listener error was already caught in JS; an error here means the environment
            // is going away, which ends the subscription.
            if let Err(err) = tsfn.call_async_catch(json).await {
                if err.status == napi::Status::Closing {
                    break;
                }
            }
        }
    });
    Ok(Some(NativeSubscription { stop }))
}
