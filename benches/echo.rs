//! Comparison: a TCP echo over loopback, client and server in one process, 2 workers;
//! messages per second, side by side with tokio, may, std threads and Go.
//!
//! Shape (issue 5, the same for every contestant): a server accepts 64 connections and
//! echoes each on a task of its own; 64 client tasks each connect (TCP_NODELAY on both
//! ends), then do 10,000 round trips of a 64-byte message (write it, read the echo
//! back in full). One run is 640,000 round trips; msg/s = 640,000 / wall time of the
//! run, connecting included (a few milliseconds). Each contestant runs in a child
//! process of its own (see common/mod.rs) and does one warm-up run, then
//! [`RUNS`] measured runs; the table shows the median.
//!
//! - `goro_default`, `goro_migration`: `goro::net`, coroutines on `workers(2)`, without
//!   and with `unsafe { allow_migration() }`.
//! - `tokio`: `tokio::net` with `AsyncReadExt`/`AsyncWriteExt`, a multi-thread runtime
//!   with 2 workers.
//! - `may`: `may::net`, `set_workers(2)`.
//! - `std_threads`: `std::net`, one OS thread per connection end (128 threads).
//! - `go`: `net`, GOMAXPROCS=2 (benches/go/main.go), if a Go toolchain is found.
//!
//! This is a bench binary rather than criterion: a run is seconds long, and the issue's
//! figure is the throughput of exactly this run.
//!
//! Run with `cargo bench -p goro-benches --bench echo` (about two minutes).

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

const WORKERS: usize = 2;
const CONNECTIONS: u64 = 64;
const ROUND_TRIPS: u64 = 10_000;
const MESSAGE: usize = 64;
/// Measured runs per contestant (after one warm-up run).
const RUNS: usize = 5;

const CONTESTANTS: [&str; 6] = [
    "goro_default",
    "goro_migration",
    "tokio",
    "may",
    "std_threads",
    "go",
];

fn main() {
    if let Some(peer) = common::child_peer("echo") {
        child(&peer);
        return;
    }
    if common::quick() {
        // `cargo test --benches` / `--list`: one small run of goro, to show it works.
        let mut server = common::server("echo", "goro_default", WORKERS).expect("goro");
        server.run(1, 10);
        return;
    }
    println!("load average at start: {}", common::loadavg());
    let mut rates: Vec<Option<f64>> = Vec::new();
    for peer in CONTESTANTS {
        let Some(mut server) = common::server("echo", peer, WORKERS) else {
            println!("{peer}: skipped (no Go toolchain)");
            rates.push(None);
            continue;
        };
        server.run(1, ROUND_TRIPS); // warm-up
        let mut per_run: Vec<f64> = (0..RUNS)
            .map(|_| {
                let elapsed = server.run(1, ROUND_TRIPS);
                (CONNECTIONS * ROUND_TRIPS) as f64 / elapsed.as_secs_f64()
            })
            .collect();
        let median = common::median(&mut per_run);
        println!(
            "{peer}: {} msg/s (runs: {})",
            thousands(median),
            per_run
                .iter()
                .map(|r| thousands(*r))
                .collect::<Vec<_>>()
                .join(", ")
        );
        rates.push(Some(median));
    }
    println!(
        "\necho: {CONNECTIONS} connections x {ROUND_TRIPS} round trips of {MESSAGE} B, \
         {WORKERS} workers, median of {RUNS} runs; load average now {}\n",
        common::loadavg()
    );
    println!("| contestant     |      msg/s | goro_default/peer | goro_migration/peer |");
    println!("|----------------|------------|-------------------|---------------------|");
    for (peer, rate) in CONTESTANTS.iter().zip(&rates) {
        let Some(rate) = rate else {
            println!("| {peer:<14} | {:>10} | {:>17} | {:>19} |", "-", "-", "-");
            continue;
        };
        let ratio =
            |goro: Option<f64>| goro.map_or("-".to_string(), |g| format!("{:.2}x", g / rate));
        println!(
            "| {peer:<14} | {:>10} | {:>17} | {:>19} |",
            thousands(*rate),
            ratio(rates[0]),
            ratio(rates[1]),
        );
    }
    println!("\n(ratios are throughput: above 1, goro is faster)");
}

fn thousands(rate: f64) -> String {
    format!("{:.1}k", rate / 1000.0)
}

// ---- children: each runs one contestant, answering "<iters> <round trips>" ----

fn child(peer: &str) {
    match peer {
        "goro_default" | "goro_migration" => {
            // SAFETY: (allow_migration) the coroutines of this process hold no
            // thread-local reference and no `!Send` value across a blocking call.
            unsafe { common::init_goro(peer, WORKERS) };
            common::serve(|iters, trips| {
                goro::go!(move || goro_echo(iters * trips))
                    .join()
                    .expect("goro echo")
            });
        }
        "tokio" => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(WORKERS)
                .enable_io()
                .build()
                .expect("a tokio runtime");
            common::serve(|iters, trips| rt.block_on(tokio_echo(iters * trips)));
        }
        "may" => {
            may::config().set_workers(WORKERS);
            common::serve(|iters, trips| {
                may::go!(move || may_echo(iters * trips))
                    .join()
                    .expect("may echo")
            });
        }
        "std_threads" => common::serve(|iters, trips| std_echo(iters * trips)),
        other => panic!("unknown echo contestant {other}"),
    }
}

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

fn goro_echo(trips: u64) -> Duration {
    blocking_echo!(trips, goro::spawn, goro::net)
}

fn may_spawn<F, T>(f: F) -> may::coroutine::JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    may::go!(f)
}

fn may_echo(trips: u64) -> Duration {
    blocking_echo!(trips, may_spawn, may::net)
}

fn std_echo(trips: u64) -> Duration {
    blocking_echo!(trips, std::thread::spawn, std::net)
}

async fn tokio_echo(trips: u64) -> Duration {
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
