//! A worker's registry of its started, unfinished coroutines, for dumps (dump.rs).
//!
//! A task enters its home worker's registry when it first runs (`Processor::run`) and
//! leaves it when it finishes, or when its last reference is dropped without finishing
//! (`Task::drop`), so a pointer found in it under its lock is a live task. The registry
//! is a slab: slots do not move, so a dump can walk it a chunk at a time, releasing the
//! lock in between.
//!
//! The lock is a spinlock, not a `Mutex`: it is taken twice in every coroutine's life,
//! almost always by the worker that owns it and uncontended, where one compare-exchange
//! and one store are all it may cost (a `Mutex` guard also checks for a panic in
//! progress, a thread-local read). The only other holders are a dump, for one chunk
//! (about 1,000 slots, tens of microseconds), and a task finishing away from home
//! (with migration allowed, or one abandoned).

use std::cell::UnsafeCell;
use std::ptr;

use crate::loom::{AtomicBool, Ordering};
use crate::task::{self, Task};

pub(crate) struct Registry {
    locked: AtomicBool,
    slab: UnsafeCell<Slab>,
}

pub(crate) struct Slab {
    slots: Vec<*const Task>,
    free: Vec<usize>,
}

// SAFETY: the slab is only touched through `lock`, which gives one thread at a time
// access (the Acquire/Release pair below orders one holder's writes before the next
// holder's reads). Its pointers are only dereferenced under the lock, while the task
// they point to is alive (module docs); Task is Sync.
unsafe impl Sync for Registry {}
// SAFETY: as above; the raw pointers are the only non-Send part.
unsafe impl Send for Registry {}

pub(crate) struct Guard<'a>(&'a Registry);

impl Registry {
    pub(crate) fn new() -> Registry {
        Registry {
            locked: AtomicBool::new(false),
            slab: UnsafeCell::new(Slab {
                slots: Vec::new(),
                free: Vec::new(),
            }),
        }
    }

    pub(crate) fn lock(&self) -> Guard<'_> {
        // Acquire: pairs with the Release in `Guard::drop`.
        while self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            let mut spins = 0u32;
            while self.locked.load(Ordering::Relaxed) {
                spins += 1;
                if spins < 64 {
                    std::hint::spin_loop();
                } else {
                    std::thread::yield_now(); // the holder may have been preempted
                }
            }
        }
        Guard(self)
    }
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        self.0.locked.store(false, Ordering::Release);
    }
}

impl std::ops::Deref for Guard<'_> {
    type Target = Slab;

    fn deref(&self) -> &Slab {
        // SAFETY: we hold the lock.
        unsafe { &*self.0.slab.get() }
    }
}

impl std::ops::DerefMut for Guard<'_> {
    fn deref_mut(&mut self) -> &mut Slab {
        // SAFETY: we hold the lock.
        unsafe { &mut *self.0.slab.get() }
    }
}

impl Slab {
    pub(crate) fn insert(&mut self, task: &Task) {
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.slots.push(ptr::null());
                self.slots.len() - 1
            }
        };
        self.slots[slot] = task;
        task.info.slot.store(slot, Ordering::Relaxed);
    }

    pub(crate) fn remove(&mut self, task: &Task) {
        let slot = task.info.slot.swap(task::NO_SLOT, Ordering::Relaxed);
        if slot != task::NO_SLOT {
            self.slots[slot] = ptr::null();
            self.free.push(slot);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// The slots `start..end` (null where free).
    pub(crate) fn slots(&self, start: usize, end: usize) -> &[*const Task] {
        &self.slots[start..end]
    }
}
