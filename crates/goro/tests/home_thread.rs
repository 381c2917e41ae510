//! The default mode on two workers: a started coroutine always resumes on its home
//! thread, and CPU-bound work still spreads over both workers.

use std::collections::HashSet;
use std::sync::{Mutex, MutexGuard, Once};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

/// Both tests need both workers to themselves: a worker busy with its own coroutines
/// does not steal, so a concurrent test would change what they observe.
static ALONE: Mutex<()> = Mutex::new(());

fn two_workers() -> MutexGuard<'static, ()> {
    static INIT: Once = Once::new();
    INIT.call_once(|| goro::runtime::Builder::new().workers(2).init().unwrap());
    ALONE.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn started_coroutines_never_change_threads() {
    let _alone = two_workers();
    let handles: Vec<_> = (0..200)
        .map(|i| {
            goro::go!(move || {
                let home = std::thread::current().id();
                let mut seen = HashSet::<ThreadId>::new();
                for round in 0..100 {
                    match (i + round) % 3 {
                        0 => goro::yield_now(),
                        1 => goro::sleep(Duration::from_micros(200)),
                        // Woken from whichever worker the child ran on.
                        _ => goro::go!(goro::yield_now).join().unwrap(),
                    }
                    seen.insert(std::thread::current().id());
                }
                (home, seen)
            })
        })
        .collect();
    for h in handles {
        let (home, seen) = h.join().unwrap();
        assert_eq!(
            seen,
            HashSet::from([home]),
            "a coroutine left its home thread"
        );
    }
}

#[test]
fn cpu_bound_work_spreads_over_both_workers() {
    let _alone = two_workers();
    let spin = || {
        let worker = goro_sched_worker();
        let end = Instant::now() + Duration::from_millis(200);
        while Instant::now() < end {
            std::hint::spin_loop();
        }
        worker
    };
    // From a plain thread...
    let a = goro::go!(spin);
    let b = goro::go!(spin);
    let workers: HashSet<_> = [a.join().unwrap(), b.join().unwrap()].into();
    assert_eq!(workers.len(), 2, "both workers should have run one");
    // ...and from a coroutine, where both start on the spawner's worker.
    let workers: HashSet<_> = goro::go!(move || {
        let a = goro::go!(spin);
        let b = goro::go!(spin);
        [a.join().unwrap(), b.join().unwrap()]
    })
    .join()
    .unwrap()
    .into();
    assert_eq!(workers.len(), 2, "an idle worker should have stolen one");
}

fn goro_sched_worker() -> String {
    std::thread::current().name().unwrap_or("?").to_owned()
}
