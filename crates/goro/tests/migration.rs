//! With `allow_migration()`, started coroutines move between workers as goroutines do;
//! pinned ones stay.

use std::collections::HashSet;
use std::sync::Once;
use std::time::Duration;

fn migrating_runtime() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        // SAFETY: the coroutines in this test hold only Send values (ThreadIds, sets of
        // them, handles) across their blocking calls.
        unsafe { goro::runtime::Builder::new().workers(2).allow_migration() }
            .init()
            .unwrap()
    });
}

fn churn(builder: goro::Builder) -> goro::JoinHandle<HashSet<std::thread::ThreadId>> {
    builder
        .spawn(|| {
            let mut seen = HashSet::new();
            for round in 0..200 {
                seen.insert(std::thread::current().id());
                // Children may run on the other worker; their finish wakes us there.
                let children: Vec<_> = (0..4)
                    .map(|_| {
                        goro::go!(|| {
                            let end = std::time::Instant::now() + Duration::from_micros(50);
                            while std::time::Instant::now() < end {}
                        })
                    })
                    .collect();
                for child in children {
                    child.join().unwrap();
                }
                if round % 2 == 0 {
                    goro::yield_now();
                }
            }
            seen.insert(std::thread::current().id());
            seen
        })
        .unwrap()
}

#[test]
fn coroutines_migrate_and_pinned_ones_stay() {
    migrating_runtime();
    let free: Vec<_> = (0..20).map(|_| churn(goro::Builder::new())).collect();
    let pinned: Vec<_> = (0..20).map(|_| churn(goro::Builder::new().pin())).collect();
    let migrated = free
        .into_iter()
        .map(|h| h.join().unwrap().len())
        .filter(|&threads| threads > 1)
        .count();
    assert!(migrated > 0, "no coroutine ever ran on a second thread");
    for h in pinned {
        assert_eq!(h.join().unwrap().len(), 1, "a pinned coroutine moved");
    }
}
