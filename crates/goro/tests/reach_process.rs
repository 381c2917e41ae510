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
    assert!(
        stderr.contains("waking the executor of a finished coroutine was caught"),
        "stderr: {stderr}"
    );
    assert!(stderr.contains("the worker survived"), "stderr: {stderr}");
}

#[test]
fn a_scope_unwound_while_its_children_run_aborts() {
    let Ok((code, stderr)) = in_child("a_scope_unwound_while_its_children_run_aborts") else {
        // The one way to unwind a scope's wait: a goro-context coroutine nested inside a
        // goro one calls `scope`, parks in its wait (suspending back to its resumer),
        // and is dropped there while its child still borrows from its stack.
        let h = goro::go!(|| {
            let (_keep, blocked) = goro::chan::bounded::<()>(0);
            let mut nested = goro_context::Coroutine::new(move || {
                let borrowed = [1u8; 16];
                goro::scope(|s| {
                    s.spawn(|| {
                        let _ = blocked.recv(); // never sent: the child runs on
                        borrowed.len()
                    });
                });
            })
            .unwrap();
            assert!(matches!(
                nested.resume(),
                Ok(goro_context::Resumed::Suspended(_))
            ));
            drop(nested); // unwinds the scope's wait with the child running
        });
        let _ = h.join();
        eprintln!("the scope was unwound without aborting");
        return;
    };
    assert_ne!(code, Some(0), "stderr: {stderr}");
    assert!(
        stderr.contains("a scope was unwound while its coroutines still ran"),
        "stderr: {stderr}"
    );
}
