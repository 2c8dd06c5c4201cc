//! The activity stream and suggestion facade methods of [`Backend`] (CONTRACT.md §19).

use serde_json::{json, Value};

use super::stream::{self, StreamItem, StreamRequest};
use super::SUGGEST_GENERATE;
use crate::error::{Error, Result};
use crate::github::api::day_field;
use crate::github::summary::{local_today, parse_day};
use crate::jobs::{Created, NewJob};
use crate::time::now_ms;
use crate::validate::{Fields, Source};
use crate::Backend;

impl Backend {
    /// `activityStream({date?, claude_project_paths?})` / `GET /activity/stream`: the day's
    /// merged stream, newest first, at most 50 items.
    pub async fn activity_stream(&self, query: &Value) -> Result<Vec<StreamItem>> {
        self.check_open()?;
        let query = if query.is_null() { &json!({}) } else { query };
        let mut f = Fields::new(Source::Query, query);
        let date = day_field(&mut f, "stream", "date");
        let projects = f.optional_comma_list("claude_project_paths");
        f.finish()?;
        let date = date.unwrap_or_else(local_today);
        let day = parse_day(&date).ok_or_else(|| Error::BadRequest("invalid date".into()))?;
        stream::load(
            self.store(),
            StreamRequest {
                day,
                projects,
                claude_root: self.config().claude_projects_dir.clone(),
                now_ms: now_ms(),
            },
        )
        .await
    }

    /// `generateSuggestion(input)` / `POST /suggest`: queues `suggest.generate`.
    pub async fn generate_suggestion(&self, input: &Value) -> Result<Created> {
        self.check_open()?;
        let body = crate::validate::optional_body(input)?;
        let mut f = Fields::new(Source::Body, &body);
        let _ = day_field(&mut f, "note", "note_date");
        for key in [
            "note_path",
            "note_content",
            "selected_text",
            "prompt",
            "memory_query",
            "session_id",
        ] {
            let _ = f.optional_str(key, 0);
        }
        let _ = f.optional_bool("include_note");
        let _ = f.optional_bool("use_memory");
        let _ = f.optional_int("context_limit", Some(1), Some(50));
        let _ = f.optional_int("timeout_ms", Some(0), None);
        let _ = f.optional_str_list("claude_project_paths");
        f.finish()?;
        let mut job = NewJob::new(SUGGEST_GENERATE, body);
        job.log = Some(|id, t| format!("job queued {id} ({t})"));
        self.jobs().create(job).await
    }
}
