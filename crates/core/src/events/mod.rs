//! The event bus (CONTRACT.md §5).
//!
//! Events are serialized to JSON once, at publication, and the same text goes to every
//! subscriber: the JS adapter hands it to listeners, the HTTP adapter sends it as a WebSocket
//! text frame. Each subscriber has a bounded window (`CAPACITY` events); one that falls further
//! behind loses the oldest events and receives a `lagged` event with the count instead — memory
//! stays bounded and the loss is never silent. Publishing never blocks and never fails a job.

pub(crate) mod held;

use std::sync::{Arc, RwLock};

use serde::Serialize;
use serde_json::Value;
use tokio::sync::broadcast;

use crate::time::now_iso;

/// Events a subscriber may fall behind by before it gets `lagged`.
pub const CAPACITY: usize = 16 * 1024;

/// Level of a `log` event or a `job_events` row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Info,
    Warn,
    Error,
}

impl Level {
    /// The text stored in `job_events.level`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }

    /// Parses `info`/`warn`/`error`.
    pub fn parse(s: &str) -> Option<Level> {
        match s {
            "info" => Some(Level::Info),
            "warn" => Some(Level::Warn),
            "error" => Some(Level::Error),
            _ => None,
        }
    }
}

/// Every event of the contract, with its fields in the contract's order.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type")]
pub enum Event {
    #[serde(rename = "log")]
    Log {
        level: Level,
        message: String,
        timestamp: String,
        meta: Option<Value>,
    },
    #[serde(rename = "job.created")]
    JobCreated {
        job_id: String,
        job_type: String,
        status: &'static str,
        timestamp: String,
    },
    #[serde(rename = "job.status")]
    JobStatus { job_id: String, status: String },
    #[serde(rename = "job.progress")]
    JobProgress {
        job_id: String,
        progress: f64,
        #[serde(skip_serializing_if = "Option::is_none")]
        stage: Option<String>,
    },
    #[serde(rename = "activity.sync")]
    ActivitySync {
        source: String,
        account_id: String,
        synced_events: i64,
        timestamp: String,
    },
    #[serde(rename = "calendar.sync")]
    CalendarSync {
        job_id: String,
        account_id: String,
        calendar_id: String,
        synced_events: i64,
        full_sync: bool,
        timestamp: String,
    },
    #[serde(rename = "claude.output")]
    ClaudeOutput {
        job_id: String,
        session_id: Option<String>,
        stream: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        line: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        message: Option<Value>,
    },
    #[serde(rename = "oauth.completed")]
    OauthCompleted {
        provider: &'static str,
        state: String,
        ok: bool,
        account_id: Option<String>,
        email: Option<String>,
        error: Option<String>,
        timestamp: String,
    },
    /// The note index took a change (CONTRACT.md §17): relative paths, `/` separators.
    #[serde(rename = "vault.changed")]
    VaultChanged {
        vault_path: String,
        changed: Vec<String>,
        deleted: Vec<String>,
        timestamp: String,
    },
    #[serde(rename = "lagged")]
    Lagged { missed: u64, timestamp: String },
}

impl Event {
    /// A `log` event (the message is trimmed; `meta` null).
    pub fn log(level: Level, message: impl AsRef<str>) -> Event {
        Event::Log {
            level,
            message: message.as_ref().trim().to_string(),
            timestamp: now_iso(),
            meta: None,
        }
    }

    /// A `job.status` event.
    pub fn job_status(job_id: &str, status: &str) -> Event {
        Event::JobStatus {
            job_id: job_id.to_string(),
            status: status.to_string(),
        }
    }

    /// The JSON text of this event.
    pub fn to_json(&self) -> String {
        // Serializing these plain structs cannot fail; an empty object keeps the type total.
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }
}

/// The broadcast bus of one backend.
pub struct Bus {
    sender: RwLock<Option<broadcast::Sender<Arc<str>>>>,
}

impl Default for Bus {
    fn default() -> Self {
        Self::new()
    }
}

impl Bus {
    /// A bus with the default per-subscriber window.
    pub fn new() -> Bus {
        Self::with_capacity(CAPACITY)
    }

    /// A bus whose subscribers may fall `capacity` events behind.
    pub fn with_capacity(capacity: usize) -> Bus {
        let (sender, _) = broadcast::channel(capacity.max(1));
        Bus {
            sender: RwLock::new(Some(sender)),
        }
    }

    /// Publishes an event to every current subscriber, at once. Empty log messages are
    /// dropped. Inside a write closure, publish through its `store::WriteCtx` instead, which
    /// sends the event once the write is committed.
    pub fn publish(&self, event: Event) {
        if let Some((sender, json)) = self.prepare(event) {
            // No receiver is not an error: the event is simply not observed.
            let _ = sender.send(json);
        }
    }

    /// The event as it will be sent, or `None` when nobody would receive it (no subscriber,
    /// a closed bus, an empty log message).
    pub(crate) fn prepare(&self, event: Event) -> Option<held::HeldEvent> {
        if let Event::Log { message, .. } = &event {
            if message.is_empty() {
                return None;
            }
        }
        let guard = self.sender.read().unwrap_or_else(|p| p.into_inner());
        let sender = guard.as_ref().filter(|s| s.receiver_count() > 0)?;
        Some((sender.clone(), Arc::from(event.to_json())))
    }

    /// A new subscription, or `None` once the bus is closed.
    pub fn subscribe(&self) -> Option<Subscription> {
        let guard = self.sender.read().unwrap_or_else(|p| p.into_inner());
        guard.as_ref().map(|s| Subscription { rx: s.subscribe() })
    }

    /// Ends every subscription (after the events already published are delivered).
    pub fn close(&self) {
        self.sender
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .take();
    }
}

/// One subscriber's stream of event JSON texts.
pub struct Subscription {
    rx: broadcast::Receiver<Arc<str>>,
}

fn lagged(missed: u64) -> Arc<str> {
    Arc::from(
        Event::Lagged {
            missed,
            timestamp: now_iso(),
        }
        .to_json(),
    )
}

impl Subscription {
    /// The next event, a `lagged` notice after a gap, or `None` when the bus is closed.
    pub async fn recv(&mut self) -> Option<Arc<str>> {
        match self.rx.recv().await {
            Ok(event) => Some(event),
            Err(broadcast::error::RecvError::Lagged(missed)) => Some(lagged(missed)),
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }

    /// Appends events that are ready now, at most `max`, without waiting.
    pub fn drain_ready(&mut self, out: &mut Vec<Arc<str>>, max: usize) {
        while out.len() < max {
            match self.rx.try_recv() {
                Ok(event) => out.push(event),
                Err(broadcast::error::TryRecvError::Lagged(missed)) => out.push(lagged(missed)),
                Err(_) => break,
            }
        }
    }

    /// Waits for at least one event, then takes what else is ready (up to `max`): the batch a
    /// busy consumer gets in one call. `None` when the bus is closed and drained.
    pub async fn recv_batch(&mut self, max: usize) -> Option<Vec<Arc<str>>> {
        let first = self.recv().await?;
        let mut out = Vec::with_capacity(16);
        out.push(first);
        self.drain_ready(&mut out, max);
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn slow_subscriber_gets_lagged_with_count() {
        let bus = Bus::with_capacity(4);
        let mut sub = bus.subscribe().unwrap();
        for i in 0..10 {
            bus.publish(Event::job_status(&format!("job_{i}"), "running"));
        }
        let first: Value = serde_json::from_str(&sub.recv().await.unwrap()).unwrap();
        assert_eq!(first["type"], "lagged");
        assert_eq!(first["missed"], 6);
        let next: Value = serde_json::from_str(&sub.recv().await.unwrap()).unwrap();
        assert_eq!(next["job_id"], "job_6");
    }

    #[tokio::test]
    async fn close_ends_subscriptions_after_delivery() {
        let bus = Bus::new();
        let mut sub = bus.subscribe().unwrap();
        bus.publish(Event::log(Level::Info, "  hello  "));
        bus.publish(Event::log(Level::Info, "   "));
        bus.close();
        let ev: Value = serde_json::from_str(&sub.recv().await.unwrap()).unwrap();
        assert_eq!(ev["message"], "hello");
        assert_eq!(ev["meta"], Value::Null);
        assert!(sub.recv().await.is_none());
        assert!(bus.subscribe().is_none());
    }

    #[test]
    fn event_json_keeps_contract_key_order() {
        let json = Event::JobCreated {
            job_id: "job_1".into(),
            job_type: "demo".into(),
            status: "queued",
            timestamp: "t".into(),
        }
        .to_json();
        assert_eq!(
            json,
            r#"{"type":"job.created","job_id":"job_1","job_type":"demo","status":"queued","timestamp":"t"}"#
        );
        let p = Event::JobProgress {
            job_id: "j".into(),
            progress: 1.0,
            stage: None,
        };
        assert_eq!(
            p.to_json(),
            r#"{"type":"job.progress","job_id":"j","progress":1.0}"#
        );
    }
}
