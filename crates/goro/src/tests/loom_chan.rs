//! A channel's close racing a select that is registering on it, with the real channel
//! code (chan/mod.rs, chan/select.rs; its lock is built on loom's atomics here). The
//! select runs the engine's steps for its one case and waits by yielding, as
//! loom_waiter.rs does.

use crate::chan::waiter::Waiter;
use crate::chan::{__Case as Case, __RecvCase as RecvCase, RecvError, bounded};

/// Waits for the claim to complete, as `wait` does by parking.
fn claimed_case(waiter: &Waiter) -> usize {
    loop {
        if let Some(case) = waiter.claimed() {
            return case;
        }
        loom::thread::yield_now();
    }
}

/// select.rs's steps 1-3 for one `recv` case, without a timeout.
fn select_recv(case: &mut RecvCase<'_, u32>) -> Result<u32, RecvError> {
    loop {
        if case.try_now() {
            return case.take();
        }
        let waiter = Waiter::select();
        // SAFETY: unregistered below, before `waiter` and `case` go away (nothing in
        // between unwinds but a failed assertion, which ends the model).
        let ready = unsafe { case.register(&waiter, 0, false) };
        let won = if !ready || !waiter.abort() {
            Some(claimed_case(&waiter))
        } else {
            None
        };
        case.unregister(&waiter);
        if won.is_some() {
            // SAFETY: the claim of case 0 is complete.
            unsafe { case.claimed() };
            return case.take();
        }
    }
}

/// A sender buffers a message and then closes the channel, while a select looks at it
/// and registers. In every interleaving the select receives the message: a closed
/// channel's buffered values come first (invariant 3 in chan/mod.rs).
#[test]
fn close_racing_a_registered_select_delivers_the_buffered_message() {
    // Two preemptions cover a send and a close landing anywhere in the select's steps
    // (unbounded, the model runs for minutes).
    let mut model = loom::model::Builder::new();
    model.preemption_bound = Some(2);
    model.check(|| {
        let (tx, rx) = bounded::<u32>(1);
        let sender = loom::thread::spawn(move || {
            tx.send(7).unwrap();
            drop(tx); // the last sender closes the channel
        });
        let mut case = RecvCase::new(&rx);
        assert_eq!(select_recv(&mut case), Ok(7));
        sender.join().unwrap();
        // And then it is closed and drained.
        let mut case = RecvCase::new(&rx);
        assert_eq!(select_recv(&mut case), Err(RecvError));
    });
}
