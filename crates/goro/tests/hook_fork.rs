//! Feature `hook` after `fork`: the child of a coroutine that forks has no scheduler,
//! so its hooked calls must block as libc's do.
#![cfg(all(feature = "hook", target_os = "linux", target_env = "gnu"))]

use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn a_forked_child_sleeps_as_libc_does_and_runs_no_coroutine() {
    let parent = std::process::id();
    // The forked child writes its pid here first, so that a hung child can be killed.
    let (pids, pid_w) = nix::unistd::pipe().unwrap();
    let mut pids = std::fs::File::from(pids);
    let spawner = goro::go!(move || {
        // A coroutine on this worker that, should it ever run in the forked child,
        // makes that child exit 7 instead of running the program.
        let witness = goro::go!(move || {
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(2) {
                goro::sleep(Duration::from_millis(1));
                if std::process::id() != parent {
                    // SAFETY: ends the forked child at once.
                    unsafe { libc::_exit(7) };
                }
            }
        });
        goro::sleep(Duration::from_millis(5)); // the witness is in its loop
        let pid_w = pid_w.as_raw_fd();
        let mut command = Command::new("true");
        // SAFETY: the closure makes async-signal-safe calls only (getpid, write,
        // usleep), as the forked child of a multi-threaded process may.
        unsafe {
            command.pre_exec(move || {
                let pid = libc::getpid().to_ne_bytes();
                libc::write(pid_w, pid.as_ptr().cast(), pid.len());
                libc::usleep(50_000);
                Ok(())
            })
        };
        let mut child = command.spawn().unwrap();
        while child.try_wait().unwrap().is_none() {
            goro::sleep(Duration::from_millis(5));
        }
        witness.join().unwrap();
        child.wait().unwrap()
    });
    let start = Instant::now();
    while !spawner.is_finished() {
        if start.elapsed() > Duration::from_secs(15) {
            let mut pid = [0u8; 4];
            pids.read_exact(&mut pid).unwrap();
            let pid = i32::from_ne_bytes(pid);
            // SAFETY: a signal to the hung child this test forked.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("the forked child {pid} hung");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let status = spawner.join().unwrap();
    assert!(status.success(), "the forked child: {status}");
}
