//! Events held back until their group commit is durable.
//!
//! The store runs several small writes in one SQLite transaction (group commit, see
//! `store::group`). Each write publishes its events right after its own (inner) commit, as
//! every write does; but inside a group that inner commit is only a savepoint release, and the
//! rule is that an event is announced only once its state is committed. So while a group runs,
//! the thread running it *holds* every event published on it; the store then publishes them in
//! order after `COMMIT`, or drops them if the group (or one write of it) rolled back.
//!
//! The buffer is thread-local because a group runs synchronously on one thread, start to end
//! (no `.await` inside), and only the events of that thread's writes belong to it.

use std::cell::RefCell;
use std::sync::Arc;

use tokio::sync::broadcast::Sender;

type HeldEvent = (Sender<Arc<str>>, Arc<str>);

thread_local! {
    static HELD: RefCell<Option<Vec<HeldEvent>>> = const { RefCell::new(None) };
}

/// Starts holding this thread's events (a group begins).
pub(crate) fn begin() {
    HELD.with(|held| *held.borrow_mut() = Some(Vec::new()));
}

/// Stops holding and returns what was held, in publication order (a group ended).
pub(crate) fn end() -> Vec<HeldEvent> {
    HELD.with(|held| held.borrow_mut().take())
        .unwrap_or_default()
}

/// How many events are held now: a mark to roll back to when one write of the group fails.
pub(crate) fn mark() -> usize {
    HELD.with(|held| held.borrow().as_ref().map_or(0, Vec::len))
}

/// Drops the events held after `mark` (their write was rolled back).
pub(crate) fn truncate(mark: usize) {
    HELD.with(|held| {
        if let Some(events) = held.borrow_mut().as_mut() {
            events.truncate(mark);
        }
    });
}

/// Holds `json` for `sender` when this thread runs a group; otherwise gives it back so the
/// caller sends it at once.
pub(crate) fn hold(sender: &Sender<Arc<str>>, json: Arc<str>) -> Option<Arc<str>> {
    HELD.with(|held| match held.borrow_mut().as_mut() {
        Some(events) => {
            events.push((sender.clone(), json));
            None
        }
        None => Some(json),
    })
}

/// Sends held events to their subscribers.
pub(crate) fn release(events: Vec<HeldEvent>) {
    for (sender, json) in events {
        // No receiver is not an error: the event is simply not observed.
        let _ = sender.send(json);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::broadcast;

    #[test]
    fn holds_only_inside_a_group_and_truncates_to_a_mark() {
        let (tx, mut rx) = broadcast::channel::<Arc<str>>(8);
        assert!(hold(&tx, Arc::from("free")).is_some());
        begin();
        assert!(hold(&tx, Arc::from("a")).is_none());
        let m = mark();
        assert!(hold(&tx, Arc::from("b")).is_none());
        truncate(m);
        assert!(hold(&tx, Arc::from("c")).is_none());
        release(end());
        assert_eq!(&*rx.try_recv().unwrap(), "a");
        assert_eq!(&*rx.try_recv().unwrap(), "c");
        assert!(rx.try_recv().is_err());
        assert!(hold(&tx, Arc::from("after")).is_some());
    }
}
