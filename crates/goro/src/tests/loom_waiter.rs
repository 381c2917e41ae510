//! The claim protocol of a blocked channel operation (chan/waiter.rs), exhaustively.
//! Each model's "channel" is a loom mutex around one queued entry; the waiter's records
//! live in the model's main thread, as they live in a waiting coroutine's frame. loom
//! checks every access to the slots and the unparker (they are loom cells) for races.

use loom::sync::{Arc, Mutex};

use crate::chan::waiter::{Entry, RETRY, Slot, Waiter};

/// Waits for the claim to complete, as `wait` does by parking.
fn claimed_case(waiter: &Waiter) -> usize {
    loop {
        if let Some(case) = waiter.claimed() {
            return case;
        }
        loom::thread::yield_now();
    }
}

/// A select on two channels: two senders each try to hand the waiting receiver a
/// message while its timeout fires. In every interleaving exactly one of the three
/// wins, the winner's message is in the slot of its case, and the loser's message is
/// still with its sender.
#[test]
fn select_one_claim_wins_and_messages_move_once() {
    loom::model(|| {
        let waiter = Waiter::select();
        let slots = [Slot::new(None), Slot::new(None)];
        let channels: Vec<Arc<Mutex<Option<Entry<u32>>>>> = (0..2)
            .map(|case| {
                // SAFETY: the main thread removes any entry still queued (below) before
                // `waiter` and `slots` go away.
                let entry = unsafe { Entry::new(&waiter, case, &slots[case]) };
                Arc::new(Mutex::new(Some(entry)))
            })
            .collect();
        let senders: Vec<_> = channels
            .iter()
            .enumerate()
            .map(|(case, chan)| {
                let chan = chan.clone();
                loom::thread::spawn(move || {
                    let mut message = Some(10 + case as u32);
                    let mut queue = chan.lock().unwrap();
                    let claim = queue
                        .take()
                        .and_then(|e| e.claim(|slot| *slot = message.take()).ok());
                    drop(queue); // step 4: wake after unlocking
                    let delivered = claim.is_some();
                    if let Some(((), Some(unparker))) = claim {
                        unparker.unpark_owned();
                    }
                    (delivered, message)
                })
            })
            .collect();
        let won = if waiter.abort() {
            None
        } else {
            Some(claimed_case(&waiter))
        };
        // Unregister from both channels, as `Registered` does.
        for chan in &channels {
            chan.lock().unwrap().take();
        }
        // SAFETY: claimed and complete, or aborted; and unregistered everywhere.
        let in_slots = [unsafe { slots[0].take() }, unsafe { slots[1].take() }];
        let results: Vec<(bool, Option<u32>)> =
            senders.into_iter().map(|s| s.join().unwrap()).collect();

        let winners = results.iter().filter(|(delivered, _)| *delivered).count();
        assert_eq!(
            winners + usize::from(won.is_none()),
            1,
            "exactly one wins: {results:?}"
        );
        for (case, (delivered, kept)) in results.iter().enumerate() {
            let message = Some(10 + case as u32);
            if *delivered {
                assert_eq!(won, Some(case));
                assert_eq!((in_slots[case], *kept), (message, None));
            } else {
                assert_eq!((in_slots[case], *kept), (None, message));
            }
        }
    });
}

/// A single blocked send: a receiver claims it (taking the value) while the sender's
/// timeout fires and aborts under the channel's lock. Exactly one of the two happens,
/// and the value ends up in exactly one place.
#[test]
fn single_claim_or_abort() {
    loom::model(|| {
        let waiter = Waiter::single();
        let slot = Slot::new(Some(7u32));
        // SAFETY: the entry is removed (the abort below) or popped by the claim before
        // `waiter` and `slot` go away.
        let entry = unsafe { Entry::new(&waiter, 0, &slot) };
        let chan = Arc::new(Mutex::new(Some(entry)));
        let receiver = {
            let chan = chan.clone();
            loom::thread::spawn(move || {
                let mut queue = chan.lock().unwrap();
                queue
                    .take()
                    .and_then(|e| e.claim(|slot| slot.take()).ok())
                    .and_then(|(value, _unparker)| value)
            })
        };
        let aborted = {
            let mut queue = chan.lock().unwrap();
            let aborted = waiter.abort_locked();
            if aborted {
                queue.take();
            }
            aborted
        };
        if !aborted {
            assert_eq!(claimed_case(&waiter), 0);
        }
        // SAFETY: claimed and complete, or aborted and removed.
        let kept = unsafe { slot.take() };
        let received = receiver.join().unwrap();
        if aborted {
            assert_eq!((kept, received), (Some(7), None));
        } else {
            assert_eq!((kept, received), (None, Some(7)));
        }
    });
}

/// A single blocked receive with no timeout: the waiter takes no lock after queueing
/// its entry, so only the claim's Release store orders the message before its read.
#[test]
fn single_claim_publishes_the_message() {
    loom::model(|| {
        let waiter = Waiter::single();
        let slot = Slot::new(None);
        // SAFETY: the claim below pops the entry; the waiter reads the slot only after
        // seeing the claim complete.
        let entry = unsafe { Entry::new(&waiter, 0, &slot) };
        let chan = Arc::new(Mutex::new(Some(entry)));
        let sender = {
            let chan = chan.clone();
            loom::thread::spawn(move || {
                let mut queue = chan.lock().unwrap();
                let entry = queue.take().expect("queued");
                assert!(entry.claim(|slot| *slot = Some(5u32)).is_ok());
            })
        };
        assert_eq!(claimed_case(&waiter), 0);
        // SAFETY: the claim is complete.
        assert_eq!(unsafe { slot.take() }, Some(5));
        sender.join().unwrap();
    });
}

/// A reservation (chan/reserve.rs) of a select's waiter: one thread reserves case 0
/// under its channel's lock, then (after unlocking) completes it with a message or
/// gives it up (`RETRY`), while a sender claims case 1 and the waiter's timeout fires.
/// In every interleaving exactly one of them decides the waiter, a given-up
/// reservation moves nothing, and every message is in exactly one place.
#[test]
fn reservation_completes_or_retries_and_moves_once() {
    for give_up in [false, true] {
        loom::model(move || {
            let waiter = Waiter::select();
            let slots = [Slot::new(None), Slot::new(None)];
            let channels: Vec<Arc<Mutex<Option<Entry<u32>>>>> = (0..2)
                .map(|case| {
                    // SAFETY: the main thread removes any entry still queued (below)
                    // before `waiter` and `slots` go away, and waits out a reservation.
                    let entry = unsafe { Entry::new(&waiter, case, &slots[case]) };
                    Arc::new(Mutex::new(Some(entry)))
                })
                .collect();
            let reserver = {
                let chan = channels[0].clone();
                loom::thread::spawn(move || {
                    let reserved = chan.lock().unwrap().take().and_then(|e| e.reserve().ok());
                    let Some(reserved) = reserved else {
                        return Some(20);
                    };
                    if give_up {
                        drop(reserved);
                        Some(20)
                    } else {
                        reserved.complete(20);
                        None
                    }
                })
            };
            let sender = {
                let chan = channels[1].clone();
                loom::thread::spawn(move || {
                    let mut message = Some(11);
                    let claim = chan
                        .lock()
                        .unwrap()
                        .take()
                        .and_then(|e| e.claim(|slot| *slot = message.take()).ok());
                    if let Some(((), Some(unparker))) = claim {
                        unparker.unpark_owned();
                    }
                    message
                })
            };
            let won = if waiter.abort() {
                None
            } else {
                Some(claimed_case(&waiter))
            };
            for chan in &channels {
                chan.lock().unwrap().take();
            }
            // SAFETY: decided (claimed and complete, retried, or aborted), and
            // unregistered everywhere.
            let in_slots = [unsafe { slots[0].take() }, unsafe { slots[1].take() }];
            let kept = [reserver.join().unwrap(), sender.join().unwrap()];
            match won {
                None => assert_eq!((in_slots, kept), ([None, None], [Some(20), Some(11)])),
                Some(RETRY) => {
                    assert!(give_up);
                    assert_eq!((in_slots, kept), ([None, None], [Some(20), Some(11)]));
                }
                Some(0) => assert_eq!((in_slots, kept), ([Some(20), None], [None, Some(11)])),
                Some(case) => {
                    assert_eq!(case, 1);
                    assert_eq!((in_slots, kept), ([None, Some(11)], [Some(20), None]));
                }
            }
        });
    }
}
