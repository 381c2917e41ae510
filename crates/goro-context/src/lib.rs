//! The context-switch core of goro: a coroutine is a corosensei coroutine running on a
//! guarded [goro-stack](goro_stack) slot.
//!
//! This crate is the only one in goro that names corosensei types. It adds what a
//! scheduler needs on top of a bare switch:
//!
//! - **A reason on every suspension** ([`Reason`]): yield (still runnable) or park
//!   (waiting for someone to wake it).
//! - **Suspension from deep code** ([`suspend`]): a channel receive, ten calls down,
//!   suspends the running coroutine through a thread-local pointer to it; on a plain
//!   thread it gets [`NotInCoroutine`] instead.
//! - **Panics as values**: a panic inside a coroutine comes out of
//!   [`Coroutine::resume`] as the payload; the thread that resumed it lives on.
//!   [`exit`] unwinds the coroutine with an [`Exit`] payload and no panic message.
//! - **Unwinding on drop**: dropping a suspended coroutine runs its destructors, then
//!   returns its stack to the pool.
//! - **A home thread**: once started, a coroutine runs only on the thread that started
//!   it, unless migration is explicitly (and `unsafe`ly) allowed. This is what makes the
//!   one `unsafe impl Send` for [`Coroutine`] sound.
//! - **Stack-overflow reports**: a fault on a guard page prints
//!   `coroutine '<name>' (id N) has overflowed its stack of X KiB` and aborts.
//!
//! # Examples
//!
//! ```
//! use goro_context::{Coroutine, Reason, Resumed};
//!
//! let mut co = Coroutine::new(|| {
//!     let mut total = 0;
//!     for i in 1..=3 {
//!         total += i;
//!         goro_context::suspend(Reason::Yield).unwrap();
//!     }
//!     total
//! })?;
//! let mut switches = 0;
//! let total = loop {
//!     match co.resume().unwrap() {
//!         Resumed::Suspended(_) => switches += 1,
//!         Resumed::Finished(result) => break result.unwrap(),
//!     }
//! };
//! assert_eq!((switches, total), (3, 6));
//! # Ok::<(), goro_context::StackError>(())
//! ```

mod coroutine;
mod current;
mod signal;

use std::fmt;

pub use coroutine::{Builder, Coroutine, Exit, Reason, ResumeError, Resumed, exit};
pub use current::{Current, current, current_id, in_coroutine, suspend};
pub use goro_stack::{DEFAULT_STACK_SIZE, StackError};

/// Returned by [`suspend`] on a plain thread, where there is no coroutine to suspend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotInCoroutine;

impl fmt::Display for NotInCoroutine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not running inside a coroutine")
    }
}

impl std::error::Error for NotInCoroutine {}
