//! Runtime settings, persisted in the `settings` table (CONTRACT.md §1.6).
//!
//! The full object always has every key; stored rows override the defaults. New values apply
//! from the next scheduler pass or job, so readers take a fresh snapshot when they start.

use rusqlite::{params, Connection};
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::error::{Error, Result};
use crate::time::now_iso;
use crate::validate::{item, parse_lax_int};

/// The settings object of the contract, keys in the contract's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Settings {
    pub atlassian_sync_interval_sec: i64,
    pub calendar_sync_interval_sec: i64,
    pub claude_max_concurrent: i64,
    pub claude_session_max_messages: i64,
    pub claude_session_max_chars: i64,
    pub claude_output_cap_bytes: i64,
    /// Claude runs get the in-process MCP memory server while HTTP runs (CONTRACT.md §16).
    pub claude_mcp: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            atlassian_sync_interval_sec: 600,
            calendar_sync_interval_sec: 900,
            claude_max_concurrent: 2,
            claude_session_max_messages: 20,
            claude_session_max_chars: 12000,
            claude_output_cap_bytes: 1_048_576,
            claude_mcp: true,
        }
    }
}

/// The rule a setting's value must satisfy.
enum Rule {
    AtLeast(i64),
    Between(i64, i64),
    ZeroOrAtLeast(i64),
    /// A lax boolean, kept as 0 or 1.
    Bool,
}

const RULES: &[(&str, Rule)] = &[
    ("atlassian_sync_interval_sec", Rule::AtLeast(60)),
    ("calendar_sync_interval_sec", Rule::ZeroOrAtLeast(60)),
    ("claude_max_concurrent", Rule::Between(1, 16)),
    ("claude_session_max_messages", Rule::AtLeast(1)),
    ("claude_session_max_chars", Rule::AtLeast(1)),
    ("claude_output_cap_bytes", Rule::AtLeast(1024)),
    ("claude_mcp", Rule::Bool),
];

impl Settings {
    fn set(&mut self, key: &str, value: i64) {
        match key {
            "atlassian_sync_interval_sec" => self.atlassian_sync_interval_sec = value,
            "calendar_sync_interval_sec" => self.calendar_sync_interval_sec = value,
            "claude_max_concurrent" => self.claude_max_concurrent = value,
            "claude_session_max_messages" => self.claude_session_max_messages = value,
            "claude_session_max_chars" => self.claude_session_max_chars = value,
            "claude_output_cap_bytes" => self.claude_output_cap_bytes = value,
            "claude_mcp" => self.claude_mcp = value != 0,
            _ => {}
        }
    }

    /// The object as JSON.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// Checks one value against its rule; `Err` carries the 422 item.
fn check(key: &str, rule: &Rule, value: &Value) -> std::result::Result<i64, Value> {
    let loc = [json!("body"), json!(key)];
    if let Rule::Bool = rule {
        return crate::validate::parse_lax_bool(value)
            .map(i64::from)
            .ok_or_else(|| {
                item(
                    "bool_parsing",
                    &loc,
                    "Input should be a valid boolean, unable to interpret input",
                    value.clone(),
                    None,
                )
            });
    }
    // Booleans are not integers here, even though JSON-wise `true` might pass a lax parser.
    let n = match value {
        Value::Bool(_) => None,
        other => parse_lax_int(other),
    };
    let Some(n) = n else {
        return Err(item(
            "int_parsing",
            &loc,
            "Input should be a valid integer, unable to parse string as an integer",
            value.clone(),
            None,
        ));
    };
    let ge = |min: i64| {
        item(
            "greater_than_equal",
            &loc,
            format!("Input should be greater than or equal to {min}"),
            value.clone(),
            Some(json!({ "ge": min })),
        )
    };
    match *rule {
        Rule::AtLeast(min) if n < min => Err(ge(min)),
        Rule::Between(min, _) if n < min => Err(ge(min)),
        Rule::Between(_, max) if n > max => Err(item(
            "less_than_equal",
            &loc,
            format!("Input should be less than or equal to {max}"),
            value.clone(),
            Some(json!({ "le": max })),
        )),
        Rule::ZeroOrAtLeast(min) if n != 0 && n < min => Err(item(
            "value_error",
            &loc,
            format!("Value error, must be 0 (off) or at least {min}"),
            value.clone(),
            Some(json!({ "error": format!("must be 0 or >= {min}") })),
        )),
        _ => Ok(n),
    }
}

/// Validates a patch: an object whose keys are known settings with valid values.
pub fn validate_patch(patch: &Value) -> Result<Vec<(&'static str, i64)>> {
    let Value::Object(map) = patch else {
        return Err(Error::invalid(item(
            "model_attributes_type",
            &[json!("body")],
            "Input should be a valid dictionary or object to extract fields from",
            patch.clone(),
            None,
        )));
    };
    let mut errors = Vec::new();
    let mut out = Vec::new();
    for (key, value) in map {
        match RULES.iter().find(|(k, _)| k == key) {
            None => errors.push(item(
                "extra_forbidden",
                &[json!("body"), json!(key)],
                "Extra inputs are not permitted",
                value.clone(),
                None,
            )),
            Some((name, rule)) => match check(name, rule, value) {
                Ok(n) => out.push((*name, n)),
                Err(e) => errors.push(e),
            },
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(Error::Validation(errors))
    }
}

/// Reads the full settings object (defaults where nothing is stored).
pub fn load(conn: &Connection) -> Result<Settings> {
    let mut settings = Settings::default();
    let mut stmt = conn.prepare_cached("SELECT key, value_json FROM settings")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    for row in rows {
        let (key, value_json) = row?;
        if let Some((_, rule)) = RULES.iter().find(|(k, _)| *k == key) {
            // A stored value that no longer satisfies its rule falls back to the default.
            if let Ok(value) = serde_json::from_str::<Value>(&value_json) {
                if let Ok(n) = check(&key, rule, &value) {
                    settings.set(&key, n);
                }
            }
        }
    }
    Ok(settings)
}

/// Stores a validated patch in one transaction and returns the full object.
pub fn store(conn: &mut Connection, patch: &[(&'static str, i64)]) -> Result<Settings> {
    let tx = conn.transaction()?;
    {
        let now = now_iso();
        let mut stmt = tx.prepare_cached(
            "INSERT INTO settings(key, value_json, updated_at) VALUES (?1, ?2, ?3)
             ON CONFLICT(key) DO UPDATE SET value_json = excluded.value_json,
                                            updated_at = excluded.updated_at",
        )?;
        for (key, value) in patch {
            stmt.execute(params![key, value.to_string(), now])?;
        }
    }
    let settings = load(&tx)?;
    tx.commit()?;
    Ok(settings)
}

/// The keys of the settings object, for documentation and the OpenAPI schema.
pub fn keys() -> impl Iterator<Item = &'static str> {
    RULES.iter().map(|(k, _)| *k)
}

/// The full object as a map (used by adapters that merge or describe it).
pub fn as_map(settings: &Settings) -> Map<String, Value> {
    match settings.to_value() {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_unknown_keys_and_bad_values_together() {
        let err = validate_patch(&json!({
            "nope": 1, "claude_max_concurrent": 17, "calendar_sync_interval_sec": 30,
            "atlassian_sync_interval_sec": "x"
        }))
        .unwrap_err();
        let Error::Validation(items) = err else {
            panic!()
        };
        let kinds: Vec<_> = items.iter().map(|i| i["type"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            [
                "extra_forbidden",
                "less_than_equal",
                "value_error",
                "int_parsing"
            ]
        );
        assert_eq!(items[0]["loc"], json!(["body", "nope"]));
    }

    #[test]
    fn accepts_zero_calendar_interval_and_numeric_strings() {
        let ok =
            validate_patch(&json!({"calendar_sync_interval_sec": 0, "claude_max_concurrent": "4"}))
                .unwrap();
        assert_eq!(
            ok,
            vec![
                ("calendar_sync_interval_sec", 0),
                ("claude_max_concurrent", 4)
            ]
        );
        assert!(validate_patch(&json!({"claude_max_concurrent": true})).is_err());
    }
}
