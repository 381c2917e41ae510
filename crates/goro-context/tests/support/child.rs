//! Running one test's body in a child process, for cases that abort or exit.
//!
//! A test calls `in_child(name, env)`. In the parent it re-runs this test binary with
//! `GORO_CHILD=<name>` (only that test), and returns the child's status and stderr. In
//! the child it returns `Err(())`, and the test then performs the crash itself.

use std::process::{Command, ExitStatus};

pub(crate) fn in_child(test: &str, env: &[(&str, &str)]) -> Result<(ExitStatus, String), ()> {
    if std::env::var("GORO_CHILD").as_deref() == Ok(test) {
        return Err(());
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env("GORO_CHILD", test)
        .env_remove("GORO_WORKERS")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    Ok((
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}
