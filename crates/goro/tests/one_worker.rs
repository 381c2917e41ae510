//! Behaviour on ONE worker: interleaving, many sleepers, and a worker stuck in a
//! blocking call (the monitor thread's job).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod support;
use support::one_worker;

#[test]
fn yield_interleaves_two_coroutines() {
    let _alone = one_worker();
    let log = Arc::new(Mutex::new(Vec::new()));
    let (a, b) = (log.clone(), log.clone());
    // Spawned together from a coroutine, so both sit on the one worker's queue.
    goro::go!(move || {
        let x = goro::go!(move || {
            for i in 0..3 {
                a.lock()
                    .unwrap()
                    .push(("a", i, goro_sched::current_worker()));
                goro::yield_now();
            }
        });
        let y = goro::go!(move || {
            for i in 0..3 {
                b.lock()
                    .unwrap()
                    .push(("b", i, goro_sched::current_worker()));
                goro::yield_now();
            }
        });
        x.join().unwrap();
        y.join().unwrap();
    })
    .join()
    .unwrap();
    let log = log.lock().unwrap();
    if log.iter().any(|e| e.2 != log[0].2) {
        // A spare worker, left by an earlier test in this binary, took one of them
        // while it waited: the two ran side by side, not in turns.
        return;
    }
    // Either may start first (the one spawned last waits in the spawner's `fresh`
    // slot, as Go's `runnext`, but every 7th round the deque goes first); from then on
    // they take turns.
    let order: Vec<_> = log.iter().map(|e| (e.0, e.1)).collect();
    let first = order[0].0;
    let second = if first == "a" { "b" } else { "a" };
    assert_eq!(
        order,
        [
            (first, 0),
            (second, 0),
            (first, 1),
            (second, 1),
            (first, 2),
            (second, 2)
        ]
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

/// A coroutine computing without a pause (on the CPU, unlike a blocking syscall) gets a
/// spare worker beside it too: nobody else would run the work that waits.
#[test]
fn a_worker_stuck_computing_does_not_stop_the_rest() {
    others_keep_running(|| {
        let end = Instant::now() + Duration::from_secs(1);
        while Instant::now() < end {
            std::hint::spin_loop();
        }
    });
}

/// Nor does one that computes and spawns now and then: its spawns are no progress while
/// no other worker is there to run them, so the work that waits gets a spare too.
#[test]
fn a_worker_stuck_computing_and_spawning_does_not_stop_the_rest() {
    others_keep_running(|| {
        let end = Instant::now() + Duration::from_secs(1);
        while Instant::now() < end {
            let pause = Instant::now() + Duration::from_millis(1);
            while Instant::now() < pause {
                std::hint::spin_loop();
            }
            drop(goro::go!(|| ()));
        }
    });
}

/// A coroutine that waits in the kernel between spawns (here on a `std` channel, which
/// blocks the thread, not the coroutine) leaves the CPU to a spare: its children run
/// while it goes on, rather than when it parks.
#[test]
fn children_of_a_worker_stuck_waiting_and_spawning_run() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let _alone = one_worker();
    let ran = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let r = ran.clone();
    let spawner = goro::go!(move || {
        while rx.recv().is_ok() {
            let r = r.clone();
            drop(goro::go!(move || {
                r.fetch_add(1, Ordering::SeqCst);
            }));
        }
    });
    let start = Instant::now();
    // A job every millisecond, until a child has run (or for 2 s).
    while ran.load(Ordering::SeqCst) == 0 && start.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(1));
        tx.send(()).unwrap();
    }
    let took = start.elapsed();
    drop(tx);
    spawner.join().unwrap();
    assert!(
        took < Duration::from_millis(500),
        "the first child ran after {took:?}"
    );
}

#[test]
fn goro_blocking_keeps_the_worker_free() {
    others_keep_running(|| goro::blocking(|| std::thread::sleep(Duration::from_secs(1))));
}

#[test]
fn work_that_arrives_while_the_worker_is_stuck_still_runs() {
    let _alone = one_worker();
    let stuck = goro::go!(|| std::thread::sleep(Duration::from_millis(1500)));
    // Long enough for the monitor to have seen the worker stuck, with nothing to move.
    std::thread::sleep(Duration::from_millis(100));
    let start = Instant::now();
    goro::go!(|| ()).join().unwrap();
    let late = start.elapsed();
    assert!(
        late < Duration::from_millis(750),
        "waited {late:?} for the stuck worker"
    );
    stuck.join().unwrap();
}

#[test]
fn blocking_jobs_run_in_parallel_even_when_they_meet() {
    let _alone = one_worker();
    // Leave an idle pool thread behind, then submit jobs that need each other.
    goro::go!(|| goro::blocking(|| ())).join().unwrap();
    let barrier = Arc::new(std::sync::Barrier::new(4));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let b = barrier.clone();
            goro::go!(move || goro::blocking(move || b.wait().is_leader()))
        })
        .collect();
    let start = Instant::now();
    let leaders = handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .filter(|&l| l)
        .count();
    assert_eq!(leaders, 1);
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_ping_pong_pair_does_not_starve_its_neighbours() {
    let _alone = one_worker();
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let stop = Arc::new(AtomicBool::new(false));
    let turn = Arc::new(AtomicUsize::new(0));
    let slots: Arc<[Mutex<Option<goro_sched::Unparker>>; 2]> =
        Arc::new([Mutex::new(None), Mutex::new(None)]);
    let neighbour_ran = Arc::new(AtomicBool::new(false));
    let yields = Arc::new(AtomicUsize::new(0));
    let (s, t, sl, n, y) = (
        stop.clone(),
        turn.clone(),
        slots.clone(),
        neighbour_ran.clone(),
        yields.clone(),
    );
    let root = goro::go!(move || {
        let pair: Vec<_> = (0..2usize)
            .map(|me| {
                let (s, t, sl) = (s.clone(), t.clone(), sl.clone());
                goro::go!(move || {
                    *sl[me].lock().unwrap() = Some(goro_sched::current_unparker());
                    loop {
                        while t.load(Ordering::Acquire) != me {
                            goro_sched::park();
                        }
                        let done = s.load(Ordering::Relaxed);
                        t.store(1 - me, Ordering::Release);
                        loop {
                            if let Some(u) = &*sl[1 - me].lock().unwrap() {
                                u.unpark();
                                break;
                            }
                            goro::yield_now();
                        }
                        if done {
                            return;
                        }
                    }
                })
            })
            .collect();
        goro::sleep(Duration::from_millis(20)); // the pair is in full swing
        // A neighbour spawned on the pair's worker, and one that keeps yielding.
        goro::go!(move || n.store(true, Ordering::SeqCst));
        let s2 = s.clone();
        goro::go!(move || {
            while !s2.load(Ordering::Relaxed) {
                y.fetch_add(1, Ordering::Relaxed);
                goro::yield_now();
            }
        });
        pair
    });
    let pair = root.join().unwrap();
    let start = Instant::now();
    while !(neighbour_ran.load(Ordering::SeqCst) && yields.load(Ordering::Relaxed) > 100) {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "starved: neighbour ran {}, yields {}",
            neighbour_ran.load(Ordering::SeqCst),
            yields.load(Ordering::Relaxed)
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    stop.store(true, Ordering::SeqCst);
    for h in pair {
        h.join().unwrap();
    }
}
