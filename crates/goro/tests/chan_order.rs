//! Blocked senders are served in arrival order. Its own test binary: it watches
//! `goro::stats().parked` to know each sender has blocked, which other tests would
//! disturb.

use std::time::Duration;

use goro::chan;

#[test]
fn blocked_senders_are_served_in_arrival_order() {
    let (tx, rx) = chan::bounded(1);
    tx.send(0).unwrap();
    let mut senders = Vec::new();
    for i in 1..=5 {
        let tx = tx.clone();
        senders.push(goro::go!(move || tx.send(i).unwrap()));
        // Let each sender block before the next arrives. `stats().parked` is live minus
        // queued minus running, so a task a worker has just taken from a queue counts
        // as parked for an instant: wait for five readings in a row, 1 ms apart.
        let mut steady = 0;
        while steady < 5 {
            std::thread::sleep(Duration::from_millis(1));
            if goro::stats().parked >= i as usize {
                steady += 1;
            } else {
                steady = 0;
            }
        }
    }
    let got: Vec<i32> = (0..6).map(|_| rx.recv().unwrap()).collect();
    assert_eq!(got, [0, 1, 2, 3, 4, 5]);
    for s in senders {
        s.join().unwrap();
    }
}
