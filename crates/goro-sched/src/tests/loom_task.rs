//! A task's park/unpark state machine (task.rs) together with the condition a waker
//! publishes before it wakes the task: a select's claim word. Each model's main thread
//! is the task, looping on the claim as a select does; "enqueued" stands for the run
//! queue the waker pushes the task onto. A lost wake-up leaves the main thread parked
//! for good, which loom reports as a deadlock.

use std::sync::Arc as StdArc;

use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::task::{Output, Pending, Task, TransitionToParked, TransitionToRunnable};

const BUSY: usize = 0;
const CLAIMED: usize = 1;

fn task() -> StdArc<Task> {
    let pending = Pending {
        f: Box::new(|| Box::new(()) as Output),
        stack_size: 0,
        stack: None,
    };
    Task::new(pending, true, None, std::panic::Location::caller())
}

/// What a waker does: publish the claim (if it has one), then unpark, and enqueue the
/// task if the unpark says so.
fn wake(
    task: &Task,
    claim: Option<&AtomicUsize>,
    enqueued: &AtomicBool,
    me: &loom::thread::Thread,
) {
    if let Some(claim) = claim {
        // Release, as a select's claim is.
        claim.store(CLAIMED, Ordering::Release);
    }
    if task.unpark() == TransitionToRunnable::Enqueue {
        // A read-modify-write, as a run queue's push is: loom orders plain stores from
        // two threads only by happens-before, and could let the task's swap miss it.
        enqueued.swap(true, Ordering::Release);
        me.unpark();
    }
}

/// The task's side: `select!`'s wait loop over `goro_sched::park`, with the worker's
/// half of a park (`Task::parked`) and the wait for a run queue to hand it back.
fn wait_for_claim(task: &Task, claim: &AtomicUsize, enqueued: &AtomicBool) {
    loop {
        if claim.load(Ordering::Acquire) == CLAIMED {
            return;
        }
        // park(): a pending permit returns at once.
        if task.take_permit() {
            continue;
        }
        // Suspended; the worker finishes the park. A permit that raced the suspend
        // re-queues the task at once.
        if task.parked() == TransitionToParked::Notified {
            continue;
        }
        // PARKED: runs again once a waker enqueued it.
        while !enqueued.swap(false, Ordering::Acquire) {
            loom::thread::park();
        }
    }
}

/// A waker finds an earlier permit still pending (the task has not run since), so it
/// need not leave another; but the task may consume that permit at the same moment.
/// Found the lost wake-up of the plain-load early return in `unpark`.
#[test]
fn a_waker_that_finds_a_permit_pending_is_not_lost() {
    loom::model(|| {
        let task = task();
        // A stale permit, from an earlier wake-up the task has not consumed yet.
        assert_ne!(task.unpark(), TransitionToRunnable::Enqueue);
        let claim = Arc::new(AtomicUsize::new(BUSY));
        let enqueued = Arc::new(AtomicBool::new(false));
        let me = loom::thread::current();
        let waker = {
            let (task, claim, enqueued) = (task.clone(), claim.clone(), enqueued.clone());
            loom::thread::spawn(move || wake(&task, Some(&claim), &enqueued, &me))
        };
        wait_for_claim(&task, &claim, &enqueued);
        waker.join().unwrap();
    });
}

/// Two wakers: one without a condition (a stale wake-up, say a timer), one with the
/// claim, racing the task's suspend. Found the plain store of the worker's
/// permit-consuming path in `parked`, which can overwrite a waker's re-published
/// permit.
#[test]
fn a_permit_consumed_by_the_worker_does_not_hide_a_claim() {
    // Three threads: bound the preemptions to keep the run to seconds.
    let mut model = loom::model::Builder::new();
    model.preemption_bound = Some(3);
    model.check(|| {
        let task = task();
        let claim = Arc::new(AtomicUsize::new(BUSY));
        let enqueued = Arc::new(AtomicBool::new(false));
        let wakers: Vec<_> = [false, true]
            .into_iter()
            .map(|claims| {
                let (task, claim, enqueued) = (task.clone(), claim.clone(), enqueued.clone());
                let me = loom::thread::current();
                loom::thread::spawn(move || wake(&task, claims.then_some(&*claim), &enqueued, &me))
            })
            .collect();
        wait_for_claim(&task, &claim, &enqueued);
        for waker in wakers {
            waker.join().unwrap();
        }
    });
}
