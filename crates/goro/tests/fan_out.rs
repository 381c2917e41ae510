//! Fan-out: one coroutine spawns many short ones without ever parking in between. The
//! monitor sees its worker busy in one coroutine for the whole loop, but that worker is
//! producing the work the others run, not hogging it: no spare worker thread starts,
//! with one worker or two. Each case in a child process, to configure its runtime.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[path = "../../goro-context/tests/support/child.rs"]
mod child;

/// In the child: spawns detached coroutines from one coroutine for `SPAWN_FOR` (many
/// times the monitor's 10 ms) or 50,000 of them, each counting down a latch, then waits for them; a plain
/// thread samples the worker threads meanwhile. Prints the most it saw.
/// With `pauses`, the spawner computes for 15 ms without spawning after every 2,000
/// spawns: the monitor may then find it not spawning at one look and move its deque to
/// the global queue, which is still no reason for a spare (spare.rs).
fn fan_out(workers: usize, pauses: bool) -> Result<(), String> {
    const SPAWN_FOR: Duration = Duration::from_millis(400);
    let test = if pauses {
        format!("fan_out_with_pauses_on_{workers}_runs_no_spare_worker")
    } else {
        format!("fan_out_on_{workers}_runs_no_spare_worker")
    };
    let (status, stderr) = match child::in_child(&test, &[]) {
        Ok(out) => out,
        Err(()) => {
            goro::runtime::Builder::new()
                .workers(workers)
                .init()
                .unwrap();
            let stop = Arc::new(AtomicBool::new(false));
            let sampler = {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut most = 0;
                    while !stop.load(Ordering::Relaxed) {
                        most = most.max(goro::stats().workers);
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    most
                })
            };
            let spawned = goro::go!(move || {
                let left = Arc::new(AtomicUsize::new(1));
                let waiter = goro_sched::current_unparker();
                let start = Instant::now();
                let mut spawned = 0;
                // Bounded too: the spawner's deque holds them all with one worker, and a
                // long copy as it grows could pass for a computation (spare.rs).
                while start.elapsed() < SPAWN_FOR && spawned < 50_000 {
                    for _ in 0..100 {
                        left.fetch_add(1, Ordering::Relaxed);
                        let (left, waiter) = (left.clone(), waiter.clone());
                        drop(goro::go!(move || {
                            if left.fetch_sub(1, Ordering::AcqRel) == 1 {
                                waiter.unpark();
                            }
                        }));
                    }
                    spawned += 100;
                    if pauses && spawned % 2_000 == 0 {
                        let end = Instant::now() + Duration::from_millis(15);
                        while Instant::now() < end {
                            std::hint::spin_loop();
                        }
                    }
                }
                if left.fetch_sub(1, Ordering::AcqRel) != 1 {
                    while left.load(Ordering::Acquire) != 0 {
                        goro_sched::park();
                    }
                }
                spawned
            })
            .join()
            .unwrap();
            stop.store(true, Ordering::Relaxed);
            let most = sampler.join().unwrap();
            eprintln!("spawned {spawned}, at most {most} worker threads");
            std::process::exit(0);
        }
    };
    if status.code() != Some(0) {
        return Err(format!("child failed: {stderr}"));
    }
    let most: usize = stderr
        .split("at most ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("no count in the child's stderr: {stderr}"))?;
    if most > workers {
        return Err(format!(
            "{most} worker threads ran for {workers} configured: {stderr}"
        ));
    }
    Ok(())
}

#[test]
fn fan_out_on_1_runs_no_spare_worker() {
    fan_out(1, false).unwrap();
}

#[test]
fn fan_out_with_pauses_on_1_runs_no_spare_worker() {
    fan_out(1, true).unwrap();
}

#[test]
fn fan_out_on_2_runs_no_spare_worker() {
    fan_out(2, false).unwrap();
}

/// Two workers, each stuck in a coroutine that computes and spawns now and then, as
/// `one_worker.rs`'s `a_worker_stuck_computing_and_spawning_does_not_stop_the_rest` on
/// one: neither is progress for the other (a spawning coroutine runs nothing), so the
/// coroutines a plain thread spawns meanwhile get a spare worker and finish long before
/// the two let go.
#[test]
fn two_workers_stuck_spawning_do_not_stop_the_rest() {
    const HOLD: Duration = Duration::from_secs(2);
    let test = "two_workers_stuck_spawning_do_not_stop_the_rest";
    let (status, stderr) = match child::in_child(test, &[]) {
        Ok(out) => out,
        Err(()) => {
            goro::runtime::Builder::new().workers(2).init().unwrap();
            let compute_and_spawn = || {
                let end = Instant::now() + HOLD;
                while Instant::now() < end {
                    let pause = Instant::now() + Duration::from_millis(1);
                    while Instant::now() < pause {
                        std::hint::spin_loop();
                    }
                    drop(goro::go!(|| ()));
                }
            };
            let started = Arc::new(AtomicUsize::new(0));
            let s = started.clone();
            let a = goro::go!(move || {
                s.fetch_add(1, Ordering::SeqCst);
                let s2 = s.clone();
                // Started beside this one; the idle worker steals it.
                let b = goro::go!(move || {
                    s2.fetch_add(1, Ordering::SeqCst);
                    compute_and_spawn();
                });
                while s.load(Ordering::SeqCst) < 2 {
                    std::hint::spin_loop();
                }
                compute_and_spawn();
                b
            });
            while started.load(Ordering::SeqCst) < 2 {
                std::thread::yield_now();
            }
            let start = Instant::now();
            let handles: Vec<_> = (0..100)
                .map(|_| goro::go!(|| goro::sleep(Duration::from_millis(10))))
                .collect();
            for h in handles {
                h.join().unwrap();
            }
            let took = start.elapsed();
            a.join().unwrap().join().unwrap();
            eprintln!("took {} ms", took.as_millis());
            std::process::exit(0);
        }
    };
    assert_eq!(status.code(), Some(0), "child failed: {stderr}");
    let ms: u128 = stderr
        .split("took ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no time in the child's stderr: {stderr}"));
    assert!(ms < 500, "100 x 10 ms sleeps took {ms} ms: {stderr}");
}
