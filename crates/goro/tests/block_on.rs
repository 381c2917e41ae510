//! `goro::block_on` and `JoinHandle` as a future: hand-written futures woken from other
//! threads, futures ready at once, plain threads, and coroutines awaited from other
//! executors (futures' and tokio's).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// A future completed by a `Trigger` from anywhere; counts its polls.
#[derive(Default)]
struct Shared {
    done: bool,
    waker: Option<Waker>,
    polls: usize,
}

struct Gate(Arc<Mutex<Shared>>);
#[derive(Clone)]
struct Trigger(Arc<Mutex<Shared>>);

fn gate() -> (Gate, Trigger) {
    let shared = Arc::new(Mutex::new(Shared::default()));
    (Gate(shared.clone()), Trigger(shared))
}

impl Future for Gate {
    type Output = usize;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
        let mut s = self.0.lock().unwrap();
        s.polls += 1;
        if s.done {
            return Poll::Ready(s.polls);
        }
        s.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Trigger {
    fn fire(&self) {
        let waker = {
            let mut s = self.0.lock().unwrap();
            s.done = true;
            s.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
    fn has_waker(&self) -> bool {
        self.0.lock().unwrap().waker.is_some()
    }
}

#[test]
fn a_future_woken_from_another_thread_resumes_the_coroutine() {
    let (gate, trigger) = gate();
    let t = trigger.clone();
    let waiter = goro::go!(move || goro::block_on(gate));
    while !t.has_waker() {
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::spawn(move || trigger.fire()).join().unwrap();
    // Polled once pending, once ready: the wake is not lost and costs one poll.
    assert_eq!(waiter.join().unwrap(), 2);
}

#[test]
fn a_ready_future_returns_at_once() {
    let h = goro::go!(|| goro::block_on(async { 5 }) + goro::block_on(std::future::ready(6)));
    assert_eq!(h.join().unwrap(), 11);
}

#[test]
fn a_plain_thread_blocks_until_woken() {
    let (gate, trigger) = gate();
    let t = trigger.clone();
    let firer = std::thread::spawn(move || {
        while !t.has_waker() {
            std::thread::sleep(Duration::from_millis(1));
        }
        trigger.fire();
    });
    assert_eq!(goro::block_on(gate), 2);
    firer.join().unwrap();
}

#[test]
fn stale_unparks_do_not_cost_polls() {
    // Wake the coroutine's unparker many times (as a stale permit would) while the
    // future stays pending: block_on parks again without polling.
    let (gate, trigger) = gate();
    let (tx, rx) = std::sync::mpsc::channel();
    let t = trigger.clone();
    let waiter = goro::go!(move || {
        tx.send(goro_sched_unparker()).unwrap();
        goro::block_on(gate)
    });
    let unparker = rx.recv().unwrap();
    while !t.has_waker() {
        std::thread::sleep(Duration::from_millis(1));
    }
    for _ in 0..100 {
        unparker();
        std::thread::yield_now();
    }
    trigger.fire();
    assert_eq!(waiter.join().unwrap(), 2);
}

/// A closure that unparks the calling coroutine without waking the future it will
/// block on next: the waker of an earlier, finished `block_on` of its own, which holds
/// the same unparker but a flag of its own.
fn goro_sched_unparker() -> impl Fn() + Send + 'static {
    let waker = goro::block_on(std::future::poll_fn(|cx| Poll::Ready(cx.waker().clone())));
    move || waker.wake_by_ref()
}

#[test]
fn a_panic_in_poll_reaches_the_caller() {
    let h = goro::go!(|| goro::block_on(async { panic!("in the future") }));
    let payload = h.join().unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"in the future"));
}

#[test]
fn block_on_borrows_from_the_caller() {
    let h = goro::go!(|| {
        let mut local = vec![1, 2];
        goro::block_on(async {
            local.push(3);
        });
        local
    });
    assert_eq!(h.join().unwrap(), [1, 2, 3]);
}

#[test]
fn join_handle_awaited_from_futures_executor() {
    let handle = goro::go!(|| {
        goro::sleep(Duration::from_millis(20));
        "slept"
    });
    assert_eq!(futures::executor::block_on(handle).unwrap(), "slept");
    let failed = goro::go!(|| -> u8 { panic!("boom") });
    assert!(futures::executor::block_on(failed).is_err());
}

#[test]
fn join_handle_awaited_from_tokio() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let total = rt.block_on(async {
        let tasks: Vec<_> = (0..100u64)
            .map(|i| {
                tokio::spawn(async move {
                    let h = goro::go!(move || {
                        goro::sleep(Duration::from_millis(5));
                        i
                    });
                    h.await.unwrap()
                })
            })
            .collect();
        let mut total = 0;
        for t in tasks {
            total += t.await.unwrap();
        }
        total
    });
    assert_eq!(total, 4950);
}

#[test]
fn a_finished_coroutine_is_ready_at_first_poll() {
    let handle = goro::go!(|| 3);
    while !handle.is_finished() {
        std::thread::yield_now();
    }
    let mut handle = std::pin::pin!(handle);
    let mut cx = Context::from_waker(Waker::noop());
    assert!(matches!(handle.as_mut().poll(&mut cx), Poll::Ready(Ok(3))));
}

#[test]
fn a_coroutine_awaits_another_inside_block_on() {
    let polls = Arc::new(AtomicUsize::new(0));
    let p = polls.clone();
    let outer = goro::go!(move || {
        goro::block_on(async move {
            p.fetch_add(1, Ordering::Relaxed);
            let inner = goro::go!(|| {
                goro::sleep(Duration::from_millis(10));
                7
            });
            inner.await.unwrap() * 6
        })
    });
    assert_eq!(outer.join().unwrap(), 42);
    assert_eq!(polls.load(Ordering::Relaxed), 1);
}

#[test]
fn a_handle_that_reports_finished_is_ready_when_polled() {
    // is_finished() must not run ahead of the result: once it says true, a poll (with
    // a waker that will never be called) is Ready. A bounded stress of the window.
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_secs(2) {
        let handle = goro::go!(|| 3);
        while !handle.is_finished() {} // poll the moment it flips
        let mut handle = std::pin::pin!(handle);
        let mut cx = Context::from_waker(Waker::noop());
        assert!(
            handle.as_mut().poll(&mut cx).is_ready(),
            "is_finished() was true before the result was in place"
        );
    }
}
