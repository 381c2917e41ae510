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
//! A slot gets its guard once, when carved, and keeps it for life; slots are never
//! unmapped, only pooled. That makes the registry below safe to read from a signal
//! handler: an entry, once published, stays valid until the process exits.
//!
//! Arenas of a class grow geometrically (2 MiB, 4 MiB, ... up to 8 GiB of address
//! space), so a million 64 KiB stacks take about twenty arenas.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};

use memmap2::MmapMut;

use crate::size::{CLASSES, SizeClass};
use crate::{GuardMechanism, StackError, sys};

const FIRST_ARENA_BYTES: usize = 2 << 20;
const LARGEST_ARENA_BYTES: usize = 8 << 30;

/// Arenas the signal-handler registry can describe. With geometric growth that is
/// far more address space than a process can use.
const MAX_ARENAS: usize = 4096;

/// One arena as the signal handler sees it. Written once, before `REGISTERED` counts
/// it, and never changed.
struct Entry {
    start: AtomicUsize,
    end: AtomicUsize,
    stride: AtomicUsize,
    guard: AtomicUsize,
}

static REGISTRY: [Entry; MAX_ARENAS] = [const {
    Entry {
        start: AtomicUsize::new(0),
        end: AtomicUsize::new(0),
        stride: AtomicUsize::new(0),
        guard: AtomicUsize::new(0),
    }
}; MAX_ARENAS];
/// Entries published so far. Only `register` writes it, under the carver's lock.
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
    // Acquire: pairs with the Release store in `register`, so every entry it counts
    // is fully written.
    let n = REGISTERED.load(Ordering::Acquire);
    for entry in &REGISTRY[..n] {
        let start = entry.start.load(Ordering::Relaxed);
        let end = entry.end.load(Ordering::Relaxed);
        if addr < start || addr >= end {
            continue;
        }
        let stride = entry.stride.load(Ordering::Relaxed);
        let guard = entry.guard.load(Ordering::Relaxed);
        let low = start + (addr - start) / stride * stride;
        return (addr - low < guard).then_some(GuardHit {
            stack_size: stride - guard,
            stack_bottom: low + guard,
            stack_top: low + stride,
        });
    }
    None
}

/// Publishes an arena to `guard_hit`. Called only under the carver's lock, so there
/// is one writer at a time.
fn register(start: usize, end: usize, stride: usize, guard: usize) -> Result<(), StackError> {
    let index = REGISTERED.load(Ordering::Relaxed);
    if index >= MAX_ARENAS {
        return Err(StackError::Config(format!(
            "goro-stack cannot track more than {MAX_ARENAS} stack arenas"
        )));
    }
    let entry = &REGISTRY[index];
    entry.start.store(start, Ordering::Relaxed);
    entry.end.store(end, Ordering::Relaxed);
    entry.stride.store(stride, Ordering::Relaxed);
    entry.guard.store(guard, Ordering::Relaxed);
    // Release: publishes the entry's fields to `guard_hit`'s Acquire load.
    REGISTERED.store(index + 1, Ordering::Release);
    Ok(())
}

/// Bump allocation within the current arena of one class.
#[derive(Default)]
struct Bump {
    next: usize,
    end: usize,
    arenas: u32,
}

/// All carving state; lives behind the pool's carve lock. Slow path only.
pub(crate) struct Carver {
    guard: GuardMechanism,
    page: usize,
    bumps: [Bump; CLASSES],
    /// The arena mappings themselves. Never dropped: slots live for the process.
    maps: Vec<MmapMut>,
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
            bumps: Default::default(),
            maps: Vec::new(),
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

    /// Carves up to `want` (at least one) new guarded slots of `class`, pushing their
    /// low addresses onto `out`. Fails only if not even one slot can be had.
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
            return Err(StackError::MapBudget {
                max_map_count: self.max_map_count,
                limit: self.limit,
                stacks: self.limit / per_stack.max(1),
            });
        }
        Ok(())
    }

    fn new_arena(&mut self, class: SizeClass) -> Result<(), StackError> {
        let stride = self.stride(class);
        let bump = &mut self.bumps[class.index()];
        let target = FIRST_ARENA_BYTES
            .checked_shl(bump.arenas)
            .unwrap_or(LARGEST_ARENA_BYTES)
            .min(LARGEST_ARENA_BYTES);
        let slots = (target / stride).max(1);
        let len = slots * stride;
        let map = sys::map_arena(len)?;
        let start = map.as_ptr() as usize;
        register(start, start + len, stride, self.page)?;
        bump.next = start;
        bump.end = start + len;
        bump.arenas += 1;
        self.maps.push(map);
        self.mappings += 1;
        self.bytes_reserved += len;
        Ok(())
    }
}

#[inline]
pub(crate) fn nonnull(addr: usize) -> NonNull<u8> {
    NonNull::new(addr as *mut u8).expect("slot addresses are never null")
}
