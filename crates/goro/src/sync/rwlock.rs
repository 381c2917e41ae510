//! `RwLock`: many readers or one writer, served in arrival order.
//!
//! The state (reader count, writer flag, wait list) sits behind the internal lock.
//! A newcomer gets the lock at once only if it is free for it *and* nobody waits;
//! otherwise it queues. Whenever the lock becomes free (the last reader leaves, or the
//! writer does), `grant` hands it to the front of the queue: a writer alone, or every
//! reader up to the next queued writer. Ownership passes with the token, so a waiting
//! writer cannot be overtaken by readers arriving after it (no writer starvation), and
//! the readers behind a writer run together once it is done (no reader starvation).

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use super::waitq::{self, WaitList, Waiter};
use crate::loom::unmodelled::Mutex as StdMutex;

/// Waiter tags.
const READ: usize = 1;
const WRITE: usize = 2;
/// Token: the lock (read or write, as asked) is yours.
const GRANTED: usize = 1;

#[derive(Debug)]
struct State {
    readers: usize,
    writer: bool,
    waiters: WaitList,
}

impl State {
    /// Hands the free lock to the front of the queue; returns whom to unpark.
    fn grant(&mut self) -> Vec<Arc<Waiter>> {
        debug_assert!(!self.writer && self.readers == 0);
        let mut woken = Vec::new();
        while let Some(front) = self.waiters.front() {
            if front.tag() == WRITE {
                if woken.is_empty() {
                    self.writer = true;
                    woken.extend(self.waiters.wake_one(GRANTED));
                }
                break;
            }
            self.readers += 1;
            woken.extend(self.waiters.wake_one(GRANTED));
        }
        woken
    }
}

/// A reader-writer lock for coroutines and threads, like `std::sync::RwLock`: any
/// number of readers, or one writer.
///
/// Waiting coroutines park, threads block. Requests are served in arrival order: once
/// a writer waits, readers that come after it wait too, so a stream of readers cannot
/// starve a writer. There is no poisoning.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use goro::sync::RwLock;
///
/// let config = Arc::new(RwLock::new(String::from("v1")));
/// let readers: Vec<_> = (0..4)
///     .map(|_| {
///         let c = config.clone();
///         goro::go!(move || c.read().len())
///     })
///     .collect();
/// *config.write() = String::from("v2");
/// for r in readers {
///     assert_eq!(r.join().unwrap(), 2);
/// }
/// assert_eq!(*config.read(), "v2");
/// ```
pub struct RwLock<T: ?Sized> {
    state: StdMutex<State>,
    data: UnsafeCell<T>,
}

// SAFETY: an `RwLock<T>` owns its `T`; sending the lock sends the `T` (`T: Send`).
unsafe impl<T: ?Sized + Send> Send for RwLock<T> {}

// SAFETY: through `&RwLock<T>` threads get either `&mut T` one at a time (write
// guards; needs `T: Send`, as for a mutex) or `&T` several at once (read guards; needs
// `T: Sync`). The internal lock orders every grant after the release before it, so
// a writer's accesses never overlap any other access.
unsafe impl<T: ?Sized + Send + Sync> Sync for RwLock<T> {}

/// Shared access to an [`RwLock`]'s data, until dropped.
///
/// # Examples
///
/// ```
/// let lock = goro::sync::RwLock::new(3);
/// let (a, b) = (lock.read(), lock.read()); // readers share
/// assert_eq!(*a + *b, 6);
/// ```
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct RwLockReadGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
    // `Send` and `Sync` iff `T: Sync`, as `&T` is.
    _marker: PhantomData<&'a T>,
}

/// Exclusive access to an [`RwLock`]'s data, until dropped.
///
/// # Examples
///
/// ```
/// let lock = goro::sync::RwLock::new(3);
/// *lock.write() += 1;
/// assert_eq!(*lock.read(), 4);
/// ```
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct RwLockWriteGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
    // `Send` iff `T: Send`, `Sync` iff `T: Sync`, as `&mut T` is.
    _marker: PhantomData<&'a mut T>,
}

impl<T> RwLock<T> {
    /// A new, unlocked lock holding `value`. `const`, so it can be a `static`.
    ///
    /// # Examples
    ///
    /// ```
    /// static TABLE: goro::sync::RwLock<Vec<u32>> = goro::sync::RwLock::new(Vec::new());
    /// TABLE.write().push(1);
    /// assert_eq!(TABLE.read().len(), 1);
    /// ```
    pub const fn new(value: T) -> RwLock<T> {
        RwLock {
            state: StdMutex::new(State {
                readers: 0,
                writer: false,
                waiters: WaitList::new(),
            }),
            data: UnsafeCell::new(value),
        }
    }

    /// Consumes the lock and returns its data.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(goro::sync::RwLock::new(7).into_inner(), 7);
    /// ```
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> RwLock<T> {
    /// Locks for reading, waiting while a writer holds the lock or waits for it.
    ///
    /// Taking a read lock again while holding one may deadlock if a writer queued in
    /// between, as in Go.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = goro::sync::RwLock::new(vec![1, 2, 3]);
    /// assert_eq!(lock.read().len(), 3);
    /// ```
    #[track_caller]
    pub fn read(&self) -> RwLockReadGuard<'_, T> {
        let waiter = {
            let mut state = waitq::lock(&self.state);
            if !state.writer && state.waiters.is_empty() {
                state.readers += 1;
                None
            } else {
                Some(state.waiters.push(READ))
            }
        };
        if let Some(waiter) = waiter {
            waiter.wait(goro_sched::Wait::new(goro_sched::WaitReason::RwLockRead)); // GRANTED: `grant` counted us as a reader
        }
        RwLockReadGuard {
            lock: self,
            _marker: PhantomData,
        }
    }

    /// Locks for writing, waiting until no reader or writer holds the lock and every
    /// earlier request was served.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = goro::sync::RwLock::new(0);
    /// *lock.write() = 5;
    /// assert_eq!(*lock.read(), 5);
    /// ```
    #[track_caller]
    pub fn write(&self) -> RwLockWriteGuard<'_, T> {
        let waiter = {
            let mut state = waitq::lock(&self.state);
            if !state.writer && state.readers == 0 && state.waiters.is_empty() {
                state.writer = true;
                None
            } else {
                Some(state.waiters.push(WRITE))
            }
        };
        if let Some(waiter) = waiter {
            waiter.wait(goro_sched::Wait::new(goro_sched::WaitReason::RwLockWrite)); // GRANTED: `grant` made us the writer
        }
        RwLockWriteGuard {
            lock: self,
            _marker: PhantomData,
        }
    }

    /// Locks for reading if that is possible without waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = goro::sync::RwLock::new(1);
    /// let w = lock.write();
    /// assert!(lock.try_read().is_none());
    /// drop(w);
    /// assert!(lock.try_read().is_some());
    /// ```
    pub fn try_read(&self) -> Option<RwLockReadGuard<'_, T>> {
        let mut state = waitq::lock(&self.state);
        if state.writer || !state.waiters.is_empty() {
            return None;
        }
        state.readers += 1;
        Some(RwLockReadGuard {
            lock: self,
            _marker: PhantomData,
        })
    }

    /// Locks for writing if that is possible without waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = goro::sync::RwLock::new(1);
    /// let r = lock.read();
    /// assert!(lock.try_write().is_none());
    /// drop(r);
    /// assert!(lock.try_write().is_some());
    /// ```
    pub fn try_write(&self) -> Option<RwLockWriteGuard<'_, T>> {
        let mut state = waitq::lock(&self.state);
        if state.writer || state.readers != 0 || !state.waiters.is_empty() {
            return None;
        }
        state.writer = true;
        Some(RwLockWriteGuard {
            lock: self,
            _marker: PhantomData,
        })
    }

    /// A mutable reference to the data, without locking.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut lock = goro::sync::RwLock::new(1);
    /// *lock.get_mut() = 2;
    /// assert_eq!(*lock.read(), 2);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    fn read_unlock(&self) {
        let woken = {
            let mut state = waitq::lock(&self.state);
            state.readers -= 1;
            if state.readers == 0 {
                state.grant()
            } else {
                Vec::new()
            }
        };
        for waiter in woken {
            waiter.unpark();
        }
    }

    fn write_unlock(&self) {
        let woken = {
            let mut state = waitq::lock(&self.state);
            state.writer = false;
            state.grant()
        };
        for waiter in woken {
            waiter.unpark();
        }
    }
}

impl<T: ?Sized> Deref for RwLockReadGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: while a read guard exists the lock counts it among `readers`, so no
        // writer holds the lock and no `&mut T` exists; shared borrows may coexist.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for RwLockReadGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.read_unlock();
    }
}

impl<T: ?Sized> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: while a write guard exists `writer` is set and `readers` is 0, so
        // this guard is the only way to the data; the borrow is tied to the guard's.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; the exclusive borrow of the guard makes this the only
        // reference to the data.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for RwLockWriteGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.write_unlock();
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RwLock");
        match self.try_read() {
            Some(guard) => d.field("data", &&*guard),
            None => d.field("data", &format_args!("<locked>")),
        };
        d.finish_non_exhaustive()
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: Default> Default for RwLock<T> {
    fn default() -> RwLock<T> {
        RwLock::new(T::default())
    }
}

impl<T> From<T> for RwLock<T> {
    fn from(value: T) -> RwLock<T> {
        RwLock::new(value)
    }
}
