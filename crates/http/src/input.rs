//! Request inputs: the query string as a JSON object, and the body decoding rules of
//! CONTRACT.md §3.2 steps 6 and 7. Validation itself is the core's (one validation for JS and
//! HTTP); this module only turns bytes into the `serde_json::Value` the core validates.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use enttok_core::validate::item;
use enttok_core::Error;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{HeaderMap, CONTENT_LENGTH, CONTENT_TYPE};
use serde_json::{json, Map, Value};

use crate::router::{percent_decode, ParamType, QueryParam};

/// Largest accepted request body (CONTRACT.md row 24).
pub const MAX_BODY: usize = 1024 * 1024;

/// Most bytes of a refused body read and thrown away so the client gets to read the 413.
const DRAIN_MAX: usize = 64 * 1024 * 1024;

/// Why a body could not be read.
pub(crate) enum BodyError {
    /// Over [`MAX_BODY`]: 413.
    TooLarge,
    /// The connection failed while reading: 400.
    Broken,
    /// The client stopped sending before the body was complete: 408.
    TimedOut,
}

/// True when the declared length already exceeds the limit (answered before reading).
pub(crate) fn declared_too_large(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .is_some_and(|n| n > MAX_BODY as u64)
}

/// Reads the whole body within `deadline`, refusing more than [`MAX_BODY`] bytes (chunked
/// bodies included). Over the limit, the rest is drained in the background (see [`drain`]).
pub(crate) async fn read_body(mut body: Incoming, deadline: Duration) -> Result<Bytes, BodyError> {
    let read = async {
        let mut buf = BytesMut::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|_| BodyError::Broken)?;
            if let Some(data) = frame.data_ref() {
                if buf.len() + data.len() > MAX_BODY {
                    return Err(BodyError::TooLarge);
                }
                buf.extend_from_slice(data);
            }
        }
        Ok(buf.freeze())
    };
    let read = tokio::time::timeout(deadline, read)
        .await
        .unwrap_or(Err(BodyError::TimedOut));
    if let Err(BodyError::TooLarge) = read {
        drain(body, deadline);
    }
    read
}

/// Reads and discards what the client still sends of a refused body (at most [`DRAIN_MAX`]
/// bytes, within `deadline`). A client that writes its whole body before reading, as most do,
/// would otherwise meet a closed connection (EPIPE) instead of the 413.
pub(crate) fn drain(mut body: Incoming, deadline: Duration) {
    tokio::spawn(async move {
        let discard = async {
            let mut seen = 0;
            while let Some(Ok(frame)) = body.frame().await {
                seen += frame.data_ref().map_or(0, Bytes::len);
                if seen > DRAIN_MAX {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(deadline, discard).await;
    });
}

/// Whether the content type is parsed as JSON: absent, `application/json` or `*/*+json`.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(CONTENT_TYPE) else {
        return true;
    };
    let Ok(text) = value.to_str() else {
        return false;
    };
    let essence = text.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/json")
        || (essence.contains('/')
            && essence.len() > 5
            && essence
                .get(essence.len() - 5..)
                .is_some_and(|s| s.eq_ignore_ascii_case("+json")))
}

/// Turns the body bytes into the value the core validates (§3.2 step 7): `null` when empty, a
/// JSON value, or the raw text for a non-JSON content type. A JSON syntax error is the 422
/// `json_invalid` item with the character offset of the error.
pub(crate) fn decode_body(headers: &HeaderMap, bytes: &[u8]) -> Result<Value, Error> {
    if bytes.is_empty() {
        return Ok(Value::Null);
    }
    if !is_json(headers) {
        return Ok(Value::String(String::from_utf8_lossy(bytes).into_owned()));
    }
    serde_json::from_slice(bytes).map_err(|err| json_invalid(bytes, &err))
}

fn json_invalid(bytes: &[u8], err: &serde_json::Error) -> Error {
    let offset = char_offset(bytes, err);
    let text = err.to_string();
    // serde_json appends " at line L column C"; the offset already says where.
    let reason = text.split(" at line ").next().unwrap_or(&text).to_string();
    Error::invalid(item(
        "json_invalid",
        &[json!("body"), json!(offset)],
        "JSON decode error",
        json!({}),
        Some(json!({ "error": reason })),
    ))
}

/// The character offset of a parse error, from serde_json's line and byte column.
fn char_offset(bytes: &[u8], err: &serde_json::Error) -> usize {
    let line_start: usize = bytes
        .split(|b| *b == b'\n')
        .take(err.line().saturating_sub(1))
        .map(|l| l.len() + 1)
        .sum();
    // serde_json's column counts the bytes consumed on the line: the offending byte is the
    // last one consumed, except at end of input where the error sits just past the end.
    let column = if err.is_eof() {
        err.column()
    } else {
        err.column().saturating_sub(1)
    };
    let byte = (line_start + column).min(bytes.len());
    String::from_utf8_lossy(&bytes[..byte]).chars().count()
}

/// The query string as a JSON object of strings. A key repeated is a list when the route
/// declares it a list (all values, in order), else its last value wins.
pub(crate) fn parse_query(query: Option<&str>, declared: &[QueryParam]) -> Value {
    let mut out = Map::new();
    let Some(query) = query else {
        return Value::Object(out);
    };
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = form_decode(key);
        let value = Value::String(form_decode(value));
        let is_list = declared
            .iter()
            .any(|p| p.name == key && p.kind == ParamType::List);
        match out.get_mut(&key) {
            Some(Value::Array(items)) if is_list => items.push(value),
            _ if is_list => {
                out.insert(key, Value::Array(vec![value]));
            }
            _ => {
                out.insert(key, value);
            }
        }
    }
    // A list given once stays a plain string, so a comma string keeps working.
    for p in declared.iter().filter(|p| p.kind == ParamType::List) {
        if let Some(Value::Array(items)) = out.get_mut(p.name) {
            if items.len() == 1 {
                let single = items.pop().unwrap_or(Value::Null);
                out.insert(p.name.to_string(), single);
            }
        }
    }
    Value::Object(out)
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space, then `%XX`.
fn form_decode(text: &str) -> String {
    if text.contains('+') {
        percent_decode(&text.replace('+', " "))
    } else {
        percent_decode(text)
    }
}

/// The `token` query parameter (only the WebSocket route accepts it).
pub(crate) fn query_token(query: Option<&str>) -> Option<String> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(k, _)| *k == "token")
        .map(|(_, v)| form_decode(v))
        .next_back()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn headers(ct: Option<&'static str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(ct) = ct {
            h.insert(CONTENT_TYPE, HeaderValue::from_static(ct));
        }
        h
    }

    #[test]
    fn body_rules() {
        assert_eq!(decode_body(&headers(None), b"").unwrap(), Value::Null);
        assert_eq!(
            decode_body(&headers(None), br#"{"a":1}"#).unwrap(),
            json!({"a":1})
        );
        assert_eq!(
            decode_body(&headers(Some("application/vnd.x+json; q=1")), b"[1]").unwrap(),
            json!([1])
        );
        assert_eq!(
            decode_body(&headers(Some("text/plain")), b"{\"a\":1}").unwrap(),
            json!("{\"a\":1}")
        );
        let Err(Error::Validation(items)) = decode_body(&headers(None), b"{\"a\":") else {
            panic!("expected 422")
        };
        assert_eq!(items[0]["type"], "json_invalid");
        assert_eq!(items[0]["loc"], json!(["body", 5]));
        assert_eq!(items[0]["input"], json!({}));
        let Err(Error::Validation(items)) = decode_body(&headers(None), "{é x}".as_bytes()) else {
            panic!("expected 422")
        };
        assert_eq!(items[0]["loc"], json!(["body", 1]));
        let Err(Error::Validation(items)) = decode_body(&headers(None), b"{\"a\":1,\n x}") else {
            panic!("expected 422")
        };
        assert_eq!(items[0]["loc"], json!(["body", 9]));
    }

    #[test]
    fn query_rules() {
        let declared = [QueryParam::optional("ids", ParamType::List)];
        let q = parse_query(
            Some("a=1&a=2&ids=x&ids=y&b=hello+w%C3%B6rld&flag"),
            &declared,
        );
        assert_eq!(
            q,
            json!({"a":"2","ids":["x","y"],"b":"hello wörld","flag":""})
        );
        let q = parse_query(Some("ids=x,y"), &declared);
        assert_eq!(q, json!({"ids":"x,y"}));
        assert_eq!(parse_query(None, &[]), json!({}));
        assert_eq!(query_token(Some("a=1&token=ab%2Bc")), Some("ab+c".into()));
        assert_eq!(query_token(Some("tokens=1")), None);
    }
}
