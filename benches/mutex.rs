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

use common::{Samples, Server, fmt_ns, ratio};
use criterion::{Criterion, SamplingMode, Throughput};

const WORKERS: usize = 2;
/// Contending tasks.
const TASKS: u64 = 100;
/// Lock rounds per task per criterion iteration.
const BATCH: u64 = 1_000;
const SAMPLE_SIZE: usize = 20;

struct Contestant {
    name: &'static str,
    start: fn() -> Option<Server>,
}

const CONTESTANTS: [Contestant; 5] = [
    Contestant {
        name: "goro_default",
        start: || Some(Server::rust("mutex:goro_default")),
    },
    Contestant {
        name: "goro_migration",
        start: || Some(Server::rust("mutex:goro_migration")),
    },
    Contestant {
        name: "may",
        start: || Some(Server::rust("mutex:may")),
    },
    Contestant {
        name: "std_threads",
        start: || Some(Server::rust("mutex:std_threads")),
    },
    Contestant {
        name: "go",
        start: || {
            let cmd = common::go_command(WORKERS, &["serve", "mutex"])?;
            Some(Server::start("go", cmd))
        },
    },
];

fn main() {
    if let Some(role) = common::child_role() {
        child(role.strip_prefix("mutex:").expect("a mutex child role"));
        return;
    }
    println!("load average at start: {}", common::loadavg());
    let mut criterion = Criterion::default()
        .sample_size(SAMPLE_SIZE)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    let samples: Vec<Samples> = CONTESTANTS.iter().map(|_| Samples::default()).collect();
    {
        let mut group = criterion.benchmark_group("mutex");
        // Flat: every sample runs the same number of batches (a batch is milliseconds).
        group.sampling_mode(SamplingMode::Flat);
        group.throughput(Throughput::Elements(TASKS * BATCH));
        for (c, samples) in CONTESTANTS.iter().zip(&samples) {
            // Setup, not measured: the child process and its runtime start on first use
            // (and only if the benchmark is not filtered out).
            let mut server: Option<Option<Server>> = None;
            group.bench_function(c.name, |b| {
                let Some(server) = server.get_or_insert_with(c.start) else {
                    b.iter(|| ()); // Go not installed: nothing to measure
                    return;
                };
                b.iter_custom(|iters| samples.record(iters, server.run(iters, BATCH)));
            });
        }
        group.finish();
    }
    criterion.final_summary();

    let medians: Vec<Option<f64>> = samples
        .iter()
        .map(|s| s.median_ns(SAMPLE_SIZE, TASKS * BATCH))
        .collect();
    println!(
        "\ncontended lock + increment + unlock, {TASKS} tasks, {WORKERS} workers: per lock, \
         median of {SAMPLE_SIZE} samples; load average now {}\n",
        common::loadavg()
    );
    println!(
        "| {:<15} | {:>9} | {:>17} | {:>19} |",
        "contestant", "median", "goro_default/peer", "goro_migration/peer"
    );
    println!("|{:-<17}|{:->11}|{:->19}|{:->21}|", "", "", "", "");
    for (c, m) in CONTESTANTS.iter().zip(&medians) {
        println!(
            "| {:<15} | {:>9} | {:>17} | {:>19} |",
            c.name,
            m.map_or("-".into(), fmt_ns),
            ratio(medians[0], *m),
            ratio(medians[1], *m)
        );
    }
}

// ---- children: each runs one contestant, answering "<iters> <batch>" requests ----

fn child(peer: &str) {
    match peer {
        "goro_default" => {
            goro::runtime::Builder::new()
                .workers(WORKERS)
                .init()
                .expect("configuring goro");
            common::serve(goro_locks);
        }
        "goro_migration" => {
            // SAFETY: the coroutines of this process hold no thread-local reference and
            // no `!Send` value across a blocking call (a goro MutexGuard is what they
            // hold, and only across the increment).
            unsafe { goro::runtime::Builder::new().allow_migration() }
                .workers(WORKERS)
                .init()
                .expect("configuring goro");
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
