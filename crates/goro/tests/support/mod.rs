//! Helpers shared by the integration tests (`mod support;` in each test file that uses
//! them). Each test binary compiles its own copy, so the statics here are per binary.

// Not every test binary uses every helper.
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Once};
use std::thread;
use std::time::{Duration, Instant};

use goro::net::{TcpListener, TcpStream};

/// Starts the runtime with ONE worker (once per test binary) and returns a guard that
/// makes the binary's tests take turns: each needs the one worker (and the spare the
/// monitor may start) to itself.
pub(crate) fn one_worker() -> MutexGuard<'static, ()> {
    static ALONE: Mutex<()> = Mutex::new(());
    static INIT: Once = Once::new();
    INIT.call_once(|| goro::runtime::Builder::new().workers(1).init().unwrap());
    ALONE.lock().unwrap_or_else(|e| e.into_inner())
}

/// A TCP echo server on a free loopback port, one coroutine per accepted connection,
/// forever. Returns its address.
pub(crate) fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    goro::go!(move || {
        for conn in listener.incoming() {
            let mut conn = conn.unwrap();
            goro::go!(move || {
                let mut buf = [0; 4096];
                loop {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if conn.write_all(&buf[..n]).is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    addr
}

/// Echoes `rounds` one-byte messages through the server at `addr` from a coroutine,
/// while the calling thread watches that it finishes within a generous 20 s (else it
/// panics with `starved`: I/O did not get through). Returns the client's handle, done.
pub(crate) fn echo_bytes_without_starving(
    addr: SocketAddr,
    rounds: u8,
    starved: &'static str,
) -> goro::JoinHandle<io::Result<()>> {
    let client = goro::go!(move || -> io::Result<()> {
        let mut conn = TcpStream::connect(addr)?;
        for i in 0..rounds {
            conn.write_all(&[i])?;
            let mut byte = [0];
            conn.read_exact(&mut byte)?;
            assert_eq!(byte[0], i);
        }
        Ok(())
    });
    let start = Instant::now();
    while !client.is_finished() {
        assert!(start.elapsed() < Duration::from_secs(20), "{starved}");
        std::thread::sleep(Duration::from_millis(5));
    }
    client
}

/// Aborts the test binary with `what` unless dropped within `secs`: a blocked worker
/// shows as a hang, and a hang must fail, not wait for CI's limit.
pub(crate) struct Watchdog(Arc<AtomicBool>);

impl Watchdog {
    pub(crate) fn new(secs: u64, what: &'static str) -> Watchdog {
        let done = Arc::new(AtomicBool::new(false));
        let d = done.clone();
        thread::spawn(move || {
            let until = Instant::now() + Duration::from_secs(secs);
            while Instant::now() < until {
                if d.load(Ordering::Acquire) {
                    return;
                }
                thread::sleep(Duration::from_millis(20));
            }
            eprintln!("watchdog: {what} did not finish within {secs} s");
            std::process::abort();
        });
        Watchdog(done)
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// Holds coroutines at their start until opened, so that a test's coroutines have all
/// *started* on the one worker before any of them makes a blocking call. A started
/// coroutine stays home; one that has not started could be moved to a spare worker by
/// the monitor when the worker's thread blocks, and hide the block. With every
/// coroutine home, a call that blocked the thread would stall all of them: without the
/// hooks tests hang (and the watchdog fails them) or miss their bounds.
pub(crate) struct Gate {
    open: goro::chan::Sender<()>,
    wait: goro::chan::Receiver<()>,
}

impl Gate {
    pub(crate) fn new() -> Gate {
        let (open, wait) = goro::chan::bounded(0);
        Gate { open, wait }
    }

    /// Spawns `f` and returns once it has started; `f` runs when the gate opens.
    pub(crate) fn spawn<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> goro::JoinHandle<T> {
        let (started, has_started) = goro::chan::bounded(0);
        let wait = self.wait.clone();
        let handle = goro::go!(move || {
            started.send(()).unwrap();
            let _ = wait.recv(); // Err once the gate opens (closes)
            f()
        });
        has_started.recv().unwrap();
        handle
    }

    pub(crate) fn open(self) {
        self.open.close();
    }
}

/// What a coroutine sleeping 1 ms in a loop did while a blocking call ran in another
/// coroutine on the same (single) worker ([`ticks_while`]).
pub(crate) struct Ticks {
    /// Ticks while the blocking call ran: none if it blocked the worker's thread (the
    /// sleeper shares that thread and cannot move).
    pub(crate) during: usize,
    /// The largest gap between two ticks, for the report only: on a loaded machine a
    /// plain thread sleeping 1 ms sees gaps of 200 ms and more, so a bound on it fails
    /// for reasons that are not goro's.
    pub(crate) worst: Duration,
}

impl Ticks {
    /// Fails unless the sleeper ticked while the blocking call waited. One tick is
    /// enough: a blocked worker gives exactly none, and a machine stall (seen up to
    /// 850 ms here) can swallow most of a short call.
    pub(crate) fn assert_worker_ran(&self) {
        assert!(
            self.during >= 1,
            "the sleeper ticked {} times while the blocking call ran (worst gap {:?}): \
             the worker was blocked",
            self.during,
            self.worst
        );
    }
}

/// Runs `blocker` in a coroutine beside a sleeper on the same (single) worker, and
/// returns how the sleeper fared meanwhile.
pub(crate) fn ticks_while<T: Send + 'static>(
    blocker: impl FnOnce() -> T + Send + 'static,
) -> (Ticks, T) {
    let running = Arc::new(AtomicBool::new(true));
    let ticks = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (r, t) = (running.clone(), ticks.clone());
    let gate = Gate::new();
    let sleeper = gate.spawn(move || {
        let mut worst = Duration::ZERO;
        let mut last = Instant::now();
        while r.load(Ordering::Acquire) {
            goro::sleep(Duration::from_millis(1));
            t.fetch_add(1, Ordering::Relaxed);
            let now = Instant::now();
            worst = worst.max(now - last);
            last = now;
        }
        worst
    });
    let blocker = gate.spawn(move || {
        goro::sleep(Duration::from_millis(20)); // the sleeper is in its loop by then
        let before = ticks.load(Ordering::Relaxed);
        let result = blocker();
        (ticks.load(Ordering::Relaxed) - before, result)
    });
    gate.open();
    let (during, result) = blocker.join().unwrap();
    running.store(false, Ordering::Release);
    let worst = sleeper.join().unwrap();
    (Ticks { during, worst }, result)
}
