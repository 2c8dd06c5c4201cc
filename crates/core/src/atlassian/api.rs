//! Facade methods of the Jira and Confluence capability (CONTRACT.md §1.2, §4.6, §4.7, §9.6).

use serde_json::{json, Value};

use super::accounts::{self, AtlassianAccount, NewAccount, Service};
use super::client::{AtlassianClient, CallError};
use super::{confluence, jira};
use crate::email::normalize_email;
use crate::error::{Error, Result};
use crate::ids::new_id;
use crate::jobs::{Created, NewJob};
use crate::time::now_iso;
use crate::validate::{missing_body, Fields, Source};
use crate::Backend;

impl Backend {
    /// `listJiraAccounts()` / `GET /jira/accounts`: newest first.
    pub async fn list_jira_accounts(&self) -> Result<Vec<AtlassianAccount>> {
        self.list_atlassian_accounts(Service::Jira).await
    }

    /// `addJiraAccount({org, email, api_token})` / `POST /jira/accounts`: validates, checks
    /// the credentials live (400 `Jira connection failed: …`), stores the account.
    pub async fn add_jira_account(&self, input: &Value) -> Result<AtlassianAccount> {
        self.add_atlassian_account(Service::Jira, input).await
    }

    /// `deleteJiraAccount(id)` / `DELETE /jira/accounts/{account_id}`: `{"ok": true}`.
    pub async fn delete_jira_account(&self, account_id: &str) -> Result<Value> {
        self.delete_atlassian_account(Service::Jira, account_id)
            .await
    }

    /// `syncJiraAccount(id, {force?})` / `POST /jira/accounts/{account_id}/sync?force=`:
    /// queues `connector.jira.sync` (`force` defaults to true).
    pub async fn sync_jira_account(&self, account_id: &str, input: &Value) -> Result<Created> {
        self.check_open()?;
        let mut f = Fields::new(Source::Query, input);
        let force = f.optional_bool("force").unwrap_or(true);
        f.finish()?;
        self.queue_sync(
            Service::Jira,
            account_id,
            json!({ "account_id": account_id, "force": force }),
        )
        .await
    }

    /// `searchJira(accountId)` / `POST /jira/dev/search` with body `{account_id}`: one live
    /// search and its raw exchange (CONTRACT.md §9.6).
    pub async fn search_jira(&self, input: &Value) -> Result<Value> {
        self.check_open()?;
        if input.is_null() {
            return Err(missing_body());
        }
        let mut f = Fields::new(Source::Body, input);
        let account_id = f.required_str("account_id", 1).unwrap_or_default();
        f.finish()?;
        let id = account_id.clone();
        let account = self
            .store()
            .read(move |c| accounts::find(c, Service::Jira, &id))
            .await?
            .ok_or_else(|| Service::Jira.not_found())?;
        let token = account.token(self.config().secret_key.as_ref())?;
        let client = AtlassianClient::new(&account.base_url, &account.email, &token)
            .map_err(|e| upstream_502(&e))?;
        jira::dev_search(&client, &account_id)
            .await
            .map_err(|e| upstream_502(&e))
    }

    /// `listConfluenceAccounts()` / `GET /confluence/accounts`.
    pub async fn list_confluence_accounts(&self) -> Result<Vec<AtlassianAccount>> {
        self.list_atlassian_accounts(Service::Confluence).await
    }

    /// `addConfluenceAccount({org, email, api_token})` / `POST /confluence/accounts`.
    pub async fn add_confluence_account(&self, input: &Value) -> Result<AtlassianAccount> {
        self.add_atlassian_account(Service::Confluence, input).await
    }

    /// `deleteConfluenceAccount(id)` / `DELETE /confluence/accounts/{account_id}`.
    pub async fn delete_confluence_account(&self, account_id: &str) -> Result<Value> {
        self.delete_atlassian_account(Service::Confluence, account_id)
            .await
    }

    /// `syncConfluenceAccount(id)` / `POST /confluence/accounts/{account_id}/sync`: queues
    /// `connector.confluence.sync` (no `force`: Confluence syncs are always incremental).
    pub async fn sync_confluence_account(&self, account_id: &str) -> Result<Created> {
        self.check_open()?;
        self.queue_sync(
            Service::Confluence,
            account_id,
            json!({ "account_id": account_id }),
        )
        .await
    }

    async fn list_atlassian_accounts(&self, service: Service) -> Result<Vec<AtlassianAccount>> {
        self.check_open()?;
        self.store().read(move |c| accounts::list(c, service)).await
    }

    async fn add_atlassian_account(
        &self,
        service: Service,
        input: &Value,
    ) -> Result<AtlassianAccount> {
        self.check_open()?;
        if input.is_null() {
            return Err(missing_body());
        }
        let (org, email, token) = validate_new_account(input)?;
        let base_url = self
            .config()
            .endpoints
            .atlassian_base_url
            .replace("{org}", &org)
            .trim_end_matches('/')
            .to_string();
        let connection_failed = |e: CallError| Error::Upstream {
            status: 400,
            detail: format!("{} connection failed: {e}", service.label()),
        };
        let client = AtlassianClient::new(&base_url, &email, &token).map_err(connection_failed)?;
        match service {
            Service::Jira => jira::check_credentials(&client).await,
            Service::Confluence => confluence::check_credentials(&client).await,
        }
        .map_err(connection_failed)?;
        let account_id = new_id("atl");
        let sealed = crate::secrets::seal(self.config().secret_key.as_ref(), &account_id, &token)?;
        self.store()
            .write(move |c| {
                accounts::insert(
                    c,
                    &NewAccount {
                        account_id: &account_id,
                        service,
                        org: &org,
                        base_url: &base_url,
                        email: &email,
                        sealed_token: &sealed,
                        now: &now_iso(),
                    },
                )
            })
            .await
    }

    async fn delete_atlassian_account(&self, service: Service, account_id: &str) -> Result<Value> {
        self.check_open()?;
        let id = account_id.to_string();
        self.store()
            .write(move |c| accounts::delete(c, service, &id))
            .await?;
        Ok(json!({ "ok": true }))
    }

    async fn queue_sync(
        &self,
        service: Service,
        account_id: &str,
        payload: Value,
    ) -> Result<Created> {
        let id = account_id.to_string();
        let known = self
            .store()
            .read(move |c| accounts::exists(c, service, &id))
            .await?;
        if !known {
            return Err(service.not_found());
        }
        let mut job = NewJob::new(service.job_type(), payload);
        job.unique_key = Some(format!("{}:{account_id}", service.job_type()));
        self.jobs().create(job).await
    }
}

/// `{org: str min 1 (trimmed after the check), email: EmailStr, api_token: str min 1}`.
fn validate_new_account(input: &Value) -> Result<(String, String, String)> {
    let mut f = Fields::new(Source::Body, input);
    let org = f.required_str("org", 1);
    let email = f
        .required_str("email", 0)
        .and_then(|raw| match normalize_email(&raw) {
            Ok(email) => Some(email),
            Err(reason) => {
                f.error(
                    "value_error",
                    "email",
                    format!("value is not a valid email address: {reason}"),
                    Value::String(raw),
                    Some(json!({ "reason": reason })),
                );
                None
            }
        });
    let token = f.required_str("api_token", 1);
    f.finish()?;
    Ok((
        org.unwrap_or_default().trim().to_string(),
        email.unwrap_or_default(),
        token.unwrap_or_default(),
    ))
}

/// A remote failure outside the routes the original answered with 400.
fn upstream_502(e: &CallError) -> Error {
    Error::Upstream {
        status: 502,
        detail: e.to_string(),
    }
}
