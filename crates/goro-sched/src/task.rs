//! G: the control block of one coroutine, and its scheduling state machine.
//!
//! A `Task` is shared (`Arc`) between the run queues, whoever may wake it (a channel's
//! waiter list, a timer, a `JoinHandle`), and the worker running it. Its body sits in
//! an `UnsafeCell`: only the worker that popped the task from a run queue touches it,
//! and the state machine guarantees that a task is in at most one run queue (or
//! running) at a time: only the transition out of PARKED enqueues it.
//!
//! The body starts as the closure and becomes a coroutine when the task first runs: the
//! stack is taken then, from the running worker's warm cache, not at spawn. A million
//! queued spawns then cost a million small allocations rather than a million fresh
//! stack pages, and a coroutine that finishes before the next starts hands its stack
//! straight on, as Go recycles a dead goroutine's stack.
//!
//! ```text
//!              spawn             park, no permit
//!   (new) ───────────▶ RUNNING ──────────────────▶ PARKED
//!                      │  ▲  ▲                        │
//!               finish │  │  └────── unpark ──────────┘ (the unparker enqueues it)
//!                      ▼  └─ yield, or park with a permit (the worker re-enqueues it)
//!                     DONE
//! ```
//!
//! RUNNING means *runnable*: running, or in a run queue. Go tells the two apart
//! (`_Grunnable`, `_Grunning`); we need not, because nothing but the queue that holds a
//! task acts on the difference, and leaving it out saves an atomic read-modify-write
//! every time a task starts to run.
//!
//! `NOTIFIED` is a permit, as in `std::thread::park`: an `unpark` that finds the task
//! RUNNING sets it, and the task's next `park` consumes it and returns at once. So
//! `park` may return spuriously, and every blocking operation loops on its own
//! condition; in exchange no wakeup is ever lost, whatever the interleaving.
//!
//! # Why every transition is a read-modify-write
//!
//! A waker writes its condition (a select's claim, a message) and then unparks; the
//! task consumes a permit and then reads the condition. That is a store-then-load on
//! each side, on two locations: the task must see the condition of *every* waker whose
//! wake-up it consumed. The argument:
//! 1. Every waker changes `state` with a read-modify-write with Release, even when a
//!    permit is already pending (it re-publishes the same value). A plain load there
//!    could read a permit that the task has already consumed (x86 lets a load pass the
//!    waker's earlier store), and the waker would leave, its condition unseen.
//! 2. Every consumer of a permit (`take_permit`, `parked`) uses a read-modify-write with
//!    Acquire. Read-modify-writes of one location are totally ordered and each reads the
//!    latest value, so a waker's RMW is either before the consumer's (which then
//!    synchronizes with it through the release sequence and sees its condition) or
//!    after it (then it leaves a new permit, or finds the task PARKED and enqueues it).
//!
//! The loom model `loom_task` checks this with a claim word beside the state.

use std::any::Any;
use std::cell::UnsafeCell;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::task::Waker;
use std::thread;

use goro_context::{Coroutine, Reason, ResumeError, Resumed};

use std::panic::Location;

use crate::loom::modelled::{AtomicU8, AtomicUsize, Mutex};
use crate::loom::{AtomicPtr, AtomicU64, Ordering};
use crate::park::{Unparker, Wait, WaitReason};

/// What a task's coroutine returns: the user's value, boxed (free for `()`).
pub(crate) type Output = Box<dyn Any + Send>;

/// Runnable: running, or in a run queue.
const RUNNING: u8 = 0;
const PARKED: u8 = 1;
const DONE: u8 = 2;
const STATE: u8 = 3;
const NOTIFIED: u8 = 4;

/// `home` of a task that has not started yet.
pub(crate) const NO_HOME: usize = usize::MAX;
/// `home` of a task a plain thread spawned, not started yet: the workers share such
/// tasks out by taking batches from the injector, and do not place them (worker.rs,
/// "Where a coroutine starts").
pub(crate) const THREAD_SPAWNED: usize = usize::MAX - 1;

pub(crate) struct Task {
    state: AtomicU8,
    /// Kept on its home thread even when the runtime allows migration.
    pub(crate) pinned: bool,
    /// Index of the worker it first ran on (or was placed on), or NO_HOME or
    /// THREAD_SPAWNED before that.
    home: AtomicUsize,
    body: UnsafeCell<Body>,
    join: Mutex<Join>,
    /// Free for the `goro` crate's coroutine-locals: read and written only by the
    /// task's own code while it runs (see `with_local_slot` in lib.rs).
    pub(crate) local: AtomicPtr<()>,
    /// What dumps show (dump.rs): fixed at spawn, or written by the task's own worker
    /// and read by a dumper, all `Relaxed`: a dump is a snapshot, and a field read a
    /// moment late only dates it.
    pub(crate) info: Info,
}

/// A task's entries for dumps.
pub(crate) struct Info {
    pub(crate) spawn_site: &'static Location<'static>,
    pub(crate) name: Option<Arc<str>>,
    /// The coroutine's id once it has started, else 0.
    pub(crate) id: AtomicU64,
    /// Its slot in its home worker's registry, or `NO_SLOT`.
    pub(crate) slot: crate::loom::AtomicUsize,
    /// The last wait: the coarse clock when it began (dump.rs) shifted left by 8 bits,
    /// ORed with its `WaitReason` (0: none yet); and its site. Meaningful while the
    /// task is PARKED.
    wait: AtomicU64,
    wait_site: AtomicPtr<Location<'static>>,
}

/// `Info::slot` of a task not in a registry.
pub(crate) const NO_SLOT: usize = usize::MAX;

/// How a dump sees a task.
pub(crate) enum Seen {
    Runnable,
    Parked {
        wait: Option<Wait>,
        /// Coarse clock (dump.rs) when the wait began.
        since: u64,
    },
    Done,
}

/// What a task runs: the closure until it first runs, then its coroutine.
pub(crate) enum Body {
    Pending(Pending),
    Running(Coroutine<Output>),
    Finished,
}

impl Body {
    /// Turns a pending body into a coroutine, taking its stack from the running
    /// worker's pool
    /// unless spawn already took one. On failure the error becomes the task's result,
    /// as a `String` payload.
    pub(crate) fn build(&mut self, pinned: bool, name: Option<Arc<str>>) -> Result<(), String> {
        let Body::Pending(pending) = std::mem::replace(self, Body::Finished) else {
            unreachable!("build is called on pending bodies");
        };
        let Pending {
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
        let mut coroutine = Coroutine::with_stack(stack, name, f);
        if !pinned {
            // SAFETY: only tasks of a runtime that the user opted into migration
            // (through the `unsafe` `Config::allow_migration`, whose contract is this
            // one) are unpinned; see `spawn`.
            unsafe { coroutine.allow_migration() };
        }
        *self = Body::Running(coroutine);
        Ok(())
    }
}

/// What [`Task::parked`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TransitionToParked {
    /// RUNNING -> PARKED: whoever unparks it enqueues it.
    Parked,
    /// A permit arrived while it suspended: consumed, the task stays RUNNING, and the
    /// caller enqueues it (its `park` returns when it next runs).
    Notified,
}

/// What [`Task::unpark`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TransitionToRunnable {
    /// PARKED -> RUNNING: the caller enqueues the task.
    Enqueue,
    /// It was RUNNING: a permit is left (or the pending one re-published) for its next
    /// `park`.
    Permit,
    /// It has finished: nothing to wake.
    Done,
}

/// How one resume of a task's coroutine ended: what the worker that resumed it does
/// next.
pub(crate) enum Outcome {
    /// It called `yield_now`: still RUNNING, to be queued behind the others.
    Yielded,
    /// It suspended to park: [`Task::parked`] finishes the transition.
    Parking,
    /// It returned or panicked: [`Task::finish`] takes the result.
    Finished(thread::Result<Output>),
    /// It is pinned to another worker (it was queued away from home): send it there.
    NotHome,
}

/// Resumes a task's coroutine until it yields, parks or finishes.
#[inline]
pub(crate) fn resume(coroutine: &mut Coroutine<Output>) -> Outcome {
    match coroutine.resume() {
        Ok(Resumed::Suspended(Reason::Yield)) => Outcome::Yielded,
        Ok(Resumed::Suspended(Reason::Park)) => Outcome::Parking,
        Ok(Resumed::Finished(result)) => Outcome::Finished(result),
        Err(ResumeError::NotHome) => Outcome::NotHome,
        Err(ResumeError::Finished) => unreachable!("a finished task is never queued"),
    }
}

/// A task that has not run yet: what it takes to build its coroutine.
pub(crate) struct Pending {
    pub(crate) f: Box<dyn FnOnce() -> Output + Send>,
    pub(crate) stack_size: usize,
    /// Taken at spawn where stacks are budgeted (mprotect guards), so that spawning
    /// past the budget fails in `spawn`; untouched until the task runs.
    pub(crate) stack: Option<goro_stack::Stack>,
}

// SAFETY: `body` is the only field that is not Sync. It is touched only through
// `Task::body`, whose callers (the worker loop) hold the task in state RUNNING: exactly
// one worker pops a task from a run queue (a task is in at most one run queue at a time:
// only the move out of PARKED enqueues it, see the state machine above), and the next
// transition out of RUNNING happens on that same worker after the resume returns. Everything in a Body is Send (the
// closure is boxed as `Send`, Coroutine<Output> is Send), so handing it from thread to
// thread through the queues is fine.
unsafe impl Sync for Task {}

struct Join {
    result: Option<thread::Result<Output>>,
    waiter: Option<Waiter>,
    done: bool,
}

/// Who waits for a task to finish: a coroutine or thread in `join`, or a future's
/// executor polling the `JoinHandle`.
enum Waiter {
    Unpark(Unparker),
    Wake(Waker),
}

impl Waiter {
    fn wake(self) {
        match self {
            Waiter::Unpark(unparker) => unparker.unpark(),
            // An executor's waker is user code, and `finish` runs in the worker loop.
            Waiter::Wake(waker) => {
                if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| waker.wake())) {
                    crate::report_panic("waking the executor of a finished coroutine", payload);
                }
            }
        }
    }
}

impl Task {
    pub(crate) fn new(
        pending: Pending,
        pinned: bool,
        name: Option<Arc<str>>,
        spawn_site: &'static Location<'static>,
    ) -> Arc<Task> {
        #[cfg(not(loom))]
        if let Some(mut task) = crate::task_cache::take() {
            Arc::get_mut(&mut task)
                .expect("a cached task block is unique")
                .renew(pending, pinned, name, spawn_site);
            return task;
        }
        // Allocated first and written in place: `Arc::new` builds the task on the stack
        // and copies it into the allocation (a `memcpy` call at this size).
        let mut task = Arc::<Task>::new_uninit();
        Arc::get_mut(&mut task)
            .expect("a new Arc is unique")
            .write(Task {
                state: AtomicU8::new(RUNNING),
                pinned,
                home: AtomicUsize::new(NO_HOME),
                body: UnsafeCell::new(Body::Pending(pending)),
                join: Mutex::new(Join {
                    result: None,
                    waiter: None,
                    done: false,
                }),
                local: AtomicPtr::new(std::ptr::null_mut()),
                info: Info {
                    spawn_site,
                    name,
                    id: AtomicU64::new(0),
                    slot: crate::loom::AtomicUsize::new(NO_SLOT),
                    wait: AtomicU64::new(0),
                    wait_site: AtomicPtr::new(std::ptr::null_mut()),
                },
            });
        // SAFETY: initialized by the `write` just above.
        unsafe { task.assume_init() }
    }

    /// Re-initializes a finished task's block (task_cache.rs) as `Task::new` would
    /// build it, field by field: no copy of a whole `Task`.
    #[cfg(not(loom))]
    fn renew(
        &mut self,
        pending: Pending,
        pinned: bool,
        name: Option<Arc<str>>,
        spawn_site: &'static Location<'static>,
    ) {
        *self.state.get_mut() = RUNNING;
        self.pinned = pinned;
        *self.home.get_mut() = NO_HOME;
        // Finished (`clear_for_reuse`): this drops nothing.
        *self.body.get_mut() = Body::Pending(pending);
        *self.local.get_mut() = std::ptr::null_mut();
        let info = &mut self.info;
        info.spawn_site = spawn_site;
        info.name = name;
        *info.id.get_mut() = 0;
        *info.wait.get_mut() = 0;
        *info.wait_site.get_mut() = std::ptr::null_mut();
        // `join` (emptied, `done` cleared) and `info.slot` (NO_SLOT) were reset by
        // `clear_for_reuse`.
    }

    /// Empties a finished task whose block is to be reused, and says whether it may
    /// be: its result, if still there, must be `()` (any other result's destructor is
    /// user code, for `drop_result` in `Drop`), and it must be out of its registry.
    #[cfg(not(loom))]
    pub(crate) fn clear_for_reuse(&mut self) -> bool {
        if *self.state.get_mut() & STATE != DONE
            || *self.info.slot.get_mut() != NO_SLOT
            || !matches!(self.body.get_mut(), Body::Finished)
        {
            return false;
        }
        let Ok(join) = self.join.get_mut() else {
            return false; // poisoned: leave it to Drop
        };
        // `finish` took the waiter; a result other than `()` is left to Drop.
        let unit = match &join.result {
            None => true,
            Some(result) => matches!(result, Ok(value) if value.is::<()>()),
        };
        if join.waiter.is_some() || !unit {
            return false;
        }
        *join = Join {
            result: None,
            waiter: None,
            done: false,
        };
        self.info.name = None;
        true
    }

    /// Called by the task itself right before it suspends to park: what it waits for.
    #[inline]
    pub(crate) fn record_wait(&self, wait: Wait) {
        let info = &self.info;
        let since = crate::dump::coarse_now() << 8;
        info.wait
            .store(since | wait.reason() as u64, Ordering::Relaxed);
        info.wait_site.store(
            std::ptr::from_ref(wait.site()).cast_mut(),
            Ordering::Relaxed,
        );
    }

    /// The task's state and, if parked, its wait, for a dump.
    pub(crate) fn seen(&self) -> Seen {
        match self.state.load(Ordering::Relaxed) & STATE {
            PARKED => {
                let info = &self.info;
                let word = info.wait.load(Ordering::Relaxed);
                let reason = WaitReason::from_u8(word as u8);
                let site = info.wait_site.load(Ordering::Relaxed);
                // SAFETY: `wait_site` only ever holds null or a `&'static Location`
                // (record_wait).
                let site = unsafe { site.cast_const().as_ref() };
                let wait = reason
                    .zip(site)
                    .map(|(reason, site)| Wait::with_site(reason, site));
                Seen::Parked {
                    wait,
                    since: word >> 8,
                }
            }
            DONE => Seen::Done,
            _ => Seen::Runnable,
        }
    }

    pub(crate) fn home(&self) -> usize {
        self.home.load(Ordering::Relaxed)
    }

    pub(crate) fn set_home(&self, worker: usize) {
        self.home.store(worker, Ordering::Relaxed);
    }

    /// The body, for the worker that runs the task.
    ///
    /// # Safety
    /// The caller must be the worker that popped this task from a run queue (or is
    /// dropping it), and must not hold the reference past re-enqueueing it (a yield),
    /// `parked` or `finish`.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn body(&self) -> &mut Body {
        // SAFETY: exclusive by the state machine, as the caller guarantees.
        unsafe { &mut *self.body.get() }
    }

    /// After the coroutine suspended with `Reason::Park`: RUNNING -> PARKED, unless a
    /// permit arrived meanwhile (see [`TransitionToParked`]).
    pub(crate) fn parked(&self) -> TransitionToParked {
        // Release: what the task wrote before it parked is visible to whoever wakes
        // it. Acquire on failure and in the fetch_and: pairs with the Release of every
        // `unpark` that left the permit (step 2 of the module docs).
        match self
            .state
            .compare_exchange(RUNNING, PARKED, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => TransitionToParked::Parked,
            Err(_) => {
                // RUNNING | NOTIFIED: the only other state a running task can be in.
                // Consumed with a read-modify-write, never a plain store: a waker may
                // re-publish the permit in between (step 1), and must be seen.
                self.state.fetch_and(!NOTIFIED, Ordering::Acquire);
                TransitionToParked::Notified
            }
        }
    }

    /// Called by the running task itself from `park`: consumes a pending permit.
    pub(crate) fn take_permit(&self) -> bool {
        // The plain load may miss a permit that just arrived: then the task suspends,
        // and `parked` finds the permit with its read-modify-write. Acquire: pairs with
        // the Release of every `unpark` before this one (step 2 of the module docs).
        self.state.load(Ordering::Relaxed) & NOTIFIED != 0
            && self.state.fetch_and(!NOTIFIED, Ordering::Acquire) & NOTIFIED != 0
    }

    /// Makes a parked task runnable, or leaves a permit for a runnable one (see
    /// [`TransitionToRunnable`]).
    ///
    /// Always a read-modify-write (step 1 of the module docs), starting from a guess of
    /// PARKED, the usual state of a task being woken: one compare-exchange then does
    /// the whole wake. AcqRel: what the task's worker wrote before `parked` (its body)
    /// is visible to whoever enqueues and then runs it, and what the waker wrote
    /// before waking it is visible to the task.
    pub(crate) fn unpark(&self) -> TransitionToRunnable {
        let mut state = PARKED;
        loop {
            let (next, outcome) = match state & STATE {
                PARKED => (RUNNING, TransitionToRunnable::Enqueue),
                // Leaves a permit, or re-publishes the pending one.
                RUNNING => (state | NOTIFIED, TransitionToRunnable::Permit),
                _ => return TransitionToRunnable::Done,
            };
            // Release: pairs with the Acquire in `take_permit` and `parked`.
            match self
                .state
                .compare_exchange_weak(state, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return outcome,
                Err(actual) => state = actual,
            }
        }
    }

    /// Records the task's result and wakes a joiner. Drops the coroutine here, on the
    /// worker that ran it, so its stack goes back to this thread's pool.
    pub(crate) fn finish(&self, result: thread::Result<Output>) {
        // SAFETY: called by the running worker right after the coroutine finished (or
        // failed to start).
        let body = unsafe { self.body() };
        // Dropped in place (an assignment), not moved out first: no copy of the body.
        *body = Body::Finished;
        let waiter = {
            let mut join = self.join.lock().unwrap_or_else(|e| e.into_inner());
            join.result = Some(result);
            join.done = true;
            join.waiter.take()
        };
        // After the result is in place: `is_finished` promises that `join` (or a poll
        // of the handle) returns at once. An unpark meanwhile only leaves a permit.
        self.state.store(DONE, Ordering::Release);
        if let Some(waiter) = waiter {
            waiter.wake();
        }
    }

    pub(crate) fn is_finished(&self) -> bool {
        self.state.load(Ordering::Acquire) & STATE == DONE
    }

    /// Waits for the task to finish and takes its result. Parks a coroutine, blocks a
    /// plain thread.
    pub(crate) fn join(&self, wait: Wait) -> thread::Result<Output> {
        loop {
            {
                let mut join = self.join.lock().unwrap_or_else(|e| e.into_inner());
                if join.done {
                    return join.result.take().expect("a task's result is taken once");
                }
                join.waiter = Some(Waiter::Unpark(crate::park::current_unparker()));
            }
            crate::park::park_on(wait);
        }
    }

    /// The task's result if it has finished; otherwise registers `waker` to be woken
    /// when it does (replacing an earlier waiter).
    ///
    /// # Panics
    ///
    /// If the result was already taken.
    pub(crate) fn poll_join(&self, waker: &Waker) -> Option<thread::Result<Output>> {
        let mut join = self.join.lock().unwrap_or_else(|e| e.into_inner());
        if join.done {
            let result = join.result.take();
            return Some(result.expect("a JoinHandle polled after it returned Ready"));
        }
        if let Some(Waiter::Wake(old)) = &join.waiter {
            if old.will_wake(waker) {
                return None;
            }
        }
        let old = join.waiter.replace(Waiter::Wake(waker.clone()));
        drop(join);
        drop(old); // a waker's destructor is the executor's code: not under our lock
        None
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        if self.info.slot.load(Ordering::Relaxed) != NO_SLOT {
            crate::context::unregister(self); // abandoned: it never finished
        }
        // The last reference is gone: nobody can wake this task any more. Whatever
        // holds user code goes under `drop_caught`, as this may run on any runtime
        // thread (the worker that ran the task, a timer, the poller, the monitor).
        let body = self.body.get_mut();
        // The usual case, finished, takes nothing out (and copies no body to do so).
        if !matches!(body, Body::Finished) {
            match std::mem::replace(body, Body::Finished) {
                // Started and not finished, so parked (queues and the running worker hold
                // references): it stays parked for good, as Go leaks a goroutine that
                // nobody can wake. Never unwound: not here (any thread, any context), and
                // not on its home worker later either, which would run its destructors
                // while values they expect to outlive them may be gone (docs/CAVEATS.md
                // §5). Its stack slot is leaked; it counts as live and parked.
                Body::Running(coroutine) => {
                    std::mem::forget(coroutine);
                    crate::dump::abandoned();
                }
                body @ Body::Pending(_) => crate::drop_caught(body, "a coroutine that never ran"),
                Body::Finished => {}
            }
        }
        let result = self
            .join
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .result
            .take();
        if let Some(result) = result {
            crate::drop_result(result);
        }
    }
}

impl fmt::Debug for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("state", &self.state.load(Ordering::Relaxed))
            .field("home", &self.home())
            .field("pinned", &self.pinned)
            .finish_non_exhaustive()
    }
}
