//! Time: sleeping, and timer channels usable in `select!` (Go's `time.After` and
//! `time.Tick`).
//!
//! Timers are cheap: a sleeping coroutine, or a pending `after` or `tick`, costs one
//! entry on a worker's timer heap; no coroutine or thread waits for it.

use std::time::{Duration, Instant};

use crate::chan::{self, Receiver, TrySendError};

pub use crate::sleep;

/// Parks the calling coroutine until `deadline` (blocks a plain thread). Returns at
/// once if the deadline has passed.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
///
/// let deadline = Instant::now() + Duration::from_millis(5);
/// goro::go!(move || goro::time::sleep_until(deadline)).join().unwrap();
/// assert!(Instant::now() >= deadline);
/// ```
pub fn sleep_until(deadline: Instant) {
    goro_sched::sleep_until(deadline);
}

/// A channel that receives the current time once, `duration` from now, as Go's
/// `time.After`. The channel is never closed: after its one value it stays empty.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let (_tx, rx) = goro::chan::bounded::<u32>(0);
/// let timed_out = goro::select! {
///     recv(rx) -> _ => false,
///     recv(goro::time::after(Duration::from_millis(10))) -> _ => true,
/// };
/// assert!(timed_out);
/// ```
///
/// # Panics
///
/// If the runtime's configuration (environment) is invalid.
pub fn after(duration: Duration) -> Receiver<Instant> {
    let (tx, rx) = chan::timer_channel();
    let deadline = far_or(Instant::now().checked_add(duration));
    goro_sched::call_at(deadline, move || {
        let _ = tx.try_send(Instant::now());
    });
    rx
}

/// A channel that receives the current time every `period`, as Go's `time.Tick`. It
/// holds one value: ticks a slow receiver misses are dropped, not queued. The ticks
/// stop when every receiver is dropped.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let ticks = goro::time::tick(Duration::from_millis(2));
/// let first = ticks.recv().unwrap();
/// let second = ticks.recv().unwrap();
/// assert!(second > first);
/// ```
///
/// # Panics
///
/// If `period` is zero (as Go's `time.NewTicker`), or if the runtime's configuration
/// (environment) is invalid.
pub fn tick(period: Duration) -> Receiver<Instant> {
    assert!(
        !period.is_zero(),
        "goro::time::tick: the period must be positive"
    );
    let (tx, rx) = chan::timer_channel();
    arm_tick(tx, far_or(Instant::now().checked_add(period)), period);
    rx
}

/// Schedules the tick due at `at`; each tick schedules the next, until the receivers
/// are gone.
fn arm_tick(tx: chan::Sender<Instant>, at: Instant, period: Duration) {
    goro_sched::call_at(at, move || {
        if let Err(TrySendError::Disconnected(_)) = tx.try_send(Instant::now()) {
            return; // nobody listens any more
        }
        arm_tick(tx, far_or(at.checked_add(period)), period);
    });
}

/// `at`, or a deadline centuries away (a duration too large to add).
fn far_or(at: Option<Instant>) -> Instant {
    at.unwrap_or_else(|| Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600))
}
