//! goro::sync::{Semaphore, Barrier, Once, OnceLock}.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use goro::sync::{Barrier, Once, OnceLock, Semaphore};

#[test]
fn semaphore_limits_concurrency() {
    const N: usize = 3;
    let sem = Arc::new(Semaphore::new(N));
    let inside = Arc::new(AtomicUsize::new(0));
    let max = Arc::new(AtomicUsize::new(0));
    let body = |sem: Arc<Semaphore>, inside: Arc<AtomicUsize>, max: Arc<AtomicUsize>| {
        move || {
            for _ in 0..5 {
                let _p = sem.acquire();
                let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                max.fetch_max(now, Ordering::SeqCst);
                assert!(now <= N, "{now} inside a semaphore of {N}");
                goro::sleep(Duration::from_micros(200));
                inside.fetch_sub(1, Ordering::SeqCst);
            }
        }
    };
    let coroutines: Vec<_> = (0..50)
        .map(|_| goro::go!(body(sem.clone(), inside.clone(), max.clone())))
        .collect();
    let threads: Vec<_> = (0..2)
        .map(|_| thread::spawn(body(sem.clone(), inside.clone(), max.clone())))
        .collect();
    for h in coroutines {
        h.join().unwrap();
    }
    for t in threads {
        t.join().unwrap();
    }
    assert!(max.load(Ordering::SeqCst) >= 1);
    assert!(max.load(Ordering::SeqCst) <= N);
    assert_eq!(sem.available_permits(), N);
}

#[test]
fn semaphore_try_acquire_and_add_permits() {
    let sem = Semaphore::new(1);
    let p = sem.try_acquire().unwrap();
    assert!(sem.try_acquire().is_none());
    drop(p);
    sem.add_permits(2);
    let (a, b, c) = (sem.acquire(), sem.acquire(), sem.acquire());
    assert!(sem.try_acquire().is_none());
    drop((a, b, c));
    assert_eq!(sem.available_permits(), 3);
}

#[test]
fn semaphore_zero_permits_waits_for_add() {
    let sem = Arc::new(Semaphore::new(0));
    let s = sem.clone();
    let h = goro::go!(move || drop(s.acquire()));
    thread::sleep(Duration::from_millis(5));
    assert!(!h.is_finished());
    sem.add_permits(1);
    h.join().unwrap();
    assert_eq!(sem.available_permits(), 1);
}

#[test]
fn barrier_reused_over_generations_with_coroutines_and_threads() {
    const PARTIES: usize = 6;
    const ROUNDS: usize = 30;
    let barrier = Arc::new(Barrier::new(PARTIES));
    let arrived: Arc<Vec<AtomicUsize>> =
        Arc::new((0..ROUNDS).map(|_| AtomicUsize::new(0)).collect());
    let leaders: Arc<Vec<AtomicUsize>> =
        Arc::new((0..ROUNDS).map(|_| AtomicUsize::new(0)).collect());
    let party =
        |barrier: Arc<Barrier>, arrived: Arc<Vec<AtomicUsize>>, leaders: Arc<Vec<AtomicUsize>>| {
            move || {
                for round in 0..ROUNDS {
                    arrived[round].fetch_add(1, Ordering::SeqCst);
                    if barrier.wait().is_leader() {
                        leaders[round].fetch_add(1, Ordering::SeqCst);
                    }
                    // Nobody passes before everybody arrived.
                    assert_eq!(arrived[round].load(Ordering::SeqCst), PARTIES);
                }
            }
        };
    let coroutines: Vec<_> = (0..4)
        .map(|_| goro::go!(party(barrier.clone(), arrived.clone(), leaders.clone())))
        .collect();
    let threads: Vec<_> = (0..2)
        .map(|_| thread::spawn(party(barrier.clone(), arrived.clone(), leaders.clone())))
        .collect();
    for h in coroutines {
        h.join().unwrap();
    }
    for t in threads {
        t.join().unwrap();
    }
    for round in 0..ROUNDS {
        assert_eq!(leaders[round].load(Ordering::SeqCst), 1, "round {round}");
    }
}

#[test]
fn barrier_of_zero_or_one_never_waits() {
    assert!(Barrier::new(0).wait().is_leader());
    let b = Barrier::new(1);
    assert!(b.wait().is_leader());
    assert!(b.wait().is_leader());
}

#[test]
fn once_lock_initialized_exactly_once_under_contention() {
    let cell = Arc::new(OnceLock::new());
    let calls = Arc::new(AtomicUsize::new(0));
    let start = Arc::new(Barrier::new(104));
    let contender =
        |id: usize, cell: Arc<OnceLock<usize>>, calls: Arc<AtomicUsize>, start: Arc<Barrier>| {
            move || {
                start.wait();
                *cell.get_or_init(|| {
                    calls.fetch_add(1, Ordering::SeqCst);
                    goro::sleep(Duration::from_millis(10)); // contenders pile up and park
                    id
                })
            }
        };
    let coroutines: Vec<_> = (0..100)
        .map(|i| goro::go!(contender(i, cell.clone(), calls.clone(), start.clone())))
        .collect();
    let threads: Vec<_> = (100..104)
        .map(|i| thread::spawn(contender(i, cell.clone(), calls.clone(), start.clone())))
        .collect();
    let mut values: Vec<usize> = coroutines.into_iter().map(|h| h.join().unwrap()).collect();
    values.extend(threads.into_iter().map(|t| t.join().unwrap()));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(values.iter().all(|&v| v == values[0]));
    assert_eq!(cell.get(), Some(&values[0]));
}

#[test]
fn once_lock_set_get_take() {
    let mut cell = OnceLock::new();
    assert_eq!(cell.get(), None);
    assert_eq!(cell.set(String::from("a")), Ok(()));
    assert_eq!(cell.set(String::from("b")), Err(String::from("b")));
    assert_eq!(cell.get().map(String::as_str), Some("a"));
    assert_eq!(cell.take().as_deref(), Some("a"));
    assert_eq!(cell.get(), None);
    assert_eq!(cell.get_or_init(|| String::from("c")), "c");
    assert_eq!(cell.into_inner().as_deref(), Some("c"));
}

#[test]
fn once_lock_drops_its_value() {
    struct Flag(Arc<AtomicBool>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let dropped = Arc::new(AtomicBool::new(false));
    let cell = OnceLock::new();
    assert!(cell.set(Flag(dropped.clone())).is_ok());
    assert!(!dropped.load(Ordering::SeqCst));
    drop(cell);
    assert!(dropped.load(Ordering::SeqCst));
}

#[test]
fn once_runs_once_and_recovers_from_a_panicking_initializer() {
    let once = Arc::new(Once::new());
    let o = once.clone();
    let panicked = goro::go!(move || o.call_once(|| panic!("init failed")))
        .join()
        .is_err();
    assert!(panicked);
    assert!(!once.is_completed());
    let runs = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..20)
        .map(|_| {
            let (once, runs) = (once.clone(), runs.clone());
            goro::go!(move || once.call_once(|| {
                runs.fetch_add(1, Ordering::SeqCst);
            }))
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert!(once.is_completed());
}

#[test]
fn once_waiters_take_over_after_a_panic() {
    // The first initializer panics while others wait; one of them initializes.
    let cell = Arc::new(OnceLock::new());
    let c = cell.clone();
    let first = goro::go!(move || {
        c.get_or_init(|| {
            goro::sleep(Duration::from_millis(20));
            panic!("first initializer fails");
        });
    });
    thread::sleep(Duration::from_millis(5));
    let waiters: Vec<_> = (0..10)
        .map(|i| {
            let c = cell.clone();
            goro::go!(move || *c.get_or_init(|| i))
        })
        .collect();
    assert!(first.join().is_err());
    let values: Vec<usize> = waiters.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(values.iter().all(|&v| v == values[0]));
}
