//! Shared by the comparisons (spawn.rs, yield.rs, rss_parked.rs, chan.rs, mutex.rs,
//! echo.rs, balance.rs): running each runtime in a child process of its own, finding and
//! building the Go baseline, the criterion set-up and the tables of medians; the shapes
//! more than one bench runs are in the submodules ([`chan`]: pingpong and ring,
//! [`echo`]: the TCP echo).
//!
//! goro's runtime (like may's) is a process-global configured once, so goro's default
//! mode and its `allow_migration` mode cannot share a process. Each contestant
//! therefore runs in a *child*: the bench binary re-executes itself
//! (`std::env::current_exe`) with `GORO_BENCH_CHILD=<bench>:<peer>` set, or runs the Go
//! program in `benches/go/`. A child answers requests on stdin/stdout, one line each:
//!
//! ```text
//! parent -> child:  "<iters> <batch>"
//! child -> parent:  "<nanoseconds>"     (time measured inside the child)
//! ```
//!
//! The parent (criterion, or a plain table) only passes numbers around, so process
//! start-up, runtime start-up and pipe latency are never timed, and every contestant
//! gets an otherwise idle process.

// Each bench target uses a different subset of these helpers.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion};

pub(crate) mod chan;
pub(crate) mod echo;

/// The environment variable that turns the bench binary into a child.
pub(crate) const CHILD_ENV: &str = "GORO_BENCH_CHILD";

/// `Some("<bench>:<peer>")` when this process is a child.
pub(crate) fn child_role() -> Option<String> {
    std::env::var(CHILD_ENV).ok()
}

/// `Some(peer)` when this process is a child of bench `bench` (its role is
/// `"<bench>:<peer>"`).
pub(crate) fn child_peer(bench: &str) -> Option<String> {
    let role = child_role()?;
    let peer = role
        .strip_prefix(bench)
        .and_then(|r| r.strip_prefix(':'))
        .unwrap_or_else(|| panic!("a {bench} child role: {role}"));
    Some(peer.to_owned())
}

/// Whether criterion was asked for a quick pass (`--test`, as `cargo test --benches`
/// does, or `--list`): then the benches skip their extra runs and tables.
pub(crate) fn quick() -> bool {
    std::env::args().any(|a| a == "--test" || a == "--list")
}

/// Child side: starts goro's runtime with `workers` workers in the mode `peer` names:
/// `"goro_default"`, or `"goro_migration"` (`Builder::allow_migration`).
///
/// # Safety
///
/// For `"goro_migration"`, `allow_migration`'s contract: the coroutines of this process
/// hold no thread-local reference and no `!Send` value across a blocking call.
pub(crate) unsafe fn init_goro(peer: &str, workers: usize) {
    let builder = goro::runtime::Builder::new();
    let builder = match peer {
        "goro_default" => builder,
        // SAFETY: the caller's promise (this function's contract).
        "goro_migration" => unsafe { builder.allow_migration() },
        other => panic!("not a goro mode: {other}"),
    };
    builder.workers(workers).init().expect("configuring goro");
}

/// `may::go!` as a function, for the shapes that take a spawn function.
pub(crate) fn may_spawn<F, T>(f: F) -> may::coroutine::JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    may::go!(f)
}

/// Child side: answers `"<iters> <batch>"` requests with the nanoseconds `run` took,
/// until stdin closes.
pub(crate) fn serve(mut run: impl FnMut(u64, u64) -> Duration) {
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout();
    for line in stdin.lock().lines() {
        let line = line.expect("reading a request");
        let mut words = line.split_whitespace();
        let iters: u64 = words.next().and_then(|w| w.parse().ok()).expect("iters");
        let batch: u64 = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
        let elapsed = run(iters, batch);
        writeln!(stdout, "{}", elapsed.as_nanos()).expect("writing a reply");
        stdout.flush().expect("flushing a reply");
    }
}

/// Parent side: contestant `peer` of bench `bench`: the Go baseline (`serve <bench>`
/// with GOMAXPROCS=`go_procs`; `None` without a Go toolchain) for `"go"`, else this
/// binary as the child `"<bench>:<peer>"`.
pub(crate) fn server(bench: &str, peer: &str, go_procs: usize) -> Option<Server> {
    if peer == "go" {
        let cmd = go_command(go_procs, &["serve", bench])?;
        Some(Server::start("go", cmd))
    } else {
        Some(Server::rust(&format!("{bench}:{peer}")))
    }
}

/// Parent side: prints the load average, then criterion configured as every comparison
/// is (1 s warm-up, 3 s of `sample_size` samples; the command line has the last word).
pub(crate) fn criterion(sample_size: usize) -> Criterion {
    println!("load average at start: {}", loadavg());
    Criterion::default()
        .sample_size(sample_size)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args()
}

/// Parent side: benchmark `id` in `group`, one request of `batch` per criterion call to
/// the child `start` returns, what it measured recorded in `samples`. The child (and its
/// runtime) starts on first use, not measured, and only if the benchmark is not
/// filtered out; if `start` gives `None` (Go not installed) there is nothing to measure.
pub(crate) fn bench_server(
    group: &mut BenchmarkGroup<'_, WallTime>,
    id: &str,
    batch: u64,
    samples: &Samples,
    start: impl Fn() -> Option<Server>,
) {
    let mut server: Option<Option<Server>> = None;
    group.bench_function(id, |b| {
        let Some(server) = server.get_or_insert_with(&start) else {
            b.iter(|| ()); // Go not installed: nothing to measure
            return;
        };
        b.iter_custom(|iters| samples.record(iters, server.run(iters, batch)));
    });
}

/// Parent side: one contestant running in a child process.
pub(crate) struct Server {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stderr: Arc<Mutex<String>>,
}

impl Server {
    /// Re-executes this bench binary as the child `role` (`"<bench>:<peer>"`).
    pub(crate) fn rust(role: &str) -> Server {
        let exe = std::env::current_exe().expect("the bench binary's path");
        let mut cmd = Command::new(exe);
        cmd.env(CHILD_ENV, role);
        Server::start(role, cmd)
    }

    /// Starts any command speaking the protocol (the Go program).
    pub(crate) fn start(name: &str, mut cmd: Command) -> Server {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("starting child {name}: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr_pipe = child.stderr.take().expect("piped stderr");
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        thread::spawn(move || {
            for line in BufReader::new(stderr_pipe).lines() {
                let Ok(line) = line else { break };
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        Server {
            name: name.to_owned(),
            stdin: child.stdin.take(),
            child,
            lines,
            stderr,
        }
    }

    /// One request; `Err` describes a child that died, hung or answered nonsense.
    pub(crate) fn try_run(
        &mut self,
        iters: u64,
        batch: u64,
        timeout: Duration,
    ) -> Result<Duration, String> {
        let stdin = self.stdin.as_mut().ok_or("child already closed")?;
        if writeln!(stdin, "{iters} {batch}")
            .and_then(|()| stdin.flush())
            .is_err()
        {
            return Err(self.failure("the child closed its stdin"));
        }
        match self.lines.recv_timeout(timeout) {
            Ok(line) => line
                .trim()
                .parse::<u64>()
                .map(Duration::from_nanos)
                .map_err(|_| format!("{}: bad reply {line:?}", self.name)),
            Err(RecvTimeoutError::Timeout) => {
                let _ = self.child.kill();
                Err(self.failure(&format!("no answer within {timeout:?}; killed")))
            }
            Err(RecvTimeoutError::Disconnected) => Err(self.failure("the child exited")),
        }
    }

    /// One request; panics if the child fails (for criterion, which needs a number).
    pub(crate) fn run(&mut self, iters: u64, batch: u64) -> Duration {
        match self.try_run(iters, batch, Duration::from_secs(300)) {
            Ok(d) => d,
            Err(e) => panic!("{e}"),
        }
    }

    fn failure(&mut self, what: &str) -> String {
        let status = wait_timeout(&mut self.child, Duration::from_secs(5));
        thread::sleep(Duration::from_millis(50)); // let the stderr thread catch up
        let stderr = self.stderr.lock().unwrap();
        let tail: Vec<&str> = stderr.lines().rev().take(4).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        format!(
            "{}: {what} (exit: {}); stderr: {}",
            self.name,
            status.map_or("still running".into(), |s| s.to_string()),
            tail.join(" | ")
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Closing stdin ends the child's serve loop.
        drop(self.stdin.take());
        if wait_timeout(&mut self.child, Duration::from_secs(10)).is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Runs a one-shot child to completion and returns its stdout, or why it failed (its
/// exit status, its last line of stdout and the end of its stderr).
pub(crate) fn run_once(name: &str, mut cmd: Command, timeout: Duration) -> Result<String, String> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| format!("{name}: {e}"))?;
    let mut out = child.stdout.take().expect("piped stdout");
    let mut err = child.stderr.take().expect("piped stderr");
    let out_thread = thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut out, &mut s);
        s
    });
    let err_thread = thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut err, &mut s);
        s
    });
    let status = match wait_timeout(&mut child, timeout) {
        Some(status) => status,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{name}: no result within {timeout:?}; killed"));
        }
    };
    let out = out_thread.join().unwrap_or_default();
    let err = err_thread.join().unwrap_or_default();
    if status.success() {
        Ok(out)
    } else {
        let tail: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
        let tail = tail[tail.len().saturating_sub(3)..].join(" | ");
        let last = out.lines().last().unwrap_or("");
        Err(format!(
            "{name}: exit {status}; last stdout line: {last:?}; stderr: {tail}"
        ))
    }
}

/// The Go toolchain: `go` on PATH, `$GO`, or Debian's golang-1.19-go. `None` if absent.
pub(crate) fn go_tool() -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(go) = std::env::var_os("GO") {
        candidates.push(go.into());
    }
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|d| d.join("go")));
    }
    candidates.push("/usr/lib/go/bin/go".into());
    candidates.push("/usr/lib/go-1.19/bin/go".into());
    candidates.into_iter().find(|p| p.is_file())
}

/// The Go baseline binary (benches/go/main.go), built once per process into
/// target/go-bench/. `None`, with a message, if Go is not installed or fails to build.
pub(crate) fn go_binary() -> Option<PathBuf> {
    static BINARY: OnceLock<Option<PathBuf>> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            let Some(go) = go_tool() else {
                println!(
                    "go: not found (PATH, $GO, /usr/lib/go-1.19/bin): skipping the Go baseline"
                );
                return None;
            };
            let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
            let out = dir.join("../target/go-bench/goro-go-bench");
            let status = Command::new(&go)
                .current_dir(dir.join("go"))
                .env("GOCACHE", dir.join("../target/go-bench/cache"))
                .env("GO111MODULE", "off")
                .args(["build", "-o"])
                .arg(&out)
                .arg("main.go")
                .status();
            match status {
                Ok(s) if s.success() => Some(out),
                other => {
                    println!("go: building benches/go/main.go failed ({other:?}): skipping");
                    None
                }
            }
        })
        .clone()
}

/// A command running the Go baseline with `GOMAXPROCS=procs`.
pub(crate) fn go_command(procs: usize, args: &[&str]) -> Option<Command> {
    let bin = go_binary()?;
    let mut cmd = Command::new(bin);
    cmd.env("GOMAXPROCS", procs.to_string()).args(args);
    Some(cmd)
}

/// Resident set size of this process, in bytes (/proc/self/statm).
pub(crate) fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|w| w.parse().ok())
        .expect("statm's resident field");
    pages * 4096
}

/// The 1-minute load average, to print beside the results.
pub(crate) fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// The median of `xs` (sorted in place); NaN if empty.
pub(crate) fn median(xs: &mut [f64]) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

/// Records what criterion's `iter_custom` measured, so the bench can print its own
/// side-by-side table of medians (criterion reports each benchmark alone).
///
/// Criterion first warms up (calls with growing `iters`), then takes exactly
/// `sample_size` samples: the last `sample_size` records are the samples, and their
/// median per-iteration time is criterion's "median" estimate.
#[derive(Default, Clone)]
pub(crate) struct Samples(Arc<Mutex<Vec<(u64, Duration)>>>);

impl Samples {
    pub(crate) fn record(&self, iters: u64, elapsed: Duration) -> Duration {
        self.0.lock().unwrap().push((iters, elapsed));
        elapsed
    }

    /// Median nanoseconds per `unit` (an iteration is `unit` operations) over the
    /// last `sample_size` records; `None` if the benchmark did not run (filtered out).
    pub(crate) fn median_ns(&self, sample_size: usize, unit: u64) -> Option<f64> {
        let v = self.0.lock().unwrap();
        if v.is_empty() {
            return None;
        }
        let mut per: Vec<f64> = v[v.len().saturating_sub(sample_size)..]
            .iter()
            .map(|&(iters, d)| d.as_nanos() as f64 / (iters * unit) as f64)
            .collect();
        Some(median(&mut per))
    }
}

/// Each contestant's median per `unit` (see [`Samples::median_ns`]).
pub(crate) fn medians(samples: &[Samples], sample_size: usize, unit: u64) -> Vec<Option<f64>> {
    samples
        .iter()
        .map(|s| s.median_ns(sample_size, unit))
        .collect()
}

/// Prints a table of one median per contestant beside goro's ratio to each: rows 0 and 1
/// are goro's two modes, `ratio_headers` their columns' headers, `name_width` the width
/// of the contestant column.
pub(crate) fn print_medians(
    names: &[&str],
    medians: &[Option<f64>],
    name_width: usize,
    ratio_headers: [&str; 2],
) {
    let [h0, h1] = ratio_headers;
    let (w0, w1) = (h0.len(), h1.len());
    println!(
        "| {:<name_width$} | {:>9} | {h0:>w0$} | {h1:>w1$} |",
        "contestant", "median"
    );
    println!(
        "|{:-<nw$}|{:->11}|{:->r0$}|{:->r1$}|",
        "",
        "",
        "",
        "",
        nw = name_width + 2,
        r0 = w0 + 2,
        r1 = w1 + 2
    );
    for (name, m) in names.iter().zip(medians) {
        println!(
            "| {:<name_width$} | {:>9} | {:>w0$} | {:>w1$} |",
            name,
            m.map_or("-".into(), fmt_ns),
            ratio(medians[0], *m),
            ratio(medians[1], *m)
        );
    }
}

/// Formats nanoseconds for a table: "59.8 ns", "12.1 µs".
pub(crate) fn fmt_ns(ns: f64) -> String {
    if ns.is_nan() {
        "-".into()
    } else if ns < 1_000.0 {
        format!("{ns:.1} ns")
    } else if ns < 1_000_000.0 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{:.2} ms", ns / 1e6)
    }
}

/// "0.42x" for goro/peer, or "-".
pub(crate) fn ratio(goro: Option<f64>, peer: Option<f64>) -> String {
    match (goro, peer) {
        (Some(g), Some(p)) if g.is_finite() && p.is_finite() && p > 0.0 => format!("{:.2}x", g / p),
        _ => "-".into(),
    }
}
