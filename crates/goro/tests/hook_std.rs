//! Feature `hook`: std's blocking calls, made inside coroutines, park the coroutine and
//! not its worker; on plain threads they behave as std documents. One worker, so a
//! call that blocked the thread would stall every other coroutine (and most of these
//! tests would hang or miss their generous bounds).
#![cfg(all(feature = "hook", target_os = "linux", target_env = "gnu"))]

mod support;

use std::io::{self, ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use support::{Gate, Watchdog, one_worker, ticks_while};

/// A std::net echo server whose every connection is served by a coroutine.
fn std_echo_server(gate: &Gate) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    gate.spawn(move || {
        for conn in listener.incoming() {
            let mut conn = conn.unwrap();
            goro::go!(move || {
                let mut buf = [0; 4096];
                while let Ok(n @ 1..) = conn.read(&mut buf) {
                    if conn.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

#[test]
fn std_net_echo_server_serves_a_thousand_std_net_clients_on_one_worker() {
    let _one = one_worker();
    let _dog = Watchdog::new(20, "1,000 std::net echo clients");
    let gate = Gate::new();
    let addr = std_echo_server(&gate);
    let clients: Vec<_> = (0..1000u32)
        .map(|i| {
            gate.spawn(move || -> io::Result<()> {
                let mut conn = TcpStream::connect(addr)?;
                let msg = format!("hello from client {i:04}, ").repeat(20);
                conn.write_all(msg.as_bytes())?;
                let mut back = vec![0; msg.len()];
                conn.read_exact(&mut back)?;
                assert_eq!(back, msg.as_bytes());
                Ok(())
            })
        })
        .collect();
    gate.open();
    for client in clients {
        client.join().unwrap().unwrap();
    }
}

#[test]
fn a_sleeper_keeps_its_cadence_while_another_coroutine_blocks_in_std_read() {
    let _one = one_worker();
    let _dog = Watchdog::new(20, "the std read beside a sleeper");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let peer = thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        thread::sleep(Duration::from_millis(300));
        conn.write_all(b"late").unwrap();
    });
    let (ticks, ()) = ticks_while(move || {
        let mut conn = TcpStream::connect(addr).unwrap();
        let started = Instant::now();
        let mut buf = [0; 4];
        conn.read_exact(&mut buf).unwrap(); // 300 ms in std's read
        assert_eq!(&buf, b"late");
        assert!(started.elapsed() >= Duration::from_millis(250));
    });
    peer.join().unwrap();
    // The read took 300 ms; a blocked worker would show a gap that long. The bound is
    // generous for a loaded machine.
    ticks.assert_worker_ran();
}

#[test]
fn read_timeout_fires_inside_a_coroutine_and_on_a_plain_thread() {
    let _one = one_worker();
    let _dog = Watchdog::new(20, "read timeouts");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let read_with_timeout = move || {
        let mut conn = TcpStream::connect(addr).unwrap();
        conn.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let started = Instant::now();
        let err = conn.read(&mut [0; 8]).unwrap_err();
        (err.kind(), started.elapsed())
    };
    let (ticks, (kind, took)) = ticks_while(read_with_timeout);
    ticks.assert_worker_ran();
    assert_eq!(kind, ErrorKind::WouldBlock); // EAGAIN, as std reports SO_RCVTIMEO
    assert!(took >= Duration::from_millis(95), "{took:?}");
    assert!(took < Duration::from_secs(1), "{took:?}");
    let (kind, took) = thread::spawn(read_with_timeout).join().unwrap();
    assert_eq!(kind, ErrorKind::WouldBlock);
    assert!(took >= Duration::from_millis(95), "{took:?}");
    drop(listener);
}

/// `fcntl(F_GETFL)`'s O_NONBLOCK bit.
fn nonblocking_flag(fd: &impl AsRawFd) -> bool {
    // SAFETY: F_GETFL takes no argument.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    assert!(flags >= 0);
    flags & libc::O_NONBLOCK != 0
}

#[test]
fn the_users_blocking_flag_stays_the_users() {
    let _one = one_worker();
    let _dog = Watchdog::new(20, "blocking flags");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let conn = TcpStream::connect(addr).unwrap();
    let (server, _) = listener.accept().unwrap();
    let server = Arc::new(server);

    // A coroutine's blocking read that has to wait parks and leaves the flag alone.
    let s = server.clone();
    let (ticks, (conn, buf)) = ticks_while(move || {
        let writer = thread::spawn(move || {
            thread::sleep(Duration::from_millis(300));
            (&*s).write_all(b"ok").unwrap();
        });
        let mut buf = [0; 2];
        (&conn).read_exact(&mut buf).unwrap();
        writer.join().unwrap();
        (conn, buf)
    });
    assert_eq!(&buf, b"ok");
    ticks.assert_worker_ran();
    assert!(!nonblocking_flag(&conn));
    assert!(!nonblocking_flag(&*server));

    // The user's non-blocking socket says WouldBlock inside a coroutine, as std does.
    conn.set_nonblocking(true).unwrap();
    let conn = goro::go!(move || {
        let err = (&conn).read(&mut [0; 4]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::WouldBlock);
        conn
    })
    .join()
    .unwrap();
    assert!(nonblocking_flag(&conn));

    // Set blocking again by the user: a plain thread's read blocks until data comes.
    conn.set_nonblocking(false).unwrap();
    assert!(!nonblocking_flag(&conn));
    let writer = thread::spawn(move || {
        thread::sleep(Duration::from_millis(50));
        (&*server).write_all(b"!").unwrap();
    });
    let started = Instant::now();
    let mut byte = [0; 1];
    (&conn).read_exact(&mut byte).unwrap();
    assert!(started.elapsed() >= Duration::from_millis(40));
    writer.join().unwrap();
}

#[test]
fn std_sleep_parks_a_thousand_coroutines_at_once() {
    let _one = one_worker();
    let _dog = Watchdog::new(20, "1,000 std sleeps");
    let gate = Gate::new();
    let sleepers: Vec<_> = (0..1000)
        .map(|_| gate.spawn(|| thread::sleep(Duration::from_millis(100))))
        .collect();
    let started = Instant::now();
    gate.open();
    for s in sleepers {
        s.join().unwrap();
    }
    // One worker: sleeps that blocked its thread would take 100 s.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn udp_recv_from_parks() {
    let _one = one_worker();
    let _dog = Watchdog::new(20, "UDP");
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b_addr = b.local_addr().unwrap();
    let a_addr = a.local_addr().unwrap();
    let sender = thread::spawn(move || {
        thread::sleep(Duration::from_millis(300));
        a.send_to(b"datagram", b_addr).unwrap();
    });
    let (ticks, got) = ticks_while(move || {
        let mut buf = [0; 16];
        let (n, from) = b.recv_from(&mut buf).unwrap(); // parks until the datagram
        b.send_to(b"in a coroutine", a_addr).unwrap();
        (buf[..n].to_vec(), from)
    });
    sender.join().unwrap();
    assert_eq!(got, (b"datagram".to_vec(), a_addr));
    ticks.assert_worker_ran();
}

/// A pipe's two ends as std files.
fn pipe() -> (std::fs::File, std::fs::File) {
    let (r, w) = nix::unistd::pipe().unwrap();
    (r.into(), w.into())
}

#[test]
fn a_blocking_pipe_read_parks() {
    let _one = one_worker();
    let _dog = Watchdog::new(20, "a pipe read");
    let (mut r, mut w) = pipe();
    let writer = thread::spawn(move || {
        thread::sleep(Duration::from_millis(300));
        w.write_all(b"through the pipe").unwrap();
    });
    let (ticks, all) = ticks_while(move || {
        let mut all = Vec::new();
        r.read_to_end(&mut all).unwrap();
        assert!(!nonblocking_flag(&r));
        all
    });
    writer.join().unwrap();
    assert_eq!(all, b"through the pipe");
    ticks.assert_worker_ran();
}

#[test]
fn a_full_pipe_write_parks_and_writes_everything() {
    let _one = one_worker();
    let _dog = Watchdog::new(20, "a pipe write");
    let (mut r, mut w) = pipe();
    let reader = thread::spawn(move || {
        thread::sleep(Duration::from_millis(300));
        let mut all = Vec::new();
        r.read_to_end(&mut all).unwrap();
        all
    });
    // More than a pipe holds (64 KiB): the writer parks while it is full.
    let (ticks, ()) = ticks_while(move || {
        let data = vec![7u8; 1 << 20];
        assert_eq!(w.write(&data).unwrap(), data.len()); // one blocking write, all of it
        assert!(!nonblocking_flag(&w));
    });
    assert_eq!(reader.join().unwrap(), vec![7u8; 1 << 20]);
    ticks.assert_worker_ran();
}

#[test]
fn poll_parks_for_one_descriptor_and_for_several() {
    let _one = one_worker();
    let _dog = Watchdog::new(20, "poll");
    let (r1, mut w1) = pipe();
    let (r2, mut w2) = pipe();
    let writer = thread::spawn(move || {
        thread::sleep(Duration::from_millis(300));
        w1.write_all(b"x").unwrap();
        thread::sleep(Duration::from_millis(300));
        w2.write_all(b"y").unwrap();
        (w1, w2) // open until the poll has seen them: no hang-up events
    });
    let pollfd = |fd: &std::fs::File| libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let (ticks, ()) = ticks_while(move || {
        let mut one = [pollfd(&r1)];
        // SAFETY: a valid pollfd array.
        let n = unsafe { libc::poll(one.as_mut_ptr(), 1, 5_000) };
        assert_eq!((n, one[0].revents), (1, libc::POLLIN));
        let started = Instant::now();
        let mut idle = [pollfd(&r2)];
        // SAFETY: as above. Nothing comes yet: a timeout.
        assert_eq!(unsafe { libc::poll(idle.as_mut_ptr(), 1, 50) }, 0);
        assert!(started.elapsed() >= Duration::from_millis(45));
        // Two descriptors: a pool thread waits; r2 becomes readable.
        let mut r1_drained = [0; 1];
        (&r1).read_exact(&mut r1_drained).unwrap();
        let mut two = [pollfd(&r1), pollfd(&r2)];
        // SAFETY: as above.
        let n = unsafe { libc::poll(two.as_mut_ptr(), 2, 5_000) };
        assert_eq!((n, two[0].revents, two[1].revents), (1, 0, libc::POLLIN));
    });
    writer.join().unwrap();
    ticks.assert_worker_ran();
}

#[test]
fn regular_files_read_and_write_as_ever() {
    let _one = one_worker();
    let _dog = Watchdog::new(20, "regular files");
    let path = std::env::temp_dir().join(format!("goro-hook-{}.txt", std::process::id()));
    let p = path.clone();
    let back = goro::go!(move || {
        std::fs::write(&p, "a regular file".repeat(1000)).unwrap();
        std::fs::read_to_string(&p).unwrap()
    })
    .join()
    .unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(back, "a regular file".repeat(1000));
}

#[test]
fn name_lookup_runs_on_the_pool() {
    let _one = one_worker();
    let _dog = Watchdog::new(20, "getaddrinfo");
    let found = goro::go!(|| {
        use std::net::ToSocketAddrs;
        ("localhost", 80u16).to_socket_addrs().map(|a| a.count())
    })
    .join()
    .unwrap()
    .unwrap();
    assert!(found >= 1);
}

#[test]
fn connect_refused_reports_the_error() {
    let _one = one_worker();
    let _dog = Watchdog::new(20, "connect errors");
    // A port nobody listens on: bind, note it, close.
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let err = goro::go!(move || TcpStream::connect(addr).unwrap_err())
        .join()
        .unwrap();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    let err =
        goro::go!(move || TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap_err())
            .join()
            .unwrap();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
}

#[test]
fn everything_above_from_plain_threads() {
    let _dog = Watchdog::new(20, "plain threads");
    let addr = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        thread::spawn(move || {
            for conn in listener.incoming() {
                let mut conn = conn.unwrap();
                thread::spawn(move || {
                    let mut buf = [0; 4096];
                    while let Ok(n @ 1..) = conn.read(&mut buf) {
                        conn.write_all(&buf[..n]).unwrap();
                    }
                });
            }
        });
        addr
    };
    let clients: Vec<_> = (0..20)
        .map(|i| {
            thread::spawn(move || {
                let mut conn = TcpStream::connect(addr).unwrap();
                let msg = format!("thread {i}");
                conn.write_all(msg.as_bytes()).unwrap();
                let mut back = vec![0; msg.len()];
                conn.read_exact(&mut back).unwrap();
                assert_eq!(back, msg.as_bytes());
                assert!(!nonblocking_flag(&conn));
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    let started = Instant::now();
    thread::sleep(Duration::from_millis(30));
    assert!(started.elapsed() >= Duration::from_millis(30));
    let (mut r, mut w) = pipe();
    w.write_all(b"pipe").unwrap();
    let mut buf = [0; 4];
    r.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"pipe");
}
