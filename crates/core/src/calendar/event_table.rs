//! Calendar event rows held in memory, shaped for answering `listCalendarEvents`.
//!
//! A table is filled from `calendar_events` rows once ([`TableBuilder`]) and then answers range
//! queries ([`EventTable::select`]) without SQLite. Reading a row out of SQLite costs ≈ 2 µs
//! (every text column is copied out of its page, and the range index points back into the
//! table), which for a dense month of 2,500 events was most of the listing. Here the rows are
//! sorted by `start_ts`, the strings that repeat from row to row (account and calendar ids,
//! visibility, status, time zone) are stored once, organizer and attendee values are already
//! in the form the answer writes, and each text knows its UTF-16 length, so the columns handed
//! to JavaScript are built by copying bytes.

use std::sync::Arc;

use rusqlite::Row as SqlRow;
use rustc_hash::FxHashMap;

use serde_json::value::RawValue;

use super::event_list::{EventList, StoredJson};
use crate::error::{Error, Result};

/// The reference of a NULL column.
pub(super) const NONE: u32 = u32::MAX;

/// Text columns of a row, in the answer's order: event_id, title, description, start_time,
/// end_time, location, conference_url, html_link, created_at, updated_at.
pub(super) const TEXTS: usize = 10;

/// Columns whose values repeat, in the answer's order: account_id, calendar_id, visibility,
/// status, time_zone.
pub(super) const SHARED: usize = 5;

/// A text of a row in [`EventTable::text`]: byte offset, byte length, length in UTF-16 units
/// (as JavaScript counts).
#[derive(Debug, Clone, Copy)]
pub(super) struct Text {
    pub start: u32,
    pub len: u32,
    pub units: u32,
}

/// One event row.
#[derive(Debug, Clone)]
pub(super) struct TableRow {
    /// The [`TEXTS`] columns; `None` for NULL.
    pub text: [Option<Text>; TEXTS],
    /// The [`SHARED`] columns, as indices into [`EventTable::shared`]; [`NONE`] for NULL.
    pub shared: [u32; SHARED],
    /// organizer and attendees, as indices into [`EventTable::values`]; [`NONE`] for NULL.
    pub json: [u32; 2],
    pub start_ts: i64,
    pub end_ts: i64,
    pub all_day: bool,
    /// Index into [`EventTable::calendar_keys`].
    pub calendar: u32,
}

/// Event rows sorted by `start_ts`, with their strings in a few buffers.
#[derive(Debug, Default)]
pub struct EventTable {
    pub(super) text: String,
    pub(super) shared: Vec<String>,
    /// The distinct organizer and attendee values, each written as the answer writes it (see
    /// [`StoredJson`]) and validated once, here. A recurring meeting's instances share theirs,
    /// and most organizers are the person themself, so a month of rows holds few distinct
    /// values.
    pub(super) values: Vec<Box<RawValue>>,
    /// (account_id, calendar_id) of the calendars the rows belong to, as `shared` indices.
    pub(super) calendar_keys: Vec<(u32, u32)>,
    pub(super) rows: Vec<TableRow>,
    /// The longest `end_ts - start_ts` (0 at least): no event starting before
    /// `start - longest` can reach into a range starting at `start`.
    longest: i64,
}

/// What a query keeps (CONTRACT.md §4.5 `listCalendarEvents`).
pub struct EventFilter<'a> {
    /// The range `[start, end)` events must overlap (epoch seconds).
    pub start: i64,
    pub end: i64,
    pub account_id: Option<&'a str>,
    /// Calendar ids to keep; `None` (or empty) keeps all.
    pub calendar_ids: Option<&'a [String]>,
    pub selected_only: bool,
}

/// The calendar rows of `calendar_calendars`: (account id, calendar id) → (index, selected),
/// and (color, name) by index.
pub(super) struct Calendars {
    pub keys: FxHashMap<(String, String), (u32, bool)>,
    pub infos: Vec<(Option<String>, Option<String>)>,
}

impl EventTable {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True when the table has no row.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// A row's text column `i` (of [`TEXTS`]).
    pub(super) fn text(&self, row: &TableRow, i: usize) -> Option<&str> {
        let t = row.text[i]?;
        self.text
            .get(t.start as usize..t.start as usize + t.len as usize)
    }

    /// A row's shared column `i` (of [`SHARED`]).
    pub(super) fn shared(&self, row: &TableRow, i: usize) -> Option<&str> {
        self.shared.get(row.shared[i] as usize).map(String::as_str)
    }

    /// A row's organizer (`i` = 0) or attendees (`i` = 1), as the answer's JSON text.
    pub(super) fn json(&self, row: &TableRow, i: usize) -> Option<&RawValue> {
        self.values.get(row.json[i] as usize).map(|v| &**v)
    }

    /// The events of `filter`, in `start_ts` order, joined with their calendar (an event
    /// whose calendar row is gone is left out, as the contract's inner join does).
    pub(super) fn select(
        self: &Arc<Self>,
        filter: &EventFilter<'_>,
        calendars: Calendars,
    ) -> EventList {
        // Every filter but the range depends only on the row's calendar: decided once per
        // calendar, then one array lookup per row.
        let ids = filter.calendar_ids.filter(|ids| !ids.is_empty());
        let by_key: Vec<u32> = self
            .calendar_keys
            .iter()
            .map(|&(account, calendar)| {
                let account = self.shared.get(account as usize).map_or("", String::as_str);
                let calendar = self
                    .shared
                    .get(calendar as usize)
                    .map_or("", String::as_str);
                let wanted = filter.account_id.is_none_or(|a| a == account)
                    && ids.is_none_or(|ids| ids.iter().any(|id| id == calendar));
                let joined = calendars
                    .keys
                    .get(&(account.to_string(), calendar.to_string()))
                    .filter(|(_, selected)| *selected || !filter.selected_only);
                match joined {
                    Some(&(index, _)) if wanted => index,
                    _ => NONE,
                }
            })
            .collect();
        let from = filter.start.saturating_sub(self.longest);
        let first = self.rows.partition_point(|r| r.start_ts < from);
        let mut picked = Vec::new();
        for (i, row) in self.rows.iter().enumerate().skip(first) {
            if row.start_ts >= filter.end {
                break;
            }
            let calendar = by_key.get(row.calendar as usize).copied().unwrap_or(NONE);
            if row.end_ts > filter.start && calendar != NONE {
                picked.push((i as u32, calendar));
            }
        }
        EventList::new(Arc::clone(self), picked, calendars.infos)
    }
}

/// The columns a [`TableBuilder`] reads, in this order, from each SQL row.
pub(super) const SELECT_COLUMNS: &str = "account_id, event_id, calendar_id, title, description,
    start_time, end_time, location, conference_url, visibility, status, organizer_json,
    attendees_json, html_link, time_zone, created_at, updated_at, start_ts, end_ts, all_day";

/// SQL column of each [`TEXTS`] column, of each [`SHARED`] column, and of organizer/attendees.
const TEXT_COLUMNS: [usize; TEXTS] = [1, 3, 4, 5, 6, 7, 8, 13, 15, 16];
const SHARED_COLUMNS: [usize; SHARED] = [0, 2, 9, 10, 14];
const JSON_COLUMNS: [usize; 2] = [11, 12];

/// Fills an [`EventTable`] from SQL rows of [`SELECT_COLUMNS`] given in `start_ts` order.
#[derive(Default)]
pub(super) struct TableBuilder {
    table: EventTable,
    shared: FxHashMap<String, u32>,
    values: FxHashMap<String, u32>,
    keys: FxHashMap<(u32, u32), u32>,
    /// Reused to write organizer/attendee values.
    scratch: Vec<u8>,
}

fn too_large() -> Error {
    Error::internal("calendar events too large to list")
}

/// `n` as a u32 offset, or an error past 4 GiB.
fn offset(n: usize) -> Result<u32> {
    u32::try_from(n).map_err(|_| too_large())
}

/// The index of `s` in `list`, appending `make(s)` when new (`index` maps the text of each of
/// `list`'s items to its index).
fn index_of<T>(
    index: &mut FxHashMap<String, u32>,
    list: &mut Vec<T>,
    s: &str,
    make: impl FnOnce(&str) -> Result<T>,
) -> Result<u32> {
    if let Some(&k) = index.get(s) {
        return Ok(k);
    }
    let k = offset(list.len())?;
    list.push(make(s)?);
    index.insert(s.to_string(), k);
    Ok(k)
}

/// A text column borrowed from the row (no copy); `None` for NULL.
fn text_ref<'r>(r: &'r SqlRow<'_>, i: usize) -> rusqlite::Result<Option<&'r str>> {
    r.get_ref(i)?.as_str_or_null().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    })
}

impl TableBuilder {
    /// Appends one SQL row; rows with a NULL `start_ts` or `end_ts` overlap no range and are
    /// skipped.
    pub fn push_sql(&mut self, r: &SqlRow<'_>) -> Result<()> {
        let (Some(start_ts), Some(end_ts)) = (r.get::<_, Option<i64>>(17)?, r.get(18)?) else {
            return Ok(());
        };
        let mut row = TableRow {
            text: [None; TEXTS],
            shared: [NONE; SHARED],
            json: [NONE; 2],
            start_ts,
            end_ts,
            all_day: r.get::<_, Option<i64>>(19)?.unwrap_or(0) != 0,
            calendar: 0,
        };
        for (slot, &column) in row.text.iter_mut().zip(&TEXT_COLUMNS) {
            *slot = self.push_text(text_ref(r, column)?)?;
        }
        for (slot, &column) in row.shared.iter_mut().zip(&SHARED_COLUMNS) {
            *slot = self.intern(text_ref(r, column)?)?;
        }
        for (slot, &column) in row.json.iter_mut().zip(&JSON_COLUMNS) {
            *slot = self.push_json(text_ref(r, column)?)?;
        }
        row.calendar = self.calendar_key(row.shared[0], row.shared[1])?;
        self.table.longest = self.table.longest.max(end_ts.saturating_sub(start_ts));
        self.table.rows.push(row);
        Ok(())
    }

    /// A table of every row of `rows` (SQL rows of [`SELECT_COLUMNS`], in `start_ts` order).
    pub fn collect(mut rows: rusqlite::Rows<'_>) -> Result<EventTable> {
        let mut table = TableBuilder::default();
        while let Some(r) = rows.next()? {
            table.push_sql(r)?;
        }
        Ok(table.finish())
    }

    /// The finished table, rows in the order they were pushed.
    pub fn finish(self) -> EventTable {
        self.table
    }

    fn push_text(&mut self, value: Option<&str>) -> Result<Option<Text>> {
        let Some(s) = value else { return Ok(None) };
        let start = offset(self.table.text.len())?;
        self.table.text.push_str(s);
        let units = if s.is_ascii() {
            s.len()
        } else {
            s.chars().map(char::len_utf16).sum()
        };
        Ok(Some(Text {
            start,
            len: offset(s.len())?,
            units: offset(units)?,
        }))
    }

    fn intern(&mut self, value: Option<&str>) -> Result<u32> {
        match value {
            Some(s) => index_of(&mut self.shared, &mut self.table.shared, s, |s| {
                Ok(s.to_string())
            }),
            None => Ok(NONE),
        }
    }

    fn push_json(&mut self, value: Option<&str>) -> Result<u32> {
        if value.is_none() {
            return Ok(NONE);
        }
        self.scratch.clear();
        serde_json::to_writer(&mut self.scratch, &StoredJson(value))?;
        let text = std::str::from_utf8(&self.scratch)
            .map_err(|_| Error::internal("calendar events: a value is not UTF-8"))?;
        index_of(&mut self.values, &mut self.table.values, text, |text| {
            Ok(RawValue::from_string(text.to_string())?)
        })
    }

    fn calendar_key(&mut self, account: u32, calendar: u32) -> Result<u32> {
        if let Some(&k) = self.keys.get(&(account, calendar)) {
            return Ok(k);
        }
        let k = offset(self.table.calendar_keys.len())?;
        self.table.calendar_keys.push((account, calendar));
        self.keys.insert((account, calendar), k);
        Ok(k)
    }
}
