//! The request pipeline of CONTRACT.md §3.2. The order of the steps is binding: Host, CORS
//! preflight, Origin, routing, token, body size, body decoding, then the handler (which calls
//! the core, where validation lives).

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use enttok_core::unwind::CatchUnwind;
use enttok_core::{Backend, Error, Event, Level};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CONNECTION, HOST, LOCATION};
use hyper::{Request, Response, StatusCode};
use serde_json::Value;
use tokio::runtime::Handle;
use tokio::sync::watch;
use tokio_util::task::TaskTracker;

use crate::guard::{is_preflight, preflight, Guard, OriginCheck, TOKEN_HEADER};
use crate::input::{declared_too_large, decode_body, drain, parse_query, read_body, BodyError};
use crate::reply::{add_cors, error_reply, into_response, Body, Reply};
use crate::router::{Access, Action, Call, Lookup, Route, Router};
use crate::server::Tuning;

/// Everything a request needs, shared by every connection of one server.
pub(crate) struct State {
    pub(crate) backend: Backend,
    /// The runtime the core runs on (the caller of `start`); handlers run in its context.
    pub(crate) core_rt: Handle,
    pub(crate) router: Router,
    pub(crate) guard: Guard,
    pub(crate) port: u16,
    /// The OpenAPI document, serialized once at start.
    pub(crate) openapi: Bytes,
    pub(crate) shutdown: watch::Receiver<bool>,
    pub(crate) tracker: TaskTracker,
    pub(crate) tuning: Tuning,
}

/// Answers one request. Never fails: every problem is an HTTP answer.
pub(crate) async fn handle(state: Arc<State>, req: Request<Incoming>) -> Response<Body> {
    // 1. Host (DNS-rebinding defence).
    if !state.guard.host_ok(req.headers(), req.uri()) {
        return into_response(Reply::detail(StatusCode::FORBIDDEN, "invalid host"));
    }
    let origin = state.guard.origin(req.headers());
    // 2. CORS preflight, answered without a token.
    if is_preflight(req.method(), req.headers()) {
        return preflight(origin, req.headers());
    }
    // 3. Origin allow-list.
    let allowed = match origin {
        OriginCheck::Refused => {
            return into_response(Reply::detail(StatusCode::FORBIDDEN, "origin not allowed"))
        }
        OriginCheck::Allowed(value) => Some(value),
        OriginCheck::Absent => None,
    };
    let mut response = route(&state, req).await;
    if let Some(origin) = allowed {
        add_cors(&mut response, &origin);
    }
    response
}

/// Steps 4 to 9.
async fn route(state: &Arc<State>, req: Request<Incoming>) -> Response<Body> {
    let route = match state.router.find(req.method(), req.uri().path()) {
        Lookup::Route(route, params) => (route, params),
        Lookup::NotFound => {
            return into_response(Reply::detail(StatusCode::NOT_FOUND, "Not Found"))
        }
        Lookup::MethodNotAllowed(allow) => return method_not_allowed(&allow),
        Lookup::Redirect(to) => return redirect(&req, &to),
    };
    let (route, params) = route;
    if let Action::Events = route.action {
        return crate::ws::upgrade(state, req);
    }
    if let Action::Mcp = route.action {
        return into_response(crate::mcp::handle(state, req).await);
    }
    // 5. Token (header only; a `?token=` is not accepted for HTTP routes).
    if route.access == Access::Token {
        let given = req.headers().get(TOKEN_HEADER).map(HeaderValue::as_bytes);
        if !state.guard.token_ok(given) {
            return into_response(Reply::detail(StatusCode::UNAUTHORIZED, "unauthorized"));
        }
    }
    // 6. Body size, refused from the declared length before reading anything.
    if declared_too_large(req.headers()) {
        drain(req.into_body(), state.tuning.body_read_timeout);
        return refused_body(too_large_reply());
    }
    match prepare(state, route, params, req).await {
        Ok(call) => into_response(run(state, route, call).await),
        Err(reply) => refused_body(reply),
    }
}

/// The answer to a body that was not taken (413, 408, 400, 422): a body over the limit was
/// only drained, and a stalled one may still arrive, so the connection ends with the answer.
fn refused_body(reply: Reply) -> Response<Body> {
    let mut response = into_response(reply);
    let status = response.status();
    if status == StatusCode::PAYLOAD_TOO_LARGE || status == StatusCode::REQUEST_TIMEOUT {
        response
            .headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Steps 6 and 7: reads and decodes the body, parses the query.
async fn prepare(
    state: &Arc<State>,
    route: &Route,
    params: Vec<String>,
    req: Request<Incoming>,
) -> Result<Call, Reply> {
    let (parts, body) = req.into_parts();
    let body = if route.has_body {
        let bytes = match read_body(body, state.tuning.body_read_timeout).await {
            Ok(bytes) => bytes,
            Err(BodyError::TooLarge) => return Err(too_large_reply()),
            Err(BodyError::TimedOut) => {
                return Err(Reply::detail(
                    StatusCode::REQUEST_TIMEOUT,
                    "request body not received in time",
                ))
            }
            Err(BodyError::Broken) => {
                return Err(Reply::detail(
                    StatusCode::BAD_REQUEST,
                    "There was an error parsing the body",
                ))
            }
        };
        decode_body(&parts.headers, &bytes).map_err(|err| error_reply(&err))?
    } else {
        Value::Null
    };
    Ok(Call {
        backend: state.backend.clone(),
        params,
        query: parse_query(parts.uri.query(), &route.query),
        body,
        port: state.port,
    })
}

/// Steps 8 and 9: the handler, which validates through the core and answers.
async fn run(state: &Arc<State>, route: &Route, call: Call) -> Reply {
    let handler = match &route.action {
        Action::Handler(handler) => handler,
        Action::OpenApi => return Reply::raw_json(StatusCode::OK, state.openapi.clone()),
        Action::Events | Action::Mcp => return Reply::detail(StatusCode::NOT_FOUND, "Not Found"),
    };
    // A panicking handler must cost one 500, never the connection or the host process.
    let started = {
        let _core = state.core_rt.enter();
        std::panic::catch_unwind(AssertUnwindSafe(|| handler(call)))
    };
    let outcome = match started {
        Ok(future) => InCore(CatchUnwind(future), &state.core_rt)
            .await
            .map_err(drop),
        Err(_) => Err(()),
    };
    match outcome {
        Ok(Ok(reply)) => reply,
        Ok(Err(err)) => {
            log_internal(&state.backend, route, &err);
            error_reply(&err)
        }
        Err(()) => {
            let err = Error::internal("handler panicked");
            log_internal(&state.backend, route, &err);
            error_reply(&err)
        }
    }
}

/// Unhandled errors are logged (with their real text) since the answer hides it.
fn log_internal(backend: &Backend, route: &Route, err: &Error) {
    if let Error::Internal {
        detail,
        kind: Some(_),
    } = err
    {
        backend.bus().publish(Event::log(
            Level::Error,
            format!("http {} {} failed: {detail}", route.method, route.path),
        ));
    }
}

fn too_large_reply() -> Reply {
    Reply::detail(StatusCode::PAYLOAD_TOO_LARGE, "request body too large")
}

fn method_not_allowed(allow: &str) -> Response<Body> {
    let mut response = into_response(Reply::detail(
        StatusCode::METHOD_NOT_ALLOWED,
        "Method Not Allowed",
    ));
    if let Ok(value) = HeaderValue::from_str(allow) {
        response.headers_mut().insert(ALLOW, value);
    }
    response
}

/// 307 to the path without its trailing slash (the query is kept). The Host header was
/// checked in step 1, so the absolute URL points back at this server.
fn redirect(req: &Request<Incoming>, to: &str) -> Response<Body> {
    let host = req
        .headers()
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    let location = match req.uri().query() {
        Some(q) => format!("http://{host}{to}?{q}"),
        None => format!("http://{host}{to}"),
    };
    let mut response = into_response(Reply {
        status: StatusCode::TEMPORARY_REDIRECT,
        content_type: crate::reply::TEXT,
        body: Bytes::new(),
    });
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(LOCATION, value);
    }
    response
}

/// Polls a handler future inside the core runtime's context, whichever thread serves the
/// connection: whatever the core spawns (job tasks, `spawn_blocking`, timers, child processes)
/// belongs to the core's runtime and outlives this adapter's thread.
struct InCore<'h, F>(F, &'h Handle);

impl<F: Future + Unpin> Future for InCore<'_, F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let _core = self.1.enter();
        Pin::new(&mut self.0).poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::HandlerFuture;

    #[tokio::test]
    async fn a_panicking_handler_future_becomes_an_error() {
        let fut: HandlerFuture = Box::pin(async {
            if std::hint::black_box(true) {
                panic!("boom");
            }
            Reply::json(&1)
        });
        assert!(CatchUnwind(fut).await.is_err());
        let fine: HandlerFuture = Box::pin(async { Reply::json(&1) });
        assert!(matches!(CatchUnwind(fine).await, Ok(Ok(_))));
    }

    /// What a handler spawns runs on the core's runtime, not on the thread serving HTTP.
    #[test]
    fn handlers_spawn_on_the_core_runtime() {
        let core = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("core-rt")
            .build()
            .unwrap();
        let serving = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let handle = core.handle().clone();
        let spawned_on = serving.block_on(async {
            let fut = Box::pin(async {
                tokio::spawn(async { std::thread::current().name().map(str::to_string) })
                    .await
                    .unwrap()
            });
            InCore(fut, &handle).await
        });
        assert_eq!(spawned_on.as_deref(), Some("core-rt"));
    }
}
