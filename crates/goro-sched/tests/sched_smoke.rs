//! Scheduler basics through goro-sched's own API.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use goro_sched::{SpawnOptions, spawn};

fn go<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> goro_sched::JoinHandle<T> {
    spawn(SpawnOptions::default(), f).unwrap()
}

#[test]
fn many_spawns_from_a_thread_all_finish() {
    let count = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..10_000)
        .map(|_| {
            let c = count.clone();
            go(move || c.fetch_add(1, Ordering::Relaxed))
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(count.load(Ordering::Relaxed), 10_000);
}

#[test]
fn spawn_tree_and_join_from_coroutines() {
    fn tree(depth: u32) -> u64 {
        if depth == 0 {
            return 1;
        }
        let a = go(move || tree(depth - 1));
        let b = go(move || tree(depth - 1));
        a.join().unwrap() + b.join().unwrap()
    }
    assert_eq!(go(|| tree(12)).join().unwrap(), 4096);
}

#[test]
fn sleeps_overlap() {
    let start = Instant::now();
    let handles: Vec<_> = (0..1000)
        .map(|_| go(|| goro_sched::sleep(Duration::from_millis(100))))
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(100));
    assert!(took < Duration::from_secs(1), "{took:?}");
}

#[test]
fn panics_are_payloads() {
    let h = go(|| -> u8 { panic!("boom") });
    let err = h.join().unwrap_err();
    assert_eq!(err.downcast_ref::<&str>(), Some(&"boom"));
}
