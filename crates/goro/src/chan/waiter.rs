//! The record of a blocked channel operation.
//!
//! A coroutine or thread that must wait for a channel creates one `Waiter` and puts an
//! *entry* for it in the channel's queue of waiting senders or receivers. An entry
//! names the waiter, which of the waiter's cases it is (a `select` waits on several
//! channels at once with one waiter), and a heap slot for the message: a parked
//! coroutine's stack is never written by another thread.
//!
//! Completing a waiting operation is a *claim*, made exactly once per waiter:
//! 1. Lock the entry's slot.
//! 2. CAS the waiter's state from `WAITING` to the entry's case number. If that fails,
//!    the waiter was claimed through another entry (or gave up): leave this entry.
//! 3. Move the message (into the slot for a waiting receiver, out of it for a waiting
//!    sender), or leave the slot as it is to say "closed".
//! 4. Unlock, then unpark the waiter.
//!
//! The waiter, once it sees its state changed, locks the slot of the claimed case
//! before reading it, so it never sees a claim before the message. A waiter that
//! times out claims itself (`WAITING` to `ABORTED`); if that CAS fails, someone claimed
//! it first and the operation completed after all.

use std::sync::Arc;

use crate::loom::{AtomicUsize, Mutex, MutexGuard, Ordering};

use goro_sched::Unparker;

/// Not claimed yet.
const WAITING: usize = usize::MAX;
/// Claimed by the waiter itself: it gave up (timeout).
const ABORTED: usize = usize::MAX - 1;

/// One blocked coroutine or thread.
#[derive(Debug)]
pub(crate) struct Waiter {
    state: AtomicUsize,
    unparker: Unparker,
}

impl Waiter {
    pub(crate) fn new() -> Arc<Waiter> {
        Arc::new(Waiter {
            state: AtomicUsize::new(WAITING),
            unparker: goro_sched::current_unparker(),
        })
    }

    /// The claimed case, if any.
    pub(crate) fn claimed(&self) -> Option<usize> {
        // Acquire: pairs with the AcqRel claim in `Slot::claim`.
        match self.state.load(Ordering::Acquire) {
            WAITING | ABORTED => None,
            case => Some(case),
        }
    }

    /// Gives up waiting. Returns `Err(case)` if the waiter was claimed first.
    pub(crate) fn abort(&self) -> Result<(), usize> {
        match self
            .state
            .compare_exchange(WAITING, ABORTED, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => Ok(()),
            Err(case) => Err(case),
        }
    }
}

/// Where a waiting operation's message lives: the value a waiting sender offers, or
/// the value handed to a waiting receiver.
#[derive(Debug)]
pub(crate) struct Slot<T>(Mutex<Option<T>>);

impl<T> Slot<T> {
    pub(crate) fn new(value: Option<T>) -> Arc<Slot<T>> {
        Arc::new(Slot(Mutex::new(value)))
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Option<T>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A waiting operation, as queued in a channel.
#[derive(Debug)]
pub(crate) struct Entry<T> {
    pub(crate) waiter: Arc<Waiter>,
    pub(crate) case: usize,
    pub(crate) slot: Arc<Slot<T>>,
}

impl<T> Entry<T> {
    /// Steps 1-4 of a claim: if the waiter is still waiting, claim it for this entry,
    /// let `f` move the message, and wake it. Returns `Err(f)` if it was already
    /// claimed (a stale entry).
    pub(crate) fn claim<R, F: FnOnce(&mut Option<T>) -> R>(&self, f: F) -> Result<R, F> {
        let mut slot = self.slot.lock();
        // AcqRel: pairs with the Acquire loads in `Waiter::claimed` and `abort`.
        if self
            .waiter
            .state
            .compare_exchange(WAITING, self.case, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Err(f);
        }
        let result = f(&mut slot);
        drop(slot);
        self.waiter.unparker.unpark();
        Ok(result)
    }
}
