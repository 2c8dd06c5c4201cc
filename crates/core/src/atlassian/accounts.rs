//! `atlassian_accounts` rows (CONTRACT.md §4.6, §4.7, §9.1). The api token never leaves this
//! module except through [`AccountRow::token`], which decrypts it for a request.

use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::jobs::{CONFLUENCE_SYNC, JIRA_SYNC};

/// Jira or Confluence: separate accounts even for one org.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Jira,
    Confluence,
}

impl Service {
    /// `jira` / `confluence`: the `service` column, `source` of activity rows, log prefix.
    pub fn name(self) -> &'static str {
        match self {
            Service::Jira => "jira",
            Service::Confluence => "confluence",
        }
    }

    /// `Jira` / `Confluence`, for messages.
    pub fn label(self) -> &'static str {
        match self {
            Service::Jira => "Jira",
            Service::Confluence => "Confluence",
        }
    }

    /// The sync job type.
    pub fn job_type(self) -> &'static str {
        match self {
            Service::Jira => JIRA_SYNC,
            Service::Confluence => CONFLUENCE_SYNC,
        }
    }

    /// `jira account not found` (the routes' 404 detail).
    pub fn not_found(self) -> Error {
        Error::NotFound(format!("{} account not found", self.name()))
    }

    /// The `sync_state` key of an account.
    pub fn connector(self, account_id: &str) -> String {
        format!("{}:{account_id}", self.name())
    }
}

/// An account as every API returns it (never the token). Keys in the contract's order;
/// `last_sync_at` comes from `sync_state`, `has_token` tells whether a token is stored.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AtlassianAccount {
    pub account_id: String,
    pub service: String,
    pub org: String,
    pub base_url: String,
    pub email: String,
    pub created_at: String,
    pub updated_at: String,
    pub last_sync_at: Option<String>,
    pub has_token: bool,
}

/// A stored account, token included as stored (plaintext or `enc:v1:`); `last_sync_at` from
/// `sync_state`. Fields mirror the `atlassian_accounts` columns.
#[derive(Clone)]
pub struct AccountRow {
    pub account_id: String,
    pub service: String,
    pub base_url: String,
    pub email: String,
    stored_token: String,
    pub last_sync_at: Option<String>,
}

impl std::fmt::Debug for AccountRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountRow")
            .field("account_id", &self.account_id)
            .field("service", &self.service)
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl AccountRow {
    /// The api token in clear; fails with the contract's text when it cannot be decrypted.
    pub fn token(&self, key: Option<&[u8; 32]>) -> Result<String> {
        crate::secrets::open(key, &self.account_id, &self.stored_token)
    }
}

const SELECT: &str = "SELECT a.account_id, a.service, a.org, a.base_url, a.email, a.api_token,
        a.created_at, a.updated_at, s.last_sync_at
   FROM atlassian_accounts a
   LEFT JOIN sync_state s ON s.connector = a.service || ':' || a.account_id";

fn public_of(row: &rusqlite::Row<'_>) -> rusqlite::Result<AtlassianAccount> {
    let token: Option<String> = row.get(5)?;
    Ok(AtlassianAccount {
        account_id: row.get(0)?,
        service: row.get(1)?,
        org: row.get(2)?,
        base_url: row.get(3)?,
        email: row.get(4)?,
        created_at: row.get(6)?,
        updated_at: row.get(7)?,
        last_sync_at: row.get(8)?,
        has_token: token.is_some_and(|t| !t.is_empty()),
    })
}

/// Accounts of a service, newest first; accounts of the same second in insertion order (as the
/// original).
pub fn list(conn: &Connection, service: Service) -> Result<Vec<AtlassianAccount>> {
    let mut stmt = conn.prepare_cached(&format!(
        "{SELECT} WHERE a.service = ?1 ORDER BY a.created_at DESC, a.rowid ASC"
    ))?;
    let rows = stmt.query_map(params![service.name()], public_of)?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// One account of a service with its stored token; `None` when missing or of the other
/// service.
pub fn find(conn: &Connection, service: Service, account_id: &str) -> Result<Option<AccountRow>> {
    let mut stmt = conn.prepare_cached(&format!(
        "{SELECT} WHERE a.account_id = ?1 AND a.service = ?2"
    ))?;
    Ok(stmt
        .query_row(params![account_id, service.name()], |r| {
            Ok(AccountRow {
                account_id: r.get(0)?,
                service: r.get(1)?,
                base_url: r.get(3)?,
                email: r.get(4)?,
                stored_token: r.get::<_, Option<String>>(5)?.unwrap_or_default(),
                last_sync_at: r.get(8)?,
            })
        })
        .optional()?)
}

/// True when the account exists for that service (checked inside write transactions, so a
/// sync never writes rows for an account deleted meanwhile).
pub fn exists(conn: &Connection, service: Service, account_id: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS(SELECT 1 FROM atlassian_accounts WHERE account_id = ?1 AND service = ?2)",
        )?
        .query_row(params![account_id, service.name()], |r| r.get(0))?)
}

/// A new account to insert; `sealed_token` is already encrypted when a key is set.
pub struct NewAccount<'a> {
    pub account_id: &'a str,
    pub service: Service,
    pub org: &'a str,
    pub base_url: &'a str,
    pub email: &'a str,
    pub sealed_token: &'a str,
    pub now: &'a str,
}

/// Inserts an account and returns it as the API shows it.
pub fn insert(conn: &Connection, new: &NewAccount<'_>) -> Result<AtlassianAccount> {
    conn.prepare_cached(
        "INSERT INTO atlassian_accounts
           (account_id, service, org, base_url, email, api_token, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
    )?
    .execute(params![
        new.account_id,
        new.service.name(),
        new.org,
        new.base_url,
        new.email,
        new.sealed_token,
        new.now
    ])?;
    Ok(AtlassianAccount {
        account_id: new.account_id.to_string(),
        service: new.service.name().to_string(),
        org: new.org.to_string(),
        base_url: new.base_url.to_string(),
        email: new.email.to_string(),
        created_at: new.now.to_string(),
        updated_at: new.now.to_string(),
        last_sync_at: None,
        has_token: !new.sealed_token.is_empty(),
    })
}

/// Deletes an account, its activity rows and its `sync_state` rows (keys ending in
/// `:<account_id>`) in one transaction. `NotFound` with the service's detail when missing.
pub fn delete(conn: &mut Connection, service: Service, account_id: &str) -> Result<()> {
    let tx: Transaction<'_> = conn.transaction()?;
    if !exists(&tx, service, account_id)? {
        return Err(service.not_found());
    }
    tx.execute(
        "DELETE FROM atlassian_accounts WHERE account_id = ?1",
        params![account_id],
    )?;
    tx.execute(
        "DELETE FROM activity_events WHERE account_id = ?1",
        params![account_id],
    )?;
    // `LIKE '%:<id>'` in the contract; compared exactly here because `_` in ids is a LIKE
    // wildcard.
    tx.execute(
        "DELETE FROM sync_state WHERE substr(connector, -(length(?1) + 1)) = ':' || ?1",
        params![account_id],
    )?;
    tx.commit()?;
    Ok(())
}

/// Marks a successful sync: `sync_state` `<service>:<id>` = (NULL, now).
pub fn mark_synced(conn: &Connection, service: Service, account_id: &str, now: &str) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO sync_state (connector, cursor, last_sync_at) VALUES (?1, NULL, ?2)
         ON CONFLICT(connector) DO UPDATE SET cursor = NULL, last_sync_at = excluded.last_sync_at",
    )?
    .execute(params![service.connector(account_id), now])?;
    Ok(())
}
