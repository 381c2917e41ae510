//! `goro::dump()`: named coroutines parked on each kind of wait show the right reason
//! and both call sites; many coroutines parked in one place print as one group; the
//! JSON parses. (Deadlock reports and the dump on a signal: tests/deadlock.rs.)

use std::collections::HashMap;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use goro::sync::{Barrier, Condvar, Mutex, RwLock, Semaphore, WaitGroup};
use goro::{CoroutineDump, CoroutineState, WaitReason};

/// Spawns a named coroutine; the spawn site is the caller's.
#[track_caller]
fn named<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> goro::JoinHandle<T> {
    goro::Builder::new().name(name).spawn(f).unwrap()
}

/// Waits (10 s at most) until every coroutine named in `expected` is parked, and
/// returns the dump's entries by name.
fn parked(expected: &[&str]) -> HashMap<String, CoroutineDump> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let dump = goro::dump();
        let found: HashMap<String, CoroutineDump> = dump
            .coroutines()
            .iter()
            .filter_map(|c| Some((c.name.as_deref()?.to_owned(), c.clone())))
            .filter(|(name, c)| expected.contains(&name.as_str()) && c.wait.is_some())
            .filter(|(_, c)| c.state == CoroutineState::Parked)
            .collect();
        if found.len() == expected.len() {
            return found;
        }
        assert!(Instant::now() < deadline, "not all parked:\n{dump}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn each_kind_of_wait_shows_its_reason_and_both_sites() {
    // (name, spawn line, wait line, reason)
    let mut cases: Vec<(&str, u32, u32, WaitReason)> = Vec::new();
    let (lines_tx, lines_rx) = mpsc::channel::<(&str, u32)>();
    let mut release: Vec<Box<dyn FnOnce()>> = Vec::new();
    let mut handles: Vec<goro::JoinHandle<()>> = Vec::new();

    let (tx, rx) = goro::chan::bounded::<()>(0);
    let l = lines_tx.clone();
    let spawned = line!() + 1;
    handles.push(named("recv", move || {
        l.send(("recv", line!() + 1)).unwrap();
        let _ = rx.recv();
    }));
    cases.push(("recv", spawned, 0, WaitReason::ChanRecv));

    let (stx, srx) = goro::chan::bounded::<()>(0);
    let l = lines_tx.clone();
    let spawned = line!() + 1;
    handles.push(named("send", move || {
        l.send(("send", line!() + 1)).unwrap();
        let _ = stx.send(());
    }));
    cases.push(("send", spawned, 0, WaitReason::ChanSend));

    let (a_tx, a_rx) = goro::chan::bounded::<()>(0);
    let (b_tx, b_rx) = goro::chan::bounded::<()>(0);
    let l = lines_tx.clone();
    let spawned = line!() + 1;
    handles.push(named("select", move || {
        l.send(("select", line!() + 1)).unwrap();
        goro::select! {
            recv(a_rx) -> _ => {},
            recv(b_rx) -> _ => {},
        }
    }));
    cases.push(("select", spawned, 0, WaitReason::Select));

    let mutex = Arc::new(Mutex::new(()));
    let held = mutex.clone();
    let guard = std::thread::spawn(move || {
        let (locked_tx, locked_rx) = mpsc::channel::<()>();
        let (unlock_tx, unlock_rx) = mpsc::channel::<()>();
        let h = std::thread::spawn(move || {
            let _g = held.lock();
            locked_tx.send(()).unwrap();
            let _ = unlock_rx.recv();
        });
        locked_rx.recv().unwrap();
        (unlock_tx, h)
    })
    .join()
    .unwrap();
    let m = mutex.clone();
    let l = lines_tx.clone();
    let spawned = line!() + 1;
    handles.push(named("mutex", move || {
        l.send(("mutex", line!() + 1)).unwrap();
        drop(m.lock());
    }));
    cases.push(("mutex", spawned, 0, WaitReason::Mutex));
    release.push(Box::new(move || {
        guard.0.send(()).unwrap();
        guard.1.join().unwrap();
    }));

    let rw = Arc::new(RwLock::new(()));
    let writer = Arc::new(Mutex::new(Some(rw.clone())));
    let (w_locked_tx, w_locked_rx) = mpsc::channel::<()>();
    let (w_unlock_tx, w_unlock_rx) = mpsc::channel::<()>();
    let w = writer.clone();
    let holder = std::thread::spawn(move || {
        let rw = w.lock().take().unwrap();
        let _g = rw.write();
        w_locked_tx.send(()).unwrap();
        let _ = w_unlock_rx.recv();
    });
    w_locked_rx.recv().unwrap();
    let r = rw.clone();
    let l = lines_tx.clone();
    let spawned = line!() + 1;
    handles.push(named("rwlock-read", move || {
        l.send(("rwlock-read", line!() + 1)).unwrap();
        drop(r.read());
    }));
    cases.push(("rwlock-read", spawned, 0, WaitReason::RwLockRead));
    let r = rw.clone();
    let l = lines_tx.clone();
    let spawned = line!() + 1;
    handles.push(named("rwlock-write", move || {
        l.send(("rwlock-write", line!() + 1)).unwrap();
        drop(r.write());
    }));
    cases.push(("rwlock-write", spawned, 0, WaitReason::RwLockWrite));
    release.push(Box::new(move || {
        w_unlock_tx.send(()).unwrap();
        holder.join().unwrap();
    }));

    let pair = Arc::new((Mutex::new(false), Condvar::new()));
    let p = pair.clone();
    let l = lines_tx.clone();
    let spawned = line!() + 1;
    handles.push(named("condvar", move || {
        let mut ready = p.0.lock();
        l.send(("condvar", line!() + 2)).unwrap();
        while !*ready {
            ready = p.1.wait(ready);
        }
    }));
    cases.push(("condvar", spawned, 0, WaitReason::Condvar));
    release.push(Box::new(move || {
        *pair.0.lock() = true;
        pair.1.notify_all();
    }));

    let wg = WaitGroup::new();
    wg.add(1);
    let w = wg.clone();
    let l = lines_tx.clone();
    let spawned = line!() + 1;
    handles.push(named("waitgroup", move || {
        l.send(("waitgroup", line!() + 1)).unwrap();
        w.wait();
    }));
    cases.push(("waitgroup", spawned, 0, WaitReason::WaitGroup));
    release.push(Box::new(move || wg.done()));

    let sem = Arc::new(Semaphore::new(0));
    let s = sem.clone();
    let l = lines_tx.clone();
    let spawned = line!() + 1;
    handles.push(named("semaphore", move || {
        l.send(("semaphore", line!() + 1)).unwrap();
        drop(s.acquire());
    }));
    cases.push(("semaphore", spawned, 0, WaitReason::Semaphore));
    release.push(Box::new(move || sem.add_permits(1)));

    let barrier = Arc::new(Barrier::new(2));
    let b = barrier.clone();
    let l = lines_tx.clone();
    let spawned = line!() + 1;
    handles.push(named("barrier", move || {
        l.send(("barrier", line!() + 1)).unwrap();
        b.wait();
    }));
    cases.push(("barrier", spawned, 0, WaitReason::Barrier));
    release.push(Box::new(move || {
        barrier.wait();
    }));

    let l = lines_tx.clone();
    let spawned = line!() + 1;
    handles.push(named("sleep", move || {
        l.send(("sleep", line!() + 1)).unwrap();
        goro::sleep(Duration::from_secs(2));
    }));
    cases.push(("sleep", spawned, 0, WaitReason::Sleep));

    let listener = goro::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let l = lines_tx.clone();
    let spawned = line!() + 1;
    handles.push(named("io", move || {
        l.send(("io", line!() + 1)).unwrap();
        let _ = listener.accept();
    }));
    cases.push(("io", spawned, 0, WaitReason::Io));

    let server = goro::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let client = std::net::TcpStream::connect(server.local_addr().unwrap()).unwrap();
    let (mut conn, _) = server.accept().unwrap();
    let l = lines_tx.clone();
    let spawned = line!() + 1;
    handles.push(named("tcp-read", move || {
        let mut buf = [0u8; 8];
        l.send(("tcp-read", line!() + 1)).unwrap();
        let _ = std::io::Read::read(&mut conn, &mut buf);
    }));
    cases.push(("tcp-read", spawned, 0, WaitReason::Io));

    let (jtx, jrx) = goro::chan::bounded::<()>(0);
    let l = lines_tx.clone();
    let spawned = line!() + 1;
    handles.push(named("join", move || {
        let inner = goro::go!(move || {
            let _ = jrx.recv();
        });
        l.send(("join", line!() + 1)).unwrap();
        inner.join().unwrap();
    }));
    cases.push(("join", spawned, 0, WaitReason::Join));

    let (btx, brx) = mpsc::channel::<()>();
    let l = lines_tx.clone();
    let spawned = line!() + 1;
    handles.push(named("blocking", move || {
        l.send(("blocking", line!() + 1)).unwrap();
        goro::blocking(move || {
            let _ = brx.recv();
        });
    }));
    cases.push(("blocking", spawned, 0, WaitReason::Blocking));

    let (ftx, frx) = goro::chan::bounded::<()>(0);
    let l = lines_tx.clone();
    let spawned = line!() + 1;
    handles.push(named("block_on", move || {
        l.send(("block_on", line!() + 1)).unwrap();
        goro::block_on(async move { drop(goro::go!(move || frx.recv()).await) });
    }));
    cases.push(("block_on", spawned, 0, WaitReason::BlockOn));

    let (sctx, scrx) = goro::chan::bounded::<()>(0);
    let l = lines_tx.clone();
    let spawned = line!() + 1;
    handles.push(named("scope", move || {
        l.send(("scope", line!() + 1)).unwrap();
        goro::scope(|s| {
            s.spawn(|| {
                let _ = scrx.recv();
            });
        });
    }));
    cases.push(("scope", spawned, 0, WaitReason::Scope));

    // The wait lines, as each coroutine reported its own.
    for _ in 0..cases.len() {
        let (name, line) = lines_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        cases.iter_mut().find(|c| c.0 == name).unwrap().2 = line;
    }
    let names: Vec<&str> = cases.iter().map(|c| c.0).collect();
    let found = parked(&names);
    let text = goro::dump().to_string();
    for (name, spawned, waits, reason) in &cases {
        let c = &found[*name];
        let wait = c.wait.unwrap();
        assert_eq!(wait.reason(), *reason, "{name}:\n{text}");
        assert!(c.spawn_site.file().ends_with("dump.rs"), "{name}: {c:?}");
        assert_eq!(c.spawn_site.line(), *spawned, "{name} spawn site:\n{text}");
        assert!(wait.site().file().ends_with("dump.rs"), "{name}: {c:?}");
        assert_eq!(wait.site().line(), *waits, "{name} wait site:\n{text}");
        assert!(c.id > 0);
        assert!(text.contains(&format!("'{name}'")), "{text}");
    }

    // Let everything finish.
    drop(tx);
    drop(srx);
    drop(a_tx);
    drop(b_tx);
    for r in release {
        r();
    }
    std::net::TcpStream::connect(addr).unwrap();
    drop(client);
    drop(jtx);
    btx.send(()).unwrap();
    drop(ftx);
    drop(sctx);
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn many_coroutines_parked_in_one_place_print_as_one_group() {
    const N: usize = 100_000;
    let (tx, rx) = goro::chan::bounded::<()>(0);
    let spawned = line!() + 4;
    let handles: Vec<_> = (0..N)
        .map(|_| {
            let rx = rx.clone();
            goro::go!(move || {
                let _ = rx.recv();
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    let dump = loop {
        let dump = goro::dump();
        let mine = dump
            .coroutines()
            .iter()
            .filter(|c| c.spawn_site.line() == spawned && c.state == CoroutineState::Parked)
            .count();
        if mine == N {
            break dump;
        }
        assert!(Instant::now() < deadline, "{mine} of {N} parked");
        std::thread::sleep(Duration::from_millis(20));
    };
    let text = dump.to_string();
    let header = format!("{N} coroutines: parked on chan receive");
    assert!(text.contains(&header), "{text}");
    assert!(
        text.contains(&format!("spawned at {}:{spawned}:", file!())),
        "{text}"
    );
    assert!(text.lines().count() < 100, "{text}");
    eprintln!("a dump of {N} parked coroutines took {:?}", dump.took());
    tx.close();
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn the_json_dump_parses() {
    let (tx, rx) = goro::chan::bounded::<()>(0);
    let h = named("json \"quoted\"\\", move || {
        let _ = rx.recv();
    });
    parked(&["json \"quoted\"\\"]);
    let json: serde_json::Value = serde_json::from_str(&goro::dump().to_json()).unwrap();
    let all = json["coroutines"].as_array().unwrap();
    let me = all
        .iter()
        .find(|c| c["name"] == "json \"quoted\"\\")
        .unwrap_or_else(|| panic!("{json}"));
    assert_eq!(me["state"], "parked");
    assert_eq!(me["reason"], "chan receive");
    assert!(me["wait_site"].as_str().unwrap().contains("dump.rs:"));
    assert!(me["spawn_site"].as_str().unwrap().contains("dump.rs:"));
    assert!(me["id"].as_u64().unwrap() > 0);
    assert!(me["waiting_ms"].is_u64());
    assert!(me["worker"].is_u64());
    assert!(json["not_started"].is_u64());
    drop(tx);
    h.join().unwrap();
}

#[test]
fn stats_have_per_worker_figures() {
    goro::go!(|| ()).join().unwrap();
    let stats = goro::stats();
    assert!(!stats.per_worker.is_empty());
    assert!(stats.per_worker.iter().map(|w| w.resumes).sum::<u64>() >= 1);
    assert!(stats.per_worker.iter().map(|w| w.finished).sum::<u64>() >= 1);
    for (i, w) in stats.per_worker.iter().enumerate() {
        assert_eq!(w.index, i);
    }
}
