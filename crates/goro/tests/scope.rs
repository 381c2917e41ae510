//! `goro::scope`: coroutines that borrow from the caller, all joined before it returns.

use std::panic::{self, AssertUnwindSafe};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

#[test]
fn split_borrows_one_mutable_others_shared() {
    let mut out = Vec::new();
    let input = vec![1u64, 2, 3, 4];
    let (out_ref, input) = (&mut out, &input);
    let sums = goro::scope(|s| {
        // One child borrows `out` mutably...
        let writer = s.spawn(move || {
            for x in input {
                out_ref.push(x * 10);
                goro::yield_now();
            }
        });
        // ...others borrow `input` immutably at the same time.
        let readers: Vec<_> = (0..4)
            .map(|k| s.spawn(move || input.iter().map(|x| x * k).sum::<u64>()))
            .collect();
        writer.join().unwrap();
        readers
            .into_iter()
            .map(|r| r.join().unwrap())
            .collect::<Vec<_>>()
    });
    assert_eq!(out, [10, 20, 30, 40]);
    assert_eq!(sums, [0, 10, 20, 30]);
}

#[test]
fn scope_waits_for_children_it_did_not_join() {
    let done = AtomicUsize::new(0);
    goro::scope(|s| {
        for _ in 0..50 {
            s.spawn(|| {
                goro::sleep(Duration::from_millis(10));
                done.fetch_add(1, Ordering::Relaxed);
            });
        }
    });
    assert_eq!(done.load(Ordering::Relaxed), 50);
}

#[test]
fn nested_scopes_and_spawns_from_children() {
    let total = AtomicUsize::new(0);
    goro::scope(|outer| {
        for _ in 0..4 {
            outer.spawn(|| {
                goro::scope(|inner| {
                    for _ in 0..4 {
                        inner.spawn(|| total.fetch_add(1, Ordering::Relaxed));
                    }
                });
                // A child of the outer scope spawns a sibling through it.
                outer.spawn(|| total.fetch_add(100, Ordering::Relaxed));
            });
        }
    });
    assert_eq!(total.load(Ordering::Relaxed), 4 * 4 + 4 * 100);
}

#[test]
fn a_panicking_child_is_reraised_after_the_others_finish() {
    let finished = AtomicUsize::new(0);
    let result = panic::catch_unwind(AssertUnwindSafe(|| {
        goro::scope(|s| {
            s.spawn(|| panic!("child failed"));
            for _ in 0..10 {
                s.spawn(|| {
                    goro::sleep(Duration::from_millis(20));
                    finished.fetch_add(1, Ordering::Relaxed);
                });
            }
        })
    }));
    let payload = result.unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"child failed"));
    assert_eq!(
        finished.load(Ordering::Relaxed),
        10,
        "re-raised only after all finished"
    );
}

#[test]
fn a_joined_panic_is_not_reraised() {
    let r = goro::scope(|s| s.spawn(|| -> u8 { panic!("handled") }).join());
    assert!(r.is_err());
}

#[test]
fn a_panicking_closure_still_waits_for_children() {
    let finished = AtomicUsize::new(0);
    let result = panic::catch_unwind(AssertUnwindSafe(|| {
        goro::scope(|s| {
            s.spawn(|| {
                goro::sleep(Duration::from_millis(30));
                finished.fetch_add(1, Ordering::Relaxed);
            });
            panic!("closure failed");
        })
    }));
    assert_eq!(
        result.unwrap_err().downcast_ref::<&str>(),
        Some(&"closure failed")
    );
    assert_eq!(finished.load(Ordering::Relaxed), 1);
}

#[test]
fn scope_from_a_coroutine_parks_it() {
    let h = goro::go!(|| {
        let mut v = vec![0u32; 100];
        goro::scope(|s| {
            for (i, x) in v.iter_mut().enumerate() {
                s.spawn(move || {
                    goro::yield_now();
                    *x = i as u32;
                });
            }
        });
        v.iter().sum::<u32>()
    });
    assert_eq!(h.join().unwrap(), 4950);
}

#[test]
fn results_that_borrow_are_dropped_inside_the_scope() {
    struct Borrowing<'a>(&'a Mutex<Vec<&'static str>>);
    impl Drop for Borrowing<'_> {
        fn drop(&mut self) {
            self.0.lock().unwrap().push("dropped");
        }
    }
    let log = Mutex::new(Vec::new());
    goro::scope(|s| {
        s.spawn(|| Borrowing(&log)); // handle dropped: the child drops its result
        let kept = s.spawn(|| Borrowing(&log));
        goro::sleep(Duration::from_millis(10));
        drop(kept); // dropped with the handle
    });
    log.lock().unwrap().push("returned");
    assert_eq!(*log.lock().unwrap(), ["dropped", "dropped", "returned"]);
}

#[test]
fn a_hundred_thousand_children() {
    let count = AtomicUsize::new(0);
    goro::scope(|s| {
        for _ in 0..100_000 {
            s.spawn(|| count.fetch_add(1, Ordering::Relaxed));
        }
    });
    assert_eq!(count.load(Ordering::Relaxed), 100_000);
}

#[test]
fn exit_in_a_child_is_its_join_error() {
    goro::scope(|s| {
        let h = s.spawn(|| -> u8 { goro::exit() });
        assert!(h.join().unwrap_err().is::<goro::Exit>());
    });
}

#[test]
fn a_panic_dropping_an_untaken_result_is_reraised() {
    struct PanicsOnDrop;
    impl Drop for PanicsOnDrop {
        fn drop(&mut self) {
            panic!("result dropped");
        }
    }
    let result = panic::catch_unwind(AssertUnwindSafe(|| {
        goro::scope(|s| {
            let (handle_gone, wait) = goro::chan::bounded(0);
            s.spawn(move || {
                wait.recv().unwrap();
                PanicsOnDrop // the handle is gone: the child drops its result
            });
            handle_gone.send(()).unwrap();
        })
    }));
    let payload = result.expect_err("the child's panic reaches scope");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"result dropped"));
}

#[test]
fn a_forgotten_handle_leaks_its_result_and_scope_still_returns() {
    let data = [1, 2, 3];
    goro::scope(|s| {
        std::mem::forget(s.spawn(|| &data[1..])); // the borrowed result is leaked
        std::mem::forget(s.spawn(|| -> u8 { panic!("unreported") }));
    });
    assert_eq!(data, [1, 2, 3]);
}
