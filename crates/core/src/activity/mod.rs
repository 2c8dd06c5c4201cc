//! The activity timeline (CONTRACT.md §9.5, §10): rows written by the Jira and Confluence syncs
//! into `activity_events`, and the time-window query behind `GET /activity/events`.

mod api;
pub(crate) mod query;
pub(crate) mod store;

pub use query::{ActivityEvent, ActivityQuery};
pub use store::NewEvent;
