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
use std::time::Duration;

use super::waiter::{Entry, Slot, Waiter};
use super::{Chan, Deadline, Locked, Receiver, RecvError, SendError, Sender, State, Wake, wait};

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
    /// Takes the result from the slot.
    ///
    /// # Safety
    ///
    /// This case's entry was claimed and the claim is complete.
    unsafe fn claimed(&self);
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
                Entry::new(waiter, index, &self.slot)
            }
        };
        state.recvq.push_back(entry);
        false
    }

    fn unregister(&self, waiter: &Waiter) {
        remove(&self.rx.chan, waiter);
    }

    unsafe fn claimed(&self) {
        // SAFETY: the claim is complete (the caller's contract).
        let value = unsafe { self.slot.take() };
        self.result.set(Some(value.ok_or(RecvError)));
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
        if Chan::send_ready_locked(&locked.state, self.tx.chan.cap, waiter) {
            return true;
        }
        // SAFETY: as for `RecvCase::register`.
        let entry = unsafe {
            if observe {
                Entry::observer(waiter, index, &self.slot)
            } else {
                Entry::new(waiter, index, &self.slot)
            }
        };
        locked.state.sendq.push_back(entry);
        false
    }

    fn unregister(&self, waiter: &Waiter) {
        // Not claimed: the value stays in the slot for the next attempt.
        remove(&self.tx.chan, waiter);
    }

    unsafe fn claimed(&self) {
        // SAFETY: the claim is complete (the caller's contract).
        let value = unsafe { self.slot.take() };
        // A receiver took the value, or closing left it there.
        self.result.set(Some(match value {
            None => Ok(()),
            Some(value) => Err(SendError(value)),
        }));
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
    let deadline = match otherwise {
        Otherwise::Wait => Deadline::Never,
        Otherwise::Default => Deadline::Now,
        Otherwise::Timeout(t) => Deadline::after(t),
    };
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
    let deadline = match otherwise {
        Otherwise::Wait => Deadline::Never,
        Otherwise::Default => Deadline::Now,
        Otherwise::Timeout(t) => Deadline::after(t),
    };
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
        if let Some(i) = won {
            // SAFETY: `wait` returned the case whose claim is complete.
            unsafe { cases[i].claimed() };
            return Some(i);
        }
        // Aborted because something became ready: start over.
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

/// What the completed operation of a [`Select`] produced.
#[derive(Debug, PartialEq, Eq)]
pub enum Selected<T> {
    /// A receive case: the message, or `Err` if its channel is closed and drained.
    Recv(Result<T, RecvError>),
    /// A send case: `Ok`, or `Err` with the value if its channel is closed.
    Send(Result<(), SendError<T>>),
}

enum DynCase<'a, T> {
    Recv(RecvCase<'a, T>),
    Send(SendCase<'a, T>),
}

impl<T> DynCase<'_, T> {
    fn as_case(&self) -> &dyn Case {
        match self {
            DynCase::Recv(case) => case,
            DynCase::Send(case) => case,
        }
    }
}

/// A select over a set of channels known only at run time, all carrying `T`; the
/// dynamic counterpart of [`select!`](crate::select). Add cases, then run it once.
///
/// # Examples
///
/// ```
/// use goro::chan::{self, Select, Selected};
///
/// let channels: Vec<_> = (0..10).map(|_| chan::bounded::<usize>(1)).collect();
/// channels[7].0.send(70).unwrap();
///
/// let mut select = Select::new();
/// for (_, rx) in &channels {
///     select.recv(rx);
/// }
/// let (index, selected) = select.select();
/// assert_eq!((index, selected), (7, Selected::Recv(Ok(70))));
/// ```
pub struct Select<'a, T> {
    cases: Vec<DynCase<'a, T>>,
    /// The first ready case wins, not a random one.
    biased: bool,
}

impl<T> std::fmt::Debug for Select<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Select")
            .field("cases", &self.cases.len())
            .field("biased", &self.biased)
            .finish()
    }
}

impl<T> Default for Select<'_, T> {
    fn default() -> Self {
        Select {
            cases: Vec::new(),
            biased: false,
        }
    }
}

impl<'a, T> Select<'a, T> {
    /// An empty select.
    pub fn new() -> Select<'a, T> {
        Select::default()
    }

    /// An empty select that prefers its earlier cases: the first ready case (in the
    /// order added) wins, as [`select_biased!`](crate::select_biased).
    ///
    /// # Examples
    ///
    /// ```
    /// use goro::chan::{self, Select, Selected};
    ///
    /// let (tx, rx) = chan::unbounded();
    /// let (tx2, rx2) = chan::unbounded();
    /// tx.send(1).unwrap();
    /// tx2.send(2).unwrap();
    /// let mut select = Select::new_biased();
    /// select.recv(&rx);
    /// select.recv(&rx2);
    /// assert_eq!(select.select(), (0, Selected::Recv(Ok(1))));
    /// ```
    pub fn new_biased() -> Select<'a, T> {
        Select {
            cases: Vec::new(),
            biased: true,
        }
    }

    /// Adds a case receiving from `rx`; returns its index.
    pub fn recv(&mut self, rx: &'a Receiver<T>) -> usize {
        self.cases.push(DynCase::Recv(RecvCase::new(rx)));
        self.cases.len() - 1
    }

    /// Adds a case sending `value` on `tx`; returns its index. If another case wins,
    /// the value is dropped with the select.
    pub fn send(&mut self, tx: &'a Sender<T>, value: T) -> usize {
        self.cases.push(DynCase::Send(SendCase::new(tx, value)));
        self.cases.len() - 1
    }

    /// Waits until one case completes; returns its index and outcome.
    ///
    /// # Panics
    ///
    /// If there are no cases: it would wait forever.
    #[track_caller]
    pub fn select(self) -> (usize, Selected<T>) {
        assert!(
            !self.cases.is_empty(),
            "a Select with no cases would wait forever"
        );
        self.run(Otherwise::Wait)
            .expect("a select without a default completes a case")
    }

    /// Waits until one of the cases could complete, without completing it; returns its
    /// index. Someone else may take the message (or the room) before the caller acts,
    /// so follow it with a `try_` operation and be ready to wait again (as with
    /// crossbeam-channel's `ready`). A closed channel counts as ready.
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
    /// If there are no cases: it would wait forever.
    #[track_caller]
    pub fn ready(&mut self) -> usize {
        assert!(
            !self.cases.is_empty(),
            "a Select with no cases would wait forever"
        );
        self.ready_or(Otherwise::Wait)
            .expect("ready without a timeout finds a case")
    }

    /// The index of a case that could complete now, if any (without completing it).
    pub fn try_ready(&mut self) -> Option<usize> {
        self.ready_or(Otherwise::Default)
    }

    /// As [`ready`](Select::ready), waiting at most `timeout`.
    #[track_caller]
    pub fn ready_timeout(&mut self, timeout: Duration) -> Option<usize> {
        self.ready_or(Otherwise::Timeout(timeout))
    }

    fn order(&self) -> Vec<usize> {
        if self.biased {
            (0..self.cases.len()).collect()
        } else {
            shuffled(self.cases.len())
        }
    }

    #[track_caller]
    fn ready_or(&mut self, otherwise: Otherwise) -> Option<usize> {
        let cases: Vec<&dyn Case> = self.cases.iter().map(DynCase::as_case).collect();
        ready(&cases, &self.order(), otherwise)
    }

    /// Completes a case that is ready now, if any.
    pub fn try_select(self) -> Option<(usize, Selected<T>)> {
        self.run(Otherwise::Default)
    }

    /// Waits at most `timeout` for a case to complete.
    #[track_caller]
    pub fn select_timeout(self, timeout: Duration) -> Option<(usize, Selected<T>)> {
        self.run(Otherwise::Timeout(timeout))
    }

    #[track_caller]
    fn run(mut self, otherwise: Otherwise) -> Option<(usize, Selected<T>)> {
        let index = {
            let cases: Vec<&dyn Case> = self.cases.iter().map(DynCase::as_case).collect();
            run(&cases, &self.order(), otherwise)?
        };
        let outcome = match &mut self.cases[index] {
            DynCase::Recv(case) => Selected::Recv(case.take()),
            DynCase::Send(case) => Selected::Send(case.take()),
        };
        Some((index, outcome))
    }
}
