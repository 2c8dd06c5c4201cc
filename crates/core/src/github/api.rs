//! The GitHub facade methods of [`Backend`] (CONTRACT.md §18).

use serde_json::{json, Value};

use super::exec::locate_gh;
use super::status::{auth_status, cli_status, GithubStatus};
use super::summary::{self, daily_summary, Summary};
use super::GITHUB_SYNC;
use crate::error::Result;
use crate::jobs::{Created, NewJob};
use crate::validate::{Fields, Source};
use crate::Backend;

/// Reads an optional `date` (`YYYY-MM-DD`) of `input`; a malformed one is `E_INVALID_INPUT`
/// with the 422 item at `[source, key]`.
pub(crate) fn day_field(f: &mut Fields<'_>, source: &str, key: &str) -> Option<String> {
    let raw = f.optional_str(key, 0)?;
    if summary::parse_day(&raw).is_none() {
        f.error(
            "value_error",
            key,
            format!("Value error, {key} must be a date YYYY-MM-DD"),
            json!(raw),
            Some(json!({ "error": format!("invalid {source} date") })),
        );
        return None;
    }
    Some(raw)
}

impl Backend {
    /// `githubStatus()` / `GET /github/status`: the CLI and the account, in parallel.
    pub async fn github_status(&self) -> Result<GithubStatus> {
        self.check_open()?;
        let state = self.github_state();
        let gh = locate_gh(state.config.gh_path.clone()).await;
        let abort = &state.closing;
        let (cli, auth) = tokio::join!(
            cli_status(gh.as_deref(), abort),
            auth_status(gh.as_deref(), abort)
        );
        self.check_open()?;
        Ok(GithubStatus { cli, auth })
    }

    /// `githubDailySummary({date?, day_only?})` / `GET /github/summary` (reference B.5).
    pub async fn github_daily_summary(&self, query: &Value) -> Result<Summary> {
        self.check_open()?;
        let query = if query.is_null() { &json!({}) } else { query };
        let mut f = Fields::new(Source::Query, query);
        let date = day_field(&mut f, "summary", "date");
        let day_only = f.optional_bool("day_only").unwrap_or(false);
        f.finish()?;
        let date = date.unwrap_or_else(summary::local_today);
        let settings = self.get_settings().await?;
        let state = self.github_state();
        let out = daily_summary(
            state,
            &date,
            day_only,
            &settings.github_repo_paths,
            self.bus(),
            &state.closing,
        )
        .await;
        self.check_open()?;
        Ok(out)
    }

    /// `syncGithub(input?)` / `POST /github/sync`: queues `connector.github.sync` unless one
    /// is already queued or running (then that job is answered).
    pub async fn sync_github(&self, input: &Value) -> Result<Created> {
        self.check_open()?;
        let body = crate::validate::optional_body(input)?;
        let mut f = Fields::new(Source::Body, &body);
        let _ = f.optional_str("workspace_id", 0);
        let _ = f.optional_str("cursor", 0);
        if let Some(since) = f.optional_str("since", 1) {
            if super::sync::parse_since(&since).is_none() {
                f.error(
                    "value_error",
                    "since",
                    "Value error, since must be YYYY-MM-DD or an ISO time",
                    json!(since),
                    Some(json!({ "error": "invalid since" })),
                );
            }
        }
        f.finish()?;
        let mut job = NewJob::new(GITHUB_SYNC, body);
        job.unique_key = Some(GITHUB_SYNC.to_string());
        job.log = Some(|id, t| format!("job queued {id} ({t})"));
        self.jobs().create(job).await
    }
}
