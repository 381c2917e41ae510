//! Comparison: a heavily contended `goro::sync::Mutex` (100 coroutines on 2 workers)
//! side by side with `std::sync::Mutex` across 100 OS threads, may's `Mutex` and Go's
//! `sync.Mutex`; time per lock.
//!
//! Shape (the same for every contestant): 100 tasks each do `iters` × 1,000 rounds of
//! lock, increment the shared counter, unlock, with nothing between rounds; time per
//! lock = wall time / (100 × rounds). Spawning and joining the 100 tasks is inside the
//! timed region (well under 1% of it). Each contestant runs in a child process of its
//! own (see common/mod.rs): goro's default mode and `allow_migration` cannot share one.
//!
//! - `goro_default`, `goro_migration`: `goro::sync::Mutex<u64>`, `workers(2)`, without
//!   and with `unsafe { allow_migration() }`.
//! - `may`: `may::sync::Mutex<u64>`, `set_workers(2)`.
//! - `std_threads`: `std::sync::Mutex<u64>`, 100 OS threads.
//! - `go`: `sync.Mutex`, 100 goroutines, GOMAXPROCS=2 (benches/go/main.go), if a Go
//!   toolchain is found; otherwise skipped with a message.
//!
//! After criterion, the bench prints one table of medians with goro's ratio to each.
//!
//! Run with `cargo bench -p goro-benches --bench mutex` (about a minute).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Samples, bench_server};
use criterion::{SamplingMode, Throughput};

const WORKERS: usize = 2;
/// Contending tasks.
const TASKS: u64 = 100;
/// Lock rounds per task per criterion iteration.
const BATCH: u64 = 1_000;
const SAMPLE_SIZE: usize = 20;

const CONTESTANTS: [&str; 5] = ["goro_default", "goro_migration", "may", "std_threads", "go"];

fn main() {
    if let Some(peer) = common::child_peer("mutex") {
        child(&peer);
        return;
    }
    let mut criterion = common::criterion(SAMPLE_SIZE);
    let samples: Vec<Samples> = CONTESTANTS.iter().map(|_| Samples::default()).collect();
    {
        let mut group = criterion.benchmark_group("mutex");
        // Flat: every sample runs the same number of batches (a batch is milliseconds).
        group.sampling_mode(SamplingMode::Flat);
        group.throughput(Throughput::Elements(TASKS * BATCH));
        for (&peer, samples) in CONTESTANTS.iter().zip(&samples) {
            bench_server(&mut group, peer, BATCH, samples, || {
                common::server("mutex", peer, WORKERS)
            });
        }
        group.finish();
    }
    criterion.final_summary();

    println!(
        "\ncontended lock + increment + unlock, {TASKS} tasks, {WORKERS} workers: per lock, \
         median of {SAMPLE_SIZE} samples; load average now {}\n",
        common::loadavg()
    );
    common::print_medians(
        &CONTESTANTS,
        &common::medians(&samples, SAMPLE_SIZE, TASKS * BATCH),
        15,
        ["goro_default/peer", "goro_migration/peer"],
    );
}

// ---- children: each runs one contestant, answering "<iters> <batch>" requests ----

fn child(peer: &str) {
    match peer {
        "goro_default" | "goro_migration" => {
            // SAFETY: (allow_migration) the coroutines of this process hold no
            // thread-local reference and no `!Send` value across a blocking call (a goro
            // MutexGuard is what they hold, and only across the increment).
            unsafe { common::init_goro(peer, WORKERS) };
            common::serve(goro_locks);
        }
        "may" => {
            may::config().set_workers(WORKERS);
            common::serve(|iters, batch| {
                let rounds = iters * batch;
                may::go!(move || {
                    let counter = Arc::new(may::sync::Mutex::new(0u64));
                    let start = Instant::now();
                    let tasks: Vec<_> = (0..TASKS)
                        .map(|_| {
                            let counter = counter.clone();
                            may::go!(move || {
                                for _ in 0..rounds {
                                    *counter.lock().expect("may mutex") += 1;
                                }
                            })
                        })
                        .collect();
                    for t in tasks {
                        t.join().expect("a locking coroutine");
                    }
                    let elapsed = start.elapsed();
                    assert_eq!(*counter.lock().expect("may mutex"), TASKS * rounds);
                    elapsed
                })
                .join()
                .expect("the root coroutine")
            });
        }
        "std_threads" => common::serve(|iters, batch| {
            let rounds = iters * batch;
            let counter = Arc::new(std::sync::Mutex::new(0u64));
            let start = Instant::now();
            let threads: Vec<_> = (0..TASKS)
                .map(|_| {
                    let counter = counter.clone();
                    std::thread::spawn(move || {
                        for _ in 0..rounds {
                            *counter.lock().expect("std mutex") += 1;
                        }
                    })
                })
                .collect();
            for t in threads {
                t.join().expect("a locking thread");
            }
            let elapsed = start.elapsed();
            assert_eq!(*counter.lock().expect("std mutex"), TASKS * rounds);
            elapsed
        }),
        other => panic!("unknown mutex contestant {other}"),
    }
}

/// goro (either mode): 100 coroutines contending, spawned from a root coroutine.
fn goro_locks(iters: u64, batch: u64) -> Duration {
    let rounds = iters * batch;
    goro::go!(move || {
        let counter = Arc::new(goro::sync::Mutex::new(0u64));
        let start = Instant::now();
        let tasks: Vec<_> = (0..TASKS)
            .map(|_| {
                let counter = counter.clone();
                goro::go!(move || {
                    for _ in 0..rounds {
                        *counter.lock() += 1;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.join().expect("a locking coroutine");
        }
        let elapsed = start.elapsed();
        assert_eq!(*counter.lock(), TASKS * rounds);
        elapsed
    })
    .join()
    .expect("the root coroutine")
}
