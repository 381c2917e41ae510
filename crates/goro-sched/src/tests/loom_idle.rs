//! The idle protocol of idle.rs ("The hard problem: parking idle workers without
//! losing wakeups"), at the level of its atomics: the real worker loop needs threads,
//! crossbeam's deques and the poller, which loom cannot run. Each step below names the
//! step of the module docs it mirrors, with the same orderings; keep them in step.
//!
//! The race checked: work arrives while the last spinner goes to sleep. Either the
//! sleeper's recheck (step 3) sees the work, or the submitter (`wake_idle`) sees the
//! sleeper and wakes it. A lost wake-up leaves the sleeper parked with work queued,
//! which loom reports as a deadlock.

use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering, fence};
use loom::sync::{Arc, Mutex};
use loom::thread::Thread;

struct Runtime {
    /// The run queues, as one count of queued Gs.
    queued: AtomicUsize,
    idle: Mutex<Vec<usize>>,
    npidle: AtomicUsize,
    nspinning: AtomicUsize,
    /// Per worker: `Shared::sleeping` and the thread to unpark.
    sleeping: Vec<AtomicBool>,
    threads: Mutex<Vec<Option<Thread>>>,
}

impl Runtime {
    fn new(workers: usize) -> Runtime {
        Runtime {
            queued: AtomicUsize::new(0),
            idle: Mutex::new(Vec::new()),
            npidle: AtomicUsize::new(0),
            nspinning: AtomicUsize::new(0),
            sleeping: (0..workers).map(|_| AtomicBool::new(false)).collect(),
            threads: Mutex::new(vec![None; workers]),
        }
    }

    /// `submit`: push, then `wake_idle`.
    fn submit(&self) {
        // crossbeam's push publishes with Release.
        self.queued.fetch_add(1, Ordering::Release);
        self.wake_idle();
    }

    /// `Runtime::wake_idle`: steps 2-3 of submitting work.
    fn wake_idle(&self) {
        loop {
            fence(Ordering::SeqCst);
            if self.nspinning.load(Ordering::SeqCst) != 0 || self.npidle.load(Ordering::SeqCst) == 0
            {
                return;
            }
            if self
                .nspinning
                .compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst)
                .is_err()
            {
                return;
            }
            let victim = {
                let mut idle = self.idle.lock().unwrap();
                let victim = idle.pop();
                if victim.is_some() {
                    self.npidle.fetch_sub(1, Ordering::SeqCst);
                }
                victim
            };
            match victim {
                Some(index) => return self.wake(index),
                None => {
                    self.nspinning.fetch_sub(1, Ordering::SeqCst);
                    if self.queued.load(Ordering::SeqCst) == 0 {
                        return;
                    }
                }
            }
        }
    }

    /// `Shared::wake`.
    fn wake(&self, index: usize) {
        if self.sleeping[index].swap(false, Ordering::SeqCst) {
            if let Some(thread) = &self.threads.lock().unwrap()[index] {
                thread.unpark();
            }
        }
    }

    /// Takes one G if there is one (a steal or pop).
    fn take(&self) -> bool {
        let mut n = self.queued.load(Ordering::Acquire);
        while n > 0 {
            match self
                .queued
                .compare_exchange(n, n - 1, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return true,
                Err(actual) => n = actual,
            }
        }
        false
    }

    /// `Processor::park_worker`, steps 1-4, then `leave_idle`. `spinning` is set on the way
    /// out if a waker took the worker off the idle list (and so made it a spinner).
    fn park_worker(&self, index: usize, spinning: &mut bool) {
        // 1. Announce.
        self.sleeping[index].store(true, Ordering::SeqCst);
        {
            let mut idle = self.idle.lock().unwrap();
            idle.push(index);
            self.npidle.fetch_add(1, Ordering::SeqCst);
        }
        // 2. Stop spinning.
        if std::mem::replace(spinning, false) {
            self.nspinning.fetch_sub(1, Ordering::SeqCst);
        }
        // 3. Look again, after a StoreLoad barrier.
        fence(Ordering::SeqCst);
        if self.queued.load(Ordering::SeqCst) == 0 {
            // 4. Sleep until woken.
            while self.sleeping[index].load(Ordering::Acquire) {
                loom::thread::park();
            }
        }
        // leave_idle
        self.sleeping[index].store(false, Ordering::SeqCst);
        let mut idle = self.idle.lock().unwrap();
        if let Some(pos) = idle.iter().position(|&i| i == index) {
            idle.swap_remove(pos);
            self.npidle.fetch_sub(1, Ordering::SeqCst);
        } else {
            *spinning = true; // the waker made us a spinner
        }
    }

    /// `find_runnable` for one worker, until it has run `want` Gs: look, steal
    /// (spinning), then sleep, as the real loop does; `stop_spinning` once it found one.
    fn worker(&self, index: usize, want: usize) {
        self.threads.lock().unwrap()[index] = Some(loom::thread::current());
        let mut spinning = true; // the last spinner
        let mut ran = 0;
        while ran < want {
            if self.take() {
                ran += 1;
                if std::mem::replace(&mut spinning, false)
                    && self.nspinning.fetch_sub(1, Ordering::SeqCst) == 1
                {
                    // stop_spinning: the last spinner found work; wake a replacement.
                    self.wake_idle();
                }
                continue;
            }
            self.park_worker(index, &mut spinning);
        }
        if spinning {
            self.nspinning.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// The last spinner goes to sleep while a plain thread submits one G: the G runs.
#[test]
fn work_submitted_as_the_last_spinner_sleeps_is_run() {
    loom::model(|| {
        let rt = Arc::new(Runtime::new(1));
        rt.nspinning.store(1, Ordering::SeqCst); // worker 0 spins
        let submitter = {
            let rt = rt.clone();
            loom::thread::spawn(move || rt.submit())
        };
        rt.worker(0, 1);
        submitter.join().unwrap();
    });
}
