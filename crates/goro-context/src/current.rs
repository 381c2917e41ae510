//! The thread-local view of "the coroutine running on this thread", which lets deep
//! code (a channel receive, a mutex) suspend it without being handed a yielder.
//!
//! Every access to `CURRENT` that coroutine code makes goes through an
//! `#[inline(never)]` function (`enter`, `set_current`, `current_ptr`). A coroutine
//! that migrates (only with `allow_migration`) resumes on another thread, and LLVM
//! assumes a function's thread pointer never changes: an inlined access could reuse the
//! address of the *old* thread's variable after a suspension. A non-inlined call
//! recomputes the address every time. (`thread_id` and `next_id` are only used outside
//! suspension points: on the resume path and at creation.)

use std::any::Any;
use std::cell::Cell;
use std::ptr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use corosensei::Yielder;

use crate::{NotInCoroutine, Reason};

/// What the running coroutine's code can see of itself. Lives inside its `Coroutine`
/// and is pointed to by `CURRENT` only while that coroutine runs (or is being unwound),
/// so the pointer is never stale.
#[derive(Debug)]
pub(crate) struct Info {
    /// The yielder at the root of the coroutine's stack, written on first entry.
    pub(crate) yielder: Cell<*const Yielder<(), Reason>>,
    pub(crate) id: u64,
    pub(crate) name: Option<Arc<str>>,
    /// Top of the coroutine's stack: identifies it to the overflow handler.
    pub(crate) stack_top: usize,
    /// Set while the coroutine is being force-unwound because it was dropped.
    pub(crate) dropping: Cell<bool>,
    /// Where a panic from dropping an unstarted coroutine's closure goes, while this
    /// coroutine drops one: a local of that `Coroutine::drop`, or null.
    pub(crate) drop_panic: Cell<*mut Option<Payload>>,
}

thread_local! {
    static CURRENT: Cell<*const Info> = const { Cell::new(ptr::null()) };
    static THREAD: Cell<u64> = const { Cell::new(0) };
    static IDS: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
    /// Set by `TeardownWatch`'s destructor. No destructor of its own, so it can be
    /// read at any point of the thread's teardown.
    static TORN_DOWN: Cell<bool> = const { Cell::new(false) };
    /// Registered (first touched) by `init_thread`, before the thread's first
    /// coroutine runs.
    static WATCH: TeardownWatch = const { TeardownWatch };
    /// `Info::drop_panic` for code outside any coroutine. No destructor.
    static DROP_PANIC: Cell<*mut Option<Payload>> = const { Cell::new(ptr::null_mut()) };
}

pub(crate) type Payload = Box<dyn Any + Send>;

/// The running coroutine's `drop_panic`, or the plain thread's.
///
/// Per coroutine, not per thread: a capture's destructor may suspend the coroutine in
/// the middle of a `Coroutine::drop`, and while it is suspended another coroutine on
/// the thread may drop one of its own; with one slot per thread each would restore the
/// other's and one could write into a frame that is gone. A plain thread cannot
/// suspend, so its drops nest strictly.
fn drop_panic_cell<T>(f: impl FnOnce(&Cell<*mut Option<Payload>>) -> T) -> T {
    // SAFETY: as in `current`: a non-null CURRENT points at the running coroutine's
    // Info, which stays in place while it runs (for the duration of this call).
    match unsafe { current_ptr().as_ref() } {
        Some(info) => f(&info.drop_panic),
        None => DROP_PANIC.with(f),
    }
}

/// Makes `slot` the place for `stash_drop_panic`; returns the previous one, which the
/// caller puts back (drops of unstarted coroutines nest when a capture's destructor
/// drops another).
#[inline(never)]
pub(crate) fn catch_drop_panics(slot: *mut Option<Payload>) -> *mut Option<Payload> {
    drop_panic_cell(|cell| cell.replace(slot))
}

/// Hands a panic from an unstarted closure's destructor to the `Coroutine::drop` that
/// is dropping it.
#[inline(never)]
pub(crate) fn stash_drop_panic(payload: Payload) {
    let slot = drop_panic_cell(Cell::get);
    if slot.is_null() {
        // Only `Coroutine::drop` drops an unstarted closure, and it always sets a slot;
        // should that change, leak the payload rather than unwind through corosensei.
        std::mem::forget(payload);
        return;
    }
    // SAFETY: a non-null slot is a local of the `Coroutine::drop` that set it, in the
    // same coroutine (or plain thread) as we are, so on our own stack: that drop is
    // still running (it is dropping our closure) and puts the previous slot back,
    // through a guard, before the local goes away. One closure panics at most once here
    // (a second panic while it unwinds aborts), and a nested drop has a slot of its
    // own, so the slot is empty: nothing is overwritten.
    unsafe { *slot = Some(payload) };
}

/// Marks the thread's teardown: its destructor runs among the thread's thread-local
/// destructors.
struct TeardownWatch;

impl Drop for TeardownWatch {
    fn drop(&mut self) {
        TORN_DOWN.set(true);
    }
}

/// Whether this thread's teardown has reached `WATCH`: from then on a suspended
/// coroutine's borrow of a thread-local may dangle, and unwinding it would be unsound.
///
/// std runs thread-local destructors in the reverse order of the values' first use
/// (glibc's `__cxa_thread_atexit_impl` is LIFO) and promises no order at all. `WATCH`
/// is first used just before the thread's first coroutine runs, so:
/// 1. A thread-local first used *before* that is destroyed after `WATCH`: once it is
///    gone, this returns true, and every coroutine dropped from then on is leaked.
/// 2. A thread-local first used *later* (by a coroutine, say) is destroyed before
///    `WATCH`. A suspended coroutine that borrows it is still unwound safely if the
///    value holding that coroutine was first used before `WATCH` (it is then dropped
///    after `WATCH`, so leaked) or after the borrowed one (then it is dropped first).
///
/// What this cannot see (a coroutine held by a thread-local first used after `WATCH`
/// and borrowing one first used later still) is the restriction written at
/// `Coroutine`'s `unsafe impl Send`.
pub(crate) fn tearing_down() -> bool {
    TORN_DOWN.get() || WATCH.try_with(|_| ()).is_err()
}

/// Sets the running coroutine, returning the previous one (a coroutine may resume
/// another; the outer one is restored when the inner suspends).
#[inline(never)]
pub(crate) fn set_current(info: *const Info) -> *const Info {
    CURRENT.with(|c| c.replace(info))
}

/// Makes `info` the running coroutine; returns the previous one and this thread's id.
/// The one thread-local access on the resume path.
#[inline(never)]
pub(crate) fn enter(info: *const Info) -> (*const Info, u64) {
    let previous = CURRENT.with(|c| c.replace(info));
    (previous, thread_id())
}

#[inline(never)]
pub(crate) fn current_ptr() -> *const Info {
    CURRENT.with(Cell::get)
}

/// This thread's id for home checks: unique for the life of the process (a thread id
/// is never reused, unlike a thread-local's address). 0 means "not yet initialised".
#[inline]
pub(crate) fn thread_id() -> u64 {
    let id = THREAD.with(Cell::get);
    if id != 0 { id } else { init_thread() }
}

#[cold]
fn init_thread() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    crate::signal::init_thread();
    // Registers the watch's destructor now; see `tearing_down`. Fails only if this
    // thread's teardown has begun, which `tearing_down` then reports anyway.
    let _ = WATCH.try_with(|_| ());
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    THREAD.with(|t| t.set(id));
    id
}

/// A fresh coroutine id. Ids are handed to threads in blocks of 1024 so that
/// creating coroutines on several threads does not contend on one counter.
pub(crate) fn next_id() -> u64 {
    static NEXT_BLOCK: AtomicU64 = AtomicU64::new(1);
    const BLOCK: u64 = 1024;
    IDS.with(|ids| {
        let (mut next, mut end) = ids.get();
        if next == end {
            next = NEXT_BLOCK.fetch_add(BLOCK, Ordering::Relaxed);
            end = next + BLOCK;
        }
        ids.set((next + 1, end));
        next
    })
}

/// Suspends the coroutine running on this thread, handing `reason` to whoever resumed
/// it. Returns when it is resumed again (possibly much later).
///
/// # Examples
///
/// ```
/// use goro_context::{Coroutine, Reason, Resumed};
///
/// let mut co = Coroutine::new(|| {
///     // Deep inside ordinary code, without a yielder in hand:
///     goro_context::suspend(Reason::Park).unwrap();
///     7
/// })?;
/// assert!(matches!(co.resume(), Ok(Resumed::Suspended(Reason::Park))));
/// assert!(matches!(co.resume(), Ok(Resumed::Finished(Ok(7)))));
/// // On a plain thread there is nothing to suspend:
/// assert!(goro_context::suspend(Reason::Yield).is_err());
/// # Ok::<(), goro_context::StackError>(())
/// ```
///
/// # Errors
///
/// [`NotInCoroutine`] when called on a plain thread (no coroutine is running).
// Inlined so that the switch happens in the caller's frame: one call level less between
// resume and suspend, whose returns the CPU would otherwise mispredict. Safe under
// migration: the only thread-local read is `current_ptr`, a non-inlined call made
// before the switch.
#[inline]
pub fn suspend(reason: Reason) -> Result<(), NotInCoroutine> {
    let info = current_ptr();
    if info.is_null() {
        return Err(NotInCoroutine);
    }
    // SAFETY: CURRENT is non-null only while the coroutine that owns this Info is
    // running (or being unwound) on this thread, inside `resume`/drop, which keeps the
    // Coroutine (and so the Info) in place. The yielder was written on first entry,
    // before any user code ran, and lives at the root of the coroutine's own stack:
    // the very stack we are running on.
    let yielder = unsafe { &*(*info).yielder.get() };
    yielder.suspend(reason);
    Ok(())
}

/// Whether the caller is running inside a coroutine.
///
/// # Examples
///
/// ```
/// assert!(!goro_context::in_coroutine());
/// let mut co = goro_context::Coroutine::new(goro_context::in_coroutine)?;
/// assert!(matches!(co.resume(), Ok(goro_context::Resumed::Finished(Ok(true)))));
/// # Ok::<(), goro_context::StackError>(())
/// ```
pub fn in_coroutine() -> bool {
    !current_ptr().is_null()
}

/// Identity of the running coroutine, as seen from inside it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Current {
    id: u64,
    name: Option<Arc<str>>,
}

impl Current {
    /// The coroutine's id, unique within the process and never 0.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The name given at creation, if any.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
}

/// The running coroutine's id and name, or `None` on a plain thread.
///
/// # Examples
///
/// ```
/// let mut co = goro_context::Builder::new()
///     .name("worker-7")
///     .spawn(|| goro_context::current().unwrap().name().map(str::to_owned))?;
/// assert!(matches!(co.resume(), Ok(goro_context::Resumed::Finished(Ok(Some(n)))) if n == "worker-7"));
/// assert!(goro_context::current().is_none());
/// # Ok::<(), goro_context::StackError>(())
/// ```
pub fn current() -> Option<Current> {
    let info = current_ptr();
    // SAFETY: as in `suspend`: a non-null CURRENT points at the running coroutine's
    // Info, which stays in place while it runs.
    unsafe { info.as_ref() }.map(|info| Current {
        id: info.id,
        name: info.name.clone(),
    })
}

/// The running coroutine's id (as [`current`]`().map(|c| c.id())`), or `None` on a
/// plain thread. Cheaper than `current`: it does not clone the name.
///
/// # Examples
///
/// ```
/// let mut co = goro_context::Coroutine::new(|| goro_context::current_id())?;
/// assert!(matches!(co.resume(), Ok(goro_context::Resumed::Finished(Ok(Some(_))))));
/// assert_eq!(goro_context::current_id(), None);
/// # Ok::<(), goro_context::StackError>(())
/// ```
#[inline]
pub fn current_id() -> Option<u64> {
    // SAFETY: as in `current`.
    unsafe { current_ptr().as_ref() }.map(|info| info.id)
}

/// Whether the running coroutine is being unwound because it was dropped.
pub(crate) fn dropping() -> bool {
    // SAFETY: as in `current`.
    unsafe { current_ptr().as_ref() }.is_some_and(|info| info.dropping.get())
}
