//! The thread-local worker and the task it is resuming: the one door through which
//! the rest of the crate (lib.rs, park.rs, task.rs, io.rs, blocking.rs) reaches the
//! run queues. `submit`, `schedule`, `unregister`, `add_timer` and `add_callback` put
//! work into the queues and timer heaps of worker.rs and wake sleepers by the protocol
//! of idle.rs; nothing outside the scheduler's core (worker.rs, idle.rs, runtime.rs and
//! this file) touches their internals. The monitor and dumps use `Runtime`'s methods
//! (runtime.rs).

use std::cell::Cell;
use std::ptr;
use std::sync::Arc;
use std::time::Instant;

use crate::loom::Ordering;
use crate::park::Unparker;
use crate::runtime::{Runtime, started_runtime};
use crate::task::{self, Task};
use crate::timer::{Action, TimerHandle};
use crate::worker::Processor;

thread_local! {
    static LOCAL: Cell<*const Processor> = const { Cell::new(ptr::null()) };
}

// `LOCAL` is read through non-inlined functions: see goro-context's current.rs for why
// (a migrating coroutine must not reuse a thread-local address from another thread).
#[inline(never)]
pub(crate) fn local_ptr() -> *const Processor {
    LOCAL.with(Cell::get)
}

fn with_local<R>(f: impl FnOnce(&Processor) -> R) -> Option<R> {
    // SAFETY: LOCAL is non-null only while an `EnterLocal` guard lives in
    // `worker_main`, pointing at the `Processor` that frame owns and that outlives the
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
        task.set_home(task::THREAD_SPAWNED);
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

/// Makes a task the worker's current one (`Processor::current`) while it is resumed, and
/// clears it when dropped, unwinding included. It borrows the task's `Arc`, so the task
/// outlives every moment it is current.
pub(crate) struct CurrentTask<'a>(
    &'a Cell<*const Task>,
    std::marker::PhantomData<&'a Arc<Task>>,
);

impl<'a> CurrentTask<'a> {
    pub(crate) fn enter(current: &'a Cell<*const Task>, task: &'a Arc<Task>) -> CurrentTask<'a> {
        current.set(Arc::as_ptr(task));
        CurrentTask(current, std::marker::PhantomData)
    }
}

impl Drop for CurrentTask<'_> {
    fn drop(&mut self) {
        self.0.set(ptr::null());
    }
}

/// Points `LOCAL` at a worker's `Processor` for as long as it lives, and clears it when
/// dropped: on every way out of `worker_main`, unwinding included, so `with_local`
/// never follows the pointer into a frame that is gone.
pub(crate) struct EnterLocal<'a>(std::marker::PhantomData<&'a Processor>);

impl<'a> EnterLocal<'a> {
    pub(crate) fn new(local: &'a Processor) -> EnterLocal<'a> {
        LOCAL.with(|l| l.set(local));
        EnterLocal(std::marker::PhantomData)
    }
}

impl Drop for EnterLocal<'_> {
    fn drop(&mut self) {
        LOCAL.with(|l| l.set(ptr::null()));
    }
}
