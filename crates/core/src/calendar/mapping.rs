//! Google event → `calendar_events` row (CONTRACT.md §8.5), with IANA zones from chrono-tz.

use std::str::FromStr;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone};
use chrono_tz::Tz;
use serde_json::Value;

/// The columns of one `calendar_events` row (besides account and calendar ids).
#[derive(Debug, Clone, PartialEq)]
pub struct EventRow {
    pub event_id: String,
    pub title: String,
    pub description: Option<String>,
    pub start_time: String,
    pub end_time: String,
    pub start_ts: i64,
    pub end_ts: i64,
    pub all_day: bool,
    pub location: Option<String>,
    pub conference_url: Option<String>,
    pub visibility: Option<String>,
    pub status: String,
    pub organizer_json: Option<String>,
    pub attendees_json: Option<String>,
    pub html_link: Option<String>,
    pub time_zone: String,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(String::from)
}

/// The first valid IANA zone among the candidates, else UTC.
fn first_zone(candidates: &[Option<&str>]) -> (String, Tz) {
    candidates
        .iter()
        .flatten()
        .find_map(|name| Tz::from_str(name).ok().map(|tz| (name.to_string(), tz)))
        .unwrap_or_else(|| ("UTC".into(), Tz::UTC))
}

/// Local wall time in `tz` → epoch seconds. In a gap (a skipped midnight) the first instant
/// after it is used; in an overlap the earlier one.
fn local_to_epoch(tz: Tz, local: NaiveDateTime) -> Option<i64> {
    if let Some(t) = tz.from_local_datetime(&local).earliest() {
        return Some(t.timestamp());
    }
    (1..=4).find_map(|h| {
        tz.from_local_datetime(&(local + chrono::Duration::minutes(30 * h)))
            .earliest()
            .map(|t| t.timestamp())
    })
}

/// Epoch seconds of a Google `date` or `dateTime` value in the event's zone.
fn to_epoch(raw: &str, all_day: bool, tz: Tz) -> Option<i64> {
    if all_day {
        let date = NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d").ok()?;
        return local_to_epoch(tz, date.and_hms_opt(0, 0, 0)?);
    }
    let s = raw.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.timestamp());
    }
    if let Some(ms) = crate::time::parse_iso_ms(s).filter(|_| has_offset(s)) {
        return Some(ms.div_euclid(1000));
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(local) = NaiveDateTime::parse_from_str(s, fmt) {
            return local_to_epoch(tz, local);
        }
    }
    None
}

/// True when a dateTime text ends in `Z` or a `±HH:MM`/`±HHMM` offset.
fn has_offset(s: &str) -> bool {
    if s.ends_with('Z') || s.ends_with('z') {
        return true;
    }
    let Some((_, time)) = s.split_once('T') else {
        return false;
    };
    time.contains('+') || time.contains('-')
}

/// `hangoutLink`, else the first non-empty `conferenceData.entryPoints[].uri`.
fn conference_url(ev: &Value) -> Option<String> {
    if let Some(link) = text(ev, "hangoutLink").filter(|s| !s.is_empty()) {
        return Some(link);
    }
    ev.pointer("/conferenceData/entryPoints")?
        .as_array()?
        .iter()
        .filter_map(|p| p.get("uri").and_then(Value::as_str))
        .find(|u| !u.is_empty())
        .map(String::from)
}

/// JSON text of an object/array value, `None` when missing or empty.
fn json_unless_empty(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Object(m) if m.is_empty() => None,
        Value::Array(a) if a.is_empty() => None,
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// Maps one Google event. `None` when it has no usable start or end (such events are dropped).
pub fn map_event(ev: &Value, calendar_zone: Option<&str>) -> Option<EventRow> {
    let start = ev.get("start").filter(|v| v.is_object())?;
    let end = ev.get("end").filter(|v| v.is_object())?;
    let all_day = start.get("date").is_some();
    let raw = |side: &Value| {
        side.get("date")
            .or_else(|| side.get("dateTime"))
            .and_then(Value::as_str)
            .map(String::from)
    };
    let (start_time, end_time) = (raw(start)?, raw(end)?);
    let start_zone = start.get("timeZone").and_then(Value::as_str);
    let end_zone = end.get("timeZone").and_then(Value::as_str);
    let (time_zone, tz) = first_zone(&[start_zone, end_zone, calendar_zone]);
    let end_all_day = end.get("date").is_some();
    let start_ts = to_epoch(&start_time, all_day, tz)?;
    let end_ts = to_epoch(&end_time, end_all_day, tz)?;
    Some(EventRow {
        event_id: text(ev, "id")?,
        title: text(ev, "summary").unwrap_or_else(|| "(No title)".into()),
        description: text(ev, "description"),
        start_time,
        end_time,
        start_ts,
        end_ts,
        all_day,
        location: text(ev, "location"),
        conference_url: conference_url(ev),
        visibility: text(ev, "visibility"),
        status: text(ev, "status").unwrap_or_else(|| "confirmed".into()),
        organizer_json: json_unless_empty(ev.get("organizer")),
        attendees_json: json_unless_empty(ev.get("attendees")),
        html_link: text(ev, "htmlLink"),
        time_zone,
        created_at: text(ev, "created"),
        updated_at: text(ev, "updated"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn all_day_in_seoul_is_local_midnight() {
        let ev = json!({"id":"a","start":{"date":"2024-03-10"},"end":{"date":"2024-03-11"}});
        let row = map_event(&ev, Some("Asia/Seoul")).unwrap();
        assert_eq!(row.start_ts, 1709996400);
        assert_eq!(row.end_ts, 1709996400 + 86400);
        assert!(row.all_day);
        assert_eq!(row.time_zone, "Asia/Seoul");
        assert_eq!(row.title, "(No title)");
        assert_eq!(row.status, "confirmed");
    }

    #[test]
    fn zones_offsets_and_conference() {
        let ev = json!({"id":"b","summary":"x",
            "start":{"dateTime":"2024-03-10T10:00:00","timeZone":"Not/AZone"},
            "end":{"dateTime":"2024-03-10T11:00:00+09:00","timeZone":"Pacific/Kiritimati"},
            "organizer":{}, "attendees":[],
            "conferenceData":{"entryPoints":[{"uri":""},{"entryPointType":"phone","uri":"tel:+1"}]}});
        let row = map_event(&ev, None).unwrap();
        assert_eq!(row.time_zone, "Pacific/Kiritimati");
        // 10:00 at UTC+14 is 20:00 the day before in UTC.
        assert_eq!(row.start_ts, 1710014400);
        assert_eq!(row.end_ts, 1710036000);
        assert_eq!(row.conference_url.as_deref(), Some("tel:+1"));
        assert_eq!(row.organizer_json, None);
        assert_eq!(row.attendees_json, None);
        assert!(map_event(&json!({"id":"c","start":{"date":"2024-01-01"}}), None).is_none());
    }
}
