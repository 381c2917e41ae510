//! Panics while a coroutine is dropped: each in a child process, because corosensei
//! aborts the process if anything unwinds out of its own `Drop`.

use std::panic::{self, AssertUnwindSafe};

use goro_context::{Coroutine, Reason, Resumed};

#[path = "support/child.rs"]
mod child;

/// Runs the test's body in a child process; the child must exit cleanly.
fn survives(test: &str) -> bool {
    match child::in_child(test, &[]) {
        Ok((status, stderr)) => {
            assert!(status.success(), "{status}; stderr: {stderr}");
            assert!(stderr.contains("survived"), "stderr: {stderr}");
            false
        }
        Err(()) => true,
    }
}

struct Bomb;

impl Drop for Bomb {
    fn drop(&mut self) {
        panic!("bomb");
    }
}

#[test]
fn a_panic_dropping_an_unstarted_closure_reaches_the_dropper() {
    if !survives("a_panic_dropping_an_unstarted_closure_reaches_the_dropper") {
        return;
    }
    // Like dropping a boxed closure whose capture panics: the panic comes out of `drop`.
    let bomb = Bomb;
    let co = Coroutine::new(move || drop(bomb)).unwrap();
    let payload = panic::catch_unwind(AssertUnwindSafe(|| drop(co))).unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"bomb"));
    // The stack went back: the next coroutine gets one.
    let mut next = Coroutine::new(|| 7).unwrap();
    assert!(matches!(next.resume(), Ok(Resumed::Finished(Ok(7)))));
    eprintln!("survived");
}

#[test]
fn a_caught_forced_unwind_turned_into_a_panic_is_dropped_with_the_coroutine() {
    if !survives("a_caught_forced_unwind_turned_into_a_panic_is_dropped_with_the_coroutine") {
        return;
    }
    let mut co = Coroutine::new(|| {
        // Catches the unwind that dropping the coroutine starts, then panics anew.
        let _ = panic::catch_unwind(|| goro_context::suspend(Reason::Park));
        panic!("replaced");
    })
    .unwrap();
    let _: Resumed<()> = co.resume().unwrap();
    drop(co);
    eprintln!("survived");
}

#[test]
fn a_result_returned_while_being_dropped_is_dropped_quietly() {
    if !survives("a_result_returned_while_being_dropped_is_dropped_quietly") {
        return;
    }
    let mut co = Coroutine::new(|| {
        // Swallows the unwind and returns a value whose destructor panics.
        let _ = panic::catch_unwind(|| goro_context::suspend(Reason::Park));
        Bomb
    })
    .unwrap();
    assert!(matches!(co.resume(), Ok(Resumed::Suspended(Reason::Park))));
    drop(co);
    eprintln!("survived");
}

#[test]
fn coroutines_that_suspend_while_dropping_closures_each_get_their_own_panic() {
    // A capture's destructor suspends the coroutine that drops it, and another
    // coroutine drops one of its own meanwhile: each drop's panic must come out of
    // that drop, not the other's.
    struct SuspendsThenPanics(&'static str);
    impl Drop for SuspendsThenPanics {
        fn drop(&mut self) {
            goro_context::suspend(Reason::Park).unwrap();
            panic::panic_any(self.0);
        }
    }
    fn dropper(tag: &'static str) -> Coroutine<Option<&'static str>> {
        Coroutine::new(move || {
            let capture = SuspendsThenPanics(tag);
            let unstarted = Coroutine::new(move || drop(capture)).unwrap();
            let dropped = panic::catch_unwind(AssertUnwindSafe(|| drop(unstarted)));
            dropped
                .err()
                .and_then(|p| p.downcast_ref::<&str>().copied())
        })
        .unwrap()
    }
    let (mut a, mut b) = (dropper("a"), dropper("b"));
    assert!(matches!(a.resume(), Ok(Resumed::Suspended(Reason::Park))));
    assert!(matches!(b.resume(), Ok(Resumed::Suspended(Reason::Park))));
    assert!(matches!(a.resume(), Ok(Resumed::Finished(Ok(Some("a"))))));
    assert!(matches!(b.resume(), Ok(Resumed::Finished(Ok(Some("b"))))));
}
