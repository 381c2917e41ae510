//! Comparison, and a regression guard for its ratio: one resume + suspend round trip
//! through goro-context, side by side with the same round trip on raw corosensei.
//!
//! goro-context adds a home-thread check, the `CURRENT` thread-local swap around every
//! resume, the thread-local lookup of the yielder in [`goro_context::suspend`] and the
//! `Reason` carried out. The target is at most 1.3 times raw corosensei's round trip;
//! both land in the group `switch`, so criterion reports them next to each other.
//!
//! Run with `cargo bench -p goro-benches --bench switch`.

use corosensei::stack::DefaultStack;
use criterion::{Criterion, criterion_group, criterion_main};
use goro_context::{Coroutine, Reason};

/// goro-context: `Coroutine::resume` into a body that suspends from plain code (no
/// yielder in hand), as a channel operation would.
fn goro_context_round_trip(
    c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
) {
    // Setup, not measured: taking a stack slot and building the coroutine. The first
    // resume also initialises this thread (id, signal handler, alternate stack), so it
    // happens here too, not inside the timed loop.
    let mut co: Coroutine<()> = Coroutine::new(|| {
        loop {
            goro_context::suspend(Reason::Yield).expect("running in a coroutine");
        }
    })
    .expect("a 64 KiB stack");
    co.resume().expect("first resume");

    c.bench_function("goro_context", |b| b.iter(|| co.resume()));

    // Dropping the suspended coroutine unwinds it (outside the measurement).
    drop(co);
}

/// Raw corosensei: `Coroutine::resume` into a body looping on `yielder.suspend(())`,
/// on corosensei's own mmap'd `DefaultStack`.
fn corosensei_round_trip(c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    // Setup, not measured: don't count time spent allocating a stack.
    let mut co: corosensei::Coroutine<(), (), (), DefaultStack> =
        corosensei::Coroutine::with_stack(DefaultStack::default(), |yielder, ()| {
            loop {
                yielder.suspend(());
            }
        });
    co.resume(());

    c.bench_function("corosensei_raw", |b| b.iter(|| co.resume(())));

    drop(co);
}

fn switch(c: &mut Criterion) {
    let mut group = c.benchmark_group("switch");
    goro_context_round_trip(&mut group);
    corosensei_round_trip(&mut group);
    group.finish();
}

criterion_group!(benches, switch);
criterion_main!(benches);
