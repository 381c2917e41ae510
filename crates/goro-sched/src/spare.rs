//! When the monitor starts a spare worker for a stuck one: only when the spare adds
//! capacity.
//!
//! A spare is a fresh thread with an empty processor. In the default mode it can run
//! only *stealable* work (coroutines that have not started, in the global queue or a
//! deque): the coroutines already homed on the stuck worker wait for it whatever else
//! runs. So a spare helps only if stealable work waits and either
//! - nobody else would run it soon: every other worker with a thread is asleep (then
//!   one is woken instead), or itself stuck in a coroutine (spawning or not: a worker
//!   inside a coroutine runs nothing from the queues); or
//! - the stuck worker's thread is blocked in the kernel (a syscall, a lock): it uses
//!   no CPU, so a spare takes over a core the configured workers left unused.
//!
//! and, in the first case, the stuck worker's thread is really working in its
//! coroutine: it spawned since the monitor's last look, or it had the CPU for a while
//! between the monitor's last looks and spawned nothing meanwhile (known from the third
//! look of an episode on, 30 ms in). A thread the kernel left waiting for a core (a
//! loaded machine) is not known to hog anything, and one more thread would wait for the
//! same cores.
//!
//! A stuck worker that is still spawning (its coroutine has not returned to the
//! scheduler, but its `spawned` count moved since the monitor last looked) and whose
//! thread is on the CPU (not asleep in the kernel at two looks in a row) keeps its
//! deque: it is producing the work that idle workers steal from it (each spawn wakes
//! one), as a fan-out does. Moving that work to the global queue or starting spares for
//! it puts more threads than cores on the machine (every one of them contending for the
//! spawner's deque and for malloc) and runs no more work than the configured workers
//! would; with one worker its children wait until it parks. The global queue then holds
//! only other work (from plain threads, timers, the poller): that gets a spare by the
//! rule above, so a coroutine that spawns now and then in a long computation does not
//! hold it up. Unless an earlier look of the episode found the worker not spawning (the
//! kernel kept it off the CPU, say) and moved its deque to the global queue: then that
//! may hold its own children, and no spare starts for them while it spawns.

use std::time::Duration;

use crate::runtime::Runtime;

/// CPU time a stuck worker's thread must have used since the monitor's last look (10 ms
/// or more before) for its coroutine to count as computing, if it spawned nothing
/// meanwhile. A spawning coroutine spawns many times in this much CPU time (a spawn
/// takes well under 10 us, even unoptimized); a thread that had less was kept off the
/// CPU by the kernel, and its `spawned` count tells nothing.
const HOG_CPU: Duration = Duration::from_millis(1);

/// Looks in a row (10 ms or more apart) at which a stuck worker must have computed
/// without spawning before it counts as hogging: two, so that one long spawn (the
/// spawner's deque growing, say: a copy of every queued coroutine) is not taken for a
/// computation.
const HOG_LOOKS: u32 = 2;

/// Looks in a row at which a stuck worker's thread must have been asleep in the kernel
/// for its spawns to stop counting as a fan-out: two, so that a spawner that met a
/// contended lock once keeps its deque.
const ASLEEP_LOOKS: u32 = 2;

/// The monitor's memory of one worker for this module, from the start of a stuck
/// episode.
pub(crate) struct Watch {
    spawned: u64,
    cpu: Option<u64>,
    /// Looks in a row at which the thread had the CPU for `HOG_CPU` and spawned nothing.
    quiet: u32,
    /// Looks in a row at which the thread was asleep in the kernel.
    asleep: u32,
    /// A look of this episode found it not spawning, so its rescue moved its deque to
    /// the global queue: that may hold the worker's own children since.
    gave_deque: bool,
}

/// What the monitor found at a look at a stuck worker ([`Watch::look`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Stuck {
    /// Its `spawned` count moved since the last look, and its thread was not asleep in
    /// the kernel at `ASLEEP_LOOKS` looks in a row: leave its deque to thieves.
    pub(crate) spawning: bool,
    /// Its thread is off the CPU in the kernel (or its state is unknown).
    pub(crate) blocked: bool,
    /// Its thread is computing: on the CPU for at least `HOG_CPU`, and spawning
    /// nothing, since each of the last `HOG_LOOKS` looks (so known from the third look
    /// of an episode on, 30 ms in).
    pub(crate) hogging: bool,
    /// An earlier look of this episode gave its deque away: the global queue may hold
    /// its own children, which are no reason for a spare while it spawns.
    pub(crate) gave_deque: bool,
}

impl Watch {
    /// At the start of an episode (the worker resumed a coroutine since the last round).
    pub(crate) fn new(rt: &Runtime, index: usize) -> Watch {
        Watch {
            spawned: rt.worker_spawned(index),
            cpu: None,
            quiet: 0,
            asleep: 0,
            gave_deque: false,
        }
    }

    /// Whether the worker spawned since the last look.
    pub(crate) fn spawning(&self, rt: &Runtime, index: usize) -> bool {
        rt.worker_spawned(index) != self.spawned
    }

    /// Looks at a stuck worker (at most every few milliseconds: it reads `/proc`).
    pub(crate) fn look(&mut self, rt: &Runtime, index: usize) -> Stuck {
        let spawning = self.spawning(rt, index);
        self.spawned = rt.worker_spawned(index);
        let gave_deque = self.gave_deque;
        let Some((state, cpu)) = thread_state(rt.worker_tid(index)) else {
            self.gave_deque |= !spawning;
            return Stuck {
                spawning,
                blocked: true,
                hogging: false,
                gave_deque,
            };
        };
        let ran = self.cpu.map(|before| cpu.saturating_sub(before));
        self.cpu = Some(cpu);
        let running = state == 'R';
        if running && !spawning && ran.is_some_and(|ns| ns >= HOG_CPU.as_nanos() as u64) {
            self.quiet += 1;
        } else {
            self.quiet = 0;
        }
        self.asleep = if running { 0 } else { self.asleep + 1 };
        // A spawner that keeps sleeping in the kernel between spawns (a loop that waits
        // on a `std` channel or lock) is no fan-out at CPU speed: with no thief (one
        // worker) its children would wait for as long as it loops. Its deque goes to
        // the global queue, and (blocked) a spare runs it.
        let spawning = spawning && self.asleep < ASLEEP_LOOKS;
        self.gave_deque |= !spawning;
        Stuck {
            spawning,
            blocked: !running,
            hogging: self.quiet >= HOG_LOOKS,
            gave_deque,
        }
    }
}

impl Stuck {
    /// Whether a spare worker would add capacity, given that stealable work waits in
    /// the global queue and no worker is idle or spinning. `others_progress`: some
    /// other worker with a thread is awake and not stuck.
    pub(crate) fn spare_helps(self, others_progress: bool) -> bool {
        self.blocked || ((self.hogging || (self.spawning && !self.gave_deque)) && !others_progress)
    }
}

/// The calling thread's kernel thread id (Linux), for [`Watch::look`]; 0 elsewhere.
pub(crate) fn thread_id() -> i32 {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        nix::unistd::gettid().as_raw()
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        0
    }
}

/// Thread `tid` of this process: its scheduler state (`R` running or runnable, `S` or
/// `D` asleep in the kernel, ...: field 3 of `/proc/self/task/<tid>/stat`). `None`
/// where it cannot be read. The monitor's one reader of thread states (hold.rs too).
pub(crate) fn kernel_state(tid: i32) -> Option<char> {
    if tid <= 0 {
        return None;
    }
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?;
    // "tid (comm) S ...": the name may hold spaces and parentheses; the state follows
    // the last ')'.
    let end = stat.rfind(')')?;
    stat[end + 1..].trim_start().chars().next()
}

/// Thread `tid`'s state ([`kernel_state`]) and the CPU time it has used, in
/// nanoseconds (`schedstat`). `None` where they cannot be read.
fn thread_state(tid: i32) -> Option<(char, u64)> {
    let state = kernel_state(tid)?;
    let sched = std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat")).ok()?;
    let cpu = sched.split_whitespace().next()?.parse().ok()?;
    Some((state, cpu))
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
    use std::sync::{Arc, Barrier};
    use std::time::{Duration, Instant};

    /// Asks `thread_state` about a thread that sleeps in the kernel, then about one
    /// that computes (retrying: a computing thread is briefly off the CPU on a page
    /// fault or an interrupt only rarely, and the test allows a few seconds).
    #[test]
    fn tells_a_sleeping_thread_from_a_computing_one() {
        let tid = Arc::new(AtomicI32::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let ready = Arc::new(Barrier::new(2));
        let sleeper = {
            let (tid, ready) = (tid.clone(), ready.clone());
            std::thread::spawn(move || {
                tid.store(thread_id(), Ordering::SeqCst);
                ready.wait();
                std::thread::sleep(Duration::from_secs(1));
            })
        };
        ready.wait();
        std::thread::sleep(Duration::from_millis(50));
        assert_ne!(thread_state(tid.load(Ordering::SeqCst)).unwrap().0, 'R');
        sleeper.join().unwrap();

        let spinner = {
            let (tid, stop, ready) = (tid.clone(), stop.clone(), ready.clone());
            std::thread::spawn(move || {
                tid.store(thread_id(), Ordering::SeqCst);
                ready.wait();
                while !stop.load(Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
            })
        };
        ready.wait();
        let tid = tid.load(Ordering::SeqCst);
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut seen_running = false;
        while !seen_running && Instant::now() < deadline {
            seen_running = thread_state(tid).unwrap().0 == 'R';
        }
        stop.store(true, Ordering::Relaxed);
        spinner.join().unwrap();
        assert!(seen_running, "a spinning thread never read as running");
    }
}
