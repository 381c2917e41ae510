//! The wait queue every primitive in `goro::sync` parks on.
//!
//! Actors: a *waiter* is a coroutine or a plain thread that cannot proceed; a *waker*
//! is whoever changes the state the waiter waits for (an unlock, a `notify_one`, the
//! last `done`). Each primitive keeps its state and a [`WaitList`] together behind one
//! short-lived internal `std` mutex (never held across a park).
//!
//! The hard problem is the lost wakeup: the waker must not change the state between the
//! waiter's check and its park. And the waiter's record must not live on its stack: a
//! parked coroutine's stack belongs to it alone (DESIGN.md §3), so records are
//! `Arc<Waiter>` on the heap, shared by the list and the waiter. The protocol:
//!
//! 1. The waiter, holding the primitive's internal lock, sees it must wait, pushes a
//!    fresh `Arc<Waiter>` (token 0), and releases the lock.
//! 2. It parks until its token is non-zero (`park` may return spuriously: it loops).
//! 3. The waker, holding the same lock, updates the primitive's state, pops the waiter
//!    and stores its token ([`Waiter::notify`]). The token is the message: for a
//!    mutex, "the lock is yours" or "try again"; for a condvar, "notified".
//! 4. The waker releases the lock, then calls [`Waiter::unpark`]. An unpark that comes
//!    before the waiter's park leaves a permit, so the park returns at once; one that
//!    comes after the waiter moved on leaves a stray permit, a spurious wakeup later.
//! 5. A waiter with a deadline that passes takes the lock and removes its record. If
//!    the record is gone, a waker popped it, and (step 3 happened under the lock) the
//!    token is already set: the wake won the race, and the waiter takes it.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use crate::loom::unmodelled::{AtomicUsize, Mutex, MutexGuard, Ordering};

/// Takes an internal lock. Poisoning is ignored: no critical section in `goro::sync`
/// leaves its state half-updated when it panics (they only push, pop and count).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One waiting coroutine or thread.
#[derive(Debug)]
pub(crate) struct Waiter {
    /// 0 while waiting; the waker's message once woken.
    token: AtomicUsize,
    unparker: goro_sched::Unparker,
    /// What the waiter wants, for primitives with several kinds of waiter (a read or
    /// a write lock).
    tag: usize,
    /// When the waiter first started waiting (for a mutex's starvation handoff).
    since: Instant,
}

impl Waiter {
    /// A record for the calling coroutine or thread.
    pub(crate) fn new(tag: usize) -> Arc<Waiter> {
        Waiter::since(tag, Instant::now())
    }

    /// A record for the calling coroutine or thread, waiting since `since`.
    pub(crate) fn since(tag: usize, since: Instant) -> Arc<Waiter> {
        Arc::new(Waiter {
            token: AtomicUsize::new(0),
            unparker: goro_sched::current_unparker(),
            tag,
            since,
        })
    }

    pub(crate) fn tag(&self) -> usize {
        self.tag
    }

    pub(crate) fn waited_since(&self) -> Instant {
        self.since
    }

    /// Step 3: gives the waiter its message. Called with the primitive's lock held,
    /// after it was popped from the list. `token` must not be 0.
    pub(crate) fn notify(&self, token: usize) {
        debug_assert_ne!(token, 0);
        // Release: pairs with the Acquire in `token`, so the waiter sees everything
        // the waker did before (e.g. a mutex's critical section, on a handoff).
        self.token.store(token, Ordering::Release);
    }

    /// Step 4: wakes the waiter. Called after the primitive's lock was released.
    pub(crate) fn unpark(&self) {
        self.unparker.unpark();
    }

    fn token(&self) -> usize {
        // Acquire: pairs with the Release in `notify`.
        self.token.load(Ordering::Acquire)
    }

    /// Step 2: parks until notified; returns the token.
    pub(crate) fn wait(&self, on: goro_sched::Wait) -> usize {
        loop {
            match self.token() {
                0 => goro_sched::park_on(on),
                token => return token,
            }
        }
    }

    /// Step 2 with a deadline: the token, or `None` if the deadline passed first (then
    /// the caller must do step 5, with [`WaitList::remove`]).
    pub(crate) fn wait_until(&self, deadline: Instant, on: goro_sched::Wait) -> Option<usize> {
        loop {
            match self.token() {
                0 if Instant::now() >= deadline => return None,
                0 => goro_sched::park_until_on(deadline, on),
                token => return Some(token),
            }
        }
    }
}

/// Waiters in arrival order. Lives inside a primitive's internal lock.
#[derive(Debug, Default)]
pub(crate) struct WaitList {
    queue: VecDeque<Arc<Waiter>>,
}

impl WaitList {
    pub(crate) const fn new() -> WaitList {
        WaitList {
            queue: VecDeque::new(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    pub(crate) fn front(&self) -> Option<&Arc<Waiter>> {
        self.queue.front()
    }

    /// Enqueues a new waiter at the back and returns its record.
    pub(crate) fn push(&mut self, tag: usize) -> Arc<Waiter> {
        let waiter = Waiter::new(tag);
        self.queue.push_back(waiter.clone());
        waiter
    }

    /// Enqueues `waiter` at the front (a woken waiter that lost the race, as in Go).
    pub(crate) fn push_front(&mut self, waiter: Arc<Waiter>) {
        self.queue.push_front(waiter);
    }

    /// Enqueues `waiter` at the back.
    pub(crate) fn push_back(&mut self, waiter: Arc<Waiter>) {
        self.queue.push_back(waiter);
    }

    /// Pops the first waiter and notifies it with `token`; the caller unparks it after
    /// releasing the lock.
    pub(crate) fn wake_one(&mut self, token: usize) -> Option<Arc<Waiter>> {
        let waiter = self.queue.pop_front()?;
        waiter.notify(token);
        Some(waiter)
    }

    /// Pops every waiter and notifies each with `token`; the caller unparks them after
    /// releasing the lock (see [`unpark_all`]).
    pub(crate) fn wake_all(&mut self, token: usize) -> VecDeque<Arc<Waiter>> {
        let all = std::mem::take(&mut self.queue);
        for waiter in &all {
            waiter.notify(token);
        }
        all
    }

    /// Step 5: removes `waiter` if still queued. `false`: a waker took it first.
    pub(crate) fn remove(&mut self, waiter: &Arc<Waiter>) -> bool {
        match self.queue.iter().position(|w| Arc::ptr_eq(w, waiter)) {
            Some(index) => {
                self.queue.remove(index);
                true
            }
            None => false,
        }
    }
}

/// Step 4 for a batch from [`WaitList::wake_all`].
pub(crate) fn unpark_all(waiters: VecDeque<Arc<Waiter>>) {
    for waiter in waiters {
        waiter.unpark();
    }
}
