//! Feature `hook` with two workers: std::thread::sleep in 10,000 coroutines at once.
#![cfg(all(feature = "hook", target_os = "linux", target_env = "gnu"))]

use std::thread;
use std::time::{Duration, Instant};

#[test]
fn ten_thousand_std_sleeps_of_100ms_on_two_workers_finish_well_under_10s() {
    goro::runtime::Builder::new().workers(2).init().unwrap();
    // A hang must fail, not wait for CI's limit.
    thread::spawn(|| {
        thread::sleep(Duration::from_secs(60));
        eprintln!("watchdog: 10,000 std sleeps did not finish within 60 s");
        std::process::abort();
    });
    // Every coroutine starts (and so stays on its worker) before any sleeps: the
    // monitor cannot move them to spare workers, so sleeps that blocked the threads
    // would take 10,000 x 100 ms / 2 = 500 s.
    let (open, gate) = goro::chan::bounded::<()>(0);
    let started = goro::sync::WaitGroup::new();
    let sleepers: Vec<_> = (0..10_000)
        .map(|_| {
            let (gate, started) = (gate.clone(), started.clone());
            started.add(1);
            goro::go!(move || {
                started.done();
                let _ = gate.recv();
                thread::sleep(Duration::from_millis(100));
            })
        })
        .collect();
    started.wait();
    let begin = Instant::now();
    open.close();
    for s in sleepers {
        s.join().unwrap();
    }
    let took = begin.elapsed();
    assert!(took < Duration::from_secs(10), "{took:?}");
}
