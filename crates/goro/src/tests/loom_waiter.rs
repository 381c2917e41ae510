//! The claim protocol of a blocked channel operation (chan/waiter.rs), exhaustively:
//! a receiver waits on two channels at once (a select), two senders try to hand it a
//! message each, and the receiver's timeout fires, all at the same time. In every
//! interleaving exactly one of the three wins, the winner's message is in the
//! receiver's slot for that case, and the loser's message is still with its sender.

use std::sync::Arc;

use crate::chan::waiter::{Entry, Slot, Waiter};

#[test]
fn one_claim_wins_and_messages_move_once() {
    loom::model(|| {
        let waiter = Waiter::new();
        let entries: Vec<Entry<u32>> = (0..2)
            .map(|case| Entry {
                waiter: waiter.clone(),
                case,
                slot: Slot::new(None),
            })
            .collect();
        let slots: Vec<Arc<Slot<u32>>> = entries.iter().map(|e| e.slot.clone()).collect();
        let senders: Vec<_> = entries
            .into_iter()
            .enumerate()
            .map(|(case, entry)| {
                loom::thread::spawn(move || {
                    let mut message = Some(10 + case as u32);
                    let delivered = entry.claim(|slot| *slot = message.take()).is_ok();
                    (delivered, message)
                })
            })
            .collect();
        let timed_out = waiter.abort().is_ok();
        let results: Vec<(bool, Option<u32>)> =
            senders.into_iter().map(|s| s.join().unwrap()).collect();

        let winners = results.iter().filter(|(delivered, _)| *delivered).count();
        assert_eq!(
            winners + usize::from(timed_out),
            1,
            "exactly one wins: {results:?}"
        );
        for (case, (delivered, kept)) in results.iter().enumerate() {
            let in_slot = *slots[case].lock();
            if *delivered {
                assert_eq!((in_slot, *kept), (Some(10 + case as u32), None));
                assert_eq!(waiter.claimed(), Some(case));
            } else {
                assert_eq!((in_slot, *kept), (None, Some(10 + case as u32)));
            }
        }
        if timed_out {
            assert_eq!(waiter.claimed(), None);
        }
    });
}
