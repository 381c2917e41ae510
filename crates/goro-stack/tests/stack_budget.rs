//! The mprotect fallback under a tiny mapping budget: allocation fails with an error
//! that names vm.max_map_count, and nothing crashes. One test: the pool is configured
//! once per process.

use goro_stack::{Config, GuardMechanism, Stack, StackError};

#[path = "support/proc.rs"]
mod proc;
use proc::mappings;

#[test]
fn exhausting_the_budget_is_a_clear_error() {
    goro_stack::configure(
        Config::new()
            .guard(GuardMechanism::Mprotect)
            .mapping_limit(101),
    )
    .unwrap();
    let before = mappings();
    let mut stacks = Vec::new();
    let err = loop {
        match Stack::new(16 * 1024) {
            Ok(stack) => stacks.push(stack),
            Err(err) => break err,
        }
        assert!(stacks.len() <= 100, "the budget was not enforced");
    };
    // 101 mappings: one arena, then two per stack.
    assert_eq!(stacks.len(), 50);
    let stats = goro_stack::stats().unwrap();
    assert_eq!(stats.guard, GuardMechanism::Mprotect);
    assert!(stats.mappings <= 101);
    // mprotect guards really split the mapping: about two VMAs per stack.
    let grown = mappings() - before;
    assert!(
        grown >= 90,
        "50 mprotect guards added only {grown} mappings"
    );

    assert!(matches!(
        err,
        StackError::MapBudget {
            limit: 101,
            stacks: 50,
            ..
        }
    ));
    let msg = err.to_string();
    let max = std::fs::read_to_string("/proc/sys/vm/max_map_count").unwrap();
    assert!(msg.contains("vm.max_map_count"), "{msg}");
    assert!(msg.contains(max.trim()), "{msg}");
    assert!(msg.contains("about 50 stacks"), "{msg}");
    let io: std::io::Error = err.into();
    assert_eq!(io.kind(), std::io::ErrorKind::OutOfMemory);

    // Freed stacks are reused without new mappings, so the budget is not a leak.
    drop(stacks.pop());
    let again = Stack::new(16 * 1024).expect("a freed slot comes back");
    assert_eq!(again.size(), 16 * 1024);
    // The second configure is refused with a reason.
    let late = goro_stack::configure(Config::new())
        .unwrap_err()
        .to_string();
    assert!(late.contains("before the first stack"), "{late}");
}
