//! goro::net::UdpSocket on loopback: round trips between coroutines, connected sockets,
//! peeking, timeouts, and plain threads.

use std::io;
use std::time::{Duration, Instant};

use goro::net::UdpSocket;

fn bound() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").unwrap()
}

#[test]
fn round_trips_between_coroutines() {
    let server = bound();
    let addr = server.local_addr().unwrap();
    let echo = goro::go!(move || -> io::Result<()> {
        let mut buf = [0; 256];
        for _ in 0..100 {
            let (n, from) = server.recv_from(&mut buf)?;
            server.send_to(&buf[..n], from)?;
        }
        Ok(())
    });
    let client = goro::go!(move || -> io::Result<()> {
        let socket = UdpSocket::bind("127.0.0.1:0")?;
        let mut buf = [0; 256];
        for i in 0..100u32 {
            let msg = i.to_le_bytes();
            socket.send_to(&msg, addr)?;
            let (n, from) = socket.recv_from(&mut buf)?;
            assert_eq!(from, addr);
            assert_eq!(&buf[..n], &msg);
        }
        Ok(())
    });
    client.join().unwrap().unwrap();
    echo.join().unwrap().unwrap();
}

#[test]
fn connected_sockets_send_and_recv() {
    let (a, b) = (bound(), bound());
    a.connect(b.local_addr().unwrap()).unwrap();
    b.connect(a.local_addr().unwrap()).unwrap();
    assert_eq!(a.peer_addr().unwrap(), b.local_addr().unwrap());
    let reader = goro::go!(move || -> io::Result<Vec<u8>> {
        let mut buf = [0; 64];
        let peeked = b.peek(&mut buf)?;
        let n = b.recv(&mut buf)?;
        assert_eq!(peeked, n);
        Ok(buf[..n].to_vec())
    });
    std::thread::sleep(Duration::from_millis(10));
    a.send(b"datagram").unwrap();
    assert_eq!(reader.join().unwrap().unwrap(), b"datagram");
}

#[test]
fn peek_from_leaves_the_datagram_queued() {
    let (a, b) = (bound(), bound());
    let from = a.local_addr().unwrap();
    a.send_to(b"abc", b.local_addr().unwrap()).unwrap();
    let (peeked, got) = goro::go!(move || {
        let mut buf = [0; 8];
        let peeked = b.peek_from(&mut buf).unwrap();
        let got = b.recv_from(&mut buf).unwrap();
        (peeked, got)
    })
    .join()
    .unwrap();
    assert_eq!(peeked, (3, from));
    assert_eq!(got, (3, from));
}

#[test]
fn recv_timeout_is_would_block_in_coroutines_and_threads() {
    let socket = bound();
    socket
        .set_read_timeout(Some(Duration::from_millis(30)))
        .unwrap();
    let clone = socket.try_clone().unwrap();
    let (err, took) = goro::go!(move || {
        let start = Instant::now();
        (clone.recv(&mut [0; 8]).unwrap_err(), start.elapsed())
    })
    .join()
    .unwrap();
    assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    assert!(took >= Duration::from_millis(30), "{took:?}");
    assert!(took < Duration::from_secs(1), "{took:?}");
    // On a plain thread, like std.
    let start = Instant::now();
    let err = socket.recv_from(&mut [0; 8]).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    assert!(start.elapsed() >= Duration::from_millis(30));
}

#[test]
fn send_to_a_name_and_to_nothing() {
    let (a, b) = (bound(), bound());
    let port = b.local_addr().unwrap().port();
    let sent = goro::go!(move || a.send_to(b"hi", ("localhost", port)))
        .join()
        .unwrap();
    if let Ok(n) = sent {
        // `localhost` may name ::1 first, which this IPv4 socket cannot reach.
        assert_eq!(n, 2);
        let mut buf = [0; 4];
        assert_eq!(b.recv(&mut buf).unwrap(), 2);
    }
    let empty: &[std::net::SocketAddr] = &[];
    let err = bound().send_to(b"x", empty).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
}

#[test]
fn nonblocking_and_conversions() {
    let socket = bound();
    socket.set_nonblocking(true).unwrap();
    assert_eq!(
        socket.recv(&mut [0; 4]).unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );
    socket.set_nonblocking(false).unwrap();
    socket.set_broadcast(true).unwrap();
    assert!(socket.broadcast().unwrap());
    let std_socket = socket.into_std().unwrap();
    assert!(std_socket.broadcast().unwrap());
    let socket = UdpSocket::from(std_socket);
    let peer = bound();
    peer.send_to(b"back", socket.local_addr().unwrap()).unwrap();
    let mut buf = [0; 8];
    let n = goro::go!(move || socket.recv(&mut buf))
        .join()
        .unwrap()
        .unwrap();
    assert_eq!(n, 4);
}
