//! The monitor thread (Go's sysmon): notices a worker stuck in one coroutine and
//! keeps the rest of the runtime moving.
//!
//! goro cannot preempt running code (there is no sound way to interrupt arbitrary Rust
//! code at an arbitrary instruction), so a coroutine that makes a blocking syscall or
//! computes for a long time holds its worker. Every few milliseconds the monitor:
//! 1. Reads each worker's `tick` (odd while a coroutine runs). A worker whose tick is
//!    odd and has not changed for `STUCK` (10 ms) is stuck in one coroutine.
//! 2. Rescues a stuck worker, at most every `STUCK` while it stays stuck: moves its
//!    stealable work (coroutines that have not started, and with migration allowed its
//!    `next` one) to the global queue; then, if the global queue holds work, wakes an
//!    idle worker, or starts a spare worker if none is idle or spinning and a spare adds
//!    capacity (spare.rs: its thread is blocked in the kernel, or it computes or spawns
//!    while no other worker makes progress; a spawning worker keeps its deque). Work that
//!    arrives later in the same episode gets the same treatment on a later round.
//!    Spare workers retire when they are idle with no coroutine homed on them.
//!    Coroutines that already started on the stuck worker wait for it: in the default
//!    mode they may only run on its thread.
//! 3. Fires timers that are overdue by more than `LATE` on workers that are not firing
//!    them (stuck, or retired): firing only makes coroutines runnable elsewhere or queues
//!    them for their home.
//! 4. Polls for I/O without blocking if descriptors are registered and nobody has polled
//!    for `POLL_LATE` (10 ms) nor owns the poller: every worker is busy in long
//!    coroutines, so nobody else delivers I/O (Go's sysmon does the same). The coroutines
//!    it wakes go to their home workers' queues.
//! 5. Every 100 ms, trims the stack pool's shared free list.
//! 6. Names a coroutine that holds its worker for longer than `GORO_HOLD_WARN_MS`
//!    (100 ms): one warning per hold through the `log` crate (hold.rs).
//!
//! It sleeps 1 ms between rounds while any coroutine runs, backing off to 10 ms when
//! the runtime is idle.

use std::thread;
use std::time::{Duration, Instant};

use crate::runtime::Runtime;

const STUCK: Duration = Duration::from_millis(10);
const LATE: u64 = 2_000_000; // ns
const TRIM_EVERY: Duration = Duration::from_millis(100);
const POLL_LATE: Duration = Duration::from_millis(10);

pub(crate) fn start(rt: &'static Runtime) {
    thread::Builder::new()
        .name("goro-sysmon".into())
        .spawn(move || run(rt))
        .expect("failed to start the goro monitor thread");
}

struct Seen {
    tick: u64,
    since: Instant,
    last_rescue: Option<Instant>,
    spare: crate::spare::Watch,
}

fn run(rt: &'static Runtime) {
    let mut deadlock = crate::dump::Deadlock::new();
    let mut holds = crate::hold::Holds::new();
    let schedtrace = crate::dump::schedtrace_period();
    let mut last_trace = Instant::now();
    let mut seen: Vec<Seen> = Vec::new();
    let mut last_trim = Instant::now();
    let mut delay = Duration::from_millis(1);
    loop {
        thread::sleep(delay);
        let now = Instant::now();
        let now_ns = rt.nanos(now);
        crate::dump::tick_clock(now_ns);
        let active = rt.active();
        while seen.len() < active {
            seen.push(Seen {
                tick: 0,
                since: now,
                last_rescue: None,
                spare: crate::spare::Watch::new(rt, seen.len()),
            });
        }
        let mut busy = false;
        let mut stuck = Vec::new();
        for (index, seen) in seen.iter_mut().enumerate().take(active) {
            let tick = rt.worker_ticks(index);
            let running = tick % 2 == 1;
            busy |= running;
            if tick != seen.tick || !running {
                *seen = Seen {
                    tick,
                    since: now,
                    last_rescue: None,
                    spare: crate::spare::Watch::new(rt, index),
                };
            } else if now.duration_since(seen.since) >= STUCK
                && seen
                    .last_rescue
                    .is_none_or(|at| now.duration_since(at) >= STUCK)
            {
                seen.last_rescue = Some(now);
                stuck.push((index, seen.spare.look(rt, index)));
            }
            holds.check(rt, index, seen.tick, seen.since, now);
            let timers = rt.timers(index);
            if timers.next().saturating_add(LATE) <= now_ns {
                timers.fire_due(now_ns);
            }
        }
        for (index, found) in stuck {
            // Awake and between coroutines, or in a short one. Not one spawning in a long
            // one: it runs nothing from the queues either (spare.rs).
            let others_progress = (0..active).any(|other| {
                let seen = &seen[other];
                other != index
                    && rt.worker_awake(other)
                    && (seen.tick % 2 == 0 || now.duration_since(seen.since) < STUCK)
            });
            rt.rescue(index, found, others_progress);
        }
        if let Some(poller) = crate::poll::active() {
            if !poller.is_owned() && poller.since_last_poll() >= POLL_LATE {
                poller.poll(Some(Duration::ZERO), false);
            }
        }
        if let Some(period) = schedtrace {
            if now.duration_since(last_trace) >= period {
                last_trace = now;
                eprintln!("{}", crate::dump::schedtrace_line(rt));
            }
        }
        deadlock.check(rt, now);
        if now.duration_since(last_trim) >= TRIM_EVERY {
            last_trim = now;
            goro_stack::trim_shared();
        }
        delay = if busy {
            Duration::from_millis(1)
        } else {
            (delay * 2).min(Duration::from_millis(10))
        };
    }
}
