//! The TCP echo shape (issue 5), written once for benches/echo.rs and benches/balance.rs:
//! a server accepts [`CONNECTIONS`] connections and echoes each on a task of its own;
//! [`CONNECTIONS`] client tasks each connect (TCP_NODELAY on both ends), then do `trips`
//! round trips of a [`MESSAGE`]-byte message (write it, read the echo back in full).
//! Each function returns the wall time of the whole exchange, connecting included.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

/// Connections (and client tasks, and server tasks) per run.
pub(crate) const CONNECTIONS: u64 = 64;
/// Round trips per connection in the figure.
pub(crate) const ROUND_TRIPS: u64 = 10_000;
/// Bytes per message.
pub(crate) const MESSAGE: usize = 64;

/// Checks a reply: the echo of `sent`.
fn check(sent: &[u8; MESSAGE], got: &[u8; MESSAGE]) {
    assert_eq!(sent, got, "the echo differs from the message");
}

fn message(conn: u64) -> [u8; MESSAGE] {
    [conn as u8; MESSAGE]
}

/// The shape above with blocking-style sockets (goro::net, may::net, std::net share it).
macro_rules! blocking_echo {
    ($trips:expr, $spawn:expr, $net:path) => {{
        use $net as net;
        let trips: u64 = $trips;
        let listener = net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("local_addr");
        let start = Instant::now();
        let server = $spawn(move || {
            let mut echoers = Vec::new();
            for _ in 0..CONNECTIONS {
                let (mut conn, _) = listener.accept().expect("accept");
                conn.set_nodelay(true).expect("nodelay");
                echoers.push($spawn(move || {
                    let mut buf = [0u8; MESSAGE];
                    for _ in 0..trips {
                        conn.read_exact(&mut buf).expect("server read");
                        conn.write_all(&buf).expect("server write");
                    }
                }));
            }
            for e in echoers {
                e.join().expect("an echoer");
            }
        });
        let clients: Vec<_> = (0..CONNECTIONS)
            .map(|c| {
                $spawn(move || {
                    let mut conn = net::TcpStream::connect(addr).expect("connect");
                    conn.set_nodelay(true).expect("nodelay");
                    let sent = message(c);
                    let mut got = [0u8; MESSAGE];
                    for _ in 0..trips {
                        conn.write_all(&sent).expect("client write");
                        conn.read_exact(&mut got).expect("client read");
                    }
                    check(&sent, &got);
                })
            })
            .collect();
        for c in clients {
            c.join().expect("a client");
        }
        server.join().expect("the server");
        start.elapsed()
    }};
}

pub(crate) fn goro_echo(trips: u64) -> Duration {
    blocking_echo!(trips, goro::spawn, goro::net)
}

pub(crate) fn may_echo(trips: u64) -> Duration {
    blocking_echo!(trips, super::may_spawn, may::net)
}

pub(crate) fn std_echo(trips: u64) -> Duration {
    blocking_echo!(trips, std::thread::spawn, std::net)
}

pub(crate) async fn tokio_echo(trips: u64) -> Duration {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("local_addr");
    let start = Instant::now();
    let server = tokio::spawn(async move {
        let mut echoers = Vec::new();
        for _ in 0..CONNECTIONS {
            let (mut conn, _) = listener.accept().await.expect("accept");
            conn.set_nodelay(true).expect("nodelay");
            echoers.push(tokio::spawn(async move {
                let mut buf = [0u8; MESSAGE];
                for _ in 0..trips {
                    conn.read_exact(&mut buf).await.expect("server read");
                    conn.write_all(&buf).await.expect("server write");
                }
            }));
        }
        for e in echoers {
            e.await.expect("an echoer");
        }
    });
    let clients: Vec<_> = (0..CONNECTIONS)
        .map(|c| {
            tokio::spawn(async move {
                let mut conn = tokio::net::TcpStream::connect(addr).await.expect("connect");
                conn.set_nodelay(true).expect("nodelay");
                let sent = message(c);
                let mut got = [0u8; MESSAGE];
                for _ in 0..trips {
                    conn.write_all(&sent).await.expect("client write");
                    conn.read_exact(&mut got).await.expect("client read");
                }
                check(&sent, &got);
            })
        })
        .collect();
    for c in clients {
        c.await.expect("a client");
    }
    server.await.expect("the server");
    start.elapsed()
}
