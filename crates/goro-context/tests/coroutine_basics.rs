//! Coroutine behaviour: suspension reasons, results, panics, exit, drop, the home
//! thread, nesting and identity.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use goro_context::{Builder, Coroutine, Exit, Reason, ResumeError, Resumed};

fn finish<R: std::fmt::Debug>(co: &mut Coroutine<R>) -> std::thread::Result<R> {
    loop {
        match co.resume().expect("resumable") {
            Resumed::Suspended(_) => continue,
            Resumed::Finished(result) => return result,
        }
    }
}

#[test]
fn reasons_reach_the_resumer_in_order() {
    let mut co = Coroutine::new(|| {
        goro_context::suspend(Reason::Yield).unwrap();
        goro_context::suspend(Reason::Park).unwrap();
        goro_context::suspend(Reason::Yield).unwrap();
        "end"
    })
    .unwrap();
    assert!(!co.is_started());
    let mut seen = Vec::new();
    loop {
        match co.resume().unwrap() {
            Resumed::Suspended(reason) => seen.push(reason),
            Resumed::Finished(result) => {
                assert_eq!(result.unwrap(), "end");
                break;
            }
        }
    }
    assert_eq!(seen, [Reason::Yield, Reason::Park, Reason::Yield]);
    assert!(co.is_started() && co.is_finished());
}

#[test]
fn resume_after_finish_is_an_error() {
    let mut co = Coroutine::new(|| 5).unwrap();
    assert_eq!(finish(&mut co).unwrap(), 5);
    assert_eq!(co.resume().unwrap_err(), ResumeError::Finished);
    assert_eq!(co.resume().unwrap_err(), ResumeError::Finished);
}

thread_local! {
    static HOOK_CALLS: Cell<usize> = const { Cell::new(0) };
}

/// Counts panic-hook calls per thread (coroutines run on the test's own thread).
fn count_hook_calls() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            HOOK_CALLS.with(|c| c.set(c.get() + 1));
            default(info);
        }));
    });
}

#[test]
fn a_panic_comes_out_as_its_payload() {
    count_hook_calls();
    let before = HOOK_CALLS.with(Cell::get);
    let mut co = Coroutine::new(|| -> u8 {
        goro_context::suspend(Reason::Yield).unwrap();
        std::panic::panic_any(42u32)
    })
    .unwrap();
    let payload = finish(&mut co).unwrap_err();
    assert_eq!(payload.downcast_ref::<u32>(), Some(&42));
    assert_eq!(
        HOOK_CALLS.with(Cell::get),
        before + 1,
        "a real panic runs the hook"
    );
    // The thread that resumed it is fine and can run more coroutines.
    assert_eq!(finish(&mut Coroutine::new(|| 1).unwrap()).unwrap(), 1);
}

#[test]
fn exit_unwinds_with_exit_and_no_panic_hook() {
    count_hook_calls();
    let before = HOOK_CALLS.with(Cell::get);
    let log = Arc::new(Mutex::new(Vec::new()));
    struct Note(Arc<Mutex<Vec<&'static str>>>, &'static str);
    impl Drop for Note {
        fn drop(&mut self) {
            self.0.lock().unwrap().push(self.1);
        }
    }
    let l = log.clone();
    let mut co = Coroutine::new(move || -> u8 {
        let _outer = Note(l.clone(), "outer");
        {
            let _inner = Note(l.clone(), "inner");
            goro_context::suspend(Reason::Yield).unwrap();
            goro_context::exit();
        }
    })
    .unwrap();
    let payload = finish(&mut co).unwrap_err();
    assert!(payload.is::<Exit>());
    assert_eq!(
        *log.lock().unwrap(),
        ["inner", "outer"],
        "destructors run innermost first"
    );
    assert_eq!(HOOK_CALLS.with(Cell::get), before, "exit is not a panic");
}

#[test]
fn dropping_a_suspended_coroutine_runs_its_destructors() {
    static DROPPED: AtomicUsize = AtomicUsize::new(0);
    struct Count;
    impl Drop for Count {
        fn drop(&mut self) {
            DROPPED.fetch_add(1, Ordering::SeqCst);
        }
    }
    let mut co = Coroutine::new(|| {
        let _a = Count;
        let _b = Count;
        loop {
            goro_context::suspend(Reason::Park).unwrap();
        }
    })
    .unwrap();
    let _: Resumed<()> = co.resume().unwrap();
    assert_eq!(DROPPED.load(Ordering::SeqCst), 0);
    let before = goro_stack::stats().unwrap().pooled;
    drop(co);
    assert_eq!(DROPPED.load(Ordering::SeqCst), 2);
    assert!(
        goro_stack::stats().unwrap().pooled > before,
        "the stack went back to the pool"
    );
}

#[test]
fn a_destructor_that_suspends_during_drop_is_handled() {
    static RAN: AtomicUsize = AtomicUsize::new(0);
    struct Stubborn;
    impl Drop for Stubborn {
        fn drop(&mut self) {
            // During a forced unwind the coroutine cannot really suspend: the suspend
            // call unwinds again, and the rest of the stack still unwinds.
            RAN.fetch_add(1, Ordering::SeqCst);
            let _ = std::panic::catch_unwind(|| goro_context::suspend(Reason::Yield));
        }
    }
    let mut co = Coroutine::new(|| {
        let _s = Stubborn;
        goro_context::suspend(Reason::Park).unwrap();
    })
    .unwrap();
    let _ = co.resume().unwrap();
    drop(co);
    assert_eq!(RAN.load(Ordering::SeqCst), 1);
}

#[test]
fn dropping_an_unstarted_coroutine_drops_its_closure() {
    let witness = Arc::new(());
    let w = witness.clone();
    let co = Coroutine::new(move || drop(w)).unwrap();
    assert_eq!(Arc::strong_count(&witness), 2);
    drop(co);
    assert_eq!(Arc::strong_count(&witness), 1);
}

#[test]
fn a_started_coroutine_stays_home() {
    let mut co = Coroutine::new(|| {
        let home = std::thread::current().id();
        goro_context::suspend(Reason::Yield).unwrap();
        assert_eq!(std::thread::current().id(), home);
    })
    .unwrap();
    let _ = co.resume().unwrap();
    let mut co = std::thread::spawn(move || {
        assert_eq!(co.resume().unwrap_err(), ResumeError::NotHome);
        co
    })
    .join()
    .unwrap();
    assert!(finish(&mut co).is_ok(), "back home it resumes");
}

#[test]
fn an_unstarted_coroutine_may_start_anywhere() {
    let co = Coroutine::new(|| std::thread::current().id()).unwrap();
    let (ran_on, spawned_on) = std::thread::spawn(move || {
        let mut co = co;
        (finish(&mut co).unwrap(), std::thread::current().id())
    })
    .join()
    .unwrap();
    assert_eq!(ran_on, spawned_on);
}

#[test]
fn allow_migration_lets_it_move() {
    let mut co = Coroutine::new(|| {
        let first = std::thread::current().id();
        goro_context::suspend(Reason::Yield).unwrap();
        first != std::thread::current().id()
    })
    .unwrap();
    // SAFETY: the body holds only a ThreadId (Send, no thread-local reference) across
    // its suspension point.
    unsafe { co.allow_migration() };
    let _ = co.resume().unwrap();
    let moved = std::thread::spawn(move || finish(&mut co).unwrap())
        .join()
        .unwrap();
    assert!(moved);
}

#[test]
fn a_started_coroutine_dropped_away_from_home_is_leaked_not_unwound() {
    static UNWOUND: AtomicUsize = AtomicUsize::new(0);
    struct Flag;
    impl Drop for Flag {
        fn drop(&mut self) {
            UNWOUND.fetch_add(1, Ordering::SeqCst);
        }
    }
    let mut co = Coroutine::new(|| {
        let _f = Flag;
        goro_context::suspend(Reason::Park).unwrap();
    })
    .unwrap();
    let _ = co.resume().unwrap();
    std::thread::spawn(move || drop(co)).join().unwrap();
    assert_eq!(UNWOUND.load(Ordering::SeqCst), 0);
}

#[test]
fn a_coroutine_dropped_in_thread_teardown_is_leaked_not_unwound() {
    use std::cell::RefCell;
    use std::sync::atomic::AtomicBool;

    // A coroutine suspended inside `BORROWED.with`, held by another thread-local. The
    // thread's teardown destroys BORROWED (first used last) before HELD: unwinding the
    // coroutine then would run `Guard::drop` against a destroyed value.
    static BORROWED_GONE: AtomicBool = AtomicBool::new(false);
    static UNWOUND_AFTER_IT: AtomicBool = AtomicBool::new(false);
    struct Borrowed;
    impl Drop for Borrowed {
        fn drop(&mut self) {
            BORROWED_GONE.store(true, Ordering::SeqCst);
        }
    }
    struct Guard<'a>(#[allow(dead_code)] &'a Borrowed);
    impl Drop for Guard<'_> {
        fn drop(&mut self) {
            // (A real guard would touch `self.0` here: that is the use after destroy.)
            if BORROWED_GONE.load(Ordering::SeqCst) {
                UNWOUND_AFTER_IT.store(true, Ordering::SeqCst);
            }
        }
    }
    thread_local! {
        static BORROWED: Borrowed = const { Borrowed };
        static HELD: RefCell<Option<Coroutine<()>>> = const { RefCell::new(None) };
    }
    std::thread::spawn(|| {
        let co = Coroutine::new(|| {
            BORROWED.with(|b| {
                let _guard = Guard(b);
                goro_context::suspend(Reason::Park).unwrap();
            });
        })
        .unwrap();
        HELD.with(|held| *held.borrow_mut() = Some(co));
        HELD.with(|held| {
            let resumed = held.borrow_mut().as_mut().unwrap().resume();
            assert!(matches!(resumed, Ok(Resumed::Suspended(Reason::Park))));
        });
    })
    .join()
    .unwrap();
    assert!(BORROWED_GONE.load(Ordering::SeqCst));
    assert!(
        !UNWOUND_AFTER_IT.load(Ordering::SeqCst),
        "the coroutine was unwound after the thread-local it borrows was destroyed"
    );
}

#[test]
fn suspend_outside_a_coroutine_is_an_error() {
    assert!(goro_context::suspend(Reason::Yield).is_err());
    assert!(!goro_context::in_coroutine());
    assert!(goro_context::current().is_none());
}

#[test]
fn identity_is_visible_inside() {
    let mut named = Builder::new()
        .name("alpha")
        .spawn(|| {
            let me = goro_context::current().unwrap();
            (me.id(), me.name().map(str::to_owned))
        })
        .unwrap();
    let id = named.id();
    assert_eq!(named.name(), Some("alpha"));
    assert_eq!(finish(&mut named).unwrap(), (id, Some("alpha".to_owned())));
    let mut anon = Coroutine::new(|| goro_context::current().unwrap().name().is_none()).unwrap();
    assert!(anon.id() != id && anon.id() != 0);
    assert!(finish(&mut anon).unwrap());
}

#[test]
fn coroutines_nest() {
    let mut outer = Coroutine::new(|| {
        let outer_id = goro_context::current().unwrap().id();
        let mut inner = Coroutine::new(|| {
            goro_context::suspend(Reason::Park).unwrap();
            goro_context::current().unwrap().id()
        })
        .unwrap();
        assert!(matches!(
            inner.resume(),
            Ok(Resumed::Suspended(Reason::Park))
        ));
        // Back in the outer coroutine: suspending suspends *it*, not the inner one.
        assert_eq!(goro_context::current().unwrap().id(), outer_id);
        goro_context::suspend(Reason::Yield).unwrap();
        let inner_id = finish(&mut inner).unwrap();
        assert_ne!(inner_id, outer_id);
        outer_id
    })
    .unwrap();
    assert!(matches!(
        outer.resume(),
        Ok(Resumed::Suspended(Reason::Yield))
    ));
    let id = outer.id();
    assert_eq!(finish(&mut outer).unwrap(), id);
}

#[test]
fn stack_size_is_configurable_and_validated() {
    let co = Builder::new().stack_size(1 << 20).spawn(|| ()).unwrap();
    assert_eq!(co.stack_size(), 1 << 20);
    let err = Builder::new().stack_size(1024).spawn(|| ()).unwrap_err();
    assert!(err.to_string().contains("16 KiB minimum"), "{err}");
}

#[test]
fn deep_recursion_within_the_stack_is_fine() {
    fn depth(n: u32) -> u32 {
        let pad = std::hint::black_box([0u8; 256]);
        if n == 0 {
            pad[0] as u32
        } else {
            1 + depth(n - 1)
        }
    }
    let mut co = Builder::new()
        .stack_size(1 << 20)
        .spawn(|| depth(1000))
        .unwrap();
    assert_eq!(finish(&mut co).unwrap(), 1000);
}

#[test]
fn dropping_an_unstarted_coroutine_whose_captures_suspend_is_safe() {
    // The closure never ran, so there is no coroutine to suspend: a destructor of its
    // captures that tries must see the caller's context (here a plain thread).
    struct SuspendsOnDrop(Arc<AtomicUsize>);
    impl Drop for SuspendsOnDrop {
        fn drop(&mut self) {
            if goro_context::suspend(Reason::Yield).is_err() {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
    let saw_plain_thread = Arc::new(AtomicUsize::new(0));
    let capture = SuspendsOnDrop(saw_plain_thread.clone());
    let co = Coroutine::new(move || drop(capture)).unwrap();
    drop(co);
    assert_eq!(saw_plain_thread.load(Ordering::SeqCst), 1);
}
