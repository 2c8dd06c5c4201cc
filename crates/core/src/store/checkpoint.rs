//! Background WAL checkpoints.
//!
//! SQLite's automatic checkpoint runs inside whichever commit pushes the WAL past its
//! threshold: that commit then copies pages into the database file and fsyncs twice, and with
//! many small commits per second this measured as a tenth of the job queue's time, all of it
//! on the one writer that everything waits for. So the writer's own automatic checkpoint is
//! pushed far out (a backstop if this thread ever falls behind), and a thread with its own
//! connection runs a `PASSIVE` checkpoint — which never blocks the writer or the readers —
//! a few times a second while there are commits to copy.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

use crate::error::Result;

/// How often the thread looks for new WAL frames.
const INTERVAL: Duration = Duration::from_millis(100);

/// The writer's own automatic checkpoint threshold (pages): far beyond what the thread lets
/// the WAL reach, so it only acts if the thread cannot keep up (about 64 MiB).
pub(super) const WRITER_BACKSTOP_PAGES: i64 = 16_384;

/// Counters shared by the store and the thread.
#[derive(Default)]
pub(super) struct Counters {
    /// Commits of the writer so far (the thread checkpoints when this moved).
    pub commits: AtomicU64,
    /// Checkpoints the thread ran.
    pub checkpoints: AtomicU64,
    /// Group transactions the writer ran (how well writes were batched; tests, benchmarks).
    pub groups: AtomicU64,
}

/// The running checkpoint thread; stopped by [`Checkpointer::stop`] or when dropped.
pub(super) struct Checkpointer {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts the thread; it opens its own connection to `path` (off the caller's path: `open`
    /// is part of the app's cold start). If that connection cannot be opened the thread ends
    /// and the writer's backstop checkpoint does the work.
    pub fn start(path: &Path, counters: Arc<Counters>) -> Result<Checkpointer> {
        let path = path.to_path_buf();
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("enttok-checkpoint".into())
            .spawn(move || {
                let Ok(conn) = super::open_connection(&path, super::read_write()) else {
                    return;
                };
                if conn.busy_timeout(Duration::from_millis(100)).is_ok() {
                    run(conn, &counters, &stopped);
                }
            })?;
        Ok(Checkpointer {
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Stops the thread and waits for it (its last checkpoint, if one runs, completes).
    pub fn stop(&mut self) {
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(conn: Connection, counters: &Counters, stopped: &mpsc::Receiver<()>) {
    let mut seen = 0;
    loop {
        match stopped.recv_timeout(INTERVAL) {
            Err(RecvTimeoutError::Timeout) => {}
            // Stop requested (sender dropped).
            _ => return,
        }
        let commits = counters.commits.load(Ordering::Relaxed);
        if commits == seen {
            continue;
        }
        seen = commits;
        // A failed or partial checkpoint loses nothing: the frames stay in the WAL and the
        // next round (or the close) copies them.
        let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
        counters.checkpoints.fetch_add(1, Ordering::Relaxed);
    }
}
