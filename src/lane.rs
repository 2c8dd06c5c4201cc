//! The call lane: the thread that starts every `call` of JS.
//!
//! A short call (`getJob`: one SQLite read) is done in a few microseconds, but reaching a
//! parked tokio worker from the JS thread costs a futex wake-up, which on a virtual machine's
//! idle vCPU measured as the larger part of a round trip. So calls go to one thread that
//! stays awake for a short while after its last call (a *spin window*, [`SPIN`]) before it
//! parks: a host issuing calls back to back — the common case — hands each one over without a
//! wake-up. The lane polls a call's future once, inside the runtime's context; a call that
//! completes there (most reads, every validation error) is answered at once, and one that
//! must wait (network, a busy writer, a job) is moved to the runtime and finishes there. So
//! the lane never sits on slow work, and nothing runs on the JS thread. Calls that arrived
//! together are started together, their writes gathered into one group commit
//! (`Backend::gather_writes`).
//!
//! The spin costs CPU only in bursts of calls (at most [`SPIN`] after each), never while the
//! app is idle, and it yields the CPU on every turn, so it never holds up a thread that waits
//! for it (the JS thread above all).

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// A call's work.
pub(crate) type Work = Pin<Box<dyn Future<Output = ()> + Send>>;

/// How long the lane stays awake after its last call.
const SPIN: Duration = Duration::from_micros(200);

/// Turns of the spin between two readings of the clock.
const CLOCK_EVERY: u32 = 8;

struct Lane {
    queue: Mutex<VecDeque<Work>>,
    /// Set after a push: what the spinning lane watches, so that it reads one flag instead of
    /// taking the queue's lock in a tight loop (which the JS thread's push then contends for).
    queued: AtomicBool,
    ready: Condvar,
    parked: AtomicBool,
    runtime: tokio::runtime::Handle,
}

static LANE: OnceLock<Result<Arc<Lane>, String>> = OnceLock::new();

/// Starts `work` on the lane (starting the lane on first use).
pub(crate) fn submit(work: Work) -> napi::Result<()> {
    let lane = LANE
        .get_or_init(start)
        .as_ref()
        .map_err(|e| crate::to_napi(&enttok_core::Error::internal(e.clone())))?;
    lane.queue
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push_back(work);
    lane.queued.store(true, Ordering::Release);
    if lane.parked.load(Ordering::Acquire) {
        lane.ready.notify_one();
    }
    Ok(())
}

fn start() -> Result<Arc<Lane>, String> {
    let runtime = crate::runtime()
        .map_err(|e| e.reason.clone())?
        .handle()
        .clone();
    let lane = Arc::new(Lane {
        queue: Mutex::new(VecDeque::new()),
        queued: AtomicBool::new(false),
        ready: Condvar::new(),
        parked: AtomicBool::new(false),
        runtime,
    });
    let worker = Arc::clone(&lane);
    std::thread::Builder::new()
        .name("enttok-calls".into())
        .spawn(move || worker.run())
        .map_err(|e| format!("cannot start the call thread: {e}"))?;
    Ok(lane)
}

impl Lane {
    fn run(&self) {
        let _context = self.runtime.enter();
        let mut idle_since = Instant::now();
        let mut spins = 0u32;
        loop {
            // `submit` pushes, then sets the flag; a push seen by `park` under the lock sets it
            // too, so after the flag is cleared here, the queue holds every call not yet taken.
            if self.queued.load(Ordering::Acquire) && self.queued.swap(false, Ordering::AcqRel) {
                let batch: Vec<Work> = self
                    .queue
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .drain(..)
                    .collect();
                if !batch.is_empty() {
                    self.start(batch);
                }
                idle_since = Instant::now();
            } else if !spins.is_multiple_of(CLOCK_EVERY) || idle_since.elapsed() < SPIN {
                // The clock is read every few turns only: reading it on each one measured as
                // a seventh of this thread's time.
                spins = spins.wrapping_add(1);
                // Yield, not only spin: a thread waiting for this CPU — often the JS thread,
                // just woken by the answer sent from here — runs now, not after the window.
                // A bare spin measured 3 % of `getJob`s at ≈ 210 µs (SPIN + a round trip)
                // whenever the two threads shared a CPU.
                std::thread::yield_now();
            } else {
                self.park();
                idle_since = Instant::now();
            }
        }
    }

    /// Polls every call of `batch` once, their writes gathered into one group commit, and hands
    /// what must wait to the runtime (whose first poll finds the gathered writes committed).
    /// Not polled a second time here: letting operations *finish* on this thread measured
    /// badly (an HTTP adapter started from here served `/health` 3.5× slower; the cause was
    /// not isolated), so only first polls run on the lane.
    fn start(&self, batch: Vec<Work>) {
        let waiting: Vec<Work> = enttok_core::Backend::gather_writes(|| {
            batch.into_iter().filter_map(poll_once).collect()
        });
        for work in waiting {
            // Polled again by the runtime with a real waker, which replaces the no-op one.
            self.runtime.spawn(work);
        }
    }

    fn park(&self) {
        let queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        self.parked.store(true, Ordering::Release);
        // Checked under the lock `submit` pushes under: a call pushed before we set `parked`
        // is seen here; one pushed after sees `parked` and notifies.
        let queue = if queue.is_empty() {
            self.ready
                .wait_while(queue, |q| q.is_empty())
                .unwrap_or_else(|p| p.into_inner())
        } else {
            queue
        };
        self.parked.store(false, Ordering::Release);
        // The queue is not empty here; its pusher may not have set the flag yet.
        self.queued.store(true, Ordering::Release);
        drop(queue);
    }
}

/// Polls `work` once; gives it back if it must wait. A panic inside is caught by the call's
/// own wrapper (`CatchUnwind`); this guard only keeps the lane alive should anything else
/// unwind (the call is then dropped).
fn poll_once(mut work: Work) -> Option<Work> {
    let mut cx = Context::from_waker(Waker::noop());
    match enttok_core::unwind::poll_caught(work.as_mut(), &mut cx) {
        Poll::Pending => Some(work),
        Poll::Ready(_) => None,
    }
}
