//! `CalendarEvent[]` in columns: how a month of events crosses to JavaScript.
//!
//! A month can hold thousands of events of 22 fields. As one JSON text, the JS side paid more
//! for `JSON.parse` (≈ 3.6 µs a row: every key and string scanned, short strings interned)
//! than the whole Rust listing, and the text itself was copied several times on the way. In
//! columns, the JS side builds each object with one object literal from numbers and slices of
//! one string, which V8 does several times faster than parsing (see `bench/calendar.js`).
//!
//! The shape, read by `eventsFromColumns` in `index.js`:
//! - `text`: the rows' text columns as the listing read them, one string (it is the listing's
//!   buffer itself, so nothing is copied to build it);
//! - `spans`: string `k` of `text` is `text.slice(spans[2k], spans[2k + 1])`, in UTF-16 units
//!   as JavaScript counts;
//! - `json`: the JSON text `[shared, values]`: `shared` holds the strings that repeat from row
//!   to row (account and calendar ids, visibility, status, time zone, calendar color and name),
//!   once each; `values` holds the organizer and attendee values (stored JSON, spliced in as
//!   it is, or a JSON string for a stored text that is not JSON, as the JSON answer does);
//! - `cells`: [`CELLS_PER_ROW`] numbers per row, one per field in the contract's order: a
//!   reference for a string or JSON field (−1 for null), the number for `start_ts` / `end_ts`
//!   (NaN for null), 0 or 1 for `all_day`. Which table a reference points into is fixed per
//!   field ([`FIELDS`]).
//!
//! Every field of [`super::CalendarEvent`] is carried exactly, so the objects equal
//! `JSON.parse` of the HTTP answer (tested in `__test__/calendar.test.js`).

use super::event_list::{EventList, StoredJson};
use crate::error::{Error, Result};
use rustc_hash::FxHashMap;

/// How a field of `CalendarEvent` is carried in `cells`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// A reference into `spans` (a string that differs from row to row).
    Text,
    /// A reference into `shared` (a string that repeats).
    Shared,
    /// A reference into `values` (organizer, attendees).
    Json,
    /// A number, NaN for null.
    Number,
    /// 0 or 1.
    Bool,
}

/// The fields of `CalendarEvent`, in the contract's order, with how each is carried.
pub const FIELDS: [(&str, Field); CELLS_PER_ROW] = [
    ("account_id", Field::Shared),
    ("event_id", Field::Text),
    ("calendar_id", Field::Shared),
    ("title", Field::Text),
    ("description", Field::Text),
    ("start_time", Field::Text),
    ("end_time", Field::Text),
    ("start_ts", Field::Number),
    ("end_ts", Field::Number),
    ("all_day", Field::Bool),
    ("location", Field::Text),
    ("conference_url", Field::Text),
    ("visibility", Field::Shared),
    ("status", Field::Shared),
    ("organizer", Field::Json),
    ("attendees", Field::Json),
    ("html_link", Field::Text),
    ("time_zone", Field::Shared),
    ("created_at", Field::Text),
    ("updated_at", Field::Text),
    ("calendar_color", Field::Shared),
    ("calendar_name", Field::Shared),
];

/// Numbers per row in `cells`.
pub const CELLS_PER_ROW: usize = 22;

/// The reference of a null.
const NULL: f64 = -1.0;

/// A list of calendar events in columns (see the module documentation for the shape).
#[derive(Debug, Clone, Default)]
pub struct EventColumns {
    pub text: String,
    pub spans: Vec<u32>,
    pub json: String,
    pub cells: Vec<f64>,
}

impl EventColumns {
    /// Number of events.
    pub fn len(&self) -> usize {
        self.cells.len() / CELLS_PER_ROW
    }

    /// True when there is no event.
    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }
}

/// Converts byte offsets of one string into UTF-16 offsets, for offsets visited in increasing
/// order (each byte of the text is looked at once at most; an ASCII text is not looked at).
struct Utf16Offsets<'a> {
    text: &'a str,
    ascii: bool,
    byte: usize,
    unit: usize,
}

impl<'a> Utf16Offsets<'a> {
    fn new(text: &'a str) -> Self {
        Utf16Offsets {
            text,
            ascii: text.is_ascii(),
            byte: 0,
            unit: 0,
        }
    }

    /// The UTF-16 offset of byte offset `at` (a char boundary, not before the previous one).
    fn at(&mut self, at: usize) -> Result<u32> {
        let unit = if self.ascii {
            at
        } else {
            let skipped = self
                .text
                .get(self.byte..at)
                .ok_or_else(|| Error::internal("calendar columns: offsets out of order"))?;
            self.unit += skipped.chars().map(char::len_utf16).sum::<usize>();
            self.byte = at;
            self.unit
        };
        u32::try_from(unit).map_err(|_| Error::internal("calendar events answer too large"))
    }
}

/// Builds the columns of `list`, consuming it (its text buffer becomes `text`).
pub(super) fn to_columns(list: EventList) -> Result<EventColumns> {
    let (text, rows, calendars) = list.into_parts();
    let mut shared = Shared::default();
    let mut values = Values::default();
    let mut cells = Vec::with_capacity(rows.len() * CELLS_PER_ROW);
    let mut spans = Vec::with_capacity(rows.len() * 2 * 10);
    let mut units = Utf16Offsets::new(&text);
    let calendar_refs: Vec<(f64, f64)> = calendars
        .iter()
        .map(|(color, name)| {
            (
                shared.reference(color.as_deref()),
                shared.reference(name.as_deref()),
            )
        })
        .collect();
    for row in &rows {
        let str_at = |i: usize| -> Option<&str> {
            let (start, len) = row.text[i]?;
            text.get(start as usize..start as usize + len as usize)
        };
        let mut text_ref = |i: usize| -> Result<f64> {
            let Some((start, len)) = row.text[i] else {
                return Ok(NULL);
            };
            let k = spans.len() / 2;
            spans.push(units.at(start as usize)?);
            spans.push(units.at(start as usize + len as usize)?);
            Ok(k as f64)
        };
        let (color, name) = calendar_refs
            .get(row.calendar)
            .copied()
            .unwrap_or((NULL, NULL));
        // Indices into `row.text`: see `event_list::Row::text`.
        let row_cells: [f64; CELLS_PER_ROW] = [
            shared.reference(str_at(0)),
            text_ref(1)?,
            shared.reference(str_at(2)),
            text_ref(3)?,
            text_ref(4)?,
            text_ref(5)?,
            text_ref(6)?,
            // Epoch seconds: exact in an f64 for any date within ±285 million years.
            row.start_ts.map_or(f64::NAN, |v| v as f64),
            row.end_ts.map_or(f64::NAN, |v| v as f64),
            if row.all_day { 1.0 } else { 0.0 },
            text_ref(7)?,
            text_ref(8)?,
            shared.reference(str_at(9)),
            shared.reference(str_at(10)),
            values.push(str_at(11))?,
            values.push(str_at(12))?,
            text_ref(13)?,
            shared.reference(str_at(14)),
            text_ref(15)?,
            text_ref(16)?,
            color,
            name,
        ];
        cells.extend_from_slice(&row_cells);
    }
    let json = format!(
        "[{},[{}]]",
        serde_json::to_string(&shared.list)?,
        values.into_text()?
    );
    Ok(EventColumns {
        text,
        spans,
        json,
        cells,
    })
}

/// The strings that repeat, each once. They borrow from the rows' buffer and the calendar
/// list (no copy); hashing is Fx since the keys are short and trusted to be ours.
#[derive(Default)]
struct Shared<'a> {
    index: FxHashMap<&'a str, usize>,
    list: Vec<&'a str>,
}

impl<'a> Shared<'a> {
    fn reference(&mut self, value: Option<&'a str>) -> f64 {
        let Some(s) = value else {
            return NULL;
        };
        let next = self.list.len();
        let k = *self.index.entry(s).or_insert(next);
        if k == next {
            self.list.push(s);
        }
        k as f64
    }
}

/// The organizer and attendee values, as the inside of a JSON array, written exactly as the
/// JSON answer writes them ([`StoredJson`]).
#[derive(Default)]
struct Values {
    text: Vec<u8>,
    count: usize,
}

impl Values {
    fn push(&mut self, stored: Option<&str>) -> Result<f64> {
        if stored.is_none() {
            return Ok(NULL);
        }
        if self.count > 0 {
            self.text.push(b',');
        }
        serde_json::to_writer(&mut self.text, &StoredJson(stored))?;
        self.count += 1;
        Ok((self.count - 1) as f64)
    }

    /// The inside of the array as text (serde_json writes UTF-8 only).
    fn into_text(self) -> Result<String> {
        String::from_utf8(self.text)
            .map_err(|_| Error::internal("calendar columns: values are not UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Map, Value};

    use super::super::event_list::Builder;
    use super::*;

    /// Rebuilds the objects from the columns exactly as `index.js` does.
    fn decode(c: &EventColumns) -> Value {
        let units: Vec<u16> = c.text.encode_utf16().collect();
        let [shared, values]: [Value; 2] = serde_json::from_str(&c.json).unwrap();
        let mut out = Vec::new();
        for row in c.cells.chunks(CELLS_PER_ROW) {
            let mut obj = Map::new();
            for ((name, field), &cell) in FIELDS.iter().zip(row) {
                let value = match field {
                    _ if cell == NULL && *field != Field::Number && *field != Field::Bool => {
                        Value::Null
                    }
                    Field::Text => {
                        let k = cell as usize;
                        let (a, b) = (c.spans[2 * k] as usize, c.spans[2 * k + 1] as usize);
                        Value::String(String::from_utf16(&units[a..b]).unwrap())
                    }
                    Field::Shared => shared[cell as usize].clone(),
                    Field::Json => values[cell as usize].clone(),
                    Field::Number if cell.is_nan() => Value::Null,
                    Field::Number => json!(cell as i64),
                    Field::Bool => Value::Bool(cell == 1.0),
                };
                obj.insert(name.to_string(), value);
            }
            out.push(Value::Object(obj));
        }
        Value::Array(out)
    }

    #[test]
    fn columns_rebuild_the_json_answer_exactly() {
        let calendars = vec![
            (Some("#42d692".to_string()), Some("Work 일정".to_string())),
            (None, None),
        ];
        let mut b = Builder::new(calendars);
        let full: [Option<&str>; 17] = [
            Some("cal_1"),
            Some("e1"),
            Some("primary#x@group"),
            Some("회의 \"quoted\" 🎉"),
            Some("line\nbreak"),
            Some("2026-11-23T10:00:00+09:00"),
            Some("2026-11-23T11:00:00+09:00"),
            Some("Seoul"),
            Some("https://meet.example/x"),
            Some("default"),
            Some("confirmed"),
            Some(r#" {"email": "a@b.c", "self": true} "#),
            Some(r#"[{"email":"ü@x"}]"#),
            Some("https://cal/e1"),
            Some("Asia/Seoul"),
            Some("2024-02-01T00:00:00.000Z"),
            Some("2024-02-02T00:00:00.000Z"),
        ];
        b.push(full, Some(1_700_000_000), Some(1_700_003_600), false, 0)
            .unwrap();
        let mut sparse = [None; 17];
        sparse[0] = Some("cal_1");
        sparse[1] = Some("ascii-after-unicode");
        sparse[2] = Some("primary#x@group");
        sparse[11] = Some("not json");
        b.push(sparse, None, None, true, 1).unwrap();
        b.push(full, Some(-5), Some(0), false, 7).unwrap();
        let list = b.finish();
        let expected = serde_json::to_value(&list).unwrap();
        let columns = list.into_columns().unwrap();
        assert_eq!(columns.len(), 3);
        assert_eq!(decode(&columns), expected);
        // Repeating strings are carried once.
        let [shared, _]: [Value; 2] = serde_json::from_str(&columns.json).unwrap();
        assert_eq!(
            shared
                .as_array()
                .unwrap()
                .iter()
                .filter(|s| *s == "cal_1")
                .count(),
            1
        );
    }

    #[test]
    fn an_empty_list_has_empty_columns() {
        let columns = Builder::new(Vec::new()).finish().into_columns().unwrap();
        assert!(columns.is_empty());
        assert_eq!(columns.json, "[[],[]]");
    }
}
