//! The SQLite store: one file, one writer connection, a few readers (CONTRACT.md §12.1).
//!
//! No call ever runs on the JS thread. A statement of this backend takes microseconds (WAL,
//! `synchronous=NORMAL`: no fsync per commit), so when its connection is free it runs inline on
//! the calling async task: handing it to tokio's blocking pool costs two thread switches, which
//! measured as the dominant cost of a job (bench/RESULTS.md). When the writer is busy, a write
//! queues and the connection's holder runs it before letting go (`group`): small writes of the
//! job queue share one transaction then (group commit), which is what lets the queue move
//! thousands of jobs per second. Long work (VACUUM) goes to the blocking pool
//! ([`Store::write_slow`]). WAL lets readers proceed during writes. A write closure gets a
//! [`WriteCtx`]: the connection, and the events it announces, which the store sends once the
//! write is committed (after the closure, or after its group's commit). Either way the event
//! order is the commit order.

mod checkpoint;
mod group;
mod schema;
mod watch;
mod write;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, TryLockError};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::oneshot;

use crate::error::{Error, Result};

#[cfg(test)]
pub(crate) use schema::migrate;
#[cfg(any(test, feature = "test-support"))]
pub use schema::original_ddl;
pub use schema::LATEST_VERSION;
pub use watch::{ChangedRows, TableWatch, MAX_KEPT_ROWS};
pub use write::WriteCtx;

const READERS: usize = 2;

/// Most queued writes one group takes (bounds a group's transaction and its held events).
const MAX_GROUP: usize = 256;

/// Groups a leader runs before handing the rest of the queue to another task, so that its
/// own caller is not kept waiting by a queue that never empties.
const MAX_ROUNDS: usize = 8;

/// The database of one open backend.
pub struct Store {
    path: PathBuf,
    writer: Mutex<Option<Connection>>,
    /// Writes waiting for the writer connection (run by whoever holds it, see `group`).
    pending: Mutex<VecDeque<group::Pending>>,
    readers: Vec<Mutex<Option<Connection>>>,
    next_reader: AtomicUsize,
    /// Commit and group counters, shared with the checkpoint thread.
    counters: Arc<checkpoint::Counters>,
    checkpointer: Mutex<Option<checkpoint::Checkpointer>>,
    /// The watched tables (see [`Store::watch`]). Lock order: the writer, then this.
    watched: RwLock<watch::Watched>,
}

/// Locks a mutex, recovering the data of a poisoned one: a panic elsewhere must not make the
/// database unusable for the rest of the process.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Opens a connection of this store. On Unix every connection uses SQLite's `unix-excl` VFS:
/// the first one takes an exclusive lock on the database file for the process, and from then
/// on the connections of this process coordinate in memory (a heap WAL index instead of the
/// `-shm` file) instead of taking and dropping `fcntl` locks around every transaction —
/// those syscalls were a third of a `getJob`. One process owns the data directory anyway (the
/// lock file, CONTRACT.md §1.1); another process opening `index.db` meanwhile (e.g. the
/// `sqlite3` shell) gets `SQLITE_BUSY` instead of reading a database being written.
pub(crate) fn open_connection(path: &Path, flags: OpenFlags) -> rusqlite::Result<Connection> {
    #[cfg(unix)]
    {
        Connection::open_with_flags_and_vfs(path, flags, "unix-excl")
    }
    #[cfg(not(unix))]
    {
        Connection::open_with_flags(path, flags)
    }
}

/// Flags of the read-write connections (rusqlite's defaults).
pub(crate) fn read_write() -> OpenFlags {
    OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_URI
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
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
        let mut writer = open_connection(path, read_write())?;
        configure(&writer)?;
        schema::migrate(&mut writer)?;
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            let conn = open_connection(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            conn.busy_timeout(Duration::from_millis(5000))?;
            conn.set_prepared_statement_cache_capacity(64);
            // Reads of large lists (a month of calendar events) are bound by page reads: each
            // reader keeps up to 16 MiB of pages in its own cache (it only grows as pages are
            // used). The file is not memory-mapped (`mmap_size` stays SQLite's default, 0).
            conn.execute_batch("PRAGMA cache_size = -16384;")?;
            readers.push(Mutex::new(Some(conn)));
        }
        writer.pragma_update(
            None,
            "wal_autocheckpoint",
            checkpoint::WRITER_BACKSTOP_PAGES,
        )?;
        let counters = Arc::new(checkpoint::Counters::default());
        let checkpointer = checkpoint::Checkpointer::start(path, Arc::clone(&counters))?;
        Ok(Store {
            path: path.to_path_buf(),
            writer: Mutex::new(Some(writer)),
            pending: Mutex::new(VecDeque::new()),
            readers,
            next_reader: AtomicUsize::new(0),
            counters,
            checkpointer: Mutex::new(Some(checkpointer)),
            watched: RwLock::new(Vec::new()),
        })
    }

    /// How many group transactions ran so far (see `group`): with N grouped writes, N means
    /// no batching happened, fewer means writes shared commits.
    pub fn groups_run(&self) -> u64 {
        self.counters.groups.load(Ordering::Relaxed)
    }

    /// How many background WAL checkpoints ran (see `checkpoint`).
    pub fn checkpoints_run(&self) -> u64 {
        self.counters.checkpoints.load(Ordering::Relaxed)
    }

    /// Watches `table`: the returned watch's version changes after every committed write that
    /// changed a row of it, from now on (see `watch`). The module that keeps a copy of the
    /// table holds the watch; watching a table twice gives the same watch. Blocks while a
    /// write runs; `E_CLOSED` once the store is closed.
    pub fn watch(&self, table: &'static str) -> Result<Arc<TableWatch>> {
        self.add_watch(table, TableWatch::default)
    }

    /// Watches `table` like [`Store::watch`], and keeps the rowids that committed writes
    /// changed ([`TableWatch::take_rows`]), for a copy updated row by row. The first watch of a
    /// table decides whether it keeps rows.
    pub fn watch_rows(&self, table: &'static str) -> Result<Arc<TableWatch>> {
        self.add_watch(table, TableWatch::keeping_rows)
    }

    fn add_watch(&self, table: &'static str, make: fn() -> TableWatch) -> Result<Arc<TableWatch>> {
        let mut writer = lock(&self.writer);
        let conn = writer.as_mut().ok_or(Error::Closed)?;
        let mut watched = self.watched.write().unwrap_or_else(|p| p.into_inner());
        if let Some((_, existing)) = watched.iter().find(|(t, _)| *t == table) {
            return Ok(Arc::clone(existing));
        }
        let new = Arc::new(make());
        let mut next = watched.clone();
        next.push((table, Arc::clone(&new)));
        watch::install(conn, next.clone())?;
        *watched = next;
        Ok(new)
    }

    /// Bookkeeping after a write or a group of writes returned (its transactions committed).
    fn committed(&self) {
        self.counters.commits.fetch_add(1, Ordering::Relaxed);
        for (_, watch) in self
            .watched
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            watch.committed();
        }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on the writer connection, blocking the current thread (then runs the writes
    /// that queued meanwhile).
    pub fn write_blocking<T>(&self, f: impl FnOnce(&mut WriteCtx<'_>) -> Result<T>) -> Result<T> {
        self.write_blocking_then_lead(f, None)
    }

    fn write_blocking_then_lead<T>(
        &self,
        f: impl FnOnce(&mut WriteCtx<'_>) -> Result<T>,
        spawn_rest: Option<&Arc<Self>>,
    ) -> Result<T> {
        let mut guard = lock(&self.writer);
        let outcome = match guard.as_mut() {
            Some(conn) => write::run_solo(conn, f),
            None => Err(Error::Closed),
        };
        self.committed();
        let rounds = if spawn_rest.is_some() {
            MAX_ROUNDS
        } else {
            usize::MAX
        };
        self.drain(&mut guard, rounds);
        drop(guard);
        self.lead(spawn_rest);
        outcome
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

    /// Runs `f` on the writer connection in its own transaction(s): inline when the writer is
    /// free, else queued for the writer's holder to run (see `group`).
    pub async fn write<T, F>(self: &Arc<Self>, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut WriteCtx<'_>) -> Result<T> + Send + 'static,
    {
        if let Some(mut guard) = self.try_writer() {
            // Writes queued earlier (e.g. a handler's pipelined progress) land first: a write
            // never overtakes one its own task queued before it. Behind a queue that does not
            // empty, the write takes its place in it instead.
            if self.drain(&mut guard, MAX_ROUNDS) {
                let outcome = match guard.as_mut() {
                    Some(conn) => inline(|| write::run_solo(conn, f)),
                    None => Err(Error::Closed),
                };
                self.committed();
                self.drain(&mut guard, MAX_ROUNDS);
                drop(guard);
                self.lead(Some(self));
                return outcome;
            }
        }
        let (tx, rx) = oneshot::channel();
        self.enqueue(group::Pending::Solo(Box::new(group::Queued { f, tx })));
        rx.await.unwrap_or(Err(Error::Closed))
    }

    /// Runs a small write inside a transaction it may share with other small writes (group
    /// commit). `f` must not begin a transaction of its own (use a savepoint when it needs
    /// atomicity of its own, which also keeps it correct outside a group); its events are
    /// published only once the shared transaction has committed, and its answer comes after
    /// that. A failing `f` rolls back only itself.
    pub async fn write_grouped<T, F>(self: &Arc<Self>, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut WriteCtx<'_>) -> Result<T> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        self.enqueue(group::Pending::Grouped(Box::new(group::Queued { f, tx })));
        rx.await.unwrap_or(Err(Error::Closed))
    }

    /// Queues a grouped write (see [`Store::write_grouped`]) *without* running it now: it runs
    /// with the next group, led by the next write anyone awaits or by [`Store::flush`]. This
    /// is how a job's progress writes ride along with its final write in one commit; the
    /// caller must flush (or await a write) before it waits on anything else, or the write
    /// and its events stay queued until someone does.
    pub fn write_later<T, F>(&self, f: F) -> oneshot::Receiver<Result<T>>
    where
        T: Send + 'static,
        F: FnOnce(&mut WriteCtx<'_>) -> Result<T> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).push_back(group::Pending::Grouped(Box::new(group::Queued { f, tx })));
        rx
    }

    /// Runs the queued writes now if the writer is free (its holder runs them otherwise).
    pub fn flush(self: &Arc<Self>) {
        self.lead(Some(self));
    }

    /// Queues a write, then leads if the writer is free — unless this thread gathers writes
    /// (see [`gather_writes`]), which leads once at the end. Queuing *before* trying the lock
    /// is what makes a lost write impossible: a holder that let go before our push finds it
    /// when it looks again; one that lets go after will look again too.
    fn enqueue(self: &Arc<Self>, pending: group::Pending) {
        lock(&self.pending).push_back(pending);
        let gathered = GATHERING.with(|gathering| match gathering.borrow_mut().as_mut() {
            Some(stores) => {
                if !stores.iter().any(|s| Arc::ptr_eq(s, self)) {
                    stores.push(Arc::clone(self));
                }
                true
            }
            None => false,
        });
        if !gathered {
            self.lead(Some(self));
        }
    }

    /// While writes are queued and the writer is free, takes it and runs them. With a
    /// runtime handle at hand, stops after [`MAX_ROUNDS`] groups and lets a new task go on.
    fn lead(&self, spawn_rest: Option<&Arc<Self>>) {
        loop {
            if lock(&self.pending).is_empty() {
                return;
            }
            let Some(mut guard) = self.try_writer() else {
                // The holder looks at the queue again after letting go.
                return;
            };
            let rounds = if spawn_rest.is_some() {
                MAX_ROUNDS
            } else {
                usize::MAX
            };
            let emptied = self.drain(&mut guard, rounds);
            drop(guard);
            if !emptied {
                if let (Some(store), Ok(rt)) = (spawn_rest, tokio::runtime::Handle::try_current()) {
                    let store = Arc::clone(store);
                    rt.spawn(async move { store.lead(Some(&store)) });
                    return;
                }
            }
        }
    }

    /// Runs queued writes on the held writer, at most `rounds` batches; true when the queue
    /// was found empty.
    fn drain(&self, conn: &mut Option<Connection>, rounds: usize) -> bool {
        for _ in 0..rounds {
            let batch: Vec<group::Pending> = {
                let mut queue = lock(&self.pending);
                let n = queue.len().min(MAX_GROUP);
                queue.drain(..n).collect()
            };
            if batch.is_empty() {
                return true;
            }
            let groups = group::run_batch(conn.as_mut(), batch);
            self.counters.groups.fetch_add(groups, Ordering::Relaxed);
            self.committed();
        }
        false
    }

    /// The writer when nobody holds it (a poisoned one is recovered: see [`lock`]).
    fn try_writer(&self) -> Option<MutexGuard<'_, Option<Connection>>> {
        match self.writer.try_lock() {
            Ok(guard) => Some(guard),
            Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    }

    /// Runs `f` on the writer connection on the blocking pool (long work such as VACUUM).
    pub async fn write_slow<T, F>(self: &Arc<Self>, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut WriteCtx<'_>) -> Result<T> + Send + 'static,
    {
        let store = Arc::clone(self);
        run_blocking(move || store.write_blocking_then_lead(f, Some(&store))).await
    }

    /// Runs `f` on a reader connection on the blocking pool, for reads that take long enough
    /// (tens of milliseconds) that they must not hold up an async worker.
    pub async fn read_slow<T, F>(self: &Arc<Self>, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let store = Arc::clone(self);
        run_blocking(move || store.read_blocking(f)).await
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
        // The final checkpoint below is a TRUNCATE on the writer; the thread stops first.
        if let Some(mut checkpointer) = lock(&self.checkpointer).take() {
            checkpointer.stop();
        }
        for reader in &self.readers {
            lock(reader).take();
        }
        let mut writer = lock(&self.writer);
        // Writes already queued land before the connection goes; later ones get `E_CLOSED`.
        self.drain(&mut writer, usize::MAX);
        if let Some(conn) = writer.take() {
            // A failed checkpoint loses nothing (the WAL is replayed at the next open).
            let _ = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);");
            let _ = conn.close();
        }
        drop(writer);
        // Writes queued while we closed: fail them with `E_CLOSED` rather than leave them.
        self.lead(None);
    }
}

thread_local! {
    /// Stores whose queued writes this thread leads at the end of [`gather_writes`].
    static GATHERING: std::cell::RefCell<Option<Vec<Arc<Store>>>> =
        const { std::cell::RefCell::new(None) };
}

/// Runs `f` — which starts several independent operations, e.g. the first poll of each call
/// a host sent at once — with the writes they queue left waiting, then commits them all as one
/// group. Without it, each operation would lead (and commit) its own write before the next
/// one even started. Nested use joins the outer gathering.
pub(crate) fn gather_writes<R>(f: impl FnOnce() -> R) -> R {
    let outer = GATHERING.with(|gathering| {
        let mut gathering = gathering.borrow_mut();
        let outer = gathering.is_some();
        if !outer {
            *gathering = Some(Vec::new());
        }
        outer
    });
    if outer {
        return f();
    }
    /// Leads the gathered writes even if `f` unwinds: a queued write must never be left.
    struct Flush;
    impl Drop for Flush {
        fn drop(&mut self) {
            let stores = GATHERING
                .with(|gathering| gathering.borrow_mut().take())
                .unwrap_or_default();
            for store in stores {
                store.flush();
            }
        }
    }
    let _flush = Flush;
    f()
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
mod group_tests;

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
