//! `stack_memory`: what a parked coroutine costs, next to a parked thread.
//!
//! The program parks N coroutines (default 1,000,000), each resumed once so that it
//! holds a live, touched stack, and keeps them all alive. Then it does the same with
//! N OS threads (default 10,000), each blocked on a channel receive. For both it
//! measures:
//!
//! - **guard**: how the guard page below each stack is made. goro uses
//!   `madvise(MADV_GUARD_INSTALL)` where the kernel has it (Linux 6.13+), which adds
//!   no kernel mapping; threads (and goro's fallback) use `mprotect`, which does.
//! - **mappings**: kernel mappings (VMAs, the lines of `/proc/self/maps`) added. A
//!   process may have `vm.max_map_count` of them (65,530 by default). That limit,
//!   not memory, is what stops a thread per task (2 to 4 mappings each: 16,000 to
//!   32,000 threads) and coroutine libraries that map every stack separately (2 each:
//!   about 32,000 coroutines).
//! - **RSS/task**: resident memory added (`VmRSS` of `/proc/self/status`), divided
//!   by N. It includes each task's handle (the `Coroutine` in a `Vec`; the thread's
//!   `JoinHandle` and channel).
//! - **create/task**: wall time to create all N and run each until it parks, over N.
//! - **switch**: one context switch (a resume or a suspend; for threads, one wake-up
//!   of a blocked thread by another through `std::sync::mpsc`). *hot* switches to the
//!   same task again and again; *all N* wakes each of the N in turn, so every switch
//!   lands on a stack that is cold in the caches.
//!
//! The default run needs about 4.5 GiB of free memory and takes a few seconds to a
//! few tens of seconds (page faults dominate creation, and they are slow in VMs). Run
//! it with
//!
//! ```text
//! cargo run --release -p goro-examples --example stack_memory
//! cargo run --release -p goro-examples --example stack_memory -- --coroutines 100000 --threads 1000
//! cargo run --release -p goro-examples --example stack_memory -- --help
//! ```
//!
//! To see what happens without `MADV_GUARD_INSTALL` (every stack then costs two
//! mappings, and goro stops with an error that names `vm.max_map_count` instead of
//! crashing), force the fallback:
//!
//! ```text
//! GORO_STACK_GUARD=mprotect cargo run --release -p goro-examples --example stack_memory
//! ```

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use goro_context::{Builder, Coroutine, Reason, ResumeError, Resumed, StackError};

const USAGE: &str = "\
usage: stack_memory [--coroutines N] [--threads N] [--stack-kib K] [--thread-stack-kib K]

Parks N coroutines, then N threads, each with a live stack, and prints what one
costs: kernel mappings, resident memory, creation time and switch time.

options:
  --coroutines N        coroutines to park (default 1,000,000; 0 skips them)
  --threads N           threads to park (default 10,000; 0 skips them)
  --stack-kib K         coroutine stack size in KiB (default 64; goro rounds it up to
                        a power of two, at least 16)
  --thread-stack-kib K  thread stack size in KiB (default: std's, which is 2 MiB
                        unless RUST_MIN_STACK says otherwise)
  -h, --help            print this help

environment:
  GORO_STACK_GUARD=madvise|mprotect|auto   how goro makes guard pages (default: auto,
                        madvise where the kernel supports MADV_GUARD_INSTALL). With
                        mprotect every stack costs two kernel mappings, and creation
                        stops with an error near vm.max_map_count / 2 coroutines.
";

/// How long each hot-switch loop runs.
const HOT_BUDGET: Duration = Duration::from_millis(250);

/// Rough resident cost of one parked coroutine (one stack page and its handle), used
/// only to refuse a run that would clearly not fit in memory.
const COROUTINE_ESTIMATE: u64 = 4096 + 256;
/// The same for a thread, counting its kernel stack and page tables too.
const THREAD_ESTIMATE: u64 = 32 * 1024;

/// Kernel mappings left for the rest of the process (the heap, malloc's per-thread
/// arenas) when deciding how many threads fit under `vm.max_map_count`.
const MAPPING_MARGIN: u64 = 512;

/// Tells the parked coroutines to return the next time they are resumed, so that
/// cleanup finishes them instead of unwinding each one.
static STOP: AtomicBool = AtomicBool::new(false);

fn main() -> ExitCode {
    let options = match parse_args(std::env::args().skip(1)) {
        Ok(Some(options)) => options,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            eprintln!("error: {msg}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("error: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn run(options: &Options) -> Result<(), String> {
    let max_map_count = read_number("/proc/sys/vm/max_map_count").unwrap_or(65_530);
    let cpus = thread::available_parallelism().map_or(1, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "?".into());
    println!(
        "goro stack_memory: Linux {kernel} {}, {cpus} CPUs, vm.max_map_count = {}",
        std::env::consts::ARCH,
        group(max_map_count),
    );
    println!();

    check_memory("coroutines", options.coroutines, COROUTINE_ESTIMATE)?;
    check_memory("threads", options.threads, THREAD_ESTIMATE)?;

    let coroutines = match options.coroutines {
        0 => None,
        _ => Some(run_coroutines(options)?),
    };
    let threads = match options.threads {
        0 => None,
        _ => Some(run_threads(options, max_map_count)?),
    };

    let rows: Vec<&Row> = coroutines
        .iter()
        .map(|c| &c.row)
        .chain(threads.iter().map(|t| &t.row))
        .collect();
    if rows.is_empty() {
        println!("nothing to measure (both --coroutines and --threads are 0)");
        return Ok(());
    }
    print_table(&rows);
    println!();
    print_notes(
        options,
        max_map_count,
        coroutines.as_ref(),
        threads.as_ref(),
    );
    Ok(())
}

// ---------------------------------------------------------------------------------
// Command line

struct Options {
    coroutines: usize,
    threads: usize,
    /// Coroutine stack size in bytes (goro rounds it up to a power of two).
    stack_size: usize,
    /// Thread stack size in bytes; `None` leaves std's default.
    thread_stack: Option<usize>,
}

/// Parses the flags; `Ok(None)` means `--help`.
fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Options>, String> {
    let mut options = Options {
        coroutines: 1_000_000,
        threads: 10_000,
        stack_size: goro_context::DEFAULT_STACK_SIZE,
        thread_stack: None,
    };
    while let Some(arg) = args.next() {
        // Both `--flag value` and `--flag=value`.
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag.to_owned(), Some(value.into())),
            _ => (arg, None),
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--coroutines" | "--threads" | "--stack-kib" | "--thread-stack-kib" => {}
            _ => return Err(format!("unknown argument {flag:?}")),
        }
        let Some(value) = inline.or_else(|| args.next()) else {
            return Err(format!("{flag} needs a value"));
        };
        match flag.as_str() {
            "--coroutines" => options.coroutines = number(&flag, &value)?,
            "--threads" => options.threads = number(&flag, &value)?,
            "--stack-kib" => options.stack_size = kib(&flag, &value)?,
            "--thread-stack-kib" => options.thread_stack = Some(kib(&flag, &value)?),
            _ => return Err(format!("unknown argument {flag:?}")),
        }
    }
    Ok(Some(options))
}

/// A whole number; `_` and `,` may separate digit groups (`1_000_000`).
fn number(flag: &str, value: &str) -> Result<usize, String> {
    let digits: String = value.chars().filter(|c| !matches!(c, '_' | ',')).collect();
    digits
        .parse()
        .map_err(|_| format!("{flag} takes a whole number, not {value:?}"))
}

/// A size in KiB, returned in bytes.
fn kib(flag: &str, value: &str) -> Result<usize, String> {
    match number(flag, value)? {
        0 => Err(format!("{flag} must be more than 0")),
        k => k
            .checked_mul(1024)
            .ok_or_else(|| format!("{flag} {value} KiB is too large")),
    }
}

/// Refuses a run that would clearly not fit in the machine's available memory, rather
/// than let the kernel's OOM killer end it half way.
fn check_memory(what: &str, n: usize, estimate: u64) -> Result<(), String> {
    let Some(available) = meminfo_kib("MemAvailable:").map(|k| k * 1024) else {
        return Ok(());
    };
    let need = (n as u64).saturating_mul(estimate);
    if need > available / 10 * 9 {
        return Err(format!(
            "{} {what} need about {} of memory and this machine has {} available; \
             ask for fewer with --{what} N",
            group(n as u64),
            bytes(need as f64),
            bytes(available as f64),
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------
// Measurements shared by both runs

/// What the kernel says about this process at one moment.
#[derive(Clone, Copy)]
struct Snapshot {
    /// Resident memory, in bytes (`VmRSS`).
    rss: u64,
    /// Memory in page tables, in bytes (`VmPTE`); not part of RSS.
    page_tables: u64,
    /// Kernel mappings: lines of `/proc/self/maps`.
    mappings: u64,
}

impl Snapshot {
    fn take() -> Result<Snapshot, String> {
        let status = read("/proc/self/status")?;
        let field = |name: &str| {
            kib_field(&status, name)
                .map(|k| k * 1024)
                .ok_or_else(|| format!("/proc/self/status has no {name} line"))
        };
        Ok(Snapshot {
            rss: field("VmRSS:")?,
            page_tables: field("VmPTE:")?,
            mappings: count_mappings()?,
        })
    }
}

/// The change between two snapshots.
#[derive(Clone, Copy)]
struct Growth {
    rss: i64,
    page_tables: i64,
    mappings: i64,
}

impl Growth {
    fn between(before: Snapshot, after: Snapshot) -> Growth {
        let diff = |a: u64, b: u64| b as i64 - a as i64;
        Growth {
            rss: diff(before.rss, after.rss),
            page_tables: diff(before.page_tables, after.page_tables),
            mappings: diff(before.mappings, after.mappings),
        }
    }
}

/// One line of the table.
struct Row {
    what: &'static str,
    n: usize,
    guard: String,
    growth: Growth,
    /// Creating all N and running each until it parks.
    create: Duration,
    /// One switch, same task over and over, in ns.
    hot_switch: f64,
    /// One switch, each of the N in turn, in ns.
    cold_switch: f64,
    /// Ending and freeing all N.
    cleanup: Duration,
}

/// Runs `op` in batches until `budget` has passed; returns the mean ns per call.
fn repeat(budget: Duration, mut op: impl FnMut() -> Result<(), String>) -> Result<f64, String> {
    const BATCH: u64 = 1_000;
    for _ in 0..BATCH {
        op()?; // warm up
    }
    let start = Instant::now();
    let mut calls = 0;
    loop {
        for _ in 0..BATCH {
            op()?;
        }
        calls += BATCH;
        let elapsed = start.elapsed();
        if elapsed >= budget {
            return Ok(elapsed.as_nanos() as f64 / calls as f64);
        }
    }
}

// ---------------------------------------------------------------------------------
// Coroutines

/// The body of every coroutine: park until told to stop. Its frames (and those of
/// goro-context and corosensei under it) are what live on each stack.
fn park_until_stopped() {
    while !STOP.load(Ordering::Relaxed) {
        if goro_context::suspend(Reason::Park).is_err() {
            return; // not in a coroutine: cannot happen here
        }
    }
}

/// Checks that a resume ended with the coroutine parked again.
#[inline]
fn parked(result: Result<Resumed<()>, ResumeError>) -> Result<(), String> {
    match result {
        Ok(Resumed::Suspended(Reason::Park)) => Ok(()),
        Ok(Resumed::Suspended(Reason::Yield)) => {
            Err("a coroutine yielded instead of parking".into())
        }
        Ok(Resumed::Finished(Ok(()))) => Err("a coroutine finished before it was told to".into()),
        Ok(Resumed::Finished(Err(_))) => Err("a coroutine panicked".into()),
        Err(err) => Err(format!("cannot resume a coroutine: {err}")),
    }
}

/// The parked coroutines. Dropping it finishes them all (also on an error path).
struct Parked(Vec<Coroutine<()>>);

impl Parked {
    /// Tells every coroutine to stop, resumes each so that it returns, and frees them
    /// (their stacks go back to goro-stack's pool).
    fn finish(&mut self) -> Result<(), String> {
        STOP.store(true, Ordering::Relaxed);
        let mut failed = 0;
        for co in &mut self.0 {
            if !matches!(co.resume(), Ok(Resumed::Finished(Ok(())))) {
                failed += 1;
            }
        }
        // A coroutine that did not finish is unwound by its drop here.
        self.0.clear();
        match failed {
            0 => Ok(()),
            _ => Err(format!("{failed} coroutines did not finish cleanly")),
        }
    }
}

impl Drop for Parked {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

struct CoroutineRun {
    row: Row,
    stats: goro_stack::Stats,
}

fn run_coroutines(options: &Options) -> Result<CoroutineRun, String> {
    let n = options.coroutines;
    // Initialise goro-stack (guard probe, mapping budget) outside the measurement.
    goro_stack::stats().map_err(|err| format!("goro-stack cannot start: {err}"))?;

    let before = Snapshot::take()?;
    eprintln!("parking {} coroutines ...", group(n as u64));
    let mut live = Parked(Vec::new());
    live.0
        .try_reserve_exact(n)
        .map_err(|err| format!("cannot hold {n} coroutine handles: {err}"))?;

    // Create + first resume: the coroutine runs until it parks, touching its stack.
    let start = Instant::now();
    for i in 0..n {
        let co = Builder::new()
            .stack_size(options.stack_size)
            .spawn(park_until_stopped);
        let mut co = match co {
            Ok(co) => co,
            Err(err) => {
                let hint = match err {
                    StackError::InvalidSize { .. } => "choose another --stack-kib",
                    StackError::MapBudget { .. } => "ask for fewer with --coroutines N",
                    _ => "see the message above",
                };
                let before = match i {
                    0 => String::new(),
                    _ => format!(
                        "the {} coroutines created before it have been freed; ",
                        group(i as u64)
                    ),
                };
                return Err(format!(
                    "could not create coroutine number {}: {err}\n({before}{hint})",
                    group(i as u64 + 1),
                ));
            }
        };
        parked(co.resume())?;
        live.0.push(co);
    }
    let create = start.elapsed();

    // Every coroutine once more, in creation order: resume, and it parks again.
    let start = Instant::now();
    for co in &mut live.0 {
        parked(co.resume())?;
    }
    let cold_switch = start.elapsed().as_nanos() as f64 / n as f64 / 2.0;

    let after = Snapshot::take()?;
    let stats = goro_stack::stats().map_err(|err| err.to_string())?;

    // The floor: one coroutine resumed over and over.
    let hot = &mut live.0[0];
    let hot_switch = repeat(HOT_BUDGET, || parked(hot.resume()))? / 2.0;

    let start = Instant::now();
    live.finish()?;
    let cleanup = start.elapsed();

    Ok(CoroutineRun {
        row: Row {
            what: "coroutines",
            n,
            guard: stats.guard.to_string(),
            growth: Growth::between(before, after),
            create,
            hot_switch,
            cold_switch,
            cleanup,
        },
        stats,
    })
}

// ---------------------------------------------------------------------------------
// Threads

/// The body of every thread: say it is parked, then answer each wake-up until the
/// main thread hangs up.
fn park_on_channel(wake: mpsc::Receiver<()>, reply: mpsc::Sender<()>) {
    if reply.send(()).is_err() {
        return;
    }
    while wake.recv().is_ok() {
        if reply.send(()).is_err() {
            return;
        }
    }
}

/// The parked threads: one sender to wake each, and its handle. Dropping it hangs up
/// on every thread and joins them all (also on an error path).
struct Crew {
    wake: Vec<mpsc::Sender<()>>,
    handles: Vec<thread::JoinHandle<()>>,
}

impl Crew {
    fn finish(&mut self) -> Result<(), String> {
        self.wake.clear(); // every recv now fails, and its thread returns
        let panicked = self
            .handles
            .drain(..)
            .map(thread::JoinHandle::join)
            .filter(Result::is_err)
            .count();
        match panicked {
            0 => Ok(()),
            _ => Err(format!("{panicked} threads panicked")),
        }
    }
}

impl Drop for Crew {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

struct ThreadRun {
    row: Row,
    /// Why fewer threads than asked for were parked, if so.
    shortfall: Option<String>,
    /// The stack size the threads got.
    stack: usize,
}

fn thread_builder(options: &Options) -> thread::Builder {
    let builder = thread::Builder::new();
    match options.thread_stack {
        Some(size) => builder.stack_size(size),
        None => builder,
    }
}

/// Kernel mappings one more parked thread costs: its stack and guard page, plus the
/// guarded signal stack std gives every thread it spawns. Measured on one thread
/// that is alive while `/proc/self/maps` is counted.
fn mappings_per_thread(options: &Options) -> Result<u64, String> {
    let before = count_mappings()?;
    let gate = Arc::new(Barrier::new(2));
    let inside = Arc::clone(&gate);
    let probe = thread_builder(options)
        .spawn(move || {
            inside.wait(); // started
            inside.wait(); // counted: may exit
        })
        .map_err(|err| format!("cannot spawn a thread: {err}"))?;
    gate.wait();
    let during = count_mappings();
    gate.wait();
    probe
        .join()
        .map_err(|_| "the probe thread panicked".to_string())?;
    Ok(during?.saturating_sub(before).max(2))
}

fn run_threads(options: &Options, max_map_count: u64) -> Result<ThreadRun, String> {
    let n = options.threads;
    // A thread that gets its stack but then cannot map its signal stack makes std panic
    // inside the new thread, which aborts the whole process. So spawn only as many
    // threads as `vm.max_map_count` leaves room for, at a cost per thread measured
    // on a probe (an upper bound: the probe also pays for a malloc arena, which only
    // the first few threads do). Room is recounted whenever it is used up; each
    // recount finds more, until it is truly gone.
    let per_thread = mappings_per_thread(options)?;
    let limit = max_map_count.saturating_sub(MAPPING_MARGIN);
    let (reply_tx, replies) = mpsc::channel::<()>();

    let before = Snapshot::take()?;
    eprintln!("parking {} threads ...", group(n as u64));
    let mut crew = Crew {
        wake: Vec::new(),
        handles: Vec::new(),
    };
    crew.wake
        .try_reserve_exact(n)
        .and_then(|()| crew.handles.try_reserve_exact(n))
        .map_err(|err| format!("cannot hold {n} thread handles: {err}"))?;

    let wait = |what: &str| {
        replies
            .recv()
            .map_err(|_| format!("the threads stopped answering while {what}"))
    };

    let start = Instant::now();
    let mut recounting = Duration::ZERO; // not part of the creation time
    let mut room = 0;
    let mut started = 0; // threads known to have mapped everything they will
    let mut shortfall = None;
    while crew.handles.len() < n {
        if room == 0 {
            // A thread maps its signal stack when it starts: wait for those in flight.
            for _ in started..crew.handles.len() {
                wait("starting")?;
            }
            started = crew.handles.len();
            let recount = Instant::now();
            let in_use = count_mappings()?;
            room = limit.saturating_sub(in_use) / per_thread;
            recounting += recount.elapsed();
            if room == 0 {
                let msg = format!(
                    "the process holds {} kernel mappings, and vm.max_map_count ({}) has room \
                     for no more threads (one that could not map its signal stack would abort \
                     the process)",
                    group(in_use),
                    group(max_map_count),
                );
                eprintln!(
                    "stopping at {} threads: {msg}",
                    group(crew.handles.len() as u64)
                );
                shortfall = Some(msg);
                break;
            }
        }
        let (wake_tx, wake_rx) = mpsc::channel();
        let reply = reply_tx.clone();
        match thread_builder(options).spawn(move || park_on_channel(wake_rx, reply)) {
            Ok(handle) => {
                crew.handles.push(handle);
                crew.wake.push(wake_tx);
                room -= 1;
            }
            Err(err) => {
                let msg = format!(
                    "thread spawn failed: {err} (limits: ulimit -u, kernel.threads-max, \
                     kernel.pid_max, vm.max_map_count)",
                );
                eprintln!(
                    "stopping at {} threads: {msg}",
                    group(crew.handles.len() as u64)
                );
                shortfall = Some(msg);
                break;
            }
        }
    }
    drop(reply_tx); // so that `replies` reports it if every thread is gone
    let created = crew.handles.len();
    if created == 0 {
        return Err(shortfall.unwrap_or_else(|| "no thread was created".into()));
    }
    for _ in started..created {
        wait("starting")?;
    }
    let create = start.elapsed().saturating_sub(recounting);

    // Every thread once more: wake it, and wait until it has answered (and so is
    // about to block again). A round trip is two switches.
    let start = Instant::now();
    for wake in &crew.wake {
        wake.send(())
            .map_err(|_| "a thread has exited".to_string())?;
        wait("being woken")?;
    }
    let cold_switch = start.elapsed().as_nanos() as f64 / created as f64 / 2.0;

    let after = Snapshot::take()?;

    // The floor: ping-pong between this thread and one parked thread.
    let first = &crew.wake[0];
    let hot_switch = repeat(HOT_BUDGET, || {
        first
            .send(())
            .map_err(|_| "a thread has exited".to_string())?;
        wait("ping-ponging")
    })? / 2.0;

    let start = Instant::now();
    crew.finish()?;
    let cleanup = start.elapsed();

    Ok(ThreadRun {
        row: Row {
            what: "threads",
            n: created,
            guard: "mprotect".into(),
            growth: Growth::between(before, after),
            create,
            hot_switch,
            cold_switch,
            cleanup,
        },
        shortfall,
        stack: options.thread_stack.unwrap_or_else(std_thread_stack),
    })
}

/// The stack size std gives a spawned thread when none is asked for.
fn std_thread_stack() -> usize {
    std::env::var("RUST_MIN_STACK")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(2 << 20)
}

// ---------------------------------------------------------------------------------
// Report

fn print_table(rows: &[&Row]) {
    const HEADER: [&str; 8] = [
        "",
        "N",
        "guard",
        "mappings",
        "RSS/task",
        "create/task",
        "switch (hot)",
        "switch (all N)",
    ];
    // Columns aligned left; the rest are numbers, aligned right.
    const LEFT: [bool; 8] = [true, false, true, false, false, false, false, false];
    let mut lines = vec![HEADER.map(String::from)];
    for row in rows {
        let n = row.n as f64;
        lines.push([
            row.what.to_string(),
            group(row.n as u64),
            row.guard.clone(),
            signed(row.growth.mappings),
            bytes(row.growth.rss as f64 / n),
            nanos(row.create.as_nanos() as f64 / n),
            nanos(row.hot_switch),
            nanos(row.cold_switch),
        ]);
    }
    let mut widths = [0; 8];
    for line in &lines {
        for (width, cell) in widths.iter_mut().zip(line) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for line in &lines {
        let mut out = String::new();
        for (i, cell) in line.iter().enumerate() {
            let pad = " ".repeat(widths[i] - cell.chars().count());
            if i > 0 {
                out.push_str("  ");
            }
            if LEFT[i] {
                out.push_str(cell);
                out.push_str(&pad);
            } else {
                out.push_str(&pad);
                out.push_str(cell);
            }
        }
        println!("{}", out.trim_end());
    }
}

fn print_notes(
    options: &Options,
    max_map_count: u64,
    coroutines: Option<&CoroutineRun>,
    threads: Option<&ThreadRun>,
) {
    // The headline: how far threads get under vm.max_map_count, against coroutines.
    let mut line = format!(
        "vm.max_map_count = {} allows about {} threads at 2 mappings each (stack + guard page)",
        group(max_map_count),
        group(max_map_count / 2),
    );
    if let Some(t) = threads {
        let per_thread = t.row.growth.mappings as f64 / t.row.n as f64;
        if per_thread >= 1.0 {
            line += &format!(
                "; here each took {per_thread:.1} (std adds a guarded signal stack): about {}",
                group((max_map_count as f64 / per_thread) as u64),
            );
        }
    }
    if let Some(c) = coroutines {
        let used = c.row.growth.mappings.max(0);
        line += &format!(
            ". {} coroutines took {} mapping{}",
            group(c.row.n as u64),
            group(used as u64),
            if used == 1 { "" } else { "s" },
        );
    }
    paragraph("", &format!("{line}."));
    println!();

    paragraph(
        "switch",
        "one context switch: a resume or a suspend; for threads, one wake-up of a blocked \
         thread through std::sync::mpsc. hot: the same task again and again; all N: each \
         of the N in turn.",
    );
    if let Some(c) = coroutines {
        let s = &c.stats;
        paragraph(
            "coroutines",
            &format!(
                "{} stacks of address space, {} guards; goro-stack budgets {} of its {} \
                 mappings for them (adjacent arenas may merge into fewer), {} reserved. \
                 RSS/task includes the {} B Coroutine handle; page tables (not in RSS) add {} \
                 per coroutine.",
                bytes(options.stack_size.next_power_of_two() as f64),
                s.guard,
                group(s.mappings as u64),
                group(s.mapping_limit as u64),
                bytes(s.bytes_reserved as f64),
                std::mem::size_of::<Coroutine<()>>(),
                bytes(c.row.growth.page_tables as f64 / c.row.n as f64),
            ),
        );
    }
    if let Some(t) = threads {
        let source = if options.thread_stack.is_some() {
            "--thread-stack-kib"
        } else {
            "std's default"
        };
        let mut text = format!(
            "{} stacks of address space ({source}); page tables (not in RSS) add {} per \
             thread, and each has a kernel stack (16 KiB on x86_64), not in RSS either.",
            bytes(t.stack as f64),
            bytes(t.row.growth.page_tables as f64 / t.row.n as f64),
        );
        if let Some(why) = &t.shortfall {
            text += &format!(
                " Only {} of the {} threads asked for: {why}.",
                group(t.row.n as u64),
                group(options.threads as u64),
            );
        }
        paragraph("threads", &text);
    }
    let mut cleanup = Vec::new();
    if let Some(c) = coroutines {
        cleanup.push(format!(
            "{} coroutines finished and freed in {}",
            group(c.row.n as u64),
            nanos(c.row.cleanup.as_nanos() as f64),
        ));
    }
    if let Some(t) = threads {
        cleanup.push(format!(
            "{} threads woken and joined in {}",
            group(t.row.n as u64),
            nanos(t.row.cleanup.as_nanos() as f64),
        ));
    }
    paragraph("cleanup", &format!("{}.", cleanup.join("; ")));
}

/// Prints `text` wrapped to the page width, under a label in the left margin.
fn paragraph(label: &str, text: &str) {
    const WIDTH: usize = 96;
    let indent = if label.is_empty() { 0 } else { 12 };
    let mut line = format!("{label:indent$}");
    let mut empty = true;
    for word in text.split_whitespace() {
        if !empty && line.chars().count() + 1 + word.chars().count() > WIDTH {
            println!("{line}");
            line = " ".repeat(indent);
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    println!("{line}");
}

// ---------------------------------------------------------------------------------
// Formatting and /proc

/// `1234567` as `1,234,567`.
fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn signed(n: i64) -> String {
    match n {
        n if n < 0 => format!("-{}", group(n.unsigned_abs())),
        n => format!("+{}", group(n.unsigned_abs())),
    }
}

/// Bytes in the largest binary unit that keeps the number at least 1: `4.1 KiB`, and
/// `64 KiB` rather than `64.0 KiB` for whole numbers.
fn bytes(b: f64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = b;
    let mut unit = 0;
    while value.abs() >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{value:.0} B")
    } else if value.fract() == 0.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn nanos(ns: f64) -> String {
    match ns {
        x if x < 10.0 => format!("{ns:.1} ns"),
        x if x < 1e3 => format!("{ns:.0} ns"),
        x if x < 1e6 => format!("{:.2} µs", ns / 1e3),
        x if x < 1e9 => format!("{:.1} ms", ns / 1e6),
        _ => format!("{:.2} s", ns / 1e9),
    }
}

fn read(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|err| format!("cannot read {path}: {err}"))
}

/// Kernel mappings (VMAs) of this process: the lines of `/proc/self/maps`.
fn count_mappings() -> Result<u64, String> {
    Ok(read("/proc/self/maps")?.lines().count() as u64)
}

fn read_number(path: &str) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// The value of a `Name:   1234 kB` line.
fn kib_field(text: &str, name: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(name))?;
    line[name.len()..].split_whitespace().next()?.parse().ok()
}

fn meminfo_kib(name: &str) -> Option<u64> {
    kib_field(&std::fs::read_to_string("/proc/meminfo").ok()?, name)
}
