//! The synchronization primitives goro is built from, from one place (STYLE.md §7).
//!
//! The channel waiter's claim protocol (chan/waiter.rs) and the channel lock
//! (chan/spin.rs) use the top-level items, which
//! are loom's models under `--cfg loom` (see src/tests/loom_waiter.rs) and std's
//! otherwise. `goro::sync` uses [`unmodelled`]: std's always, because its primitives have
//! `const` constructors, which loom's types lack; it has no loom models yet.

#[cfg(loom)]
pub(crate) use loom::cell::UnsafeCell;
#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// std's `UnsafeCell` with loom's access API, so that loom can check every access to
/// the cell's contents for data races.
#[cfg(not(loom))]
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(loom))]
impl<T> UnsafeCell<T> {
    pub(crate) const fn new(value: T) -> UnsafeCell<T> {
        UnsafeCell(std::cell::UnsafeCell::new(value))
    }

    /// Runs `f` with a pointer to the contents, for writing (or reading).
    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

/// std's primitives in every build.
pub(crate) mod unmodelled {
    pub(crate) use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
    pub(crate) use std::sync::{Mutex, MutexGuard};
}
