//! The Confluence routes (CONTRACT.md §4.7): Jira's account routes without `force` and
//! without the dev search.

use enttok_core::Result;

use crate::router::{Call, Route};
use crate::routes::jira::{account, new_account};
use crate::schema::{job_created, ok, wrapped};
use crate::Reply;

const TAG: &str = "confluence";

/// The routes of this module.
pub fn routes() -> Vec<Route> {
    vec![
        Route::get("/confluence/accounts", list_accounts)
            .js("listConfluenceAccounts")
            .doc(TAG, "List Confluence accounts, newest first")
            .returns(wrapped("accounts", account())),
        Route::post("/confluence/accounts", add_account)
            .js("addConfluenceAccount")
            .doc(TAG, "Check the credentials live, then store the account")
            .body(new_account())
            .returns(account()),
        Route::delete("/confluence/accounts/{account_id}", delete_account)
            .js("deleteConfluenceAccount")
            .doc(TAG, "Delete an account with its activity and sync state")
            .returns(ok()),
        Route::post("/confluence/accounts/{account_id}/sync", sync_account)
            .js("syncConfluenceAccount")
            .doc(TAG, "Queue a connector.confluence.sync job")
            .returns(job_created()),
    ]
}

async fn list_accounts(call: Call) -> Result<Reply> {
    Reply::list("accounts", &call.backend.list_confluence_accounts().await?)
}

async fn add_account(call: Call) -> Result<Reply> {
    Reply::json(&call.backend.add_confluence_account(&call.body).await?)
}

async fn delete_account(call: Call) -> Result<Reply> {
    Reply::json(
        &call
            .backend
            .delete_confluence_account(call.param(0))
            .await?,
    )
}

async fn sync_account(call: Call) -> Result<Reply> {
    Reply::json(&call.backend.sync_confluence_account(call.param(0)).await?)
}
