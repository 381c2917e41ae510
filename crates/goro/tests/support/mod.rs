//! Helpers shared by the integration tests (`mod support;` in each test file that uses
//! them). Each test binary compiles its own copy, so the statics here are per binary.

// Not every test binary uses every helper.
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard, Once};
use std::time::{Duration, Instant};

use goro::net::{TcpListener, TcpStream};

/// Starts the runtime with ONE worker (once per test binary) and returns a guard that
/// makes the binary's tests take turns: each needs the one worker (and the spare the
/// monitor may start) to itself.
pub(crate) fn one_worker() -> MutexGuard<'static, ()> {
    static ALONE: Mutex<()> = Mutex::new(());
    static INIT: Once = Once::new();
    INIT.call_once(|| goro::runtime::Builder::new().workers(1).init().unwrap());
    ALONE.lock().unwrap_or_else(|e| e.into_inner())
}

/// A TCP echo server on a free loopback port, one coroutine per accepted connection,
/// forever. Returns its address.
pub(crate) fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    goro::go!(move || {
        for conn in listener.incoming() {
            let mut conn = conn.unwrap();
            goro::go!(move || {
                let mut buf = [0; 4096];
                loop {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if conn.write_all(&buf[..n]).is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    addr
}

/// Echoes `rounds` one-byte messages through the server at `addr` from a coroutine,
/// while the calling thread watches that it finishes within a generous 20 s (else it
/// panics with `starved`: I/O did not get through). Returns the client's handle, done.
pub(crate) fn echo_bytes_without_starving(
    addr: SocketAddr,
    rounds: u8,
    starved: &'static str,
) -> goro::JoinHandle<io::Result<()>> {
    let client = goro::go!(move || -> io::Result<()> {
        let mut conn = TcpStream::connect(addr)?;
        for i in 0..rounds {
            conn.write_all(&[i])?;
            let mut byte = [0];
            conn.read_exact(&mut byte)?;
            assert_eq!(byte[0], i);
        }
        Ok(())
    });
    let start = Instant::now();
    while !client.is_finished() {
        assert!(start.elapsed() < Duration::from_secs(20), "{starved}");
        std::thread::sleep(Duration::from_millis(5));
    }
    client
}
