//! `select`: wait on several channel operations and complete exactly one.
//!
//! 1. Try every case without waiting, in a random order (so that when several are
//!    ready, each is picked with equal chance). The first that completes wins.
//! 2. Otherwise, if there is a `default`, take it.
//! 3. Otherwise register one waiter on every case's channel (one entry per case, each
//!    with its own message slot), then look again: if a case became ready meanwhile,
//!    try to abort the waiter. If the abort succeeds, unregister and start over at 1; if
//!    it fails, a counterpart claimed us first, and that case won.
//! 4. Park until a counterpart claims one entry (the claim moves the message, see
//!    waiter.rs) or the timeout passes; then unregister every entry.
//!
//! A claim moves a message only into (or out of) the claimed entry's slot, under the
//! waiter's single CAS, so a case that loses never consumes its message: it stays in
//! its channel. Readiness checks skip the waiter's own entries, so a select that sends
//! and receives on the same unbuffered channel does not rendezvous with itself.

// `Case` must be public for `select!`'s expansion (in the user's crate) to name it,
// but its methods take the crate-private `Waiter`: nobody outside can call them, which
// is the point. The trait and its implementors are `#[doc(hidden)]`.
#![allow(private_interfaces)]

use std::cell::Cell;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::waiter::{Entry, Slot, Waiter};
use super::{Chan, Deadline, Receiver, RecvError, SendError, Sender, wait};

/// One case of a select, type-erased for the engine. Implemented by [`RecvCase`] and
/// [`SendCase`]; `select!` builds them. The methods take `&self`: while a case is
/// registered, a claimer on another thread may write its slot.
#[doc(hidden)]
pub trait Case {
    /// Completes the operation now if it can, keeping its result.
    fn try_now(&self) -> bool;
    /// Whether the operation could complete now, not counting `waiter`'s own entries.
    fn ready(&self, waiter: &Waiter) -> bool;
    /// Queues an entry for `waiter` as case `index`.
    ///
    /// # Safety
    ///
    /// The caller must [`unregister`](Case::unregister) before this case or `waiter`
    /// goes away or moves.
    unsafe fn register(&self, waiter: &Waiter, index: usize);
    /// Removes `waiter`'s entries from the channel.
    fn unregister(&self, waiter: &Waiter);
    /// This case's entry was claimed and the claim is complete: take its result from
    /// the slot.
    fn claimed(&self);
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

/// Whether `queue` holds a live entry of another waiter than `me`.
fn others<T>(queue: &VecDeque<Entry<T>>, me: &Waiter) -> bool {
    queue.iter().any(|e| !e.is_for(me) && e.is_live())
}

fn remove<T>(chan: &Chan<T>, me: &Waiter) {
    let mut state = chan.lock();
    state.recvq.retain(|e| !e.is_for(me));
    state.sendq.retain(|e| !e.is_for(me));
}

impl<T> Case for RecvCase<'_, T> {
    fn try_now(&self) -> bool {
        let mut state = self.rx.chan.lock();
        let result = match Chan::try_recv_locked(&mut state) {
            Ok(Some(v)) => Ok(v),
            Ok(None) => Err(RecvError),
            Err(()) => return false,
        };
        self.result.set(Some(result));
        true
    }

    fn ready(&self, me: &Waiter) -> bool {
        let state = self.rx.chan.lock();
        !state.buf.is_empty() || state.closed || others(&state.sendq, me)
    }

    unsafe fn register(&self, waiter: &Waiter, index: usize) {
        // SAFETY: the caller unregisters before `self` (holding the slot) or `waiter`
        // goes away, which is `Entry::new`'s contract.
        let entry = unsafe { Entry::new(waiter, index, &self.slot) };
        self.rx.chan.lock().recvq.push_back(entry);
    }

    fn unregister(&self, waiter: &Waiter) {
        remove(&self.rx.chan, waiter);
    }

    fn claimed(&self) {
        // SAFETY: the claim is complete (the contract of `Case::claimed`).
        let value = unsafe { self.slot.take() };
        self.result.set(Some(value.ok_or(RecvError)));
    }
}

impl<T> Case for SendCase<'_, T> {
    fn try_now(&self) -> bool {
        // SAFETY: not registered: `try_now` runs before registering or after
        // unregistering (the engine's loop).
        let value = unsafe { self.slot.take() }.expect("an unfinished send case has its value");
        let mut state = self.tx.chan.lock();
        let result = match Chan::try_send_locked(&mut state, self.tx.chan.cap, value) {
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

    fn ready(&self, me: &Waiter) -> bool {
        let state = self.tx.chan.lock();
        state.closed
            || state.no_receivers
            || others(&state.recvq, me)
            || self.tx.chan.cap.is_none_or(|cap| state.buf.len() < cap)
    }

    unsafe fn register(&self, waiter: &Waiter, index: usize) {
        // SAFETY: as for `RecvCase::register`.
        let entry = unsafe { Entry::new(waiter, index, &self.slot) };
        self.tx.chan.lock().sendq.push_back(entry);
    }

    fn unregister(&self, waiter: &Waiter) {
        // Not claimed: the value stays in the slot for the next attempt.
        remove(&self.tx.chan, waiter);
    }

    fn claimed(&self) {
        // SAFETY: the claim is complete (the contract of `Case::claimed`).
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

/// Every case registered for one waiter, as a guard: dropping it unregisters them all,
/// so the waiter's frame and the cases can end (see waiter.rs), also when unwinding.
struct Registered<'c, 'w> {
    cases: &'c [&'c dyn Case],
    waiter: &'w Waiter,
}

impl Drop for Registered<'_, '_> {
    fn drop(&mut self) {
        for case in self.cases {
            case.unregister(self.waiter);
        }
    }
}

/// Runs a select over `cases`; returns the index of the completed case, or `None` for
/// the default arm.
#[doc(hidden)]
pub fn select(cases: &[&dyn Case], otherwise: Otherwise) -> Option<usize> {
    let deadline = match otherwise {
        Otherwise::Wait => Deadline::Never,
        Otherwise::Default => Deadline::Now,
        Otherwise::Timeout(t) => Deadline::after(t),
    };
    let n = cases.len();
    // A random order, so that among several ready cases each is equally likely.
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        order.swap(i, random_below(i + 1));
    }
    loop {
        // 1. Anything ready now?
        for &i in &order {
            if cases[i].try_now() {
                return Some(i);
            }
        }
        // 2. Default, or a deadline already passed.
        match deadline {
            Deadline::Now => return None,
            Deadline::At(at) if Instant::now() >= at => return None,
            _ => {}
        }
        // 3. Register everywhere, then look again.
        let waiter = Waiter::select();
        let registered = Registered {
            cases,
            waiter: &waiter,
        };
        for (i, case) in cases.iter().enumerate() {
            // SAFETY: `registered` unregisters every case before `waiter` goes away,
            // and `cases` is borrowed (so neither moves nor ends) for that long.
            unsafe { case.register(&waiter, i) };
        }
        let won = if cases.iter().any(|case| case.ready(&waiter)) {
            if waiter.abort() {
                None // start over
            } else {
                // Claimed first: that case won; wait for its message to move.
                wait(&waiter, Deadline::Never, || waiter.abort())
            }
        } else {
            // 4. Wait for a claim (or time out, which aborts the waiter).
            // (Timed out: `?` returns, and `registered` unregisters every case.)
            Some(wait(&waiter, deadline, || waiter.abort())?)
        };
        drop(registered);
        if let Some(i) = won {
            cases[i].claimed();
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
}

impl<T> std::fmt::Debug for Select<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Select")
            .field("cases", &self.cases.len())
            .finish()
    }
}

impl<T> Default for Select<'_, T> {
    fn default() -> Self {
        Select { cases: Vec::new() }
    }
}

impl<'a, T> Select<'a, T> {
    /// An empty select.
    pub fn new() -> Select<'a, T> {
        Select::default()
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
    pub fn select(self) -> (usize, Selected<T>) {
        assert!(
            !self.cases.is_empty(),
            "a Select with no cases would wait forever"
        );
        self.run(Otherwise::Wait)
            .expect("a select without a default completes a case")
    }

    /// Completes a case that is ready now, if any.
    pub fn try_select(self) -> Option<(usize, Selected<T>)> {
        self.run(Otherwise::Default)
    }

    /// Waits at most `timeout` for a case to complete.
    pub fn select_timeout(self, timeout: Duration) -> Option<(usize, Selected<T>)> {
        self.run(Otherwise::Timeout(timeout))
    }

    fn run(mut self, otherwise: Otherwise) -> Option<(usize, Selected<T>)> {
        let index = {
            let cases: Vec<&dyn Case> = self.cases.iter().map(DynCase::as_case).collect();
            select(&cases, otherwise)?
        };
        let outcome = match &mut self.cases[index] {
            DynCase::Recv(case) => Selected::Recv(case.take()),
            DynCase::Send(case) => Selected::Send(case.take()),
        };
        Some((index, outcome))
    }
}
