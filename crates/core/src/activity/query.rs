//! `GET /activity/events` / `listActivityEvents` (CONTRACT.md §10).
//!
//! Both bounds are inclusive, newest first. The source filter is written as `+source IN (…)`:
//! the unary plus keeps SQLite from choosing `idx_activity_events_source`, so the query always
//! walks `idx_activity_events_time` over the window (which also yields the order for free) —
//! the right plan for a day among many events of few sources.

use rusqlite::{params_from_iter, types::Value as SqlValue, Connection};
use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::time::parse_iso_input_ms;
use crate::validate::{Fields, Source};

/// One event as the API shows it: `id` is the stored `event_id`; `raw_json`, `account_id`
/// and `event_ts` are not exposed.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ActivityEvent {
    pub id: String,
    pub source: String,
    pub event_type: String,
    pub title: String,
    pub description: Option<String>,
    pub url: Option<String>,
    pub actor: Option<String>,
    pub event_time: String,
}

/// A validated query.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivityQuery {
    /// Epoch seconds, inclusive.
    pub start: i64,
    /// Epoch seconds, inclusive.
    pub end: i64,
    /// Exact `source` values; empty means every source.
    pub sources: Vec<String>,
    /// 1..=1000.
    pub limit: i64,
}

impl ActivityQuery {
    /// Validates `{start, end, sources?, limit?}` (query semantics: 422 items with `query`
    /// locations, then 400 for unparsable times or a reversed window).
    pub fn parse(input: &Value) -> Result<ActivityQuery> {
        let mut f = Fields::new(Source::Query, input);
        let start = f.required_str("start", 0);
        let end = f.required_str("end", 0);
        let sources = f.optional_comma_list("sources").unwrap_or_default();
        let limit = f.optional_int("limit", Some(1), Some(1000)).unwrap_or(200);
        f.finish()?;
        let start = parse_iso_input_ms(start.as_deref().unwrap_or_default())?.div_euclid(1000);
        let end = parse_iso_input_ms(end.as_deref().unwrap_or_default())?.div_euclid(1000);
        if start > end {
            return Err(Error::BadRequest("start must be before end".into()));
        }
        Ok(ActivityQuery {
            start,
            end,
            sources,
            limit,
        })
    }

    /// The SQL and its parameters.
    pub fn sql(&self) -> (String, Vec<SqlValue>) {
        let mut sql = String::from(
            "SELECT event_id, source, event_type, title, description, url, actor, event_time
               FROM activity_events WHERE event_ts >= ?1 AND event_ts <= ?2",
        );
        let mut args = vec![SqlValue::Integer(self.start), SqlValue::Integer(self.end)];
        if !self.sources.is_empty() {
            let marks: Vec<String> = (0..self.sources.len())
                .map(|i| format!("?{}", i + 3))
                .collect();
            sql.push_str(&format!(" AND +source IN ({})", marks.join(", ")));
            args.extend(self.sources.iter().cloned().map(SqlValue::Text));
        }
        sql.push_str(&format!(
            " ORDER BY event_ts DESC LIMIT ?{}",
            args.len() + 1
        ));
        args.push(SqlValue::Integer(self.limit));
        (sql, args)
    }

    /// Runs the query.
    pub fn run(&self, conn: &Connection) -> Result<Vec<ActivityEvent>> {
        let (sql, args) = self.sql();
        let mut stmt = conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params_from_iter(args), |r| {
            Ok(ActivityEvent {
                id: r.get(0)?,
                source: r.get(1)?,
                event_type: r.get(2)?,
                title: r.get(3)?,
                description: r.get(4)?,
                url: r.get(5)?,
                actor: r.get(6)?,
                event_time: r.get(7)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn validates_like_the_contract() {
        let q = ActivityQuery::parse(&json!({"start": "2024-01-01", "end": "2024-01-02T00:00:00.000Z", "sources": "jira,,confluence", "limit": "5"})).unwrap();
        assert_eq!(q.sources, vec!["jira", "confluence"]);
        assert_eq!(q.limit, 5);
        let err = ActivityQuery::parse(&json!({"start": "x", "end": "2024-01-01"})).unwrap_err();
        assert_eq!(err.to_string(), "Invalid isoformat string: 'x'");
        let err =
            ActivityQuery::parse(&json!({"start": "2024-01-02", "end": "2024-01-01"})).unwrap_err();
        assert_eq!(err.to_string(), "start must be before end");
        let err = ActivityQuery::parse(&json!({"end": "2024-01-01", "limit": -1})).unwrap_err();
        let Error::Validation(items) = err else {
            panic!()
        };
        assert_eq!(items[0]["type"], "missing");
        assert_eq!(items[0]["loc"], json!(["query", "start"]));
        assert_eq!(items[1]["type"], "greater_than_equal");
        let err = ActivityQuery::parse(
            &json!({"start": "2024-01-01", "end": "2024-01-01", "limit": 1001}),
        )
        .unwrap_err();
        let Error::Validation(items) = err else {
            panic!()
        };
        assert_eq!(items[0]["type"], "less_than_equal");
    }
}
