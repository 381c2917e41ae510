//! goro::net over TCP, on loopback: echo, bulk transfer, errors (refused, reset),
//! half-close, timeouts, clones and shutdown, plain-thread behaviour, conversions, and
//! I/O delivered while every worker is busy.
//!
//! Run with any worker count (`GORO_WORKERS=1` or `2`); no test asserts a tight time.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use goro::net::{TcpListener, TcpStream};

mod support;
use support::{echo_bytes_without_starving, echo_server};

/// A listener on a free loopback port.
fn listener() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

/// A connected pair: (client, server side).
fn pair() -> (TcpStream, TcpStream) {
    let (listener, addr) = listener();
    let client = TcpStream::connect(addr).unwrap();
    let (server, _) = listener.accept().unwrap();
    (client, server)
}

/// The byte at offset `i` of a test stream: not periodic at any small power of two.
fn pattern(seed: u8, i: usize) -> u8 {
    (i.wrapping_mul(31) ^ (i >> 11) ^ usize::from(seed)) as u8
}

#[test]
fn echo_between_coroutines() {
    let addr = echo_server();
    let clients: Vec<_> = (0..20u8)
        .map(|i| {
            goro::go!(move || -> io::Result<()> {
                let mut conn = TcpStream::connect(addr)?;
                conn.set_nodelay(true)?;
                for round in 0..50u8 {
                    let msg = [i, round, i ^ round];
                    conn.write_all(&msg)?;
                    let mut back = [0; 3];
                    conn.read_exact(&mut back)?;
                    assert_eq!(back, msg);
                }
                Ok(())
            })
        })
        .collect();
    for client in clients {
        client.join().unwrap().unwrap();
    }
}

#[test]
fn eight_mib_each_way_arrive_intact() {
    const LEN: usize = 8 << 20;
    let (listener, addr) = listener();
    // Both sides write their 8 MiB while reading the other's: neither can finish
    // writing unless the other reads concurrently.
    fn transfer(conn: TcpStream, seed_out: u8, seed_in: u8) -> io::Result<usize> {
        let mut writer = conn.try_clone()?;
        let sender = goro::go!(move || -> io::Result<()> {
            let mut chunk = vec![0; 64 * 1024 + 7];
            let mut sent = 0;
            while sent < LEN {
                let n = chunk.len().min(LEN - sent);
                for (k, b) in chunk[..n].iter_mut().enumerate() {
                    *b = pattern(seed_out, sent + k);
                }
                writer.write_all(&chunk[..n])?;
                sent += n;
            }
            writer.shutdown(Shutdown::Write)
        });
        let mut reader = conn;
        let mut buf = vec![0; 100_003];
        let mut got = 0;
        loop {
            let n = reader.read(&mut buf)?;
            if n == 0 {
                break;
            }
            for (k, &b) in buf[..n].iter().enumerate() {
                assert_eq!(b, pattern(seed_in, got + k), "byte {} corrupted", got + k);
            }
            got += n;
        }
        sender.join().unwrap()?;
        Ok(got)
    }
    let server = goro::go!(move || {
        let (conn, _) = listener.accept()?;
        transfer(conn, 2, 1)
    });
    let client = goro::go!(move || transfer(TcpStream::connect(addr)?, 1, 2));
    assert_eq!(client.join().unwrap().unwrap(), LEN);
    assert_eq!(server.join().unwrap().unwrap(), LEN);
}

#[test]
fn refused_connect_is_connection_refused() {
    let (listener, addr) = listener();
    drop(listener); // nothing listens on `addr` now
    let err = goro::go!(move || TcpStream::connect(addr))
        .join()
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
    let err = goro::go!(move || TcpStream::connect_timeout(&addr, Duration::from_secs(5)))
        .join()
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
    // A plain thread sees what std sees.
    let err = TcpStream::connect(addr).unwrap_err();
    let std_err = std::net::TcpStream::connect(addr).unwrap_err();
    assert_eq!(err.kind(), std_err.kind());
}

#[test]
fn connect_timeout_gives_up_on_a_full_backlog() {
    // A listener with the shortest accept queue, never accepting: once the queue is
    // full the kernel drops further SYNs and those connects hang.
    use nix::sys::socket::{
        AddressFamily, Backlog, SockFlag, SockType, SockaddrIn, bind, listen, socket,
    };
    let fd = socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .unwrap();
    bind(fd.as_raw_fd(), &SockaddrIn::new(127, 0, 0, 1, 0)).unwrap();
    listen(&fd, Backlog::new(0).unwrap()).unwrap();
    let listener = std::net::TcpListener::from(fd);
    let addr = listener.local_addr().unwrap();
    let outcome = goro::go!(move || {
        let mut held = Vec::new();
        for _ in 0..16 {
            let start = Instant::now();
            match TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
                Ok(conn) => held.push(conn),
                Err(e) => return Some((e, start.elapsed())),
            }
        }
        None // the kernel kept accepting: nothing to observe here
    })
    .join()
    .unwrap();
    drop(listener);
    let Some((err, took)) = outcome else {
        eprintln!("the backlog never filled up; skipping the timeout check");
        return;
    };
    assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
    assert!(took >= Duration::from_millis(200), "{took:?}");
    assert!(took < Duration::from_secs(2), "{took:?}");
    // Zero is rejected, as by std.
    let err = TcpStream::connect_timeout(&addr, Duration::ZERO).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
}

#[test]
fn half_close_is_end_of_file_for_the_peer() {
    let (listener, addr) = listener();
    let server = goro::go!(move || -> io::Result<Vec<u8>> {
        let (mut conn, _) = listener.accept()?;
        let mut request = Vec::new();
        conn.read_to_end(&mut request)?; // ends at the client's shutdown(Write)
        conn.write_all(b"reply after EOF")?;
        Ok(request)
    });
    let client = goro::go!(move || -> io::Result<Vec<u8>> {
        let mut conn = TcpStream::connect(addr)?;
        conn.write_all(b"request")?;
        conn.shutdown(Shutdown::Write)?;
        let mut reply = Vec::new();
        conn.read_to_end(&mut reply)?; // the other half still works
        Ok(reply)
    });
    assert_eq!(server.join().unwrap().unwrap(), b"request");
    assert_eq!(client.join().unwrap().unwrap(), b"reply after EOF");
}

#[test]
fn end_of_file_right_after_a_short_read_is_seen() {
    // The data and the FIN arrive together, before the reader looks: one edge for
    // both. The short read must not make the next read wait for another edge.
    for _ in 0..20 {
        let (client, mut server) = pair();
        let reader = goro::go!(move || -> io::Result<(usize, usize)> {
            let mut buf = [0; 64];
            let first = (&client).read(&mut buf)?; // parks: registers, then reads "abc"
            goro::sleep(Duration::from_millis(2)); // let the FIN's edge come and go
            let second = (&client).read(&mut buf)?;
            Ok((first, second))
        });
        std::thread::sleep(Duration::from_millis(5));
        server.write_all(b"abc").unwrap();
        drop(server);
        let (first, second) = reader.join().unwrap().unwrap();
        assert_eq!(first, 3);
        assert_eq!(second, 0);
    }
}

#[test]
fn urgent_data_does_not_strand_the_data_behind_it() {
    use nix::sys::socket::{MsgFlags, send};
    let (client, server) = pair();
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let reader = goro::go!(move || -> io::Result<Vec<u8>> {
        let mut buf = [0; 64];
        let n = (&client).read(&mut buf)?; // parks: registers
        let mut got = buf[..n].to_vec();
        goro::sleep(Duration::from_millis(5)); // everything has arrived
        while got.len() < 7 {
            // Reads stop short at the urgent mark; what follows must still come.
            let n = (&client).read(&mut buf)?;
            got.extend_from_slice(&buf[..n]);
        }
        Ok(got)
    });
    std::thread::sleep(Duration::from_millis(5));
    let fd = server.as_raw_fd();
    send(fd, b"abc", MsgFlags::empty()).unwrap();
    send(fd, b"!", MsgFlags::MSG_OOB).unwrap();
    send(fd, b"defg", MsgFlags::empty()).unwrap();
    // Without SO_OOBINLINE the urgent byte is not part of the stream.
    assert_eq!(reader.join().unwrap().unwrap(), b"abcdefg");
}

#[test]
fn a_peer_that_resets_mid_stream_gives_an_error() {
    let (listener, addr) = listener();
    let server = goro::go!(move || -> io::Result<()> {
        let (mut conn, _) = listener.accept()?;
        let mut buf = [0; 5];
        conn.read_exact(&mut buf)?;
        // SO_LINGER with a zero timeout: closing sends RST instead of FIN.
        let linger = nix::libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        nix::sys::socket::setsockopt(&conn, nix::sys::socket::sockopt::Linger, &linger)?;
        drop(conn);
        Ok(())
    });
    let client = goro::go!(move || -> io::Result<usize> {
        let mut conn = TcpStream::connect(addr)?;
        conn.write_all(b"hello")?;
        // Parks here until the reset arrives.
        conn.read(&mut [0; 16])
    });
    server.join().unwrap().unwrap();
    let err = client.join().unwrap().unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err}");
}

#[test]
fn read_timeout_fires_while_other_coroutines_run() {
    let (client, _server) = pair();
    client
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    assert!(client.read_timeout().unwrap() >= Some(Duration::from_millis(100)));
    let stop = Arc::new(AtomicBool::new(false));
    let ticks = Arc::new(AtomicUsize::new(0));
    let ticker = {
        let (stop, ticks) = (stop.clone(), ticks.clone());
        goro::go!(move || {
            while !stop.load(Ordering::Relaxed) {
                ticks.fetch_add(1, Ordering::Relaxed);
                goro::sleep(Duration::from_millis(1));
            }
        })
    };
    let reader = {
        let ticks = ticks.clone();
        goro::go!(move || {
            let (start, before) = (Instant::now(), ticks.load(Ordering::Relaxed));
            let result = (&client).read(&mut [0; 8]);
            (
                result,
                start.elapsed(),
                ticks.load(Ordering::Relaxed) - before,
            )
        })
    };
    let (result, took, ticked) = reader.join().unwrap();
    stop.store(true, Ordering::Relaxed);
    ticker.join().unwrap();
    let err = result.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::WouldBlock, "{err}");
    assert!(took >= Duration::from_millis(100), "{took:?}");
    assert!(took < Duration::from_secs(1), "{took:?}");
    assert!(ticked >= 5, "the ticker ran only {ticked} times meanwhile");
}

#[test]
fn write_timeout_fires_when_the_peer_stops_reading() {
    let (client, _server) = pair(); // the server side never reads
    client
        .set_write_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let err = goro::go!(move || -> io::Error {
        let chunk = vec![7; 1 << 20];
        for _ in 0..512 {
            if let Err(e) = (&client).write_all(&chunk) {
                return e;
            }
        }
        panic!("512 MiB written to a peer that never reads");
    })
    .join()
    .unwrap();
    assert_eq!(err.kind(), io::ErrorKind::WouldBlock, "{err}");
}

#[test]
fn zero_timeouts_are_rejected_as_by_std() {
    let (client, _server) = pair();
    let err = client.set_read_timeout(Some(Duration::ZERO)).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    let err = client.set_write_timeout(Some(Duration::ZERO)).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert_eq!(client.read_timeout().unwrap(), None);
}

#[test]
fn shutdown_through_a_clone_wakes_a_parked_reader() {
    let (client, _server) = pair();
    let clone = client.try_clone().unwrap();
    let reading = Arc::new(AtomicBool::new(false));
    let reader = {
        let reading = reading.clone();
        goro::go!(move || {
            reading.store(true, Ordering::SeqCst);
            (&client).read(&mut [0; 8])
        })
    };
    while !reading.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_millis(20)); // let it park
    clone.shutdown(Shutdown::Read).unwrap();
    assert_eq!(reader.join().unwrap().unwrap(), 0);
}

#[test]
fn dropping_a_clone_leaves_the_original_open_as_in_std() {
    let (client, mut server) = pair();
    let clone = client.try_clone().unwrap();
    let reader = goro::go!(move || {
        let mut buf = [0; 8];
        (&client).read(&mut buf).map(|n| buf[..n].to_vec())
    });
    std::thread::sleep(Duration::from_millis(20));
    drop(clone); // closes the duplicate only
    std::thread::sleep(Duration::from_millis(30));
    assert!(!reader.is_finished(), "the reader must still be waiting");
    server.write_all(b"late").unwrap();
    assert_eq!(reader.join().unwrap().unwrap(), b"late");
}

#[test]
fn plain_threads_behave_like_std() {
    let (listener, addr) = listener();
    // Accept, connect and echo on plain threads.
    let server = std::thread::spawn(move || -> io::Result<()> {
        let (mut conn, _) = listener.accept()?;
        let mut buf = [0; 4];
        conn.read_exact(&mut buf)?;
        conn.write_all(&buf)?;
        // Keep the connection open while the client tests its read timeout.
        conn.read(&mut [0; 1]).map(drop)
    });
    let mut client = TcpStream::connect(addr).unwrap();
    client.write_all(b"ping").unwrap();
    let mut buf = [0; 4];
    client.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ping");

    // A read timeout on a plain thread: WouldBlock after the timeout, as std's.
    client
        .set_read_timeout(Some(Duration::from_millis(30)))
        .unwrap();
    let start = Instant::now();
    let err = client.read(&mut buf).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    assert!(start.elapsed() >= Duration::from_millis(30));

    // Non-blocking: WouldBlock at once.
    client.set_nonblocking(true).unwrap();
    let start = Instant::now();
    assert_eq!(
        client.read(&mut buf).unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );
    assert!(start.elapsed() < Duration::from_millis(25));
    client.set_nonblocking(false).unwrap();

    // A clone converted to std while the original lives stays non-blocking (the mode
    // is shared, and the original needs it)...
    let std_clone = client.try_clone().unwrap().into_std().unwrap();
    assert_eq!(
        (&std_clone).read(&mut buf).unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );
    drop(std_clone);
    // ... while the last handle converted to std blocks, and its timeout (kept in the
    // kernel) expires the way goro's did.
    let timeout = client.read_timeout().unwrap();
    let std_client = client.into_std().unwrap();
    assert_eq!(std_client.read_timeout().unwrap(), timeout);
    let start = Instant::now();
    let std_err = (&std_client).read(&mut buf).unwrap_err();
    assert_eq!(std_err.kind(), err.kind());
    assert!(start.elapsed() >= Duration::from_millis(25));
    std_client.shutdown(Shutdown::Write).unwrap();
    server.join().unwrap().unwrap();
}

#[test]
fn nonblocking_mode_is_shared_by_clones_and_used_in_coroutines() {
    let (listener, _addr) = listener();
    listener.set_nonblocking(true).unwrap();
    let clone = listener.try_clone().unwrap();
    let err = goro::go!(move || clone.accept().map(drop))
        .join()
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    let (client, _server) = pair();
    let clone = client.try_clone().unwrap();
    client.set_nonblocking(true).unwrap();
    let err = goro::go!(move || (&clone).read(&mut [0; 4]))
        .join()
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
}

#[test]
fn a_host_name_resolves_without_blocking_a_worker() {
    let (listener, addr) = listener();
    let port = addr.port();
    let client = goro::go!(move || TcpStream::connect(("localhost", port)));
    let (_conn, _) = listener.accept().unwrap();
    let conn = client.join().unwrap().unwrap();
    assert!(conn.peer_addr().unwrap().ip().is_loopback());
    let err = goro::go!(|| TcpStream::connect("no-such-host.invalid:80"))
        .join()
        .unwrap();
    assert!(err.is_err());
}

#[test]
fn peek_then_read_sees_the_same_bytes() {
    let (mut client, server) = pair();
    let reader = goro::go!(move || -> io::Result<([u8; 3], [u8; 3])> {
        let (mut peeked, mut read) = ([0; 3], [0; 3]);
        let n = server.peek(&mut peeked)?;
        assert_eq!(n, 3);
        (&server).read_exact(&mut read)?;
        Ok((peeked, read))
    });
    std::thread::sleep(Duration::from_millis(10));
    client.write_all(b"xyz").unwrap();
    let (peeked, read) = reader.join().unwrap().unwrap();
    assert_eq!(&peeked, b"xyz");
    assert_eq!(&read, b"xyz");
}

#[test]
fn conversions_keep_settings_and_the_connection() {
    let (client, mut server) = pair();
    client
        .set_read_timeout(Some(Duration::from_secs(7)))
        .unwrap();
    // To std and back: blocking again, timeouts kept.
    let std_client = client.into_std().unwrap();
    assert_eq!(
        std_client.read_timeout().unwrap(),
        Some(Duration::from_secs(7))
    );
    std_client.set_nonblocking(true).unwrap();
    let client = TcpStream::from(std_client);
    assert_eq!(client.read_timeout().unwrap(), Some(Duration::from_secs(7)));
    // It was non-blocking in std: it is in goro too.
    assert_eq!(
        (&client).read(&mut [0; 1]).unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );
    client.set_nonblocking(false).unwrap();
    // Through a raw descriptor and an OwnedFd.
    let raw = client.into_raw_fd();
    // SAFETY: `raw` came from into_raw_fd just above and nothing else owns it.
    let client = unsafe { TcpStream::from_raw_fd(raw) };
    let owned = OwnedFd::from(client);
    let client = TcpStream::from(owned);
    server.write_all(b"still here").unwrap();
    let got = goro::go!(move || {
        let mut buf = [0; 10];
        (&client).read_exact(&mut buf).map(|()| buf)
    })
    .join()
    .unwrap()
    .unwrap();
    assert_eq!(&got, b"still here");
}

#[test]
fn dropped_sockets_leave_the_poller() {
    let before = goro::stats().registered_fds;
    let (listener, addr) = listener();
    goro::go!(move || {
        let client = goro::go!(move || -> io::Result<TcpStream> {
            let mut conn = TcpStream::connect(addr)?;
            let mut byte = [0];
            conn.read_exact(&mut byte)?; // parks: registers
            Ok(conn)
        });
        let (mut conn, _) = listener.accept().unwrap(); // parks: registers
        conn.write_all(b"!").unwrap();
        drop(client.join().unwrap().unwrap());
    })
    .join()
    .unwrap();
    // Other tests run concurrently, so allow for their sockets; ours are gone.
    let deadline = Instant::now() + Duration::from_secs(10);
    while goro::stats().registered_fds > before + 16 {
        assert!(Instant::now() < deadline, "registrations leaked");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn busy_workers_do_not_starve_io() {
    goro::go!(|| ()).join().unwrap(); // the runtime runs: count its workers
    let workers = goro::stats().workers.max(1);
    let stop = Arc::new(AtomicBool::new(false));
    // One coroutine per worker, each yielding in a loop: no worker is ever idle.
    let spinners: Vec<_> = (0..workers)
        .map(|_| {
            let stop = stop.clone();
            goro::go!(move || {
                while !stop.load(Ordering::Relaxed) {
                    goro::yield_now();
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(20));
    let addr = echo_server();
    let client = echo_bytes_without_starving(addr, 100, "the echo starved behind busy workers");
    stop.store(true, Ordering::Relaxed);
    client.join().unwrap().unwrap();
    for spinner in spinners {
        spinner.join().unwrap();
    }
}

#[test]
fn a_vectored_read_cut_short_by_the_iovec_limit_does_not_wait_for_an_edge() {
    // readv takes at most IOV_MAX (1024) buffers, and std passes no more: with 2000
    // one-byte buffers a read returns 1024 bytes while the rest is still queued. That
    // short read must not make the next one wait for new data that never comes.
    use std::io::IoSliceMut;
    let (client, mut server) = pair();
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let reader = goro::go!(move || -> io::Result<usize> {
        let mut byte = [0];
        (&client).read_exact(&mut byte)?; // parks: registers
        goro::sleep(Duration::from_millis(5)); // the 2000 bytes have arrived
        let mut bufs = vec![[0u8; 1]; 2000];
        let mut got = 0;
        while got < 2000 {
            let mut slices: Vec<_> = bufs[got..].iter_mut().map(|b| IoSliceMut::new(b)).collect();
            got += (&client).read_vectored(&mut slices)?;
        }
        Ok(got)
    });
    std::thread::sleep(Duration::from_millis(5));
    server.write_all(b"!").unwrap();
    std::thread::sleep(Duration::from_millis(5));
    server.write_all(&[7; 2000]).unwrap();
    assert_eq!(reader.join().unwrap().unwrap(), 2000);
}

#[test]
fn a_vectored_write_cut_short_by_the_iovec_limit_does_not_wait_for_an_edge() {
    // writev as readv above: 2000 buffers go out 1024 at a time, the send buffer far
    // from full, so no writable edge follows the short write.
    use std::io::IoSlice;
    let (client, mut server) = pair();
    client
        .set_write_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let writer = goro::go!(move || -> io::Result<usize> {
        let mut byte = [0];
        (&client).read_exact(&mut byte)?; // parks: registers
        let bufs = vec![[3u8; 1]; 2000];
        let mut sent = 0;
        while sent < 2000 {
            let slices: Vec<_> = bufs[sent..].iter().map(|b| IoSlice::new(b)).collect();
            sent += (&client).write_vectored(&slices)?;
        }
        Ok(sent)
    });
    std::thread::sleep(Duration::from_millis(5));
    server.write_all(b"!").unwrap();
    let mut got = vec![0; 2000];
    server.read_exact(&mut got).unwrap();
    assert_eq!(writer.join().unwrap().unwrap(), 2000);
}
