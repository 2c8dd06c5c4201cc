//! The SQLite store: one file, one writer connection, a few readers (CONTRACT.md §12.1).
//!
//! No call ever runs on the JS thread. A statement of this backend takes microseconds (WAL,
//! `synchronous=NORMAL`: no fsync per commit), so when its connection is free it runs inline on
//! the calling async task: handing it to tokio's blocking pool costs two thread switches, which
//! measured as the dominant cost of a job (bench/RESULTS.md). When the connection is busy, the
//! call waits on the blocking pool, never on an async worker; long work (VACUUM) always goes
//! there ([`Store::write_slow`]). Writes are serialized through the one writer connection; WAL
//! lets readers proceed meanwhile. Callers that announce a change publish their event *inside* the write
//! closure, after the commit: the event order then matches the commit order exactly.

mod schema;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::error::{Error, Result};

pub use schema::{original_ddl, LATEST_VERSION};

const READERS: usize = 2;

/// The database of one open backend.
pub struct Store {
    path: PathBuf,
    writer: Mutex<Option<Connection>>,
    readers: Vec<Mutex<Option<Connection>>>,
    next_reader: AtomicUsize,
}

/// Locks a mutex, recovering the data of a poisoned one: a panic elsewhere must not make the
/// database unusable for the rest of the process.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn configure(conn: &Connection) -> Result<()> {
    conn.busy_timeout(Duration::from_millis(5000))?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;",
    )?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

impl Store {
    /// Opens (creating if needed) and migrates `path`. Blocking: call from a blocking context.
    pub fn open(path: &Path) -> Result<Store> {
        let mut writer = Connection::open(path)?;
        configure(&writer)?;
        schema::migrate(&mut writer)?;
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            let conn = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            conn.busy_timeout(Duration::from_millis(5000))?;
            conn.set_prepared_statement_cache_capacity(64);
            readers.push(Mutex::new(Some(conn)));
        }
        Ok(Store {
            path: path.to_path_buf(),
            writer: Mutex::new(Some(writer)),
            readers,
            next_reader: AtomicUsize::new(0),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on the writer connection, blocking the current thread.
    pub fn write_blocking<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let mut guard = lock(&self.writer);
        let conn = guard.as_mut().ok_or(Error::Closed)?;
        f(conn)
    }

    /// Runs `f` on a reader connection, blocking the current thread.
    pub fn read_blocking<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        // Take the first free reader; wait on one only when all are busy.
        let guard = match self.free_reader() {
            Some(guard) => guard,
            None => {
                let start = self.next_reader.fetch_add(1, Ordering::Relaxed);
                lock(&self.readers[start % self.readers.len()])
            }
        };
        let conn = guard.as_ref().ok_or(Error::Closed)?;
        f(conn)
    }

    /// A reader nobody holds, taken round-robin, or `None` when all are busy.
    fn free_reader(&self) -> Option<MutexGuard<'_, Option<Connection>>> {
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed);
        (0..self.readers.len()).find_map(|i| {
            self.readers[(start + i) % self.readers.len()]
                .try_lock()
                .ok()
        })
    }

    /// Runs `f` on the writer connection: inline when it is free, else on the blocking pool.
    pub async fn write<T, F>(self: &Arc<Self>, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let f = match self.writer.try_lock() {
            Ok(mut guard) => {
                let conn = guard.as_mut().ok_or(Error::Closed)?;
                return inline(|| f(conn));
            }
            Err(_) => f,
        };
        self.write_slow(f).await
    }

    /// Runs `f` on the writer connection on the blocking pool (long work such as VACUUM).
    pub async fn write_slow<T, F>(self: &Arc<Self>, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let store = Arc::clone(self);
        run_blocking(move || store.write_blocking(f)).await
    }

    /// Runs `f` on a reader connection: inline when one is free, else on the blocking pool.
    pub async fn read<T, F>(self: &Arc<Self>, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        if let Some(guard) = self.free_reader() {
            let conn = guard.as_ref().ok_or(Error::Closed)?;
            return inline(|| f(conn));
        }
        let store = Arc::clone(self);
        run_blocking(move || store.read_blocking(f)).await
    }

    /// Checkpoints the WAL into the main file and closes every connection. Idempotent; later
    /// calls fail with `E_CLOSED`.
    pub fn close(&self) {
        for reader in &self.readers {
            lock(reader).take();
        }
        if let Some(conn) = lock(&self.writer).take() {
            // A failed checkpoint loses nothing (the WAL is replayed at the next open).
            let _ = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);");
            let _ = conn.close();
        }
    }
}

/// Runs a short database call in place, turning a panic into an internal error (as the
/// blocking pool does) so that a bug in one statement never takes a worker task down.
fn inline<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or_else(|_| Err(Error::internal("a database call panicked")))
}

/// Runs blocking work on tokio's blocking pool, turning a panic into an internal error.
pub async fn run_blocking<T, F>(f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result,
        Err(err) if err.is_panic() => Err(Error::internal("a database task panicked")),
        Err(_) => Err(Error::Closed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_database_reaches_latest_version() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("index.db")).unwrap();
        let v: i64 = store
            .read_blocking(|c| Ok(c.query_row("PRAGMA user_version", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(v, LATEST_VERSION);
        let mode: String = store
            .read_blocking(|c| Ok(c.query_row("PRAGMA journal_mode", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(mode, "wal");
        store.close();
        assert!(matches!(
            store.read_blocking(|_| Ok(())),
            Err(Error::Closed)
        ));
    }
}
