//! The `health` and `status` facade methods of [`Backend`] (CONTRACT.md §4.1).

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::error::Result;
use crate::time::now_iso;
use crate::Backend;

/// `GET /status` (CONTRACT.md §4.1).
#[derive(Debug, Serialize)]
pub struct Status {
    pub uptime_sec: u64,
    pub queue_depth: i64,
    pub workers: WorkerCounts,
    pub scheduler: SchedulerStatus,
    pub waiting_for_handler: Map<String, Value>,
}

/// Busy and idle workers.
#[derive(Debug, Serialize)]
pub struct WorkerCounts {
    pub active: usize,
    pub idle: usize,
}

/// Whether the scheduler runs, and how many periodic tasks it has.
#[derive(Debug, Serialize)]
pub struct SchedulerStatus {
    pub running: bool,
    pub jobs: u32,
}

impl Backend {
    /// `GET /health`.
    pub fn health(&self) -> Result<Value> {
        self.check_open()?;
        Ok(json!({ "status": "ok", "time": now_iso() }))
    }

    /// `GET /status`.
    pub async fn status(&self) -> Result<Status> {
        self.check_open()?;
        let jobs = self.jobs();
        let (queue_depth, waiting) = jobs.depth().await?;
        let current = self.settings().await?;
        let active = jobs.active();
        let running = self.scheduler().is_running();
        Ok(Status {
            uptime_sec: self.started().elapsed().as_secs(),
            queue_depth,
            workers: WorkerCounts {
                active,
                idle: jobs.workers().saturating_sub(active),
            },
            scheduler: SchedulerStatus {
                running,
                // Atlassian, calendar (unless off) and memory's hourly pass (CONTRACT.md §15.6).
                jobs: if running {
                    2 + u32::from(current.calendar_sync_interval_sec > 0)
                } else {
                    0
                },
            },
            waiting_for_handler: waiting.into_iter().map(|(t, n)| (t, json!(n))).collect(),
        })
    }
}
