//! A JSON text column (`organizer_json`, `attendees_json`) handed out as it is stored.
//!
//! Reading a month of events used to parse every organizer and attendee list into a `Value`
//! tree only to serialize it again. The stored text is JSON already, so it is validated (without
//! building anything) and spliced into the answer as-is. The JSON shape is unchanged: `null`
//! for NULL, the stored value when it is valid JSON, and — as before — the text as a JSON string
//! when a row holds something that is not JSON.

use rusqlite::types::{FromSqlError, Type, ValueRef};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::Value;

/// The value of a JSON text column.
#[derive(Debug, Clone, Default)]
pub enum JsonColumn {
    /// NULL.
    #[default]
    Null,
    /// Valid JSON text, kept as stored.
    Json(Box<RawValue>),
    /// Text that is not valid JSON, answered as a JSON string.
    Text(String),
}

impl JsonColumn {
    /// Reads a column: NULL, else its text (a non-text value is a column type error).
    pub fn read(value: ValueRef<'_>) -> rusqlite::Result<JsonColumn> {
        let text = match value {
            ValueRef::Null => return Ok(JsonColumn::Null),
            ValueRef::Text(bytes) => std::str::from_utf8(bytes).map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(0, Type::Text, Box::new(e))
            })?,
            other => {
                return Err(rusqlite::Error::FromSqlConversionFailure(
                    0,
                    other.data_type(),
                    Box::new(FromSqlError::InvalidType),
                ))
            }
        };
        Ok(Self::from_text(text))
    }

    /// The column for a stored text.
    pub fn from_text(text: &str) -> JsonColumn {
        match serde_json::from_str::<&RawValue>(text) {
            Ok(raw) => JsonColumn::Json(raw.to_owned()),
            Err(_) => JsonColumn::Text(text.to_string()),
        }
    }

    /// The value as a `Value` tree (for callers that inspect it).
    pub fn to_value(&self) -> Value {
        match self {
            JsonColumn::Null => Value::Null,
            JsonColumn::Json(raw) => serde_json::from_str(raw.get()).unwrap_or(Value::Null),
            JsonColumn::Text(text) => Value::String(text.clone()),
        }
    }
}

impl PartialEq for JsonColumn {
    fn eq(&self, other: &Self) -> bool {
        self.to_value() == other.to_value()
    }
}

impl Serialize for JsonColumn {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            JsonColumn::Null => s.serialize_unit(),
            JsonColumn::Json(raw) => raw.serialize(s),
            JsonColumn::Text(text) => s.serialize_str(text),
        }
    }
}

impl<'de> Deserialize<'de> for JsonColumn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(d)?;
        Ok(if raw.get() == "null" {
            JsonColumn::Null
        } else {
            JsonColumn::Json(raw)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_match_a_parsed_value() {
        let cases = [
            (ValueRef::Null, "null"),
            (
                ValueRef::Text(b" {\"a\": [1, \"x y\"]} "),
                r#"{"a": [1, "x y"]}"#,
            ),
            (ValueRef::Text(b"not json"), r#""not json""#),
            (ValueRef::Text(b"null"), "null"),
        ];
        for (input, expected) in cases {
            let column = JsonColumn::read(input).unwrap();
            assert_eq!(serde_json::to_string(&column).unwrap(), expected);
        }
        assert!(JsonColumn::read(ValueRef::Integer(1)).is_err());
        assert_eq!(
            JsonColumn::from_text(r#"{"b":1}"#).to_value(),
            serde_json::json!({"b": 1})
        );
    }
}
