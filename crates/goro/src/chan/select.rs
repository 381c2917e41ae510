//! `select`: wait on several channel operations and complete exactly one.
//!
//! The cases are visited in a random order, shuffled once per select, so that when
//! several are ready each is picked with equal chance, several cases on one channel
//! included (their entries are queued in that order too, and a counterpart takes the
//! first).
//!
//! A select that may not wait (`default`, or a timeout that has passed) locks all its
//! channels at once, in address order (so that two such selects cannot deadlock), and
//! tries the cases under those locks, as Go's `selectgo` does. It sees every channel
//! at one instant: it is linearizable, and never reports "none ready" while one of its
//! channels held a message throughout. It holds the locks only while it looks.
//!
//! A select that may wait:
//! 1. Tries every case, one lock at a time. The first that completes wins.
//! 2. Registers one waiter on every case's channel (an entry per case, each with its
//!    own message slot). Under each channel's lock it first checks whether the case is
//!    ready (not counting the select's own entries): if so it stops registering and
//!    aborts the waiter. If the abort succeeds, it unregisters and starts over at 1; if
//!    it fails, a case registered earlier was claimed, and won. A case found not ready
//!    when its entry was queued, under that lock, is claimed by whoever makes it ready
//!    (the channel invariants in mod.rs): nothing is missed, so no second look.
//! 3. Parks until a counterpart claims one entry (the claim moves the message, see
//!    waiter.rs) or the timeout passes (the waiter's abort decides that race); then
//!    unregisters every entry.
//!
//! `select_biased` runs the same engine with the cases in their written order. `ready`
//! (`Select::ready`) registers *observer* entries instead, which any operation on the
//! channel claims without moving a message (see mod.rs), and reports the case.
//!
//! [`Select`]'s send operations are given their value after the selection: selecting
//! one *reserves* (see reserve.rs), and while it waits it queues an observer entry and
//! looks again when woken. A receiver held by a reservation that is given up wakes with
//! `RETRY` and starts its select over.
//!
//! A claim moves a message only into (or out of) the claimed entry's slot, under the
//! waiter's single CAS, so a case that loses never consumes its message: it stays in
//! its channel. Readiness checks skip the waiter's own entries, so a select that sends
//! and receives on the same unbuffered channel does not rendezvous with itself.

// `Case` must be public for `select!`'s expansion (in the user's crate) to name it,
// but it is sealed, and its methods take crate-private types (`Waiter`, `Wake`):
// nobody outside can implement or call them, which is the point. The trait and its
// implementors are `#[doc(hidden)]`.
#![allow(private_interfaces)]

use std::cell::Cell;
use std::time::{Duration, Instant};

use super::reserve::Reservation;
use super::waiter::{Entry, RETRY, Slot, Waiter};
use super::{
    Chan, Deadline, Locked, ReadyTimeoutError, Receiver, RecvError, SelectTimeoutError, SendError,
    Sender, State, TryReadyError, TrySelectError, Wake, wait, wake_observers,
};

mod sealed {
    /// Only `RecvCase` and `SendCase` are select cases.
    pub trait Sealed {}
}

/// One case of a select, type-erased for the engine. Implemented by [`RecvCase`] and
/// [`SendCase`] only (the trait is sealed); `select!` builds them. The methods take
/// `&self`: while a case is registered, a claimer on another thread may write its slot.
#[doc(hidden)]
pub trait Case: sealed::Sealed {
    /// The address of the case's channel: the order in which a select locks them.
    fn chan_addr(&self) -> usize;
    /// Locks the case's channel, without a guard.
    fn lock_raw(&self);
    /// Unlocks the case's channel.
    ///
    /// # Safety
    ///
    /// The caller locked it with [`lock_raw`](Case::lock_raw).
    unsafe fn unlock_raw(&self);
    /// Completes the operation now if it can, keeping its result; waiters it claims are
    /// added to `wake`.
    ///
    /// # Safety
    ///
    /// The caller holds the channel's lock (from [`lock_raw`](Case::lock_raw)), and the
    /// case is not registered.
    unsafe fn try_locked(&self, wake: &mut Wake) -> bool;
    /// Completes the operation now if it can (taking the lock itself), keeping its
    /// result.
    fn try_now(&self) -> bool;
    /// Whether the operation could complete now (not counting `me`'s entries), without
    /// completing it.
    ///
    /// # Safety
    ///
    /// The caller holds the channel's lock (from [`lock_raw`](Case::lock_raw)).
    unsafe fn ready_locked(&self, me: &Waiter, wake: &mut Wake) -> bool;
    /// Queues an entry for `waiter` as case `index` (an observer entry if `observe`:
    /// `Select::ready`), unless the operation could complete now (not counting
    /// `waiter`'s own entries): then queues nothing and returns `true`.
    ///
    /// # Safety
    ///
    /// The caller must [`unregister`](Case::unregister) before this case or `waiter`
    /// goes away or moves.
    unsafe fn register(&self, waiter: &Waiter, index: usize, observe: bool) -> bool;
    /// Removes `waiter`'s entries from the channel.
    fn unregister(&self, waiter: &Waiter);
    /// Takes the result from the slot. Returns `false` if the case did not complete
    /// after all (a send whose value comes later was only woken): look again.
    ///
    /// # Safety
    ///
    /// This case's entry was claimed and the claim is complete.
    unsafe fn claimed(&self) -> bool;
}

/// A `recv(r)` case.
#[doc(hidden)]
pub struct RecvCase<'a, T> {
    rx: &'a Receiver<T>,
    /// Where a claiming sender puts the message.
    slot: Slot<T>,
    result: Cell<Option<Result<T, RecvError>>>,
}

/// A `send(s, v)` case.
#[doc(hidden)]
pub struct SendCase<'a, T> {
    tx: &'a Sender<T>,
    /// The value, until a receiver takes it (also while not registered).
    slot: Slot<T>,
    result: Cell<Option<Result<(), SendError<T>>>>,
}

impl<'a, T> RecvCase<'a, T> {
    pub fn new(rx: &'a Receiver<T>) -> RecvCase<'a, T> {
        RecvCase {
            rx,
            slot: Slot::new(None),
            result: Cell::new(None),
        }
    }

    /// Whether this case completed (it holds a result).
    pub fn is_selected(&self) -> bool {
        let result = self.result.take();
        let selected = result.is_some();
        self.result.set(result);
        selected
    }

    /// The result, once this case was selected.
    pub fn take(&mut self) -> Result<T, RecvError> {
        self.result
            .get_mut()
            .take()
            .expect("the selected case has a result")
    }

    fn try_in(&self, state: &mut State<T>, wake: &mut Wake) -> bool {
        let result = match Chan::try_recv_locked(state, wake, self.rx.chan.cap) {
            Ok(Some(v)) => Ok(v),
            Ok(None) => Err(RecvError),
            Err(()) => return false,
        };
        self.result.set(Some(result));
        true
    }
}

impl<'a, T> SendCase<'a, T> {
    pub fn new(tx: &'a Sender<T>, value: T) -> SendCase<'a, T> {
        SendCase {
            tx,
            slot: Slot::new(Some(value)),
            result: Cell::new(None),
        }
    }

    /// Whether this case completed (it holds a result).
    pub fn is_selected(&self) -> bool {
        let result = self.result.take();
        let selected = result.is_some();
        self.result.set(result);
        selected
    }

    /// The result, once this case was selected.
    pub fn take(&mut self) -> Result<(), SendError<T>> {
        self.result
            .get_mut()
            .take()
            .expect("the selected case has a result")
    }

    /// # Safety
    ///
    /// The case is not registered (nobody else touches its slot).
    unsafe fn try_in(&self, state: &mut State<T>, wake: &mut Wake) -> bool {
        // SAFETY: not registered (the caller's contract).
        let value = unsafe { self.slot.take() }.expect("an unfinished send case has its value");
        let result = match Chan::try_send_locked(state, wake, self.tx.chan.cap, value) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(value)) => Err(SendError(value)),
            Err(value) => {
                // SAFETY: as above.
                unsafe { self.slot.put(Some(value)) };
                return false;
            }
        };
        self.result.set(Some(result));
        true
    }
}

impl<T> std::fmt::Debug for RecvCase<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvCase").finish_non_exhaustive()
    }
}

impl<T> std::fmt::Debug for SendCase<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendCase").finish_non_exhaustive()
    }
}

fn remove<T>(chan: &Chan<T>, me: &Waiter) {
    let mut locked = chan.lock();
    locked.state.recvq.retain(|e| !e.is_for(me));
    locked.state.sendq.retain(|e| !e.is_for(me));
}

impl<T> sealed::Sealed for RecvCase<'_, T> {}
impl<T> sealed::Sealed for SendCase<'_, T> {}

impl<T> Case for RecvCase<'_, T> {
    fn chan_addr(&self) -> usize {
        std::sync::Arc::as_ptr(&self.rx.chan) as usize
    }

    fn lock_raw(&self) {
        self.rx.chan.state.lock_raw();
    }

    unsafe fn unlock_raw(&self) {
        // SAFETY: locked with `lock_raw` (the caller's contract).
        unsafe { self.rx.chan.state.unlock_raw() }
    }

    unsafe fn try_locked(&self, wake: &mut Wake) -> bool {
        // SAFETY: the caller holds the lock, so this is the only access to the state;
        // the reference ends before the caller unlocks.
        let state = unsafe { &mut *self.rx.chan.state.data_ptr() };
        self.try_in(state, wake)
    }

    fn try_now(&self) -> bool {
        let mut locked = self.rx.chan.lock();
        let Locked { state, wake } = &mut locked;
        self.try_in(state, wake)
    }

    unsafe fn ready_locked(&self, me: &Waiter, wake: &mut Wake) -> bool {
        // SAFETY: as in `try_locked`.
        let state = unsafe { &mut *self.rx.chan.state.data_ptr() };
        Chan::recv_ready_locked(state, wake, self.rx.chan.cap, me)
    }

    unsafe fn register(&self, waiter: &Waiter, index: usize, observe: bool) -> bool {
        let mut locked = self.rx.chan.lock();
        let Locked { state, wake } = &mut locked;
        if Chan::recv_ready_locked(state, wake, self.rx.chan.cap, waiter) {
            return true;
        }
        // SAFETY: the caller unregisters before `self` (holding the slot) or `waiter`
        // goes away, which is `Entry::new`'s (and `Entry::observer`'s) contract.
        let entry = unsafe {
            if observe {
                Entry::observer(waiter, index, &self.slot)
            } else {
                // A receiver waits now: a send observed may be ready.
                wake_observers(&mut state.sendq, wake);
                Entry::new(waiter, index, &self.slot)
            }
        };
        state.recvq.push_back(entry);
        false
    }

    fn unregister(&self, waiter: &Waiter) {
        remove(&self.rx.chan, waiter);
    }

    unsafe fn claimed(&self) -> bool {
        // SAFETY: the claim is complete (the caller's contract).
        let value = unsafe { self.slot.take() };
        self.result.set(Some(value.ok_or(RecvError)));
        true
    }
}

impl<T> Case for SendCase<'_, T> {
    fn chan_addr(&self) -> usize {
        std::sync::Arc::as_ptr(&self.tx.chan) as usize
    }

    fn lock_raw(&self) {
        self.tx.chan.state.lock_raw();
    }

    unsafe fn unlock_raw(&self) {
        // SAFETY: locked with `lock_raw` (the caller's contract).
        unsafe { self.tx.chan.state.unlock_raw() }
    }

    unsafe fn try_locked(&self, wake: &mut Wake) -> bool {
        // SAFETY: the caller holds the lock (as in `RecvCase::try_locked`), and the
        // case is not registered.
        unsafe { self.try_in(&mut *self.tx.chan.state.data_ptr(), wake) }
    }

    fn try_now(&self) -> bool {
        let mut locked = self.tx.chan.lock();
        let Locked { state, wake } = &mut locked;
        // SAFETY: not registered: `try_now` runs before registering or after
        // unregistering (the engine's loop).
        unsafe { self.try_in(state, wake) }
    }

    unsafe fn ready_locked(&self, me: &Waiter, _: &mut Wake) -> bool {
        // SAFETY: as in `RecvCase::try_locked`.
        let state = unsafe { &*self.tx.chan.state.data_ptr() };
        Chan::send_ready_locked(state, self.tx.chan.cap, me)
    }

    unsafe fn register(&self, waiter: &Waiter, index: usize, observe: bool) -> bool {
        let mut locked = self.tx.chan.lock();
        let Locked { state, wake } = &mut locked;
        if Chan::send_ready_locked(state, self.tx.chan.cap, waiter) {
            return true;
        }
        // SAFETY: as for `RecvCase::register`.
        let entry = unsafe {
            if observe {
                Entry::observer(waiter, index, &self.slot)
            } else {
                // A sender waits now: a receive observed may be ready.
                wake_observers(&mut state.recvq, wake);
                Entry::new(waiter, index, &self.slot)
            }
        };
        state.sendq.push_back(entry);
        false
    }

    fn unregister(&self, waiter: &Waiter) {
        // Not claimed: the value stays in the slot for the next attempt.
        remove(&self.tx.chan, waiter);
    }

    unsafe fn claimed(&self) -> bool {
        // SAFETY: the claim is complete (the caller's contract).
        let value = unsafe { self.slot.take() };
        // A receiver took the value, or closing left it there.
        self.result.set(Some(match value {
            None => Ok(()),
            Some(value) => Err(SendError(value)),
        }));
        true
    }
}

/// What a select does when no case is ready at once.
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub enum Otherwise {
    /// Wait for a case.
    Wait,
    /// Take the `default` arm.
    Default,
    /// Wait up to this long, then take the `default` arm.
    Timeout(Duration),
    /// Wait until then, then take the `default` arm.
    Until(Instant),
}

impl Otherwise {
    fn deadline(self) -> Deadline {
        match self {
            Otherwise::Wait => Deadline::Never,
            Otherwise::Default => Deadline::Now,
            Otherwise::Timeout(t) => Deadline::after(t),
            Otherwise::Until(at) => Deadline::At(at),
        }
    }
}

/// The cases registered so far for one waiter (`order[..count]`), as a guard: dropping
/// it unregisters them all, so the waiter's frame and the cases can end (see
/// waiter.rs), also when unwinding.
struct Registered<'c, 'w> {
    cases: &'c [&'c dyn Case],
    order: &'c [usize],
    count: usize,
    waiter: &'w Waiter,
}

impl Drop for Registered<'_, '_> {
    fn drop(&mut self) {
        for &i in &self.order[..self.count] {
            self.cases[i].unregister(self.waiter);
        }
    }
}

/// Every distinct channel of a select's cases, locked in address order; unlocked on
/// drop. `first[k]` is a case of the k-th channel.
struct AllLocked<'c> {
    cases: &'c [&'c dyn Case],
    first: Vec<usize>,
}

impl<'c> AllLocked<'c> {
    fn new(cases: &'c [&'c dyn Case]) -> AllLocked<'c> {
        let mut first: Vec<usize> = (0..cases.len()).collect();
        first.sort_unstable_by_key(|&i| cases[i].chan_addr());
        first.dedup_by_key(|i| cases[*i].chan_addr());
        let mut locked = AllLocked {
            cases,
            first: Vec::with_capacity(first.len()),
        };
        for i in first {
            cases[i].lock_raw();
            // Pushed once locked: a panic (none is expected) unlocks what is locked.
            locked.first.push(i);
        }
        locked
    }
}

impl Drop for AllLocked<'_> {
    fn drop(&mut self) {
        for &i in self.first.iter().rev() {
            // SAFETY: `new` locked it with `lock_raw`; each channel is in `first` once.
            unsafe { self.cases[i].unlock_raw() };
        }
    }
}

/// Tries the cases in `order` with all their channels locked at once.
fn try_all_at_once(cases: &[&dyn Case], order: &[usize]) -> Option<usize> {
    // Declared before `locked`, so dropped after it: wakes once every lock is released.
    let mut wake = Wake::default();
    let _locked = AllLocked::new(cases);
    order.iter().copied().find(|&i| {
        // SAFETY: `_locked` holds every case's channel lock, and no case is registered
        // (a select registers only while it may wait).
        unsafe { cases[i].try_locked(&mut wake) }
    })
}

/// Runs a select over `cases`; returns the index of the completed case, or `None` for
/// the default arm.
#[doc(hidden)]
#[track_caller]
pub fn select(cases: &[&dyn Case], otherwise: Otherwise) -> Option<usize> {
    run(cases, &shuffled(cases.len()), otherwise)
}

/// `0..n` in a random order, so that among several ready cases each is equally likely.
fn shuffled(n: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        order.swap(i, random_below(i + 1));
    }
    order
}

/// Waits until one of the cases could complete, without completing it (`Select::ready`):
/// the index of a ready case, or `None` if `otherwise` gave up first. The blocking path
/// queues observer entries, which any change on their channel wakes; so a case it
/// reports may have been taken by someone else by the time the caller acts (crossbeam's
/// `ready` says the same).
#[track_caller]
fn ready(cases: &[&dyn Case], order: &[usize], otherwise: Otherwise) -> Option<usize> {
    let on = goro_sched::Wait::new(goro_sched::WaitReason::Select);
    let deadline = otherwise.deadline();
    let waiter = Waiter::select();
    if !deadline.may_wait() {
        // Declared before `_locked`: wakes after the locks are released.
        let mut wake = Wake::default();
        let _locked = AllLocked::new(cases);
        return order.iter().copied().find(|&i| {
            // SAFETY: `_locked` holds every case's channel lock.
            unsafe { cases[i].ready_locked(&waiter, &mut wake) }
        });
    }
    let mut registered = Registered {
        cases,
        order,
        count: 0,
        waiter: &waiter,
    };
    for &i in order {
        registered.count += 1;
        // SAFETY: as in `run`: `registered` unregisters before `waiter` goes away.
        if unsafe { cases[i].register(&waiter, i, true) } {
            if !waiter.abort() {
                // An observer was woken meanwhile: let its claim complete first.
                wait(&waiter, Deadline::Never, || waiter.abort(), on);
            }
            return Some(i);
        }
    }
    wait(&waiter, deadline, || waiter.abort(), on)
}

/// [`select`] with the cases in the order given: the first ready case wins.
#[doc(hidden)]
#[track_caller]
pub fn select_biased(cases: &[&dyn Case], otherwise: Otherwise) -> Option<usize> {
    let order: Vec<usize> = (0..cases.len()).collect();
    run(cases, &order, otherwise)
}

/// The engine: looks at and registers the cases in `order`.
#[track_caller]
fn run(cases: &[&dyn Case], order: &[usize], otherwise: Otherwise) -> Option<usize> {
    let on = goro_sched::Wait::new(goro_sched::WaitReason::Select);
    let deadline = otherwise.deadline();
    loop {
        if !deadline.may_wait() {
            return try_all_at_once(cases, order);
        }
        // 1. Anything ready now?
        for &i in order {
            if cases[i].try_now() {
                return Some(i);
            }
        }
        // 2. Register everywhere, each after a look under its lock.
        let waiter = Waiter::select();
        let mut registered = Registered {
            cases,
            order,
            count: 0,
            waiter: &waiter,
        };
        let mut ready = false;
        for &i in order {
            // Counted first: if `register` unwinds, its entry may be queued.
            registered.count += 1;
            // SAFETY: `registered` unregisters every case before `waiter` goes away,
            // and `cases` is borrowed (so neither moves nor ends) for that long.
            if unsafe { cases[i].register(&waiter, i, false) } {
                ready = true;
                break;
            }
        }
        let won = if !ready {
            // 3. Wait for a claim (or time out, which aborts the waiter).
            // (Timed out: `?` returns, and `registered` unregisters every case.)
            Some(wait(&waiter, deadline, || waiter.abort(), on)?)
        } else if waiter.abort() {
            None // start over
        } else {
            // Claimed first: that case won; wait for its message to move.
            wait(&waiter, Deadline::Never, || waiter.abort(), on)
        };
        drop(registered);
        if let Some(i) = won
            && i != RETRY
            // SAFETY: `wait` returned the case whose claim is complete.
            && unsafe { cases[i].claimed() }
        {
            return Some(i);
        }
        // Aborted because something became ready, or a reservation of the claim was
        // given up (`RETRY`), or a send that has no value yet woke: start over.
    }
}

/// A uniformly random index below `n` (xorshift64, one state per thread).
fn random_below(n: usize) -> usize {
    thread_local! {
        static STATE: Cell<u64> = const { Cell::new(0) };
    }
    STATE.with(|s| {
        let mut x = s.get();
        if x == 0 {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            x = (now ^ (s as *const Cell<u64> as u64)) | 1;
        }
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set(x);
        ((x >> 11) % n as u64) as usize
    })
}

/// A [`Select`]'s channel handle, type-erased: it makes the case for one run.
trait Port {
    fn case<'a>(&'a self) -> Box<dyn Op<'a> + 'a>;
}

/// A case of one [`Select`] run.
trait Op<'a> {
    fn as_case(&self) -> &dyn Case;
    /// The selected case's outcome, for its [`SelectedOperation`] to complete.
    fn into_selected(self: Box<Self>) -> Box<dyn Outcome + 'a>;
}

/// A selected operation's outcome, type-erased. Dropped uncompleted, it gives back what
/// it holds (see reserve.rs).
trait Outcome {
    /// The channel it is on.
    fn chan_addr(&self) -> usize;
    fn is_send(&self) -> bool;
    /// Points at the outcome: an `Option<Result<T, RecvError>>` for a receive, an
    /// `Option<Reservation<'a, T>>` for a send, `T` the channel's message type.
    fn data(&mut self) -> *mut ();
}

impl<T> Port for Receiver<T> {
    fn case<'a>(&'a self) -> Box<dyn Op<'a> + 'a> {
        Box::new(RecvCase::new(self))
    }
}

impl<T> Port for Sender<T> {
    fn case<'a>(&'a self) -> Box<dyn Op<'a> + 'a> {
        Box::new(ReserveCase {
            tx: self,
            slot: Slot::new(None),
            reservation: Cell::new(None),
        })
    }
}

impl<'a, T> Op<'a> for RecvCase<'a, T> {
    fn as_case(&self) -> &dyn Case {
        self
    }

    fn into_selected(mut self: Box<Self>) -> Box<dyn Outcome + 'a> {
        Box::new(Received {
            rx: self.rx,
            result: Some(self.take()),
        })
    }
}

/// A selected receive: the message is taken at the selection.
struct Received<'a, T> {
    rx: &'a Receiver<T>,
    result: Option<Result<T, RecvError>>,
}

impl<T> Outcome for Received<'_, T> {
    fn chan_addr(&self) -> usize {
        std::sync::Arc::as_ptr(&self.rx.chan) as usize
    }

    fn is_send(&self) -> bool {
        false
    }

    fn data(&mut self) -> *mut () {
        (&raw mut self.result).cast()
    }
}

impl<T> Drop for Received<'_, T> {
    fn drop(&mut self) {
        if let Some(Ok(value)) = self.result.take() {
            self.rx.chan.unreceive(value);
        }
    }
}

/// A [`Select`]'s send case: selected with a reservation (reserve.rs), its value given
/// later. While it waits it queues an observer entry, which any operation on the
/// channel wakes, and then looks again.
struct ReserveCase<'a, T> {
    tx: &'a Sender<T>,
    /// Observer entries point here; it stays empty.
    slot: Slot<T>,
    reservation: Cell<Option<Reservation<'a, T>>>,
}

impl<'a, T> ReserveCase<'a, T> {
    fn try_in(&self, state: &mut State<T>, wake: &mut Wake) -> bool {
        let chan: &'a Chan<T> = &self.tx.chan;
        match chan.reserve_send_locked(state, wake) {
            Some(reservation) => {
                self.reservation.set(Some(reservation));
                true
            }
            None => false,
        }
    }
}

impl<T> sealed::Sealed for ReserveCase<'_, T> {}

impl<T> Case for ReserveCase<'_, T> {
    fn chan_addr(&self) -> usize {
        std::sync::Arc::as_ptr(&self.tx.chan) as usize
    }

    fn lock_raw(&self) {
        self.tx.chan.state.lock_raw();
    }

    unsafe fn unlock_raw(&self) {
        // SAFETY: locked with `lock_raw` (the caller's contract).
        unsafe { self.tx.chan.state.unlock_raw() }
    }

    unsafe fn try_locked(&self, wake: &mut Wake) -> bool {
        // SAFETY: the caller holds the lock (as in `RecvCase::try_locked`).
        self.try_in(unsafe { &mut *self.tx.chan.state.data_ptr() }, wake)
    }

    fn try_now(&self) -> bool {
        let mut locked = self.tx.chan.lock();
        let Locked { state, wake } = &mut locked;
        self.try_in(state, wake)
    }

    unsafe fn ready_locked(&self, me: &Waiter, _: &mut Wake) -> bool {
        // SAFETY: as in `RecvCase::try_locked`.
        let state = unsafe { &*self.tx.chan.state.data_ptr() };
        Chan::send_ready_locked(state, self.tx.chan.cap, me)
    }

    unsafe fn register(&self, waiter: &Waiter, index: usize, _observe: bool) -> bool {
        let mut locked = self.tx.chan.lock();
        if Chan::send_ready_locked(&locked.state, self.tx.chan.cap, waiter) {
            return true;
        }
        // SAFETY: as for `RecvCase::register`.
        let entry = unsafe { Entry::observer(waiter, index, &self.slot) };
        locked.state.sendq.push_back(entry);
        false
    }

    fn unregister(&self, waiter: &Waiter) {
        remove(&self.tx.chan, waiter);
    }

    unsafe fn claimed(&self) -> bool {
        // Only woken (an observer): the engine looks again, and reserves then.
        false
    }
}

impl<'a, T> Op<'a> for ReserveCase<'a, T> {
    fn as_case(&self) -> &dyn Case {
        self
    }

    fn into_selected(self: Box<Self>) -> Box<dyn Outcome + 'a> {
        Box::new(Reserving {
            chan_addr: Case::chan_addr(&*self),
            reservation: self.reservation.into_inner(),
        })
    }
}

/// A selected send: what it reserved, until the value comes.
struct Reserving<'a, T> {
    chan_addr: usize,
    reservation: Option<Reservation<'a, T>>,
}

impl<T> Outcome for Reserving<'_, T> {
    fn chan_addr(&self) -> usize {
        self.chan_addr
    }

    fn is_send(&self) -> bool {
        true
    }

    fn data(&mut self) -> *mut () {
        (&raw mut self.reservation).cast()
    }
}

/// A select over operations known only at run time, on channels of any message types;
/// crossbeam-channel's `Select`. Add operations ([`send`](Select::send),
/// [`recv`](Select::recv)), then [`select`](Select::select) one: it is chosen as
/// [`select!`](crate::select) would choose it (at random among the ready ones), and the
/// [`SelectedOperation`] returned must be completed with the same channel handle
/// ([`SelectedOperation::recv`], [`SelectedOperation::send`]). A `Select` can be run
/// again, cloned, and have operations [removed](Select::remove).
///
/// A selected receive has taken its message; a selected send holds what made it
/// possible (a waiting receiver, or room in the buffer) until its value is given. An
/// operation dropped uncompleted gives that back (the message goes back to the front of
/// its channel; a held receiver starts its receive over), then panics.
///
/// # Examples
///
/// ```
/// use goro::chan::{self, Select};
///
/// let (tx1, rx1) = chan::unbounded::<i32>();
/// let (tx2, rx2) = chan::bounded::<String>(1);
/// tx1.send(10).unwrap();
///
/// let mut select = Select::new();
/// let recv1 = select.recv(&rx1);
/// let send2 = select.send(&tx2);
/// for _ in 0..2 {
///     let oper = select.select();
///     let index = oper.index();
///     if index == recv1 {
///         assert_eq!(oper.recv(&rx1), Ok(10));
///     } else {
///         assert_eq!(index, send2);
///         oper.send(&tx2, "hi".to_string()).unwrap();
///     }
///     select.remove(index); // done with it
/// }
/// assert_eq!(rx2.recv().unwrap(), "hi");
/// ```
#[derive(Default)]
pub struct Select<'a> {
    /// The operations, in the order added, with their indices.
    ops: Vec<(usize, &'a (dyn Port + 'a))>,
    /// The index of the next operation added.
    next: usize,
    /// The first ready operation wins, not a random one.
    biased: bool,
}

impl Clone for Select<'_> {
    fn clone(&self) -> Self {
        Select {
            ops: self.ops.clone(),
            next: self.next,
            biased: self.biased,
        }
    }
}

impl std::fmt::Debug for Select<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Select")
            .field("operations", &self.ops.len())
            .field("biased", &self.biased)
            .finish()
    }
}

impl<'a> Select<'a> {
    /// An empty select.
    pub fn new() -> Select<'a> {
        Select::default()
    }

    /// An empty select that prefers its earlier operations: the first ready one (in the
    /// order added) wins, as [`select_biased!`](crate::select_biased).
    ///
    /// # Examples
    ///
    /// ```
    /// use goro::chan::{self, Select};
    ///
    /// let (tx, rx) = chan::unbounded();
    /// let (tx2, rx2) = chan::unbounded();
    /// tx.send(1).unwrap();
    /// tx2.send(2).unwrap();
    /// let mut select = Select::new_biased();
    /// select.recv(&rx);
    /// select.recv(&rx2);
    /// let oper = select.select();
    /// assert_eq!(oper.index(), 0);
    /// assert_eq!(oper.recv(&rx), Ok(1));
    /// ```
    pub fn new_biased() -> Select<'a> {
        Select {
            biased: true,
            ..Select::default()
        }
    }

    /// Adds a send on `tx`; returns its index. The value is given once it is selected
    /// ([`SelectedOperation::send`]).
    pub fn send<T>(&mut self, tx: &'a Sender<T>) -> usize {
        self.add(tx)
    }

    /// Adds a receive from `rx`; returns its index.
    pub fn recv<T>(&mut self, rx: &'a Receiver<T>) -> usize {
        self.add(rx)
    }

    fn add(&mut self, port: &'a (dyn Port + 'a)) -> usize {
        let index = self.next;
        self.next += 1;
        self.ops.push((index, port));
        index
    }

    /// Removes the operation with `index`. The indices of the others stay.
    ///
    /// # Panics
    ///
    /// If there is no operation with that index (never added, or removed already).
    ///
    /// # Examples
    ///
    /// ```
    /// use goro::chan::{self, Select};
    ///
    /// let (tx, rx) = chan::unbounded::<i32>();
    /// let (_tx2, rx2) = chan::unbounded::<i32>();
    /// tx.send(1).unwrap();
    /// let mut select = Select::new();
    /// let first = select.recv(&rx);
    /// let second = select.recv(&rx2);
    /// select.remove(first);
    /// assert!(select.try_select().is_err()); // only `rx2` is left, and it is empty
    /// # let _ = second;
    /// ```
    pub fn remove(&mut self, index: usize) {
        let at = self
            .ops
            .iter()
            .position(|&(i, _)| i == index)
            .expect("no operation with this index");
        self.ops.remove(at);
    }

    /// Waits until an operation is selected.
    ///
    /// # Panics
    ///
    /// If no operations have been added (it would wait forever).
    #[track_caller]
    pub fn select(&mut self) -> SelectedOperation<'a> {
        self.assert_not_empty();
        self.run(Otherwise::Wait)
            .expect("a select without a deadline selects an operation")
    }

    /// Selects an operation that is ready now.
    ///
    /// # Errors
    ///
    /// [`TrySelectError`] if none is.
    pub fn try_select(&mut self) -> Result<SelectedOperation<'a>, TrySelectError> {
        self.run(Otherwise::Default).ok_or(TrySelectError)
    }

    /// Waits at most `timeout` for an operation to be selected.
    ///
    /// # Errors
    ///
    /// [`SelectTimeoutError`] if none was in time.
    #[track_caller]
    pub fn select_timeout(
        &mut self,
        timeout: Duration,
    ) -> Result<SelectedOperation<'a>, SelectTimeoutError> {
        self.run(Otherwise::Timeout(timeout))
            .ok_or(SelectTimeoutError)
    }

    /// Waits until `deadline` at most for an operation to be selected.
    ///
    /// # Errors
    ///
    /// [`SelectTimeoutError`] if none was in time.
    #[track_caller]
    pub fn select_deadline(
        &mut self,
        deadline: Instant,
    ) -> Result<SelectedOperation<'a>, SelectTimeoutError> {
        self.run(Otherwise::Until(deadline))
            .ok_or(SelectTimeoutError)
    }

    /// Waits until one of the operations could complete, without selecting it; returns
    /// its index. Someone else may take the message (or the room) before the caller
    /// acts, so follow it with a `try_` operation and be ready to wait again. A closed
    /// channel counts as ready.
    ///
    /// # Examples
    ///
    /// ```
    /// use goro::chan::{self, Select};
    ///
    /// let (tx, rx) = chan::unbounded();
    /// let (_tx2, rx2) = chan::unbounded::<i32>();
    /// goro::go!(move || tx.send(5).unwrap());
    /// let mut select = Select::new();
    /// select.recv(&rx);
    /// select.recv(&rx2);
    /// assert_eq!(select.ready(), 0);
    /// assert_eq!(rx.try_recv(), Ok(5));
    /// ```
    ///
    /// # Panics
    ///
    /// If no operations have been added (it would wait forever).
    #[track_caller]
    pub fn ready(&mut self) -> usize {
        self.assert_not_empty();
        self.ready_or(Otherwise::Wait)
            .expect("ready without a deadline finds an operation")
    }

    /// The index of an operation that could complete now, without selecting it.
    ///
    /// # Errors
    ///
    /// [`TryReadyError`] if none could.
    pub fn try_ready(&mut self) -> Result<usize, TryReadyError> {
        self.ready_or(Otherwise::Default).ok_or(TryReadyError)
    }

    /// As [`ready`](Select::ready), waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`ReadyTimeoutError`] if none was ready in time.
    #[track_caller]
    pub fn ready_timeout(&mut self, timeout: Duration) -> Result<usize, ReadyTimeoutError> {
        self.ready_or(Otherwise::Timeout(timeout))
            .ok_or(ReadyTimeoutError)
    }

    /// As [`ready`](Select::ready), waiting until `deadline` at most.
    ///
    /// # Errors
    ///
    /// [`ReadyTimeoutError`] if none was ready in time.
    #[track_caller]
    pub fn ready_deadline(&mut self, deadline: Instant) -> Result<usize, ReadyTimeoutError> {
        self.ready_or(Otherwise::Until(deadline))
            .ok_or(ReadyTimeoutError)
    }

    fn assert_not_empty(&self) {
        assert!(
            !self.ops.is_empty(),
            "no operations have been added to `Select`"
        );
    }

    fn order(&self) -> Vec<usize> {
        if self.biased {
            (0..self.ops.len()).collect()
        } else {
            shuffled(self.ops.len())
        }
    }

    fn cases(&self) -> Vec<Box<dyn Op<'a> + 'a>> {
        self.ops.iter().map(|&(_, port)| port.case()).collect()
    }

    #[track_caller]
    fn ready_or(&mut self, otherwise: Otherwise) -> Option<usize> {
        let cases = self.cases();
        let refs: Vec<&dyn Case> = cases.iter().map(|c| c.as_case()).collect();
        let at = ready(&refs, &self.order(), otherwise)?;
        Some(self.ops[at].0)
    }

    #[track_caller]
    fn run(&mut self, otherwise: Otherwise) -> Option<SelectedOperation<'a>> {
        let mut cases = self.cases();
        let at = {
            let refs: Vec<&dyn Case> = cases.iter().map(|c| c.as_case()).collect();
            run(&refs, &self.order(), otherwise)?
        };
        Some(SelectedOperation {
            index: self.ops[at].0,
            outcome: Some(cases.swap_remove(at).into_selected()),
        })
    }
}

/// An operation a [`Select`] selected, to be completed with the same channel handle:
/// [`recv`](SelectedOperation::recv) for a receive, [`send`](SelectedOperation::send)
/// for a send.
///
/// # Panics
///
/// When completed with a handle of another channel, or as the other kind of operation;
/// and when dropped uncompleted (not while unwinding): what it held is given back first
/// (see [`Select`]).
#[must_use = "a selected operation must be completed with `recv` or `send`"]
pub struct SelectedOperation<'a> {
    index: usize,
    outcome: Option<Box<dyn Outcome + 'a>>,
}

impl std::fmt::Debug for SelectedOperation<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SelectedOperation")
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

impl SelectedOperation<'_> {
    /// The index [`Select::send`] or [`Select::recv`] returned for this operation.
    pub fn index(&self) -> usize {
        self.index
    }

    /// Completes a selected send with `value`.
    ///
    /// # Errors
    ///
    /// [`SendError`] with the value if the channel was closed (or had no receivers)
    /// when the send was selected, or was closed since while the send held room in its
    /// buffer (a send on a closed channel fails).
    ///
    /// # Panics
    ///
    /// If the selected operation is not a send on `tx`'s channel.
    pub fn send<T>(mut self, tx: &Sender<T>, value: T) -> Result<(), SendError<T>> {
        let mut outcome = self.outcome.take().expect("completed once");
        let chan_addr = std::sync::Arc::as_ptr(&tx.chan) as usize;
        assert!(
            outcome.is_send() && outcome.chan_addr() == chan_addr,
            "passed a sender that wasn't selected"
        );
        // SAFETY: a send outcome on this channel is a `Reserving<T>` of the channel's
        // message type: the channel is alive (the select borrows its handle, and so does
        // the caller), so the same address is the same channel, of one type `T`.
        let reservation = unsafe { &mut *outcome.data().cast::<Option<Reservation<'_, T>>>() }
            .take()
            .expect("a selected send holds a reservation");
        reservation.complete(value)
    }

    /// Completes a selected receive: its message, or `Err` if the channel is closed and
    /// drained.
    ///
    /// # Errors
    ///
    /// [`RecvError`] if the channel was closed and drained.
    ///
    /// # Panics
    ///
    /// If the selected operation is not a receive from `rx`'s channel.
    pub fn recv<T>(mut self, rx: &Receiver<T>) -> Result<T, RecvError> {
        let mut outcome = self.outcome.take().expect("completed once");
        let chan_addr = std::sync::Arc::as_ptr(&rx.chan) as usize;
        assert!(
            !outcome.is_send() && outcome.chan_addr() == chan_addr,
            "passed a receiver that wasn't selected"
        );
        // SAFETY: a receive outcome on this channel is a `Received<T>` of the channel's
        // message type (as in `send`).
        unsafe { &mut *outcome.data().cast::<Option<Result<T, RecvError>>>() }
            .take()
            .expect("a selected receive holds its outcome")
    }
}

impl Drop for SelectedOperation<'_> {
    fn drop(&mut self) {
        if let Some(outcome) = self.outcome.take() {
            // Gives back what it holds.
            drop(outcome);
            if !std::thread::panicking() {
                panic!("dropped `SelectedOperation` without completing the operation");
            }
        }
    }
}
