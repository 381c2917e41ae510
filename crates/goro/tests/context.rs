//! `goro::context::Context`: cancellation, deadlines, the tree.

use std::time::{Duration, Instant};

use goro::context::{Context, Error};

#[test]
fn cancel_wakes_a_select_on_done() {
    let (ctx, cancel) = Context::background().with_cancel();
    let (_tx, rx) = goro::chan::bounded::<u32>(0);
    let waiter = goro::go!(move || {
        goro::select! {
            recv(rx) -> _ => unreachable!("nothing is sent"),
            recv(ctx.done()) -> msg => (msg.is_err(), ctx.err()),
        }
    });
    goro::sleep(Duration::from_millis(10));
    cancel.cancel();
    assert_eq!(waiter.join().unwrap(), (true, Some(Error::Canceled)));
}

#[test]
fn timeout_fires_within_a_generous_bound() {
    let start = Instant::now();
    let (ctx, _cancel) = Context::background().with_timeout(Duration::from_millis(50));
    let h = goro::go!(move || {
        let _ = ctx.done().recv();
        ctx.err()
    });
    assert_eq!(h.join().unwrap(), Some(Error::DeadlineExceeded));
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(50));
    assert!(
        took < Duration::from_millis(500),
        "a 50 ms timeout took {took:?}"
    );
}

#[test]
fn a_child_ends_with_its_parent_and_inherits_the_reason() {
    let (parent, cancel) = Context::background().with_cancel();
    let (child, _c) = parent.with_timeout(Duration::from_secs(3600));
    let (grandchild, _g) = child.with_cancel();
    cancel.cancel();
    assert_eq!(child.err(), Some(Error::Canceled));
    assert_eq!(grandchild.err(), Some(Error::Canceled));
    assert!(grandchild.done().recv().is_err());

    let (parent, _p) = Context::background().with_timeout(Duration::from_millis(10));
    let (child, _c) = parent.with_cancel();
    let _ = child.done().recv();
    assert_eq!(child.err(), Some(Error::DeadlineExceeded));
}

#[test]
fn cancelling_a_child_leaves_the_parent_running() {
    let (parent, _p) = Context::background().with_cancel();
    let (child, cancel) = parent.with_cancel();
    cancel.cancel();
    assert_eq!(child.err(), Some(Error::Canceled));
    assert_eq!(parent.err(), None);
}

#[test]
fn err_values() {
    assert_eq!(Context::background().err(), None);
    let (ctx, cancel) = Context::background().with_cancel();
    assert_eq!(ctx.err(), None);
    cancel.cancel();
    cancel.cancel();
    assert_eq!(ctx.err(), Some(Error::Canceled));
    assert_eq!(Error::Canceled.to_string(), "context canceled");
    assert_eq!(
        Error::DeadlineExceeded.to_string(),
        "context deadline exceeded"
    );
    // A deadline already past: ended at birth.
    let (past, _c) = Context::background().with_deadline(Instant::now() - Duration::from_secs(1));
    assert_eq!(past.err(), Some(Error::DeadlineExceeded));
    // A cancel after the deadline changes nothing.
    drop(_c);
    assert_eq!(past.err(), Some(Error::DeadlineExceeded));
}

#[test]
fn a_child_cannot_outlive_its_parents_deadline() {
    let (parent, _p) = Context::background().with_timeout(Duration::from_millis(30));
    let (child, _c) = parent.with_timeout(Duration::from_secs(3600));
    assert_eq!(child.deadline(), parent.deadline());
    let (earlier, _e) = parent.with_timeout(Duration::from_millis(1));
    assert!(earlier.deadline() < parent.deadline());
    let start = Instant::now();
    let _ = child.done().recv();
    assert_eq!(child.err(), Some(Error::DeadlineExceeded));
    assert!(start.elapsed() < Duration::from_secs(10));
}

#[test]
fn dropping_cancel_cancels_and_detach_does_not() {
    let (ctx, cancel) = Context::background().with_cancel();
    drop(cancel);
    assert_eq!(ctx.err(), Some(Error::Canceled));
    let (ctx, cancel) = Context::background().with_cancel();
    cancel.detach();
    assert_eq!(ctx.err(), None);
}

#[test]
fn a_child_of_an_ended_parent_is_born_ended() {
    let (parent, cancel) = Context::background().with_cancel();
    cancel.cancel();
    let (child, _c) = parent.with_timeout(Duration::from_secs(1));
    assert_eq!(child.err(), Some(Error::Canceled));
}

#[test]
fn a_long_chain_of_contexts_cancels_without_overflowing() {
    let h = goro::go!(|| {
        let (root, cancel) = Context::background().with_cancel();
        let mut chain = vec![];
        let mut ctx = root;
        for _ in 0..10_000 {
            let (child, c) = ctx.with_cancel();
            chain.push(c);
            ctx = child;
        }
        cancel.cancel();
        let err = ctx.err();
        drop(ctx); // the leaf: its ancestors go with it, without deep recursion
        drop(chain);
        err
    });
    assert_eq!(h.join().unwrap(), Some(Error::Canceled));
}

#[test]
fn many_waiters_on_one_context_all_wake() {
    let (ctx, cancel) = Context::background().with_cancel();
    let waiters: Vec<_> = (0..1000)
        .map(|_| {
            let ctx = ctx.clone();
            goro::go!(move || ctx.done().recv().is_err())
        })
        .collect();
    goro::sleep(Duration::from_millis(10));
    cancel.cancel();
    assert!(waiters.into_iter().all(|w| w.join().unwrap()));
}

#[test]
fn err_is_set_only_once_done_is_closed() {
    // Go's contract: "If Done is not yet closed, Err returns nil". A bounded stress of a
    // cancel from another thread against a reader of err() then done().
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(2) {
        let (ctx, cancel) = Context::background().with_cancel();
        let canceller = std::thread::spawn(move || cancel.cancel());
        let done = ctx.done();
        while ctx.err().is_none() {
            std::hint::spin_loop();
        }
        assert_eq!(
            done.try_recv(),
            Err(goro::chan::TryRecvError::Disconnected),
            "err() said the context ended while done() was still open"
        );
        canceller.join().unwrap();
    }
}
