//! The Node-API binding of enttok-backend: converts types and errors, nothing more.
//!
//! Every operation crosses the boundary as JSON text (arguments in, result out); the thin
//! hand-written `index.js` turns that into objects, `Error`s with a `code`, `AbortSignal`s and
//! `Date` handling. All rules — validation included — live in `enttok-core`, so the JS API and
//! the HTTP API answer the same things. Work runs on one tokio runtime owned by this addon;
//! nothing here blocks the JS thread except the environment-teardown hook, which must finish
//! closing the backend before the environment goes away.

#![deny(clippy::unwrap_used, clippy::expect_used)]

mod completions;
mod embedder;
mod handlers;
mod lane;
mod ops;
mod runtime;
mod subscribe;

use std::sync::Arc;

use enttok_core::{Backend, Config};
use napi::bindgen_prelude::{Function, Object};
use napi::Env;
use napi_derive::napi;

pub(crate) use runtime::{promise, runtime, to_napi};

/// State shared by the JS object, its job handlers and the teardown hook.
pub(crate) struct Shared {
    pub backend: Backend,
    pub js_jobs: handlers::JsJobs,
    /// Embedding batches waiting for the JS embedder (`registerEmbedder`).
    pub embeds: Arc<embedder::PendingEmbeds>,
    #[cfg(feature = "http")]
    pub http: enttok_http::Slot,
}

impl Shared {
    /// Stops the HTTP adapter (if any) and closes the backend. Idempotent.
    pub async fn close(&self) -> enttok_core::Result<()> {
        #[cfg(feature = "http")]
        self.stop_http().await;
        self.backend.close().await
    }

    /// Stops the HTTP adapter if it runs (its WebSockets get close code 1001).
    #[cfg(feature = "http")]
    pub async fn stop_http(&self) {
        self.http.shutdown(&self.backend).await;
    }
}

/// The native side of `Backend` (wrapped by `index.js`).
#[napi]
pub struct NativeBackend {
    shared: Arc<Shared>,
    completions: completions::Completions,
    /// Closes the backend if its environment goes away first; removed by `close()`.
    teardown: std::cell::Cell<Option<runtime::TeardownHook>>,
}

/// Opens a backend. `options_json` is the JSON of `OpenOptions` (with `secretKey` as hex);
/// `on_answers(batchJson, columns)` receives the answers of `call` (see `completions`).
#[napi(
    ts_args_type = "optionsJson: string, onAnswers: (batchJson: string, columns: EventColumns[] | undefined | null) => void",
    ts_return_type = "Promise<NativeBackend>"
)]
pub fn open<'env>(
    env: &'env Env,
    options_json: String,
    on_answers: Function<'_, completions::Delivery, ()>,
) -> napi::Result<Object<'env>> {
    let answers = completions::Completions::channel(on_answers)?;
    let options: serde_json::Value = serde_json::from_str(&options_json).map_err(|e| {
        to_napi(
            &enttok_core::validate::too_deep(&e, &[serde_json::json!("options")]).unwrap_or_else(
                || enttok_core::Error::BadRequest(format!("options are not valid JSON: {e}")),
            ),
        )
    })?;
    let rt = runtime()?;
    let (deferred, promise) =
        env.create_deferred::<NativeBackend, runtime::Resolver<NativeBackend>>()?;
    rt.spawn(async move {
        let opened = match Config::from_options(&options) {
            Ok(config) => Backend::open(config).await,
            Err(err) => Err(err),
        };
        match opened {
            Ok(backend) => {
                let shared = Arc::new(Shared {
                    backend,
                    js_jobs: handlers::JsJobs::default(),
                    embeds: Arc::default(),
                    #[cfg(feature = "http")]
                    http: enttok_http::Slot::new(),
                });
                deferred.resolve(Box::new(move |env| {
                    let teardown = runtime::TeardownHook::add(&env, Arc::clone(&shared))?;
                    Ok(NativeBackend {
                        shared,
                        completions: completions::Completions::new(answers),
                        teardown: std::cell::Cell::new(Some(teardown)),
                    })
                }));
            }
            Err(err) => deferred.reject(to_napi(&err)),
        }
    });
    Ok(promise)
}

#[napi]
impl NativeBackend {
    /// Starts operation `op` with the JSON array `args_json`; its answer arrives later as
    /// `[id, 1, result]` or `[id, 0, error]` in a batch passed to `on_answers`.
    #[napi]
    pub fn call(&self, id: u32, op: String, args_json: String) -> napi::Result<()> {
        let Some(answers) = self.completions.sender() else {
            return Err(to_napi(&enttok_core::Error::Closed));
        };
        let shared = Arc::clone(&self.shared);
        lane::submit(Box::pin(async move {
            let work = Box::pin(async move { ops::dispatch(shared, &op, &args_json).await });
            // A panicking operation still answers (an internal error), never a promise that
            // hangs forever.
            let outcome = enttok_core::unwind::CatchUnwind(work)
                .await
                .unwrap_or_else(|_| Err(enttok_core::Error::internal("the operation panicked")));
            answers.complete(id, outcome);
        }))
    }

    /// `true` while calls are pending: their answers keep the event loop alive, like any
    /// pending I/O; `false` lets it go.
    #[napi]
    pub fn hold(&self, env: &Env, pending: bool) -> napi::Result<()> {
        self.completions.hold(env, pending)
    }

    /// Stops everything and closes the database. Idempotent.
    #[napi(ts_return_type = "Promise<string>")]
    pub fn close<'env>(&self, env: &'env Env) -> napi::Result<Object<'env>> {
        // Closed on request: the environment's teardown has nothing left to do, and the hook
        // must not keep this backend alive until the environment exits.
        if let Some(hook) = self.teardown.take() {
            hook.remove();
        }
        // The answer channel holds the JS callback, which holds this object: let go of it so
        // the closed backend can be collected (calls in flight keep the channel until they
        // have answered; later calls reject with E_CLOSED). The job dispatcher likewise,
        // below, once no job can start any more.
        self.completions.release();
        let shared = Arc::clone(&self.shared);
        promise(env, async move {
            shared.close().await?;
            // Only now: a job a worker starts while close() runs still reaches its handler
            // (whose signal then aborts at once).
            shared.js_jobs.release();
            Ok("null".to_string())
        })
    }

    /// Subscribes `callback` to the event stream; it receives JSON arrays of events (batches).
    /// The subscription never keeps the event loop alive. Returns `null` once closed.
    #[napi(ts_return_type = "NativeSubscription | null")]
    pub fn subscribe(
        &self,
        callback: Function<'_, String, ()>,
    ) -> napi::Result<Option<subscribe::NativeSubscription>> {
        subscribe::start(&self.shared.backend, callback)
    }

    /// Makes `job_type` a known type run by `dispatcher` (the JS layer's job runner).
    #[napi]
    pub fn register_job_handler(
        &self,
        job_type: String,
        max_attempts: u32,
        dispatcher: Function<'_, String, ()>,
    ) -> napi::Result<()> {
        handlers::register(&self.shared, &job_type, i64::from(max_attempts), dispatcher)
    }

    /// Registers the host's embedder (`registerEmbedder`, CONTRACT.md §15.5); `dispatcher`
    /// receives `{id, texts}` JSON and answers through `settle_embed`. Returns a generation
    /// number for `unregister_embedder`.
    #[napi]
    pub fn register_embedder(
        &self,
        model: String,
        dimensions: u32,
        batch_size: u32,
        dispatcher: Function<'_, String, ()>,
    ) -> napi::Result<u32> {
        embedder::register(&self.shared, model, dimensions, batch_size, dispatcher)
    }

    /// Unregisters the embedder of `generation` (a no-op once another one replaced it).
    #[napi]
    pub fn unregister_embedder(&self, generation: u32) {
        embedder::unregister(&self.shared, generation);
    }

    /// The JS answer of embedding batch `id`: the vectors as one `Float32Array`'s bytes
    /// (copied), or an error message. Pure bookkeeping: no I/O on the JS thread.
    #[napi]
    pub fn settle_embed(
        &self,
        id: u32,
        vectors: Option<napi::bindgen_prelude::Buffer>,
        error: Option<String>,
    ) {
        let answer = match (vectors, error) {
            (_, Some(message)) => Err(message),
            (Some(bytes), None) => embedder::floats(&bytes),
            (None, None) => Err("the embedder answered nothing".into()),
        };
        self.shared.embeds.settle(id, answer);
    }

    /// Delivers the outcome of a JS handler (`{"ok":true,"result":…}` or
    /// `{"ok":false,"message":…,"code":…}`). Pure bookkeeping: no I/O on the JS thread.
    #[napi]
    pub fn settle_job(&self, job_id: String, outcome_json: String) {
        self.shared.js_jobs.settle(&job_id, &outcome_json);
    }
}
