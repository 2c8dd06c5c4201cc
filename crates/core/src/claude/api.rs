//! Facade methods of the Claude capability (CONTRACT.md §1.2, §4.3, §11).

use serde_json::{json, Value};

use super::sessions::{self, ClaudeSession};
use super::transcripts::{self, TranscriptSession};
use crate::error::{Error, Result};
use crate::events::{Event, Level};
use crate::jobs::{Created, NewJob, CLAUDE_SPAWN};
use crate::store::run_blocking;
use crate::validate::{missing_body, Fields, Source};

const OUTPUT_FORMATS: [&str; 2] = ["text", "stream-json"];

impl crate::Backend {
    /// `spawnClaude(input)` / `POST /claude/spawn`: validates the body and queues a
    /// `claude.spawn` job whose payload is the full dump with defaults.
    pub async fn spawn_claude(&self, input: &Value) -> Result<Created> {
        self.check_open()?;
        if input.is_null() {
            return Err(missing_body());
        }
        let mut f = Fields::new(Source::Body, input);
        let args = f.optional_str_list("args").unwrap_or_default();
        let prompt = f.optional_str("prompt", 0);
        let stdin = f.optional_str("stdin", 0);
        let session_id = f.optional_str("session_id", 0);
        let timeout_ms = f.optional_int("timeout_ms", None, None);
        let output_format = f.optional_str("output_format", 0);
        if let Some(fmt) = output_format.as_deref() {
            if !OUTPUT_FORMATS.contains(&fmt) {
                f.error(
                    "literal_error",
                    "output_format",
                    "Input should be 'text' or 'stream-json'",
                    json!(fmt),
                    Some(json!({ "expected": "'text' or 'stream-json'" })),
                );
            }
        }
        f.finish()?;
        let payload = json!({
            "args": args,
            "prompt": prompt,
            "stdin": stdin,
            "session_id": session_id,
            "timeout_ms": timeout_ms,
            "output_format": output_format.unwrap_or_else(|| "text".into()),
        });
        let mut job = NewJob::new(CLAUDE_SPAWN, payload);
        job.log = Some(|id, _| format!("claude job queued {id}"));
        self.jobs().create(job).await
    }

    /// `createClaudeSession()` / `POST /claude/session`: `{"session_id": …}`.
    pub async fn create_claude_session(&self) -> Result<Value> {
        self.check_open()?;
        let bus = std::sync::Arc::clone(self.bus());
        let id = self
            .store()
            .write(move |c| {
                let id = sessions::create(c)?;
                c.publish(
                    &bus,
                    Event::log(Level::Info, format!("claude session created {id}")),
                );
                Ok(id)
            })
            .await?;
        Ok(json!({ "session_id": id }))
    }

    /// `getClaudeSession(id)` / `GET /claude/session/{session_id}`.
    pub async fn get_claude_session(&self, session_id: &str) -> Result<ClaudeSession> {
        self.check_open()?;
        let id = session_id.to_string();
        self.store().read(move |c| sessions::get(c, &id)).await
    }

    /// `listClaudeSessions(query)` / `GET /claude/sessions`: newest first, without messages.
    pub async fn list_claude_sessions(&self, query: &Value) -> Result<Vec<ClaudeSession>> {
        self.check_open()?;
        let mut f = Fields::new(Source::Query, query);
        let limit = f.optional_int("limit", Some(1), Some(1000)).unwrap_or(50);
        f.finish()?;
        self.store().read(move |c| sessions::list(c, limit)).await
    }

    /// `deleteClaudeSession(id)` / `DELETE /claude/session/{session_id}`: `{"ok": true}`.
    pub async fn delete_claude_session(&self, session_id: &str) -> Result<Value> {
        self.check_open()?;
        let id = session_id.to_string();
        self.store()
            .write(move |c| sessions::delete(c, &id))
            .await?;
        Ok(json!({ "ok": true }))
    }

    /// `listClaudeProjects()` (JS only): project paths found under `claudeProjectsDir`.
    pub async fn list_claude_projects(&self) -> Result<Vec<String>> {
        self.check_open()?;
        let root = self.config().claude_projects_dir.clone();
        run_blocking(move || transcripts::list_projects(&root)).await
    }

    /// `listClaudeTranscripts(projectPath)` (JS only): the project's sessions, newest first.
    pub async fn list_claude_transcripts(
        &self,
        project_path: &str,
    ) -> Result<Vec<TranscriptSession>> {
        self.check_open()?;
        let root = self.config().claude_projects_dir.clone();
        let project = project_path.to_string();
        run_blocking(move || transcripts::list_transcripts(&root, &project)).await
    }

    /// `getClaudeTranscript(filePath)` (JS only): `{session, messages, skippedLines}`.
    pub async fn get_claude_transcript(&self, file_path: &str) -> Result<Value> {
        self.check_open()?;
        let root = self.config().claude_projects_dir.clone();
        let file = file_path.to_string();
        run_blocking(move || transcripts::get_transcript(&root, &file)).await
    }

    /// `listClaudeTranscriptsForDate(date, projectPaths?)` (JS only): sessions whose
    /// timestamp falls on the UTC date `YYYY-MM-DD`, across the given projects (default all).
    pub async fn list_claude_transcripts_for_date(
        &self,
        date: &str,
        project_paths: &Value,
    ) -> Result<Vec<TranscriptSession>> {
        self.check_open()?;
        let projects = match project_paths {
            Value::Null => None,
            Value::String(s) => Some(vec![s.clone()]),
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        Value::String(s) => out.push(s.clone()),
                        _ => {
                            return Err(Error::BadRequest(
                                "projectPaths must be a list of strings".into(),
                            ))
                        }
                    }
                }
                Some(out)
            }
            _ => {
                return Err(Error::BadRequest(
                    "projectPaths must be a list of strings".into(),
                ))
            }
        };
        let root = self.config().claude_projects_dir.clone();
        let date = date.to_string();
        run_blocking(move || transcripts::list_for_date(&root, &date, projects.as_deref())).await
    }

    /// `importClaudeTranscript(filePath)` (JS only): stores the transcript as a session;
    /// importing the same file again updates the same session.
    pub async fn import_claude_transcript(&self, file_path: &str) -> Result<ClaudeSession> {
        self.check_open()?;
        let root = self.config().claude_projects_dir.clone();
        let file = file_path.to_string();
        let settings = self.get_settings().await?;
        let import = run_blocking(move || {
            transcripts::import_data(
                &root,
                &file,
                usize::try_from(settings.claude_session_max_messages).unwrap_or(20),
                usize::try_from(settings.claude_session_max_chars).unwrap_or(12000),
            )
        })
        .await?;
        self.store()
            .write(move |c| {
                let id = sessions::import(c, &import)?;
                sessions::get(c, &id)
            })
            .await
    }
}
