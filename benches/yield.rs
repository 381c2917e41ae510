//! Comparison: one `yield_now` round trip (task -> scheduler -> the same task) on a
//! single worker, goro in both scheduling modes side by side with may, tokio and Go.
//! Target: goro at most 20 ns.
//!
//! One coroutine/task, alone on its runtime's only worker, calls `yield_now` in a loop;
//! each call goes through the scheduler's "find the next runnable task" path and comes
//! back. Each contestant runs in a child process of its own (see common/mod.rs), so
//! goro's default mode and `allow_migration` can be measured from one command.
//!
//! - `goro_default`, `goro_migration`: `goro::yield_now()`, `workers(1)`.
//! - `may`: `may::coroutine::yield_now()`, `may::config().set_workers(1)`.
//! - `tokio_current_thread`: `tokio::task::yield_now().await` in a task spawned on a
//!   current-thread runtime (driven by `block_on`).
//! - `tokio_multi_thread_1`: the same on a multi-thread runtime with 1 worker.
//! - `go`: `runtime.Gosched()` with GOMAXPROCS=1 (benches/go/main.go), if a Go
//!   toolchain is found; otherwise skipped with a message.
//!
//! After criterion, the bench prints one table of medians with goro's ratio to each.
//!
//! Run with `cargo bench -p goro-benches --bench yield` (about a minute).

mod common;

use std::time::{Duration, Instant};

use common::{Samples, Server, fmt_ns, ratio};
use criterion::Criterion;

const SAMPLE_SIZE: usize = 30;

struct Contestant {
    name: &'static str,
    start: fn() -> Option<Server>,
}

const CONTESTANTS: [Contestant; 6] = [
    Contestant {
        name: "goro_default",
        start: || Some(Server::rust("yield:goro_default")),
    },
    Contestant {
        name: "goro_migration",
        start: || Some(Server::rust("yield:goro_migration")),
    },
    Contestant {
        name: "may",
        start: || Some(Server::rust("yield:may")),
    },
    Contestant {
        name: "tokio_current_thread",
        start: || Some(Server::rust("yield:tokio_current_thread")),
    },
    Contestant {
        name: "tokio_multi_thread_1",
        start: || Some(Server::rust("yield:tokio_multi_thread_1")),
    },
    Contestant {
        name: "go",
        start: || {
            let cmd = common::go_command(1, &["serve", "yield"])?;
            Some(Server::start("go", cmd))
        },
    },
];

fn main() {
    if let Some(role) = common::child_role() {
        child(role.strip_prefix("yield:").expect("a yield child role"));
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
        let mut group = criterion.benchmark_group("yield");
        for (c, samples) in CONTESTANTS.iter().zip(&samples) {
            // Setup, not measured: the child process and its runtime start on first use
            // (and only if the benchmark is not filtered out).
            let mut server: Option<Option<Server>> = None;
            group.bench_function(c.name, |b| {
                let Some(server) = server.get_or_insert_with(c.start) else {
                    b.iter(|| ()); // Go not installed: nothing to measure
                    return;
                };
                b.iter_custom(|iters| samples.record(iters, server.run(iters, 0)));
            });
        }
        group.finish();
    }
    criterion.final_summary();

    let medians: Vec<Option<f64>> = samples
        .iter()
        .map(|s| s.median_ns(SAMPLE_SIZE, 1))
        .collect();
    println!(
        "\nyield_now round trip, 1 worker, median of {SAMPLE_SIZE} samples; load average now {}\n",
        common::loadavg()
    );
    println!(
        "| {:<21} | {:>9} | {:>17} | {:>19} |",
        "contestant", "median", "goro_default/peer", "goro_migration/peer"
    );
    println!("|{:-<23}|{:->11}|{:->19}|{:->21}|", "", "", "", "");
    for (c, m) in CONTESTANTS.iter().zip(&medians) {
        println!(
            "| {:<21} | {:>9} | {:>17} | {:>19} |",
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
                .workers(1)
                .init()
                .expect("configuring goro");
            common::serve(goro_yields);
        }
        "goro_migration" => {
            // SAFETY: the coroutines of this process hold no thread-local reference and
            // no `!Send` value across a blocking call (they only yield).
            unsafe { goro::runtime::Builder::new().allow_migration() }
                .workers(1)
                .init()
                .expect("configuring goro");
            common::serve(goro_yields);
        }
        "may" => {
            may::config().set_workers(1);
            common::serve(|iters, _| {
                may::go!(move || {
                    let start = Instant::now();
                    for _ in 0..iters {
                        may::coroutine::yield_now();
                    }
                    start.elapsed()
                })
                .join()
                .expect("the yielding coroutine")
            });
        }
        "tokio_current_thread" => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("a tokio runtime");
            common::serve(|iters, _| rt.block_on(tokio_yields(iters)));
        }
        "tokio_multi_thread_1" => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .build()
                .expect("a tokio runtime");
            common::serve(|iters, _| rt.block_on(tokio_yields(iters)));
        }
        other => panic!("unknown yield contestant {other}"),
    }
}

/// goro (either mode): one coroutine yielding `iters` times.
fn goro_yields(iters: u64, _: u64) -> Duration {
    // Setup, not measured: spawning and joining the coroutine.
    goro::go!(move || {
        let start = Instant::now();
        for _ in 0..iters {
            goro::yield_now();
        }
        start.elapsed()
    })
    .join()
    .expect("the yielding coroutine")
}

/// tokio: a spawned task (so the runtime's scheduler runs it) yielding `iters` times.
async fn tokio_yields(iters: u64) -> Duration {
    tokio::spawn(async move {
        let start = Instant::now();
        for _ in 0..iters {
            tokio::task::yield_now().await;
        }
        start.elapsed()
    })
    .await
    .expect("the yielding task")
}
