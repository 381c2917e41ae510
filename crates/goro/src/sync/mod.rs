//! Coroutine-aware synchronization: [`Mutex`], [`RwLock`], [`Condvar`], [`WaitGroup`],
//! [`Semaphore`], [`Barrier`], [`Once`] and [`OnceLock`].
//!
//! They look like `std::sync`'s (and Go's `sync`), but a coroutine that must wait
//! *parks*: its worker thread runs other coroutines meanwhile. A plain thread that
//! must wait blocks, as with std. Coroutines and threads may share any of them: a
//! thread and a coroutine can contend for one `Mutex`.
//!
//! Use these, not `std::sync`'s, for anything held or awaited across a blocking goro
//! call. A std `Mutex` held by a coroutine that then sleeps blocks every other
//! coroutine that tries to lock it *and their worker threads*; with one worker that is
//! a deadlock. A `goro::sync::Mutex` only parks them.
//!
//! # Examples
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use goro::sync::{Mutex, WaitGroup};
//!
//! let log = Arc::new(Mutex::new(Vec::new()));
//! let wg = WaitGroup::new();
//! for i in 0..10 {
//!     wg.add(1);
//!     let (log, wg) = (log.clone(), wg.clone());
//!     goro::go!(move || {
//!         let mut log = log.lock();
//!         goro::sleep(Duration::from_millis(1)); // others park meanwhile
//!         log.push(i);
//!         wg.done();
//!     });
//! }
//! wg.wait();
//! assert_eq!(log.lock().len(), 10);
//! ```
//!
//! # Fairness
//!
//! All of them serve waiters in arrival order, except that a released [`Mutex`] may
//! first be taken by a newcomer (for throughput), as in Go; a `Mutex` waiter that has
//! waited more than about a millisecond is handed the lock directly.

mod barrier;
mod condvar;
mod mutex;
mod once;
mod rwlock;
mod semaphore;
mod waitgroup;
mod waitq;

pub use barrier::{Barrier, BarrierWaitResult};
pub use condvar::{Condvar, WaitTimeoutResult};
pub use mutex::{Mutex, MutexGuard};
pub use once::{Once, OnceLock};
pub use rwlock::{RwLock, RwLockReadGuard, RwLockWriteGuard};
pub use semaphore::{Semaphore, SemaphorePermit};
pub use waitgroup::WaitGroup;
