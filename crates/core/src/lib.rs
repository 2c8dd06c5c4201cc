//! enttok-core: the engine of enttok-backend.
//!
//! A pure Rust library — no napi, no hyper — that owns the app's SQLite file, runs durable
//! background jobs, and streams events. The napi binding (the root crate) and the HTTP adapter
//! (`crates/http`) are thin layers over [`Backend`], the one facade.
//!
//! Layout: one module per concept — [`store`] (connection, migrations), [`events`] (the bus),
//! [`jobs`] (queue, workers, handlers, scheduler), [`settings`] — plus the shared [`error`],
//! [`validate`] and [`time`] helpers.

pub mod activity;
pub mod atlassian;
pub mod backend;
pub mod calendar;
pub mod claude;
pub mod config;
pub mod email;
pub mod error;
pub mod events;
pub mod ids;
pub mod jobs;
pub mod memory;
pub mod net;
pub mod secrets;
pub mod settings;
pub mod store;
pub mod time;
pub mod unwind;
pub mod validate;

pub use backend::{Backend, Status};
pub use config::{Config, Endpoints};
pub use error::{Error, Result};
pub use events::{Bus, Event, Level, Subscription};
