//! enttok-core: the engine of enttok-backend.
//!
//! A pure Rust library — no napi, no hyper — that owns the app's SQLite file, runs durable
//! background jobs, and streams events. The napi binding (the root crate) and the HTTP adapter
//! (`crates/http`) are thin layers over [`Backend`], the one facade.
//!
//! Layout, one module per concept:
//! - the facade and its lifecycle: `backend` ([`Backend`]: open, close, the lock file, the log
//!   writer, accessors, subscribe), `config` ([`Config`]: the options of `Backend.open`),
//!   [`status`] (`health`, `status`);
//! - infrastructure: [`store`] (connections, group commit, checkpoints, migrations, table
//!   watches), [`events`] (the bus), [`jobs`] (queue, workers, handlers, scheduler; its facade
//!   methods in `jobs/api.rs`), `settings` (runtime settings; `settings/api.rs`), [`secrets`]
//!   (AES-256-GCM at rest), [`net`] (the one outbound HTTP stack);
//! - capabilities, each with its facade methods in `api.rs`: [`calendar`] (Google Calendar and
//!   OAuth), [`atlassian`] (Jira, Confluence), [`activity`] (the timeline they write),
//!   [`claude`] (CLI runs, sessions, transcripts), [`github`] (`gh`/`git` activity and its
//!   sync), [`suggest`] (the activity stream and `suggest.generate`);
//! - shared helpers: `error` ([`Error`]), [`validate`] (the 422 items of both adapters), [`time`]
//!   (the contract's timestamps), [`ids`] (prefixed v4 UUIDs), `email` (`EmailStr` rules),
//!   [`unwind`] (panics kept inside a job or call).
//!
//! Modules only the crate uses are `pub(crate)`, so the compiler reports their dead code; what
//! the binding (`src/`) and the HTTP adapter (`crates/http`) use stays `pub`.

pub mod activity;
pub mod atlassian;
pub(crate) mod backend;
pub mod calendar;
pub mod claude;
pub(crate) mod config;
pub(crate) mod email;
pub(crate) mod error;
pub mod events;
pub mod github;
pub mod ids;
pub mod jobs;
pub mod memory;
pub mod net;
pub mod secrets;
pub(crate) mod settings;
pub mod status;
pub mod store;
pub mod suggest;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;
pub mod time;
pub mod unwind;
pub mod validate;
pub mod vault;

pub use backend::Backend;
pub use config::{Config, Endpoints};
pub use error::{Error, Result};
pub use events::{Bus, Event, Level, Subscription};
pub use status::Status;
