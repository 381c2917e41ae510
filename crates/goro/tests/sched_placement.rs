//! Where coroutines start in the default mode, on two workers (docs/ARCHITECTURE.md,
//! "Where a coroutine starts"): a burst spawned on a loaded worker is shared with a busy
//! one. (That thieves leave a spawner's newest coroutine alone for a moment is a unit
//! test in goro-sched's worker.rs.)

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Once};

/// The tests need both workers to themselves: what runs on a worker decides where
/// coroutines start, so a concurrent test would change what they observe.
static ALONE: Mutex<()> = Mutex::new(());

fn two_workers() -> MutexGuard<'static, ()> {
    static INIT: Once = Once::new();
    INIT.call_once(|| goro::runtime::Builder::new().workers(2).init().unwrap());
    ALONE.lock().unwrap_or_else(|e| e.into_inner())
}

fn worker() -> usize {
    goro_sched::current_worker().expect("on a worker")
}

#[test]
fn a_burst_on_one_worker_is_shared_with_a_busy_one() {
    let _alone = two_workers();
    let (on_busy, spawner) = goro::go!(|| {
        let spawner = worker();
        // Worker B: busy yielding, so it never steals (a worker with its own work does
        // not). This coroutine keeps its own worker meanwhile, so B is the other one.
        let stop = Arc::new(AtomicBool::new(false));
        let b = Arc::new(AtomicUsize::new(usize::MAX));
        let (flag, at) = (stop.clone(), b.clone());
        let busy = goro::go!(move || {
            at.store(worker(), Ordering::Relaxed);
            while !flag.load(Ordering::Relaxed) {
                goro::yield_now();
            }
        });
        while b.load(Ordering::Relaxed) == usize::MAX {
            std::hint::spin_loop();
        }
        let b = b.load(Ordering::Relaxed);
        // The burst: before placement, all 64 started on the spawner's worker.
        let homes = Arc::new(Mutex::new(Vec::new()));
        let wg = goro::sync::WaitGroup::new();
        let (release, parked) = goro::chan::bounded::<()>(0);
        let children: Vec<_> = (0..64)
            .map(|_| {
                let (homes, wg, parked) = (homes.clone(), wg.clone(), parked.clone());
                wg.add(1);
                goro::go!(move || {
                    homes.lock().unwrap().push(worker());
                    wg.done();
                    // Stay homed until every child has started.
                    let _ = parked.recv();
                })
            })
            .collect();
        wg.wait();
        drop(release);
        for c in children {
            c.join().unwrap();
        }
        stop.store(true, Ordering::Relaxed);
        busy.join().unwrap();
        let on_busy = homes.lock().unwrap().iter().filter(|&&h| h == b).count();
        (on_busy, (spawner, b))
    })
    .join()
    .unwrap();
    assert_ne!(
        spawner.0, spawner.1,
        "the busy coroutine started beside the spawner"
    );
    assert!(
        (16..=48).contains(&on_busy),
        "{on_busy} of 64 coroutines started on the busy worker; expected about half"
    );
}
