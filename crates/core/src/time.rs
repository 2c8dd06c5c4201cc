//! Timestamps in the contract's formats (CONTRACT.md §3.5).

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};

/// `YYYY-MM-DDTHH:MM:SSZ`, UTC, whole seconds: every local timestamp of the contract.
pub fn now_iso() -> String {
    format_iso(Utc::now())
}

/// Formats a UTC instant as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_iso(at: DateTime<Utc>) -> String {
    use chrono::{Datelike, Timelike};
    // Written by hand: `format()` parses its pattern on every call, and a job writes several
    // timestamps (this showed in the queue's profile).
    let (year, month, day) = (at.year(), at.month(), at.day());
    let (hour, minute, second) = (at.hour(), at.minute(), at.second());
    if (0..=9999).contains(&year) {
        format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}Z")
    } else {
        at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    }
}

/// Formats epoch seconds as `YYYY-MM-DDTHH:MM:SSZ` (out-of-range values clamp to the epoch).
pub fn format_epoch(secs: i64) -> String {
    format_iso(Utc.timestamp_opt(secs, 0).single().unwrap_or_default())
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// Parses the ISO-8601 forms the contract accepts into epoch seconds.
///
/// A trailing `Z` is UTC; `+HHMM` is read as `+HH:MM`; `YYYY-MM-DD` is midnight UTC; fractional
/// seconds, a space for `T`, `YYYY-MM-DD HH:MM` and `YYYYMMDD` are accepted; no offset is UTC.
pub fn parse_iso(value: &str) -> Option<i64> {
    parse_iso_ms(value).map(|ms| ms.div_euclid(1000))
}

/// As [`parse_iso`], in milliseconds.
pub fn parse_iso_ms(value: &str) -> Option<i64> {
    let s = value.trim();
    if s.is_empty() {
        return None;
    }
    if s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit()) {
        let date = NaiveDate::parse_from_str(s, "%Y%m%d").ok()?;
        return Some(date.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis());
    }
    if s.len() == 10 {
        let date = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
        return Some(date.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis());
    }
    let mut text = s.replacen(' ', "T", 1);
    if text.ends_with('Z') || text.ends_with('z') {
        text.truncate(text.len() - 1);
        text.push_str("+00:00");
    }
    // `+0900` → `+09:00` (Atlassian's form).
    let bytes = text.as_bytes();
    if bytes.len() > 5 {
        let tail = &text[text.len() - 5..];
        let tb = tail.as_bytes();
        if (tb[0] == b'+' || tb[0] == b'-') && tb[1..].iter().all(u8::is_ascii_digit) {
            let head = &text[..text.len() - 5];
            if head.contains('T') {
                text = format!("{head}{}{}:{}", &tail[..1], &tail[1..3], &tail[3..5]);
            }
        }
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(&text) {
        return Some(dt.timestamp_millis());
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f%:z", "%Y-%m-%dT%H:%M%:z"] {
        if let Ok(dt) = DateTime::parse_from_str(&text, fmt) {
            return Some(dt.timestamp_millis());
        }
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(&text, fmt) {
            return Some(dt.and_utc().timestamp_millis());
        }
    }
    None
}

/// Parses a time given by a caller (a query's `start`/`end`, a job's `run_at`) into epoch
/// milliseconds, or the 400 text of the original's `datetime.fromisoformat`: the range error
/// of the first field out of range (`month must be in 1..12`, `day is out of range for month`,
/// `hour must be in 0..23`, …) when the text has an accepted shape, else
/// `Invalid isoformat string: '<value>'`.
pub fn parse_iso_input_ms(value: &str) -> crate::Result<i64> {
    parse_iso_ms(value).ok_or_else(|| {
        crate::Error::BadRequest(
            range_error(value).map_or_else(|| invalid_iso_message(value), str::to_string),
        )
    })
}

/// The original's message for a text of an accepted shape whose date or time field is out of
/// range, checked in Python's order (month, day, hour, minute, second). `None` when the shape
/// itself is wrong (or nothing is out of range).
fn range_error(value: &str) -> Option<&'static str> {
    let s = value.trim();
    let b = s.as_bytes();
    let digits = |at: usize, len: usize| -> Option<u32> {
        let part = s.get(at..at + len)?;
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    // Where each field sits: `YYYYMMDD`, or `YYYY-MM-DD` followed by `T`/space and `HH:MM[:SS…]`.
    let (year, month_at, day_at, time_at) = if b.len() == 8 {
        (digits(0, 4)?, 4, 6, None)
    } else if b.len() >= 10 && b[4] == b'-' && b[7] == b'-' {
        let time_at = (b.len() > 10).then_some(11);
        (digits(0, 4)?, 5, 8, time_at)
    } else {
        return None;
    };
    let month = digits(month_at, 2)?;
    let day = digits(day_at, 2)?;
    let mut fields = vec![(month_at, month, 1..=12)];
    let mut time = Vec::new();
    if let Some(at) = time_at {
        time.push((at, digits(at, 2)?, 0..=23));
        if b.get(at + 2) == Some(&b':') {
            time.push((at + 3, digits(at + 3, 2)?, 0..=59));
            if b.get(at + 5) == Some(&b':') {
                time.push((at + 6, digits(at + 6, 2)?, 0..=59));
            }
        }
    }
    // The shape must parse once every field is put in range.
    let mut fixed = s.to_string();
    fields.push((day_at, day, 1..=28));
    for (at, _, range) in fields.iter().chain(&time) {
        fixed.replace_range(*at..*at + 2, &format!("{:02}", range.start()));
    }
    parse_iso_ms(&fixed)?;
    if !(1..=12).contains(&month) {
        return Some("month must be in 1..12");
    }
    let days = NaiveDate::from_ymd_opt(year as i32, month, 1)
        .and_then(|first| first.checked_add_months(chrono::Months::new(1)))
        .and_then(|next| next.pred_opt())
        .map(|last| chrono::Datelike::day(&last))?;
    if day == 0 || day > days {
        return Some("day is out of range for month");
    }
    const TIME: [&str; 3] = [
        "hour must be in 0..23",
        "minute must be in 0..59",
        "second must be in 0..59",
    ];
    time.iter()
        .zip(TIME)
        .find(|((_, v, range), _)| !range.contains(v))
        .map(|(_, msg)| msg)
}

/// `Invalid isoformat string: '<value>'`, the value quoted like a Python repr.
pub fn invalid_iso_message(value: &str) -> String {
    format!("Invalid isoformat string: {}", python_repr(value))
}

/// Quotes a string the way Python's `repr` does for plain text.
pub fn python_repr(value: &str) -> String {
    let quote = if value.contains('\'') && !value.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(value.len() + 2);
    out.push(quote);
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_written_format_matches_chrono() {
        for secs in [0i64, 1, 951_782_400, 1_795_424_178, 4_102_444_799, -1] {
            let at = Utc.timestamp_opt(secs, 0).single().unwrap();
            assert_eq!(format_iso(at), at.format("%Y-%m-%dT%H:%M:%SZ").to_string());
        }
        assert_eq!(format_epoch(1_795_424_178), "2026-11-23T08:56:18Z");
    }

    #[test]
    fn parses_contract_forms() {
        assert_eq!(parse_iso("2024-01-01T00:00:00.000Z"), Some(1704067200));
        assert_eq!(parse_iso("2024-01-01"), Some(1704067200));
        assert_eq!(parse_iso("20240101"), Some(1704067200));
        assert_eq!(parse_iso("2024-01-01 09:00"), Some(1704099600));
        assert_eq!(parse_iso("2024-01-01T09:00:00+0900"), Some(1704067200));
        assert_eq!(parse_iso("2024-01-01T09:00:00+09:00"), Some(1704067200));
        assert_eq!(parse_iso("2024-01-01T00:00:00"), Some(1704067200));
        assert_eq!(parse_iso("nope"), None);
        assert_eq!(parse_iso(""), None);
    }

    #[test]
    fn out_of_range_fields_answer_pythons_texts() {
        let err = |v: &str| parse_iso_input_ms(v).unwrap_err().to_string();
        assert_eq!(err("2024-13-01"), "month must be in 1..12");
        assert_eq!(err("2024-00-10"), "month must be in 1..12");
        assert_eq!(err("20241301"), "month must be in 1..12");
        assert_eq!(err("2024-13-45"), "month must be in 1..12");
        assert_eq!(err("2024-13-01T00:00:00Z"), "month must be in 1..12");
        assert_eq!(err("2024-04-31"), "day is out of range for month");
        assert_eq!(err("2024-01-00"), "day is out of range for month");
        assert_eq!(err("2023-02-29"), "day is out of range for month");
        assert_eq!(err("2024-02-30T10:00Z"), "day is out of range for month");
        assert_eq!(err("2024-01-01T24:00:00"), "hour must be in 0..23");
        assert_eq!(err("2024-01-01 24:00"), "hour must be in 0..23");
        assert_eq!(err("2024-01-01T25:00+09:00"), "hour must be in 0..23");
        assert_eq!(err("2024-01-01T23:60"), "minute must be in 0..59");
        assert_eq!(err("2024-01-01T23:59:61.5Z"), "second must be in 0..59");
        // A wrong shape stays the generic text, whatever its numbers.
        assert_eq!(err("2024-1-01"), "Invalid isoformat string: '2024-1-01'");
        assert_eq!(
            err("2024-13-01Tnope"),
            "Invalid isoformat string: '2024-13-01Tnope'"
        );
        assert_eq!(err("nope"), "Invalid isoformat string: 'nope'");
        // Leap day and in-range values parse.
        assert_eq!(parse_iso_input_ms("2024-02-29").unwrap(), 1_709_164_800_000);
        assert_eq!(
            parse_iso_input_ms("2024-01-01T23:59:59Z").unwrap(),
            1_704_153_599_000
        );
    }

    #[test]
    fn repr_quotes_like_python() {
        assert_eq!(invalid_iso_message("x"), "Invalid isoformat string: 'x'");
        assert_eq!(python_repr("it's"), "\"it's\"");
        assert_eq!(python_repr("a'\""), "'a\\'\"'");
    }

    #[test]
    fn formats_whole_seconds() {
        assert_eq!(format_epoch(1704067200), "2024-01-01T00:00:00Z");
    }
}
