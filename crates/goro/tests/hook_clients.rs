//! Feature `hook`: real sync client crates written for threads (`ureq` over HTTP, the
//! sync `redis` client against a real `redis-server`) used from many coroutines on ONE
//! worker. Their blocking std::net calls park, so the worker serves them all; without
//! the hooks the first call that waits holds the worker and the test hangs (the
//! watchdog fails it).
#![cfg(all(feature = "hook", target_os = "linux", target_env = "gnu"))]

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use support::{Gate, Watchdog, one_worker};

/// A minimal HTTP/1.1 server written with std::net, one coroutine per connection
/// (`Connection: close`); the body echoes the request path.
fn std_http_server(gate: &Gate) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    gate.spawn(move || {
        for conn in listener.incoming() {
            let mut conn = conn.unwrap();
            goro::go!(move || {
                let mut request = Vec::new();
                let mut buf = [0; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let line = String::from_utf8_lossy(&request);
                let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let body = format!("hello {path}");
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = conn.write_all(response.as_bytes());
            });
        }
    });
    format!("http://{addr}")
}

#[test]
fn ureq_makes_200_concurrent_requests_from_coroutines_on_one_worker() {
    let _one = one_worker();
    let _dog = Watchdog::new(30, "200 ureq requests");
    let gate = Gate::new();
    let base = std_http_server(&gate);
    let requests: Vec<_> = (0..200)
        .map(|i| {
            let url = format!("{base}/item/{i}");
            gate.spawn(move || ureq::get(&url).call().unwrap().into_string().unwrap())
        })
        .collect();
    gate.open();
    for (i, request) in requests.into_iter().enumerate() {
        assert_eq!(request.join().unwrap(), format!("hello /item/{i}"));
    }
}

#[test]
fn ureq_works_from_plain_threads_too() {
    let _one = one_worker();
    let _dog = Watchdog::new(30, "ureq from threads");
    let gate = Gate::new();
    let base = std_http_server(&gate);
    gate.open();
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let url = format!("{base}/thread/{i}");
            thread::spawn(move || ureq::get(&url).call().unwrap().into_string().unwrap())
        })
        .collect();
    for (i, t) in threads.into_iter().enumerate() {
        assert_eq!(t.join().unwrap(), format!("hello /thread/{i}"));
    }
}

/// A `redis-server` on a free loopback port, killed on drop.
struct RedisServer {
    child: Child,
    port: u16,
}

impl RedisServer {
    /// Starts one, or `None` (with a message) where redis-server is not installed.
    fn start() -> Option<RedisServer> {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let spawned = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(e) => {
                eprintln!(
                    "SKIPPED: redis-server cannot be started ({e}); \
                     install it with `apt-get install -y redis-server` (.ci/run does)"
                );
                return None;
            }
        };
        let server = RedisServer { child, port };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not start listening"
            );
            thread::sleep(Duration::from_millis(20));
        }
        Some(server)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// 500 coroutines on one worker, each with its own connection, SET then GET their own
/// key, while a coroutine sleeping 1 ms in a loop on the same worker keeps its cadence.
fn redis_set_get(url: &str) {
    let client = redis::Client::open(url).unwrap();
    let running = Arc::new(AtomicBool::new(true));
    let gate = Gate::new();
    let r = running.clone();
    let sleeper = gate.spawn(move || {
        let mut worst = Duration::ZERO;
        let mut last = Instant::now();
        while r.load(Ordering::Acquire) {
            thread::sleep(Duration::from_millis(1)); // std's sleep parks too
            let now = Instant::now();
            worst = worst.max(now - last);
            last = now;
        }
        worst
    });
    let users: Vec<_> = (0..500)
        .map(|i| {
            let client = client.clone();
            gate.spawn(move || -> redis::RedisResult<String> {
                let mut con = client.get_connection()?;
                let key = format!("goro:hook:{i}");
                let value = format!("value {i} ").repeat(50);
                redis::cmd("SET").arg(&key).arg(&value).exec(&mut con)?;
                let back: String = redis::cmd("GET").arg(&key).query(&mut con)?;
                assert_eq!(back, value);
                Ok(key)
            })
        })
        .collect();
    gate.open();
    for (i, user) in users.into_iter().enumerate() {
        assert_eq!(user.join().unwrap().unwrap(), format!("goro:hook:{i}"));
    }
    running.store(false, Ordering::Release);
    let worst = sleeper.join().unwrap();
    eprintln!("the sleeper's worst gap: {worst:?}");
    // A worker blocked in a read would stall forever (the watchdog fails that). The
    // sleeper also waits its turn behind the 500 clients when all of them are runnable
    // at once (a few hundred ms in a debug build on a loaded machine): the bound is
    // generous for that.
    assert!(worst < Duration::from_secs(2), "worst gap {worst:?}");
}

#[test]
fn sync_redis_client_from_500_coroutines_on_one_worker() {
    let _one = one_worker();
    let Some(server) = RedisServer::start() else {
        return;
    };
    let _dog = Watchdog::new(60, "500 redis clients");
    redis_set_get(&server.url());
    // And from plain threads, with the hooks passing through.
    let url = server.url();
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let url = url.clone();
            thread::spawn(move || {
                let client = redis::Client::open(url).unwrap();
                let mut con = client.get_connection().unwrap();
                redis::cmd("SET").arg(i).arg(i * 2).exec(&mut con).unwrap();
                redis::cmd("GET").arg(i).query::<i32>(&mut con).unwrap()
            })
        })
        .collect();
    for (i, t) in threads.into_iter().enumerate() {
        assert_eq!(t.join().unwrap(), i as i32 * 2);
    }
}
