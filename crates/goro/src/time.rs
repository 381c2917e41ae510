//! Time: sleeping until a duration has passed or a deadline is reached.
//!
//! Timers are cheap: a sleeping coroutine costs one entry on its worker's timer heap,
//! and its worker runs other coroutines meanwhile.

use std::time::Instant;

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
