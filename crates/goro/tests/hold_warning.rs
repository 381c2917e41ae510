//! The monitor's warning about a coroutine that holds its worker (goro-sched's hold.rs),
//! read through a logger installed by the test. Each case runs in a child process with
//! one worker: a coroutine named `hog` starts four siblings that sleep 1 ms at a time
//! (so they are homed on the worker and keep waking), then computes for a while.

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[path = "../../goro-context/tests/support/child.rs"]
mod child;

/// Records logged with the target `goro::hold`, at info level, naming `hog` (one of its
/// holds ended). Under load the OS may stop a sibling's thread for long enough to make
/// a hold of its own: those are not counted.
static ENDED: AtomicUsize = AtomicUsize::new(0);

/// Writes every record to stderr as `LOG <level> <target>: <message>`.
struct StderrLogger;

impl log::Log for StderrLogger {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let line = format!(
            "LOG {} {}: {}\n",
            record.level(),
            record.target(),
            record.args()
        );
        if line.starts_with("LOG INFO goro::hold: ") && line.contains("'hog'") {
            ENDED.fetch_add(1, Ordering::SeqCst);
        }
        let _ = std::io::stderr().write_all(line.as_bytes());
    }

    fn flush(&self) {}
}

static LOGGER: StderrLogger = StderrLogger;

/// How `hog` spends a stretch.
#[derive(Clone, Copy)]
enum How {
    /// Computes without a pause.
    Spin,
    /// Computes, with a `yield_now` every millisecond.
    Yielding,
    /// Sleeps in a raw system call, which the `hook` feature does not catch.
    Syscall,
}

/// In the child: runs `hog` as described in the module docs, one stretch of `each` per
/// entry of `holds`, yielding once between stretches. Prints `HOG <id> <spawn line>`.
fn hog(holds: &'static [How], each: Duration) {
    log::set_logger(&LOGGER).unwrap();
    log::set_max_level(log::LevelFilter::Info);
    let body = move || {
        let stop = Arc::new(AtomicBool::new(false));
        let started = goro::sync::WaitGroup::new();
        let siblings: Vec<_> = (0..4)
            .map(|_| {
                let (stop, started) = (stop.clone(), started.clone());
                started.add(1);
                goro::go!(move || {
                    started.done();
                    while !stop.load(Ordering::Relaxed) {
                        goro::sleep(Duration::from_millis(1));
                    }
                })
            })
            .collect();
        started.wait();
        for &how in holds {
            let start = Instant::now();
            let mut last_yield = start;
            while start.elapsed() < each {
                match how {
                    How::Spin => std::hint::spin_loop(),
                    How::Yielding => {
                        if last_yield.elapsed() >= Duration::from_millis(1) {
                            goro::yield_now();
                            last_yield = Instant::now();
                        }
                    }
                    How::Syscall => {
                        let left = each.saturating_sub(start.elapsed());
                        let ts = libc::timespec {
                            tv_sec: left.as_secs() as libc::time_t,
                            tv_nsec: left.subsec_nanos().into(),
                        };
                        // SAFETY: nanosleep reads `ts`, which lives across the call, and
                        // is given no remainder pointer.
                        unsafe {
                            libc::syscall(libc::SYS_nanosleep, &ts, std::ptr::null_mut::<()>())
                        };
                    }
                }
            }
            goro::yield_now();
        }
        stop.store(true, Ordering::Relaxed);
        for sibling in siblings {
            sibling.join().unwrap();
        }
        goro::current().unwrap().id()
    };
    let (handle, line) = (goro::Builder::new().name("hog").spawn(body), line!());
    let id = handle.unwrap().join().unwrap();
    eprintln!("HOG {id} {line}");
}

/// The `goro::hold` warnings about `hog` in a child's stderr, and its id and spawn line.
fn warnings(stderr: &str) -> (Vec<&str>, u64, u32) {
    let hog = stderr
        .lines()
        .find_map(|l| l.strip_prefix("HOG "))
        .unwrap_or_else(|| panic!("the child did not finish; stderr: {stderr}"));
    let (id, line) = hog.split_once(' ').unwrap();
    let warnings = stderr
        .lines()
        .filter(|l| l.starts_with("LOG WARN goro::hold: ") && l.contains("'hog'"))
        .collect();
    (warnings, id.parse().unwrap(), line.parse().unwrap())
}

#[test]
fn a_coroutine_that_holds_its_worker_is_named_once_per_hold() {
    const TEST: &str = "a_coroutine_that_holds_its_worker_is_named_once_per_hold";
    let Ok((status, stderr)) = child::in_child(TEST, &[("GORO_WORKERS", "1")]) else {
        // Two holds of 6x the default threshold (100 ms), a yield between them: one
        // computing, one asleep in the kernel.
        hog(&[How::Spin, How::Syscall], Duration::from_millis(600));
        // Each hold's end is logged after it; wait for both (the process would exit
        // before the pool thread logs them).
        let until = Instant::now() + Duration::from_secs(20);
        while ENDED.load(Ordering::SeqCst) < 2 && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(5));
        }
        return;
    };
    assert!(status.success(), "{stderr}");
    let (warnings, id, line) = warnings(&stderr);
    assert_eq!(warnings.len(), 2, "one warning per hold; stderr: {stderr}");
    let site = format!("(spawned at crates/goro/tests/hold_warning.rs:{line}:");
    for warning in &warnings {
        assert!(
            warning.contains(&format!("coroutine {id} 'hog' {site}")),
            "{warning}"
        );
        assert!(warning.contains("has held worker 0 for "), "{warning}");
        assert!(warning.contains("goro::blocking"), "{warning}");
        let waiting: usize = warning
            .split_once(" without parking or yielding; ")
            .and_then(|(_, rest)| rest.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no count of waiting coroutines: {warning}"));
        assert!(
            waiting > 0,
            "the sleeping siblings wait for the hog: {warning}"
        );
    }
    // The advice follows what the thread does at the first look past the threshold.
    assert!(
        warnings[0].contains("Its thread is running") && warnings[0].contains("yield_now"),
        "{}",
        warnings[0]
    );
    assert!(
        warnings[1].contains("asleep in a system call"),
        "{}",
        warnings[1]
    );
    let ended = stderr
        .lines()
        .filter(|l| l.starts_with("LOG INFO goro::hold: ") && l.contains("'hog'"))
        .filter(|l| l.contains("let go of worker 0 after "))
        .count();
    assert_eq!(ended, 2, "each hold's end is logged; stderr: {stderr}");
}

#[test]
fn a_coroutine_that_yields_is_not_named() {
    const TEST: &str = "a_coroutine_that_yields_is_not_named";
    // The threshold is wall time: on a loaded machine the OS may stop the worker's
    // thread (or the whole process, under a CPU quota) for a few hundred milliseconds
    // between two yields, and that counts as a hold. A second is far above that; the
    // stretch lasts 2.5x as long, so without the yields it would warn.
    let env = [("GORO_WORKERS", "1"), ("GORO_HOLD_WARN_MS", "1000")];
    let Ok((status, stderr)) = child::in_child(TEST, &env) else {
        return hog(&[How::Yielding], Duration::from_millis(2500));
    };
    assert!(status.success(), "{stderr}");
    let (warnings, _, _) = warnings(&stderr);
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[test]
fn zero_turns_the_warning_off() {
    const TEST: &str = "zero_turns_the_warning_off";
    let env = [("GORO_WORKERS", "1"), ("GORO_HOLD_WARN_MS", "0")];
    let Ok((status, stderr)) = child::in_child(TEST, &env) else {
        return hog(&[How::Spin], Duration::from_millis(600));
    };
    assert!(status.success(), "{stderr}");
    let (warnings, _, _) = warnings(&stderr);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert!(!stderr.contains("LOG INFO goro::hold"), "{stderr}");
}
