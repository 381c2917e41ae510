//! Seeing inside: dumps of every live coroutine, the deadlock report, the dump on a
//! signal, and schedtrace lines. ARCHITECTURE.md ("Dumps and the deadlock report") has
//! the prose; in short:
//!
//! 1. Each task carries what a dump shows (`task::Info`): its spawn site and name (fixed
//!    at spawn), its coroutine id (at first run), and its last wait: a `WaitReason`, the
//!    user's call site, and the coarse clock, three `Relaxed` stores made by `park_on`
//!    only when the coroutine really suspends.
//! 2. A task is listed in its home worker's registry (worker.rs) from its first run to
//!    its end; a dump walks the registries a chunk at a time (`Runtime::for_each_task`).
//!    Coroutines spawned but not started yet sit in run queues only: a dump counts them.
//! 3. The coarse clock is the monitor's: it stores the time at every round (1-10 ms), so
//!    a park pays a load, not a clock read.
//! 4. Plain threads parked in a goro operation without a deadline are counted
//!    (`park_thread`): the deadlock rule needs them.

use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::panic::Location;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::loom::{AtomicI32, AtomicU64, AtomicUsize, Ordering};
use crate::park::{Wait, WaitReason};
use crate::runtime::{self, Runtime};
use crate::task::Seen;

/// The monitor's clock: nanoseconds since the runtime's epoch, at its last round.
static COARSE_NOW: AtomicU64 = AtomicU64::new(0);
/// Plain threads parked in a goro operation without a deadline, right now.
static PARKED_THREADS: AtomicUsize = AtomicUsize::new(0);
/// Incremented when a plain thread enters or leaves such a park.
static THREAD_PARKS: AtomicU64 = AtomicU64::new(0);
/// Coroutines leaked parked because their last handle was dropped (task.rs): live in
/// the counts, gone from the registries.
static ABANDONED: AtomicUsize = AtomicUsize::new(0);
/// Whether the dump-on-signal thread runs (it counts as one of goro's threads).
static SIGNAL_THREADS: AtomicUsize = AtomicUsize::new(0);
/// The write end of the dump-on-signal pipe, or -1.
static SIGNAL_PIPE: AtomicI32 = AtomicI32::new(-1);

/// The coarse clock, for `Task::record_wait`.
#[inline]
pub(crate) fn coarse_now() -> u64 {
    COARSE_NOW.load(Ordering::Relaxed)
}

/// Advances the coarse clock; the monitor calls it every round.
pub(crate) fn tick_clock(now: u64) {
    COARSE_NOW.store(now, Ordering::Relaxed);
}

/// Counts a coroutine abandoned while parked.
pub(crate) fn abandoned() {
    ABANDONED.fetch_add(1, Ordering::Relaxed);
}

/// `park` on a plain thread: counted while it lasts, for the deadlock rule.
pub(crate) fn park_thread() {
    PARKED_THREADS.fetch_add(1, Ordering::SeqCst);
    THREAD_PARKS.fetch_add(1, Ordering::SeqCst);
    thread::park();
    THREAD_PARKS.fetch_add(1, Ordering::SeqCst);
    PARKED_THREADS.fetch_sub(1, Ordering::SeqCst);
}

/// What a coroutine is doing, in a [`Dump`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CoroutineState {
    /// Running on a worker right now.
    Running,
    /// Ready to run, waiting in a run queue.
    Runnable,
    /// Parked: waiting for a channel, a lock, a timer, a socket...
    Parked,
}

impl CoroutineState {
    /// `"running"`, `"runnable"` or `"parked"`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(goro_sched::CoroutineState::Parked.as_str(), "parked");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            CoroutineState::Running => "running",
            CoroutineState::Runnable => "runnable",
            CoroutineState::Parked => "parked",
        }
    }
}

/// One coroutine in a [`Dump`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct CoroutineDump {
    /// Its id (as `goro::current().id()` gives it).
    pub id: u64,
    /// Its name, if it was given one.
    pub name: Option<Arc<str>>,
    /// Running, runnable or parked.
    pub state: CoroutineState,
    /// For a parked coroutine: what it waits for and where (`None` if it parked
    /// without saying, which goro's own operations never do).
    pub wait: Option<Wait>,
    /// For a parked coroutine: for how long, to the monitor's clock (1-10 ms steps).
    pub waiting_for: Option<Duration>,
    /// Where it was spawned (the caller of `go!`, `spawn` or `Builder::spawn`).
    pub spawn_site: &'static Location<'static>,
    /// The worker it lives on (its home).
    pub worker: usize,
}

/// Every live coroutine of the runtime: what [`dump`] returns.
///
/// `Display` prints a text dump that groups coroutines with the same state, wait reason
/// and sites, so a million coroutines parked in the same place print as one entry with
/// a count; [`Dump::to_json`] gives every coroutine, machine-readable.
#[derive(Clone, Debug, Default)]
pub struct Dump {
    coroutines: Vec<CoroutineDump>,
    not_started: usize,
    abandoned: usize,
    parked_threads: usize,
    took: Duration,
    longest_hold: Duration,
    uptime: Duration,
}

/// Takes a [`Dump`] of every live coroutine. Nothing is stopped: each worker's list of
/// coroutines is copied a chunk of 256 at a time (spawns and finishes on that worker
/// wait for the chunk, tens of microseconds; parks and unparks never wait), so a dump
/// of a busy runtime is a blur, not an instant: a million coroutines take a few hundred
/// milliseconds.
///
/// # Examples
///
/// ```
/// let h = goro_sched::spawn(Default::default(), || goro_sched::sleep(std::time::Duration::from_millis(50)))?;
/// let dump = goro_sched::dump();
/// println!("{dump}");
/// assert!(dump.coroutines().len() <= 1); // it may not have started yet
/// h.join().unwrap();
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn dump() -> Dump {
    match runtime::started_runtime() {
        Some(rt) => take(rt),
        None => Dump::default(),
    }
}

fn take(rt: &Runtime) -> Dump {
    let start = Instant::now();
    let now = rt.now();
    let live = rt.stats().live;
    let mut coroutines = Vec::with_capacity(live + live / 8 + 16);
    // A chunk is gathered into `chunk`, whose memory is touched once, and moved to
    // `coroutines` with the lock released: growing a vector, or faulting in its fresh
    // pages, under a worker's registry lock would hold up its spawns.
    let mut chunk = Vec::with_capacity(256);
    let longest_hold = rt.for_each_task(|visit| {
        let Some((task, worker, running)) = visit else {
            return coroutines.append(&mut chunk);
        };
        let (state, wait, since) = match task.seen() {
            Seen::Done => return,
            Seen::Runnable if running => (CoroutineState::Running, None, None),
            Seen::Runnable => (CoroutineState::Runnable, None, None),
            Seen::Parked { wait, since } => (CoroutineState::Parked, wait, Some(since)),
        };
        chunk.push(CoroutineDump {
            id: task.info.id.load(Ordering::Relaxed),
            name: task.info.name.clone(),
            state,
            wait,
            waiting_for: since.map(|since| Duration::from_nanos(now.saturating_sub(since))),
            spawn_site: task.info.spawn_site,
            worker,
        });
    });
    coroutines.sort_unstable_by_key(|c| c.id);
    let abandoned = ABANDONED.load(Ordering::Relaxed);
    Dump {
        not_started: live.saturating_sub(coroutines.len() + abandoned),
        abandoned,
        coroutines,
        parked_threads: PARKED_THREADS.load(Ordering::Relaxed),
        took: start.elapsed(),
        longest_hold,
        uptime: Duration::from_nanos(now),
    }
}

impl Dump {
    /// The coroutines that have started and not finished, by id.
    ///
    /// # Examples
    ///
    /// ```
    /// for c in goro_sched::dump().coroutines() {
    ///     println!("{} {:?} {}", c.id, c.name, c.state.as_str());
    /// }
    /// ```
    pub fn coroutines(&self) -> &[CoroutineDump] {
        &self.coroutines
    }

    /// Coroutines spawned but not started yet (they wait in run queues, where a dump
    /// does not look; it counts them).
    ///
    /// # Examples
    ///
    /// ```
    /// let _ = goro_sched::dump().not_started();
    /// ```
    pub fn not_started(&self) -> usize {
        self.not_started
    }

    /// The longest time the dump held one worker's registry, during which spawns and
    /// finishes on that worker waited (parks and unparks never wait for a dump).
    ///
    /// # Examples
    ///
    /// ```
    /// let dump = goro_sched::dump();
    /// assert!(dump.longest_hold() <= dump.took());
    /// ```
    pub fn longest_hold(&self) -> Duration {
        self.longest_hold
    }

    /// Coroutines abandoned while parked (every handle that could wake them dropped):
    /// they stay parked for good, counted as live, and are not listed.
    ///
    /// # Examples
    ///
    /// ```
    /// let _ = goro_sched::dump().abandoned();
    /// ```
    pub fn abandoned(&self) -> usize {
        self.abandoned
    }

    /// How long taking the dump took.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(goro_sched::dump().took() < std::time::Duration::from_secs(60));
    /// ```
    pub fn took(&self) -> Duration {
        self.took
    }

    /// The dump as one JSON object: `uptime_ms`, `took_us`, `longest_hold_us`,
    /// `not_started`, `abandoned`, `parked_threads`, and `coroutines`, an array of
    /// objects with `id`, `name`
    /// (string or null), `state` (`"running"`, `"runnable"`, `"parked"`), `reason`,
    /// `wait_site` and `waiting_ms` (null unless parked), `spawn_site` (sites are
    /// `"file:line:column"`) and `worker`.
    ///
    /// # Examples
    ///
    /// ```
    /// let json = goro_sched::dump().to_json();
    /// assert!(json.starts_with('{') && json.contains("\"coroutines\":["));
    /// ```
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(128 + 200 * self.coroutines.len());
        let _ = write!(
            out,
            "{{\"uptime_ms\":{},\"took_us\":{},\"longest_hold_us\":{},\"not_started\":{},\"abandoned\":{},\"parked_threads\":{},\"coroutines\":[",
            self.uptime.as_millis(),
            self.took.as_micros(),
            self.longest_hold.as_micros(),
            self.not_started,
            self.abandoned,
            self.parked_threads
        );
        for (i, c) in self.coroutines.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{{\"id\":{},\"name\":", c.id);
            match &c.name {
                Some(name) => json_string(&mut out, name),
                None => out.push_str("null"),
            }
            let _ = write!(out, ",\"state\":\"{}\",\"reason\":", c.state.as_str());
            match c.wait {
                Some(wait) => json_string(&mut out, wait.reason().as_str()),
                None => out.push_str("null"),
            }
            out.push_str(",\"wait_site\":");
            match c.wait {
                Some(wait) => json_string(&mut out, &wait.site().to_string()),
                None => out.push_str("null"),
            }
            out.push_str(",\"waiting_ms\":");
            match c.waiting_for {
                Some(d) => {
                    let _ = write!(out, "{}", d.as_millis());
                }
                None => out.push_str("null"),
            }
            out.push_str(",\"spawn_site\":");
            json_string(&mut out, &c.spawn_site.to_string());
            let _ = write!(out, ",\"worker\":{}}}", c.worker);
        }
        out.push_str("]}");
        out
    }
}

fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Coroutines with the same state, wait and spawn site: one entry of the text dump.
struct Group<'a> {
    first: &'a CoroutineDump,
    count: usize,
    ids: Vec<u64>,
    workers: Vec<usize>,
    shortest: Option<Duration>,
    longest: Option<Duration>,
}

type GroupKey = (
    CoroutineState,
    Option<WaitReason>,
    Option<&'static Location<'static>>,
    &'static Location<'static>,
);

/// Ids listed per group before "and N more".
const IDS_SHOWN: usize = 8;

impl fmt::Display for Dump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = |state| self.coroutines.iter().filter(|c| c.state == state).count();
        writeln!(
            f,
            "goro: {} coroutines ({} running, {} runnable, {} parked, {} not started yet, \
             {} abandoned), {} plain threads parked in goro; at {:.3} s, taken in {:?} \
             (longest hold {:?})",
            self.coroutines.len() + self.not_started + self.abandoned,
            count(CoroutineState::Running),
            count(CoroutineState::Runnable),
            count(CoroutineState::Parked),
            self.not_started,
            self.abandoned,
            self.parked_threads,
            self.uptime.as_secs_f64(),
            self.took,
            self.longest_hold,
        )?;
        let mut groups: HashMap<GroupKey, Group<'_>> = HashMap::new();
        let mut order: Vec<GroupKey> = Vec::new();
        for c in &self.coroutines {
            let key = (
                c.state,
                c.wait.map(|w| w.reason()),
                c.wait.map(|w| w.site()),
                c.spawn_site,
            );
            let group = groups.entry(key).or_insert_with(|| {
                order.push(key);
                Group {
                    first: c,
                    count: 0,
                    ids: Vec::new(),
                    workers: Vec::new(),
                    shortest: None,
                    longest: None,
                }
            });
            group.count += 1;
            if group.ids.len() < IDS_SHOWN {
                group.ids.push(c.id);
            }
            if !group.workers.contains(&c.worker) {
                group.workers.push(c.worker);
            }
            if let Some(d) = c.waiting_for {
                group.shortest = Some(group.shortest.map_or(d, |s| s.min(d)));
                group.longest = Some(group.longest.map_or(d, |l| l.max(d)));
            }
        }
        // Running first, then runnable, then parked; the biggest groups first.
        order.sort_by_key(|key| (key.0, std::cmp::Reverse(groups[key].count)));
        for key in &order {
            let g = &groups[key];
            let c = g.first;
            writeln!(f)?;
            if g.count == 1 {
                write!(f, "coroutine {}", c.id)?;
                if let Some(name) = &c.name {
                    write!(f, " '{name}'")?;
                }
            } else {
                write!(f, "{} coroutines", g.count)?;
            }
            write!(f, ": {}", c.state.as_str())?;
            if let Some(wait) = c.wait {
                write!(f, " on {}", wait.reason())?;
            }
            match (g.shortest, g.longest) {
                (Some(s), Some(l)) if g.count > 1 && l - s >= Duration::from_millis(10) => {
                    write!(f, " for {} to {}", Secs(s), Secs(l))?
                }
                (_, Some(l)) => write!(f, " for {}", Secs(l))?,
                _ => {}
            }
            writeln!(f)?;
            if let Some(wait) = c.wait {
                writeln!(f, "    waiting at {}", wait.site())?;
            }
            writeln!(f, "    spawned at {}", c.spawn_site)?;
            let mut workers = g.workers.clone();
            workers.sort_unstable();
            write!(f, "    on worker")?;
            if workers.len() > 1 {
                write!(f, "s")?;
            }
            for (i, w) in workers.iter().enumerate() {
                write!(f, "{}{w}", if i == 0 { " " } else { ", " })?;
            }
            if g.count > 1 {
                write!(f, "; ids")?;
                for (i, id) in g.ids.iter().enumerate() {
                    write!(f, "{}{id}", if i == 0 { " " } else { ", " })?;
                }
                if g.count > g.ids.len() {
                    write!(f, " and {} more", g.count - g.ids.len())?;
                }
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

/// A duration in seconds with a sensible precision.
struct Secs(Duration);

impl fmt::Display for Secs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.as_secs_f64();
        if secs < 10.0 {
            write!(f, "{secs:.2} s")
        } else {
            write!(f, "{secs:.0} s")
        }
    }
}

/// The deadlock detector, run by the monitor (sysmon.rs). The rule, checked every
/// `DEADLOCK_CHECK` and required to hold, unchanged, for `DEADLOCK_AFTER` (see
/// ARCHITECTURE.md, "The deadlock report", for why each part is there and its limits):
/// 1. At least one plain thread is parked in a goro operation with no deadline, and
///    every thread of the process is one of goro's own (workers, the monitor, idle
///    blocking-pool threads, the dump-on-signal thread) or such a parked thread
///    (`/proc/self/task` is counted).
/// 2. No worker runs a coroutine, no run queue holds one, no coroutine waits unstarted.
/// 3. No timer is pending, no blocking job is queued or running, no coroutine waits
///    for I/O readiness.
/// 4. Nothing ran meanwhile: the workers' resume ticks, spawn and finish counts, and
///    the plain threads' park entries and exits are all unchanged.
pub(crate) struct Deadlock {
    enabled: bool,
    last_check: Option<Instant>,
    /// When the rule first held, and the progress figures then.
    since: Option<(Instant, u64, u64)>,
}

const DEADLOCK_CHECK: Duration = Duration::from_millis(100);
const DEADLOCK_AFTER: Duration = Duration::from_millis(1000);

impl Deadlock {
    pub(crate) fn new() -> Deadlock {
        Deadlock {
            enabled: std::env::var_os("GORO_DEADLOCK").is_none_or(|v| v != "0"),
            last_check: None,
            since: None,
        }
    }

    /// One round of the monitor: reports the deadlock and exits with status 2 if the
    /// rule has held long enough.
    pub(crate) fn check(&mut self, rt: &Runtime, now: Instant) {
        if !self.enabled
            || self
                .last_check
                .is_some_and(|at| now.duration_since(at) < DEADLOCK_CHECK)
        {
            return;
        }
        self.last_check = Some(now);
        let figures = (rt.progress(), THREAD_PARKS.load(Ordering::SeqCst));
        if !asleep(rt) {
            self.since = None;
            return;
        }
        match self.since {
            Some((at, progress, parks)) if (progress, parks) == figures => {
                if now.duration_since(at) >= DEADLOCK_AFTER {
                    let dump = take(rt);
                    eprintln!("goro: all coroutines are asleep - deadlock!\n\n{dump}");
                    std::process::exit(2);
                }
            }
            _ => self.since = Some((now, figures.0, figures.1)),
        }
    }
}

/// Parts 1-3 of the rule, now.
fn asleep(rt: &Runtime) -> bool {
    let parked_threads = PARKED_THREADS.load(Ordering::SeqCst);
    if parked_threads == 0 {
        return false;
    }
    let stats = rt.stats();
    if stats.running != 0 || stats.runnable != 0 || stats.timers != 0 || rt.blocking.busy() {
        return false;
    }
    let ours = rt.worker_threads()
        + 1 // the monitor
        + rt.blocking.threads()
        + SIGNAL_THREADS.load(Ordering::SeqCst);
    let threads = std::fs::read_dir("/proc/self/task").map(Iterator::count);
    if threads.ok() != Some(ours + parked_threads) {
        return false;
    }
    let mut started = 0;
    let mut stuck = true;
    let _ = rt.for_each_task(|visit| match visit.map(|(task, _, _)| task.seen()) {
        None | Some(Seen::Done) => {}
        Some(Seen::Parked { wait, .. }) => {
            started += 1;
            if wait.is_some_and(|w| w.reason() == WaitReason::Io) {
                stuck = false;
            }
        }
        Some(Seen::Runnable) => {
            started += 1;
            stuck = false;
        }
    });
    stuck && started + ABANDONED.load(Ordering::Relaxed) == stats.live
}

/// `GORO_SCHEDTRACE=<ms>`: the period of schedtrace lines, if set (and valid).
pub(crate) fn schedtrace_period() -> Option<Duration> {
    let value = std::env::var("GORO_SCHEDTRACE").ok()?;
    match value.trim().parse::<u64>() {
        Ok(ms) if ms > 0 => Some(Duration::from_millis(ms)),
        _ => {
            eprintln!("goro: GORO_SCHEDTRACE={value:?} is not a period in milliseconds; ignored");
            None
        }
    }
}

/// One schedtrace line, in the spirit of Go's `GODEBUG=schedtrace`.
pub(crate) fn schedtrace_line(rt: &Runtime) -> String {
    let stats = rt.stats();
    let configured = rt.config.workers;
    let busy = stats.per_worker.iter().filter(|w| w.busy).count();
    let spares = stats
        .per_worker
        .iter()
        .filter(|w| w.thread && w.index >= configured)
        .count();
    let stack = goro_stack::stats().ok();
    let mut line = format!(
        "goro: SCHED {}ms: workers={} busy={} idle={} spinning={} spares={} runqueue={} [",
        rt.now() / 1_000_000,
        stats.workers,
        busy,
        stats.idle_workers,
        stats.spinning,
        spares,
        stats.injector,
    );
    for (i, w) in stats.per_worker.iter().filter(|w| w.thread).enumerate() {
        let _ = write!(line, "{}{}", if i == 0 { "" } else { " " }, w.queued);
    }
    let steals: u64 = stats.per_worker.iter().map(|w| w.steals).sum();
    let _ = write!(
        line,
        "] live={} runnable={} running={} parked={} timers={} blocking={} fds={} steals={} polls={} stacks={} stack_reserved={}MiB",
        stats.live,
        stats.runnable,
        stats.running,
        stats.parked,
        stats.timers,
        stats.blocking_threads,
        stats.registered_fds,
        steals,
        crate::poll::polls(),
        stack.map_or(0, |s| s.live),
        stack.map_or(0, |s| s.bytes_reserved >> 20),
    );
    line
}

/// `GORO_DUMP_SIGNAL=<signal>` (e.g. `QUIT`, `SIGUSR1`, `10`): prints a dump to stderr
/// whenever the process receives that signal. The handler only writes a byte to a
/// pipe (async-signal-safe); a thread of ours reads it and prints the dump.
pub(crate) fn start_signal_dump(rt: &'static Runtime) {
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};

    let Some(value) = std::env::var_os("GORO_DUMP_SIGNAL") else {
        return;
    };
    let value = value.to_string_lossy().trim().to_ascii_uppercase();
    let signal = match value.parse::<i32>() {
        Ok(n) => Signal::try_from(n).ok(),
        Err(_) if value.starts_with("SIG") => value.parse::<Signal>().ok(),
        Err(_) => format!("SIG{value}").parse::<Signal>().ok(),
    };
    let Some(signal) = signal.filter(|s| {
        !matches!(
            s,
            Signal::SIGKILL | Signal::SIGSTOP | Signal::SIGSEGV | Signal::SIGBUS
        )
    }) else {
        eprintln!("goro: GORO_DUMP_SIGNAL={value:?} is not a signal goro can use; ignored");
        return;
    };
    // The write end is non-blocking: the handler must never block on a full pipe.
    let pipe = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).and_then(|(read, write)| {
        use nix::fcntl::{FcntlArg, OFlag, fcntl};
        fcntl(&write, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).map(|_| (read, write))
    });
    let (read, write) = match pipe {
        Ok(fds) => fds,
        Err(e) => return eprintln!("goro: GORO_DUMP_SIGNAL: no pipe ({e}); ignored"),
    };
    SIGNAL_THREADS.store(1, Ordering::SeqCst);
    let spawned = thread::Builder::new()
        .name("goro-dump".into())
        .spawn(move || {
            let mut byte = [0u8; 64];
            loop {
                match nix::unistd::read(&read, &mut byte) {
                    Ok(0) => return,
                    Ok(_) => eprintln!("{}", take(rt)),
                    Err(nix::errno::Errno::EINTR) => {}
                    Err(_) => return,
                }
            }
        });
    if spawned.is_err() {
        SIGNAL_THREADS.store(0, Ordering::SeqCst);
        return eprintln!("goro: GORO_DUMP_SIGNAL: no thread; ignored");
    }
    // The write end lives for the whole process, for the handler.
    SIGNAL_PIPE.store(std::os::fd::IntoRawFd::into_raw_fd(write), Ordering::SeqCst);
    let action = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    // SAFETY: `on_signal` is async-signal-safe: it reads an atomic and calls write(2),
    // saving and restoring errno around it.
    if let Err(e) = unsafe { sigaction(signal, &action) } {
        eprintln!("goro: GORO_DUMP_SIGNAL: sigaction failed ({e}); ignored");
    }
}

extern "C" fn on_signal(_: nix::libc::c_int) {
    let fd = SIGNAL_PIPE.load(Ordering::Relaxed);
    if fd < 0 {
        return;
    }
    let errno = nix::errno::Errno::last_raw();
    // SAFETY: `fd` is the pipe's write end, kept open for the life of the process;
    // write(2) is async-signal-safe. A full pipe (dumps already pending) drops the byte.
    let _ = unsafe { nix::libc::write(fd, [1u8].as_ptr().cast(), 1) };
    nix::errno::Errno::set_raw(errno);
}
