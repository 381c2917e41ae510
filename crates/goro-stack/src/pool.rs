//! Pooling: a per-thread cache per size class in front of one shared free list.
//! (Classes above 4 MiB are not pooled: their slots go straight back to their arena,
//! see `reclaimable` and `arena.rs`.)
//!
//! The hot path (`Stack::new` and drop on a thread whose cache has a slot or room) is a
//! `Vec::pop`/`Vec::push` in a thread-local: no lock and no read-modify-write atomic.
//! Only plain stores of the cache length, for [`stats`](crate::stats).
//!
//! Slow paths, all batched to half a cache at a time:
//! 1. The cache is empty: take slots from the shared list (warm ones first: their top
//!    pages are still resident, so reuse does not fault), else carve new ones.
//! 2. The cache is full: move its coldest half to the shared list's *dirty* side.
//! 3. The thread exits: its whole cache goes to the dirty side.
//!
//! Trimming (`MADV_DONTNEED` below a slot's top pages, so that one deep call does not pin
//! memory for as long as the slot sits in a pool) is a syscall per slot, so it stays off
//! these paths. [`trim_shared`](crate::trim_shared) trims the dirty side (a scheduler's
//! monitor thread calls it periodically) and [`trim_cache`](crate::trim_cache) the
//! calling thread's cache (a worker calls it when it goes idle). Stacks that move between
//! threads, as coroutines spawned on one worker and finished on another do, then cost
//! two uncontended lock operations per 32 stacks and no syscall.

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};

use crate::arena::{Carver, nonnull};
use crate::size::{CLASSES, SizeClass};
use crate::{Config, GuardMechanism, StackError, Stats, sys};

/// Pages at the top of a slot kept resident when it is trimmed: what a typical
/// coroutine touches, so reuse does not page-fault.
const KEEP_PAGES: usize = 2;

/// A thread cache holds at most this many bytes of stack per class (and at most
/// [`MAX_CACHED`] slots), so deep use pins a bounded amount of memory per thread.
const CACHE_BYTES: usize = 4 << 20;
const MAX_CACHED: usize = 64;

pub(crate) struct Pool {
    pub(crate) guard: GuardMechanism,
    pub(crate) page: usize,
    carver: Mutex<Carver>,
    /// Free slots, by class, as low addresses.
    shared: [Mutex<Shared>; CLASSES],
    /// Slots on the dirty side of any shared list; lets `trim_shared` return at once.
    dirty: AtomicUsize,
    /// Every thread cache's per-class lengths, for stats.
    caches: Mutex<Vec<Weak<CacheCounts>>>,
}

static POOL: OnceLock<Result<Pool, String>> = OnceLock::new();

/// The page size, cached for `Stack`'s address arithmetic. Set before any slot exists.
static PAGE: AtomicUsize = AtomicUsize::new(0);

#[inline]
pub(crate) fn page() -> usize {
    PAGE.load(Ordering::Relaxed)
}

/// The process's pool, initialised from the environment on first use.
pub(crate) fn pool() -> Result<&'static Pool, StackError> {
    POOL.get_or_init(|| Pool::new(Config::new()))
        .as_ref()
        .map_err(|msg| StackError::Config(msg.clone()))
}

pub(crate) fn configure(config: Config) -> Result<(), StackError> {
    let mut fresh = false;
    let result = POOL.get_or_init(|| {
        fresh = true;
        Pool::new(config)
    });
    match result {
        Err(msg) => Err(StackError::Config(msg.clone())),
        Ok(_) if fresh => Ok(()),
        Ok(_) => Err(StackError::Config(
            "goro_stack::configure must be called before the first stack is allocated".into(),
        )),
    }
}

impl Pool {
    fn new(config: Config) -> Result<Pool, String> {
        let config = config.with_env().map_err(|e| e.to_string())?;
        let supported = sys::probe_guard_install();
        let guard = match config.guard {
            Some(GuardMechanism::MadviseGuard) if !supported => {
                return Err("GORO_STACK_GUARD=madvise: this kernel does not support \
                            MADV_GUARD_INSTALL (Linux 6.13+); use mprotect"
                    .into());
            }
            Some(guard) => guard,
            None if supported => GuardMechanism::MadviseGuard,
            None => GuardMechanism::Mprotect,
        };
        let max_map_count = sys::max_map_count().unwrap_or(65530);
        let limit = config
            .mapping_limit
            .unwrap_or(max_map_count - max_map_count / 16);
        let page = sys::page_size();
        PAGE.store(page, Ordering::Relaxed);
        Ok(Pool {
            guard,
            page,
            carver: Mutex::new(Carver::new(guard, page, limit, max_map_count)),
            shared: [const {
                Mutex::new(Shared {
                    dirty: Vec::new(),
                    clean: Vec::new(),
                })
            }; CLASSES],
            dirty: AtomicUsize::new(0),
            caches: Mutex::new(Vec::new()),
        })
    }

    fn carver(&self) -> MutexGuard<'_, Carver> {
        self.carver.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn shared(&self, class: SizeClass) -> MutexGuard<'_, Shared> {
        self.shared[class.index()]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Moves up to `want` free slots into `out`: from the shared list (dirty, i.e.
    /// warm, ones first), else freshly carved ones.
    fn take(&self, class: SizeClass, want: usize, out: &mut Vec<usize>) -> Result<(), StackError> {
        {
            let mut shared = self.shared(class);
            let from_dirty = want.min(shared.dirty.len());
            let at = shared.dirty.len() - from_dirty;
            out.extend(shared.dirty.drain(at..));
            // Relaxed: a hint for `trim_shared`, exact under the shared lists' locks.
            self.dirty.fetch_sub(from_dirty, Ordering::Relaxed);
            let from_clean = (want - from_dirty).min(shared.clean.len());
            let at = shared.clean.len() - from_clean;
            out.extend(shared.clean.drain(at..));
        }
        if out.is_empty() {
            self.carver().carve(class, want, out)?;
        }
        Ok(())
    }

    /// Puts slots on the shared list's dirty side, untrimmed.
    fn give(&self, class: SizeClass, slots: impl ExactSizeIterator<Item = usize>) {
        let n = slots.len();
        self.shared(class).dirty.extend(slots);
        self.dirty.fetch_add(n, Ordering::Relaxed);
    }

    /// Trims every dirty slot in the shared lists. The syscalls run without the lock.
    pub(crate) fn trim_shared(&self) {
        if self.dirty.load(Ordering::Relaxed) == 0 {
            return;
        }
        for index in 0..CLASSES {
            let class = SizeClass(index as u8);
            let dirty = std::mem::take(&mut self.shared(class).dirty);
            if dirty.is_empty() {
                continue;
            }
            self.dirty.fetch_sub(dirty.len(), Ordering::Relaxed);
            for &low in &dirty {
                self.trim(class, low);
            }
            self.shared(class).clean.extend(dirty);
        }
    }

    /// Returns the pages of a free slot below its top `KEEP_PAGES` to the kernel.
    fn trim(&self, class: SizeClass, low: usize) {
        let bottom = low + self.page;
        let len = class.usable().saturating_sub(KEEP_PAGES * self.page);
        if len > 0 {
            // SAFETY: the slot is free (owned by the pool, or by a Stack being dropped),
            // so nobody reads its memory again before it is handed out as a fresh stack.
            unsafe { sys::discard(nonnull(bottom), len) };
        }
    }

    pub(crate) fn stats(&self) -> Stats {
        let carver = self.carver();
        let carved: usize = carver.carved.iter().sum();
        let shared: usize = self
            .shared
            .iter()
            .map(|m| m.lock().map_or(0, |s| s.dirty.len() + s.clean.len()))
            .sum();
        let mut cached = 0;
        self.caches
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|weak| {
                let Some(counts) = weak.upgrade() else {
                    return false;
                };
                cached += counts
                    .0
                    .iter()
                    .map(|c| c.load(Ordering::Relaxed))
                    .sum::<usize>();
                true
            });
        let pooled = shared + cached + carver.reclaimable_free;
        Stats {
            guard: self.guard,
            live: carved.saturating_sub(pooled),
            pooled,
            bytes_reserved: carver.bytes_reserved,
            mappings: carver.mappings,
            mapping_limit: carver.limit,
            max_map_count: carver.max_map_count,
        }
    }
}

/// One class's shared free list. `dirty` slots came back from a thread cache and may
/// hold pages from deep use; `clean` ones are trimmed.
struct Shared {
    dirty: Vec<usize>,
    clean: Vec<usize>,
}

/// Per-class lengths of one thread's cache. Written only by the owning thread with
/// plain (Relaxed) stores; read by `stats` on any thread.
struct CacheCounts([AtomicUsize; CLASSES]);

struct LocalCache {
    slots: [Vec<usize>; CLASSES],
    counts: Option<Arc<CacheCounts>>,
}

thread_local! {
    static CACHE: RefCell<LocalCache> = const {
        RefCell::new(LocalCache { slots: [const { Vec::new() }; CLASSES], counts: None })
    };
}

fn cache_cap(class: SizeClass) -> usize {
    (CACHE_BYTES / class.usable()).min(MAX_CACHED)
}

/// Classes too large to cache (above 4 MiB) bypass the caches and the shared lists:
/// their arenas keep their own free slots and are unmapped when none is in use (see
/// `arena.rs`), so a burst of huge stacks does not hold address space and registry
/// entries for the rest of the process.
#[inline]
fn reclaimable(class: SizeClass) -> bool {
    // The same as `cache_cap(class) == 0` (a unit test checks), as one compare on the
    // hot path: the class of CACHE_BYTES is the largest cached one.
    const LARGEST_CACHED: u8 =
        (CACHE_BYTES.trailing_zeros() - crate::MIN_STACK_SIZE.trailing_zeros()) as u8;
    class.0 > LARGEST_CACHED
}

impl LocalCache {
    fn publish(&mut self, pool: &Pool, class: SizeClass) {
        let counts = self.counts.get_or_insert_with(|| {
            let counts = Arc::new(CacheCounts([const { AtomicUsize::new(0) }; CLASSES]));
            pool.caches
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(Arc::downgrade(&counts));
            counts
        });
        counts.0[class.index()].store(self.slots[class.index()].len(), Ordering::Relaxed);
    }

    fn pop(&mut self, pool: &Pool, class: SizeClass) -> Result<usize, StackError> {
        let slots = &mut self.slots[class.index()];
        let low = match slots.pop() {
            Some(low) => low,
            None => {
                pool.take(class, (cache_cap(class) / 2).max(1), slots)?;
                slots
                    .pop()
                    .expect("take returns at least one slot or an error")
            }
        };
        self.publish(pool, class);
        Ok(low)
    }

    fn push(&mut self, pool: &Pool, class: SizeClass, low: usize) {
        let cap = cache_cap(class);
        let slots = &mut self.slots[class.index()];
        if slots.len() >= cap {
            // Overflow: the coldest half (the bottom of the LIFO) goes to the shared list.
            pool.give(class, slots.drain(..(cap / 2).max(1)));
        }
        slots.push(low);
        self.publish(pool, class);
    }
}

impl Drop for LocalCache {
    fn drop(&mut self) {
        if let Ok(pool) = pool() {
            for (index, slots) in self.slots.iter_mut().enumerate() {
                pool.give(SizeClass(index as u8), slots.drain(..));
            }
        }
    }
}

pub(crate) fn alloc(class: SizeClass) -> Result<usize, StackError> {
    let pool = pool()?;
    if reclaimable(class) {
        return alloc_reclaimable(pool, class);
    }
    CACHE
        .try_with(|cache| cache.borrow_mut().pop(pool, class))
        .unwrap_or_else(|_| {
            // This thread's cache is already destroyed (we are in a TLS destructor).
            let mut one = Vec::with_capacity(1);
            pool.take(class, 1, &mut one)?;
            Ok(one[0])
        })
}

pub(crate) fn free(class: SizeClass, low: usize) {
    let pool = pool().expect("a stack exists, so the pool was initialised");
    if reclaimable(class) {
        return free_reclaimable(pool, class, low);
    }
    if CACHE
        .try_with(|cache| cache.borrow_mut().push(pool, class, low))
        .is_err()
    {
        pool.give(class, std::iter::once(low));
    }
}

// The huge classes' paths stay out of line: the ordinary ones are the hot path.
#[cold]
#[inline(never)]
fn alloc_reclaimable(pool: &Pool, class: SizeClass) -> Result<usize, StackError> {
    pool.carver().alloc_reclaimable(class)
}

#[cold]
#[inline(never)]
fn free_reclaimable(pool: &Pool, class: SizeClass, low: usize) {
    // Trimmed now, outside the lock: one deep use of such a stack can hold many
    // megabytes, and its arena may stay mapped.
    pool.trim(class, low);
    pool.carver().free_reclaimable(low);
}

/// Trims the shared lists' dirty slots.
pub(crate) fn trim_shared() {
    if let Ok(pool) = pool() {
        pool.trim_shared();
    }
}

/// Trims every slot in the calling thread's cache.
pub(crate) fn trim_cache() {
    let Ok(pool) = pool() else { return };
    let _ = CACHE.try_with(|cache| {
        for (index, slots) in cache.borrow().slots.iter().enumerate() {
            for &low in slots {
                pool.trim(SizeClass(index as u8), low);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_the_uncached_classes_are_reclaimable() {
        for index in 0..CLASSES {
            let class = SizeClass(index as u8);
            assert_eq!(reclaimable(class), cache_cap(class) == 0, "{class:?}");
        }
        assert!(!reclaimable(SizeClass::for_size(4 << 20).unwrap()));
        assert!(reclaimable(SizeClass::for_size(8 << 20).unwrap()));
    }
}
