//! Jira and Confluence connectors (CONTRACT.md §4.6, §4.7, §9): accounts with live credential
//! checks, the two sync job handlers, and the Jira dev search.
//!
//! Layout: [`accounts`] (rows, never the token in clear), [`client`] (Basic auth over the shared
//! [`crate::net`] client), [`jira`] and [`confluence`] (requests and mapping to activity
//! events), [`sync`] (the job handlers), `api` (the facade methods), [`email`] (EmailStr).

pub(crate) mod accounts;
mod api;
pub(crate) mod client;
pub(crate) mod confluence;
pub(crate) mod fields;
pub(crate) mod jira;
pub(crate) mod sync;

pub use accounts::{AtlassianAccount, Service};

use crate::config::Config;
use crate::jobs::{JobSystem, CONFLUENCE_SYNC, JIRA_SYNC};

/// Registers the `connector.jira.sync` and `connector.confluence.sync` handlers.
pub fn register(jobs: &JobSystem, config: &Config) {
    jobs.register_builtin(JIRA_SYNC, sync::handler(Service::Jira, config.secret_key));
    jobs.register_builtin(
        CONFLUENCE_SYNC,
        sync::handler(Service::Confluence, config.secret_key),
    );
}
