//! The poller through goro-sched's own API: readiness wakes every waiter, deregistering
//! wakes waiters with an error, records are recycled, and waits honour deadlines.

use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use goro_sched::io::{Interest, Registered, wait_fd};
use goro_sched::{SpawnOptions, spawn};

fn go<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> goro_sched::JoinHandle<T> {
    spawn(SpawnOptions::default(), f).unwrap()
}

/// Waits (generously) until `cond` holds.
fn eventually(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn deregister_wakes_a_parked_coroutine_with_an_error() {
    let (a, _b) = UnixStream::pair().unwrap();
    let a = Arc::new(Registered::new(a).unwrap());
    let parked = Arc::new(AtomicUsize::new(0));
    let (reader, count) = (a.clone(), parked.clone());
    let h = go(move || {
        count.fetch_add(1, Ordering::SeqCst);
        let mut buf = [0; 8];
        (&*reader).read(&mut buf)
    });
    eventually("the reader parked", || {
        parked.load(Ordering::SeqCst) == 1 && goro_sched::stats().parked >= 1
    });
    std::thread::sleep(Duration::from_millis(20));
    a.deregister();
    let err = h.join().unwrap().unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::Other);
    assert!(err.to_string().contains("deregistered"), "{err}");
    // Later waits fail the same way, at once; calls that need no wait still run.
    let err = go({
        let a = a.clone();
        move || a.wait(Interest::Readable, None)
    })
    .join()
    .unwrap()
    .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::Other);
    assert!(a.get_ref().peer_addr().is_ok());
}

#[test]
fn deregister_wakes_a_plain_thread_in_poll() {
    let (a, _b) = UnixStream::pair().unwrap();
    let a = Arc::new(Registered::new(a).unwrap());
    let reader = a.clone();
    let t = std::thread::spawn(move || (&*reader).read(&mut [0; 8]));
    std::thread::sleep(Duration::from_millis(50));
    assert!(!t.is_finished(), "a plain thread blocks like blocking I/O");
    let start = Instant::now();
    a.deregister();
    let err = t.join().unwrap().unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::Other);
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn one_event_wakes_every_waiter_on_a_direction() {
    let (a, mut b) = UnixStream::pair().unwrap();
    let a = Arc::new(Registered::new(a).unwrap());
    let waiting = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (a, waiting) = (a.clone(), waiting.clone());
            go(move || {
                waiting.fetch_add(1, Ordering::SeqCst);
                a.wait(Interest::Readable, None)
            })
        })
        .collect();
    eventually("all four waiters started", || {
        waiting.load(Ordering::SeqCst) == 4
    });
    std::thread::sleep(Duration::from_millis(20));
    b.write_all(b"x").unwrap(); // one edge
    for h in handles {
        h.join().unwrap().unwrap();
    }
}

#[test]
fn io_returns_the_last_would_block_at_its_deadline() {
    let (a, _b) = UnixStream::pair().unwrap();
    let a = Registered::new(a).unwrap();
    let (err, took) = go(move || {
        let start = Instant::now();
        let deadline = start + Duration::from_millis(30);
        let err = a
            .io(Interest::Readable, Some(deadline), |mut s| {
                s.read(&mut [0; 4])
            })
            .unwrap_err();
        (err, start.elapsed())
    })
    .join()
    .unwrap();
    assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    assert!(took >= Duration::from_millis(30), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[test]
fn wait_times_out_on_a_plain_thread_too() {
    let (a, _b) = UnixStream::pair().unwrap();
    let a = Registered::new(a).unwrap();
    let start = Instant::now();
    let err = a
        .wait(Interest::Readable, Some(start + Duration::from_millis(20)))
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    assert!(start.elapsed() >= Duration::from_millis(20));
}

#[test]
fn wait_fd_works_on_an_already_registered_descriptor() {
    let (a, mut b) = UnixStream::pair().unwrap();
    let a = Arc::new(Registered::new(a).unwrap());
    // Register `a` for good: a coroutine waits on it once (and times out).
    let a2 = a.clone();
    go(move || {
        a2.wait(
            Interest::Readable,
            Some(Instant::now() + Duration::from_millis(1)),
        )
    })
    .join()
    .unwrap()
    .unwrap_err();
    // A one-off wait on the same descriptor number then registers a duplicate.
    let a3 = a.clone();
    let h = go(move || wait_fd(a3.get_ref().as_fd(), Interest::Readable, None));
    std::thread::sleep(Duration::from_millis(20));
    b.write_all(b"!").unwrap();
    h.join().unwrap().unwrap();
}

#[test]
fn records_are_recycled() {
    // Each round registers a fresh pair (a coroutine waits on it once) and drops it.
    go(|| {
        for _ in 0..2000 {
            let (a, _b) = UnixStream::pair().unwrap();
            let a = Registered::new(a).unwrap();
            let past = Instant::now();
            let err = a.wait(Interest::Readable, Some(past)).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        }
    })
    .join()
    .unwrap();
    // Other tests in this binary register descriptors concurrently; none keeps more
    // than a few for long.
    eventually("the registrations are gone", || {
        goro_sched::io::registered() < 50
    });
}

#[test]
fn churn_of_short_lived_registrations_loses_no_wakeup() {
    // Many coroutines each open a pair, ping-pong through it, and drop it, so records
    // are released and reused while events for them may still be in flight.
    let handles: Vec<_> = (0..50)
        .map(|_| {
            go(|| {
                for round in 0..40u8 {
                    let (a, b) = UnixStream::pair().unwrap();
                    let (a, b) = (Registered::new(a).unwrap(), Registered::new(b).unwrap());
                    let pong = go(move || {
                        let mut byte = [0];
                        (&b).read_exact(&mut byte).unwrap();
                        (&b).write_all(&byte).unwrap();
                    });
                    (&a).write_all(&[round]).unwrap();
                    let mut byte = [0];
                    (&a).read_exact(&mut byte).unwrap();
                    assert_eq!(byte[0], round);
                    pong.join().unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn a_stream_read_after_deregistering_still_runs_when_it_need_not_wait() {
    // "Operations that need no wait still run" after `deregister`, even right after a
    // short read (which otherwise lets the next read skip its system call).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let server = Registered::new(listener.accept().unwrap().0).unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let (tx2, rx2) = std::sync::mpsc::channel::<()>();
    let h = go(move || -> io::Result<Vec<u8>> {
        let mut buf = [0; 64];
        let read = |buf: &mut [u8]| {
            let len = buf.len();
            server.io_stream(Interest::Readable, None, len, |mut s| s.read(buf))
        };
        let n = read(&mut buf)?; // parks: registers; then a short read
        assert_eq!(&buf[..n], b"a");
        server.deregister();
        tx.send(()).unwrap();
        rx2.recv().unwrap(); // the next bytes are there
        let n = read(&mut buf)?;
        Ok(buf[..n].to_vec())
    });
    std::thread::sleep(Duration::from_millis(10)); // let it park
    client.write_all(b"a").unwrap();
    rx.recv().unwrap();
    client.write_all(b"bc").unwrap();
    std::thread::sleep(Duration::from_millis(10)); // let them arrive
    tx2.send(()).unwrap();
    assert_eq!(h.join().unwrap().unwrap(), b"bc");
}
