//! goro::net on ONE worker thread: a thousand concurrent echo connections, and I/O that
//! still gets through while a coroutine yields in a loop.

use std::io::{self, Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use goro::net::TcpStream;

mod support;
use support::{echo_bytes_without_starving, echo_server, one_worker};

/// Raises the soft limit on open descriptors to the hard limit if it is below `need`.
fn allow_descriptors(need: u64) {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    if soft < need {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard).unwrap();
    }
    let (soft, _) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    assert!(
        soft >= need,
        "this test needs {need} file descriptors; the hard limit is {soft}"
    );
}

#[test]
fn a_thousand_concurrent_echo_connections() {
    const CONNS: usize = 1000;
    const ROUNDS: usize = 10;
    let _alone = one_worker();
    allow_descriptors(2 * CONNS as u64 + 100);
    let addr = echo_server();
    let connected = Arc::new(AtomicUsize::new(0));
    let all_connected = Arc::new(goro::sync::WaitGroup::new());
    all_connected.add(CONNS as isize);
    let clients: Vec<_> = (0..CONNS)
        .map(|i| {
            let (connected, all_connected) = (connected.clone(), all_connected.clone());
            goro::go!(move || -> io::Result<()> {
                let mut conn = TcpStream::connect(addr)?;
                connected.fetch_add(1, Ordering::Relaxed);
                all_connected.done();
                // Every connection is open before any talks: 2,000 sockets at once.
                all_connected.wait();
                for round in 0..ROUNDS {
                    let msg = format!("conn {i} round {round} {}", "x".repeat(i % 50));
                    conn.write_all(msg.as_bytes())?;
                    let mut back = vec![0; msg.len()];
                    conn.read_exact(&mut back)?;
                    assert_eq!(back, msg.as_bytes());
                }
                Ok(())
            })
        })
        .collect();
    let start = Instant::now();
    for client in clients {
        client.join().unwrap().unwrap();
    }
    assert_eq!(connected.load(Ordering::Relaxed), CONNS);
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "took {:?}",
        start.elapsed()
    );
}

#[test]
fn a_yielding_coroutine_does_not_starve_io() {
    let _alone = one_worker();
    let stop = Arc::new(AtomicBool::new(false));
    let spinner = {
        let stop = stop.clone();
        goro::go!(move || {
            while !stop.load(Ordering::Relaxed) {
                goro::yield_now();
            }
        })
    };
    let addr = echo_server();
    let client =
        echo_bytes_without_starving(addr, 200, "the echo starved behind a yielding coroutine");
    stop.store(true, Ordering::Relaxed);
    client.join().unwrap().unwrap();
    spinner.join().unwrap();
}

#[test]
fn a_plain_thread_client_talks_to_a_coroutine_server() {
    let _alone = one_worker();
    let addr = echo_server();
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    for i in 0..100u8 {
        conn.write_all(&[i; 3]).unwrap();
        let mut back = [0; 3];
        conn.read_exact(&mut back).unwrap();
        assert_eq!(back, [i; 3]);
    }
}
