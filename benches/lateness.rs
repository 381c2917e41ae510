//! Comparison: how late do coroutines that sleep 1 ms in a loop wake up while a few
//! others block their threads in system calls? Side by side with Go, may and tokio.
//!
//! Shape (issue 12, the same for every contestant): 2 workers; 200 coroutines sleep
//! 1 ms in a loop; after 50 ms, 4 coroutines each make ONE blocking call of 300 ms; 50
//! ms after those return, the sleepers stop. The figure is the worst lateness (time
//! asleep beyond the 1 ms asked for) of any sleeper in the run. Every run is a fresh
//! process (runtimes are process-global, and a spare worker started in one run must not
//! help the next); [`RUNS`] runs per contestant; the table shows min/median/max.
//!
//! The blocking call is `std::thread::sleep(300 ms)`, which is what a sync library's
//! blocking call looks like to a runtime: a system call that does not return for 300 ms.
//! - `goro_hook`: goro's default mode with feature `hook` (the default): the sleep
//!   parks the coroutine (`clock_nanosleep` is hooked).
//! - `goro_nohook`: goro's default mode where the call is not hooked: the same sleep as
//!   a raw `nanosleep` system call (what `std::thread::sleep` is with
//!   `default-features = false`, or what a raw-syscall user does).
//! - `goro_baseline`: goro's default mode where the 4 coroutines call `goro::sleep`
//!   (300 ms) instead: the lateness of the sleepers over the same window with nothing
//!   blocking, which on a loaded machine is not zero.
//! - `goro_migration`: the raw call with `unsafe { allow_migration() }`.
//! - `go`: `syscall.Nanosleep` (benches/go/main.go), GOMAXPROCS=2: Go's sysmon hands
//!   the blocked thread's P to another thread.
//! - `may`: `std::thread::sleep` in a may coroutine (may has no hooks), 2 workers.
//! - `tokio`: `std::thread::sleep` in a task of a 2-worker multi-thread runtime.
//!
//! Sleepers sleep with their runtime's own timer (`goro::sleep`, `time.Sleep`,
//! `may::coroutine::sleep`, `tokio::time::sleep`).
//!
//! Run with `cargo bench -p goro-benches --bench lateness` (about a minute).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

const WORKERS: usize = 2;
const SLEEPERS: usize = 200;
const BLOCKERS: usize = 4;
const TICK: Duration = Duration::from_millis(1);
const BLOCK: Duration = Duration::from_millis(300);
const SETTLE: Duration = Duration::from_millis(50);
/// Fresh processes per contestant.
const RUNS: usize = 7;

const CONTESTANTS: [&str; 7] = [
    "goro_hook",
    "goro_baseline",
    "goro_nohook",
    "goro_migration",
    "go",
    "may",
    "tokio",
];

fn main() {
    if let Some(peer) = common::child_peer("lateness") {
        child(&peer);
        return;
    }
    if common::quick() {
        // `cargo test --benches`: one run of goro with the hook, to show it works.
        let mut server = common::server("lateness", "goro_hook", WORKERS).expect("goro");
        server.run(1, 0);
        return;
    }
    println!("load average at start: {}", common::loadavg());
    let mut rows = Vec::new();
    for peer in CONTESTANTS {
        let mut worst_ms = Vec::new();
        for _ in 0..RUNS {
            let Some(mut server) = common::server("lateness", peer, WORKERS) else {
                break; // no Go toolchain
            };
            worst_ms.push(server.run(1, 0).as_secs_f64() * 1e3);
        }
        if worst_ms.is_empty() {
            println!("{peer}: skipped (no Go toolchain)");
            rows.push((peer, None));
            continue;
        }
        let runs: Vec<String> = worst_ms.iter().map(|w| format!("{w:.1}")).collect();
        println!("{peer}: worst lateness per run (ms): {}", runs.join(", "));
        let median = common::median(&mut worst_ms); // sorts
        rows.push((
            peer,
            Some((worst_ms[0], median, worst_ms[worst_ms.len() - 1])),
        ));
    }
    println!(
        "\nlateness: {SLEEPERS} coroutines sleeping 1 ms in a loop, {BLOCKERS} blocking calls \
         of 300 ms, {WORKERS} workers, {RUNS} fresh processes each; load average now {}\n",
        common::loadavg()
    );
    println!("| contestant     | worst lateness, ms: min | median |    max |");
    println!("|----------------|-------------------------|--------|--------|");
    for (peer, row) in rows {
        match row {
            Some((min, median, max)) => {
                println!("| {peer:<14} | {min:>23.1} | {median:>6.1} | {max:>6.1} |")
            }
            None => println!("| {peer:<14} | {:>23} | {:>6} | {:>6} |", "-", "-", "-"),
        }
    }
}

// ---- children: each runs one contestant once, answering with the worst lateness ----

/// The blocking call when it is not hooked: a raw `nanosleep` system call of `BLOCK`.
fn raw_block() {
    let ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: BLOCK.as_nanos() as libc::c_long,
    };
    // SAFETY: a valid timespec; a null remainder is allowed.
    unsafe {
        libc::syscall(
            libc::SYS_nanosleep,
            &raw const ts,
            std::ptr::null_mut::<u8>(),
        )
    };
}

/// What the sleepers share: the stop flag and the worst lateness seen (ns).
#[derive(Clone, Default)]
struct Shared {
    stop: Arc<AtomicBool>,
    worst: Arc<AtomicU64>,
}

impl Shared {
    /// One sleeper's loop, with `sleep` its runtime's 1 ms sleep.
    fn sleeper(&self, mut sleep: impl FnMut()) {
        let mut mine = Duration::ZERO;
        while !self.stop.load(Ordering::Relaxed) {
            let t = Instant::now();
            sleep();
            mine = mine.max(t.elapsed().saturating_sub(TICK));
        }
        self.worst
            .fetch_max(mine.as_nanos() as u64, Ordering::Relaxed);
    }

    fn worst(&self) -> Duration {
        Duration::from_nanos(self.worst.load(Ordering::Relaxed))
    }
}

fn child(peer: &str) {
    match peer {
        "goro_hook" | "goro_baseline" | "goro_nohook" | "goro_migration" => {
            let mode = if peer == "goro_migration" {
                "goro_migration"
            } else {
                "goro_default"
            };
            // SAFETY: (allow_migration) the coroutines of this process hold no
            // thread-local reference and no `!Send` value across a blocking call.
            unsafe { common::init_goro(mode, WORKERS) };
            let block: fn() = match peer {
                "goro_hook" => || thread::sleep(BLOCK),
                "goro_baseline" => || goro::sleep(BLOCK),
                _ => raw_block,
            };
            common::serve(|_, _| {
                let shared = Shared::default();
                let sleepers: Vec<_> = (0..SLEEPERS)
                    .map(|_| {
                        let s = shared.clone();
                        goro::go!(move || s.sleeper(|| goro::sleep(TICK)))
                    })
                    .collect();
                thread::sleep(SETTLE);
                let blockers: Vec<_> = (0..BLOCKERS).map(|_| goro::go!(block)).collect();
                blockers.into_iter().for_each(|b| b.join().unwrap());
                thread::sleep(SETTLE);
                shared.stop.store(true, Ordering::Relaxed);
                sleepers.into_iter().for_each(|s| s.join().unwrap());
                shared.worst()
            });
        }
        "may" => {
            may::config().set_workers(WORKERS);
            common::serve(|_, _| {
                let shared = Shared::default();
                let sleepers: Vec<_> = (0..SLEEPERS)
                    .map(|_| {
                        let s = shared.clone();
                        may::go!(move || s.sleeper(|| may::coroutine::sleep(TICK)))
                    })
                    .collect();
                thread::sleep(SETTLE);
                let blockers: Vec<_> = (0..BLOCKERS)
                    .map(|_| may::go!(|| thread::sleep(BLOCK)))
                    .collect();
                blockers.into_iter().for_each(|b| b.join().unwrap());
                thread::sleep(SETTLE);
                shared.stop.store(true, Ordering::Relaxed);
                sleepers.into_iter().for_each(|s| s.join().unwrap());
                shared.worst()
            });
        }
        "tokio" => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(WORKERS)
                .enable_time()
                .build()
                .expect("a tokio runtime");
            common::serve(|_, _| {
                let shared = Shared::default();
                let sleepers: Vec<_> = (0..SLEEPERS)
                    .map(|_| {
                        let s = shared.clone();
                        rt.spawn(async move {
                            let mut mine = Duration::ZERO;
                            while !s.stop.load(Ordering::Relaxed) {
                                let t = Instant::now();
                                tokio::time::sleep(TICK).await;
                                mine = mine.max(t.elapsed().saturating_sub(TICK));
                            }
                            s.worst.fetch_max(mine.as_nanos() as u64, Ordering::Relaxed);
                        })
                    })
                    .collect();
                thread::sleep(SETTLE);
                let blockers: Vec<_> = (0..BLOCKERS)
                    .map(|_| rt.spawn(async { thread::sleep(BLOCK) }))
                    .collect();
                rt.block_on(async {
                    for b in blockers {
                        b.await.unwrap();
                    }
                });
                thread::sleep(SETTLE);
                shared.stop.store(true, Ordering::Relaxed);
                rt.block_on(async {
                    for s in sleepers {
                        s.await.unwrap();
                    }
                });
                shared.worst()
            });
        }
        other => panic!("unknown lateness contestant {other}"),
    }
}
