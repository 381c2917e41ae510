//! Task control blocks recycled through a per-thread cache in front of one shared free
//! list, as goro-stack pools stacks.
//!
//! Every spawn allocates a `Task` (an `Arc`), and a fan-out frees it on another worker
//! than the one that allocated it: with glibc's malloc that free takes the allocating
//! thread's arena lock, which the allocating thread holds for its own allocations, so the
//! two contend on every spawn. Here a task's block is kept instead when the worker that
//! finishes it (or the `JoinHandle` dropped after it finished) holds its last reference,
//! and the next spawn re-initializes it in place (`Task::renew`), without malloc.
//!
//! `Arc` takes no custom allocator on stable Rust, so the block is recycled as a whole
//! `Arc<Task>`: one whose strong count is 1 and that nobody else can reach (no queue,
//! registry or waiter holds it; `Arc::get_mut` checks this, so no `unsafe` is needed).
//! A task whose result is not `()` is not kept: its result's destructor is user code,
//! which `Task::drop` hands to `drop_result`.
//!
//! Fast path: a `Vec` push or pop in a thread-local. Slow paths, batched: a full cache
//! moves half of its blocks to the shared list; an empty one takes a batch from it. The
//! shared list is bounded; beyond it, blocks go back to malloc.

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::task::Task;

/// Blocks a thread keeps for itself.
const CACHE: usize = 64;
/// Blocks moved to or from the shared list at a time.
const BATCH: usize = CACHE / 2;
/// Blocks the shared list keeps (a few hundred KiB).
const SHARED: usize = 2048;

static FREE: Mutex<Vec<Arc<Task>>> = Mutex::new(Vec::new());
/// `FREE`'s length, stored under its lock: a spawner that outruns the workers finishing
/// its coroutines finds the list empty, and reads this instead of taking the lock (which
/// the finishing workers take to fill it) on every spawn.
static FREE_LEN: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static CACHED: RefCell<Vec<Arc<Task>>> = const { RefCell::new(Vec::new()) };
}

/// A finished task's block to re-initialize: unique (`Arc::get_mut` succeeds on it).
///
/// Not inlined, nor is `retire`: they are called from coroutine code, and a thread-local's
/// address must not be computed once across a suspension in a coroutine that may migrate
/// (see goro-context's current.rs).
#[inline(never)]
pub(crate) fn take() -> Option<Arc<Task>> {
    CACHED
        .try_with(|cached| {
            let mut cached = cached.borrow_mut();
            if let Some(task) = cached.pop() {
                return Some(task);
            }
            if FREE_LEN.load(Ordering::Relaxed) == 0 {
                return None;
            }
            let mut free = FREE.lock().unwrap_or_else(|e| e.into_inner());
            let from = free.len().saturating_sub(BATCH);
            cached.extend(free.drain(from..));
            FREE_LEN.store(free.len(), Ordering::Relaxed);
            drop(free);
            cached.pop()
        })
        .ok()
        .flatten()
}

/// Drops one reference to a task, keeping its block if it was the last one and the task
/// is finished with a `()` result (see the module docs); otherwise an ordinary drop.
#[inline(never)]
pub(crate) fn retire(mut task: Arc<Task>) {
    // A plain load first: most references dropped are not the last one, and for those
    // `get_mut`'s compare-exchange would be wasted. A count of 1 cannot grow behind our
    // back: only the holder of a reference can make another.
    if Arc::strong_count(&task) != 1 {
        return;
    }
    let Some(dead) = Arc::get_mut(&mut task) else {
        return;
    };
    if !dead.clear_for_reuse() {
        return;
    }
    let _ = CACHED.try_with(|cached| {
        let mut cached = cached.borrow_mut();
        if cached.len() < CACHE {
            cached.push(task);
            return;
        }
        let mut free = FREE.lock().unwrap_or_else(|e| e.into_inner());
        let room = SHARED.saturating_sub(free.len()).min(BATCH);
        let from = cached.len() - room;
        free.extend(cached.drain(from..));
        FREE_LEN.store(free.len(), Ordering::Relaxed);
        drop(free);
        if cached.len() < CACHE {
            cached.push(task);
        }
        // else: the shared list is full; this one goes back to malloc.
    });
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// A block is reused only when its last reference is retired with a unit result,
    /// and a reused block starts out as a fresh task.
    #[test]
    fn keeps_only_unique_finished_unit_tasks() {
        let new = || {
            let pending = crate::task::Pending {
                f: Box::new(|| Box::new(()) as crate::task::Output),
                stack_size: goro_stack::DEFAULT_STACK_SIZE,
                stack: None,
            };
            Task::new(pending, true, None, std::panic::Location::caller())
        };
        // Drain whatever this thread holds, so `take` below sees only ours.
        CACHED.with(|c| c.borrow_mut().clear());

        // Not finished: not kept.
        let task = new();
        retire(task.clone());
        retire(task);
        assert_eq!(CACHED.with(|c| c.borrow().len()), 0);

        // Finished with (): kept once its last reference goes.
        let task = new();
        task.finish(Ok(Box::new(())));
        let other = task.clone();
        retire(task);
        assert_eq!(
            CACHED.with(|c| c.borrow().len()),
            0,
            "another reference lives"
        );
        retire(other);
        assert_eq!(CACHED.with(|c| c.borrow().len()), 1);

        let reused = new();
        assert_eq!(CACHED.with(|c| c.borrow().len()), 0, "the block was reused");
        assert!(!reused.is_finished());
        assert_eq!(reused.home(), crate::task::NO_HOME);

        // Finished with a value that has a destructor: not kept.
        reused.finish(Ok(Box::new(String::from("x"))));
        retire(reused);
        assert_eq!(CACHED.with(|c| c.borrow().len()), 0);
    }
}
