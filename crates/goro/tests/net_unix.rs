//! goro::net::unix: stream and datagram round trips over paths, abstract names and
//! socket pairs; shutdown waking a parked reader; timeouts.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::linux::net::SocketAddrExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use goro::net::unix::{SocketAddr, UnixDatagram, UnixListener, UnixStream};

/// A fresh socket path in a directory of this test process's own.
fn socket_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("goro-net-unix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    path
}

#[test]
fn stream_round_trip_through_a_path() {
    let path = socket_path("echo.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let server = goro::go!(move || -> io::Result<()> {
        for conn in listener.incoming().take(5) {
            let mut conn = conn?;
            goro::go!(move || {
                let mut buf = [0; 64];
                while let Ok(n) = conn.read(&mut buf) {
                    if n == 0 || conn.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
        Ok(())
    });
    let clients: Vec<_> = (0..5u8)
        .map(|i| {
            let path = path.clone();
            goro::go!(move || -> io::Result<()> {
                let mut conn = UnixStream::connect(&path)?;
                for round in 0..20u8 {
                    conn.write_all(&[i, round])?;
                    let mut back = [0; 2];
                    conn.read_exact(&mut back)?;
                    assert_eq!(back, [i, round]);
                }
                Ok(())
            })
        })
        .collect();
    for client in clients {
        client.join().unwrap().unwrap();
    }
    server.join().unwrap().unwrap();
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn stream_over_an_abstract_name_from_a_plain_thread_and_a_coroutine() {
    let name = format!("goro-net-unix-abstract-{}", std::process::id());
    let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let listener = UnixListener::bind_addr(&addr).unwrap();
    let from_coroutine = goro::go!({
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        move || UnixStream::connect_addr(&addr)?.write_all(b"co")
    });
    let mut from_thread = UnixStream::connect_addr(&addr).unwrap();
    from_thread.write_all(b"th").unwrap();
    let mut seen = Vec::new();
    for _ in 0..2 {
        let (mut conn, _) = listener.accept().unwrap();
        let mut buf = [0; 2];
        conn.read_exact(&mut buf).unwrap();
        seen.push(buf);
    }
    seen.sort();
    assert_eq!(seen, [*b"co", *b"th"]);
    from_coroutine.join().unwrap().unwrap();
}

#[test]
fn connecting_to_nothing_is_an_error() {
    let path = socket_path("nobody-home.sock");
    let err = goro::go!({
        let path = path.clone();
        move || UnixStream::connect(&path)
    })
    .join()
    .unwrap()
    .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
    assert_eq!(
        UnixStream::connect(&path).unwrap_err().kind(),
        io::ErrorKind::NotFound
    );
}

#[test]
fn shutdown_through_a_clone_wakes_a_parked_reader() {
    let (a, _b) = UnixStream::pair().unwrap();
    let clone = a.try_clone().unwrap();
    let reader = goro::go!(move || (&a).read(&mut [0; 8]));
    std::thread::sleep(Duration::from_millis(20));
    clone.shutdown(Shutdown::Read).unwrap();
    assert_eq!(reader.join().unwrap().unwrap(), 0);
}

#[test]
fn stream_read_timeout() {
    let (a, _b) = UnixStream::pair().unwrap();
    a.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    let (err, took) = goro::go!(move || {
        let start = Instant::now();
        ((&a).read(&mut [0; 8]).unwrap_err(), start.elapsed())
    })
    .join()
    .unwrap();
    assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    assert!(took >= Duration::from_millis(20), "{took:?}");
}

#[test]
fn datagram_round_trips() {
    // A connected pair.
    let (a, b) = UnixDatagram::pair().unwrap();
    let echo = goro::go!(move || -> io::Result<()> {
        let mut buf = [0; 64];
        for _ in 0..10 {
            let n = b.recv(&mut buf)?;
            b.send(&buf[..n])?;
        }
        Ok(())
    });
    for i in 0..10u8 {
        a.send(&[i; 5]).unwrap();
        let mut buf = [0; 64];
        assert_eq!(a.recv(&mut buf).unwrap(), 5);
        assert_eq!(buf[..5], [i; 5]);
    }
    echo.join().unwrap().unwrap();

    // Bound to a path, addressed with send_to.
    let path = socket_path("dgram.sock");
    let server = UnixDatagram::bind(&path).unwrap();
    let client_path = socket_path("dgram-client.sock");
    let client = UnixDatagram::bind(&client_path).unwrap();
    let reply = goro::go!(move || -> io::Result<()> {
        let mut buf = [0; 64];
        let (n, from) = server.recv_from(&mut buf)?;
        let from = from.as_pathname().expect("a bound sender").to_owned();
        server.send_to(&buf[..n], from).map(drop)
    });
    client.send_to(b"hello", &path).unwrap();
    let mut buf = [0; 64];
    let (n, _) = client.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"hello");
    reply.join().unwrap().unwrap();
    std::fs::remove_file(&path).unwrap();
    std::fs::remove_file(&client_path).unwrap();
}
