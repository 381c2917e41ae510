//! The pool in its default configuration: reuse, stats, trimming, bad sizes, and a
//! million guarded slots for a few dozen mappings.

use std::sync::Mutex;

use goro_stack::{DEFAULT_STACK_SIZE, GuardMechanism, Stack, StackError};

#[path = "support/proc.rs"]
mod proc;
use proc::{mappings, rss_bytes};

/// Tests that read the process's RSS or mapping count run one at a time.
static MEASURE: Mutex<()> = Mutex::new(());

#[test]
fn a_dropped_stack_is_reused_warm() {
    let first = Stack::new(DEFAULT_STACK_SIZE).unwrap();
    let addr = first.top();
    drop(first);
    let second = Stack::new(DEFAULT_STACK_SIZE).unwrap();
    assert_eq!(
        second.top(),
        addr,
        "LIFO thread cache hands back the warm slot"
    );
}

#[test]
fn geometry_is_guard_then_usable() {
    let stack = Stack::new(100 * 1024).unwrap();
    assert_eq!(stack.size(), 128 * 1024);
    let (guard, bottom, top) = (
        stack.guard().as_ptr() as usize,
        stack.bottom().as_ptr() as usize,
        stack.top().as_ptr() as usize,
    );
    assert_eq!(bottom - guard, 4096);
    assert_eq!(top - bottom, 128 * 1024);
    assert_eq!(top % 4096, 0);
    let hit = goro_stack::guard_hit(guard + 100).expect("the guard page is recognised");
    assert_eq!(
        (hit.stack_bottom, hit.stack_top, hit.stack_size),
        (bottom, top, 128 * 1024)
    );
    assert_eq!(
        goro_stack::guard_hit(bottom),
        None,
        "usable memory is not a guard"
    );
    assert_eq!(goro_stack::guard_hit(top - 1), None);
    let local = 0u8;
    assert_eq!(goro_stack::guard_hit(&local as *const u8 as usize), None);
}

#[test]
fn usable_memory_is_writable_to_the_last_byte() {
    let stack = Stack::new(DEFAULT_STACK_SIZE).unwrap();
    // SAFETY: [bottom, top) is the stack's usable memory, owned by `stack`.
    unsafe {
        std::ptr::write_bytes(stack.bottom().as_ptr(), 0xa5, stack.size());
    }
}

#[test]
fn bad_sizes_are_errors_not_panics() {
    for size in [0, 1, 16 * 1024 - 1, (1 << 30) + 1, usize::MAX] {
        let err = Stack::new(size).unwrap_err();
        assert!(matches!(err, StackError::InvalidSize { requested, .. } if requested == size));
        let io: std::io::Error = err.into();
        assert_eq!(io.kind(), std::io::ErrorKind::InvalidInput);
    }
    assert_eq!(
        Stack::new(1 << 30).unwrap().size(),
        1 << 30,
        "1 GiB itself is fine"
    );
}

#[test]
fn stacks_move_between_threads() {
    let stacks: Vec<Stack> = (0..100).map(|_| Stack::new(32 * 1024).unwrap()).collect();
    std::thread::spawn(move || drop(stacks)).join().unwrap();
    // The other thread's cache went to the shared list when it exited.
    let again: Vec<Stack> = (0..100).map(|_| Stack::new(32 * 1024).unwrap()).collect();
    assert_eq!(again.len(), 100);
}

#[test]
fn stats_count_live_and_pooled() {
    let _guard = MEASURE.lock().unwrap();
    let before = goro_stack::stats().unwrap();
    let stacks: Vec<Stack> = (0..10).map(|_| Stack::new(256 * 1024).unwrap()).collect();
    let during = goro_stack::stats().unwrap();
    assert!(during.live >= before.live + 10, "{before:?} -> {during:?}");
    drop(stacks);
    let after = goro_stack::stats().unwrap();
    assert!(after.pooled >= 10, "{after:?}");
    assert!(after.bytes_reserved >= 10 * 256 * 1024);
    assert!(after.mappings >= 1 && after.mappings <= after.mapping_limit);
    assert!(after.mapping_limit < after.max_map_count);
}

#[test]
fn trimming_returns_a_deep_stacks_pages() {
    let _guard = MEASURE.lock().unwrap();
    let stack = Stack::new(4 << 20).unwrap();
    let before = rss_bytes();
    // SAFETY: the stack's own usable memory.
    unsafe { std::ptr::write_bytes(stack.bottom().as_ptr(), 1, stack.size()) };
    let touched = rss_bytes();
    assert!(touched >= before + (3 << 20), "{before} -> {touched}");
    drop(stack); // into this thread's cache, still resident
    goro_stack::trim_cache();
    let trimmed = rss_bytes();
    assert!(
        trimmed + (3 << 20) <= touched,
        "RSS should fall by ~4 MiB: {touched} -> {trimmed}"
    );
}

#[test]
fn a_million_guarded_slots_cost_few_mappings() {
    let _guard = MEASURE.lock().unwrap();
    let stats = goro_stack::stats().unwrap();
    if stats.guard != GuardMechanism::MadviseGuard {
        eprintln!("SKIPPED: this kernel has no MADV_GUARD_INSTALL (needs Linux 6.13+)");
        return;
    }
    let before = mappings();
    let stacks: Vec<Stack> = (0..1_000_000)
        .map(|_| Stack::new(DEFAULT_STACK_SIZE).unwrap())
        .collect();
    let after = mappings();
    let stats = goro_stack::stats().unwrap();
    assert!(stats.live >= 1_000_000);
    assert!(
        after < before + 1_000,
        "1M guarded stacks took {} new mappings",
        after - before
    );
    // Every one of them really is guarded: spot-check the registry.
    for stack in stacks.iter().step_by(9973) {
        assert!(goro_stack::guard_hit(stack.guard().as_ptr() as usize).is_some());
    }
    eprintln!(
        "1M stacks: {} new mappings, {} accounted",
        after - before,
        stats.mappings
    );
}

#[test]
fn stacks_freed_by_an_exited_thread_are_trimmed_by_trim_shared() {
    let _guard = MEASURE.lock().unwrap();
    let before = rss_bytes();
    std::thread::spawn(|| {
        let stacks: Vec<Stack> = (0..4).map(|_| Stack::new(1 << 20).unwrap()).collect();
        for stack in &stacks {
            // SAFETY: the stack's own usable memory.
            unsafe { std::ptr::write_bytes(stack.bottom().as_ptr(), 1, stack.size()) };
        }
    })
    .join()
    .unwrap();
    let dirty = rss_bytes();
    assert!(dirty >= before + (3 << 20), "{before} -> {dirty}");
    goro_stack::trim_shared();
    let trimmed = rss_bytes();
    assert!(
        trimmed + (3 << 20) <= dirty,
        "RSS should fall by ~4 MiB: {dirty} -> {trimmed}"
    );
}
