//! Google event → `calendar_events` row (CONTRACT.md §8.5), with IANA zones from chrono-tz.

use std::str::FromStr;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone};
use chrono_tz::Tz;
use serde_json::value::RawValue;
use serde_json::Value;

use super::wire::{compact, GoogleEvent, Side};

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

/// The compact JSON text of `organizer`/`attendees`, `None` when missing, `null` or empty.
fn json_unless_empty(raw: Option<&RawValue>) -> Option<String> {
    let text = compact(raw?.get());
    (!matches!(text.as_str(), "{}" | "[]" | "null")).then_some(text)
}

/// Maps one Google event. `None` when it has no usable start or end (such events are dropped).
pub fn map_event(ev: &Value, calendar_zone: Option<&str>) -> Option<EventRow> {
    let text = ev.to_string();
    let parsed: GoogleEvent<'_> = serde_json::from_str(&text).ok()?;
    map_google(&parsed, calendar_zone)
}

/// Maps one event as read from a page (see [`map_event`]).
pub fn map_google(ev: &GoogleEvent<'_>, calendar_zone: Option<&str>) -> Option<EventRow> {
    if !ev.start.is_object || !ev.end.is_object {
        return None;
    }
    // `date` decides, whatever its value; only a string of it (or else of `dateTime`) is usable.
    let raw = |side: &Side<'_>| {
        if side.date.is_present() {
            side.date.to_owned_string()
        } else {
            side.date_time.to_owned_string()
        }
    };
    let all_day = ev.start.date.is_present();
    let (start_time, end_time) = (raw(&ev.start)?, raw(&ev.end)?);
    let (time_zone, tz) = first_zone(&[
        ev.start.time_zone.as_str(),
        ev.end.time_zone.as_str(),
        calendar_zone,
    ]);
    let end_all_day = ev.end.date.is_present();
    let start_ts = to_epoch(&start_time, all_day, tz)?;
    let end_ts = to_epoch(&end_time, end_all_day, tz)?;
    Some(EventRow {
        event_id: ev.id.to_owned_string()?,
        title: ev
            .summary
            .to_owned_string()
            .unwrap_or_else(|| "(No title)".into()),
        description: ev.description.to_owned_string(),
        start_time,
        end_time,
        start_ts,
        end_ts,
        all_day,
        location: ev.location.to_owned_string(),
        conference_url: ev.conference_url().map(String::from),
        visibility: ev.visibility.to_owned_string(),
        status: ev
            .status
            .to_owned_string()
            .unwrap_or_else(|| "confirmed".into()),
        organizer_json: json_unless_empty(ev.organizer),
        attendees_json: json_unless_empty(ev.attendees),
        html_link: ev.html_link.to_owned_string(),
        time_zone,
        created_at: ev.created.to_owned_string(),
        updated_at: ev.updated.to_owned_string(),
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
