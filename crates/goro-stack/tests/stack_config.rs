//! A bad environment setting is reported, naming the variable. One test: the pool
//! reads the environment once per process.

use goro_stack::{Stack, StackError};

#[test]
fn an_invalid_guard_setting_names_the_variable() {
    // SAFETY: this binary's only test sets the variable before anything reads it; no
    // other thread of ours is running.
    unsafe { std::env::set_var("GORO_STACK_GUARD", "sometimes") };
    let err = Stack::new(64 * 1024).unwrap_err();
    assert!(matches!(err, StackError::Config(_)));
    let msg = err.to_string();
    assert!(
        msg.contains("GORO_STACK_GUARD") && msg.contains("sometimes"),
        "{msg}"
    );
    // It stays an error: no stack is handed out under a configuration nobody asked for.
    assert!(Stack::new(64 * 1024).is_err());
    assert!(goro_stack::stats().is_err());
}
