//! Running one test's body in a child process, for cases that abort or exit.
//!
//! A test calls `in_child(name, env)`. In the parent it re-runs this test binary with
//! `GORO_CHILD=<name>` (only that test), and returns the child's status and stderr. In
//! the child it returns `Err(())`, and the test then performs the crash itself. A child
//! still running after `DEADLINE` is killed and the test fails, so a hang is reported
//! rather than waited for.

use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(120);

pub(crate) fn in_child(test: &str, env: &[(&str, &str)]) -> Result<(ExitStatus, String), ()> {
    if std::env::var("GORO_CHILD").as_deref() == Ok(test) {
        return Err(());
    }
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env("GORO_CHILD", test)
        .env_remove("GORO_WORKERS")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = String::from_utf8_lossy(&reader.join().unwrap()).into_owned();
            panic!("child {test} still running after {DEADLINE:?}; stderr: {stderr}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let stderr = reader.join().unwrap();
    Ok((status, String::from_utf8_lossy(&stderr).into_owned()))
}
