//! Writes waiting for the writer connection, and group commit.
//!
//! A commit, not a statement, is what a small write costs (WAL frames, locks, the page
//! writes of every index touched). When many small writes arrive at once — a thousand
//! `createJob`s, workers moving jobs along — running each in its own transaction caps the
//! queue at a few thousand writes per second. So a write that finds the writer connection busy
//! does not wait for it: it joins a queue and sleeps on a oneshot channel. Whoever holds the
//! connection (the *leader*) drains the queue before letting go, and runs every consecutive
//! run of *grouped* writes inside one transaction, each in its own savepoint: one failing
//! write rolls back only itself. The events each write publishes through its `WriteCtx` are
//! held until the `COMMIT` (`events::held`), then sent in order (those of a write that rolled
//! back are dropped), and only then are the writers told. *Solo* writes (long or
//! self-managed transactions) run alone, in queue order, as before.
//!
//! No write is lost between "the queue looked empty" and "the lock was let go": a writer
//! queues *before* it tries the lock, and a leader looks at the queue again *after* letting go
//! (see `Store::lead`).

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::write::{run_solo, WriteCtx};
use crate::error::{Error, Result};
use crate::events::held::Held;

/// Tells a grouped write how its group ended: `None` committed, `Some(err)` rolled back.
pub(super) type Settle = Box<dyn FnOnce(Option<&Error>) + Send>;

/// A write in the queue.
pub(super) enum Pending {
    /// Runs inside the shared transaction of a group.
    Grouped(Box<dyn GroupedWrite>),
    /// Runs alone; its closure manages its own transaction and events.
    Solo(Box<dyn SoloWrite>),
}

/// A write that can share a transaction.
pub(super) trait GroupedWrite: Send {
    /// Runs inside the open group transaction, adding the events it publishes to `events`
    /// when it succeeds; the returned closure reports the outcome once the group is committed
    /// or rolled back.
    fn run(self: Box<Self>, conn: &mut Connection, events: &mut Held) -> Settle;
    /// Reports `err` without running (the group could not start, or the store closed).
    fn fail(self: Box<Self>, err: Error);
}

/// A write that runs in its own transaction.
pub(super) trait SoloWrite: Send {
    /// Runs on the writer connection and reports its outcome.
    fn run(self: Box<Self>, conn: &mut Connection);
    /// Reports `err` without running.
    fn fail(self: Box<Self>, err: Error);
}

/// A closure and the channel its caller waits on.
pub(super) struct Queued<T, F> {
    pub f: F,
    pub tx: oneshot::Sender<Result<T>>,
}

impl<T, F> GroupedWrite for Queued<T, F>
where
    T: Send + 'static,
    F: FnOnce(&mut WriteCtx<'_>) -> Result<T> + Send + 'static,
{
    fn run(self: Box<Self>, conn: &mut Connection, events: &mut Held) -> Settle {
        let Queued { f, tx } = *self;
        let (outcome, published) = in_savepoint(conn, f);
        if outcome.is_ok() {
            events.append(published);
        }
        Box::new(move |group_failed: Option<&Error>| {
            let answer = match (outcome, group_failed) {
                (Ok(_), Some(err)) => Err(err.clone()),
                (outcome, _) => outcome,
            };
            // A caller that stopped waiting does not care; nothing to do.
            let _ = tx.send(answer);
        })
    }

    fn fail(self: Box<Self>, err: Error) {
        let _ = self.tx.send(Err(err));
    }
}

impl<T, F> SoloWrite for Queued<T, F>
where
    T: Send + 'static,
    F: FnOnce(&mut WriteCtx<'_>) -> Result<T> + Send + 'static,
{
    fn run(self: Box<Self>, conn: &mut Connection) {
        let Queued { f, tx } = *self;
        let _ = tx.send(super::inline(|| run_solo(conn, f)));
    }

    fn fail(self: Box<Self>, err: Error) {
        let _ = self.tx.send(Err(err));
    }
}

/// Runs `f` in a savepoint of the group: released when it succeeds, rolled back when it fails
/// or panics, so one bad write never spoils the others. Gives back the events `f` published
/// (to be dropped unless the write succeeded).
fn in_savepoint<T>(
    conn: &mut Connection,
    f: impl FnOnce(&mut WriteCtx<'_>) -> Result<T>,
) -> (Result<T>, Held) {
    if let Err(err) = exec(conn, "SAVEPOINT grouped_write") {
        return (Err(err.into()), Held::default());
    }
    let mut ctx = WriteCtx::new(conn);
    let outcome = super::inline(|| f(&mut ctx));
    let events = ctx.into_events();
    let ended = match &outcome {
        Ok(_) => exec(conn, "RELEASE grouped_write"),
        Err(_) => roll_back_write(conn),
    };
    match ended {
        Ok(()) => (outcome, events),
        Err(err) => {
            // The savepoint could not be closed: undo this write, fail it.
            let _ = roll_back_write(conn);
            (Err(err.into()), Held::default())
        }
    }
}

fn roll_back_write(conn: &Connection) -> rusqlite::Result<()> {
    exec(conn, "ROLLBACK TO grouped_write")?;
    exec(conn, "RELEASE grouped_write")
}

/// Runs a transaction-control statement from the statement cache: parsing `BEGIN`/`COMMIT`/
/// `SAVEPOINT` anew for every write measured as a visible share of a small write's cost.
fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.raw_execute()?;
    Ok(())
}

/// Runs a group: one transaction, every write in its savepoint, events after the commit,
/// then the answers.
pub(super) fn run_group(conn: &mut Connection, writes: Vec<Box<dyn GroupedWrite>>) {
    if let Err(err) = exec(conn, "BEGIN IMMEDIATE") {
        let err = Error::from(err);
        for write in writes {
            write.fail(err.clone());
        }
        return;
    }
    let mut events = Held::default();
    let settles: Vec<Settle> = writes
        .into_iter()
        .map(|w| w.run(conn, &mut events))
        .collect();
    let failed = match exec(conn, "COMMIT") {
        Ok(()) => None,
        Err(err) => {
            let _ = exec(conn, "ROLLBACK");
            Some(Error::from(err))
        }
    };
    if failed.is_none() {
        events.release();
    }
    for settle in settles {
        settle(failed.as_ref());
    }
}

/// Runs a batch taken from the queue, in order: consecutive grouped writes as one group, solo
/// writes alone. Without a connection (closed store) every write fails with `E_CLOSED`.
/// Returns how many groups ran.
pub(super) fn run_batch(conn: Option<&mut Connection>, batch: Vec<Pending>) -> u64 {
    let Some(conn) = conn else {
        for pending in batch {
            match pending {
                Pending::Grouped(w) => w.fail(Error::Closed),
                Pending::Solo(w) => w.fail(Error::Closed),
            }
        }
        return 0;
    };
    let mut groups = 0;
    let mut group: Vec<Box<dyn GroupedWrite>> = Vec::new();
    for pending in batch {
        match pending {
            Pending::Grouped(w) => group.push(w),
            Pending::Solo(w) => {
                if !group.is_empty() {
                    run_group(conn, std::mem::take(&mut group));
                    groups += 1;
                }
                w.run(conn);
            }
        }
    }
    if !group.is_empty() {
        run_group(conn, group);
        groups += 1;
    }
    groups
}
