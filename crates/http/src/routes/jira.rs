//! The Jira routes (CONTRACT.md §4.6, §9.6).

use enttok_core::Result;
use serde_json::Value;

use crate::router::{Call, ParamType, QueryParam, Route};
use crate::schema::{
    any, any_object, boolean, integer, job_created, nullable, object, object_with, ok, string,
    wrapped,
};
use crate::Reply;

const TAG: &str = "jira";

/// An Jira or Confluence account (the token is never part of it).
pub(crate) fn account() -> Value {
    object(&[
        ("account_id", string()),
        ("service", string()),
        ("org", string()),
        ("base_url", string()),
        ("email", string()),
        ("created_at", string()),
        ("updated_at", string()),
        ("last_sync_at", nullable(string())),
        ("has_token", boolean()),
    ])
}

/// `{org, email, api_token}`, all required.
pub(crate) fn new_account() -> Value {
    object(&[
        ("org", string()),
        ("email", string()),
        ("api_token", string()),
    ])
}

fn exchange() -> Value {
    object(&[
        (
            "request",
            object(&[
                ("url", string()),
                ("method", string()),
                ("params", any_object()),
                ("body", any()),
            ]),
        ),
        (
            "response",
            object(&[
                ("status", integer()),
                ("ok", boolean()),
                ("body", any()),
                ("error", nullable(string())),
            ]),
        ),
    ])
}

fn dev_search() -> Value {
    object(&[
        ("account_id", string()),
        ("primary", exchange()),
        ("fallback", nullable(exchange())),
    ])
}

/// The routes of this module.
pub fn routes() -> Vec<Route> {
    vec![
        Route::get("/jira/accounts", list_accounts)
            .js("listJiraAccounts")
            .doc(TAG, "List Jira accounts, newest first")
            .returns(wrapped("accounts", account())),
        Route::post("/jira/accounts", add_account)
            .js("addJiraAccount")
            .doc(TAG, "Check the credentials live, then store the account")
            .body(new_account())
            .returns(account()),
        Route::delete("/jira/accounts/{account_id}", delete_account)
            .js("deleteJiraAccount")
            .doc(TAG, "Delete an account with its activity and sync state")
            .returns(ok()),
        Route::post("/jira/accounts/{account_id}/sync", sync_account)
            .js("syncJiraAccount")
            .doc(TAG, "Queue a connector.jira.sync job")
            .query(&[QueryParam::optional("force", ParamType::Boolean)])
            .returns(job_created()),
        Route::post("/jira/dev/search", search)
            .js("searchJira")
            .doc(TAG, "One live search and its raw exchange (debugging)")
            .body(object_with(&[("account_id", string())], ["account_id"]))
            .returns(dev_search()),
    ]
}

async fn list_accounts(call: Call) -> Result<Reply> {
    Reply::list("accounts", &call.backend.list_jira_accounts().await?)
}

async fn add_account(call: Call) -> Result<Reply> {
    Reply::json(&call.backend.add_jira_account(&call.body).await?)
}

async fn delete_account(call: Call) -> Result<Reply> {
    Reply::json(&call.backend.delete_jira_account(call.param(0)).await?)
}

async fn sync_account(call: Call) -> Result<Reply> {
    Reply::json(
        &call
            .backend
            .sync_jira_account(call.param(0), &call.query)
            .await?,
    )
}

async fn search(call: Call) -> Result<Reply> {
    Reply::json(&call.backend.search_jira(&call.body).await?)
}
