//! Validation of every memory entry point (reference §1, CONTRACT.md §15.4 bounds): the
//! original's schemas, plus strings ≤ 100,000 characters and lists ≤ 1000 items.

use serde_json::{json, Value};

use super::observation::Draft;
use super::store::Window;
use crate::error::{Error, Result};
use crate::time::{now_ms, python_repr};
use crate::validate::{missing_body, Fields, Source};

/// Longest string accepted anywhere in memory input.
pub const MAX_CHARS: usize = 100_000;
/// Longest list accepted anywhere in memory input.
pub const MAX_ITEMS: usize = 1000;

const DAY_MS: i64 = 86_400_000;

/// Adds `string_too_long` when `s` is over [`MAX_CHARS`].
fn check_len(f: &mut Fields<'_>, key: &str, s: Option<String>) -> Option<String> {
    let s = s?;
    if s.chars().count() > MAX_CHARS {
        f.error(
            "string_too_long",
            key,
            format!("String should have at most {MAX_CHARS} characters"),
            json!(super::observation::head(&s, 64)),
            Some(json!({ "max_length": MAX_CHARS })),
        );
        return None;
    }
    Some(s)
}

fn required(f: &mut Fields<'_>, key: &str) -> Option<String> {
    let s = f.required_str(key, 0);
    check_len(f, key, s)
}

fn optional(f: &mut Fields<'_>, key: &str) -> Option<String> {
    let s = f.optional_str(key, 0);
    check_len(f, key, s)
}

fn optional_list(f: &mut Fields<'_>, key: &str) -> Option<Vec<String>> {
    let list = f.optional_str_list(key)?;
    if list.len() > MAX_ITEMS {
        f.error(
            "too_long",
            key,
            format!(
                "List should have at most {MAX_ITEMS} items after validation, not {}",
                list.len()
            ),
            Value::Null,
            Some(json!({ "field_type": "List", "max_length": MAX_ITEMS, "actual_length": list.len() })),
        );
        return None;
    }
    if list.iter().any(|s| s.chars().count() > MAX_CHARS) {
        f.error(
            "string_too_long",
            key,
            format!("String should have at most {MAX_CHARS} characters"),
            Value::Null,
            Some(json!({ "max_length": MAX_CHARS })),
        );
        return None;
    }
    Some(list)
}

/// The original's error text for an unparsable time (a 10-character value is reported with
/// the `T00:00:00+00:00` it was padded with, as Python did).
pub fn invalid_time(value: &str) -> Error {
    let mut shown = value.to_string();
    if let Some(stripped) = shown.strip_suffix('Z') {
        shown = format!("{stripped}+00:00");
    }
    if shown.chars().count() == 10 {
        shown.push_str("T00:00:00+00:00");
    }
    Error::BadRequest(format!("Invalid isoformat string: {}", python_repr(&shown)))
}

/// Epoch milliseconds of an ISO time, in whole seconds (the original's `parse_iso_to_ts`).
pub fn parse_time_ms(value: &str) -> Option<i64> {
    crate::time::parse_iso(value).map(|s| s * 1000)
}

/// `POST /memory/observations` body → a draft (no ledger key: manual creates never dedupe).
pub fn create(body: &Value) -> Result<Draft> {
    if body.is_null() {
        return Err(missing_body());
    }
    let mut f = Fields::new(Source::Body, body);
    let title = required(&mut f, "title");
    let narrative = required(&mut f, "narrative");
    let kind = required(&mut f, "type");
    let source = required(&mut f, "source");
    let event_time = required(&mut f, "event_time");
    let facts = optional_list(&mut f, "facts");
    let concepts = optional_list(&mut f, "concepts");
    let source_event_id = optional(&mut f, "source_event_id");
    let project_path = optional(&mut f, "project_path");
    let event_ts = f.optional_int("event_ts", None, None);
    f.finish()?;
    let event_time = event_time.unwrap_or_default();
    let event_ts = match event_ts {
        Some(ts) => ts,
        None => parse_time_ms(&event_time).ok_or_else(|| invalid_time(&event_time))?,
    };
    Ok(Draft {
        title: title.unwrap_or_default(),
        narrative: narrative.unwrap_or_default(),
        facts: facts.filter(|l| !l.is_empty()),
        concepts: concepts.filter(|l| !l.is_empty()),
        kind: kind.unwrap_or_default(),
        source: source.unwrap_or_default(),
        source_event_id,
        project_path,
        event_time,
        event_ts,
        ledger: None,
    })
}

/// A rolling window of `days_back` days ending now.
fn window(days_back: i64, kind: Option<String>, source: Option<String>) -> Window {
    let end = now_ms();
    Window {
        start: end - days_back * DAY_MS,
        end,
        kind,
        source,
    }
}

/// `GET /memory/observations` query: `(window, limit, offset)`; `limit` above 100 becomes 100.
pub fn list(query: &Value) -> Result<(Window, i64, i64)> {
    let mut f = Fields::new(Source::Query, query);
    let kind = optional(&mut f, "type");
    let source = optional(&mut f, "source");
    let days_back = f
        .optional_int("days_back", Some(0), Some(36_500))
        .unwrap_or(90);
    let limit = f
        .optional_int("limit", Some(1), None)
        .unwrap_or(50)
        .min(100);
    let offset = f.optional_int("offset", Some(0), None).unwrap_or(0);
    f.finish()?;
    Ok((window(days_back, kind, source), limit, offset))
}

/// Search modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Hybrid,
    Fts,
    Vector,
}

impl Mode {
    /// The echoed name.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Hybrid => "hybrid",
            Mode::Fts => "fts",
            Mode::Vector => "vector",
        }
    }
}

/// A validated search.
#[derive(Debug, Clone)]
pub struct SearchInput {
    pub query: String,
    pub window: Window,
    pub limit: i64,
    pub mode: Mode,
}

/// `POST /memory/search` body (`limit` 1..100, `days_back` 1..365, `search_mode` enum).
pub fn search(body: &Value) -> Result<SearchInput> {
    if body.is_null() {
        return Err(missing_body());
    }
    let mut f = Fields::new(Source::Body, body);
    let query = required(&mut f, "query");
    let kind = optional(&mut f, "type");
    let source = optional(&mut f, "source");
    let limit = f.optional_int("limit", Some(1), Some(100)).unwrap_or(20);
    let days_back = f
        .optional_int("days_back", Some(1), Some(365))
        .unwrap_or(90);
    let mode = match f.optional_str("search_mode", 0).as_deref() {
        None | Some("hybrid") => Some(Mode::Hybrid),
        Some("fts") => Some(Mode::Fts),
        Some("vector") => Some(Mode::Vector),
        Some(other) => {
            f.error(
                "enum",
                "search_mode",
                "Input should be 'hybrid', 'fts' or 'vector'",
                json!(other),
                Some(json!({ "expected": "'hybrid', 'fts' or 'vector'" })),
            );
            None
        }
    };
    f.finish()?;
    Ok(SearchInput {
        query: query.unwrap_or_default(),
        window: window(days_back, kind, source),
        limit,
        mode: mode.unwrap_or(Mode::Hybrid),
    })
}

/// A validated timeline request.
#[derive(Debug, Clone)]
pub struct TimelineInput {
    pub anchor_id: Option<String>,
    pub anchor_date: Option<String>,
    pub before: i64,
    pub after: i64,
}

/// `POST /memory/timeline` body (depths 0..50, default 5); `null` is an empty body.
pub fn timeline(body: &Value) -> Result<TimelineInput> {
    let empty = json!({});
    let body = if body.is_null() { &empty } else { body };
    let mut f = Fields::new(Source::Body, body);
    let anchor_id = optional(&mut f, "anchor_id");
    let anchor_date = optional(&mut f, "anchor_date");
    let before = f
        .optional_int("depth_before", Some(0), Some(50))
        .unwrap_or(5);
    let after = f
        .optional_int("depth_after", Some(0), Some(50))
        .unwrap_or(5);
    f.finish()?;
    Ok(TimelineInput {
        anchor_id,
        anchor_date,
        before,
        after,
    })
}

/// `POST /memory/observations/batch` body `{ids}` (1..50 items).
pub fn batch(body: &Value) -> Result<Vec<String>> {
    if body.is_null() {
        return Err(missing_body());
    }
    let mut f = Fields::new(Source::Body, body);
    let ids = match f.raw("ids") {
        None => {
            f.required_str("ids", 0);
            None
        }
        Some(_) => f.optional_str_list("ids"),
    };
    if let Some(list) = &ids {
        let n = list.len();
        if n == 0 {
            f.error(
                "too_short",
                "ids",
                "List should have at least 1 item after validation, not 0",
                json!([]),
                Some(json!({ "field_type": "List", "min_length": 1, "actual_length": 0 })),
            );
        } else if n > 50 {
            f.error(
                "too_long",
                "ids",
                format!("List should have at most 50 items after validation, not {n}"),
                f.raw("ids").cloned().unwrap_or(Value::Null),
                Some(json!({ "field_type": "List", "max_length": 50, "actual_length": n })),
            );
        }
    }
    f.finish()?;
    Ok(ids.unwrap_or_default())
}

/// `window_minutes` of `POST /memory/sync/process` (1..10080, default 60).
pub fn window_minutes(query: &Value) -> Result<i64> {
    let mut f = Fields::new(Source::Query, query);
    let n = f
        .optional_int("window_minutes", Some(1), Some(10_080))
        .unwrap_or(60);
    f.finish()?;
    Ok(n)
}

/// A list inside a sync payload: absent or null → empty; not a list → `list_type`; over
/// [`MAX_ITEMS`] → `too_long`.
pub fn sync_list<'a>(value: Option<&'a Value>, loc: &[&str]) -> Result<&'a [Value]> {
    let loc_json: Vec<Value> = std::iter::once(json!("body"))
        .chain(loc.iter().map(|s| json!(s)))
        .collect();
    match value {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) if items.len() <= MAX_ITEMS => Ok(items),
        Some(Value::Array(items)) => Err(Error::invalid(crate::validate::item(
            "too_long",
            &loc_json,
            format!(
                "List should have at most {MAX_ITEMS} items after validation, not {}",
                items.len()
            ),
            Value::Null,
            Some(
                json!({ "field_type": "List", "max_length": MAX_ITEMS, "actual_length": items.len() }),
            ),
        ))),
        Some(other) => Err(Error::invalid(crate::validate::item(
            "list_type",
            &loc_json,
            "Input should be a valid list",
            other.clone(),
            None,
        ))),
    }
}

/// A sync body: an object (`dict_type` otherwise; `missing` when absent).
pub fn sync_body(body: &Value) -> Result<&serde_json::Map<String, Value>> {
    match body {
        Value::Null => Err(missing_body()),
        Value::Object(map) => Ok(map),
        other => Err(Error::invalid(crate::validate::item(
            "dict_type",
            &[json!("body")],
            "Input should be a valid dictionary",
            other.clone(),
            None,
        ))),
    }
}
