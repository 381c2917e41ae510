//! Feature `hook`, the edges: `errno` across a park, flags the user passes. One worker,
//! so the coroutines of a test share one thread (and one `errno`).
#![cfg(all(feature = "hook", target_os = "linux", target_env = "gnu"))]

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use support::{Watchdog, one_worker, ticks_while};

fn errno() -> i32 {
    // SAFETY: the calling thread's errno, read on the thread that owns it.
    unsafe { *libc::__errno_location() }
}

fn set_errno(e: i32) {
    // SAFETY: as in `errno`.
    unsafe { *libc::__errno_location() = e };
}

/// Runs `call` in a coroutine with `errno` set to a marker, while another coroutine on
/// the same worker keeps failing system calls (each sets the thread's `errno` to
/// `EBADF`) between its own parks. Returns `call`'s result and the `errno` it left.
fn errno_after<T: Send + 'static>(call: impl FnOnce() -> T + Send + 'static) -> (T, i32) {
    let running = Arc::new(AtomicBool::new(true));
    let r = running.clone();
    let clobber = goro::go!(move || {
        while r.load(Ordering::Acquire) {
            // SAFETY: closing -1 only fails (EBADF).
            unsafe { libc::close(-1) };
            goro::sleep(Duration::from_millis(1));
        }
    });
    let caller = goro::go!(move || {
        goro::sleep(Duration::from_millis(5)); // the clobberer is in its loop by then
        set_errno(libc::ENOTTY);
        let result = call();
        (result, errno())
    });
    let out = caller.join().unwrap();
    running.store(false, Ordering::Release);
    clobber.join().unwrap();
    out
}

/// A pipe's two ends as std files.
fn pipe() -> (std::fs::File, std::fs::File) {
    let (r, w) = nix::unistd::pipe().unwrap();
    (r.into(), w.into())
}

fn pollfd(fd: &std::fs::File) -> libc::pollfd {
    libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    }
}

#[test]
fn sleeps_that_park_leave_errno_as_the_caller_had_it() {
    let _one = one_worker();
    let _dog = Watchdog::new(20, "errno across sleeps");
    let ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 30_000_000,
    };
    // SAFETY: a valid timespec; no remainder wanted.
    let (r, e) = errno_after(move || unsafe { libc::nanosleep(&ts, std::ptr::null_mut()) });
    assert_eq!((r, e), (0, libc::ENOTTY), "nanosleep");
    let (r, e) = errno_after(move || {
        // SAFETY: as above.
        unsafe { libc::clock_nanosleep(libc::CLOCK_MONOTONIC, 0, &ts, std::ptr::null_mut()) }
    });
    assert_eq!((r, e), (0, libc::ENOTTY), "clock_nanosleep");
    // SAFETY: usleep takes a plain number.
    let (r, e) = errno_after(|| unsafe { libc::usleep(30_000) });
    assert_eq!((r, e), (0, libc::ENOTTY), "usleep");
    let (_, e) = errno_after(|| thread::sleep(Duration::from_millis(30)));
    assert_eq!(e, libc::ENOTTY, "std::thread::sleep");
}

#[test]
fn polls_that_park_leave_errno_as_the_caller_had_it() {
    let _one = one_worker();
    let _dog = Watchdog::new(20, "errno across polls");
    // One descriptor: the poller.
    let (r, mut w) = pipe();
    let writer = thread::spawn(move || {
        thread::sleep(Duration::from_millis(50));
        w.write_all(b"x").unwrap();
        w
    });
    let (n, e) = errno_after(move || {
        let mut one = [pollfd(&r)];
        // SAFETY: a valid pollfd array.
        unsafe { libc::poll(one.as_mut_ptr(), 1, 5_000) }
    });
    let _w = writer.join().unwrap();
    assert_eq!((n, e), (1, libc::ENOTTY), "poll on one descriptor");
    // Two descriptors: a pool thread makes the call.
    let (r1, _w1) = pipe();
    let (r2, mut w2) = pipe();
    let writer = thread::spawn(move || {
        thread::sleep(Duration::from_millis(50));
        w2.write_all(b"y").unwrap();
        w2
    });
    let (n, e) = errno_after(move || {
        let mut two = [pollfd(&r1), pollfd(&r2)];
        // SAFETY: a valid pollfd array.
        unsafe { libc::poll(two.as_mut_ptr(), 2, 5_000) }
    });
    let _w2 = writer.join().unwrap();
    assert_eq!((n, e), (1, libc::ENOTTY), "poll on two descriptors");
}

#[test]
fn a_peek_that_waits_for_all_sees_the_stream_from_its_start() {
    let _one = one_worker();
    let _dog = Watchdog::new(20, "MSG_PEEK | MSG_WAITALL");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let peer = thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        conn.write_all(b"ab").unwrap();
        thread::sleep(Duration::from_millis(100));
        conn.write_all(b"cd").unwrap();
        thread::sleep(Duration::from_millis(100));
        conn // open until the reader is done
    });
    let reader = goro::go!(move || {
        let mut conn = TcpStream::connect(addr).unwrap();
        thread::sleep(Duration::from_millis(30)); // "ab" has arrived, "cd" not yet
        let mut peeked = [0u8; 4];
        // SAFETY: a writable buffer of 4 bytes.
        let n = unsafe {
            libc::recv(
                conn.as_raw_fd(),
                peeked.as_mut_ptr().cast(),
                4,
                libc::MSG_PEEK | libc::MSG_WAITALL,
            )
        };
        let mut read = [0u8; 4];
        conn.read_exact(&mut read).unwrap();
        (n, peeked, read)
    });
    let (n, peeked, read) = reader.join().unwrap();
    peer.join().unwrap();
    assert_eq!(&read, b"abcd");
    assert_eq!((n, &peeked), (4, b"abcd"));
}

#[test]
fn a_poll_for_events_the_poller_does_not_watch_parks_too() {
    let _one = one_worker();
    let _dog = Watchdog::new(20, "poll for POLLPRI alone");
    // A pipe holding data is readable (POLLIN) but never has POLLPRI: the poller
    // reports it ready at once, and poll(2) for POLLPRI alone still says nothing.
    let (r, mut w) = pipe();
    w.write_all(b"x").unwrap();
    let (ticks, (n, revents)) = ticks_while(move || {
        let mut one = [libc::pollfd {
            fd: r.as_raw_fd(),
            events: libc::POLLPRI,
            revents: 0,
        }];
        // SAFETY: a valid pollfd array.
        let n = unsafe { libc::poll(one.as_mut_ptr(), 1, 300) };
        (n, one[0].revents)
    });
    assert_eq!((n, revents), (0, 0));
    // The poll took 300 ms; a worker spinning in it would show a gap that long.
    ticks.assert_worker_ran();
}

#[test]
fn select_with_a_negative_count_says_einval_as_libc_does() {
    let _one = one_worker();
    let _dog = Watchdog::new(20, "select(-1)");
    let call = || {
        let mut tv = libc::timeval {
            tv_sec: 0,
            tv_usec: 10_000,
        };
        let null = std::ptr::null_mut();
        // SAFETY: no sets; a valid timeout.
        let r = unsafe { libc::select(-1, null, null, null, &mut tv) };
        (r, errno())
    };
    let on_thread = call();
    assert_eq!(on_thread, (-1, libc::EINVAL));
    assert_eq!(goro::go!(call).join().unwrap(), on_thread);
}

#[path = "../../goro-context/tests/support/child.rs"]
mod child;

#[test]
fn invalid_arguments_get_libcs_errors_not_a_crash() {
    // In a child process: the old hooks dereferenced a null msghdr.
    let test = "invalid_arguments_get_libcs_errors_not_a_crash";
    if let Ok((status, stderr)) = child::in_child(test, &[]) {
        assert!(status.success(), "{status}; stderr: {stderr}");
        return;
    }
    let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
    b.write_all(b"data").unwrap(); // a read that goes ahead returns at once
    let fd = a.as_raw_fd();
    let calls = move || {
        let mut buf = [0u8; 4];
        let iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        let no_msg: *mut libc::msghdr = std::ptr::null_mut();
        // SAFETY: invalid on purpose (a negative count, a null msghdr); libc checks
        // both before touching memory.
        unsafe {
            [
                (libc::readv(fd, &iov, -1), errno()),
                (libc::writev(fd, &iov, -1), errno()),
                (libc::recvmsg(fd, no_msg, 0), errno()),
                (libc::sendmsg(fd, no_msg, 0), errno()),
            ]
        }
    };
    let on_thread = calls();
    let einval = (-1, libc::EINVAL);
    let efault = (-1, libc::EFAULT);
    assert_eq!(on_thread, [einval, einval, efault, efault]);
    assert_eq!(goro::go!(calls).join().unwrap(), on_thread);
}

#[test]
fn an_error_queue_read_never_waits_as_the_kernel_says() {
    let _one = one_worker();
    let _dog = Watchdog::new(20, "MSG_ERRQUEUE");
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let fd = socket.as_raw_fd();
    let call = move || {
        let mut buf = [0u8; 64];
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        // SAFETY: all-zero is an empty msghdr; then one buffer.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        // SAFETY: a valid msghdr whose buffer lives through the call.
        let r = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_ERRQUEUE) };
        (r, errno())
    };
    // An empty error queue: the kernel says EAGAIN at once, blocking socket or not.
    let on_thread = call();
    assert_eq!(on_thread, (-1, libc::EAGAIN));
    let got = goro::go!(call).join().unwrap(); // waited forever before (the watchdog)
    assert_eq!(got, on_thread);
}

// `_FORTIFY_SOURCE`'s checked forms, as C code built with it calls them.
unsafe extern "C" {
    fn __read_chk(fd: i32, buf: *mut libc::c_void, len: usize, buflen: usize) -> isize;
    fn __poll_chk(fds: *mut libc::pollfd, nfds: libc::nfds_t, timeout: i32, fdslen: usize) -> i32;
}

#[test]
fn fortified_reads_and_polls_park_too() {
    let _one = one_worker();
    let _dog = Watchdog::new(20, "__read_chk and __poll_chk");
    // A pipe that gets a byte 300 ms from now.
    let late_pipe = || {
        let (r, mut w) = pipe();
        let writer = thread::spawn(move || {
            thread::sleep(Duration::from_millis(300));
            w.write_all(b"x").unwrap();
            w
        });
        (r, writer)
    };
    let (r, writer) = late_pipe();
    let (ticks, n) = ticks_while(move || {
        let mut buf = [0u8; 4];
        // SAFETY: a writable buffer of 4 bytes, its size passed as the check's.
        unsafe { __read_chk(r.as_raw_fd(), buf.as_mut_ptr().cast(), 4, buf.len()) }
    });
    let _w = writer.join().unwrap();
    assert_eq!(n, 1);
    ticks.assert_worker_ran();
    let (r, writer) = late_pipe();
    let (ticks, n) = ticks_while(move || {
        let mut fds = [pollfd(&r)];
        // SAFETY: a valid pollfd array, its size passed as the check's.
        unsafe { __poll_chk(fds.as_mut_ptr(), 1, 5_000, size_of_val(&fds)) }
    });
    let _w = writer.join().unwrap();
    assert_eq!(n, 1);
    ticks.assert_worker_ran();
}
