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
use std::sync::{Arc, Mutex};

use rusqlite::Connection;

use super::lock;
use crate::error::Result;

/// Changed rowids a row-keeping watch holds before it gives up and reports an overflow (the
/// reader then reloads its whole copy, cheaper than re-reading that many rows one by one).
pub const MAX_KEPT_ROWS: usize = 5_000;

/// The watched tables of a store, each with its watch.
pub(super) type Watched = Vec<(&'static str, Arc<TableWatch>)>;

/// The version of one table's contents (see the module documentation).
#[derive(Debug, Default)]
pub struct TableWatch {
    dirty: AtomicBool,
    version: AtomicU64,
    /// The changed rowids, for a watch made by [`super::Store::watch_rows`].
    rows: Option<RowLog>,
}

/// The rowids changed by committed writes, for a module that updates its copy row by row
/// instead of reloading it (the memory search's word index).
#[derive(Debug, Default)]
struct RowLog {
    /// Changed by the write under way; published once it has committed.
    pending: Mutex<Vec<i64>>,
    /// Changed by committed writes since the last [`TableWatch::take_rows`].
    published: Mutex<ChangedRows>,
}

/// What [`TableWatch::take_rows`] answers.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub enum ChangedRows {
    /// The rowids changed (deleted, inserted or updated) since the last take; a rowid may
    /// repeat, and may name a row a rolled-back savepoint left unchanged (re-reading a row is
    /// always safe).
    #[default]
    None,
    Rows(Vec<i64>),
    /// More than [`MAX_KEPT_ROWS`] changed: reload everything.
    Overflow,
}

impl ChangedRows {
    fn add(&mut self, rows: Vec<i64>) {
        let kept = match std::mem::take(self) {
            ChangedRows::Overflow => return *self = ChangedRows::Overflow,
            ChangedRows::None => rows,
            ChangedRows::Rows(mut have) => {
                have.extend(rows);
                have
            }
        };
        *self = if kept.len() > MAX_KEPT_ROWS {
            ChangedRows::Overflow
        } else {
            ChangedRows::Rows(kept)
        };
    }
}

/// Installs the one update hook (and rollback hook) of the writer connection `conn`, over
/// every table of `watched`; replaces the hooks installed before.
pub(super) fn install(conn: &mut Connection, watched: Watched) -> Result<()> {
    let marks = watched.clone();
    conn.update_hook(Some(move |_, _: &str, changed: &str, rowid: i64| {
        for (table, watch) in &marks {
            if changed == *table {
                watch.dirty.store(true, Ordering::Relaxed);
                if let Some(log) = &watch.rows {
                    let mut pending = lock(&log.pending);
                    // Past the bound the take reports an overflow anyway.
                    if pending.len() <= MAX_KEPT_ROWS {
                        pending.push(rowid);
                    }
                }
            }
        }
    }))?;
    // A rolled-back transaction changed nothing (a rolled-back savepoint leaves the mark:
    // one needless reload at most). Kept rowids stay: re-reading a row is always safe.
    conn.rollback_hook(Some(move || {
        for (_, watch) in &watched {
            watch.dirty.store(false, Ordering::Relaxed);
        }
    }))?;
    Ok(())
}

impl TableWatch {
    /// A watch that also keeps the changed rowids (see [`TableWatch::take_rows`]).
    pub(super) fn keeping_rows() -> TableWatch {
        TableWatch {
            rows: Some(RowLog::default()),
            ..TableWatch::default()
        }
    }

    /// Called once a write on the writer connection has returned, its transactions committed.
    pub(super) fn committed(&self) {
        if self.dirty.swap(false, Ordering::AcqRel) {
            // The rows are published before the version moves: whoever reads the new version
            // and then takes the rows gets every row of that write.
            if let Some(log) = &self.rows {
                let rows = std::mem::take(&mut *lock(&log.pending));
                lock(&log.published).add(rows);
            }
            self.version.fetch_add(1, Ordering::Release);
        }
    }

    /// The rowids changed by writes committed since the last take (always `None` for a watch
    /// that keeps no rows). Read [`TableWatch::version`] first: the rows of every write up to
    /// that version are then in the answer (or were in an earlier one).
    pub fn take_rows(&self) -> ChangedRows {
        match &self.rows {
            Some(log) => std::mem::take(&mut *lock(&log.published)),
            None => ChangedRows::None,
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

    #[test]
    fn a_row_keeping_watch_hands_over_committed_rowids_once() {
        use super::{ChangedRows, MAX_KEPT_ROWS};
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("index.db")).unwrap();
        store
            .write_blocking(|c| Ok(c.execute_batch("CREATE TABLE t (x INTEGER)")?))
            .unwrap();
        let rows = store.watch_rows("t").unwrap();
        let plain = store.watch("calendar_events").unwrap();
        assert_eq!(rows.take_rows(), ChangedRows::None);
        store
            .write_blocking(|c| {
                c.execute("INSERT INTO t (rowid, x) VALUES (5, 1), (6, 2)", [])?;
                c.execute("UPDATE t SET x = 3 WHERE rowid = 5", [])?;
                Ok(c.execute("DELETE FROM t WHERE rowid = 6", [])?)
            })
            .unwrap();
        assert_eq!(rows.version(), 1);
        assert_eq!(rows.take_rows(), ChangedRows::Rows(vec![5, 6, 5, 6]));
        assert_eq!(rows.take_rows(), ChangedRows::None);
        assert_eq!(plain.take_rows(), ChangedRows::None);
        // Inside a write, before its commit, nothing is handed over.
        store
            .write_blocking(|c| {
                c.execute("INSERT INTO t (rowid, x) VALUES (7, 1)", [])?;
                assert_eq!(rows.take_rows(), ChangedRows::None);
                Ok(())
            })
            .unwrap();
        assert_eq!(rows.take_rows(), ChangedRows::Rows(vec![7]));
        // Past the bound: an overflow, until taken.
        store
            .write_blocking(|c| {
                let tx = c.transaction()?;
                for i in 0..=MAX_KEPT_ROWS as i64 {
                    tx.execute("INSERT INTO t (x) VALUES (?1)", [i])?;
                }
                Ok(tx.commit()?)
            })
            .unwrap();
        assert_eq!(rows.take_rows(), ChangedRows::Overflow);
        assert_eq!(rows.take_rows(), ChangedRows::None);
    }
}
