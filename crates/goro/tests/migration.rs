//! With `allow_migration()`, started coroutines move between workers as goroutines do;
//! pinned ones stay.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Once};
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

/// Spins (never yielding the worker) until `done`; panics after a generous 20 s.
fn spin_until(what: &str, done: impl Fn() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < Duration::from_secs(20), "{what}");
        std::hint::spin_loop();
    }
}

/// A spawns B and keeps its own worker busy until B has started, so B runs on the other
/// worker (which steals it); then A joins B. B keeps that worker busy until A is parked
/// in `join` (A's worker is idle then: nothing else runs), then finishes: its wakeup of
/// A is where A may move, to the waker's worker, as in Go. Returns A's thread before,
/// B's thread, and A's thread after.
fn wake_from_the_other_worker(builder: goro::Builder) -> (ThreadId, ThreadId, ThreadId) {
    builder
        .spawn(|| {
            let before = std::thread::current().id();
            let started = Arc::new(AtomicBool::new(false));
            let joining = Arc::new(AtomicBool::new(false));
            let b = goro::go!({
                let (started, joining) = (started.clone(), joining.clone());
                move || {
                    started.store(true, Ordering::SeqCst);
                    spin_until("A never parked in join", || {
                        joining.load(Ordering::SeqCst) && goro::stats().idle_workers >= 1
                    });
                    std::thread::current().id()
                }
            });
            spin_until("the idle worker never stole B", || {
                started.load(Ordering::SeqCst)
            });
            joining.store(true, Ordering::SeqCst);
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
