//! What every goro socket is made of: the std socket, registered with the poller, and
//! the settings std keeps in the kernel but goro must keep itself.
//!
//! The descriptor is always in non-blocking mode. The user-visible settings live in
//! [`Options`], shared (like the socket itself) by every `try_clone`:
//! - `nonblocking`: `set_nonblocking(true)` makes operations return `WouldBlock` instead
//!   of waiting, as on a non-blocking std socket.
//! - read and write timeouts: a wait gives up at the deadline with the `WouldBlock`
//!   error of the last attempt, which is what a std socket reports when `SO_RCVTIMEO`
//!   or `SO_SNDTIMEO` expires. They are also set on the kernel socket (through std's
//!   setters), so a socket handed back to std keeps them.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use goro_sched::io::{Interest, Registered};
use nix::fcntl::{FcntlArg, OFlag, fcntl};

/// A socket: the std object `T` in non-blocking mode, its registration, its settings.
pub(crate) struct Socket<T: AsFd> {
    io: Registered<T>,
    options: Arc<Options>,
}

/// Settings shared by a socket and its clones.
#[derive(Debug, Default)]
pub(crate) struct Options {
    nonblocking: AtomicBool,
    /// Nanoseconds, 0 for none.
    read_timeout: AtomicU64,
    write_timeout: AtomicU64,
}

impl Options {
    /// Settings as found on an existing descriptor: whether it was non-blocking (it is
    /// about to be made so regardless) and its kernel timeouts.
    pub(crate) fn found(
        fd: BorrowedFd<'_>,
        read_timeout: Option<Duration>,
        write_timeout: Option<Duration>,
    ) -> Options {
        let nonblocking = fcntl(fd, FcntlArg::F_GETFL)
            .is_ok_and(|flags| OFlag::from_bits_retain(flags).contains(OFlag::O_NONBLOCK));
        let options = Options::default();
        options.nonblocking.store(nonblocking, Ordering::Relaxed);
        options.set_read_timeout(read_timeout);
        options.set_write_timeout(write_timeout);
        options
    }

    fn set_read_timeout(&self, timeout: Option<Duration>) {
        self.read_timeout
            .store(to_nanos(timeout), Ordering::Relaxed);
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) {
        self.write_timeout
            .store(to_nanos(timeout), Ordering::Relaxed);
    }
}

fn to_nanos(timeout: Option<Duration>) -> u64 {
    timeout.map_or(0, |t| {
        u64::try_from(t.as_nanos()).unwrap_or(u64::MAX).max(1)
    })
}

fn from_nanos(nanos: u64) -> Option<Duration> {
    (nanos != 0).then(|| Duration::from_nanos(nanos))
}

/// std's error for a zero timeout.
pub(crate) fn zero_timeout() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "cannot set a 0 duration timeout",
    )
}

impl<T: AsFd> Socket<T> {
    /// Wraps `io`, already in non-blocking mode, with `options`.
    pub(crate) fn new(io: T, options: Options) -> Socket<T> {
        Socket::shared(io, Arc::new(options))
    }

    /// Wraps `io` (a clone of a socket's descriptor) with the original's settings.
    pub(crate) fn shared(io: T, options: Arc<Options>) -> Socket<T> {
        Socket {
            io: Registered::from_nonblocking(io),
            options,
        }
    }

    pub(crate) fn get(&self) -> &T {
        self.io.get_ref()
    }

    pub(crate) fn options(&self) -> &Arc<Options> {
        &self.options
    }

    /// Runs a read-side operation: retried until ready unless non-blocking, giving up at
    /// the read timeout.
    #[track_caller]
    pub(crate) fn read<R>(&self, op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        self.run(Interest::Readable, op)
    }

    /// Runs a write-side operation: as `read`, with the write timeout.
    #[track_caller]
    pub(crate) fn write<R>(&self, op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        self.run(Interest::Writable, op)
    }

    /// `read` for a byte stream where a short read means the receive queue is empty
    /// (TCP): `len` is how many bytes `op` asks for. See `Registered::io_stream`.
    #[track_caller]
    pub(crate) fn read_stream(
        &self,
        len: usize,
        op: impl FnMut(&T) -> io::Result<usize>,
    ) -> io::Result<usize> {
        self.run_stream(Interest::Readable, len, op)
    }

    /// `write` for a byte stream where a short write means the send buffer is full.
    #[track_caller]
    pub(crate) fn write_stream(
        &self,
        len: usize,
        op: impl FnMut(&T) -> io::Result<usize>,
    ) -> io::Result<usize> {
        self.run_stream(Interest::Writable, len, op)
    }

    /// Runs an operation that waits for `interest` until `deadline`, whatever the
    /// socket's timeouts and blocking mode (a `connect`).
    #[track_caller]
    pub(crate) fn run_until<R>(
        &self,
        interest: Interest,
        deadline: Option<Instant>,
        op: impl FnMut(&T) -> io::Result<R>,
    ) -> io::Result<R> {
        self.io.io(interest, deadline, own_io(op))
    }

    #[track_caller]
    fn run<R>(&self, interest: Interest, op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        let mut op = own_io(op);
        if self.is_nonblocking() {
            return op(self.get());
        }
        self.io.io(interest, self.deadline(interest), op)
    }

    #[track_caller]
    fn run_stream(
        &self,
        interest: Interest,
        len: usize,
        op: impl FnMut(&T) -> io::Result<usize>,
    ) -> io::Result<usize> {
        let mut op = own_io(op);
        if self.is_nonblocking() {
            return op(self.get());
        }
        self.io
            .io_stream(interest, self.deadline(interest), len, op)
    }

    /// When a wait for `interest` starting now gives up: the read or write timeout.
    fn deadline(&self, interest: Interest) -> Option<Instant> {
        let timeout = match interest {
            Interest::Readable => self.read_timeout(),
            Interest::Writable => self.write_timeout(),
        };
        timeout.and_then(|t| Instant::now().checked_add(t))
    }

    pub(crate) fn is_nonblocking(&self) -> bool {
        self.options.nonblocking.load(Ordering::Relaxed)
    }

    pub(crate) fn set_nonblocking(&self, nonblocking: bool) {
        self.options
            .nonblocking
            .store(nonblocking, Ordering::Relaxed);
    }

    pub(crate) fn read_timeout(&self) -> Option<Duration> {
        from_nanos(self.options.read_timeout.load(Ordering::Relaxed))
    }

    pub(crate) fn write_timeout(&self) -> Option<Duration> {
        from_nanos(self.options.write_timeout.load(Ordering::Relaxed))
    }

    /// Records a read timeout the caller has already validated and set on the kernel
    /// socket (with std's setter).
    pub(crate) fn set_read_timeout(&self, timeout: Option<Duration>) {
        self.options.set_read_timeout(timeout);
    }

    /// As `set_read_timeout`, for writes.
    pub(crate) fn set_write_timeout(&self, timeout: Option<Duration>) {
        self.options.set_write_timeout(timeout);
    }

    /// Deregisters and returns the std object, still in non-blocking mode, with the
    /// blocking mode the caller should restore: the user's, or `None` if other goro
    /// handles share the descriptor (`O_NONBLOCK` belongs to the open file, shared by
    /// every duplicate, and they need it).
    pub(crate) fn into_inner(self) -> (T, Option<bool>) {
        let mode = (Arc::strong_count(&self.options) == 1).then(|| self.is_nonblocking());
        (self.io.into_inner(), mode)
    }
}

/// The conversions every socket type has, from a macro so that they stay identical:
/// raw and owned descriptors, std's type, and `into_std`.
macro_rules! conversions {
    ($goro:ident, $std:ty, $std_name:literal, $example:literal) => {
        impl std::os::fd::AsFd for $goro {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                self.0.get().as_fd()
            }
        }

        impl std::os::fd::AsRawFd for $goro {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                self.0.get().as_raw_fd()
            }
        }

        impl std::os::fd::FromRawFd for $goro {
            /// Takes ownership of a socket descriptor, as std's `from_raw_fd` does, and
            /// puts it in non-blocking mode (see `From<OwnedFd>`).
            ///
            /// # Safety
            ///
            /// `fd` must be an open socket descriptor that nothing else owns or closes.
            unsafe fn from_raw_fd(fd: std::os::fd::RawFd) -> $goro {
                // SAFETY: the caller's contract is std's, passed on.
                $goro::from(unsafe { <$std>::from_raw_fd(fd) })
            }
        }

        impl std::os::fd::IntoRawFd for $goro {
            /// Gives up the descriptor, deregistered, in the blocking mode `into_std`
            /// leaves it in.
            fn into_raw_fd(self) -> std::os::fd::RawFd {
                std::os::fd::OwnedFd::from(self).into_raw_fd()
            }
        }

        impl From<std::os::fd::OwnedFd> for $goro {
            /// Takes a socket descriptor, putting it in non-blocking mode (which its
            /// duplicates share); its current mode and timeouts become the socket's
            /// settings.
            ///
            /// # Panics
            ///
            /// If the descriptor cannot be made non-blocking, which happens only if it is
            /// not open.
            fn from(fd: std::os::fd::OwnedFd) -> $goro {
                $goro::from(<$std>::from(fd))
            }
        }

        impl From<$goro> for std::os::fd::OwnedFd {
            /// Gives up the descriptor, deregistered, in the blocking mode `into_std`
            /// leaves it in.
            fn from(socket: $goro) -> std::os::fd::OwnedFd {
                let (io, mode) = socket.0.into_inner();
                if let Some(nonblocking) = mode {
                    // Cannot fail on an open descriptor; `From` has no way to say so.
                    let _ = io.set_nonblocking(nonblocking);
                }
                std::os::fd::OwnedFd::from(io)
            }
        }

        impl $goro {
            #[doc = concat!("Converts into a [`", $std_name, "`]: deregisters the socket and puts it")]
            /// back in the blocking mode the user chose (blocking unless
            /// `set_nonblocking(true)` was called). Timeouts were kept on the kernel socket
            /// all along.
            ///
            /// If clones of this socket ([`try_clone`](Self::try_clone)) are still alive,
            /// the descriptor stays in non-blocking mode: the mode belongs to the open
            /// socket, shared by every duplicate, and goro's handles need it. Call
            /// `set_nonblocking(false)` on the std socket once they are gone.
            ///
            /// # Examples
            ///
            #[doc = $example]
            ///
            /// # Errors
            ///
            /// The error of `ioctl(FIONBIO)` if the mode cannot be set.
            pub fn into_std(self) -> std::io::Result<$std> {
                let (io, mode) = self.0.into_inner();
                if let Some(nonblocking) = mode {
                    io.set_nonblocking(nonblocking)?;
                }
                Ok(io)
            }
        }
    };
}

pub(crate) use conversions;

/// `op` with libc's hooks out of the way while it runs (see `crate::hook::own_io`):
/// every operation a `Socket` runs is one non-blocking system call on goro's own
/// non-blocking descriptor.
fn own_io<T, R>(mut op: impl FnMut(&T) -> io::Result<R>) -> impl FnMut(&T) -> io::Result<R> {
    move |t| crate::hook::own_io(|| op(t))
}
