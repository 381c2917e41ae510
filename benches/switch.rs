//! Comparison, and a regression guard for its ratio: one resume + suspend round trip
//! through goro-context, side by side with the same round trip on raw corosensei.
//!
//! goro-context adds a home-thread check, the `CURRENT` thread-local swap around every
//! resume, the thread-local lookup of the yielder in [`goro_context::suspend`] and the
//! `Reason` carried out. The target is at most 1.3 times raw corosensei's round trip;
//! all variants land in the group `switch`, so criterion reports them side by side.
//!
//! - `goro_context`: the body loops on `goro_context::suspend(Reason::Yield)`.
//! - `corosensei_raw`: corosensei's own benchmark shape, the body looping on
//!   `yielder.suspend(())`, which inlines into the coroutine's root function. The
//!   switch then happens at call depth 0, the best case for the CPU's return-address
//!   predictor: each `ret` of the switch returns where the matching `call` came from.
//! - `corosensei_raw_depth1`: the same, but suspending from inside an
//!   `#[inline(never)]` function, as any real suspension (a channel receive, a lock)
//!   does and as a non-inlined `goro_context::suspend` does. Resuming then returns into
//!   a frame the return predictor knows nothing about; on this machine that alone costs
//!   about 18 ns per round trip, whatever the library. This is the like-for-like
//!   baseline for goro's overhead.
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

/// Suspends from a frame of its own, never inlined into the coroutine's root.
#[inline(never)]
fn suspend_one_level_down(yielder: &corosensei::Yielder<(), ()>) {
    yielder.suspend(());
}

/// Raw corosensei with the suspension one (non-inlined) call below the root.
fn corosensei_depth1_round_trip(
    c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
) {
    // Setup, not measured: don't count time spent allocating a stack.
    let mut co: corosensei::Coroutine<(), (), (), DefaultStack> =
        corosensei::Coroutine::with_stack(DefaultStack::default(), |yielder, ()| {
            loop {
                suspend_one_level_down(yielder);
            }
        });
    co.resume(());

    c.bench_function("corosensei_raw_depth1", |b| b.iter(|| co.resume(())));

    drop(co);
}

fn switch(c: &mut Criterion) {
    let mut group = c.benchmark_group("switch");
    goro_context_round_trip(&mut group);
    corosensei_round_trip(&mut group);
    corosensei_depth1_round_trip(&mut group);
    group.finish();
}

criterion_group!(benches, switch);
criterion_main!(benches);
