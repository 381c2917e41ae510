//! Regression guard: what goro's `hook` feature costs a libc call that does not block.
//!
//! The call is a `read` of an empty non-blocking pipe (`EAGAIN` at once), in a loop:
//! - `plain_thread/hooked`: `libc::read`, which binds to goro's hook; on a plain thread
//!   the hook asks "am I in a coroutine?" (one thread-local read) and calls libc's.
//! - `plain_thread/libc`: libc's own `read`, called through the pointer `dlsym` gives
//!   (no hook in between): the baseline.
//! - `coroutine/hooked` and `coroutine/libc`: the same from inside a coroutine, where
//!   the hook asks the descriptor's kind (`fstat`: a pipe), reads with `RWF_NOWAIT`
//!   (`preadv2`, `EAGAIN`), then asks whether the user made it non-blocking (`fcntl`):
//!   three system calls where libc makes one. A pipe read that finds data costs two.
//!
//! Setup (the pipe, the runtime, the coroutine) is outside the timed loops.
//!
//! Run with `cargo bench -p goro-benches --bench hook_cost`. Timings of a few hundred
//! nanoseconds are noisy on a shared machine; for instruction counts, run the binary
//! under `valgrind --tool=callgrind` with `GORO_HOOK_COST=<hooked|libc> <N>` set (N
//! reads on a plain thread, no criterion) for two values of N, and divide the
//! difference.

use std::ffi::{c_int, c_void};
use std::hint::black_box;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group};

type ReadFn = unsafe extern "C" fn(c_int, *mut c_void, usize) -> isize;

/// libc's `read`, found past this program's own definition (goro's hook).
fn libc_read() -> ReadFn {
    const RTLD_NEXT: *mut c_void = -1isize as *mut c_void;
    // SAFETY: a NUL-terminated name; dlsym has no other precondition.
    let f = unsafe { libc::dlsym(RTLD_NEXT, c"read".as_ptr()) };
    assert!(!f.is_null(), "libc's read");
    // SAFETY: `read`'s C signature is `ssize_t read(int, void *, size_t)`.
    unsafe { std::mem::transmute::<*mut c_void, ReadFn>(f) }
}

/// An empty non-blocking pipe: every read says EAGAIN at once.
fn empty_pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) };
    assert_eq!(r, 0, "pipe2");
    // SAFETY: pipe2 just opened both, and nothing else owns them.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

/// `iters` reads of `fd` through `read`; each must say EAGAIN.
fn reads(read: ReadFn, fd: c_int, iters: u64) -> Duration {
    let mut byte = 0u8;
    let start = Instant::now();
    for _ in 0..iters {
        // SAFETY: a valid one-byte buffer.
        let n = unsafe { read(black_box(fd), (&raw mut byte).cast(), 1) };
        debug_assert_eq!(n, -1);
        black_box(n);
    }
    start.elapsed()
}

fn bench(c: &mut Criterion) {
    let (r, _w) = empty_pipe();
    let fd = r.as_raw_fd();
    let hooked: ReadFn = libc::read;
    let plain = libc_read();
    let mut group = c.benchmark_group("hook_cost");
    group.bench_function("plain_thread/hooked", |b| {
        b.iter_custom(|iters| reads(hooked, fd, iters))
    });
    group.bench_function("plain_thread/libc", |b| {
        b.iter_custom(|iters| reads(plain, fd, iters))
    });
    group.bench_function("coroutine/hooked", |b| {
        b.iter_custom(|iters| goro::go!(move || reads(hooked, fd, iters)).join().unwrap())
    });
    group.bench_function("coroutine/libc", |b| {
        b.iter_custom(|iters| goro::go!(move || reads(plain, fd, iters)).join().unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench);

fn main() {
    if let Ok(spec) = std::env::var("GORO_HOOK_COST") {
        // Instruction counting (see the module docs): N reads, nothing else.
        let (which, n) = spec
            .split_once(' ')
            .expect("GORO_HOOK_COST=<hooked|libc> <N>");
        let read: ReadFn = if which == "hooked" {
            libc::read
        } else {
            libc_read()
        };
        let (r, _w) = empty_pipe();
        let _ = goro::stats(); // the same start-up as a real program
        reads(read, r.as_raw_fd(), n.parse().expect("N"));
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
