//! goro::time::{after, tick}: Go's time.After and time.Tick as channels in select!.

use std::time::{Duration, Instant};

use goro::chan::{self, RecvTimeoutError};

#[test]
fn after_fires_once_and_is_never_closed() {
    let start = Instant::now();
    let rx = goro::time::after(Duration::from_millis(20));
    let at = rx.recv().unwrap();
    assert!(at >= start + Duration::from_millis(20));
    // Like Go's: no second value, and not closed (a select would not see it ready).
    assert_eq!(
        rx.recv_timeout(Duration::from_millis(30)),
        Err(RecvTimeoutError::Timeout)
    );
}

#[test]
fn after_as_a_select_timeout_in_coroutines_and_threads() {
    let (_tx, rx) = chan::bounded::<u8>(0);
    let in_coroutine = goro::go!(move || {
        goro::select! {
            recv(rx) -> _ => "message",
            recv(goro::time::after(Duration::from_millis(10))) -> _ => "timeout",
        }
    });
    assert_eq!(in_coroutine.join().unwrap(), "timeout");
    let (tx, rx) = chan::bounded::<u8>(1);
    tx.send(1).unwrap();
    let got = goro::select! {
        recv(rx) -> m => m.unwrap(),
        recv(goro::time::after(Duration::from_secs(10))) -> _ => 0,
    };
    assert_eq!(got, 1);
}

#[test]
fn tick_ticks_and_stops_when_its_receiver_goes() {
    let ticks = goro::time::tick(Duration::from_millis(5));
    let start = Instant::now();
    for _ in 0..5 {
        ticks.recv().unwrap();
    }
    assert!(start.elapsed() >= Duration::from_millis(20));
    // A slow receiver gets one stale tick, not a backlog.
    std::thread::sleep(Duration::from_millis(40));
    assert_eq!(ticks.len(), 1);
    drop(ticks);
    // After the next tick finds no receiver, the ticker is gone; nothing to observe
    // but that nothing breaks meanwhile.
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(goro::go!(|| 1).join().unwrap(), 1);
}

#[test]
#[should_panic(expected = "the period must be positive")]
fn a_zero_tick_is_refused() {
    let _ = goro::time::tick(Duration::ZERO);
}

#[test]
fn a_hundred_thousand_pending_timers_do_not_slow_others_down() {
    let pending: Vec<_> = (0..100_000)
        .map(|_| goro::time::after(Duration::from_secs(3600)))
        .collect();
    // A ping-pong of 10,000 round trips still runs at full speed (generous bound).
    let (to_a, from_main) = chan::bounded::<u32>(0);
    let (to_main, from_a) = chan::bounded::<u32>(0);
    let echo = goro::go!(move || {
        for v in from_main {
            to_main.send(v + 1).unwrap();
        }
    });
    let start = Instant::now();
    let driver = goro::go!(move || {
        let mut v = 0;
        for _ in 0..10_000 {
            to_a.send(v).unwrap();
            v = from_a.recv().unwrap();
        }
        v
    });
    assert_eq!(driver.join().unwrap(), 10_000);
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    echo.join().unwrap();
    assert!(
        goro::stats().coroutines < 1000,
        "timers must not cost coroutines"
    );
    drop(pending);
}

/// Runs `body` on this plain thread, then inside a coroutine.
fn on_thread_and_in_coroutine(body: fn()) {
    body();
    goro::go!(body).join().unwrap();
}

/// An expired timer channel is ready at once, whether or not a worker has run its
/// timer yet (crossbeam; Go since 1.23).
#[test]
fn an_expired_after_is_ready_at_once() {
    on_thread_and_in_coroutine(|| {
        for _ in 0..100 {
            let ready = goro::select! {
                recv(goro::time::after(Duration::ZERO)) -> _ => true,
                default => false,
            };
            assert!(ready, "select took default over an expired after(0)");
            assert!(goro::time::after(Duration::ZERO).try_recv().is_ok());
            assert_eq!(goro::time::after(Duration::ZERO).len(), 1);
        }
    });
}

/// Two expired timers are two ready cases: a uniform choice, not creation order.
#[test]
fn two_expired_afters_are_a_fair_choice() {
    on_thread_and_in_coroutine(|| {
        const N: usize = 200;
        let mut second = 0;
        for _ in 0..N {
            second += goro::select! {
                recv(goro::time::after(Duration::ZERO)) -> _ => 0,
                recv(goro::time::after(Duration::ZERO)) -> _ => 1,
            };
        }
        assert!(
            (N / 10..N - N / 10).contains(&second),
            "the second after(0) won {second} of {N}"
        );
    });
}

/// A timer channel delivers the instant its value was due (see GUIDE, "Timer
/// channels"): exactly, whenever the receiver looks, and a tick stays on its schedule
/// after a slow receiver missed some.
#[test]
fn timer_values_are_the_instants_they_were_due() {
    let ms = Duration::from_millis;
    let before = Instant::now();
    let rx = goro::time::after(ms(20));
    let after_the_call = Instant::now();
    assert_eq!(rx.try_recv(), Err(chan::TryRecvError::Empty));
    std::thread::sleep(ms(40));
    let due = rx.try_recv().unwrap();
    assert!(before + ms(20) <= due && due <= after_the_call + ms(20));
    assert!(
        Instant::now() - due >= ms(20),
        "the value is not when it was received"
    );

    // Every tick is due on the schedule `start + k * period`, also after a slow
    // receiver (or a late timer on a loaded machine) made it drop some.
    let before = Instant::now();
    let ticks = goro::time::tick(ms(5));
    let after_the_call = Instant::now();
    let first = ticks.recv().unwrap();
    assert!(before + ms(5) <= first && first <= after_the_call + ms(5));
    let mut last = first;
    for slow in [false, false, true, false] {
        if slow {
            std::thread::sleep(ms(23)); // one tick kept, the rest missed
        }
        let tick = ticks.recv().unwrap();
        assert!(tick > last);
        assert_eq!((tick - first).as_nanos() % ms(5).as_nanos(), 0);
        last = tick;
    }
}

/// crossbeam-channel's `at`: one value, the instant given; ready at once if past.
#[test]
fn at_delivers_its_instant() {
    on_thread_and_in_coroutine(|| {
        let when = Instant::now() + Duration::from_millis(5);
        let rx = goro::time::at(when);
        assert_eq!(rx.recv(), Ok(when));
        assert_eq!(rx.try_recv(), Err(chan::TryRecvError::Empty));
        let past = Instant::now() - Duration::from_millis(1);
        let ready = goro::select! {
            recv(goro::time::at(past)) -> v => v == Ok(past),
            default => false,
        };
        assert!(ready);
    });
}
