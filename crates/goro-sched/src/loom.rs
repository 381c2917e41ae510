//! The synchronization primitives goro-sched uses, from one place (STYLE.md §7).
//!
//! The top-level items are std's in every build: most of the scheduler (statics, the
//! worker loop, the poller) cannot run under loom. [`modelled`] holds the primitives of
//! the protocols that the loom models check (src/tests/loom_*.rs, run with
//! `RUSTFLAGS="--cfg loom" cargo test -p goro-sched --lib`): a task's park/unpark state
//! machine (task.rs) and the timer heap's cancel/fire accounting (timer.rs). They are
//! loom's under `--cfg loom` and std's otherwise.

pub(crate) use std::sync::atomic::{
    AtomicBool, AtomicI32, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering, fence,
};
pub(crate) use std::sync::{Condvar, Mutex, MutexGuard};

/// loom's models under `--cfg loom`, std's otherwise.
pub(crate) mod modelled {
    #[cfg(loom)]
    pub(crate) use loom::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize};
    #[cfg(loom)]
    pub(crate) use loom::sync::{Mutex, MutexGuard};
    #[cfg(not(loom))]
    pub(crate) use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize};
    #[cfg(not(loom))]
    pub(crate) use std::sync::{Mutex, MutexGuard};
}
