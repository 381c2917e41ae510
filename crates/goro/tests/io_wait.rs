//! goro::io: waiting on descriptors goro does not own (pipes), and `Registered`.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use goro::io::{Interest, Registered};
use nix::fcntl::OFlag;

/// A non-blocking pipe: (read end, write end).
fn pipe() -> (File, File) {
    let (r, w): (OwnedFd, OwnedFd) =
        nix::unistd::pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC).unwrap();
    (File::from(r), File::from(w))
}

#[test]
fn wait_readable_on_a_pipe_parks_until_data() {
    let (mut r, mut w) = pipe();
    let started = Arc::new(AtomicBool::new(false));
    let reader = {
        let started = started.clone();
        goro::go!(move || -> io::Result<Vec<u8>> {
            started.store(true, Ordering::SeqCst);
            let mut buf = [0; 16];
            loop {
                match r.read(&mut buf) {
                    Ok(n) => return Ok(buf[..n].to_vec()),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => goro::io::wait_readable(&r)?,
                    Err(e) => return Err(e),
                }
            }
        })
    };
    while !started.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_millis(20));
    assert!(!reader.is_finished());
    w.write_all(b"through the pipe").unwrap();
    assert_eq!(reader.join().unwrap().unwrap(), b"through the pipe");
}

#[test]
fn wait_writable_on_a_full_pipe_parks_until_drained() {
    let (mut r, mut w) = pipe();
    // Fill the pipe.
    let chunk = [1u8; 4096];
    let mut filled = 0;
    loop {
        match w.write(&chunk) {
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert!(filled > 0);
    let writer = goro::go!(move || -> io::Result<()> {
        goro::io::wait_writable(&w)?;
        w.write(&chunk).map(drop)
    });
    std::thread::sleep(Duration::from_millis(20));
    assert!(!writer.is_finished());
    let mut drained = vec![0; filled];
    r.read_exact(&mut drained).unwrap();
    writer.join().unwrap().unwrap();
}

#[test]
fn waits_time_out_in_coroutines_and_threads() {
    let (r, _w) = pipe();
    let r = Arc::new(r);
    let r2 = r.clone();
    let (err, took) = goro::go!(move || {
        let start = Instant::now();
        let err = goro::io::wait_readable_timeout(&*r2, Duration::from_millis(20)).unwrap_err();
        (err, start.elapsed())
    })
    .join()
    .unwrap();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    assert!(took >= Duration::from_millis(20), "{took:?}");
    let start = Instant::now();
    let err = goro::io::wait(
        &*r,
        Interest::Readable,
        Some(start + Duration::from_millis(20)),
    )
    .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    assert!(start.elapsed() >= Duration::from_millis(20));
}

#[test]
fn a_regular_file_is_always_ready() {
    let file = File::open("Cargo.toml").unwrap();
    goro::go!(move || goro::io::wait_readable(&file))
        .join()
        .unwrap()
        .unwrap();
}

#[test]
fn registered_pipe_reads_and_writes_park() {
    let (r, w) = pipe();
    let (r, mut w) = (Registered::new(r).unwrap(), Registered::new(w).unwrap());
    const LEN: usize = 1 << 20; // far more than the pipe holds
    let reader = goro::go!(move || -> io::Result<usize> {
        let mut r = r;
        let mut buf = [0; 8192];
        let mut total = 0;
        loop {
            let n = r.read(&mut buf)?;
            if n == 0 {
                return Ok(total);
            }
            assert!(buf[..n].iter().all(|&b| b == 0xab));
            total += n;
        }
    });
    let writer = goro::go!(move || -> io::Result<()> {
        w.write_all(&vec![0xab; LEN])?;
        drop(w); // end of file for the reader
        Ok(())
    });
    writer.join().unwrap().unwrap();
    assert_eq!(reader.join().unwrap().unwrap(), LEN);
}

#[test]
fn deregistering_wakes_a_parked_reader_with_an_error() {
    let (r, _w) = pipe();
    let r = Arc::new(Registered::new(r).unwrap());
    let reading = Arc::new(AtomicBool::new(false));
    let reader = {
        let (r, reading) = (r.clone(), reading.clone());
        goro::go!(move || {
            reading.store(true, Ordering::SeqCst);
            (&*r).read(&mut [0; 8])
        })
    };
    while !reading.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_millis(20)); // let it park
    // "Closing" from another coroutine: out of the poller, waiters woken.
    goro::go!(move || r.deregister()).join().unwrap();
    let err = reader.join().unwrap().unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::Other);
}

#[test]
fn a_socket_read_while_another_coroutine_waits_on_its_descriptor() {
    // `wait_readable` puts the descriptor in the epoll set for the length of its wait;
    // the socket's own first wait, meanwhile, must not fail because the number is
    // already there.
    let listener = goro::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut client = goro::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let server = Arc::new(listener.accept().unwrap().0);
    let waiting = Arc::new(AtomicBool::new(false));
    let waiter = {
        let (server, waiting) = (server.clone(), waiting.clone());
        goro::go!(move || {
            waiting.store(true, Ordering::SeqCst);
            goro::io::wait_readable(&*server) // registers the socket's descriptor
        })
    };
    while !waiting.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_millis(10)); // let it park
    let reader = goro::go!(move || -> io::Result<Vec<u8>> {
        let mut buf = [0; 8];
        let n = (&*server).read(&mut buf)?; // parks: registers the socket
        Ok(buf[..n].to_vec())
    });
    std::thread::sleep(Duration::from_millis(10)); // let it park
    client.write_all(b"hi").unwrap();
    waiter.join().unwrap().unwrap();
    assert_eq!(reader.join().unwrap().unwrap(), b"hi");
}

#[test]
fn a_ready_descriptor_is_ready_even_with_a_deadline_already_past() {
    // As poll(2) with a zero timeout says on a plain thread: readiness is looked at
    // before the deadline is.
    let (r, mut w) = pipe();
    w.write_all(b"x").unwrap();
    let r = Arc::new(r);
    let r2 = r.clone();
    goro::go!(move || -> io::Result<()> {
        goro::io::wait_readable_timeout(&*r2, Duration::ZERO)?;
        goro::io::wait(&*r2, Interest::Readable, Some(Instant::now()))?;
        let registered = Registered::new(&*r2)?;
        registered.wait(Interest::Readable, Some(Instant::now()))
    })
    .join()
    .unwrap()
    .unwrap();
    goro::io::wait_readable_timeout(&*r, Duration::ZERO).unwrap();
}
