//! goro::sync::RwLock: shared readers, exclusive writers, no writer starvation.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use goro::sync::RwLock;

#[test]
fn readers_share_writers_exclude() {
    // Two fields a writer keeps equal; a reader must never see them differ.
    let lock = Arc::new(RwLock::new((0u64, 0u64)));
    let handles: Vec<_> = (0..40)
        .map(|i| {
            let lock = lock.clone();
            goro::go!(move || {
                for r in 0..200 {
                    if (i + r) % 5 == 0 {
                        let mut w = lock.write();
                        w.0 += 1;
                        if r % 7 == 0 {
                            goro::yield_now();
                        }
                        w.1 += 1;
                    } else {
                        let g = lock.read();
                        assert_eq!(g.0, g.1);
                    }
                }
            })
        })
        .collect();
    let l = lock.clone();
    let t = thread::spawn(move || {
        for _ in 0..200 {
            let mut w = l.write();
            w.0 += 1;
            w.1 += 1;
            drop(w);
            let g = l.read();
            assert_eq!(g.0, g.1);
        }
    });
    for h in handles {
        h.join().unwrap();
    }
    t.join().unwrap();
    let g = lock.read();
    assert_eq!(*g, (40 * 200 / 5 + 200, 40 * 200 / 5 + 200));
}

#[test]
fn readers_hold_the_lock_together() {
    let lock = Arc::new(RwLock::new(()));
    let inside = Arc::new(AtomicUsize::new(0));
    let max = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let (lock, inside, max) = (lock.clone(), inside.clone(), max.clone());
            goro::go!(move || {
                let _r = lock.read();
                let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                max.fetch_max(now, Ordering::SeqCst);
                goro::sleep(Duration::from_millis(20));
                inside.fetch_sub(1, Ordering::SeqCst);
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert!(max.load(Ordering::SeqCst) > 1, "readers never overlapped");
}

#[test]
fn writer_is_not_starved_by_a_stream_of_readers() {
    let lock = Arc::new(RwLock::new(0u32));
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicUsize::new(0));
    // Readers whose read sections overlap, so the lock is never free of readers
    // unless new readers queue behind the waiting writer.
    let reader = |lock: Arc<RwLock<u32>>, stop: Arc<AtomicBool>, reads: Arc<AtomicUsize>| {
        move || {
            let give_up = Instant::now() + Duration::from_secs(30);
            while !stop.load(Ordering::SeqCst) && Instant::now() < give_up {
                let _r = lock.read();
                reads.fetch_add(1, Ordering::SeqCst);
                goro::sleep(Duration::from_millis(2));
            }
        }
    };
    let mut coroutines = Vec::new();
    for _ in 0..6 {
        coroutines.push(goro::go!(reader(lock.clone(), stop.clone(), reads.clone())));
    }
    let threads: Vec<_> = (0..2)
        .map(|_| thread::spawn(reader(lock.clone(), stop.clone(), reads.clone())))
        .collect();
    while reads.load(Ordering::SeqCst) < 20 {
        thread::sleep(Duration::from_millis(1));
    }
    let start = Instant::now();
    *lock.write() = 1;
    let waited = start.elapsed();
    stop.store(true, Ordering::SeqCst);
    for h in coroutines {
        h.join().unwrap();
    }
    for t in threads {
        t.join().unwrap();
    }
    // A writer waits for the current readers only (a few ms); allow a loaded machine.
    assert!(
        waited < Duration::from_secs(10),
        "writer starved for {waited:?}"
    );
    assert_eq!(*lock.read(), 1);
}

#[test]
fn try_read_and_try_write() {
    let lock = RwLock::new(1);
    {
        let r = lock.read();
        assert!(lock.try_read().is_some());
        assert!(lock.try_write().is_none());
        drop(r);
    }
    {
        let w = lock.try_write().unwrap();
        assert!(lock.try_read().is_none());
        assert!(lock.try_write().is_none());
        drop(w);
    }
    assert!(lock.try_write().is_some());
}

#[test]
fn queued_writer_blocks_try_read() {
    let lock = Arc::new(RwLock::new(0));
    let r = lock.read();
    let l = lock.clone();
    let writer = goro::go!(move || *l.write() = 1);
    // Wait until the writer is queued: try_read fails once it is.
    let give_up = Instant::now() + Duration::from_secs(10);
    while lock.try_read().is_some() {
        assert!(Instant::now() < give_up, "writer never queued");
        thread::sleep(Duration::from_millis(1));
    }
    drop(r);
    writer.join().unwrap();
    assert_eq!(*lock.read(), 1);
}

#[test]
fn into_inner_get_mut_debug() {
    let mut lock = RwLock::new(String::from("a"));
    lock.get_mut().push('b');
    assert!(format!("{lock:?}").contains("ab"));
    assert_eq!(lock.into_inner(), "ab");
}
