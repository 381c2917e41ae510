//! A Go-style worker pool: a jobs channel, four worker coroutines, a results channel
//! closed once a `WaitGroup` says every worker is done, a `select!` that also watches a
//! progress ticker and a timeout, and a `Mutex`-protected tally shared by the workers.
//!
//! ```text
//! cargo run --release -p goro-examples --example worker_pool
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use goro::chan;
use goro::sync::{Mutex, WaitGroup};

const WORKERS: usize = 4;
const JOBS: u64 = 40;

/// Steps for `n` to reach 1 under the Collatz rule: the "work".
fn collatz_steps(mut n: u64) -> u32 {
    let mut steps = 0;
    while n > 1 {
        n = if n % 2 == 0 { n / 2 } else { 3 * n + 1 };
        steps += 1;
    }
    steps
}

fn main() {
    let start = Instant::now();
    let (jobs_tx, jobs_rx) = chan::bounded(JOBS as usize);
    let (results_tx, results_rx) = chan::bounded(WORKERS);
    let tally = Arc::new(Mutex::new(vec![0u32; WORKERS]));

    let wg = WaitGroup::new();
    for id in 0..WORKERS {
        wg.add(1);
        let (jobs, results) = (jobs_rx.clone(), results_tx.clone());
        let (tally, wg) = (tally.clone(), wg.clone());
        goro::go!(move || {
            // Until `jobs` is closed and drained:
            for n in jobs {
                goro::sleep(Duration::from_millis(1 + n % 4)); // pretend to wait on a server
                results.send((n, collatz_steps(n))).unwrap();
                tally.lock()[id] += 1;
            }
            wg.done();
        });
    }
    // Go's `go func() { wg.Wait(); close(results) }()`.
    goro::go!(move || {
        wg.wait();
        results_tx.close();
    });

    for n in 1..=JOBS {
        jobs_tx.send(n).unwrap();
    }
    jobs_tx.close(); // workers drain the buffer, then their `for` loops end

    let ticker = goro::time::tick(Duration::from_millis(10));
    let (mut received, mut longest) = (0, (0, 0));
    loop {
        goro::select! {
            recv(results_rx) -> msg => match msg {
                Ok((n, steps)) => {
                    received += 1;
                    longest = longest.max((steps, n));
                }
                Err(_) => break, // closed and drained: every worker has finished
            },
            recv(ticker) -> _ => {
                println!("  progress: {received}/{JOBS} after {:.0?}", start.elapsed());
            },
            recv(goro::time::after(Duration::from_secs(1))) -> _ => {
                println!("  no result for a second: giving up");
                break;
            },
        }
    }

    println!("{received} results in {:.0?}", start.elapsed());
    println!(
        "longest Collatz chain below {}: {} ({} steps)",
        JOBS + 1,
        longest.1,
        longest.0
    );
    for (id, count) in tally.lock().iter().enumerate() {
        println!("  worker {id} did {count} jobs");
    }
}
