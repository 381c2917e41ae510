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

use common::{Samples, bench_server};

const SAMPLE_SIZE: usize = 30;

const CONTESTANTS: [&str; 6] = [
    "goro_default",
    "goro_migration",
    "may",
    "tokio_current_thread",
    "tokio_multi_thread_1",
    "go",
];

fn main() {
    if let Some(peer) = common::child_peer("yield") {
        child(&peer);
        return;
    }
    let mut criterion = common::criterion(SAMPLE_SIZE);
    let samples: Vec<Samples> = CONTESTANTS.iter().map(|_| Samples::default()).collect();
    {
        let mut group = criterion.benchmark_group("yield");
        for (&peer, samples) in CONTESTANTS.iter().zip(&samples) {
            bench_server(&mut group, peer, 0, samples, || {
                common::server("yield", peer, 1)
            });
        }
        group.finish();
    }
    criterion.final_summary();

    println!(
        "\nyield_now round trip, 1 worker, median of {SAMPLE_SIZE} samples; load average now {}\n",
        common::loadavg()
    );
    common::print_medians(
        &CONTESTANTS,
        &common::medians(&samples, SAMPLE_SIZE, 1),
        21,
        ["goro_default/peer", "goro_migration/peer"],
    );
}

// ---- children: each runs one contestant, answering "<iters> <batch>" requests ----

fn child(peer: &str) {
    match peer {
        "goro_default" | "goro_migration" => {
            // SAFETY: (allow_migration) the coroutines of this process hold no
            // thread-local reference and no `!Send` value across a blocking call (they
            // only yield).
            unsafe { common::init_goro(peer, 1) };
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
