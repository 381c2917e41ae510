//! Go's goroutines for Rust.
//!
//! `go!(|| ...)` starts a *coroutine*: a function with its own small stack (64 KiB of
//! address space, of which a parked coroutine typically uses one 4 KiB page) that runs
//! on a few worker threads shared by all coroutines. A coroutine can block, on a
//! `join`, a `sleep`, a channel, a lock, a socket ([`net`]) or any file descriptor
//! ([`io`]), in plain straight-line code: blocking parks it and its worker runs the next
//! one. A million coroutines are fine.
//!
//! # Examples
//!
//! A TCP echo server, one coroutine per connection (the README's example; here it
//! listens on a free port and a client checks one echo):
//!
//! ```
//! use std::io::{Read, Write};
//! use goro::net::{TcpListener, TcpStream};
//!
//! let listener = TcpListener::bind("127.0.0.1:0")?;
//! let addr = listener.local_addr()?;
//! goro::go!(move || {
//!     for stream in listener.incoming() {
//!         let mut stream = stream.unwrap();
//!         goro::go!(move || {
//!             let mut buf = [0; 4096];
//!             while let Ok(n @ 1..) = stream.read(&mut buf) {
//!                 if stream.write_all(&buf[..n]).is_err() {
//!                     break;
//!                 }
//!             }
//!         });
//!     }
//! });
//!
//! let mut client = TcpStream::connect(addr)?;
//! client.write_all(b"ping")?;
//! let mut reply = [0; 4];
//! client.read_exact(&mut reply)?;
//! assert_eq!(&reply, b"ping");
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! Ten thousand coroutines, each sleeping 10 ms, all at once:
//!
//! ```
//! use std::time::Duration;
//!
//! let handles: Vec<_> = (0..10_000u64)
//!     .map(|i| goro::go!(move || {
//!         goro::sleep(Duration::from_millis(10));
//!         i * 2
//!     }))
//!     .collect();
//! let total: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
//! assert_eq!(total, 9_999 * 10_000);
//! ```
//!
//! # How it works
//!
//! Stacks are carved from large guarded arenas (crate `goro-stack`), switched with
//! corosensei (crate `goro-context`) and scheduled by a work-stealing M:N scheduler
//! modelled on Go's (crate `goro-sched`). Once a coroutine has started it stays on its
//! worker's thread, so thread-locals and `!Send` values on its stack are as safe as on
//! a thread; see [`runtime::Builder::allow_migration`] for Go's free migration, and
//! the project's docs/CAVEATS.md for what a coroutine must not do (block its thread in a
//! long syscall without [`blocking`], overflow its stack).
//!
//! # Blocking calls in plain Rust
//!
//! With the `hook` feature (on by default; Linux with glibc), libc's blocking calls made
//! inside a coroutine park the coroutine instead of its worker thread: std's sockets and
//! pipes, `std::thread::sleep`, name lookups, and the same calls from sync client crates
//! and C libraries. On plain threads they behave as ever, and the user's blocking flags
//! and socket timeouts are kept. `default-features = false` turns the hooks off. The
//! project's docs/CAVEATS.md §7 says what is hooked and what is not (`std::sync::Mutex`
//! waits, raw system calls, regular files).
//!
//! ```
//! use std::time::{Duration, Instant};
//!
//! let start = Instant::now();
//! let sleepers: Vec<_> = (0..1000)
//!     .map(|_| goro::go!(|| std::thread::sleep(Duration::from_millis(50))))
//!     .collect();
//! sleepers.into_iter().for_each(|s| s.join().unwrap());
//! # #[cfg(all(feature = "hook", target_os = "linux", target_env = "gnu"))]
//! assert!(start.elapsed() < Duration::from_secs(5)); // they slept side by side
//! ```
//!
//! # Configuration
//!
//! The runtime starts on first use with one worker per CPU, or `GORO_WORKERS` (Go's
//! `GOMAXPROCS`), and 64 KiB stacks, or `GORO_STACK_SIZE`. To set them in code, call
//! [`runtime::Builder`]'s `init` before the first spawn. Returning from `main` ends
//! the process, and every coroutine with it, as in Go.

mod block_on;
pub mod chan;
pub mod compat;
pub mod context;
#[cfg(all(feature = "hook", target_os = "linux", target_env = "gnu"))]
mod hook;
/// Without the hooks, goro's own I/O needs no stepping aside.
#[cfg(not(all(feature = "hook", target_os = "linux", target_env = "gnu")))]
mod hook {
    pub(crate) fn own_io<R>(f: impl FnOnce() -> R) -> R {
        f()
    }
}
pub mod io;
mod local;
mod loom;
pub mod net;
pub mod runtime;
mod scope;
mod select_macro;
pub mod sync;
pub mod time;

#[cfg(all(test, loom))]
mod tests;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::thread;
use std::time::Duration;

pub use block_on::block_on;
pub use goro_context::Exit;
pub use goro_sched::{CoroutineDump, CoroutineState, Dump, Wait, WaitReason, WorkerStats};
pub use local::{AccessError, LocalKey};
pub use scope::{Scope, ScopedJoinHandle, scope};

/// Starts a coroutine running the closure and returns its [`JoinHandle`].
///
/// `go!(f)` is [`spawn(f)`](spawn): the closure must be `Send + 'static`, like a
/// thread's. Nothing unsafe is hidden here: a coroutine that has started stays on its
/// worker thread, so it may hold thread-locals and `!Send` values across blocking
/// calls exactly as a thread may.
///
/// # Examples
///
/// ```
/// let handle = goro::go!(|| "hello from a coroutine");
/// assert_eq!(handle.join().unwrap(), "hello from a coroutine");
/// ```
///
/// The closure must be `Send`: a value that may not leave its thread cannot be moved
/// into a coroutine, which starts on whichever worker picks it up.
///
/// ```compile_fail
/// let shared = std::rc::Rc::new(5);
/// goro::go!(move || *shared); // error: `Rc<i32>` cannot be sent between threads safely
/// ```
///
/// And `'static`, as for a thread: it may outlive the caller's stack frame.
///
/// ```compile_fail
/// let local = vec![1, 2, 3];
/// goro::go!(|| local.len()); // error: the closure may outlive `local`
/// ```
///
/// # Panics
///
/// As [`spawn`]: if no stack can be had (the message says why).
#[macro_export]
macro_rules! go {
    ($f:expr $(,)?) => {
        $crate::spawn($f)
    };
}

/// Starts a coroutine running `f` and returns its [`JoinHandle`]. The same as
/// [`go!`].
///
/// The coroutine starts on the calling worker (from a coroutine) or on any worker
/// (from a plain thread); an idle worker may take it first. Dropping the handle detaches
/// it: it runs to completion unless the process exits first.
///
/// # Examples
///
/// ```
/// let squares: Vec<_> = (0..10u32).map(|i| goro::spawn(move || i * i)).collect();
/// let sum: u32 = squares.into_iter().map(|h| h.join().unwrap()).sum();
/// assert_eq!(sum, 285);
/// ```
///
/// # Panics
///
/// If the coroutine's stack cannot be allocated: the kernel's mapping budget
/// (`vm.max_map_count`) is exhausted, or `GORO_STACK_SIZE`/`GORO_WORKERS` are invalid.
/// The panic message is the error [`Builder::spawn`] would have returned.
#[track_caller]
pub fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    match Builder::new().spawn(f) {
        Ok(handle) => handle,
        Err(err) => panic!("goro: failed to spawn a coroutine: {err}"),
    }
}

/// Configures a coroutine before spawning it: its name, stack size, pinning.
///
/// # Examples
///
/// ```
/// let handle = goro::Builder::new()
///     .name("parser")
///     .stack_size(1 << 20)
///     .spawn(|| goro::current().unwrap().name().map(str::to_owned))?;
/// assert_eq!(handle.join().unwrap().as_deref(), Some("parser"));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct Builder {
    options: goro_sched::SpawnOptions,
}

impl Builder {
    /// A builder for an unnamed coroutine with the runtime's default stack size.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Names the coroutine. The name shows in [`current`] and in the stack-overflow
    /// message (`coroutine 'parser' (id 7) has overflowed its stack of 64 KiB`).
    pub fn name(mut self, name: impl Into<String>) -> Builder {
        self.options.name = Some(Arc::from(name.into()));
        self
    }

    /// Asks for at least `bytes` of stack, rounded up to a power of two. Only the pages
    /// the coroutine touches cost memory.
    pub fn stack_size(mut self, bytes: usize) -> Builder {
        self.options.stack_size = Some(bytes);
        self
    }

    /// Keeps the coroutine on the worker thread it starts on even when the runtime
    /// allows migration (Go's `runtime.LockOSThread`). Without
    /// [`allow_migration`](runtime::Builder::allow_migration) every coroutine already
    /// stays on its thread and this changes nothing.
    pub fn pin(mut self) -> Builder {
        self.options.pinned = true;
        self
    }

    /// Starts the coroutine.
    ///
    /// # Errors
    ///
    /// - `InvalidInput`: the stack size is zero, below 16 KiB or above 1 GiB, or the
    ///   runtime's environment configuration is invalid (the message names the setting).
    /// - `OutOfMemory`: the stack-mapping budget is exhausted (on kernels without
    ///   `MADV_GUARD_INSTALL`); the message names `vm.max_map_count`.
    #[track_caller]
    pub fn spawn<F, T>(self, f: F) -> std::io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        goro_sched::spawn(self.options, local::wrap(f)).map(JoinHandle)
    }
}

/// An owned permission to wait for a coroutine's result.
///
/// Dropping it detaches the coroutine.
///
/// # Examples
///
/// ```
/// let handle = goro::go!(|| 2 + 2);
/// assert_eq!(handle.join().unwrap(), 4);
/// ```
pub struct JoinHandle<T>(goro_sched::JoinHandle<T>);

impl<T: 'static> JoinHandle<T> {
    /// Waits for the coroutine to finish and returns its result.
    ///
    /// Called from a coroutine it parks (the worker runs others); from a plain thread it
    /// blocks the thread.
    ///
    /// # Errors
    ///
    /// `Err(payload)` if the coroutine panicked (the panic's payload) or called
    /// [`exit`] (`payload.is::<goro::Exit>()`).
    ///
    /// # Examples
    ///
    /// ```
    /// let handle = goro::go!(|| -> u32 { goro::exit() });
    /// assert!(handle.join().unwrap_err().is::<goro::Exit>());
    /// ```
    #[track_caller]
    pub fn join(self) -> thread::Result<T> {
        self.0.join()
    }

    /// Whether the coroutine has finished, without waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// let handle = goro::go!(|| goro::sleep(std::time::Duration::from_millis(50)));
    /// assert!(!handle.is_finished());
    /// handle.join().unwrap();
    /// ```
    pub fn is_finished(&self) -> bool {
        self.0.is_finished()
    }
}

/// Async code can await a coroutine: the `JoinHandle` is a future of its result, woken
/// when it finishes, without blocking the executor's thread.
///
/// # Examples
///
/// ```
/// let handle = goro::go!(|| 6 * 7);
/// let answer = futures::executor::block_on(async { handle.await.unwrap() });
/// assert_eq!(answer, 42);
/// ```
///
/// # Panics
///
/// If polled again after it returned `Ready`.
impl<T: 'static> Future for JoinHandle<T> {
    type Output = thread::Result<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<thread::Result<T>> {
        Pin::new(&mut self.0).poll(cx)
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Lets the other runnable coroutines on this worker run; the caller continues after
/// them. On a plain thread it is `std::thread::yield_now`.
///
/// # Examples
///
/// ```
/// let h = goro::go!(|| {
///     for _ in 0..3 {
///         goro::yield_now();
///     }
/// });
/// h.join().unwrap();
/// ```
pub fn yield_now() {
    goro_sched::yield_now();
}

/// Parks the calling coroutine for at least `duration`; its worker runs others. On a
/// plain thread it is `std::thread::sleep`. Also available as `goro::time::sleep`.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
///
/// let start = Instant::now();
/// goro::go!(|| goro::sleep(Duration::from_millis(20))).join().unwrap();
/// assert!(start.elapsed() >= Duration::from_millis(20));
/// ```
#[track_caller]
pub fn sleep(duration: Duration) {
    goro_sched::sleep(duration);
}

/// Ends the calling coroutine, like Go's `runtime.Goexit`: its stack unwinds,
/// destructors run innermost first, and [`JoinHandle::join`] returns `Err(payload)`
/// with `payload.is::<goro::Exit>()`. No panic message is printed.
///
/// On a plain thread it unwinds the thread the same way.
///
/// # Examples
///
/// ```
/// struct Deferred;
/// impl Drop for Deferred {
///     fn drop(&mut self) {
///         println!("deferred call runs");
///     }
/// }
///
/// let handle = goro::go!(|| {
///     let _d = Deferred;
///     goro::exit();
/// });
/// assert!(handle.join().unwrap_err().is::<goro::Exit>());
/// ```
pub fn exit() -> ! {
    goro_context::exit()
}

/// The calling coroutine's identity, or `None` on a plain thread.
///
/// # Examples
///
/// ```
/// assert!(goro::current().is_none());
/// let id = goro::go!(|| goro::current().unwrap().id()).join().unwrap();
/// assert!(id > 0);
/// ```
pub fn current() -> Option<Coroutine> {
    goro_context::current().map(Coroutine)
}

/// The identity of a coroutine, from [`current`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Coroutine(goro_context::Current);

impl Coroutine {
    /// A number unique to this coroutine within the process; never 0.
    pub fn id(&self) -> u64 {
        self.0.id()
    }

    /// The name given with [`Builder::name`], if any.
    pub fn name(&self) -> Option<&str> {
        self.0.name()
    }
}

/// Runs `f`, which may block its thread (a file read, a DNS lookup, a C library call),
/// on a separate pool of threads while the calling coroutine parks, so its worker keeps
/// running other coroutines. On a plain thread it just calls `f`.
///
/// `f` may borrow from the caller: the coroutine does not continue, and is never
/// unwound, before `f` has returned.
///
/// # Examples
///
/// ```
/// let text = goro::go!(|| goro::blocking(|| std::fs::read_to_string("Cargo.toml")))
///     .join()
///     .unwrap()?;
/// assert!(text.contains("[package]"));
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Panics
///
/// Re-raises a panic from `f` in the calling coroutine.
#[track_caller]
pub fn blocking<F, T>(f: F) -> T
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    goro_sched::blocking(f)
}

/// Every live coroutine: id, name, state, for a parked one what it waits for, where
/// and for how long, where it was spawned, and its worker. Print it (`Display` groups
/// coroutines with the same state and sites, with counts) or take
/// [`to_json`](Dump::to_json). Nothing is stopped while it is taken (see
/// GUIDE.md, "When a program hangs"); the environment variable `GORO_DUMP_SIGNAL`
/// prints one on a signal, and a deadlock prints one before the process exits.
///
/// # Examples
///
/// ```
/// let (tx, rx) = goro::chan::bounded::<u32>(0);
/// let h = goro::Builder::new().name("waiter").spawn(move || rx.recv())?;
/// while goro::dump().coroutines().iter().all(|c| c.state != goro::CoroutineState::Parked) {
///     goro::sleep(std::time::Duration::from_millis(1));
/// }
/// let dump = goro::dump();
/// let waiter = dump.coroutines().iter().find(|c| c.name.as_deref() == Some("waiter")).unwrap();
/// assert_eq!(waiter.wait.unwrap().reason(), goro::WaitReason::ChanRecv);
/// println!("{dump}");
/// drop(tx);
/// assert!(h.join().unwrap().is_err());
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn dump() -> Dump {
    goro_sched::dump()
}

/// A snapshot of the runtime and its stacks.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Coroutines spawned and not yet finished.
    pub coroutines: usize,
    /// Of those, waiting in a run queue.
    pub runnable: usize,
    /// Of those, running right now.
    pub running: usize,
    /// Of those, parked (waiting on a join, a sleep, a channel...).
    pub parked: usize,
    /// Worker threads (spares started for stuck workers included).
    pub workers: usize,
    /// Workers idle for lack of work.
    pub idle_workers: usize,
    /// Threads in the pool behind [`blocking`].
    pub blocking_threads: usize,
    /// File descriptors registered with the poller: goro sockets (and
    /// [`io::Registered`] objects) a coroutine has waited on, not yet dropped.
    pub registered_fds: usize,
    /// Address space reserved for stacks, in bytes (committed only as touched).
    pub stack_bytes_reserved: usize,
    /// Kernel mappings used for stacks.
    pub stack_mappings: usize,
    /// How stack guard pages are made: `"madvise"` or `"mprotect"` (`"none"` if no stack
    /// pool could be set up).
    pub stack_guard: &'static str,
    /// Workers looking for work without sleeping.
    pub spinning_workers: usize,
    /// Each worker's figures, by index.
    pub per_worker: Vec<WorkerStats>,
}

/// A snapshot of the runtime: coroutines live, runnable and parked, workers, stack
/// memory. Approximate while coroutines come and go.
///
/// # Examples
///
/// ```
/// let h = goro::go!(|| goro::sleep(std::time::Duration::from_millis(100)));
/// goro::sleep(std::time::Duration::from_millis(10));
/// let stats = goro::stats();
/// assert!(stats.coroutines >= 1 && stats.workers >= 1);
/// h.join().unwrap();
/// ```
pub fn stats() -> Stats {
    let sched = goro_sched::stats();
    let stack = goro_stack::stats().ok();
    Stats {
        coroutines: sched.live,
        runnable: sched.runnable,
        running: sched.running,
        parked: sched.parked,
        workers: sched.workers,
        idle_workers: sched.idle_workers,
        blocking_threads: sched.blocking_threads,
        registered_fds: sched.registered_fds,
        stack_bytes_reserved: stack.map_or(0, |s| s.bytes_reserved),
        stack_mappings: stack.map_or(0, |s| s.mappings),
        stack_guard: stack.map_or("none", |s| s.guard.name()),
        spinning_workers: sched.spinning,
        per_worker: sched.per_worker,
    }
}
