//! Calling a tokio-based client from coroutines: hyper's HTTP/1 client, run through
//! `goro::compat::tokio::run`, fetches 100 pages at once from a goro HTTP server, each
//! request in its own coroutine, in plain straight-line code around the one async call.
//!
//! ```text
//! cargo run --release -p goro-examples --example tokio_client
//! ```

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use goro::net::TcpListener;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const REQUESTS: usize = 100;

fn main() -> Result<(), BoxError> {
    let addr = server()?;
    println!("goro server on http://{addr}/");

    let start = Instant::now();
    let clients: Vec<_> = (0..REQUESTS)
        .map(|i| {
            goro::go!(move || -> Result<usize, BoxError> {
                let path = format!("/page/{i}");
                // The coroutine parks here while tokio's threads drive the socket.
                let body = goro::compat::tokio::run(get(addr, &path))?;
                assert!(body.ends_with(&path));
                // Back in ordinary coroutine code: goro's own blocking calls are fine.
                goro::sleep(Duration::from_millis(1));
                Ok(body.len())
            })
        })
        .collect();
    let mut bytes = 0;
    for client in clients {
        bytes += client.join().expect("a client panicked")?;
    }
    println!(
        "{REQUESTS} requests through hyper from {REQUESTS} coroutines: {bytes} body bytes in {:.1?}",
        start.elapsed()
    );
    Ok(())
}

/// GET `path` with hyper's HTTP/1 client on tokio's I/O; returns the body.
async fn get(addr: SocketAddr, path: &str) -> Result<String, BoxError> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn); // the connection's driver runs on the tokio runtime
    let request = hyper::Request::get(path)
        .header("host", addr.to_string())
        .body(Empty::<Bytes>::new())?;
    let response = sender.send_request(request).await?;
    let body = response.into_body().collect().await?.to_bytes();
    Ok(String::from_utf8(body.to_vec())?)
}

/// A goro HTTP/1.1 server on a free loopback port, one request per connection, that
/// answers with the path it was asked for.
fn server() -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    goro::go!(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            goro::go!(move || {
                let mut reader = BufReader::new(&stream);
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    return;
                }
                let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                loop {
                    let mut header = String::new();
                    match reader.read_line(&mut header) {
                        Ok(0) | Err(_) => return,
                        Ok(_) if header.trim_end().is_empty() => break,
                        Ok(_) => {}
                    }
                }
                let body = format!("you asked for {path}");
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = (&stream).write_all(response.as_bytes());
            });
        }
    });
    Ok(addr)
}
