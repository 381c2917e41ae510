//! Fan-out spawn: one coroutine spawns N coroutines that each count down a shared latch
//! (their handles dropped), then waits for the last one. Prints ns per task and the most
//! worker threads the runtime ran meanwhile (sampled every millisecond from a plain
//! thread), which should not exceed the configured count.
//!
//! ```text
//! cargo build --release -p goro-examples --example fanout
//! GORO_WORKERS=2 target/release/examples/fanout 1000000
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map_or(1_000_000, |a| a.parse().expect("usage: fanout <N>"));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut most = 0;
            while !done.load(Ordering::Relaxed) {
                most = most.max(goro::stats().workers);
                std::thread::sleep(Duration::from_millis(1));
            }
            most
        })
    };
    let elapsed = goro::go!(move || {
        let start = Instant::now();
        let left = Arc::new(AtomicUsize::new(n));
        let waiter = goro_sched::current_unparker();
        for _ in 0..n {
            let (left, waiter) = (left.clone(), waiter.clone());
            drop(goro::go!(move || {
                if left.fetch_sub(1, Ordering::AcqRel) == 1 {
                    waiter.unpark();
                }
            }));
        }
        while left.load(Ordering::Acquire) != 0 {
            goro_sched::park();
        }
        start.elapsed()
    })
    .join()
    .unwrap();
    done.store(true, Ordering::Relaxed);
    let most = sampler.join().unwrap();
    println!(
        "fanout n={n} workers={} ns/task={:.1} most_worker_threads={most}",
        goro_sched::config().unwrap().worker_count(),
        elapsed.as_nanos() as f64 / n as f64
    );
}
