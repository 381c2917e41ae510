//! Tokio-bound futures from coroutines (feature `tokio`).
//!
//! A future from the tokio ecosystem finds tokio's I/O driver and timer through a
//! thread-local "current runtime" when it first polls a socket or creates a sleep, and
//! it may `tokio::spawn` helper tasks (hyper's connection tasks). [`run`] provides that:
//! it polls the future on the calling coroutine with a tokio runtime's [`Handle`]
//! entered *for the duration of each poll*, and parks the coroutine between polls, as
//! [`block_on`](crate::block_on) does. Tokio's own threads drive the reactor and the
//! timer and fire the future's waker, which unparks the coroutine.
//!
//! Entering the handle only around each poll matters: tokio's enter guards are
//! thread-local and must be dropped in the reverse order they were made, and a worker
//! thread interleaves many coroutines. A guard never lives across a park.
//!
//! The runtime is the one given to [`set_handle`], or else one that goro starts on first
//! use: a multi-threaded tokio runtime with one worker thread (named `goro-tokio`),
//! with I/O and time enabled, that lives until the process exits.

use std::future::{self, Future};
use std::pin::pin;
use std::sync::{Mutex, OnceLock};

pub use tokio::runtime::Handle;

/// The runtime set with `set_handle`, if any.
static HANDLE: Mutex<Option<Handle>> = Mutex::new(None);

/// Runs a future that needs tokio's reactor, timer or task spawner, from a coroutine
/// (which parks while it is pending) or a plain thread (which blocks). Returns its
/// output.
///
/// The future is polled on the caller's stack, so it may borrow from the caller and
/// need not be `Send`. Its I/O and timers are driven by the tokio runtime of
/// [`set_handle`], or one goro starts on first use; tasks it spawns with `tokio::spawn`
/// run on that runtime.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let slept = goro::go!(|| {
///     goro::compat::tokio::run(async {
///         tokio::time::sleep(Duration::from_millis(10)).await;
///         "woke"
///     })
/// });
/// assert_eq!(slept.join().unwrap(), "woke");
/// ```
///
/// # Panics
///
/// A panic in the future unwinds out of `run` into the caller. Also panics if goro
/// cannot start its tokio runtime (the OS refused a thread).
///
/// Build tokio's futures *inside* the future given to `run`, as in the example's async
/// block: the argument is evaluated before `run` enters the runtime, and some tokio
/// futures want the runtime when they are created (`tokio::time::sleep(d)` built outside
/// panics with tokio's "must be called from the context of a Tokio 1.x runtime"). An
/// `async fn` call is fine either way: its body runs only when polled.
///
/// The future must not block its coroutine on goro itself (a goro channel, lock, sleep,
/// `join`) inside its `poll`: the coroutine would park with tokio's context entered on
/// its worker thread. Await futures instead (a [`JoinHandle`](crate::JoinHandle) is one).
pub fn run<F: Future>(future: F) -> F::Output {
    let handle = handle();
    let mut future = pin!(future);
    crate::block_on(future::poll_fn(|cx| {
        let _enter = handle.enter(); // for this poll only: see the module's docs
        future.as_mut().poll(cx)
    }))
}

/// Makes `run` use `handle`'s runtime from now on, instead of the one goro would start.
/// Calls to `run` already under way keep the runtime they started with.
///
/// The runtime must drive its I/O and timers by itself: a multi-threaded runtime, or a
/// current-thread runtime that some thread keeps inside its `block_on`. Keep it alive
/// while coroutines use it: once it shuts down, tokio's futures on it fail or panic.
///
/// # Examples
///
/// ```
/// let rt = tokio::runtime::Builder::new_multi_thread()
///     .worker_threads(1)
///     .enable_all()
///     .build()?;
/// goro::compat::tokio::set_handle(rt.handle().clone());
/// let n = goro::go!(|| goro::compat::tokio::run(async { tokio::task::spawn(async { 5 }).await.unwrap() }));
/// assert_eq!(n.join().unwrap(), 5);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn set_handle(handle: Handle) {
    *HANDLE.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle);
}

/// The handle `run` uses: the one from [`set_handle`], or goro's own runtime's, started
/// now if need be.
///
/// # Examples
///
/// ```
/// let handle = goro::compat::tokio::handle();
/// let _guard = handle.enter(); // e.g. to build a tokio-bound client up front
/// ```
///
/// # Panics
///
/// If goro's own runtime cannot be started.
pub fn handle() -> Handle {
    if let Some(handle) = &*HANDLE.lock().unwrap_or_else(|e| e.into_inner()) {
        return handle.clone();
    }
    static OWN: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    OWN.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("goro-tokio")
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("goro: cannot start a tokio runtime: {e}"))
    })
    .handle()
    .clone()
}
