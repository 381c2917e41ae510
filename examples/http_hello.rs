//! A minimal HTTP/1.1 server with keep-alive: one coroutine per connection, reading
//! requests and writing responses in a plain loop, as a thread-per-connection server
//! would, but with coroutines of a few KiB instead of threads.
//!
//! ```text
//! cargo run --release -p goro-examples --example http_hello [127.0.0.1:8080]
//! curl -v http://127.0.0.1:8080/ http://127.0.0.1:8080/again   # one connection, two requests
//! ```
//!
//! It answers every `GET`/`HEAD`/... with "Hello, world!", skips request bodies that
//! have a `Content-Length`, keeps the connection open unless the client says
//! `Connection: close` (or speaks HTTP/1.0 without `keep-alive`), and closes it on a
//! malformed request. Not a web framework: chunked request bodies are refused (411).

use std::io::{self, BufRead, BufReader, Read, Write};

use goro::net::{TcpListener, TcpStream};

const BODY: &str = "Hello, world!\n";

fn main() -> io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or("127.0.0.1:8080".into());
    let listener = TcpListener::bind(&addr)?;
    println!("serving http://{}/", listener.local_addr()?);
    for stream in listener.incoming() {
        let stream = stream?;
        goro::go!(move || {
            if let Err(err) = serve(stream) {
                eprintln!("connection ended: {err}");
            }
        });
    }
    Ok(())
}

/// Serves one connection until the client closes it or asks to.
fn serve(stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(&stream);
    let mut writer = &stream;
    let mut line = String::new();
    // A response is formatted here, then written with one system call: `write!` straight
    // to the socket would make one per piece (and, with TCP_NODELAY, one segment each).
    let mut response = Vec::new();
    loop {
        // The request line: "GET /path HTTP/1.1". EOF here is the client hanging up.
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let (Some(method), Some(_path), Some(version)) = (parts.next(), parts.next(), parts.next())
        else {
            writer.write_all(
                b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )?;
            return Ok(());
        };
        let head = method == "HEAD";
        let mut keep_alive = version == "HTTP/1.1";
        let mut body_len = 0u64;
        let mut chunked = false;
        // Headers, up to the blank line.
        loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            let Some((name, value)) = header.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("connection") {
                keep_alive = if value.eq_ignore_ascii_case("close") {
                    false
                } else {
                    keep_alive || value.eq_ignore_ascii_case("keep-alive")
                };
            } else if name.eq_ignore_ascii_case("content-length") {
                body_len = value.parse().unwrap_or(0);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = true;
            }
        }
        if chunked {
            writer.write_all(
                b"HTTP/1.1 411 Length Required\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )?;
            return Ok(());
        }
        // Skip the request body.
        io::copy(&mut (&mut reader).take(body_len), &mut io::sink())?;
        let connection = if keep_alive { "keep-alive" } else { "close" };
        response.clear();
        write!(
            response,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: {connection}\r\n\r\n{}",
            BODY.len(),
            if head { "" } else { BODY },
        )?;
        writer.write_all(&response)?;
        if !keep_alive {
            return Ok(());
        }
    }
}
