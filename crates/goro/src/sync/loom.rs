//! The synchronization primitives `goro::sync` is built from, from one place (STYLE.md
//! §7), so a loom build can swap them for loom's models. Today they are std's.
//!
//! This lives under `sync/` because the crate has no `crate::loom` yet; when one
//! appears, these re-exports move there.

pub(crate) use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
pub(crate) use std::sync::{Mutex, MutexGuard};
