//! The pingpong and ring shapes, written once for benches/chan.rs and benches/balance.rs:
//!
//! - pingpong: `iters` round trips (send + reply) over two rendezvous channels between
//!   the calling task and a ponger;
//! - ring: [`RING`] tasks, each linked to the next by a channel, pass a token; each lap
//!   injects a count that travels `iters` hops. The ring is built once (setup).
//!
//! The macros serve every contestant that blocks (goro, may, OS threads); tokio's
//! versions are written out below.

use std::hint::black_box;
use std::time::{Duration, Instant};

/// Tasks in the ring (the benchmarks game's thread-ring size).
pub(crate) const RING: usize = 503;

// ---- the shapes, written once for every contestant that blocks (not tokio) ----
//
// `$spawn` starts a task (goro::spawn, may_spawn, std::thread::spawn, ring_thread) and
// `$chan(args)` makes a channel: the macros call it with the message type, so they
// expand to the same code a contestant of their own would be.

/// `iters` round trips (send + reply) between the calling task and a ponger; the time
/// of the round trips.
macro_rules! pingpong {
    ($iters:expr, $spawn:expr, $($chan:ident)::+ ($($arg:expr),*)) => {{
        let (ping_tx, ping_rx) = $($chan)::+::<u64>($($arg),*);
        let (pong_tx, pong_rx) = $($chan)::+::<u64>($($arg),*);
        let ponger = $spawn(move || {
            for v in ping_rx.iter() {
                pong_tx.send(v).expect("pong");
            }
        });
        let start = std::time::Instant::now();
        for i in 0..$iters {
            ping_tx.send(i).expect("ping");
            std::hint::black_box(pong_rx.recv().expect("the reply"));
        }
        let elapsed = start.elapsed();
        drop(ping_tx);
        ponger.join().expect("the ponger");
        elapsed
    }};
}

/// The ring's entry and exit.
pub(crate) struct Ring<S, R> {
    pub(crate) head: S,
    pub(crate) done: R,
}

/// Builds the ring: node `i` receives a count from its channel; 0 ends the lap, else it
/// passes count - 1 to node i + 1 (node 502 to node 0).
macro_rules! ring {
    ($spawn:expr, $($chan:ident)::+ ($($arg:expr),*)) => {{
        let (done_tx, done) = $($chan)::+::<()>($($arg),*);
        let (head, first_rx) = $($chan)::+::<u64>($($arg),*);
        let mut rx = Some(first_rx);
        for i in 0..$crate::common::chan::RING {
            let my_rx = rx.take().expect("a node's receiver");
            let next_tx = if i + 1 < $crate::common::chan::RING {
                let (tx, next_rx) = $($chan)::+::<u64>($($arg),*);
                rx = Some(next_rx);
                tx
            } else {
                head.clone()
            };
            let done_tx = done_tx.clone();
            $spawn(move || {
                for t in my_rx.iter() {
                    if t == 0 {
                        done_tx.send(()).expect("done");
                    } else {
                        next_tx.send(t - 1).expect("the next node");
                    }
                }
            });
        }
        $crate::common::chan::Ring { head, done }
    }};
}

/// One lap of `iters` hops: inject the count at the head, wait for the end; its time.
macro_rules! lap {
    ($head:expr, $done:expr, $iters:expr) => {{
        let start = std::time::Instant::now();
        $head.send($iters).expect("the ring's head");
        $done.recv().expect("the ring's done");
        start.elapsed()
    }};
}

// Only chan.rs uses them by name; the benches that only need the functions below do not.
#[allow(unused_imports)]
pub(crate) use {lap, pingpong, ring};

// ---- goro ----

pub(crate) fn goro_pingpong(iters: u64, _: u64) -> Duration {
    // Setup, not measured: the channels and spawning the two coroutines.
    goro::go!(move || pingpong!(iters, goro::spawn, goro::chan::bounded(0)))
        .join()
        .expect("the pinger")
}

pub(crate) type GoroRing = Ring<goro::chan::Sender<u64>, goro::chan::Receiver<()>>;

pub(crate) fn goro_ring() -> GoroRing {
    ring!(goro::spawn, goro::chan::bounded(0))
}

impl GoroRing {
    pub(crate) fn hops(&self, iters: u64) -> Duration {
        let (head, done) = (self.head.clone(), self.done.clone());
        // Setup, not measured: spawning and joining the injecting coroutine.
        goro::go!(move || lap!(head, done, iters))
            .join()
            .expect("the injecting coroutine")
    }
}

// ---- may ----

pub(crate) fn may_pingpong(iters: u64, _: u64) -> Duration {
    may::go!(move || pingpong!(iters, super::may_spawn, may::sync::mpsc::channel()))
        .join()
        .expect("the pinger")
}

pub(crate) type MayRing = Ring<may::sync::mpsc::Sender<u64>, may::sync::mpsc::Receiver<()>>;

pub(crate) fn may_ring() -> MayRing {
    ring!(super::may_spawn, may::sync::mpsc::channel())
}

/// One lap of `iters` hops on a may ring, from a coroutine of its own; the ring comes
/// back with the time.
pub(crate) fn may_hops(r: MayRing, iters: u64) -> (Duration, MayRing) {
    may::go!(move || (lap!(r.head, r.done, iters), r))
        .join()
        .expect("the injecting coroutine")
}

// ---- tokio ----

pub(crate) async fn tokio_pingpong(iters: u64) -> Duration {
    use tokio::sync::mpsc;
    tokio::spawn(async move {
        let (ping_tx, mut ping_rx) = mpsc::channel::<u64>(1);
        let (pong_tx, mut pong_rx) = mpsc::channel::<u64>(1);
        let ponger = tokio::spawn(async move {
            while let Some(v) = ping_rx.recv().await {
                pong_tx.send(v).await.expect("pong");
            }
        });
        let start = Instant::now();
        for i in 0..iters {
            ping_tx.send(i).await.expect("ping");
            black_box(pong_rx.recv().await.expect("the reply"));
        }
        let elapsed = start.elapsed();
        drop(ping_tx);
        ponger.await.expect("the ponger");
        elapsed
    })
    .await
    .expect("the pinger")
}

pub(crate) type TokioRing = Ring<tokio::sync::mpsc::Sender<u64>, tokio::sync::mpsc::Receiver<()>>;

/// Must run inside the runtime (spawns the nodes).
pub(crate) fn tokio_ring() -> TokioRing {
    use tokio::sync::mpsc;
    let (done_tx, done) = mpsc::channel(1);
    let (head, first_rx) = mpsc::channel::<u64>(1);
    let mut rx = Some(first_rx);
    for i in 0..RING {
        let mut my_rx = rx.take().expect("a node's receiver");
        let next_tx = if i + 1 < RING {
            let (tx, next_rx) = mpsc::channel(1);
            rx = Some(next_rx);
            tx
        } else {
            head.clone()
        };
        let done_tx = done_tx.clone();
        tokio::spawn(async move {
            while let Some(t) = my_rx.recv().await {
                if t == 0 {
                    done_tx.send(()).await.expect("done");
                } else {
                    next_tx.send(t - 1).await.expect("the next node");
                }
            }
        });
    }
    TokioRing { head, done }
}

pub(crate) async fn tokio_hops(mut r: TokioRing, iters: u64) -> (Duration, TokioRing) {
    tokio::spawn(async move {
        let start = Instant::now();
        r.head.send(iters).await.expect("the ring's head");
        r.done.recv().await.expect("the ring's done");
        (start.elapsed(), r)
    })
    .await
    .expect("the injecting task")
}
