//! `_FORTIFY_SOURCE`'s checked forms of the hooked calls. C code built with it (most
//! distributions' packages) calls `__read_chk` and friends where it knows the buffer's
//! size; glibc's check that size and then jump to glibc's internal `read`, past the
//! hooks. These make the same check and call the hooks.

use std::ffi::{c_int, c_void};

use super::io;

unsafe extern "C" {
    /// glibc's report of a failed check: prints "buffer overflow detected" and aborts.
    fn __chk_fail() -> !;
}

/// Fails as glibc's checked functions do when `ok` is false.
fn check(ok: bool) {
    if !ok {
        // SAFETY: no arguments; it does not return.
        unsafe { __chk_fail() }
    }
}

#[unsafe(no_mangle)]
unsafe extern "C" fn __read_chk(fd: c_int, buf: *mut c_void, len: usize, buflen: usize) -> isize {
    check(len <= buflen);
    // SAFETY: the caller's arguments, valid as `read`'s; `len` fits the buffer.
    unsafe { io::read(fd, buf, len) }
}

#[unsafe(no_mangle)]
unsafe extern "C" fn __recv_chk(
    fd: c_int,
    buf: *mut c_void,
    len: usize,
    buflen: usize,
    flags: c_int,
) -> isize {
    check(len <= buflen);
    // SAFETY: the caller's arguments, valid as `recv`'s; `len` fits the buffer.
    unsafe { io::recv(fd, buf, len, flags) }
}

#[unsafe(no_mangle)]
unsafe extern "C" fn __recvfrom_chk(
    fd: c_int,
    buf: *mut c_void,
    len: usize,
    buflen: usize,
    flags: c_int,
    addr: *mut libc::sockaddr,
    addrlen: *mut libc::socklen_t,
) -> isize {
    check(len <= buflen);
    // SAFETY: the caller's arguments, valid as `recvfrom`'s; `len` fits the buffer.
    unsafe { io::recvfrom(fd, buf, len, flags, addr, addrlen) }
}

#[unsafe(no_mangle)]
unsafe extern "C" fn __poll_chk(
    fds: *mut libc::pollfd,
    nfds: libc::nfds_t,
    timeout: c_int,
    fdslen: usize,
) -> c_int {
    check(fdslen / size_of::<libc::pollfd>() >= nfds as usize);
    // SAFETY: the caller's arguments, valid as `poll`'s; `nfds` fits the array.
    unsafe { io::poll(fds, nfds, timeout) }
}

#[unsafe(no_mangle)]
unsafe extern "C" fn __ppoll_chk(
    fds: *mut libc::pollfd,
    nfds: libc::nfds_t,
    timeout: *const libc::timespec,
    sigmask: *const libc::sigset_t,
    fdslen: usize,
) -> c_int {
    check(fdslen / size_of::<libc::pollfd>() >= nfds as usize);
    // SAFETY: the caller's arguments, valid as `ppoll`'s; `nfds` fits the array.
    unsafe { io::ppoll(fds, nfds, timeout, sigmask) }
}
