//! Channel semantics, with Go's test/chan programs as the checklist: FIFO order,
//! rendezvous, close, disconnection, timeouts, MPMC exactly-once, threads and
//! coroutines on one channel, a daisy chain and a prime sieve.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use goro::chan::{self, RecvTimeoutError, SendTimeoutError, TryRecvError, TrySendError};

#[path = "../../goro-context/tests/support/child.rs"]
mod child;

#[test]
fn buffered_channels_are_fifo() {
    let (tx, rx) = chan::bounded(100);
    for i in 0..100 {
        tx.send(i).unwrap();
    }
    assert_eq!(rx.len(), 100);
    assert_eq!(tx.try_send(100), Err(TrySendError::Full(100)));
    let got: Vec<i32> = rx.try_iter().collect();
    assert_eq!(got, (0..100).collect::<Vec<_>>());
}

#[test]
fn a_rendezvous_send_completes_only_when_received() {
    let (tx, rx) = chan::bounded(0);
    assert_eq!(
        tx.try_send(1),
        Err(TrySendError::Full(1)),
        "no receiver waiting"
    );
    let sent = Arc::new(AtomicBool::new(false));
    let s = sent.clone();
    let h = goro::go!(move || {
        tx.send(7).unwrap();
        s.store(true, Ordering::SeqCst);
    });
    std::thread::sleep(Duration::from_millis(50));
    assert!(
        !sent.load(Ordering::SeqCst),
        "send returned before anyone received"
    );
    assert_eq!(rx.recv(), Ok(7));
    h.join().unwrap();
    assert!(sent.load(Ordering::SeqCst));
}

#[test]
fn close_lets_receivers_drain_then_fails() {
    let (tx, rx) = chan::bounded(4);
    tx.send(1).unwrap();
    tx.send(2).unwrap();
    assert!(tx.close());
    assert!(!tx.close(), "only the first close closes");
    assert!(tx.is_closed() && rx.is_closed());
    assert_eq!(
        tx.send(3).unwrap_err().into_inner(),
        3,
        "the value comes back"
    );
    assert_eq!(rx.recv(), Ok(1));
    assert_eq!(rx.recv(), Ok(2));
    assert!(rx.recv().is_err());
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
}

#[test]
fn close_wakes_every_waiter() {
    let (tx, rx) = chan::bounded::<u32>(0);
    let receivers: Vec<_> = (0..10)
        .map(|_| {
            let rx = rx.clone();
            goro::go!(move || rx.recv())
        })
        .collect();
    let (tx2, _rx2) = chan::bounded::<u32>(0);
    let blocked_sender = {
        let tx2 = tx2.clone();
        goro::go!(move || tx2.send(9))
    };
    std::thread::sleep(Duration::from_millis(20));
    tx.close();
    for r in receivers {
        assert!(r.join().unwrap().is_err());
    }
    tx2.close();
    assert_eq!(blocked_sender.join().unwrap().unwrap_err().into_inner(), 9);
}

#[test]
fn dropping_every_sender_closes_and_every_receiver_fails_sends() {
    let (tx, rx) = chan::unbounded::<u8>();
    let tx2 = tx.clone();
    drop(tx);
    assert!(!rx.is_closed());
    drop(tx2);
    assert!(rx.recv().is_err());

    let (tx, rx) = chan::bounded(0);
    let waiting = goro::go!(move || tx.send(5u8));
    std::thread::sleep(Duration::from_millis(20));
    drop(rx);
    assert_eq!(waiting.join().unwrap().unwrap_err().into_inner(), 5);
}

#[test]
fn timeouts() {
    let (tx, rx) = chan::bounded::<u8>(0);
    let start = Instant::now();
    assert_eq!(
        rx.recv_timeout(Duration::from_millis(20)),
        Err(RecvTimeoutError::Timeout)
    );
    assert!(start.elapsed() >= Duration::from_millis(20));
    assert_eq!(
        tx.send_timeout(3, Duration::from_millis(20)),
        Err(SendTimeoutError::Timeout(3))
    );
    // A timed-out waiter leaves nothing behind: the next exchange works normally.
    let h = goro::go!(move || rx.recv_timeout(Duration::from_secs(10)));
    tx.send(4).unwrap();
    assert_eq!(h.join().unwrap(), Ok(4));
    // The same from coroutines, while others keep running.
    let (_tx, rx) = chan::bounded::<u8>(0);
    let waiters: Vec<_> = (0..100)
        .map(|_| {
            let rx = rx.clone();
            goro::go!(move || rx.recv_timeout(Duration::from_millis(30)))
        })
        .collect();
    let busy = goro::go!(|| (0..1000).map(|i| i * 2).sum::<u64>());
    assert_eq!(busy.join().unwrap(), 999_000);
    for w in waiters {
        assert_eq!(w.join().unwrap(), Err(RecvTimeoutError::Timeout));
    }
    let never = chan::never::<u8>();
    assert_eq!(never.try_recv(), Err(TryRecvError::Empty));
    assert!(never.recv_timeout(Duration::from_millis(5)).is_err());
}

#[test]
fn mpmc_delivers_each_message_exactly_once() {
    for cap in [0, 1, 16, usize::MAX] {
        let (tx, rx) = if cap == usize::MAX {
            chan::unbounded()
        } else {
            chan::bounded(cap)
        };
        const PER: u64 = 5_000;
        let producers: Vec<_> = (0..4u64)
            .map(|p| {
                let tx = tx.clone();
                goro::go!(move || {
                    for i in 0..PER {
                        tx.send(p * PER + i).unwrap();
                    }
                })
            })
            .collect();
        drop(tx);
        let consumers: Vec<_> = (0..4)
            .map(|_| {
                let rx = rx.clone();
                goro::go!(move || rx.iter().collect::<Vec<u64>>())
            })
            .collect();
        for p in producers {
            p.join().unwrap();
        }
        let mut all = HashSet::new();
        let mut count = 0;
        for c in consumers {
            for v in c.join().unwrap() {
                assert!(all.insert(v), "{v} delivered twice (cap {cap})");
                count += 1;
            }
        }
        assert_eq!(count, 4 * PER as usize, "cap {cap}");
    }
}

#[test]
fn threads_and_coroutines_share_a_channel() {
    let (tx, rx) = chan::bounded(2);
    let total = Arc::new(AtomicUsize::new(0));
    let thread_senders: Vec<_> = (0..2)
        .map(|_| {
            let tx = tx.clone();
            std::thread::spawn(move || (0..1000).for_each(|i| tx.send(i).unwrap()))
        })
        .collect();
    let coroutine_senders: Vec<_> = (0..2)
        .map(|_| {
            let tx = tx.clone();
            goro::go!(move || (0..1000).for_each(|i| tx.send(i).unwrap()))
        })
        .collect();
    drop(tx);
    let t = total.clone();
    let rx2 = rx.clone();
    let thread_receiver = std::thread::spawn(move || {
        for v in rx2 {
            t.fetch_add(v, Ordering::Relaxed);
        }
    });
    let t = total.clone();
    let coroutine_receiver = goro::go!(move || {
        for v in &rx {
            t.fetch_add(v, Ordering::Relaxed);
        }
    });
    thread_senders.into_iter().for_each(|h| h.join().unwrap());
    coroutine_senders
        .into_iter()
        .for_each(|h| h.join().unwrap());
    thread_receiver.join().unwrap();
    coroutine_receiver.join().unwrap();
    assert_eq!(total.load(Ordering::Relaxed), 4 * 999 * 1000 / 2);
}

#[test]
fn a_daisy_chain_of_ten_thousand_coroutines() {
    // Go's test/chan/daisy_chain.go (Whispers).
    let (leftmost_tx, mut left) = chan::bounded::<u64>(0);
    for _ in 0..10_000 {
        let (tx, right) = chan::bounded(0);
        let from = left;
        goro::go!(move || {
            let v = from.recv().unwrap();
            tx.send(v + 1).unwrap();
        });
        left = right;
    }
    goro::go!(move || leftmost_tx.send(1).unwrap());
    assert_eq!(left.recv(), Ok(10_001));
}

#[test]
fn a_prime_sieve() {
    // Go's test/chan/sieve1.go: a pipeline of filter coroutines.
    let (tx, rx) = chan::bounded::<u64>(0);
    goro::go!(move || {
        for i in 2.. {
            if tx.send(i).is_err() {
                return;
            }
        }
    });
    let mut primes = Vec::new();
    let mut source = rx;
    for _ in 0..25 {
        let prime = source.recv().unwrap();
        primes.push(prime);
        let (tx, next) = chan::bounded(0);
        let from = source;
        goro::go!(move || {
            for v in from.iter() {
                if v % prime != 0 && tx.send(v).is_err() {
                    return;
                }
            }
        });
        source = next;
    }
    assert_eq!(primes.last(), Some(&97));
    assert_eq!(primes.len(), 25);
    drop(source); // the filters and the generator wind down as their receivers go
}

#[test]
fn close_races_lose_nothing() {
    for _ in 0..200 {
        let (tx, rx) = chan::bounded(4);
        let sent = Arc::new(AtomicUsize::new(0));
        let s = sent.clone();
        let tx2 = tx.clone();
        let sender = goro::go!(move || {
            let mut i = 0usize;
            while tx2.send(i).is_ok() {
                s.fetch_add(1, Ordering::SeqCst);
                i += 1;
            }
        });
        let closer = goro::go!(move || {
            goro::yield_now();
            tx.close();
        });
        let received = rx.iter().count();
        closer.join().unwrap();
        sender.join().unwrap();
        assert_eq!(
            received,
            sent.load(Ordering::SeqCst),
            "a sent message was lost"
        );
    }
}

/// crossbeam's drop_unreceived: when the last receiver goes, the buffered messages are
/// dropped at once, not kept until the senders go too (a long-lived sender to a dead
/// consumer would keep them forever).
#[test]
fn the_last_receiver_drops_the_buffered_messages() {
    for (tx, rx) in [chan::bounded(1), chan::bounded(4), chan::unbounded()] {
        let message = Arc::new(());
        tx.send(message.clone()).unwrap();
        let rx2 = rx.clone();
        drop(rx);
        assert_eq!(
            Arc::strong_count(&message),
            2,
            "a receiver may still take it"
        );
        drop(rx2);
        assert_eq!(
            Arc::strong_count(&message),
            1,
            "dropped with the last receiver"
        );
        assert!(tx.send(message.clone()).is_err());
        assert_eq!(Arc::strong_count(&message), 1);
    }
}

/// A message whose destructor panics, dropped by the channel: that one panic
/// propagates (from the drop of the last handle) and the messages behind it leak,
/// rather than a second panic during unwinding aborting the process (crossbeam's
/// array::panic_on_drop). Either handle may go last.
#[test]
fn a_panicking_message_destructor_does_not_abort() {
    let test = "a_panicking_message_destructor_does_not_abort";
    let Ok((status, stderr)) = child::in_child(test, &[]) else {
        struct Bomb;
        impl Drop for Bomb {
            fn drop(&mut self) {
                panic!("a message's destructor panics");
            }
        }
        for receiver_last in [true, false] {
            let (tx, rx) = chan::bounded(2);
            tx.send(Bomb).unwrap();
            tx.send(Bomb).unwrap();
            let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                if receiver_last {
                    drop(tx);
                    drop(rx);
                } else {
                    drop(rx);
                    drop(tx);
                }
            }));
            assert!(dropped.is_err(), "the panic propagates");
        }
        eprintln!("survived both");
        return;
    };
    assert!(status.success(), "{status}: {stderr}");
    assert!(stderr.contains("survived both"), "{stderr}");
}

/// `never` is a channel with no buffer, as crossbeam's.
#[test]
fn never_has_no_buffer() {
    assert_eq!(chan::never::<u8>().capacity(), Some(0));
}

/// crossbeam-channel's `is_full` and `same_channel`.
#[test]
fn is_full_and_same_channel() {
    let (tx, rx) = chan::bounded(2);
    assert!(!tx.is_full() && !rx.is_full());
    tx.send(1).unwrap();
    tx.send(2).unwrap();
    assert!(tx.is_full() && rx.is_full());
    rx.recv().unwrap();
    assert!(!tx.is_full());
    let (zero_tx, zero_rx) = chan::bounded::<u8>(0);
    assert!(
        zero_tx.is_full() && zero_rx.is_full(),
        "a rendezvous has no room"
    );
    let (big_tx, big_rx) = chan::unbounded();
    (0..10_000).for_each(|i| big_tx.send(i).unwrap());
    assert!(!big_tx.is_full() && !big_rx.is_full());
    assert!(chan::never::<u8>().is_full());

    assert!(tx.same_channel(&tx.clone()) && rx.same_channel(&rx.clone()));
    assert!(!tx.same_channel(&chan::bounded(2).0));
    assert!(!rx.same_channel(&chan::bounded(2).1));
    let never = chan::never::<i32>();
    assert!(!never.same_channel(&chan::never()));
}

/// Handles may cross `catch_unwind`, as crossbeam-channel's may.
#[test]
fn handles_are_unwind_safe() {
    fn unwind_safe<T: std::panic::UnwindSafe + std::panic::RefUnwindSafe>(_: &T) {}
    let (tx, rx) = chan::unbounded::<std::cell::Cell<u8>>();
    unwind_safe(&tx);
    unwind_safe(&rx);
    let sent = std::panic::catch_unwind(|| {
        tx.send(std::cell::Cell::new(1)).unwrap();
        panic!("after sending");
    });
    assert!(sent.is_err());
    assert_eq!(rx.recv().map(|c| c.get()), Ok(1));
}
