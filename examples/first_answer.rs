//! "First answer wins", after the Google Search example of Go's concurrency-patterns
//! talk: a search asks three kinds of backend (web, image, video) at once, asks each
//! kind's replicas at once and keeps the first reply, and gives up on whatever has not
//! answered by the deadline.
//!
//! The backends are goro TCP servers on free loopback ports that answer after a random
//! delay. A [`Context`] carries the deadline to every request; a [`Group`] fans the three
//! kinds out and cancels the rest when one fails; inside a kind, the first replica's
//! answer cancels the other replicas' requests.
//!
//! ```text
//! cargo run --release -p goro-examples --example first_answer
//! ```

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use goro::chan;
use goro::context::{Context, Error, Group};
use goro::net::{TcpListener, TcpStream};

const KINDS: [&str; 3] = ["web", "image", "video"];
const REPLICAS: usize = 3;
/// Each reply takes 0..MAX_DELAY; the search gives up after DEADLINE.
const MAX_DELAY_MS: u64 = 100;
const DEADLINE: Duration = Duration::from_millis(80);

fn main() -> std::io::Result<()> {
    // Three replicas of each kind of backend.
    let mut backends = Vec::new();
    for kind in KINDS {
        let replicas = (0..REPLICAS)
            .map(|r| backend(kind, r))
            .collect::<std::io::Result<Vec<_>>>()?;
        backends.push((kind, replicas));
    }
    let backends = Arc::new(backends);

    for query in ["goro", "coroutines", "context"] {
        let start = Instant::now();
        let (results, outcome) = search(&backends, query);
        let took = start.elapsed();
        match outcome {
            Ok(()) => println!("{query:>10}: all {} kinds in {took:.1?}", results.len()),
            Err(err) => println!("{query:>10}: {err} after {took:.1?}, partial results:"),
        }
        for line in results {
            println!("{:>12}{line}", "");
        }
    }
    Ok(())
}

/// Searches every kind at once, under one deadline. Returns what arrived, and the
/// first failure if any kind did not answer.
fn search(
    backends: &Arc<Vec<(&'static str, Vec<SocketAddr>)>>,
    query: &str,
) -> (Vec<String>, Result<(), Error>) {
    let (ctx, _cancel) = Context::background().with_timeout(DEADLINE);
    let (group, ctx) = Group::with_context(&ctx);
    let results = Arc::new(Mutex::new(Vec::new()));
    for index in 0..backends.len() {
        let (backends, ctx, results) = (backends.clone(), ctx.clone(), results.clone());
        let query = query.to_string();
        group.go(move || {
            let (kind, replicas) = &backends[index];
            let answer = first(&ctx, replicas, &query)
                .inspect_err(|err| println!("{:>12}{kind}: {err}", ""))?;
            results.lock().unwrap().push(answer);
            Ok(())
        });
    }
    let outcome = group.wait();
    let results = std::mem::take(&mut *results.lock().unwrap());
    (results, outcome)
}

/// Asks every replica; the first answer wins and cancels the others.
fn first(ctx: &Context, replicas: &[SocketAddr], query: &str) -> Result<String, Error> {
    let (ctx, _cancel) = ctx.with_cancel(); // dropped on return: the losers stop
    let (tx, rx) = chan::bounded(replicas.len());
    for &addr in replicas {
        let (ctx, tx, query) = (ctx.clone(), tx.clone(), query.to_string());
        goro::go!(move || {
            let _ = tx.send(ask(&ctx, addr, &query));
        });
    }
    drop(tx);
    let mut last_err = Error::Canceled;
    for answer in rx.iter() {
        match answer {
            Ok(answer) => return Ok(answer),
            Err(err) => last_err = err,
        }
    }
    Err(last_err)
}

/// One request to one backend: written, then the reply awaited until the context ends.
fn ask(ctx: &Context, addr: SocketAddr, query: &str) -> Result<String, Error> {
    let (reply_tx, reply) = chan::bounded(1);
    let query = query.to_string();
    // The socket work runs in its own coroutine, so this one can watch the context too.
    goro::go!(move || {
        let result = (|| -> std::io::Result<String> {
            let mut stream = TcpStream::connect(addr)?;
            stream.set_read_timeout(Some(Duration::from_secs(5)))?;
            writeln!(stream, "{query}")?;
            let mut line = String::new();
            BufReader::new(stream).read_line(&mut line)?;
            Ok(line.trim_end().to_string())
        })();
        let _ = reply_tx.send(result);
    });
    goro::select! {
        recv(reply) -> msg => match msg {
            Ok(Ok(answer)) => Ok(answer),
            _ => Err(Error::Canceled), // the backend failed: count it as no answer
        },
        recv(ctx.done()) -> _ => Err(ctx.err().unwrap_or(Error::Canceled)),
    }
}

/// A backend: one coroutine per connection, one query per connection, a random delay.
fn backend(kind: &'static str, replica: usize) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    goro::go!(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            goro::go!(move || {
                let mut query = String::new();
                if BufReader::new(&stream).read_line(&mut query).is_err() {
                    return;
                }
                let delay = Duration::from_millis(random() % MAX_DELAY_MS);
                goro::sleep(delay);
                let _ = writeln!(
                    &stream,
                    "{kind} result for {:?} from replica {replica} ({delay:?})",
                    query.trim_end()
                );
            });
        }
    });
    Ok(addr)
}

/// A small shared pseudo-random generator (splitmix64), enough for fake latencies.
fn random() -> u64 {
    static STATE: AtomicU64 = AtomicU64::new(0x9e37_79b9_7f4a_7c15);
    let mut z = STATE.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
