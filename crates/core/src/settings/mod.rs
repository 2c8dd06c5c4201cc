//! Runtime settings, persisted in the `settings` table (CONTRACT.md §1.6).
//!
//! The full object always has every key; stored rows override the defaults. New values apply
//! from the next scheduler pass or job, so readers take a fresh snapshot when they start.

mod api;

use rusqlite::{params, Connection};
use serde::Serialize;
use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::time::now_iso;
use crate::validate::{item, parse_lax_int, STRING_TYPE};

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
    /// The vault-relative daily notes folder (CONTRACT.md §17).
    pub daily_notes_folder: String,
    /// The daily note template; `{{date}}` is replaced (CONTRACT.md §17).
    pub daily_note_template: String,
    /// Repositories whose commits GitHub activity reads (CONTRACT.md §18).
    pub github_repo_paths: Vec<String>,
    /// Period of `connector.github.sync`; 0 = not scheduled (CONTRACT.md §18).
    pub github_sync_interval_sec: i64,
    /// The instruction of `suggest.generate` (CONTRACT.md §19).
    pub summarize_prompt: String,
}

/// The app's default daily note template (reference A.1, `store.ts:50-66`).
pub const DEFAULT_DAILY_NOTE_TEMPLATE: &str = "---\ndate: {{date}}\ntags: [daily]\n---\n\n# {{date}}\n\n## Today's Tasks\n\n-\n\n## Tomorrow's Plan\n\n-\n\n## Notes\n";

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
            daily_notes_folder: "daily".into(),
            daily_note_template: DEFAULT_DAILY_NOTE_TEMPLATE.into(),
            github_repo_paths: Vec::new(),
            github_sync_interval_sec: 900,
            summarize_prompt: crate::suggest::DEFAULT_SUMMARIZE_PROMPT.to_string(),
        }
    }
}

/// The rule a setting's value must satisfy.
enum Rule {
    AtLeast(i64),
    Between(i64, i64),
    ZeroOrAtLeast(i64),
    /// Any string.
    Text,
    /// A list of paths: trimmed, normalised, empty entries and duplicates dropped.
    PathList,
    /// A lax boolean.
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
    ("daily_notes_folder", Rule::Text),
    ("daily_note_template", Rule::Text),
    ("github_repo_paths", Rule::PathList),
    ("github_sync_interval_sec", Rule::ZeroOrAtLeast(300)),
    ("summarize_prompt", Rule::Text),
];

impl Settings {
    fn set(&mut self, key: &str, value: &Value) {
        match (key, value) {
            ("github_repo_paths", Value::Array(items)) => {
                self.github_repo_paths = items
                    .iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect();
                return;
            }
            ("summarize_prompt", Value::String(text)) => {
                self.summarize_prompt = text.clone();
                return;
            }
            ("claude_mcp", Value::Bool(on)) => {
                self.claude_mcp = *on;
                return;
            }
            ("daily_notes_folder", Value::String(text)) => {
                self.daily_notes_folder = text.clone();
                return;
            }
            ("daily_note_template", Value::String(text)) => {
                self.daily_note_template = text.clone();
                return;
            }
            _ => {}
        }
        let Some(value) = value.as_i64() else {
            return;
        };
        match key {
            "atlassian_sync_interval_sec" => self.atlassian_sync_interval_sec = value,
            "calendar_sync_interval_sec" => self.calendar_sync_interval_sec = value,
            "claude_max_concurrent" => self.claude_max_concurrent = value,
            "claude_session_max_messages" => self.claude_session_max_messages = value,
            "claude_session_max_chars" => self.claude_session_max_chars = value,
            "claude_output_cap_bytes" => self.claude_output_cap_bytes = value,
            "github_sync_interval_sec" => self.github_sync_interval_sec = value,
            _ => {}
        }
    }

    /// The object as JSON.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// Checks one value against its rule and returns it normalised; `Err` carries the 422 item.
fn check(key: &str, rule: &Rule, value: &Value) -> std::result::Result<Value, Value> {
    let loc = [json!("body"), json!(key)];
    match rule {
        Rule::Text => {
            return match value {
                Value::String(_) => Ok(value.clone()),
                _ => Err(item("string_type", &loc, STRING_TYPE, value.clone(), None)),
            }
        }
        Rule::PathList => return check_path_list(key, value),
        Rule::Bool => {
            return crate::validate::parse_lax_bool(value)
                .map(Value::Bool)
                .ok_or_else(|| {
                    item(
                        "bool_parsing",
                        &loc,
                        "Input should be a valid boolean, unable to interpret input",
                        value.clone(),
                        None,
                    )
                })
        }
        _ => {}
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
        _ => Ok(json!(n)),
    }
}

/// A list of strings, each trimmed and lexically normalised (like Node's `path.normalize`);
/// empty entries and duplicates dropped, first occurrence kept (reference B.4).
fn check_path_list(key: &str, value: &Value) -> std::result::Result<Value, Value> {
    let Value::Array(items) = value else {
        return Err(item(
            "list_type",
            &[json!("body"), json!(key)],
            "Input should be a valid list",
            value.clone(),
            None,
        ));
    };
    let mut out: Vec<Value> = Vec::new();
    for (i, entry) in items.iter().enumerate() {
        let Value::String(raw) = entry else {
            return Err(item(
                "string_type",
                &[json!("body"), json!(key), json!(i)],
                STRING_TYPE,
                entry.clone(),
                None,
            ));
        };
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            continue;
        }
        let normal = Value::String(normalize_path(trimmed));
        if !out.contains(&normal) {
            out.push(normal);
        }
    }
    Ok(Value::Array(out))
}

/// Lexical normalisation: repeated separators and `.` segments removed, `..` resolved where
/// possible, a trailing separator dropped (except the root).
pub fn normalize_path(path: &str) -> String {
    let sep = if cfg!(windows) { '\\' } else { '/' };
    let unified: String = if cfg!(windows) {
        path.replace('/', "\\")
    } else {
        path.to_string()
    };
    let absolute = unified.starts_with(sep);
    let mut parts: Vec<&str> = Vec::new();
    for seg in unified.split(sep) {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !absolute {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let body = parts.join(&sep.to_string());
    match (absolute, body.is_empty()) {
        (true, _) => format!("{sep}{body}"),
        (false, true) => ".".to_string(),
        (false, false) => body,
    }
}

/// Validates a patch: an object whose keys are known settings with valid values.
pub fn validate_patch(patch: &Value) -> Result<Vec<(&'static str, Value)>> {
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
                if let Ok(v) = check(&key, rule, &value) {
                    settings.set(&key, &v);
                }
            }
        }
    }
    Ok(settings)
}

/// Stores a validated patch in one transaction and returns the full object.
pub fn store(conn: &mut Connection, patch: &[(&'static str, Value)]) -> Result<Settings> {
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
                ("calendar_sync_interval_sec", json!(0)),
                ("claude_max_concurrent", json!(4))
            ]
        );
        assert!(validate_patch(&json!({"claude_max_concurrent": true})).is_err());
    }

    #[test]
    fn typed_settings_are_checked_and_normalised() {
        let ok = validate_patch(&json!({
            "github_repo_paths": [" /a/b/ ", "/a//b", "", "/c/./d/../e"],
            "summarize_prompt": "요약",
            "github_sync_interval_sec": 0
        }))
        .unwrap();
        assert_eq!(ok[0].1, json!(["/a/b", "/c/e"]));
        assert_eq!(ok[1].1, json!("요약"));
        let Error::Validation(items) = validate_patch(&json!({
            "github_repo_paths": ["/x", 3], "summarize_prompt": 1, "github_sync_interval_sec": 299
        }))
        .unwrap_err() else {
            panic!()
        };
        let kinds: Vec<_> = items.iter().map(|i| i["type"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["string_type", "string_type", "value_error"]);
        assert_eq!(items[0]["loc"], json!(["body", "github_repo_paths", 1]));
        assert!(validate_patch(&json!({"github_repo_paths": "x"})).is_err());
    }
}
