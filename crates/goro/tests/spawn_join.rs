//! Spawning, joining, panics, exit and identity, with the runtime configured from the
//! environment (CI runs this with GORO_WORKERS=1 and =2).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[path = "../../goro-context/tests/support/child.rs"]
mod child;

#[test]
fn a_million_from_a_plain_thread() {
    let count = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..1_000_000)
        .map(|_| {
            let c = count.clone();
            goro::go!(move || {
                c.fetch_add(1, Ordering::Relaxed);
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(count.load(Ordering::Relaxed), 1_000_000);
}

#[test]
fn a_million_from_a_coroutine() {
    let total = goro::go!(|| {
        let handles: Vec<_> = (0..1_000_000u64).map(|i| goro::go!(move || i)).collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
    })
    .join()
    .unwrap();
    assert_eq!(total, 999_999 * 1_000_000 / 2);
}

#[test]
fn spawn_trees_inside_coroutines() {
    fn tree(depth: u32) -> u64 {
        if depth == 0 {
            goro::yield_now();
            return 1;
        }
        let left = goro::go!(move || tree(depth - 1));
        let right = goro::go!(move || tree(depth - 1));
        left.join().unwrap() + right.join().unwrap()
    }
    assert_eq!(goro::go!(|| tree(14)).join().unwrap(), 1 << 14);
}

#[test]
fn join_from_threads_and_coroutines() {
    let slow = goro::go!(|| {
        goro::sleep(Duration::from_millis(30));
        "slow"
    });
    // A coroutine joins a coroutine...
    let joiner = goro::go!(move || slow.join().unwrap());
    // ...and a plain thread joins that one.
    let from_thread = std::thread::spawn(move || joiner.join().unwrap())
        .join()
        .unwrap();
    assert_eq!(from_thread, "slow");
    // Joining something already finished returns at once.
    let done = goro::go!(|| 7);
    while !done.is_finished() {
        std::thread::yield_now();
    }
    assert_eq!(done.join().unwrap(), 7);
}

#[test]
fn panics_are_isolated_and_delivered() {
    let handles: Vec<_> = (0..100)
        .map(|i| {
            goro::go!(move || {
                if i % 2 == 0 {
                    std::panic::panic_any(i);
                }
                i
            })
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        match h.join() {
            Ok(v) => assert_eq!((v, i % 2), (i, 1)),
            Err(payload) => assert_eq!(*payload.downcast::<usize>().unwrap(), i),
        }
    }
    // The runtime is fine afterwards.
    assert_eq!(goro::go!(|| 5).join().unwrap(), 5);
}

#[test]
fn exit_runs_destructors_in_order() {
    let log = Arc::new(Mutex::new(Vec::new()));
    struct Defer(Arc<Mutex<Vec<&'static str>>>, &'static str);
    impl Drop for Defer {
        fn drop(&mut self) {
            self.0.lock().unwrap().push(self.1);
        }
    }
    let l = log.clone();
    let handle = goro::go!(move || {
        let _first = Defer(l.clone(), "first");
        goro::sleep(Duration::from_millis(1));
        {
            let _second = Defer(l.clone(), "second");
            fn deep(l: Arc<Mutex<Vec<&'static str>>>) -> ! {
                let _third = Defer(l, "third");
                goro::yield_now();
                goro::exit()
            }
            deep(l.clone());
        }
    });
    let payload = handle.join().unwrap_err();
    assert!(payload.is::<goro::Exit>());
    assert_eq!(*log.lock().unwrap(), ["third", "second", "first"]);
}

#[test]
fn current_names_the_coroutine() {
    assert!(goro::current().is_none());
    let (id, name) = goro::Builder::new()
        .name("named")
        .spawn(|| {
            let me = goro::current().unwrap();
            (me.id(), me.name().map(str::to_owned))
        })
        .unwrap()
        .join()
        .unwrap();
    assert!(id > 0);
    assert_eq!(name.as_deref(), Some("named"));
}

#[test]
fn bad_stack_sizes_are_errors_and_go_panics_with_the_message() {
    let err = goro::Builder::new().stack_size(0).spawn(|| ()).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("zero"), "{err}");
    let err = goro::Builder::new()
        .stack_size(2 << 30)
        .spawn(|| ())
        .unwrap_err();
    assert!(err.to_string().contains("1 GiB maximum"), "{err}");
    let big = goro::Builder::new().stack_size(8 << 20).spawn(|| {
        let buf = std::hint::black_box([1u8; 1 << 20]);
        buf.iter().map(|&b| b as usize).sum::<usize>()
    });
    assert_eq!(big.unwrap().join().unwrap(), 1 << 20);
}

#[test]
fn stats_see_parked_coroutines() {
    let gate = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..1000)
        .map(|_| goro::go!(|| goro::sleep(Duration::from_millis(300))))
        .collect();
    goro::sleep(Duration::from_millis(100));
    let stats = goro::stats();
    assert!(stats.coroutines >= 1000, "{stats:?}");
    assert!(stats.parked >= 900, "{stats:?}");
    assert!(stats.workers >= 1 && stats.stack_mappings >= 1, "{stats:?}");
    for h in handles {
        h.join().unwrap();
    }
    gate.store(1, Ordering::Relaxed);
}

#[test]
fn blocking_borrows_and_returns() {
    let data = [1u64, 2, 3];
    let sum = goro::go!(move || {
        let total = goro::blocking(|| data.iter().sum::<u64>());
        (total, data.len())
    })
    .join()
    .unwrap();
    assert_eq!(sum, (6, 3));
    let panicked = goro::go!(|| goro::blocking(|| -> u8 { panic!("in the pool") })).join();
    assert_eq!(
        panicked.unwrap_err().downcast_ref::<&str>(),
        Some(&"in the pool")
    );
    // On a plain thread it just runs.
    assert_eq!(goro::blocking(|| 3), 3);
}

#[test]
fn a_forgotten_parked_coroutine_stays_parked() {
    use std::sync::atomic::AtomicBool;
    static UNWOUND: AtomicBool = AtomicBool::new(false);
    struct Flag;
    impl Drop for Flag {
        fn drop(&mut self) {
            UNWOUND.store(true, Ordering::SeqCst);
        }
    }
    // Parks with nobody holding its unparker. Its JoinHandle, the last reference, is
    // dropped here on the test thread once it has parked: as in Go, the coroutine is
    // leaked, parked for good (docs/CAVEATS.md §5), and its destructors never run.
    let parked = Arc::new(AtomicUsize::new(0));
    let p = parked.clone();
    let handle = goro::go!(move || {
        let _flag = Flag;
        p.store(1, Ordering::SeqCst);
        loop {
            goro_sched::park();
        }
    });
    while parked.load(Ordering::SeqCst) == 0 {
        std::thread::yield_now();
    }
    std::thread::sleep(Duration::from_millis(50)); // it has switched out by now
    drop(handle);
    // Every worker still runs coroutines.
    let all: Vec<_> = (0..100).map(|i| goro::go!(move || i)).collect();
    assert_eq!(
        all.into_iter().map(|h| h.join().unwrap()).sum::<i32>(),
        4950
    );
    std::thread::sleep(Duration::from_millis(50));
    assert!(
        !UNWOUND.load(Ordering::SeqCst),
        "a parked coroutine was unwound"
    );
}

#[test]
fn finished_sleeps_do_not_slow_the_timer_heap_down() {
    // Many pending timers, then many sleeps that end: each ends by cancelling a timer
    // that has already fired, which must stay cheap.
    let pending: Vec<_> = (0..20_000)
        .map(|_| goro::go!(|| goro::sleep(Duration::from_secs(2))))
        .collect();
    let start = std::time::Instant::now();
    goro::go!(|| {
        for _ in 0..20_000 {
            goro::sleep(Duration::from_nanos(1));
        }
    })
    .join()
    .unwrap();
    let took = start.elapsed();
    assert!(
        took < Duration::from_secs(10),
        "20k short sleeps took {took:?}"
    );
    drop(pending);
}

/// CPU time this process has used, in clock ticks (`/proc/self/stat`: utime + stime).
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // "pid (comm) S ...": fields after the last ')' start at field 3 (the state);
    // utime and stime are fields 14 and 15.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 1..]
        .split_whitespace()
        .collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// A coroutine sleeping "forever" must not keep its worker busy: a deadline that
/// overflowed into "now" would make the worker spin on its timers. In a child process
/// of its own, so the CPU time measured is the sleeper's runtime's alone.
#[test]
fn a_sleep_of_centuries_does_not_spin() {
    const NAME: &str = "a_sleep_of_centuries_does_not_spin";
    match child::in_child(NAME, &[("GORO_WORKERS", "1")]) {
        Err(()) => {
            let h = goro::go!(|| goro::sleep(Duration::from_secs(u64::MAX / 4)));
            std::thread::sleep(Duration::from_millis(50));
            assert!(!h.is_finished());
            let before = cpu_ticks();
            std::thread::sleep(Duration::from_millis(500));
            let used = cpu_ticks() - before;
            // A spinning worker uses the whole 500 ms (about 50 ticks at 100 Hz).
            assert!(used < 25, "{used} clock ticks of CPU in 500 ms of sleeping");
            // And the worker still runs what comes.
            goro::go!(|| ()).join().unwrap();
            assert!(!h.is_finished());
            std::process::exit(0);
        }
        Ok((status, stderr)) => assert!(status.success(), "{stderr}"),
    }
}
