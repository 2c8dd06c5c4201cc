//! The event WebSocket `/events` (CONTRACT.md §3.4): the handshake on the hyper connection,
//! then one task per socket that forwards every bus event as a text frame.
//!
//! Memory per client is bounded: the bus keeps a bounded window per subscriber (a client that
//! falls behind gets `lagged`), and every write has a deadline after which a stalled client is
//! dropped. Incoming frames are read only to notice pongs and closes, and are size-limited.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use enttok_core::time::now_iso;
use enttok_core::Subscription;
use futures_util::{SinkExt, StreamExt};
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderValue, CONNECTION, UPGRADE};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::sync::watch;
use tokio::time::{sleep_until, timeout, Instant};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

use crate::guard::TOKEN_HEADER;
use crate::input::query_token;
use crate::pipeline::State;
use crate::reply::{add_security, into_response, Body, Reply};
use crate::server::{wait_shutdown, Tuning};

/// Events taken from the subscription per write (one flush per batch keeps fan-out cheap).
const BATCH: usize = 64;

/// Checks auth and the handshake headers, subscribes, answers 101 and starts the socket task.
pub(crate) fn upgrade(state: &Arc<State>, mut req: Request<Incoming>) -> Response<Body> {
    let given = req
        .headers()
        .get(TOKEN_HEADER)
        .map(|v| v.as_bytes().to_vec())
        .or_else(|| query_token(req.uri().query()).map(String::into_bytes));
    if !state.guard.token_ok(given.as_deref()) {
        // Refused before the upgrade: HTTP 403 and no frame at all (§3.4).
        return into_response(Reply::detail(StatusCode::FORBIDDEN, "unauthorized"));
    }
    let Some(accept) = accept_key(req.headers()) else {
        return into_response(Reply::detail(
            StatusCode::BAD_REQUEST,
            "WebSocket upgrade expected",
        ));
    };
    // Subscribe before answering, so the client misses nothing published after its handshake.
    let Some(sub) = state.backend.subscribe() else {
        return into_response(Reply::detail(
            StatusCode::SERVICE_UNAVAILABLE,
            "backend closed",
        ));
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    let shutdown = state.shutdown.clone();
    let tuning = state.tuning;
    state.tracker.spawn(async move {
        // A failed upgrade means the client went away during the handshake: nothing to do.
        if let Ok(upgraded) = on_upgrade.await {
            let ws = WebSocketStream::from_raw_socket(
                TokioIo::new(upgraded),
                Role::Server,
                Some(config()),
            )
            .await;
            session(ws, sub, shutdown, tuning).await;
        }
    });
    let mut response = Response::new(Body::new(Bytes::new()));
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = response.headers_mut();
    h.insert(UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(value) = HeaderValue::from_str(&accept) {
        h.insert("sec-websocket-accept", value);
    }
    add_security(&mut response);
    response
}

/// The `Sec-WebSocket-Accept` value when the request is a valid version-13 upgrade.
fn accept_key(headers: &HeaderMap) -> Option<String> {
    let has_token = |name, token: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str().is_ok_and(|s| {
                s.split(',')
                    .any(|part| part.trim().eq_ignore_ascii_case(token))
            })
        })
    };
    if !has_token(UPGRADE, "websocket") || !has_token(CONNECTION, "upgrade") {
        return None;
    }
    if headers.get("sec-websocket-version")?.as_bytes() != b"13" {
        return None;
    }
    let key = headers.get("sec-websocket-key")?;
    Some(derive_accept_key(key.as_bytes()))
}

/// Incoming frames are ignored, so they may be small; outgoing buffering is bounded.
fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(64 * 1024))
        .max_frame_size(Some(64 * 1024))
        .max_write_buffer_size(4 * 1024 * 1024)
}

/// Why a session ended.
enum End {
    /// Server stop or backend close: send close code 1001.
    GoingAway,
    /// The peer closed, vanished, stalled or missed a pong: just drop it.
    Peer,
}

/// Forwards events until the server stops, the bus closes or the peer goes away.
async fn session<S>(
    ws: WebSocketStream<S>,
    mut sub: Subscription,
    mut shutdown: watch::Receiver<bool>,
    tuning: Tuning,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (mut sink, mut stream) = ws.split();
    let hello = format!(r#"{{"type":"connected","timestamp":"{}"}}"#, now_iso());
    let deadline = tuning.write_timeout;
    if !matches!(
        timeout(deadline, sink.send(Message::text(hello))).await,
        Ok(Ok(()))
    ) {
        return;
    }
    let mut next_ping = Instant::now() + tuning.ping_interval;
    let mut pong_due: Option<Instant> = None;
    let end = loop {
        tokio::select! {
            biased;
            _ = wait_shutdown(&mut shutdown) => break End::GoingAway,
            batch = sub.recv_batch(BATCH) => {
                let Some(batch) = batch else { break End::GoingAway };
                let write = async {
                    for event in batch {
                        sink.feed(Message::Text(text_of(event))).await?;
                    }
                    sink.flush().await
                };
                if !matches!(timeout(deadline, write).await, Ok(Ok(()))) {
                    break End::Peer;
                }
            }
            incoming = stream.next() => match incoming {
                Some(Ok(Message::Pong(_))) => pong_due = None,
                // Text, binary and pings (tungstenite answers those itself) are ignored.
                Some(Ok(Message::Text(_) | Message::Binary(_) | Message::Ping(_) | Message::Frame(_))) => {}
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break End::Peer,
            },
            _ = sleep_until(next_ping), if pong_due.is_none() => {
                if !matches!(timeout(deadline, sink.send(Message::Ping(Bytes::new()))).await, Ok(Ok(()))) {
                    break End::Peer;
                }
                pong_due = Some(Instant::now() + tuning.pong_timeout);
                next_ping = Instant::now() + tuning.ping_interval;
            }
            _ = sleep_until(pong_due.unwrap_or_else(Instant::now)), if pong_due.is_some() => {
                break End::Peer;
            }
        }
    };
    if let End::GoingAway = end {
        let frame = CloseFrame {
            code: CloseCode::Away,
            reason: Utf8Bytes::from_static("server shutting down"),
        };
        if matches!(
            timeout(deadline, sink.send(Message::Close(Some(frame)))).await,
            Ok(Ok(()))
        ) {
            // Give the peer a moment to answer the close before the TCP connection goes.
            let _ = timeout(Duration::from_secs(1), async {
                while let Some(Ok(_)) = stream.next().await {}
            })
            .await;
        }
    } else {
        let _ = timeout(Duration::from_millis(200), sink.close()).await;
    }
}

/// The event text as a frame payload without copying it.
fn text_of(event: Arc<str>) -> Utf8Bytes {
    struct Owner(Arc<str>);
    impl AsRef<[u8]> for Owner {
        fn as_ref(&self) -> &[u8] {
            self.0.as_bytes()
        }
    }
    let fallback = Arc::clone(&event);
    Utf8Bytes::try_from(Bytes::from_owner(Owner(event)))
        .unwrap_or_else(|_| Utf8Bytes::from(&*fallback))
}
