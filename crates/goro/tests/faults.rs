//! Fault injection: a panic in every place where the runtime runs user code, each
//! followed by a check that the runtime still works, with one and with two workers;
//! parked coroutines that nobody can wake; and a park/unpark stress between a plain
//! thread and a coroutine in `select!`, and between coroutines in `select!`.
//!
//! Each case runs in a child process (its own runtime, its own worker count) with a
//! deadline: a dead worker shows up as a hang, an abort as a signal.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use goro::chan;

/// Runs test `name` in a child process with `GORO_WORKERS=workers` and kills it after
/// `deadline`. In the parent: `Ok` with whether it exited with 0 and its stderr. In the
/// child: `Err(())`, and the test then does its work.
fn in_child(name: &str, workers: usize, deadline: Duration) -> Result<(bool, String), ()> {
    in_child_with(name, workers, deadline, &["--nocapture"])
}

/// [`in_child`], with more arguments for the test harness.
fn in_child_with(
    name: &str,
    workers: usize,
    deadline: Duration,
    harness_args: &[&str],
) -> Result<(bool, String), ()> {
    if std::env::var("GORO_CHILD").as_deref() == Ok(name) {
        return Err(());
    }
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--test-threads=1"])
        .args(harness_args)
        .env("GORO_CHILD", name)
        .env("GORO_WORKERS", workers.to_string())
        .env("RUST_BACKTRACE", "0") // reports come quickly, and stay short
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read stderr on the side, so a chatty child never blocks on a full pipe.
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
        text
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let stderr = reader.join().unwrap();
    match status {
        Some(status) => Ok((status.success(), stderr)),
        None => Ok((
            false,
            format!("{stderr}\n(killed: still running after {deadline:?})"),
        )),
    }
}

/// Runs the test's child part with one and with two workers; each must exit cleanly
/// within 60 s, and its stderr must contain each of `expect`.
fn with_one_and_two_workers(name: &str, expect: &[&str], child: impl Fn()) {
    for workers in [1, 2] {
        match in_child(name, workers, Duration::from_secs(60)) {
            Err(()) => {
                child();
                the_runtime_still_works();
                return;
            }
            Ok((ok, stderr)) => {
                assert!(
                    ok,
                    "{workers} worker(s): the child failed; stderr:\n{stderr}"
                );
                for text in expect {
                    assert!(
                        stderr.contains(text),
                        "{workers} worker(s): no {text:?} in:\n{stderr}"
                    );
                }
            }
        }
    }
}

/// A later coroutine runs and returns its value, and a coroutine parked in `recv` on
/// every worker is woken by a later send (a dead worker would leave one parked).
fn the_runtime_still_works() {
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        assert_eq!(goro::go!(|| 42).join().unwrap(), 42);
        let workers = goro_sched::config().unwrap().worker_count();
        let receivers: Vec<_> = (0..4 * workers)
            .map(|i| {
                let (tx, rx) = chan::bounded::<usize>(0);
                (tx, goro::go!(move || rx.recv().unwrap() + i))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(20)); // parked by now, mostly
        for (i, (tx, receiver)) in receivers.into_iter().enumerate() {
            tx.send(i).unwrap();
            assert_eq!(receiver.join().unwrap(), 2 * i);
        }
        done_tx.send(()).unwrap();
    });
    done_rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the runtime stopped running coroutines");
}

/// Panics when dropped.
struct Bomb(&'static str);

/// Bombs that went off.
static EXPLODED: AtomicUsize = AtomicUsize::new(0);

impl Drop for Bomb {
    fn drop(&mut self) {
        EXPLODED.fetch_add(1, Ordering::SeqCst);
        panic!("{} exploded", self.0);
    }
}

/// Waits until `n` bombs went off, and a while longer for the reports to be written.
fn wait_for_explosions(n: usize) {
    wait_for("a bomb never went off", || {
        EXPLODED.load(Ordering::SeqCst) >= n
    });
    std::thread::sleep(Duration::from_millis(500));
}

fn wait_for(what: &str, done: impl Fn() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < Duration::from_secs(20), "{what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn a_panic_dropping_a_detached_coroutines_result_is_reported() {
    with_one_and_two_workers(
        "a_panic_dropping_a_detached_coroutines_result_is_reported",
        &[
            "goro: a panic while dropping the result of a detached coroutine was caught (result bomb exploded)",
        ],
        || {
            let finished = Arc::new(AtomicBool::new(false));
            let f = finished.clone();
            drop(goro::go!(move || {
                f.store(true, Ordering::SeqCst);
                Bomb("result bomb")
            }));
            wait_for("never finished", || finished.load(Ordering::SeqCst));
            wait_for_explosions(1);
        },
    );
}

#[test]
fn a_panic_dropping_a_detached_coroutines_panic_payload_is_reported() {
    with_one_and_two_workers(
        "a_panic_dropping_a_detached_coroutines_panic_payload_is_reported",
        &[
            "goro: a panic while dropping the result of a detached coroutine was caught (payload bomb exploded)",
        ],
        || {
            for _ in 0..10 {
                drop(goro::go!(|| std::panic::panic_any(Bomb("payload bomb"))));
            }
            wait_for_explosions(10);
        },
    );
}

/// A detached coroutine's result whose destructor waits (spawns a coroutine and joins
/// it): dropped by the runtime on a worker between coroutines, it blocked that worker,
/// and with one worker the coroutine it waited for never ran.
#[test]
fn a_detached_coroutines_result_whose_drop_joins_a_coroutine() {
    with_one_and_two_workers(
        "a_detached_coroutines_result_whose_drop_joins_a_coroutine",
        &[],
        || {
            static JOINED: AtomicUsize = AtomicUsize::new(0);
            struct JoinsOnDrop;
            impl Drop for JoinsOnDrop {
                fn drop(&mut self) {
                    let n = goro::go!(|| 7).join().unwrap();
                    JOINED.fetch_add(n, Ordering::SeqCst);
                }
            }
            for _ in 0..10 {
                drop(goro::go!(|| JoinsOnDrop));
            }
            wait_for("a result's destructor never finished its join", || {
                JOINED.load(Ordering::SeqCst) == 70
            });
        },
    );
}

#[test]
fn a_panic_dropping_a_timer_callback_that_never_ran_is_reported() {
    with_one_and_two_workers(
        "a_panic_dropping_a_timer_callback_that_never_ran_is_reported",
        &["goro: a panic while dropping a cancelled timer was caught (timer bomb exploded)"],
        || {
            // Cancelled, so it never runs: its worker drops it when it comes due.
            let bomb = Bomb("timer bomb");
            let timer = goro_sched::call_at(Instant::now() + Duration::from_millis(5), move || {
                let _keep = &bomb;
            });
            timer.cancel();
            wait_for_explosions(1);
        },
    );
}

#[test]
fn a_panicking_timer_callback_is_reported() {
    with_one_and_two_workers(
        "a_panicking_timer_callback_is_reported",
        &["goro: a panic while running a timer callback was caught (callback panicked here)"],
        || {
            let fired = Arc::new(AtomicBool::new(false));
            let f = fired.clone();
            goro_sched::call_at(Instant::now() + Duration::from_millis(1), move || {
                f.store(true, Ordering::SeqCst);
                panic!("callback panicked here");
            });
            wait_for("the callback never ran", || fired.load(Ordering::SeqCst));
            std::thread::sleep(Duration::from_millis(500)); // for the report
        },
    );
}

/// Under the test harness's output capture (no `--nocapture`), which the runtime's
/// threads inherit from whichever test started them, the runtime's report of a caught
/// panic still reaches the process's stderr.
#[test]
fn reports_bypass_the_test_harness_capture() {
    const NAME: &str = "reports_bypass_the_test_harness_capture";
    match in_child_with(NAME, 1, Duration::from_secs(60), &[]) {
        Err(()) => {
            drop(goro::go!(|| Bomb("captured bomb")));
            wait_for_explosions(1);
        }
        Ok((ok, stderr)) => {
            assert!(ok, "stderr:\n{stderr}");
            assert!(
                stderr.contains("was caught (captured bomb exploded)"),
                "stderr:\n{stderr}"
            );
        }
    }
}

#[test]
fn a_panic_in_a_blocking_job_or_its_result_stays_with_the_caller() {
    with_one_and_two_workers(
        "a_panic_in_a_blocking_job_or_its_result_stays_with_the_caller",
        &["blocking bomb exploded"],
        || {
            let panicked = goro::go!(|| goro::blocking(|| -> u8 { panic!("in the pool") })).join();
            assert!(panicked.is_err());
            // The result is dropped by the coroutine that asked for it: its panic is the
            // coroutine's.
            let dropped = goro::go!(|| drop(goro::blocking(|| Bomb("blocking bomb")))).join();
            assert!(dropped.is_err());
        },
    );
}

#[test]
fn destructors_that_use_the_runtime_during_exit_run() {
    with_one_and_two_workers(
        "destructors_that_use_the_runtime_during_exit_run",
        &[],
        || {
            struct UsesRuntime(Arc<AtomicUsize>);
            impl Drop for UsesRuntime {
                fn drop(&mut self) {
                    // Yields, spawns, joins and catches a panic of its own, all while the
                    // coroutine unwinds from `goro::exit`.
                    goro::yield_now();
                    let n = goro::go!(|| 7).join().unwrap();
                    let caught = std::panic::catch_unwind(|| panic!("caught inside a destructor"));
                    assert!(caught.is_err());
                    self.0.fetch_add(n, Ordering::SeqCst);
                }
            }
            let ran = Arc::new(AtomicUsize::new(0));
            let r = ran.clone();
            let exited = goro::go!(move || {
                let _guard = UsesRuntime(r);
                goro::exit();
            })
            .join();
            assert!(exited.unwrap_err().is::<goro::Exit>());
            assert_eq!(ran.load(Ordering::SeqCst), 7);
        },
    );
}

/// A coroutine parked with nothing that could wake it, whose destructor would yield,
/// is dropped by its last handle: it stays parked (docs/CAVEATS.md §5), and nothing
/// aborts or hangs.
#[test]
fn an_abandoned_parked_coroutine_stays_parked() {
    with_one_and_two_workers("an_abandoned_parked_coroutine_stays_parked", &[], || {
        static DROPPED: AtomicBool = AtomicBool::new(false);
        struct YieldsOnDrop;
        impl Drop for YieldsOnDrop {
            fn drop(&mut self) {
                DROPPED.store(true, Ordering::SeqCst);
                goro::yield_now();
                let (_tx, rx) = chan::bounded::<()>(0);
                let _ = rx.recv(); // would wait for good
            }
        }
        let parked = Arc::new(AtomicBool::new(false));
        let p = parked.clone();
        let handle = goro::go!(move || {
            let _guard = YieldsOnDrop;
            p.store(true, Ordering::SeqCst);
            loop {
                goro_sched::park();
            }
        });
        wait_for("never parked", || parked.load(Ordering::SeqCst));
        std::thread::sleep(Duration::from_millis(20));
        drop(handle);
        std::thread::sleep(Duration::from_millis(50));
        assert!(
            !DROPPED.load(Ordering::SeqCst),
            "a parked coroutine was unwound"
        );
        assert!(goro::stats().parked >= 1);
    });
}

/// `sleep(Duration::MAX)` sleeps for good, holding what it holds, as Go's does.
#[test]
fn sleeping_forever_keeps_a_lock() {
    with_one_and_two_workers("sleeping_forever_keeps_a_lock", &[], || {
        let lock = Arc::new(goro::sync::Mutex::new(()));
        let locked = Arc::new(AtomicBool::new(false));
        let (l, flag) = (lock.clone(), locked.clone());
        drop(goro::go!(move || {
            let _guard = l.lock();
            flag.store(true, Ordering::SeqCst);
            goro::sleep(Duration::MAX);
        }));
        wait_for("never locked", || locked.load(Ordering::SeqCst));
        std::thread::sleep(Duration::from_millis(50));
        assert!(lock.try_lock().is_none(), "the sleeper let go of its lock");
    });
}

/// The lost wake-up of issue 9: a plain thread sends on a rendezvous channel to a
/// coroutine looping in `select!`, then waits for its reply on a second one; round
/// trips for 4 s. A lost wake-up leaves both waiting for good (the child's deadline).
#[test]
fn park_unpark_stress_between_a_thread_and_a_select() {
    const NAME: &str = "park_unpark_stress_between_a_thread_and_a_select";
    for workers in [1, 2] {
        match in_child(NAME, workers, Duration::from_secs(60)) {
            Err(()) => {
                let (rounds, elapsed) = select_ping_pong(Duration::from_secs(4));
                eprintln!("{rounds} round trips in {elapsed:?}");
                return;
            }
            Ok((ok, stderr)) => {
                assert!(ok, "{workers} worker(s): lost a wake-up? stderr:\n{stderr}");
            }
        }
    }
}

/// Round trips until `run` has passed; returns how many and how long they took.
fn select_ping_pong(run: Duration) -> (u64, Duration) {
    let (ping_tx, ping_rx) = chan::bounded::<u64>(0);
    let (pong_tx, pong_rx) = chan::bounded::<u64>(0);
    let (stop_tx, stop_rx) = chan::bounded::<()>(0);
    let echo = goro::go!(move || {
        loop {
            goro::select! {
                recv(ping_rx) -> m => pong_tx.send(m.unwrap() + 1).unwrap(),
                recv(stop_rx) -> _ => return,
            }
        }
    });
    let start = Instant::now();
    let mut rounds = 0u64;
    while start.elapsed() < run {
        for _ in 0..1000 {
            ping_tx.send(rounds).unwrap();
            assert_eq!(pong_rx.recv().unwrap(), rounds + 1);
            rounds += 1;
        }
    }
    let elapsed = start.elapsed();
    stop_tx.send(()).unwrap();
    echo.join().unwrap();
    (rounds, elapsed)
}

/// The same race without channels, and with a wake-up pending every round: the thread
/// unparks the coroutine, publishes a round number (the claim) and unparks it again;
/// the coroutine waits for the claim as `select!` does (check, park, check again); the
/// thread spins for the reply. The second wake-up, finding the first one's permit
/// still pending, is the one that was lost.
#[test]
fn park_unpark_stress_between_a_thread_and_a_coroutine() {
    const NAME: &str = "park_unpark_stress_between_a_thread_and_a_coroutine";
    for workers in [1, 2] {
        match in_child(NAME, workers, Duration::from_secs(60)) {
            Err(()) => {
                let (rounds, elapsed) = raw_ping_pong(Duration::from_secs(4));
                eprintln!("{rounds} round trips in {elapsed:?}");
                return;
            }
            Ok((ok, stderr)) => {
                assert!(ok, "{workers} worker(s): lost a wake-up? stderr:\n{stderr}");
            }
        }
    }
}

fn raw_ping_pong(run: Duration) -> (u64, Duration) {
    use std::sync::atomic::AtomicU64;
    const STOP: u64 = u64::MAX;
    let claim = Arc::new(AtomicU64::new(0));
    let reply = Arc::new(AtomicU64::new(0));
    let (unparker_tx, unparker_rx) = std::sync::mpsc::channel();
    let echo = {
        let (claim, reply) = (claim.clone(), reply.clone());
        goro::go!(move || {
            unparker_tx.send(goro_sched::current_unparker()).unwrap();
            let mut seen = 0;
            loop {
                let round = loop {
                    let round = claim.load(Ordering::Acquire);
                    if round != seen {
                        break round;
                    }
                    goro_sched::park();
                };
                if round == STOP {
                    return;
                }
                seen = round;
                reply.store(round, Ordering::Release);
            }
        })
    };
    let unparker = unparker_rx.recv().unwrap();
    let start = Instant::now();
    let mut round = 0;
    while start.elapsed() < run {
        for _ in 0..10_000 {
            round += 1;
            // An early wake-up first, as a timer's or another channel's may be: it
            // leaves a permit that the coroutine may be consuming just as the wake-up
            // that goes with the claim finds it.
            unparker.unpark();
            claim.store(round, Ordering::Release);
            unparker.unpark();
            let mut spins = 0u64;
            while reply.load(Ordering::Acquire) != round {
                spins += 1;
                if spins % 1024 == 0 {
                    std::thread::yield_now();
                    // A generous bound: the reply takes microseconds.
                    assert!(
                        start.elapsed() < run + Duration::from_secs(20),
                        "lost wake-up: round {round} never answered"
                    );
                }
                std::hint::spin_loop();
            }
        }
    }
    let elapsed = start.elapsed();
    claim.store(STOP, Ordering::Release);
    unparker.unpark();
    echo.join().unwrap();
    (round, elapsed)
}

/// Go's `TestSelectStress`, between coroutines only: on each of four rendezvous
/// channels one plain sender or receiver coroutine, and on the other end a coroutine
/// that serves two of the channels through one `select!` (a case whose quota is met
/// moves to a channel nobody serves). Rounds of 4 x 20,000 messages for 4 s; a lost
/// wake-up leaves a round unfinished (issue 9: 5426cda hung in about 3 s with two
/// workers).
#[test]
fn select_stress_between_coroutines() {
    const NAME: &str = "select_stress_between_coroutines";
    for workers in [1, 2] {
        match in_child(NAME, workers, Duration::from_secs(60)) {
            Err(()) => {
                let start = Instant::now();
                let mut rounds = 0;
                while start.elapsed() < Duration::from_secs(4) {
                    select_stress_round(20_000);
                    rounds += 1;
                }
                eprintln!("{rounds} rounds in {:?}", start.elapsed());
                return;
            }
            Ok((ok, stderr)) => {
                assert!(ok, "{workers} worker(s): lost a wake-up? stderr:\n{stderr}");
            }
        }
    }
}

/// One round of [`select_stress_between_coroutines`]: `n` messages on each channel.
fn select_stress_round(n: usize) {
    let [c0, c1, c2, c3] = [(); 4].map(|()| chan::bounded::<usize>(0));
    // Where a select case goes once its quota is met: nobody sends or receives there.
    let (never_tx, never_rx) = chan::bounded::<usize>(0);
    let mut handles = Vec::new();
    for tx in [c0.0.clone(), c2.0.clone()] {
        handles.push(goro::go!(move || {
            for i in 0..n {
                tx.send(i).unwrap();
            }
        }));
    }
    for rx in [c1.1.clone(), c3.1.clone()] {
        handles.push(goro::go!(move || {
            for _ in 0..n {
                rx.recv().unwrap();
            }
        }));
    }
    let (mut a, mut b, never) = (c1.0.clone(), c3.0.clone(), never_tx.clone());
    handles.push(goro::go!(move || {
        let (mut sent_a, mut sent_b) = (0, 0);
        while sent_a < n || sent_b < n {
            goro::select! {
                send(a, sent_a) -> r => {
                    r.unwrap();
                    sent_a += 1;
                    if sent_a == n {
                        a = never.clone();
                    }
                },
                send(b, sent_b) -> r => {
                    r.unwrap();
                    sent_b += 1;
                    if sent_b == n {
                        b = never.clone();
                    }
                },
            }
        }
    }));
    let (mut a, mut b, never) = (c0.1.clone(), c2.1.clone(), never_rx.clone());
    handles.push(goro::go!(move || {
        let (mut got_a, mut got_b) = (0, 0);
        while got_a < n || got_b < n {
            goro::select! {
                recv(a) -> m => {
                    m.unwrap();
                    got_a += 1;
                    if got_a == n {
                        a = never.clone();
                    }
                },
                recv(b) -> m => {
                    m.unwrap();
                    got_b += 1;
                    if got_b == n {
                        b = never.clone();
                    }
                },
            }
        }
    }));
    // A hang here is caught by the child's deadline.
    for handle in handles {
        handle.join().unwrap();
    }
}
