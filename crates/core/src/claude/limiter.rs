//! A counting limiter whose bound is read at each acquisition, so a changed
//! `claude_max_concurrent` applies from the next run without rebuilding anything.

use std::sync::Mutex;

use tokio::sync::Notify;

use crate::jobs::Abort;
use crate::store::lock;

/// Runs in progress and a wake-up for waiters.
#[derive(Default)]
pub(crate) struct Limiter {
    running: Mutex<usize>,
    freed: Notify,
}

/// A held slot; dropping it frees the slot and wakes the waiters.
pub(crate) struct Slot<'a> {
    limiter: &'a Limiter,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        {
            let mut n = lock(&self.limiter.running);
            *n = n.saturating_sub(1);
        }
        self.limiter.freed.notify_waiters();
    }
}

impl Limiter {
    /// Waits for one of `max` slots; `None` when `abort` fires first.
    pub(crate) async fn acquire(&self, max: usize, abort: &Abort) -> Option<Slot<'_>> {
        loop {
            // Register interest before looking, so a release in between is not missed.
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            {
                let mut n = lock(&self.running);
                if *n < max.max(1) {
                    *n += 1;
                    return Some(Slot { limiter: self });
                }
            }
            if abort.is_fired() {
                return None;
            }
            tokio::select! {
                _ = &mut freed => {}
                _ = abort.fired() => return None,
            }
        }
    }

    /// Runs holding a slot now.
    #[cfg(test)]
    pub(crate) fn running(&self) -> usize {
        *lock(&self.running)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::AbortReason;
    use std::sync::Arc;

    #[tokio::test]
    async fn bounds_and_reacts_to_abort() {
        let limiter = Arc::new(Limiter::default());
        let abort = Abort::default();
        let a = limiter.acquire(1, &abort).await.unwrap();
        assert_eq!(limiter.running(), 1);
        let waiter_abort = Abort::default();
        let l2 = Arc::clone(&limiter);
        let wa = waiter_abort.clone();
        let waiting = tokio::spawn(async move { l2.acquire(1, &wa).await.is_some() });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        waiter_abort.fire(AbortReason::Canceled);
        assert!(!waiting.await.unwrap());
        drop(a);
        assert_eq!(limiter.running(), 0);
        let _b = limiter.acquire(1, &abort).await.unwrap();
    }
}
