//! The answer of `listCalendarEvents`: the chosen rows of an [`EventTable`], serialized straight
//! from the table's buffers.
//!
//! Building one struct of owned strings per row (and a `Value` tree per organizer) cost more
//! than finding the rows, so the list only holds row indices into the (shared, immutable)
//! table; the JSON is written from there by `Serialize` (one pass, no intermediate tree), and
//! the JS binding takes the same list in columns ([`EventList::into_columns`]).

use std::sync::Arc;

use serde::ser::{SerializeSeq, SerializeStruct};
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

use super::accounts::CalendarEvent;
use super::event_columns::EventColumns;
use super::event_table::{EventTable, TableRow};
use crate::error::Result;

/// `calendar_color` and `calendar_name` of each calendar the rows point at.
pub(super) type CalendarInfo = Vec<(Option<String>, Option<String>)>;

/// `CalendarEvent[]` of `listCalendarEvents`, in order; serializes to the contract's JSON.
#[derive(Debug, Clone, Default)]
pub struct EventList {
    table: Arc<EventTable>,
    /// (row of `table`, index into `calendars`) of each event, in order.
    rows: Vec<(u32, u32)>,
    calendars: CalendarInfo,
}

impl EventList {
    pub(super) fn new(
        table: Arc<EventTable>,
        rows: Vec<(u32, u32)>,
        calendars: CalendarInfo,
    ) -> EventList {
        EventList {
            table,
            rows,
            calendars,
        }
    }

    /// Number of events.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True when there is no event.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The list in columns, the shape the JS binding hands over (see [`EventColumns`]).
    pub fn into_columns(self) -> Result<EventColumns> {
        super::event_columns::to_columns(&self)
    }

    /// The events as owned structs (for Rust callers that inspect them; the JS and HTTP
    /// surfaces serialize the list directly).
    pub fn to_events(&self) -> Result<Vec<CalendarEvent>> {
        let text = serde_json::to_string(self)?;
        Ok(serde_json::from_str(&text)?)
    }

    /// The table the rows are in.
    pub(super) fn table(&self) -> &EventTable {
        &self.table
    }

    /// Each event's row and the index into [`Self::calendars`] of its calendar, in order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&TableRow, u32)> + '_ {
        self.rows
            .iter()
            .filter_map(|&(row, calendar)| Some((self.table.rows.get(row as usize)?, calendar)))
    }

    /// The calendars the rows point at, as (color, name).
    pub(super) fn calendars(&self) -> &CalendarInfo {
        &self.calendars
    }
}

impl Serialize for EventList {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.rows.len()))?;
        for (row, calendar) in self.iter() {
            let (color, name) = self
                .calendars
                .get(calendar as usize)
                .map_or((None, None), |(c, n)| (c.as_deref(), n.as_deref()));
            seq.serialize_element(&RowView {
                table: &self.table,
                row,
                color,
                name,
            })?;
        }
        seq.end()
    }
}

/// One row as it serializes.
struct RowView<'a> {
    table: &'a EventTable,
    row: &'a TableRow,
    color: Option<&'a str>,
    name: Option<&'a str>,
}

/// A stored JSON text: spliced in when valid, else a JSON string; `null` when NULL.
pub(super) struct StoredJson<'a>(pub Option<&'a str>);

impl Serialize for StoredJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self.0 {
            None => s.serialize_unit(),
            Some(text) => match serde_json::from_str::<&RawValue>(text) {
                Ok(raw) => raw.serialize(s),
                Err(_) => s.serialize_str(text),
            },
        }
    }
}

impl Serialize for RowView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let (t, r) = (self.table, self.row);
        let text = |i| t.text(r, i);
        let shared = |i| t.shared(r, i);
        // The table holds organizer/attendees already validated, in the answer's form.
        let json = |i| t.json(r, i);
        let mut st = s.serialize_struct("CalendarEvent", 22)?;
        st.serialize_field("account_id", &shared(0))?;
        st.serialize_field("event_id", &text(0))?;
        st.serialize_field("calendar_id", &shared(1))?;
        st.serialize_field("title", &text(1))?;
        st.serialize_field("description", &text(2))?;
        st.serialize_field("start_time", &text(3))?;
        st.serialize_field("end_time", &text(4))?;
        st.serialize_field("start_ts", &r.start_ts)?;
        st.serialize_field("end_ts", &r.end_ts)?;
        st.serialize_field("all_day", &r.all_day)?;
        st.serialize_field("location", &text(5))?;
        st.serialize_field("conference_url", &text(6))?;
        st.serialize_field("visibility", &shared(2))?;
        st.serialize_field("status", &shared(3))?;
        st.serialize_field("organizer", &json(0))?;
        st.serialize_field("attendees", &json(1))?;
        st.serialize_field("html_link", &text(7))?;
        st.serialize_field("time_zone", &shared(4))?;
        st.serialize_field("created_at", &text(8))?;
        st.serialize_field("updated_at", &text(9))?;
        st.serialize_field("calendar_color", &self.color)?;
        st.serialize_field("calendar_name", &self.name)?;
        st.end()
    }
}
