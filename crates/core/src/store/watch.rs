//! A version number of one table's contents, kept in memory by the store.
//!
//! `listCalendarEvents` answers from an in-memory copy of `calendar_events` and must know when
//! that copy is stale. SQLite triggers bumping a counter row were measured first: with any
//! trigger on the table, a sync's delete-and-reinsert of 10,000 events took ≈ 150 ms longer
//! (SQLite gives up its one-pass delete and insert paths), more than half the whole sync. So
//! the store watches its one writer connection instead: SQLite's update hook marks the table
//! dirty on any row change (a plain flag store), and once the write has committed the store
//! turns a dirty mark into a new version. Every write of this process goes through that
//! connection, and no other process can write the file while it is open (`unix-excl` VFS /
//! the data directory's lock file), so no change is missed. Caveat, documented where it
//! matters: SQLite skips the update hook for `DELETE FROM calendar_events` without a `WHERE`
//! clause (its truncate optimization); the code never issues one.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use rusqlite::Connection;

use crate::error::Result;

/// The version of one table's contents (see the module documentation).
#[derive(Debug, Default)]
pub struct TableWatch {
    dirty: AtomicBool,
    version: AtomicU64,
}

impl TableWatch {
    /// Watches `table` on the writer connection `conn`.
    pub(super) fn install(
        self: &Arc<Self>,
        conn: &mut Connection,
        table: &'static str,
    ) -> Result<()> {
        let watch = Arc::clone(self);
        conn.update_hook(Some(move |_, _: &str, changed: &str, _| {
            if changed == table {
                watch.dirty.store(true, Ordering::Relaxed);
            }
        }))?;
        // A rolled-back transaction changed nothing (a rolled-back savepoint leaves the mark:
        // one needless reload at most).
        let watch = Arc::clone(self);
        conn.rollback_hook(Some(move || watch.dirty.store(false, Ordering::Relaxed)))?;
        Ok(())
    }

    /// Called once a write on the writer connection has returned, its transactions committed.
    pub(super) fn committed(&self) {
        if self.dirty.swap(false, Ordering::AcqRel) {
            self.version.fetch_add(1, Ordering::Release);
        }
    }

    /// The current version. Read it before opening the read transaction that reads the table:
    /// a version is published only after its write committed, so a snapshot taken later
    /// holds at least that write (a newer snapshot under an older version only costs one
    /// needless reload).
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }
}
