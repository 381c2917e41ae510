//! The synchronization primitives goro-sched uses, from one place (STYLE.md §7), so a
//! loom build can swap them for loom's models. Today they are std's.

pub(crate) use std::sync::atomic::{
    AtomicBool, AtomicI32, AtomicPtr, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering, fence,
};
pub(crate) use std::sync::{Condvar, Mutex, MutexGuard};
