//! `WaitGroup`: Go's `sync.WaitGroup`.

use std::fmt;
use std::sync::Arc;

use super::waitq::{self, WaitList};
use crate::loom::unmodelled::Mutex as StdMutex;

/// Token: the counter reached zero.
const ZERO: usize = 1;

#[derive(Debug)]
struct State {
    count: isize,
    waiters: WaitList,
}

/// Waits for a collection of coroutines (or threads) to finish, as Go's
/// `sync.WaitGroup` does.
///
/// The main coroutine calls [`add`](WaitGroup::add) with the number of tasks, each
/// task calls [`done`](WaitGroup::done) when it finishes, and [`wait`](WaitGroup::wait)
/// parks (or blocks a thread) until the counter is zero. Clones share one counter, so
/// each task can own a clone.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use goro::sync::WaitGroup;
///
/// let wg = WaitGroup::new();
/// let sum = Arc::new(AtomicUsize::new(0));
/// for i in 1..=10 {
///     wg.add(1);
///     let (wg, sum) = (wg.clone(), sum.clone());
///     goro::go!(move || {
///         sum.fetch_add(i, Ordering::Relaxed);
///         wg.done();
///     });
/// }
/// wg.wait();
/// assert_eq!(sum.load(Ordering::Relaxed), 55);
/// ```
#[derive(Clone)]
pub struct WaitGroup {
    inner: Arc<StdMutex<State>>,
}

impl WaitGroup {
    /// A wait group with counter 0.
    ///
    /// # Examples
    ///
    /// ```
    /// let wg = goro::sync::WaitGroup::new();
    /// wg.wait(); // counter 0: returns at once
    /// ```
    pub fn new() -> WaitGroup {
        WaitGroup {
            inner: Arc::new(StdMutex::new(State {
                count: 0,
                waiters: WaitList::new(),
            })),
        }
    }

    /// Adds `delta`, which may be negative, to the counter. When it reaches zero,
    /// every coroutine and thread blocked in [`wait`](WaitGroup::wait) is released.
    ///
    /// As in Go, calls with a positive delta that start from zero should happen before
    /// a `wait`: typically before starting the coroutine they count.
    ///
    /// # Examples
    ///
    /// ```
    /// let wg = goro::sync::WaitGroup::new();
    /// wg.add(2);
    /// wg.add(-2);
    /// wg.wait();
    /// ```
    ///
    /// # Panics
    ///
    /// If the counter would become negative ("sync: negative WaitGroup counter", as
    /// Go says); the counter is left unchanged.
    pub fn add(&self, delta: isize) {
        let woken = {
            let mut state = waitq::lock(&self.inner);
            let count = match state.count.checked_add(delta) {
                Some(count) if count >= 0 => count,
                _ => {
                    drop(state);
                    panic!("sync: negative WaitGroup counter");
                }
            };
            state.count = count;
            if count != 0 {
                return;
            }
            state.waiters.wake_all(ZERO)
        };
        waitq::unpark_all(woken);
    }

    /// Decrements the counter by one: `add(-1)`.
    ///
    /// # Examples
    ///
    /// ```
    /// let wg = goro::sync::WaitGroup::new();
    /// wg.add(1);
    /// let wg2 = wg.clone();
    /// goro::go!(move || wg2.done());
    /// wg.wait();
    /// ```
    ///
    /// # Panics
    ///
    /// If the counter is already zero ("sync: negative WaitGroup counter").
    pub fn done(&self) {
        self.add(-1);
    }

    /// Parks the calling coroutine (or blocks the thread) until the counter is zero.
    /// Returns at once if it is zero already.
    ///
    /// # Examples
    ///
    /// ```
    /// let wg = goro::sync::WaitGroup::new();
    /// wg.add(1);
    /// let wg2 = wg.clone();
    /// std::thread::spawn(move || wg2.done()); // threads and coroutines mix
    /// wg.wait();
    /// ```
    #[track_caller]
    pub fn wait(&self) {
        let waiter = {
            let mut state = waitq::lock(&self.inner);
            if state.count == 0 {
                return;
            }
            state.waiters.push(0)
        };
        waiter.wait(goro_sched::Wait::new(goro_sched::WaitReason::WaitGroup));
    }
}

impl Default for WaitGroup {
    fn default() -> WaitGroup {
        WaitGroup::new()
    }
}

impl fmt::Debug for WaitGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = waitq::lock(&self.inner).count;
        f.debug_struct("WaitGroup").field("count", &count).finish()
    }
}
