//! Blocking libc calls park the coroutine, not its worker (feature `hook`, on by default).
//!
//! In the default mode a started coroutine never leaves its worker's thread, so a
//! coroutine that blocks the *thread* (in `std::net`, `std::thread::sleep`, a sync client
//! library) holds back every coroutine homed there. goro therefore defines libc's
//! blocking entry points itself. The program's own definition of a symbol wins over
//! libc.so's: Rust's std (linked into the program) binds to these at link time, and
//! shared libraries loaded with the program bind to them at load time. The real function
//! is reached with `dlsym(RTLD_NEXT, name)`, resolved once per symbol (`real!` below).
//!
//! Every hook starts with one question, "am I in a coroutine?" (a thread-local read,
//! [`goro_sched::in_coroutine`]). On a plain thread, on a worker between coroutines
//! (goro's poller, timers, monitor) and on the blocking pool, the answer is no and the
//! call goes straight to libc. Inside a coroutine:
//!
//! | calls | module | what happens |
//! |---|---|---|
//! | `read` `write` `readv` `writev` `recv` `recvfrom` `recvmsg` `send` `sendto` `sendmsg` | io.rs | tried without blocking; on `EAGAIN` the coroutine parks on the poller and retries |
//! | `accept` `accept4` `connect` | io.rs | readiness wait on the poller, then the call |
//! | `poll` `ppoll` `select` | io.rs | one descriptor: the poller; several: the blocking pool |
//! | `nanosleep` `clock_nanosleep` `usleep` `sleep` | sleep.rs | goro's timer |
//! | `getaddrinfo` `getnameinfo` | dns.rs | the blocking pool |
//! | `__read_chk` `__recv_chk` `__recvfrom_chk` `__poll_chk` `__ppoll_chk` (C built with `_FORTIFY_SOURCE`) | fortify.rs | glibc's size check, then the hook above |
//!
//! # The user's blocking flag
//!
//! goro never changes `O_NONBLOCK` for the user's I/O: the flag belongs to the open file,
//! which other threads and processes may share (inherited stdio, pipes, terminals), and
//! a terminal left non-blocking breaks the shell. Instead each attempt asks for
//! non-blocking behaviour *per call*: `MSG_DONTWAIT` on sockets, `RWF_NOWAIT`
//! (`preadv2`/`pwritev2`) on pipes and character devices, and where the kernel has
//! neither (a terminal), a readiness wait before the ordinary call. So `fcntl(F_GETFL)`
//! and `ioctl(FIONBIO)` need no hooks: the kernel's flag *is* what the user set. A
//! descriptor the user made non-blocking keeps its meaning: the hooks see `O_NONBLOCK`
//! and return `EAGAIN` as libc would. The one exception is a blocking `connect`, which
//! has no per-call form: see io.rs. (Not hooking `fcntl`, `ioctl` and `open` also spares
//! goro from defining C-variadic functions, which stable Rust cannot; declaring them with
//! a fixed third argument happens to match the x86_64 SysV ABI for integer and pointer
//! arguments, but no more than that.)
//!
//! goro's own sockets (`goro::net`) are non-blocking and wait on the poller themselves:
//! their system calls step around the hooks ([`own_io`]).
//!
//! goro keeps no table of descriptor numbers either (a number can be closed and reused
//! behind its back): each wait registers a duplicate of the descriptor for its length
//! (`goro_sched::io::wait_fd`), so `close` and `dup*` need no hooks to keep goro right.
//!
//! Timeouts set with `SO_RCVTIMEO`/`SO_SNDTIMEO` are read when a call first has to wait,
//! and end the wait with `EAGAIN` (or a short count), as the kernel's would. `errno` is
//! left as the caller would find it after libc's call: the call's error, or untouched on
//! success. A parked coroutine is not interrupted by signals, so these hooks never return
//! `EINTR` where they parked (Go's goroutines behave the same).
//!
//! The hooks are `extern "C"`, not `"C-unwind"`: their callers (std's `libc`
//! declarations, C libraries) assume libc's functions never unwind, so a panic that
//! escaped a hook would skip their cleanup. None is expected (the hooks' own code
//! cannot panic, and goro never unwinds a parked coroutine), and were one to happen,
//! Rust aborts the process at the hook's boundary.
//!
//! What is beyond reach is listed in docs/CAVEATS.md: raw system calls (std's
//! `Mutex`/`Condvar` futexes, rustix's linux_raw backend), `epoll_wait` and `pselect`,
//! regular files, CPU-bound code.

mod dns;
mod fd;
mod fortify;
mod io;
mod sleep;

use std::cell::Cell;
use std::ffi::{CStr, c_int, c_void};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Whether the hooks act: the caller is a coroutine of goro's scheduler, not inside
/// goro's own I/O ([`own_io`]), and not in a forked child ([`FORKED`]).
#[inline]
fn active() -> bool {
    goro_sched::in_coroutine() && !OWN_IO.with(Cell::get) && !FORKED.load(Ordering::Relaxed)
}

/// Set in the child of a `fork`. The child's one thread is a copy of the forking one:
/// if that was a coroutine, the copy still says so, but the child has no scheduler
/// (its workers, poller and timers stayed in the parent). A hook that parked there
/// would switch to the copied worker loop and run copies of the parent's coroutines,
/// or wait forever. So in a forked child every hook is libc's call, as POSIX expects
/// of a child that runs code between `fork` and `exec` (std's `pre_exec`).
static FORKED: AtomicBool = AtomicBool::new(false);

/// Registers [`forked`] as a `fork` child handler when the program starts: before
/// `main`, so before any thread or coroutine exists to fork.
#[used]
#[unsafe(link_section = ".init_array")]
static REGISTER_AT_START: extern "C" fn() = register_fork_handler;

extern "C" fn register_fork_handler() {
    // SAFETY: pthread_atfork takes three optional handlers and keeps them for the
    // process's life; `forked` is a plain function that stores one atomic, which is
    // async-signal-safe as a child handler must be. A failure (ENOMEM) leaves the
    // hooks as they were without it.
    unsafe { libc::pthread_atfork(None, None, Some(forked)) };
}

extern "C" fn forked() {
    FORKED.store(true, Ordering::Relaxed);
}

thread_local! {
    /// Set while goro's own socket operations (`goro::net`) make their system calls.
    static OWN_IO: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f`, one non-blocking attempt of goro's own I/O (a `goro::net` read, write,
/// accept or connect on a descriptor goro keeps in non-blocking mode), with the hooks
/// out of the way: goro waits on its poller itself, so a hook's extra question
/// (`fcntl`: did the user ask for non-blocking?) would be one wasted system call per
/// `EAGAIN`.
///
/// `f` must not park: the flag is per thread, and a coroutine that moved to another
/// thread would clear the wrong one.
pub(crate) fn own_io<R>(f: impl FnOnce() -> R) -> R {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            OWN_IO.with(|o| o.set(false));
        }
    }
    OWN_IO.with(|o| o.set(true));
    let _reset = Reset; // also on unwinding
    f()
}

/// The calling thread's `errno`.
fn errno() -> c_int {
    // SAFETY: `__errno_location` returns the calling thread's errno, valid for the
    // thread's life. It is called again after every park (never cached across one), so
    // a migrating coroutine reads its current thread's.
    unsafe { *libc::__errno_location() }
}

fn set_errno(e: c_int) {
    // SAFETY: as in `errno`.
    unsafe { *libc::__errno_location() = e };
}

/// glibc's `RTLD_NEXT` (`((void *) -1l)`); the libc crate does not define it for Linux.
const RTLD_NEXT: *mut c_void = -1isize as *mut c_void;

/// The address of libc's `name` (the next definition after the program's own),
/// looked up once and kept in `slot`.
#[cold]
fn resolve(slot: &AtomicUsize, name: &CStr) -> usize {
    // SAFETY: `name` is a NUL-terminated C string; dlsym has no other precondition.
    let found = unsafe { libc::dlsym(RTLD_NEXT, name.as_ptr()) } as usize;
    if found == 0 {
        // Nothing else can stand in for the libc function; say which one and stop.
        let msg = b"goro: hook: libc's definition of a hooked function was not found\n";
        // SAFETY: a valid buffer of `msg.len()` bytes; fd 2 may be closed (harmless).
        unsafe { libc::syscall(libc::SYS_write, 2, msg.as_ptr(), msg.len()) };
        std::process::abort();
    }
    // Relaxed: every thread that races here stores the same value.
    slot.store(found, Ordering::Relaxed);
    found
}

/// Declares `real::name`, which calls libc's `name` (not goro's hook) through a
/// pointer looked up with `dlsym` on first use.
macro_rules! real {
    ($(fn $name:ident($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty;)*) => {
        /// libc's own definitions of the hooked functions.
        pub(super) mod real {
            #[allow(unused_imports)]
            use std::ffi::{c_char, c_int, c_uint, c_void};
            use std::sync::atomic::{AtomicUsize, Ordering};
            $(
                /// libc's function of the same name.
                ///
                /// # Safety
                ///
                /// As libc's: the caller passes what its manual page asks for.
                #[inline]
                pub(crate) unsafe fn $name($($arg: $ty),*) -> $ret {
                    static SLOT: AtomicUsize = AtomicUsize::new(0);
                    let mut f = SLOT.load(Ordering::Relaxed);
                    if f == 0 {
                        f = super::resolve(&SLOT, {
                            // SAFETY: the literal ends in the NUL we add.
                            unsafe {
                                std::ffi::CStr::from_bytes_with_nul_unchecked(
                                    concat!(stringify!($name), "\0").as_bytes(),
                                )
                            }
                        });
                    }
                    let f: unsafe extern "C" fn($($ty),*) -> $ret =
                        // SAFETY: `f` is libc's definition of this very symbol, whose C
                        // signature the declaration here copies from its manual page.
                        unsafe { std::mem::transmute::<usize, _>(f) };
                    // SAFETY: the caller's obligations are libc's (see `# Safety`).
                    unsafe { f($($arg),*) }
                }
            )*
        }
    };
}

real! {
    fn read(fd: c_int, buf: *mut c_void, len: usize) -> isize;
    fn write(fd: c_int, buf: *const c_void, len: usize) -> isize;
    fn readv(fd: c_int, iov: *const libc::iovec, cnt: c_int) -> isize;
    fn writev(fd: c_int, iov: *const libc::iovec, cnt: c_int) -> isize;
    fn recv(fd: c_int, buf: *mut c_void, len: usize, flags: c_int) -> isize;
    fn recvfrom(
        fd: c_int,
        buf: *mut c_void,
        len: usize,
        flags: c_int,
        addr: *mut libc::sockaddr,
        addrlen: *mut libc::socklen_t,
    ) -> isize;
    fn recvmsg(fd: c_int, msg: *mut libc::msghdr, flags: c_int) -> isize;
    fn send(fd: c_int, buf: *const c_void, len: usize, flags: c_int) -> isize;
    fn sendto(
        fd: c_int,
        buf: *const c_void,
        len: usize,
        flags: c_int,
        addr: *const libc::sockaddr,
        addrlen: libc::socklen_t,
    ) -> isize;
    fn sendmsg(fd: c_int, msg: *const libc::msghdr, flags: c_int) -> isize;
    fn accept(fd: c_int, addr: *mut libc::sockaddr, addrlen: *mut libc::socklen_t) -> c_int;
    fn accept4(
        fd: c_int,
        addr: *mut libc::sockaddr,
        addrlen: *mut libc::socklen_t,
        flags: c_int,
    ) -> c_int;
    fn connect(fd: c_int, addr: *const libc::sockaddr, addrlen: libc::socklen_t) -> c_int;
    fn poll(fds: *mut libc::pollfd, nfds: libc::nfds_t, timeout: c_int) -> c_int;
    fn ppoll(
        fds: *mut libc::pollfd,
        nfds: libc::nfds_t,
        timeout: *const libc::timespec,
        sigmask: *const libc::sigset_t,
    ) -> c_int;
    fn select(
        nfds: c_int,
        readfds: *mut libc::fd_set,
        writefds: *mut libc::fd_set,
        exceptfds: *mut libc::fd_set,
        timeout: *mut libc::timeval,
    ) -> c_int;
    fn nanosleep(req: *const libc::timespec, rem: *mut libc::timespec) -> c_int;
    fn clock_nanosleep(
        clock: libc::clockid_t,
        flags: c_int,
        req: *const libc::timespec,
        rem: *mut libc::timespec,
    ) -> c_int;
    fn usleep(usec: libc::useconds_t) -> c_int;
    fn sleep(secs: c_uint) -> c_uint;
    fn getaddrinfo(
        node: *const c_char,
        service: *const c_char,
        hints: *const libc::addrinfo,
        res: *mut *mut libc::addrinfo,
    ) -> c_int;
    fn getnameinfo(
        addr: *const libc::sockaddr,
        addrlen: libc::socklen_t,
        host: *mut c_char,
        hostlen: libc::socklen_t,
        serv: *mut c_char,
        servlen: libc::socklen_t,
        flags: c_int,
    ) -> c_int;
}

/// Moves raw pointers into a job for the blocking pool.
///
/// `goro::blocking` does not return before its job has finished, so pointers into the
/// parked caller's memory (its buffers, its stack) stay valid for the whole job; the
/// job's thread is the only one touching them meanwhile.
struct AssertSend<T>(T);

// SAFETY: see the type's docs: the pointees belong to a caller that waits, parked,
// until the job that receives them has finished, so no two threads use them at once.
unsafe impl<T> Send for AssertSend<T> {}

impl<T> AssertSend<T> {
    /// Taken whole inside the closure, so the closure captures the `Send` wrapper and
    /// not its (non-`Send`) fields.
    fn into_inner(self) -> T {
        self.0
    }
}

/// Runs a libc call on the blocking pool while the coroutine parks, and brings its
/// `errno` back to the calling thread. The pool thread starts the call with the
/// caller's `errno`, so a call that succeeds leaves it as the caller had it.
fn offload<T: Copy, R: Send>(args: T, call: fn(T) -> R) -> R {
    let args = AssertSend(args);
    let saved = errno();
    let (result, e) = goro_sched::blocking(move || {
        let args = args.into_inner();
        set_errno(saved);
        let result = call(args);
        (result, errno())
    });
    set_errno(e);
    result
}
