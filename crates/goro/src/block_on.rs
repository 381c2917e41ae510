//! `block_on`: poll a future from a coroutine (or a plain thread), parking between polls.
//!
//! The future's waker sets a flag and unparks the caller through goro-sched's
//! [`Unparker`]. The caller polls, and while the future is pending parks until the flag is
//! set: a spurious return from `park` (a stale permit left by someone else) does not
//! cost a poll, and a wake that arrives during a poll is never lost, because the flag is
//! set before the unpark and read after the park. A wake that arrives during a poll
//! (a future that yields) makes the coroutine yield before the next poll, so a future
//! that spins waiting for another coroutine cannot starve its worker.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use goro_sched::Unparker;

use crate::loom::unmodelled::{AtomicBool, Ordering};

/// What a `block_on` waker holds: the caller's unparker and the flag that says it woke.
struct Signal {
    woken: AtomicBool,
    unparker: Unparker,
}

impl Wake for Signal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Release: pairs with the Acquire swap in `block_on`, so what the waker's thread
        // did before waking (a message it stored) is seen by the next poll.
        self.woken.store(true, Ordering::Release);
        self.unparker.unpark();
    }
}

/// Runs a future to completion on the calling coroutine and returns its output.
///
/// While the future is pending the coroutine parks (its worker runs other coroutines);
/// the future's [`Waker`] unparks it, from any thread, and it polls again. On a plain
/// thread it blocks the thread the same way. This is how straight-line coroutine code
/// calls a library written as futures: no executor is needed for futures that only
/// need a waker (channels, timers of their own, other coroutines' [`JoinHandle`]s).
/// Futures that need tokio's reactor or timer go through
/// `goro::compat::tokio::run` (feature `tokio`) instead.
///
/// The future is polled on the calling coroutine's own stack, so it may borrow from the
/// caller. In the default mode a started coroutine never changes threads, so a future
/// that uses thread-locals or holds a `!Send` value between polls is fine; with
/// [`allow_migration`](crate::runtime::Builder::allow_migration) the future is a value
/// held across a suspension point like any other, and that contract applies to it.
///
/// [`JoinHandle`]: crate::JoinHandle
///
/// # Examples
///
/// ```
/// let answer = goro::go!(|| {
///     // An async block that awaits another coroutine.
///     goro::block_on(async {
///         let a = goro::go!(|| 40).await.unwrap();
///         a + 2
///     })
/// });
/// assert_eq!(answer.join().unwrap(), 42);
///
/// // From a plain thread it blocks the thread.
/// assert_eq!(goro::block_on(async { 7 }), 7);
/// ```
///
/// # Panics
///
/// A panic in the future's `poll` unwinds out of `block_on` into the caller.
#[track_caller]
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let signal = Arc::new(Signal {
        woken: AtomicBool::new(false),
        unparker: goro_sched::current_unparker(),
    });
    let waker = Waker::from(signal.clone());
    let mut cx = Context::from_waker(&waker);
    let on = goro_sched::Wait::new(goro_sched::WaitReason::BlockOn);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        // Acquire: pairs with the Release store in `wake_by_ref`.
        if signal.woken.swap(false, Ordering::Acquire) {
            // Woken during the poll: a future that yields (woke itself and returned
            // Pending) waits for something other code must do. Let the worker's other
            // coroutines run before polling again, as an executor queues a self-woken
            // task behind the others; polling at once would spin and starve them.
            goro_sched::yield_now();
            continue;
        }
        loop {
            goro_sched::park_on(on);
            if signal.woken.swap(false, Ordering::Acquire) {
                break;
            }
        }
    }
}
