//! `chan::Select` in crossbeam-channel's shape: operations of any message types, run
//! again, cloned, removed; a `SelectedOperation` completed afterwards with its channel,
//! which gives back what it held (a message, a reserved receiver, reserved room) when
//! dropped uncompleted, then panics.

use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use goro::chan::{self, Select};

fn on_thread_and_in_coroutine(body: fn()) {
    body();
    goro::go!(body).join().unwrap();
}

/// The panic message of `f`, which must panic.
fn panic_message(f: impl FnOnce()) -> String {
    let payload = catch_unwind(AssertUnwindSafe(f)).expect_err("it panics");
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else {
        *payload.downcast::<String>().expect("a string payload")
    }
}

#[test]
fn operations_of_different_message_types_in_one_select() {
    on_thread_and_in_coroutine(|| {
        let (num_tx, num_rx) = chan::unbounded::<u64>();
        let (text_tx, text_rx) = chan::bounded::<String>(0);
        let (bytes_tx, bytes_rx) = chan::bounded::<Vec<u8>>(1);
        num_tx.send(7).unwrap();
        let texter = std::thread::spawn(move || text_tx.send("seven".to_string()).unwrap());

        let mut select = Select::new();
        let num = select.recv(&num_rx);
        let text = select.recv(&text_rx);
        let bytes = select.send(&bytes_tx);
        let (mut got_num, mut got_text, mut sent) = (None, None, false);
        while got_num.is_none() || got_text.is_none() || !sent {
            let oper = select.select();
            let index = oper.index();
            if index == num {
                got_num = Some(oper.recv(&num_rx).unwrap());
            } else if index == text {
                got_text = Some(oper.recv(&text_rx).unwrap());
            } else {
                assert_eq!(index, bytes);
                oper.send(&bytes_tx, vec![7]).unwrap();
                sent = true;
            }
            select.remove(index);
        }
        texter.join().unwrap();
        assert_eq!((got_num, got_text.as_deref()), (Some(7), Some("seven")));
        assert_eq!(bytes_rx.try_recv(), Ok(vec![7]));
    });
}

/// One `Select` run many times (`select(&mut self)`), and a clone of it run elsewhere.
#[test]
fn a_select_runs_again_and_its_clones_too() {
    on_thread_and_in_coroutine(|| {
        let (tx_a, rx_a) = chan::bounded::<u32>(4);
        let (tx_b, rx_b) = chan::bounded::<u32>(0);
        let mut select = Select::new();
        let a = select.recv(&rx_a);
        let b = select.recv(&rx_b);
        let clone = select.clone();
        let senders = std::thread::spawn(move || {
            for i in 0..200 {
                if i % 2 == 0 {
                    tx_a.send(i).unwrap();
                } else {
                    tx_b.send(i).unwrap();
                }
            }
            (tx_a, tx_b) // kept open: a closed channel would be ready too
        });
        let mut got = Vec::new();
        let mut selects = [select, clone];
        for i in 0..200 {
            let oper = selects[i % 2].select();
            if oper.index() == a {
                got.push(oper.recv(&rx_a).unwrap());
            } else {
                assert_eq!(oper.index(), b);
                got.push(oper.recv(&rx_b).unwrap());
            }
        }
        drop(senders.join().unwrap());
        got.sort_unstable();
        assert_eq!(got, (0..200).collect::<Vec<_>>());
    });
}

#[test]
fn a_removed_operation_is_never_selected_and_indices_stay() {
    on_thread_and_in_coroutine(|| {
        let (tx, rx) = chan::unbounded::<u8>();
        let (tx2, rx2) = chan::unbounded::<u8>();
        let (tx3, rx3) = chan::unbounded::<u8>();
        tx.send(1).unwrap();
        tx2.send(2).unwrap();
        let mut select = Select::new();
        let first = select.recv(&rx);
        let second = select.recv(&rx2);
        let third = select.recv(&rx3);
        select.remove(first);
        for _ in 0..10 {
            let oper = select.try_select().unwrap();
            assert_eq!(oper.index(), second);
            assert_eq!(oper.recv(&rx2), Ok(2));
            tx2.send(2).unwrap();
        }
        select.remove(second);
        assert!(select.try_select().is_err());
        tx3.send(3).unwrap();
        let oper = select.select();
        assert_eq!(oper.index(), third);
        assert_eq!(oper.recv(&rx3), Ok(3));
        // Indices are not reused.
        assert_eq!(select.recv(&rx), 3);
        let message = panic_message(|| select.remove(first));
        assert!(
            message.contains("no operation with this index"),
            "{message}"
        );
    });
}

#[test]
fn an_empty_select_selects_nothing() {
    on_thread_and_in_coroutine(|| {
        let mut select = Select::new();
        assert!(select.try_select().is_err());
        assert!(select.select_timeout(Duration::from_millis(5)).is_err());
        let deadline = Instant::now() + Duration::from_millis(5);
        assert!(select.select_deadline(deadline).is_err());
        assert!(Instant::now() >= deadline);
        assert!(select.try_ready().is_err());
        assert!(select.ready_timeout(Duration::from_millis(5)).is_err());
        // Waiting for nothing would be forever: it panics, as crossbeam's.
        let message = panic_message(|| drop(select.clone().select()));
        assert!(
            message.contains("no operations have been added"),
            "{message}"
        );
        let message = panic_message(|| {
            let _ = select.clone().ready();
        });
        assert!(
            message.contains("no operations have been added"),
            "{message}"
        );
    });
}

/// A selected send on a rendezvous channel holds the waiting receiver until the value
/// comes; a selected receive has the message. On plain threads and coroutines alike.
#[test]
fn send_and_recv_through_selected_operations() {
    on_thread_and_in_coroutine(|| {
        let (tx, rx) = chan::bounded::<u64>(0);
        let (back_tx, back_rx) = chan::bounded::<u64>(0);
        let echo = goro::go!(move || {
            let mut select = Select::new();
            let r = select.recv(&rx);
            while let Ok(v) = {
                let oper = select.select();
                assert_eq!(oper.index(), r);
                oper.recv(&rx)
            } {
                back_tx.send(v * 2).unwrap();
            }
        });
        let mut send = Select::new();
        let s = send.send(&tx);
        let mut recv = Select::new();
        let r = recv.recv(&back_rx);
        for i in 0..200 {
            let oper = send.select();
            assert_eq!(oper.index(), s);
            // The receiver is held meanwhile: time passes before the value comes.
            if i % 50 == 0 {
                goro::sleep(Duration::from_millis(1));
            }
            oper.send(&tx, i).unwrap();
            let oper = recv.select();
            assert_eq!(oper.index(), r);
            assert_eq!(oper.recv(&back_rx), Ok(i * 2));
        }
        drop(send);
        drop(tx);
        echo.join().unwrap();
    });
}

/// A selected send on a closed channel fails with its value, as a send does.
#[test]
fn a_selected_send_on_a_closed_channel_fails() {
    on_thread_and_in_coroutine(|| {
        let (tx, rx) = chan::bounded::<u8>(1);
        tx.close();
        let mut select = Select::new();
        select.send(&tx);
        let oper = select.try_select().unwrap();
        assert_eq!(oper.send(&tx, 5), Err(chan::SendError(5)));
        // Room held, then closed: the send fails (Go: a send on a closed channel).
        let (tx, rx2) = chan::bounded::<u8>(1);
        let mut select = Select::new();
        select.send(&tx);
        let oper = select.try_select().unwrap();
        tx.close();
        assert_eq!(oper.send(&tx, 6), Err(chan::SendError(6)));
        assert!(rx2.recv().is_err());
        drop(rx);
    });
}

/// Completing with the wrong channel, or as the wrong kind, panics as crossbeam's does;
/// the selected receive's message goes back to its channel.
#[test]
fn completing_with_another_channel_panics_and_gives_back() {
    on_thread_and_in_coroutine(|| {
        let (tx, rx) = chan::unbounded::<u8>();
        let (other_tx, other_rx) = chan::unbounded::<u8>();
        tx.send(1).unwrap();
        tx.send(2).unwrap();
        let mut select = Select::new();
        select.recv(&rx);
        let oper = select.select();
        let message = panic_message(|| {
            let _ = oper.recv(&other_rx);
        });
        assert!(
            message.contains("passed a receiver that wasn't selected"),
            "{message}"
        );
        let oper = select.select();
        let message = panic_message(|| {
            let _ = oper.send(&tx, 9);
        });
        assert!(
            message.contains("passed a sender that wasn't selected"),
            "{message}"
        );
        // Given back in order: nothing lost.
        assert_eq!(rx.try_iter().collect::<Vec<_>>(), [1, 2]);

        let mut select = Select::new();
        select.send(&tx);
        let oper = select.select();
        let message = panic_message(|| {
            let _ = oper.send(&other_tx, 3);
        });
        assert!(
            message.contains("passed a sender that wasn't selected"),
            "{message}"
        );
        let oper = select.select();
        let message = panic_message(|| {
            let _ = oper.recv(&rx);
        });
        assert!(
            message.contains("passed a receiver that wasn't selected"),
            "{message}"
        );
        assert!(other_rx.try_recv().is_err() && rx.try_recv().is_err());
    });
}

/// Dropped uncompleted: it panics (unless already unwinding), after giving back what it
/// held, so nobody waits forever and no message is lost.
#[test]
fn a_selected_operation_dropped_uncompleted_panics_and_gives_back() {
    on_thread_and_in_coroutine(|| {
        // A selected receive: the message goes back to the front.
        let (tx, rx) = chan::bounded::<u8>(2);
        tx.send(1).unwrap();
        tx.send(2).unwrap();
        let mut select = Select::new();
        select.recv(&rx);
        let message = panic_message(|| drop(select.select()));
        assert!(
            message.contains("dropped `SelectedOperation` without completing the operation"),
            "{message}"
        );
        assert_eq!(rx.try_iter().collect::<Vec<_>>(), [1, 2]);

        // Reserved room: given back, so a send fits again.
        let mut select = Select::new();
        select.send(&tx);
        tx.send(1).unwrap();
        let oper = select.select();
        assert!(tx.try_send(2).is_err(), "the room is held");
        panic_message(|| drop(oper));
        assert_eq!(tx.try_send(2), Ok(()));

        // A reserved rendezvous receiver: it wakes and waits on; a later send reaches it.
        let (tx, rx) = chan::bounded::<u8>(0);
        let receiver = goro::go!(move || rx.recv());
        let mut select = Select::new();
        select.send(&tx);
        let oper = select.select();
        panic_message(|| drop(oper));
        tx.send(4).unwrap();
        assert_eq!(receiver.join().unwrap(), Ok(4));

        // Unwinding with it: no second panic, and the message is back.
        let (tx, rx) = chan::unbounded::<u8>();
        tx.send(5).unwrap();
        let mut select = Select::new();
        select.recv(&rx);
        let message = panic_message(|| {
            let _oper = select.select();
            panic!("the user's own panic");
        });
        assert_eq!(message, "the user's own panic");
        assert_eq!(rx.try_recv(), Ok(5));
    });
}

/// A held receiver whose own wait times out meanwhile still gets the value: it was
/// promised at the selection. Its `recv_timeout` returns it.
#[test]
fn a_held_receiver_gets_the_value_after_its_timeout() {
    on_thread_and_in_coroutine(|| {
        let (tx, rx) = chan::bounded::<u8>(0);
        let receiver = std::thread::spawn(move || rx.recv_timeout(Duration::from_millis(100)));
        let mut select = Select::new();
        select.send(&tx);
        match select.select_timeout(Duration::from_secs(2)) {
            Ok(oper) => {
                std::thread::sleep(Duration::from_millis(200));
                oper.send(&tx, 1).unwrap();
                assert_eq!(receiver.join().unwrap(), Ok(1));
            }
            // (The machine was too slow: the receiver gave up before it was selected.)
            Err(_) => assert!(receiver.join().unwrap().is_err()),
        }
    });
}

/// Producers and consumers all through `Select`s over bounded channels (rendezvous and
/// buffered), some selected operations dropped uncompleted (giving back), for a few
/// seconds at most: every message arrives exactly once.
#[test]
fn bounded_stress_loses_and_duplicates_nothing() {
    const PRODUCERS: u64 = 3;
    const PER_PRODUCER: u64 = 3000;
    let start = Instant::now();
    let channels: Arc<Vec<(chan::Sender<u64>, chan::Receiver<u64>)>> =
        Arc::new(vec![chan::bounded(0), chan::bounded(1), chan::bounded(3)]);
    let seen = Arc::new(Mutex::new(HashSet::new()));
    let producers_done = Arc::new(AtomicBool::new(false));
    let mut producers = Vec::new();
    for p in 0..PRODUCERS {
        let channels = channels.clone();
        let producer = move || {
            let mut select = Select::new();
            for (tx, _) in channels.iter() {
                select.send(tx);
            }
            let mut sent = 0;
            let mut dropped = 0u64;
            while sent < PER_PRODUCER && start.elapsed() < Duration::from_secs(3) {
                let oper = select.select();
                let tx = &channels[oper.index()].0;
                if (sent + dropped) % 97 == 5 {
                    dropped += 1;
                    let _ = catch_unwind(AssertUnwindSafe(|| drop(oper)));
                    continue;
                }
                oper.send(tx, p * PER_PRODUCER + sent).unwrap();
                sent += 1;
            }
            sent
        };
        // (Threads are joined from this thread: a coroutine blocked in a thread's
        // join would hold its worker.)
        producers.push(if p == 0 {
            Err(goro::go!(producer))
        } else {
            Ok(std::thread::spawn(producer))
        });
    }
    let mut consumers = Vec::new();
    for c in 0..2 {
        let channels = channels.clone();
        let seen = seen.clone();
        let producers_done = producers_done.clone();
        let consumer = move || {
            let mut select = Select::new();
            for (_, rx) in channels.iter() {
                select.recv(rx);
            }
            let mut dropped = 0u64;
            loop {
                // Done once the producers are, and nothing is left.
                let done = producers_done.load(Ordering::Acquire);
                let Ok(oper) = select.select_timeout(Duration::from_millis(20)) else {
                    if done {
                        return;
                    }
                    continue;
                };
                let rx = &channels[oper.index()].1;
                dropped += 1;
                if dropped % 89 == 0 {
                    let _ = catch_unwind(AssertUnwindSafe(|| drop(oper)));
                    continue;
                }
                let v = oper.recv(rx).unwrap();
                assert!(seen.lock().unwrap().insert(v), "{v} received twice");
            }
        };
        consumers.push(if c == 0 {
            Err(goro::go!(consumer))
        } else {
            Ok(std::thread::spawn(consumer))
        });
    }
    let sent: Vec<u64> = producers
        .into_iter()
        .map(|h| h.map_or_else(|h| h.join().unwrap(), |h| h.join().unwrap()))
        .collect();
    producers_done.store(true, Ordering::Release);
    for h in consumers {
        h.map_or_else(|h| h.join().unwrap(), |h| h.join().unwrap());
    }
    let seen = seen.lock().unwrap();
    let mut expected = HashSet::new();
    for (p, &n) in sent.iter().enumerate() {
        expected.extend((0..n).map(|i| p as u64 * PER_PRODUCER + i));
    }
    assert_eq!(seen.len(), expected.len(), "a message was lost");
    assert!(*seen == expected);
}

/// A `Select` send waits with an observer entry; a `select!` receiver that queues its
/// entry after the send's last look must wake it (else both wait forever). Many rounds
/// of a `Select` sender against a `select!` receiver on a rendezvous channel, each with
/// a watchdog.
#[test]
fn a_waiting_select_send_meets_a_select_receiver() {
    let start = Instant::now();
    let (tx, rx) = chan::bounded::<u64>(0);
    let (_idle_tx, idle_rx) = chan::bounded::<u64>(0);
    let (progress_tx, progress_rx) = chan::unbounded::<u64>();
    let receiver = std::thread::spawn(move || {
        let mut sum = 0;
        loop {
            goro::select! {
                recv(rx) -> m => match m {
                    Ok(v) => {
                        sum += v;
                        progress_tx.send(v).unwrap();
                    }
                    Err(_) => return sum,
                },
                recv(idle_rx) -> _ => unreachable!(),
            }
        }
    });
    let sender = std::thread::spawn(move || {
        let mut select = Select::new();
        select.send(&tx);
        let mut rounds = 0;
        while rounds < 20_000 && start.elapsed() < Duration::from_secs(2) {
            rounds += 1;
            select.select().send(&tx, 1).unwrap();
        }
        rounds
    });
    let mut got = 0;
    while got < 20_000 {
        match progress_rx.recv_timeout(Duration::from_secs(5)) {
            Ok(_) => got += 1,
            Err(chan::RecvTimeoutError::Disconnected) => break,
            Err(chan::RecvTimeoutError::Timeout) => {
                if sender.is_finished() {
                    break;
                }
                panic!("no progress in 5 s after {got} rounds: a lost wakeup");
            }
        }
    }
    let rounds = sender.join().unwrap();
    assert_eq!(receiver.join().unwrap(), rounds);
}

/// `Select<'a>` is covariant in `'a`, as crossbeam's: a select over long-lived handles
/// can be used where a shorter lifetime is expected (this only has to compile).
#[test]
fn a_select_shortens_its_lifetime() {
    fn shorten<'short>(select: Select<'static>) -> Select<'short> {
        select
    }
    let rx: &'static chan::Receiver<u8> = Box::leak(Box::new(chan::never()));
    let mut long = Select::new();
    long.recv(rx);
    let (_tx, rx2) = chan::unbounded::<u16>();
    let mut short = shorten(long);
    short.recv(&rx2);
    assert!(short.try_select().is_err());
}
