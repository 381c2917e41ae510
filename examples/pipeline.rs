//! A pipeline of coroutines joined by channels, after Go's "Pipelines and
//! cancellation" (go.dev/blog/pipelines): a generator counts 1, 2, 3, ... for ever,
//! three squaring stages share its output (fan-out) and one output channel (fan-in), a
//! filter keeps the palindromes, and the sink takes the first ten, then closes `done`.
//! Every stage sends with a `select!` that also watches `done`, so all of them return:
//! nothing is left blocked.
//!
//! ```text
//! cargo run --release -p goro-examples --example pipeline
//! ```

use std::time::Instant;

use goro::chan::{self, Receiver, Sender};

const SQUARERS: usize = 3;
const WANTED: usize = 10;

/// Sends `value` on `out`, unless `done` is closed first. `false` means: stop.
fn send_or_quit<T>(out: &Sender<T>, value: T, done: &Receiver<()>) -> bool {
    goro::select! {
        send(out, value) -> res => res.is_ok(),
        recv(done) -> _ => false, // closed (nothing is ever sent on it): cancelled
    }
}

fn is_palindrome(n: u64) -> bool {
    let digits = n.to_string();
    digits.chars().eq(digits.chars().rev())
}

fn main() {
    let start = Instant::now();
    let (done_tx, done) = chan::bounded::<()>(0);

    // Stage 1: 1, 2, 3, ... until cancelled; returns how many it sent.
    let (nums_tx, nums) = chan::bounded(0);
    let generator = goro::go!({
        let done = done.clone();
        move || {
            let mut n = 0u64;
            while send_or_quit(&nums_tx, n + 1, &done) {
                n += 1;
            }
            n
        }
    });

    // Stage 2: fan-out, as each number goes to one of the squarers; fan-in, as they all
    // send on `squares`, which closes when the last of their senders is dropped.
    let (squares_tx, squares) = chan::bounded(0);
    let squarers: Vec<_> = (0..SQUARERS)
        .map(|_| {
            let (nums, out, done) = (nums.clone(), squares_tx.clone(), done.clone());
            goro::go!(move || {
                let mut sent = 0;
                for n in nums {
                    if !send_or_quit(&out, n * n, &done) {
                        break;
                    }
                    sent += 1;
                }
                sent
            })
        })
        .collect();
    drop(squares_tx);

    // Stage 3: keep the palindromes. Its `for` ends when `squares` closes.
    let (kept_tx, kept) = chan::bounded(0);
    let filter = goro::go!({
        let done = done.clone();
        move || {
            for square in squares.iter().filter(|&sq| is_palindrome(sq)) {
                if !send_or_quit(&kept_tx, square, &done) {
                    break;
                }
            }
        }
    });

    // The sink: take what it needs, then cancel everything upstream (Go's close(done)).
    let first: Vec<u64> = kept.iter().take(WANTED).collect();
    done_tx.close();
    println!("the first {WANTED} palindromic squares to arrive: {first:?}");

    let generated = generator.join().unwrap();
    let squared: Vec<u32> = squarers.into_iter().map(|h| h.join().unwrap()).collect();
    filter.join().unwrap();
    println!(
        "cancelled after {:.1?}: the generator sent {generated} numbers, \
         the squarers passed on {squared:?}, and every stage has returned",
        start.elapsed()
    );
}
