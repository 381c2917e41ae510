//! The scheduler: workers, their run queues, and how idle workers park and wake.
//!
//! # Actors
//!
//! - **G** (`Task`, task.rs): a coroutine and its scheduling state.
//! - **M** (a worker thread): runs `worker_main`, resuming one G at a time.
//! - **P** (a processor, `Shared` + `Local` here): the run queues and timers an M
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
//! 3. `deque`: Gs that have not started yet (crossbeam-deque, Chase-Lev). Any worker
//!    may steal from it, half at a time, as Go's `runqsteal` does.
//!
//! 4. `yielded`: started Gs that called `yield_now`. They run after everything above
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
//! 1. Push the G onto a queue (deque, injector).
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
//!    deque, your inbox and `next`, your timers. If anything is there, take yourself off
//!    the idle list and start over.
//! 4. Sleep (`thread::park`, with your nearest timer as the timeout) until a waker
//!    clears `sleeping`.
//!
//! Either the submitter's step 3 sees the sleeper (and wakes it) or the sleeper's step 3
//! sees the work. A G sent to a specific worker's inbox (a started G woken by another
//! thread) needs that worker: the sender pushes, fences, and unparks it if its
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
//!    `epoll_wait`. `wake_idle` prefers an idle worker that is not polling, so the
//!    poller stays with a sleeper while there are others to wake.
//! 3. Busy workers poll without blocking every `POLL_CHECK` rounds, and before they try
//!    to steal, whenever nobody owns the poller: when every worker is busy, I/O is still
//!    delivered. The monitor polls if nobody has for 10 ms (sysmon.rs).
//! 4. Polling only unparks: a woken coroutine is queued for its home worker like any
//!    other unpark (onto this worker's `next` if it is home here), and runs from a run
//!    queue, never on the polling thread's stack in the middle of the poll.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::ptr;
use std::sync::{Arc, OnceLock};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use crossbeam_deque::{Injector, Steal, Stealer, Worker as Deque};
use crossbeam_utils::CachePadded;
use goro_context::{Reason, ResumeError, Resumed};

use crate::blocking::BlockingPool;
use crate::config::{Config, ConfigError};
use crate::loom::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Mutex, Ordering, fence};
use crate::park::Unparker;
use crate::poll;
use crate::registry::Registry;
use crate::task::{self, Body, Task};
use crate::timer::{self, Action, TimerHandle, Timers};

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
/// An idle worker whose nearest timer is closer than this sleeps in `thread::park`
/// (nanosecond timeouts) rather than in `epoll_wait` (whole milliseconds).
const MIN_POLL_SLEEP: Duration = Duration::from_millis(1);
/// Spare workers the monitor may add beyond the configured count.
const MAX_SPARES: usize = 256;
/// How long a worker out of work looks for its own before it sleeps.
const IDLE_SPIN: Duration = Duration::from_micros(20);
/// Rounds of stealing attempts before a spinning worker gives up.
const STEAL_ROUNDS: usize = 4;
/// How long a thief leaves a busy worker's `fresh` G alone (Go's `usleep(3)`).
const FRESH_GRACE: Duration = Duration::from_micros(3);
/// A worker starts placing unstarted Gs on another when its homed load is more than
/// 1.5 times the other's plus this, and goes on until the two are even.
const PLACE_SLACK: usize = 8;
/// A worker whose tick stayed odd and unchanged while we went through this many rounds
/// is held by one long resume: nothing is placed on it.
const PLACE_STUCK_ROUNDS: u64 = 64;

pub(crate) struct Runtime {
    pub(crate) config: Config,
    workers: Box<[CachePadded<Shared>]>,
    /// Worker slots in use: `0..active` (spare slots are taken in order).
    active: AtomicUsize,
    injector: Injector<Arc<Task>>,
    idle: Mutex<Vec<usize>>,
    npidle: CachePadded<AtomicUsize>,
    nspinning: CachePadded<AtomicUsize>,
    /// Deques not yet owned by a thread (slots not started, or retired).
    deques: Mutex<Vec<Option<Deque<Arc<Task>>>>>,
    epoch: Instant,
    /// Coroutines spawned from plain threads (per-worker counts cover the rest).
    spawned_by_threads: AtomicU64,
    pub(crate) blocking: BlockingPool,
}

/// What other threads may see and touch of a worker.
struct Shared {
    stealer: Stealer<Arc<Task>>,
    inbox: Injector<Arc<Task>>,
    /// `Arc::into_raw` of the G to run next, or null.
    next: AtomicPtr<Task>,
    /// `Arc::into_raw` of the G last spawned here, not started yet, or null: Go's
    /// `runnext` for a new G (see "Where a coroutine starts").
    fresh: AtomicPtr<Task>,
    /// Unstarted Gs other workers placed here (in `inbox`), not started yet.
    incoming: AtomicUsize,
    /// Set while the worker is (about to be) asleep; whoever clears it unparks it.
    sleeping: AtomicBool,
    /// Set while the worker owns the poller and may be blocked in `epoll_wait`: whoever
    /// clears `sleeping` then wakes it through the poller's eventfd.
    polling: AtomicBool,
    thread: Mutex<Option<Thread>>,
    pub(crate) timers: Timers,
    /// Incremented before and after each resume: odd while a coroutine runs. The
    /// monitor reads it to spot a worker stuck in one coroutine. Owner-only stores.
    tick: AtomicU64,
    /// Owner-only counters, for stats.
    spawned: AtomicU64,
    finished: AtomicU64,
    home_len: AtomicUsize,
    /// Started, unfinished coroutines that may only run here.
    homed: AtomicUsize,
    /// The slot has a running thread.
    running: AtomicBool,
    /// The task last resumed here (`Arc::as_ptr`; running while `tick` is odd). Only
    /// compared, never dereferenced. Owner-only stores.
    resumed: AtomicPtr<Task>,
    /// Successful steals by this worker, for stats. Owner-only stores.
    steals: AtomicU64,
    /// Unstarted Gs this worker placed on another, for stats. Owner-only stores.
    placed: AtomicU64,
    /// Gs taken from `inbox` (woken by another thread, or placed here), for stats.
    /// Owner-only stores.
    handed_in: AtomicU64,
    /// The started, unfinished coroutines homed here, for dumps (dump.rs).
    registry: Registry,
}

/// A worker's own state, on its thread.
struct Local {
    index: usize,
    rt: &'static Runtime,
    deque: Deque<Arc<Task>>,
    home: RefCell<VecDeque<Arc<Task>>>,
    yielded: RefCell<VecDeque<Arc<Task>>>,
    round: Cell<u64>,
    rng: Cell<u64>,
    spinning: Cell<bool>,
    streak: Cell<u32>,
    /// The task being resumed (`Arc::as_ptr`), or null.
    current: Cell<*const Task>,
    last_trim: Cell<Option<Instant>>,
    /// The worker this one is placing unstarted Gs on, until their loads are even.
    placing: Cell<Option<usize>>,
    /// The worker last considered for placement, its tick, and our `round` when we
    /// first saw that tick (to tell a worker held by one long resume).
    seen: Cell<(usize, u64, u64)>,
}

thread_local! {
    static LOCAL: Cell<*const Local> = const { Cell::new(ptr::null()) };
}

static RUNTIME: OnceLock<Result<Runtime, ConfigError>> = OnceLock::new();

/// The global runtime, started from the environment on first use.
pub(crate) fn runtime() -> Result<&'static Runtime, ConfigError> {
    let rt = RUNTIME.get_or_init(|| Config::from_env().and_then(Runtime::new));
    match rt {
        Ok(rt) => {
            rt.start();
            Ok(rt)
        }
        Err(err) => Err(err.clone()),
    }
}

/// The runtime if it has started; never starts it.
pub(crate) fn started_runtime() -> Option<&'static Runtime> {
    RUNTIME.get().and_then(|rt| rt.as_ref().ok())
}

pub(crate) fn init(config: Config) -> Result<(), ConfigError> {
    // An invalid configuration is rejected without touching the global: the caller
    // may fix it and try again.
    config.validate()?;
    let mut fresh = false;
    let rt = RUNTIME.get_or_init(|| {
        fresh = true;
        Runtime::new(config)
    });
    match rt {
        Err(err) => Err(err.clone()),
        Ok(_) if !fresh => Err(ConfigError(
            "the goro runtime is already running: configure it before the first spawn".into(),
        )),
        Ok(rt) => {
            rt.start();
            Ok(())
        }
    }
}

// `LOCAL` is read through non-inlined functions: see goro-context's current.rs for why
// (a migrating coroutine must not reuse a thread-local address from another thread).
#[inline(never)]
fn local_ptr() -> *const Local {
    LOCAL.with(Cell::get)
}

fn with_local<R>(f: impl FnOnce(&Local) -> R) -> Option<R> {
    // SAFETY: LOCAL is non-null only while an `EnterLocal` guard lives in
    // `worker_main`, pointing at the `Local` that frame owns and that outlives the
    // guard; the guard clears it on every path out of that frame, unwinding included.
    unsafe { local_ptr().as_ref() }.map(f)
}

/// Runs `f` with the task the calling coroutine belongs to, if any.
pub(crate) fn with_current_task<R>(f: impl FnOnce(&Task) -> R) -> Option<R> {
    with_local(|local| {
        // SAFETY: `current` is non-null only while a `CurrentTask` guard lives, which
        // borrows the task's Arc, so the task is alive (unwinding included).
        unsafe { local.current.get().as_ref() }.map(f)
    })
    .flatten()
}

pub(crate) fn current_task() -> Option<Arc<Task>> {
    with_local(|local| {
        let ptr = local.current.get();
        if ptr.is_null() {
            return None;
        }
        // SAFETY: `current` is `Arc::as_ptr` of a task that the `CurrentTask` guard
        // (which borrows that Arc) keeps alive while it is current; taking another
        // strong reference is then sound.
        unsafe {
            Arc::increment_strong_count(ptr);
            Some(Arc::from_raw(ptr))
        }
    })
    .flatten()
}

/// Index of the worker the caller runs on, if it is a worker thread.
pub(crate) fn current_worker() -> Option<usize> {
    with_local(|local| local.index)
}

/// Queues a new task: in this worker's `fresh` slot (beside its spawner; the one there
/// before moves to the deque) or the injector.
pub(crate) fn submit(rt: &'static Runtime, task: Arc<Task>) {
    let mut task = Some(task);
    with_local(|local| {
        local.push_fresh(task.take().expect("not yet queued"));
        let shared = local.shared();
        shared.spawned.store(
            shared.spawned.load(Ordering::Relaxed) + 1,
            Ordering::Relaxed,
        );
    });
    if let Some(task) = task {
        // A plain thread.
        rt.spawned_by_threads.fetch_add(1, Ordering::Relaxed);
        rt.injector.push(task);
    }
    rt.wake_idle();
}

/// Enqueues a task that went PARKED -> RUNNING. Called by `Unparker::unpark`.
pub(crate) fn schedule(task: Arc<Task>) {
    let rt = started_runtime().expect("a task exists, so the runtime has started");
    let home = task.home();
    let mut task = Some(task);
    with_local(|local| {
        let pinned = task.as_ref().is_some_and(|t| t.pinned);
        if !pinned || home == local.index {
            local.push_next(task.take().expect("not yet scheduled"));
        }
    });
    let Some(task) = task else {
        return;
    };
    if task.pinned {
        rt.send_home(home, task);
    } else {
        rt.injector.push(task);
        rt.wake_idle();
    }
}

/// Takes a finished or abandoned task out of its home worker's registry.
pub(crate) fn unregister(task: &Task) {
    if task.info.slot.load(Ordering::Relaxed) == task::NO_SLOT {
        return; // never started, or already out (only its own worker puts it in)
    }
    if let Some(rt) = started_runtime() {
        rt.workers[task.home()].registry.lock().remove(task);
    }
}

/// Adds a timer on the calling worker that unparks `unparker` at `deadline`.
pub(crate) fn add_timer(deadline: Instant, unparker: Unparker) -> TimerHandle {
    let rt = started_runtime().expect("only coroutines add timers");
    let index = current_worker().expect("only coroutines add timers");
    rt.workers[index]
        .timers
        .add(rt.nanos(deadline), Action::Unpark(unparker))
}

/// Adds a timer that runs `f` at `deadline`: on the calling worker's heap, or, from a
/// plain thread, on worker 0's, waking it so it sleeps no longer than the new deadline.
pub(crate) fn add_callback(
    rt: &'static Runtime,
    deadline: Instant,
    f: Box<dyn FnOnce() + Send>,
) -> TimerHandle {
    let action = Action::Call(crate::loom::modelled::Mutex::new(Some(f)));
    match current_worker() {
        Some(index) => rt.workers[index].timers.add(rt.nanos(deadline), action),
        None => {
            let handle = rt.workers[0].timers.add(rt.nanos(deadline), action);
            rt.workers[0].wake();
            handle
        }
    }
}

impl Runtime {
    fn new(config: Config) -> Result<Runtime, ConfigError> {
        config.validate()?;
        let slots = config.workers + MAX_SPARES;
        let mut deques = Vec::with_capacity(slots);
        let mut workers = Vec::with_capacity(slots);
        for _ in 0..slots {
            let deque = Deque::new_fifo();
            workers.push(CachePadded::new(Shared {
                stealer: deque.stealer(),
                inbox: Injector::new(),
                next: AtomicPtr::new(ptr::null_mut()),
                fresh: AtomicPtr::new(ptr::null_mut()),
                incoming: AtomicUsize::new(0),
                sleeping: AtomicBool::new(false),
                polling: AtomicBool::new(false),
                thread: Mutex::new(None),
                timers: Timers::new(),
                tick: AtomicU64::new(0),
                spawned: AtomicU64::new(0),
                finished: AtomicU64::new(0),
                home_len: AtomicUsize::new(0),
                homed: AtomicUsize::new(0),
                running: AtomicBool::new(false),
                resumed: AtomicPtr::new(ptr::null_mut()),
                steals: AtomicU64::new(0),
                placed: AtomicU64::new(0),
                handed_in: AtomicU64::new(0),
                registry: Registry::new(),
            }));
            deques.push(Some(deque));
        }
        Ok(Runtime {
            config,
            workers: workers.into_boxed_slice(),
            active: AtomicUsize::new(0),
            injector: Injector::new(),
            idle: Mutex::new(Vec::new()),
            npidle: CachePadded::new(AtomicUsize::new(0)),
            nspinning: CachePadded::new(AtomicUsize::new(0)),
            deques: Mutex::new(deques),
            epoch: Instant::now(),
            spawned_by_threads: AtomicU64::new(0),
            blocking: BlockingPool::new(),
        })
    }

    /// Starts the configured workers and the monitor, once.
    fn start(&'static self) {
        if self.active.load(Ordering::Acquire) != 0 {
            return;
        }
        static START: std::sync::Once = std::sync::Once::new();
        START.call_once(|| {
            for index in 0..self.config.workers {
                self.start_worker(index);
            }
            self.active.store(self.config.workers, Ordering::Release);
            crate::sysmon::start(self);
            crate::dump::start_signal_dump(self);
        });
    }

    fn start_worker(&'static self, index: usize) {
        let deque = self.deques.lock().unwrap_or_else(|e| e.into_inner())[index]
            .take()
            .expect("a worker slot's deque is free when the slot is started");
        self.workers[index].running.store(true, Ordering::Release);
        thread::Builder::new()
            .name(format!("goro-worker-{index}"))
            .spawn(move || worker_main(self, index, deque))
            .expect("failed to start a goro worker thread");
    }

    /// Starts a spare worker (the monitor found one stuck). Returns false at the cap.
    pub(crate) fn start_spare(&'static self) -> bool {
        for index in self.config.workers..self.workers.len() {
            let shared = &self.workers[index];
            if shared.running.load(Ordering::Acquire) {
                continue;
            }
            if self.deques.lock().unwrap_or_else(|e| e.into_inner())[index].is_none() {
                continue; // retiring right now
            }
            self.active.fetch_max(index + 1, Ordering::AcqRel);
            self.start_worker(index);
            return true;
        }
        false
    }

    /// Nanoseconds since the epoch, saturating below `timer::NONE` (584 years).
    pub(crate) fn nanos(&self, at: Instant) -> u64 {
        let nanos = at.saturating_duration_since(self.epoch).as_nanos();
        u64::try_from(nanos)
            .unwrap_or(u64::MAX)
            .min(timer::NONE - 1)
    }

    pub(crate) fn now(&self) -> u64 {
        self.nanos(Instant::now())
    }

    fn instant(&self, nanos: u64) -> Instant {
        self.epoch + Duration::from_nanos(nanos)
    }

    pub(crate) fn active(&self) -> usize {
        self.active.load(Ordering::Acquire)
    }

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
    fn send_home(&self, home: usize, task: Arc<Task>) {
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

    /// The monitor found worker `index` stuck in one coroutine: move what others may
    /// run, and make sure someone runs whatever waits in the global queue.
    pub(crate) fn rescue(&'static self, index: usize) {
        let shared = &self.workers[index];
        loop {
            match shared.stealer.steal() {
                Steal::Success(task) => self.injector.push(task),
                Steal::Retry => continue,
                Steal::Empty => break,
            }
        }
        let fresh = shared.fresh.swap(ptr::null_mut(), Ordering::AcqRel);
        if !fresh.is_null() {
            // SAFETY: `fresh` holds an `Arc::into_raw` pointer; we took it out.
            self.injector.push(unsafe { Arc::from_raw(fresh) });
        }
        if self.config.allow_migration {
            let next = shared.next.swap(ptr::null_mut(), Ordering::AcqRel);
            if !next.is_null() {
                // SAFETY: `next` holds an `Arc::into_raw` pointer; we took it out.
                let task = unsafe { Arc::from_raw(next) };
                if task.pinned {
                    shared.inbox.push(task);
                } else {
                    self.injector.push(task);
                }
            }
        }
        if self.injector.is_empty() {
            return; // nothing waits that another worker could run
        }
        if self.npidle.load(Ordering::SeqCst) > 0 {
            self.wake_idle();
        } else if self.nspinning.load(Ordering::SeqCst) == 0 {
            self.start_spare();
        }
    }

    pub(crate) fn worker_ticks(&self, index: usize) -> u64 {
        self.workers[index].tick.load(Ordering::Relaxed)
    }

    pub(crate) fn timers(&self, index: usize) -> &Timers {
        &self.workers[index].timers
    }

    /// Calls `f` with every started, unfinished task, its home worker and whether it
    /// is running right now. Holds one worker's registry lock for at most `CHUNK` tasks
    /// at a time: spawns and finishes on that worker wait meanwhile; parks, unparks and
    /// the other workers do not. After each chunk, with the lock released, it calls
    /// `f(None)` (to move what `f` gathered somewhere slower). Returns the longest time
    /// it held a lock.
    pub(crate) fn for_each_task(
        &self,
        mut f: impl FnMut(Option<(&Task, usize, bool)>),
    ) -> Duration {
        const CHUNK: usize = 256;
        let mut longest = Duration::ZERO;
        for (index, shared) in self.workers[..self.active()].iter().enumerate() {
            let mut start = 0;
            loop {
                let registry = shared.registry.lock();
                let held = Instant::now();
                if start >= registry.len() {
                    break;
                }
                let tick = shared.tick.load(Ordering::Relaxed);
                let resumed = shared.resumed.load(Ordering::Relaxed).cast_const();
                let end = registry.len().min(start + CHUNK);
                for &ptr in registry.slots(start, end) {
                    // SAFETY: a pointer in the registry is a live task while we hold the
                    // lock: it leaves the registry (under this lock) before it is freed.
                    if let Some(task) = unsafe { ptr.as_ref() } {
                        f(Some((task, index, tick % 2 == 1 && ptr == resumed)));
                    }
                }
                drop(registry);
                longest = longest.max(held.elapsed());
                f(None);
                start = end;
            }
        }
        longest
    }

    /// Sum of every worker's resume ticks and spawn/finish counts: unchanged while
    /// nothing runs.
    pub(crate) fn progress(&self) -> u64 {
        let mut sum = self.spawned_by_threads.load(Ordering::Relaxed);
        for shared in &self.workers[..self.active()] {
            sum = sum
                .wrapping_add(shared.tick.load(Ordering::Relaxed))
                .wrapping_add(shared.spawned.load(Ordering::Relaxed))
                .wrapping_add(shared.finished.load(Ordering::Relaxed));
        }
        sum
    }

    /// Worker threads running now (spares included).
    pub(crate) fn worker_threads(&self) -> usize {
        self.workers[..self.active()]
            .iter()
            .filter(|shared| shared.running.load(Ordering::Relaxed))
            .count()
    }

    pub(crate) fn spinning(&self) -> usize {
        self.nspinning.load(Ordering::Relaxed)
    }

    pub(crate) fn stats(&self) -> crate::Stats {
        let active = self.active();
        let mut spawned = self.spawned_by_threads.load(Ordering::Relaxed);
        let (mut finished, mut queued, mut running, mut workers, mut timers) = (0, 0, 0, 0, 0);
        let mut per_worker = Vec::with_capacity(active);
        for (index, shared) in self.workers[..active].iter().enumerate() {
            let w = crate::WorkerStats {
                index,
                thread: shared.running.load(Ordering::Relaxed),
                busy: shared.tick.load(Ordering::Relaxed) % 2 == 1,
                idle: shared.sleeping.load(Ordering::Relaxed),
                queued: shared.stealer.len()
                    + shared.inbox.len()
                    + shared.home_len.load(Ordering::Relaxed)
                    + usize::from(!shared.next.load(Ordering::Relaxed).is_null())
                    + usize::from(!shared.fresh.load(Ordering::Relaxed).is_null()),
                homed: shared.homed.load(Ordering::Relaxed),
                spawned: shared.spawned.load(Ordering::Relaxed),
                finished: shared.finished.load(Ordering::Relaxed),
                resumes: shared.tick.load(Ordering::Relaxed) / 2,
                steals: shared.steals.load(Ordering::Relaxed),
                placed: shared.placed.load(Ordering::Relaxed),
                handed_in: shared.handed_in.load(Ordering::Relaxed),
                timers: shared.timers.len(),
            };
            spawned += w.spawned;
            finished += w.finished;
            queued += w.queued;
            running += usize::from(w.busy);
            workers += usize::from(w.thread);
            timers += w.timers;
            per_worker.push(w);
        }
        queued += self.injector.len();
        let live = spawned.saturating_sub(finished) as usize;
        crate::Stats {
            live,
            runnable: queued.min(live),
            running,
            parked: live.saturating_sub(queued + running),
            workers,
            idle_workers: self.npidle.load(Ordering::Relaxed),
            timers,
            blocking_threads: self.blocking.threads(),
            registered_fds: crate::io::registered(),
            spinning: self.spinning(),
            injector: self.injector.len(),
            per_worker,
        }
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

    fn wake(&self) {
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

/// Makes a task the worker's current one (`Local::current`) while it is resumed, and
/// clears it when dropped, unwinding included. It borrows the task's `Arc`, so the task
/// outlives every moment it is current.
struct CurrentTask<'a>(
    &'a Cell<*const Task>,
    std::marker::PhantomData<&'a Arc<Task>>,
);

impl<'a> CurrentTask<'a> {
    fn enter(current: &'a Cell<*const Task>, task: &'a Arc<Task>) -> CurrentTask<'a> {
        current.set(Arc::as_ptr(task));
        CurrentTask(current, std::marker::PhantomData)
    }
}

impl Drop for CurrentTask<'_> {
    fn drop(&mut self) {
        self.0.set(ptr::null());
    }
}

/// Points `LOCAL` at a worker's `Local` for as long as it lives, and clears it when
/// dropped: on every way out of `worker_main`, unwinding included, so `with_local`
/// never follows the pointer into a frame that is gone.
struct EnterLocal<'a>(std::marker::PhantomData<&'a Local>);

impl<'a> EnterLocal<'a> {
    fn new(local: &'a Local) -> EnterLocal<'a> {
        LOCAL.with(|l| l.set(local));
        EnterLocal(std::marker::PhantomData)
    }
}

impl Drop for EnterLocal<'_> {
    fn drop(&mut self) {
        LOCAL.with(|l| l.set(ptr::null()));
    }
}

fn worker_main(rt: &'static Runtime, index: usize, deque: Deque<Arc<Task>>) {
    let shared = &rt.workers[index];
    *shared.thread.lock().unwrap_or_else(|e| e.into_inner()) = Some(thread::current());
    let local = Local::new(rt, index, deque);
    let entered = EnterLocal::new(&local);
    while let Some(task) = local.find_runnable() {
        local.run(task);
    }
    drop(entered);
    // Retired (a spare with nothing homed here): hand the deque back for reuse.
    let Local { deque, .. } = local;
    *shared.thread.lock().unwrap_or_else(|e| e.into_inner()) = None;
    rt.deques.lock().unwrap_or_else(|e| e.into_inner())[index] = Some(deque);
    shared.running.store(false, Ordering::Release);
}

impl Local {
    fn new(rt: &'static Runtime, index: usize, deque: Deque<Arc<Task>>) -> Local {
        Local {
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
            placing: Cell::new(None),
            seen: Cell::new((usize::MAX, 0, 0)),
        }
    }

    fn shared(&self) -> &Shared {
        &self.rt.workers[self.index]
    }

    /// Resumes one task until it yields, parks or finishes.
    fn run(&self, task: Arc<Task>) {
        let shared = self.shared();
        if task.home() == task::NO_HOME && task.pinned {
            // Not started, and not placed yet: its home is still open.
            if let Some(to) = self.place() {
                self.hand_over(to, task);
                return;
            }
        }
        // SAFETY: we popped the task from a run queue; see Task::body.
        let body = unsafe { task.body() };
        if let Body::Pending(_) = body {
            if task.home() == self.index {
                // Placed here by another worker (`hand_over`).
                shared.incoming.fetch_sub(1, Ordering::Relaxed);
            }
            match self.build(body, task.pinned, task.info.name.clone()) {
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
        shared.tick.store(tick + 1, Ordering::Relaxed);
        let result = coroutine.resume();
        shared.tick.store(tick + 2, Ordering::Relaxed);
        drop(current);
        match result {
            Ok(Resumed::Suspended(Reason::Yield)) => {
                if task.pinned {
                    // Nobody else can run it: this worker's own `yielded` queue.
                    self.yielded.borrow_mut().push_back(task);
                } else {
                    // Stealable, but nobody is woken for it, as Go's Gosched does not:
                    // this worker runs it again soon, and a yield is no new work.
                    self.deque.push(task);
                }
            }
            Ok(Resumed::Suspended(Reason::Park)) => {
                if task.parked() {
                    self.push_runnable(task);
                }
            }
            Ok(Resumed::Finished(result)) => {
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
            }
            Err(ResumeError::NotHome) => {
                // Only reachable if a pinned task was queued away from home: send it on.
                let home = task.home();
                self.rt.send_home(home, task);
            }
            Err(ResumeError::Finished) => unreachable!("a finished task is never queued"),
        }
    }

    /// Where a G about to start here should start instead, if this worker is loaded
    /// much more than another (see "Where a coroutine starts"). Not on spare workers
    /// (they retire) nor with one worker.
    fn place(&self) -> Option<usize> {
        let rt = self.rt;
        let workers = rt.config.workers;
        if workers < 2 || self.index >= workers {
            return None;
        }
        let load = |i: usize| {
            let shared = &rt.workers[i];
            shared.homed.load(Ordering::Relaxed) + shared.incoming.load(Ordering::Relaxed)
        };
        let placing = self.placing.get();
        let to = placing.unwrap_or_else(|| {
            // One other worker at random; with more than two, the less loaded of two.
            let other = |r: u64| {
                let i = (r % (workers as u64 - 1)) as usize;
                if i >= self.index { i + 1 } else { i }
            };
            let a = other(self.random());
            if workers == 2 {
                return a;
            }
            let b = other(self.random());
            if load(b) < load(a) { b } else { a }
        });
        let (mine, theirs) = (load(self.index), load(to));
        let uneven = match placing {
            Some(_) => mine > theirs,
            None => 2 * mine > 3 * theirs + 2 * PLACE_SLACK,
        };
        if !uneven || self.starting(to) || self.held(to) {
            self.placing.set(None);
            return None;
        }
        self.placing.set(Some(to));
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
    fn hand_over(&self, to: usize, task: Arc<Task>) {
        let rt = self.rt;
        task.set_home(to);
        rt.workers[to].incoming.fetch_add(1, Ordering::Relaxed);
        let placed = &self.shared().placed;
        placed.store(placed.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        rt.send_home(to, task);
    }

    /// Turns a pending body into a coroutine, taking its stack from this worker's pool
    /// unless spawn already took one. On failure the error becomes the task's result,
    /// as a `String` payload.
    fn build(&self, body: &mut Body, pinned: bool, name: Option<Arc<str>>) -> Result<(), String> {
        let Body::Pending(pending) = std::mem::replace(body, Body::Finished) else {
            unreachable!("build is called on pending bodies");
        };
        let task::Pending {
            f,
            stack_size,
            stack,
        } = pending;
        let stack = match stack.map_or_else(|| goro_stack::Stack::new(stack_size), Ok) {
            Ok(stack) => stack,
            Err(err) => {
                let msg = format!(
                    "goro: coroutine '{}' could not start: {err}",
                    name.as_deref().unwrap_or("<unnamed>")
                );
                // To the real stderr, as `report_panic` writes (lib.rs says why).
                let _ = std::io::Write::write_all(
                    &mut std::io::stderr(),
                    format!("{msg}\n").as_bytes(),
                );
                crate::drop_caught(f, "a coroutine that never ran");
                return Err(msg);
            }
        };
        let mut coroutine = goro_context::Coroutine::with_stack(stack, name, f);
        if !pinned {
            // SAFETY: only tasks of a runtime that the user opted into migration
            // (through the `unsafe` `Config::allow_migration`, whose contract is this
            // one) are unpinned; see `spawn`.
            unsafe { coroutine.allow_migration() };
        }
        *body = Body::Running(coroutine);
        Ok(())
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
    fn push_next(&self, task: Arc<Task>) {
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
    fn push_fresh(&self, task: Arc<Task>) {
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

    fn drain_inbox(&self) {
        let inbox = &self.shared().inbox;
        if inbox.is_empty() {
            return;
        }
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
            if !self.park_worker() {
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
    /// spawned it to talk to it, and is about to park (Go's `runqgrab` sleeps 3 us
    /// before it takes `runnext`, for the same reason).
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

    fn stop_spinning(&self) {
        if self.spinning.replace(false) && self.rt.nspinning.fetch_sub(1, Ordering::SeqCst) == 1 {
            // We were the last spinner and found work: there may be more, so make sure
            // someone keeps looking.
            self.rt.wake_idle();
        }
    }

    fn has_own_work(&self) -> bool {
        self.has_queued_work() || self.shared().timers.next() <= self.rt.now()
    }

    /// [`has_own_work`](Local::has_own_work) but for timers: no clock read.
    fn has_queued_work(&self) -> bool {
        let shared = self.shared();
        !shared.inbox.is_empty()
            || !shared.next.load(Ordering::SeqCst).is_null()
            || !shared.fresh.load(Ordering::SeqCst).is_null()
            || !self.deque.is_empty()
    }

    /// The sleeping half of the idle protocol (see the module docs). Returns false if
    /// this worker should retire instead.
    fn park_worker(&self) -> bool {
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
                    return true;
                }
            }
            return false;
        }
        // 0. Before sleeping, look for our own work for a few microseconds: a coroutine
        //    homed here is often woken by another worker moments later (a channel
        //    ping-pong across workers), and a futex sleep plus wake costs both sides
        //    far more than this spin costs an otherwise idle core.
        //    Each look is a handful of loads; the clock (and with it the timers) is read
        //    every 64th only. One `pause` between looks, not more: a `pause` costs ~140
        //    cycles on recent x86, so 32 of them spaced the looks ~1.5 us apart.
        let until = Instant::now() + IDLE_SPIN;
        let mut looks = 0u32;
        loop {
            looks = looks.wrapping_add(1);
            if looks % 64 == 0 {
                if self.has_own_work() {
                    return true;
                }
                if Instant::now() >= until {
                    break;
                }
            } else if self.has_queued_work() {
                return true;
            }
            if rt.has_stealable_work() {
                return true;
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
            return true;
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
                Some(true) => break,
                Some(false) => {}
                None => match timeout {
                    None => thread::park(),
                    Some(timeout) => thread::park_timeout(timeout),
                },
            }
        }
        self.leave_idle();
        true
    }

    /// Step 1 of "The poller in the idle path": sleeps in `epoll_wait` for up to
    /// `timeout` if there is I/O to wait for and nobody else owns the poller. `None` if
    /// it did not poll; else whether it found work to leave the idle list for.
    fn poll_idle(&self, timeout: Option<Duration>) -> Option<bool> {
        if timeout.is_some_and(|t| t < MIN_POLL_SLEEP) {
            return None;
        }
        let poller = poll::active()?;
        if !poller.try_own() {
            return None;
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
            return Some(false);
        };
        Some(woke > 0 && (self.has_own_work() || self.rt.has_stealable_work()))
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

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

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
        let thief = Local::new(rt, 1, deque);
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
