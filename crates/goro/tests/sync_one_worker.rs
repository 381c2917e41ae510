//! goro::sync with ONE worker thread: a coroutine may hold a lock (or be the one
//! everybody waits for) across `yield_now`/`sleep`; the waiters must park, not block
//! the only worker.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use goro::sync::{Barrier, Condvar, Mutex, OnceLock, RwLock, Semaphore, WaitGroup};

mod support;
use support::one_worker;

#[test]
fn mutex_held_across_yield_and_sleep() {
    let _alone = one_worker();
    let m = Arc::new(Mutex::new(0));
    let handles: Vec<_> = (0..20)
        .map(|i| {
            let m = m.clone();
            goro::go!(move || {
                let mut g = m.lock();
                if i % 2 == 0 {
                    goro::yield_now();
                } else {
                    goro::sleep(Duration::from_millis(1));
                }
                *g += 1;
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(*m.lock(), 20);
}

#[test]
fn mutex_holder_and_waiter_on_the_same_worker() {
    let _alone = one_worker();
    let m = Arc::new(Mutex::new(Vec::new()));
    let m2 = m.clone();
    goro::go!(move || {
        let mut g = m2.lock();
        let m3 = m2.clone();
        // Spawned on this worker; it runs while we sleep and parks on the lock.
        let other = goro::go!(move || m3.lock().push("second"));
        goro::sleep(Duration::from_millis(10));
        g.push("first");
        drop(g);
        other.join().unwrap();
    })
    .join()
    .unwrap();
    assert_eq!(*m.lock(), ["first", "second"]);
}

#[test]
fn rwlock_writer_sleeps_readers_park() {
    let _alone = one_worker();
    let lock = Arc::new(RwLock::new(0));
    let l = lock.clone();
    goro::go!(move || {
        let mut w = l.write();
        let readers: Vec<_> = (0..10)
            .map(|_| {
                let l = l.clone();
                goro::go!(move || *l.read())
            })
            .collect();
        goro::sleep(Duration::from_millis(5));
        *w = 42;
        drop(w);
        for r in readers {
            assert_eq!(r.join().unwrap(), 42);
        }
    })
    .join()
    .unwrap();
}

#[test]
fn condvar_producer_consumer() {
    let _alone = one_worker();
    let queue = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
    let q = queue.clone();
    let consumer = goro::go!(move || {
        let mut got = Vec::new();
        while got.len() < 100 {
            let mut items = q.1.wait_while(q.0.lock(), |items| items.is_empty());
            got.append(&mut items);
        }
        got
    });
    for i in 0..100 {
        queue.0.lock().push(i);
        queue.1.notify_one();
        if i % 10 == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    assert_eq!(consumer.join().unwrap(), (0..100).collect::<Vec<_>>());
}

#[test]
fn once_lock_initializer_sleeps_while_others_park() {
    let _alone = one_worker();
    let cell = Arc::new(OnceLock::new());
    let calls = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..50)
        .map(|i| {
            let (cell, calls) = (cell.clone(), calls.clone());
            goro::go!(move || {
                *cell.get_or_init(|| {
                    calls.fetch_add(1, Ordering::SeqCst);
                    goro::sleep(Duration::from_millis(10)); // others must park meanwhile
                    i
                })
            })
        })
        .collect();
    let values: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(values.iter().all(|&v| v == values[0]));
}

#[test]
fn waitgroup_barrier_semaphore_on_one_worker() {
    let _alone = one_worker();
    let wg = WaitGroup::new();
    let barrier = Arc::new(Barrier::new(10));
    let sem = Arc::new(Semaphore::new(2));
    let inside = Arc::new(AtomicUsize::new(0));
    for _ in 0..10 {
        wg.add(1);
        let (wg, barrier, sem, inside) = (wg.clone(), barrier.clone(), sem.clone(), inside.clone());
        goro::go!(move || {
            barrier.wait();
            {
                let _p = sem.acquire();
                assert!(inside.fetch_add(1, Ordering::SeqCst) < 2);
                goro::sleep(Duration::from_millis(1));
                inside.fetch_sub(1, Ordering::SeqCst);
            }
            barrier.wait();
            wg.done();
        });
    }
    wg.wait();
}
