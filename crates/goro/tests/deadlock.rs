//! The deadlock report, the dump on a signal and schedtrace, each program in a child
//! process of this binary, under GORO_WORKERS=1 and 2.
//!
//! `harness = false`: the deadlock rule needs the child's main thread to be the one
//! blocked in goro, and libtest runs each test on a thread of its own while its main
//! thread waits on a std channel (a thread goro cannot account for, so never a
//! deadlock). `main` runs every case in a child (re-running this binary with
//! `GORO_TEST_CASE=<case>`), each with a deadline, and fails if any case does.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const CASE_ENV: &str = "GORO_TEST_CASE";
/// A child still running after this is killed and its case fails.
const DEADLINE: Duration = Duration::from_secs(60);
/// A deadlock is reported after about a second; 10x that is the bound.
const REPORTED_WITHIN: Duration = Duration::from_secs(15);
const MESSAGE: &str = "goro: all coroutines are asleep - deadlock!";

/// (name, program, what its deadlock report's dump must say, or "" if it is not
/// deadlocked)
type Case = (&'static str, fn(), &'static str);

const CASES: &[Case] = &[
    (
        "main_joins_a_coroutine_stuck_on_an_empty_channel",
        join_stuck_receiver,
        "'stuck': parked on chan receive",
    ),
    (
        "two_coroutines_hold_each_others_mutex_main_waits_on_a_waitgroup",
        mutex_cycle,
        "2 coroutines: parked on mutex",
    ),
    (
        "main_waits_on_a_channel_no_coroutine_left",
        main_alone_on_a_channel,
        "goro: 0 coroutines",
    ),
    ("a_coroutine_sleeping_2s", sleeper, ""),
    (
        "a_socket_a_plain_thread_connects_to_after_3s",
        socket_later,
        "",
    ),
    ("a_plain_thread_sends_after_3s", thread_sends_later, ""),
    ("a_blocking_job_running_3s", blocking_job, ""),
];

fn main() {
    if let Ok(case) = std::env::var(CASE_ENV) {
        if case == "signal" {
            return signal_child();
        }
        if case == "schedtrace" {
            return sleeper();
        }
        let (_, program, _) = CASES.iter().find(|c| c.0 == case).expect("a known case");
        program();
        return;
    }
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wanted = |name: &str| filter.is_empty() || filter.iter().any(|f| name.contains(f));
    let mut failures = Vec::new();
    for workers in ["1", "2"] {
        // The cases run at once, each in its own process: a second or two each.
        let running: Vec<_> = CASES
            .iter()
            .filter(|c| wanted(c.0))
            .map(|&(name, _, report)| {
                let (tx, rx) = mpsc::channel();
                std::thread::spawn(move || tx.send(check_case(name, report, workers)));
                (name, rx)
            })
            .collect();
        for (name, rx) in running {
            let result = rx.recv().unwrap();
            println!(
                "test {name} (GORO_WORKERS={workers}) ... {}",
                if result.is_ok() { "ok" } else { "FAILED" }
            );
            if let Err(why) = result {
                failures.push(format!("{name} (GORO_WORKERS={workers}): {why}"));
            }
        }
        if wanted("schedtrace") {
            let result = check_schedtrace(workers);
            println!(
                "test schedtrace_prints_lines (GORO_WORKERS={workers}) ... {}",
                if result.is_ok() { "ok" } else { "FAILED" }
            );
            if let Err(why) = result {
                failures.push(format!("schedtrace (GORO_WORKERS={workers}): {why}"));
            }
        }
        if wanted("signal") {
            let result = check_signal(workers);
            println!(
                "test the_dump_signal_prints_and_the_process_goes_on (GORO_WORKERS={workers}) ... {}",
                if result.is_ok() { "ok" } else { "FAILED" }
            );
            if let Err(why) = result {
                failures.push(format!("signal (GORO_WORKERS={workers}): {why}"));
            }
        }
    }
    if !failures.is_empty() {
        for f in &failures {
            eprintln!("FAILED: {f}\n");
        }
        std::process::exit(101);
    }
}

/// Runs `case` in a child; checks it exits 2 with the report and `report` in it, or,
/// if `report` is empty, 0 without one.
fn check_case(case: &str, report: &str, workers: &str) -> Result<(), String> {
    let deadlocked = !report.is_empty();
    let start = Instant::now();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env(CASE_ENV, case)
        .env("GORO_WORKERS", workers)
        .env_remove("GORO_DEADLOCK")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "still running after {DEADLINE:?}; stderr: {}",
                reader.join().unwrap()
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let took = start.elapsed();
    let stderr = reader.join().unwrap();
    let reported = stderr.contains(MESSAGE);
    match (deadlocked, status.code()) {
        (true, Some(2)) if reported && took < REPORTED_WITHIN => {
            if stderr.contains(report) {
                Ok(())
            } else {
                Err(format!("the report has no dump: {stderr}"))
            }
        }
        (false, Some(0)) if !reported => Ok(()),
        (_, code) => Err(format!(
            "exit {code:?} after {took:?}, expected {}; stderr: {stderr}",
            if deadlocked { "2 with the report" } else { "0" }
        )),
    }
}

/// Main joins a coroutine stuck on an empty channel whose sender main holds.
fn join_stuck_receiver() {
    let (tx, rx) = goro::chan::bounded::<u32>(0);
    let h = goro::Builder::new()
        .name("stuck")
        .spawn(move || rx.recv())
        .unwrap();
    let _ = h.join();
    drop(tx);
}

/// Two coroutines each hold one mutex and wait for the other's; main waits on a
/// WaitGroup they would mark done.
fn mutex_cycle() {
    use std::sync::Arc;
    let a = Arc::new(goro::sync::Mutex::new(()));
    let b = Arc::new(goro::sync::Mutex::new(()));
    let wg = goro::sync::WaitGroup::new();
    let both = Arc::new(goro::sync::Barrier::new(2));
    for (first, second) in [(a.clone(), b.clone()), (b, a)] {
        let (wg, both) = (wg.clone(), both.clone());
        wg.add(1);
        goro::go!(move || {
            let _one = first.lock();
            both.wait(); // each holds its first lock before taking the second
            let _two = second.lock();
            wg.done();
        });
    }
    wg.wait();
}

/// Every coroutine finished; main waits on a channel only it holds the sender of.
fn main_alone_on_a_channel() {
    goro::go!(|| ()).join().unwrap();
    let (tx, rx) = goro::chan::bounded::<u32>(1);
    let _ = rx.recv();
    drop(tx);
}

fn sleeper() {
    goro::go!(|| goro::sleep(Duration::from_secs(2)))
        .join()
        .unwrap();
}

/// A coroutine waits on a socket; a plain thread connects after 3 s (longer than the
/// detector's one second, so the case fails if the socket wait is not counted).
fn socket_later() {
    let listener = goro::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let h = goro::go!(move || listener.accept().map(|_| ()));
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(3));
        std::net::TcpStream::connect(addr).unwrap();
    });
    h.join().unwrap().unwrap();
}

/// Main waits on a channel; a plain thread sends after 3 s.
fn thread_sends_later() {
    let (tx, rx) = goro::chan::bounded::<u32>(0);
    goro::go!(|| ()).join().unwrap(); // the runtime runs
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(3));
        tx.send(7).unwrap();
    });
    assert_eq!(rx.recv(), Ok(7));
}

fn blocking_job() {
    goro::go!(|| goro::blocking(|| std::thread::sleep(Duration::from_secs(3))))
        .join()
        .unwrap();
}

/// The child of the signal test: a named coroutine parks; main says "ready" and waits
/// for a line on stdin, which the parent sends once it has seen the dump.
fn signal_child() {
    let (tx, rx) = goro::chan::bounded::<u32>(0);
    let h = goro::Builder::new()
        .name("sig-waiter")
        .spawn(move || rx.recv())
        .unwrap();
    let parked = || {
        goro::dump()
            .coroutines()
            .iter()
            .any(|c| c.state == goro::CoroutineState::Parked)
    };
    while !parked() {
        std::thread::sleep(Duration::from_millis(1));
    }
    eprintln!("ready");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).unwrap();
    tx.send(1).unwrap();
    assert_eq!(h.join().unwrap(), Ok(1));
    eprintln!("finished normally");
}

fn check_signal(workers: &str) -> Result<(), String> {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env(CASE_ENV, "signal")
        .env("GORO_WORKERS", workers)
        .env("GORO_DUMP_SIGNAL", "QUIT")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = i32::try_from(child.id()).unwrap();
    let (lines_tx, lines) = mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                return;
            }
        }
    });
    let start = Instant::now();
    let mut seen = String::new();
    let wait_for = |needle: &str, seen: &mut String| -> Result<(), String> {
        loop {
            let left = DEADLINE.saturating_sub(start.elapsed());
            match lines.recv_timeout(left) {
                Ok(line) => {
                    seen.push_str(&line);
                    seen.push('\n');
                    if line.contains(needle) {
                        return Ok(());
                    }
                }
                Err(_) => return Err(format!("no {needle:?} in stderr: {seen}")),
            }
        }
    };
    let result = (|| {
        wait_for("ready", &mut seen)?;
        // SAFETY: kill(2) on our own child's pid.
        if unsafe { libc::kill(pid, libc::SIGQUIT) } != 0 {
            return Err("kill failed".into());
        }
        wait_for("'sig-waiter': parked on chan receive", &mut seen)?;
        wait_for("spawned at", &mut seen)?;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"go on\n").map_err(|e| e.to_string())?;
        wait_for("finished normally", &mut seen)
    })();
    if result.is_err() {
        let _ = child.kill();
    }
    let status = child.wait().unwrap();
    result?;
    match status.code() {
        Some(0) => Ok(()),
        code => Err(format!("exit {code:?}; stderr: {seen}")),
    }
}

/// `GORO_SCHEDTRACE=100` on a program that sleeps 2 s: a line every 100 ms.
fn check_schedtrace(workers: &str) -> Result<(), String> {
    let output = Command::new(std::env::current_exe().unwrap())
        .env(CASE_ENV, "schedtrace")
        .env("GORO_WORKERS", workers)
        .env("GORO_SCHEDTRACE", "100")
        .stdout(Stdio::null())
        .output()
        .map_err(|e| e.to_string())?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("goro: SCHED "))
        .collect();
    let expected = format!("workers={workers} ");
    if !output.status.success() || lines.len() < 5 {
        return Err(format!(
            "{:?}, {} lines: {stderr}",
            output.status,
            lines.len()
        ));
    }
    for field in [
        expected.as_str(),
        "busy=",
        "idle=",
        "spinning=",
        "runqueue=",
        "live=",
        "parked=",
        "timers=",
        "steals=",
        "polls=",
        "stack_reserved=",
    ] {
        if !lines[lines.len() / 2].contains(field) {
            return Err(format!("no {field:?} in {}", lines[lines.len() / 2]));
        }
    }
    Ok(())
}
