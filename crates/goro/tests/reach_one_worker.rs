//! The reach features on ONE worker: many coroutines parked in `block_on` make progress
//! as their wakers fire, and coroutine-locals stay apart while coroutines interleave.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

mod support;
use support::one_worker;

/// Ready once its flag is set; hands its waker to a shared list when pending.
struct Flagged {
    flag: Arc<AtomicBool>,
    wakers: Arc<Mutex<Vec<Waker>>>,
}

impl Future for Flagged {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.flag.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        self.wakers.lock().unwrap().push(cx.waker().clone());
        // The flag may have been set between the check and the push: check again.
        if self.flag.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

#[test]
fn ten_thousand_coroutines_in_block_on_progress_as_wakers_fire() {
    let _alone = one_worker();
    const N: usize = 10_000;
    let wakers = Arc::new(Mutex::new(Vec::new()));
    let flags: Vec<_> = (0..N).map(|_| Arc::new(AtomicBool::new(false))).collect();
    let handles: Vec<_> = flags
        .iter()
        .map(|flag| {
            let future = Flagged {
                flag: flag.clone(),
                wakers: wakers.clone(),
            };
            goro::go!(move || goro::block_on(future))
        })
        .collect();
    // Another thread releases them in batches, firing the wakers collected so far,
    // and keeps firing late registrations (a poll after its drain) until told to stop.
    let start = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let firer = {
        let (wakers, stop) = (wakers.clone(), stop.clone());
        std::thread::spawn(move || {
            for batch in flags.chunks(1000) {
                for flag in batch {
                    flag.store(true, Ordering::Release);
                }
                for waker in std::mem::take(&mut *wakers.lock().unwrap()) {
                    waker.wake();
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            while !stop.load(Ordering::Acquire) {
                for waker in std::mem::take(&mut *wakers.lock().unwrap()) {
                    waker.wake();
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };
    for h in handles {
        h.join().unwrap();
    }
    stop.store(true, Ordering::Release);
    firer.join().unwrap();
    assert!(start.elapsed() < Duration::from_secs(60));
}

goro::coroutine_local! {
    static MINE: Cell<usize> = const { Cell::new(usize::MAX) };
}

#[test]
fn coroutine_locals_stay_apart_across_yields_on_one_worker() {
    let _alone = one_worker();
    let handles: Vec<_> = (0..1000usize)
        .map(|i| {
            goro::go!(move || {
                assert_eq!(MINE.with(Cell::get), usize::MAX, "each starts fresh");
                MINE.with(|m| m.set(i));
                for _ in 0..5 {
                    goro::yield_now(); // the other 999 run here and set theirs
                    assert_eq!(MINE.with(Cell::get), i);
                }
                MINE.with(Cell::get)
            })
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        assert_eq!(h.join().unwrap(), i);
    }
}

/// Pending once after waking itself: a future that yields to its executor, as
/// `tokio::task::yield_now` and spin-waiting async code do.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[test]
fn a_future_that_yields_in_block_on_lets_the_worker_run_others() {
    let _alone = one_worker();
    let flag = Arc::new(AtomicBool::new(false));
    // The setter starts (and so stays on the one worker) before the spinner exists.
    let (started, has_started) = goro::chan::bounded(0);
    let setter = {
        let flag = flag.clone();
        goro::go!(move || {
            started.send(()).unwrap();
            goro::sleep(Duration::from_millis(5));
            flag.store(true, Ordering::Release);
        })
    };
    has_started.recv().unwrap();
    let spinner = goro::go!(move || {
        goro::block_on(async move {
            // Gives up after a generous bound instead of hanging the test.
            let start = Instant::now();
            while !flag.load(Ordering::Acquire) {
                if start.elapsed() > Duration::from_secs(10) {
                    return false;
                }
                YieldOnce(false).await;
            }
            true
        })
    });
    assert!(
        spinner.join().unwrap(),
        "the setter never ran: block_on polled a self-woken future without yielding"
    );
    setter.join().unwrap();
}
