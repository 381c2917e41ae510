//! goro::sync::WaitGroup: Go's semantics with coroutines and threads.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use goro::sync::WaitGroup;

#[test]
fn thousand_coroutines() {
    let wg = WaitGroup::new();
    let done = Arc::new(AtomicUsize::new(0));
    wg.add(1000);
    for i in 0..1000 {
        let (wg, done) = (wg.clone(), done.clone());
        goro::go!(move || {
            if i % 3 == 0 {
                goro::yield_now();
            }
            done.fetch_add(1, Ordering::SeqCst);
            wg.done();
        });
    }
    wg.wait();
    assert_eq!(done.load(Ordering::SeqCst), 1000);
}

#[test]
fn several_waiters_coroutines_and_threads() {
    let wg = WaitGroup::new();
    wg.add(3);
    let released = Arc::new(AtomicUsize::new(0));
    let coroutine_waiters: Vec<_> = (0..10)
        .map(|_| {
            let (wg, released) = (wg.clone(), released.clone());
            goro::go!(move || {
                wg.wait();
                released.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    let (w, r) = (wg.clone(), released.clone());
    let thread_waiter = thread::spawn(move || {
        w.wait();
        r.fetch_add(1, Ordering::SeqCst);
    });
    thread::sleep(Duration::from_millis(10));
    assert_eq!(released.load(Ordering::SeqCst), 0);
    for _ in 0..3 {
        let wg = wg.clone();
        thread::spawn(move || wg.done());
    }
    for h in coroutine_waiters {
        h.join().unwrap();
    }
    thread_waiter.join().unwrap();
    assert_eq!(released.load(Ordering::SeqCst), 11);
}

#[test]
fn reusable_after_reaching_zero() {
    let wg = WaitGroup::new();
    for round in 0..5 {
        wg.add(10);
        for _ in 0..10 {
            let wg = wg.clone();
            goro::go!(move || wg.done());
        }
        wg.wait();
        assert!(format!("{wg:?}").contains("count: 0"), "round {round}");
    }
}

#[test]
#[should_panic(expected = "sync: negative WaitGroup counter")]
fn negative_counter_panics() {
    let wg = WaitGroup::new();
    wg.add(1);
    wg.done();
    wg.done();
}

#[test]
fn negative_counter_panics_in_a_coroutine_and_leaves_the_count() {
    let wg = WaitGroup::new();
    wg.add(1);
    let w = wg.clone();
    let err = goro::go!(move || w.add(-2)).join().unwrap_err();
    let msg = err.downcast_ref::<&str>().copied().unwrap_or_default();
    assert_eq!(msg, "sync: negative WaitGroup counter");
    wg.done(); // the failed add changed nothing
    wg.wait();
}
