//! `Once` and `OnceLock`: run an initializer exactly once; latecomers park.
//!
//! The state word moves INCOMPLETE -> RUNNING -> COMPLETE (or back to INCOMPLETE if
//! the initializer panics). It only changes under the internal lock, which the waiters
//! also take to check it and enqueue, so the RUNNING -> COMPLETE wakeup is never lost.
//! Readers of a completed `Once` need no lock: one Acquire load.

use std::cell::UnsafeCell;
use std::fmt;
use std::mem::MaybeUninit;

use super::waitq::{self, WaitList};
use crate::loom::unmodelled::{AtomicU8, Mutex as StdMutex, Ordering};

const INCOMPLETE: u8 = 0;
const RUNNING: u8 = 1;
const COMPLETE: u8 = 2;

/// Token: the state changed (complete, or the initializer panicked): look again.
const CHANGED: usize = 1;

/// Runs a one-time initialization, like `std::sync::Once` or Go's `sync.Once`.
///
/// The first caller of [`call_once`](Once::call_once) runs its closure; callers that
/// arrive meanwhile park (coroutines) or block (threads) until it has finished, and
/// later callers return at once.
///
/// If the closure panics, the panic goes to its caller and the `Once` stays
/// incomplete: the next caller (a waiting one, or a later one) runs its own closure.
/// There is no poisoning. (Go's `Once` would count the panicking call as done.)
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use goro::sync::Once;
///
/// static INIT: Once = Once::new();
/// static RUNS: AtomicUsize = AtomicUsize::new(0);
///
/// let handles: Vec<_> = (0..10)
///     .map(|_| goro::go!(|| INIT.call_once(|| {
///         RUNS.fetch_add(1, Ordering::SeqCst);
///     })))
///     .collect();
/// for h in handles {
///     h.join().unwrap();
/// }
/// assert_eq!(RUNS.load(Ordering::SeqCst), 1);
/// ```
pub struct Once {
    state: AtomicU8,
    waiters: StdMutex<WaitList>,
}

impl Once {
    /// A `Once` whose closure has not run. `const`, so it can be a `static`.
    ///
    /// # Examples
    ///
    /// ```
    /// static START: goro::sync::Once = goro::sync::Once::new();
    /// assert!(!START.is_completed());
    /// ```
    pub const fn new() -> Once {
        Once {
            state: AtomicU8::new(INCOMPLETE),
            waiters: StdMutex::new(WaitList::new()),
        }
    }

    /// Whether a closure has run to completion.
    ///
    /// # Examples
    ///
    /// ```
    /// let once = goro::sync::Once::new();
    /// once.call_once(|| {});
    /// assert!(once.is_completed());
    /// ```
    pub fn is_completed(&self) -> bool {
        // Acquire: pairs with the Release in `call_once`, so whatever the closure
        // wrote is visible to a caller that sees COMPLETE.
        self.state.load(Ordering::Acquire) == COMPLETE
    }

    /// Runs `f` if no closure has completed yet; returns once one has (this one or
    /// another caller's).
    ///
    /// # Examples
    ///
    /// ```
    /// let once = goro::sync::Once::new();
    /// let mut runs = 0;
    /// once.call_once(|| runs += 1);
    /// once.call_once(|| runs += 1);
    /// assert_eq!(runs, 1);
    /// ```
    ///
    /// # Panics
    ///
    /// If `f` panics, with its panic (the `Once` stays incomplete). Calling
    /// `call_once` on the same `Once` from inside `f` deadlocks.
    #[track_caller]
    pub fn call_once<F: FnOnce()>(&self, f: F) {
        if self.is_completed() {
            return;
        }
        self.call_once_slow(f);
    }

    #[cold]
    #[track_caller]
    fn call_once_slow<F: FnOnce()>(&self, f: F) {
        loop {
            let waiter = {
                let mut list = waitq::lock(&self.waiters);
                // Acquire: as in `is_completed`.
                match self.state.load(Ordering::Acquire) {
                    COMPLETE => return,
                    RUNNING => list.push(0),
                    _ => {
                        self.state.store(RUNNING, Ordering::Relaxed);
                        break;
                    }
                }
            };
            waiter.wait(goro_sched::Wait::new(goro_sched::WaitReason::Once));
        }

        // We are the initializer. If `f` panics, `Reset` puts the state back to
        // INCOMPLETE and wakes the waiters, one of which will try its own closure.
        struct Reset<'a>(&'a Once);
        impl Drop for Reset<'_> {
            fn drop(&mut self) {
                self.0.finish(INCOMPLETE);
            }
        }
        let reset = Reset(self);
        f();
        std::mem::forget(reset);
        self.finish(COMPLETE);
    }

    fn finish(&self, state: u8) {
        let woken = {
            let mut list = waitq::lock(&self.waiters);
            // Release: pairs with the Acquire in `is_completed`/`call_once_slow`.
            self.state.store(state, Ordering::Release);
            list.wake_all(CHANGED)
        };
        waitq::unpark_all(woken);
    }
}

impl Default for Once {
    fn default() -> Once {
        Once::new()
    }
}

impl fmt::Debug for Once {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Once")
            .field("completed", &self.is_completed())
            .finish_non_exhaustive()
    }
}

/// A cell written once, like `std::sync::OnceLock`, whose concurrent initializers
/// park instead of blocking their worker.
///
/// # Examples
///
/// ```
/// use goro::sync::OnceLock;
///
/// static CONFIG: OnceLock<String> = OnceLock::new();
///
/// let handles: Vec<_> = (0..10)
///     .map(|i| goro::go!(move || CONFIG.get_or_init(|| format!("set by {i}")).clone()))
///     .collect();
/// let values: Vec<String> = handles.into_iter().map(|h| h.join().unwrap()).collect();
/// assert!(values.iter().all(|v| v == &values[0])); // one initializer won
/// ```
pub struct OnceLock<T> {
    once: Once,
    value: UnsafeCell<MaybeUninit<T>>,
}

// SAFETY: a `OnceLock<T>` owns at most one `T`; sending the cell sends the `T`.
unsafe impl<T: Send> Send for OnceLock<T> {}

// SAFETY: through `&OnceLock<T>`, threads share `&T` (needs `T: Sync`), and the one
// initializer writes a `T` that may have been created on its thread and is later
// dropped or taken by another (needs `T: Send`), as for `std::sync::OnceLock`. The
// write happens before any read: readers see the value only after an Acquire load
// of COMPLETE, which the initializer stores with Release after writing.
unsafe impl<T: Send + Sync> Sync for OnceLock<T> {}

impl<T> OnceLock<T> {
    /// An empty cell. `const`, so it can be a `static`.
    ///
    /// # Examples
    ///
    /// ```
    /// static CELL: goro::sync::OnceLock<u32> = goro::sync::OnceLock::new();
    /// assert!(CELL.get().is_none());
    /// ```
    pub const fn new() -> OnceLock<T> {
        OnceLock {
            once: Once::new(),
            value: UnsafeCell::new(MaybeUninit::uninit()),
        }
    }

    /// The value, if the cell has been initialized. Never waits.
    ///
    /// # Examples
    ///
    /// ```
    /// let cell = goro::sync::OnceLock::new();
    /// assert_eq!(cell.get(), None);
    /// cell.set(3).unwrap();
    /// assert_eq!(cell.get(), Some(&3));
    /// ```
    pub fn get(&self) -> Option<&T> {
        if self.once.is_completed() {
            // SAFETY: COMPLETE (seen with Acquire) means the initializer wrote the
            // value before its Release store, and nothing writes it again while
            // `&self` lives.
            Some(unsafe { (*self.value.get()).assume_init_ref() })
        } else {
            None
        }
    }

    /// A mutable reference to the value, if initialized.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut cell = goro::sync::OnceLock::from(1);
    /// *cell.get_mut().unwrap() += 1;
    /// assert_eq!(cell.get(), Some(&2));
    /// ```
    pub fn get_mut(&mut self) -> Option<&mut T> {
        if self.once.is_completed() {
            // SAFETY: initialized (as in `get`), and `&mut self` excludes every
            // other reference.
            Some(unsafe { self.value.get_mut().assume_init_mut() })
        } else {
            None
        }
    }

    /// The value, initializing it with `f` if the cell is empty. Callers that arrive
    /// while another's `f` runs park until it is done, and get its value.
    ///
    /// # Examples
    ///
    /// ```
    /// let cell = goro::sync::OnceLock::new();
    /// assert_eq!(*cell.get_or_init(|| 1), 1);
    /// assert_eq!(*cell.get_or_init(|| 2), 1); // already set
    /// ```
    ///
    /// # Panics
    ///
    /// If `f` panics, with its panic; the cell stays empty. Initializing the same
    /// cell from inside `f` deadlocks.
    #[track_caller]
    pub fn get_or_init<F: FnOnce() -> T>(&self, f: F) -> &T {
        if let Some(value) = self.get() {
            return value;
        }
        self.once.call_once(|| {
            let value = f();
            // SAFETY: the `Once` runs this closure in one caller at a time (state
            // RUNNING), before COMPLETE is published, so no other access to the cell
            // exists.
            unsafe { (*self.value.get()).write(value) };
        });
        self.get()
            .expect("a completed OnceLock holds a value (call_once returned)")
    }

    /// Stores `value` if the cell is empty; otherwise gives it back in `Err`.
    ///
    /// # Examples
    ///
    /// ```
    /// let cell = goro::sync::OnceLock::new();
    /// assert_eq!(cell.set(1), Ok(()));
    /// assert_eq!(cell.set(2), Err(2));
    /// ```
    ///
    /// # Errors
    ///
    /// `Err(value)` if the cell was already initialized.
    pub fn set(&self, value: T) -> Result<(), T> {
        let mut value = Some(value);
        self.get_or_init(|| value.take().expect("taken once"));
        match value {
            None => Ok(()),
            Some(value) => Err(value),
        }
    }

    /// Consumes the cell and returns its value, if initialized.
    ///
    /// # Examples
    ///
    /// ```
    /// let cell = goro::sync::OnceLock::new();
    /// cell.set(String::from("x")).unwrap();
    /// assert_eq!(cell.into_inner().as_deref(), Some("x"));
    /// ```
    pub fn into_inner(mut self) -> Option<T> {
        self.take()
    }

    /// Takes the value out, leaving the cell empty.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut cell = goro::sync::OnceLock::from(5);
    /// assert_eq!(cell.take(), Some(5));
    /// assert_eq!(cell.get(), None);
    /// ```
    pub fn take(&mut self) -> Option<T> {
        if !self.once.is_completed() {
            return None;
        }
        self.once = Once::new();
        // SAFETY: the value was initialized (COMPLETE), `&mut self` excludes other
        // access, and resetting the `Once` first marks it uninitialized, so it is
        // read out exactly once.
        Some(unsafe { self.value.get_mut().assume_init_read() })
    }
}

impl<T> Drop for OnceLock<T> {
    fn drop(&mut self) {
        if self.once.is_completed() {
            // SAFETY: initialized (COMPLETE) and never read out (`take` resets the
            // `Once`); `&mut self` in `drop` is the last access.
            unsafe { self.value.get_mut().assume_init_drop() };
        }
    }
}

impl<T> Default for OnceLock<T> {
    fn default() -> OnceLock<T> {
        OnceLock::new()
    }
}

impl<T> From<T> for OnceLock<T> {
    fn from(value: T) -> OnceLock<T> {
        let cell = OnceLock::new();
        let _ = cell.set(value);
        cell
    }
}

impl<T: fmt::Debug> fmt::Debug for OnceLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_tuple("OnceLock");
        match self.get() {
            Some(value) => d.field(value),
            None => d.field(&format_args!("<uninit>")),
        };
        d.finish()
    }
}
