//! The addon's tokio runtime, promise plumbing, error conversion and teardown.

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use napi::bindgen_prelude::{Object, ToNapiValue};
use napi::{Env, Status};
use tokio::runtime::Runtime;

use crate::Shared;

/// The resolver type of our deferred promises.
pub(crate) type Resolver<T> = Box<dyn FnOnce(Env) -> napi::Result<T>>;

static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();

/// The one runtime of the process, shared by every backend and every JS environment (main
/// thread and worker threads). It is never shut down: environments come and go, the runtime
/// stays, so a worker thread exiting cannot take other backends' tasks with it.
pub(crate) fn runtime() -> napi::Result<&'static Runtime> {
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .max_blocking_threads(32)
                .thread_name("enttok-backend")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| {
            to_napi(&enttok_core::Error::internal(format!(
                "cannot start the runtime: {e}"
            )))
        })
}

/// A core error as a napi error whose message is the JSON `{code, status, detail, message}`;
/// `index.js` rebuilds a proper `Error` from it.
pub(crate) fn to_napi(err: &enttok_core::Error) -> napi::Error {
    napi::Error::new(Status::GenericFailure, err.to_json().to_string())
}

/// Runs `fut` on the runtime and returns a Promise settled with its outcome. The pending
/// promise keeps the event loop alive (like any pending I/O), unlike event subscriptions.
pub(crate) fn promise<'env, T, F>(env: &'env Env, fut: F) -> napi::Result<Object<'env>>
where
    T: ToNapiValue + Send + 'static,
    F: Future<Output = enttok_core::Result<T>> + Send + 'static,
{
    let rt = runtime()?;
    let (deferred, promise) = env.create_deferred::<T, Resolver<T>>()?;
    rt.spawn(async move {
        match fut.await {
            Ok(value) => deferred.resolve(Box::new(move |_| Ok(value))),
            Err(err) => deferred.reject(to_napi(&err)),
        }
    });
    Ok(promise)
}

/// Closes the backend when its JS environment is torn down (app quit, `worker.terminate()`):
/// workers stop, children are killed and the database is flushed even if the host never
/// called `close()`. Bounded so a stuck handler cannot hang the host's exit.
pub(crate) fn close_on_teardown(env: &Env, shared: Arc<Shared>) -> napi::Result<()> {
    env.add_env_cleanup_hook(shared, |shared| {
        let Ok(rt) = runtime() else { return };
        let (tx, rx) = std::sync::mpsc::channel();
        rt.spawn(async move {
            let _ = tokio::time::timeout(Duration::from_secs(7), shared.close()).await;
            let _ = tx.send(());
        });
        // This hook runs on the JS thread of the dying environment, never on a runtime thread,
        // so waiting here cannot deadlock the runtime.
        let _ = rx.recv_timeout(Duration::from_secs(8));
    })?;
    Ok(())
}
