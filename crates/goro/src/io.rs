//! Waiting on any file descriptor from a coroutine: pipes, third-party sockets, devices.
//!
//! goro's own sockets ([`net`](crate::net)) already park instead of blocking. For any
//! other descriptor in non-blocking mode, do the system call yourself, and when it says
//! `WouldBlock`, wait here: the coroutine parks on goro's poller until the descriptor is
//! ready, and its worker runs others meanwhile. On a plain thread the same functions
//! block in `poll(2)`.
//!
//! Two ways in:
//! - [`wait_readable`] and [`wait_writable`] (and [`wait`], with a deadline) take any
//!   [`AsFd`] and keep nothing: the descriptor joins the epoll set for the length of one
//!   wait (a duplicate of it: `dup`, two `epoll_ctl` calls, `close`). Nothing is left to
//!   clean up when its owner closes it, so they are safe to use on descriptors goro
//!   knows nothing about.
//! - [`Registered`] owns the I/O object and keeps it registered until dropped: one
//!   `epoll_ctl` for its whole life, and `Read`/`Write` that park. Use it for a
//!   descriptor you read or write in a loop.
//!
//! goro does not keep a table of registered descriptor numbers: a number can be closed
//! and reused behind its back, and epoll registers open files, not numbers, so such a
//! table goes stale silently (see the runtime's docs/ARCHITECTURE.md §5).
//!
//! # Examples
//!
//! ```
//! use std::io::{Read, Write};
//! use std::os::unix::net::UnixStream;
//!
//! let (mut a, mut b) = UnixStream::pair()?; // a third-party socket, say
//! a.set_nonblocking(true)?;
//! let reader = goro::go!(move || -> std::io::Result<Vec<u8>> {
//!     let mut buf = [0; 16];
//!     loop {
//!         match a.read(&mut buf) {
//!             Ok(n) => return Ok(buf[..n].to_vec()),
//!             Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
//!                 goro::io::wait_readable(&a)?; // parks; the worker runs others
//!             }
//!             Err(e) => return Err(e),
//!         }
//!     }
//! });
//! b.write_all(b"data")?;
//! assert_eq!(reader.join().unwrap()?, b"data");
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

pub use goro_sched::io::{Interest, Registered};

/// Waits until `fd` is readable: data, a connection to accept, end of file, or an error
/// to collect. A coroutine parks; a plain thread blocks in `poll(2)`.
///
/// It may return when a read would still block (another reader got there first): try
/// the read, and wait again on `WouldBlock`.
///
/// # Examples
///
/// See the [module docs](self).
///
/// # Errors
///
/// The error of `epoll_ctl`, `dup` or `poll(2)` if one fails. A regular file, which
/// epoll does not take, is no error: it is always ready, as `poll(2)` says.
pub fn wait_readable<F: AsFd + ?Sized>(fd: &F) -> io::Result<()> {
    wait(fd, Interest::Readable, None)
}

/// Waits until `fd` is writable. As [`wait_readable`].
///
/// # Examples
///
/// ```
/// let (a, _b) = std::os::unix::net::UnixStream::pair()?;
/// goro::go!(move || goro::io::wait_writable(&a)).join().unwrap()?; // room to write
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Errors
///
/// As [`wait_readable`].
pub fn wait_writable<F: AsFd + ?Sized>(fd: &F) -> io::Result<()> {
    wait(fd, Interest::Writable, None)
}

/// Waits until `fd` is readable, for at most `timeout`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let (a, _b) = std::os::unix::net::UnixStream::pair()?;
/// let waited = goro::go!(move || goro::io::wait_readable_timeout(&a, Duration::from_millis(10)));
/// assert_eq!(waited.join().unwrap().unwrap_err().kind(), std::io::ErrorKind::TimedOut);
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Errors
///
/// [`io::ErrorKind::TimedOut`] when `timeout` passes; otherwise as [`wait_readable`].
pub fn wait_readable_timeout<F: AsFd + ?Sized>(fd: &F, timeout: Duration) -> io::Result<()> {
    wait(fd, Interest::Readable, Instant::now().checked_add(timeout))
}

/// Waits until `fd` is writable, for at most `timeout`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let (a, _b) = std::os::unix::net::UnixStream::pair()?;
/// goro::io::wait_writable_timeout(&a, Duration::from_secs(1))?; // a plain thread: poll(2)
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Errors
///
/// [`io::ErrorKind::TimedOut`] when `timeout` passes; otherwise as [`wait_readable`].
pub fn wait_writable_timeout<F: AsFd + ?Sized>(fd: &F, timeout: Duration) -> io::Result<()> {
    wait(fd, Interest::Writable, Instant::now().checked_add(timeout))
}

/// Waits until `fd` is ready for `interest`, or until `deadline` if one is given.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// use goro::io::Interest;
///
/// let (a, _b) = std::os::unix::net::UnixStream::pair()?;
/// let deadline = Instant::now() + Duration::from_millis(5);
/// let err = goro::io::wait(&a, Interest::Readable, Some(deadline)).unwrap_err();
/// assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Errors
///
/// [`io::ErrorKind::TimedOut`] at `deadline`; otherwise as [`wait_readable`].
pub fn wait<F: AsFd + ?Sized>(
    fd: &F,
    interest: Interest,
    deadline: Option<Instant>,
) -> io::Result<()> {
    goro_sched::io::wait_fd(fd.as_fd(), interest, deadline)
}
