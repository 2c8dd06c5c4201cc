//! Facade methods of the activity timeline.

use serde_json::Value;

use super::query::{ActivityEvent, ActivityQuery};
use crate::error::Result;

impl crate::Backend {
    /// `listActivityEvents(query)` / `GET /activity/events` (CONTRACT.md §10): events with
    /// `start <= event_ts <= end`, optionally of some `sources`, newest first, at most `limit`
    /// (1..1000, default 200; the original let a negative limit return every row).
    pub async fn list_activity_events(&self, query: &Value) -> Result<Vec<ActivityEvent>> {
        self.check_open()?;
        let q = ActivityQuery::parse(query)?;
        self.store().read(move |c| q.run(c)).await
    }
}
