//! A TCP echo server: one coroutine per connection, written as straight-line blocking
//! code. Each `read` parks only its own coroutine; the worker threads serve the rest.
//!
//! ```text
//! cargo run --release -p goro-examples --example echo_server [127.0.0.1:7878]
//! nc 127.0.0.1 7878        # type a line, get it back
//! ```

use std::io::{Read, Write};

use goro::net::TcpListener;

fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or("127.0.0.1:7878".into());
    let listener = TcpListener::bind(&addr)?;
    println!("echoing on {}", listener.local_addr()?);
    for stream in listener.incoming() {
        let mut stream = stream?;
        goro::go!(move || {
            let mut buf = [0; 4096];
            while let Ok(n @ 1..) = stream.read(&mut buf) {
                if stream.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        });
    }
    Ok(())
}
