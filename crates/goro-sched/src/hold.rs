//! Saying who holds a worker: the monitor's warning about a coroutine that runs for
//! long without giving its worker back (Java's pinned-thread event, for goro).
//!
//! 1. Every round the monitor (sysmon.rs) passes each worker's resume `tick` and since
//!    when it has seen that tick to `Holds::check`. A tick that is odd and unchanged
//!    for the threshold (`GORO_HOLD_WARN_MS`, default `DEFAULT_WARN`) is one coroutine
//!    holding the worker: an *episode*.
//! 2. Once per episode it names the coroutine: `Runtime::with_running_task` finds it by
//!    address in the registries, under their locks, and copies its id, name and spawn
//!    site. It counts the runnable coroutines that may only run on that worker
//!    (`Runtime::homed_waiting`), reads the worker thread's state in `/proc` (running,
//!    or asleep in the kernel), and logs one warning through the `log` crate (target
//!    `goro::hold`): asleep in a system call, wrap it in `goro::blocking`; running,
//!    yield in the loop.
//! 3. The episode ends when the worker's tick moves (the coroutine parked, yielded or
//!    finished); then it logs, at info level, how long the hold lasted and the most
//!    coroutines seen waiting for it meanwhile.
//!
//! The logger is user code: it may panic, block, or wait for a lock that the holding
//! coroutine itself holds (it may be stuck inside a logger). So the monitor never calls
//! it: each message is a job on the blocking pool, under `catch_unwind`. Without a
//! logger at warn level (`log::max_level`, one atomic load) nothing is looked up.

use std::panic::{self, AssertUnwindSafe, Location};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::runtime::Runtime;

/// The default threshold: long enough that a compute burst of a few milliseconds (the
/// monitor rescues the worker's other work after 10) does not warn, short enough that
/// a blocking call of a tenth of a second does.
const DEFAULT_WARN: Duration = Duration::from_millis(100);

/// The `log` target of the messages.
const TARGET: &str = "goro::hold";

/// The monitor's record of long holds, one slot per worker.
pub(crate) struct Holds {
    /// `None`: warnings are off (`GORO_HOLD_WARN_MS=0`).
    threshold: Option<Duration>,
    episodes: Vec<Option<Episode>>,
}

/// A hold that was reported and has not ended.
struct Episode {
    tick: u64,
    since: Instant,
    /// `None` if the lookup found no task (it cannot while the tick stays put): not
    /// reported, and not looked up again.
    holder: Option<Holder>,
    most_waiting: usize,
}

/// Who holds the worker: copied from its task under a registry lock.
struct Holder {
    id: u64,
    name: Option<Arc<str>>,
    spawn_site: &'static Location<'static>,
}

impl Holds {
    pub(crate) fn new() -> Holds {
        Holds {
            threshold: threshold_from_env(),
            episodes: Vec::new(),
        }
    }

    /// One round for worker `index`, whose tick the monitor has seen at `tick` since
    /// `since`.
    pub(crate) fn check(
        &mut self,
        rt: &'static Runtime,
        index: usize,
        tick: u64,
        since: Instant,
        now: Instant,
    ) {
        let Some(threshold) = self.threshold else {
            return;
        };
        if self.episodes.len() <= index {
            self.episodes.resize_with(index + 1, || None);
        }
        let slot = &mut self.episodes[index];
        if let Some(episode) = slot {
            if episode.tick == tick {
                episode.most_waiting = episode.most_waiting.max(rt.homed_waiting(index));
                return;
            }
            // 3. The tick moved: the hold is over (at most a round ago).
            let episode = slot.take().expect("just matched");
            if let Some(holder) = &episode.holder {
                let held = now.duration_since(episode.since);
                let line = ended(holder, index, held, episode.most_waiting);
                submit(rt, log::Level::Info, line);
            }
        }
        if tick % 2 == 0
            || now.duration_since(since) < threshold
            || log::Level::Warn > log::max_level()
        {
            return;
        }
        // 2. A new episode: name the holder, once.
        let holder = rt.with_running_task(index, tick, |task| Holder {
            id: task.info.id.load(crate::loom::Ordering::Relaxed),
            name: task.info.name.clone(),
            spawn_site: task.info.spawn_site,
        });
        let waiting = rt.homed_waiting(index);
        if let Some(holder) = &holder {
            let doing = thread_doing(rt.worker_tid(index));
            let line = warning(holder, index, now.duration_since(since), waiting, doing);
            submit(rt, log::Level::Warn, line);
        } else if rt.worker_ticks(index) != tick {
            return; // it let go meanwhile: no episode
        }
        *slot = Some(Episode {
            tick,
            since,
            holder,
            most_waiting: waiting,
        });
    }
}

/// `GORO_HOLD_WARN_MS=<ms>`: the threshold; `0` turns the warning off. Unset (or not a
/// number, which is reported): `DEFAULT_WARN`.
fn threshold_from_env() -> Option<Duration> {
    let Ok(value) = std::env::var("GORO_HOLD_WARN_MS") else {
        return Some(DEFAULT_WARN);
    };
    match value.trim().parse::<u64>() {
        Ok(0) => None,
        Ok(ms) => Some(Duration::from_millis(ms)),
        Err(_) => {
            eprintln!(
                "goro: GORO_HOLD_WARN_MS={value:?} is not a time in milliseconds; \
                 using {} ms",
                DEFAULT_WARN.as_millis()
            );
            Some(DEFAULT_WARN)
        }
    }
}

impl Holder {
    /// `coroutine 7 'name' (spawned at src/main.rs:12:5)`.
    fn describe(&self) -> String {
        let mut out = format!("coroutine {}", self.id);
        if let Some(name) = &self.name {
            out.push_str(&format!(" '{name}'"));
        }
        out.push_str(&format!(" (spawned at {})", self.spawn_site));
        out
    }
}

/// What the holder's thread is doing, from the kernel's view of it: the advice
/// depends on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Doing {
    /// Running or runnable (`R`): computing.
    Running,
    /// Asleep in a system call (`S`, `D`): a lock, a file, a call goro does not hook.
    InKernel,
    /// `/proc` did not say.
    Unknown,
}

/// Reads the state of thread `tid` of this process (`/proc/self/task/<tid>/stat`).
fn thread_doing(tid: i32) -> Doing {
    if tid == 0 {
        return Doing::Unknown;
    }
    let Ok(stat) = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")) else {
        return Doing::Unknown;
    };
    // "<tid> (<name>) <state> ...": the name may hold spaces and parentheses.
    let state = stat
        .rfind(')')
        .and_then(|end| stat[end + 1..].trim_start().chars().next());
    match state {
        Some('R') => Doing::Running,
        Some('S' | 'D') => Doing::InKernel,
        _ => Doing::Unknown,
    }
}

fn warning(holder: &Holder, index: usize, held: Duration, waiting: usize, doing: Doing) -> String {
    let advice = match doing {
        Doing::Running => {
            "Its thread is running: a long computation. Call `goro::yield_now()` in its \
             loop now and then, or run it in `goro::blocking(|| ...)`"
        }
        Doing::InKernel => {
            "Its thread is asleep in a system call that does not park the coroutine (a \
             `std::sync` lock, a file, a raw system call): wrap that call in \
             `goro::blocking(|| ...)`"
        }
        Doing::Unknown => {
            "Wrap a blocking call in `goro::blocking(|| ...)`, or call `goro::yield_now()` \
             in a long loop"
        }
    };
    format!(
        "{} has held worker {index} for {} ms without parking or yielding; {waiting} \
         coroutine{} that may only run on that worker {} waiting for it. {advice} \
         (docs/CAVEATS.md, \"Blocking the thread\")",
        holder.describe(),
        held.as_millis(),
        if waiting == 1 { "" } else { "s" },
        if waiting == 1 { "is" } else { "are" },
    )
}

fn ended(holder: &Holder, index: usize, held: Duration, most_waiting: usize) -> String {
    format!(
        "{} let go of worker {index} after {} ms; up to {most_waiting} coroutine{} waited \
         for it",
        holder.describe(),
        held.as_millis(),
        if most_waiting == 1 { "" } else { "s" },
    )
}

/// Logs `line` from the blocking pool (module docs: the logger is user code). A message
/// that finds no pool thread is dropped.
fn submit(rt: &'static Runtime, level: log::Level, line: String) {
    if level > log::max_level() {
        return;
    }
    let job = Box::new(move || {
        let logged = panic::catch_unwind(AssertUnwindSafe(|| {
            log::log!(target: TARGET, level, "{line}");
        }));
        if let Err(payload) = logged {
            crate::report_panic("logging that a coroutine held a worker", payload);
        }
    });
    let _ = rt.blocking.submit(job);
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn the_warning_names_the_coroutine_and_the_remedies() {
        let holder = Holder {
            id: 7,
            name: Some("hog".into()),
            spawn_site: Location::caller(),
        };
        let line = warning(&holder, 0, Duration::from_millis(104), 3, Doing::Unknown);
        assert!(line.starts_with("coroutine 7 'hog' (spawned at "), "{line}");
        assert!(line.contains("src/hold.rs:"), "{line}");
        assert!(line.contains("held worker 0 for 104 ms"), "{line}");
        assert!(line.contains("3 coroutines that may only run on that worker are"));
        assert!(line.contains("goro::blocking") && line.contains("goro::yield_now"));
        let line = ended(&holder, 0, Duration::from_millis(512), 1);
        assert!(line.starts_with("coroutine 7 'hog' (spawned at "), "{line}");
        assert!(line.ends_with("let go of worker 0 after 512 ms; up to 1 coroutine waited for it"));
        let unnamed = Holder {
            name: None,
            ..holder
        };
        let line = warning(&unnamed, 1, Duration::from_millis(100), 1, Doing::Running);
        assert!(line.starts_with("coroutine 7 (spawned at "), "{line}");
        assert!(line.contains("1 coroutine that may only run on that worker is"));
        assert!(line.contains("running") && line.contains("goro::yield_now"));
        let line = warning(&unnamed, 1, Duration::from_millis(100), 0, Doing::InKernel);
        assert!(line.contains("0 coroutines that may only run on that worker are"));
        assert!(line.contains("system call") && !line.contains("goro::yield_now"));
    }

    #[test]
    fn a_thread_is_running_or_asleep_in_the_kernel() {
        assert_eq!(thread_doing(nix::unistd::gettid().as_raw()), Doing::Running);
        let (tid_tx, tid_rx) = std::sync::mpsc::channel();
        let (wake_tx, wake_rx) = std::sync::mpsc::channel::<()>();
        let sleeper = std::thread::spawn(move || {
            tid_tx.send(nix::unistd::gettid().as_raw()).unwrap();
            let _ = wake_rx.recv(); // a futex wait, in the kernel
        });
        let tid = tid_rx.recv().unwrap();
        // It goes to sleep moments after sending.
        let until = Instant::now() + Duration::from_secs(10);
        let mut doing = thread_doing(tid);
        while doing != Doing::InKernel && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(1));
            doing = thread_doing(tid);
        }
        assert_eq!(doing, Doing::InKernel);
        wake_tx.send(()).unwrap();
        sleeper.join().unwrap();
        assert_eq!(thread_doing(0), Doing::Unknown);
    }
}
