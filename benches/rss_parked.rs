//! Comparison (a plain program printing a table, not criterion): resident memory per
//! parked task at 1M tasks, goro in both scheduling modes side by side with tokio, may
//! and Go. Target: goro at most 4,400 bytes per parked coroutine.
//!
//! Each contestant runs in a fresh child process (the bench binary re-executed with
//! `GORO_BENCH_CHILD=rss:<peer>`, or benches/go/main.go), which:
//! 1. starts its runtime with 2 workers and warms it up (one task spawned and joined),
//!    and allocates whatever bookkeeping the measurement itself needs: setup, not
//!    measured;
//! 2. reads its RSS (/proc/self/statm);
//! 3. spawns N tasks from the main thread, each of which parks until released:
//!    - goro: `goro_sched::park()` in a loop on a release flag, after leaving its
//!      `current_unparker()` in a pre-allocated, pre-touched slot (24 B, not counted);
//!      all parked once `goro::stats().parked` reaches N;
//!    - tokio: awaits one shared `tokio::sync::Notify` (`notified()`, enabled first, so
//!      a counter tells when all are registered);
//!    - may: `may::coroutine::park()` in a loop; spawning stops at the first failure;
//!    - Go: a receive on one shared channel;
//! 4. waits until all are parked (plus 200 ms), reads its RSS again, and reports
//!    (after - before) / N; then releases them all and times that.
//!
//! may maps every stack separately with an mprotect guard: two kernel mappings per
//! coroutine, so with `vm.max_map_count` = 65530 it cannot have more than ~32.7k
//! coroutines. Its child reports how far it got and the RSS per coroutine there; a child
//! that crashes or hangs is reported and the table goes on.
//!
//! Run with `cargo bench -p goro-benches --bench rss_parked` (about a minute, ~5 GB of
//! RAM at peak). `GORO_BENCH_N=100000` for a smaller N.

mod common;

use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use common::{CHILD_ENV, run_once};

const WORKERS: usize = 2;
const CONTESTANTS: [&str; 5] = ["goro_default", "goro_migration", "tokio", "may", "go"];

fn tasks() -> usize {
    std::env::var("GORO_BENCH_N")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000)
}

/// What a child reports.
#[derive(Debug, Default)]
struct Report {
    parked: u64,
    before: u64,
    after: u64,
    release_ms: f64,
    failed: Option<String>,
}

impl Report {
    fn parse(out: &str) -> Option<Report> {
        let line = out.lines().find(|l| l.starts_with("parked="))?;
        let mut r = Report::default();
        for field in line.split(' ') {
            let (k, v) = field.split_once('=')?;
            match k {
                "parked" => r.parked = v.parse().ok()?,
                "rss_before" => r.before = v.parse().ok()?,
                "rss_after" => r.after = v.parse().ok()?,
                "release_ms" => r.release_ms = v.parse().ok()?,
                _ => {}
            }
        }
        r.failed = line
            .split_once(" failed=")
            .map(|(_, why)| why.trim().to_owned());
        Some(r)
    }

    fn print(&self) {
        let mut line = format!(
            "parked={} rss_before={} rss_after={} release_ms={:.1}",
            self.parked, self.before, self.after, self.release_ms
        );
        if let Some(why) = &self.failed {
            line.push_str(&format!(" failed={why}"));
        }
        println!("{line}");
    }

    fn per_task(&self) -> f64 {
        self.after.saturating_sub(self.before) as f64 / self.parked.max(1) as f64
    }
}

fn main() {
    if let Some(peer) = common::child_peer("rss") {
        child(&peer, tasks());
        return;
    }
    if common::quick() {
        return; // `cargo test --benches`: nothing quick to check
    }
    let n = tasks();
    println!("load average at start: {}", common::loadavg());
    println!("RSS per parked task, {n} tasks, {WORKERS} workers, one fresh process each\n");
    let mut results: Vec<(&str, Result<Report, String>)> = Vec::new();
    for peer in CONTESTANTS {
        let cmd = if peer == "go" {
            common::go_command(WORKERS, &["rss", &n.to_string()])
        } else {
            let mut cmd = Command::new(std::env::current_exe().expect("the bench binary"));
            cmd.env(CHILD_ENV, format!("rss:{peer}"))
                .env("GORO_BENCH_N", n.to_string());
            Some(cmd)
        };
        let Some(cmd) = cmd else {
            results.push((peer, Err("skipped (no Go toolchain)".into())));
            continue;
        };
        let started = Instant::now();
        let result = run_once(peer, cmd, Duration::from_secs(300)).and_then(|out| {
            Report::parse(&out).ok_or_else(|| format!("{peer}: no report in {out:?}"))
        });
        match &result {
            Ok(r) => println!(
                "  {peer:<15} {:>9} parked, {:>6.0} B each, released in {:.0} ms ({:.1} s in all){}",
                r.parked,
                r.per_task(),
                r.release_ms,
                started.elapsed().as_secs_f64(),
                r.failed
                    .as_deref()
                    .map_or(String::new(), |w| format!("; stopped: {w}"))
            ),
            Err(e) => println!("  {peer:<15} failed: {e}"),
        }
        results.push((peer, result));
    }

    let goro = |i: usize| match &results[i].1 {
        Ok(r) if r.failed.is_none() => Some(r.per_task()),
        _ => None,
    };
    let (default, migration) = (goro(0), goro(1));
    println!("\nload average now {}\n", common::loadavg());
    println!(
        "| {:<15} | {:>10} | {:>12} | {:>17} | {:>19} | {:>10} |",
        "contestant", "parked", "RSS / task", "goro_default/peer", "goro_migration/peer", "release"
    );
    println!(
        "|{:-<17}|{:->12}|{:->14}|{:->19}|{:->21}|{:->12}|",
        "", "", "", "", "", ""
    );
    for (peer, result) in &results {
        match result {
            Ok(r) => {
                let per = r.per_task();
                let note = if r.failed.is_some() { " (max)" } else { "" };
                println!(
                    "| {:<15} | {:>10} | {:>10.0} B | {:>17} | {:>19} | {:>7.0} ms |",
                    format!("{peer}{note}"),
                    r.parked,
                    per,
                    common::ratio(default, Some(per)),
                    common::ratio(migration, Some(per)),
                    r.release_ms
                );
            }
            Err(e) => match progress(e) {
                // It got this far before it died: its RSS per coroutine there.
                Some((spawned, bytes)) => {
                    let per = bytes as f64 / spawned as f64;
                    println!(
                        "| {:<15} | {:>10} | {:>10.0} B | {:>17} | {:>19} | {:>10} |",
                        format!("{peer} (died)"),
                        format!("{spawned}+"),
                        per,
                        common::ratio(default, Some(per)),
                        common::ratio(migration, Some(per)),
                        "-"
                    );
                }
                None => println!(
                    "| {:<15} | {:>10} | {:>12} | {:>17} | {:>19} | {:>10} |",
                    peer, "failed", "-", "-", "-", "-"
                ),
            },
        }
    }
    for (peer, result) in &results {
        match result {
            Err(e) => println!("{peer}: {e}"),
            Ok(Report {
                failed: Some(why), ..
            }) => println!("{peer}: stopped early: {why}"),
            Ok(_) => {}
        }
    }
}

/// From a failed child's message, its last "progress: K spawned, RSS B B above the
/// baseline" line: (K, B).
fn progress(failure: &str) -> Option<(u64, u64)> {
    let rest = &failure[failure.rfind("progress: ")? + "progress: ".len()..];
    let mut words = rest.split_whitespace();
    let spawned = words.next()?.trim_end_matches(',').parse().ok()?;
    let bytes = words.nth(2)?.parse().ok()?;
    Some((spawned, bytes))
}

// ---- children: one contestant each, printing one `Report` line ----

fn child(peer: &str, n: usize) {
    match peer {
        "goro_default" | "goro_migration" => {
            // SAFETY: (allow_migration) the coroutines of this process hold no
            // thread-local reference and no `!Send` value across a blocking call (they
            // park on a flag).
            unsafe { common::init_goro(peer, WORKERS) };
            goro_parked(n).print();
        }
        "tokio" => tokio_parked(n).print(),
        "may" => may_parked(n).print(),
        other => panic!("unknown rss contestant {other}"),
    }
}

/// Polls `done` every 10 ms for up to 2 minutes.
fn wait_for(mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !done() {
        if Instant::now() > deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(10));
    }
    true
}

fn goro_parked(n: usize) -> Report {
    // Setup, not measured: the runtime's workers are running and warm, and the slots
    // where each coroutine leaves its unparker are allocated and touched.
    goro::go!(|| ()).join().expect("a warm-up coroutine");
    let slots: Arc<Vec<OnceLock<goro_sched::Unparker>>> =
        Arc::new((0..n).map(|_| OnceLock::new()).collect());
    let released = Arc::new(AtomicBool::new(false));
    let finished = Arc::new(AtomicUsize::new(0));

    let before = common::rss_bytes();
    for i in 0..n {
        let (slots, released, finished) = (slots.clone(), released.clone(), finished.clone());
        // Detached: the coroutine is reached through its unparker, not its handle.
        drop(goro::go!(move || {
            let _ = slots[i].set(goro_sched::current_unparker());
            while !released.load(Ordering::Acquire) {
                goro_sched::park();
            }
            finished.fetch_add(1, Ordering::Relaxed);
        }));
    }
    let all_parked = wait_for(|| goro::stats().parked >= n);
    thread::sleep(Duration::from_millis(200));
    let after = common::rss_bytes();
    let parked = goro::stats().parked;

    let start = Instant::now();
    released.store(true, Ordering::Release);
    for slot in slots.iter() {
        if let Some(unparker) = slot.get() {
            unparker.unpark();
        }
    }
    let all_finished = wait_for(|| finished.load(Ordering::Relaxed) == n);
    Report {
        parked: parked as u64,
        before,
        after,
        release_ms: start.elapsed().as_secs_f64() * 1e3,
        failed: (!all_parked || !all_finished).then(|| {
            format!(
                "parked {parked}, finished {}",
                finished.load(Ordering::Relaxed)
            )
        }),
    }
}

fn tokio_parked(n: usize) -> Report {
    // Setup, not measured: the runtime's workers are running and warm.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .build()
        .expect("a tokio runtime");
    rt.block_on(async { tokio::spawn(async {}).await })
        .expect("a warm-up task");
    let notify = Arc::new(tokio::sync::Notify::new());
    let parked = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicUsize::new(0));

    let before = common::rss_bytes();
    for _ in 0..n {
        let (notify, parked, finished) = (notify.clone(), parked.clone(), finished.clone());
        // Detached, as the goro coroutines are.
        drop(rt.spawn(async move {
            let mut notified = std::pin::pin!(notify.notified());
            notified.as_mut().enable(); // registered from here on
            parked.fetch_add(1, Ordering::Relaxed);
            notified.await;
            finished.fetch_add(1, Ordering::Relaxed);
        }));
    }
    let all_parked = wait_for(|| parked.load(Ordering::Relaxed) == n);
    thread::sleep(Duration::from_millis(200));
    let after = common::rss_bytes();

    let start = Instant::now();
    notify.notify_waiters();
    let all_finished = wait_for(|| finished.load(Ordering::Relaxed) == n);
    Report {
        parked: parked.load(Ordering::Relaxed) as u64,
        before,
        after,
        release_ms: start.elapsed().as_secs_f64() * 1e3,
        failed: (!all_parked || !all_finished).then(|| "not all parked or finished".into()),
    }
}

fn may_parked(n: usize) -> Report {
    // Setup, not measured: the runtime's workers are running and warm, and the handle
    // vector is allocated.
    may::config().set_workers(WORKERS);
    may::go!(|| ()).join().expect("a warm-up coroutine");
    let released = Arc::new(AtomicBool::new(false));
    let parked = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    let mut handles = Vec::with_capacity(n);
    // may panics ("failed to alloc sys stack") when the kernel refuses a mapping: keep
    // that message short and on one line.
    std::panic::set_hook(Box::new(|_| {}));

    let before = common::rss_bytes();
    let mut failed = None;
    for _ in 0..n {
        let (released, parked, finished) = (released.clone(), parked.clone(), finished.clone());
        let spawned = std::panic::catch_unwind(move || {
            may::go!(move || {
                parked.fetch_add(1, Ordering::Relaxed);
                while !released.load(Ordering::Acquire) {
                    may::coroutine::park();
                }
                finished.fetch_add(1, Ordering::Relaxed);
            })
        });
        match spawned {
            Ok(handle) => {
                handles.push(handle);
                if handles.len() % 1024 == 0 {
                    // may aborts the process (not a panic) when even malloc finds the
                    // mapping budget spent: leave a trace of how far it got.
                    println!(
                        "progress: {} spawned, RSS {} B above the baseline",
                        handles.len(),
                        common::rss_bytes().saturating_sub(before)
                    );
                }
            }
            Err(payload) => {
                let msg = payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_else(|| "a panic".into());
                failed = Some(format!(
                    "spawn #{} panicked: {}",
                    handles.len() + 1,
                    msg.replace('\n', " ")
                ));
                break;
            }
        }
    }
    let spawned = handles.len();
    let all_parked = wait_for(|| parked.load(Ordering::Relaxed) == spawned);
    thread::sleep(Duration::from_millis(200));
    let after = common::rss_bytes();

    let start = Instant::now();
    released.store(true, Ordering::Release);
    for h in &handles {
        h.coroutine().unpark();
    }
    let all_finished = wait_for(|| finished.load(Ordering::Relaxed) == spawned);
    if failed.is_none() && !(all_parked && all_finished) {
        failed = Some("not all parked or finished".into());
    }
    Report {
        parked: spawned as u64,
        before,
        after,
        release_ms: start.elapsed().as_secs_f64() * 1e3,
        failed,
    }
}
