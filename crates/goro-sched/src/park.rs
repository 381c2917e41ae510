//! Park/unpark: the one primitive every blocking operation builds on.
//!
//! `park` suspends the running coroutine until someone calls `unpark` on its
//! [`Unparker`]; on a plain thread it parks the thread (`std::thread::park`). Both have
//! `std::thread::park`'s contract: an `unpark` that comes first makes the next `park`
//! return at once, and `park` may return spuriously, so callers loop on their condition:
//!
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicBool, Ordering};
//!
//! let flag = Arc::new(AtomicBool::new(false));
//! let (f, me) = (flag.clone(), goro_sched::current_unparker());
//! std::thread::spawn(move || {
//!     f.store(true, Ordering::Release);
//!     me.unpark();
//! });
//! while !flag.load(Ordering::Acquire) {
//!     goro_sched::park(); // a plain thread here; a coroutine would park the same way
//! }
//! ```

use std::fmt;
use std::sync::Arc;
use std::thread::{self, Thread};
use std::time::Instant;

use crate::task::Task;
use crate::worker;

/// A handle that wakes one parked coroutine or thread. Cheap to clone; `unpark` may be
/// called from any thread, any number of times.
#[derive(Clone)]
pub struct Unparker(Inner);

#[derive(Clone)]
enum Inner {
    Task(Arc<Task>),
    Thread(Thread),
}

impl Unparker {
    /// Wakes the coroutine or thread, or, if it is not parked, makes its next `park`
    /// return immediately.
    ///
    /// # Examples
    ///
    /// ```
    /// let me = goro_sched::current_unparker();
    /// me.unpark();
    /// goro_sched::park(); // returns at once: the permit was already there
    /// ```
    pub fn unpark(&self) {
        match &self.0 {
            Inner::Task(task) => {
                if task.unpark() {
                    worker::schedule(task.clone());
                }
            }
            Inner::Thread(thread) => thread.unpark(),
        }
    }

    /// Like [`unpark`](Unparker::unpark), consuming the handle: saves a reference
    /// count's increment and decrement where the caller is done with it anyway.
    ///
    /// # Examples
    ///
    /// ```
    /// let me = goro_sched::current_unparker();
    /// me.unpark_owned();
    /// goro_sched::park(); // returns at once
    /// ```
    pub fn unpark_owned(self) {
        match self.0 {
            Inner::Task(task) => {
                if task.unpark() {
                    worker::schedule(task);
                }
            }
            Inner::Thread(thread) => thread.unpark(),
        }
    }

    /// Whether both handles wake the same coroutine or thread.
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, b) = (goro_sched::current_unparker(), goro_sched::current_unparker());
    /// assert!(a.same_as(&b));
    /// ```
    pub fn same_as(&self, other: &Unparker) -> bool {
        match (&self.0, &other.0) {
            (Inner::Task(a), Inner::Task(b)) => Arc::ptr_eq(a, b),
            (Inner::Thread(a), Inner::Thread(b)) => a.id() == b.id(),
            _ => false,
        }
    }

    pub(crate) fn task(task: Arc<Task>) -> Unparker {
        Unparker(Inner::Task(task))
    }
}

impl fmt::Debug for Unparker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Inner::Task(task) => f.debug_tuple("Unparker").field(task).finish(),
            Inner::Thread(thread) => f.debug_tuple("Unparker").field(&thread.id()).finish(),
        }
    }
}

/// The [`Unparker`] of the calling coroutine, or of the calling thread outside one.
///
/// # Examples
///
/// ```
/// let me = goro_sched::current_unparker(); // a plain thread's, here
/// std::thread::spawn(move || me.unpark());
/// goro_sched::park(); // returns once unparked (or spuriously)
/// ```
pub fn current_unparker() -> Unparker {
    match worker::current_task() {
        Some(task) => Unparker::task(task),
        None => Unparker(Inner::Thread(thread::current())),
    }
}

/// Blocks the calling coroutine (its worker runs others meanwhile) or thread until it
/// is unparked. May return spuriously.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicBool, Ordering};
///
/// let ready = Arc::new(AtomicBool::new(false));
/// let (tx, rx) = std::sync::mpsc::channel();
/// let r = ready.clone();
/// let waiter = goro_sched::spawn(Default::default(), move || {
///     tx.send(goro_sched::current_unparker()).unwrap();
///     while !r.load(Ordering::Acquire) {
///         goro_sched::park(); // its worker runs other coroutines meanwhile
///     }
/// })?;
/// let unparker = rx.recv().unwrap();
/// ready.store(true, Ordering::Release); // set the condition, then wake the waiter
/// unparker.unpark();
/// waiter.join().unwrap();
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn park() {
    match worker::with_current_task(|task| task.take_permit()) {
        Some(true) => {}
        Some(false) => {
            // The worker that resumed us finishes the park after we switched away
            // (Task::parked), so an unpark racing with this suspend is never lost.
            let _ = goro_context::suspend(goro_context::Reason::Park);
        }
        None => thread::park(),
    }
}

/// Like [`park`], but returns by `deadline` at the latest.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
///
/// let deadline = Instant::now() + Duration::from_millis(5);
/// while Instant::now() < deadline {
///     goro_sched::park_until(deadline); // nobody unparks us: wakes at the deadline
/// }
/// ```
pub fn park_until(deadline: Instant) {
    if worker::with_current_task(|_| ()).is_none() {
        let now = Instant::now();
        if deadline > now {
            thread::park_timeout(deadline - now);
        }
        return;
    }
    let timer = worker::add_timer(deadline, current_unparker());
    park();
    timer.cancel();
}
