//! select! semantics: Go's test/chan select, doubleselect and nonblock programs as the
//! checklist, plus fairness, self-rendezvous and losing cases keeping their messages.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use goro::chan;

#[test]
fn picks_the_ready_case_default_otherwise() {
    let (tx1, rx1) = chan::unbounded::<u8>();
    let (_tx2, rx2) = chan::unbounded::<u8>();
    tx1.send(1).unwrap();
    let got = goro::select! {
        recv(rx1) -> m => m.unwrap(),
        recv(rx2) -> m => m.unwrap() + 100,
        default => 0,
    };
    assert_eq!(got, 1);
    let none = goro::select! {
        recv(rx1) -> _ => false,
        recv(rx2) -> _ => false,
        default => true,
    };
    assert!(none);
    let start = Instant::now();
    let timed_out = goro::select! {
        recv(rx2) -> _ => false,
        default(Duration::from_millis(20)) => true,
    };
    assert!(timed_out && start.elapsed() >= Duration::from_millis(20));
}

#[test]
fn a_blocking_select_completes_when_a_counterpart_arrives() {
    let (tx_a, rx_a) = chan::bounded::<u32>(0);
    let (tx_b, rx_b) = chan::bounded::<&str>(0);
    let rx_a2 = rx_a.clone();
    let selector = goro::go!(move || {
        let rx_a = rx_a2;
        goro::select! {
            recv(rx_a) -> m => format!("a{}", m.unwrap()),
            recv(rx_b) -> m => format!("b{}", m.unwrap()),
        }
    });
    std::thread::sleep(Duration::from_millis(20)); // it is parked by now
    tx_b.send("x").unwrap();
    assert_eq!(selector.join().unwrap(), "bx");
    // The losing case left nothing behind: a later plain exchange on it works.
    let h = goro::go!(move || rx_a.recv().unwrap());
    tx_a.send(9).unwrap();
    assert_eq!(h.join().unwrap(), 9);
}

#[test]
fn send_cases_and_closed_channels() {
    let (tx, rx) = chan::bounded::<u32>(0);
    let receiver = goro::go!(move || rx.recv().unwrap());
    let sent = goro::select! {
        send(tx, 42) -> res => res.is_ok(),
        default(Duration::from_secs(10)) => false,
    };
    assert!(sent);
    assert_eq!(receiver.join().unwrap(), 42);
    // Closed: a recv case is ready with Err, a send case with Err holding the value.
    let (tx, rx) = chan::bounded::<u32>(0);
    tx.close();
    let r = goro::select! { recv(rx) -> m => m };
    assert!(r.is_err());
    let s = goro::select! { send(tx, 7) -> res => res };
    assert_eq!(s.unwrap_err().into_inner(), 7);
    // Close wakes a parked select.
    let (tx, rx) = chan::bounded::<u32>(0);
    let parked = goro::go!(move || goro::select! { recv(rx) -> m => m.is_err() });
    std::thread::sleep(Duration::from_millis(20));
    tx.close();
    assert!(parked.join().unwrap());
}

#[test]
fn two_always_ready_cases_are_chosen_fairly() {
    let (tx1, rx1) = chan::unbounded::<()>();
    let (tx2, rx2) = chan::unbounded::<()>();
    let mut first = 0;
    const N: usize = 10_000;
    for _ in 0..N {
        tx1.send(()).unwrap();
        tx2.send(()).unwrap();
        goro::select! {
            recv(rx1) -> _ => first += 1,
            recv(rx2) -> _ => {},
        }
        // Drain whatever the select left, so both stay ready next time.
        let _ = rx1.try_recv();
        let _ = rx2.try_recv();
    }
    let share = first as f64 / N as f64;
    assert!(
        (0.4..=0.6).contains(&share),
        "first case chosen {share:.3} of the time"
    );
}

#[test]
fn a_losing_case_keeps_its_message() {
    for _ in 0..1000 {
        let (tx1, rx1) = chan::bounded::<u8>(1);
        let (tx2, rx2) = chan::bounded::<u8>(1);
        tx1.send(1).unwrap();
        tx2.send(2).unwrap();
        let won = goro::select! {
            recv(rx1) -> m => m.unwrap(),
            recv(rx2) -> m => m.unwrap(),
        };
        let other = if won == 1 {
            rx2.try_recv()
        } else {
            rx1.try_recv()
        };
        assert_eq!(other.unwrap(), 3 - won, "the losing message vanished");
    }
}

#[test]
fn a_select_does_not_rendezvous_with_itself() {
    let (tx, rx) = chan::bounded::<u8>(0);
    let blocked = goro::select! {
        send(tx, 1) -> _ => false,
        recv(rx) -> _ => false,
        default(Duration::from_millis(30)) => true,
    };
    assert!(blocked, "a select completed against itself");
    // A real counterpart completes it: exactly one of the two cases.
    let (tx2, rx2) = (tx.clone(), rx.clone());
    let partner = goro::go!(move || rx2.recv().unwrap());
    let which = goro::select! {
        send(tx, 5) -> res => { res.unwrap(); "sent" },
        recv(rx) -> _ => "received",
    };
    assert_eq!(which, "sent");
    assert_eq!(partner.join().unwrap(), 5);
    drop(tx2);
}

#[test]
fn double_select_delivers_each_value_once() {
    // Go's test/chan/doubleselect.go: senders select among four channels; receivers
    // read them plainly; no value is lost or duplicated.
    const N: u32 = 20_000;
    let channels: Vec<_> = (0..4).map(|_| chan::bounded::<u32>(0)).collect();
    let senders: Vec<_> = channels.iter().map(|(tx, _)| tx.clone()).collect();
    let (c1, c2, c3, c4) = (
        senders[0].clone(),
        senders[1].clone(),
        senders[2].clone(),
        senders[3].clone(),
    );
    let sender = goro::go!(move || {
        for i in 0..N {
            goro::select! {
                send(c1, i) -> r => r.unwrap(),
                send(c2, i) -> r => r.unwrap(),
                send(c3, i) -> r => r.unwrap(),
                send(c4, i) -> r => r.unwrap(),
            }
        }
        for c in [c1, c2, c3, c4] {
            c.close();
        }
    });
    drop(senders);
    let seen = Arc::new(Mutex::new(HashSet::new()));
    let receivers: Vec<_> = channels
        .into_iter()
        .map(|(tx, rx)| {
            drop(tx);
            let seen = seen.clone();
            goro::go!(move || {
                for v in rx {
                    assert!(seen.lock().unwrap().insert(v), "{v} received twice");
                }
            })
        })
        .collect();
    sender.join().unwrap();
    for r in receivers {
        r.join().unwrap();
    }
    assert_eq!(seen.lock().unwrap().len(), N as usize);
}

#[test]
fn nonblocking_operations_with_default() {
    // Go's test/chan/nonblock.go, in short: with default, nothing ever blocks, and a
    // waiting counterpart (a thread or a coroutine) is served.
    let (tx, rx) = chan::bounded::<u32>(0);
    let nothing = goro::select! { recv(rx) -> _ => false, default => true };
    assert!(nothing);
    let nobody = goro::select! { send(tx, 1) -> _ => false, default => true };
    assert!(nobody);
    let rx2 = rx.clone();
    let waiting = std::thread::spawn(move || rx2.recv().unwrap());
    let sent = loop {
        let done = goro::select! { send(tx, 3) -> r => r.is_ok(), default => false };
        if done {
            break true;
        }
        std::thread::yield_now();
    };
    assert!(sent);
    assert_eq!(waiting.join().unwrap(), 3);
}

#[test]
fn channels_may_repeat_and_selects_mix_threads_and_coroutines() {
    let (tx, rx) = chan::unbounded::<u32>();
    tx.send(1).unwrap();
    let v = goro::select! {
        recv(rx) -> m => m.unwrap(),
        recv(rx) -> m => m.unwrap(),
    };
    assert_eq!(v, 1);
    let (tx, rx) = chan::bounded::<u32>(0);
    let rx_thread = rx.clone();
    let thread_sel =
        std::thread::spawn(move || goro::select! { recv(rx_thread) -> m => m.unwrap() });
    let coroutine_sel = goro::go!(move || goro::select! { recv(rx) -> m => m.unwrap() });
    tx.send(10).unwrap();
    tx.send(20).unwrap();
    let mut got = [thread_sel.join().unwrap(), coroutine_sel.join().unwrap()];
    got.sort();
    assert_eq!(got, [10, 20]);
}

#[test]
fn the_dynamic_select_waits_on_a_runtime_sized_set() {
    use goro::chan::Select;
    let channels: Vec<_> = (0..50).map(|_| chan::bounded::<usize>(0)).collect();
    // Nothing ready: try and timeout variants give up.
    let mut sel = Select::new();
    channels.iter().for_each(|(_, rx)| {
        sel.recv(rx);
    });
    assert!(sel.try_select().is_err());
    let mut sel = Select::new();
    channels.iter().for_each(|(_, rx)| {
        sel.recv(rx);
    });
    assert!(sel.select_timeout(Duration::from_millis(10)).is_err());
    // A sender on channel 33 arrives while the select is parked.
    let tx33 = channels[33].0.clone();
    let sender = goro::go!(move || {
        goro::sleep(Duration::from_millis(20));
        tx33.send(330).unwrap();
    });
    let mut sel = Select::new();
    for (_, rx) in &channels {
        sel.recv(rx);
    }
    let oper = sel.select();
    assert_eq!(oper.index(), 33);
    assert_eq!(oper.recv(&channels[33].1), Ok(330));
    sender.join().unwrap();
    // Send cases, mixed with receive cases.
    let (tx, rx) = chan::bounded::<usize>(1);
    let (_idle_tx, idle_rx) = chan::bounded::<usize>(0);
    let mut sel = Select::new();
    sel.recv(&idle_rx);
    let send_index = sel.send(&tx);
    let oper = sel.select();
    assert_eq!(oper.index(), send_index);
    assert_eq!(oper.send(&tx, 5), Ok(()));
    assert_eq!(rx.recv(), Ok(5));
}

#[test]
fn arms_may_break_continue_and_return() {
    // As with crossbeam's select! and Go's select, an arm can leave the loop around it.
    let (tx, rx) = chan::unbounded::<u32>();
    (0..10).for_each(|i| tx.send(i).unwrap());
    tx.close();
    let mut odd_sum = 0;
    loop {
        goro::select! {
            recv(rx) -> msg => {
                let Ok(v) = msg else { break };
                if v % 2 == 0 {
                    continue;
                }
                odd_sum += v;
            }
        }
    }
    assert_eq!(odd_sum, 25);
    // The `return` is what is being tested.
    #[allow(clippy::needless_return)]
    fn first_message(rx: &chan::Receiver<u32>) -> Option<u32> {
        goro::select! {
            recv(rx) -> msg => return msg.ok(),
            default(Duration::from_millis(5)) => None,
        }
    }
    let (tx, rx) = chan::bounded(1);
    tx.send(8).unwrap();
    assert_eq!(first_message(&rx), Some(8));
    assert_eq!(first_message(&rx), None);
}

/// Runs `body` on this plain thread, then inside a coroutine.
fn on_thread_and_in_coroutine(body: fn()) {
    body();
    goro::go!(body).join().unwrap();
}

/// Whether a stress loop that started at `start` should go on: at most `max` rounds,
/// and at most `secs` seconds (checked every 1024 rounds).
fn keep_going(start: Instant, rounds: u64, max: u64, secs: f64) -> bool {
    rounds < max && (rounds % 1024 != 0 || start.elapsed().as_secs_f64() < secs)
}

/// Buffered values are delivered before "closed" (Go, crossbeam): a sender buffers a
/// message and closes the channel while a select waits on it (or is about to); the
/// select must get the message, never `Err(RecvError)` with the message left behind.
#[test]
fn a_select_gets_the_buffered_message_before_closed() {
    on_thread_and_in_coroutine(|| {
        let (jobs_tx, jobs) = chan::unbounded::<chan::Sender<u32>>();
        // The sender spins (no parking in between), and waits a varying few spins
        // before it sends, so that its send and close land anywhere in the select.
        let sender = std::thread::spawn(move || {
            let mut delay = 0;
            loop {
                match jobs.try_recv() {
                    Ok(tx) => {
                        delay = (delay + 7) % 64;
                        (0..delay).for_each(|_| std::hint::spin_loop());
                        tx.send(1).unwrap();
                        drop(tx); // the last sender: closes the channel
                    }
                    Err(chan::TryRecvError::Empty) => std::hint::spin_loop(),
                    Err(chan::TryRecvError::Disconnected) => return,
                }
            }
        });
        let (_idle_tx, idle) = chan::bounded::<u32>(0);
        let start = Instant::now();
        let mut rounds = 0;
        while keep_going(start, rounds, 2_000_000, 1.5) {
            let (tx, rx) = chan::bounded(1);
            jobs_tx.send(tx).unwrap();
            let got = goro::select! {
                recv(rx) -> m => m,
                recv(idle) -> _ => unreachable!(),
            };
            let left = rx.try_recv();
            assert_eq!(got, Ok(1), "round {rounds}: closed, with {left:?} buffered");
            rounds += 1;
        }
        drop(jobs_tx);
        sender.join().unwrap();
    });
}

/// A select that may not wait is linearizable over its cases: a token moves between
/// `a` and `b` (sent to one before it is taken from the other), so one of them holds
/// it at every instant, and a select with `default` (or a zero timeout, or
/// `Select::try_select`) over both must always find it. Go locks all the select's
/// channels before it looks; looking at one channel after the other can miss it.
#[test]
fn a_non_blocking_select_is_linearizable() {
    on_thread_and_in_coroutine(|| {
        for flavour in ["default", "zero timeout", "try_select"] {
            let (a_tx, a) = chan::bounded::<()>(1);
            let (b_tx, b) = chan::bounded::<()>(1);
            a_tx.send(()).unwrap();
            let stop = Arc::new(AtomicBool::new(false));
            let mover = {
                let (a_tx, a, b_tx, b) = (a_tx.clone(), a.clone(), b_tx.clone(), b.clone());
                let stop = stop.clone();
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        b_tx.send(()).unwrap();
                        a.recv().unwrap();
                        a_tx.send(()).unwrap();
                        b.recv().unwrap();
                    }
                })
            };
            let start = Instant::now();
            let mut rounds = 0;
            let mut missed = None;
            while missed.is_none() && keep_going(start, rounds, 10_000_000, 0.6) {
                // Take the token from where it was found, then put it back there.
                let found = match flavour {
                    "default" => goro::select! {
                        recv(a) -> m => m.map(|()| &a_tx).ok(),
                        recv(b) -> m => m.map(|()| &b_tx).ok(),
                        default => None,
                    },
                    "zero timeout" => goro::select! {
                        recv(a) -> m => m.map(|()| &a_tx).ok(),
                        recv(b) -> m => m.map(|()| &b_tx).ok(),
                        default(Duration::ZERO) => None,
                    },
                    _ => {
                        let mut select = chan::Select::new();
                        select.recv(&a);
                        select.recv(&b);
                        select.try_select().ok().map(|oper| {
                            if oper.index() == 0 {
                                oper.recv(&a).unwrap();
                                &a_tx
                            } else {
                                oper.recv(&b).unwrap();
                                &b_tx
                            }
                        })
                    }
                };
                match found {
                    Some(tx) => tx.send(()).unwrap(),
                    None => missed = Some(rounds),
                }
                rounds += 1;
            }
            stop.store(true, Ordering::Relaxed);
            mover.join().unwrap();
            assert_eq!(
                missed, None,
                "{flavour}: found neither channel holding the token"
            );
        }
    });
}

/// Go's TestPseudoRandomSend: two send arms to one unbuffered channel and a slow
/// receiver, so that the select waits with both arms queued: each arm must win about
/// half the time (not the first queued, always). And the same for two recv arms with
/// a slow sender.
#[test]
fn duplicate_cases_on_one_channel_win_uniformly() {
    on_thread_and_in_coroutine(|| {
        const N: usize = 100;
        let slowly = || std::thread::sleep(Duration::from_micros(300));
        let (tx, rx) = chan::bounded::<usize>(0);
        let receiver = std::thread::spawn(move || {
            (0..N)
                .map(|_| {
                    slowly();
                    rx.recv().unwrap()
                })
                .sum::<usize>()
        });
        for _ in 0..N {
            goro::select! {
                send(tx, 0) -> r => r.unwrap(),
                send(tx, 1) -> r => r.unwrap(),
            }
        }
        let second = receiver.join().unwrap();
        assert!(
            (N / 10..N - N / 10).contains(&second),
            "the second send arm won {second} of {N}"
        );

        let (tx, rx) = chan::bounded::<()>(0);
        let sender = std::thread::spawn(move || {
            for _ in 0..N {
                slowly();
                tx.send(()).unwrap();
            }
        });
        let mut second = 0;
        for _ in 0..N {
            second += goro::select! {
                recv(rx) -> _ => 0,
                recv(rx) -> _ => 1,
            };
        }
        sender.join().unwrap();
        assert!(
            (N / 10..N - N / 10).contains(&second),
            "the second recv arm won {second} of {N}"
        );
    });
}

/// The syntax crossbeam-channel's `select!` accepts: trailing commas inside a case,
/// `default()`, and channel expressions that make temporaries (they live until the
/// select is over).
#[test]
#[allow(clippy::unnecessary_literal_unwrap)] // the point: temporaries in the expression
fn crossbeam_select_syntax() {
    on_thread_and_in_coroutine(|| {
        let (tx, rx) = chan::bounded::<u32>(1);
        let sent = goro::select! {
            send(tx, 1,) -> r => r.is_ok(),
            default(Duration::from_millis(1000),) => false,
        };
        assert!(sent);
        let got = goro::select! {
            recv(rx,) -> m => m,
            default() => Ok(0),
        };
        assert_eq!(got, Ok(1));
        let idle = goro::select! {
            recv(rx) -> _ => false,
            default() => true,
        };
        assert!(idle);

        tx.send(2).unwrap();
        let maybe: Option<&chan::Receiver<u32>> = Some(&rx);
        let got = goro::select! {
            recv(maybe.unwrap_or(&chan::never())) -> m => m,
            recv(None.unwrap_or(&chan::never::<u32>())) -> m => m,
        };
        assert_eq!(got, Ok(2));
        let none: Option<&chan::Receiver<u32>> = None;
        let timed_out = goro::select! {
            recv(none.unwrap_or(&chan::never())) -> _ => false,
            recv(Some(&chan::never::<u8>()).unwrap()) -> _ => false,
            default(Duration::from_millis(5)) => true,
        };
        assert!(timed_out);
    });
}

/// `select_biased!` and `Select::new_biased`: the first ready case always wins, also
/// when the select waits with several cases of one channel queued.
#[test]
fn a_biased_select_prefers_its_first_ready_case() {
    on_thread_and_in_coroutine(|| {
        let (tx1, rx1) = chan::unbounded::<u32>();
        let (tx2, rx2) = chan::unbounded::<u32>();
        for i in 0..100 {
            tx1.send(i).unwrap();
            tx2.send(i).unwrap();
        }
        for i in 0..100 {
            let got = goro::select_biased! {
                recv(rx2) -> m => (2, m.unwrap()),
                recv(rx1) -> m => (1, m.unwrap()),
            };
            assert_eq!(got, (2, i));
        }
        let mut select = chan::Select::new_biased();
        select.recv(&rx2);
        select.recv(&rx1);
        let oper = select.try_select().unwrap();
        assert_eq!(oper.index(), 1);
        assert_eq!(oper.recv(&rx1), Ok(0));
        let idle = goro::select_biased! {
            recv(rx2) -> _ => false,
            default => true,
        };
        assert!(idle);

        // Waiting: two send arms on one rendezvous channel, a slow receiver.
        let (tx, rx) = chan::bounded::<usize>(0);
        let receiver = std::thread::spawn(move || {
            (0..20)
                .map(|_| {
                    std::thread::sleep(Duration::from_micros(300));
                    rx.recv().unwrap()
                })
                .sum::<usize>()
        });
        for _ in 0..20 {
            goro::select_biased! {
                send(tx, 0) -> r => r.unwrap(),
                send(tx, 1) -> r => r.unwrap(),
            }
        }
        assert_eq!(receiver.join().unwrap(), 0, "the first arm always won");
    });
}

/// `Select::ready`, `try_ready` and `ready_timeout` (crossbeam-channel's): which case
/// could complete, without completing it; the message stays in its channel.
#[test]
fn ready_finds_a_ready_case_without_completing_it() {
    on_thread_and_in_coroutine(|| {
        let ms = Duration::from_millis;
        let (tx, rx) = chan::bounded::<u32>(0);
        let (tx2, rx2) = chan::bounded::<u32>(1);
        {
            let mut select = chan::Select::new();
            select.recv(&rx);
            select.recv(&rx2);
            assert!(select.try_ready().is_err());
            assert!(select.ready_timeout(ms(5)).is_err());
            tx2.send(7).unwrap();
            assert_eq!(select.try_ready(), Ok(1));
            assert_eq!(select.ready(), 1);
        }
        assert_eq!(rx2.try_recv(), Ok(7), "ready took nothing");

        // Waiting: a sender on the rendezvous channel arrives later.
        let sender = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(10));
            tx.send(8).unwrap();
            tx
        });
        let mut select = chan::Select::new();
        select.recv(&rx);
        select.recv(&rx2);
        assert_eq!(select.ready(), 0);
        assert_eq!(rx.recv(), Ok(8));
        let tx = sender.join().unwrap();

        // A send case: ready once a receiver waits; then the send goes through.
        let receiver = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(10));
            rx.recv()
        });
        let mut select = chan::Select::new();
        select.send(&tx);
        assert_eq!(select.ready(), 0);
        drop(select);
        tx.send(9).unwrap();
        assert_eq!(receiver.join().unwrap(), Ok(9));

        // Closed counts as ready.
        drop(tx2);
        let mut select = chan::Select::new();
        select.recv(&rx2);
        assert_eq!(select.ready_timeout(ms(1000)), Ok(0));
    });
}
