//! The one adapter a backend may run at a time, as the JS binding's `startHttp`/`stopHttp`
//! see it: the options are validated like every other input, a second start is a 409, and
//! starting points the core's Google OAuth redirects and MCP endpoint at the adapter.

use enttok_core::validate::{Fields, Source};
use enttok_core::{Backend, Error, Result};
use serde_json::{json, Value};
use tokio::sync::Mutex;

use crate::{start, HttpOptions, HttpServer};

/// Holds the running adapter of one backend, if any.
#[derive(Default)]
pub struct Slot {
    server: Mutex<Option<HttpServer>>,
}

impl Slot {
    /// An empty slot.
    pub fn new() -> Slot {
        Slot::default()
    }

    /// `startHttp({ port?, token?, origins? })`: starts the adapter and answers
    /// `{ port, token, url }`. `E_CLOSED` once closed, 422 for bad options, 409 when it
    /// already runs.
    pub async fn start(&self, backend: &Backend, options: &Value) -> Result<Value> {
        backend.check_open()?;
        let options = options_of(options)?;
        let mut slot = self.server.lock().await;
        if slot.is_some() {
            return Err(Error::Conflict(
                "the HTTP adapter is already running".into(),
            ));
        }
        let server = start(backend.clone(), options).await?;
        let answer = json!({ "port": server.port(), "token": server.token(), "url": server.url() });
        // OAuth redirects now go to the adapter's own callback route (CONTRACT.md §8.1).
        backend.set_http_port(Some(server.port()));
        // `mcpConfig()` and Claude runs' `--mcp-config` point at this adapter (CONTRACT.md §16).
        backend.set_mcp_endpoint(Some((server.port(), server.token().to_string())));
        *slot = Some(server);
        Ok(answer)
    }

    /// `stopHttp()`: `E_CLOSED` once closed, else [`Slot::shutdown`].
    pub async fn stop(&self, backend: &Backend) -> Result<()> {
        backend.check_open()?;
        self.shutdown(backend).await;
        Ok(())
    }

    /// Stops the adapter if it runs (its WebSockets get close code 1001); OAuth redirects and
    /// the MCP endpoint go back to their defaults. Idempotent; also while the backend closes.
    pub async fn shutdown(&self, backend: &Backend) {
        if let Some(server) = self.server.lock().await.take() {
            server.stop().await;
            backend.set_http_port(None);
            backend.set_mcp_endpoint(None);
        }
    }
}

/// The options of `startHttp`, validated like every other input (`loc` `["options", …]`).
fn options_of(options: &Value) -> Result<HttpOptions> {
    let mut f = Fields::new(Source::Options, options);
    let port = f.optional_int("port", Some(0), Some(65535));
    let token = f.optional_str("token", 1);
    let origins = f.optional_str_list("origins");
    f.finish()?;
    Ok(HttpOptions {
        port: port.unwrap_or(0) as u16,
        token,
        origins: origins.unwrap_or_default(),
    })
}
