//! Where coroutines land: the shapes the placement policy (docs/ARCHITECTURE.md, "Where
//! a coroutine starts") was tuned on, with the time they took and the homes they got.
//!
//! - `echo`: 64 TCP connections over loopback, 64-byte round trips, client and server
//!   in this process (the shape of benches/echo.rs). Prints msg/s and how many of the 128
//!   connection ends each worker is home to.
//! - `ring`: a token passed around 503 coroutines (as in examples/shapes.rs), spawned by
//!   one coroutine. Prints ns per hop and the *crossings*: ring neighbours homed on
//!   different workers (every hop across one goes through an inbox).
//! - `pingpong`: two coroutines answering each other over rendezvous channels. Prints
//!   ns per round trip and whether the two share a home.
//! - `ring_main`, `pingpong_main`: the same, spawned by the main thread (through the
//!   global queue) rather than by a coroutine.
//!
//! Each run is one fresh process, so run it several times to see the spread:
//!
//! ```text
//! cargo build --release -p goro-examples --example placement
//! for i in $(seq 10); do GORO_WORKERS=2 target/release/examples/placement ring 1000000; done
//! ```

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use goro::chan::bounded;
use goro::go;
use goro::net::{TcpListener, TcpStream};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: placement <echo|ring|pingpong|ring_main|pingpong_main> <N>");
        std::process::exit(2);
    }
    let n: u64 = args[2].parse().expect("N");
    let line = match args[1].as_str() {
        "echo" => go!(move || echo(n)).join().unwrap(),
        "ring" => go!(move || ring(n)).join().unwrap(),
        "pingpong" => go!(move || pingpong(n)).join().unwrap(),
        // Spawned by the main thread (through the global queue) rather than a coroutine.
        "ring_main" => ring(n),
        "pingpong_main" => pingpong(n),
        other => panic!("unknown shape {other}"),
    };
    let stats = goro::stats().per_worker;
    let of = |f: fn(&goro::WorkerStats) -> u64| stats.iter().map(f).collect::<Vec<_>>();
    println!(
        "{line} steals={:?} placed={:?} handed_in={:?}",
        of(|w| w.steals),
        of(|w| w.placed),
        of(|w| w.handed_in)
    );
}

fn worker() -> usize {
    goro_sched::current_worker().expect("on a worker")
}

/// Counts of `homes` per worker.
fn per_worker(homes: &[usize]) -> Vec<usize> {
    let mut counts = vec![0; goro::stats().per_worker.len()];
    for &h in homes {
        counts[h] += 1;
    }
    counts
}

fn echo(trips: u64) -> String {
    const CONNECTIONS: usize = 64;
    let homes = Arc::new(Mutex::new(Vec::new()));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let start = Instant::now();
    let server_homes = homes.clone();
    let server = go!(move || {
        let echoers: Vec<_> = (0..CONNECTIONS)
            .map(|_| {
                let (mut conn, _) = listener.accept().unwrap();
                conn.set_nodelay(true).unwrap();
                let homes = server_homes.clone();
                go!(move || {
                    homes.lock().unwrap().push((true, worker()));
                    let mut buf = [0u8; 64];
                    for _ in 0..trips {
                        conn.read_exact(&mut buf).unwrap();
                        conn.write_all(&buf).unwrap();
                    }
                })
            })
            .collect();
        for e in echoers {
            e.join().unwrap();
        }
    });
    let clients: Vec<_> = (0..CONNECTIONS)
        .map(|c| {
            let homes = homes.clone();
            go!(move || {
                homes.lock().unwrap().push((false, worker()));
                let mut conn = TcpStream::connect(addr).unwrap();
                conn.set_nodelay(true).unwrap();
                let sent = [c as u8; 64];
                let mut got = [0u8; 64];
                for _ in 0..trips {
                    conn.write_all(&sent).unwrap();
                    conn.read_exact(&mut got).unwrap();
                }
                assert_eq!(sent, got);
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    server.join().unwrap();
    let rate = (CONNECTIONS as u64 * trips) as f64 / start.elapsed().as_secs_f64();
    let homes = homes.lock().unwrap();
    let (servers, clients): (Vec<_>, Vec<_>) = homes.iter().partition(|(server, _)| *server);
    let count = |v: Vec<&(bool, usize)>| per_worker(&v.iter().map(|h| h.1).collect::<Vec<_>>());
    format!(
        "echo msg/s={rate:.0} homes={:?} (clients {:?}, echoers {:?})",
        per_worker(&homes.iter().map(|h| h.1).collect::<Vec<_>>()),
        count(clients),
        count(servers)
    )
}

fn ring(hops: u64) -> String {
    const R: usize = 503;
    let homes = Arc::new(Mutex::new(vec![usize::MAX; R]));
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..R).map(|_| bounded::<u64>(0)).unzip();
    let handles: Vec<_> = (0..R)
        .map(|i| {
            let rx = rxs[i].clone();
            let tx = txs[(i + 1) % R].clone();
            let homes = homes.clone();
            go!(move || {
                homes.lock().unwrap()[i] = worker();
                while let Ok(v) = rx.recv() {
                    if v == 0 || tx.send(v - 1).is_err() {
                        break;
                    }
                }
                tx.close();
            })
        })
        .collect();
    let first = txs[0].clone();
    drop((txs, rxs));
    let start = Instant::now();
    first.send(hops).unwrap();
    drop(first);
    for h in handles {
        h.join().unwrap();
    }
    let ns = start.elapsed().as_nanos() as f64 / hops as f64;
    let homes = homes.lock().unwrap();
    let crossings = (0..R).filter(|&i| homes[i] != homes[(i + 1) % R]).count();
    format!(
        "ring ns/hop={ns:.1} crossings={crossings} homes={:?}",
        per_worker(&homes)
    )
}

fn pingpong(rounds: u64) -> String {
    let (a_tx, a_rx) = bounded::<u64>(0);
    let (b_tx, b_rx) = bounded::<u64>(0);
    let start = Instant::now();
    let pong = go!(move || {
        let home = worker();
        while let Ok(v) = a_rx.recv() {
            b_tx.send(v).unwrap();
        }
        home
    });
    let ping = go!(move || {
        let home = worker();
        for i in 0..rounds {
            a_tx.send(i).unwrap();
            b_rx.recv().unwrap();
        }
        home
    });
    let ping = ping.join().unwrap();
    let pong = pong.join().unwrap();
    let ns = start.elapsed().as_nanos() as f64 / rounds as f64;
    format!("pingpong ns/round={ns:.1} same_home={}", ping == pong)
}
