//! The M:N scheduler of goro: Go's G/M/P model for Rust coroutines.
//!
//! - **G**, a coroutine: a goro-context `Coroutine` plus its scheduling state (task.rs).
//! - **M**, a worker thread, resuming one G at a time (worker.rs).
//! - **P**, the run queues and timers a worker schedules from; one per worker.
//!
//! Runnable Gs wait in per-worker queues; idle workers steal unstarted Gs from each
//! other and park when there is nothing to do, without ever missing a wakeup (the
//! protocol is written out at the top of idle.rs). A G that blocks *parks*: it
//! suspends, and whoever makes it ready later (a channel, a lock, a timer) *unparks* it
//! with its [`Unparker`], from any thread. Once started, a G stays on its worker's
//! thread (its home) unless the runtime was configured with
//! [`Config::allow_migration`]. A monitor thread (sysmon.rs) keeps the runtime moving
//! when a worker is stuck in one G. [`blocking`] runs known-blocking code on a separate
//! pool. The poller (poll.rs, public side in [`io`]) parks coroutines on file
//! descriptors: an epoll set that idle workers block in and busy workers check now and
//! then.
//!
//! This crate is the engine; the `goro` crate is the user-facing API built on it
//! (`go!`, `JoinHandle`, channels, sync, net).
//!
//! # Examples
//!
//! ```
//! use goro_sched::{SpawnOptions, spawn};
//!
//! let handle = spawn(SpawnOptions::default(), || {
//!     goro_sched::yield_now();
//!     6 * 7
//! })?;
//! assert_eq!(handle.join().unwrap(), 42);
//! # Ok::<(), std::io::Error>(())
//! ```

mod blocking;
mod config;
mod context;
mod dump;
mod hold;
mod idle;
pub mod io;
mod loom;
mod park;
mod poll;
mod registry;
mod runtime;
mod spare;
mod sysmon;
mod task;
// Off under loom: its atomics and locks have no `get_mut`.
#[cfg(not(loom))]
mod task_cache;
mod timer;
mod worker;

#[cfg(all(test, loom))]
mod tests;

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::thread;
use std::time::{Duration, Instant};

pub use blocking::blocking;
pub use config::{Config, ConfigError, MAX_WORKERS};
pub use dump::{CoroutineDump, CoroutineState, Dump, dump};
pub use park::{
    Unparker, Wait, WaitReason, current_unparker, park, park_on, park_until, park_until_on,
};

use loom::AtomicPtr;
use task::Task;

/// Drops `value`, whose destructor is user code, on behalf of the runtime: a panic in
/// it is reported on stderr (the panic hook has already printed it, as for a panicking
/// thread) and goes no further, so no worker, monitor or poller thread dies of it.
/// `what` names the value in the report.
pub(crate) fn drop_caught<T>(value: T, what: &str) {
    if let Err(payload) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(value))) {
        report_panic(&format!("dropping {what}"), payload);
    }
}

/// Drops the result (value or panic payload) of a coroutine that nobody will join, as
/// [`drop_caught`] does. Its destructor is user code and may wait: join a coroutine it
/// spawns, receive. On a worker between coroutines that would block the worker itself,
/// and with one worker the coroutine it waits for could never run; so there the result
/// is dropped in a coroutine of its own (unless it is `()`, which has no destructor).
pub(crate) fn drop_result(result: thread::Result<task::Output>) {
    const WHAT: &str = "the result of a detached coroutine";
    /// Drops its content under `drop_caught` wherever it is dropped: in the dropping
    /// coroutine, or here if that coroutine cannot be spawned.
    struct Caught(Option<thread::Result<task::Output>>);
    impl Drop for Caught {
        fn drop(&mut self) {
            drop_caught(self.0.take(), WHAT);
        }
    }
    let unit = matches!(&result, Ok(value) if value.is::<()>());
    let caught = Caught(Some(result));
    if !unit && context::current_worker().is_some() && !in_coroutine() {
        let _detached = spawn(SpawnOptions::default(), move || drop(caught));
    }
}

/// Reports a panic that the runtime caught in user code and goes on: one line on the
/// process's real stderr, with the panic's message. Written to `stderr()` directly, not
/// with `eprintln!`: under `cargo test`, runtime threads inherit the output capture of
/// the test that started the runtime, and a report of a later test would be lost in
/// that one's captured output. Then drops the payload, which is user code too (once;
/// a payload whose drop panics again is leaked).
pub(crate) fn report_panic(during: &str, payload: Box<dyn std::any::Any + Send>) {
    use std::io::Write as _;
    let message = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("Box<dyn Any>");
    let line =
        format!("goro: a panic while {during} was caught ({message}); the runtime goes on\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
    if let Err(again) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(payload))) {
        std::mem::forget(again);
    }
}

/// Starts the runtime with `config`. Must be called before anything is spawned (the
/// runtime otherwise starts itself from the environment on first use).
///
/// # Examples
///
/// ```
/// // In a fresh process, before anything is spawned:
/// let config = goro_sched::Config::from_env()?.workers(2);
/// match goro_sched::init(config) {
///     Ok(()) => {}
///     Err(e) => println!("already running: {e}"),
/// }
/// # Ok::<(), goro_sched::ConfigError>(())
/// ```
///
/// # Errors
///
/// A [`ConfigError`] if the configuration is invalid or the runtime already runs.
pub fn init(config: Config) -> Result<(), ConfigError> {
    runtime::init(config)
}

/// The running runtime's configuration, starting the runtime if needed.
///
/// # Examples
///
/// ```
/// let config = goro_sched::config()?;
/// assert!(config.worker_count() >= 1);
/// # Ok::<(), goro_sched::ConfigError>(())
/// ```
///
/// # Errors
///
/// A [`ConfigError`] if the environment's configuration is invalid.
pub fn config() -> Result<Config, ConfigError> {
    runtime::runtime().map(|rt| rt.config.clone())
}

/// How to spawn one coroutine.
#[derive(Clone, Debug, Default)]
pub struct SpawnOptions {
    /// Shown by `current()` and in the stack-overflow message.
    pub name: Option<Arc<str>>,
    /// Stack size in bytes; the runtime's default if `None`.
    pub stack_size: Option<usize>,
    /// Keep the coroutine on the worker it starts on even when the runtime allows
    /// migration (Go's `LockOSThread`). Without migration every coroutine is pinned.
    pub pinned: bool,
}

/// Spawns a coroutine running `f`. It starts on the calling worker's queue (from a
/// coroutine) or the global queue (from a plain thread), unless an idle worker steals
/// it first.
///
/// # Examples
///
/// ```
/// use goro_sched::SpawnOptions;
///
/// let options = SpawnOptions { name: Some("worker".into()), ..SpawnOptions::default() };
/// let handle = goro_sched::spawn(options, || goro_context::current().unwrap().id())?;
/// assert!(handle.join().unwrap() > 0);
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Errors
///
/// - `InvalidInput` if the runtime's configuration (environment) is invalid or the
///   stack size is.
/// - `OutOfMemory` if the kernel's mapping budget for stacks is exhausted; the message
///   names `vm.max_map_count`.
#[track_caller]
pub fn spawn<F, T>(options: SpawnOptions, f: F) -> std::io::Result<JoinHandle<T>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let rt = runtime::runtime()?;
    let stack_size = options.stack_size.unwrap_or(rt.config.stack_size);
    // The stack is taken when the coroutine first runs (see task.rs), except where
    // stacks cost kernel mappings: there it is taken now (but not touched), so that
    // spawning past the budget fails here and not later on a worker. (With madvise
    // guards the budget counts arenas only and is out of practical reach.)
    let stack = match goro_stack::guard_mechanism()? {
        goro_stack::GuardMechanism::Mprotect => Some(goro_stack::Stack::new(stack_size)?),
        goro_stack::GuardMechanism::MadviseGuard => {
            goro_stack::validate_size(stack_size)?;
            None
        }
    };
    let pending = task::Pending {
        f: Box::new(move || Box::new(f()) as task::Output),
        stack_size,
        stack,
    };
    let migratable = rt.config.allow_migration && !options.pinned;
    let task = Task::new(
        pending,
        !migratable,
        options.name,
        std::panic::Location::caller(),
    );
    context::submit(rt, task.clone());
    Ok(JoinHandle {
        task: std::mem::ManuallyDrop::new(task),
        marker: PhantomData,
    })
}

/// Owns the right to wait for a coroutine's result. Dropping it detaches the
/// coroutine, which runs on.
pub struct JoinHandle<T> {
    /// Taken out in `drop`.
    task: std::mem::ManuallyDrop<Arc<Task>>,
    marker: PhantomData<fn() -> T>,
}

impl<T: 'static> JoinHandle<T> {
    /// Waits for the coroutine to finish: parks the calling coroutine, or blocks the
    /// calling thread. `Err(payload)` if it panicked or exited.
    ///
    /// # Examples
    ///
    /// ```
    /// let h = goro_sched::spawn(Default::default(), || -> u8 { panic!("no") })?;
    /// assert!(h.join().is_err());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[track_caller]
    pub fn join(self) -> thread::Result<T> {
        let wait = Wait::new(WaitReason::Join);
        self.task.join(wait).map(|output| {
            *output
                .downcast::<T>()
                .expect("a coroutine's output has the JoinHandle's type")
        })
    }

    /// Whether the coroutine has finished.
    ///
    /// # Examples
    ///
    /// ```
    /// let h = goro_sched::spawn(Default::default(), || ())?;
    /// while !h.is_finished() {
    ///     std::thread::yield_now();
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

/// Awaiting a `JoinHandle` from async code waits for the coroutine without blocking the
/// executor: the waker is woken when it finishes.
///
/// # Examples
///
/// ```
/// use std::future::Future;
/// use std::task::{Context, Poll, Waker};
///
/// let mut h = std::pin::pin!(goro_sched::spawn(Default::default(), || 6 * 7)?);
/// let mut cx = Context::from_waker(Waker::noop()); // a real executor's waker in practice
/// let answer = loop {
///     if let Poll::Ready(result) = h.as_mut().poll(&mut cx) {
///         break result.unwrap();
///     }
///     std::thread::yield_now();
/// };
/// assert_eq!(answer, 42);
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Panics
///
/// If polled again after it returned `Ready`.
impl<T: 'static> Future for JoinHandle<T> {
    type Output = thread::Result<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<thread::Result<T>> {
        match self.task.poll_join(cx.waker()) {
            Some(result) => Poll::Ready(result.map(|output| {
                *output
                    .downcast::<T>()
                    .expect("a coroutine's output has the JoinHandle's type")
            })),
            None => Poll::Pending,
        }
    }
}

/// Dropping the handle of a finished coroutine may keep its task block for the next
/// spawn (task_cache.rs).
impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        // SAFETY: `drop` runs once, and `self.task` is not used after this (if `retire`
        // unwinds, the `Arc` it owns is dropped there; the field is never dropped).
        let task = unsafe { std::mem::ManuallyDrop::take(&mut self.task) };
        #[cfg(not(loom))]
        task_cache::retire(task);
        #[cfg(loom)]
        drop(task);
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("task", &self.task)
            .finish()
    }
}

/// Lets other coroutines run; the caller is runnable again at once. On a plain thread,
/// `std::thread::yield_now`.
///
/// # Examples
///
/// ```
/// goro_sched::spawn(Default::default(), goro_sched::yield_now)?.join().unwrap();
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn yield_now() {
    if goro_context::suspend(goro_context::Reason::Yield).is_err() {
        thread::yield_now();
    }
}

/// Parks the calling coroutine (or blocks the calling thread) for at least `duration`.
///
/// # Examples
///
/// ```
/// goro_sched::sleep(std::time::Duration::from_millis(1)); // a plain thread sleeps
/// ```
#[track_caller]
pub fn sleep(duration: Duration) {
    let Some(deadline) = Instant::now().checked_add(duration) else {
        loop {
            park_on(Wait::new(WaitReason::Sleep)); // practically forever
        }
    };
    sleep_until(deadline);
}

/// Parks the calling coroutine (or blocks the calling thread) until `deadline`.
///
/// # Examples
///
/// ```
/// let deadline = std::time::Instant::now() + std::time::Duration::from_millis(1);
/// goro_sched::sleep_until(deadline);
/// assert!(std::time::Instant::now() >= deadline);
/// ```
#[track_caller]
pub fn sleep_until(deadline: Instant) {
    let wait = Wait::new(WaitReason::Sleep);
    while Instant::now() < deadline {
        park_until_on(deadline, wait);
    }
}

/// A callback timer from [`call_at`].
#[derive(Debug)]
pub struct Timer(timer::TimerHandle);

impl Timer {
    /// Stops the timer if it has not fired yet. (Dropping a `Timer` does not.)
    pub fn cancel(self) {
        self.0.cancel();
    }
}

/// Runs `f` at `deadline` on a scheduler thread (a worker between coroutines, or the
/// monitor thread), never in a coroutine. This is how goro's timer channels send their
/// ticks without a coroutine per timer: a pending call costs one heap entry.
///
/// `f` must be short and must not block: it runs on the scheduler's own stack, between
/// coroutines. A panic in `f` (or in the destructor of a callback that never runs) is
/// reported on stderr and goes no further.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::time::{Duration, Instant};
///
/// let fired = Arc::new(AtomicBool::new(false));
/// let f = fired.clone();
/// goro_sched::call_at(Instant::now() + Duration::from_millis(5), move || {
///     f.store(true, Ordering::Release)
/// });
/// while !fired.load(Ordering::Acquire) {
///     std::thread::sleep(Duration::from_millis(1));
/// }
/// ```
///
/// # Panics
///
/// If the runtime's configuration (environment) is invalid.
pub fn call_at(deadline: Instant, f: impl FnOnce() + Send + 'static) -> Timer {
    let rt = runtime::runtime().unwrap_or_else(|e| panic!("goro: cannot start the runtime: {e}"));
    Timer(context::add_callback(rt, deadline, Box::new(f)))
}

/// Runs `f` with the calling coroutine's local slot, or returns `None` on a plain
/// thread (and while a coroutine is unwound after being abandoned).
///
/// The slot is one pointer per coroutine, null when it starts, that the scheduler never
/// reads: the `goro` crate hangs its coroutine-locals there. Only the coroutine's own
/// code reaches its slot, so whatever the pointer points to is never touched by two
/// threads at once.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::Ordering;
///
/// assert!(goro_sched::with_local_slot(|_| ()).is_none());
/// let h = goro_sched::spawn(Default::default(), || {
///     goro_sched::with_local_slot(|slot| slot.load(Ordering::Relaxed).is_null())
/// })?;
/// assert_eq!(h.join().unwrap(), Some(true));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn with_local_slot<R>(f: impl FnOnce(&AtomicPtr<()>) -> R) -> Option<R> {
    context::with_current_task(|task| f(&task.local))
}

/// Whether the caller runs inside a coroutine of this scheduler (one thread-local read):
/// false on plain threads, and on a worker between coroutines.
///
/// # Examples
///
/// ```
/// assert!(!goro_sched::in_coroutine());
/// let inside = goro_sched::spawn(Default::default(), goro_sched::in_coroutine)?;
/// assert!(inside.join().unwrap());
/// # Ok::<(), std::io::Error>(())
/// ```
#[inline]
pub fn in_coroutine() -> bool {
    context::with_current_task(|_| ()).is_some()
}

/// Index of the worker the caller runs on, or `None` on a plain thread.
///
/// # Examples
///
/// ```
/// assert_eq!(goro_sched::current_worker(), None);
/// let w = goro_sched::spawn(Default::default(), goro_sched::current_worker)?;
/// assert!(w.join().unwrap().is_some());
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn current_worker() -> Option<usize> {
    context::current_worker()
}

/// A snapshot of the runtime. Counts are read without stopping anything, so they are
/// approximate while coroutines come and go.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Coroutines spawned and not finished.
    pub live: usize,
    /// Of those, waiting in a run queue.
    pub runnable: usize,
    /// Of those, running on a worker right now.
    pub running: usize,
    /// Of those, parked (waiting for a channel, a lock, a timer...).
    pub parked: usize,
    /// Worker threads, spares included.
    pub workers: usize,
    /// Workers parked for lack of work.
    pub idle_workers: usize,
    /// Pending timers (sleeps and deadlines).
    pub timers: usize,
    /// Threads in the blocking pool.
    pub blocking_threads: usize,
    /// File descriptors registered with the poller.
    pub registered_fds: usize,
    /// Workers looking for work without sleeping.
    pub spinning: usize,
    /// Coroutines in the global queue (spawned from plain threads, or woken there).
    pub injector: usize,
    /// Each worker's figures, by index (spare workers after the configured ones).
    pub per_worker: Vec<WorkerStats>,
}

/// One worker's figures in [`Stats`]. Counters count since the runtime started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerStats {
    /// The worker's index (as [`current_worker`] gives it).
    pub index: usize,
    /// The worker has a thread (a spare slot may be retired).
    pub thread: bool,
    /// Running a coroutine right now.
    pub busy: bool,
    /// Asleep for lack of work.
    pub idle: bool,
    /// Coroutines in its run queues.
    pub queued: usize,
    /// Started, unfinished coroutines that may only run here.
    pub homed: usize,
    /// Coroutines spawned by coroutines running here.
    pub spawned: u64,
    /// Coroutines that finished here.
    pub finished: u64,
    /// Times it resumed a coroutine.
    pub resumes: u64,
    /// Times it stole work from another worker.
    pub steals: u64,
    /// Its pending timers.
    pub timers: usize,
    /// Coroutines it handed to a less loaded worker before their first run (placement).
    pub placed: u64,
    /// Coroutines other threads handed to it: woken elsewhere while homed here, or
    /// placed here before their first run.
    pub handed_in: u64,
}

/// A snapshot of the runtime, or all zeros if it has not started.
///
/// # Examples
///
/// ```
/// let s = goro_sched::stats();
/// println!("{} live, {} parked, {} workers", s.live, s.parked, s.workers);
/// ```
pub fn stats() -> Stats {
    runtime::started_runtime()
        .map(|rt| rt.stats())
        .unwrap_or_default()
}
