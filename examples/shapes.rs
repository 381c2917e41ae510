//! The four shapes that docs/BENCHMARKS.md counts instructions on ("The whole session
//! in instructions"): `yield` (a coroutine yielding N times), `pingpong` (N round trips
//! over two rendezvous channels), `ring` (a token passed N hops around 503 coroutines)
//! and `spawn` (a coroutine that spawns and joins N empty ones, one at a time). It uses
//! only API that goro has had since its first channels, so the same file builds against
//! an older commit for a before/after count.
//!
//! ```text
//! cargo build --release -p goro-examples --example shapes
//! GORO_WORKERS=1 valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/shapes pingpong 20000
//! ```
//!
//! Instructions per operation = (I(2N) - I(N)) / N, which cancels start-up and exit.

use goro::chan::bounded;
use goro::go;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: shapes <yield|pingpong|ring|spawn> <N>");
        std::process::exit(2);
    }
    let shape = args[1].clone();
    let n: usize = args[2].parse().unwrap();
    match shape.as_str() {
        "yield" => go!(move || {
            for _ in 0..n {
                goro::yield_now();
            }
        })
        .join()
        .unwrap(),
        "pingpong" => {
            let (a_tx, a_rx) = bounded::<usize>(0);
            let (b_tx, b_rx) = bounded::<usize>(0);
            let h = go!(move || {
                for _ in 0..n {
                    let v = a_rx.recv().unwrap();
                    b_tx.send(v).unwrap();
                }
            });
            go!(move || {
                for i in 0..n {
                    a_tx.send(i).unwrap();
                    b_rx.recv().unwrap();
                }
            })
            .join()
            .unwrap();
            h.join().unwrap();
        }
        "ring" => {
            const R: usize = 503;
            let mut txs = Vec::new();
            let mut rxs = Vec::new();
            for _ in 0..R {
                let (t, r) = bounded::<usize>(0);
                txs.push(t);
                rxs.push(r);
            }
            let first_tx = txs[0].clone();
            let mut hs = Vec::new();
            for i in 0..R {
                let rx = rxs[i].clone();
                let tx = txs[(i + 1) % R].clone();
                hs.push(go!(move || {
                    loop {
                        match rx.recv() {
                            Ok(v) if v > 0 => {
                                if tx.send(v - 1).is_err() {
                                    tx.close();
                                    break;
                                }
                            }
                            _ => {
                                tx.close();
                                break;
                            }
                        }
                    }
                }));
            }
            drop(txs);
            drop(rxs);
            first_tx.send(n).unwrap();
            drop(first_tx);
            for h in hs {
                h.join().unwrap();
            }
        }
        "spawn" => go!(move || {
            for _ in 0..n {
                go!(|| ()).join().unwrap();
            }
        })
        .join()
        .unwrap(),
        _ => panic!("shape"),
    }
}
