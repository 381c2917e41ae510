//! The poller: one epoll instance for the process, driven from the scheduler's idle path.
//!
//! # Actors
//!
//! - A **registration** (`io::Registration`, owned by an `io::Registered<T>`): one file
//!   descriptor added to the epoll set, once, edge-triggered (`EPOLLIN | EPOLLOUT |
//!   EPOLLRDHUP | EPOLLPRI | EPOLLET`), the first time a coroutine has to wait on it.
//! - A **record** (`Record`, here): the poller's side of a registration, what an epoll
//!   event's data leads to. Per direction (read, write) it holds a readiness *tick*
//!   counter and the coroutines waiting for the next tick.
//! - The **poller** (`Poller`): the epoll fd plus an eventfd that wakes a thread blocked in
//!   `epoll_wait`. Any thread may poll without blocking; one idle worker at a time (the
//!   *owner*) may block in `epoll_wait`.
//!
//! # Records are never freed: generations instead of reclamation
//!
//! An `epoll_wait` on one thread may return an event for a descriptor that another
//! thread deregisters a moment later; the event's data must still lead somewhere safe.
//! Rejected: an `Arc` per registration whose pointer is the event data (nobody knows when
//! the last in-flight event has been handled, so nobody may drop the last reference);
//! epoch-based reclamation (sound, but a lot of machinery for small records). Go's answer,
//! which goro follows (`pollDesc` with its `fdseq`), is type-stable memory: records live in
//! a slab of pages that are never freed, and the event data is `generation << 32 |
//! index`. Releasing a record bumps its generation before the slot is reused, so a stale
//! event finds a different generation and is dropped. A stale event that races with the
//! reuse itself can still tick the new owner's record; that costs the new owner one
//! spurious retry of its system call, which the protocol below allows anyway.
//!
//! # The hard problem: edge-triggered readiness without lost wakeups
//!
//! An edge-triggered epoll reports a descriptor once per change; a wakeup missed is never
//! repeated. Each direction of a record has one atomic word: `tick << 3 | HUP | CLOSED |
//! WAITERS`. An I/O operation (`io::Registered::io`) runs:
//! 1. Read the tick (the *snapshot*).
//! 2. Try the system call. Done unless it fails with `WouldBlock`.
//! 3. Under the record's lock: set `WAITERS` (a read-modify-write that also returns the
//!    word). If the tick moved since the snapshot, or `CLOSED` is set, return (retry, or
//!    fail). Else enlist the coroutine's `Unparker` and park.
//!
//! An epoll event for the direction (`Record::fire`) adds one tick, and if `WAITERS` was
//! set, takes the lock, clears `WAITERS` and takes every waiter out, and unparks them
//! after unlocking. The tick and the flag share one word, so the event's add and the
//! waiter's set are totally ordered: either the waiter sees the new tick (and retries), or
//! the event sees the flag and wakes it (it can take the lock only after the waiter
//! enlisted). Every event after the snapshot (so after the failed system call) wakes
//! every waiter, however many share the direction: a woken waiter never "consumes"
//! readiness that another waiter needed. `WAITERS` is set whenever the list is
//! non-empty, because only the drainer clears it, under the lock, as it empties the list.
//!
//! One shortcut (`io::Registered::io_stream`, for TCP): after a read that returned less
//! than asked for, the receive queue is empty, and data arriving later makes a new edge,
//! so while the tick still equals the snapshot taken before that short read, the next
//! read goes straight to step 3 instead of making a system call that would say
//! `WouldBlock` (likewise for a short write and a full send buffer). End of file and
//! errors are different: they stay readable without a new edge, possibly folded into the
//! very event that preceded the short read (and TCP urgent data stops a read short of
//! the data behind it). So an event that reports a hang-up, an error or urgent data sets
//! the direction's sticky `HUP` bit (before its tick), and the shortcut is never taken
//! once `HUP` is set.
//!
//! # Who polls
//!
//! Idle workers, one at a time, in `epoll_wait`; busy workers and the monitor without
//! blocking. The protocol (ownership, the `polling` flag against `sleeping`, the eventfd)
//! is written once, in idle.rs ("The poller in the idle path").
//!
//! Nobody blocks in `epoll_wait` while no descriptor is registered, so a program that
//! does no I/O never creates the epoll instance.

use std::io;
use std::os::fd::AsFd;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::eventfd::{EfdFlags, EventFd};

use crate::loom::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Mutex, MutexGuard, Ordering};
use crate::park::{self, Unparker};

/// Epoll data of the eventfd; no record has this index.
const WAKE_TOKEN: u64 = u64::MAX;
/// Events taken per `epoll_wait`.
const EVENTS: usize = 128;

/// Direction indexes into a record's words.
pub(crate) const READ: usize = 0;
pub(crate) const WRITE: usize = 1;

/// A direction word: `tick << 3 | HUP | CLOSED | WAITERS`.
const WAITERS: u64 = 1;
const CLOSED: u64 = 2;
/// Sticky: an event for the direction reported a hang-up, an error (the peer's
/// shutdown, a reset) or urgent data, states that later calls keep seeing without a new
/// edge.
const HUP: u64 = 4;
const TICK: u64 = 8;
const TICKS: u64 = !(WAITERS | CLOSED | HUP);

/// Events after which the read side may stay ready without a new edge: end of file,
/// hang-up, error, and TCP urgent data (a read stops short at its mark, with data
/// after it).
const READ_HUP: EpollFlags = EpollFlags::EPOLLRDHUP
    .union(EpollFlags::EPOLLHUP)
    .union(EpollFlags::EPOLLERR)
    .union(EpollFlags::EPOLLPRI);
/// Events after which the write side stays ready: hang-up, error.
const WRITE_HUP: EpollFlags = EpollFlags::EPOLLHUP.union(EpollFlags::EPOLLERR);

/// Events that make a reader retry: data, the peer's shutdown, a hang-up or an error
/// (the retried system call reports which).
const READ_EVENTS: EpollFlags = EpollFlags::EPOLLIN
    .union(EpollFlags::EPOLLPRI)
    .union(EpollFlags::EPOLLRDHUP)
    .union(EpollFlags::EPOLLHUP)
    .union(EpollFlags::EPOLLERR);
const WRITE_EVENTS: EpollFlags = EpollFlags::EPOLLOUT
    .union(EpollFlags::EPOLLHUP)
    .union(EpollFlags::EPOLLERR);
/// What every registration asks for: both directions, with the peer's shutdown and
/// urgent data (see `READ_HUP`), edge-triggered.
const INTEREST: EpollFlags = EpollFlags::EPOLLIN
    .union(EpollFlags::EPOLLOUT)
    .union(EpollFlags::EPOLLRDHUP)
    .union(EpollFlags::EPOLLPRI)
    .union(EpollFlags::EPOLLET);

/// The process's poller.
pub(crate) struct Poller {
    epoll: Epoll,
    waker: EventFd,
    /// A worker is (about to be) blocked in `epoll_wait`.
    owned: AtomicBool,
    /// Descriptors in the epoll set.
    registered: AtomicUsize,
    /// When a poll last returned, in nanoseconds since `epoch`.
    last_poll: AtomicU64,
    epoch: Instant,
}

static POLLER: OnceLock<Poller> = OnceLock::new();
static POLLER_INIT: Mutex<()> = Mutex::new(());

/// The poller, if anything ever registered.
pub(crate) fn get() -> Option<&'static Poller> {
    POLLER.get()
}

/// The poller if any descriptor is registered: only then is polling worth a system call.
pub(crate) fn active() -> Option<&'static Poller> {
    POLLER
        .get()
        .filter(|p| p.registered.load(Ordering::Relaxed) > 0)
}

/// The poller, created on first use.
pub(crate) fn get_or_init() -> io::Result<&'static Poller> {
    if let Some(poller) = POLLER.get() {
        return Ok(poller);
    }
    let _init = POLLER_INIT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(poller) = POLLER.get() {
        return Ok(poller);
    }
    let poller = Poller::new()?;
    Ok(POLLER.get_or_init(|| poller))
}

/// Polls without blocking if the poller is in use and nobody blocks in it. Returns how
/// many coroutines it woke.
/// Polls made (`epoll_wait` calls that returned), for schedtrace.
static POLLS: AtomicU64 = AtomicU64::new(0);

pub(crate) fn polls() -> u64 {
    POLLS.load(Ordering::Relaxed)
}

pub(crate) fn poll_now() -> usize {
    match active() {
        Some(poller) if !poller.is_owned() => poller.poll(Some(Duration::ZERO), false).unwrap_or(0),
        _ => 0,
    }
}

impl Poller {
    fn new() -> io::Result<Poller> {
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
        let waker = EventFd::from_flags(EfdFlags::EFD_NONBLOCK | EfdFlags::EFD_CLOEXEC)?;
        // Level-triggered, and read only by an owner: see "Who polls", step 2.
        epoll.add(
            waker.as_fd(),
            EpollEvent::new(EpollFlags::EPOLLIN, WAKE_TOKEN),
        )?;
        Ok(Poller {
            epoll,
            waker,
            owned: AtomicBool::new(false),
            registered: AtomicUsize::new(0),
            last_poll: AtomicU64::new(0),
            epoch: Instant::now(),
        })
    }

    /// Adds `fd` to the epoll set, with `token` as its events' data.
    pub(crate) fn add(&self, fd: impl AsFd, token: u64) -> io::Result<()> {
        self.epoll.add(fd, EpollEvent::new(INTEREST, token))?;
        self.registered.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Takes `fd` out of the epoll set. Errors are ignored: the descriptor is on its way
    /// out, and a failure means it is no longer in the set.
    pub(crate) fn delete(&self, fd: impl AsFd) {
        let _ = self.epoll.delete(fd);
        self.registered.fetch_sub(1, Ordering::Relaxed);
    }

    /// Becomes the owner (the one thread allowed to block in `epoll_wait`) if nobody is.
    pub(crate) fn try_own(&self) -> bool {
        // Acquire/Release: the owner role is handed on like a lock.
        !self.owned.swap(true, Ordering::Acquire)
    }

    pub(crate) fn release(&self) {
        self.owned.store(false, Ordering::Release);
    }

    /// Descriptors in the epoll set.
    pub(crate) fn registered(&self) -> usize {
        self.registered.load(Ordering::Relaxed)
    }

    pub(crate) fn is_owned(&self) -> bool {
        self.owned.load(Ordering::Relaxed)
    }

    /// Interrupts an owner's `epoll_wait` (or makes the next one return at once).
    pub(crate) fn wake(&self) {
        signal_eventfd(&self.waker);
    }

    /// Time since a poll last returned.
    pub(crate) fn since_last_poll(&self) -> Duration {
        let last = Duration::from_nanos(self.last_poll.load(Ordering::Relaxed));
        self.epoch.elapsed().saturating_sub(last)
    }

    /// Waits up to `timeout` (forever if `None`, not at all if zero) for events and
    /// wakes their waiters. `owner` says whether the caller owns the poller: only an owner
    /// drains the eventfd. Returns how many coroutines it woke, or `None` if `epoll_wait`
    /// failed other than by a signal (the caller should not call again right away).
    pub(crate) fn poll(&self, timeout: Option<Duration>, owner: bool) -> Option<usize> {
        let mut events = [EpollEvent::empty(); EVENTS];
        let n = match self.epoll.wait(&mut events, epoll_timeout(timeout)) {
            Ok(n) => n,
            Err(Errno::EINTR) => 0,
            Err(_) => return None,
        };
        let now = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.last_poll.store(now, Ordering::Relaxed);
        POLLS.fetch_add(1, Ordering::Relaxed);
        let mut woke = 0;
        for event in &events[..n] {
            let token = event.data();
            if token == WAKE_TOKEN {
                if owner {
                    let _ = self.waker.read(); // nonblocking; resets the counter
                }
                continue;
            }
            woke += fire(token, event.events());
        }
        Some(woke)
    }
}

/// `timeout` in whole milliseconds for `epoll_wait`, rounded up so that a deadline is
/// never reported early.
fn epoll_timeout(timeout: Option<Duration>) -> EpollTimeout {
    let Some(timeout) = timeout else {
        return EpollTimeout::NONE;
    };
    let ms = timeout.as_nanos().div_ceil(1_000_000);
    i32::try_from(ms)
        .ok()
        .and_then(|ms| EpollTimeout::try_from(ms).ok())
        .unwrap_or(EpollTimeout::MAX)
}

/// Delivers one epoll event to its record, unless the record has moved on.
fn fire(token: u64, flags: EpollFlags) -> usize {
    let (index, generation) = (token as u32, (token >> 32) as u32);
    let Some(record) = slab::get(index) else {
        return 0;
    };
    if record.generation.load(Ordering::Acquire) != generation {
        return 0; // released (and maybe reused) since the event was queued
    }
    let mut woke = 0;
    if flags.intersects(READ_EVENTS) {
        woke += record.fire(READ, flags.intersects(READ_HUP));
    }
    if flags.intersects(WRITE_EVENTS) {
        woke += record.fire(WRITE, flags.intersects(WRITE_HUP));
    }
    woke
}

/// How a wait on a record ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wake {
    /// An event arrived since the snapshot: retry the system call.
    Ready,
    /// The registration was deregistered.
    Closed,
    /// The deadline passed.
    TimedOut,
}

/// The poller's side of one registration: see the module docs.
pub(crate) struct Record {
    /// Bumped when the record is released; the high half of its tokens.
    generation: AtomicU32,
    /// Per direction: `tick << 3 | HUP | CLOSED | WAITERS`.
    dirs: [AtomicU64; 2],
    waiters: Mutex<[Waiters; 2]>,
}

/// The coroutines waiting on one direction. One is the common case, so it needs no
/// allocation.
#[derive(Default)]
struct Waiters {
    first: Option<Unparker>,
    more: Vec<Unparker>,
}

impl Waiters {
    fn push(&mut self, waiter: Unparker) {
        if self.first.is_none() {
            self.first = Some(waiter);
        } else {
            self.more.push(waiter);
        }
    }

    fn remove(&mut self, waiter: &Unparker) {
        if self.first.as_ref().is_some_and(|w| w.same_as(waiter)) {
            self.first = self.more.pop();
        } else {
            self.more.retain(|w| !w.same_as(waiter));
        }
    }

    fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    fn take(&mut self) -> (Option<Unparker>, Vec<Unparker>) {
        let more = if self.more.is_empty() {
            Vec::new()
        } else {
            std::mem::take(&mut self.more)
        };
        (self.first.take(), more)
    }
}

fn wake_all((first, more): (Option<Unparker>, Vec<Unparker>)) -> usize {
    let n = usize::from(first.is_some()) + more.len();
    if let Some(waiter) = first {
        waiter.unpark_owned();
    }
    for waiter in more {
        waiter.unpark_owned();
    }
    n
}

impl Record {
    fn new() -> Record {
        Record {
            generation: AtomicU32::new(0),
            dirs: [AtomicU64::new(0), AtomicU64::new(0)],
            waiters: Mutex::new(Default::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, [Waiters; 2]> {
        self.waiters.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The token an epoll event for this record carries.
    pub(crate) fn token(&self, index: u32) -> u64 {
        u64::from(self.generation.load(Ordering::Relaxed)) << 32 | u64::from(index)
    }

    /// The direction's tick, for a snapshot taken before a system call.
    pub(crate) fn tick(&self, dir: usize) -> u64 {
        self.snapshot(dir).0
    }

    /// The direction's tick, and whether the short-transfer shortcut is off for it: it
    /// has seen a hang-up or error (`HUP`), or the record is closed (no edge will come,
    /// and an operation that need not wait must still run).
    pub(crate) fn snapshot(&self, dir: usize) -> (u64, bool) {
        // Acquire: pairs with the AcqRel add in `fire`, though only the order of the
        // word's own modifications matters to the protocol.
        let word = self.dirs[dir].load(Ordering::Acquire);
        (word & TICKS, word & (HUP | CLOSED) != 0)
    }

    /// One event for direction `dir`: step "event" of the module docs. `hup`: the event
    /// reported a hang-up or an error, which stays (set before the tick, so whoever
    /// sees the tick sees it too).
    fn fire(&self, dir: usize, hup: bool) -> usize {
        if hup {
            self.dirs[dir].fetch_or(HUP, Ordering::AcqRel);
        }
        let old = self.dirs[dir].fetch_add(TICK, Ordering::AcqRel);
        if old & WAITERS == 0 {
            return 0;
        }
        let taken = {
            let mut waiters = self.lock();
            self.dirs[dir].fetch_and(!WAITERS, Ordering::AcqRel);
            waiters[dir].take()
        };
        wake_all(taken)
    }

    /// Marks both directions closed and wakes every waiter.
    pub(crate) fn close(&self) {
        for dir in &self.dirs {
            dir.fetch_or(CLOSED, Ordering::AcqRel);
        }
        let taken = {
            let mut waiters = self.lock();
            for dir in &self.dirs {
                dir.fetch_and(!WAITERS, Ordering::AcqRel);
            }
            let [read, write] = &mut *waiters;
            [read.take(), write.take()]
        };
        for taken in taken {
            wake_all(taken);
        }
    }

    /// Parks the calling coroutine until direction `dir` ticks past `snapshot`, the record
    /// is closed, or `deadline` passes: step 3 of the module docs.
    #[track_caller]
    pub(crate) fn wait(&self, dir: usize, snapshot: u64, deadline: Option<Instant>) -> Wake {
        let wait = park::Wait::new(park::WaitReason::Io);
        let me = park::current_unparker();
        let word = &self.dirs[dir];
        loop {
            {
                let mut waiters = self.lock();
                let list = &mut waiters[dir];
                // After a spurious or timed wakeup we may still be listed.
                list.remove(&me);
                let old = word.fetch_or(WAITERS, Ordering::AcqRel);
                let outcome = if old & CLOSED != 0 {
                    Some(Wake::Closed)
                } else if old & TICKS != snapshot {
                    Some(Wake::Ready)
                } else if deadline.is_some_and(|d| Instant::now() >= d) {
                    Some(Wake::TimedOut)
                } else {
                    None
                };
                if let Some(outcome) = outcome {
                    if list.is_empty() {
                        word.fetch_and(!WAITERS, Ordering::AcqRel);
                    }
                    return outcome;
                }
                list.push(me.clone());
            }
            match deadline {
                None => park::park_on(wait),
                Some(deadline) => park::park_until_on(deadline, wait),
            }
            // A tick after we enlisted means a drainer has taken us off the list or will:
            // we were listed (so `WAITERS` was set) when that event's add happened.
            let now = word.load(Ordering::Acquire);
            if now & TICKS != snapshot && now & CLOSED == 0 {
                return Wake::Ready;
            }
        }
    }
}

/// Where records live: pages that are never freed, page `p` holding `PAGE0 << p`
/// records, so an index maps to its page with one `ilog2`.
pub(crate) mod slab {
    use std::io;
    use std::sync::OnceLock;

    use super::Record;
    use crate::loom::{Mutex, Ordering};

    const PAGE0: usize = 64;
    /// 64 * (2^24 - 1): about a billion registrations at once.
    const PAGES: usize = 24;

    static PAGE_TABLE: [OnceLock<Box<[Record]>>; PAGES] = [const { OnceLock::new() }; PAGES];
    static FREE: Mutex<Free> = Mutex::new(Free {
        list: Vec::new(),
        next: 0,
    });

    struct Free {
        list: Vec<u32>,
        next: u32,
    }

    fn locate(index: u32) -> (usize, usize) {
        let i = index as usize;
        let page = (i / PAGE0 + 1).ilog2() as usize;
        (page, i - PAGE0 * ((1 << page) - 1))
    }

    /// The record at `index`, if its page exists.
    pub(crate) fn get(index: u32) -> Option<&'static Record> {
        let (page, offset) = locate(index);
        PAGE_TABLE.get(page)?.get()?.get(offset)
    }

    /// A free record, its state reset (no tick, not closed, nobody waiting), and its
    /// index.
    pub(crate) fn alloc() -> io::Result<(u32, &'static Record)> {
        let mut free = FREE.lock().unwrap_or_else(|e| e.into_inner());
        let index = match free.list.pop() {
            Some(index) => index,
            None => {
                let index = free.next;
                let (page, _) = locate(index);
                if page >= PAGES {
                    return Err(io::Error::new(
                        io::ErrorKind::OutOfMemory,
                        "goro: too many file descriptors registered with the poller",
                    ));
                }
                PAGE_TABLE[page]
                    .get_or_init(|| (0..PAGE0 << page).map(|_| Record::new()).collect());
                free.next += 1;
                index
            }
        };
        drop(free);
        let record = get(index).expect("allocated records have a page");
        for dir in &record.dirs {
            dir.store(0, Ordering::Release);
        }
        Ok((index, record))
    }

    /// Returns a record to the free list. Its generation changes first, so events
    /// still in flight for it are dropped.
    pub(crate) fn release(index: u32) {
        let record = get(index).expect("released records have a page");
        record.generation.fetch_add(1, Ordering::AcqRel);
        FREE.lock()
            .unwrap_or_else(|e| e.into_inner())
            .list
            .push(index);
    }

    #[cfg(test)]
    mod tests {
        use super::locate;

        #[test]
        fn pages_double() {
            assert_eq!(locate(0), (0, 0));
            assert_eq!(locate(63), (0, 63));
            assert_eq!(locate(64), (1, 0));
            assert_eq!(locate(191), (1, 127));
            assert_eq!(locate(192), (2, 0));
            assert_eq!(locate(192 + 255), (2, 255));
            assert_eq!(locate(448), (3, 0));
        }
    }
}

/// Adds 1 to an eventfd's counter, with the raw `write` system call rather than libc's
/// `write`: a coroutine that wakes a polling worker runs this on its own stack, and the
/// program's `write` may be goro's hook (feature `hook`), which would take the eventfd
/// for the user's descriptor and spend three more system calls on it. Only EAGAIN can
/// fail here, when the counter is near 2^64: it is non-zero then, which is all a waker
/// needs.
pub(crate) fn signal_eventfd(fd: &EventFd) {
    use std::os::fd::AsRawFd;
    let one: u64 = 1;
    // SAFETY: write(2) on a descriptor `fd` keeps open for the call, from an 8-byte value
    // that lives across it: what an eventfd write takes.
    let _ = unsafe {
        nix::libc::syscall(
            nix::libc::SYS_write,
            fd.as_fd().as_raw_fd() as nix::libc::c_long,
            (&raw const one).cast::<u8>(),
            size_of::<u64>(),
        )
    };
}
