//! `goro::compat::tokio` (feature `tokio`): a real tokio-based HTTP client (hyper's)
//! called from coroutines against a goro server, tokio's timer, panics, borrowing.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use goro::net::TcpListener;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A goro HTTP/1.1 server on a free loopback port: one coroutine per connection, one
/// request per connection, answering `hello <path>`.
fn server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    goro::go!(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            goro::go!(move || {
                let mut reader = BufReader::new(&stream);
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    return;
                }
                let path = line.split_whitespace().nth(1).unwrap_or("?").to_string();
                loop {
                    let mut header = String::new();
                    match reader.read_line(&mut header) {
                        Ok(0) | Err(_) => return,
                        Ok(_) if header.trim_end().is_empty() => break,
                        Ok(_) => {}
                    }
                }
                let body = format!("hello {path}");
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = (&stream).write_all(response.as_bytes());
            });
        }
    });
    addr
}

/// GET `path` from `addr` with hyper's HTTP/1 client on tokio's I/O.
async fn get(addr: SocketAddr, path: &str) -> Result<String, BoxError> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn); // drives the connection on the tokio runtime
    let request = hyper::Request::get(path)
        .header("host", addr.to_string())
        .body(Empty::<Bytes>::new())?;
    let response = sender.send_request(request).await?;
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect().await?.to_bytes();
    Ok(String::from_utf8(body.to_vec())?)
}

#[test]
fn a_hundred_concurrent_hyper_requests_from_coroutines() {
    let addr = server();
    let clients: Vec<_> = (0..100)
        .map(|i| goro::go!(move || goro::compat::tokio::run(get(addr, &format!("/{i}")))))
        .collect();
    for (i, client) in clients.into_iter().enumerate() {
        let body = client.join().unwrap().unwrap();
        assert_eq!(body, format!("hello /{i}"));
    }
}

#[test]
fn requests_from_a_plain_thread() {
    let addr = server();
    let body = goro::compat::tokio::run(get(addr, "/plain")).unwrap();
    assert_eq!(body, "hello /plain");
}

#[test]
fn tokio_sleep_parks_the_coroutine() {
    let start = Instant::now();
    let sleepers: Vec<_> = (0..50)
        .map(|_| {
            goro::go!(|| {
                // Built inside `run` (an async block): tokio's sleep needs the runtime
                // when it is created, not only when polled.
                goro::compat::tokio::run(async {
                    tokio::time::sleep(Duration::from_millis(30)).await
                });
            })
        })
        .collect();
    // Meanwhile plain coroutines keep running: the sleepers do not hold their workers.
    let ran = goro::go!(|| 1).join().unwrap();
    assert_eq!(ran, 1);
    for s in sleepers {
        s.join().unwrap();
    }
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(30));
    assert!(
        took < Duration::from_secs(3),
        "50 concurrent 30 ms sleeps took {took:?}"
    );
}

#[test]
fn a_panic_in_the_future_reaches_the_caller() {
    let h = goro::go!(|| {
        goro::compat::tokio::run(async {
            tokio::time::sleep(Duration::from_millis(1)).await;
            panic!("inside tokio");
        })
    });
    let payload = h.join().unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"inside tokio"));
}

#[test]
fn a_tokio_future_built_outside_run_panics_with_tokios_message() {
    // The corner `run`'s docs warn about: the argument is built before `run` enters the
    // runtime, and tokio's timer wants it at construction.
    let h = goro::go!(|| goro::compat::tokio::run(tokio::time::sleep(Duration::from_millis(1))));
    let payload = h.join().unwrap_err();
    let msg = payload.downcast_ref::<String>().map_or("", |s| s.as_str());
    assert!(msg.contains("Tokio 1.x runtime"), "{msg}");
}

#[test]
fn the_future_may_borrow_and_need_not_be_send() {
    let h = goro::go!(|| {
        let mut log = vec![];
        let local = std::rc::Rc::new(5); // !Send, held across an await
        goro::compat::tokio::run(async {
            tokio::time::sleep(Duration::from_millis(1)).await;
            log.push(*local);
        });
        log
    });
    assert_eq!(h.join().unwrap(), [5]);
}

#[test]
fn a_timeout_from_tokio_on_a_goro_server_that_never_answers() {
    // The server accepts and then says nothing until the client is done: tokio's
    // timeout ends the wait, however late its timer fires on a loaded machine.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (client_done, wait_for_client) = goro::chan::bounded::<()>(0);
    let server = goro::go!(move || {
        let (conn, _) = listener.accept().unwrap();
        let _ = wait_for_client.recv();
        drop(conn);
    });
    let h = goro::go!(move || {
        goro::compat::tokio::run(async {
            tokio::time::timeout(Duration::from_millis(20), get(addr, "/")).await
        })
        .is_err()
    });
    assert!(h.join().unwrap(), "timed out");
    drop(client_done);
    server.join().unwrap();
}
