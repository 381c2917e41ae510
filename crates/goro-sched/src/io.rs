//! Readiness I/O: wait for a file descriptor from a coroutine without blocking its
//! worker.
//!
//! [`Registered<T>`] owns an I/O object `T` (a socket, a pipe: anything [`AsFd`] in
//! non-blocking mode) and runs its system calls so that `WouldBlock` parks the calling
//! coroutine until the poller (epoll, edge-triggered) reports the descriptor ready, then
//! retries. On a plain thread the same calls wait in `poll(2)` instead, like blocking
//! I/O. [`wait_fd`] waits once for any descriptor, without keeping a registration.
//!
//! # Registration lifecycle
//!
//! 1. `Registered::new` takes the object and sets nothing up: a descriptor that never
//!    has to wait costs no epoll call.
//! 2. The first time a coroutine must wait, the descriptor joins the epoll set, once, for
//!    both directions, with a record from the poller's slab (see poll.rs).
//! 3. [`Registered::deregister`] (or dropping, or `into_inner`) removes it from the set
//!    (`EPOLL_CTL_DEL`, before the descriptor can be closed: a duplicated descriptor would
//!    otherwise keep the epoll entry alive) and wakes every waiter with an error.
//! 4. The record goes back to the slab only when the `Registered` is dropped, when
//!    nobody can be waiting on it any more; its generation changes, so events still in
//!    flight for it are ignored.
//!
//! # Examples
//!
//! ```
//! use std::io::{Read, Write};
//! use std::os::unix::net::UnixStream;
//! use goro_sched::io::Registered;
//!
//! let (a, mut b) = UnixStream::pair()?;
//! let a = Registered::new(a)?; // sets O_NONBLOCK
//! let reader = goro_sched::spawn(Default::default(), move || {
//!     let mut buf = [0; 5];
//!     (&a).read_exact(&mut buf).map(|()| buf) // parks until the bytes arrive
//! })?;
//! b.write_all(b"hello")?;
//! assert_eq!(&reader.join().unwrap()?, b"hello");
//! # Ok::<(), std::io::Error>(())
//! ```

use std::fmt;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::eventfd::{EfdFlags, EventFd};

use crate::context;
use crate::loom::{AtomicBool, AtomicU64, Mutex, Ordering};
use crate::poll::{self, Record, Wake};

/// A direction to wait for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Interest {
    /// Readable: data to read, a connection to accept, the peer's shutdown, an error.
    Readable,
    /// Writable: room to write, a connect that completed, a hang-up, an error.
    Writable,
}

impl Interest {
    fn dir(self) -> usize {
        match self {
            Interest::Readable => poll::READ,
            Interest::Writable => poll::WRITE,
        }
    }

    fn poll_flags(self) -> PollFlags {
        match self {
            Interest::Readable => PollFlags::POLLIN | PollFlags::POLLPRI,
            Interest::Writable => PollFlags::POLLOUT,
        }
    }
}

/// An I/O object registered with goro's poller, so that its blocking operations park
/// the calling coroutine instead of its worker thread.
///
/// `T`'s descriptor must be in non-blocking mode: [`new`](Registered::new) sets
/// `O_NONBLOCK`. Operations go through [`io`](Registered::io), which retries a system
/// call whenever the poller reports the descriptor ready; `Read` and `Write` are
/// implemented that way for `Registered<T>` and `&Registered<T>` when `&T` implements
/// them (files, pipes, sockets).
///
/// On a plain thread (outside any coroutine) the same operations block the thread in
/// `poll(2)`, as blocking I/O would.
///
/// # Deregistering while others wait
///
/// [`deregister`](Registered::deregister) may be called while coroutines or threads wait
/// on the descriptor: they wake with an error of kind [`io::ErrorKind::Other`] whose
/// message says the descriptor was deregistered, and so does every later operation that
/// would have to wait. Dropping the `Registered` deregisters too (nobody can be waiting
/// then) and drops `T`, closing the descriptor after it has left the epoll set.
///
/// # Examples
///
/// ```
/// use std::io::{Read, Write};
/// use std::os::unix::net::UnixStream;
/// use goro_sched::io::{Interest, Registered};
///
/// let (a, mut b) = UnixStream::pair()?;
/// let a = Registered::new(a)?;
/// let n = goro_sched::spawn(Default::default(), move || {
///     let mut buf = [0; 8];
///     a.io(Interest::Readable, None, |mut s| s.read(&mut buf)) // retried until not WouldBlock
/// })?;
/// b.write_all(b"hi")?;
/// assert_eq!(n.join().unwrap()?, 2);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Registered<T: AsFd> {
    /// `None` only inside `into_inner`.
    io: Option<T>,
    reg: Registration,
}

impl<T: AsFd> Registered<T> {
    /// Wraps `io`, putting its descriptor in non-blocking mode (`O_NONBLOCK`, which is
    /// shared by every duplicate of the descriptor). Nothing is registered until a
    /// coroutine first has to wait.
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, _b) = std::os::unix::net::UnixStream::pair()?;
    /// let a = goro_sched::io::Registered::new(a)?;
    /// assert!(std::io::Read::read(&mut &*a.get_ref(), &mut [0; 1]).is_err()); // WouldBlock
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The error of `fcntl` if the descriptor's flags cannot be read or set.
    pub fn new(io: T) -> io::Result<Registered<T>> {
        set_nonblocking(io.as_fd())?;
        Ok(Registered::from_nonblocking(io))
    }

    /// Wraps `io`, whose descriptor the caller has already put in non-blocking mode. If
    /// it is in blocking mode, operations that should park block the worker thread.
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, _b) = std::os::unix::net::UnixStream::pair()?;
    /// a.set_nonblocking(true)?;
    /// let a = goro_sched::io::Registered::from_nonblocking(a);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn from_nonblocking(io: T) -> Registered<T> {
        Registered {
            io: Some(io),
            reg: Registration::new(),
        }
    }

    /// The wrapped object.
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, _b) = std::os::unix::net::UnixStream::pair()?;
    /// let a = goro_sched::io::Registered::new(a)?;
    /// assert!(a.get_ref().peer_addr().is_ok());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn get_ref(&self) -> &T {
        self.io
            .as_ref()
            .expect("only into_inner takes the object out")
    }

    /// Runs `op` until it returns anything but a `WouldBlock` error, waiting for
    /// `interest` between attempts (a coroutine parks; a plain thread blocks in
    /// `poll(2)`).
    ///
    /// `op` must be a non-blocking system call on this object's descriptor that says
    /// `WouldBlock` only when it has to wait for `interest` (a read, a write, an accept,
    /// a `connect`'s completion): readiness is edge-triggered, and `op`'s `WouldBlock` is
    /// what shows the last edge was consumed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use goro_sched::io::{Interest, Registered};
    ///
    /// let (a, mut b) = std::os::unix::net::UnixStream::pair()?;
    /// let a = Registered::new(a)?;
    /// let h = goro_sched::spawn(Default::default(), move || {
    ///     let mut buf = [0; 3];
    ///     a.io(Interest::Readable, None, |mut s| s.read(&mut buf))
    /// })?;
    /// b.write_all(b"abc")?;
    /// assert_eq!(h.join().unwrap()?, 3);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// - Whatever `op` returns other than `WouldBlock`.
    /// - At `deadline`, the `WouldBlock` error of `op`'s last attempt (as a blocking
    ///   socket reports its `SO_RCVTIMEO` expiring).
    /// - [`io::ErrorKind::Other`] if the descriptor is, or gets, deregistered while the
    ///   call would have to wait.
    /// - The error of `epoll_ctl` if the descriptor cannot join the epoll set (it is
    ///   already in it through another `Registered`, say: `EEXIST`).
    #[track_caller]
    pub fn io<R>(
        &self,
        interest: Interest,
        deadline: Option<Instant>,
        op: impl FnMut(&T) -> io::Result<R>,
    ) -> io::Result<R> {
        self.run(interest, deadline, op, |_| false)
    }

    /// [`io`](Registered::io) for a read from (or write to) a byte stream where moving
    /// fewer bytes than asked for means the kernel's buffer is now empty (or full), as
    /// on a TCP socket: `op` returns the bytes moved, `len` is how many it asked for.
    /// After such a short transfer, the next call waits for readiness before it tries,
    /// saving the system call that would only have said `WouldBlock` (tokio does the
    /// same).
    ///
    /// Not for descriptors that may return less while more is buffered: a datagram
    /// socket, a terminal, a Unix socket that may carry file descriptors.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use goro_sched::io::{Interest, Registered};
    ///
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let mut client = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// let server = Registered::new(listener.accept()?.0)?;
    /// let h = goro_sched::spawn(Default::default(), move || {
    ///     let mut buf = [0; 64];
    ///     server.io_stream(Interest::Readable, None, buf.len(), |mut s| s.read(&mut buf))
    /// })?;
    /// client.write_all(b"abc")?;
    /// assert_eq!(h.join().unwrap()?, 3);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`io`](Registered::io).
    #[track_caller]
    pub fn io_stream(
        &self,
        interest: Interest,
        deadline: Option<Instant>,
        len: usize,
        op: impl FnMut(&T) -> io::Result<usize>,
    ) -> io::Result<usize> {
        self.run(interest, deadline, op, |&n| n > 0 && n < len)
    }

    /// The loop behind `io` and `io_stream`: `exhausted` says whether a result left the
    /// direction without readiness (step "skip" below).
    #[track_caller]
    fn run<R>(
        &self,
        interest: Interest,
        deadline: Option<Instant>,
        mut op: impl FnMut(&T) -> io::Result<R>,
        exhausted: impl Fn(&R) -> bool,
    ) -> io::Result<R> {
        let io = self.get_ref();
        let dir = interest.dir();
        if !in_coroutine() {
            loop {
                match op(io) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        match poll_thread(Some(&self.reg), io.as_fd(), interest, deadline)? {
                            Wake::Ready => {}
                            Wake::TimedOut => return Err(e),
                            Wake::Closed => return Err(deregistered()),
                        }
                    }
                    result => return result,
                }
            }
        }
        loop {
            let record = self.reg.record();
            let (snapshot, hup) = record.map_or((0, false), |(_, record)| record.snapshot(dir));
            // Skip: a short transfer since the last event left the buffer empty (or
            // full); data (or room) that comes after it makes a new edge, which ticks
            // past `snapshot`, so wait for that first. Not after a hang-up or an error
            // (end of file and errors stay to be read without a new edge), nor once
            // deregistered (no edge comes; what need not wait still runs).
            let result = if record.is_some() && !hup && self.reg.exhausted_at(dir) == snapshot {
                Err(io::Error::from_raw_os_error(Errno::EAGAIN as i32))
            } else {
                op(io)
            };
            match result {
                Ok(r) => {
                    if record.is_some() && exhausted(&r) {
                        self.reg.set_exhausted_at(dir, snapshot);
                    }
                    return Ok(r);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        return Err(e);
                    }
                    let record = self.reg.register(io.as_fd())?;
                    match record.wait(dir, snapshot, deadline) {
                        Wake::Ready => {}
                        Wake::TimedOut => return Err(e),
                        Wake::Closed => return Err(deregistered()),
                    }
                }
                result => return result,
            }
        }
    }

    /// Waits until the descriptor is ready for `interest`, or `deadline`.
    ///
    /// It may return early, when readiness reported to it was consumed by someone else
    /// first: callers try their operation and wait again on `WouldBlock`. Prefer
    /// [`io`](Registered::io), which does exactly that and saves a `poll(2)` per wait.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Write;
    /// use goro_sched::io::{Interest, Registered};
    ///
    /// let (a, mut b) = std::os::unix::net::UnixStream::pair()?;
    /// let a = Registered::new(a)?;
    /// let h = goro_sched::spawn(Default::default(), move || a.wait(Interest::Readable, None))?;
    /// b.write_all(b"!")?;
    /// h.join().unwrap()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// A regular file, which epoll does not take, is always ready (as `poll(2)` says).
    ///
    /// # Errors
    ///
    /// - [`io::ErrorKind::TimedOut`] at `deadline`.
    /// - [`io::ErrorKind::Other`] if the descriptor is, or gets, deregistered.
    /// - The error of `epoll_ctl` if the descriptor cannot join the epoll set.
    #[track_caller]
    pub fn wait(&self, interest: Interest, deadline: Option<Instant>) -> io::Result<()> {
        let fd = self.get_ref().as_fd();
        let outcome = if in_coroutine() {
            let dir = interest.dir();
            let snapshot = self.reg.tick(dir);
            // Registered earlier, the last edge may be long gone: look at the level.
            // Registering now would report the level too (EPOLL_CTL_ADD queues an event
            // if the descriptor is ready), but only once someone polls: look anyway, or
            // a deadline already past would say `TimedOut` for a ready descriptor.
            if !self.reg.is_closed() && ready_now(fd, interest)? {
                return Ok(());
            }
            match self.reg.register(fd) {
                Ok(record) => record.wait(dir, snapshot, deadline),
                // epoll refuses regular files; poll(2) calls them always ready.
                Err(e) if e.raw_os_error() == Some(Errno::EPERM as i32) => Wake::Ready,
                Err(e) => return Err(e),
            }
        } else {
            poll_thread(Some(&self.reg), fd, interest, deadline)?
        };
        match outcome {
            Wake::Ready => Ok(()),
            Wake::TimedOut => Err(timed_out()),
            Wake::Closed => Err(deregistered()),
        }
    }

    /// Takes the descriptor out of the poller and wakes everyone waiting on it with an
    /// error; later operations that would have to wait fail the same way. Operations that
    /// need no wait still run. Idempotent.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use goro_sched::io::{Interest, Registered};
    ///
    /// let (a, _b) = std::os::unix::net::UnixStream::pair()?;
    /// let a = Arc::new(Registered::new(a)?);
    /// let waiter = a.clone();
    /// let h = goro_sched::spawn(Default::default(), move || waiter.wait(Interest::Readable, None))?;
    /// std::thread::sleep(Duration::from_millis(20)); // let it park
    /// a.deregister();
    /// assert_eq!(h.join().unwrap().unwrap_err().kind(), std::io::ErrorKind::Other);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn deregister(&self) {
        self.reg.deregister(self.get_ref().as_fd());
    }

    /// Deregisters the descriptor and gives the object back, still in non-blocking mode.
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, _b) = std::os::unix::net::UnixStream::pair()?;
    /// let a = goro_sched::io::Registered::new(a)?.into_inner();
    /// a.set_nonblocking(false)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn into_inner(mut self) -> T {
        let io = self
            .io
            .take()
            .expect("only into_inner takes the object out");
        self.reg.deregister(io.as_fd());
        io
    }
}

impl<T: AsFd> Drop for Registered<T> {
    fn drop(&mut self) {
        // Out of the epoll set before `io` (dropped after this) closes the descriptor.
        if let Some(io) = &self.io {
            self.reg.deregister(io.as_fd());
        }
    }
}

impl<T: AsFd + fmt::Debug> fmt::Debug for Registered<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registered")
            .field("io", &self.io)
            .field("registered", &self.reg.is_registered())
            .finish()
    }
}

impl<T: AsFd> Read for &Registered<T>
where
    for<'a> &'a T: Read,
{
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.io(Interest::Readable, None, |mut io| io.read(buf))
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.io(Interest::Readable, None, |mut io| io.read_vectored(bufs))
    }
}

impl<T: AsFd> Read for Registered<T>
where
    for<'a> &'a T: Read,
{
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        (&*self).read_vectored(bufs)
    }
}

impl<T: AsFd> Write for &Registered<T>
where
    for<'a> &'a T: Write,
{
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.io(Interest::Writable, None, |mut io| io.write(buf))
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.io(Interest::Writable, None, |mut io| io.write_vectored(bufs))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.io(Interest::Writable, None, |mut io| io.flush())
    }
}

impl<T: AsFd> Write for Registered<T>
where
    for<'a> &'a T: Write,
{
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        (&*self).write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        (&*self).flush()
    }
}

/// Waits once until `fd` is ready for `interest`, or `deadline`: a coroutine parks on the
/// poller, a plain thread blocks in `poll(2)`. The descriptor need not be in
/// non-blocking mode, nor registered.
///
/// In a coroutine this adds a duplicate of the descriptor to the epoll set for the
/// duration of the wait and removes it after (`dup`, two `epoll_ctl` calls, `close`), so
/// nothing is left to clean up when the owner later closes the descriptor, and the
/// descriptor's own number stays free for its owner to register meanwhile (a
/// [`Registered`] that must wait while this waits). For a loop of waits on one
/// descriptor, [`Registered`] is cheaper. A regular file is always ready, as `poll(2)`
/// says.
///
/// # Examples
///
/// ```
/// use std::io::Write;
/// use std::os::fd::AsFd;
/// use goro_sched::io::{Interest, wait_fd};
///
/// let (a, mut b) = std::os::unix::net::UnixStream::pair()?;
/// let h = goro_sched::spawn(Default::default(), move || wait_fd(a.as_fd(), Interest::Readable, None))?;
/// b.write_all(b"!")?;
/// h.join().unwrap()?;
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Errors
///
/// - [`io::ErrorKind::TimedOut`] at `deadline`.
/// - The error of `epoll_ctl`, `dup` or `poll(2)`, if one fails.
#[track_caller]
pub fn wait_fd(
    fd: BorrowedFd<'_>,
    interest: Interest,
    deadline: Option<Instant>,
) -> io::Result<()> {
    if !in_coroutine() {
        return match poll_thread(None, fd, interest, deadline)? {
            Wake::Ready => Ok(()),
            Wake::TimedOut => Err(timed_out()),
            Wake::Closed => unreachable!("no registration, nothing to close"),
        };
    }
    // A duplicate, never the number itself: a number in the set is taken (`EEXIST`) for
    // a `Registered` owner of the descriptor that has to wait while we do, and ours may
    // already be in the set through such an owner. A duplicate is a distinct entry.
    let dup = fd.try_clone_to_owned()?;
    Registered::from_nonblocking(dup).wait(interest, deadline)
}

/// The number of descriptors in goro's epoll set right now.
///
/// # Examples
///
/// ```
/// let before = goro_sched::io::registered();
/// let (a, _b) = std::os::unix::net::UnixStream::pair()?;
/// let _a = goro_sched::io::Registered::new(a)?; // registers lazily: nothing yet
/// assert_eq!(goro_sched::io::registered(), before);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn registered() -> usize {
    poll::get().map_or(0, |p| p.registered())
}

fn in_coroutine() -> bool {
    context::with_current_task(|_| ()).is_some()
}

fn deregistered() -> io::Error {
    io::Error::other(
        "goro: the file descriptor was deregistered from the poller (closed) while waiting on it",
    )
}

fn timed_out() -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        "goro: timed out waiting for readiness",
    )
}

fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    let flags = OFlag::from_bits_retain(fcntl(fd, FcntlArg::F_GETFL)?);
    if !flags.contains(OFlag::O_NONBLOCK) {
        fcntl(fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    }
    Ok(())
}

/// Whether `fd` is ready for `interest` right now (a `poll(2)` that does not wait).
fn ready_now(fd: BorrowedFd<'_>, interest: Interest) -> io::Result<bool> {
    let mut fds = [PollFd::new(fd, interest.poll_flags())];
    loop {
        match nix::poll::poll(&mut fds, PollTimeout::ZERO) {
            Ok(n) => return Ok(n > 0),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// `timeout` in whole milliseconds for `poll(2)`, rounded up.
fn poll_timeout(timeout: Option<Duration>) -> PollTimeout {
    let Some(timeout) = timeout else {
        return PollTimeout::NONE;
    };
    let ms = timeout.as_nanos().div_ceil(1_000_000);
    i32::try_from(ms)
        .ok()
        .and_then(|ms| PollTimeout::try_from(ms).ok())
        .unwrap_or(PollTimeout::MAX)
}

thread_local! {
    /// A plain thread's eventfd, which `deregister` writes to interrupt its `poll(2)`.
    /// `None` if it could not be created (no descriptors left): such a thread then
    /// rechecks for deregistration every `RECHECK`.
    static THREAD_WAKER: Option<Arc<EventFd>> =
        EventFd::from_flags(EfdFlags::EFD_NONBLOCK | EfdFlags::EFD_CLOEXEC).ok().map(Arc::new);
}

/// How often a plain thread without an eventfd looks for deregistration.
const RECHECK: Duration = Duration::from_millis(100);

/// Blocks a plain thread until `fd` is ready for `interest`, `reg` (if any) is
/// deregistered, or `deadline` passes.
fn poll_thread(
    reg: Option<&Registration>,
    fd: BorrowedFd<'_>,
    interest: Interest,
    deadline: Option<Instant>,
) -> io::Result<Wake> {
    let waker = match reg {
        Some(_) => THREAD_WAKER.with(Option::clone),
        None => None,
    };
    loop {
        if reg.is_some_and(Registration::is_closed) {
            return Ok(Wake::Closed);
        }
        // A deadline already past still polls once, without waiting: ready is ready, as
        // poll(2) with a zero timeout says.
        let mut timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let expired = timeout.is_some_and(|t| t.is_zero());
        if reg.is_some() && waker.is_none() {
            timeout = Some(timeout.map_or(RECHECK, |t| t.min(RECHECK)));
        }
        if let (Some(reg), Some(waker)) = (reg, &waker) {
            if !reg.enlist(waker) {
                return Ok(Wake::Closed);
            }
        }
        let mut fds = [
            PollFd::new(fd, interest.poll_flags()),
            PollFd::new(fd, PollFlags::empty()),
        ];
        let n = match &waker {
            Some(waker) => {
                fds[1] = PollFd::new(waker.as_fd(), PollFlags::POLLIN);
                2
            }
            None => 1,
        };
        let result = nix::poll::poll(&mut fds[..n], poll_timeout(timeout));
        if let (Some(reg), Some(waker)) = (reg, &waker) {
            reg.delist(waker);
            if fds[1].any() == Some(true) {
                let _ = waker.read(); // nonblocking; resets the counter
            }
        }
        match result {
            Ok(_) if fds[0].any() == Some(true) => return Ok(Wake::Ready),
            Ok(_) | Err(Errno::EINTR) if expired => return Ok(Wake::TimedOut),
            Ok(_) | Err(Errno::EINTR) => {} // timeout, or woken: the loop looks again
            Err(e) => return Err(e.into()),
        }
    }
}

/// Never equal to a tick (ticks are multiples of 8).
const NOT_EXHAUSTED: u64 = u64::MAX;

/// The registration behind a [`Registered`]: its record once it joined the epoll set,
/// and the plain threads waiting in `poll(2)` for `deregister` to interrupt.
struct Registration {
    /// 0 until registered; then the record's index + 1 (the record never changes).
    index: AtomicU64,
    /// Per direction: the tick seen before the last short transfer (see
    /// `Registered::io_stream`), or `NOT_EXHAUSTED`.
    exhausted: [AtomicU64; 2],
    closed: AtomicBool,
    /// Serializes registering and deregistering; holds the eventfds of plain threads
    /// that wait.
    inner: Mutex<Vec<Arc<EventFd>>>,
}

impl Registration {
    fn new() -> Registration {
        Registration {
            index: AtomicU64::new(0),
            exhausted: [AtomicU64::new(NOT_EXHAUSTED), AtomicU64::new(NOT_EXHAUSTED)],
            closed: AtomicBool::new(false),
            inner: Mutex::new(Vec::new()),
        }
    }

    fn lock(&self) -> crate::loom::MutexGuard<'_, Vec<Arc<EventFd>>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn record(&self) -> Option<(u32, &'static Record)> {
        // Acquire: pairs with the Release in `register`, after the record was reset.
        match self.index.load(Ordering::Acquire) {
            0 => None,
            n => {
                let index = (n - 1) as u32;
                Some((
                    index,
                    poll::slab::get(index).expect("a registered record exists"),
                ))
            }
        }
    }

    fn exhausted_at(&self, dir: usize) -> u64 {
        self.exhausted[dir].load(Ordering::Relaxed)
    }

    fn set_exhausted_at(&self, dir: usize, tick: u64) {
        self.exhausted[dir].store(tick, Ordering::Relaxed);
    }

    fn is_registered(&self) -> bool {
        self.index.load(Ordering::Relaxed) != 0
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// The snapshot for a direction: the record's tick, or 0 before registration (a fresh
    /// record starts at 0, so every event since it joined the set counts as new).
    fn tick(&self, dir: usize) -> u64 {
        self.record().map_or(0, |(_, record)| record.tick(dir))
    }

    /// The record, adding `fd` to the epoll set first if needed.
    fn register(&self, fd: BorrowedFd<'_>) -> io::Result<&'static Record> {
        if let Some((_, record)) = self.record() {
            return Ok(record);
        }
        let _inner = self.lock();
        if self.is_closed() {
            return Err(deregistered());
        }
        if let Some((_, record)) = self.record() {
            return Ok(record);
        }
        let poller = poll::get_or_init()?;
        let (index, record) = poll::slab::alloc()?;
        if let Err(e) = poller.add(fd, record.token(index)) {
            poll::slab::release(index);
            return Err(e);
        }
        // Release: see `record`.
        self.index.store(u64::from(index) + 1, Ordering::Release);
        Ok(record)
    }

    fn deregister(&self, fd: BorrowedFd<'_>) {
        let threads = self.lock();
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Some((_, record)) = self.record() {
            record.close();
            if let Some(poller) = poll::get() {
                poller.delete(fd);
            }
        }
        for waker in threads.iter() {
            poll::signal_eventfd(waker);
        }
    }

    /// Lists a plain thread's eventfd for `deregister`; false if already deregistered.
    fn enlist(&self, waker: &Arc<EventFd>) -> bool {
        let mut threads = self.lock();
        if self.is_closed() {
            return false;
        }
        threads.push(waker.clone());
        true
    }

    fn delist(&self, waker: &Arc<EventFd>) {
        let mut threads = self.lock();
        if let Some(pos) = threads.iter().position(|w| Arc::ptr_eq(w, waker)) {
            threads.swap_remove(pos);
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // `Registered::drop` deregistered first; nobody can be waiting any more (waiting
        // borrows the `Registered`), so the record may go back to the slab.
        debug_assert!(self.is_closed() || !self.is_registered());
        if let Some((index, _)) = self.record() {
            poll::slab::release(index);
        }
    }
}
