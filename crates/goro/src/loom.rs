//! The synchronization primitives goro is built from, from one place (STYLE.md §7).
//!
//! The channel waiter's claim protocol (chan/waiter.rs) uses the top-level items, which
//! are loom's models under `--cfg loom` (see src/tests/loom_waiter.rs) and std's
//! otherwise. `goro::sync` uses [`unmodelled`]: std's always, because its primitives have
//! `const` constructors, which loom's types lack; it has no loom models yet.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicUsize, Ordering};
#[cfg(loom)]
pub(crate) use loom::sync::{Mutex, MutexGuard};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicUsize, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::{Mutex, MutexGuard};

/// std's primitives in every build.
pub(crate) mod unmodelled {
    pub(crate) use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
    pub(crate) use std::sync::{Mutex, MutexGuard};
}
