//! The answer of `listCalendarEvents`, kept as the rows' bytes until it is serialized.
//!
//! A month can hold thousands of rows of 22 fields. Building one struct of owned strings per
//! row (and a `Value` tree per organizer) cost more than SQLite reading them, so the text
//! columns of every row are copied into one buffer and the rows keep offsets into it; the JSON
//! is written from there by `Serialize` (one pass, no intermediate tree). `organizer` and
//! `attendees` are stored JSON and are spliced in as they are (validated, never re-built); a
//! stored text that is not JSON is answered as a JSON string, as before.

use serde::ser::{SerializeSeq, SerializeStruct};
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

use super::accounts::CalendarEvent;
use super::event_columns::EventColumns;
use crate::error::Result;

/// A text column of a row: offset and length in the buffer; `None` for NULL.
pub(super) type Span = Option<(u32, u32)>;

/// One row: spans of its text columns, its numbers, and its calendar's index.
#[derive(Debug, Clone)]
pub(super) struct Row {
    /// account_id, event_id, calendar_id, title, description, start_time, end_time, location,
    /// conference_url, visibility, status, organizer, attendees, html_link, time_zone,
    /// created_at, updated_at.
    pub text: [Span; 17],
    pub start_ts: Option<i64>,
    pub end_ts: Option<i64>,
    pub all_day: bool,
    pub calendar: usize,
}

/// `calendar_color` and `calendar_name` of each calendar the rows point at.
pub(super) type CalendarInfo = Vec<(Option<String>, Option<String>)>;

/// `CalendarEvent[]` of `listCalendarEvents`, in order; serializes to the contract's JSON.
#[derive(Debug, Clone, Default)]
pub struct EventList {
    buf: String,
    rows: Vec<Row>,
    /// `calendar_color` and `calendar_name` of the calendars the rows point at.
    calendars: CalendarInfo,
}

/// Collects rows into an [`EventList`].
pub(super) struct Builder {
    list: EventList,
}

impl Builder {
    /// An empty list over the given calendars (color, name).
    pub fn new(calendars: CalendarInfo) -> Builder {
        Builder {
            list: EventList {
                calendars,
                ..Default::default()
            },
        }
    }

    /// Appends one row; `text` in the order of [`Row::text`].
    pub fn push(
        &mut self,
        text: [Option<&str>; 17],
        start_ts: Option<i64>,
        end_ts: Option<i64>,
        all_day: bool,
        calendar: usize,
    ) -> Result<()> {
        let mut spans: [Span; 17] = [None; 17];
        for (span, value) in spans.iter_mut().zip(text) {
            if let Some(s) = value {
                let start = self.list.buf.len();
                self.list.buf.push_str(s);
                let too_large = || crate::Error::internal("calendar events answer too large");
                let end = u32::try_from(self.list.buf.len()).map_err(|_| too_large())?;
                let start = u32::try_from(start).map_err(|_| too_large())?;
                *span = Some((start, end - start));
            }
        }
        self.list.rows.push(Row {
            text: spans,
            start_ts,
            end_ts,
            all_day,
            calendar,
        });
        Ok(())
    }

    /// The finished list.
    pub fn finish(self) -> EventList {
        self.list
    }
}

impl EventList {
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
        super::event_columns::to_columns(self)
    }

    /// The text buffer, the rows and the calendars.
    pub(super) fn into_parts(self) -> (String, Vec<Row>, CalendarInfo) {
        (self.buf, self.rows, self.calendars)
    }

    /// The events as owned structs (for Rust callers that inspect them; the JS and HTTP
    /// surfaces serialize the list directly).
    pub fn to_events(&self) -> Result<Vec<CalendarEvent>> {
        let text = serde_json::to_string(self)?;
        Ok(serde_json::from_str(&text)?)
    }

    fn view<'a>(&'a self, row: &'a Row) -> RowView<'a> {
        let text = row.text.map(|span| {
            span.and_then(|(start, len)| {
                self.buf.get(start as usize..start as usize + len as usize)
            })
        });
        let (color, name) = self
            .calendars
            .get(row.calendar)
            .map(|(c, n)| (c.as_deref(), n.as_deref()))
            .unwrap_or((None, None));
        RowView {
            text,
            row,
            color,
            name,
        }
    }
}

impl Serialize for EventList {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.rows.len()))?;
        for row in &self.rows {
            seq.serialize_element(&self.view(row))?;
        }
        seq.end()
    }
}

/// One row as it serializes.
struct RowView<'a> {
    text: [Option<&'a str>; 17],
    row: &'a Row,
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
        let t = &self.text;
        let mut st = s.serialize_struct("CalendarEvent", 22)?;
        st.serialize_field("account_id", &t[0])?;
        st.serialize_field("event_id", &t[1])?;
        st.serialize_field("calendar_id", &t[2])?;
        st.serialize_field("title", &t[3])?;
        st.serialize_field("description", &t[4])?;
        st.serialize_field("start_time", &t[5])?;
        st.serialize_field("end_time", &t[6])?;
        st.serialize_field("start_ts", &self.row.start_ts)?;
        st.serialize_field("end_ts", &self.row.end_ts)?;
        st.serialize_field("all_day", &self.row.all_day)?;
        st.serialize_field("location", &t[7])?;
        st.serialize_field("conference_url", &t[8])?;
        st.serialize_field("visibility", &t[9])?;
        st.serialize_field("status", &t[10])?;
        st.serialize_field("organizer", &StoredJson(t[11]))?;
        st.serialize_field("attendees", &StoredJson(t[12]))?;
        st.serialize_field("html_link", &t[13])?;
        st.serialize_field("time_zone", &t[14])?;
        st.serialize_field("created_at", &t[15])?;
        st.serialize_field("updated_at", &t[16])?;
        st.serialize_field("calendar_color", &self.color)?;
        st.serialize_field("calendar_name", &self.name)?;
        st.end()
    }
}
