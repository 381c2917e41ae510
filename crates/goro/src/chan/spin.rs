//! The lock around a channel's state: a spinlock whose unlock is a plain store.
//!
//! Why not `std::sync::Mutex`: its unlock is an atomic swap (it must learn whether a
//! sleeper needs a futex wake), and a channel handoff takes two channel locks, so the
//! swap's pipeline drain was a measurable share of a handoff (perf: the unlock
//! instruction was 13% of the ring benchmark). Critical sections here are a few dozen
//! instructions and never park or call user code (a claimed waiter is woken after
//! unlocking, see `Locked`), so a waiter mostly finds the lock free within a spin or
//! two. If the holder's thread was preempted by the OS, spinning would burn its time
//! slice: after a short exponential spin the waiter yields its thread to the OS
//! (crossbeam-channel's `Spinlock` does the same; Go's runtime lock spins, then
//! yields, then sleeps).

use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};

use crate::loom::{AtomicBool, Ordering};

/// A spinlock around a `T`.
pub(crate) struct SpinLock<T> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: the lock gives one thread at a time access to the `T` (as `std::sync::Mutex`
// does), so sharing the lock is sound when the `T` may be sent between threads.
unsafe impl<T: Send> Sync for SpinLock<T> {}

impl<T> SpinLock<T> {
    pub(crate) fn new(value: T) -> SpinLock<T> {
        SpinLock {
            locked: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    #[cfg(not(loom))]
    pub(crate) fn lock(&self) -> SpinGuard<'_, T> {
        let backoff = crossbeam_utils::Backoff::new();
        loop {
            // Acquire: pairs with the Release store in `SpinGuard::drop`, so the
            // previous holder's writes to the `T` are visible.
            if !self.locked.swap(true, Ordering::Acquire) {
                return SpinGuard { lock: self };
            }
            // Wait for it to look free before trying again (no writes while it is held).
            while self.locked.load(Ordering::Relaxed) {
                backoff.snooze(); // spins, then yields the thread to the OS
            }
        }
    }

    /// The same lock for loom's models, in the shape loom's docs give for a spinlock:
    /// loom must see each failed attempt as a yield, and without a store.
    #[cfg(loom)]
    pub(crate) fn lock(&self) -> SpinGuard<'_, T> {
        loop {
            while self.locked.load(Ordering::Relaxed) {
                loom::hint::spin_loop();
            }
            // Acquire: as above.
            if self
                .locked
                .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return SpinGuard { lock: self };
            }
            loom::thread::yield_now();
        }
    }
}

impl<T> SpinLock<T> {
    /// Locks without a guard, for holding several locks at once (a non-blocking
    /// select, see select.rs). Unlock with [`unlock_raw`](SpinLock::unlock_raw).
    pub(crate) fn lock_raw(&self) {
        std::mem::forget(self.lock());
    }

    /// Unlocks what [`lock_raw`](SpinLock::lock_raw) locked.
    ///
    /// # Safety
    ///
    /// The caller locked it with `lock_raw` and no longer uses the value.
    pub(crate) unsafe fn unlock_raw(&self) {
        // Release: as in `SpinGuard::drop`.
        self.locked.store(false, Ordering::Release);
    }

    /// The value, for a caller that holds the lock through
    /// [`lock_raw`](SpinLock::lock_raw); dereferencing it is sound until `unlock_raw`.
    pub(crate) fn data_ptr(&self) -> *mut T {
        self.value.get()
    }
}

/// Access to a [`SpinLock`]'s value; unlocks on drop.
pub(crate) struct SpinGuard<'a, T> {
    lock: &'a SpinLock<T>,
}

impl<T> Deref for SpinGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the guard exists only while its thread holds the lock.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for SpinGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes this the only access.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for SpinGuard<'_, T> {
    fn drop(&mut self) {
        // Release: the critical section's writes happen-before the next `lock`.
        self.lock.locked.store(false, Ordering::Release);
    }
}
