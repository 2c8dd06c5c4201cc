//! The context a write closure runs in: the writer connection and the events the write will
//! announce once it is committed.
//!
//! "Publish after commit" is explicit: a closure given to [`Store::write`](super::Store::write)
//! and its siblings publishes through [`WriteCtx::publish`], and the store sends those events
//! only after the write's transaction committed (its own transaction, or its group's `COMMIT`:
//! see `group`), or drops them when it rolled back. The context dereferences to the
//! [`Connection`], so a closure uses it as it would the connection.

use std::ops::{Deref, DerefMut};

use rusqlite::Connection;

use crate::events::held::Held;
use crate::events::{Bus, Event};

/// The writer connection of one write, and the events it announces.
pub struct WriteCtx<'c> {
    conn: &'c mut Connection,
    events: Held,
}

impl<'c> WriteCtx<'c> {
    pub(super) fn new(conn: &'c mut Connection) -> WriteCtx<'c> {
        WriteCtx {
            conn,
            events: Held::default(),
        }
    }

    /// Announces `event` on `bus` once this write is committed; never if it rolls back.
    /// Events go out in the order they were published, after those of earlier writes.
    pub fn publish(&mut self, bus: &Bus, event: Event) {
        if let Some(held) = bus.prepare(event) {
            self.events.push(held);
        }
    }

    /// The events published so far (taken by the store once the write is done).
    pub(super) fn into_events(self) -> Held {
        self.events
    }
}

impl Deref for WriteCtx<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.conn
    }
}

impl DerefMut for WriteCtx<'_> {
    fn deref_mut(&mut self) -> &mut Connection {
        self.conn
    }
}

/// Runs `f` in a context on `conn`; its events are sent when it succeeds (the caller has
/// committed by then: `f` managed its own transaction), dropped when it fails.
pub(super) fn run_solo<T>(
    conn: &mut Connection,
    f: impl FnOnce(&mut WriteCtx<'_>) -> crate::error::Result<T>,
) -> crate::error::Result<T> {
    let mut ctx = WriteCtx::new(conn);
    let outcome = f(&mut ctx);
    if outcome.is_ok() {
        ctx.into_events().release();
    }
    outcome
}
