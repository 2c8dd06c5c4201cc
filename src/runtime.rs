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
///
/// The hook owns a strong reference to the backend until it fires or is removed by
/// `close()`. Removing it must also free that reference, or every open/close cycle would keep
/// a closed backend alive until the environment exits; napi-rs's `remove_env_cleanup_hook`
/// leaves its boxed data behind, hence this small wrapper over the raw Node-API calls.
pub(crate) struct TeardownHook {
    env: napi::sys::napi_env,
    data: *mut Arc<Shared>,
}

unsafe extern "C" fn on_teardown(data: *mut std::ffi::c_void) {
    // SAFETY: `data` is the box made by `TeardownHook::add`; Node-API calls this once, and
    // only if the hook was not removed (removal frees the box instead).
    let shared = unsafe { Box::from_raw(data.cast::<Arc<Shared>>()) };
    close_blocking(*shared);
}

impl TeardownHook {
    /// Registers the hook of `shared` in the environment of `env`.
    pub(crate) fn add(env: &Env, shared: Arc<Shared>) -> napi::Result<TeardownHook> {
        let data = Box::into_raw(Box::new(shared));
        // SAFETY: a valid env of the current thread; `data` stays valid until the hook fires
        // or is removed.
        let status = unsafe {
            napi::sys::napi_add_env_cleanup_hook(env.raw(), Some(on_teardown), data.cast())
        };
        if status != napi::sys::Status::napi_ok {
            // SAFETY: not registered, so still ours.
            drop(unsafe { Box::from_raw(data) });
            return Err(napi::Error::from_reason(
                "cannot register the teardown hook",
            ));
        }
        Ok(TeardownHook {
            env: env.raw(),
            data,
        })
    }

    /// Unregisters the hook and drops its reference (after `close()`, on the JS thread).
    pub(crate) fn remove(self) {
        // SAFETY: called on the JS thread of the environment that registered the hook, which
        // is still alive (a method of its object is running).
        let status = unsafe {
            napi::sys::napi_remove_env_cleanup_hook(self.env, Some(on_teardown), self.data.cast())
        };
        if status == napi::sys::Status::napi_ok {
            // SAFETY: unregistered: Node-API will never call `on_teardown` with it.
            drop(unsafe { Box::from_raw(self.data) });
        }
    }
}

/// Closes `shared` from the dying environment's JS thread, waiting at most a few seconds.
fn close_blocking(shared: Arc<Shared>) {
    let Ok(rt) = runtime() else { return };
    let (tx, rx) = std::sync::mpsc::channel();
    rt.spawn(async move {
        let _ = tokio::time::timeout(Duration::from_secs(7), shared.close()).await;
        let _ = tx.send(());
    });
    // This hook runs on the JS thread of the dying environment, never on a runtime thread, so
    // waiting here cannot deadlock the runtime.
    let _ = rx.recv_timeout(Duration::from_secs(8));
}
