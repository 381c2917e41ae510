//! Comparison, and a regression guard for goro's pooled path: the cost of creating and
//! destroying one coroutine, side by side with raw corosensei and an OS thread.
//!
//! - `goro_create_drop`: `goro_context::Coroutine::new` + drop without running it. The
//!   stack slot comes from this thread's warm pool and goes back to it. Target: at
//!   most 50 ns.
//! - `goro_create_run_drop`: the same, resumed once to completion before the drop.
//! - `corosensei_create_run_drop`: raw corosensei with its `DefaultStack`, which maps
//!   (and unmaps) a fresh stack every time.
//! - `thread_spawn_join`: `std::thread::spawn` + `join`, the reference point.
//!
//! Run with `cargo bench -p goro-benches --bench create`.

use std::hint::black_box;
use std::thread;

use corosensei::stack::DefaultStack;
use criterion::{Criterion, criterion_group, criterion_main};
use goro_context::{Coroutine, Resumed};

fn create(c: &mut Criterion) {
    // Setup, not measured: the first coroutine on this thread initialises the stack
    // pool (arena mapping, guard probe, first slots carved) and, on its first resume,
    // this thread (id, signal handler, alternate stack). Afterwards the slot it used
    // is in this thread's cache, so every iteration below reuses a warm slot.
    let mut warm = Coroutine::new(|| 0u64).expect("a 64 KiB stack");
    assert!(matches!(warm.resume(), Ok(Resumed::Finished(Ok(0)))));
    drop(warm);

    let mut group = c.benchmark_group("create");

    group.bench_function("goro_create_drop", |b| {
        b.iter(|| {
            let co = Coroutine::new(|| black_box(1u64)).expect("a pooled stack");
            drop(black_box(co));
        })
    });

    group.bench_function("goro_create_run_drop", |b| {
        b.iter(|| {
            let mut co = Coroutine::new(|| black_box(1u64)).expect("a pooled stack");
            let finished = co.resume();
            drop(co);
            finished
        })
    });

    group.bench_function("corosensei_create_run_drop", |b| {
        b.iter(|| {
            let mut co: corosensei::Coroutine<(), (), u64, DefaultStack> =
                corosensei::Coroutine::with_stack(DefaultStack::default(), |_yielder, ()| {
                    black_box(1u64)
                });
            let finished = co.resume(());
            drop(co);
            finished
        })
    });

    group.bench_function("thread_spawn_join", |b| {
        b.iter(|| thread::spawn(|| black_box(1u64)).join())
    });

    group.finish();
}

criterion_group!(benches, create);
criterion_main!(benches);
