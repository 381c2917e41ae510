//! What the hooks need to know about a descriptor, and the one loop that parks.
//!
//! Nothing here is remembered between calls: the kernel is asked each time (the user's
//! `O_NONBLOCK` with `fcntl(F_GETFL)`, the kind of file with `fstat`, a socket's timeout
//! with `getsockopt`), and only on the paths that are about to wait or that cannot tell
//! from the attempt itself. A call that completes at once costs what libc's does.

use std::ffi::c_int;
use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

use goro_sched::io::Interest;

use super::{errno, real, set_errno};

/// The user's own blocking flag: `Some(true)` if the descriptor is in non-blocking mode,
/// `None` if `fcntl` fails (the descriptor is closed, say).
pub(super) fn nonblocking(fd: c_int) -> Option<bool> {
    let saved = errno();
    // SAFETY: F_GETFL takes no third argument and touches no memory.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    set_errno(saved);
    (flags >= 0).then_some(flags & libc::O_NONBLOCK != 0)
}

/// The kind of file behind a descriptor, as far as the hooks care.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    /// A regular file, block device or directory: always "ready" to epoll, blocks on
    /// the disk. The hooks leave these to libc.
    Disk,
    /// A socket: `MSG_DONTWAIT` makes any call non-blocking.
    Socket,
    /// A pipe, FIFO, character device (a terminal), eventfd and the like: readiness
    /// makes sense; `RWF_NOWAIT` makes a call non-blocking where the kernel supports it.
    Stream,
}

/// The kind of `fd`, or `None` if `fstat` fails.
pub(super) fn kind(fd: c_int) -> Option<Kind> {
    let saved = errno();
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `st` is a writable `stat` buffer that fstat fills on success.
    let r = unsafe { libc::fstat(fd, st.as_mut_ptr()) };
    set_errno(saved);
    if r != 0 {
        return None;
    }
    // SAFETY: fstat returned 0, so it filled `st`.
    let mode = unsafe { st.assume_init() }.st_mode & libc::S_IFMT;
    Some(match mode {
        libc::S_IFREG | libc::S_IFBLK | libc::S_IFDIR => Kind::Disk,
        libc::S_IFSOCK => Kind::Socket,
        _ => Kind::Stream,
    })
}

/// Which socket timeout bounds a wait.
#[derive(Clone, Copy, Debug)]
pub(super) enum Timeout {
    /// Not a socket, or a call the kernel does not time out.
    None,
    /// `SO_RCVTIMEO` (reads, `accept`).
    Recv,
    /// `SO_SNDTIMEO` (writes, `connect`).
    Send,
}

/// The socket's timeout for `which`, or `None` if it has none (or is no socket).
fn socket_timeout(fd: c_int, which: Timeout) -> Option<Duration> {
    let opt = match which {
        Timeout::None => return None,
        Timeout::Recv => libc::SO_RCVTIMEO,
        Timeout::Send => libc::SO_SNDTIMEO,
    };
    let saved = errno();
    let mut tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 0,
    };
    let mut len = size_of::<libc::timeval>() as libc::socklen_t;
    // SAFETY: `tv` and `len` are writable and `len` is `tv`'s size, as getsockopt asks.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            opt,
            (&raw mut tv).cast(),
            &raw mut len,
        )
    };
    set_errno(saved);
    if r != 0 || (tv.tv_sec == 0 && tv.tv_usec == 0) {
        return None;
    }
    Some(Duration::new(tv.tv_sec as u64, tv.tv_usec as u32 * 1000))
}

/// The deadline a wait on `fd` must keep, from now.
pub(super) fn deadline(fd: c_int, which: Timeout) -> Option<Instant> {
    socket_timeout(fd, which).and_then(|t| Instant::now().checked_add(t))
}

/// How a wait ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Waited {
    /// The descriptor is (or was) ready: try the call.
    Ready,
    /// The deadline passed first.
    TimedOut,
    /// The wait itself failed with this errno (no descriptors left for the duplicate,
    /// say).
    Failed(c_int),
}

/// Whether `fd` is ready for `interest` now (a `poll(2)` that does not wait).
pub(super) fn ready_now(fd: c_int, interest: Interest) -> bool {
    let events = match interest {
        Interest::Readable => libc::POLLIN | libc::POLLPRI,
        Interest::Writable => libc::POLLOUT,
    };
    let mut pfd = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    let saved = errno();
    // SAFETY: one valid pollfd; a zero timeout never blocks.
    let n = unsafe { real::poll(&raw mut pfd, 1, 0) };
    set_errno(saved);
    n != 0 // an error counts as ready: the call itself will report it
}

/// Parks the calling coroutine until `fd` is ready for `interest` or `deadline` passes,
/// on goro's poller (`goro_sched::io::wait_fd`, which registers a duplicate of `fd` for
/// the length of the wait and never takes ownership of `fd` itself).
///
/// `errno` is as the caller left it, unless the wait fails: while the coroutine is
/// parked, its thread runs other code that sets the thread's `errno`.
pub(super) fn wait(fd: c_int, interest: Interest, deadline: Option<Instant>) -> Waited {
    if ready_now(fd, interest) {
        return Waited::Ready;
    }
    let saved = errno();
    // SAFETY: the hook's caller passed `fd` open to a libc call that uses it for the
    // length of that call, so it stays open while we wait inside the call (closing a
    // descriptor another thread is using is the caller's race, as with libc); the
    // borrow ends before we return.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    let waited = match goro_sched::io::wait_fd(borrowed, interest, deadline) {
        Ok(()) => Waited::Ready,
        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => Waited::TimedOut,
        Err(e) => Waited::Failed(e.raw_os_error().unwrap_or(libc::EIO)),
    };
    set_errno(saved);
    waited
}

/// What the caller of [`park_io`] wants from a run of attempts.
#[derive(Clone, Copy, Debug)]
pub(super) enum Want {
    /// The first attempt that moves anything (a read, an accept).
    Any,
    /// `len` bytes in all, attempt after attempt (a blocking write moves everything; a
    /// `MSG_WAITALL` read fills the buffer). A zero-byte result ends the run early
    /// (end of file).
    All(usize),
}

/// Runs a blocking call as a sequence of non-blocking attempts, parking on goro's
/// poller between them, and returns what the blocking call would have.
///
/// `first` is the result of an attempt the hook has already made (with `errno` as that
/// attempt left it); `attempt(done)` makes another, `done` bytes into the run, and
/// returns the count or -1 with `errno` set. `saved` is the caller's `errno` from
/// before the hook, restored on success.
///
/// 1. A result of `n >= 0` adds to `done`; the run ends once `Want` is met, or at a
///    zero-byte result.
/// 2. An error other than `EAGAIN` ends the run: with the error if nothing moved yet,
///    else with the count (as libc's blocking calls report a failure after progress).
/// 3. `EAGAIN` (or a short write): if the *user* set `O_NONBLOCK`, the attempt was the
///    user's own non-blocking call, so its result is returned as it is.
/// 4. Otherwise the coroutine parks until `fd` is ready for `interest` (bounded by the
///    socket's timeout, `which`, read once at the first wait), and tries again. At the
///    deadline: the count if anything moved, else `EAGAIN`, as the kernel reports an
///    expired `SO_RCVTIMEO`/`SO_SNDTIMEO`.
pub(super) fn park_io(
    fd: c_int,
    interest: Interest,
    which: Timeout,
    want: Want,
    saved: c_int,
    first: isize,
    mut attempt: impl FnMut(usize) -> isize,
) -> isize {
    let mut done = 0usize;
    let mut user_checked = false;
    let mut deadline_at: Option<Option<Instant>> = None;
    let mut result = first;
    let finish = |done: usize| {
        set_errno(saved);
        done as isize
    };
    loop {
        if result >= 0 {
            done += result as usize;
            match want {
                Want::Any => return finish(done),
                Want::All(len) if done >= len || result == 0 => return finish(done),
                Want::All(_) => {}
            }
        } else if errno() != libc::EAGAIN {
            return if done > 0 { finish(done) } else { -1 };
        }
        // Step 3: would the user's own call have stopped here?
        if !user_checked {
            user_checked = true;
            if nonblocking(fd) != Some(false) {
                return if done > 0 {
                    finish(done)
                } else {
                    set_errno(libc::EAGAIN);
                    -1
                };
            }
        }
        if result < 0 {
            // Step 4: nothing to move now; park.
            let deadline = *deadline_at.get_or_insert_with(|| deadline(fd, which));
            match wait(fd, interest, deadline) {
                Waited::Ready => {}
                Waited::TimedOut if done > 0 => return finish(done),
                Waited::TimedOut => {
                    set_errno(libc::EAGAIN);
                    return -1;
                }
                Waited::Failed(_) if done > 0 => return finish(done),
                Waited::Failed(e) => {
                    set_errno(e);
                    return -1;
                }
            }
        }
        // A short write goes straight to the next attempt, which says EAGAIN if the
        // buffer is really full.
        result = attempt(done);
    }
}

/// Whether a socket is a byte stream (`SOCK_STREAM`), for `MSG_WAITALL`.
pub(super) fn is_stream_socket(fd: c_int) -> bool {
    let saved = errno();
    let mut ty: c_int = 0;
    let mut len = size_of::<c_int>() as libc::socklen_t;
    // SAFETY: `ty` and `len` are writable and `len` is `ty`'s size.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_TYPE,
            (&raw mut ty).cast(),
            &raw mut len,
        )
    };
    set_errno(saved);
    r == 0 && ty == libc::SOCK_STREAM
}

/// `iov` with its first `done` bytes skipped, for the next attempt of a vectored write.
pub(super) fn advance(iov: &[libc::iovec], mut done: usize) -> Vec<libc::iovec> {
    let mut out = Vec::with_capacity(iov.len());
    for v in iov {
        if done >= v.iov_len {
            done -= v.iov_len;
            continue;
        }
        out.push(libc::iovec {
            // SAFETY: `done < iov_len`, so the result stays inside the caller's buffer.
            iov_base: unsafe { v.iov_base.cast::<u8>().add(done) }.cast(),
            iov_len: v.iov_len - done,
        });
        done = 0;
    }
    out
}

/// The total length of `iov`.
pub(super) fn iov_len(iov: &[libc::iovec]) -> usize {
    iov.iter().map(|v| v.iov_len).fold(0, usize::saturating_add)
}

/// The caller's `iovec` array as a slice (empty for a null pointer or a count <= 0).
///
/// # Safety
///
/// `iov` points to `cnt` valid `iovec`s, as libc's `readv`/`writev` require; they stay
/// valid for the returned lifetime.
pub(super) unsafe fn iov_slice<'a>(iov: *const libc::iovec, cnt: c_int) -> &'a [libc::iovec] {
    if iov.is_null() || cnt <= 0 {
        return &[];
    }
    // SAFETY: the caller's contract above.
    unsafe { std::slice::from_raw_parts(iov, cnt as usize) }
}

#[cfg(test)]
mod tests {
    use super::{advance, iov_len};

    fn iov(buf: &mut [u8]) -> libc::iovec {
        libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        }
    }

    #[test]
    fn advance_skips_whole_and_partial_buffers() {
        let (mut a, mut b, mut c) = ([0u8; 3], [0u8; 0], [0u8; 5]);
        let bufs = [iov(&mut a), iov(&mut b), iov(&mut c)];
        assert_eq!(iov_len(&bufs), 8);
        assert_eq!(advance(&bufs, 0).len(), 2); // the empty one is dropped
        let rest = advance(&bufs, 4);
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].iov_len, 4);
        assert_eq!(rest[0].iov_base, c.as_mut_ptr().wrapping_add(1).cast());
        assert!(advance(&bufs, 8).is_empty());
    }
}
