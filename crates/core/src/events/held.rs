//! Events a write announces, held until that write is committed.
//!
//! The rule is that an event is announced only once the state it describes is committed. A
//! write closure therefore never sends its events itself: it adds them to its write context
//! (`store::WriteCtx::publish`), which holds them here. The store sends them once the write's
//! transaction has committed — after the closure returns for a write that commits its own
//! transaction, after the group's `COMMIT` for a grouped write (`store::group`) — in
//! publication order, and drops them when the write (or its group) rolled back.

use std::sync::Arc;

use tokio::sync::broadcast::Sender;

/// One event ready to send: its bus's sender and its JSON text.
pub(crate) type HeldEvent = (Sender<Arc<str>>, Arc<str>);

/// Events held for one write (or one group of writes), in publication order.
#[derive(Default)]
pub(crate) struct Held(Vec<HeldEvent>);

impl Held {
    /// Holds `event` until [`Held::release`].
    pub(crate) fn push(&mut self, event: HeldEvent) {
        self.0.push(event);
    }

    /// Appends `other`'s events after this one's (a write of a group succeeded).
    pub(crate) fn append(&mut self, mut other: Held) {
        self.0.append(&mut other.0);
    }

    /// Sends the held events to their subscribers, in order.
    pub(crate) fn release(self) {
        for (sender, json) in self.0 {
            // No receiver is not an error: the event is simply not observed.
            let _ = sender.send(json);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::broadcast;

    #[test]
    fn releases_in_order_what_was_held() {
        let (tx, mut rx) = broadcast::channel::<Arc<str>>(8);
        let mut group = Held::default();
        group.push((tx.clone(), Arc::from("a")));
        let mut write = Held::default();
        write.push((tx.clone(), Arc::from("b")));
        let dropped = {
            let mut failed = Held::default();
            failed.push((tx.clone(), Arc::from("rolled back")));
            failed
        };
        drop(dropped);
        assert!(rx.try_recv().is_err(), "nothing is sent before release");
        group.append(write);
        group.release();
        assert_eq!(&*rx.try_recv().unwrap(), "a");
        assert_eq!(&*rx.try_recv().unwrap(), "b");
        assert!(rx.try_recv().is_err());
    }
}
