//! Behaviour on ONE worker: interleaving, many sleepers, and a worker stuck in a
//! blocking call (the monitor thread's job).

use std::sync::{Arc, Mutex, MutexGuard, Once};
use std::time::{Duration, Instant};

/// The tests take turns: each needs the one worker (and the spare the monitor may
/// start) to itself.
static ALONE: Mutex<()> = Mutex::new(());

fn one_worker() -> MutexGuard<'static, ()> {
    static INIT: Once = Once::new();
    INIT.call_once(|| goro::runtime::Builder::new().workers(1).init().unwrap());
    ALONE.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn yield_interleaves_two_coroutines() {
    let _alone = one_worker();
    let log = Arc::new(Mutex::new(Vec::new()));
    let (a, b) = (log.clone(), log.clone());
    // Spawned together from a coroutine, so both sit on the one worker's queue.
    goro::go!(move || {
        let x = goro::go!(move || {
            for i in 0..3 {
                a.lock().unwrap().push(("a", i));
                goro::yield_now();
            }
        });
        let y = goro::go!(move || {
            for i in 0..3 {
                b.lock().unwrap().push(("b", i));
                goro::yield_now();
            }
        });
        x.join().unwrap();
        y.join().unwrap();
    })
    .join()
    .unwrap();
    let log = log.lock().unwrap();
    assert_eq!(
        *log,
        [("a", 0), ("b", 0), ("a", 1), ("b", 1), ("a", 2), ("b", 2)]
    );
}

#[test]
fn two_thousand_sleepers_share_one_worker() {
    let _alone = one_worker();
    let start = Instant::now();
    let handles: Vec<_> = (0..2000)
        .map(|_| goro::go!(|| goro::sleep(Duration::from_millis(100))))
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(100));
    assert!(
        took < Duration::from_millis(1000),
        "2000 x 100 ms sleeps took {took:?}"
    );
}

/// 100 coroutines spawned after `stuck` must finish their 10 ms sleeps long before the
/// stuck one's 1 s is over.
fn others_keep_running(stuck: impl FnOnce() + Send + 'static) {
    let _alone = one_worker();
    let started = Arc::new(std::sync::Barrier::new(2));
    let s = started.clone();
    let blocker = goro::go!(move || {
        s.wait();
        stuck();
    });
    started.wait(); // the only worker is now inside `stuck`
    let start = Instant::now();
    let handles: Vec<_> = (0..100)
        .map(|_| goro::go!(|| goro::sleep(Duration::from_millis(10))))
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let took = start.elapsed();
    assert!(
        took < Duration::from_millis(500),
        "100 x 10 ms sleeps took {took:?}"
    );
    blocker.join().unwrap();
}

#[test]
fn a_worker_stuck_in_a_blocking_syscall_does_not_stop_the_rest() {
    others_keep_running(|| std::thread::sleep(Duration::from_secs(1)));
}

#[test]
fn goro_blocking_keeps_the_worker_free() {
    others_keep_running(|| goro::blocking(|| std::thread::sleep(Duration::from_secs(1))));
}
