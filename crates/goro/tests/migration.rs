//! With `allow_migration()`, started coroutines move between workers as goroutines do;
//! pinned ones stay.

use std::sync::{Mutex, MutexGuard, Once};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

/// The tests take turns: each needs one worker idle to steal.
static ALONE: Mutex<()> = Mutex::new(());

fn migrating_runtime() -> MutexGuard<'static, ()> {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        // SAFETY: the coroutines in this test hold only Send values (ThreadIds,
        // handles) across their blocking calls.
        unsafe { goro::runtime::Builder::new().workers(2).allow_migration() }
            .init()
            .unwrap()
    });
    ALONE.lock().unwrap_or_else(|e| e.into_inner())
}

fn spin(d: Duration) {
    let end = Instant::now() + d;
    while Instant::now() < end {
        std::hint::spin_loop();
    }
}

/// A spawns B, keeps its own worker busy long enough for the idle worker to steal B,
/// then joins B. B finishes on the other worker, and its wakeup of A is where A may
/// move: to the waker's worker, as in Go. Returns A's thread before and after.
fn wake_from_the_other_worker(builder: goro::Builder) -> (ThreadId, ThreadId, ThreadId) {
    builder
        .spawn(|| {
            let before = std::thread::current().id();
            let b = goro::go!(|| {
                spin(Duration::from_millis(30));
                std::thread::current().id()
            });
            spin(Duration::from_millis(20));
            let b_ran_on = b.join().unwrap();
            (before, b_ran_on, std::thread::current().id())
        })
        .unwrap()
        .join()
        .unwrap()
}

#[test]
fn a_woken_coroutine_moves_to_the_wakers_worker() {
    let _alone = migrating_runtime();
    for _ in 0..5 {
        let (before, b_ran_on, after) = wake_from_the_other_worker(goro::Builder::new());
        assert_ne!(before, b_ran_on, "the idle worker should have stolen B");
        assert_eq!(
            after, b_ran_on,
            "A should continue on the worker that woke it"
        );
    }
}

#[test]
fn a_pinned_coroutine_stays_home() {
    let _alone = migrating_runtime();
    for _ in 0..5 {
        let (before, b_ran_on, after) = wake_from_the_other_worker(goro::Builder::new().pin());
        assert_ne!(before, b_ran_on, "the idle worker should have stolen B");
        assert_eq!(after, before, "a pinned coroutine moved");
    }
}
