//! A tour of goro's coroutines, in the manner of Go by Example: a coroutine running
//! beside `main`, `defer` and `runtime.Goexit`, a fan-out of ten thousand, names, and
//! a blocking call moved off the workers.
//!
//! ```text
//! cargo run --release -p goro-examples --example goroutines
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Prints when it goes out of scope: Go's `defer`.
struct Defer(String);

impl Drop for Defer {
    fn drop(&mut self) {
        println!("  deferred: {}", self.0);
    }
}

/// Goes `depth` calls deep, each with a deferred print, and exits from the bottom.
fn descend(level: u32, depth: u32) {
    let _defer = Defer(format!("leave level {level}"));
    if level == depth {
        println!("  level {level}: goro::exit()");
        goro::exit(); // unwinds this coroutine: every Defer above runs, innermost first
    }
    descend(level + 1, depth);
    unreachable!("goro::exit() does not return");
}

fn main() {
    println!("1. A coroutine ticks in the background while main works.");
    let stop = Arc::new(AtomicBool::new(false));
    let ticker = goro::go!({
        let stop = stop.clone();
        move || {
            let mut ticks = 0;
            while !stop.load(Ordering::Relaxed) {
                ticks += 1;
                println!("  tick {ticks}");
                goro::sleep(Duration::from_millis(40));
            }
            ticks
        }
    });
    for step in 1..=3 {
        goro::sleep(Duration::from_millis(50)); // on a plain thread: std::thread::sleep
        println!("  main: step {step} done");
    }
    stop.store(true, Ordering::Relaxed);
    println!("  the ticker ticked {} times", ticker.join().unwrap());

    println!("\n2. goro::exit() is Go's runtime.Goexit: deferred drops run, join says Exit.");
    let quitter = goro::go!(|| {
        let _defer = Defer("leave the coroutine".into());
        descend(1, 3);
    });
    let payload = quitter.join().unwrap_err();
    println!(
        "  join() -> Err(payload), payload.is::<goro::Exit>() = {}",
        payload.is::<goro::Exit>()
    );

    println!("\n3. Fan out: 10,000 coroutines each sleep 10 ms, then we join them all.");
    let start = Instant::now();
    let handles: Vec<_> = (0..10_000u64)
        .map(|i| {
            goro::go!(move || {
                goro::sleep(Duration::from_millis(10));
                i
            })
        })
        .collect();
    let sum: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    println!(
        "  sum = {sum}, in {:.0?} on {} workers",
        start.elapsed(),
        goro::stats().workers
    );

    println!("\n4. Names: goro::current() inside a coroutine, None on a plain thread.");
    println!("  main: current() = {:?}", goro::current().map(|c| c.id()));
    let named: Vec<_> = ["fetcher", "parser", "writer"]
        .into_iter()
        .map(|name| {
            goro::Builder::new()
                .name(name)
                .spawn(|| {
                    let me = goro::current().unwrap();
                    format!("{} (id {})", me.name().unwrap_or("?"), me.id())
                })
                .unwrap()
        })
        .collect();
    for handle in named {
        println!("  hello from {}", handle.join().unwrap());
    }

    println!("\n5. goro::blocking runs a blocking call off the worker; the coroutine parks.");
    let start = Instant::now();
    let sleepers: Vec<_> = (0..8)
        .map(|_| goro::go!(|| goro::blocking(|| std::thread::sleep(Duration::from_millis(100)))))
        .collect();
    let ticker = goro::go!(|| {
        let start = Instant::now();
        goro::sleep(Duration::from_millis(20)); // still on time: no worker is blocked
        start.elapsed()
    });
    println!(
        "  a 20 ms sleep meanwhile took {:.0?}",
        ticker.join().unwrap()
    );
    sleepers.into_iter().for_each(|h| h.join().unwrap());
    println!(
        "  8 blocking sleeps of 100 ms took {:.0?} in all, on {} workers",
        start.elapsed(),
        goro::stats().workers
    );
}
