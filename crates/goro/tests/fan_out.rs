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
fn fan_out(workers: usize) -> Result<(), String> {
    const SPAWN_FOR: Duration = Duration::from_millis(400);
    let test = format!("fan_out_on_{workers}_runs_no_spare_worker");
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
    fan_out(1).unwrap();
}

#[test]
fn fan_out_on_2_runs_no_spare_worker() {
    fan_out(2).unwrap();
}
