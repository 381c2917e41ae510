//! The blocking pool: threads that run known-blocking code (`blocking(f)`) while the
//! coroutine that asked waits parked, so its worker keeps running other coroutines.
//!
//! Threads are started on demand (at most `MAX_THREADS`) and exit after `KEEP_ALIVE`
//! without work.

use std::collections::VecDeque;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crate::context;
use crate::loom::{Condvar, Mutex};
use crate::park::{self, Unparker};

const MAX_THREADS: usize = 512;
const KEEP_ALIVE: Duration = Duration::from_secs(10);

type Job = Box<dyn FnOnce() + Send + 'static>;

pub(crate) struct BlockingPool {
    state: Mutex<State>,
    work: Condvar,
}

struct State {
    queue: VecDeque<Job>,
    idle: usize,
    threads: usize,
}

impl BlockingPool {
    pub(crate) fn new() -> BlockingPool {
        BlockingPool {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                idle: 0,
                threads: 0,
            }),
            work: Condvar::new(),
        }
    }

    pub(crate) fn threads(&self) -> usize {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).threads
    }

    /// Whether a job is queued or running.
    pub(crate) fn busy(&self) -> bool {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        !state.queue.is_empty() || state.idle < state.threads
    }

    /// Queues `job`, waking an idle thread for it or starting one. Gives the job back
    /// if no thread exists or can be started to run it.
    pub(crate) fn submit(&'static self, job: Job) -> Result<(), Job> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.queue.push_back(job);
        // An idle thread leaves `idle` only once it has the lock back, so count queued
        // jobs against idle threads rather than asking whether one is idle: each job
        // needs a thread of its own.
        if state.queue.len() <= state.idle {
            self.work.notify_one();
            return Ok(());
        }
        if state.threads < MAX_THREADS {
            state.threads += 1;
            let spawned = thread::Builder::new()
                .name("goro-blocking".into())
                .spawn(move || self.serve());
            if spawned.is_ok() {
                return Ok(());
            }
            state.threads -= 1;
        }
        if state.threads == 0 {
            // Nobody will ever run it: the caller runs it itself.
            return Err(state.queue.pop_back().expect("just pushed"));
        }
        Ok(()) // an existing thread takes it when done with its current job
    }

    fn serve(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(job) = state.queue.pop_front() {
                drop(state);
                job();
                state = self.state.lock().unwrap_or_else(|e| e.into_inner());
                continue;
            }
            state.idle += 1;
            let (next, timeout) = self
                .work
                .wait_timeout(state, KEEP_ALIVE)
                .unwrap_or_else(|e| e.into_inner());
            state = next;
            state.idle -= 1;
            if timeout.timed_out() && state.queue.is_empty() {
                state.threads -= 1;
                return;
            }
        }
    }
}

/// Where a blocking job leaves its result.
struct Done<T> {
    result: Mutex<Option<thread::Result<T>>>,
    finished: Condvar,
    waiter: Unparker,
}

/// Runs `f` on the blocking pool while the calling coroutine parks; on a plain thread
/// just calls `f`. A panic in `f` resumes in the caller.
///
/// `f` may borrow from the caller's stack: the caller does not return, and is never
/// unwound, before `f` has finished.
///
/// # Examples
///
/// ```
/// let len = goro_sched::spawn(Default::default(), || {
///     goro_sched::blocking(|| std::fs::read_to_string("Cargo.toml").map(|s| s.len()))
/// })?
/// .join()
/// .unwrap()?;
/// assert!(len > 0);
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Panics
///
/// Re-raises a panic from `f`.
#[track_caller]
pub fn blocking<F, T>(f: F) -> T
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    if context::with_current_task(|_| ()).is_none() {
        return f();
    }
    let rt =
        crate::runtime::started_runtime().expect("a coroutine is running, so the runtime started");
    let done = Arc::new(Done {
        result: Mutex::new(None),
        finished: Condvar::new(),
        waiter: park::current_unparker(),
    });
    let job = {
        let done = done.clone();
        move || {
            let result = panic::catch_unwind(AssertUnwindSafe(f));
            *done.result.lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
            done.finished.notify_all();
            done.waiter.unpark();
            // This `done` may be the last reference, but the result is no longer in
            // it or soon will not be: the waiter takes it (below), always.
        }
    };
    let job: Box<dyn FnOnce() + Send + '_> = Box::new(job);
    // SAFETY: only the lifetime is changed. The job (`f`, and the result `T` it
    // makes) may borrow from this frame, which outlives both:
    // 1. This function does not return before the job has stored its result, and it
    //    takes the result out of `done` before it returns (the loop below).
    // 2. If it unwinds instead, the `WaitForJob` guard blocks this thread until the job
    //    has stored its result, and takes and drops the result itself, here.
    // 3. So the job's own `done` holds no `T` once this frame is gone, and the job
    //    touches nothing borrowed after storing the result.
    // (goro-sched never unwinds or reuses the stack of a parked coroutine, see
    // task.rs's `Drop`; and this coroutine's unparker in `done` keeps it referenced.)
    let job: Job = unsafe { std::mem::transmute::<Box<dyn FnOnce() + Send + '_>, Job>(job) };
    if let Err(job) = rt.blocking.submit(job) {
        job(); // no pool thread could be started: block this worker instead
    }
    let guard = WaitForJob(&done);
    let wait = park::Wait::new(park::WaitReason::Blocking);
    let result = loop {
        if let Some(result) = done.result.lock().unwrap_or_else(|e| e.into_inner()).take() {
            break result;
        }
        park::park_on(wait);
    };
    std::mem::forget(guard);
    result.unwrap_or_else(|payload| panic::resume_unwind(payload))
}

/// Waits for the job and takes its result, if `blocking` unwinds before it has.
struct WaitForJob<'a, T>(&'a Done<T>);

impl<T> Drop for WaitForJob<'_, T> {
    fn drop(&mut self) {
        // Only reached while unwinding out of `blocking`: wait, blocking the thread, and
        // drop the result here, in the frame it may borrow from (step 2 above).
        let mut slot = self.0.result.lock().unwrap_or_else(|e| e.into_inner());
        while slot.is_none() {
            slot = self
                .0
                .finished
                .wait(slot)
                .unwrap_or_else(|e| e.into_inner());
        }
        let result = slot.take();
        drop(slot);
        drop(result);
    }
}
