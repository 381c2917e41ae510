//! A timer's `cancel` racing its firing (timer.rs): exactly one of the two takes
//! effect, and the count of cancelled entries stays exact (it never wraps below zero,
//! which in a debug build panics with an overflow inside the user's `cancel`).

use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, Ordering};

use crate::loom::modelled::Mutex;
use crate::timer::{Action, Timers};

#[test]
fn cancel_racing_fire_counts_exactly() {
    loom::model(|| {
        // `add` wants a heap that lives for ever, as the workers' do.
        let timers: &'static Timers = Box::leak(Box::new(Timers::new()));
        let fired = Arc::new(AtomicBool::new(false));
        let handle = {
            let fired = fired.clone();
            let f: Box<dyn FnOnce() + Send> =
                Box::new(move || fired.store(true, Ordering::Relaxed));
            timers.add(1, Action::Call(Mutex::new(Some(f))))
        };
        // The worker or the monitor fires it, due, while its owner cancels it.
        let firer = loom::thread::spawn(move || timers.fire_due(1));
        handle.cancel();
        let woke = firer.join().unwrap();
        assert_eq!(woke == 1, fired.load(Ordering::Relaxed));
        assert_eq!(timers.len(), 0, "fired or dropped as cancelled");
        assert_eq!(
            timers.cancelled(),
            0,
            "no cancelled entry is left in the heap"
        );
    });
}
