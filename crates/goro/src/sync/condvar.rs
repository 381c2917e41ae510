//! `Condvar`: wait for a condition under a [`Mutex`](super::Mutex).
//!
//! A waiter enqueues itself (step 1 of `waitq`) *before* it unlocks the mutex, so a
//! notifier that changes the condition under the mutex and then notifies always finds
//! it: no wakeup is lost between the unlock and the park.

use std::fmt;
use std::time::{Duration, Instant};

use super::mutex::MutexGuard;
use super::waitq::{self, WaitList};
use crate::loom::unmodelled::Mutex as StdMutex;

/// Token: notified.
const NOTIFIED: usize = 1;

/// A condition variable for [`goro::sync::Mutex`](super::Mutex), like
/// `std::sync::Condvar`: a coroutine waiting on it parks, a thread blocks.
///
/// As with every condition variable, a wait may return without a notification
/// (spuriously) or after the condition changed back, so wait in a loop on the
/// condition, or use [`wait_while`](Condvar::wait_while).
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use goro::sync::{Condvar, Mutex};
///
/// let pair = Arc::new((Mutex::new(false), Condvar::new()));
/// let pair2 = pair.clone();
/// goro::go!(move || {
///     let (ready, cvar) = &*pair2;
///     *ready.lock() = true;
///     cvar.notify_one();
/// });
/// let (ready, cvar) = &*pair;
/// let mut guard = ready.lock();
/// while !*guard {
///     guard = cvar.wait(guard);
/// }
/// ```
pub struct Condvar {
    waiters: StdMutex<WaitList>,
}

/// Whether [`Condvar::wait_timeout`] returned because its time ran out.
///
/// # Examples
///
/// ```
/// let (m, cv) = (goro::sync::Mutex::new(()), goro::sync::Condvar::new());
/// let (_guard, result) = cv.wait_timeout(m.lock(), std::time::Duration::from_millis(1));
/// assert!(result.timed_out());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitTimeoutResult(bool);

impl WaitTimeoutResult {
    /// `true` if the wait ended because the timeout elapsed, not by a notification.
    pub fn timed_out(&self) -> bool {
        self.0
    }
}

impl Condvar {
    /// A condition variable with no waiters. `const`, so it can be a `static`.
    ///
    /// # Examples
    ///
    /// ```
    /// static CV: goro::sync::Condvar = goro::sync::Condvar::new();
    /// CV.notify_all(); // nobody waits: nothing happens
    /// ```
    pub const fn new() -> Condvar {
        Condvar {
            waiters: StdMutex::new(WaitList::new()),
        }
    }

    /// Unlocks the guard's mutex, waits for a notification, and locks the mutex again.
    ///
    /// May return spuriously: check the condition in a loop.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use goro::sync::{Condvar, Mutex};
    ///
    /// let state = Arc::new((Mutex::new(0), Condvar::new()));
    /// let s = state.clone();
    /// let waiter = goro::go!(move || {
    ///     let (count, cv) = &*s;
    ///     let mut n = count.lock();
    ///     while *n < 3 {
    ///         n = cv.wait(n);
    ///     }
    ///     *n
    /// });
    /// for _ in 0..3 {
    ///     *state.0.lock() += 1;
    ///     state.1.notify_all();
    /// }
    /// assert_eq!(waiter.join().unwrap(), 3);
    /// ```
    #[track_caller]
    pub fn wait<'a, T: ?Sized>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        let mutex = MutexGuard::mutex(&guard);
        let waiter = waitq::lock(&self.waiters).push(0);
        drop(guard);
        waiter.wait(goro_sched::Wait::new(goro_sched::WaitReason::Condvar));
        mutex.lock()
    }

    /// Waits until `condition` returns `false`, checking it under the lock before each
    /// wait, and returns the guard.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use goro::sync::{Condvar, Mutex};
    ///
    /// let queue = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
    /// let q = queue.clone();
    /// goro::go!(move || {
    ///     q.0.lock().push("job");
    ///     q.1.notify_one();
    /// });
    /// let jobs = queue.1.wait_while(queue.0.lock(), |jobs| jobs.is_empty());
    /// assert_eq!(*jobs, ["job"]);
    /// ```
    #[track_caller]
    pub fn wait_while<'a, T: ?Sized, F>(
        &self,
        mut guard: MutexGuard<'a, T>,
        mut condition: F,
    ) -> MutexGuard<'a, T>
    where
        F: FnMut(&mut T) -> bool,
    {
        while condition(&mut *guard) {
            guard = self.wait(guard);
        }
        guard
    }

    /// Like [`wait`](Condvar::wait), but gives up after `timeout`. The result says
    /// whether the time ran out (then no notification was consumed).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use goro::sync::{Condvar, Mutex};
    ///
    /// let (m, cv) = (Mutex::new(0), Condvar::new());
    /// let (guard, result) = cv.wait_timeout(m.lock(), Duration::from_millis(10));
    /// assert!(result.timed_out()); // nobody notified
    /// assert_eq!(*guard, 0);
    /// ```
    #[track_caller]
    pub fn wait_timeout<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        timeout: Duration,
    ) -> (MutexGuard<'a, T>, WaitTimeoutResult) {
        let Some(deadline) = Instant::now().checked_add(timeout) else {
            // Practically forever.
            return (self.wait(guard), WaitTimeoutResult(false));
        };
        let mutex = MutexGuard::mutex(&guard);
        let waiter = waitq::lock(&self.waiters).push(0);
        drop(guard);
        let timed_out = match waiter.wait_until(
            deadline,
            goro_sched::Wait::new(goro_sched::WaitReason::Condvar),
        ) {
            Some(_) => false,
            // Step 5 of `waitq`: a notifier that popped us first wins the race.
            None => waitq::lock(&self.waiters).remove(&waiter),
        };
        (mutex.lock(), WaitTimeoutResult(timed_out))
    }

    /// Wakes one waiting coroutine or thread, the longest-waiting one, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// let cv = goro::sync::Condvar::new();
    /// cv.notify_one(); // no waiter: the notification is not stored
    /// ```
    pub fn notify_one(&self) {
        let waiter = waitq::lock(&self.waiters).wake_one(NOTIFIED);
        if let Some(waiter) = waiter {
            waiter.unpark();
        }
    }

    /// Wakes every waiting coroutine and thread.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use goro::sync::{Condvar, Mutex};
    ///
    /// let gate = Arc::new((Mutex::new(false), Condvar::new()));
    /// let waiters: Vec<_> = (0..10)
    ///     .map(|_| {
    ///         let g = gate.clone();
    ///         goro::go!(move || drop(g.1.wait_while(g.0.lock(), |open| !*open)))
    ///     })
    ///     .collect();
    /// *gate.0.lock() = true;
    /// gate.1.notify_all();
    /// for w in waiters {
    ///     w.join().unwrap();
    /// }
    /// ```
    pub fn notify_all(&self) {
        let waiters = waitq::lock(&self.waiters).wake_all(NOTIFIED);
        waitq::unpark_all(waiters);
    }
}

impl Default for Condvar {
    fn default() -> Condvar {
        Condvar::new()
    }
}

impl fmt::Debug for Condvar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condvar").finish_non_exhaustive()
    }
}
