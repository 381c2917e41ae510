//! `Mutex`: a lock that parks coroutines instead of blocking their worker.
//!
//! The lock word has two bits: `LOCKED`, and `PARKED` (the wait list is not empty).
//! Uncontended `lock`/`unlock` are one compare-and-swap each. The slow paths take the
//! internal wait-list lock, which guards `PARKED`:
//!
//! 1. `lock_slow`: spin briefly while nobody is parked; then, under the list lock,
//!    set `PARKED` if still `LOCKED` (else retry), enqueue, release the list lock,
//!    park until the token arrives (see `waitq`).
//! 2. `unlock_slow` (`PARKED` was set): under the list lock, pop the first waiter.
//!    If it has waited longer than [`STARVATION`], hand the lock over: `LOCKED` stays
//!    set, so nobody can barge in, and the token says `HANDOFF` (the waiter returns
//!    owning the lock). Otherwise clear `LOCKED` and send `RETRY`: the waiter competes
//!    with newcomers (throughput), and on losing goes back to the *front* of the list
//!    with its original start time, so it is handed the lock within about a
//!    millisecond. This is Go's `sync.Mutex` normal/starvation mode.
//! 3. `PARKED` is set exactly while the list is non-empty; it is only changed under
//!    the list lock, so `unlock_slow` always finds a waiter.

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::time::{Duration, Instant};

use super::waitq::{self, WaitList, Waiter};
use crate::loom::unmodelled::{AtomicU8, Mutex as StdMutex, Ordering};

const LOCKED: u8 = 1;
const PARKED: u8 = 2;

/// Token: the lock was released, compete for it again.
const RETRY: usize = 1;
/// Token: the lock was handed over; the waiter owns it.
const HANDOFF: usize = 2;

/// A waiter that has waited this long is handed the lock directly (Go's 1 ms).
const STARVATION: Duration = Duration::from_millis(1);

/// A mutual exclusion lock for coroutines and threads, like `std::sync::Mutex`.
///
/// A coroutine that finds it locked parks, and its worker runs other coroutines
/// meanwhile; a plain thread blocks. Coroutines and threads may contend for the same
/// `Mutex`. So a coroutine may hold the lock across `goro::yield_now`, `goro::sleep`
/// or a channel operation, even with one worker thread, without deadlocking the
/// others: they park instead of blocking the thread the holder needs.
///
/// There is no poisoning: a panic while the lock is held simply unlocks it.
///
/// Fairness follows Go's `sync.Mutex`: a released lock goes to whoever takes it first
/// (the unlocking coroutine may well take it again at once), except that a waiter that
/// has waited more than about a millisecond is handed the lock directly, so no waiter
/// starves.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use goro::sync::Mutex;
///
/// let counter = Arc::new(Mutex::new(0));
/// let handles: Vec<_> = (0..100)
///     .map(|_| {
///         let counter = counter.clone();
///         goro::go!(move || {
///             let mut n = counter.lock();
///             goro::yield_now(); // holding the lock across a yield is fine
///             *n += 1;
///         })
///     })
///     .collect();
/// for h in handles {
///     h.join().unwrap();
/// }
/// assert_eq!(*counter.lock(), 100);
/// ```
pub struct Mutex<T: ?Sized> {
    state: AtomicU8,
    waiters: StdMutex<WaitList>,
    data: UnsafeCell<T>,
}

// SAFETY: a `Mutex<T>` owns its `T`; moving the mutex to another thread moves the `T`,
// which `T: Send` allows. The lock word and wait list are themselves `Send`.
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}

// SAFETY: through `&Mutex<T>`, threads obtain `&mut T` (a guard) one at a time: the
// `LOCKED` bit is acquired with Acquire and released with Release (or handed over
// through the waiter's token, Release/Acquire), so the accesses are ordered and never
// overlap. Handing `&mut T` to other threads in turn is what `T: Send` allows; no `&T`
// is ever shared between threads at once, so `T: Sync` is not needed (as for std's).
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}

/// The lock of a [`Mutex`], held until it is dropped; dereferences to the data.
///
/// Unlike std's, it may be sent to another coroutine or thread (when `T: Send`), which
/// then unlocks it, as Go allows.
///
/// # Examples
///
/// ```
/// let m = goro::sync::Mutex::new(vec![1, 2]);
/// let mut guard = m.lock();
/// guard.push(3);
/// drop(guard); // unlocks
/// assert_eq!(*m.lock(), [1, 2, 3]);
/// ```
#[must_use = "if unused the Mutex will immediately unlock"]
pub struct MutexGuard<'a, T: ?Sized> {
    mutex: &'a Mutex<T>,
    // Makes the guard `Send` iff `T: Send` and `Sync` iff `T: Sync`, as `&mut T` is.
    _marker: PhantomData<&'a mut T>,
}

impl<T> Mutex<T> {
    /// A new, unlocked mutex holding `value`. `const`, so it can be a `static`.
    ///
    /// # Examples
    ///
    /// ```
    /// static NAMES: goro::sync::Mutex<Vec<String>> = goro::sync::Mutex::new(Vec::new());
    /// NAMES.lock().push("gopher".into());
    /// assert_eq!(NAMES.lock().len(), 1);
    /// ```
    pub const fn new(value: T) -> Mutex<T> {
        Mutex {
            state: AtomicU8::new(0),
            waiters: StdMutex::new(WaitList::new()),
            data: UnsafeCell::new(value),
        }
    }

    /// Consumes the mutex and returns its data.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = goro::sync::Mutex::new(5);
    /// assert_eq!(m.into_inner(), 5);
    /// ```
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Locks the mutex, parking the calling coroutine (or blocking the calling thread)
    /// until it is available.
    ///
    /// Locking a mutex the caller already holds deadlocks, as in Go.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = std::sync::Arc::new(goro::sync::Mutex::new(0));
    /// let m2 = m.clone();
    /// goro::go!(move || *m2.lock() += 1).join().unwrap();
    /// assert_eq!(*m.lock(), 1);
    /// ```
    #[track_caller]
    pub fn lock(&self) -> MutexGuard<'_, T> {
        // Acquire: pairs with the Release in `unlock`/`unlock_slow`, ordering the
        // previous holder's critical section before ours.
        if self
            .state
            .compare_exchange_weak(0, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lock_slow();
        }
        MutexGuard {
            mutex: self,
            _marker: PhantomData,
        }
    }

    /// Locks the mutex if it is free, without waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = goro::sync::Mutex::new(1);
    /// let guard = m.try_lock().unwrap();
    /// assert!(m.try_lock().is_none());
    /// drop(guard);
    /// assert!(m.try_lock().is_some());
    /// ```
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        let mut state = self.state.load(Ordering::Relaxed);
        while state & LOCKED == 0 {
            // Acquire: as in `lock`.
            match self.state.compare_exchange_weak(
                state,
                state | LOCKED,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    return Some(MutexGuard {
                        mutex: self,
                        _marker: PhantomData,
                    });
                }
                Err(actual) => state = actual,
            }
        }
        None
    }

    /// A mutable reference to the data, without locking: the `&mut self` proves no one
    /// else can hold the lock.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut m = goro::sync::Mutex::new(1);
    /// *m.get_mut() += 1;
    /// assert_eq!(*m.lock(), 2);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    #[cold]
    #[track_caller]
    fn lock_slow(&self) {
        let since = Instant::now();
        let mut requeue = false;
        let mut spins = 0u32;
        loop {
            let state = self.state.load(Ordering::Relaxed);
            if state & LOCKED == 0 {
                // Acquire: as in `lock`.
                if self
                    .state
                    .compare_exchange_weak(
                        state,
                        state | LOCKED,
                        Ordering::Acquire,
                        Ordering::Relaxed,
                    )
                    .is_ok()
                {
                    return;
                }
                continue;
            }
            // Spin a little while nobody is parked: the holder may be about to unlock
            // on another worker. Kept short, since the holder may instead be a
            // coroutine waiting for this very worker.
            if state & PARKED == 0 && spins < 4 {
                spins += 1;
                for _ in 0..(1 << spins) {
                    std::hint::spin_loop();
                }
                continue;
            }
            let waiter = {
                let mut list = waitq::lock(&self.waiters);
                // Step 1: set PARKED while still LOCKED; the list lock keeps the unlocker's
                // slow path out until we are queued.
                let state = self.state.load(Ordering::Relaxed);
                if state & LOCKED == 0 {
                    continue;
                }
                if state & PARKED == 0
                    && self
                        .state
                        .compare_exchange(
                            state,
                            state | PARKED,
                            Ordering::Relaxed,
                            Ordering::Relaxed,
                        )
                        .is_err()
                {
                    continue;
                }
                let waiter = Waiter::since(0, since);
                if requeue {
                    // Woken but beaten to the lock: back to the front, start time kept.
                    list.push_front(waiter.clone());
                } else {
                    list.push_back(waiter.clone());
                }
                waiter
            };
            match waiter.wait(goro_sched::Wait::new(goro_sched::WaitReason::Mutex)) {
                HANDOFF => return,
                _ => {
                    requeue = true;
                    spins = 0;
                }
            }
        }
    }

    /// Releases the lock; called by the guard's `drop`.
    fn unlock(&self) {
        // Release: pairs with the Acquire of the next `lock`.
        if self
            .state
            .compare_exchange(LOCKED, 0, Ordering::Release, Ordering::Relaxed)
            .is_err()
        {
            self.unlock_slow();
        }
    }

    #[cold]
    fn unlock_slow(&self) {
        let mut list = waitq::lock(&self.waiters);
        // Step 2. We hold LOCKED and the list lock, so no one else changes the state.
        let Some(front) = list.front() else {
            // Release: as in `unlock`. (Unreachable by invariant 3; harmless.)
            self.state.store(0, Ordering::Release);
            return;
        };
        let handoff = front.waited_since().elapsed() > STARVATION;
        let waiter = list
            .wake_one(if handoff { HANDOFF } else { RETRY })
            .expect("the list has a front");
        let parked = if list.is_empty() { 0 } else { PARKED };
        if handoff {
            // LOCKED stays set: the waiter owns the lock now. The token's Release
            // orders our critical section before its.
            self.state.store(LOCKED | parked, Ordering::Relaxed);
        } else {
            // Release: as in `unlock`.
            self.state.store(parked, Ordering::Release);
        }
        drop(list);
        waiter.unpark();
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the guard exists only while its holder owns the lock (acquired in
        // `lock`/`try_lock`, released in `drop`), so no other reference to the data
        // exists; this shared borrow is tied to the guard's.
        unsafe { &*self.mutex.data.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; the exclusive borrow of the guard makes this the only
        // reference to the data.
        unsafe { &mut *self.mutex.data.get() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        self.mutex.unlock();
    }
}

impl<'a, T: ?Sized> MutexGuard<'a, T> {
    /// The mutex this guard locks (for `Condvar`).
    pub(crate) fn mutex(guard: &MutexGuard<'a, T>) -> &'a Mutex<T> {
        guard.mutex
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        match self.try_lock() {
            Some(guard) => d.field("data", &&*guard),
            None => d.field("data", &format_args!("<locked>")),
        };
        d.finish_non_exhaustive()
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Mutex<T> {
        Mutex::new(T::default())
    }
}

impl<T> From<T> for Mutex<T> {
    fn from(value: T) -> Mutex<T> {
        Mutex::new(value)
    }
}
