//! Stack overflow reporting: a SIGSEGV/SIGBUS handler, running on the alternate
//! signal stack, that recognises a fault on a coroutine's guard page.
//!
//! 1. Once per process, the first time any thread runs a coroutine, the handler is
//!    installed for SIGSEGV and SIGBUS (`SA_ONSTACK | SA_SIGINFO`); the handlers that
//!    were there before (usually Rust's own thread-overflow handler) are kept.
//! 2. Once per thread, before its first coroutine runs, the thread gets an alternate
//!    signal stack unless it has one already (Rust gives one to `main` and to threads it
//!    spawns). The overflowing stack cannot run the handler: its guard page is the
//!    problem.
//! 3. On a fault, the handler asks goro-stack whether the address is on a guard page.
//!    If so it writes `coroutine '<name>' (id N) has overflowed its stack of X KiB` to
//!    stderr and aborts, like Rust does for threads. Otherwise it hands the fault to the
//!    previous handler, or restores the default action and returns, so the faulting
//!    instruction runs again and the process dies the ordinary way.
//!
//! Everything the handler does is async-signal-safe: atomic loads of a static table,
//! a thread-local read, formatting into a stack buffer (flushed with the raw `write`
//! system call whenever it fills, so a long name is written in pieces) and `abort(3)`.

use std::cell::RefCell;
use std::ffi::{c_int, c_void};
use std::mem::MaybeUninit;
use std::ptr;
use std::sync::{Once, OnceLock};

use goro_stack::{GuardHit, Stack};

use crate::current;

struct PrevAction(libc::sigaction);

// SAFETY: a sigaction is plain data (a handler address, a mask, flags); it is written
// once before it can be read and never mutated afterwards.
unsafe impl Sync for PrevAction {}
// SAFETY: as above.
unsafe impl Send for PrevAction {}

static PREV_SEGV: OnceLock<PrevAction> = OnceLock::new();
static PREV_BUS: OnceLock<PrevAction> = OnceLock::new();

/// Sets up overflow reporting for the calling thread (and, the first time, for the
/// process). Called from the thread's first coroutine resume.
pub(crate) fn init_thread() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        install(libc::SIGSEGV, &PREV_SEGV);
        install(libc::SIGBUS, &PREV_BUS);
    });
    ensure_altstack();
}

fn install(signal: c_int, prev: &OnceLock<PrevAction>) {
    // SAFETY: an all-zero sigaction is a valid value (SIG_DFL, empty mask, no flags).
    let mut action: libc::sigaction = unsafe { MaybeUninit::zeroed().assume_init() };
    action.sa_sigaction = handler as *const () as usize;
    action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
    // SAFETY: sa_mask is a valid sigset_t to initialise.
    unsafe { libc::sigemptyset(&mut action.sa_mask) };
    // SAFETY: as above, zeroed is valid; the kernel overwrites it.
    let mut old: libc::sigaction = unsafe { MaybeUninit::zeroed().assume_init() };
    // SAFETY: both pointers are valid for the call; our handler is async-signal-safe.
    if unsafe { libc::sigaction(signal, &action, &mut old) } == 0 {
        let _ = prev.set(PrevAction(old));
    }
}

/// The alternate signal stack goro gave this thread, if it had none.
struct AltStack {
    /// Kept only to own the memory; returned to the pool after the drop above.
    _memory: Stack,
}

impl Drop for AltStack {
    fn drop(&mut self) {
        let disable = libc::stack_t {
            ss_sp: ptr::null_mut(),
            ss_flags: libc::SS_DISABLE,
            ss_size: 0,
        };
        // SAFETY: turning the alternate stack off before its memory goes back to the
        // pool; we are not running on it (only the signal handler does, and it aborts
        // or returns before this thread can exit).
        unsafe { libc::sigaltstack(&disable, ptr::null_mut()) };
    }
}

thread_local! {
    static ALTSTACK: RefCell<Option<AltStack>> = const { RefCell::new(None) };
}

fn ensure_altstack() {
    // SAFETY: zeroed is a valid stack_t; the kernel fills it.
    let mut old: libc::stack_t = unsafe { MaybeUninit::zeroed().assume_init() };
    // SAFETY: a null new stack only queries the current one.
    let rc = unsafe { libc::sigaltstack(ptr::null(), &mut old) };
    if rc != 0 || old.ss_flags & libc::SS_DISABLE == 0 {
        return; // this thread already has one
    }
    // Best effort: without it an overflow still kills the process, just without the
    // coroutine's name.
    let Ok(stack) = Stack::new(goro_stack::DEFAULT_STACK_SIZE) else {
        return;
    };
    let new = libc::stack_t {
        ss_sp: stack.bottom().as_ptr().cast(),
        ss_flags: 0,
        ss_size: stack.size(),
    };
    // SAFETY: the memory is a guarded stack owned by this thread's ALTSTACK until the
    // thread exits, when AltStack's drop turns the alternate stack off first.
    if unsafe { libc::sigaltstack(&new, ptr::null_mut()) } == 0 {
        let altstack = AltStack { _memory: stack };
        // If this thread's thread-locals are already being destroyed, the slot is gone:
        // dropping `altstack` here turns the alternate stack off again before its
        // memory goes back to the pool.
        let _ = ALTSTACK.try_with(|slot| *slot.borrow_mut() = Some(altstack));
    }
}

extern "C" fn handler(signal: c_int, info: *mut libc::siginfo_t, context: *mut c_void) {
    // SAFETY: with SA_SIGINFO the kernel passes a valid siginfo_t; for SIGSEGV and
    // SIGBUS its si_addr is the faulting address.
    let addr = unsafe { (*info).si_addr() } as usize;
    if let Some(hit) = goro_stack::guard_hit(addr) {
        report_overflow(hit, addr);
    }
    let prev = if signal == libc::SIGSEGV {
        PREV_SEGV.get()
    } else {
        PREV_BUS.get()
    };
    match prev.map(|p| &p.0) {
        Some(p) if p.sa_sigaction != libc::SIG_DFL && p.sa_sigaction != libc::SIG_IGN => {
            if p.sa_flags & libc::SA_SIGINFO != 0 {
                // SAFETY: with SA_SIGINFO set, the previous handler was installed with
                // this three-argument signature; we pass on exactly what we received.
                let f: extern "C" fn(c_int, *mut libc::siginfo_t, *mut c_void) =
                    unsafe { std::mem::transmute(p.sa_sigaction) };
                f(signal, info, context);
            } else {
                // SAFETY: without SA_SIGINFO the handler takes just the signal number.
                let f: extern "C" fn(c_int) = unsafe { std::mem::transmute(p.sa_sigaction) };
                f(signal);
            }
        }
        _ => {
            // Restore the default action and return: the instruction faults again and
            // the process dies as it would have without goro.
            // SAFETY: zeroed is SIG_DFL with an empty mask, a valid action.
            let default: libc::sigaction = unsafe { MaybeUninit::zeroed().assume_init() };
            // SAFETY: valid pointer; sigaction is async-signal-safe.
            unsafe { libc::sigaction(signal, &default, ptr::null_mut()) };
        }
    }
}

fn report_overflow(hit: GuardHit, addr: usize) -> ! {
    let mut msg = Message::new();
    // SAFETY: the handler runs on the faulting thread. If a coroutine is running there,
    // CURRENT points at its Info inside the Coroutine that `resume` holds in place.
    match unsafe { current::current_ptr().as_ref() } {
        Some(info) if info.stack_top == hit.stack_top => {
            msg.push("coroutine '");
            msg.push(info.name.as_deref().unwrap_or("<unnamed>"));
            msg.push("' (id ");
            msg.num(info.id as usize, 10);
            msg.push(") has overflowed its stack of ");
        }
        _ => {
            msg.push("memory access at 0x");
            msg.num(addr, 16);
            msg.push(" hit the guard page of a coroutine stack of ");
        }
    }
    msg.num(hit.stack_size / 1024, 10);
    msg.push(" KiB\nfatal runtime error: stack overflow, aborting\n");
    msg.flush();
    // SAFETY: abort is async-signal-safe and never returns.
    unsafe { libc::abort() }
}

/// The report, written to stderr through a fixed buffer without allocating: a piece
/// that does not fit flushes what is buffered with `write(2)` first, so a name of any
/// length comes out whole (in several writes when it is longer than the buffer).
struct Message {
    buf: [u8; 512],
    len: usize,
}

impl Message {
    fn new() -> Message {
        Message {
            buf: [0; 512],
            len: 0,
        }
    }

    fn push(&mut self, s: &str) {
        let mut rest = s.as_bytes();
        while !rest.is_empty() {
            if self.len == self.buf.len() {
                self.flush();
            }
            let n = rest.len().min(self.buf.len() - self.len);
            self.buf[self.len..self.len + n].copy_from_slice(&rest[..n]);
            self.len += n;
            rest = &rest[n..];
        }
    }

    fn num(&mut self, mut n: usize, radix: usize) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b"0123456789abcdef"[n % radix];
            n /= radix;
            if n == 0 {
                break;
            }
        }
        let s = std::str::from_utf8(&digits[i..]).unwrap_or("?");
        self.push(s);
    }

    /// Writes out and empties the buffer. A failed write drops the rest of this piece:
    /// there is nowhere else to report it, and the process is about to abort.
    fn flush(&mut self) {
        let mut done = 0;
        while done < self.len {
            // A raw system call, not libc's `write`: the program may define `write`
            // itself (goro's `hook` feature does, and parks a coroutine on EAGAIN), and
            // a signal handler must neither park nor take locks.
            // SAFETY: writing initialised bytes of our own buffer to fd 2; `write(2)`
            // takes (int, const void *, size_t), which these arguments are.
            let n = unsafe {
                libc::syscall(
                    libc::SYS_write,
                    2 as libc::c_long,
                    self.buf[done..self.len].as_ptr(),
                    self.len - done,
                )
            };
            if n <= 0 {
                break;
            }
            done += n as usize;
        }
        self.len = 0;
    }
}
