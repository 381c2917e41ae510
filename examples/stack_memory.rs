//! `stack_memory`: what a parked coroutine costs, next to a parked thread.
//!
//! The program starts N coroutines with `goro::go!` (default 100,000) and then N
//! threads with `std::thread::spawn` (default 10,000). Every task runs the same body:
//! it reports in, then parks with `goro_sched::park()` (which suspends a coroutine, its
//! worker running others meanwhile, and is `std::thread::park` on a plain thread) until
//! the program releases them all. Only once every task is parked does it measure, per
//! task:
//!
//! - **RSS/task**: resident memory added (`VmRSS` of `/proc/self/status`) over N. It
//!   includes the task's handle and its `Unparker` in this program's lists (24 bytes).
//! - **page tables/task**: memory the kernel spends mapping those pages (`VmPTE`), not
//!   part of RSS. Threads' kernel stacks (16 KiB each on x86_64) are in neither.
//! - **spawn/task**: wall time from the first spawn until all N are parked, over N.
//! - **mappings**: kernel mappings (VMAs, lines of `/proc/self/maps`) added. A process
//!   may have `vm.max_map_count` of them (65,530 by default): that limit, not memory,
//!   is what stops a thread per task (several mappings each), and coroutine libraries
//!   that map every stack separately (two each: about 32,700 coroutines).
//! - **guard**: how the guard page below each stack is made. goro uses
//!   `madvise(MADV_GUARD_INSTALL)` where the kernel has it (Linux 6.13+), which adds no
//!   mapping; glibc's thread stacks (and goro's fallback) use `mprotect`, which does.
//!
//! It measures at several N on the way up (100, 300, 1,000, ... up to N) and draws
//! RSS/task against N for both kinds of task into an SVG chart, by default
//! `stack_memory.svg` in the build's target directory (`$CARGO_TARGET_DIR`, else
//! `target/` in the workspace), so a run leaves the checkout as it was; `--chart PATH`
//! writes it elsewhere (`--chart docs/stack_memory.svg` refreshes the copy the docs
//! show). The default run takes a few seconds:
//!
//! ```text
//! cargo run --release -p goro-examples --example stack_memory
//! cargo run --release -p goro-examples --example stack_memory -- --coroutines 1000000
//! cargo run --release -p goro-examples --example stack_memory -- --help
//! ```
//!
//! To see goro without `MADV_GUARD_INSTALL` (every stack then costs two mappings, and
//! spawning stops with an error naming `vm.max_map_count` instead of crashing), run it
//! with `GORO_STACK_GUARD=mprotect`.

use std::any::Any;
use std::error::Error;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use goro_sched::Unparker;
use plotters::prelude::*;

const USAGE: &str = "\
usage: stack_memory [--coroutines N] [--threads N] [--chart PATH]

Parks N coroutines, then N threads, and prints what one costs: resident memory,
spawn time and kernel mappings. Draws memory per task against N into an SVG chart.

options:
  --coroutines N  coroutines to park (default 100,000; 0 skips them)
  --threads N     threads to park (default 10,000; 0 skips them; capped where
                  vm.max_map_count would run out)
  --chart PATH    where to write the chart (default: stack_memory.svg in
                  $CARGO_TARGET_DIR, else in the workspace's target/)
  -h, --help      print this help
";

/// Kernel mappings one thread may add: its stack and guard page, and the guarded
/// signal stack std gives every thread it spawns. A thread that cannot map its signal
/// stack aborts the process, so `--threads` is capped to stay clear of the limit.
const MAPPINGS_PER_THREAD: usize = 4;
/// Mappings left for everything else (the heap, malloc arenas, goro's arenas).
const MAPPING_MARGIN: usize = 2_000;

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
    match run(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("error: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn run(mut options: Options) -> Result<(), String> {
    // Start the runtime (workers, stack arenas) outside every measurement.
    goro::go!(|| ())
        .join()
        .map_err(|_| "the first coroutine failed")?;
    let stats = goro::stats();
    let max_map_count = read("/proc/sys/vm/max_map_count")?
        .trim()
        .parse()
        .unwrap_or(65_530);
    println!(
        "goro stack_memory: Linux {}, {} CPUs, {} goro workers, vm.max_map_count = {}",
        read("/proc/sys/kernel/osrelease")?.trim(),
        thread::available_parallelism().map_or(1, |n| n.get()),
        stats.workers,
        group(max_map_count),
    );

    let room = max_map_count.saturating_sub(count_mappings()? + MAPPING_MARGIN);
    if options.threads > room / MAPPINGS_PER_THREAD {
        options.threads = room / MAPPINGS_PER_THREAD;
        println!(
            "(--threads capped at {}: vm.max_map_count leaves room for no more)",
            group(options.threads)
        );
    }
    check_memory("coroutines", options.coroutines, 6 << 10)?;
    check_memory("threads", options.threads, 48 << 10)?;

    let coroutines = measure::<Coroutine>(options.coroutines)?;
    let threads = measure::<OsThread>(options.threads)?;
    for run in [&coroutines, &threads].into_iter().flatten() {
        print_run(run);
    }

    println!();
    if let (Some(c), Some(t)) = (&coroutines, &threads) {
        let (c, t) = (c.last(), t.last());
        println!(
            "Per task: a parked coroutine holds {} resident + {} of page tables; a parked \
             thread {} + {} ({:.1}x), plus a 16 KiB kernel stack that /proc does not show.",
            bytes(c.rss),
            bytes(c.page_tables),
            bytes(t.rss),
            bytes(t.page_tables),
            (t.rss + t.page_tables) / (c.rss + c.page_tables),
        );
        let coroutine_maps = c.mappings.max(0) as usize;
        println!(
            "{} coroutines took {} kernel mapping{} in all; {} threads took {}.",
            group(c.n),
            group(coroutine_maps),
            if coroutine_maps == 1 { "" } else { "s" },
            group(t.n),
            group(t.mappings.max(0) as usize),
        );
        let per_thread = t.mappings as f64 / t.n as f64;
        println!(
            "A thread costs {per_thread:.1} mappings: vm.max_map_count = {} stops threads at \
             about {}.",
            group(max_map_count),
            group((max_map_count as f64 / per_thread.max(1.0)) as usize),
        );
    }
    if coroutines.is_none() && threads.is_none() {
        println!("nothing to measure (both --coroutines and --threads are 0)");
        return Ok(());
    }
    let series: Vec<&Run> = [&coroutines, &threads].into_iter().flatten().collect();
    draw_chart(&options.chart, &series)
        .map_err(|err| format!("cannot write {}: {err}", options.chart.display()))?;
    println!("chart: {}", options.chart.display());
    Ok(())
}

// ---------------------------------------------------------------------------------
// Command line

struct Options {
    coroutines: usize,
    threads: usize,
    chart: PathBuf,
}

/// Parses the flags (`--flag value` or `--flag=value`); `Ok(None)` means `--help`.
fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Options>, String> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace.join("target"), PathBuf::from);
    let mut options = Options {
        coroutines: 100_000,
        threads: 10_000,
        chart: target.join("stack_memory.svg"),
    };
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag.to_owned(), Some(value.to_owned())),
            None => (arg, None),
        };
        if flag == "-h" || flag == "--help" {
            return Ok(None);
        }
        let value = inline
            .or_else(|| args.next())
            .ok_or_else(|| format!("{flag} needs a value"))?;
        let number = || -> Result<usize, String> {
            value
                .replace(['_', ','], "")
                .parse()
                .map_err(|_| format!("{flag} takes a whole number, not {value:?}"))
        };
        match flag.as_str() {
            "--coroutines" => options.coroutines = number()?,
            "--threads" => options.threads = number()?,
            "--chart" => options.chart = PathBuf::from(&value),
            _ => return Err(format!("unknown argument {flag:?}")),
        }
    }
    Ok(Some(options))
}

/// Refuses a run that clearly does not fit in memory, rather than let the OOM killer
/// end it half way.
fn check_memory(what: &str, n: usize, estimate: usize) -> Result<(), String> {
    let available = read("/proc/meminfo")
        .ok()
        .and_then(|text| kib_field(&text, "MemAvailable:"));
    match available {
        Some(kib) if n.saturating_mul(estimate) > kib / 10 * 9 * 1024 => Err(format!(
            "{} {what} need about {} and this machine has {} available; ask for fewer with \
             --{what} N",
            group(n),
            bytes((n * estimate) as f64),
            bytes(kib as f64 * 1024.0),
        )),
        _ => Ok(()),
    }
}

// ---------------------------------------------------------------------------------
// Parked tasks

/// What every task shares with the measuring thread.
struct Gate {
    /// Set once, to let every task return.
    released: AtomicBool,
    /// One per task that has reported in, to wake it with.
    unparkers: Mutex<Vec<Unparker>>,
    /// How many tasks the measuring thread waits for.
    target: AtomicUsize,
    /// Wakes the measuring thread.
    main: Unparker,
}

/// The body of every task, coroutine or thread: report in, then park until released.
/// `goro_sched::park` may return spuriously (like `std::thread::park`), hence the loop.
fn park_until_released(gate: &Gate) {
    let arrived = {
        let mut unparkers = gate.unparkers.lock().unwrap();
        unparkers.push(goro_sched::current_unparker());
        unparkers.len()
    };
    if arrived >= gate.target.load(Ordering::Acquire) {
        gate.main.unpark();
    }
    while !gate.released.load(Ordering::Acquire) {
        goro_sched::park();
    }
}

/// A kind of task: how to start one running [`park_until_released`], and join it.
trait Task: Sized {
    /// The chart's legend and the table's heading.
    const NAME: &'static str;
    fn spawn(gate: Arc<Gate>) -> Result<Self, String>;
    /// Waits until the tasks that reported in have really parked.
    fn settle(n: usize) -> Result<(), String>;
    /// Stack size and guard mechanism.
    fn about() -> String;
    fn is_finished(&self) -> bool;
    /// The panic message if it panicked.
    fn join(self) -> Result<(), String>;
}

struct Coroutine(goro::JoinHandle<()>);

impl Task for Coroutine {
    const NAME: &'static str = "goro coroutines";

    fn spawn(gate: Arc<Gate>) -> Result<Self, String> {
        // `Builder::spawn` rather than `go!`, to report a failure (such as the mapping
        // budget under GORO_STACK_GUARD=mprotect) as an error instead of a panic.
        goro::Builder::new()
            .spawn(move || park_until_released(&gate))
            .map(Coroutine)
            .map_err(|err| format!("cannot spawn a coroutine: {err}"))
    }

    fn settle(n: usize) -> Result<(), String> {
        // A coroutine reports in just before it suspends; the runtime's count of
        // parked coroutines catches up microseconds later.
        let start = Instant::now();
        while goro::stats().parked < n {
            if start.elapsed() > Duration::from_secs(10) {
                return Err(format!(
                    "goro::stats() still counts fewer than {n} parked coroutines: {:?}",
                    goro::stats()
                ));
            }
            thread::yield_now();
        }
        Ok(())
    }

    fn about() -> String {
        let stack = goro_sched::config().map_or(0, |c| c.default_stack_size());
        format!(
            "{} stacks, guard: {}",
            bytes(stack as f64),
            goro::stats().stack_guard
        )
    }

    fn is_finished(&self) -> bool {
        self.0.is_finished()
    }

    fn join(self) -> Result<(), String> {
        self.0.join().map_err(panic_message)
    }
}

struct OsThread(thread::JoinHandle<()>);

impl Task for OsThread {
    const NAME: &'static str = "std threads";

    fn spawn(gate: Arc<Gate>) -> Result<Self, String> {
        thread::Builder::new()
            .spawn(move || park_until_released(&gate))
            .map(OsThread)
            .map_err(|err| format!("cannot spawn a thread: {err}"))
    }

    fn settle(_: usize) -> Result<(), String> {
        Ok(()) // a thread that reported in is a few instructions from its futex wait
    }

    fn about() -> String {
        let stack = std::env::var("RUST_MIN_STACK")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(2 << 20); // std's default
        format!("{} stacks, guard: mprotect (glibc)", bytes(stack as f64))
    }

    fn is_finished(&self) -> bool {
        self.0.is_finished()
    }

    fn join(self) -> Result<(), String> {
        self.0.join().map_err(panic_message)
    }
}

fn panic_message(payload: Box<dyn Any + Send>) -> String {
    match (
        payload.downcast_ref::<String>(),
        payload.downcast_ref::<&str>(),
    ) {
        (Some(msg), _) => msg.clone(),
        (_, Some(msg)) => (*msg).to_owned(),
        _ if payload.is::<goro::Exit>() => "it called goro::exit()".into(),
        _ => "a panic without a message".into(),
    }
}

/// One measurement: `n` tasks parked at once.
struct Point {
    n: usize,
    /// Resident bytes added, per task.
    rss: f64,
    /// Spawning the tasks added since the last point until all are parked, per task.
    spawn: Duration,
    /// Page-table bytes added, per task.
    page_tables: f64,
    /// Kernel mappings added (in total, not per task).
    mappings: i64,
}

struct Run {
    name: &'static str,
    /// Stack size and guard mechanism.
    about: String,
    points: Vec<Point>,
    /// Releasing and joining all of them.
    release: Duration,
    /// Why it stopped short of N, if it did.
    stopped: Option<String>,
}

impl Run {
    fn last(&self) -> &Point {
        self.points.last().unwrap()
    }
}

/// The N at which to measure on the way up to `n`: 100, 300, 1,000, 3,000, ..., `n`.
fn steps(n: usize) -> Vec<usize> {
    let mut steps = Vec::new();
    let mut decade = 100;
    while decade < n {
        steps.push(decade);
        if 3 * decade < n {
            steps.push(3 * decade);
        }
        decade *= 10;
    }
    steps.push(n);
    steps
}

/// Parks `n` tasks of kind `T`, measuring at each of [`steps`], then releases them.
///
/// The tasks accumulate: the run spawns 100 tasks and measures, spawns 200 more and
/// measures 300, and so on, always against the baseline taken before the first. Each
/// point is then the true cost per task with that many parked. Tearing down between
/// points would not be: freed coroutine stacks stay in goro's pool, resident and ready
/// for reuse, so the next point would reuse them and look almost free.
fn measure<T: Task>(n: usize) -> Result<Option<Run>, String> {
    if n == 0 {
        return Ok(None);
    }
    let gate = Arc::new(Gate {
        released: AtomicBool::new(false),
        unparkers: Mutex::new(Vec::with_capacity(n)),
        target: AtomicUsize::new(0),
        main: goro_sched::current_unparker(),
    });
    let mut tasks: Vec<T> = Vec::with_capacity(n); // both lists reserved outside the baseline
    let base = Snapshot::take()?;
    let mut points = Vec::new();
    let mut stopped = None;
    for step in steps(n) {
        let start = Instant::now();
        let added = step - tasks.len();
        if let Err(err) = park_more(&gate, &mut tasks, step) {
            stopped = Some(err);
            break;
        }
        let spawn = start.elapsed() / added as u32;
        let now = Snapshot::take()?;
        let per_task = |after: usize, before: usize| (after as f64 - before as f64) / step as f64;
        points.push(Point {
            n: step,
            rss: per_task(now.rss, base.rss),
            page_tables: per_task(now.page_tables, base.page_tables),
            spawn,
            mappings: now.mappings as i64 - base.mappings as i64,
        });
    }
    let about = T::about();

    // Release: raise the flag, then unpark each task; a task that has not parked yet
    // sees the flag or finds its permit, as `park` promises.
    let start = Instant::now();
    gate.released.store(true, Ordering::Release);
    for unparker in gate.unparkers.lock().unwrap().iter() {
        unparker.unpark();
    }
    let failed: Vec<String> = tasks.into_iter().filter_map(|t| t.join().err()).collect();
    let release = start.elapsed();
    match (stopped, failed.first()) {
        (Some(err), _) if points.is_empty() => Err(err),
        (None, Some(err)) => Err(format!("{} of the {} failed: {err}", failed.len(), T::NAME)),
        (stopped, _) => Ok(Some(Run {
            name: T::NAME,
            about,
            points,
            release,
            stopped,
        })),
    }
}

/// Spawns tasks until `step` are running, and waits until all of them are parked.
fn park_more<T: Task>(gate: &Arc<Gate>, tasks: &mut Vec<T>, step: usize) -> Result<(), String> {
    gate.target.store(step, Ordering::Release);
    while tasks.len() < step {
        tasks.push(T::spawn(gate.clone())?);
    }
    // The last task to report in unparks us. A task that ended instead (it could not
    // get a stack, say) never will: look for one now and then.
    while gate.unparkers.lock().unwrap().len() < step {
        goro_sched::park_until(Instant::now() + Duration::from_millis(100));
        if let Some(i) = tasks.iter().position(T::is_finished) {
            let err = tasks.swap_remove(i).join().err().unwrap_or_default();
            return Err(format!(
                "one of the {} ended before it parked: {err}",
                T::NAME
            ));
        }
    }
    T::settle(step)
}

// ---------------------------------------------------------------------------------
// Report

fn print_run(run: &Run) {
    println!();
    println!("{} ({})", run.name, run.about);
    println!(
        "{:>10}  {:>9}  {:>17}  {:>10}  {:>9}  {:>13}",
        "parked", "RSS/task", "page tables/task", "spawn/task", "mappings", "mappings/task"
    );
    for p in &run.points {
        println!(
            "{:>10}  {:>9}  {:>17}  {:>10}  {:>9}  {:>13.3}",
            group(p.n),
            bytes(p.rss),
            bytes(p.page_tables),
            nanos(p.spawn),
            format!("+{}", group(p.mappings.max(0) as usize)),
            p.mappings as f64 / p.n as f64,
        );
    }
    if let Some(err) = &run.stopped {
        println!("stopped: {err}");
    }
    println!("released and joined them all in {}", nanos(run.release));
}

/// Resident memory per task against N, one line per kind of task, log-scale N.
fn draw_chart(path: &Path, runs: &[&Run]) -> Result<(), Box<dyn Error>> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let points = runs.iter().flat_map(|r| &r.points);
    let x_min = points.clone().map(|p| p.n).min().unwrap_or(1) as f64;
    let x_max = points.clone().map(|p| p.n).max().unwrap_or(1) as f64;
    let y_max = points.map(|p| p.rss / 1024.0).fold(1.0, f64::max);

    let root = SVGBackend::new(path, (800, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "goro stack_memory: resident memory per parked task",
            ("sans-serif", 22),
        )
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(
            (x_min * 0.8..x_max * 1.25).log_scale(),
            0.0..(y_max * 1.15).ceil(),
        )?;
    chart
        .configure_mesh()
        .x_desc("tasks parked at once (log scale)")
        .y_desc("KiB resident per task")
        .x_label_formatter(&|x| group(*x as usize))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .draw()?;
    let colors = [RGBColor(0, 114, 178), RGBColor(213, 94, 0)];
    for (run, color) in runs.iter().zip(colors) {
        let data = run.points.iter().map(|p| (p.n as f64, p.rss / 1024.0));
        chart
            .draw_series(LineSeries::new(data, color.stroke_width(2)).point_size(4))?
            .label(format!("{} ({})", run.name, run.about))
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE)
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

/// `1234567` as `1,234,567`.
fn group(n: usize) -> String {
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

/// `4.1 KiB`, `137 B`, and `64 KiB` rather than `64.0 KiB`.
fn bytes(b: f64) -> String {
    let (mut value, mut unit) = (b, 0);
    while value.abs() >= 1024.0 && unit < 3 {
        value /= 1024.0;
        unit += 1;
    }
    let unit = ["B", "KiB", "MiB", "GiB"][unit];
    match value.fract() == 0.0 || unit == "B" {
        true => format!("{value:.0} {unit}"),
        false => format!("{value:.1} {unit}"),
    }
}

fn nanos(d: Duration) -> String {
    match d.as_nanos() {
        ns if ns < 10_000 => format!("{:.2} µs", ns as f64 / 1e3),
        ns if ns < 10_000_000 => format!("{:.0} µs", ns as f64 / 1e3),
        ns => format!("{:.0} ms", ns as f64 / 1e6),
    }
}

// ---------------------------------------------------------------------------------
// /proc

fn read(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|err| format!("cannot read {path}: {err}"))
}

/// What the kernel says about this process at one moment.
struct Snapshot {
    /// Resident memory in bytes (`VmRSS`).
    rss: usize,
    /// Page tables in bytes (`VmPTE`).
    page_tables: usize,
    /// Kernel mappings.
    mappings: usize,
}

impl Snapshot {
    fn take() -> Result<Snapshot, String> {
        let mappings = count_mappings()?;
        let status = read("/proc/self/status")?;
        let field = |name: &str| {
            kib_field(&status, name)
                .map(|kib| kib * 1024)
                .ok_or_else(|| format!("/proc/self/status has no {name} line"))
        };
        Ok(Snapshot {
            rss: field("VmRSS:")?,
            page_tables: field("VmPTE:")?,
            mappings,
        })
    }
}

/// Kernel mappings (VMAs) of this process: the lines of `/proc/self/maps`. Counted
/// through a fixed buffer: with 10,000 threads the file is megabytes, and reading it
/// into a `String` would itself move RSS.
fn count_mappings() -> Result<usize, String> {
    let mut file =
        File::open("/proc/self/maps").map_err(|err| format!("/proc/self/maps: {err}"))?;
    let mut buf = [0; 64 << 10];
    let mut lines = 0;
    loop {
        match file.read(&mut buf) {
            Ok(0) => return Ok(lines),
            Ok(len) => lines += buf[..len].iter().filter(|&&b| b == b'\n').count(),
            Err(err) => return Err(format!("/proc/self/maps: {err}")),
        }
    }
}

/// The number in a `Name:   1234 kB` line.
fn kib_field(text: &str, name: &str) -> Option<usize> {
    let line = text.lines().find(|l| l.starts_with(name))?;
    line[name.len()..].split_whitespace().next()?.parse().ok()
}
