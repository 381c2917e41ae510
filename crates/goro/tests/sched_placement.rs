//! Where coroutines start in the default mode, on two workers (docs/ARCHITECTURE.md,
//! "Where a coroutine starts"): a burst spawned on a loaded worker is shared with a busy
//! one. (That thieves leave a spawner's newest coroutine alone for a moment is a unit
//! test in goro-sched's worker.rs.)

use std::sync::atomic::{AtomicBool, Ordering};
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

/// Starts `body` on the other worker than `busy`'s (retrying from the main thread, where
/// a spawn may start on either), and returns its result.
fn on_other_worker<T: Send + 'static>(
    busy: usize,
    body: impl Fn() -> T + Send + Sync + 'static,
) -> T {
    let body = Arc::new(body);
    for _ in 0..1000 {
        let body = body.clone();
        let ran = goro::go!(move || (worker() != busy).then(|| body()))
            .join()
            .unwrap();
        if let Some(result) = ran {
            return result;
        }
    }
    panic!("no spawn started on the worker other than {busy}");
}

/// A coroutine that keeps worker `.0` busy with short turns (it yields: a worker with
/// its own work never steals), until dropped.
struct Busy(usize, Arc<AtomicBool>, Option<goro::JoinHandle<()>>);

impl Busy {
    fn start() -> Busy {
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = goro::chan::bounded(1);
        let flag = stop.clone();
        let handle = goro::go!(move || {
            tx.send(worker()).unwrap();
            while !flag.load(Ordering::Relaxed) {
                goro::yield_now();
            }
        });
        Busy(rx.recv().unwrap(), stop, Some(handle))
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.1.store(true, Ordering::Relaxed);
        self.2.take().unwrap().join().unwrap();
    }
}

#[test]
fn a_burst_on_one_worker_is_shared_with_a_busy_one() {
    let _alone = two_workers();
    // Worker B is busy yielding, so it never steals; before placement, all 64 started
    // on the spawner's worker.
    let busy = Busy::start();
    let b = busy.0;
    let homes = on_other_worker(b, move || {
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
        let homes = homes.lock().unwrap();
        homes.iter().filter(|&&h| h == b).count()
    });
    drop(busy);
    assert!(
        (16..=48).contains(&homes),
        "{homes} of 64 coroutines started on the busy worker; expected about half"
    );
}
