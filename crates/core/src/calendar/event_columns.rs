//! `CalendarEvent[]` in columns: how a month of events crosses to JavaScript.
//!
//! A month can hold thousands of events of 22 fields. As one JSON text, the JS side paid more
//! for `JSON.parse` (≈ 3.6 µs a row: every key and string scanned, short strings interned)
//! than the whole Rust listing, and the text itself was copied several times on the way. In
//! columns, the JS side builds each object with one object literal from numbers and slices of
//! one string, which V8 does several times faster than parsing (see `bench/calendar.js`).
//!
//! The shape, read by `eventsFromColumns` in `index.js`:
//! - `texts`: the rows' text columns, in consecutive chunks of rows: chunk `i` holds the rows
//!   from `ends[i - 1]` (0 for the first) to `ends[i]`, at most [`CHUNK_BYTES`] of UTF-8 unless
//!   one row alone is longer. Copied from the event table's buffer, with UTF-16 lengths known
//!   in advance, so the offsets below cost an addition each. Why chunks: V8 puts a string over
//!   128 KiB in its large-object space, and creating one there (fresh pages, freed only by a
//!   full GC) cost ≈ 8× more per byte than a few smaller strings in the young generation;
//! - `ends`: the end row (exclusive) of each chunk of `texts`;
//! - `spans`: text reference `k` of a row is `texts[i].slice(spans[2k], spans[2k + 1])`, with
//!   `i` the row's chunk, in UTF-16 units as JavaScript counts;
//! - `json`: the JSON text `[shared, values]`: `shared` holds the strings that repeat from row
//!   to row (account and calendar ids, visibility, status, time zone, calendar color and name),
//!   once each; `values` holds the distinct organizer and attendee values (stored JSON, spliced
//!   in as it is, or a JSON string for a stored text that is not JSON, as the JSON answer
//!   does). Rows often share one (the person's own organizer entry, a recurring meeting's
//!   attendees), so JS parses each once and gives every further row a deep copy, which costs
//!   a fraction of parsing it again; each event still owns its objects;
//! - `cells`: [`CELLS_PER_ROW`] numbers per row, one per field in the contract's order: a
//!   reference for a string or JSON field (−1 for null), the number for `start_ts` / `end_ts`
//!   (NaN for null), 0 or 1 for `all_day`. Which table a reference points into is fixed per
//!   field ([`FIELDS`]).
//!
//! Every field of [`super::CalendarEvent`] is carried exactly, so the objects equal
//! `JSON.parse` of the HTTP answer (tested in `__test__/calendar.test.js`).

use super::event_list::EventList;
use super::event_table::{EventTable, NONE, TEXTS};
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

/// The fields of `CalendarEvent`, in the contract's order, with how each is carried. The JS
/// decoder (`eventsFromColumns` in `index.js`) is checked against this list and
/// [`CELLS_PER_ROW`] by `__test__/columns.test.js`.
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

/// The most UTF-8 bytes a chunk of `texts` holds (unless one row alone is longer). Even as a
/// two-byte string (2 bytes per UTF-16 unit, at most one unit per UTF-8 byte) a chunk stays
/// under V8's 128 KiB large-object threshold.
pub const CHUNK_BYTES: usize = 32 * 1024;

/// The reference of a null.
const NULL: f64 = -1.0;

/// A list of calendar events in columns (see the module documentation for the shape).
#[derive(Debug, Clone, Default)]
pub struct EventColumns {
    pub texts: Vec<String>,
    pub ends: Vec<u32>,
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

/// Builds the columns of `list`.
pub(super) fn to_columns(list: &EventList) -> Result<EventColumns> {
    let table = list.table();
    let mut chunks = Chunks::default();
    let mut values = Values::new(table);
    let mut cells = Vec::with_capacity(list.len() * CELLS_PER_ROW);
    let mut spans = Vec::with_capacity(list.len() * 2 * TEXTS);
    let mut shared = Shared::new(table);
    let calendar_refs: Vec<(f64, f64)> = list
        .calendars()
        .iter()
        .map(|(color, name)| (shared.own(color.as_deref()), shared.own(name.as_deref())))
        .collect();
    for (row, calendar) in list.iter() {
        chunks.start_row(row.text.iter().flatten().map(|t| t.len as usize).sum());
        let mut texts = [NULL; TEXTS];
        for (cell, t) in texts.iter_mut().zip(&row.text) {
            let Some(t) = t else { continue };
            let piece = table
                .text
                .get(t.start as usize..(t.start + t.len) as usize)
                .ok_or_else(|| Error::internal("calendar columns: text out of range"))?;
            *cell = (spans.len() / 2) as f64;
            let (start, end) = chunks.push(piece, t.units)?;
            spans.push(start);
            spans.push(end);
        }
        let (organizer, attendees) = (values.reference(row.json[0]), values.reference(row.json[1]));
        let (color, name) = calendar_refs
            .get(calendar as usize)
            .copied()
            .unwrap_or((NULL, NULL));
        let s = &row.shared;
        // Indices into `texts` and `row.shared`: see `event_table::TEXTS` and `SHARED`.
        let row_cells: [f64; CELLS_PER_ROW] = [
            shared.table_ref(s[0]),
            texts[0],
            shared.table_ref(s[1]),
            texts[1],
            texts[2],
            texts[3],
            texts[4],
            // Epoch seconds: exact in an f64 for any date within ±285 million years.
            row.start_ts as f64,
            row.end_ts as f64,
            if row.all_day { 1.0 } else { 0.0 },
            texts[5],
            texts[6],
            shared.table_ref(s[2]),
            shared.table_ref(s[3]),
            organizer,
            attendees,
            texts[7],
            shared.table_ref(s[4]),
            texts[8],
            texts[9],
            color,
            name,
        ];
        cells.extend_from_slice(&row_cells);
    }
    let json = format!(
        "[{},[{}]]",
        serde_json::to_string(&shared.list)?,
        values.text
    );
    let (texts, ends) = chunks.finish();
    Ok(EventColumns {
        texts,
        ends,
        spans,
        json,
        cells,
    })
}

/// `texts` and `ends` being built.
#[derive(Default)]
struct Chunks {
    texts: Vec<String>,
    ends: Vec<u32>,
    current: String,
    /// UTF-16 length of `current`.
    units: u32,
    rows: u32,
}

impl Chunks {
    /// Starts a row of `bytes` of text: in a new chunk when it would overflow the current one.
    fn start_row(&mut self, bytes: usize) {
        if !self.current.is_empty() && self.current.len() + bytes > CHUNK_BYTES {
            self.texts.push(std::mem::take(&mut self.current));
            self.ends.push(self.rows);
            self.units = 0;
        }
        if self.current.capacity() == 0 {
            self.current.reserve(CHUNK_BYTES.max(bytes));
        }
        self.rows += 1;
    }

    /// Appends a text of `units` UTF-16 units; its UTF-16 range in the chunk.
    fn push(&mut self, piece: &str, units: u32) -> Result<(u32, u32)> {
        self.current.push_str(piece);
        let start = self.units;
        self.units = start
            .checked_add(units)
            .ok_or_else(|| Error::internal("calendar events answer too large"))?;
        Ok((start, self.units))
    }

    /// The chunks and their end rows (none for no rows).
    fn finish(mut self) -> (Vec<String>, Vec<u32>) {
        if self.rows > self.ends.last().copied().unwrap_or(0) {
            self.texts.push(self.current);
            self.ends.push(self.rows);
        }
        (self.texts, self.ends)
    }
}

/// The output reference of the table's item `k` (which exists): the one it was given, or
/// `next` when it is met for the first time (then `true`).
fn remap(remap: &mut [u32], k: u32, next: u32) -> (f64, bool) {
    match remap.get_mut(k as usize) {
        Some(slot) if *slot == NONE => {
            *slot = next;
            (next as f64, true)
        }
        Some(slot) => (*slot as f64, false),
        None => (NULL, false),
    }
}

/// The organizer and attendee values the rows use, each distinct one once, as the inside of a
/// JSON array (the table holds them already written as the answer writes them).
struct Values<'a> {
    table: &'a EventTable,
    /// Output index of each of the table's values, [`NONE`] until used.
    remap: Vec<u32>,
    count: u32,
    text: String,
}

impl<'a> Values<'a> {
    fn new(table: &'a EventTable) -> Self {
        Values {
            table,
            remap: vec![NONE; table.values.len()],
            count: 0,
            text: String::new(),
        }
    }

    /// The reference of one of the table's values (`NONE` for null).
    fn reference(&mut self, k: u32) -> f64 {
        let Some(value) = self.table.values.get(k as usize) else {
            return NULL;
        };
        let (out, first) = remap(&mut self.remap, k, self.count);
        if first {
            if self.count > 0 {
                self.text.push(',');
            }
            self.text.push_str(value.get());
            self.count += 1;
        }
        out
    }
}

/// The strings that repeat, each once: the table's interned strings the rows use (remapped to
/// the order they are first met) and the calendars' colors and names.
struct Shared<'a> {
    table: &'a EventTable,
    /// Output index of each of the table's shared strings, [`NONE`] until used.
    remap: Vec<u32>,
    /// Output index of each calendar string (a handful; colors repeat between calendars).
    own: FxHashMap<&'a str, usize>,
    list: Vec<&'a str>,
}

impl<'a> Shared<'a> {
    fn new(table: &'a EventTable) -> Self {
        Shared {
            table,
            remap: vec![NONE; table.shared.len()],
            own: FxHashMap::default(),
            list: Vec::new(),
        }
    }

    /// The reference of one of the table's shared strings (`NONE` for null).
    fn table_ref(&mut self, k: u32) -> f64 {
        let Some(s) = self.table.shared.get(k as usize) else {
            return NULL;
        };
        let (out, first) = remap(&mut self.remap, k, self.list.len() as u32);
        if first {
            self.list.push(s);
        }
        out
    }

    /// The reference of a calendar's color or name.
    fn own(&mut self, value: Option<&'a str>) -> f64 {
        let Some(s) = value else {
            return NULL;
        };
        let next = self.list.len();
        let k = *self.own.entry(s).or_insert(next);
        if k == next {
            self.list.push(s);
        }
        k as f64
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Map, Value};

    use super::super::event_cache::testing::{calendar, db, event, range};
    use super::super::event_cache::{list_events, EventCache};
    use super::*;

    /// Rebuilds the objects from the columns exactly as `index.js` does.
    fn decode(c: &EventColumns) -> Value {
        let [shared, values]: [Value; 2] = serde_json::from_str(&c.json).unwrap();
        let mut out = Vec::new();
        assert_eq!(c.texts.len(), c.ends.len());
        assert_eq!(c.ends.last().copied().unwrap_or(0) as usize, c.len());
        for (r, row) in c.cells.chunks(CELLS_PER_ROW).enumerate() {
            let chunk = c.ends.iter().position(|&end| r < end as usize).unwrap();
            let units: Vec<u16> = c.texts[chunk].encode_utf16().collect();
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

    /// One row with every column set (`all_day` false) and one with only its keys and times.
    fn insert_varied(c: &rusqlite::Connection) {
        c.execute(
            "INSERT INTO calendar_events VALUES ('cal_1', 'primary#x@group', 'e1', ?1, ?2,
               '2026-11-23T10:00:00+09:00', '2026-11-23T11:00:00+09:00', 1700000000, 1700003600,
               0, 'Seoul', 'https://meet.example/x', 'default', 'confirmed',
               ' {\"email\": \"a@b.c\", \"self\": true} ', '[{\"email\":\"ü@x\"}]',
               'https://cal/e1', 'Asia/Seoul', '2024-02-01T00:00:00.000Z',
               '2024-02-02T00:00:00.000Z')",
            rusqlite::params!["회의 \"quoted\" 🎉", "line\nbreak"],
        )
        .unwrap();
        c.execute(
            "INSERT INTO calendar_events (account_id, calendar_id, event_id, start_ts, end_ts,
               all_day, organizer_json)
             VALUES ('cal_1', 'primary#x@group', 'ascii-after-unicode', 1700000001, 1700000002,
               1, 'not json'),
                    ('cal_2', 'other', 'negative', -5, 0, 0, NULL)",
            [],
        )
        .unwrap();
    }

    #[test]
    fn columns_rebuild_the_json_answer_exactly() {
        let c = db();
        calendar(
            &c,
            "cal_1",
            "primary#x@group",
            Some("#42d692"),
            "Work 일정",
            true,
        );
        calendar(&c, "cal_2", "other", None, "Other", true);
        insert_varied(&c);
        // Two rows with the same organizer value.
        event(&c, "cal_2", "other", "p1", 10, 20);
        event(&c, "cal_2", "other", "p2", 30, 40);
        let q = range(-10, 1_800_000_000);
        for cache in [None, Some((&EventCache::default(), 0))] {
            let list = list_events(&c, &q, cache).unwrap();
            let expected = serde_json::to_value(&list).unwrap();
            assert_eq!(expected.as_array().unwrap().len(), 5);
            assert_eq!(expected[3]["organizer"]["email"], "a@b.c");
            assert_eq!(expected[4]["organizer"], "not json");
            assert_eq!(expected[1]["organizer"], expected[2]["organizer"]);
            let columns = list.into_columns().unwrap();
            assert_eq!(columns.len(), 5);
            assert_eq!(decode(&columns), expected);
            // Repeating strings and values are carried once: five references, four values.
            let [shared, values]: [Value; 2] = serde_json::from_str(&columns.json).unwrap();
            assert_eq!(values.as_array().unwrap().len(), 4);
            let cal_1 = shared.as_array().unwrap().iter().filter(|s| *s == "cal_1");
            assert_eq!(cal_1.count(), 1);
        }
    }

    #[test]
    fn texts_are_split_in_chunks_at_row_boundaries() {
        let c = db();
        calendar(&c, "a", "cal", None, "Cal", true);
        for k in 0..400 {
            event(&c, "a", "cal", &format!("e{k}"), k, k + 1);
            let title = format!("회의 🎉 {} {k}", "가".repeat(k as usize % 90));
            c.execute(
                "UPDATE calendar_events SET title = ?1 WHERE event_id = ?2",
                rusqlite::params![title, format!("e{k}")],
            )
            .unwrap();
        }
        // One row alone longer than a chunk.
        c.execute(
            "UPDATE calendar_events SET description = ?1 WHERE event_id = 'e200'",
            [format!("{}é", "x".repeat(CHUNK_BYTES + 10))],
        )
        .unwrap();
        let list = list_events(&c, &range(0, 1000), Some((&EventCache::default(), 0))).unwrap();
        let expected = serde_json::to_value(&list).unwrap();
        let columns = list.into_columns().unwrap();
        assert!(columns.texts.len() >= 3, "{} chunks", columns.texts.len());
        let long = columns.texts.iter().filter(|t| t.len() > CHUNK_BYTES);
        assert_eq!(long.count(), 1);
        assert!(columns.ends.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(decode(&columns), expected);
    }

    #[test]
    fn an_empty_list_has_empty_columns() {
        let c = db();
        let columns = list_events(&c, &range(0, 10), Some((&EventCache::default(), 0)))
            .unwrap()
            .into_columns()
            .unwrap();
        assert!(columns.is_empty());
        assert!(columns.texts.is_empty() && columns.ends.is_empty());
        assert_eq!(columns.json, "[[],[]]");
    }
}
