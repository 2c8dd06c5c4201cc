//! Observations as stored and as the API shows them (reference §1.2, §2.4).

use rusqlite::Row;
use serde::Serialize;
use serde_json::{json, Value};

/// A full observation, keys in the original's wire order (`GET /memory/observations/{id}`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Observation {
    pub title: String,
    pub narrative: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub source: String,
    pub event_time: String,
    pub observation_id: String,
    pub facts: Option<Vec<String>>,
    pub concepts: Option<Vec<String>>,
    pub source_event_id: Option<String>,
    pub project_path: Option<String>,
    pub event_ts: i64,
    pub created_at: String,
    pub updated_at: String,
    pub chroma_synced: bool,
    #[serde(skip)]
    pub embedding_version: Option<String>,
}

/// The columns [`Observation::from_row`] reads, in order (`o.` is the observations alias;
/// `?1` is the current embedding model, `''` when none).
pub(crate) const COLUMNS: &str = "o.observation_id, o.title, o.narrative, o.facts, o.concepts, \
    o.type, o.source, o.source_event_id, o.project_path, o.event_time, o.event_ts, \
    o.created_at, o.updated_at, o.embedding_version, \
    EXISTS(SELECT 1 FROM observation_vectors v WHERE v.observation_id = o.observation_id AND v.model = ?1)";

/// Reads a JSON list column written by either backend (`null`, text, or junk → `None`).
pub(crate) fn parse_list(text: Option<String>) -> Option<Vec<String>> {
    let text = text?;
    let Ok(Value::Array(items)) = serde_json::from_str::<Value>(&text) else {
        return None;
    };
    let out: Vec<String> = items
        .into_iter()
        .map(|v| match v {
            Value::String(s) => s,
            other => other.to_string(),
        })
        .collect();
    (!out.is_empty()).then_some(out)
}

/// A list as stored: compact JSON with real UTF-8, `NULL` for none or empty.
pub(crate) fn encode_list(list: &Option<Vec<String>>) -> Option<String> {
    match list {
        Some(items) if !items.is_empty() => Some(json!(items).to_string()),
        _ => None,
    }
}

impl Observation {
    /// From a row selected with [`COLUMNS`].
    pub(crate) fn from_row(r: &Row<'_>) -> rusqlite::Result<Observation> {
        Ok(Observation {
            observation_id: r.get(0)?,
            title: r.get(1)?,
            narrative: r.get(2)?,
            facts: parse_list(r.get(3)?),
            concepts: parse_list(r.get(4)?),
            kind: r.get(5)?,
            source: r.get(6)?,
            source_event_id: r.get(7)?,
            project_path: r.get(8)?,
            event_time: r.get(9)?,
            event_ts: r.get(10)?,
            created_at: r.get(11)?,
            updated_at: r.get(12)?,
            embedding_version: r.get(13)?,
            chroma_synced: r.get(14)?,
        })
    }

    /// The summary of list and timeline answers.
    pub fn summary(&self) -> Summary {
        Summary {
            observation_id: self.observation_id.clone(),
            title: self.title.clone(),
            kind: self.kind.clone(),
            source: self.source.clone(),
            event_time: self.event_time.clone(),
            relevance_score: None,
        }
    }

    /// The MCP `get_observations` row (reference §5.3): every column, `embedding_version` too.
    pub fn mcp_row(&self) -> Value {
        json!({
            "observation_id": self.observation_id, "title": self.title,
            "narrative": self.narrative, "facts": self.facts, "concepts": self.concepts,
            "type": self.kind, "source": self.source, "source_event_id": self.source_event_id,
            "project_path": self.project_path, "event_time": self.event_time,
            "event_ts": self.event_ts, "created_at": self.created_at,
            "updated_at": self.updated_at, "embedding_version": self.embedding_version,
            "chroma_synced": self.chroma_synced,
        })
    }

    /// The text the embedder gets (the original's `compose_embedding_text`).
    pub fn embedding_text(&self) -> String {
        embedding_text(
            &self.title,
            &self.kind,
            &self.narrative,
            &self.facts,
            &self.concepts,
        )
    }
}

/// `Title: …\nType: …\nNarrative: …[\nFacts: a, b][\nConcepts: c, d]`.
pub(crate) fn embedding_text(
    title: &str,
    kind: &str,
    narrative: &str,
    facts: &Option<Vec<String>>,
    concepts: &Option<Vec<String>>,
) -> String {
    let mut out = format!("Title: {title}\nType: {kind}\nNarrative: {narrative}");
    if let Some(f) = facts.as_ref().filter(|f| !f.is_empty()) {
        out.push_str("\nFacts: ");
        out.push_str(&f.join(", "));
    }
    if let Some(c) = concepts.as_ref().filter(|c| !c.is_empty()) {
        out.push_str("\nConcepts: ");
        out.push_str(&c.join(", "));
    }
    out
}

/// `ObservationSummary` (list and timeline): `relevance_score` is always null, as the original.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Summary {
    pub observation_id: String,
    pub title: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub source: String,
    pub event_time: String,
    pub relevance_score: Option<f64>,
}

/// What a capture path or a manual create asks to store.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    pub title: String,
    pub narrative: String,
    pub facts: Option<Vec<String>>,
    pub concepts: Option<Vec<String>>,
    pub kind: String,
    pub source: String,
    pub source_event_id: Option<String>,
    pub project_path: Option<String>,
    pub event_time: String,
    /// Milliseconds.
    pub event_ts: i64,
    /// The dedupe ledger key `(source_type, source_id)`; `None` for manual creates.
    pub ledger: Option<(String, String)>,
}

/// The first `n` characters (code points, like Python's `s[:n]`).
pub(crate) fn head(text: &str, n: usize) -> &str {
    match text.char_indices().nth(n) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

/// The snippet of a search result: the narrative's first 200 characters, `...` when cut.
pub(crate) fn snippet(narrative: &str) -> String {
    let cut = head(narrative, 200);
    if cut.len() < narrative.len() {
        format!("{cut}...")
    } else {
        narrative.to_string()
    }
}
