//! The global runtime: its configuration, the per-worker slots, the global queue and
//! the idle counters; starting workers and spares, the clock timers count in, the
//! monitor's rescue, and the walks over every worker that dumps and stats make.
//!
//! The protocols live elsewhere: the run loop and the run queues in worker.rs, the idle
//! protocol in idle.rs, the thread-local worker and the door into the scheduler in
//! context.rs.

use std::ptr;
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_deque::{Injector, Steal, Worker as Deque};
use crossbeam_utils::CachePadded;

use crate::blocking::BlockingPool;
use crate::config::{Config, ConfigError};
use crate::loom::{AtomicBool, AtomicI32, AtomicPtr, AtomicU64, AtomicUsize, Mutex, Ordering};
use crate::registry::Registry;
use crate::task::Task;
use crate::timer::{self, Timers};
use crate::worker::{Shared, worker_main};

/// Spare workers the monitor may add beyond the configured count.
const MAX_SPARES: usize = 256;

/// The scheduler's global state, one per process (`RUNTIME`).
pub(crate) struct Runtime {
    pub(crate) config: Config,
    /// Every worker slot: the configured workers, then `MAX_SPARES` spare slots.
    pub(crate) workers: Box<[CachePadded<Shared>]>,
    /// Worker slots in use: `0..active` (spare slots are taken in order).
    pub(crate) active: AtomicUsize,
    /// The global queue: Gs spawned or (migratable ones) woken by plain threads, and
    /// those `rescue` moves off a stuck worker.
    pub(crate) injector: Injector<Arc<Task>>,
    /// The idle protocol's list of sleeping workers and its counters (idle.rs).
    pub(crate) idle: Mutex<Vec<usize>>,
    pub(crate) npidle: CachePadded<AtomicUsize>,
    pub(crate) nspinning: CachePadded<AtomicUsize>,
    /// Deques not yet owned by a thread (slots not started, or retired).
    pub(crate) deques: Mutex<Vec<Option<Deque<Arc<Task>>>>>,
    /// Time zero of the nanosecond clock timers count in (`nanos`).
    pub(crate) epoch: Instant,
    /// Coroutines spawned from plain threads (per-worker counts cover the rest).
    pub(crate) spawned_by_threads: AtomicU64,
    pub(crate) blocking: BlockingPool,
}

static RUNTIME: OnceLock<Result<Runtime, ConfigError>> = OnceLock::new();

/// The global runtime, started from the environment on first use.
pub(crate) fn runtime() -> Result<&'static Runtime, ConfigError> {
    let rt = RUNTIME.get_or_init(|| Config::from_env().and_then(Runtime::new));
    match rt {
        Ok(rt) => {
            rt.start();
            Ok(rt)
        }
        Err(err) => Err(err.clone()),
    }
}

/// The runtime if it has started; never starts it.
pub(crate) fn started_runtime() -> Option<&'static Runtime> {
    RUNTIME.get().and_then(|rt| rt.as_ref().ok())
}

pub(crate) fn init(config: Config) -> Result<(), ConfigError> {
    // An invalid configuration is rejected without touching the global: the caller
    // may fix it and try again.
    config.validate()?;
    let mut fresh = false;
    let rt = RUNTIME.get_or_init(|| {
        fresh = true;
        Runtime::new(config)
    });
    match rt {
        Err(err) => Err(err.clone()),
        Ok(_) if !fresh => Err(ConfigError(
            "the goro runtime is already running: configure it before the first spawn".into(),
        )),
        Ok(rt) => {
            rt.start();
            Ok(())
        }
    }
}

impl Runtime {
    pub(crate) fn new(config: Config) -> Result<Runtime, ConfigError> {
        config.validate()?;
        let slots = config.workers + MAX_SPARES;
        let mut deques = Vec::with_capacity(slots);
        let mut workers = Vec::with_capacity(slots);
        for _ in 0..slots {
            let deque = Deque::new_fifo();
            workers.push(CachePadded::new(Shared {
                stealer: deque.stealer(),
                inbox: Injector::new(),
                next: AtomicPtr::new(ptr::null_mut()),
                fresh: AtomicPtr::new(ptr::null_mut()),
                incoming: AtomicUsize::new(0),
                sleeping: AtomicBool::new(false),
                polling: AtomicBool::new(false),
                thread: Mutex::new(None),
                timers: Timers::new(),
                tick: AtomicU64::new(0),
                spawned: AtomicU64::new(0),
                finished: AtomicU64::new(0),
                home_len: AtomicUsize::new(0),
                homed: AtomicUsize::new(0),
                running: AtomicBool::new(false),
                resumed: AtomicPtr::new(ptr::null_mut()),
                steals: AtomicU64::new(0),
                placed: AtomicU64::new(0),
                handed_in: AtomicU64::new(0),
                registry: Registry::new(),
                tid: AtomicI32::new(0),
            }));
            deques.push(Some(deque));
        }
        Ok(Runtime {
            config,
            workers: workers.into_boxed_slice(),
            active: AtomicUsize::new(0),
            injector: Injector::new(),
            idle: Mutex::new(Vec::new()),
            npidle: CachePadded::new(AtomicUsize::new(0)),
            nspinning: CachePadded::new(AtomicUsize::new(0)),
            deques: Mutex::new(deques),
            epoch: Instant::now(),
            spawned_by_threads: AtomicU64::new(0),
            blocking: BlockingPool::new(),
        })
    }

    /// Starts the configured workers and the monitor, once.
    fn start(&'static self) {
        if self.active.load(Ordering::Acquire) != 0 {
            return;
        }
        static START: std::sync::Once = std::sync::Once::new();
        START.call_once(|| {
            for index in 0..self.config.workers {
                self.start_worker(index);
            }
            self.active.store(self.config.workers, Ordering::Release);
            crate::sysmon::start(self);
            crate::dump::start_signal_dump(self);
        });
    }

    fn start_worker(&'static self, index: usize) {
        let deque = self.deques.lock().unwrap_or_else(|e| e.into_inner())[index]
            .take()
            .expect("a worker slot's deque is free when the slot is started");
        self.workers[index].running.store(true, Ordering::Release);
        thread::Builder::new()
            .name(format!("goro-worker-{index}"))
            .spawn(move || worker_main(self, index, deque))
            .expect("failed to start a goro worker thread");
    }

    /// Starts a spare worker (the monitor found one stuck). Returns false at the cap.
    pub(crate) fn start_spare(&'static self) -> bool {
        for index in self.config.workers..self.workers.len() {
            let shared = &self.workers[index];
            if shared.running.load(Ordering::Acquire) {
                continue;
            }
            if self.deques.lock().unwrap_or_else(|e| e.into_inner())[index].is_none() {
                continue; // retiring right now
            }
            self.active.fetch_max(index + 1, Ordering::AcqRel);
            self.start_worker(index);
            return true;
        }
        false
    }

    /// Nanoseconds since the epoch, saturating below `timer::NONE` (584 years).
    pub(crate) fn nanos(&self, at: Instant) -> u64 {
        let nanos = at.saturating_duration_since(self.epoch).as_nanos();
        u64::try_from(nanos)
            .unwrap_or(u64::MAX)
            .min(timer::NONE - 1)
    }

    pub(crate) fn now(&self) -> u64 {
        self.nanos(Instant::now())
    }

    pub(crate) fn instant(&self, nanos: u64) -> Instant {
        self.epoch + Duration::from_nanos(nanos)
    }

    pub(crate) fn active(&self) -> usize {
        self.active.load(Ordering::Acquire)
    }

    /// The monitor found worker `index` stuck in one coroutine: move what others may
    /// run, and make sure someone runs whatever waits in the global queue, starting a
    /// spare only where it adds capacity (spare.rs). A worker that is spawning keeps
    /// its deque: idle workers steal from it.
    pub(crate) fn rescue(
        &'static self,
        index: usize,
        stuck: crate::spare::Stuck,
        others_progress: bool,
    ) {
        let shared = &self.workers[index];
        // A spawning worker keeps its unstarted children (deque and `fresh`) where
        // thieves find them: in the global queue they would pass for work nobody runs
        // and start a spare (spare.rs).
        if !stuck.spawning {
            loop {
                match shared.stealer.steal() {
                    Steal::Success(task) => self.injector.push(task),
                    Steal::Retry => continue,
                    Steal::Empty => break,
                }
            }
            let fresh = shared.fresh.swap(ptr::null_mut(), Ordering::AcqRel);
            if !fresh.is_null() {
                // SAFETY: `fresh` holds an `Arc::into_raw` pointer; we took it out.
                self.injector.push(unsafe { Arc::from_raw(fresh) });
            }
        }
        if self.config.allow_migration {
            let next = shared.next.swap(ptr::null_mut(), Ordering::AcqRel);
            if !next.is_null() {
                // SAFETY: `next` holds an `Arc::into_raw` pointer; we took it out.
                let task = unsafe { Arc::from_raw(next) };
                if task.pinned {
                    shared.inbox.push(task);
                } else {
                    self.injector.push(task);
                }
            }
        }
        if self.injector.is_empty() {
            return; // nothing waits that another worker could run
        }
        if self.npidle.load(Ordering::SeqCst) > 0 {
            self.wake_idle();
        } else if self.nspinning.load(Ordering::SeqCst) == 0 && stuck.spare_helps(others_progress) {
            self.start_spare();
        }
    }

    /// Worker `index`'s spawn count, for the monitor.
    pub(crate) fn worker_spawned(&self, index: usize) -> u64 {
        self.workers[index].spawned.load(Ordering::Relaxed)
    }

    /// Worker `index`'s kernel thread id (0 before it starts), for the monitor.
    pub(crate) fn worker_tid(&self, index: usize) -> i32 {
        self.workers[index].tid.load(Ordering::Relaxed)
    }

    /// Whether worker `index` has a thread that is not asleep, for the monitor.
    pub(crate) fn worker_awake(&self, index: usize) -> bool {
        let shared = &self.workers[index];
        shared.running.load(Ordering::Relaxed) && !shared.sleeping.load(Ordering::Relaxed)
    }

    pub(crate) fn worker_ticks(&self, index: usize) -> u64 {
        // Acquire: pairs with the Release store that makes the tick odd, so the task it
        // resumed (`resumed`, read after this) is the one this tick numbers.
        self.workers[index].tick.load(Ordering::Acquire)
    }

    pub(crate) fn timers(&self, index: usize) -> &Timers {
        &self.workers[index].timers
    }

    /// Calls `f` with every started, unfinished task, its home worker and whether it
    /// is running right now. Holds one worker's registry lock for at most `CHUNK` tasks
    /// at a time: spawns and finishes on that worker wait meanwhile; parks, unparks and
    /// the other workers do not. After each chunk, with the lock released, it calls
    /// `f(None)` (to move what `f` gathered somewhere slower). Returns the longest time
    /// it held a lock.
    pub(crate) fn for_each_task(
        &self,
        mut f: impl FnMut(Option<(&Task, usize, bool)>),
    ) -> Duration {
        const CHUNK: usize = 256;
        let mut longest = Duration::ZERO;
        for (index, shared) in self.workers[..self.active()].iter().enumerate() {
            let mut start = 0;
            loop {
                let registry = shared.registry.lock();
                let held = Instant::now();
                if start >= registry.len() {
                    break;
                }
                let tick = shared.tick.load(Ordering::Relaxed);
                let resumed = shared.resumed.load(Ordering::Relaxed).cast_const();
                let end = registry.len().min(start + CHUNK);
                for &ptr in registry.slots(start, end) {
                    // SAFETY: a pointer in the registry is a live task while we hold the
                    // lock: it leaves the registry (under this lock) before it is freed or
                    // its block reused (`Task::clear_for_reuse` checks it is out).
                    if let Some(task) = unsafe { ptr.as_ref() } {
                        f(Some((task, index, tick % 2 == 1 && ptr == resumed)));
                    }
                }
                drop(registry);
                longest = longest.max(held.elapsed());
                f(None);
                start = end;
            }
        }
        longest
    }

    /// Calls `f` with the task worker `index` is running, if that is still the resume
    /// numbered `tick` (odd). The worker publishes only the task's address (`resumed`),
    /// which is never dereferenced: the task is looked up by that address in the
    /// registries, its worker's first (its home, unless it migrated), a chunk at a time
    /// under their locks, where an address is a live task. `f` runs under a lock: it
    /// copies what it needs and returns. The monitor calls this once per long hold
    /// (hold.rs); it costs a walk of the registries, never a word in the run loop.
    pub(crate) fn with_running_task<R>(
        &self,
        index: usize,
        tick: u64,
        f: impl FnOnce(&Task) -> R,
    ) -> Option<R> {
        const CHUNK: usize = 256;
        let shared = &self.workers[index];
        // The caller read `tick` (odd) with Acquire (`worker_ticks`), which pairs with
        // the worker's Release store of it after storing `resumed`: this is at least the
        // address that resume published. Whatever the walk finds is alive in any case.
        let resumed = shared.resumed.load(Ordering::Relaxed).cast_const();
        let active = self.active();
        let mut f = Some(f);
        for home in (0..active).map(|i| (index + i) % active) {
            let mut start = 0;
            loop {
                if shared.tick.load(Ordering::Relaxed) != tick {
                    return None; // the hold is over
                }
                let registry = self.workers[home].registry.lock();
                if start >= registry.len() {
                    break;
                }
                let end = registry.len().min(start + CHUNK);
                if let Some(&ptr) = registry.slots(start, end).iter().find(|&&p| p == resumed) {
                    // Checked again under the lock: between the check above and the lock,
                    // the holder may have finished and its block been reused (task_cache.rs)
                    // by a task registered here since, at the same address. If so, this
                    // load sees the tick moved: the worker stored it before it took the
                    // holder out of its registry, and that happens before the new task
                    // entered this one, whose lock we hold.
                    if shared.tick.load(Ordering::Relaxed) != tick {
                        return None;
                    }
                    // SAFETY: a pointer in the registry is a live task while we hold the
                    // lock: it leaves the registry (under this lock) before it is freed or
                    // its block reused (`Task::clear_for_reuse` checks it is out).
                    let task = unsafe { &*ptr };
                    return f.take().map(|f| f(task));
                }
                drop(registry);
                start = end;
            }
        }
        None
    }

    /// Runnable coroutines that may run on worker `index` only, waiting for it: its home
    /// queue, its inbox and its `next`. Coroutines in its `yielded` queue wait for it
    /// too, but that queue is the thread's own (`Processor`) and is not counted.
    pub(crate) fn homed_waiting(&self, index: usize) -> usize {
        let shared = &self.workers[index];
        shared.home_len.load(Ordering::Relaxed)
            + shared.inbox.len()
            + usize::from(!shared.next.load(Ordering::Relaxed).is_null())
    }

    /// Sum of every worker's resume ticks and spawn/finish counts: unchanged while
    /// nothing runs.
    pub(crate) fn progress(&self) -> u64 {
        let mut sum = self.spawned_by_threads.load(Ordering::Relaxed);
        for shared in &self.workers[..self.active()] {
            sum = sum
                .wrapping_add(shared.tick.load(Ordering::Relaxed))
                .wrapping_add(shared.spawned.load(Ordering::Relaxed))
                .wrapping_add(shared.finished.load(Ordering::Relaxed));
        }
        sum
    }

    /// Worker threads running now (spares included).
    pub(crate) fn worker_threads(&self) -> usize {
        self.workers[..self.active()]
            .iter()
            .filter(|shared| shared.running.load(Ordering::Relaxed))
            .count()
    }

    pub(crate) fn spinning(&self) -> usize {
        self.nspinning.load(Ordering::Relaxed)
    }

    pub(crate) fn stats(&self) -> crate::Stats {
        let active = self.active();
        let mut spawned = self.spawned_by_threads.load(Ordering::Relaxed);
        let (mut finished, mut queued, mut running, mut workers, mut timers) = (0, 0, 0, 0, 0);
        let mut per_worker = Vec::with_capacity(active);
        for (index, shared) in self.workers[..active].iter().enumerate() {
            let w = crate::WorkerStats {
                index,
                thread: shared.running.load(Ordering::Relaxed),
                busy: shared.tick.load(Ordering::Relaxed) % 2 == 1,
                idle: shared.sleeping.load(Ordering::Relaxed),
                queued: shared.stealer.len()
                    + shared.inbox.len()
                    + shared.home_len.load(Ordering::Relaxed)
                    + usize::from(!shared.next.load(Ordering::Relaxed).is_null())
                    + usize::from(!shared.fresh.load(Ordering::Relaxed).is_null()),
                homed: shared.homed.load(Ordering::Relaxed),
                spawned: shared.spawned.load(Ordering::Relaxed),
                finished: shared.finished.load(Ordering::Relaxed),
                resumes: shared.tick.load(Ordering::Relaxed) / 2,
                steals: shared.steals.load(Ordering::Relaxed),
                placed: shared.placed.load(Ordering::Relaxed),
                handed_in: shared.handed_in.load(Ordering::Relaxed),
                timers: shared.timers.len(),
            };
            spawned += w.spawned;
            finished += w.finished;
            queued += w.queued;
            running += usize::from(w.busy);
            workers += usize::from(w.thread);
            timers += w.timers;
            per_worker.push(w);
        }
        queued += self.injector.len();
        let live = spawned.saturating_sub(finished) as usize;
        crate::Stats {
            live,
            runnable: queued.min(live),
            running,
            parked: live.saturating_sub(queued + running),
            workers,
            idle_workers: self.npidle.load(Ordering::Relaxed),
            timers,
            blocking_threads: self.blocking.threads(),
            registered_fds: crate::io::registered(),
            spinning: self.spinning(),
            injector: self.injector.len(),
            per_worker,
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::task::{self, Task};

    /// The hold lookup names no task if the hold ended while it waited for a registry's
    /// lock: the task it then finds at the holder's address may be another one, in the
    /// holder's reused block (task_cache.rs).
    #[test]
    fn the_running_task_lookup_gives_up_when_the_hold_ends_under_it() {
        let config = Config {
            workers: 1,
            stack_size: goro_stack::DEFAULT_STACK_SIZE,
            allow_migration: false,
        };
        // A runtime of its own, never started: this thread plays its worker 0.
        let rt: &'static Runtime = Box::leak(Box::new(Runtime::new(config).unwrap()));
        rt.active.store(1, Ordering::Release);
        let pending = task::Pending {
            f: Box::new(|| Box::new(()) as task::Output),
            stack_size: goro_stack::DEFAULT_STACK_SIZE,
            stack: None,
        };
        let task = Task::new(pending, true, None, std::panic::Location::caller());
        let shared = &rt.workers[0];
        shared.registry.lock().insert(&task);
        shared
            .resumed
            .store(Arc::as_ptr(&task).cast_mut(), Ordering::Relaxed);
        shared.tick.store(1, Ordering::Relaxed);
        assert_eq!(rt.with_running_task(0, 1, |_| ()), Some(()));

        // The monitor checks the tick, then waits for the lock, which "the worker" holds
        // while it ends the hold (and, in real life, reuses the block for a task it
        // registers at the same address).
        let registry = shared.registry.lock();
        let lookup = std::thread::spawn(move || rt.with_running_task(0, 1, |_| ()));
        std::thread::sleep(std::time::Duration::from_millis(100));
        shared.tick.store(2, Ordering::Relaxed);
        drop(registry);
        assert_eq!(
            lookup.join().unwrap(),
            None,
            "named a task after the hold ended"
        );
        shared.registry.lock().remove(&task);
    }
}
