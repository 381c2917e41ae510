//! Comparison: goro's channels side by side with may, tokio, crossbeam-channel and
//! std::sync::mpsc across OS threads, and Go. Three shapes:
//!
//! - `pingpong`: one round trip (send + reply) over two unbuffered channels between two
//!   tasks, on 1 and 2 workers. Targets: goro at most 100 ns (1 worker) / 150 ns (2).
//! - `ring`: a ring of 503 tasks, each linked to the next by an unbuffered channel,
//!   passes a token; time per hop, on 1 and 2 workers. Targets: at most 60 / 80 ns.
//!   The ring is built once per child process (setup, not measured); each request
//!   injects a token that travels `iters` hops.
//! - `mpmc`: 4 producers and 4 consumers on one channel of capacity 128, 2 workers;
//!   time per message (each request spawns the 8 tasks, then `iters` × 10,000 messages
//!   per producer go through).
//!
//! Contestants (each in a child process of its own, see common/mod.rs; goro's default
//! mode and `allow_migration` cannot share a process):
//!
//! - `goro_default`, `goro_migration`: `goro::chan::bounded(0)` (mpmc: `bounded(128)`)
//!   on `workers(n)`, without and with `unsafe { allow_migration() }`.
//! - `may`: `may::sync::mpsc::channel` (pingpong, ring) and `may::sync::mpmc::channel`
//!   (mpmc), `set_workers(n)`. may has no bounded or rendezvous channel: these are
//!   unbounded. In pingpong and the ring that changes nothing (a task never has more
//!   than one message outstanding); in mpmc the producers may run ahead.
//! - `tokio`: `tokio::sync::mpsc::channel(1)` (capacity 1: tokio has no rendezvous
//!   channel), tasks on a multi-thread runtime with n workers. mpmc: tokio has no MPMC
//!   channel, so 4 producers and *one* consumer on `channel(128)`.
//! - `crossbeam_threads`: `crossbeam_channel::bounded(0)` (mpmc: `bounded(128)`) between
//!   OS threads (the ring: 503 threads). The "1 worker" column pins the whole process
//!   to one CPU (`sched_setaffinity`), the nearest thing to one worker thread.
//! - `std_threads`: `std::sync::mpsc::sync_channel(0)` the same way; mpmc: `std` has a
//!   single consumer, so 4 producers and one consumer on `sync_channel(128)`.
//! - `go`: unbuffered channels (mpmc: `make(chan int, 128)`) with GOMAXPROCS=n
//!   (benches/go/main.go), if a Go toolchain is found; otherwise skipped with a message.
//!
//! After criterion, the bench prints one table of medians per shape with goro's ratio
//! to each peer (below 1: goro is faster).
//!
//! Run with `cargo bench -p goro-benches --bench chan` (about 4 minutes); one shape:
//! `cargo bench -p goro-benches --bench chan -- ring`.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::chan::{
    goro_pingpong, goro_ring, lap, may_hops, may_pingpong, may_ring, pingpong, ring, tokio_hops,
    tokio_pingpong, tokio_ring,
};
use common::{Samples, Server, bench_server, fmt_ns, may_spawn, ratio};
use criterion::{SamplingMode, Throughput};

/// Producers and consumers in mpmc.
const PRODUCERS: u64 = 4;
const CONSUMERS: u64 = 4;
/// mpmc channel capacity.
const MPMC_CAP: usize = 128;
/// Messages per producer per criterion iteration in mpmc.
const MPMC_BATCH: u64 = 10_000;
const SAMPLE_SIZE: usize = 20;

struct Contestant {
    name: &'static str,
    /// The child role's peer part.
    peer: &'static str,
}

const PEERS: [Contestant; 7] = [
    Contestant {
        name: "goro_default",
        peer: "goro_default",
    },
    Contestant {
        name: "goro_migration",
        peer: "goro_migration",
    },
    Contestant {
        name: "may",
        peer: "may",
    },
    Contestant {
        name: "tokio",
        peer: "tokio",
    },
    Contestant {
        name: "crossbeam_threads",
        peer: "crossbeam",
    },
    Contestant {
        name: "std_threads",
        peer: "std",
    },
    Contestant {
        name: "go",
        peer: "go",
    },
];

/// The mpmc rows' names say who consumes.
fn mpmc_name(c: &Contestant) -> &'static str {
    match c.peer {
        "tokio" => "tokio (4x1)",
        "std" => "std_threads (4x1)",
        "may" => "may (unbounded)",
        _ => c.name,
    }
}

fn start(test: &str, peer: &str, workers: usize) -> Option<Server> {
    if peer == "go" {
        let cmd = common::go_command(workers, &["serve", test])?;
        Some(Server::start(&format!("go {test}"), cmd))
    } else {
        Some(Server::rust(&format!("chan:{test}:{peer}:{workers}")))
    }
}

fn main() {
    if let Some(role) = common::child_peer("chan") {
        child(&role);
        return;
    }
    let mut criterion = common::criterion(SAMPLE_SIZE);

    // [test][peer][workers - 1]
    let latency_tests = ["pingpong", "ring"];
    let mut latency: Vec<Vec<[Samples; 2]>> = Vec::new();
    for test in latency_tests {
        let mut per_peer = Vec::new();
        let mut group = criterion.benchmark_group(test);
        for c in &PEERS {
            let samples: [Samples; 2] = Default::default();
            for workers in 1..=2 {
                // The ring too is built on the child's first use: setup, not measured.
                let id = format!("{}/{workers}w", c.name);
                bench_server(&mut group, &id, 0, &samples[workers - 1], || {
                    start(test, c.peer, workers)
                });
            }
            per_peer.push(samples);
        }
        group.finish();
        latency.push(per_peer);
    }

    let mpmc: Vec<Samples> = PEERS.iter().map(|_| Samples::default()).collect();
    {
        let mut group = criterion.benchmark_group("mpmc");
        group.sampling_mode(SamplingMode::Flat);
        group.throughput(Throughput::Elements(PRODUCERS * MPMC_BATCH));
        for (c, s) in PEERS.iter().zip(&mpmc) {
            let id = format!("{}/2w", c.name);
            bench_server(&mut group, &id, MPMC_BATCH, s, || start("mpmc", c.peer, 2));
        }
        group.finish();
    }
    criterion.final_summary();
    if common::quick() {
        return;
    }

    println!(
        "\nmedian of {SAMPLE_SIZE} samples; load average now {}",
        common::loadavg()
    );
    let what = [
        "pingpong: one round trip over two unbuffered channels",
        "ring of 503: one hop",
    ];
    for ((test, what), per_peer) in latency_tests.iter().zip(what).zip(&latency) {
        let m: Vec<[Option<f64>; 2]> = per_peer
            .iter()
            .map(|s| {
                [
                    s[0].median_ns(SAMPLE_SIZE, 1),
                    s[1].median_ns(SAMPLE_SIZE, 1),
                ]
            })
            .collect();
        println!("\n{test} — {what}\n");
        println!(
            "| {:<18} | {:>9} | {:>9} | {:>15} | {:>15} | {:>17} |",
            "contestant",
            "1 worker",
            "2 workers",
            "default/peer 1w",
            "default/peer 2w",
            "migration/peer 2w"
        );
        println!(
            "|{:-<20}|{:->11}|{:->11}|{:->17}|{:->17}|{:->19}|",
            "", "", "", "", "", ""
        );
        for (c, mm) in PEERS.iter().zip(&m) {
            println!(
                "| {:<18} | {:>9} | {:>9} | {:>15} | {:>15} | {:>17} |",
                c.name,
                mm[0].map_or("-".into(), fmt_ns),
                mm[1].map_or("-".into(), fmt_ns),
                ratio(m[0][0], mm[0]),
                ratio(m[0][1], mm[1]),
                ratio(m[1][1], mm[1]),
            );
        }
    }

    println!(
        "\nmpmc — 4 producers x 4 consumers (4x1 where noted), capacity 128, 2 workers: per message\n"
    );
    let names: Vec<&str> = PEERS.iter().map(mpmc_name).collect();
    common::print_medians(
        &names,
        &common::medians(&mpmc, SAMPLE_SIZE, PRODUCERS * MPMC_BATCH),
        18,
        ["default/peer", "migration/peer"],
    );
}

// ---- mpmc, for every contestant that blocks (pingpong and ring: common/chan.rs) ----

/// mpmc between coroutines (goro, may), from inside a root coroutine: `PRODUCERS` send
/// `n` messages each, `CONSUMERS` sum what they receive.
macro_rules! coroutine_mpmc {
    ($n:expr, $spawn:expr, $($chan:ident)::+ ($($arg:expr),*)) => {{
        let n: u64 = $n;
        let start = Instant::now();
        let (tx, rx) = $($chan)::+::<u64>($($arg),*);
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|_| {
                let tx = tx.clone();
                $spawn(move || {
                    for i in 0..n {
                        tx.send(i).expect("mpmc send");
                    }
                })
            })
            .collect();
        drop(tx);
        let consumers: Vec<_> = (0..CONSUMERS)
            .map(|_| {
                let rx = rx.clone();
                $spawn(move || rx.iter().fold((0u64, 0u64), |(c, s), v| (c + 1, s + v)))
            })
            .collect();
        drop(rx);
        for p in producers {
            p.join().expect("a producer");
        }
        let (mut count, mut sum) = (0, 0);
        for c in consumers {
            let (c, s) = c.join().expect("a consumer");
            count += c;
            sum += s;
        }
        let elapsed = start.elapsed();
        check_mpmc(count, sum, n);
        elapsed
    }};
}

// ---- children: each runs one contestant, answering "<iters> <batch>" requests ----

fn child(role: &str) {
    let mut parts = role.split(':');
    let (Some(test), Some(peer), Some(workers)) = (parts.next(), parts.next(), parts.next()) else {
        panic!("bad chan child role {role}");
    };
    let workers: usize = workers.parse().expect("a worker count");
    match peer {
        "goro_default" | "goro_migration" => {
            // SAFETY: (allow_migration) the coroutines of this process hold no
            // thread-local reference and no `!Send` value across a blocking call (they
            // only pass integers).
            unsafe { common::init_goro(peer, workers) };
            match test {
                "pingpong" => common::serve(goro_pingpong),
                "ring" => {
                    let ring = goro_ring();
                    common::serve(|iters, _| ring.hops(iters));
                }
                "mpmc" => common::serve(goro_mpmc),
                other => panic!("unknown chan test {other}"),
            }
        }
        "may" => {
            may::config().set_workers(workers);
            match test {
                "pingpong" => common::serve(may_pingpong),
                "ring" => {
                    let mut ring = Some(may_ring());
                    common::serve(|iters, _| {
                        let r = ring.take().expect("the ring");
                        let (elapsed, r) = may_hops(r, iters);
                        ring = Some(r);
                        elapsed
                    });
                }
                "mpmc" => common::serve(may_mpmc),
                other => panic!("unknown chan test {other}"),
            }
        }
        "tokio" => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(workers)
                .build()
                .expect("a tokio runtime");
            match test {
                "pingpong" => common::serve(|iters, _| rt.block_on(tokio_pingpong(iters))),
                "ring" => {
                    let mut ring = Some(rt.block_on(async { tokio_ring() }));
                    common::serve(|iters, _| {
                        let r = ring.take().expect("the ring");
                        let (elapsed, r) = rt.block_on(tokio_hops(r, iters));
                        ring = Some(r);
                        elapsed
                    });
                }
                "mpmc" => common::serve(|iters, batch| rt.block_on(tokio_mpmc(iters * batch))),
                other => panic!("unknown chan test {other}"),
            }
        }
        "crossbeam" | "std" => {
            if workers == 1 {
                pin_to_one_cpu();
            }
            match (peer, test) {
                ("crossbeam", "pingpong") => common::serve(crossbeam_pingpong),
                ("std", "pingpong") => common::serve(std_pingpong),
                ("crossbeam", "ring") => {
                    let ring = ring!(ring_thread, crossbeam_channel::bounded(0));
                    common::serve(|iters, _| lap!(ring.head, ring.done, iters));
                }
                ("std", "ring") => {
                    let ring = ring!(ring_thread, std::sync::mpsc::sync_channel(0));
                    common::serve(|iters, _| lap!(ring.head, ring.done, iters));
                }
                ("crossbeam", "mpmc") => common::serve(crossbeam_mpmc),
                ("std", "mpmc") => common::serve(std_mpmc),
                _ => panic!("unknown chan test {test}"),
            }
        }
        other => panic!("unknown chan contestant {other}"),
    }
}

/// Restricts this process (and the threads it will start) to CPU 0.
fn pin_to_one_cpu() {
    // SAFETY: `cpu_set_t` is plain data, valid when zeroed; CPU_ZERO/CPU_SET only write
    // into it, and sched_setaffinity reads `size_of::<cpu_set_t>()` bytes of it.
    let rc = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_ZERO(&mut set);
        libc::CPU_SET(0, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    assert_eq!(
        rc,
        0,
        "sched_setaffinity: {}",
        std::io::Error::last_os_error()
    );
}

/// Checks that mpmc delivered every message exactly once (by count and sum).
fn check_mpmc(count: u64, sum: u64, per_producer: u64) {
    assert_eq!(count, PRODUCERS * per_producer, "mpmc: message count");
    let expected = PRODUCERS * (per_producer * per_producer.saturating_sub(1) / 2);
    assert_eq!(sum, expected, "mpmc: message sum");
}

// ---- goro ----

fn goro_mpmc(iters: u64, batch: u64) -> Duration {
    let n = iters * batch;
    goro::go!(move || coroutine_mpmc!(n, goro::spawn, goro::chan::bounded(MPMC_CAP)))
        .join()
        .expect("the mpmc root")
}

// ---- may ----

fn may_mpmc(iters: u64, batch: u64) -> Duration {
    let n = iters * batch;
    may::go!(move || coroutine_mpmc!(n, may_spawn, may::sync::mpmc::channel()))
        .join()
        .expect("the mpmc root")
}

// ---- tokio ----

async fn tokio_mpmc(n: u64) -> Duration {
    tokio::spawn(async move {
        let start = Instant::now();
        let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(MPMC_CAP);
        for _ in 0..PRODUCERS {
            let tx = tx.clone();
            tokio::spawn(async move {
                for i in 0..n {
                    tx.send(i).await.expect("mpmc send");
                }
            });
        }
        drop(tx);
        let consumer = tokio::spawn(async move {
            let (mut count, mut sum) = (0u64, 0u64);
            while let Some(v) = rx.recv().await {
                count += 1;
                sum += v;
            }
            (count, sum)
        });
        // The consumer finishes after every producer dropped its sender.
        let (count, sum) = consumer.await.expect("the consumer");
        let elapsed = start.elapsed();
        check_mpmc(count, sum, n);
        elapsed
    })
    .await
    .expect("the mpmc root")
}

// ---- OS threads: crossbeam-channel and std::sync::mpsc ----

fn crossbeam_pingpong(iters: u64, _: u64) -> Duration {
    // Setup, not measured: spawning the ponger thread.
    pingpong!(iters, std::thread::spawn, crossbeam_channel::bounded(0))
}

fn std_pingpong(iters: u64, _: u64) -> Duration {
    pingpong!(iters, std::thread::spawn, std::sync::mpsc::sync_channel(0))
}

/// A ring node's thread (with a small stack: there are 503 of them).
fn ring_thread(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(64 * 1024)
        .spawn(f)
        .expect("a ring thread");
}

/// `PRODUCERS` threads, each sending `0..$n` on its clone of `$tx`; their handles.
macro_rules! producer_threads {
    ($tx:expr, $n:expr) => {{
        let mut threads = Vec::new();
        for _ in 0..PRODUCERS {
            let tx = $tx.clone();
            threads.push(std::thread::spawn(move || {
                for i in 0..$n {
                    tx.send(i).expect("mpmc send");
                }
            }));
        }
        threads
    }};
}

fn crossbeam_mpmc(iters: u64, batch: u64) -> Duration {
    let n = iters * batch;
    let count = Arc::new(AtomicU64::new(0));
    let sum = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let (tx, rx) = crossbeam_channel::bounded::<u64>(MPMC_CAP);
    let mut threads = producer_threads!(tx, n);
    drop(tx);
    for _ in 0..CONSUMERS {
        let (rx, count, sum) = (rx.clone(), count.clone(), sum.clone());
        threads.push(std::thread::spawn(move || {
            let (c, s) = rx.iter().fold((0u64, 0u64), |(c, s), v| (c + 1, s + v));
            count.fetch_add(c, Ordering::Relaxed);
            sum.fetch_add(s, Ordering::Relaxed);
        }));
    }
    drop(rx);
    for t in threads {
        t.join().expect("an mpmc thread");
    }
    let elapsed = start.elapsed();
    check_mpmc(
        count.load(Ordering::Relaxed),
        sum.load(Ordering::Relaxed),
        n,
    );
    elapsed
}

/// std's channel has one consumer: 4 producer threads, the calling thread consumes.
fn std_mpmc(iters: u64, batch: u64) -> Duration {
    let n = iters * batch;
    let start = Instant::now();
    let (tx, rx) = std::sync::mpsc::sync_channel::<u64>(MPMC_CAP);
    let threads = producer_threads!(tx, n);
    drop(tx);
    let (count, sum) = rx.iter().fold((0u64, 0u64), |(c, s), v| (c + 1, s + v));
    for t in threads {
        t.join().expect("a producer");
    }
    let elapsed = start.elapsed();
    check_mpmc(count, sum, n);
    elapsed
}
