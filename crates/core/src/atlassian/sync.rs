//! The `connector.jira.sync` and `connector.confluence.sync` handlers (CONTRACT.md §6.4, §9).
//!
//! Steps: check the payload and the account (failing straight from `queued`), enter `running`,
//! fetch page by page — each page's events upserted in one transaction that first checks the
//! abort signal and that the account still exists — then `sync_state`, then success with
//! `activity.sync` announced after the commit. Cancellation aborts requests in flight.

use std::sync::Arc;

use serde_json::json;

use super::accounts::{self, AccountRow, Service};
use super::client::{AtlassianClient, CallError};
use super::fields::{py_str, truthy};
use super::{confluence, jira};
use crate::activity::{store as activity_store, NewEvent};
use crate::error::Error;
use crate::events::{Event, Level};
use crate::jobs::{
    Abort, EventRow, Failure, Handler, JobCtx, Outcome, OwnedUpdate, Success, RUNNING,
};
use crate::store::Store;
use crate::time::{now_iso, parse_iso};
use crate::validate::parse_lax_bool;

/// The JQL/CQL window, and the `since` of a first or forced sync.
const WINDOW_SECS: i64 = 7 * 24 * 3600;

/// The handler of one service; `key` decrypts stored tokens.
pub fn handler(service: Service, key: Option<[u8; 32]>) -> Handler {
    Arc::new(move |ctx: JobCtx| Box::pin(run(ctx, service, key)))
}

/// Fail with X: error `{"message": X}`, job event error X, `log` error
/// `<service> sync failed: X (job_id=<id>)`.
fn sync_failure(service: Service, job_id: &str, message: String) -> Failure {
    let mut failure = Failure::new(message.clone());
    failure.event = Some(EventRow::new(Level::Error, message.clone()));
    failure.log = Some(format!(
        "{} sync failed: {message} (job_id={job_id})",
        service.name()
    ));
    failure
}

/// What a canceled run returns (the worker discards it: cancel already wrote the state).
fn stopped() -> Failure {
    Failure::new("job was canceled")
}

async fn run(ctx: JobCtx, service: Service, key: Option<[u8; 32]>) -> Outcome {
    let job_id = ctx.job_id().to_string();
    let fail = |message: String| sync_failure(service, &job_id, message);
    let account_id = match ctx.job.payload.get("account_id") {
        Some(v) if truthy(v) => py_str(v),
        _ => {
            return Err(fail(format!(
                "account_id is required for {} sync",
                service.name()
            )))
        }
    };
    let id = account_id.clone();
    let account = ctx
        .store()
        .read(move |c| accounts::find(c, service, &id))
        .await
        .map_err(|e| fail(e.to_string()))?
        .ok_or_else(|| {
            fail(format!(
                "{} account not found: {account_id}",
                service.name()
            ))
        })?;
    // Only Jira has `force`; the scheduler sends none, so its syncs are incremental.
    let force = service == Service::Jira
        && ctx
            .job
            .payload
            .get("force")
            .and_then(parse_lax_bool)
            .unwrap_or(false);

    ctx.write(
        OwnedUpdate {
            status: Some(RUNNING.into()),
            progress: Some(0.1),
            message: Some(format!("Starting {} sync", service.label())),
            ..Default::default()
        },
        Some(EventRow::new(
            Level::Info,
            format!("{} sync started for {account_id}", service.name()),
        )),
        vec![Event::job_status(&job_id, RUNNING)],
    )
    .await
    .map_err(|_| stopped())?;

    match fetch_and_store(&ctx, service, &account, key, force).await {
        Ok(count) => {
            let text = format!("Synced {count} {} events", service.label());
            Ok(Success {
                result: Some(json!({ "account_id": account_id, "synced_events": count })),
                progress: 1.0,
                message: Some(text.clone()),
                event: Some(EventRow::new(Level::Info, text)),
                announce: vec![Event::ActivitySync {
                    source: service.name().into(),
                    account_id,
                    synced_events: count,
                    timestamp: now_iso(),
                }],
            })
        }
        Err(CallError::Canceled) => Err(stopped()),
        Err(CallError::Failed(message)) => Err(fail(message)),
    }
}

/// Fetches, upserts and records `sync_state`; the number of events parsed.
async fn fetch_and_store(
    ctx: &JobCtx,
    service: Service,
    account: &AccountRow,
    key: Option<[u8; 32]>,
    force: bool,
) -> Result<i64, CallError> {
    let token = account
        .token(key.as_ref())
        .map_err(|e| CallError::Failed(e.to_string()))?;
    let client = AtlassianClient::new(&account.base_url, &account.email, &token)?;
    let now = chrono::Utc::now().timestamp();
    let since = if force {
        now - WINDOW_SECS
    } else {
        account
            .last_sync_at
            .as_deref()
            .and_then(parse_iso)
            .unwrap_or(now - WINDOW_SECS)
    };
    let mut writer = PageWriter {
        store: Arc::clone(ctx.store()),
        abort: ctx.abort().clone(),
        service,
        account_id: account.account_id.clone(),
        count: 0,
    };
    match service {
        Service::Jira => jira::sync(&client, &account.email, since, &mut writer).await?,
        Service::Confluence => {
            confluence::sync(&client, &account.email, since, &mut writer).await?
        }
    }
    writer.finish().await?;
    Ok(writer.count)
}

/// Stores a sync's pages: one transaction per page, refused once the job is aborted or the
/// account is gone.
pub struct PageWriter {
    store: Arc<Store>,
    abort: Abort,
    service: Service,
    account_id: String,
    count: i64,
}

impl PageWriter {
    /// The job's abort signal (for the requests).
    pub fn abort(&self) -> Abort {
        self.abort.clone()
    }

    /// Upserts one page's events.
    pub async fn write(&mut self, events: Vec<NewEvent>) -> Result<(), CallError> {
        if self.abort.is_fired() {
            return Err(CallError::Canceled);
        }
        if events.is_empty() {
            return Ok(());
        }
        let n = events.len() as i64;
        let source = self.service.name();
        self.guarded(move |tx, account_id| {
            let now = now_iso();
            for event in &events {
                activity_store::upsert(tx, source, account_id, event, &now)?;
            }
            Ok(())
        })
        .await?;
        self.count += n;
        Ok(())
    }

    /// `sync_state` `<service>:<id>` = (NULL, now), after every page succeeded.
    async fn finish(&self) -> Result<(), CallError> {
        let service = self.service;
        self.guarded(move |tx, account_id| {
            accounts::mark_synced(tx, service, account_id, &now_iso())
        })
        .await
    }

    async fn guarded<F>(&self, f: F) -> Result<(), CallError>
    where
        F: FnOnce(&rusqlite::Transaction<'_>, &str) -> crate::Result<()> + Send + 'static,
    {
        let abort = self.abort.clone();
        let service = self.service;
        let account_id = self.account_id.clone();
        let result = self
            .store
            .write(move |conn| {
                // Under the writer lock: a cancel or delete commits before we look.
                if abort.is_fired() {
                    return Err(Error::Canceled("job was canceled".into()));
                }
                let tx = conn.transaction()?;
                if !accounts::exists(&tx, service, &account_id)? {
                    return Err(Error::NotFound(format!(
                        "{} account not found: {account_id}",
                        service.name()
                    )));
                }
                f(&tx, &account_id)?;
                tx.commit()?;
                Ok(())
            })
            .await;
        match result {
            Ok(()) => Ok(()),
            Err(Error::Canceled(_)) => Err(CallError::Canceled),
            Err(other) => Err(CallError::Failed(other.to_string())),
        }
    }
}
