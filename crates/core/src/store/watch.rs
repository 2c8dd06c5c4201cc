//! Version numbers of watched tables' contents, kept in memory by the store
//! ([`super::Store::watch`]).
//!
//! A module that keeps an in-memory copy of a table must know when that copy is stale (the
//! calendar's copy of `calendar_events`, which `listCalendarEvents` answers from, is the one
//! user). SQLite triggers bumping a counter row were measured first: with any trigger on the
//! table, a sync's delete-and-reinsert of 10,000 events took ≈ 150 ms longer (SQLite gives up
//! its one-pass delete and insert paths), more than half the whole sync. So the store watches
//! its one writer connection instead: SQLite's update hook marks a watched table dirty on any
//! row change (a comparison with each watched table's name, then a plain flag store), and once
//! the write has committed the store turns a dirty mark into a new version. Every write of
//! this process goes through that connection, and no other process can write the file while
//! it is open (`unix-excl` VFS / the data directory's lock file), so no change is missed once
//! the watch is installed. Caveat, documented where it matters: SQLite skips the update hook
//! for `DELETE FROM <table>` without a `WHERE` clause (its truncate optimization); the code
//! never issues one on a watched table.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use rusqlite::Connection;

use crate::error::Result;

/// The watched tables of a store, each with its watch.
pub(super) type Watched = Vec<(&'static str, Arc<TableWatch>)>;

/// The version of one table's contents (see the module documentation).
#[derive(Debug, Default)]
pub struct TableWatch {
    dirty: AtomicBool,
    version: AtomicU64,
}

/// Installs the one update hook (and rollback hook) of the writer connection `conn`, over
/// every table of `watched`; replaces the hooks installed before.
pub(super) fn install(conn: &mut Connection, watched: Watched) -> Result<()> {
    let marks = watched.clone();
    conn.update_hook(Some(move |_, _: &str, changed: &str, _| {
        for (table, watch) in &marks {
            if changed == *table {
                watch.dirty.store(true, Ordering::Relaxed);
            }
        }
    }))?;
    // A rolled-back transaction changed nothing (a rolled-back savepoint leaves the mark:
    // one needless reload at most).
    conn.rollback_hook(Some(move || {
        for (_, watch) in &watched {
            watch.dirty.store(false, Ordering::Relaxed);
        }
    }))?;
    Ok(())
}

impl TableWatch {
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::error::Error;
    use crate::store::Store;

    #[test]
    fn each_watched_table_has_its_own_version_bumped_by_committed_row_changes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("index.db")).unwrap();
        let events = store.watch("calendar_events").unwrap();
        assert!(Arc::ptr_eq(
            &events,
            &store.watch("calendar_events").unwrap()
        ));
        store
            .write_blocking(|c| Ok(c.execute_batch("CREATE TABLE other (x INTEGER)")?))
            .unwrap();
        let other = store.watch("other").unwrap();
        assert_eq!((events.version(), other.version()), (0, 0));

        store
            .write_blocking(|c| Ok(c.execute("INSERT INTO other VALUES (1)", [])?))
            .unwrap();
        assert_eq!((events.version(), other.version()), (0, 1));
        // A write that changes no row, and a rolled-back one, bump nothing.
        store
            .write_blocking(|c| Ok(c.execute("UPDATE other SET x = 2 WHERE x = 5", [])?))
            .unwrap();
        let failed: crate::error::Result<()> = store.write_blocking(|c| {
            let tx = c.transaction()?;
            tx.execute("INSERT INTO other VALUES (3)", [])?;
            drop(tx);
            Err(Error::BadRequest("rolled back".into()))
        });
        assert!(failed.is_err());
        assert_eq!(other.version(), 1);
        // A watch keeps working after a later watch replaced the hook.
        store
            .write_blocking(|c| Ok(c.execute_batch("CREATE TABLE third (x INTEGER)")?))
            .unwrap();
        let third = store.watch("third").unwrap();
        store
            .write_blocking(|c| Ok(c.execute("UPDATE other SET x = 4", [])?))
            .unwrap();
        assert_eq!(
            (events.version(), other.version(), third.version()),
            (0, 2, 0)
        );

        store.close();
        assert!(matches!(store.watch("x"), Err(Error::Closed)));
    }
}
