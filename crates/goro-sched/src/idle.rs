//! The idle protocol: how workers spin, sleep and wake without losing a wake-up,
//! and who owns the poller while they sleep. The run loop that calls into it is in
//! worker.rs; the run queues it looks at are described there.
//!
//! # The hard problem: parking idle workers without losing wakeups
//!
//! A worker with nothing to do must sleep (not burn a core), yet work can appear at any
//! moment, from any thread, in a queue the sleeper has already looked at. Rejected:
//! - *Sleeping with a timeout and polling.* Adds latency up to the timeout and costs
//!   CPU when idle.
//! - *Waking every idle worker on every spawn* (a condvar broadcast). A thundering herd:
//!   N threads wake to find one G.
//! - *Waking one worker per spawn, unconditionally.* A burst of spawns then costs a
//!   futex wake each, even when a worker is already awake looking for work.
//!
//! Go's answer, which goro follows: at most a few *spinning* workers look for work
//! without sleeping; a submitter wakes a sleeper only if nobody is spinning, and a
//! spinner that finds work wakes a replacement before running it, so while there is
//! work there is always someone looking. The race between "submitter checks for
//! spinners" and "spinner decides to sleep" is closed Dekker-style, by sequentially
//! consistent operations on both sides:
//!
//! Submitting work (`wake_idle`, after `spawn` or after waking a migratable G):
//! 1. Push the G onto a queue (`fresh` slot, deque, injector).
//! 2. SeqCst fence.
//! 3. If `nspinning == 0` and `npidle > 0`, CAS `nspinning` 0 -> 1 (one waker wins) and
//!    wake one idle worker, which starts out spinning.
//!
//! Going to sleep (`park_worker`):
//! 1. Set your `sleeping` flag, then put yourself on the idle list and `npidle += 1`
//!    (SeqCst, under the idle lock). In this order: a waker takes you off the list and
//!    clears the flag, and must never find you listed with the flag not yet set.
//! 2. If you were spinning, `nspinning -= 1` (SeqCst).
//! 3. SeqCst fence, then look at every queue again: the injector, every stealable
//!    deque and `fresh` slot, your inbox and `next`, your timers. If anything is there, take yourself off
//!    the idle list and start over.
//! 4. Sleep (`thread::park`, with your nearest timer as the timeout) until a waker
//!    clears `sleeping`.
//!
//! Either the submitter's step 3 sees the sleeper (and wakes it) or the sleeper's step 3
//! sees the work. A G sent to a specific worker's inbox (a started G woken by another
//! thread, or an unstarted one placed there: worker.rs, "Where a coroutine starts")
//! needs that worker: the sender pushes, fences, and unparks it if its
//! `sleeping` flag was set (`send_home`), the same pattern with one sleeper.
//!
//! # The poller in the idle path
//!
//! Coroutines waiting on file descriptors are woken by the poller (poll.rs, whose header
//! has the registration protocol). Who runs it:
//! 1. In step 4 above, a worker whose nearest timer is at least `MIN_POLL_SLEEP` away,
//!    while any descriptor is registered, tries to become the poller's *owner* (one at a
//!    time). The owner sets its `polling` flag (SeqCst), rechecks `sleeping`, and sleeps
//!    in `epoll_wait` instead of `thread::park`, with its nearest timer as the timeout.
//!    When the poll woke coroutines that this worker (or a thief) can run, it leaves the
//!    idle list and runs them; otherwise it polls again while `sleeping` stays set.
//! 2. Waking a worker (`Shared::wake`) clears `sleeping` (SeqCst) and then, if the worker
//!    is `polling`, writes the poller's eventfd rather than unparking the thread. Against
//!    step 1 this is the same Dekker pattern as the idle protocol: the owner either sees
//!    `sleeping` cleared and does not block, or the waker sees `polling` and interrupts
//!    `epoll_wait`. The eventfd is registered level-triggered and only an owner reads
//!    it, so a busy worker's non-blocking poll cannot swallow a wakeup meant for a
//!    blocked owner. `wake_idle` prefers an idle worker that is not polling, so the
//!    poller stays with a sleeper while there are others to wake.
//! 3. Busy workers poll without blocking every `POLL_CHECK` rounds, and before they try
//!    to steal, whenever nobody owns the poller: when every worker is busy, I/O is still
//!    delivered. The monitor polls if nobody has for 10 ms (sysmon.rs).
//! 4. Polling only unparks: a woken coroutine is queued for its home worker like any
//!    other unpark (onto this worker's `next` if it is home here), and runs from a run
//!    queue, never on the polling thread's stack in the middle of the poll.

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::loom::{Ordering, fence};
use crate::poll;
use crate::runtime::Runtime;
use crate::task::Task;
use crate::timer;
use crate::worker::{Processor, Shared};

/// What a worker that ran out of work does after `park_worker`.
pub(crate) enum AfterIdle {
    /// Look for work again: it was woken, or found work before sleeping.
    LookAgain,
    /// Exit: a spare worker with nothing homed on it.
    Retire,
}

/// What `poll_idle` did.
enum PollIdle {
    /// It did not poll (the nearest timer is too close, no descriptor is registered,
    /// or another worker owns the poller): sleep in `thread::park` instead.
    NotPolled,
    /// It polled and found nothing to leave the idle list for.
    Nothing,
    /// It polled and woke coroutines that this worker (or a thief) can run.
    Work,
}

/// An idle worker whose nearest timer is closer than this sleeps in `thread::park`
/// (nanosecond timeouts) rather than in `epoll_wait` (whole milliseconds).
const MIN_POLL_SLEEP: Duration = Duration::from_millis(1);
/// How long a worker out of work looks for its own before it sleeps.
const IDLE_SPIN: Duration = Duration::from_micros(20);

impl Runtime {
    /// Steps 2-3 of submitting work (see the module docs).
    pub(crate) fn wake_idle(&self) {
        loop {
            // SeqCst: orders the push before it against the loads below; pairs with the
            // SeqCst updates of npidle/nspinning in `park_worker`.
            fence(Ordering::SeqCst);
            if self.nspinning.load(Ordering::SeqCst) != 0 || self.npidle.load(Ordering::SeqCst) == 0
            {
                return;
            }
            if self
                .nspinning
                .compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst)
                .is_err()
            {
                return; // someone else is waking a worker
            }
            let victim = {
                let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
                // Leave the poller's owner in `epoll_wait` if another worker sleeps.
                let victim = match idle
                    .iter()
                    .rposition(|&i| !self.workers[i].polling.load(Ordering::Relaxed))
                {
                    Some(pos) => Some(idle.swap_remove(pos)),
                    None => idle.pop(),
                };
                if victim.is_some() {
                    self.npidle.fetch_sub(1, Ordering::SeqCst);
                }
                victim
            };
            match victim {
                // It starts out spinning, owning the nspinning we just added.
                Some(index) => return self.workers[index].wake(),
                None => {
                    // The idle worker we counted left the list meanwhile. While we held
                    // `nspinning`, another submitter may have skipped its wakeup on our
                    // account: give the work we can see a waker again.
                    self.nspinning.fetch_sub(1, Ordering::SeqCst);
                    if !self.has_stealable_work() {
                        return;
                    }
                }
            }
        }
    }

    /// Hands a started, pinned task to its home worker.
    pub(crate) fn send_home(&self, home: usize, task: Arc<Task>) {
        let shared = &self.workers[home];
        shared.inbox.push(task);
        shared.notify();
    }

    fn has_stealable_work(&self) -> bool {
        if !self.injector.is_empty() {
            return true;
        }
        (0..self.active()).any(|i| {
            let shared = &self.workers[i];
            !shared.stealer.is_empty() || !shared.fresh.load(Ordering::SeqCst).is_null()
        })
    }
}

impl Shared {
    /// After publishing work only this worker may take (its inbox):
    /// wakes it if it is asleep.
    fn notify(&self) {
        // SeqCst: pairs with the worker's SeqCst store of `sleeping` before it rechecks
        // its own queues (park_worker, step 3).
        fence(Ordering::SeqCst);
        if self.sleeping.load(Ordering::SeqCst) {
            self.wake();
        }
    }

    pub(crate) fn wake(&self) {
        if self.sleeping.swap(false, Ordering::SeqCst) {
            // SeqCst: pairs with the owner's store of `polling` before it rechecks
            // `sleeping` (see "The poller in the idle path").
            if self.polling.load(Ordering::SeqCst) {
                if let Some(poller) = poll::get() {
                    poller.wake();
                }
            } else if let Some(thread) = &*self.thread.lock().unwrap_or_else(|e| e.into_inner()) {
                thread.unpark();
            }
        }
    }
}

impl Processor {
    pub(crate) fn stop_spinning(&self) {
        if self.spinning.replace(false) && self.rt.nspinning.fetch_sub(1, Ordering::SeqCst) == 1 {
            // We were the last spinner and found work: there may be more, so make sure
            // someone keeps looking.
            self.rt.wake_idle();
        }
    }

    pub(crate) fn has_own_work(&self) -> bool {
        self.has_queued_work() || self.shared().timers.next() <= self.rt.now()
    }

    /// [`has_own_work`](Processor::has_own_work) but for timers: no clock read.
    fn has_queued_work(&self) -> bool {
        let shared = self.shared();
        !shared.inbox.is_empty()
            || !shared.next.load(Ordering::SeqCst).is_null()
            || !shared.fresh.load(Ordering::SeqCst).is_null()
            || !self.deque.is_empty()
    }

    /// The sleeping half of the idle protocol (see the module docs).
    pub(crate) fn park_worker(&self) -> AfterIdle {
        let rt = self.rt;
        let shared = self.shared();
        if self.index >= rt.config.workers
            && shared.homed.load(Ordering::Relaxed) == 0
            && !self.has_own_work()
            && self.home.borrow().is_empty()
            && self.yielded.borrow().is_empty()
        {
            if self.spinning.replace(false) {
                rt.nspinning.fetch_sub(1, Ordering::SeqCst);
                // A submitter may have skipped waking anyone because we were spinning:
                // look once more before leaving, as step 3 below does.
                fence(Ordering::SeqCst);
                if rt.has_stealable_work() {
                    return AfterIdle::LookAgain;
                }
            }
            return AfterIdle::Retire;
        }
        // 0. Before sleeping, look for our own work for a few microseconds: a coroutine
        //    homed here is often woken by another worker moments later (a channel
        //    ping-pong across workers), and a futex sleep plus wake costs both sides
        //    far more than this spin costs an otherwise idle core.
        //    Each look is a handful of loads; the clock (and with it the timers) is read
        //    every 64th only. One `pause` between looks: it costs ~140 cycles on recent
        //    x86, so a few more would space the looks microseconds apart.
        let until = Instant::now() + IDLE_SPIN;
        let mut looks = 0u32;
        loop {
            looks = looks.wrapping_add(1);
            if looks % 64 == 0 {
                if self.has_own_work() {
                    return AfterIdle::LookAgain;
                }
                if Instant::now() >= until {
                    break;
                }
            } else if self.has_queued_work() {
                return AfterIdle::LookAgain;
            }
            if rt.has_stealable_work() {
                return AfterIdle::LookAgain;
            }
            std::hint::spin_loop();
        }
        // 1. Announce. `sleeping` first: a waker that finds us on the idle list must
        //    also find the flag it clears, or its wakeup would be lost (and the
        //    spinner it counted for us would never spin). `npidle` changes under the
        //    idle lock, with the list, so the two never disagree.
        shared.sleeping.store(true, Ordering::SeqCst);
        {
            let mut idle = rt.idle.lock().unwrap_or_else(|e| e.into_inner());
            idle.push(self.index);
            rt.npidle.fetch_add(1, Ordering::SeqCst);
        }
        // 2. Stop spinning.
        if self.spinning.replace(false) {
            rt.nspinning.fetch_sub(1, Ordering::SeqCst);
        }
        // 3. Look again, after a StoreLoad barrier that pairs with the submitter's fence
        //    in `wake_idle` (the loom model `loom_idle` mirrors these steps; without
        //    this fence it finds the lost wake-up, as loom orders SeqCst accesses no
        //    more strongly than AcqRel).
        fence(Ordering::SeqCst);
        if self.has_own_work() || rt.has_stealable_work() {
            self.leave_idle();
            return AfterIdle::LookAgain;
        }
        self.trim_stacks();
        // 4. Sleep until woken or the nearest timer: in the poller if we can own it.
        while shared.sleeping.load(Ordering::Acquire) {
            let next = shared.timers.next();
            let timeout = if next == timer::NONE {
                None
            } else {
                let deadline = rt.instant(next);
                let now = Instant::now();
                if deadline <= now {
                    break;
                }
                Some(deadline - now)
            };
            match self.poll_idle(timeout) {
                PollIdle::Work => break,
                PollIdle::Nothing => {}
                PollIdle::NotPolled => match timeout {
                    None => thread::park(),
                    Some(timeout) => thread::park_timeout(timeout),
                },
            }
        }
        self.leave_idle();
        AfterIdle::LookAgain
    }

    /// Step 1 of "The poller in the idle path": sleeps in `epoll_wait` for up to
    /// `timeout` if there is I/O to wait for and nobody else owns the poller.
    fn poll_idle(&self, timeout: Option<Duration>) -> PollIdle {
        if timeout.is_some_and(|t| t < MIN_POLL_SLEEP) {
            return PollIdle::NotPolled;
        }
        let Some(poller) = poll::active() else {
            return PollIdle::NotPolled;
        };
        if !poller.try_own() {
            return PollIdle::NotPolled;
        }
        let shared = self.shared();
        shared.polling.store(true, Ordering::SeqCst);
        // SeqCst: pairs with the waker's swap of `sleeping` in `Shared::wake`.
        let woke = if shared.sleeping.load(Ordering::SeqCst) {
            poller.poll(timeout, true)
        } else {
            Some(0)
        };
        shared.polling.store(false, Ordering::SeqCst);
        poller.release();
        let Some(woke) = woke else {
            // epoll_wait failed (it cannot, with a valid epoll fd and buffer): do not
            // spin on it. A waker that saw `polling` wrote the eventfd instead of
            // unparking us, so sleep briefly rather than until unparked.
            thread::park_timeout(MIN_POLL_SLEEP);
            return PollIdle::Nothing;
        };
        if woke > 0 && (self.has_own_work() || self.rt.has_stealable_work()) {
            PollIdle::Work
        } else {
            PollIdle::Nothing
        }
    }

    /// Takes this worker off the idle list after a sleep (or a recheck that found
    /// work). If a waker already took it off, the waker made it a spinner.
    fn leave_idle(&self) {
        let rt = self.rt;
        self.shared().sleeping.store(false, Ordering::SeqCst);
        let mut idle = rt.idle.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(pos) = idle.iter().position(|&i| i == self.index) {
            idle.swap_remove(pos);
            rt.npidle.fetch_sub(1, Ordering::SeqCst);
        } else {
            self.spinning.set(true);
        }
    }

    /// Trims this thread's cache of free stacks, at most every 100 ms.
    fn trim_stacks(&self) {
        let now = Instant::now();
        if self
            .last_trim
            .get()
            .is_none_or(|t| now.duration_since(t) >= Duration::from_millis(100))
        {
            self.last_trim.set(Some(now));
            goro_stack::trim_cache();
        }
    }
}
