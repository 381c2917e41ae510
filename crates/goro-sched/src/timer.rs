//! Timers, one heap per worker (P).
//!
//! A coroutine that sleeps or waits with a deadline adds an entry to the heap of the
//! worker it runs on; the entry holds the coroutine's `Unparker`. The worker checks its
//! heap between coroutines (a lock-free read of `next` first, so an empty heap costs a
//! load) and, when idle, sleeps no longer than its nearest deadline. Firing only
//! unparks: the coroutine then runs on a worker like any other; user code never runs on
//! the thread that fired the timer. The monitor thread fires overdue timers of workers
//! that are stuck in one coroutine or have retired (a retired spare worker's heap stays
//! where it is; only migrating coroutines can leave entries there).
//!
//! Cancelled entries stay in the heap until they come due, unless more than half the
//! heap is cancelled, when it is rebuilt without them: a loop of `recv_timeout(1h)`
//! that always receives in time does not grow the heap without bound.
//!
//! The count of cancelled entries is exact, whatever the race between a `cancel` and
//! the firing of the same entry (on its worker or on the monitor):
//! 1. Each entry has one state word, PENDING until one compare-exchange moves it to
//!    CANCELLED (`cancel`) or FIRED (`fire_due`): that transition decides, once, whether
//!    it fires or counts as cancelled.
//! 2. `cancel` adds 1 to the count *before* its transition (and takes it back if the
//!    entry fired first); Release on the transition, Acquire where the heap reads it.
//!    So whoever finds an entry CANCELLED and takes it out of the heap (firing, or
//!    compacting) subtracts a 1 that was added before: the count never goes below zero.
//!
//! The loom model `loom_timer` checks this.

use std::cmp::Ordering as CmpOrdering;
use std::collections::BinaryHeap;
use std::sync::Arc;

use crate::loom::Ordering;
use crate::loom::modelled::{AtomicU8, AtomicU64, AtomicUsize, Mutex, MutexGuard};
use crate::park::Unparker;

/// Deadlines are nanoseconds since the runtime's epoch; `NONE` means no timer.
pub(crate) const NONE: u64 = u64::MAX;

pub(crate) struct Timers {
    heap: Mutex<Heap>,
    /// The earliest deadline in the heap, or NONE. Written under the lock.
    next: AtomicU64,
    cancelled: AtomicUsize,
}

struct Heap {
    entries: BinaryHeap<Entry>,
    seq: u64,
}

struct Entry {
    at: u64,
    seq: u64,
    node: Arc<Node>,
}

struct Node {
    action: Action,
    /// PENDING, CANCELLED or FIRED (step 1 of the module docs).
    state: AtomicU8,
}

const PENDING: u8 = 0;
const CANCELLED: u8 = 1;
const FIRED: u8 = 2;

/// What a timer does when it fires.
pub(crate) enum Action {
    /// Wake a parked coroutine or thread (sleeps, deadlines).
    Unpark(Unparker),
    /// Run a short, non-blocking piece of goro's own code, such as a `try_send` on a
    /// timer channel. Taken once, when the timer fires.
    Call(Mutex<Option<Box<dyn FnOnce() + Send>>>),
}

impl Action {
    fn fire(&self) {
        match self {
            Action::Unpark(unparker) => unparker.unpark(),
            Action::Call(f) => {
                let f = f.lock().unwrap_or_else(|e| e.into_inner()).take();
                if let Some(f) = f {
                    // User code, on a worker or the monitor: a panic is reported (by
                    // the panic hook) and goes no further.
                    if let Err(payload) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
                    {
                        crate::report_panic("running a timer callback", payload);
                    }
                }
            }
        }
    }
}

// A min-heap on (deadline, insertion order).
impl Ord for Entry {
    fn cmp(&self, other: &Entry) -> CmpOrdering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Entry) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}
impl PartialEq for Entry {
    fn eq(&self, other: &Entry) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Entry {}

/// A pending timer; `cancel` it when the wait ended for another reason.
pub(crate) struct TimerHandle {
    node: Arc<Node>,
    timers: &'static Timers,
}

impl std::fmt::Debug for TimerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimerHandle")
            .field("node", &self.node)
            .finish()
    }
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node").field("state", &self.state).finish()
    }
}

impl TimerHandle {
    /// Stops the timer if it has not fired yet.
    pub(crate) fn cancel(self) {
        // Step 2 of the module docs: count first, then decide.
        let cancelled = self.timers.cancelled.fetch_add(1, Ordering::Relaxed) + 1;
        // Release: pairs with the Acquire loads of the state in `fire_due` and
        // `compact_if_mostly_cancelled`, which then see the count above.
        if self
            .node
            .state
            .compare_exchange(PENDING, CANCELLED, Ordering::Release, Ordering::Relaxed)
            .is_ok()
        {
            self.timers.compact_if_mostly_cancelled(cancelled);
        } else {
            // It fired first (or was cancelled already): it is not a cancelled entry.
            self.timers.cancelled.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Timers {
    pub(crate) fn new() -> Timers {
        Timers {
            heap: Mutex::new(Heap {
                entries: BinaryHeap::new(),
                seq: 0,
            }),
            next: AtomicU64::new(NONE),
            cancelled: AtomicUsize::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Heap> {
        self.heap.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The earliest deadline, without locking.
    pub(crate) fn next(&self) -> u64 {
        self.next.load(Ordering::Acquire)
    }

    pub(crate) fn add(&'static self, at: u64, action: Action) -> TimerHandle {
        let node = Arc::new(Node {
            action,
            state: AtomicU8::new(PENDING),
        });
        let mut heap = self.lock();
        heap.seq += 1;
        let seq = heap.seq;
        heap.entries.push(Entry {
            at,
            seq,
            node: node.clone(),
        });
        if at < self.next.load(Ordering::Relaxed) {
            self.next.store(at, Ordering::Release);
        }
        drop(heap);
        TimerHandle { node, timers: self }
    }

    /// Fires every entry due at `now`. Returns how many coroutines it woke.
    pub(crate) fn fire_due(&self, now: u64) -> usize {
        if self.next() > now {
            return 0;
        }
        let mut due = Vec::new();
        let mut dead = Vec::new();
        {
            let mut heap = self.lock();
            while heap.entries.peek().is_some_and(|e| e.at <= now) {
                let entry = heap.entries.pop().expect("peeked");
                // Step 1 of the module docs: FIRED makes a later `cancel` a no-op; an
                // entry found CANCELLED leaves the heap with its count (step 2).
                // Acquire on failure: pairs with the Release in `cancel`.
                match entry.node.state.compare_exchange(
                    PENDING,
                    FIRED,
                    Ordering::Relaxed,
                    Ordering::Acquire,
                ) {
                    Ok(_) => due.push(entry.node),
                    Err(_) => {
                        self.cancelled.fetch_sub(1, Ordering::Relaxed);
                        dead.push(entry);
                    }
                }
            }
            self.publish_next(&heap);
        }
        // Wake, and drop the dead entries, outside the lock: either may take other
        // locks. A dead entry may hold the last reference to a closure that never ran
        // (user code, as its destructor is): dropped under `drop_caught`.
        let woken = due.len();
        crate::drop_caught(dead, "a cancelled timer");
        for node in due {
            node.action.fire();
            crate::drop_caught(node, "a fired timer");
        }
        woken
    }

    fn publish_next(&self, heap: &Heap) {
        let next = heap.entries.peek().map_or(NONE, |e| e.at);
        self.next.store(next, Ordering::Release);
    }

    fn compact_if_mostly_cancelled(&self, cancelled: usize) {
        if cancelled < 64 {
            return;
        }
        let mut heap = self.lock();
        if self.cancelled.load(Ordering::Relaxed) * 2 < heap.entries.len() {
            return;
        }
        let entries = std::mem::take(&mut heap.entries);
        let (keep, dropped): (Vec<Entry>, Vec<Entry>) = entries
            .into_iter()
            // Acquire: pairs with the Release in `cancel` (step 2 of the module docs).
            .partition(|e| e.node.state.load(Ordering::Acquire) != CANCELLED);
        heap.entries = keep.into();
        self.cancelled.fetch_sub(dropped.len(), Ordering::Relaxed);
        self.publish_next(&heap);
        drop(heap);
        crate::drop_caught(dropped, "a cancelled timer"); // outside the lock, as in `fire_due`
    }

    /// The count of cancelled entries in the heap, for the loom model.
    #[cfg(all(test, loom))]
    pub(crate) fn cancelled(&self) -> usize {
        self.cancelled.load(Ordering::Relaxed)
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().entries.len()
    }
}
