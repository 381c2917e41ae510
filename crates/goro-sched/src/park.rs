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
use std::panic::Location;
use std::sync::Arc;
use std::thread::{self, Thread};
use std::time::Instant;

use crate::context;
use crate::task::{Task, TransitionToRunnable};

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
                if let TransitionToRunnable::Enqueue = task.unpark() {
                    context::schedule(task.clone());
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
                if let TransitionToRunnable::Enqueue = task.unpark() {
                    context::schedule(task);
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
    match context::current_task() {
        Some(task) => Unparker::task(task),
        None => Unparker(Inner::Thread(thread::current())),
    }
}

/// Blocks the calling coroutine (its worker runs others meanwhile) or thread until it
/// is unparked. May return spuriously. A dump shows the coroutine as parked on
/// [`WaitReason::Park`] at the caller's location; goro's own operations use
/// [`park_on`] to say what they wait for.
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
#[track_caller]
pub fn park() {
    park_on(Wait::new(WaitReason::Park));
}

/// [`park`], recording what the caller waits for and where (shown by dumps and the
/// deadlock report): the one door through which every goro operation parks.
///
/// Recording is three plain stores into the coroutine's control block, made only when
/// the coroutine really suspends (see "Dumps" in ARCHITECTURE.md).
///
/// # Examples
///
/// ```
/// use goro_sched::{Wait, WaitReason};
///
/// goro_sched::current_unparker().unpark();
/// goro_sched::park_on(Wait::new(WaitReason::Park)); // returns at once: a permit
/// ```
pub fn park_on(wait: Wait) {
    match context::with_current_task(|task| {
        let permit = task.take_permit();
        if !permit {
            task.record_wait(wait);
        }
        permit
    }) {
        Some(true) => {}
        Some(false) => {
            // The worker that resumed us finishes the park after we switched away
            // (Task::parked), so an unpark racing with this suspend is never lost.
            let _ = goro_context::suspend(goro_context::Reason::Park);
        }
        None => crate::dump::park_thread(),
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
#[track_caller]
pub fn park_until(deadline: Instant) {
    park_until_on(deadline, Wait::new(WaitReason::Park));
}

/// [`park_until`], recording what the caller waits for, as [`park_on`] does.
///
/// # Examples
///
/// ```
/// use goro_sched::{Wait, WaitReason};
/// use std::time::{Duration, Instant};
///
/// goro_sched::park_until_on(Instant::now() + Duration::from_millis(1), Wait::new(WaitReason::Sleep));
/// ```
pub fn park_until_on(deadline: Instant, wait: Wait) {
    if context::with_current_task(|_| ()).is_none() {
        let now = Instant::now();
        if deadline > now {
            thread::park_timeout(deadline - now);
        }
        return;
    }
    let timer = context::add_timer(deadline, current_unparker());
    park_on(wait);
    timer.cancel();
}

/// What a parked coroutine waits for, as a dump shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
#[repr(u8)]
pub enum WaitReason {
    /// A bare [`park`] (code outside goro's own operations).
    Park = 1,
    /// A channel receive.
    ChanRecv,
    /// A channel send.
    ChanSend,
    /// A `select!` over several channel operations.
    Select,
    /// `Mutex::lock`.
    Mutex,
    /// `RwLock::read`.
    RwLockRead,
    /// `RwLock::write`.
    RwLockWrite,
    /// `Condvar::wait`.
    Condvar,
    /// `WaitGroup::wait`.
    WaitGroup,
    /// `Semaphore::acquire`.
    Semaphore,
    /// `Barrier::wait`.
    Barrier,
    /// `Once`/`OnceLock` while another caller runs the initializer.
    Once,
    /// A sleep.
    Sleep,
    /// Readiness of a socket or other file descriptor (the poller).
    Io,
    /// `JoinHandle::join`.
    Join,
    /// A job on the blocking pool.
    Blocking,
    /// A future in `block_on`.
    BlockOn,
    /// The end of a `scope`, for its coroutines.
    Scope,
}

impl WaitReason {
    const ALL: [WaitReason; 18] = [
        WaitReason::Park,
        WaitReason::ChanRecv,
        WaitReason::ChanSend,
        WaitReason::Select,
        WaitReason::Mutex,
        WaitReason::RwLockRead,
        WaitReason::RwLockWrite,
        WaitReason::Condvar,
        WaitReason::WaitGroup,
        WaitReason::Semaphore,
        WaitReason::Barrier,
        WaitReason::Once,
        WaitReason::Sleep,
        WaitReason::Io,
        WaitReason::Join,
        WaitReason::Blocking,
        WaitReason::BlockOn,
        WaitReason::Scope,
    ];

    /// The reason as a dump prints it, e.g. `"chan receive"`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(goro_sched::WaitReason::ChanRecv.as_str(), "chan receive");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            WaitReason::Park => "park",
            WaitReason::ChanRecv => "chan receive",
            WaitReason::ChanSend => "chan send",
            WaitReason::Select => "select",
            WaitReason::Mutex => "mutex",
            WaitReason::RwLockRead => "rwlock read",
            WaitReason::RwLockWrite => "rwlock write",
            WaitReason::Condvar => "condvar",
            WaitReason::WaitGroup => "waitgroup",
            WaitReason::Semaphore => "semaphore",
            WaitReason::Barrier => "barrier",
            WaitReason::Once => "once",
            WaitReason::Sleep => "sleep",
            WaitReason::Io => "I/O readiness",
            WaitReason::Join => "join",
            WaitReason::Blocking => "blocking pool",
            WaitReason::BlockOn => "future (block_on)",
            WaitReason::Scope => "scope",
        }
    }

    pub(crate) fn from_u8(value: u8) -> Option<WaitReason> {
        WaitReason::ALL
            .get(usize::from(value).checked_sub(1)?)
            .copied()
    }
}

impl fmt::Display for WaitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A wait about to happen: its [`WaitReason`] and the user's call site, taken with
/// `#[track_caller]`. Built where a goro operation parks and handed to [`park_on`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wait {
    reason: WaitReason,
    site: &'static Location<'static>,
}

impl Wait {
    /// A wait for `reason` at the caller's location (its caller's, through functions
    /// marked `#[track_caller]`).
    ///
    /// # Examples
    ///
    /// ```
    /// let wait = goro_sched::Wait::new(goro_sched::WaitReason::Sleep);
    /// assert_eq!(wait.site().line(), line!() - 1);
    /// ```
    #[track_caller]
    #[inline]
    pub fn new(reason: WaitReason) -> Wait {
        Wait {
            reason,
            site: Location::caller(),
        }
    }

    pub(crate) fn with_site(reason: WaitReason, site: &'static Location<'static>) -> Wait {
        Wait { reason, site }
    }

    /// What is waited for.
    ///
    /// # Examples
    ///
    /// ```
    /// let wait = goro_sched::Wait::new(goro_sched::WaitReason::Join);
    /// assert_eq!(wait.reason(), goro_sched::WaitReason::Join);
    /// ```
    pub fn reason(&self) -> WaitReason {
        self.reason
    }

    /// Where.
    ///
    /// # Examples
    ///
    /// ```
    /// let wait = goro_sched::Wait::new(goro_sched::WaitReason::Join);
    /// assert!(wait.site().file().ends_with(".rs"));
    /// ```
    pub fn site(&self) -> &'static Location<'static> {
        self.site
    }
}
