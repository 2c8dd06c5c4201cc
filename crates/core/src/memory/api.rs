//! Facade methods of memory (CONTRACT.md §15.1, §16): one per route and JS method, shared by
//! both adapters, plus `registerEmbedder`'s core side and `mcpConfig`.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Value};

use super::embed::{check_vectors, Embedder};
use super::input::{self, Mode, SearchInput};
use super::jobs::{created, store_drafts};
use super::observation::{snippet, Observation, Summary};
use super::search::{keyword, rrf, terms};
use super::store::{self as sql, Counts};
use super::{capture, MemoryState, CHROMA_SYNC, PROCESS_EVENTS};
use crate::error::{Error, Result};
use crate::events::{Event, Level};
use crate::jobs::NewJob;
use crate::time::now_ms;

/// How long a search waits for the embedder to embed its query before it goes on without
/// the vector part.
const QUERY_EMBED_TIMEOUT: Duration = Duration::from_secs(30);

/// One search result.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SearchResult {
    pub observation_id: String,
    pub title: String,
    pub snippet: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub source: String,
    pub event_time: String,
    pub score: f64,
}

/// `POST /memory/search`'s answer.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SearchResponse {
    pub results: Vec<SearchResult>,
    pub total: usize,
    pub mode: String,
    pub query: String,
}

/// `POST /memory/timeline`'s answer.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Timeline {
    pub observations: Vec<Summary>,
    pub anchor_ts: i64,
}

fn not_found() -> Error {
    Error::NotFound("Observation not found".into())
}

impl crate::Backend {
    fn mem(&self) -> Result<&Arc<MemoryState>> {
        self.check_open()?;
        Ok(self.memory_state())
    }

    /// `createObservation(input)` / `POST /memory/observations`.
    pub async fn create_observation(&self, body: &Value) -> Result<Value> {
        let state = self.mem()?;
        let draft = input::create(body)?;
        let stored = self
            .store()
            .write(move |c| {
                let tx = c.transaction()?;
                let stored = sql::upsert(&tx, &draft)?;
                tx.commit()?;
                Ok(stored)
            })
            .await?;
        state.kick();
        Ok(json!({ "observation_id": stored.id(), "created": true }))
    }

    /// `getObservation(id)` / `GET /memory/observations/{observation_id}`.
    pub async fn get_observation(&self, id: &str) -> Result<Observation> {
        let model = self.mem()?.model();
        let id = id.to_string();
        self.store()
            .read(move |c| sql::get(c, &id, &model))
            .await?
            .ok_or_else(not_found)
    }

    /// `getObservations(ids)` / `POST /memory/observations/batch` (body `{ids}`).
    pub async fn get_observations(&self, body: &Value) -> Result<Vec<Observation>> {
        let model = self.mem()?.model();
        let ids = input::batch(body)?;
        self.store()
            .read(move |c| sql::get_many(c, &ids, &model))
            .await
    }

    /// `deleteObservation(id)` / `DELETE /memory/observations/{observation_id}`: the
    /// observation, its FTS row, its ledger rows and its vectors, in one transaction.
    pub async fn delete_observation(&self, id: &str) -> Result<Value> {
        self.mem()?;
        let owned = id.to_string();
        if !self.store().write(move |c| sql::delete(c, &owned)).await? {
            return Err(not_found());
        }
        self.memory_state().vectors_changed(|ix| ix.remove(id));
        Ok(json!({ "deleted": true, "observation_id": id }))
    }

    /// `listObservations(query)` / `GET /memory/observations`.
    pub async fn list_observations(&self, query: &Value) -> Result<Vec<Summary>> {
        self.mem()?;
        let (w, limit, offset) = input::list(query)?;
        self.store()
            .read(move |c| sql::list(c, &w, limit, offset))
            .await
    }

    /// `searchMemory(input)` / `POST /memory/search` (CONTRACT.md §15.3).
    pub async fn search_memory(&self, input: &Value) -> Result<SearchResponse> {
        let state = Arc::clone(self.mem()?);
        let q = input::search(input)?;
        self.run_search(&state, q).await
    }

    pub(crate) async fn run_search(
        &self,
        state: &MemoryState,
        q: SearchInput,
    ) -> Result<SearchResponse> {
        let fetch = (q.limit * 2) as usize;
        // The two parts run at once: the keyword part on the blocking pool, the vector part
        // in the embedder and then in memory.
        let keyword_part = async {
            if q.mode == Mode::Vector {
                return Ok(Vec::new());
            }
            let (query, w) = (q.query.clone(), q.window.clone());
            let words = Arc::clone(&state.words);
            let found = self
                .store()
                .read_slow(move |c| {
                    let (long, short) = terms(&query);
                    match words.search(c, &long, &short, &w, fetch)? {
                        Some(hits) => Ok(Ok(hits)),
                        None => Ok(Err((query, w))),
                    }
                })
                .await?;
            match found {
                Ok(hits) => Ok(hits),
                // No copy yet (or too many changes to apply): FTS5 answers while it loads.
                Err((query, w)) => {
                    state.words.start_loading(self.store(), &state.stop);
                    self.store()
                        .read_slow(move |c| keyword(c, &query, &w, fetch as i64))
                        .await
                }
            }
        };
        let vector_part = async {
            if q.mode == Mode::Fts {
                Vec::new()
            } else {
                self.vector_part(state, &q, fetch).await
            }
        };
        let (keyword_hits, vector_hits) = tokio::join!(keyword_part, vector_part);
        let keyword_hits = keyword_hits?;
        let limit = q.limit as usize;
        let merged: Vec<(String, f64)> = match q.mode {
            Mode::Fts => keyword_hits.into_iter().take(limit).collect(),
            Mode::Vector => vector_hits.into_iter().take(limit).collect(),
            Mode::Hybrid => rrf(&keyword_hits, &vector_hits, limit),
        };
        let model = state.model();
        let ids: Vec<String> = merged.iter().map(|(id, _)| id.clone()).collect();
        let rows = self
            .store()
            .read(move |c| sql::get_many(c, &ids, &model))
            .await?;
        let scores: std::collections::HashMap<&str, f64> =
            merged.iter().map(|(id, s)| (id.as_str(), *s)).collect();
        let mut results: Vec<SearchResult> = rows
            .into_iter()
            .map(|o| SearchResult {
                score: scores
                    .get(o.observation_id.as_str())
                    .copied()
                    .unwrap_or(0.0),
                snippet: snippet(&o.narrative),
                observation_id: o.observation_id,
                title: o.title,
                kind: o.kind,
                source: o.source,
                event_time: o.event_time,
            })
            .collect();
        results.sort_by(|a, b| b.score.total_cmp(&a.score));
        Ok(SearchResponse {
            total: results.len(),
            results,
            mode: q.mode.as_str().to_string(),
            query: q.query,
        })
    }

    /// The vector list: empty without an embedder, or when embedding the query fails (logged).
    async fn vector_part(
        &self,
        state: &MemoryState,
        q: &SearchInput,
        fetch: usize,
    ) -> Vec<(String, f64)> {
        let Some(embedder) = state.embedder() else {
            return Vec::new();
        };
        let dim = embedder.dimensions();
        let embedded =
            tokio::time::timeout(QUERY_EMBED_TIMEOUT, embedder.embed(vec![q.query.clone()]))
                .await
                .map_err(|_| "the embedder did not answer in time".to_string())
                .and_then(|r| r)
                .and_then(|v| check_vectors(&v, 1, dim).map(|()| v));
        let vector = match embedded {
            Ok(v) => v,
            Err(err) => {
                self.bus().publish(Event::log(
                    Level::Warn,
                    format!("Vector search failed: {err}"),
                ));
                return Vec::new();
            }
        };
        let model = embedder.model().to_string();
        if let Some(hits) = state.search_vectors(&model, &vector, &q.window, fetch) {
            return hits;
        }
        // First vector search of this model: load the copy (off the async workers).
        let generation = state.vector_generation();
        let m = model.clone();
        match self
            .store()
            .read_slow(move |c| super::vectors::VectorIndex::load(c, &m, dim))
            .await
        {
            Ok(index) => {
                let hits = index.search(&vector, &q.window, fetch);
                state.install_vectors(index, generation);
                hits
            }
            Err(err) => {
                self.bus().publish(Event::log(
                    Level::Warn,
                    format!("Vector search failed: {err}"),
                ));
                Vec::new()
            }
        }
    }

    /// `memoryTimeline(input)` / `POST /memory/timeline` (reference §3.7).
    pub async fn memory_timeline(&self, body: &Value) -> Result<Timeline> {
        self.mem()?;
        let t = input::timeline(body)?;
        self.timeline_of(t).await
    }

    pub(crate) async fn timeline_of(&self, t: input::TimelineInput) -> Result<Timeline> {
        let mut anchor_ts = None;
        if let Some(id) = t.anchor_id.clone().filter(|s| !s.is_empty()) {
            anchor_ts = self.store().read(move |c| sql::event_ts_of(c, &id)).await?;
        } else if let Some(date) = t.anchor_date.as_deref().filter(|s| !s.is_empty()) {
            anchor_ts = Some(input::parse_time_ms(date).ok_or_else(|| input::invalid_time(date))?);
        }
        let anchor_ts = anchor_ts.unwrap_or_else(now_ms);
        let (before, after) = (t.before, t.after);
        let observations = self
            .store()
            .read(move |c| sql::timeline(c, anchor_ts, before, after))
            .await?;
        Ok(Timeline {
            observations,
            anchor_ts,
        })
    }

    pub(crate) async fn memory_counts(&self) -> Result<(Counts, bool)> {
        let state = self.mem()?;
        let model = state.model();
        let available = !model.is_empty();
        let counts = self.store().read(move |c| sql::counts(c, &model)).await?;
        Ok((counts, available))
    }

    /// `memoryStats()` / `GET /memory/stats`: the original's REST keys.
    pub async fn memory_stats(&self) -> Result<Value> {
        let (c, available) = self.memory_counts().await?;
        Ok(json!({
            "total_observations": c.total,
            "observations_by_type": c.by_type,
            "observations_by_source": c.by_source,
            "chroma_synced": c.with_vector,
            "pending_sync": c.total - c.with_vector,
            "chroma_available": available,
            "chroma_collection_count": c.vectors,
        }))
    }

    /// `processMemory({window_minutes})` / `POST /memory/sync/process?window_minutes=`.
    pub async fn process_memory(&self, query: &Value) -> Result<Value> {
        self.mem()?;
        let window = input::window_minutes(query)?;
        let created = self
            .jobs()
            .create(NewJob::new(
                PROCESS_EVENTS,
                json!({ "window_minutes": window }),
            ))
            .await?;
        Ok(json!({
            "job_id": created.job_id,
            "message": format!("Processing events from last {window} minutes"),
        }))
    }

    /// `syncMemoryVectors()` / `POST /memory/sync/chroma`.
    pub async fn sync_memory_vectors(&self) -> Result<Value> {
        self.mem()?;
        // One embedding job at a time: a pending one (e.g. the debounced run after a capture)
        // is answered instead of a second job embedding the same observations.
        let mut job = NewJob::new(CHROMA_SYNC, json!({}));
        job.unique_key = Some(CHROMA_SYNC.into());
        let created = self.jobs().create(job).await?;
        Ok(json!({ "job_id": created.job_id, "message": "ChromaDB sync started" }))
    }

    /// `syncGithubMemory(payload)` / `POST /memory/sync/github`: PRs authored, PRs reviewed
    /// and commits; `total` counts new observations (an update of a changed item is not
    /// counted); a failing item is logged and skipped.
    pub async fn sync_github_memory(&self, payload: &Value) -> Result<Value> {
        let state = Arc::clone(self.mem()?);
        let body = input::sync_body(payload)?;
        let prs = match body.get("prs") {
            None | Some(Value::Null) => None,
            Some(Value::Object(prs)) => Some(prs),
            Some(other) => {
                return Err(Error::invalid(crate::validate::item(
                    "dict_type",
                    &[json!("body"), json!("prs")],
                    "Input should be a valid dictionary",
                    other.clone(),
                    None,
                )))
            }
        };
        let authored = input::sync_list(prs.and_then(|p| p.get("authored")), &["prs", "authored"])?;
        let reviewed = input::sync_list(prs.and_then(|p| p.get("reviewed")), &["prs", "reviewed"])?;
        let commits = input::sync_list(body.get("commits"), &["commits"])?;
        let mut counts = [0usize; 3];
        let groups: [(&[Value], &str); 3] = [
            (authored, "authored PR"),
            (reviewed, "reviewed PR"),
            (commits, "commit"),
        ];
        for (i, (items, what)) in groups.into_iter().enumerate() {
            let drafts = items.iter().map(|item| match i {
                0 => capture::github_pr(item, "authored"),
                1 => capture::github_pr(item, "reviewed"),
                _ => capture::github_commit(item),
            });
            counts[i] = self.store_items(drafts, what).await?;
        }
        if counts.iter().sum::<usize>() > 0 {
            state.kick();
        }
        Ok(json!({
            "success": true,
            "processed": { "prs_authored": counts[0], "prs_reviewed": counts[1], "commits": counts[2] },
            "total": counts.iter().sum::<usize>(),
        }))
    }

    /// `syncClaudeSessionsMemory(payload)` / `POST /memory/sync/claude-sessions`.
    pub async fn sync_claude_sessions_memory(&self, payload: &Value) -> Result<Value> {
        let state = Arc::clone(self.mem()?);
        let body = input::sync_body(payload)?;
        let sessions = input::sync_list(body.get("sessions"), &["sessions"])?;
        let n = self
            .store_items(
                sessions.iter().map(capture::claude_session),
                "Claude session",
            )
            .await?;
        if n > 0 {
            state.kick();
        }
        Ok(json!({ "success": true, "processed": n }))
    }

    /// Stores the good drafts, logs the bad ones; returns how many were created.
    async fn store_items(
        &self,
        drafts: impl Iterator<Item = std::result::Result<super::observation::Draft, String>>,
        what: &str,
    ) -> Result<usize> {
        let mut good = Vec::new();
        for d in drafts {
            match d {
                Ok(d) => good.push(d),
                Err(err) => self.bus().publish(Event::log(
                    Level::Warn,
                    format!("Error processing {what}: {err}"),
                )),
            }
        }
        let results = store_drafts(self.store(), self.memory_state(), good).await?;
        for r in &results {
            if let Err(err) = r {
                self.bus().publish(Event::log(
                    Level::Warn,
                    format!("Error processing {what}: {err}"),
                ));
            }
        }
        Ok(created(&results))
    }

    /// `registerEmbedder` (core side): `None` unregisters. A registered embedder makes the
    /// vector part of search live; observations created from then on are embedded by a
    /// debounced `memory.chroma_sync`, older ones by `syncMemoryVectors()` or the hourly pass.
    pub fn register_embedder(&self, embedder: Option<Arc<dyn Embedder>>) -> Result<()> {
        let state = self.mem()?;
        if let Some(e) = &embedder {
            if e.model().is_empty() || e.dimensions() == 0 || e.batch_size() == 0 {
                return Err(Error::BadRequest(
                    "an embedder needs a model name, dimensions ≥ 1 and batchSize ≥ 1".into(),
                ));
            }
        }
        state.set_embedder(embedder);
        Ok(())
    }

    /// Tells memory where the HTTP adapter serves (`None` when it stops): `mcpConfig` and
    /// the Claude runs' `--mcp-config` point there.
    pub fn set_mcp_endpoint(&self, endpoint: Option<(u16, String)>) {
        self.memory_state().set_http(endpoint);
    }

    /// `mcpConfig()` (CONTRACT.md §16): the config Claude Code accepts as is; `E_CONFLICT`
    /// while HTTP is not running.
    pub fn mcp_config(&self) -> Result<Value> {
        let state = self.mem()?;
        let Some((port, token)) = state.http() else {
            return Err(Error::Conflict(
                "the HTTP adapter is not running (startHttp first)".into(),
            ));
        };
        Ok(super::mcp::config(port, &token))
    }
}
