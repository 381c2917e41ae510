//! Arenas: large `MAP_NORESERVE` mappings, one size class each, carved into slots.
//!
//! ```text
//!   arena start                                                      arena end
//!   |<-------- stride -------->|<-------- stride -------->|
//!   +-------+------------------+-------+------------------+------ - - -
//!   | guard | usable stack     | guard | usable stack     | ...
//!   +-------+------------------+-------+------------------+------ - - -
//!   ^ slot.low                 ^ top: the stack grows down from here
//! ```
//!
//! A slot gets its guard once, when carved, and keeps it for as long as its arena is
//! mapped. Arenas of a class grow geometrically (2 MiB, 4 MiB, ... up to 8 GiB of
//! address space), so a million 64 KiB stacks take about twenty arenas.
//!
//! Two kinds of class:
//! - **Pooled** (up to 4 MiB, the classes thread caches hold): arenas are never
//!   unmapped; their free slots go back to the pool (see `pool.rs`).
//! - **Reclaimable** (8 MiB to 1 GiB): each arena keeps its own free slots, and an
//!   arena none of whose slots is in use is unmapped, except the last one of its class
//!   (kept so that a loop of one huge coroutine at a time does not map and unmap every
//!   turn). A burst of huge stacks therefore leaves no dead arenas behind.
//!
//! # The registry
//!
//! Every mapped arena has an entry in a static table that the stack-overflow handler
//! searches (`guard_hit`): atomic loads only, no lock, no allocation. Entries are
//! reused once their arena is unmapped, so each is guarded by a sequence number
//! (a seqlock with one writer, the carver, under its lock):
//! 1. The writer makes the number odd, then (after a Release fence) writes the fields,
//!    then makes it even again with a Release store.
//! 2. The reader loads the number (Acquire), the fields, then (after an Acquire fence)
//!    the number again, and skips the entry if it was odd or changed.
//!
//! A skipped entry is one being rewritten: it describes an arena that is being mapped
//! (none of its slots handed out yet) or unmapped (none in use). Neither can hold the
//! stack of a running coroutine, so skipping it never hides a real overflow, and the
//! handler never waits (a fault in the writer's own thread, between steps, cannot hang).
//! An arena leaves the registry before it is unmapped, so a fault in memory the kernel
//! has since mapped for someone else is never taken for a guard page.

use std::collections::{BTreeMap, BTreeSet};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering, fence};

use memmap2::MmapMut;

use crate::size::{CLASSES, SizeClass};
use crate::{GuardMechanism, StackError, sys};

const FIRST_ARENA_BYTES: usize = 2 << 20;
const LARGEST_ARENA_BYTES: usize = 8 << 30;

/// Arenas mapped at once that the signal-handler registry can describe. At the largest
/// arena size that is 256 TiB, twice what a 47-bit address space holds, so the kernel
/// refuses more address space before this table fills. (The table is zeroed static
/// memory: pages the registry never reaches are never touched.)
pub(crate) const MAX_ARENAS: usize = 32 * 1024;

/// One arena as the signal handler sees it: `end == 0` marks a free entry. Written
/// only under the seqlock protocol of the module docs.
struct Entry {
    seq: AtomicUsize,
    start: AtomicUsize,
    end: AtomicUsize,
    stride: AtomicUsize,
    guard: AtomicUsize,
}

static REGISTRY: [Entry; MAX_ARENAS] = [const {
    Entry {
        seq: AtomicUsize::new(0),
        start: AtomicUsize::new(0),
        end: AtomicUsize::new(0),
        stride: AtomicUsize::new(0),
        guard: AtomicUsize::new(0),
    }
}; MAX_ARENAS];
/// Entries ever used (free ones included): the handler searches `REGISTRY[..REGISTERED]`.
/// Only grows; only the carver writes it, under its lock.
static REGISTERED: AtomicUsize = AtomicUsize::new(0);

/// A fault address that fell on a stack's guard page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuardHit {
    /// Usable size of the stack whose guard was hit, in bytes.
    pub stack_size: usize,
    /// Lowest usable address of that stack (just above its guard page).
    pub stack_bottom: usize,
    /// One past the highest address of that stack.
    pub stack_top: usize,
}

/// If `addr` lies in the guard page of any stack slot, describes that stack.
///
/// Async-signal-safe: only atomic loads over a static table, no allocation, no lock.
/// This is what the stack-overflow handler in goro-context calls.
///
/// # Examples
///
/// ```
/// let stack = goro_stack::Stack::new(64 * 1024)?;
/// let hit = goro_stack::guard_hit(stack.guard().as_ptr() as usize).unwrap();
/// assert_eq!(hit.stack_top, stack.top().as_ptr() as usize);
/// assert_eq!(goro_stack::guard_hit(stack.bottom().as_ptr() as usize), None);
/// # Ok::<(), goro_stack::StackError>(())
/// ```
pub fn guard_hit(addr: usize) -> Option<GuardHit> {
    // Acquire: pairs with the Release store in `Registry::publish`, so every entry it
    // counts has been written at least once.
    let n = REGISTERED.load(Ordering::Acquire);
    for entry in &REGISTRY[..n] {
        // Acquire: pairs with the writer's final Release store (step 1), so the fields
        // of the write that made `seq` even are visible.
        let seq = entry.seq.load(Ordering::Acquire);
        if seq % 2 == 1 {
            continue; // being rewritten: see the module docs
        }
        let start = entry.start.load(Ordering::Relaxed);
        let end = entry.end.load(Ordering::Relaxed);
        let stride = entry.stride.load(Ordering::Relaxed);
        let guard = entry.guard.load(Ordering::Relaxed);
        // Acquire fence: pairs with the writer's Release fence after it made `seq` odd,
        // so if any field above came from a later write, the load below sees `seq`
        // changed (step 2).
        fence(Ordering::Acquire);
        if entry.seq.load(Ordering::Relaxed) != seq || addr < start || addr >= end {
            continue;
        }
        let low = start + (addr - start) / stride * stride;
        return (addr - low < guard).then_some(GuardHit {
            stack_size: stride - guard,
            stack_bottom: low + guard,
            stack_top: low + stride,
        });
    }
    None
}

/// The writer's side of the registry; lives in the carver, behind its lock, so there
/// is one writer at a time.
#[derive(Default)]
struct Registry {
    /// Entries whose arena was unmapped, ready for reuse.
    free: Vec<usize>,
}

impl Registry {
    /// Publishes an arena to `guard_hit`; returns its entry's index.
    fn register(
        &mut self,
        start: usize,
        end: usize,
        stride: usize,
        guard: usize,
    ) -> Result<usize, StackError> {
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                let index = REGISTERED.load(Ordering::Relaxed);
                if index >= MAX_ARENAS {
                    return Err(StackError::Config(format!(
                        "goro-stack cannot track more than {MAX_ARENAS} stack arenas at once"
                    )));
                }
                index
            }
        };
        write_entry(&REGISTRY[index], start, end, stride, guard);
        if index == REGISTERED.load(Ordering::Relaxed) {
            // Release: publishes the entry's first write to `guard_hit`'s Acquire load.
            REGISTERED.store(index + 1, Ordering::Release);
        }
        Ok(index)
    }

    /// Withdraws an arena from `guard_hit`, before it is unmapped.
    fn unregister(&mut self, index: usize) {
        write_entry(&REGISTRY[index], 0, 0, 0, 0);
        self.free.push(index);
    }
}

/// Rewrites one entry under its sequence number (step 1 of the module docs).
fn write_entry(entry: &Entry, start: usize, end: usize, stride: usize, guard: usize) {
    let seq = entry.seq.load(Ordering::Relaxed);
    entry.seq.store(seq + 1, Ordering::Relaxed);
    // Release fence: orders the odd `seq` before the field stores below, for readers
    // that see any of them (pairs with the Acquire fence in `guard_hit`).
    fence(Ordering::Release);
    entry.start.store(start, Ordering::Relaxed);
    entry.end.store(end, Ordering::Relaxed);
    entry.stride.store(stride, Ordering::Relaxed);
    entry.guard.store(guard, Ordering::Relaxed);
    // Release: the fields above happen before any reader that sees the even number.
    entry.seq.store(seq + 2, Ordering::Release);
}

/// Bump allocation within the current arena of one class.
#[derive(Default)]
struct Bump {
    next: usize,
    end: usize,
    arenas: u32,
}

/// An arena of a reclaimable class, with its own free slots.
struct Reclaimable {
    /// Unmapped when this is dropped.
    map: MmapMut,
    class: SizeClass,
    /// Its entry in the registry.
    entry: usize,
    /// Slots it holds, and how many of them (from the start) are carved.
    slots: usize,
    carved: usize,
    /// Carved slots not in use.
    free: Vec<usize>,
}

impl Reclaimable {
    fn has_room(&self) -> bool {
        !self.free.is_empty() || self.carved < self.slots
    }
}

/// All carving state; lives behind the pool's carve lock. Slow path only.
pub(crate) struct Carver {
    guard: GuardMechanism,
    page: usize,
    registry: Registry,
    /// Pooled classes: bump allocation in the newest arena of each.
    bumps: [Bump; CLASSES],
    /// Pooled classes' arena mappings. Never dropped: their slots live in the pool.
    maps: Vec<MmapMut>,
    /// Reclaimable classes' arenas, by start address.
    reclaimable: BTreeMap<usize, Reclaimable>,
    /// Per reclaimable class: the arenas with a free or uncarved slot, lowest first, so
    /// that stacks pack into low arenas and the high ones drain.
    roomy: [BTreeSet<usize>; CLASSES],
    /// Per reclaimable class: arenas mapped now (new ones grow with it).
    mapped: [u32; CLASSES],
    /// Free slots held by reclaimable arenas.
    pub(crate) reclaimable_free: usize,
    pub(crate) carved: [usize; CLASSES],
    pub(crate) mappings: usize,
    pub(crate) limit: usize,
    pub(crate) max_map_count: usize,
    pub(crate) bytes_reserved: usize,
}

impl Carver {
    pub(crate) fn new(
        guard: GuardMechanism,
        page: usize,
        limit: usize,
        max_map_count: usize,
    ) -> Carver {
        Carver {
            guard,
            page,
            registry: Registry::default(),
            bumps: Default::default(),
            maps: Vec::new(),
            reclaimable: BTreeMap::new(),
            roomy: Default::default(),
            mapped: [0; CLASSES],
            reclaimable_free: 0,
            carved: [0; CLASSES],
            mappings: 0,
            limit,
            max_map_count,
            bytes_reserved: 0,
        }
    }

    fn stride(&self, class: SizeClass) -> usize {
        class.usable() + self.page
    }

    /// Bytes of a new arena of `class` when `arenas` of its arenas exist: geometric
    /// growth up to the largest arena, and at least one slot.
    fn arena_len(&self, class: SizeClass, arenas: u32) -> usize {
        let stride = self.stride(class);
        let target = FIRST_ARENA_BYTES
            .checked_shl(arenas)
            .unwrap_or(LARGEST_ARENA_BYTES)
            .min(LARGEST_ARENA_BYTES);
        (target / stride).max(1) * stride
    }

    fn budget_error(&self) -> StackError {
        budget_error(self.guard, self.limit, self.max_map_count)
    }

    /// Carves up to `want` (at least one) new guarded slots of a pooled `class`,
    /// pushing their low addresses onto `out`. Fails only if not even one slot can be
    /// had.
    pub(crate) fn carve(
        &mut self,
        class: SizeClass,
        want: usize,
        out: &mut Vec<usize>,
    ) -> Result<(), StackError> {
        let stride = self.stride(class);
        let per_stack = self.guard.mappings_per_stack();
        let before = out.len();
        while out.len() - before < want.max(1) {
            let bump = &self.bumps[class.index()];
            if bump.next + stride > bump.end {
                // A new arena costs one mapping; the slot in it costs `per_stack` more.
                if self.mappings + 1 + per_stack > self.limit {
                    break;
                }
                if let Err(err) = self.new_arena(class) {
                    if out.len() > before {
                        break;
                    }
                    return Err(err);
                }
                continue;
            }
            if self.mappings + per_stack > self.limit {
                break;
            }
            let low = bump.next;
            // SAFETY: `low` is a fresh, page-aligned slot inside an arena we own that
            // nobody has been handed yet; its first page becomes the guard.
            unsafe { sys::install_guard(nonnull(low), self.page, self.guard)? };
            self.bumps[class.index()].next += stride;
            self.mappings += per_stack;
            self.carved[class.index()] += 1;
            out.push(low);
        }
        if out.len() == before {
            return Err(self.budget_error());
        }
        Ok(())
    }

    fn new_arena(&mut self, class: SizeClass) -> Result<(), StackError> {
        let stride = self.stride(class);
        let len = self.arena_len(class, self.bumps[class.index()].arenas);
        let map = sys::map_arena(len)?;
        let start = map.as_ptr() as usize;
        self.registry
            .register(start, start + len, stride, self.page)?;
        let bump = &mut self.bumps[class.index()];
        bump.next = start;
        bump.end = start + len;
        bump.arenas += 1;
        self.maps.push(map);
        self.mappings += 1;
        self.bytes_reserved += len;
        Ok(())
    }

    /// Hands out a slot of a reclaimable `class`: a free one from the lowest arena
    /// that has one, else a newly carved one, in a new arena if need be.
    pub(crate) fn alloc_reclaimable(&mut self, class: SizeClass) -> Result<usize, StackError> {
        let stride = self.stride(class);
        let per_stack = self.guard.mappings_per_stack();
        let start = match self.roomy[class.index()].first() {
            Some(&start) => start,
            None => self.new_reclaimable(class)?,
        };
        let arena = self
            .reclaimable
            .get_mut(&start)
            .expect("a roomy arena is mapped");
        let low = if let Some(low) = arena.free.pop() {
            self.reclaimable_free -= 1;
            low
        } else {
            if self.mappings + per_stack > self.limit {
                return Err(budget_error(self.guard, self.limit, self.max_map_count));
            }
            let low = start + arena.carved * stride;
            // SAFETY: `low` is the next uncarved slot of an arena we own, page-aligned
            // and handed to nobody yet; its first page becomes the guard.
            unsafe { sys::install_guard(nonnull(low), self.page, self.guard)? };
            arena.carved += 1;
            self.mappings += per_stack;
            self.carved[class.index()] += 1;
            low
        };
        if !arena.has_room() {
            self.roomy[class.index()].remove(&start);
        }
        Ok(low)
    }

    /// Maps a new arena for a reclaimable `class`; returns its start.
    fn new_reclaimable(&mut self, class: SizeClass) -> Result<usize, StackError> {
        // A new arena costs one mapping; its first slot costs `per_stack` more.
        if self.mappings + 1 + self.guard.mappings_per_stack() > self.limit {
            return Err(self.budget_error());
        }
        let stride = self.stride(class);
        let len = self.arena_len(class, self.mapped[class.index()]);
        let map = sys::map_arena(len)?;
        let start = map.as_ptr() as usize;
        // On failure `map` is dropped, and so unmapped, here.
        let entry = self
            .registry
            .register(start, start + len, stride, self.page)?;
        self.reclaimable.insert(
            start,
            Reclaimable {
                map,
                class,
                entry,
                slots: len / stride,
                carved: 0,
                free: Vec::new(),
            },
        );
        self.roomy[class.index()].insert(start);
        self.mapped[class.index()] += 1;
        self.mappings += 1;
        self.bytes_reserved += len;
        Ok(start)
    }

    /// Takes back a slot of a reclaimable class. If that leaves its arena with no slot
    /// in use and the class has another arena, the arena leaves the registry and is
    /// unmapped.
    pub(crate) fn free_reclaimable(&mut self, low: usize) {
        let (&start, arena) = self
            .reclaimable
            .range_mut(..=low)
            .next_back()
            .expect("a reclaimable slot lies in a mapped arena");
        let class = arena.class.index();
        arena.free.push(low);
        self.reclaimable_free += 1;
        if arena.free.len() < arena.carved || self.mapped[class] == 1 {
            self.roomy[class].insert(start);
            return;
        }
        let arena = self
            .reclaimable
            .remove(&start)
            .expect("the arena was just found");
        self.roomy[class].remove(&start);
        // Out of the registry before the address range can be mapped again by anyone.
        self.registry.unregister(arena.entry);
        self.reclaimable_free -= arena.free.len();
        self.carved[class] -= arena.carved;
        self.mappings -= 1 + arena.carved * self.guard.mappings_per_stack();
        self.bytes_reserved -= arena.map.len();
        self.mapped[class] -= 1;
        // Every slot of it is free (none is a live `Stack`), so nothing refers to the
        // memory: dropping the mapping unmaps it.
        drop(arena);
    }
}

fn budget_error(guard: GuardMechanism, limit: usize, max_map_count: usize) -> StackError {
    StackError::MapBudget {
        max_map_count,
        limit,
        stacks: limit / guard.mappings_per_stack().max(1),
    }
}

#[inline]
pub(crate) fn nonnull(addr: usize) -> NonNull<u8> {
    NonNull::new(addr as *mut u8).expect("slot addresses are never null")
}
