//! Jira and Confluence connectors (CONTRACT.md §4.6, §4.7, §9). Not built yet: the sync types
//! stay known and their jobs fail with a clear message.

use crate::config::Config;
use crate::jobs::{JobSystem, CONFLUENCE_SYNC, JIRA_SYNC};

/// Registers the `connector.jira.sync` and `connector.confluence.sync` handlers.
pub fn register(jobs: &JobSystem, _config: &Config) {
    jobs.register_builtin(JIRA_SYNC, crate::backend::unavailable(JIRA_SYNC));
    jobs.register_builtin(
        CONFLUENCE_SYNC,
        crate::backend::unavailable(CONFLUENCE_SYNC),
    );
}
