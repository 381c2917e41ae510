//! Comparison: a TCP echo over loopback, client and server in one process, 2 workers;
//! messages per second, side by side with tokio, may, std threads and Go.
//!
//! Shape (issue 5, the same for every contestant, in common/echo.rs): a server accepts
//! 64 connections and echoes each on a task of its own; 64 client tasks each connect
//! (TCP_NODELAY on both ends), then do 10,000 round trips of a 64-byte message (write
//! it, read the echo back in full). One run is 640,000 round trips; msg/s = 640,000 / wall time of the
//! run, connecting included (a few milliseconds). Each contestant runs in a child
//! process of its own (see common/mod.rs) and does one warm-up run, then
//! [`RUNS`] measured runs; the table shows the median.
//!
//! - `goro_default`, `goro_migration`: `goro::net`, coroutines on `workers(2)`, without
//!   and with `unsafe { allow_migration() }`.
//! - `tokio`: `tokio::net` with `AsyncReadExt`/`AsyncWriteExt`, a multi-thread runtime
//!   with 2 workers.
//! - `may`: `may::net`, `set_workers(2)`.
//! - `std_threads`: `std::net`, one OS thread per connection end (128 threads).
//! - `go`: `net`, GOMAXPROCS=2 (benches/go/main.go), if a Go toolchain is found.
//!
//! This is a bench binary rather than criterion: a run is seconds long, and the issue's
//! figure is the throughput of exactly this run.
//!
//! Run with `cargo bench -p goro-benches --bench echo` (about two minutes).

mod common;

use common::echo::{CONNECTIONS, MESSAGE, ROUND_TRIPS, goro_echo, may_echo, std_echo, tokio_echo};

const WORKERS: usize = 2;
/// Measured runs per contestant (after one warm-up run).
const RUNS: usize = 5;

const CONTESTANTS: [&str; 6] = [
    "goro_default",
    "goro_migration",
    "tokio",
    "may",
    "std_threads",
    "go",
];

fn main() {
    if let Some(peer) = common::child_peer("echo") {
        child(&peer);
        return;
    }
    if common::quick() {
        // `cargo test --benches` / `--list`: one small run of goro, to show it works.
        let mut server = common::server("echo", "goro_default", WORKERS).expect("goro");
        server.run(1, 10);
        return;
    }
    println!("load average at start: {}", common::loadavg());
    let mut rates: Vec<Option<f64>> = Vec::new();
    for peer in CONTESTANTS {
        let Some(mut server) = common::server("echo", peer, WORKERS) else {
            println!("{peer}: skipped (no Go toolchain)");
            rates.push(None);
            continue;
        };
        server.run(1, ROUND_TRIPS); // warm-up
        let mut per_run: Vec<f64> = (0..RUNS)
            .map(|_| {
                let elapsed = server.run(1, ROUND_TRIPS);
                (CONNECTIONS * ROUND_TRIPS) as f64 / elapsed.as_secs_f64()
            })
            .collect();
        let median = common::median(&mut per_run);
        println!(
            "{peer}: {} msg/s (runs: {})",
            thousands(median),
            per_run
                .iter()
                .map(|r| thousands(*r))
                .collect::<Vec<_>>()
                .join(", ")
        );
        rates.push(Some(median));
    }
    println!(
        "\necho: {CONNECTIONS} connections x {ROUND_TRIPS} round trips of {MESSAGE} B, \
         {WORKERS} workers, median of {RUNS} runs; load average now {}\n",
        common::loadavg()
    );
    println!("| contestant     |      msg/s | goro_default/peer | goro_migration/peer |");
    println!("|----------------|------------|-------------------|---------------------|");
    for (peer, rate) in CONTESTANTS.iter().zip(&rates) {
        let Some(rate) = rate else {
            println!("| {peer:<14} | {:>10} | {:>17} | {:>19} |", "-", "-", "-");
            continue;
        };
        let ratio =
            |goro: Option<f64>| goro.map_or("-".to_string(), |g| format!("{:.2}x", g / rate));
        println!(
            "| {peer:<14} | {:>10} | {:>17} | {:>19} |",
            thousands(*rate),
            ratio(rates[0]),
            ratio(rates[1]),
        );
    }
    println!("\n(ratios are throughput: above 1, goro is faster)");
}

fn thousands(rate: f64) -> String {
    format!("{:.1}k", rate / 1000.0)
}

// ---- children: each runs one contestant, answering "<iters> <round trips>" ----

fn child(peer: &str) {
    match peer {
        "goro_default" | "goro_migration" => {
            // SAFETY: (allow_migration) the coroutines of this process hold no
            // thread-local reference and no `!Send` value across a blocking call.
            unsafe { common::init_goro(peer, WORKERS) };
            common::serve(|iters, trips| {
                goro::go!(move || goro_echo(iters * trips))
                    .join()
                    .expect("goro echo")
            });
        }
        "tokio" => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(WORKERS)
                .enable_io()
                .build()
                .expect("a tokio runtime");
            common::serve(|iters, trips| rt.block_on(tokio_echo(iters * trips)));
        }
        "may" => {
            may::config().set_workers(WORKERS);
            common::serve(|iters, trips| {
                may::go!(move || may_echo(iters * trips))
                    .join()
                    .expect("may echo")
            });
        }
        "std_threads" => common::serve(|iters, trips| std_echo(iters * trips)),
        other => panic!("unknown echo contestant {other}"),
    }
}
