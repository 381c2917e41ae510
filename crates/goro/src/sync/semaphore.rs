//! `Semaphore`: a counted set of permits, handed out in arrival order.

use std::fmt;

use super::waitq::{self, WaitList};
use crate::loom::unmodelled::Mutex as StdMutex;

/// Token: a permit was handed over.
const GRANTED: usize = 1;

#[derive(Debug)]
struct State {
    permits: usize,
    waiters: WaitList,
}

/// A counting semaphore: at most `n` permits are out at once.
///
/// [`acquire`](Semaphore::acquire) takes a permit, parking the coroutine (or blocking
/// the thread) while none is available; the permit goes back when its
/// [`SemaphorePermit`] is dropped. Waiters are served in arrival order: a released
/// permit is handed to the longest waiter directly.
///
/// # Examples
///
/// Limit a crowd of coroutines to 3 at a time:
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use goro::sync::Semaphore;
///
/// let sem = Arc::new(Semaphore::new(3));
/// let inside = Arc::new(AtomicUsize::new(0));
/// let handles: Vec<_> = (0..20)
///     .map(|_| {
///         let (sem, inside) = (sem.clone(), inside.clone());
///         goro::go!(move || {
///             let _permit = sem.acquire();
///             assert!(inside.fetch_add(1, Ordering::SeqCst) < 3);
///             goro::yield_now();
///             inside.fetch_sub(1, Ordering::SeqCst);
///         })
///     })
///     .collect();
/// for h in handles {
///     h.join().unwrap();
/// }
/// ```
pub struct Semaphore {
    state: StdMutex<State>,
}

/// A permit from a [`Semaphore`]; dropping it gives the permit back.
///
/// # Examples
///
/// ```
/// let sem = goro::sync::Semaphore::new(1);
/// let permit = sem.acquire();
/// assert!(sem.try_acquire().is_none());
/// drop(permit);
/// assert!(sem.try_acquire().is_some());
/// ```
#[must_use = "if unused the permit is released at once"]
pub struct SemaphorePermit<'a> {
    semaphore: &'a Semaphore,
}

impl Semaphore {
    /// A semaphore with `permits` permits available. `const`, so it can be a `static`.
    ///
    /// # Examples
    ///
    /// ```
    /// static CONNECTIONS: goro::sync::Semaphore = goro::sync::Semaphore::new(100);
    /// let _permit = CONNECTIONS.acquire();
    /// assert_eq!(CONNECTIONS.available_permits(), 99);
    /// ```
    pub const fn new(permits: usize) -> Semaphore {
        Semaphore {
            state: StdMutex::new(State {
                permits,
                waiters: WaitList::new(),
            }),
        }
    }

    /// Takes a permit, parking the calling coroutine (or blocking the thread) until
    /// one is available.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = goro::sync::Semaphore::new(2);
    /// let a = sem.acquire();
    /// let b = sem.acquire();
    /// assert_eq!(sem.available_permits(), 0);
    /// ```
    #[track_caller]
    pub fn acquire(&self) -> SemaphorePermit<'_> {
        let waiter = {
            let mut state = waitq::lock(&self.state);
            if state.permits > 0 && state.waiters.is_empty() {
                state.permits -= 1;
                None
            } else {
                Some(state.waiters.push(0))
            }
        };
        if let Some(waiter) = waiter {
            waiter.wait(goro_sched::Wait::new(goro_sched::WaitReason::Semaphore)); // GRANTED: the releaser passed its permit to us
        }
        SemaphorePermit { semaphore: self }
    }

    /// Takes a permit if one is available now (and nobody is waiting for one).
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = goro::sync::Semaphore::new(1);
    /// let permit = sem.try_acquire().unwrap();
    /// assert!(sem.try_acquire().is_none());
    /// ```
    pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        let mut state = waitq::lock(&self.state);
        if state.permits > 0 && state.waiters.is_empty() {
            state.permits -= 1;
            Some(SemaphorePermit { semaphore: self })
        } else {
            None
        }
    }

    /// The number of permits available now. Only a snapshot while others acquire
    /// and release.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = goro::sync::Semaphore::new(4);
    /// let _p = sem.acquire();
    /// assert_eq!(sem.available_permits(), 3);
    /// ```
    pub fn available_permits(&self) -> usize {
        waitq::lock(&self.state).permits
    }

    /// Adds `n` permits (to waiters first, in arrival order).
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = goro::sync::Semaphore::new(0);
    /// sem.add_permits(2);
    /// assert_eq!(sem.available_permits(), 2);
    /// ```
    pub fn add_permits(&self, n: usize) {
        for _ in 0..n {
            self.release();
        }
    }

    fn release(&self) {
        let waiter = {
            let mut state = waitq::lock(&self.state);
            let waiter = state.waiters.wake_one(GRANTED);
            if waiter.is_none() {
                state.permits += 1;
            }
            waiter
        };
        if let Some(waiter) = waiter {
            waiter.unpark();
        }
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        self.semaphore.release();
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("permits", &self.available_permits())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit").finish_non_exhaustive()
    }
}
