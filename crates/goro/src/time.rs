//! Time: sleeping, and timer channels usable in `select!` (Go's `time.After` and
//! `time.Tick`).
//!
//! Timers are cheap: a sleeping coroutine, or a pending `after` or `tick`, costs one
//! entry on a worker's timer heap; no coroutine or thread waits for it.

use std::time::{Duration, Instant};

use crate::chan::{self, Receiver};

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
#[track_caller]
pub fn sleep_until(deadline: Instant) {
    goro_sched::sleep_until(deadline);
}

/// A channel that receives one value `duration` from now, as Go's `time.After`: the
/// instant it was due (not when a worker got round to it; see the guide's "Timer
/// channels"). It is ready as soon as that instant has passed, even if no worker has
/// run its timer yet, so `after(Duration::ZERO)` is ready at once. The channel is
/// never closed: after its one value it stays empty.
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
    chan::timer(far_or(Instant::now().checked_add(duration)), None)
}

/// A channel that receives one value at `when`, as crossbeam-channel's `at`: `when`
/// itself (see [`after`]). It is ready at once if `when` has passed.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
///
/// let when = Instant::now() + Duration::from_millis(5);
/// assert_eq!(goro::time::at(when).recv(), Ok(when));
/// ```
///
/// # Panics
///
/// If the runtime's configuration (environment) is invalid.
pub fn at(when: Instant) -> Receiver<Instant> {
    chan::timer(when, None)
}

/// A channel that receives a value every `period`, as Go's `time.Tick`: the instant
/// each tick was due (`start + period`, `start + 2 * period`, ...). It holds one value:
/// ticks a slow receiver misses are dropped, not queued, and the next one stays on
/// the schedule. The ticks stop when every receiver is dropped.
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
    chan::timer(far_or(Instant::now().checked_add(period)), Some(period))
}

/// `at`, or a deadline centuries away (a duration too large to add).
fn far_or(at: Option<Instant>) -> Instant {
    at.unwrap_or_else(|| Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600))
}
