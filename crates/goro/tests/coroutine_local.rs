//! `goro::coroutine_local!`: one value per coroutine, dropped when it ends.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Counts its drops in the counter it is given (one per test).
struct Counted(&'static AtomicUsize);
impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

goro::coroutine_local! {
    static COUNTED: RefCell<Option<Counted>> = RefCell::new(None);
    /// With attributes and visibility.
    pub(crate) static NAME: RefCell<String> = RefCell::new(String::from("fresh"));
}

#[test]
fn values_are_dropped_when_the_coroutine_ends() {
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    let h = goro::go!(|| {
        COUNTED.with(|c| *c.borrow_mut() = Some(Counted(&DROPS)));
        goro::yield_now();
        DROPS.load(Ordering::SeqCst)
    });
    assert_eq!(h.join().unwrap(), 0, "not dropped while the coroutine runs");
    // join returns after the coroutine's closure, and its locals, are gone.
    assert_eq!(DROPS.load(Ordering::SeqCst), 1);
}

#[test]
fn values_are_dropped_when_the_coroutine_panics_or_exits() {
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    let p = goro::go!(|| {
        COUNTED.with(|c| *c.borrow_mut() = Some(Counted(&DROPS)));
        panic!("boom");
    });
    assert!(p.join().is_err());
    let e = goro::go!(|| {
        COUNTED.with(|c| *c.borrow_mut() = Some(Counted(&DROPS)));
        goro::exit();
    });
    assert!(e.join().unwrap_err().is::<goro::Exit>());
    assert_eq!(DROPS.load(Ordering::SeqCst), 2);
}

#[test]
fn a_child_starts_fresh() {
    let h = goro::go!(|| {
        NAME.with(|n| *n.borrow_mut() = "parent".into());
        let child = goro::go!(|| NAME.with(|n| n.borrow().clone()));
        (child.join().unwrap(), NAME.with(|n| n.borrow().clone()))
    });
    assert_eq!(
        h.join().unwrap(),
        ("fresh".to_string(), "parent".to_string())
    );
}

#[test]
fn plain_threads_have_one_value_each() {
    NAME.with(|n| *n.borrow_mut() = "main thread".into());
    let other = std::thread::spawn(|| NAME.with(|n| n.borrow().clone()))
        .join()
        .unwrap();
    assert_eq!(other, "fresh");
    assert_eq!(NAME.with(|n| n.borrow().clone()), "main thread");
    // A coroutine does not see the thread's value, even one started from this thread.
    let co = goro::go!(|| NAME.with(|n| n.borrow().clone()))
        .join()
        .unwrap();
    assert_eq!(co, "fresh");
}

goro::coroutine_local! {
    static FIRST: Cell<u32> = const { Cell::new(0) };
    static SECOND: RefCell<Option<Observer>> = const { RefCell::new(None) };
    static SELF_ACCESS: RefCell<Option<SelfAccess>> = const { RefCell::new(None) };
}

/// In its destructor, reads FIRST (created earlier: still alive, since values are
/// dropped newest first).
struct Observer(Arc<Mutex<Vec<String>>>);
impl Drop for Observer {
    fn drop(&mut self) {
        let seen = FIRST.try_with(Cell::get);
        self.0.lock().unwrap().push(format!("{seen:?}"));
    }
}

/// In its destructor, touches its own local.
struct SelfAccess(Arc<Mutex<Vec<String>>>);
impl Drop for SelfAccess {
    fn drop(&mut self) {
        let own = SELF_ACCESS.try_with(|_| ());
        let fresh = SECOND.try_with(|_| ()); // never created in this coroutine
        self.0.lock().unwrap().push(format!("{own:?} {fresh:?}"));
    }
}

#[test]
fn destructors_see_older_locals_and_not_their_own() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    goro::go!(move || {
        FIRST.with(|f| f.set(7));
        SECOND.with(|s| *s.borrow_mut() = Some(Observer(l)));
    })
    .join()
    .unwrap();
    assert_eq!(*log.lock().unwrap(), ["Ok(7)"]);

    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    goro::go!(move || SELF_ACCESS.with(|s| *s.borrow_mut() = Some(SelfAccess(l))))
        .join()
        .unwrap();
    assert_eq!(*log.lock().unwrap(), ["Err(AccessError) Err(AccessError)"]);
}

struct PanicsOnDrop;
impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("local destructor");
    }
}

goro::coroutine_local! {
    static BAD: RefCell<Option<PanicsOnDrop>> = const { RefCell::new(None) };
}

#[test]
fn a_panicking_destructor_becomes_the_coroutines_panic() {
    let h = goro::go!(|| BAD.with(|b| *b.borrow_mut() = Some(PanicsOnDrop)));
    let payload = h.join().unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"local destructor"));
    // While already unwinding: reported, not a double panic (which would abort).
    let h = goro::go!(|| {
        BAD.with(|b| *b.borrow_mut() = Some(PanicsOnDrop));
        panic!("first");
    });
    assert_eq!(h.join().unwrap_err().downcast_ref::<&str>(), Some(&"first"));
}

goro::coroutine_local! {
    static RECURSIVE: u32 = RECURSIVE.with(|r| *r + 1);
}

#[test]
fn a_recursive_initializer_panics() {
    let h = goro::go!(|| RECURSIVE.with(|r| *r));
    let payload = h.join().unwrap_err();
    let msg = payload.downcast_ref::<&str>().unwrap();
    assert!(msg.contains("initializer used that same local"), "{msg}");
}

#[test]
fn scoped_children_have_their_own_values() {
    let seen = goro::scope(|s| {
        let hs: Vec<_> = (0..10u32)
            .map(|i| {
                s.spawn(move || {
                    FIRST.with(|f| f.set(i));
                    goro::yield_now();
                    FIRST.with(Cell::get)
                })
            })
            .collect();
        hs.into_iter()
            .map(|h| h.join().unwrap())
            .collect::<Vec<_>>()
    });
    assert_eq!(seen, (0..10).collect::<Vec<_>>());
}

goro::coroutine_local! {
    static OUTER: Cell<u32> = const { Cell::new(0) };
}

#[test]
fn a_coroutine_nested_inside_a_goro_one_does_not_reach_its_table() {
    // A goro-context coroutine created and resumed inside a goro coroutine runs on its
    // own stack, and may be suspended and handed to another coroutine that outlives
    // this one: a reference into this coroutine's table would dangle then. So from
    // inside it the table is out of reach.
    let h = goro::go!(|| {
        OUTER.with(|o| o.set(1));
        let mut nested =
            goro_context::Coroutine::new(|| OUTER.try_with(Cell::get).is_err()).unwrap();
        match nested.resume() {
            Ok(goro_context::Resumed::Finished(Ok(refused))) => refused,
            _ => unreachable!("the nested coroutine runs to its end"),
        }
    });
    assert!(h.join().unwrap(), "the nested coroutine reached the table");
}
