//! Comparison (issue 11): how evenly each runtime spreads work over its workers, run to
//! run. Four shapes side by side with Go, tokio and may, every run of every contestant
//! a *fresh process*, so where a runtime first places its tasks (goro's default mode
//! fixes a coroutine's home worker when it first runs) is drawn anew each run and the
//! spread shows instead of being averaged away:
//!
//! - `fanout-2w`, `fanout-1w`: one task spawns 1,000,000 tasks (handles dropped) that
//!   each count down a shared latch, then waits for the latch; ns per task, on 2 and 1
//!   workers. The latch is an atomic counter; the task that takes it to zero fires a
//!   one-shot (goro: a `WaitGroup` of 1; tokio: `Notify`; may: `SyncFlag`; Go: a
//!   `sync.WaitGroup` for the lot).
//! - `echo`: common/echo.rs's TCP echo, 64 connections × 10,000 round trips × 64 B,
//!   2 workers; messages per second.
//! - `ring`: common/chan.rs's ring of 503 tasks on rendezvous channels (tokio:
//!   capacity 1; may: unbounded) passing a token 3,000,000 hops, 2 workers; ns per hop.
//! - `pingpong`: common/chan.rs's pingpong, 1,000,000 round trips over two rendezvous
//!   channels, 2 workers; ns per round trip.
//!
//! Contestants: `goro_default`, `goro_migration` (`unsafe { allow_migration() }`), `go`
//! (benches/go/main.go `balance <shape> <n>`, GOMAXPROCS = workers; skipped without a Go
//! toolchain), `tokio` (multi-thread runtime, `worker_threads` = workers), `may`
//! (`set_workers`). A run is one child process (see common/mod.rs): it starts its
//! runtime (and builds the ring), prints `ready <its threads>`, does a warm-up at a
//! tenth of the size, prints `start`, does the measured run and prints
//! `ns <nanoseconds>` (timed inside the child). The parent counts the child's threads
//! (`/proc/<pid>/task`) every 2 ms during the measured run and keeps the peak: spare
//! workers show there. A child that dies or overruns its deadline is reported as
//! failed, and that contestant's further runs of that shape are skipped (may dies at
//! about 32k live coroutines on this kernel's `vm.max_map_count`, so its fan-out
//! fails).
//!
//! Runs go round-robin (run 1 of every contestant, then run 2, ...) so that load from
//! elsewhere on the machine falls on all of them alike. Each shape prints min / median /
//! max, the spread (max / min) and goro's medians over each peer's.
//!
//! `cargo bench -p goro-benches --bench balance` (about 10 minutes on a quiet machine:
//! 10 runs of each; more under load, and a goro default-mode pingpong process that
//! lands in its slow placement takes up to a minute).
//! Arguments after `--`: shape names or prefixes (`fanout` is both fan-outs), `--runs N`,
//! `--peers goro_default,go` (a comma-separated subset of the contestants), e.g.
//! `cargo bench -p goro-benches --bench balance -- fanout --runs 5 --peers goro_default,go`.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::{chan, echo, fmt_ns, median};

const RUNS: usize = 10;

const CONTESTANTS: [&str; 5] = ["goro_default", "goro_migration", "go", "tokio", "may"];

/// What a shape's figure is.
#[derive(Clone, Copy, PartialEq)]
enum Unit {
    /// Nanoseconds per task, hop or round trip (lower is better).
    Ns(&'static str),
    /// Echo messages (round trips) per second (higher is better).
    MsgPerSec,
}

struct Shape {
    /// The name on the command line and in the tables.
    name: &'static str,
    /// The child's and the Go program's name for it.
    kind: &'static str,
    workers: usize,
    /// Tasks, round trips per connection, hops or round trips in a measured run.
    size: u64,
    unit: Unit,
    /// How long one child may take, start-up and warm-up included.
    deadline: Duration,
    what: &'static str,
}

const SHAPES: [Shape; 5] = [
    Shape {
        name: "fanout-2w",
        kind: "fanout",
        workers: 2,
        size: 1_000_000,
        unit: Unit::Ns("task"),
        deadline: Duration::from_secs(20),
        what: "one task spawns 1,000,000 that each count down a shared latch (handles dropped), then waits",
    },
    Shape {
        name: "fanout-1w",
        kind: "fanout",
        workers: 1,
        size: 1_000_000,
        unit: Unit::Ns("task"),
        deadline: Duration::from_secs(20),
        what: "one task spawns 1,000,000 that each count down a shared latch (handles dropped), then waits",
    },
    Shape {
        name: "echo",
        kind: "echo",
        workers: 2,
        size: echo::ROUND_TRIPS,
        unit: Unit::MsgPerSec,
        deadline: Duration::from_secs(120),
        what: "TCP echo over loopback, 64 connections x 10,000 round trips x 64 B",
    },
    Shape {
        name: "ring",
        kind: "ring",
        workers: 2,
        size: 3_000_000,
        unit: Unit::Ns("hop"),
        deadline: Duration::from_secs(120),
        what: "a ring of 503 tasks passing a token 3,000,000 hops",
    },
    Shape {
        name: "pingpong",
        kind: "pingpong",
        workers: 2,
        size: 1_000_000,
        unit: Unit::Ns("round trip"),
        deadline: Duration::from_secs(120),
        what: "1,000,000 round trips over two rendezvous channels between two tasks",
    },
];

impl Shape {
    /// A measured run's figure (ns per unit, or msg/s) from its time.
    fn figure(&self, elapsed: Duration, size: u64) -> f64 {
        match self.unit {
            Unit::Ns(_) => elapsed.as_nanos() as f64 / size as f64,
            Unit::MsgPerSec => (echo::CONNECTIONS * size) as f64 / elapsed.as_secs_f64(),
        }
    }

    fn fmt(&self, figure: f64) -> String {
        match self.unit {
            Unit::Ns(_) => fmt_ns(figure),
            Unit::MsgPerSec => format!("{:.1}k", figure / 1e3),
        }
    }

    fn unit_name(&self) -> String {
        match self.unit {
            Unit::Ns(per) => format!("per {per}, lower is better"),
            Unit::MsgPerSec => "msg/s, higher is better".into(),
        }
    }

    /// The child process for one run of `peer`; `None` for Go without a toolchain.
    fn command(&self, peer: &str, size: u64) -> Option<Command> {
        if peer == "go" {
            common::go_command(self.workers, &["balance", self.kind, &size.to_string()])
        } else {
            let mut cmd = Command::new(std::env::current_exe().expect("the bench binary"));
            cmd.env("RUST_BACKTRACE", "0").env(
                common::CHILD_ENV,
                format!("balance:{}:{}:{peer}:{size}", self.kind, self.workers),
            );
            Some(cmd)
        }
    }
}

/// "1 worker", "2 workers".
fn workers(n: usize) -> String {
    if n == 1 {
        "1 worker".into()
    } else {
        format!("{n} workers")
    }
}

/// The command line: which shapes and peers, how many runs.
struct Args {
    shapes: Vec<String>,
    peers: Vec<String>,
    runs: usize,
}

fn args() -> Args {
    let mut args = Args {
        shapes: Vec::new(),
        peers: CONTESTANTS.iter().map(|p| p.to_string()).collect(),
        runs: RUNS,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--runs" => {
                args.runs = it
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|&n| n > 0)
                    .expect("--runs takes a positive number");
            }
            "--peers" => {
                let list = it.next().expect("--peers takes a comma-separated list");
                args.peers = list.split(',').map(str::to_owned).collect();
                for p in &args.peers {
                    assert!(
                        CONTESTANTS.contains(&p.as_str()),
                        "unknown contestant {p}; known: {CONTESTANTS:?}"
                    );
                }
            }
            // cargo bench's own flag, and criterion's that other benches take.
            a if a.starts_with('-') => {}
            shape => {
                assert!(
                    SHAPES.iter().any(|s| s.name.starts_with(shape)),
                    "no shape named {shape}*; shapes: fanout-2w, fanout-1w, echo, ring, pingpong"
                );
                args.shapes.push(shape.to_owned());
            }
        }
    }
    args
}

/// One measured run, as the parent saw it.
struct Run {
    figure: f64,
    /// Threads of the child when its runtime was up (`None` if not seen).
    threads_ready: Option<usize>,
    /// The most threads seen during the measured run.
    threads_peak: usize,
}

fn main() {
    if let Some(role) = common::child_peer("balance") {
        child(&role);
        return;
    }
    if common::quick() {
        // `--test` / `--list`: one small run of each shape by goro, to show it works.
        if std::env::args().any(|a| a == "--list") {
            return;
        }
        for shape in &SHAPES {
            let size = shape.size / 100;
            let cmd = shape.command("goro_default", size).expect("goro");
            run_child(shape.name, cmd, shape.deadline).unwrap_or_else(|e| panic!("{e}"));
        }
        return;
    }
    let args = args();
    println!(
        "load average at start: {}; {} runs per contestant, each a fresh process",
        common::loadavg(),
        args.runs
    );
    let selected: Vec<&Shape> = SHAPES
        .iter()
        .filter(|s| args.shapes.is_empty() || args.shapes.iter().any(|a| s.name.starts_with(a)))
        .collect();
    let peers: Vec<&str> = CONTESTANTS
        .iter()
        .copied()
        .filter(|p| args.peers.iter().any(|a| a == p))
        .collect();
    let mut tables = Vec::new();
    for shape in selected {
        println!(
            "\n{} ({}): {}; {}",
            shape.name,
            workers(shape.workers),
            shape.what,
            shape.unit_name()
        );
        let results = run_shape(shape, &peers, args.runs);
        let table = table(shape, &peers, &results, args.runs);
        println!("{table}");
        tables.push(table);
    }
    println!("\nload average at the end: {}", common::loadavg());
    println!("\n---- all shapes ----");
    for t in &tables {
        println!("{t}");
    }
}

/// What happened to one contestant in one shape: its runs, and why it stopped early.
#[derive(Default)]
struct Results {
    runs: Vec<Run>,
    failed: Option<String>,
}

/// The runs of one shape, round-robin over the contestants.
fn run_shape(shape: &Shape, peers: &[&str], runs: usize) -> Vec<Results> {
    let mut results: Vec<Results> = peers.iter().map(|_| Results::default()).collect();
    for i in 0..runs {
        for (peer, res) in peers.iter().zip(&mut results) {
            if res.failed.is_some() {
                continue;
            }
            let Some(cmd) = shape.command(peer, shape.size) else {
                res.failed = Some("skipped (no Go toolchain)".into());
                continue;
            };
            match run_child(peer, cmd, shape.deadline) {
                Ok((elapsed, ready, peak)) => {
                    let figure = shape.figure(elapsed, shape.size);
                    println!(
                        "  run {:>2} {peer:<15} {:>10}  threads: {} at ready, {peak} at peak",
                        i + 1,
                        shape.fmt(figure),
                        ready.map_or("?".into(), |r| r.to_string()),
                    );
                    res.runs.push(Run {
                        figure,
                        threads_ready: ready,
                        threads_peak: peak,
                    });
                }
                Err(e) => {
                    println!("  run {:>2} {peer:<15} failed: {e}", i + 1);
                    res.failed = Some(format!("failed in run {}: {e}", i + 1));
                }
            }
        }
    }
    results
}

/// The shape's table: min / median / max, spread, goro's medians over each peer's, and
/// the thread counts.
fn table(shape: &Shape, peers: &[&str], results: &[Results], runs: usize) -> String {
    use std::fmt::Write;
    let medians: Vec<Option<f64>> = results
        .iter()
        .map(|r| {
            let mut xs: Vec<f64> = r.runs.iter().map(|r| r.figure).collect();
            (!xs.is_empty()).then(|| median(&mut xs))
        })
        .collect();
    let goro = |name: &str| {
        peers
            .iter()
            .position(|p| *p == name)
            .and_then(|i| medians[i])
    };
    let (default, migration) = (goro("goro_default"), goro("goro_migration"));
    let mut t = String::new();
    let _ = writeln!(
        t,
        "\n{} — {}, {}; {}; {runs} runs, load average now {}\n",
        shape.name,
        shape.what,
        workers(shape.workers),
        shape.unit_name(),
        common::loadavg()
    );
    let _ = writeln!(
        t,
        "| contestant     | runs |        min |     median |        max | spread | default/peer | migration/peer | threads ready | threads peak |"
    );
    let _ = writeln!(
        t,
        "|----------------|------|------------|------------|------------|--------|--------------|----------------|---------------|--------------|"
    );
    for ((peer, res), med) in peers.iter().zip(results).zip(&medians) {
        let figures: Vec<f64> = res.runs.iter().map(|r| r.figure).collect();
        let min = figures.iter().copied().fold(f64::INFINITY, f64::min);
        let max = figures.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let show = |x: f64| {
            if x.is_finite() {
                shape.fmt(x)
            } else {
                "-".into()
            }
        };
        let ratio = |g: Option<f64>| common::ratio(g, *med);
        let range = |xs: Vec<usize>| match (xs.iter().min(), xs.iter().max()) {
            (Some(lo), Some(hi)) if lo == hi => lo.to_string(),
            (Some(lo), Some(hi)) => format!("{lo}-{hi}"),
            _ => "-".into(),
        };
        let _ = writeln!(
            t,
            "| {peer:<14} | {:>4} | {:>10} | {:>10} | {:>10} | {:>6} | {:>12} | {:>14} | {:>13} | {:>12} |",
            figures.len(),
            show(min),
            med.map_or("-".into(), show),
            show(max),
            if figures.is_empty() {
                "-".into()
            } else {
                format!("{:.2}", max / min)
            },
            ratio(default),
            ratio(migration),
            range(res.runs.iter().filter_map(|r| r.threads_ready).collect()),
            range(res.runs.iter().map(|r| r.threads_peak).collect()),
        );
    }
    let _ = writeln!(
        t,
        "\n(ratios are goro's median / the peer's: {}; threads: the child's OS threads, min-max over runs)",
        match shape.unit {
            Unit::Ns(_) => "below 1, goro is faster",
            Unit::MsgPerSec => "above 1, goro is faster",
        }
    );
    for (peer, res) in peers.iter().zip(results) {
        if let Some(why) = &res.failed {
            let _ = writeln!(t, "{peer}: {why}");
        }
    }
    t
}

/// Counts the threads of process `pid` (`"self"` for this one); `None` once it is gone.
fn threads_of(pid: impl std::fmt::Display) -> Option<usize> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()
        .map(|d| d.count())
}

/// What the parent has seen of a child: its lines and its thread counts.
#[derive(Default)]
struct Seen {
    ready: Option<usize>,
    peak: usize,
    measuring: bool,
    ns: Option<u64>,
}

impl Seen {
    /// A line of the child `pid`'s stdout.
    fn line(&mut self, line: &str, pid: u32) {
        match line.trim() {
            "start" => {
                self.measuring = true;
                self.peak = threads_of(pid).unwrap_or(0);
            }
            l => {
                if let Some(n) = l.strip_prefix("ready ").and_then(|n| n.parse().ok()) {
                    self.ready = Some(n);
                } else if let Some(ns) = l.strip_prefix("ns ").and_then(|n| n.parse().ok()) {
                    self.ns = Some(ns);
                    self.measuring = false;
                }
            }
        }
    }
}

/// Runs one child to its end: the measured time it printed, its threads at `ready` and
/// its most threads during the measured run (sampled every 2 ms); or why it failed.
fn run_child(
    name: &str,
    mut cmd: Command,
    deadline: Duration,
) -> Result<(Duration, Option<usize>, usize), String> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| format!("{name}: {e}"))?;
    let pid = child.id();
    let stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let (tx, lines) = mpsc::channel();
    let out_thread = thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let err_thread = thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut s);
        s
    });
    let started = Instant::now();
    let mut seen = Seen::default();
    let status = loop {
        while let Ok(line) = lines.try_recv() {
            seen.line(&line, pid);
        }
        if seen.measuring
            && let Some(n) = threads_of(pid)
        {
            seen.peak = seen.peak.max(n);
        }
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(e) => return Err(format!("{name}: waiting: {e}")),
        }
        if started.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{name}: no result within {deadline:?}; killed"));
        }
        thread::sleep(Duration::from_millis(2));
    };
    let _ = out_thread.join();
    for line in lines.try_iter() {
        seen.line(&line, pid);
    }
    let err = err_thread.join().unwrap_or_default();
    match seen.ns {
        Some(ns) if status.success() => Ok((Duration::from_nanos(ns), seen.ready, seen.peak)),
        _ => Err(format!("{name}: exit {status}; {}", why(&err))),
    }
}

/// The gist of a failed child's stderr: its first panic's message, else its last lines.
fn why(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    match lines.iter().position(|l| l.contains("panicked at")) {
        Some(i) => format!("panicked: {}", lines.get(i + 1).unwrap_or(&"?").trim()),
        None => format!(
            "stderr: {}",
            lines[lines.len().saturating_sub(2)..].join(" | ")
        ),
    }
}

// ---- children: one measured run of one shape by one contestant ----

/// A contestant's runs of one shape: `run(size)` returns the time of a run.
type Runner = Box<dyn FnMut(u64) -> Duration>;

fn child(role: &str) {
    let parts: Vec<&str> = role.split(':').collect();
    let [kind, workers, peer, size] = parts[..] else {
        panic!("bad balance child role {role}");
    };
    let workers: usize = workers.parse().expect("a worker count");
    let size: u64 = size.parse().expect("a size");
    let mut run: Runner = match peer {
        "goro_default" | "goro_migration" => {
            // SAFETY: (allow_migration) the coroutines of this process hold no
            // thread-local reference and no `!Send` value across a blocking call: they
            // count down, pass integers and echo bytes.
            unsafe { common::init_goro(peer, workers) };
            goro_runner(kind)
        }
        "tokio" => tokio_runner(kind, workers),
        "may" => {
            may::config().set_workers(workers);
            may_runner(kind)
        }
        other => panic!("unknown balance contestant {other}"),
    };
    println!("ready {}", threads_of("self").unwrap_or(0));
    run((size / 10).max(1));
    println!("start");
    let elapsed = run(size);
    println!("ns {}", elapsed.as_nanos());
}

/// The fan-out's latch: `count` tasks each count down; the one that reaches zero fires
/// `signal` (the runtime's one-shot).
struct Latch<S> {
    count: AtomicUsize,
    signal: S,
}

impl<S> Latch<S> {
    fn new(count: u64, signal: S) -> Arc<Latch<S>> {
        Arc::new(Latch {
            count: AtomicUsize::new(count as usize),
            signal,
        })
    }

    /// Counts down; true for the task that reached zero.
    fn count_down(&self) -> bool {
        self.count.fetch_sub(1, Ordering::AcqRel) == 1
    }
}

fn goro_runner(kind: &str) -> Runner {
    match kind {
        "fanout" => Box::new(|n| {
            goro::go!(move || {
                let wg = goro::sync::WaitGroup::new();
                wg.add(1);
                let latch = Latch::new(n, wg.clone());
                let start = Instant::now();
                for _ in 0..n {
                    let latch = latch.clone();
                    goro::go!(move || {
                        if latch.count_down() {
                            latch.signal.done();
                        }
                    });
                }
                wg.wait();
                start.elapsed()
            })
            .join()
            .expect("the fan-out root")
        }),
        "echo" => Box::new(|trips| {
            goro::go!(move || echo::goro_echo(trips))
                .join()
                .expect("goro echo")
        }),
        "ring" => {
            let ring = chan::goro_ring();
            Box::new(move |hops| ring.hops(hops))
        }
        "pingpong" => Box::new(|trips| chan::goro_pingpong(trips, 0)),
        other => panic!("unknown balance shape {other}"),
    }
}

fn tokio_runner(kind: &str, workers: usize) -> Runner {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.worker_threads(workers);
    if kind == "echo" {
        builder.enable_io();
    }
    let rt = builder.build().expect("a tokio runtime");
    match kind {
        "fanout" => Box::new(move |n| {
            rt.block_on(async move {
                tokio::spawn(async move {
                    let latch = Latch::new(n, tokio::sync::Notify::new());
                    let start = Instant::now();
                    for _ in 0..n {
                        let latch = latch.clone();
                        tokio::spawn(async move {
                            if latch.count_down() {
                                // Stores a permit if the root is not waiting yet.
                                latch.signal.notify_one();
                            }
                        });
                    }
                    latch.signal.notified().await;
                    start.elapsed()
                })
                .await
                .expect("the fan-out root")
            })
        }),
        "echo" => Box::new(move |trips| rt.block_on(echo::tokio_echo(trips))),
        "ring" => {
            let mut ring = Some(rt.block_on(async { chan::tokio_ring() }));
            Box::new(move |hops| {
                let r = ring.take().expect("the ring");
                let (elapsed, r) = rt.block_on(chan::tokio_hops(r, hops));
                ring = Some(r);
                elapsed
            })
        }
        "pingpong" => Box::new(move |trips| rt.block_on(chan::tokio_pingpong(trips))),
        other => panic!("unknown balance shape {other}"),
    }
}

fn may_runner(kind: &str) -> Runner {
    match kind {
        "fanout" => Box::new(|n| {
            may::go!(move || {
                let latch = Latch::new(n, may::sync::SyncFlag::new());
                let start = Instant::now();
                for _ in 0..n {
                    let latch = latch.clone();
                    may::go!(move || {
                        if latch.count_down() {
                            latch.signal.fire();
                        }
                    });
                }
                latch.signal.wait();
                start.elapsed()
            })
            .join()
            .expect("the fan-out root")
        }),
        "echo" => Box::new(|trips| {
            may::go!(move || echo::may_echo(trips))
                .join()
                .expect("may echo")
        }),
        "ring" => {
            let mut ring = Some(chan::may_ring());
            Box::new(move |hops| {
                let r = ring.take().expect("the ring");
                let (elapsed, r) = chan::may_hops(r, hops);
                ring = Some(r);
                elapsed
            })
        }
        "pingpong" => Box::new(|trips| chan::may_pingpong(trips, 0)),
        other => panic!("unknown balance shape {other}"),
    }
}
