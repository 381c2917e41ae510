//! Process-level behaviour, each case in a child process: detached coroutines do not
//! keep the process alive, and invalid configuration is reported with its setting.

use std::time::{Duration, Instant};

#[path = "../../goro-context/tests/support/child.rs"]
mod child;

/// The child's exit code and stderr, or `Err` in the child itself.
fn in_child(test: &str, env: &[(&str, &str)]) -> Result<(Option<i32>, String), ()> {
    child::in_child(test, env).map(|(status, stderr)| (status.code(), stderr))
}

#[test]
fn detached_coroutines_do_not_keep_the_process_alive() {
    let start = Instant::now();
    let Ok((code, stderr)) = in_child("detached_coroutines_do_not_keep_the_process_alive", &[])
    else {
        for _ in 0..100 {
            drop(goro::go!(|| goro::sleep(Duration::from_secs(3600))));
        }
        drop(goro::go!(|| loop {
            goro::yield_now();
        }));
        return; // the test (the child's main) ends here; so must the process
    };
    assert_eq!(code, Some(0), "stderr: {stderr}");
    assert!(start.elapsed() < Duration::from_secs(30));
}

#[test]
fn zero_workers_is_rejected_by_name() {
    let Ok((code, stderr)) = in_child("zero_workers_is_rejected_by_name", &[("GORO_WORKERS", "0")])
    else {
        let err = goro::Builder::new().spawn(|| ()).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
        eprintln!("spawn error: {err}");
        goro::go!(|| ()); // panics with the same message
        unreachable!();
    };
    assert_ne!(code, Some(0));
    assert!(
        stderr.contains("spawn error: GORO_WORKERS is 0"),
        "stderr: {stderr}"
    );
    assert!(
        stderr.contains("failed to spawn a coroutine: GORO_WORKERS is 0"),
        "stderr: {stderr}"
    );
}

#[test]
fn unparsable_settings_are_rejected_by_name() {
    for (var, value, words) in [
        (
            "GORO_WORKERS",
            "many",
            "GORO_WORKERS=\"many\" is not a whole number",
        ),
        (
            "GORO_STACK_SIZE",
            "big",
            "GORO_STACK_SIZE=\"big\" is not a size",
        ),
        ("GORO_STACK_SIZE", "4K", "GORO_STACK_SIZE is 4096 bytes"),
    ] {
        let Ok((code, stderr)) =
            in_child("unparsable_settings_are_rejected_by_name", &[(var, value)])
        else {
            let err = goro::runtime::Builder::new().init().unwrap_err();
            eprintln!("init error: {err}");
            std::process::exit(3);
        };
        assert_eq!(code, Some(3), "stderr: {stderr}");
        assert!(stderr.contains(words), "{var}={value}: {stderr}");
    }
}

#[test]
fn builder_values_are_validated() {
    let err = goro::runtime::Builder::new().workers(0).init().unwrap_err();
    assert!(err.to_string().contains("worker count is 0"), "{err}");
    let err = goro::runtime::Builder::new()
        .stack_size(1)
        .init()
        .unwrap_err();
    assert!(err.to_string().contains("stack size is 1 bytes"), "{err}");
}

#[test]
fn spawning_past_the_stack_budget_is_an_error_then_a_panic() {
    let Ok((code, stderr)) = in_child(
        "spawning_past_the_stack_budget_is_an_error_then_a_panic",
        &[
            ("GORO_STACK_GUARD", "mprotect"),
            ("GORO_STACK_MAX_MAPS", "300"),
        ],
    ) else {
        // Each coroutine takes its stack when it starts; wait for that before the next
        // spawn, so the budget is really in use when spawn checks it.
        let started = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut handles = Vec::new();
        let err = loop {
            let s = started.clone();
            let spawned = goro::Builder::new().spawn(move || {
                s.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                goro::sleep(Duration::from_secs(3600));
            });
            match spawned {
                Ok(h) => {
                    while started.load(std::sync::atomic::Ordering::SeqCst) < handles.len() + 1
                        && !h.is_finished()
                    {
                        std::thread::yield_now();
                    }
                    if h.is_finished() {
                        // It could not get a stack: its join says why.
                        let payload = h.join().unwrap_err();
                        eprintln!("start error: {}", payload.downcast_ref::<String>().unwrap());
                        continue;
                    }
                    handles.push(h);
                }
                Err(err) => break err,
            }
            assert!(handles.len() < 1000, "the budget was not enforced");
        };
        eprintln!("spawn error after {}: {err}", handles.len());
        goro::go!(|| ());
        unreachable!();
    };
    assert_ne!(code, Some(0));
    assert!(stderr.contains("spawn error after"), "stderr: {stderr}");
    assert!(stderr.contains("vm.max_map_count"), "stderr: {stderr}");
    assert!(
        stderr.contains("failed to spawn a coroutine: cannot allocate"),
        "stderr: {stderr}"
    );
}

#[test]
fn a_burst_of_spawns_stops_at_the_budget_in_spawn() {
    let Ok((code, stderr)) = in_child(
        "a_burst_of_spawns_stops_at_the_budget_in_spawn",
        &[
            ("GORO_STACK_GUARD", "mprotect"),
            ("GORO_STACK_MAX_MAPS", "300"),
        ],
    ) else {
        // No waiting between spawns: where stacks are budgeted, spawn takes the stack
        // itself, so the error comes from spawn and no coroutine fails to start later.
        let mut handles = Vec::new();
        let err = loop {
            match goro::Builder::new().spawn(|| goro::sleep(Duration::from_secs(3600))) {
                Ok(h) => handles.push(h),
                Err(err) => break err,
            }
            assert!(handles.len() < 1000, "the budget was not enforced");
        };
        eprintln!("burst stopped after {}: {err}", handles.len());
        std::process::exit(0);
    };
    assert_eq!(code, Some(0), "stderr: {stderr}");
    // 300 mappings at two per stack, less a few for arenas.
    let count: usize = stderr
        .split("burst stopped after ")
        .nth(1)
        .and_then(|rest| rest.split(':').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("stderr: {stderr}"));
    assert!((140..=150).contains(&count), "stderr: {stderr}");
    assert!(
        stderr.contains("cannot allocate another coroutine stack"),
        "stderr: {stderr}"
    );
    assert!(!stderr.contains("could not start"), "stderr: {stderr}");
}
