//! A million suspended coroutines at once: memory stays near one page each and the
//! kernel mapping count barely moves. Its own test binary, so nothing else moves the
//! process's RSS while it measures.

use goro_context::{Coroutine, Reason, Resumed};

#[path = "../../goro-stack/tests/support/proc.rs"]
mod proc;
use proc::{mappings, rss_bytes};

const N: usize = 1_000_000;

#[test]
fn a_million_suspended_coroutines() {
    let mut all: Vec<Coroutine<usize>> = Vec::with_capacity(N);
    let (rss_before, maps_before) = (rss_bytes(), mappings());
    for i in 0..N {
        let mut co = Coroutine::new(move || {
            goro_context::suspend(Reason::Park).unwrap();
            i
        })
        .unwrap();
        assert!(matches!(co.resume(), Ok(Resumed::Suspended(Reason::Park))));
        all.push(co);
    }
    let per_coroutine = (rss_bytes() - rss_before) / N;
    let new_maps = mappings() - maps_before;
    eprintln!("1M suspended coroutines: {per_coroutine} B RSS each, {new_maps} new mappings");
    // About one page of stack plus the handle; 2 pages would mean something touches
    // the low end of every stack.
    assert!(
        per_coroutine < 8192,
        "{per_coroutine} bytes per suspended coroutine"
    );
    if goro_stack::stats().unwrap().guard == goro_stack::GuardMechanism::MadviseGuard {
        assert!(new_maps < 1000, "{new_maps} new mappings");
    }
    // Every one of them resumes to completion with its own value.
    for (i, co) in all.iter_mut().enumerate().step_by(1000) {
        assert!(matches!(co.resume(), Ok(Resumed::Finished(Ok(v))) if v == i));
    }
    // The rest are unwound by drop, and their stacks pooled.
    drop(all);
    let stats = goro_stack::stats().unwrap();
    assert!(stats.pooled >= N - 1000, "{stats:?}");
}
