//! Typed, lenient reading of Calendar API v3 event pages (CONTRACT.md §8.3, §8.5).
//!
//! A page is read once, straight into the few fields the mapping needs, borrowing strings from
//! the body where they have no escapes; no `Value` tree is built per event. Reading is as
//! lenient as the `Value` lookups it replaces: a field of an unexpected type reads as absent
//! (never an error), unknown fields are skipped, a repeated key keeps its last value, and only a
//! body that is not JSON at all (or not an object) fails the page.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

/// One JSON field as the mapping sees it: absent, a string, or present with another type.
#[derive(Debug, Default, Clone, PartialEq)]
pub enum Field<'a> {
    /// The key is not there.
    #[default]
    Absent,
    /// A string (borrowed from the body unless it had escapes).
    Str(Cow<'a, str>),
    /// Any other JSON value, `null` included.
    Other,
}

impl<'a> Field<'a> {
    /// The string, if the field is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Field::Str(s) => Some(s),
            _ => None,
        }
    }

    /// True when the key was present, whatever its value.
    pub fn is_present(&self) -> bool {
        !matches!(self, Field::Absent)
    }

    /// The string as an owned `String`.
    pub fn to_owned_string(&self) -> Option<String> {
        self.as_str().map(String::from)
    }
}

struct FieldVisitor;

impl<'de> Visitor<'de> for FieldVisitor {
    type Value = Field<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Field<'de>, E> {
        Ok(Field::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Field<'de>, E> {
        Ok(Field::Str(Cow::Owned(v.to_string())))
    }
    fn visit_string<E>(self, v: String) -> Result<Field<'de>, E> {
        Ok(Field::Str(Cow::Owned(v)))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Field<'de>, E> {
        Ok(Field::Other)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Field<'de>, E> {
        Ok(Field::Other)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Field<'de>, E> {
        Ok(Field::Other)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Field<'de>, E> {
        Ok(Field::Other)
    }
    fn visit_unit<E>(self) -> Result<Field<'de>, E> {
        Ok(Field::Other)
    }
    fn visit_none<E>(self) -> Result<Field<'de>, E> {
        Ok(Field::Other)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Field<'de>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Field::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Field<'de>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Field::Other)
    }
}

impl<'de> Deserialize<'de> for Field<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(FieldVisitor)
    }
}

/// Reads the next key of a map as text (`None` at the end).
fn next_key<'de, A: MapAccess<'de>>(map: &mut A) -> Result<Option<Cow<'de, str>>, A::Error> {
    Ok(match map.next_key::<Field<'de>>()? {
        Some(Field::Str(k)) => Some(k),
        // JSON object keys are always strings; anything else cannot occur.
        Some(_) => Some(Cow::Borrowed("")),
        None => None,
    })
}

/// Implements a lenient object reader: `visit_map` fills `Self` key by key through `$on_key`,
/// every other JSON type gives `Self::default()` (which says "not an object").
macro_rules! lenient_object {
    ($ty:ident, $expect:literal, |$this:ident, $key:ident, $map:ident| $on_key:block) => {
        impl<'de> Deserialize<'de> for $ty<'de> {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = $ty<'de>;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($expect)
                    }
                    fn visit_map<A: MapAccess<'de>>(
                        self,
                        mut $map: A,
                    ) -> Result<$ty<'de>, A::Error> {
                        let mut $this = $ty {
                            is_object: true,
                            ..Default::default()
                        };
                        while let Some($key) = next_key(&mut $map)? {
                            $on_key
                        }
                        Ok($this)
                    }
                    fn visit_seq<A: SeqAccess<'de>>(
                        self,
                        mut seq: A,
                    ) -> Result<$ty<'de>, A::Error> {
                        while seq.next_element::<IgnoredAny>()?.is_some() {}
                        Ok($ty::default())
                    }
                    fn visit_borrowed_str<E>(self, _: &'de str) -> Result<$ty<'de>, E> {
                        Ok($ty::default())
                    }
                    fn visit_str<E>(self, _: &str) -> Result<$ty<'de>, E> {
                        Ok($ty::default())
                    }
                    fn visit_bool<E>(self, _: bool) -> Result<$ty<'de>, E> {
                        Ok($ty::default())
                    }
                    fn visit_i64<E>(self, _: i64) -> Result<$ty<'de>, E> {
                        Ok($ty::default())
                    }
                    fn visit_u64<E>(self, _: u64) -> Result<$ty<'de>, E> {
                        Ok($ty::default())
                    }
                    fn visit_f64<E>(self, _: f64) -> Result<$ty<'de>, E> {
                        Ok($ty::default())
                    }
                    fn visit_unit<E>(self) -> Result<$ty<'de>, E> {
                        Ok($ty::default())
                    }
                }
                d.deserialize_any(V)
            }
        }
    };
}

/// `start` or `end` of an event.
#[derive(Debug, Default)]
pub struct Side<'a> {
    /// False when the value is missing or not an object.
    pub is_object: bool,
    pub date: Field<'a>,
    pub date_time: Field<'a>,
    pub time_zone: Field<'a>,
}

lenient_object!(Side, "an event time", |this, key, map| {
    match key.as_ref() {
        "date" => this.date = map.next_value()?,
        "dateTime" => this.date_time = map.next_value()?,
        "timeZone" => this.time_zone = map.next_value()?,
        _ => {
            map.next_value::<IgnoredAny>()?;
        }
    }
});

/// One `conferenceData.entryPoints[]` element: only its `uri` matters.
#[derive(Debug, Default)]
struct EntryPoint<'a> {
    is_object: bool,
    uri: Field<'a>,
}

lenient_object!(EntryPoint, "an entry point", |this, key, map| {
    if key == "uri" {
        this.uri = map.next_value()?;
    } else {
        map.next_value::<IgnoredAny>()?;
    }
});

/// A JSON array read leniently: anything else reads as `None`.
#[derive(Debug)]
pub struct Lenient<T>(pub Option<Vec<T>>);

impl<T> Default for Lenient<T> {
    fn default() -> Self {
        Lenient(None)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Lenient<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Lenient<T>, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
                while let Some(item) = seq.next_element()? {
                    out.push(item);
                }
                Ok(Lenient(Some(out)))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Lenient<T>, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Lenient(None))
            }
            fn visit_borrowed_str<E>(self, _: &'de str) -> Result<Lenient<T>, E> {
                Ok(Lenient(None))
            }
            fn visit_str<E>(self, _: &str) -> Result<Lenient<T>, E> {
                Ok(Lenient(None))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Lenient<T>, E> {
                Ok(Lenient(None))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Lenient<T>, E> {
                Ok(Lenient(None))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Lenient<T>, E> {
                Ok(Lenient(None))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Lenient<T>, E> {
                Ok(Lenient(None))
            }
            fn visit_unit<E>(self) -> Result<Lenient<T>, E> {
                Ok(Lenient(None))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// `conferenceData`: its entry points' `uri`s.
#[derive(Debug, Default)]
struct Conference<'a> {
    is_object: bool,
    entry_points: Lenient<EntryPoint<'a>>,
}

lenient_object!(Conference, "conference data", |this, key, map| {
    if key == "entryPoints" {
        this.entry_points = map.next_value()?;
    } else {
        map.next_value::<IgnoredAny>()?;
    }
});

impl Conference<'_> {
    /// The first non-empty `entryPoints[].uri`.
    fn first_uri(&self) -> Option<&str> {
        if !self.is_object {
            return None;
        }
        self.entry_points
            .0
            .as_ref()?
            .iter()
            .filter(|p| p.is_object)
            .filter_map(|p| p.uri.as_str())
            .find(|u| !u.is_empty())
    }
}

/// The fields of one Google event the mapping reads (CONTRACT.md §8.5).
#[derive(Debug, Default)]
pub struct GoogleEvent<'a> {
    /// False when the item is not a JSON object (it is then skipped).
    pub is_object: bool,
    pub id: Field<'a>,
    pub status: Field<'a>,
    pub summary: Field<'a>,
    pub description: Field<'a>,
    pub location: Field<'a>,
    pub visibility: Field<'a>,
    pub html_link: Field<'a>,
    pub hangout_link: Field<'a>,
    pub created: Field<'a>,
    pub updated: Field<'a>,
    pub start: Side<'a>,
    pub end: Side<'a>,
    /// Raw JSON text of `organizer` and `attendees`, as the body has it.
    pub organizer: Option<&'a RawValue>,
    pub attendees: Option<&'a RawValue>,
    conference: Conference<'a>,
}

lenient_object!(GoogleEvent, "an event", |this, key, map| {
    match key.as_ref() {
        "id" => this.id = map.next_value()?,
        "status" => this.status = map.next_value()?,
        "summary" => this.summary = map.next_value()?,
        "description" => this.description = map.next_value()?,
        "location" => this.location = map.next_value()?,
        "visibility" => this.visibility = map.next_value()?,
        "htmlLink" => this.html_link = map.next_value()?,
        "hangoutLink" => this.hangout_link = map.next_value()?,
        "created" => this.created = map.next_value()?,
        "updated" => this.updated = map.next_value()?,
        "start" => this.start = map.next_value()?,
        "end" => this.end = map.next_value()?,
        "organizer" => this.organizer = Some(map.next_value()?),
        "attendees" => this.attendees = Some(map.next_value()?),
        "conferenceData" => this.conference = map.next_value()?,
        _ => {
            map.next_value::<IgnoredAny>()?;
        }
    }
});

impl GoogleEvent<'_> {
    /// `hangoutLink` when non-empty, else the first non-empty conference entry point.
    pub fn conference_url(&self) -> Option<&str> {
        self.hangout_link
            .as_str()
            .filter(|s| !s.is_empty())
            .or_else(|| self.conference.first_uri())
    }

    /// True for an event returned as cancelled (`showDeleted`).
    pub fn is_cancelled(&self) -> bool {
        self.status.as_str() == Some("cancelled")
    }
}

/// One page of `GET /calendars/{id}/events`.
#[derive(Debug, Default)]
pub struct EventsPage<'a> {
    /// False when the body is JSON but not an object.
    pub is_object: bool,
    /// `items` when it is an array (else none).
    pub items: Vec<GoogleEvent<'a>>,
    pub next_page_token: Field<'a>,
    pub next_sync_token: Field<'a>,
}

lenient_object!(EventsPage, "an events page", |this, key, map| {
    match key.as_ref() {
        "items" => {
            this.items = map
                .next_value::<Lenient<GoogleEvent<'de>>>()?
                .0
                .unwrap_or_default()
        }
        "nextPageToken" => this.next_page_token = map.next_value()?,
        "nextSyncToken" => this.next_sync_token = map.next_value()?,
        _ => {
            map.next_value::<IgnoredAny>()?;
        }
    }
});

/// Parses a page body; the error is serde_json's text.
pub fn parse_page(body: &str) -> Result<EventsPage<'_>, serde_json::Error> {
    serde_json::from_str(body)
}

/// The JSON text without whitespace outside strings (Google pretty-prints its answers; the
/// stored `organizer_json`/`attendees_json` stay compact).
pub fn compact(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    let (mut in_string, mut escaped, mut from) = (false, false, 0);
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if b == b'"' {
            in_string = true;
        } else if matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
            // Whitespace is ASCII, so `i` is a char boundary.
            out.push_str(&raw[from..i]);
            from = i + 1;
        }
    }
    out.push_str(&raw[from..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_leniently() {
        let body = r#"{
          "kind": "calendar#events",
          "nextPageToken": "p2",
          "items": [
            {"id": "a", "summary": 5, "start": {"date": null}, "end": "x",
             "organizer": { "email": "a b@x", "self": true },
             "conferenceData": {"entryPoints": [1, {"uri": ""}, {"uri": "tel:+1"}]},
             "status": "confirmed", "status": "cancelled"},
            7,
            {"id": "esc\"aped", "hangoutLink": "https://meet"}
          ]
        }"#;
        let page = parse_page(body).unwrap();
        assert!(page.is_object);
        assert_eq!(page.next_page_token.as_str(), Some("p2"));
        assert!(!page.next_sync_token.is_present());
        assert_eq!(page.items.len(), 3);
        let a = &page.items[0];
        assert!(a.is_object && a.is_cancelled());
        assert_eq!(a.summary, Field::Other);
        assert!(a.start.is_object && a.start.date.is_present());
        assert!(!a.end.is_object);
        assert_eq!(
            compact(a.organizer.unwrap().get()),
            r#"{"email":"a b@x","self":true}"#
        );
        assert_eq!(a.conference_url(), Some("tel:+1"));
        assert!(!page.items[1].is_object);
        assert_eq!(page.items[2].id.as_str(), Some("esc\"aped"));
        assert_eq!(page.items[2].conference_url(), Some("https://meet"));
        assert!(!parse_page("[1]").unwrap().is_object);
        assert!(parse_page(r#"{"items": {"a": 1}}"#)
            .unwrap()
            .items
            .is_empty());
        assert!(parse_page("<html>").is_err());
    }
}
