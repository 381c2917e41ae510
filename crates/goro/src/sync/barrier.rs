//! `Barrier`: `n` parties meet, then all go on; reusable.

use std::fmt;

use super::waitq::{self, WaitList};
use crate::loom::unmodelled::Mutex as StdMutex;

/// Token: the generation is complete.
const RELEASED: usize = 1;

#[derive(Debug)]
struct State {
    arrived: usize,
    waiters: WaitList,
}

/// Lets `n` coroutines or threads wait for each other, like `std::sync::Barrier`.
///
/// Each [`wait`](Barrier::wait) parks (or blocks) until `n` callers have arrived; then
/// all `n` return, exactly one of them as the leader, and the barrier is ready for the
/// next round.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use goro::sync::Barrier;
///
/// let barrier = Arc::new(Barrier::new(5));
/// let handles: Vec<_> = (0..5)
///     .map(|_| {
///         let b = barrier.clone();
///         goro::go!(move || b.wait().is_leader())
///     })
///     .collect();
/// let leaders = handles.into_iter().map(|h| h.join().unwrap());
/// assert_eq!(leaders.filter(|&l| l).count(), 1);
/// ```
pub struct Barrier {
    n: usize,
    state: StdMutex<State>,
}

/// What [`Barrier::wait`] returns: whether this caller is the round's leader.
///
/// # Examples
///
/// ```
/// let barrier = goro::sync::Barrier::new(1);
/// assert!(barrier.wait().is_leader()); // alone, so the leader
/// ```
#[derive(Debug)]
pub struct BarrierWaitResult(bool);

impl BarrierWaitResult {
    /// `true` for exactly one caller per round: the last to arrive.
    pub fn is_leader(&self) -> bool {
        self.0
    }
}

impl Barrier {
    /// A barrier for `n` parties. `new(0)` behaves as `new(1)`: every `wait` returns at
    /// once, as the leader.
    ///
    /// # Examples
    ///
    /// ```
    /// let barrier = goro::sync::Barrier::new(3);
    /// # drop(barrier);
    /// ```
    pub const fn new(n: usize) -> Barrier {
        Barrier {
            n,
            state: StdMutex::new(State {
                arrived: 0,
                waiters: WaitList::new(),
            }),
        }
    }

    /// Parks the calling coroutine (or blocks the thread) until `n` callers have
    /// called `wait` in this round, then returns; the last to arrive is the leader.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// let barrier = Arc::new(goro::sync::Barrier::new(2));
    /// let b = barrier.clone();
    /// // A spawned thread and the main thread meet; one of them leads.
    /// let t = std::thread::spawn(move || b.wait().is_leader());
    /// let c = barrier.wait().is_leader();
    /// assert!(t.join().unwrap() != c);
    /// ```
    #[track_caller]
    pub fn wait(&self) -> BarrierWaitResult {
        let waiter = {
            let mut state = waitq::lock(&self.state);
            state.arrived += 1;
            if state.arrived < self.n {
                Some(state.waiters.push(0))
            } else {
                state.arrived = 0;
                let woken = state.waiters.wake_all(RELEASED);
                drop(state);
                waitq::unpark_all(woken);
                None
            }
        };
        match waiter {
            Some(waiter) => {
                waiter.wait(goro_sched::Wait::new(goro_sched::WaitReason::Barrier));
                BarrierWaitResult(false)
            }
            None => BarrierWaitResult(true),
        }
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier")
            .field("n", &self.n)
            .finish_non_exhaustive()
    }
}
