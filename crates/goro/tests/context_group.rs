//! `goro::context::Group`: Go's errgroup.

use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use goro::context::{Context, Error, Group};

#[test]
fn first_error_is_returned_and_the_others_see_cancellation() {
    let (group, ctx) = Group::with_context(&Context::background());
    let saw_cancel = Arc::new(AtomicUsize::new(0));
    for i in 0..20 {
        let (ctx, saw) = (ctx.clone(), saw_cancel.clone());
        group.go(move || {
            if i == 7 {
                goro::sleep(Duration::from_millis(10));
                return Err(i);
            }
            let _ = ctx.done().recv();
            if ctx.err() == Some(Error::Canceled) {
                saw.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        });
    }
    assert_eq!(group.wait(), Err(7));
    assert_eq!(saw_cancel.load(Ordering::Relaxed), 19);
    assert_eq!(ctx.err(), Some(Error::Canceled));
}

#[test]
fn the_first_of_several_errors_wins() {
    let (group, ctx) = Group::with_context(&Context::background());
    group.go(|| Err("early"));
    group.go(move || {
        let _ = ctx.done().recv(); // fails only after "early" has (however slow it is)
        Err("late")
    });
    assert_eq!(group.wait(), Err("early"));
}

#[test]
fn set_limit_bounds_concurrency() {
    let mut group = Group::<()>::new();
    group.set_limit(3);
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    for _ in 0..30 {
        let (running, most) = (running.clone(), most.clone());
        group.go(move || {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            goro::sleep(Duration::from_millis(2));
            running.fetch_sub(1, Ordering::SeqCst);
            Ok(())
        });
    }
    group.wait().unwrap();
    assert!(most.load(Ordering::SeqCst) <= 3);
    assert!(most.load(Ordering::SeqCst) >= 1);
}

#[test]
fn all_ok_and_wait_cancels_the_context() {
    let (group, ctx) = Group::<String>::with_context(&Context::background());
    let count = Arc::new(AtomicUsize::new(0));
    for _ in 0..100 {
        let count = count.clone();
        group.go(move || {
            count.fetch_add(1, Ordering::Relaxed);
            Ok(())
        });
    }
    assert_eq!(ctx.err(), None);
    assert_eq!(group.wait(), Ok(()));
    assert_eq!(count.load(Ordering::Relaxed), 100);
    assert_eq!(
        ctx.err(),
        Some(Error::Canceled),
        "wait cancels, as Go's errgroup"
    );
}

#[test]
fn a_panicking_member_cancels_and_wait_reraises_it() {
    let (group, ctx) = Group::<()>::with_context(&Context::background());
    let other = ctx.clone();
    group.go(move || {
        let _ = other.done().recv();
        Ok(())
    });
    group.go(|| panic!("member failed"));
    let payload = panic::catch_unwind(AssertUnwindSafe(|| group.wait())).unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"member failed"));
    assert_eq!(ctx.err(), Some(Error::Canceled));
}

#[test]
#[should_panic(expected = "while members are running")]
fn set_limit_while_running_panics() {
    let mut group = Group::<()>::new();
    group.go(|| {
        goro::sleep(Duration::from_millis(200));
        Ok(())
    });
    group.set_limit(1);
}

#[test]
fn a_group_used_from_a_coroutine() {
    let h = goro::go!(|| {
        let mut group = Group::new();
        group.set_limit(2);
        for i in 0..10u32 {
            group.go(move || if i < 100 { Ok(()) } else { Err(i) });
        }
        group.wait()
    });
    assert_eq!(h.join().unwrap(), Ok(()));
}

#[test]
fn members_start_members_through_a_clone() {
    // Go's g.Go inside g.Go: a recursive fan-out, and an error from deep inside it.
    fn walk(group: Group<u32>, ctx: Context, depth: u32) -> Result<(), u32> {
        if depth == 4 {
            return Err(depth);
        }
        for _ in 0..3 {
            let (g, c) = (group.clone(), ctx.clone());
            group.go(move || walk(g, c, depth + 1));
        }
        let _ = ctx.done().recv(); // the deep error cancels everyone
        Ok(())
    }
    let (group, ctx) = Group::with_context(&Context::background());
    let (g, c) = (group.clone(), ctx.clone());
    group.go(move || walk(g, c, 0));
    assert_eq!(group.wait(), Err(4));
    assert_eq!(ctx.err(), Some(Error::Canceled));
}

#[test]
fn try_go_refuses_when_the_limit_is_reached() {
    let mut group = Group::<()>::new();
    group.set_limit(2);
    let (release, hold) = goro::chan::bounded::<()>(0);
    for _ in 0..2 {
        let hold = hold.clone();
        assert!(group.try_go(move || {
            let _ = hold.recv();
            Ok(())
        }));
    }
    assert!(!group.try_go(|| Ok(())), "both slots are taken");
    drop(release); // the two members end
    group.wait().unwrap();
    let group = Group::<()>::new();
    assert!(group.try_go(|| Ok(())), "no limit: always starts");
    group.wait().unwrap();
}
