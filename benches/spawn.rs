//! Comparison: the cost of one task's spawn + finish + join on 2 workers, goro in both
//! scheduling modes side by side with tokio, may, OS threads and Go. Target: goro at
//! most 60 ns per task at 1M tasks.
//!
//! Shape (the same for every contestant): from *inside* a coroutine/task, spawn a batch
//! of empty tasks, keep their handles, then join them all; time per task = time of the
//! batches / tasks. Each contestant runs in a child process of its own (see
//! common/mod.rs): goro's runtime is configured once per process, so its default mode
//! and `allow_migration` cannot share one.
//!
//! - `goro_default`: `goro::go!` on `runtime::Builder::new().workers(2)`.
//! - `goro_migration`: the same with `unsafe { .allow_migration() }`.
//! - `tokio`: `tokio::spawn(async {})` on a multi-thread runtime with 2 workers.
//! - `may`: `may::go!` with `may::config().set_workers(2)`. may maps every live
//!   coroutine's stack separately (two kernel mappings each), so on this kernel
//!   (`vm.max_map_count` = 65530) it dies at about 32k live coroutines: its batch is
//!   10k, which it survives, and its 1M run is expected to fail (reported, not fatal).
//! - `threads`: `std::thread::spawn` + `join`, in batches of 100 from the main thread.
//! - `go`: benches/go/main.go (`go func(){ wg.Done() }()`), GOMAXPROCS=2, if a Go
//!   toolchain is found; otherwise skipped with a message.
//!
//! Criterion measures batches of 10k tasks (threads: 100) and reports each batch's
//! time with its throughput; afterwards the bench runs each contestant once at 1M tasks
//! in a fresh process (a "cold" batch, then the median of 5 more) — the figure,
//! and a size criterion is awkward at — and prints one table with both, per task, and
//! goro's ratio to each peer.
//!
//! Run with `cargo bench -p goro-benches --bench spawn` (about 3 minutes).

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use common::{Samples, bench_server, fmt_ns, median, ratio};
use criterion::{SamplingMode, Throughput};

/// Worker threads for every runtime (GOMAXPROCS for Go).
const WORKERS: usize = 2;
/// Tasks per criterion iteration.
const BATCH: u64 = 10_000;
/// Threads per criterion iteration: an OS thread costs ~100x a task.
const THREAD_BATCH: u64 = 100;
/// The figure.
const ONE_SHOT: u64 = 1_000_000;
/// Repetitions of the 1M batch after the cold one.
const ONE_SHOT_REPS: usize = 5;
const SAMPLE_SIZE: usize = 20;

struct Contestant {
    name: &'static str,
    batch: u64,
    /// Whether the 1M one-shot is attempted.
    one_shot: bool,
}

impl Contestant {
    const fn new(name: &'static str) -> Contestant {
        Contestant {
            name,
            batch: BATCH,
            one_shot: true,
        }
    }

    fn start(&self) -> Option<common::Server> {
        common::server("spawn", self.name, WORKERS)
    }
}

const CONTESTANTS: [Contestant; 6] = [
    Contestant::new("goro_default"),
    Contestant::new("goro_migration"),
    Contestant::new("tokio"),
    Contestant::new("may"),
    Contestant {
        name: "threads",
        batch: THREAD_BATCH,
        one_shot: false,
    },
    Contestant::new("go"),
];

fn main() {
    if let Some(peer) = common::child_peer("spawn") {
        child(&peer);
        return;
    }
    let mut criterion = common::criterion(SAMPLE_SIZE);
    let samples: Vec<Samples> = CONTESTANTS.iter().map(|_| Samples::default()).collect();
    {
        let mut group = criterion.benchmark_group("spawn");
        // Flat: every sample runs the same number of batches. A may or thread batch
        // takes milliseconds, and linear sampling would then overrun the time budget.
        group.sampling_mode(SamplingMode::Flat);
        for (c, samples) in CONTESTANTS.iter().zip(&samples) {
            group.throughput(Throughput::Elements(c.batch));
            bench_server(&mut group, c.name, c.batch, samples, || c.start());
        }
        group.finish();
    }
    criterion.final_summary();
    if common::quick() {
        return;
    }

    println!(
        "\nspawn + finish + join, {WORKERS} workers: 1M tasks in a fresh process per contestant"
    );
    let mut one_shot: Vec<(Option<f64>, Option<f64>, String)> = Vec::new();
    for c in &CONTESTANTS {
        one_shot.push(if c.one_shot {
            run_one_shot(c)
        } else {
            (None, None, "1M OS threads not attempted".into())
        });
    }

    println!(
        "\nper task, median; load average now {}\n",
        common::loadavg()
    );
    println!(
        "| {:<15} | {:>16} | {:>11} | {:>11} | {:>22} | {:>22} |",
        "contestant",
        "batch (criterion)",
        "1M cold",
        "1M warm",
        "goro_default/peer",
        "goro_migration/peer"
    );
    println!(
        "|{:-<17}|{:->18}|{:->13}|{:->13}|{:->24}|{:->24}|",
        "", "", "", "", "", ""
    );
    let crit: Vec<Option<f64>> = CONTESTANTS
        .iter()
        .zip(&samples)
        .map(|(c, s)| s.median_ns(SAMPLE_SIZE, c.batch))
        .collect();
    for (i, c) in CONTESTANTS.iter().enumerate() {
        let ratios = |g: usize| {
            format!(
                "{} / {}",
                ratio(crit[g], crit[i]),
                ratio(one_shot[g].1, one_shot[i].1)
            )
        };
        println!(
            "| {:<15} | {:>16} | {:>11} | {:>11} | {:>22} | {:>22} |",
            c.name,
            format!(
                "{} (/{})",
                crit[i].map_or("-".into(), fmt_ns),
                if c.batch == BATCH { "10k" } else { "100" }
            ),
            one_shot[i].0.map_or("-".into(), fmt_ns),
            one_shot[i].1.map_or("-".into(), fmt_ns),
            ratios(0),
            ratios(1)
        );
    }
    println!("\n(ratios: batch / 1M warm; below 1 means goro is faster)");
    for (c, (_, _, note)) in CONTESTANTS.iter().zip(&one_shot) {
        if !note.is_empty() {
            println!("{}: {note}", c.name);
        }
    }
}

/// The 1M batch in a fresh child: one cold run, then the median of `ONE_SHOT_REPS`.
fn run_one_shot(c: &Contestant) -> (Option<f64>, Option<f64>, String) {
    let Some(mut server) = c.start() else {
        return (None, None, "skipped".into());
    };
    let mut times = Vec::new();
    for _ in 0..=ONE_SHOT_REPS {
        match server.try_run(1, ONE_SHOT, Duration::from_secs(120)) {
            Ok(d) => times.push(d.as_nanos() as f64 / ONE_SHOT as f64),
            Err(e) => {
                println!("  {:<15} failed: {e}", c.name);
                let cold = times.first().copied();
                return (cold, None, format!("1M failed: {e}"));
            }
        }
    }
    let cold = times[0];
    let warm = median(&mut times[1..]);
    println!(
        "  {:<15} cold {:>10}  warm {:>10}  (runs: {})",
        c.name,
        fmt_ns(cold),
        fmt_ns(warm),
        times
            .iter()
            .map(|&t| format!("{t:.0}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    (Some(cold), Some(warm), String::new())
}

// ---- children: each runs one contestant, answering "<iters> <batch>" requests ----

fn child(peer: &str) {
    match peer {
        "goro_default" | "goro_migration" => {
            // SAFETY: (allow_migration) the coroutines of this process hold no
            // thread-local reference and no `!Send` value across a blocking call (they
            // spawn and join, nothing else).
            unsafe { common::init_goro(peer, WORKERS) };
            common::serve(goro_batches);
        }
        "tokio" => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(WORKERS)
                .build()
                .expect("a tokio runtime");
            common::serve(|iters, batch| {
                rt.block_on(async move {
                    tokio::spawn(async move {
                        // Setup, not measured: the handle vector.
                        let mut handles = Vec::with_capacity(batch as usize);
                        let start = Instant::now();
                        for _ in 0..iters {
                            for _ in 0..batch {
                                handles.push(tokio::spawn(async {}));
                            }
                            for h in handles.drain(..) {
                                h.await.expect("an empty task");
                            }
                        }
                        start.elapsed()
                    })
                    .await
                    .expect("the root task")
                })
            });
        }
        "may" => {
            may::config().set_workers(WORKERS);
            common::serve(|iters, batch| {
                may::go!(move || {
                    // Setup, not measured: the handle vector.
                    let mut handles = Vec::with_capacity(batch as usize);
                    let start = Instant::now();
                    for _ in 0..iters {
                        for _ in 0..batch {
                            handles.push(may::go!(|| black_box(())));
                        }
                        for h in handles.drain(..) {
                            h.join().expect("an empty coroutine");
                        }
                    }
                    start.elapsed()
                })
                .join()
                .expect("the root coroutine")
            });
        }
        "threads" => common::serve(|iters, batch| {
            let mut handles = Vec::with_capacity(batch as usize);
            let start = Instant::now();
            for _ in 0..iters {
                for _ in 0..batch {
                    handles.push(std::thread::spawn(|| black_box(())));
                }
                for h in handles.drain(..) {
                    h.join().expect("an empty thread");
                }
            }
            start.elapsed()
        }),
        other => panic!("unknown spawn contestant {other}"),
    }
}

/// goro (either mode): the batches, from inside a root coroutine.
fn goro_batches(iters: u64, batch: u64) -> Duration {
    goro::go!(move || {
        // Setup, not measured: the handle vector.
        let mut handles = Vec::with_capacity(batch as usize);
        let start = Instant::now();
        for _ in 0..iters {
            for _ in 0..batch {
                handles.push(goro::go!(|| black_box(())));
            }
            for h in handles.drain(..) {
                h.join().expect("an empty coroutine");
            }
        }
        start.elapsed()
    })
    .join()
    .expect("the root coroutine")
}
