//! The sleeps: `nanosleep`, `clock_nanosleep`, `usleep`, `sleep`. In a coroutine they
//! park on goro's timer (`goro_sched::sleep`), so the worker runs others meanwhile.
//! std's `thread::sleep` is `nanosleep` or `clock_nanosleep`, depending on the version.

use std::ffi::{c_int, c_uint};
use std::time::Duration;

use super::io::timespec_duration;
use super::{active, errno, real, set_errno};

#[unsafe(no_mangle)]
unsafe extern "C" fn nanosleep(req: *const libc::timespec, rem: *mut libc::timespec) -> c_int {
    if !active() || req.is_null() {
        // SAFETY: the caller's arguments, valid as libc's `nanosleep` requires.
        return unsafe { real::nanosleep(req, rem) };
    }
    // SAFETY: `req` is non-null and, by nanosleep's contract, points to a timespec.
    match timespec_duration(unsafe { &*req }) {
        Some(d) => {
            park_for(d);
            0 // `rem` is written only when a signal cuts the sleep short
        }
        None => {
            set_errno(libc::EINVAL);
            -1
        }
    }
}

#[unsafe(no_mangle)]
unsafe extern "C" fn clock_nanosleep(
    clock: libc::clockid_t,
    flags: c_int,
    req: *const libc::timespec,
    rem: *mut libc::timespec,
) -> c_int {
    // SAFETY: the caller's arguments, valid as libc's `clock_nanosleep` requires.
    let real = || unsafe { real::clock_nanosleep(clock, flags, req, rem) };
    // Wall-clock kinds only: a CPU-time clock advances with work, not with waiting.
    let wall = matches!(
        clock,
        libc::CLOCK_REALTIME | libc::CLOCK_MONOTONIC | libc::CLOCK_BOOTTIME | libc::CLOCK_TAI
    );
    if !active() || req.is_null() || !wall {
        return real();
    }
    // SAFETY: `req` is non-null and, by the function's contract, points to a timespec.
    let Some(d) = timespec_duration(unsafe { &*req }) else {
        return libc::EINVAL; // this one returns the error instead of setting errno
    };
    if flags & libc::TIMER_ABSTIME == 0 {
        park_for(d);
        return 0;
    }
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a writable timespec for the clock the caller named.
    if unsafe { libc::clock_gettime(clock, &raw mut now) } != 0 {
        return real();
    }
    let now = timespec_duration(&now).unwrap_or_default();
    // Until the absolute time, measured on our monotonic clock from here.
    if let Some(left) = d.checked_sub(now) {
        park_for(left);
    }
    0
}

#[unsafe(no_mangle)]
unsafe extern "C" fn usleep(usec: libc::useconds_t) -> c_int {
    if !active() {
        // SAFETY: usleep takes a plain number.
        return unsafe { real::usleep(usec) };
    }
    park_for(Duration::from_micros(u64::from(usec)));
    0
}

#[unsafe(no_mangle)]
unsafe extern "C" fn sleep(secs: c_uint) -> c_uint {
    if !active() {
        // SAFETY: sleep takes a plain number.
        return unsafe { real::sleep(secs) };
    }
    park_for(Duration::from_secs(u64::from(secs)));
    0
}

/// Parks for `d` on goro's timer, with `errno` as the caller left it: libc's sleeps
/// leave it untouched on success, but while the coroutine is parked its thread runs
/// other code that sets the thread's `errno`.
fn park_for(d: Duration) {
    let saved = errno();
    goro_sched::sleep(d);
    set_errno(saved);
}
