//! The record of a blocked channel operation.
//!
//! A coroutine or thread that must wait for a channel puts a [`Waiter`] and a message
//! [`Slot`] in its own stack frame and queues an [`Entry`] pointing at both in the
//! channel's queue of waiting senders or receivers. Nothing is allocated per blocked
//! operation: this is Go's `sudog`, kept where Go keeps the value it points at (the
//! waiting goroutine's stack), and it is what makes a handoff one lock, one unpark and
//! at most one CAS (a select's; a single operation's claim needs none, see step 1). A
//! `select` uses one waiter for all its cases and one entry per case.
//!
//! Completing a waiting operation is a *claim*, made exactly once per waiter, by a
//! counterpart that holds the lock of the channel whose queue held the entry:
//! 1. CAS the waiter's state from `WAITING` to `BUSY`. If that fails, the waiter was
//!    claimed through another entry (a select) or gave up: drop the stale entry.
//!    A *single* operation's waiter (not a select) has one entry, so every claim on
//!    it holds the same lock, and it gives up only under that lock too
//!    ([`Waiter::abort_locked`]): a plain load and store replace the CAS there.
//! 2. Move the message (into the slot of a waiting receiver, out of the slot of a
//!    waiting sender), or leave the slot as it is to say "closed".
//! 3. Take the waiter's unparker, then store the entry's case number as the state
//!    (Release). From this store on the waiter may return and its frame vanish: the
//!    claimer touches the record no more.
//! 4. Release the lock, then unpark the waiter with the unparker it took.
//!
//! The waiter parks until its state holds a case number; its Acquire load of that
//! number makes the message visible. A waiter that times out claims itself (`WAITING`
//! to `ABORTED`); if that CAS fails, someone claimed it first and the operation
//! completes after all (the waiter parks on until step 3; the unpark of step 4 comes).
//!
//! A *reservation* ([`Entry::reserve`]) is a claim split in two: step 1 under the lock,
//! steps 2-4 later, by the holder of the [`Reserved`] (a `SelectedOperation` whose send
//! value comes after the selection). Meanwhile the waiter stays `BUSY`: it cannot give
//! up, and its other entries (a select's) are dropped as stale. The holder either
//! completes the claim with the message, or gives it up with [`RETRY`], which wakes
//! the waiter to start its operation over (it moved nothing, and lost nothing).
//!
//! The records live in the waiter's frame, so the frame must not end while an entry
//! points at them. Who guarantees that: an entry is only ever read under its channel's
//! lock, and is in a queue until either a claimer pops it (under the lock) or the
//! waiter removes it (under the lock) — the waiter removes every entry that may still
//! be queued before its frame ends ([`Registered`] does it, also when unwinding).

use std::fmt;
use std::marker::PhantomPinned;

use crate::loom::{AtomicUsize, Ordering, UnsafeCell};

use goro_sched::Unparker;

/// Not claimed yet.
const WAITING: usize = usize::MAX;
/// Claimed by the waiter itself: it gave up (timeout).
const ABORTED: usize = usize::MAX - 1;
/// A claimer is moving the message, or holds the waiter reserved (see
/// [`Entry::reserve`]).
const BUSY: usize = usize::MAX - 2;
/// The claim that reserved the waiter was given up: the waiter moved no message and
/// starts its operation over. [`Waiter::claimed`] reports it as this case number.
pub(crate) const RETRY: usize = usize::MAX - 3;

/// One blocked coroutine or thread. Lives in its own stack frame (see the module doc).
#[derive(Debug)]
pub(crate) struct Waiter {
    state: AtomicUsize,
    /// A select's waiter (several entries, under several locks): claims need a CAS.
    select: bool,
    /// Taken by the claimer in step 3: the claimer owns it from `BUSY` on.
    unparker: UnsafeCell<Option<Unparker>>,
    /// Entries point here: it must not move while registered.
    _pinned: PhantomPinned,
}

impl Waiter {
    /// The waiter of a single operation: one entry, in one channel.
    pub(crate) fn single() -> Waiter {
        Waiter::new(false)
    }

    /// The waiter of a select: an entry per case.
    pub(crate) fn select() -> Waiter {
        Waiter::new(true)
    }

    fn new(select: bool) -> Waiter {
        Waiter {
            state: AtomicUsize::new(WAITING),
            select,
            unparker: UnsafeCell::new(Some(goro_sched::current_unparker())),
            _pinned: PhantomPinned,
        }
    }

    /// The claimed case, once the claim is complete (its message moved).
    pub(crate) fn claimed(&self) -> Option<usize> {
        // Acquire: pairs with the Release store of step 3 in `Entry::claim`.
        match self.state.load(Ordering::Acquire) {
            WAITING | ABORTED | BUSY => None,
            // (`RETRY` comes out as a case number: the caller starts over.)
            case => Some(case),
        }
    }

    /// Whether nobody has claimed the waiter and it has not given up.
    pub(crate) fn is_waiting(&self) -> bool {
        self.state.load(Ordering::Acquire) == WAITING
    }

    /// Gives up waiting, for a single operation's waiter. The caller holds the lock of
    /// the channel its entry was queued in. Returns `false` if it was claimed first
    /// (the claim is then complete, as claims finish under the same lock; except a
    /// reservation's, which completes or retries later: the caller waits for it).
    pub(crate) fn abort_locked(&self) -> bool {
        debug_assert!(!self.select);
        // No claim can run concurrently (we hold its lock): load and store suffice.
        if self.state.load(Ordering::Acquire) != WAITING {
            return false;
        }
        self.state.store(ABORTED, Ordering::Relaxed);
        true
    }

    /// Gives up waiting, for a select's waiter. Returns `false` if it was claimed
    /// first: the claim then completes, and [`claimed`](Waiter::claimed) will say which
    /// case.
    pub(crate) fn abort(&self) -> bool {
        debug_assert!(self.select);
        // Acquire on failure: pairs with the claimer's CAS, so we see `BUSY` or a case.
        self.state
            .compare_exchange(WAITING, ABORTED, Ordering::Relaxed, Ordering::Acquire)
            .is_ok()
    }
}

/// Where a waiting operation's message lives, in the waiter's frame: the value a
/// waiting sender offers, or the value handed to a waiting receiver.
pub(crate) struct Slot<T> {
    value: UnsafeCell<Option<T>>,
    _pinned: PhantomPinned,
}

impl<T> Slot<T> {
    pub(crate) fn new(value: Option<T>) -> Slot<T> {
        Slot {
            value: UnsafeCell::new(value),
            _pinned: PhantomPinned,
        }
    }

    /// Takes the message out.
    ///
    /// # Safety
    ///
    /// No claimer may be moving the message: the slot is registered with no channel,
    /// or its waiter's claim is complete (`claimed()` returned `Some`), or it aborted.
    pub(crate) unsafe fn take(&self) -> Option<T> {
        // SAFETY: per the contract, nobody else accesses the slot now.
        self.value.with_mut(|value| unsafe { (*value).take() })
    }

    /// Puts a message in.
    ///
    /// # Safety
    ///
    /// As for [`take`](Slot::take).
    pub(crate) unsafe fn put(&self, value: Option<T>) {
        // SAFETY: per the contract, nobody else accesses the slot now.
        self.value.with_mut(|slot| unsafe { *slot = value })
    }
}

impl<T> fmt::Debug for Slot<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slot").finish_non_exhaustive()
    }
}

/// A waiting operation, as queued in a channel: pointers into the waiter's frame.
#[derive(Debug)]
pub(crate) struct Entry<T> {
    waiter: *const Waiter,
    case: usize,
    slot: *const Slot<T>,
    /// Watches for readiness (`Select::ready`) instead of waiting to complete an
    /// operation: a claim wakes it and moves no message.
    observer: bool,
}

// SAFETY: an entry is a message handoff point between threads: a claimer on another
// thread moves a `T` through it (so `T: Send`) and touches the waiter's atomic state
// and unparker (which are `Send`/`Sync`). The pointers stay valid while the entry is
// queued, which is all the time anyone holds it (see `Entry::new`).
unsafe impl<T: Send> Send for Entry<T> {}

impl<T> Entry<T> {
    /// An entry for case `case` of `waiter`, whose message lives in `slot`.
    ///
    /// # Safety
    ///
    /// The caller must put the entry in a channel queue (only ever reading or claiming
    /// it under that channel's lock), and must not let `waiter` or `slot` go away while
    /// the entry may still be there: before they do, it must take the lock and remove
    /// the entry, unless the waiter's claim has completed through this very entry (the
    /// claimer popped it).
    pub(crate) unsafe fn new(waiter: &Waiter, case: usize, slot: &Slot<T>) -> Entry<T> {
        Entry {
            waiter,
            case,
            slot,
            observer: false,
        }
    }

    /// An observer entry: as [`new`](Entry::new), but a claim through it moves no
    /// message (it only wakes the waiter, whose select then reports the case ready).
    ///
    /// # Safety
    ///
    /// As for [`new`](Entry::new).
    pub(crate) unsafe fn observer(waiter: &Waiter, case: usize, slot: &Slot<T>) -> Entry<T> {
        Entry {
            waiter,
            case,
            slot,
            observer: true,
        }
    }

    /// Whether this is an observer entry.
    pub(crate) fn observes(&self) -> bool {
        self.observer
    }

    fn waiter(&self) -> &Waiter {
        // SAFETY: per `Entry::new`, the waiter outlives the entry's time in a queue,
        // and entries are only used while queued or just popped under the lock.
        unsafe { &*self.waiter }
    }

    /// Whether this entry belongs to `waiter`.
    pub(crate) fn is_for(&self, waiter: &Waiter) -> bool {
        std::ptr::eq(self.waiter, waiter)
    }

    /// Whether the entry's waiter is still waiting (a claim through it would succeed,
    /// unless another claim or an abort comes first).
    pub(crate) fn is_live(&self) -> bool {
        self.waiter().is_waiting()
    }

    /// Step 1 of a claim, without the rest: holds the waiter `BUSY` for a [`Reserved`],
    /// which does steps 2-4 later (or gives the claim up). The caller holds the lock of
    /// the channel this entry was just popped from. Returns the entry back if it was
    /// stale.
    pub(crate) fn reserve(self) -> Result<Reserved<T>, Entry<T>> {
        let waiter = self.waiter();
        let claimed = if waiter.select {
            waiter
                .state
                .compare_exchange(WAITING, BUSY, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        } else if waiter.state.load(Ordering::Relaxed) == WAITING {
            // Under our lock, as in `claim`; `BUSY` makes its `abort_locked` fail
            // until the reservation ends (which may be after we unlock).
            waiter.state.store(BUSY, Ordering::Relaxed);
            true
        } else {
            false
        };
        if claimed {
            Ok(Reserved { entry: self })
        } else {
            Err(self)
        }
    }

    /// Steps 1-3 of a claim. The caller holds the lock of the channel this entry was
    /// just popped from. If the waiter is still waiting, claims it for this entry and
    /// lets `f` move the message. Returns `f`'s result and the waiter's unparker, for
    /// step 4, which the caller does once it has released the lock (as Go's channels
    /// ready the woken goroutine after unlocking: the lock is held for less time, and
    /// never across a wakeup that may be a system call). Returns `Err(f)` if it was
    /// already claimed or aborted (a stale entry).
    pub(crate) fn claim<R, F: FnOnce(&mut Option<T>) -> R>(
        self,
        f: F,
    ) -> Result<(R, Option<Unparker>), F> {
        let waiter = self.waiter();
        // The waiter's frame (slot and unparker), written before the entry was queued
        // under the lock we hold, is visible through that lock: Relaxed suffices.
        let claimed = if waiter.select {
            waiter
                .state
                .compare_exchange(WAITING, BUSY, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        } else {
            // Alone under our lock (see the module doc): no CAS needed, and no `BUSY`
            // (nobody can observe the state in between except the waiter itself,
            // which waits for a case number).
            waiter.state.load(Ordering::Relaxed) == WAITING
        };
        if !claimed {
            return Err(f);
        }
        // SAFETY: `BUSY` gives us the slot and the unparker exclusively: the waiter
        // reads them only after seeing a case number or after aborting, and its abort
        // CAS fails now. The frame is alive: see `waiter()`.
        let (result, unparker) = unsafe {
            let slot = &*self.slot;
            let result = slot.value.with_mut(|value| f(&mut *value));
            (result, waiter.unparker.with_mut(|u| (*u).take()))
        };
        // Release: the message and the taken unparker happen-before the waiter's
        // Acquire load in `claimed`. After this store the frame may vanish.
        waiter.state.store(self.case, Ordering::Release);
        Ok((result, unparker))
    }
}

/// A waiting receiver held `BUSY` by [`Entry::reserve`] until the message is given
/// ([`complete`](Reserved::complete)) or the reservation given up (on drop: the
/// waiter starts over). The waiter's frame lives until then: it parks while `BUSY`.
#[derive(Debug)]
pub(crate) struct Reserved<T> {
    entry: Entry<T>,
}

// SAFETY: as for `Entry`: the holder moves a `T` into the waiter's slot from any
// thread, and touches only its atomic state and its unparker.
unsafe impl<T: Send> Send for Reserved<T> {}

impl<T> Reserved<T> {
    /// Steps 2-4: puts `value` in the waiter's slot and wakes it.
    pub(crate) fn complete(self, value: T) {
        self.finish(Some(value));
        // Finished: not again on drop.
        std::mem::forget(self);
    }

    /// Steps 2-4 with `value`, or without one: [`RETRY`]. Called once (by `complete`
    /// or by drop).
    fn finish(&self, value: Option<T>) {
        let waiter = self.entry.waiter();
        let case = if value.is_some() {
            self.entry.case
        } else {
            RETRY
        };
        // SAFETY: `BUSY` (since `reserve`) gives us the slot and the unparker alone,
        // as in `claim`; the frame lives while the waiter is `BUSY` (it parks).
        let unparker = unsafe {
            if let Some(value) = value {
                (*self.entry.slot)
                    .value
                    .with_mut(|slot| *slot = Some(value));
            }
            waiter.unparker.with_mut(|u| (*u).take())
        };
        // Release: the message and the taken unparker happen-before the waiter's
        // Acquire load. After this store the frame may vanish.
        waiter.state.store(case, Ordering::Release);
        if let Some(unparker) = unparker {
            unparker.unpark_owned();
        }
    }
}

impl<T> Drop for Reserved<T> {
    /// Gives the reservation up: the waiter wakes with [`RETRY`] and starts over.
    fn drop(&mut self) {
        self.finish(None);
    }
}
