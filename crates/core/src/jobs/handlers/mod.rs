//! Built-in handlers that belong to the job system itself. Connector and Claude handlers live
//! in their own modules and are registered by the backend.

mod compact;
mod demo;

pub use compact::compact;
pub use demo::demo;
