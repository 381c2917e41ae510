//! goro::sync::Condvar with goro::sync::Mutex: notify_one, notify_all, timeouts,
//! coroutines and threads mixed.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use goro::sync::{Condvar, Mutex};

#[test]
fn notify_one_hands_out_tokens_one_by_one() {
    let state = Arc::new((Mutex::new(0usize), Condvar::new()));
    let consumed = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..20)
        .map(|_| {
            let (state, consumed) = (state.clone(), consumed.clone());
            goro::go!(move || {
                let (tokens, cv) = &*state;
                let mut t = cv.wait_while(tokens.lock(), |t| *t == 0);
                *t -= 1;
                consumed.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    let (s, c) = (state.clone(), consumed.clone());
    let thread_waiter = thread::spawn(move || {
        let (tokens, cv) = &*s;
        let mut t = cv.wait_while(tokens.lock(), |t| *t == 0);
        *t -= 1;
        c.fetch_add(1, Ordering::SeqCst);
    });
    for _ in 0..21 {
        *state.0.lock() += 1;
        state.1.notify_one();
        thread::sleep(Duration::from_micros(200));
    }
    for h in handles {
        h.join().unwrap();
    }
    thread_waiter.join().unwrap();
    assert_eq!(consumed.load(Ordering::SeqCst), 21);
    assert_eq!(*state.0.lock(), 0);
}

#[test]
fn notify_all_wakes_coroutines_and_threads() {
    let gate = Arc::new((Mutex::new(false), Condvar::new()));
    let waiting = Arc::new(AtomicUsize::new(0));
    let coroutines: Vec<_> = (0..50)
        .map(|_| {
            let (gate, waiting) = (gate.clone(), waiting.clone());
            goro::go!(move || {
                let mut open = gate.0.lock();
                waiting.fetch_add(1, Ordering::SeqCst);
                while !*open {
                    open = gate.1.wait(open);
                }
            })
        })
        .collect();
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let (gate, waiting) = (gate.clone(), waiting.clone());
            thread::spawn(move || {
                let mut open = gate.0.lock();
                waiting.fetch_add(1, Ordering::SeqCst);
                while !*open {
                    open = gate.1.wait(open);
                }
            })
        })
        .collect();
    while waiting.load(Ordering::SeqCst) < 53 {
        thread::sleep(Duration::from_millis(1));
    }
    *gate.0.lock() = true;
    gate.1.notify_all();
    for h in coroutines {
        h.join().unwrap();
    }
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn wait_timeout_times_out_in_a_coroutine_and_a_thread() {
    let check = || {
        let (m, cv) = (Mutex::new(0), Condvar::new());
        let start = Instant::now();
        let (guard, result) = cv.wait_timeout(m.lock(), Duration::from_millis(20));
        assert!(result.timed_out());
        assert!(start.elapsed() >= Duration::from_millis(20));
        assert_eq!(*guard, 0);
    };
    check();
    goro::go!(check).join().unwrap();
    // The lock is usable after a timeout, and a later notify finds nobody.
    let (m, cv) = (Mutex::new(()), Condvar::new());
    drop(cv.wait_timeout(m.lock(), Duration::from_millis(1)));
    cv.notify_one();
    assert!(m.try_lock().is_some());
}

#[test]
fn wait_timeout_notified_before_the_deadline() {
    let state = Arc::new((Mutex::new(false), Condvar::new()));
    let s = state.clone();
    let waiter = goro::go!(move || {
        let (flag, cv) = &*s;
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut f = flag.lock();
        while !*f {
            let left = deadline.saturating_duration_since(Instant::now());
            let (g, result) = cv.wait_timeout(f, left);
            f = g;
            if result.timed_out() {
                return false;
            }
        }
        true
    });
    thread::sleep(Duration::from_millis(10));
    *state.0.lock() = true;
    state.1.notify_all();
    assert!(waiter.join().unwrap(), "the notification was lost");
}

#[test]
fn ping_pong_between_a_thread_and_a_coroutine() {
    const ROUNDS: u32 = 1000;
    // The turn: even = the coroutine's move, odd = the thread's.
    let state = Arc::new((Mutex::new(0u32), Condvar::new()));
    let s = state.clone();
    let coroutine = goro::go!(move || {
        let (turn, cv) = &*s;
        for i in 0..ROUNDS {
            let mut t = cv.wait_while(turn.lock(), |t| *t != 2 * i);
            *t += 1;
            cv.notify_all();
        }
    });
    let (turn, cv) = &*state;
    for i in 0..ROUNDS {
        let mut t = cv.wait_while(turn.lock(), |t| *t != 2 * i + 1);
        *t += 1;
        cv.notify_all();
    }
    coroutine.join().unwrap();
    assert_eq!(*turn.lock(), 2 * ROUNDS);
}

#[test]
fn many_timeouts_racing_with_notifies_lose_nothing() {
    // Waiters with short timeouts and a notifier: every token put in is taken out,
    // whichever of timeout and notify wins each race.
    let state = Arc::new((Mutex::new(0usize), Condvar::new()));
    let taken = Arc::new(AtomicUsize::new(0));
    let consumers: Vec<_> = (0..10)
        .map(|_| {
            let (state, taken) = (state.clone(), taken.clone());
            goro::go!(move || {
                let (tokens, cv) = &*state;
                let mut t = tokens.lock();
                while taken.load(Ordering::SeqCst) < 500 {
                    if *t > 0 {
                        *t -= 1;
                        taken.fetch_add(1, Ordering::SeqCst);
                        continue;
                    }
                    t = cv.wait_timeout(t, Duration::from_micros(300)).0;
                }
            })
        })
        .collect();
    for i in 0..500 {
        *state.0.lock() += 1;
        state.1.notify_one();
        if i % 50 == 0 {
            thread::sleep(Duration::from_millis(1));
        }
    }
    for h in consumers {
        h.join().unwrap();
    }
    assert_eq!(taken.load(Ordering::SeqCst), 500);
    assert_eq!(*state.0.lock(), 0);
}
