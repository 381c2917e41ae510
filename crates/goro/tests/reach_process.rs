//! Reach features whose failure would crash or hang the process, each in a child
//! process with a deadline.

use std::future::Future;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::task::{Context, Wake, Waker};
use std::time::{Duration, Instant};

/// Re-runs this test binary for `test` alone with `GORO_CHILD=<test>` and the runtime on
/// one worker; returns the child's exit code and stderr, killing it after 30 s (`None`).
/// In the child itself returns `Err(())`, and the test does the risky part.
fn in_child(test: &str) -> Result<(Option<i32>, String), ()> {
    if std::env::var("GORO_CHILD").as_deref() == Ok(test) {
        return Err(());
    }
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env("GORO_CHILD", test)
        .env("GORO_WORKERS", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if start.elapsed() > Duration::from_secs(30) {
            child.kill().unwrap();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    let _ = child.wait();
    Ok((status, stderr))
}

struct PanickingWaker;

impl Wake for PanickingWaker {
    fn wake(self: Arc<Self>) {
        panic!("a waker that panics");
    }
}

#[test]
fn a_panicking_waker_does_not_take_down_the_worker() {
    let Ok((code, stderr)) = in_child("a_panicking_waker_does_not_take_down_the_worker") else {
        // Await a coroutine with a waker that panics when the coroutine finishes: the
        // worker that finishes it calls the waker.
        let mut handle = goro::go!(|| goro::sleep(Duration::from_millis(20)));
        let waker = Waker::from(Arc::new(PanickingWaker));
        let mut cx = Context::from_waker(&waker);
        assert!(std::pin::Pin::new(&mut handle).poll(&mut cx).is_pending());
        while !handle.is_finished() {
            std::thread::sleep(Duration::from_millis(1));
        }
        // The one worker must still run coroutines.
        assert_eq!(goro::go!(|| 5).join().unwrap(), 5);
        eprintln!("the worker survived");
        return;
    };
    assert_eq!(code, Some(0), "stderr: {stderr}");
    assert!(stderr.contains("a Waker panicked"), "stderr: {stderr}");
    assert!(stderr.contains("the worker survived"), "stderr: {stderr}");
}
