//! Channels: crossbeam-channel's API with Go's semantics, for coroutines and threads.
//!
//! - [`bounded(n)`](bounded) buffers up to `n` messages; `bounded(0)` is a rendezvous:
//!   a send completes only when a receiver takes the value.
//! - [`unbounded()`](unbounded) never blocks a sender.
//! - [`never()`](fn@never) never delivers anything.
//!
//! Buffered messages are delivered in order (FIFO), and blocked senders and receivers
//! are served in the order they arrived. A channel closes when [`Sender::close`] is
//! called (Go's `close(ch)`) or when every `Sender` is dropped: receivers then drain
//! what is buffered and get `Err(RecvError)`, and sends fail, returning the value in the
//! error. When every `Receiver` is dropped, sends fail the same way, and the messages
//! still buffered are dropped.
//!
//! Every operation works from coroutines and plain threads alike, in any mix: a
//! blocked coroutine parks (its worker runs others), a blocked thread blocks.
//!
//! # Examples
//!
//! ```
//! use goro::chan;
//!
//! let (tx, rx) = chan::bounded(1);
//! let producer = goro::go!(move || {
//!     for i in 0..5 {
//!         tx.send(i).unwrap();
//!     }
//!     // dropping `tx` closes the channel
//! });
//! let received: Vec<i32> = rx.iter().collect();
//! assert_eq!(received, [0, 1, 2, 3, 4]);
//! producer.join().unwrap();
//! ```

mod reserve;
mod select;
mod spin;
pub(crate) mod waiter;

pub use select::{Select, SelectedOperation};

#[doc(hidden)]
pub use select::{
    Case as __Case, Otherwise as __Otherwise, RecvCase as __RecvCase, SendCase as __SendCase,
    select as __select, select_biased as __select_biased,
};

use std::collections::VecDeque;
use std::fmt;
use std::mem::ManuallyDrop;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use goro_sched::Unparker;
use spin::{SpinGuard, SpinLock};
use waiter::{Entry, Slot, Waiter};

// The channel's invariants (docs/ARCHITECTURE.md §4 says them for users of the code):
// (Observer entries, a select's `ready`, are woken and skipped by every operation.)
// 1. `recvq` holds a live entry only while `buf` is empty: a send hands its value to a
//    waiting receiver before it buffers anything, and a receiver (or a select's recv
//    case) queues only after finding `buf` empty under the same lock.
// 2. `sendq` holds a live entry only while `buf` is full (a rendezvous channel's always
//    is): a receive refills the buffer from the longest-waiting sender. Room held by a
//    selected send (`reserved`, see `Reservation`) counts as full; giving it back
//    refills as a receive does.
// 3. Hence `close` may claim every queued receiver as "closed": none of them is passed
//    over a buffered message. Buffered messages are always delivered before "closed".
// 4. Every read of the state, and every claim of a queued entry, happens under the lock;
//    no user code (a message's destructor) runs under it.

/// The channel shared by all its senders and receivers.
struct Chan<T> {
    state: SpinLock<State<T>>,
    /// `None`: unbounded. `Some(0)`: rendezvous.
    cap: Option<usize>,
    /// Whether dropping the last sender closes the channel. Not for timer channels or
    /// `never`: Go's `time.After` channel is never closed, so a select over it does not
    /// find it ready (closed) forever after it fired.
    close_on_drop: bool,
    senders: AtomicUsize,
    receivers: AtomicUsize,
}

struct State<T> {
    buf: VecDeque<T>,
    /// Closed by `close` or by the last sender: no more sends, receivers drain.
    closed: bool,
    /// Every receiver is gone: sends fail.
    no_receivers: bool,
    /// Buffer room held by selected sends that have no value yet (`Reservation::Room`).
    reserved: usize,
    recvq: VecDeque<Entry<T>>,
    sendq: VecDeque<Entry<T>>,
    /// A timer channel's next value (`goro::time`), delivered when it is due: by the
    /// first look at the channel after that (so an expired timer is ready at once), or
    /// else by the timer callback that wakes waiting receivers.
    timer: Option<TimerState<T>>,
}

/// When a timer channel's next value is due, and how it repeats.
struct TimerState<T> {
    due: Instant,
    /// `None`: one value (`after`, `at`). `Some(p)`: one every `p` (`tick`).
    period: Option<Duration>,
    /// The message for a value due at a given instant.
    message: fn(Instant) -> T,
}

impl<T> Chan<T> {
    fn new(cap: Option<usize>, close_on_drop: bool) -> Arc<Chan<T>> {
        Arc::new(Chan {
            state: SpinLock::new(State {
                buf: VecDeque::with_capacity(cap.unwrap_or(0).min(1024)),
                closed: false,
                no_receivers: false,
                reserved: 0,
                recvq: VecDeque::new(),
                sendq: VecDeque::new(),
                timer: None,
            }),
            cap,
            close_on_drop,
            senders: AtomicUsize::new(1),
            receivers: AtomicUsize::new(1),
        })
    }

    fn lock(&self) -> Locked<'_, T> {
        Locked {
            state: self.state.lock(),
            wake: Wake::default(),
        }
    }

    /// Gives `value` to the longest-waiting live receiver (waking observers on the
    /// way); returns it if no receiver is waiting.
    #[inline]
    fn hand_to_receiver(state: &mut State<T>, wake: &mut Wake, value: T) -> Option<T> {
        let mut value = Some(value);
        while let Some(entry) = state.recvq.pop_front() {
            if entry.observes() {
                wake_observer(entry, wake);
                continue;
            }
            if let Ok(((), unparker)) = entry.claim(|slot| *slot = value.take()) {
                wake.later(unparker);
                return None;
            }
        }
        value
    }

    /// Sends without waiting, if possible. `Err(value)` if the caller must wait;
    /// disconnection is reported through `Ok(Err(..))`.
    #[inline]
    fn try_send_locked(
        state: &mut State<T>,
        wake: &mut Wake,
        cap: Option<usize>,
        value: T,
    ) -> Result<Result<(), T>, T> {
        if state.closed || state.no_receivers {
            return Ok(Err(value));
        }
        // A waiting receiver means the buffer is empty (invariant 1): hand the value
        // over directly.
        let Some(value) = Chan::hand_to_receiver(state, wake, value) else {
            return Ok(Ok(()));
        };
        if cap.is_none_or(|cap| state.buf.len() + state.reserved < cap) {
            state.buf.push_back(value);
            return Ok(Ok(()));
        }
        Err(value)
    }

    /// Receives without waiting, if possible. `Err(())` if the caller must wait;
    /// `Ok(None)` means closed and drained.
    #[inline]
    fn try_recv_locked(
        state: &mut State<T>,
        wake: &mut Wake,
        cap: Option<usize>,
    ) -> Result<Option<T>, ()> {
        if state.timer.is_some() {
            Chan::fire_due(state, wake, cap);
        }
        if let Some(value) = state.buf.pop_front() {
            // Room in the buffer: the longest-waiting sender's value moves in.
            while let Some(entry) = state.sendq.pop_front() {
                if entry.observes() {
                    wake_observer(entry, wake);
                    continue;
                }
                let buf = &mut state.buf;
                let claim = entry.claim(|slot| {
                    buf.push_back(slot.take().expect("a waiting sender's slot is full"))
                });
                if let Ok(((), unparker)) = claim {
                    wake.later(unparker);
                    break;
                }
            }
            return Ok(Some(value));
        }
        // Empty buffer (or a rendezvous): take straight from a waiting sender.
        while let Some(entry) = state.sendq.pop_front() {
            if entry.observes() {
                wake_observer(entry, wake);
                continue;
            }
            if let Ok((value, unparker)) = entry.claim(|slot| slot.take()) {
                wake.later(unparker);
                return Ok(Some(value.expect("a waiting sender's slot is full")));
            }
        }
        if state.closed { Ok(None) } else { Err(()) }
    }

    /// Whether a receive could complete now, not counting `me`'s own entries (a select
    /// never rendezvouses with itself).
    fn recv_ready_locked(
        state: &mut State<T>,
        wake: &mut Wake,
        cap: Option<usize>,
        me: &Waiter,
    ) -> bool {
        if state.timer.is_some() {
            Chan::fire_due(state, wake, cap);
        }
        !state.buf.is_empty() || state.closed || others(&state.sendq, me)
    }

    /// Whether a send could complete now, not counting `me`'s own entries.
    fn send_ready_locked(state: &State<T>, cap: Option<usize>, me: &Waiter) -> bool {
        state.closed
            || state.no_receivers
            || others(&state.recvq, me)
            || cap.is_none_or(|cap| state.buf.len() + state.reserved < cap)
    }

    /// A timer channel: delivers its value if it is due (the message of a tick missed
    /// because the buffer is still full is dropped, as Go's). Returns when the next
    /// value is due, if any.
    fn fire_due(state: &mut State<T>, wake: &mut Wake, cap: Option<usize>) -> Option<Instant> {
        let timer = state.timer.as_mut()?;
        let now = Instant::now();
        if now < timer.due {
            return Some(timer.due);
        }
        let due = timer.due;
        let message = (timer.message)(due);
        let next = timer.period.and_then(|period| {
            // The first tick after now, on the original schedule (missed ones dropped).
            let missed = (now - due).as_nanos() / period.as_nanos();
            let ahead = period.checked_mul(u32::try_from(missed + 1).ok()?)?;
            due.checked_add(ahead)
        });
        match next {
            Some(next) => timer.due = next,
            None => state.timer = None,
        }
        let _ = Chan::try_send_locked(state, wake, cap, message);
        next
    }

    #[track_caller]
    fn send(&self, value: T, deadline: Deadline) -> Result<(), SendTimeoutError<T>> {
        let mut locked = self.lock();
        let Locked { state, wake } = &mut locked;
        let value = match Chan::try_send_locked(state, wake, self.cap, value) {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(value)) => return Err(SendTimeoutError::Disconnected(value)),
            Err(value) => value,
        };
        if let Deadline::Now = deadline {
            return Err(SendTimeoutError::Timeout(value));
        }
        let waiter = Waiter::single();
        let slot = Slot::new(Some(value));
        // SAFETY: `queued` (declared after `waiter` and `slot`, so dropped before
        // them) removes the entry under the lock unless a claim popped it.
        state
            .sendq
            .push_back(unsafe { Entry::new(&waiter, 0, &slot) });
        let queued = Queued {
            chan: self,
            waiter: &waiter,
            queue: Queue::Send,
        };
        drop(locked);
        let on = goro_sched::Wait::new(goro_sched::WaitReason::ChanSend);
        let claimed = wait(&waiter, deadline, || queued.abort(), on).is_some();
        // SAFETY: the waiter is claimed (the claim is complete) or aborted.
        let value = unsafe { slot.take() };
        match (claimed, value) {
            // Claimed by a receiver, which took the value.
            (true, None) => Ok(()),
            // Claimed by closing, which left it.
            (true, Some(value)) => Err(SendTimeoutError::Disconnected(value)),
            (false, value) => Err(SendTimeoutError::Timeout(
                value.expect("an unclaimed slot keeps its value"),
            )),
        }
    }

    #[track_caller]
    fn recv(&self, deadline: Deadline) -> Result<T, RecvTimeoutError> {
        loop {
            if let Some(result) = self.recv_once(deadline) {
                return result;
            }
        }
    }

    /// One attempt of `recv`: `None` if a reservation of its waiter was given up
    /// (`waiter::RETRY`): start over.
    #[inline]
    #[track_caller]
    fn recv_once(&self, deadline: Deadline) -> Option<Result<T, RecvTimeoutError>> {
        let mut locked = self.lock();
        let Locked { state, wake } = &mut locked;
        match Chan::try_recv_locked(state, wake, self.cap) {
            Ok(Some(value)) => return Some(Ok(value)),
            Ok(None) => return Some(Err(RecvTimeoutError::Disconnected)),
            Err(()) => {}
        }
        if let Deadline::Now = deadline {
            return Some(Err(RecvTimeoutError::Timeout));
        }
        let waiter = Waiter::single();
        let slot = Slot::new(None);
        // SAFETY: as in `send`.
        state
            .recvq
            .push_back(unsafe { Entry::new(&waiter, 0, &slot) });
        let queued = Queued {
            chan: self,
            waiter: &waiter,
            queue: Queue::Recv,
        };
        drop(locked);
        let on = goro_sched::Wait::new(goro_sched::WaitReason::ChanRecv);
        match wait(&waiter, deadline, || queued.abort(), on) {
            None => Some(Err(RecvTimeoutError::Timeout)),
            Some(waiter::RETRY) => None,
            // Claimed: by a sender, which filled the slot, or by closing, which did not.
            // SAFETY: the claim is complete.
            Some(_) => Some(unsafe { slot.take() }.ok_or(RecvTimeoutError::Disconnected)),
        }
    }

    /// Closes the channel; wakes every waiting receiver (which then sees it closed and
    /// empty: invariant 3) and every waiting sender (which gets its value back).
    /// Returns whether this call closed it.
    fn close(&self) -> bool {
        let mut locked = self.lock();
        let Locked { state, wake } = &mut locked;
        if state.closed {
            return false;
        }
        state.closed = true;
        while let Some(entry) = state.recvq.pop_front().or_else(|| state.sendq.pop_front()) {
            if let Ok(((), unparker)) = entry.claim(|_| ()) {
                wake.later(unparker);
            }
        }
        true
    }

    fn is_full(&self) -> bool {
        self.cap.is_some_and(|cap| self.len() >= cap)
    }

    fn len(&self) -> usize {
        let mut locked = self.lock();
        let Locked { state, wake } = &mut locked;
        if state.timer.is_some() {
            Chan::fire_due(state, wake, self.cap);
        }
        state.buf.len()
    }

    /// The last receiver is gone: waiting senders get their values back, the timer
    /// stops, and the buffered messages are dropped (after unlocking: their
    /// destructors are user code).
    fn disconnect_receivers(&self) {
        let buffered = {
            let mut locked = self.lock();
            let Locked { state, wake } = &mut locked;
            state.no_receivers = true;
            state.timer = None;
            while let Some(entry) = state.sendq.pop_front() {
                if let Ok(((), unparker)) = entry.claim(|_| ()) {
                    wake.later(unparker);
                }
            }
            std::mem::take(&mut state.buf)
        };
        drop_in_order(buffered);
    }
}

/// Drops `messages` front to back. If a destructor panics, the panic goes on and the
/// messages behind it leak: dropping them while unwinding would abort the process if
/// one of them panicked too (crossbeam-channel does the same).
fn drop_in_order<T>(messages: VecDeque<T>) {
    let mut messages = ManuallyDrop::new(messages);
    while let Some(message) = messages.pop_front() {
        drop(message);
    }
    drop(ManuallyDrop::into_inner(messages));
}

/// Whether `queue` holds a live operation of another waiter than `me` (observers are
/// no operations).
fn others<T>(queue: &VecDeque<Entry<T>>, me: &Waiter) -> bool {
    queue
        .iter()
        .any(|e| !e.is_for(me) && !e.observes() && e.is_live())
}

/// Wakes (and removes) every observer in `queue`: an operation just queued in the other
/// queue of the channel may have made their case ready. (A select registering; a single
/// operation's attempt before queueing wakes them already.)
fn wake_observers<T>(queue: &mut VecDeque<Entry<T>>, wake: &mut Wake) {
    let mut i = 0;
    while i < queue.len() {
        if queue[i].observes() {
            let entry = queue.remove(i).expect("in range");
            wake_observer(entry, wake);
        } else {
            i += 1;
        }
    }
}

/// A select's `ready` watched this queue, and something happened there: wake it (its
/// case may be ready now; it looks again itself). The operation goes on to the next
/// entry.
#[cold]
fn wake_observer<T>(entry: Entry<T>, wake: &mut Wake) {
    if let Ok(((), unparker)) = entry.claim(|_| ()) {
        wake.later(unparker);
    }
}

/// The channel's state, locked. Waiters claimed meanwhile are woken when it unlocks,
/// after the lock is released (step 4 of a claim, see waiter.rs).
struct Locked<'a, T> {
    /// Dropped first: unlocks.
    state: SpinGuard<'a, State<T>>,
    /// Dropped second: wakes.
    wake: Wake,
}

/// Waiters claimed under a lock, to wake once it is released (on drop).
#[derive(Default)]
pub(crate) struct Wake {
    /// The common case: one waiter to wake.
    one: Option<Unparker>,
    /// Closing wakes every waiter.
    more: Vec<Unparker>,
}

impl Wake {
    #[inline]
    fn later(&mut self, unparker: Option<Unparker>) {
        let Some(unparker) = unparker else { return };
        match self.one {
            None => self.one = Some(unparker),
            Some(_) => self.more.push(unparker),
        }
    }
}

impl Drop for Wake {
    #[inline]
    fn drop(&mut self) {
        if let Some(unparker) = self.one.take() {
            unparker.unpark_owned();
        }
        if !self.more.is_empty() {
            for unparker in self.more.drain(..) {
                unparker.unpark_owned();
            }
        }
    }
}

/// Which of a channel's queues.
#[derive(Clone, Copy)]
enum Queue {
    Send,
    Recv,
}

/// A single operation's entry in a channel queue, as a guard: dropping it removes the
/// entry unless a claim popped it, so the waiter's frame can end (see waiter.rs).
struct Queued<'a, T> {
    chan: &'a Chan<T>,
    waiter: &'a Waiter,
    queue: Queue,
}

impl<T> Queued<'_, T> {
    /// Gives up: aborts the waiter and removes its entry, under the channel's lock.
    /// Returns false if a claim came first (it is complete then).
    fn abort(&self) -> bool {
        let mut locked = self.chan.lock();
        if !self.waiter.abort_locked() {
            return false;
        }
        self.remove(&mut locked.state);
        true
    }

    fn remove(&self, state: &mut State<T>) {
        let queue = match self.queue {
            Queue::Send => &mut state.sendq,
            Queue::Recv => &mut state.recvq,
        };
        queue.retain(|e| !e.is_for(self.waiter));
    }
}

impl<T> Drop for Queued<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // Claimed, or aborted: the claimer popped the operation's one entry, or the
        // abort removed it. Otherwise (unwinding) it may be queued still: remove it
        // under the lock, which no claim can then be holding.
        if !self.waiter.is_waiting() {
            return;
        }
        let mut locked = self.chan.lock();
        self.remove(&mut locked.state);
    }
}

/// How long an operation may wait.
#[derive(Clone, Copy)]
enum Deadline {
    Now,
    At(Instant),
    Never,
}

impl Deadline {
    /// Whether there is time to wait (the deadline has not passed).
    fn may_wait(self) -> bool {
        match self {
            Deadline::Now => false,
            Deadline::At(at) => Instant::now() < at,
            Deadline::Never => true,
        }
    }

    fn after(timeout: Duration) -> Deadline {
        Instant::now()
            .checked_add(timeout)
            .map_or(Deadline::Never, Deadline::At)
    }
}

/// Parks until `waiter` is claimed (returns its case) or the deadline passes (returns
/// `None`, having aborted the waiter with `abort`).
#[inline]
fn wait(
    waiter: &Waiter,
    mut deadline: Deadline,
    abort: impl Fn() -> bool,
    on: goro_sched::Wait,
) -> Option<usize> {
    loop {
        if let Some(case) = waiter.claimed() {
            return Some(case);
        }
        match deadline {
            Deadline::Never => goro_sched::park_on(on),
            Deadline::At(at) if Instant::now() < at => goro_sched::park_until_on(at, on),
            Deadline::At(_) | Deadline::Now => {
                if abort() {
                    return None;
                }
                // Claimed first: the claimer unparks us once the message has moved.
                deadline = Deadline::Never;
            }
        }
    }
}

/// Creates a channel that buffers up to `cap` messages; `bounded(0)` is a rendezvous
/// channel, where each send waits for a receiver to take the value.
///
/// # Examples
///
/// ```
/// let (tx, rx) = goro::chan::bounded(2);
/// tx.send(1).unwrap();
/// tx.send(2).unwrap();
/// assert!(tx.try_send(3).is_err()); // full
/// assert_eq!(rx.recv(), Ok(1));
/// ```
pub fn bounded<T>(cap: usize) -> (Sender<T>, Receiver<T>) {
    let chan = Chan::new(Some(cap), true);
    (Sender { chan: chan.clone() }, Receiver { chan })
}

/// Creates a channel with no limit on buffered messages: sends never wait.
///
/// # Examples
///
/// ```
/// let (tx, rx) = goro::chan::unbounded();
/// for i in 0..1000 {
///     tx.send(i).unwrap();
/// }
/// assert_eq!(rx.len(), 1000);
/// ```
pub fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
    let chan = Chan::new(None, true);
    (Sender { chan: chan.clone() }, Receiver { chan })
}

/// Creates a receiver that never receives anything: `recv` waits forever,
/// `recv_timeout` always times out, `try_recv` is always `Empty`. It has no buffer
/// (`capacity()` is `Some(0)`).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let rx = goro::chan::never::<u32>();
/// assert!(rx.recv_timeout(Duration::from_millis(1)).is_err());
/// ```
pub fn never<T>() -> Receiver<T> {
    // A rendezvous channel with no sender, never closed: nothing ever arrives.
    let chan = Chan::new(Some(0), false);
    chan.senders.store(0, Ordering::Relaxed);
    Receiver { chan }
}

/// A timer channel for `goro::time`: one slot, no sender, never closed; it receives
/// `due` once (`period` `None`) or `due`, `due + period`, ... (a tick that finds the
/// slot full is dropped). Each value is the instant it was due.
pub(crate) fn timer(due: Instant, period: Option<Duration>) -> Receiver<Instant> {
    let chan = Chan::new(Some(1), false);
    chan.senders.store(0, Ordering::Relaxed);
    chan.lock().state.timer = Some(TimerState {
        due,
        period,
        message: |due| due,
    });
    arm_timer(Arc::downgrade(&chan), due);
    Receiver { chan }
}

/// Runs the timer channel's delivery when its value is due (unless a receiver looked
/// at it after then, which delivered it already), waking a waiting receiver; then
/// arms the next tick. It stops when the receivers are gone.
fn arm_timer(chan: Weak<Chan<Instant>>, due: Instant) {
    goro_sched::call_at(due, move || {
        let Some(chan) = chan.upgrade() else { return };
        let next = {
            let mut locked = chan.lock();
            let Locked { state, wake } = &mut locked;
            Chan::fire_due(state, wake, chan.cap)
        };
        if let Some(next) = next {
            arm_timer(Arc::downgrade(&chan), next);
        }
    });
}

/// The sending half of a channel. Clone it for more senders; the channel closes when
/// the last one is dropped (or on [`close`](Sender::close)).
pub struct Sender<T> {
    chan: Arc<Chan<T>>,
}

/// The receiving half of a channel. Clone it for more receivers: each message goes to
/// exactly one of them.
pub struct Receiver<T> {
    chan: Arc<Chan<T>>,
}

impl<T> Sender<T> {
    /// Sends `value`, waiting while the channel is full (for a rendezvous channel:
    /// until a receiver takes it).
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = goro::chan::bounded(0);
    /// let h = goro::go!(move || tx.send("hi").unwrap());
    /// assert_eq!(rx.recv(), Ok("hi"));
    /// h.join().unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// [`SendError`] with the value if the channel is closed or every receiver is gone.
    #[track_caller]
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        self.chan
            .send(value, Deadline::Never)
            .map_err(|e| SendError(e.into_inner()))
    }

    /// Sends `value` if that needs no waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// use goro::chan::TrySendError;
    ///
    /// let (tx, _rx) = goro::chan::bounded(1);
    /// assert_eq!(tx.try_send(1), Ok(()));
    /// assert_eq!(tx.try_send(2), Err(TrySendError::Full(2)));
    /// ```
    ///
    /// # Errors
    ///
    /// [`TrySendError::Full`] if the channel is full (or a rendezvous channel has no
    /// receiver waiting); [`TrySendError::Disconnected`] if it is closed.
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        self.chan.send(value, Deadline::Now).map_err(|e| match e {
            SendTimeoutError::Timeout(v) => TrySendError::Full(v),
            SendTimeoutError::Disconnected(v) => TrySendError::Disconnected(v),
        })
    }

    /// Sends `value`, waiting at most `timeout`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use goro::chan::SendTimeoutError;
    ///
    /// let (tx, _rx) = goro::chan::bounded(0);
    /// let err = tx.send_timeout(7, Duration::from_millis(5)).unwrap_err();
    /// assert_eq!(err, SendTimeoutError::Timeout(7));
    /// ```
    ///
    /// # Errors
    ///
    /// [`SendTimeoutError::Timeout`] with the value if it could not be sent in time;
    /// [`SendTimeoutError::Disconnected`] if the channel is closed.
    #[track_caller]
    pub fn send_timeout(&self, value: T, timeout: Duration) -> Result<(), SendTimeoutError<T>> {
        self.chan.send(value, Deadline::after(timeout))
    }

    /// Closes the channel, as Go's `close(ch)`: receivers drain what is buffered, then
    /// get `Err(RecvError)`; sends fail. Returns whether this call closed it (false if
    /// it already was).
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = goro::chan::unbounded();
    /// tx.send(1).unwrap();
    /// assert!(tx.close());
    /// assert!(!tx.close());
    /// assert_eq!(rx.recv(), Ok(1));
    /// assert!(rx.recv().is_err());
    /// assert!(tx.send(2).is_err());
    /// ```
    pub fn close(&self) -> bool {
        self.chan.close()
    }

    /// Whether the channel is closed, or has no receivers left.
    pub fn is_closed(&self) -> bool {
        let locked = self.chan.lock();
        locked.state.closed || locked.state.no_receivers
    }

    /// Messages buffered now.
    pub fn len(&self) -> usize {
        self.chan.len()
    }

    /// Whether no message is buffered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The buffer's capacity: `None` for an unbounded channel, `Some(0)` for a
    /// rendezvous channel.
    pub fn capacity(&self) -> Option<usize> {
        self.chan.cap
    }

    /// Whether the buffer is full now. A rendezvous channel is always full (it has no
    /// room); an unbounded one never is.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, _rx) = goro::chan::bounded(1);
    /// assert!(!tx.is_full());
    /// tx.send(1).unwrap();
    /// assert!(tx.is_full());
    /// ```
    pub fn is_full(&self) -> bool {
        self.chan.is_full()
    }

    /// Whether `self` and `other` are handles of the same channel.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, _rx) = goro::chan::unbounded::<u8>();
    /// let (other, _other_rx) = goro::chan::unbounded::<u8>();
    /// assert!(tx.same_channel(&tx.clone()));
    /// assert!(!tx.same_channel(&other));
    /// ```
    pub fn same_channel(&self, other: &Sender<T>) -> bool {
        Arc::ptr_eq(&self.chan, &other.chan)
    }
}

impl<T> Receiver<T> {
    /// Receives a message, waiting until one is available.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = goro::chan::unbounded();
    /// goro::go!(move || tx.send(5).unwrap());
    /// assert_eq!(rx.recv(), Ok(5));
    /// assert!(rx.recv().is_err()); // the sender is gone: closed and drained
    /// ```
    ///
    /// # Errors
    ///
    /// [`RecvError`] once the channel is closed and drained.
    #[track_caller]
    pub fn recv(&self) -> Result<T, RecvError> {
        self.chan.recv(Deadline::Never).map_err(|_| RecvError)
    }

    /// Receives a message if one is available now.
    ///
    /// # Examples
    ///
    /// ```
    /// use goro::chan::TryRecvError;
    ///
    /// let (tx, rx) = goro::chan::unbounded::<u8>();
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    /// drop(tx);
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    /// ```
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`] if nothing is available; [`TryRecvError::Disconnected`]
    /// if the channel is closed and drained.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        self.chan.recv(Deadline::Now).map_err(|e| match e {
            RecvTimeoutError::Timeout => TryRecvError::Empty,
            RecvTimeoutError::Disconnected => TryRecvError::Disconnected,
        })
    }

    /// Receives a message, waiting at most `timeout`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use goro::chan::RecvTimeoutError;
    ///
    /// let (_tx, rx) = goro::chan::bounded::<u8>(1);
    /// assert_eq!(rx.recv_timeout(Duration::from_millis(5)), Err(RecvTimeoutError::Timeout));
    /// ```
    ///
    /// # Errors
    ///
    /// [`RecvTimeoutError::Timeout`] if nothing arrived in time;
    /// [`RecvTimeoutError::Disconnected`] if the channel is closed and drained.
    #[track_caller]
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        self.chan.recv(Deadline::after(timeout))
    }

    /// A blocking iterator over received messages; it ends when the channel is closed
    /// and drained.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = goro::chan::unbounded();
    /// (0..3).for_each(|i| tx.send(i).unwrap());
    /// drop(tx);
    /// assert_eq!(rx.iter().sum::<i32>(), 3);
    /// ```
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { rx: self }
    }

    /// An iterator over the messages available now, without waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = goro::chan::unbounded();
    /// (0..3).for_each(|i| tx.send(i).unwrap());
    /// assert_eq!(rx.try_iter().count(), 3); // `tx` still lives: no end, just empty
    /// ```
    pub fn try_iter(&self) -> TryIter<'_, T> {
        TryIter { rx: self }
    }

    /// Whether the channel is closed (explicitly or by its last sender).
    pub fn is_closed(&self) -> bool {
        self.chan.lock().state.closed
    }

    /// Messages buffered now (for a timer channel, 1 if its value is due and not yet
    /// received).
    pub fn len(&self) -> usize {
        self.chan.len()
    }

    /// Whether no message is buffered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The buffer's capacity: `None` for an unbounded channel, `Some(0)` for a
    /// rendezvous channel.
    pub fn capacity(&self) -> Option<usize> {
        self.chan.cap
    }

    /// Whether the buffer is full now. A rendezvous channel is always full (it has no
    /// room); an unbounded one never is.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = goro::chan::bounded(1);
    /// tx.send(1).unwrap();
    /// assert!(rx.is_full());
    /// assert!(goro::chan::bounded::<u8>(0).1.is_full());
    /// ```
    pub fn is_full(&self) -> bool {
        self.chan.is_full()
    }

    /// Whether `self` and `other` are handles of the same channel.
    ///
    /// # Examples
    ///
    /// ```
    /// let (_tx, rx) = goro::chan::unbounded::<u8>();
    /// assert!(rx.same_channel(&rx.clone()));
    /// assert!(!rx.same_channel(&goro::chan::never()));
    /// ```
    pub fn same_channel(&self, other: &Receiver<T>) -> bool {
        Arc::ptr_eq(&self.chan, &other.chan)
    }
}

// A panic never leaves a channel half-updated: no user code runs while its state is
// locked (invariant 4), so a handle is as good after a caught panic as before, as
// crossbeam-channel's are.
impl<T> std::panic::UnwindSafe for Sender<T> {}
impl<T> std::panic::RefUnwindSafe for Sender<T> {}
impl<T> std::panic::UnwindSafe for Receiver<T> {}
impl<T> std::panic::RefUnwindSafe for Receiver<T> {}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Sender<T> {
        self.chan.senders.fetch_add(1, Ordering::Relaxed);
        Sender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Receiver<T> {
        self.chan.receivers.fetch_add(1, Ordering::Relaxed);
        Receiver {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        // AcqRel: the last sender sees every other sender's drop.
        if self.chan.senders.fetch_sub(1, Ordering::AcqRel) == 1 && self.chan.close_on_drop {
            self.chan.close();
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        // AcqRel: the last receiver sees every other receiver's drop.
        if self.chan.receivers.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.chan.disconnect_receivers();
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("capacity", &self.chan.cap)
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("capacity", &self.chan.cap)
            .finish_non_exhaustive()
    }
}

/// A blocking iterator over a [`Receiver`]'s messages, from [`Receiver::iter`].
#[derive(Debug)]
pub struct Iter<'a, T> {
    rx: &'a Receiver<T>,
}

impl<T> Iterator for Iter<'_, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

/// A non-blocking iterator over a [`Receiver`]'s messages, from
/// [`Receiver::try_iter`].
#[derive(Debug)]
pub struct TryIter<'a, T> {
    rx: &'a Receiver<T>,
}

impl<T> Iterator for TryIter<'_, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.rx.try_recv().ok()
    }
}

/// An owning blocking iterator over a [`Receiver`]'s messages.
#[derive(Debug)]
pub struct IntoIter<T> {
    rx: Receiver<T>,
}

impl<T> Iterator for IntoIter<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

impl<T> IntoIterator for Receiver<T> {
    type Item = T;
    type IntoIter = IntoIter<T>;

    fn into_iter(self) -> IntoIter<T> {
        IntoIter { rx: self }
    }
}

impl<'a, T> IntoIterator for &'a Receiver<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;

    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

mod errors;
pub use errors::{
    ReadyTimeoutError, RecvError, RecvTimeoutError, SelectTimeoutError, SendError,
    SendTimeoutError, TryReadyError, TryRecvError, TrySelectError, TrySendError,
};
