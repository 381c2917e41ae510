//! Socket and pipe I/O, `accept`/`connect`, and `poll`/`ppoll`/`select`.
//!
//! Each hook is libc's function on a plain thread. In a coroutine:
//! - sockets: the same call with `MSG_DONTWAIT` added (`read`/`readv` on a socket are
//!   `recv`/`recvmsg` with no flags, `write`/`writev` are `send`/`sendmsg`), then
//!   [`park_io`] if it says `EAGAIN`;
//! - pipes, FIFOs, character devices: `preadv2`/`pwritev2` with `RWF_NOWAIT` and
//!   [`park_io`]; where the kernel refuses `RWF_NOWAIT` (`EOPNOTSUPP`: a terminal), a
//!   readiness wait and then libc's call;
//! - regular files, block devices, directories: libc's call (see docs/CAVEATS.md);
//! - a call the user made non-blocking (`O_NONBLOCK`, or `MSG_DONTWAIT` in its flags):
//!   libc's call, `EAGAIN` and all.

use std::ffi::{c_int, c_void};
use std::time::{Duration, Instant};

use goro_sched::io::Interest;

use super::fd::{
    self, Kind, Timeout, Waited, Want, advance, iov_len, iov_slice, nonblocking, park_io,
};
use super::{active, errno, offload, real, set_errno};

const DONTWAIT: c_int = libc::MSG_DONTWAIT;

/// Receive flags that make the call return at once whatever the descriptor's mode:
/// the user's own `MSG_DONTWAIT`, and `MSG_ERRQUEUE` (the error queue is never waited
/// for; an empty one says `EAGAIN`, and readiness for it is not readability).
const NEVER_WAITS: c_int = libc::MSG_DONTWAIT | libc::MSG_ERRQUEUE;

// ---------------------------------------------------------------------------------
// read / readv / write / writev: any descriptor.

/// `read`/`readv`/`write`/`writev` in a coroutine, on any kind of descriptor (one
/// `fstat` tells which): `sock(done)` is the call as a socket call with `MSG_DONTWAIT`,
/// `nowait(done)` as `preadv2`/`pwritev2` with `RWF_NOWAIT`, `plain()` libc's own call.
fn any_fd(
    fd: c_int,
    interest: Interest,
    want: Want,
    mut sock: impl FnMut(usize) -> isize,
    mut nowait: impl FnMut(usize) -> isize,
    plain: impl FnOnce() -> isize,
) -> isize {
    let saved = errno();
    match fd::kind(fd) {
        Some(Kind::Socket) => {
            let timeout = match interest {
                Interest::Readable => Timeout::Recv,
                Interest::Writable => Timeout::Send,
            };
            let first = sock(0);
            park_io(fd, interest, timeout, want, saved, first, sock)
        }
        Some(Kind::Stream) => {
            let first = nowait(0);
            if first < 0 && errno() == libc::EOPNOTSUPP {
                // No per-call non-blocking form for this file (a terminal): unless the
                // user made it non-blocking, wait until it is ready, then make the
                // ordinary call, which then does not block (unless another reader or
                // writer got there first).
                set_errno(saved);
                if nonblocking(fd) == Some(false) {
                    let _ = fd::wait(fd, interest, None);
                }
                return plain();
            }
            park_io(fd, interest, Timeout::None, want, saved, first, nowait)
        }
        // A regular file, a block device (see docs/CAVEATS.md §7), or `fstat` failed
        // (libc's call reports the same error).
        Some(Kind::Disk) | None => plain(),
    }
}

/// A `preadv2`/`pwritev2` at the current file position (offset -1) with `RWF_NOWAIT`.
///
/// # Safety
///
/// `iov` holds `iov.len()` valid buffers, writable for a read.
unsafe fn rw_nowait(fd: c_int, iov: &[libc::iovec], write: bool) -> isize {
    let cnt = iov.len().min(c_int::MAX as usize) as c_int;
    // SAFETY: the caller's contract; offset -1 means "the file position", as readv's.
    unsafe {
        if write {
            libc::pwritev2(fd, iov.as_ptr(), cnt, -1, libc::RWF_NOWAIT)
        } else {
            libc::preadv2(fd, iov.as_ptr(), cnt, -1, libc::RWF_NOWAIT)
        }
    }
}

/// A `msghdr` for `iov` alone (no address, no ancillary data).
fn msg_of(iov: &[libc::iovec]) -> libc::msghdr {
    // SAFETY: msghdr is plain data; all-zero is "no address, no control, no flags".
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov.as_ptr().cast_mut();
    msg.msg_iovlen = iov.len() as _;
    msg
}

#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn read(fd: c_int, buf: *mut c_void, len: usize) -> isize {
    // Safety note for every unsafe block below: the caller's arguments, valid as libc's
    // `read` requires, passed on to calls that read into the same buffer.
    if !active() {
        // SAFETY: the caller's arguments (see the note at the top).
        return unsafe { real::read(fd, buf, len) };
    }
    let iov = [libc::iovec {
        iov_base: buf,
        iov_len: len,
    }];
    any_fd(
        fd,
        Interest::Readable,
        Want::Any,
        // SAFETY: the caller's arguments (see the note at the top).
        |_| unsafe { real::recv(fd, buf, len, DONTWAIT) },
        // SAFETY: the caller's arguments (see the note at the top).
        |_| unsafe { rw_nowait(fd, &iov, false) },
        // SAFETY: the caller's arguments (see the note at the top).
        || unsafe { real::read(fd, buf, len) },
    )
}

#[unsafe(no_mangle)]
unsafe extern "C" fn readv(fd: c_int, iov: *const libc::iovec, cnt: c_int) -> isize {
    // Safety note for every unsafe block below: the caller's arguments, valid as libc's
    // `readv` requires, passed on to calls that read into the same buffers.
    if !active() || cnt < 0 {
        // A negative count is libc's EINVAL.
        // SAFETY: the caller's arguments (see the note at the top).
        return unsafe { real::readv(fd, iov, cnt) };
    }
    // SAFETY: the caller's arguments (see the note at the top).
    let bufs = unsafe { iov_slice(iov, cnt) };
    let mut msg = msg_of(bufs);
    any_fd(
        fd,
        Interest::Readable,
        Want::Any,
        // SAFETY: the caller's arguments (see the note at the top).
        |_| unsafe { real::recvmsg(fd, &raw mut msg, DONTWAIT) },
        // SAFETY: the caller's arguments (see the note at the top).
        |_| unsafe { rw_nowait(fd, bufs, false) },
        // SAFETY: the caller's arguments (see the note at the top).
        || unsafe { real::readv(fd, iov, cnt) },
    )
}

#[unsafe(no_mangle)]
unsafe extern "C" fn write(fd: c_int, buf: *const c_void, len: usize) -> isize {
    // Safety note for every unsafe block below: the caller's arguments, valid as libc's
    // `write` requires; `done <= len`, so `buf + done` stays in the buffer.
    if !active() {
        // SAFETY: the caller's arguments (see the note at the top).
        return unsafe { real::write(fd, buf, len) };
    }
    // SAFETY: the caller's arguments (see the note at the top).
    let rest = |done: usize| unsafe { buf.cast::<u8>().add(done) };
    any_fd(
        fd,
        Interest::Writable,
        Want::All(len),
        // SAFETY: the caller's arguments (see the note at the top).
        |done| unsafe { real::send(fd, rest(done).cast(), len - done, DONTWAIT) },
        |done| {
            let iov = [libc::iovec {
                iov_base: rest(done).cast_mut().cast(),
                iov_len: len - done,
            }];
            // SAFETY: the caller's arguments (see the note at the top).
            unsafe { rw_nowait(fd, &iov, true) }
        },
        // SAFETY: the caller's arguments (see the note at the top).
        || unsafe { real::write(fd, buf, len) },
    )
}

#[unsafe(no_mangle)]
unsafe extern "C" fn writev(fd: c_int, iov: *const libc::iovec, cnt: c_int) -> isize {
    // Safety note for every unsafe block below: the caller's arguments, valid as libc's
    // `writev` requires; `advance` only shortens the caller's buffers.
    if !active() || cnt < 0 {
        // A negative count is libc's EINVAL.
        // SAFETY: the caller's arguments (see the note at the top).
        return unsafe { real::writev(fd, iov, cnt) };
    }
    // SAFETY: the caller's arguments (see the note at the top).
    let bufs = unsafe { iov_slice(iov, cnt) };
    let len = iov_len(bufs);
    any_fd(
        fd,
        Interest::Writable,
        Want::All(len),
        |done| {
            let rest = advance(bufs, done);
            let msg = msg_of(if done == 0 { bufs } else { &rest });
            // SAFETY: the caller's arguments (see the note at the top).
            unsafe { real::sendmsg(fd, &raw const msg, DONTWAIT) }
        },
        // SAFETY: the caller's arguments (see the note at the top).
        |done| unsafe { rw_nowait(fd, &advance(bufs, done), true) },
        // SAFETY: the caller's arguments (see the note at the top).
        || unsafe { real::writev(fd, iov, cnt) },
    )
}

#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn recv(
    fd: c_int,
    buf: *mut c_void,
    len: usize,
    flags: c_int,
) -> isize {
    // Safety note for every unsafe block below: the caller's arguments, valid as
    // libc's `recv` requires; `done <= len`, so `buf + done` stays in the buffer.
    if !active() || flags & NEVER_WAITS != 0 {
        // SAFETY: the caller's arguments (see the note at the top).
        return unsafe { real::recv(fd, buf, len, flags) };
    }
    let want = wait_all(fd, flags, len);
    if peek_all(flags, want) {
        // SAFETY: the caller's arguments (see the note at the top).
        return offload((fd, buf, len, flags), |(fd, buf, len, flags)| unsafe {
            real::recv(fd, buf, len, flags)
        });
    }
    let saved = errno();
    // SAFETY: the caller's arguments (see the note at the top).
    let attempt = |done: usize| unsafe {
        real::recv(
            fd,
            buf.cast::<u8>().add(done).cast(),
            len - done,
            flags | DONTWAIT,
        )
    };
    let first = attempt(0);
    park_io(
        fd,
        Interest::Readable,
        Timeout::Recv,
        want,
        saved,
        first,
        attempt,
    )
}

#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn recvfrom(
    fd: c_int,
    buf: *mut c_void,
    len: usize,
    flags: c_int,
    addr: *mut libc::sockaddr,
    addrlen: *mut libc::socklen_t,
) -> isize {
    // Safety note for every unsafe block below: as in `recv`; `addr`/`addrlen` are
    // the caller's, passed on unchanged.
    if !active() || flags & NEVER_WAITS != 0 {
        // SAFETY: the caller's arguments (see the note at the top).
        return unsafe { real::recvfrom(fd, buf, len, flags, addr, addrlen) };
    }
    let want = wait_all(fd, flags, len);
    if peek_all(flags, want) {
        // SAFETY: the caller's arguments (see the note at the top).
        return offload(
            (fd, buf, len, flags, addr, addrlen),
            |(fd, buf, len, flags, addr, addrlen)| unsafe {
                real::recvfrom(fd, buf, len, flags, addr, addrlen)
            },
        );
    }
    let saved = errno();
    // The address length is in-out: each attempt starts from the caller's.
    let cap = if addrlen.is_null() {
        0
    } else {
        // SAFETY: the caller's arguments (see the note at the top).
        unsafe { *addrlen }
    };
    // SAFETY: the caller's arguments (see the note at the top).
    let attempt = |done: usize| unsafe {
        if !addrlen.is_null() {
            *addrlen = cap;
        }
        real::recvfrom(
            fd,
            buf.cast::<u8>().add(done).cast(),
            len - done,
            flags | DONTWAIT,
            addr,
            addrlen,
        )
    };
    let first = attempt(0);
    park_io(
        fd,
        Interest::Readable,
        Timeout::Recv,
        want,
        saved,
        first,
        attempt,
    )
}

/// `MSG_WAITALL` on a stream socket asks for the whole buffer; elsewhere it means
/// nothing (datagrams come whole).
fn wait_all(fd: c_int, flags: c_int, len: usize) -> Want {
    if flags & libc::MSG_WAITALL != 0 && fd::is_stream_socket(fd) {
        Want::All(len)
    } else {
        Want::Any
    }
}

/// Whether a `MSG_WAITALL` run is a peek: peeking consumes nothing, so every attempt
/// sees the stream from its start again and a run cannot be pieced together from
/// several attempts. Such a call is left to a pool thread, which blocks in it.
fn peek_all(flags: c_int, want: Want) -> bool {
    flags & libc::MSG_PEEK != 0 && matches!(want, Want::All(_))
}

#[unsafe(no_mangle)]
unsafe extern "C" fn recvmsg(fd: c_int, msg: *mut libc::msghdr, flags: c_int) -> isize {
    // Safety note for every unsafe block below: the caller's arguments, valid as
    // libc's `recvmsg` requires, passed on unchanged.
    if !active() || msg.is_null() || flags & NEVER_WAITS != 0 {
        // A null `msg` is libc's EFAULT.
        // SAFETY: the caller's arguments (see the note at the top).
        return unsafe { real::recvmsg(fd, msg, flags) };
    }
    if flags & libc::MSG_WAITALL != 0 && fd::is_stream_socket(fd) {
        // Filling scattered buffers across several receives, each with its own
        // ancillary data, has no faithful rendering: let a pool thread block instead.
        // SAFETY: the caller's arguments (see the note at the top).
        return offload((fd, msg, flags), |(fd, msg, flags)| unsafe {
            real::recvmsg(fd, msg, flags)
        });
    }
    let saved = errno();
    // In-out fields: each attempt starts from the caller's.
    // SAFETY: the caller's arguments (see the note at the top).
    let (namelen, controllen) = unsafe { ((*msg).msg_namelen, (*msg).msg_controllen) };
    // SAFETY: the caller's arguments (see the note at the top).
    let attempt = |_| unsafe {
        (*msg).msg_namelen = namelen;
        (*msg).msg_controllen = controllen;
        real::recvmsg(fd, msg, flags | DONTWAIT)
    };
    let first = attempt(0);
    park_io(
        fd,
        Interest::Readable,
        Timeout::Recv,
        Want::Any,
        saved,
        first,
        attempt,
    )
}

#[unsafe(no_mangle)]
unsafe extern "C" fn send(fd: c_int, buf: *const c_void, len: usize, flags: c_int) -> isize {
    // Safety note for every unsafe block below: the caller's arguments, valid as
    // libc's `send` requires; `done <= len`, so `buf + done` stays in the buffer.
    if !active() || flags & DONTWAIT != 0 {
        // SAFETY: the caller's arguments (see the note at the top).
        return unsafe { real::send(fd, buf, len, flags) };
    }
    let saved = errno();
    // SAFETY: the caller's arguments (see the note at the top).
    let attempt = |done: usize| unsafe {
        real::send(
            fd,
            buf.cast::<u8>().add(done).cast(),
            len - done,
            flags | DONTWAIT,
        )
    };
    let first = attempt(0);
    park_io(
        fd,
        Interest::Writable,
        Timeout::Send,
        Want::All(len),
        saved,
        first,
        attempt,
    )
}

#[unsafe(no_mangle)]
unsafe extern "C" fn sendto(
    fd: c_int,
    buf: *const c_void,
    len: usize,
    flags: c_int,
    addr: *const libc::sockaddr,
    addrlen: libc::socklen_t,
) -> isize {
    // Safety note for every unsafe block below: as in `send`; `addr` is the caller's.
    if !active() || flags & DONTWAIT != 0 {
        // SAFETY: the caller's arguments (see the note at the top).
        return unsafe { real::sendto(fd, buf, len, flags, addr, addrlen) };
    }
    let saved = errno();
    // SAFETY: the caller's arguments (see the note at the top).
    let attempt = |done: usize| unsafe {
        real::sendto(
            fd,
            buf.cast::<u8>().add(done).cast(),
            len - done,
            flags | DONTWAIT,
            addr,
            addrlen,
        )
    };
    let first = attempt(0);
    park_io(
        fd,
        Interest::Writable,
        Timeout::Send,
        Want::All(len),
        saved,
        first,
        attempt,
    )
}

#[unsafe(no_mangle)]
unsafe extern "C" fn sendmsg(fd: c_int, msg: *const libc::msghdr, flags: c_int) -> isize {
    // Safety note for every unsafe block below: the caller's arguments, valid as
    // libc's `sendmsg` requires; later attempts send the rest of the same buffers.
    if !active() || msg.is_null() || flags & DONTWAIT != 0 {
        // A null `msg` is libc's EFAULT.
        // SAFETY: the caller's arguments (see the note at the top).
        return unsafe { real::sendmsg(fd, msg, flags) };
    }
    let saved = errno();
    // SAFETY: the caller's arguments (see the note at the top).
    let bufs = unsafe { iov_slice((*msg).msg_iov, (*msg).msg_iovlen as c_int) };
    let len = iov_len(bufs);
    let attempt = |done: usize| {
        if done == 0 {
            // SAFETY: the caller's arguments (see the note at the top).
            return unsafe { real::sendmsg(fd, msg, flags | DONTWAIT) };
        }
        // The rest of a stream: the address and the ancillary data went with the
        // first part.
        let rest = advance(bufs, done);
        let tail = msg_of(&rest);
        // SAFETY: the caller's arguments (see the note at the top).
        unsafe { real::sendmsg(fd, &raw const tail, flags | DONTWAIT) }
    };
    let first = attempt(0);
    park_io(
        fd,
        Interest::Writable,
        Timeout::Send,
        Want::All(len),
        saved,
        first,
        attempt,
    )
}

#[unsafe(no_mangle)]
unsafe extern "C" fn accept(
    fd: c_int,
    addr: *mut libc::sockaddr,
    addrlen: *mut libc::socklen_t,
) -> c_int {
    // SAFETY: the caller's arguments, valid as libc's `accept` requires.
    if !active() || !wait_to_accept(fd) {
        // SAFETY: the caller's arguments (see the note at the top).
        return unsafe { real::accept(fd, addr, addrlen) };
    }
    set_errno(libc::EAGAIN);
    -1
}

#[unsafe(no_mangle)]
unsafe extern "C" fn accept4(
    fd: c_int,
    addr: *mut libc::sockaddr,
    addrlen: *mut libc::socklen_t,
    flags: c_int,
) -> c_int {
    // SAFETY: the caller's arguments, valid as libc's `accept4` requires.
    if !active() || !wait_to_accept(fd) {
        // SAFETY: the caller's arguments (see the note at the top).
        return unsafe { real::accept4(fd, addr, addrlen, flags) };
    }
    set_errno(libc::EAGAIN);
    -1
}

/// Parks until a connection waits on the listening socket `fd`. True if instead its
/// `SO_RCVTIMEO` expired (the caller then fails with `EAGAIN`, as the kernel's accept
/// does).
///
/// `accept` has no per-call non-blocking form, so the call that follows is libc's own:
/// if another thread or coroutine takes the connection between the wake and the call,
/// the call blocks the worker until the next one (see docs/CAVEATS.md).
fn wait_to_accept(fd: c_int) -> bool {
    if fd::ready_now(fd, Interest::Readable) || nonblocking(fd) != Some(false) {
        return false;
    }
    let saved = errno();
    let waited = fd::wait(fd, Interest::Readable, fd::deadline(fd, Timeout::Recv));
    set_errno(saved);
    waited == Waited::TimedOut
}

#[unsafe(no_mangle)]
unsafe extern "C" fn connect(
    fd: c_int,
    addr: *const libc::sockaddr,
    addrlen: libc::socklen_t,
) -> c_int {
    // Safety note for every unsafe block below: the caller's arguments, valid as
    // libc's `connect` requires; fcntl's F_GETFL/F_SETFL take an int or nothing.
    if !active() {
        // SAFETY: the caller's arguments (see the note at the top).
        return unsafe { real::connect(fd, addr, addrlen) };
    }
    let saved = errno();
    // SAFETY: the caller's arguments (see the note at the top).
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 || flags & libc::O_NONBLOCK != 0 {
        set_errno(saved);
        // SAFETY: the caller's arguments (see the note at the top).
        return unsafe { real::connect(fd, addr, addrlen) };
    }
    // The one place goro touches O_NONBLOCK: a blocking connect has no per-call
    // non-blocking form. The flag is set for this call alone and put back at once (the
    // connection goes on in the background); the socket is not yet connected, so
    // nothing else reads or writes it meanwhile.
    // SAFETY: the caller's arguments (see the note at the top).
    unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) };
    // SAFETY: the caller's arguments (see the note at the top).
    let r = unsafe { real::connect(fd, addr, addrlen) };
    let e = errno();
    // SAFETY: the caller's arguments (see the note at the top).
    unsafe { libc::fcntl(fd, libc::F_SETFL, flags) };
    if r == 0 {
        set_errno(saved);
        return 0;
    }
    match e {
        libc::EINPROGRESS => {}
        // A Unix socket whose listener's backlog is full: the blocking call waits for
        // room, which readiness does not announce. Let a pool thread wait.
        libc::EAGAIN => {
            // SAFETY: the caller's arguments (see the note at the top).
            return offload((fd, addr, addrlen), |(fd, addr, addrlen)| unsafe {
                real::connect(fd, addr, addrlen)
            });
        }
        e => {
            set_errno(e);
            return -1;
        }
    }
    match fd::wait(fd, Interest::Writable, fd::deadline(fd, Timeout::Send)) {
        Waited::Ready => {}
        // An expired SO_SNDTIMEO: what the kernel's blocking connect says then.
        Waited::TimedOut => {
            set_errno(libc::EINPROGRESS);
            return -1;
        }
        Waited::Failed(e) => {
            set_errno(e);
            return -1;
        }
    }
    let mut err: c_int = 0;
    let mut len = size_of::<c_int>() as libc::socklen_t;
    // SAFETY: the caller's arguments (see the note at the top).
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            (&raw mut err).cast(),
            &raw mut len,
        )
    };
    if r != 0 {
        return -1; // getsockopt's errno
    }
    if err != 0 {
        set_errno(err);
        return -1;
    }
    set_errno(saved);
    0
}

// ---------------------------------------------------------------------------------
// poll / ppoll / select.

#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn poll(
    fds: *mut libc::pollfd,
    nfds: libc::nfds_t,
    timeout: c_int,
) -> c_int {
    // SAFETY: the caller's arguments, valid as libc's `poll` requires.
    if timeout == 0 || !active() {
        // SAFETY: the caller's arguments (see the note at the top).
        return unsafe { real::poll(fds, nfds, timeout) };
    }
    let deadline = (timeout > 0)
        .then(|| Instant::now().checked_add(Duration::from_millis(timeout as u64)))
        .flatten();
    // SAFETY: as above.
    unsafe { poll_parked(fds, nfds, deadline) }
}

#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn ppoll(
    fds: *mut libc::pollfd,
    nfds: libc::nfds_t,
    timeout: *const libc::timespec,
    sigmask: *const libc::sigset_t,
) -> c_int {
    // Safety note for every unsafe block below: the caller's arguments, valid as
    // libc's `ppoll` requires.
    if !active() {
        // SAFETY: the caller's arguments (see the note at the top).
        return unsafe { real::ppoll(fds, nfds, timeout, sigmask) };
    }
    let wait = if timeout.is_null() {
        None
    } else {
        // SAFETY: the caller's arguments (see the note at the top).
        match timespec_duration(unsafe { &*timeout }) {
            Some(d) if !d.is_zero() => Some(d),
            // Zero or invalid (libc's call says EINVAL).
            // SAFETY: the caller's arguments (see the note at the top).
            _ => return unsafe { real::ppoll(fds, nfds, timeout, sigmask) },
        }
    };
    if !sigmask.is_null() {
        // The signal mask is the point of such a call: let a pool thread make it.
        // SAFETY: the caller's arguments (see the note at the top).
        return offload((fds, nfds, timeout, sigmask), |(f, n, t, s)| unsafe {
            real::ppoll(f, n, t, s)
        });
    }
    let deadline = wait.and_then(|d| Instant::now().checked_add(d));
    // SAFETY: the caller's arguments (see the note at the top).
    unsafe { poll_parked(fds, nfds, deadline) }
}

/// A valid `timespec` as a duration.
pub(super) fn timespec_duration(ts: &libc::timespec) -> Option<Duration> {
    (ts.tv_sec >= 0 && (0..1_000_000_000).contains(&ts.tv_nsec))
        .then(|| Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

/// `poll` in a coroutine, until `deadline` (`None`: no limit).
///
/// One descriptor waited for in one direction (std's connect with a timeout; most
/// client libraries) parks on goro's poller; anything else is handed to a pool thread,
/// which blocks in libc's `poll` while the coroutine parks.
///
/// # Safety
///
/// `fds` points to `nfds` valid `pollfd`s.
unsafe fn poll_parked(
    fds: *mut libc::pollfd,
    nfds: libc::nfds_t,
    deadline: Option<Instant>,
) -> c_int {
    let saved = errno();
    // Safety note for every unsafe block below: the caller's contract.
    // SAFETY: `fds` holds `nfds` pollfds (the caller's contract).
    let n = unsafe { real::poll(fds, nfds, 0) };
    if n != 0 {
        return n;
    }
    if nfds == 0 {
        sleep_until(deadline);
        set_errno(saved);
        return 0;
    }
    if nfds == 1 {
        // SAFETY: the caller's arguments (see the note at the top).
        let (fd, events) = unsafe { ((*fds).fd, (*fds).events) };
        const READ: libc::c_short =
            libc::POLLIN | libc::POLLPRI | libc::POLLRDNORM | libc::POLLRDBAND;
        const WRITE: libc::c_short = libc::POLLOUT | libc::POLLWRNORM | libc::POLLWRBAND;
        let interest = match (events & READ != 0, events & WRITE != 0) {
            (true, false) => Some(Interest::Readable),
            (false, true) => Some(Interest::Writable),
            _ => None,
        };
        if let (Some(interest), true) = (interest, fd >= 0) {
            loop {
                match fd::wait(fd, interest, deadline) {
                    Waited::Ready => {
                        // SAFETY: the caller's arguments (see the note at the top).
                        let n = unsafe { real::poll(fds, 1, 0) };
                        if n != 0 || deadline.is_some_and(|d| Instant::now() >= d) {
                            return n;
                        }
                        if fd::ready_now(fd, interest) {
                            // Ready for what the poller watches, not for the events
                            // asked for (POLLPRI alone on a readable pipe, say): the
                            // poller would report it again at once, so the pool waits.
                            break;
                        }
                        // Readiness someone else consumed: wait again.
                    }
                    Waited::TimedOut => {
                        set_errno(saved);
                        return 0;
                    }
                    Waited::Failed(_) => break, // the pool below still can
                }
            }
        }
    }
    let ms = match deadline {
        None => -1,
        Some(d) => {
            let left = d.saturating_duration_since(Instant::now());
            left.as_nanos().div_ceil(1_000_000).min(c_int::MAX as u128) as c_int
        }
    };
    // SAFETY: the caller's arguments (see the note at the top).
    offload((fds, nfds, ms), |(fds, nfds, ms)| unsafe {
        real::poll(fds, nfds, ms)
    })
}

/// Parks until `deadline`, or for good.
pub(super) fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => goro_sched::sleep_until(d),
        None => goro_sched::sleep(Duration::MAX),
    }
}

#[unsafe(no_mangle)]
unsafe extern "C" fn select(
    nfds: c_int,
    readfds: *mut libc::fd_set,
    writefds: *mut libc::fd_set,
    exceptfds: *mut libc::fd_set,
    timeout: *mut libc::timeval,
) -> c_int {
    // Safety note for every unsafe block below: the caller's arguments, valid as
    // libc's `select` requires.
    if !active() || nfds < 0 {
        // A negative count is libc's EINVAL.
        // SAFETY: the caller's arguments (see the note at the top).
        return unsafe { real::select(nfds, readfds, writefds, exceptfds, timeout) };
    }
    let wait = if timeout.is_null() {
        None
    } else {
        // SAFETY: the caller's arguments (see the note at the top).
        let tv = unsafe { *timeout };
        if tv.tv_sec < 0
            || !(0..1_000_000).contains(&tv.tv_usec)
            || (tv.tv_sec == 0 && tv.tv_usec == 0)
        {
            // Zero (a poll) or invalid (EINVAL): libc's call.
            // SAFETY: the caller's arguments (see the note at the top).
            return unsafe { real::select(nfds, readfds, writefds, exceptfds, timeout) };
        }
        Some(Duration::new(tv.tv_sec as u64, tv.tv_usec as u32 * 1000))
    };
    if nfds == 0 || (readfds.is_null() && writefds.is_null() && exceptfds.is_null()) {
        // The classic portable sleep.
        let saved = errno();
        sleep_until(wait.and_then(|d| Instant::now().checked_add(d)));
        if !timeout.is_null() {
            // SAFETY: the caller's arguments (see the note at the top).
            unsafe {
                *timeout = libc::timeval {
                    tv_sec: 0,
                    tv_usec: 0,
                }
            };
        }
        set_errno(saved);
        return 0;
    }
    offload(
        (nfds, readfds, writefds, exceptfds, timeout),
        // SAFETY: the caller's arguments (see the note at the top).
        |(n, r, w, e, t)| unsafe { real::select(n, r, w, e, t) },
    )
}
