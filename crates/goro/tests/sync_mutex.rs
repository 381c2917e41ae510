//! goro::sync::Mutex: mutual exclusion between coroutines and threads, fairness
//! (Go's starvation handoff), no poisoning.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use goro::sync::Mutex;

#[test]
fn hundred_coroutines_and_a_thread_count_correctly() {
    const ROUNDS: usize = 1000;
    let counter = Arc::new(Mutex::new(0usize));
    let coroutines: Vec<_> = (0..100)
        .map(|i| {
            let counter = counter.clone();
            goro::go!(move || {
                for r in 0..ROUNDS {
                    let mut n = counter.lock();
                    // A non-atomic read-modify-write split by a yield now and then:
                    // only mutual exclusion keeps the count right.
                    let seen = *n;
                    if (i + r) % 97 == 0 {
                        goro::yield_now();
                    }
                    *n = seen + 1;
                }
            })
        })
        .collect();
    let c = counter.clone();
    let thread = thread::spawn(move || {
        for _ in 0..ROUNDS {
            let mut n = c.lock();
            let seen = *n;
            thread::yield_now();
            *n = seen + 1;
        }
    });
    for h in coroutines {
        h.join().unwrap();
    }
    thread.join().unwrap();
    assert_eq!(*counter.lock(), 101 * ROUNDS);
}

#[test]
fn try_lock_fails_while_held_by_a_coroutine() {
    let m = Arc::new(Mutex::new(1));
    let held = Arc::new(AtomicBool::new(false));
    let release = Arc::new(AtomicBool::new(false));
    let (m2, h2, r2) = (m.clone(), held.clone(), release.clone());
    let holder = goro::go!(move || {
        let _g = m2.lock();
        h2.store(true, Ordering::SeqCst);
        while !r2.load(Ordering::SeqCst) {
            goro::sleep(Duration::from_millis(1));
        }
    });
    while !held.load(Ordering::SeqCst) {
        thread::sleep(Duration::from_millis(1));
    }
    assert!(m.try_lock().is_none());
    release.store(true, Ordering::SeqCst);
    holder.join().unwrap();
    assert_eq!(*m.try_lock().unwrap(), 1);
}

#[test]
fn guard_can_be_unlocked_by_another_coroutine() {
    static M: Mutex<i32> = Mutex::new(0);
    goro::go!(|| {
        let mut guard = M.lock();
        *guard = 7;
        // Go allows unlocking from another goroutine; so do we (T: Send).
        goro::go!(move || drop(guard)).join().unwrap();
    })
    .join()
    .unwrap();
    assert_eq!(*M.lock(), 7);
}

#[test]
fn panic_while_locked_does_not_poison() {
    let m = Arc::new(Mutex::new(5));
    let m2 = m.clone();
    let h = goro::go!(move || {
        let _g = m2.lock();
        panic!("boom while holding the lock");
    });
    assert!(h.join().is_err());
    *m.lock() += 1;
    assert_eq!(*m.lock(), 6);
}

#[test]
fn into_inner_and_get_mut() {
    let mut m = Mutex::new(vec![1]);
    m.get_mut().push(2);
    assert!(format!("{m:?}").contains("[1, 2]"));
    assert_eq!(m.into_inner(), [1, 2]);
}

/// A hog keeps the lock almost all the time and re-locks right after unlocking. The
/// waiter must still get it: once it has waited ~1 ms, the next unlock hands the lock
/// to it, so the hog gets only a few more rounds (of 200 µs each) in the meantime.
/// Without the handoff the hog nearly always wins the race to re-lock.
fn starved_waiter_gets_the_lock(hog_is_thread: bool) {
    const HOLD: Duration = Duration::from_micros(200);
    let m = Arc::new(Mutex::new(()));
    let done = Arc::new(AtomicBool::new(false));
    let rounds = Arc::new(AtomicUsize::new(0));
    let hog = {
        let (m, done, rounds) = (m.clone(), done.clone(), rounds.clone());
        move || {
            let give_up = Instant::now() + Duration::from_secs(30);
            while !done.load(Ordering::SeqCst) && Instant::now() < give_up {
                let _g = m.lock();
                let hold = Instant::now();
                while hold.elapsed() < HOLD {
                    std::hint::spin_loop();
                }
                rounds.fetch_add(1, Ordering::SeqCst);
                // unlock, and immediately lock again
            }
        }
    };
    let waiter = {
        let (m, done, rounds) = (m.clone(), done.clone(), rounds.clone());
        move || {
            while rounds.load(Ordering::SeqCst) < 10 {
                goro::sleep(Duration::from_millis(1));
            }
            let before = rounds.load(Ordering::SeqCst);
            let _g = m.lock();
            done.store(true, Ordering::SeqCst);
            rounds.load(Ordering::SeqCst) - before
        }
    };
    let hog_rounds_while_waiting = if hog_is_thread {
        let hog = thread::spawn(hog);
        let n = goro::go!(waiter).join().unwrap();
        hog.join().unwrap();
        n
    } else {
        let hog = goro::go!(hog);
        let n = thread::spawn(waiter).join().unwrap();
        hog.join().unwrap();
        n
    };
    // ~1 ms / 200 µs = 5 rounds expected; the bound is generous (a preempted hog
    // thread makes rounds longer, not more numerous).
    assert!(
        hog_rounds_while_waiting <= 100,
        "the hog re-locked {hog_rounds_while_waiting} times while the waiter waited"
    );
}

#[test]
fn starving_coroutine_is_handed_the_lock() {
    starved_waiter_gets_the_lock(true);
}

#[test]
fn starving_thread_is_handed_the_lock() {
    starved_waiter_gets_the_lock(false);
}

#[test]
fn lock_parks_instead_of_blocking_the_worker() {
    // A coroutine waiting for the lock must not stop others from running: the holder
    // only unlocks after 50 other coroutines have made progress.
    let m = Arc::new(Mutex::new(()));
    let progress = Arc::new(AtomicUsize::new(0));
    let guard_holder = {
        let (m, progress) = (m.clone(), progress.clone());
        goro::go!(move || {
            let _g = m.lock();
            while progress.load(Ordering::SeqCst) < 50 {
                goro::sleep(Duration::from_millis(1));
            }
        })
    };
    thread::sleep(Duration::from_millis(5));
    let waiters: Vec<_> = (0..20)
        .map(|_| {
            let m = m.clone();
            goro::go!(move || drop(m.lock()))
        })
        .collect();
    let workers: Vec<_> = (0..50)
        .map(|_| {
            let progress = progress.clone();
            goro::go!(move || {
                progress.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    for h in workers.into_iter().chain(waiters) {
        h.join().unwrap();
    }
    guard_holder.join().unwrap();
}
