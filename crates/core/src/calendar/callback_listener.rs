//! The addon's own loopback listener for the OAuth redirect, used while the HTTP adapter does
//! not run (CONTRACT.md §8.1 step 2): `127.0.0.1:0`, a minimal HTTP/1.1 responder that serves
//! only `GET /calendar/oauth/google/callback` (else 404), checks the Host header, and stops when
//! no pending state redirects to it any more (states expire after 10 minutes) or at close.

use std::time::Duration;

use serde_json::{Map, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use super::oauth::{new_flow, Flow};
use crate::error::Result;
use crate::store::lock;
use crate::Backend;

/// Largest request head read.
const MAX_HEAD: usize = 16 * 1024;
/// How long a client may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the listener checks whether it is still needed.
const CHECK_EVERY: Duration = Duration::from_millis(500);

/// Registers a new flow whose redirect goes to the HTTP adapter's port when it runs, else to the
/// loopback listener (started when needed). The check and the insert happen under one lock, so
/// a listener never stops between them.
pub async fn register_flow(backend: &Backend) -> Result<(String, Flow)> {
    let state = backend.calendar_state();
    if let Some(port) = state.http_port() {
        let (s, flow) = new_flow(port);
        let mut pending = lock(&state.oauth);
        pending.purge();
        pending.flows.insert(s.clone(), flow.clone());
        return Ok((s, flow));
    }
    loop {
        {
            let mut pending = lock(&state.oauth);
            if let Some((port, _)) = pending.listener {
                let (s, flow) = new_flow(port);
                pending.flows.insert(s.clone(), flow.clone());
                return Ok((s, flow));
            }
        }
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let port = listener.local_addr()?.port();
        let mut pending = lock(&state.oauth);
        if pending.listener.is_some() {
            // Another call started one meanwhile: use that one.
            continue;
        }
        let stop = CancellationToken::new();
        pending.listener = Some((port, stop.clone()));
        let (s, flow) = new_flow(port);
        pending.flows.insert(s.clone(), flow.clone());
        tokio::spawn(serve(backend.clone(), listener, port, stop));
        return Ok((s, flow));
    }
}

/// True (and the slot cleared) when no live flow waits on `port`.
fn done(backend: &Backend, port: u16) -> bool {
    let state = backend.calendar_state();
    let mut pending = lock(&state.oauth);
    if pending.waits_on(port) && !state.stop.is_cancelled() {
        return false;
    }
    if pending.listener.as_ref().is_some_and(|(p, _)| *p == port) {
        pending.listener = None;
    }
    true
}

async fn serve(backend: Backend, listener: TcpListener, port: u16, stop: CancellationToken) {
    let closing = backend.calendar_state().stop.clone();
    let mut tick = tokio::time::interval(CHECK_EVERY);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                if let Ok((stream, _)) = accepted {
                    tokio::spawn(handle(backend.clone(), stream, port));
                }
            }
            _ = tick.tick() => {
                if done(&backend, port) {
                    break;
                }
            }
            _ = stop.cancelled() => break,
            _ = closing.cancelled() => break,
        }
    }
    done(&backend, port);
}

/// The value of a header in a request head, case-insensitive name.
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.split("\r\n").skip(1).find_map(|line| {
        let (k, v) = line.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The Host check of CONTRACT.md §3.2 for this listener's port.
fn host_ok(host: Option<&str>, port: u16) -> bool {
    let Some(host) = host else { return false };
    ["127.0.0.1", "localhost", "[::1]"]
        .iter()
        .any(|name| host.eq_ignore_ascii_case(&format!("{name}:{port}")))
}

async fn read_head(stream: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            return String::from_utf8(buf[..end].to_vec()).ok();
        }
        if buf.len() > MAX_HEAD {
            return None;
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        _ => "Internal Server Error",
    }
}

async fn respond(stream: &mut TcpStream, status: u16, content_type: &str, body: &str) {
    let head = format!(
        "HTTP/1.1 {status} {}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\
         connection: close\r\ncache-control: no-store\r\nx-content-type-options: nosniff\r\n\
         x-frame-options: DENY\r\nreferrer-policy: no-referrer\r\n\r\n",
        reason(status),
        body.len()
    );
    // A client that went away is not our problem.
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// The query string as an object of strings (the first value of a repeated key wins).
fn query_object(query: &str) -> Value {
    let mut map = Map::new();
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        map.entry(k.into_owned())
            .or_insert_with(|| Value::String(v.into_owned()));
    }
    Value::Object(map)
}

async fn handle(backend: Backend, mut stream: TcpStream, port: u16) {
    let Ok(Some(head)) = tokio::time::timeout(READ_TIMEOUT, read_head(&mut stream)).await else {
        return;
    };
    let json = "application/json";
    if !host_ok(header(&head, "host"), port) {
        return respond(&mut stream, 403, json, r#"{"detail":"invalid host"}"#).await;
    }
    let mut parts = head.split("\r\n").next().unwrap_or("").split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if method != "GET" || path != super::CALLBACK_PATH {
        return respond(&mut stream, 404, json, r#"{"detail":"Not Found"}"#).await;
    }
    let (status, html) = backend.google_oauth_callback(&query_object(query)).await;
    respond(&mut stream, status, "text/html; charset=utf-8", &html).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_parsing() {
        let head = "GET /x?a=1 HTTP/1.1\r\nHOST: 127.0.0.1:5\r\nX: y";
        assert_eq!(header(head, "host"), Some("127.0.0.1:5"));
        assert!(host_ok(Some("localhost:5"), 5));
        assert!(host_ok(Some("[::1]:5"), 5));
        assert!(!host_ok(Some("evil.com:5"), 5));
        assert!(!host_ok(Some("127.0.0.1:6"), 5));
        assert!(!host_ok(None, 5));
        assert_eq!(
            query_object("code=a%2Fb&state=s&code=z"),
            serde_json::json!({"code": "a/b", "state": "s"})
        );
    }
}
