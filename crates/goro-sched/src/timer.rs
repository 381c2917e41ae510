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

use std::cmp::Ordering as CmpOrdering;
use std::collections::BinaryHeap;
use std::sync::Arc;

use crate::loom::{AtomicBool, AtomicU64, AtomicUsize, Mutex, Ordering};
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
    cancelled: AtomicBool,
}

/// What a timer does when it fires.
pub(crate) enum Action {
    /// Wake a parked coroutine or thread (sleeps, deadlines).
    Unpark(Unparker),
    /// Run a short, non-blocking piece of goro's own code, such as a `try_send` on a
    /// timer channel. Taken once, when the timer fires.
    Call(crate::loom::Mutex<Option<Box<dyn FnOnce() + Send>>>),
}

impl Action {
    fn fire(&self) {
        match self {
            Action::Unpark(unparker) => unparker.unpark(),
            Action::Call(f) => {
                let f = f.lock().unwrap_or_else(|e| e.into_inner()).take();
                if let Some(f) = f {
                    f();
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
        f.debug_struct("Node")
            .field("cancelled", &self.cancelled)
            .finish()
    }
}

impl TimerHandle {
    /// Stops the timer if it has not fired yet.
    pub(crate) fn cancel(self) {
        if !self.node.cancelled.swap(true, Ordering::Relaxed) {
            let cancelled = self.timers.cancelled.fetch_add(1, Ordering::Relaxed) + 1;
            self.timers.compact_if_mostly_cancelled(cancelled);
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

    fn lock(&self) -> crate::loom::MutexGuard<'_, Heap> {
        self.heap.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The earliest deadline, without locking.
    pub(crate) fn next(&self) -> u64 {
        self.next.load(Ordering::Acquire)
    }

    pub(crate) fn add(&'static self, at: u64, action: Action) -> TimerHandle {
        let node = Arc::new(Node {
            action,
            cancelled: AtomicBool::new(false),
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
                // Marking it cancelled as it fires makes a later `cancel` a no-op, so
                // the count of cancelled entries *in the heap* stays exact.
                if entry.node.cancelled.swap(true, Ordering::Relaxed) {
                    self.cancelled.fetch_sub(1, Ordering::Relaxed);
                    dead.push(entry);
                } else {
                    due.push(entry.node);
                }
            }
            self.publish_next(&heap);
        }
        // Wake, and drop the dead entries, outside the lock: either may take other
        // locks, or drop the last reference to a coroutine whose unwinding sleeps.
        drop(dead);
        for node in &due {
            node.action.fire();
        }
        due.len()
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
            .partition(|e| !e.node.cancelled.load(Ordering::Relaxed));
        heap.entries = keep.into();
        self.cancelled.fetch_sub(dropped.len(), Ordering::Relaxed);
        self.publish_next(&heap);
        drop(heap);
        drop(dropped); // outside the lock, as in `fire_due`
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().entries.len()
    }
}
