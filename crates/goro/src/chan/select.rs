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

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::waiter::{Entry, Slot, Waiter};
use super::{Chan, Deadline, Receiver, RecvError, SendError, Sender, wait};

/// One case of a select, type-erased for the engine. Implemented by [`RecvCase`] and
/// [`SendCase`]; `select!` builds them.
#[doc(hidden)]
pub trait Case {
    /// Completes the operation now if it can, keeping its result.
    fn try_now(&mut self) -> bool;
    /// Whether the operation could complete now, not counting `waiter`'s own entries.
    fn ready(&self, waiter: &Arc<Waiter>) -> bool;
    /// Queues an entry for `waiter` as case `index`.
    fn register(&mut self, waiter: &Arc<Waiter>, index: usize);
    /// Removes `waiter`'s entries from the channel.
    fn unregister(&mut self, waiter: &Arc<Waiter>);
    /// This case's entry was claimed: take its result from the slot.
    fn claimed(&mut self);
}

/// A `recv(r)` case.
#[doc(hidden)]
#[derive(Debug)]
pub struct RecvCase<'a, T> {
    rx: &'a Receiver<T>,
    slot: Option<Arc<Slot<T>>>,
    result: Option<Result<T, RecvError>>,
}

/// A `send(s, v)` case.
#[doc(hidden)]
#[derive(Debug)]
pub struct SendCase<'a, T> {
    tx: &'a Sender<T>,
    value: Option<T>,
    slot: Option<Arc<Slot<T>>>,
    result: Option<Result<(), SendError<T>>>,
}

impl<'a, T> RecvCase<'a, T> {
    pub fn new(rx: &'a Receiver<T>) -> RecvCase<'a, T> {
        RecvCase {
            rx,
            slot: None,
            result: None,
        }
    }

    /// Whether this case completed (it holds a result).
    pub fn is_selected(&self) -> bool {
        self.result.is_some()
    }

    /// The result, once this case was selected.
    pub fn take(&mut self) -> Result<T, RecvError> {
        self.result.take().expect("the selected case has a result")
    }
}

impl<'a, T> SendCase<'a, T> {
    pub fn new(tx: &'a Sender<T>, value: T) -> SendCase<'a, T> {
        SendCase {
            tx,
            value: Some(value),
            slot: None,
            result: None,
        }
    }

    /// Whether this case completed (it holds a result).
    pub fn is_selected(&self) -> bool {
        self.result.is_some()
    }

    /// The result, once this case was selected.
    pub fn take(&mut self) -> Result<(), SendError<T>> {
        self.result.take().expect("the selected case has a result")
    }
}

fn others<T>(queue: &std::collections::VecDeque<Entry<T>>, me: &Arc<Waiter>) -> bool {
    queue
        .iter()
        .any(|e| !Arc::ptr_eq(&e.waiter, me) && e.waiter.claimed().is_none())
}

fn remove<T>(chan: &Chan<T>, me: &Arc<Waiter>) {
    let mut state = chan.lock();
    state.recvq.retain(|e| !Arc::ptr_eq(&e.waiter, me));
    state.sendq.retain(|e| !Arc::ptr_eq(&e.waiter, me));
}

impl<T> Case for RecvCase<'_, T> {
    fn try_now(&mut self) -> bool {
        let mut state = self.rx.chan.lock();
        match Chan::try_recv_locked(&mut state) {
            Ok(Some(v)) => self.result = Some(Ok(v)),
            Ok(None) => self.result = Some(Err(RecvError)),
            Err(()) => return false,
        }
        true
    }

    fn ready(&self, me: &Arc<Waiter>) -> bool {
        let state = self.rx.chan.lock();
        !state.buf.is_empty() || state.closed || others(&state.sendq, me)
    }

    fn register(&mut self, waiter: &Arc<Waiter>, index: usize) {
        let slot = Slot::new(None);
        self.rx.chan.lock().recvq.push_back(Entry {
            waiter: waiter.clone(),
            case: index,
            slot: slot.clone(),
        });
        self.slot = Some(slot);
    }

    fn unregister(&mut self, waiter: &Arc<Waiter>) {
        remove(&self.rx.chan, waiter);
    }

    fn claimed(&mut self) {
        let slot = self.slot.take().expect("a registered case has a slot");
        self.result = Some(slot.lock().take().ok_or(RecvError));
    }
}

impl<T> Case for SendCase<'_, T> {
    fn try_now(&mut self) -> bool {
        let value = self
            .value
            .take()
            .expect("an unfinished send case has its value");
        let mut state = self.tx.chan.lock();
        match Chan::try_send_locked(&mut state, self.tx.chan.cap, value) {
            Ok(Ok(())) => self.result = Some(Ok(())),
            Ok(Err(value)) => self.result = Some(Err(SendError(value))),
            Err(value) => {
                self.value = Some(value);
                return false;
            }
        }
        true
    }

    fn ready(&self, me: &Arc<Waiter>) -> bool {
        let state = self.tx.chan.lock();
        state.closed
            || state.no_receivers
            || others(&state.recvq, me)
            || self.tx.chan.cap.is_none_or(|cap| state.buf.len() < cap)
    }

    fn register(&mut self, waiter: &Arc<Waiter>, index: usize) {
        let slot = Slot::new(self.value.take());
        self.tx.chan.lock().sendq.push_back(Entry {
            waiter: waiter.clone(),
            case: index,
            slot: slot.clone(),
        });
        self.slot = Some(slot);
    }

    fn unregister(&mut self, waiter: &Arc<Waiter>) {
        remove(&self.tx.chan, waiter);
        // Not claimed: the value comes back for the next attempt.
        if let Some(slot) = self.slot.take() {
            self.value = slot.lock().take();
        }
    }

    fn claimed(&mut self) {
        let slot = self.slot.take().expect("a registered case has a slot");
        // A receiver took the value, or closing left it there.
        self.result = Some(match slot.lock().take() {
            None => Ok(()),
            Some(value) => Err(SendError(value)),
        });
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

/// Runs a select over `cases`; returns the index of the completed case, or `None` for
/// the default arm.
#[doc(hidden)]
pub fn select(cases: &mut [&mut dyn Case], otherwise: Otherwise) -> Option<usize> {
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
        let waiter = Waiter::new();
        for (i, case) in cases.iter_mut().enumerate() {
            case.register(&waiter, i);
        }
        let won = if cases.iter().any(|case| case.ready(&waiter)) {
            // Aborted (`Ok`): start over; claimed first (`Err(case)`): that case won.
            waiter.abort().err()
        } else {
            // 4. Wait for a claim (or time out, which aborts the waiter).
            let won = wait(&waiter, deadline);
            if won.is_none() {
                for case in cases.iter_mut() {
                    case.unregister(&waiter);
                }
                return None;
            }
            won
        };
        for (i, case) in cases.iter_mut().enumerate() {
            if Some(i) == won {
                case.claimed();
            }
            case.unregister(&waiter);
        }
        if let Some(i) = won {
            return Some(i);
        }
        // Aborted because something became ready: start over.
    }
}

/// A uniformly random index below `n` (xorshift64, one state per thread).
fn random_below(n: usize) -> usize {
    use std::cell::Cell;
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
    fn as_case(&mut self) -> &mut dyn Case {
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
            let mut cases: Vec<&mut dyn Case> =
                self.cases.iter_mut().map(DynCase::as_case).collect();
            select(&mut cases, otherwise)?
        };
        let outcome = match &mut self.cases[index] {
            DynCase::Recv(case) => Selected::Recv(case.take()),
            DynCase::Send(case) => Selected::Send(case.take()),
        };
        Some((index, outcome))
    }
}
