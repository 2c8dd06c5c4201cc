//! Google Calendar: accounts, OAuth, sync (CONTRACT.md §4.4, §4.5, §8). Not built yet:
//! `connector.calendar.sync` stays a known type whose jobs fail with a clear message.

use crate::config::Config;
use crate::jobs::{JobSystem, CALENDAR_SYNC};

/// Registers the `connector.calendar.sync` handler.
pub fn register(jobs: &JobSystem, _config: &Config) {
    jobs.register_builtin(CALENDAR_SYNC, crate::backend::unavailable(CALENDAR_SYNC));
}
