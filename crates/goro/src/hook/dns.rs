//! Name resolution: `getaddrinfo` and `getnameinfo` may wait seconds for a DNS server,
//! in code goro cannot reach (glibc's resolver calls its own internal `poll`). In a
//! coroutine they run on the blocking pool while the coroutine parks. std's
//! `ToSocketAddrs` (and so `TcpStream::connect("host:port")`) goes through
//! `getaddrinfo`.
//!
//! Not hooked: `gethostbyname` and friends, which return a pointer into a per-thread
//! static buffer that a pool thread cannot hand back.

use std::ffi::{c_char, c_int};

use super::{active, offload, real};

#[unsafe(no_mangle)]
unsafe extern "C" fn getaddrinfo(
    node: *const c_char,
    service: *const c_char,
    hints: *const libc::addrinfo,
    res: *mut *mut libc::addrinfo,
) -> c_int {
    if !active() {
        // SAFETY: the caller's arguments, valid as libc's `getaddrinfo` requires.
        return unsafe { real::getaddrinfo(node, service, hints, res) };
    }
    offload(
        (node, service, hints, res),
        |(node, service, hints, res)| {
            // SAFETY: as above; the caller waits, parked, until the pool thread is done,
            // so its strings and `res` stay valid and untouched meanwhile. The result list
            // is malloc'ed and freed with freeaddrinfo on any thread.
            unsafe { real::getaddrinfo(node, service, hints, res) }
        },
    )
}

#[unsafe(no_mangle)]
unsafe extern "C" fn getnameinfo(
    addr: *const libc::sockaddr,
    addrlen: libc::socklen_t,
    host: *mut c_char,
    hostlen: libc::socklen_t,
    serv: *mut c_char,
    servlen: libc::socklen_t,
    flags: c_int,
) -> c_int {
    if !active() {
        // SAFETY: the caller's arguments, valid as libc's `getnameinfo` requires.
        return unsafe { real::getnameinfo(addr, addrlen, host, hostlen, serv, servlen, flags) };
    }
    offload(
        (addr, addrlen, host, hostlen, serv, servlen, flags),
        |(a, al, h, hl, s, sl, f)| {
            // SAFETY: as in `getaddrinfo`.
            unsafe { real::getnameinfo(a, al, h, hl, s, sl, f) }
        },
    )
}
