//! The listener: binding, the accept loop, one hyper HTTP/1 connection per client, and stop.

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use enttok_core::{Backend, Error, Result};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::runtime::{Handle, Runtime};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::task::TaskTracker;

use crate::guard::Guard;
use crate::pipeline::{handle, State};
use crate::router::Router;

/// Options of [`start`] (JS `startHttp({port, token, origins})`).
#[derive(Debug, Clone, Default)]
pub struct HttpOptions {
    /// The port on 127.0.0.1; 0 = any free port.
    pub port: u16,
    /// The token clients must send; `None` = 32 random bytes in hex.
    pub token: Option<String>,
    /// Origins allowed in addition to the defaults (`http://localhost:5173`,
    /// `http://127.0.0.1:5173`, `app://.`).
    pub origins: Vec<String>,
}

/// Timing knobs. The defaults are the contract's; tests shorten them.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub struct Tuning {
    /// WebSocket ping period (§3.4: 20 s).
    pub ping_interval: Duration,
    /// How long a pong may take before the socket is closed (§3.4: 20 s).
    pub pong_timeout: Duration,
    /// Deadline of one WebSocket write; a client stalled longer is dropped.
    pub write_timeout: Duration,
    /// Deadline for a client to send a request's headers (slow-loris defence).
    pub header_read_timeout: Duration,
    /// Deadline for a client to send a request's whole body (408 after it).
    pub body_read_timeout: Duration,
    /// Where connections run: `true` = the adapter's own thread with a current-thread tokio
    /// runtime (the default, see [`Threads`]); `false` = the caller's runtime.
    pub dedicated_thread: bool,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            ping_interval: Duration::from_secs(20),
            pong_timeout: Duration::from_secs(20),
            write_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(30),
            body_read_timeout: Duration::from_secs(30),
            dedicated_thread: true,
        }
    }
}

/// How long `stop` waits for open connections to finish before leaving them to their own
/// deadlines.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// A running adapter. Dropping it signals the same shutdown as [`HttpServer::stop`] without
/// waiting for it.
pub struct HttpServer {
    /// Kept to tell the core when the adapter stops (OAuth redirect port, §8.1).
    backend: Backend,
    port: u16,
    token: String,
    shutdown: watch::Sender<bool>,
    tracker: TaskTracker,
    accept: Mutex<Option<JoinHandle<()>>>,
    stopped: tokio::sync::OnceCell<()>,
}

impl std::fmt::Debug for HttpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token is a secret: never printed.
        f.debug_struct("HttpServer")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

/// Starts the adapter on `127.0.0.1:<port>` (CONTRACT.md §1.1 `startHttp`); must run inside a
/// tokio runtime, which then also runs the connections. It also tells the core its port
/// (`Backend::set_http_port`), so Google OAuth redirects come back to this server's callback
/// route until [`HttpServer::stop`] (or a drop) gives them back to the core's own loopback
/// listener (CONTRACT.md §8.1 step 2). A taken port is
/// `Error::Conflict`; a given token that is empty or not visible ASCII is `Error::BadRequest`.
pub async fn start(backend: Backend, options: HttpOptions) -> Result<HttpServer> {
    start_tuned(backend, options, Tuning::default()).await
}

/// [`start`] with other timings (tests).
#[doc(hidden)]
pub async fn start_tuned(
    backend: Backend,
    options: HttpOptions,
    tuning: Tuning,
) -> Result<HttpServer> {
    backend.check_open()?;
    let token = match options.token {
        Some(token) => check_token(token)?,
        None => enttok_core::ids::hex(&enttok_core::ids::random_bytes::<32>()),
    };
    // Bound before any runtime exists, so a taken port fails fast and cleanly.
    let socket = bind(options.port)?;
    // The caller's runtime: the core's own tasks (jobs, spawn_blocking, timers) belong there.
    let core_rt = Handle::try_current()
        .map_err(|_| Error::internal("the HTTP adapter must be started inside a tokio runtime"))?;
    let threads = Threads::new(tuning.dedicated_thread, &core_rt)?;
    let listener = {
        // The listener registers with the runtime that serves it.
        let _serving = threads.handle().enter();
        socket.listen(1024)?
    };
    let port = listener.local_addr()?.port();
    let router = Router::new(crate::routes::all());
    let openapi = Bytes::from(crate::openapi::document(&router).to_string());
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let tracker = TaskTracker::new();
    let state = Arc::new(State {
        backend: backend.clone(),
        core_rt,
        router,
        guard: Guard::new(port, &token, &options.origins),
        port,
        openapi,
        shutdown: shutdown_rx.clone(),
        tracker: tracker.clone(),
        tuning,
    });
    let accept = threads.handle().spawn(accept_loop(state, listener));
    threads.run(shutdown_rx, tracker.clone())?;
    // Google OAuth redirects now come back to this server's callback route (§8.1 step 2).
    backend.set_http_port(Some(port));
    Ok(HttpServer {
        backend,
        port,
        token,
        shutdown: shutdown_tx,
        tracker,
        accept: Mutex::new(Some(accept)),
        stopped: tokio::sync::OnceCell::new(),
    })
}

/// The runtime the connections run on.
///
/// Why a dedicated thread by default: a request to this adapter is a few microseconds of work
/// and its cost is dominated by wake-ups. On the core's multi-thread runtime every readable
/// socket may wake a parked second worker (futex + context switch) and tasks migrate between
/// the workers; one thread with a current-thread runtime drains every ready socket per
/// `epoll_wait` without any of that, and leaves the core's workers to the jobs. Handlers still
/// run the core on the core's runtime context (see `pipeline::InCore`), so nothing the core
/// spawns ever lands on (or dies with) this thread.
enum Threads {
    /// Connections share the caller's runtime.
    Caller(Handle),
    /// Connections run on `enttok-http`, a thread of their own.
    Dedicated(OwnedRuntime, Handle),
}

/// A runtime that may be dropped anywhere: `start` runs in an async context, where dropping a
/// `Runtime` panics, so a failed start shuts it down in the background instead.
struct OwnedRuntime(Option<Runtime>);

impl Drop for OwnedRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

impl Threads {
    fn new(dedicated: bool, caller: &Handle) -> Result<Threads> {
        if !dedicated {
            return Ok(Threads::Caller(caller.clone()));
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        Ok(Threads::Dedicated(OwnedRuntime(Some(runtime)), handle))
    }

    fn handle(&self) -> &Handle {
        match self {
            Threads::Caller(handle) => handle,
            Threads::Dedicated(_, handle) => handle,
        }
    }

    /// Starts the dedicated thread (nothing to do on the caller's runtime). The thread drives
    /// its runtime until shutdown is signalled and the open connections are finished (or the
    /// grace period is over), then drops the runtime, which also drops what is left.
    fn run(self, mut shutdown: watch::Receiver<bool>, tracker: TaskTracker) -> Result<()> {
        let Threads::Dedicated(mut owned, _) = self else {
            return Ok(());
        };
        // If the thread cannot start, the closure (and `owned` in it) is dropped right here,
        // in async context, which `OwnedRuntime` handles.
        std::thread::Builder::new()
            .name("enttok-http".into())
            .spawn(move || {
                let Some(runtime) = owned.0.take() else {
                    return;
                };
                runtime.block_on(async {
                    wait_shutdown(&mut shutdown).await;
                    tracker.close();
                    // `stop` waits STOP_GRACE; keep serving a little longer than that.
                    let _ =
                        tokio::time::timeout(STOP_GRACE + Duration::from_secs(1), tracker.wait())
                            .await;
                });
                runtime.shutdown_timeout(Duration::from_millis(100));
            })?;
        Ok(())
    }
}

/// Binds `127.0.0.1:<port>` the way `TcpListener::bind` does (`SO_REUSEADDR` except on
/// Windows, where it would let another process share the port); `listen` follows inside the
/// serving runtime's context. Binding a loopback socket never waits.
fn bind(port: u16) -> Result<TcpSocket> {
    let addr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port));
    let socket = TcpSocket::new_v4()?;
    #[cfg(not(windows))]
    socket.set_reuseaddr(true)?;
    socket.bind(addr).map_err(|err| bind_error(port, err))?;
    Ok(socket)
}

fn check_token(token: String) -> Result<String> {
    if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::BadRequest(
            "token must be a non-empty string of visible ASCII characters".into(),
        ));
    }
    Ok(token)
}

fn bind_error(port: u16, err: std::io::Error) -> Error {
    if err.kind() == std::io::ErrorKind::AddrInUse {
        Error::Conflict(format!("port {port} is already in use"))
    } else {
        Error::from(err)
    }
}

impl HttpServer {
    /// The listening port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The token clients must send.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Closes the listener (the port is free when this returns), ends keep-alive connections
    /// after their current request, and closes every WebSocket with code 1001. OAuth redirects
    /// go back to the core's own loopback listener. Idempotent: a second call waits for the
    /// first.
    pub async fn stop(&self) {
        self.stopped
            .get_or_init(|| async {
                self.backend.set_http_port(None);
                self.shutdown.send_replace(true);
                let accept = self
                    .accept
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .take();
                if let Some(accept) = accept {
                    // The loop returns promptly once signalled; dropping it drops the listener.
                    let _ = accept.await;
                }
                self.tracker.close();
                let _ = tokio::time::timeout(STOP_GRACE, self.tracker.wait()).await;
            })
            .await;
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        if !self.stopped.initialized() {
            // Dropped without `stop`: no redirect may point at a port nobody serves.
            self.backend.set_http_port(None);
        }
        self.shutdown.send_replace(true);
    }
}

/// Resolves once shutdown is signalled (or the server handle is gone).
pub(crate) async fn wait_shutdown(rx: &mut watch::Receiver<bool>) {
    // `wait_for` fails only when the sender is gone, which also means: stop.
    let _ = rx.wait_for(|stop| *stop).await;
}

async fn accept_loop(state: Arc<State>, listener: TcpListener) {
    let mut shutdown = state.shutdown.clone();
    loop {
        tokio::select! {
            biased;
            _ = wait_shutdown(&mut shutdown) => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => {
                    state.tracker.spawn(serve_connection(Arc::clone(&state), tcp));
                }
                // Out of file descriptors and the like: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            },
        }
    }
}

async fn serve_connection(state: Arc<State>, tcp: TcpStream) {
    // Small JSON answers: send them now rather than waiting for Nagle.
    let _ = tcp.set_nodelay(true);
    let mut shutdown = state.shutdown.clone();
    let header_timeout = state.tuning.header_read_timeout;
    let service = service_fn(move |req| {
        let state = Arc::clone(&state);
        async move { Ok::<_, Infallible>(handle(state, req).await) }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_buf_size(64 * 1024)
        .serve_connection(TokioIo::new(tcp), service)
        .with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = wait_shutdown(&mut shutdown) => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(2), conn).await;
        }
    }
}
