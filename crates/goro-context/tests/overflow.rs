//! Stack overflow and foreign faults, each in a child process (they abort).
//!
//! Each test re-runs this test binary with `GORO_CHILD=<test name>`; in the child the
//! same test performs the crash instead of spawning.

use std::os::unix::process::ExitStatusExt;

use goro_context::{Builder, Resumed};

#[path = "support/child.rs"]
mod child;

/// The child's terminating signal and stderr, or `Err` in the child itself.
fn in_child(test: &str, env: &[(&str, &str)]) -> Result<(Option<i32>, String), ()> {
    child::in_child(test, env).map(|(status, stderr)| (status.signal(), stderr))
}

#[inline(never)]
fn recurse(depth: u64) -> u64 {
    let frame = std::hint::black_box([depth as u8; 512]);
    if std::hint::black_box(depth) == u64::MAX {
        return 0;
    }
    recurse(depth + 1) + u64::from(frame[0])
}

fn overflow_a_coroutine() -> ! {
    let mut co = Builder::new().name("deep").spawn(|| recurse(0)).unwrap();
    let _: Result<Resumed<u64>, _> = co.resume();
    unreachable!("the coroutine should have overflowed");
}

fn assert_named_overflow(signal: Option<i32>, stderr: &str) {
    assert_eq!(signal, Some(libc::SIGABRT), "stderr: {stderr}");
    assert!(
        stderr.contains("coroutine 'deep' (id ")
            && stderr.contains(") has overflowed its stack of 64 KiB"),
        "stderr: {stderr}"
    );
}

#[test]
fn overflow_names_the_coroutine_with_madvise_guards() {
    let Ok((signal, stderr)) = in_child(
        "overflow_names_the_coroutine_with_madvise_guards",
        &[("GORO_STACK_GUARD", "madvise")],
    ) else {
        overflow_a_coroutine()
    };
    if stderr.contains("does not support MADV_GUARD_INSTALL") {
        eprintln!("SKIPPED: this kernel has no MADV_GUARD_INSTALL (needs Linux 6.13+)");
        return;
    }
    assert_named_overflow(signal, &stderr);
}

#[test]
fn overflow_names_the_coroutine_with_mprotect_guards() {
    let Ok((signal, stderr)) = in_child(
        "overflow_names_the_coroutine_with_mprotect_guards",
        &[("GORO_STACK_GUARD", "mprotect")],
    ) else {
        overflow_a_coroutine()
    };
    assert_named_overflow(signal, &stderr);
}

#[test]
fn a_long_name_is_reported_whole() {
    // Longer than the handler's 512-byte buffer: the report is written in pieces, and
    // the size and the fatal line still follow the name.
    let name: String = (0..700)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let Ok((signal, stderr)) = in_child("a_long_name_is_reported_whole", &[]) else {
        let mut co = Builder::new().name(name).spawn(|| recurse(0)).unwrap();
        let _: Result<Resumed<u64>, _> = co.resume();
        unreachable!("the coroutine should have overflowed");
    };
    assert_eq!(signal, Some(libc::SIGABRT), "stderr: {stderr}");
    let line = format!("coroutine '{name}' (id ");
    assert!(stderr.contains(&line), "stderr: {stderr}");
    assert!(
        stderr
            .contains(") has overflowed its stack of 64 KiB\nfatal runtime error: stack overflow"),
        "stderr: {stderr}"
    );
}

#[test]
fn overflow_on_a_thread_without_an_altstack_is_still_reported() {
    // A thread created outside std (no Rust-installed alternate signal stack): goro
    // must give it one before the coroutine runs.
    let Ok((signal, stderr)) = in_child(
        "overflow_on_a_thread_without_an_altstack_is_still_reported",
        &[],
    ) else {
        extern "C" fn start(_: *mut libc::c_void) -> *mut libc::c_void {
            overflow_a_coroutine()
        }
        let mut thread: libc::pthread_t = 0;
        // SAFETY: a valid out-pointer, default attributes, and a start routine that
        // never returns; we join it below.
        unsafe {
            assert_eq!(
                libc::pthread_create(&mut thread, std::ptr::null(), start, std::ptr::null_mut()),
                0
            );
            libc::pthread_join(thread, std::ptr::null_mut());
        }
        unreachable!()
    };
    assert_named_overflow(signal, &stderr);
}

#[test]
fn a_thread_overflow_still_gets_rusts_message() {
    let Ok((signal, stderr)) = in_child("a_thread_overflow_still_gets_rusts_message", &[]) else {
        // Run a coroutine first so goro's handler is installed in front of Rust's.
        let mut co = Builder::new().spawn(|| 1).unwrap();
        let _ = co.resume();
        std::thread::Builder::new()
            .name("plain".into())
            .stack_size(256 * 1024)
            .spawn(|| recurse(0))
            .unwrap()
            .join()
            .unwrap();
        unreachable!()
    };
    assert_eq!(signal, Some(libc::SIGABRT), "stderr: {stderr}");
    assert!(
        stderr.contains("thread 'plain'") && stderr.contains("has overflowed its stack"),
        "stderr: {stderr}"
    );
    assert!(!stderr.contains("coroutine"), "stderr: {stderr}");
}

#[test]
fn other_faults_go_to_the_default_action() {
    let Ok((signal, stderr)) = in_child("other_faults_go_to_the_default_action", &[]) else {
        let mut co = Builder::new().spawn(|| 1).unwrap();
        let _ = co.resume();
        // SAFETY: deliberately not: this write faults, which is what the test checks.
        unsafe { std::ptr::write_volatile(std::hint::black_box(8usize) as *mut u64, 1) };
        unreachable!()
    };
    assert_eq!(signal, Some(libc::SIGSEGV), "stderr: {stderr}");
    assert!(!stderr.contains("overflowed"), "stderr: {stderr}");
}
