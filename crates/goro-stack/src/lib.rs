//! Memory for coroutine stacks: guarded slots carved from large arena mappings,
//! pooled per thread.
//!
//! This crate is the part of [goro](https://docs.rs/goro) that makes every `mmap`,
//! `madvise` and `mprotect` call. It knows nothing of coroutines: it hands out
//! [`Stack`]s, address ranges with a guard page below them, and takes them back.
//!
//! # Why arenas
//!
//! Mapping each stack separately and protecting a guard page with `mprotect` costs two
//! kernel mappings (VMAs) per stack, so a default Linux (`vm.max_map_count` = 65530)
//! runs out at about 32,700 stacks. goro-stack instead carves stacks out of a few large
//! `MAP_NORESERVE` arenas and installs each guard with `madvise(MADV_GUARD_INSTALL)`
//! (Linux 6.13+), a page-table marker that adds no mapping: a million guarded stacks
//! cost a few dozen mappings. On older kernels it falls back to `mprotect` guards and
//! counts its mapping budget, so running out is an error that names
//! `vm.max_map_count`, never a crash.
//!
//! Nothing here touches a stack's low pages, and arenas are lazily committed, so a
//! parked coroutine costs about the one page it actually used.
//!
//! # Size classes and pools
//!
//! Sizes are rounded up to powers of two from 16 KiB to 1 GiB ([`DEFAULT_STACK_SIZE`]
//! is 64 KiB). Freed stacks go to a per-thread cache (no lock, no atomic
//! read-modify-write) in front of a shared free list. Free stacks are trimmed with
//! `MADV_DONTNEED` in batches ([`trim_cache`], [`trim_shared`]) so a deep call does not
//! pin memory forever.
//!
//! Stacks above 4 MiB are rare and costly in address space, so they are not pooled:
//! their arenas keep their own free slots and are unmapped once none of their stacks is
//! in use (one arena per size is kept for reuse). A burst of huge stacks thus leaves no
//! address space behind, and no entries in the table the overflow handler searches.
//! That table describes at most 32,768 arenas mapped at once; at the largest arena
//! size (8 GiB) this is more than a 47-bit address space holds, so `mmap` refuses
//! before the table fills.
//!
//! # Examples
//!
//! ```
//! use goro_stack::{Stack, DEFAULT_STACK_SIZE};
//!
//! let stack = Stack::new(DEFAULT_STACK_SIZE)?;
//! assert_eq!(stack.size(), 64 * 1024);
//! assert!(stack.bottom() < stack.top());
//! drop(stack); // back to this thread's cache, ready for the next coroutine
//!
//! let err = Stack::new(100).unwrap_err();
//! assert!(err.to_string().contains("16 KiB minimum"));
//! # Ok::<(), goro_stack::StackError>(())
//! ```
//!
//! # Environment
//!
//! - `GORO_STACK_GUARD=madvise|mprotect|auto` picks the guard mechanism (default: probe).
//! - `GORO_STACK_MAX_MAPS=N` caps the kernel mappings goro-stack may use (default:
//!   `vm.max_map_count` minus a sixteenth for the rest of the process).

mod arena;
mod config;
mod error;
mod pool;
mod size;
mod sys;

use std::fmt;
use std::ptr::NonNull;

pub use arena::{GuardHit, guard_hit};
pub use config::{Config, GuardMechanism};
pub use error::StackError;
pub use size::{DEFAULT_STACK_SIZE, MAX_STACK_SIZE, MIN_STACK_SIZE};

use size::SizeClass;

/// A guarded stack: `size()` usable bytes between [`bottom`](Stack::bottom) and
/// [`top`](Stack::top), with a guard page directly below `bottom` that faults on any
/// access.
///
/// Dropping a `Stack` returns its slot to the calling thread's pool; the memory stays
/// mapped and guarded, ready for the next coroutine. (A stack above 4 MiB goes back to
/// its arena instead, which is unmapped if none of its stacks is left in use.)
pub struct Stack {
    low: NonNull<u8>,
    class: SizeClass,
}

// SAFETY: a Stack is the exclusive owner of an address range that stays mapped at least
// as long as the Stack exists (an arena is unmapped only when none of its slots is a
// live Stack); it holds no reference to thread-local state, and the pool it returns to
// on drop accepts slots from any thread.
unsafe impl Send for Stack {}
// SAFETY: `&Stack` only exposes addresses, never the memory behind them.
unsafe impl Sync for Stack {}

impl Stack {
    /// Takes a stack of at least `size` usable bytes (rounded up to a power of two)
    /// from the pool, carving a new guarded slot if the pool is empty.
    ///
    /// # Examples
    ///
    /// ```
    /// let stack = goro_stack::Stack::new(40 * 1024)?;
    /// assert_eq!(stack.size(), 64 * 1024);
    /// # Ok::<(), goro_stack::StackError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// - [`StackError::InvalidSize`] for zero, less than 16 KiB or more than 1 GiB.
    /// - [`StackError::MapBudget`] when one more stack would pass the kernel's mapping
    ///   limit (only with `mprotect` guards); the message names `vm.max_map_count`.
    /// - [`StackError::Config`] when `GORO_STACK_GUARD`/`GORO_STACK_MAX_MAPS` are invalid.
    /// - [`StackError::Os`] when the kernel refuses to map more address space.
    pub fn new(size: usize) -> Result<Stack, StackError> {
        let class = SizeClass::for_size(size)?;
        let low = pool::alloc(class)?;
        Ok(Stack {
            low: arena::nonnull(low),
            class,
        })
    }

    /// One past the highest usable address: where a new stack's pointer starts.
    /// Page-aligned.
    #[inline]
    pub fn top(&self) -> NonNull<u8> {
        arena::nonnull(self.bottom().as_ptr() as usize + self.size())
    }

    /// The lowest usable address, directly above the guard page.
    #[inline]
    pub fn bottom(&self) -> NonNull<u8> {
        arena::nonnull(self.low.as_ptr() as usize + pool::page())
    }

    /// The lowest address of the guard page (the stack's absolute limit).
    #[inline]
    pub fn guard(&self) -> NonNull<u8> {
        self.low
    }

    /// Usable bytes, excluding the guard page: a power of two of at least 16 KiB.
    #[inline]
    pub fn size(&self) -> usize {
        self.class.usable()
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        pool::free(self.class, self.low.as_ptr() as usize);
    }
}

impl fmt::Debug for Stack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stack")
            .field("bottom", &self.bottom())
            .field("top", &self.top())
            .field("size", &self.size())
            .finish()
    }
}

/// A snapshot of the process's stack pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// How guard pages are made in this process.
    pub guard: GuardMechanism,
    /// Stacks handed out and not yet dropped.
    pub live: usize,
    /// Free stacks kept for reuse (thread caches, the shared list, and the free slots
    /// of arenas of stacks above 4 MiB).
    pub pooled: usize,
    /// Address space reserved by arenas, in bytes (not memory in use: arenas are
    /// committed page by page as stacks touch them).
    pub bytes_reserved: usize,
    /// Kernel mappings (VMAs) goro-stack accounts for: one per arena, plus two per
    /// stack with `mprotect` guards.
    pub mappings: usize,
    /// How many mappings goro-stack allows itself.
    pub mapping_limit: usize,
    /// The kernel's `vm.max_map_count`.
    pub max_map_count: usize,
}

/// Returns a snapshot of the stack pool, initialising it if needed.
///
/// # Examples
///
/// ```
/// let stack = goro_stack::Stack::new(goro_stack::DEFAULT_STACK_SIZE)?;
/// let stats = goro_stack::stats()?;
/// assert!(stats.live >= 1);
/// println!("guards by {}, {} mappings", stats.guard, stats.mappings);
/// # drop(stack);
/// # Ok::<(), goro_stack::StackError>(())
/// ```
///
/// # Errors
///
/// [`StackError::Config`] if the environment's settings are invalid.
pub fn stats() -> Result<Stats, StackError> {
    Ok(pool::pool()?.stats())
}

/// Checks a requested stack size without allocating anything: returns the usable size
/// a stack of that request gets (the next power of two), or why it is refused.
///
/// # Examples
///
/// ```
/// assert_eq!(goro_stack::validate_size(40 * 1024)?, 64 * 1024);
/// assert!(goro_stack::validate_size(1024).is_err());
/// # Ok::<(), goro_stack::StackError>(())
/// ```
///
/// # Errors
///
/// [`StackError::InvalidSize`] for zero, less than 16 KiB or more than 1 GiB.
pub fn validate_size(size: usize) -> Result<usize, StackError> {
    SizeClass::for_size(size).map(SizeClass::usable)
}

/// The guard mechanism of the process's pool, initialising it if needed: whether
/// stacks are budgeted ([`GuardMechanism::Mprotect`] costs kernel mappings) or not.
///
/// # Examples
///
/// ```
/// let guard = goro_stack::guard_mechanism()?;
/// println!("stacks are guarded by {guard}");
/// # Ok::<(), goro_stack::StackError>(())
/// ```
///
/// # Errors
///
/// [`StackError::Config`] if the environment's settings are invalid.
pub fn guard_mechanism() -> Result<GuardMechanism, StackError> {
    Ok(pool::pool()?.guard)
}

/// Sets the pool's configuration. Must come before the first [`Stack::new`].
///
/// # Examples
///
/// ```
/// use goro_stack::{Config, GuardMechanism};
///
/// // In a fresh process, before any stack exists:
/// let _ = goro_stack::configure(Config::new().guard(GuardMechanism::Mprotect));
/// ```
///
/// # Errors
///
/// [`StackError::Config`] if a stack was already allocated (the pool is configured
/// once), if the environment's settings are invalid, or if `MadviseGuard` was asked for
/// on a kernel without `MADV_GUARD_INSTALL`.
pub fn configure(config: Config) -> Result<(), StackError> {
    pool::configure(config)
}

/// Returns to the kernel the pages of every stack in the calling thread's cache,
/// except the top two pages of each.
///
/// A scheduler calls this when a worker goes idle, so that stacks kept warm for reuse
/// do not hold on to memory from a deep call.
///
/// # Examples
///
/// ```
/// drop(goro_stack::Stack::new(1 << 20)?);
/// goro_stack::trim_cache();
/// # Ok::<(), goro_stack::StackError>(())
/// ```
pub fn trim_cache() {
    pool::trim_cache();
}

/// Returns to the kernel the pages of every free stack that came back to the shared
/// free list since the last call, except the top two pages of each.
///
/// Stacks reach the shared list when a thread's cache overflows or the thread exits.
/// Trimming them costs a syscall per stack, so it is not done on the way in; a
/// scheduler's monitor thread calls this periodically. Returns at once if there is
/// nothing to trim.
///
/// # Examples
///
/// ```
/// // A thread that used deep stacks exits: its cached stacks go to the shared list.
/// std::thread::spawn(|| drop(goro_stack::Stack::new(1 << 20))).join().unwrap();
/// goro_stack::trim_shared();
/// ```
pub fn trim_shared() {
    pool::trim_shared();
}
