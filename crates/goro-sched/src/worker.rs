//! The run loop: each worker's processor, its run queues, and how it picks the next
//! coroutine to resume.
//!
//! # Actors
//!
//! - **G** (`Task`, task.rs): a coroutine and its scheduling state.
//! - **M** (a worker thread): runs `worker_main`, resuming one G at a time.
//! - **P** (a processor: `Processor`, and its `Shared` half that other threads see): the run queues and timers an M
//!   works from. In goro each M owns one P for life; the monitor thread (sysmon.rs)
//!   adds spare Ms with fresh Ps when one is stuck, instead of handing Ps over.
//!
//! # Where runnable coroutines wait
//!
//! Per worker:
//! 1. `next`: one G made ready by the G running here. It runs next, so a ping-pong
//!    between two coroutines stays on one core and in cache. At most `NEXT_STREAK`
//!    times in a row, so the pair cannot starve the rest of the queue.
//! 2. `home`: Gs that have started here (their home) and are runnable again. Only this
//!    worker may run them; other threads hand them over through `inbox`.
//! 3. `fresh`: the G last spawned here, not started yet (Go's `runnext` for a new G).
//!    It runs right after `next`, sharing its streak. See "Where a coroutine starts".
//! 4. `deque`: Gs that have not started yet (crossbeam-deque, Chase-Lev). Any worker
//!    may steal from it, half at a time, as Go's `runqsteal` does.
//! 5. `yielded`: started Gs that called `yield_now`. They run after everything above
//!    and the injector, as Go's `Gosched` puts a G behind the run queue, so a yield
//!    lets not-yet-started siblings run too.
//!
//! And one global `injector` for Gs spawned by plain threads. Every 61st round a worker
//! looks at the injector first, so it is never starved.
//!
//! With `allow_migration`, a started G is no longer tied to its home: a yielding or
//! re-queued G goes to the stealable deque, and a woken one goes to the waker's `next`
//! (or the injector when woken by a plain thread). Pinned Gs still go home.
//!
//! # Where a coroutine starts
//!
//! A G's first worker is its home for life (unless migration is allowed), so where it
//! starts decides where it runs. Until its first resume a G may still go anywhere:
//! 1. *Beside its spawner.* A spawn goes to the spawner's `fresh` slot; the G there
//!    before moves to the deque. A spawner that waits for its child right away (a
//!    join, a channel exchange) keeps the pair on one worker. Thieves take `fresh`
//!    last, and from a worker that is running a coroutine only after `FRESH_GRACE`
//!    (Go's `runqgrab` sleeps 3 us before it takes `runnext`), so a spawner that keeps
//!    running still loses its child to an idle worker.
//! 2. *Off a loaded worker.* A worker about to start a G (`run`, via `place`) compares
//!    its load, homed Gs plus Gs placed on it and not started (`incoming`), with
//!    another worker's. When it exceeds the other's by more than `PLACE_SLACK`, it
//!    hands Gs over to the other's inbox with their home set (`hand_over`; the inbox
//!    wakes a sleeper as `send_home` does): as many as even the two loads out, counting
//!    the Gs queued here to start, and at most those, taken in a row, so that a burst
//!    is cut in two pieces rather than interleaved. A placed G starts where it was
//!    placed, whatever the loads are by then, so it is never handed on twice. Gs that
//!    plain threads spawned are not placed (the workers share them out by taking
//!    batches from the injector), nor is anything while some wait there; nor on a worker that has unstarted Gs of its own
//!    queued (thieves are splitting a burst there), on one held by a single resume
//!    (`held`), or by or onto spare workers.
//!
//! Tuned on three shapes, on 2 workers (docs/ARCHITECTURE.md has the figures): TCP
//! echo, 128 coroutines each serving a connection, wants them split evenly; a ring of
//! 503 coroutines passing one token wants them on one worker or in few contiguous
//! pieces; a ping-pong pair wants one worker.
//!
//! # Elsewhere
//!
//! Idle workers spin, sleep and wake by the protocol in idle.rs; the global runtime
//! (start, spares, rescue, stats) is in runtime.rs; the thread-local worker and the
//! door the rest of the crate uses to submit and wake coroutines is context.rs; a coroutine's own life (build, resume, park/unpark) is task.rs.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::ptr;
use std::sync::Arc;
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use crossbeam_deque::{Injector, Steal, Stealer, Worker as Deque};

use crate::context::{CurrentTask, EnterLocal, unregister};
use crate::idle::AfterIdle;
use crate::loom::{AtomicBool, AtomicI32, AtomicPtr, AtomicU64, AtomicUsize, Mutex, Ordering};
use crate::poll;
use crate::registry::Registry;
use crate::runtime::Runtime;
use crate::task::{self, Body, Outcome, Task, TransitionToParked};
use crate::timer::{self, Timers};

/// How many times in a row `next` may run before the home queue gets a turn.
const NEXT_STREAK: u32 = 16;
/// Every this many rounds, a worker checks the injector first (a prime, as in Go).
const GLOBAL_CHECK: u64 = 61;
/// Every this many rounds, the unstarted and yielded queues go first.
const FAIR_CHECK: u64 = 7;
/// Every this many rounds, a busy worker checks its timers.
const TIMER_CHECK: u64 = 8;
/// Every this many rounds, a busy worker polls for I/O if nobody owns the poller.
const POLL_CHECK: u64 = 31;
/// Rounds of stealing attempts before a spinning worker gives up.
const STEAL_ROUNDS: usize = 4;
/// How long a thief leaves a running worker's `fresh` G alone (Go's `usleep(3)`).
const FRESH_GRACE: Duration = Duration::from_micros(3);
/// A worker places unstarted Gs on another when its load exceeds the other's by more
/// than this (see "Where a coroutine starts").
const PLACE_SLACK: usize = 8;
/// A worker whose tick stayed odd and unchanged while we went through this many rounds
/// is held by one long resume: nothing is placed on it.
const PLACE_STUCK_ROUNDS: u64 = 64;

/// What other threads may see and touch of a worker.
pub(crate) struct Shared {
    pub(crate) stealer: Stealer<Arc<Task>>,
    pub(crate) inbox: Injector<Arc<Task>>,
    /// `Arc::into_raw` of the G to run next, or null.
    pub(crate) next: AtomicPtr<Task>,
    /// `Arc::into_raw` of the G last spawned here, not started yet, or null (see
    /// "Where a coroutine starts").
    pub(crate) fresh: AtomicPtr<Task>,
    /// Unstarted Gs other workers placed here (in `inbox`), not started yet.
    pub(crate) incoming: AtomicUsize,
    /// Set while the worker is (about to be) asleep; whoever clears it unparks it.
    pub(crate) sleeping: AtomicBool,
    /// Set while the worker owns the poller and may be blocked in `epoll_wait`: whoever
    /// clears `sleeping` then wakes it through the poller's eventfd.
    pub(crate) polling: AtomicBool,
    pub(crate) thread: Mutex<Option<Thread>>,
    pub(crate) timers: Timers,
    /// Incremented before and after each resume: odd while a coroutine runs. The
    /// monitor reads it to spot a worker stuck in one coroutine. Owner-only stores.
    pub(crate) tick: AtomicU64,
    /// Owner-only counters, for stats.
    pub(crate) spawned: AtomicU64,
    pub(crate) finished: AtomicU64,
    pub(crate) home_len: AtomicUsize,
    /// Started, unfinished coroutines that may only run here.
    pub(crate) homed: AtomicUsize,
    /// The slot has a running thread.
    pub(crate) running: AtomicBool,
    /// The task last resumed here (`Arc::as_ptr`; running while `tick` is odd). Only
    /// compared, never dereferenced. Owner-only stores.
    pub(crate) resumed: AtomicPtr<Task>,
    /// Successful steals by this worker, for stats. Owner-only stores.
    pub(crate) steals: AtomicU64,
    /// Unstarted Gs this worker placed on another, for stats. Owner-only stores.
    pub(crate) placed: AtomicU64,
    /// Gs taken from `inbox` (woken by another thread, or placed here), for stats.
    /// Owner-only stores.
    pub(crate) handed_in: AtomicU64,
    /// The started, unfinished coroutines homed here, for dumps (dump.rs).
    pub(crate) registry: Registry,
    /// The thread's kernel id (0 before it starts), for the monitor: whether a stuck
    /// worker's thread computes or sleeps in the kernel (spare.rs, hold.rs).
    pub(crate) tid: AtomicI32,
}

/// P: a worker's own state, on its thread (`worker_main`'s frame owns it; context.rs
/// points `LOCAL` at it). What other threads may touch (`next`, `inbox`, the stealer,
/// the timers, the homed count) is its [`Shared`], `rt.workers[index]`.
pub(crate) struct Processor {
    /// Its slot in `Runtime::workers`.
    pub(crate) index: usize,
    pub(crate) rt: &'static Runtime,
    /// Unstarted Gs, stealable through `Shared::stealer`.
    pub(crate) deque: Deque<Arc<Task>>,
    /// Started Gs homed here and runnable again (its length mirrored in
    /// `Shared::home_len` for stats).
    pub(crate) home: RefCell<VecDeque<Arc<Task>>>,
    /// Started, pinned Gs that called `yield_now`.
    pub(crate) yielded: RefCell<VecDeque<Arc<Task>>>,
    /// Scheduling rounds, for the every-Nth checks of `find_runnable`.
    pub(crate) round: Cell<u64>,
    /// Victim choice for `steal`.
    pub(crate) rng: Cell<u64>,
    /// Counted in `Runtime::nspinning` (idle.rs).
    pub(crate) spinning: Cell<bool>,
    /// Times in a row `next` has run.
    pub(crate) streak: Cell<u32>,
    /// The task being resumed (`Arc::as_ptr`), or null.
    pub(crate) current: Cell<*const Task>,
    /// When this thread's stack cache was last trimmed (idle.rs).
    pub(crate) last_trim: Cell<Option<Instant>>,
    /// The worker this one is placing unstarted Gs on, and how many more of them go
    /// there (see `place`).
    placing: Cell<(usize, usize)>,
    /// The worker last considered for placement, its tick, and our `round` when we
    /// first saw that tick (to tell a worker held by one long resume).
    seen: Cell<(usize, u64, u64)>,
}

pub(crate) fn worker_main(rt: &'static Runtime, index: usize, deque: Deque<Arc<Task>>) {
    let shared = &rt.workers[index];
    *shared.thread.lock().unwrap_or_else(|e| e.into_inner()) = Some(thread::current());
    shared
        .tid
        .store(crate::spare::thread_id(), Ordering::Relaxed);
    let local = Processor::new(rt, index, deque);
    let entered = EnterLocal::new(&local);
    while let Some(task) = local.find_runnable() {
        local.run(task);
    }
    drop(entered);
    // Retired (a spare with nothing homed here): hand the deque back for reuse.
    let Processor { deque, .. } = local;
    *shared.thread.lock().unwrap_or_else(|e| e.into_inner()) = None;
    rt.deques.lock().unwrap_or_else(|e| e.into_inner())[index] = Some(deque);
    shared.running.store(false, Ordering::Release);
}

impl Processor {
    fn new(rt: &'static Runtime, index: usize, deque: Deque<Arc<Task>>) -> Processor {
        Processor {
            index,
            rt,
            deque,
            home: RefCell::new(VecDeque::new()),
            yielded: RefCell::new(VecDeque::new()),
            round: Cell::new(0),
            rng: Cell::new(0x9e37_79b9_7f4a_7c15 ^ (index as u64 + 1)),
            spinning: Cell::new(false),
            streak: Cell::new(0),
            current: Cell::new(ptr::null()),
            last_trim: Cell::new(None),
            placing: Cell::new((0, 0)),
            seen: Cell::new((usize::MAX, 0, 0)),
        }
    }

    pub(crate) fn shared(&self) -> &Shared {
        &self.rt.workers[self.index]
    }

    /// Resumes one task until it yields, parks or finishes.
    fn run(&self, task: Arc<Task>) {
        let shared = self.shared();
        // SAFETY: we popped the task from a run queue; see Task::body.
        let body = unsafe { task.body() };
        if let Body::Pending(_) = body {
            let home = task.home();
            if home == task::NO_HOME && task.pinned {
                // Not placed yet: its home is still open.
                if let Some(to) = self.place() {
                    self.hand_over(to, task);
                    return;
                }
            } else if home == self.index {
                // Placed here by another worker (`hand_over`).
                shared.incoming.fetch_sub(1, Ordering::Relaxed);
            }
            match body.build(task.pinned, task.info.name.clone()) {
                Ok(()) => {
                    task.set_home(self.index);
                    if let Body::Running(coroutine) = &*body {
                        task.info.id.store(coroutine.id(), Ordering::Relaxed);
                    }
                    shared.registry.lock().insert(&task);
                    if task.pinned {
                        let homed = shared.homed.load(Ordering::Relaxed);
                        shared.homed.store(homed + 1, Ordering::Relaxed);
                    }
                }
                Err(err) => {
                    self.count_finished();
                    task.finish(Err(Box::new(err)));
                    return;
                }
            }
        }
        let Body::Running(coroutine) = body else {
            unreachable!("a queued task is pending or running");
        };
        let current = CurrentTask::enter(&self.current, &task);
        shared
            .resumed
            .store(Arc::as_ptr(&task).cast_mut(), Ordering::Relaxed);
        let tick = shared.tick.load(Ordering::Relaxed);
        // Release: a monitor that sees the odd tick (Acquire) sees `resumed` too.
        shared.tick.store(tick + 1, Ordering::Release);
        let outcome = task::resume(coroutine);
        shared.tick.store(tick + 2, Ordering::Relaxed);
        drop(current);
        match outcome {
            Outcome::Yielded => {
                if task.pinned {
                    // Nobody else can run it: this worker's own `yielded` queue.
                    self.yielded.borrow_mut().push_back(task);
                } else {
                    // Stealable, but nobody is woken for it, as Go's Gosched does not:
                    // this worker runs it again soon, and a yield is no new work.
                    self.deque.push(task);
                }
            }
            Outcome::Parking => match task.parked() {
                TransitionToParked::Parked => {}
                TransitionToParked::Notified => self.push_runnable(task),
            },
            Outcome::Finished(result) => {
                if task.home() == self.index {
                    shared.registry.lock().remove(&task);
                } else {
                    unregister(&task); // finished away from home (migration)
                }
                if task.pinned {
                    shared
                        .homed
                        .store(shared.homed.load(Ordering::Relaxed) - 1, Ordering::Relaxed);
                }
                self.count_finished();
                task.finish(result);
                #[cfg(not(loom))]
                crate::task_cache::retire(task);
            }
            Outcome::NotHome => {
                // Only reachable if a pinned task was queued away from home: send it on.
                let home = task.home();
                self.rt.send_home(home, task);
            }
        }
    }

    /// Where a G about to start here should start instead, if this worker is loaded
    /// much more than another (see "Where a coroutine starts"). Not on spare workers
    /// (they retire) nor with one worker.
    #[inline(never)]
    fn place(&self) -> Option<usize> {
        let rt = self.rt;
        let workers = rt.config.workers;
        if workers < 2 || self.index >= workers {
            return None;
        }
        let (to, left) = self.placing.get();
        if left > 0 {
            // Within a run: the next Gs of this burst go there, in a row.
            if self.held(to) {
                self.placing.set((to, 0));
                return None;
            }
            self.placing.set((to, left - 1));
            return Some(to);
        }
        if !rt.injector.is_empty() {
            // Plain threads' spawns wait there: the workers are splitting a burst in
            // batches (`steal_global`), which placing would interleave.
            return None;
        }
        let load = |i: usize| {
            let shared = &rt.workers[i];
            shared.homed.load(Ordering::Relaxed) + shared.incoming.load(Ordering::Relaxed)
        };
        // One other worker at random; with more than two, the less loaded of two.
        let other = |r: u64| {
            let i = (r % (workers as u64 - 1)) as usize;
            if i >= self.index { i + 1 } else { i }
        };
        let mut to = other(self.random());
        if workers > 2 {
            let b = other(self.random());
            if load(b) < load(to) {
                to = b;
            }
        }
        let (mine, theirs) = (load(self.index), load(to));
        if mine <= theirs + PLACE_SLACK || self.starting(to) || self.held(to) {
            return None;
        }
        // Even the two out, counting the Gs queued here to start (this one included):
        // hand over that many of them, the next ones in a row, so that a burst is cut
        // once rather than interleaved.
        let queued = self.deque.len() + 1;
        let run = ((mine + queued).saturating_sub(theirs) / 2).min(queued);
        if run == 0 {
            return None;
        }
        self.placing.set((to, run - 1));
        Some(to)
    }

    /// Whether worker `index` has unstarted Gs of its own queued: it is starting a
    /// burst of them, which thieves split in contiguous pieces, and placing on it too
    /// would interleave the pieces.
    fn starting(&self, index: usize) -> bool {
        let shared = &self.rt.workers[index];
        !shared.stealer.is_empty() || !shared.fresh.load(Ordering::Relaxed).is_null()
    }

    /// Whether worker `index` has been in one resume while this worker went through
    /// `PLACE_STUCK_ROUNDS` rounds: then it may be held by a long coroutine (the
    /// monitor's business), and a G placed there would wait for it.
    fn held(&self, index: usize) -> bool {
        let tick = self.rt.workers[index].tick.load(Ordering::Relaxed);
        let round = self.round.get();
        let (seen_index, seen_tick, seen_round) = self.seen.get();
        if (index, tick) != (seen_index, seen_tick) {
            self.seen.set((index, tick, round));
            return false;
        }
        tick % 2 == 1 && round.wrapping_sub(seen_round) >= PLACE_STUCK_ROUNDS
    }

    /// Gives an unstarted G to worker `to` to start there: its home from now on, even if
    /// the loads have changed by the time it runs.
    #[inline(never)]
    fn hand_over(&self, to: usize, task: Arc<Task>) {
        let rt = self.rt;
        task.set_home(to);
        rt.workers[to].incoming.fetch_add(1, Ordering::Relaxed);
        let placed = &self.shared().placed;
        placed.store(placed.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        rt.send_home(to, task);
    }

    fn count_finished(&self) {
        let shared = self.shared();
        shared.finished.store(
            shared.finished.load(Ordering::Relaxed) + 1,
            Ordering::Relaxed,
        );
    }

    /// Requeues a task this worker just ran (it yielded, or a wakeup raced its park).
    fn push_runnable(&self, task: Arc<Task>) {
        if task.pinned {
            self.push_home(task);
        } else {
            self.deque.push(task);
            self.rt.wake_idle();
        }
    }

    fn push_home(&self, task: Arc<Task>) {
        let mut home = self.home.borrow_mut();
        home.push_back(task);
        self.shared().home_len.store(home.len(), Ordering::Relaxed);
    }

    fn pop_home(&self) -> Option<Arc<Task>> {
        let mut home = self.home.borrow_mut();
        let task = home.pop_front();
        if task.is_some() {
            self.shared().home_len.store(home.len(), Ordering::Relaxed);
        }
        task
    }

    /// `task` runs next on this worker; whatever was next goes to the back of a queue.
    #[inline]
    pub(crate) fn push_next(&self, task: Arc<Task>) {
        let old = self
            .shared()
            .next
            .swap(Arc::into_raw(task).cast_mut(), Ordering::AcqRel);
        if !old.is_null() {
            // SAFETY: `next` only ever holds `Arc::into_raw` pointers; we took this out.
            self.push_runnable(unsafe { Arc::from_raw(old) });
        }
    }

    fn take_next(&self) -> Option<Arc<Task>> {
        let shared = self.shared();
        if shared.next.load(Ordering::Relaxed).is_null() {
            return None;
        }
        let ptr = shared.next.swap(ptr::null_mut(), Ordering::AcqRel);
        // SAFETY: as in `push_next`.
        (!ptr.is_null()).then(|| unsafe { Arc::from_raw(ptr) })
    }

    /// `task`, just spawned here, runs soon here; the one spawned before it moves to
    /// the deque, where any worker may steal it.
    pub(crate) fn push_fresh(&self, task: Arc<Task>) {
        let old = self
            .shared()
            .fresh
            .swap(Arc::into_raw(task).cast_mut(), Ordering::AcqRel);
        if !old.is_null() {
            // SAFETY: `fresh` only ever holds `Arc::into_raw` pointers; we took this out.
            self.deque.push(unsafe { Arc::from_raw(old) });
        }
    }

    fn take_fresh(&self) -> Option<Arc<Task>> {
        let shared = self.shared();
        if shared.fresh.load(Ordering::Relaxed).is_null() {
            return None;
        }
        let ptr = shared.fresh.swap(ptr::null_mut(), Ordering::AcqRel);
        // SAFETY: as in `push_fresh`.
        (!ptr.is_null()).then(|| unsafe { Arc::from_raw(ptr) })
    }

    /// Moves whatever other threads handed this worker into its home queue. Inline is
    /// the common case only (an empty inbox, twice a round).
    #[inline(always)]
    fn drain_inbox(&self) {
        if !self.shared().inbox.is_empty() {
            self.take_inbox();
        }
    }

    fn take_inbox(&self) {
        let inbox = &self.shared().inbox;
        loop {
            match inbox.steal() {
                Steal::Success(task) => {
                    let handed_in = &self.shared().handed_in;
                    handed_in.store(handed_in.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
                    self.push_home(task);
                }
                Steal::Retry => continue,
                Steal::Empty => break,
            }
        }
    }

    fn steal_global(&self) -> Option<Arc<Task>> {
        // crossbeam's steal fences before it finds out the queue is empty; this does not.
        if self.rt.injector.is_empty() {
            return None;
        }
        loop {
            match self.rt.injector.steal_batch_and_pop(&self.deque) {
                Steal::Success(task) => return Some(task),
                Steal::Retry => continue,
                Steal::Empty => return None,
            }
        }
    }

    fn run_timers(&self) -> bool {
        let timers = &self.shared().timers;
        timers.next() != timer::NONE && timers.fire_due(self.rt.now()) > 0
    }

    /// The next task to run, parking the worker until there is one. `None` means this
    /// spare worker should retire.
    ///
    /// A worker that was spinning stops spinning once it has something to run, wherever
    /// that came from (and wakes a replacement spinner if it was the last one): a
    /// worker that runs a long coroutine while still counted as spinning would keep
    /// every submitter from waking anyone.
    fn find_runnable(&self) -> Option<Arc<Task>> {
        let task = self.find_runnable_inner();
        self.stop_spinning();
        task
    }

    fn find_runnable_inner(&self) -> Option<Arc<Task>> {
        loop {
            let round = self.round.get() + 1;
            self.round.set(round);
            if round % GLOBAL_CHECK == 0 {
                if let Some(task) = self.steal_global() {
                    return Some(task);
                }
                self.drain_inbox();
            }
            if round % TIMER_CHECK == 0 {
                self.run_timers();
            }
            if round % POLL_CHECK == 0 {
                poll::poll_now();
            }
            if round % FAIR_CHECK == 0 {
                // A pair of coroutines waking each other keeps `next` and `home` busy
                // forever; the lower queues get a turn now and then regardless.
                if let Some(task) = self.deque.pop() {
                    return Some(task);
                }
                if let Some(task) = self.yielded.borrow_mut().pop_front() {
                    return Some(task);
                }
            }
            if let Some(task) = self.take_next() {
                let streak = self.streak.get() + 1;
                if streak <= NEXT_STREAK {
                    self.streak.set(streak);
                    return Some(task);
                }
                self.push_runnable(task);
            } else if let Some(task) = self.take_fresh() {
                // A spawn is a hand-off like a wakeup: it shares `next`'s streak, so a
                // chain of coroutines that each spawn the next cannot starve `home`.
                let streak = self.streak.get() + 1;
                if streak <= NEXT_STREAK {
                    self.streak.set(streak);
                    return Some(task);
                }
                self.deque.push(task);
            }
            self.streak.set(0);
            if let Some(task) = self.pop_home() {
                return Some(task);
            }
            self.drain_inbox();
            if let Some(task) = self.pop_home() {
                return Some(task);
            }
            if let Some(task) = self.deque.pop() {
                return Some(task);
            }
            if let Some(task) = self.steal_global() {
                return Some(task);
            }
            if let Some(task) = self.yielded.borrow_mut().pop_front() {
                return Some(task);
            }
            if self.run_timers() {
                continue;
            }
            if poll::poll_now() > 0 && self.has_own_work() {
                continue;
            }
            if let Some(task) = self.steal() {
                return Some(task);
            }
            if let AfterIdle::Retire = self.park_worker() {
                return None;
            }
        }
    }

    fn random(&self) -> u64 {
        // xorshift64*: good enough to pick victims.
        let mut x = self.rng.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng.set(x);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Tries to steal from other workers, spinning if there are not already enough
    /// spinners (at most half the busy workers, as in Go).
    fn steal(&self) -> Option<Arc<Task>> {
        let rt = self.rt;
        let active = rt.active();
        if active <= 1 && rt.injector.is_empty() {
            return None;
        }
        if !self.spinning.get() {
            let busy = active.saturating_sub(rt.npidle.load(Ordering::SeqCst));
            if 2 * rt.nspinning.load(Ordering::SeqCst) >= busy {
                return None;
            }
            self.spinning.set(true);
            rt.nspinning.fetch_add(1, Ordering::SeqCst);
        }
        for round in 0..STEAL_ROUNDS {
            let start = self.random() as usize;
            for i in 0..active {
                let victim = (start + i) % active;
                if victim == self.index {
                    continue;
                }
                let stolen = loop {
                    match rt.workers[victim].stealer.steal_batch_and_pop(&self.deque) {
                        Steal::Success(task) => break Some(task),
                        Steal::Retry => continue,
                        Steal::Empty if round + 1 == STEAL_ROUNDS => {
                            break self.steal_fresh(&rt.workers[victim]);
                        }
                        Steal::Empty => break None,
                    }
                };
                if let Some(task) = stolen {
                    let steals = &self.shared().steals;
                    steals.store(steals.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
                    return Some(task);
                }
            }
            if let Some(task) = self.steal_global() {
                return Some(task);
            }
            if !self.shared().inbox.is_empty()
                || !self.shared().next.load(Ordering::Relaxed).is_null()
            {
                return None; // our own work arrived
            }
            std::hint::spin_loop();
        }
        None
    }

    /// Takes `victim`'s `fresh` G, if it has one. If the victim is running a coroutine,
    /// first gives it `FRESH_GRACE` to get to the G itself: its spawner has often just
    /// spawned it to talk to it, and is about to park.
    fn steal_fresh(&self, victim: &Shared) -> Option<Arc<Task>> {
        if victim.fresh.load(Ordering::Relaxed).is_null() {
            return None;
        }
        if victim.tick.load(Ordering::Relaxed) % 2 == 1 {
            let until = Instant::now() + FRESH_GRACE;
            while Instant::now() < until {
                if victim.fresh.load(Ordering::Relaxed).is_null() {
                    return None;
                }
                std::hint::spin_loop();
            }
        }
        let ptr = victim.fresh.swap(ptr::null_mut(), Ordering::AcqRel);
        // SAFETY: `fresh` only ever holds `Arc::into_raw` pointers; we took this one out.
        (!ptr.is_null()).then(|| unsafe { Arc::from_raw(ptr) })
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::context::{current_worker, local_ptr};

    /// A panic that unwinds out of a worker's loop (a runtime bug: user code never
    /// unwinds that far) leaves `LOCAL` null, so nothing that runs later on the thread
    /// (a thread-local's destructor that spawns, say) follows it into the dead frame.
    #[test]
    fn local_is_cleared_when_the_worker_loop_unwinds() {
        let config = Config {
            workers: 1,
            stack_size: goro_stack::DEFAULT_STACK_SIZE,
            allow_migration: false,
        };
        // A runtime of its own, never started: this thread plays its worker 0.
        let rt: &'static Runtime = Box::leak(Box::new(Runtime::new(config).unwrap()));
        let pending = task::Pending {
            f: Box::new(|| Box::new(()) as task::Output),
            stack_size: goro_stack::DEFAULT_STACK_SIZE,
            stack: None,
        };
        let task = Task::new(pending, false, None, std::panic::Location::caller());
        // A queued task with no body makes `run` panic ("unreachable").
        // SAFETY: the task is in no run queue yet; nobody else can reach its body.
        unsafe { *task.body() = Body::Finished };
        rt.workers[0]
            .next
            .store(Arc::into_raw(task).cast_mut(), Ordering::Release);
        let deque = rt.deques.lock().unwrap()[0].take().unwrap();
        thread::spawn(move || {
            let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                worker_main(rt, 0, deque)
            }));
            assert!(unwound.is_err(), "the worker loop should have panicked");
            assert!(
                local_ptr().is_null(),
                "LOCAL still points into worker_main's unwound frame"
            );
            assert_eq!(current_worker(), None);
        })
        .join()
        .unwrap();
    }

    fn unstarted_task() -> Arc<Task> {
        let pending = task::Pending {
            f: Box::new(|| Box::new(()) as task::Output),
            stack_size: goro_stack::DEFAULT_STACK_SIZE,
            stack: None,
        };
        Task::new(pending, true, None, std::panic::Location::caller())
    }

    /// A thief takes a running worker's `fresh` coroutine only after `FRESH_GRACE` (its
    /// spawner may be about to wait for it), and an idle worker's at once.
    #[test]
    fn a_thief_gives_a_running_workers_fresh_coroutine_a_grace() {
        let config = Config {
            workers: 2,
            stack_size: goro_stack::DEFAULT_STACK_SIZE,
            allow_migration: false,
        };
        // A runtime of its own, never started: this thread plays worker 1.
        let rt: &'static Runtime = Box::leak(Box::new(Runtime::new(config).unwrap()));
        let deque = rt.deques.lock().unwrap()[1].take().unwrap();
        let thief = Processor::new(rt, 1, deque);
        let victim = &rt.workers[0];
        let fresh = |task: Arc<Task>| {
            victim
                .fresh
                .store(Arc::into_raw(task).cast_mut(), Ordering::Release);
        };

        fresh(unstarted_task());
        victim.tick.store(1, Ordering::Relaxed); // resuming a coroutine
        let start = Instant::now();
        assert!(thief.steal_fresh(victim).is_some());
        assert!(
            start.elapsed() >= FRESH_GRACE,
            "taken before the grace ran out"
        );
        assert!(victim.fresh.load(Ordering::Relaxed).is_null());

        // Between coroutines it takes it without waiting (no time bound asserted).
        fresh(unstarted_task());
        victim.tick.store(2, Ordering::Relaxed);
        assert!(thief.steal_fresh(victim).is_some());
        assert!(thief.steal_fresh(victim).is_none());
    }
}
