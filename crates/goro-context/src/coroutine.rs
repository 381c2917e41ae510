//! `Coroutine`: a corosensei coroutine on a goro-stack slot, with an id, a name, a
//! home thread, panic capture and a suspend reason.

use std::any::Any;
use std::cell::Cell;
use std::fmt;
use std::mem::ManuallyDrop;
use std::panic::{self, AssertUnwindSafe};
use std::ptr;
use std::sync::Arc;
use std::thread;

use corosensei::stack::StackPointer;
use corosensei::{CoroutineResult, Yielder};
use goro_stack::{DEFAULT_STACK_SIZE, Stack, StackError};

use crate::current::{self, Info};

/// Why a coroutine suspended: what its resumer should do with it next.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Still runnable: it gave up the thread voluntarily (`yield_now`).
    Yield,
    /// Waiting for an event (a channel, a lock, a timer); someone will wake it.
    Park,
}

/// What [`Coroutine::resume`] returns when the coroutine stops running.
#[derive(Debug)]
pub enum Resumed<R> {
    /// It suspended itself and can be resumed again.
    Suspended(Reason),
    /// It finished: its return value, or the payload it panicked (or exited) with.
    Finished(thread::Result<R>),
}

/// Why [`Coroutine::resume`] refused to run a coroutine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResumeError {
    /// It has already finished; there is nothing left to run.
    Finished,
    /// It has started on another thread and may only run there (see
    /// [`Coroutine::allow_migration`]).
    NotHome,
}

impl fmt::Display for ResumeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ResumeError::Finished => "the coroutine has already finished",
            ResumeError::NotHome => {
                "the coroutine started on another thread and may only run there"
            }
        })
    }
}

impl std::error::Error for ResumeError {}

/// The goro-stack slot as a corosensei stack. The one implementation of
/// corosensei's `Stack` trait in goro. corosensei asks for `base` on every resume, so
/// both bounds are computed once, here.
struct SlotStack {
    base: StackPointer,
    limit: StackPointer,
    /// Owns the slot: returned to the pool when the coroutine is dropped.
    _stack: Stack,
}

impl SlotStack {
    fn new(stack: Stack) -> SlotStack {
        SlotStack {
            base: StackPointer::new(stack.top().as_ptr() as usize).expect("stack top is not null"),
            limit: StackPointer::new(stack.guard().as_ptr() as usize)
                .expect("stack guard is not null"),
            _stack: stack,
        }
    }
}

// SAFETY: corosensei requires a guard page that catches overflows and at least
// MIN_STACK_SIZE usable bytes. goro-stack installs a guard page directly below
// `bottom()` when the slot is carved and keeps it, mapped, while the `Stack` lives;
// `_stack` is dropped only after corosensei has finished with the stack (it is a field
// of the stack corosensei owns). Its smallest stack is 16 KiB, above corosensei's 4 KiB
// minimum. `top()` and `guard()` are page-aligned, so they satisfy STACK_ALIGNMENT, and
// the limit includes the guard.
unsafe impl corosensei::stack::Stack for SlotStack {
    #[inline]
    fn base(&self) -> StackPointer {
        self.base
    }

    #[inline]
    fn limit(&self) -> StackPointer {
        self.limit
    }
}

type Inner<R> = corosensei::Coroutine<(), Reason, thread::Result<Returned<R>>, SlotStack>;

/// A stackful coroutine on a guarded goro-stack slot.
///
/// It runs `f` on its own stack when [`resume`](Coroutine::resume)d, until `f`
/// finishes or calls [`suspend`](crate::suspend) from any depth. Panics inside `f`
/// come out of `resume` as [`Resumed::Finished`]`(Err(payload))`; [`exit`](crate::exit)
/// unwinds it with an [`Exit`](crate::Exit) payload.
///
/// # Examples
///
/// ```
/// use goro_context::{Coroutine, Reason, Resumed};
///
/// let mut co = Coroutine::new(|| {
///     for _ in 0..2 {
///         goro_context::suspend(Reason::Yield).unwrap();
///     }
///     "done"
/// })?;
/// assert!(matches!(co.resume(), Ok(Resumed::Suspended(Reason::Yield))));
/// assert!(matches!(co.resume(), Ok(Resumed::Suspended(Reason::Yield))));
/// assert!(matches!(co.resume(), Ok(Resumed::Finished(Ok("done")))));
/// assert!(co.resume().is_err()); // finished: an error, never undefined behaviour
/// # Ok::<(), goro_context::StackError>(())
/// ```
///
/// # Home thread
///
/// The first `resume` makes the calling thread the coroutine's *home*. After that it
/// runs only there: `resume` on another thread returns [`ResumeError::NotHome`]. Its
/// stack may hold `!Send` values and references into the home thread's thread-locals,
/// so running it elsewhere would break Rust's guarantees. A scheduler that wants Go's
/// free migration opts in with the `unsafe` [`allow_migration`](Coroutine::allow_migration).
///
/// # Dropping a coroutine
///
/// Dropping a suspended coroutine unwinds its stack (destructors run, as if a panic
/// started at its suspension point), then returns the stack to the pool. A panic in one
/// of those destructors aborts the process, as any panic during unwinding does. Code
/// that catches this unwind (`catch_unwind` around a suspension point) and then panics
/// anew or returns does not stop it: that panic's payload, or the returned value, is
/// dropped with the coroutine. Dropping a coroutine that never started drops its
/// closure, and a panic from a capture's destructor comes out of `drop`, as it would
/// for any dropped closure.
///
/// A started coroutine dropped on a thread other than its home is *leaked* instead
/// (stack and all, destructors not run), because unwinding it there would be as
/// unsound as resuming it there. A scheduler unwinds its coroutines on their home
/// threads.
///
/// It is leaked too when dropped while its home thread is being torn down (its
/// thread-locals' destructors are running), once goro-context can tell: from the
/// moment thread-locals first used before the thread's first coroutine are destroyed.
/// Its stack may borrow a thread-local (`LOCAL.with(|v| { ..suspend.. })`) that is
/// already destroyed, and unwinding would run its destructors against that value.
/// Earlier in the teardown goro-context cannot tell, so do not keep a suspended
/// coroutine in a thread-local that is first used after the thread has run a
/// coroutine: finish or drop your coroutines before the thread exits (as goro's
/// scheduler does), or keep them in a thread-local that is first used before.
///
/// # `Send`
///
/// A `Coroutine<R>` is `Send` when `R` is: see the argument at the `unsafe impl`.
pub struct Coroutine<R> {
    inner: ManuallyDrop<Inner<R>>,
    info: Info,
    /// Thread id of the home thread; 0 until the first resume.
    home: u64,
    migratable: bool,
    stack_size: usize,
}

// SAFETY: corosensei's Coroutine is !Send because a suspended coroutine's stack may hold
// values that are not Send; it may be sent when "all types on the stack when a
// coroutine is suspended are Send". Ours guarantees the weaker thing that soundness
// actually needs: no value on the stack is ever *used* on a thread other than the one
// that created it.
// 1. Before the first resume the stack holds only the closure `F`, and every
//    constructor requires `F: Send`. Resuming or dropping it anywhere is fine.
// 2. The first resume pins the coroutine to that thread (`home`). From then on `resume`
//    checks the calling thread and refuses (NotHome) anywhere else, and `Drop` leaks the
//    stack rather than unwind it elsewhere. Moving the handle itself touches nothing on
//    the stack: it holds the stack pointer, the slot and `Info`, all plain data.
// 3. The exception is `allow_migration`, an `unsafe fn` whose caller promises that the
//    coroutine holds no `!Send` value and no thread-local reference across a
//    suspension point, which is corosensei's condition restated.
// 4. The result `R` crosses to whichever thread resumes the coroutine last, hence
//    `R: Send`; `Info` holds an `Arc<str>` and plain data (its yielder pointer is only
//    dereferenced by the running coroutine itself).
// 5. Unwinding on the home thread is running the stack's destructors there, so it must
//    happen while everything the stack borrows is alive. Thread-locals die in the
//    home thread's teardown, in an order std leaves open (LIFO by first use, on glibc).
//    `Drop` leaks instead of unwinding once `current::tearing_down()` reports the
//    teardown, which covers every thread-local first used before the thread's first
//    coroutine ran. Restriction (in "Dropping a coroutine"): a suspended coroutine that
//    borrows a thread-local must not be dropped by the destructor of a thread-local
//    first used after the thread's first coroutine ran; std offers no way to see that
//    case, and goro's scheduler never does it (it drops no suspended coroutine: one
//    that nobody can wake is leaked).
unsafe impl<R: Send> Send for Coroutine<R> {}

/// Configures a coroutine before it is created: its name and stack size.
///
/// # Examples
///
/// ```
/// let mut co = goro_context::Builder::new()
///     .name("parser")
///     .stack_size(256 * 1024)
///     .spawn(|| 1 + 1)?;
/// assert_eq!(co.name(), Some("parser"));
/// assert_eq!(co.stack_size(), 256 * 1024);
/// # Ok::<(), goro_context::StackError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Builder {
    name: Option<Arc<str>>,
    stack_size: usize,
}

impl Default for Builder {
    fn default() -> Builder {
        Builder::new()
    }
}

impl Builder {
    /// A builder for an unnamed coroutine with a [`DEFAULT_STACK_SIZE`] stack. See the
    /// type's example.
    pub fn new() -> Builder {
        Builder {
            name: None,
            stack_size: DEFAULT_STACK_SIZE,
        }
    }

    /// Names the coroutine: the name shows in [`current`](crate::current) and in the
    /// stack-overflow message.
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Builder {
        self.name = Some(name.into());
        self
    }

    /// Asks for at least `size` bytes of stack (rounded up to a power of two).
    pub fn stack_size(mut self, size: usize) -> Builder {
        self.stack_size = size;
        self
    }

    /// Creates the coroutine. It does not run until resumed.
    ///
    /// # Errors
    ///
    /// Any [`StackError`] from taking the stack: an invalid size, or the kernel's
    /// mapping budget exhausted.
    pub fn spawn<F, R>(self, f: F) -> Result<Coroutine<R>, StackError>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let stack = Stack::new(self.stack_size)?;
        Ok(Coroutine::with_stack(stack, self.name, f))
    }
}

impl<R: Send + 'static> Coroutine<R> {
    /// Creates an unnamed coroutine with a [`DEFAULT_STACK_SIZE`] stack.
    ///
    /// # Examples
    ///
    /// ```
    /// let co = goro_context::Coroutine::new(|| 1)?;
    /// assert!(!co.is_started());
    /// # Ok::<(), goro_context::StackError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Builder::spawn`].
    pub fn new<F>(f: F) -> Result<Coroutine<R>, StackError>
    where
        F: FnOnce() -> R + Send + 'static,
    {
        Builder::new().spawn(f)
    }

    /// Creates a coroutine on a stack the caller already holds.
    ///
    /// # Examples
    ///
    /// ```
    /// let stack = goro_stack::Stack::new(32 * 1024)?;
    /// let co = goro_context::Coroutine::with_stack(stack, Some("small".into()), || ());
    /// assert_eq!((co.stack_size(), co.name()), (32 * 1024, Some("small")));
    /// # Ok::<(), goro_stack::StackError>(())
    /// ```
    pub fn with_stack<F>(stack: Stack, name: Option<Arc<str>>, f: F) -> Coroutine<R>
    where
        F: FnOnce() -> R + Send + 'static,
    {
        let stack_top = stack.top().as_ptr() as usize;
        let stack_size = stack.size();
        let f = Closure(ManuallyDrop::new(f));
        let body = move |yielder: &Yielder<(), Reason>, ()| -> thread::Result<Returned<R>> {
            // SAFETY: `resume` set CURRENT to this coroutine's Info before switching
            // here, and it stays in place while we run. Recording the yielder before
            // user code runs is what lets `suspend` find it from any depth.
            unsafe { (*current::current_ptr()).yielder.set(yielder) };
            match panic::catch_unwind(AssertUnwindSafe(f.take())) {
                Ok(value) => Ok(Returned(ManuallyDrop::new(value))),
                // Dropped while suspended: corosensei's forced unwind got here, or what
                // a `catch_unwind` in `f` made of it. corosensei aborts the process on
                // a payload it did not send, but discards a normal return (a value
                // returned while being dropped, too: `Returned` keeps that drop safe).
                // So drop the payload here, where a panic from its destructor is caught
                // too, and return normally.
                Err(payload) if current::dropping() => {
                    drop_quietly(payload);
                    Err(Box::new(Exit))
                }
                Err(payload) => Err(payload),
            }
        };
        Coroutine {
            inner: ManuallyDrop::new(corosensei::Coroutine::with_stack(
                SlotStack::new(stack),
                body,
            )),
            info: Info {
                yielder: Cell::new(ptr::null()),
                id: current::next_id(),
                name,
                stack_top,
                dropping: Cell::new(false),
                drop_panic: Cell::new(ptr::null_mut()),
            },
            home: 0,
            migratable: false,
            stack_size,
        }
    }
}

impl<R> Coroutine<R> {
    /// Runs the coroutine until it suspends or finishes.
    ///
    /// A panic inside the coroutine never unwinds out of here: it comes back as
    /// [`Resumed::Finished`]`(Err(payload))`.
    ///
    /// # Examples
    ///
    /// ```
    /// use goro_context::{Coroutine, Resumed};
    ///
    /// let mut co = Coroutine::new(|| -> u8 { panic!("inside") })?;
    /// let Ok(Resumed::Finished(Err(payload))) = co.resume() else { unreachable!() };
    /// assert_eq!(payload.downcast_ref::<&str>(), Some(&"inside"));
    /// # Ok::<(), goro_context::StackError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// - [`ResumeError::Finished`] if it has already finished.
    /// - [`ResumeError::NotHome`] if it started on another thread and migration was
    ///   not allowed.
    #[inline]
    pub fn resume(&mut self) -> Result<Resumed<R>, ResumeError> {
        if self.inner.done() {
            return Err(ResumeError::Finished);
        }
        // One thread-local access makes this coroutine current and tells us the thread;
        // the guard puts the previous coroutine back, on every path out.
        let (previous, thread) = current::enter(&self.info);
        let restore = RestoreCurrent(previous);
        if self.home != thread {
            if self.home == 0 {
                self.home = thread;
            } else if !self.migratable {
                return Err(ResumeError::NotHome);
            }
        }
        let result = self.inner.resume(());
        drop(restore);
        Ok(match result {
            CoroutineResult::Yield(reason) => Resumed::Suspended(reason),
            CoroutineResult::Return(result) => Resumed::Finished(result.map(Returned::into_inner)),
        })
    }

    /// Lets this coroutine be resumed (and dropped) on any thread after it started,
    /// as Go does with goroutines.
    ///
    /// # Safety
    ///
    /// The caller promises that the coroutine's code never holds, across a suspension
    /// point ([`suspend`](crate::suspend) and anything that calls it: channel
    /// operations, locks, sleeps, yields):
    /// - a value that is not `Send` (an `Rc`, a `RefCell` borrow of a thread-local, a
    ///   `MutexGuard` of `std::sync`), or
    /// - a reference into a thread-local (`thread_local!`, `rand::thread_rng()`).
    ///
    /// Such a value would be used on a thread other than the one it belongs to.
    ///
    /// # Examples
    ///
    /// ```
    /// use goro_context::{Coroutine, Reason};
    ///
    /// let mut co = Coroutine::new(|| goro_context::suspend(Reason::Yield).unwrap())?;
    /// // SAFETY: the body holds nothing at all across its suspension point.
    /// unsafe { co.allow_migration() };
    /// co.resume().unwrap();
    /// std::thread::spawn(move || co.resume().unwrap()).join().unwrap();
    /// # Ok::<(), goro_context::StackError>(())
    /// ```
    pub unsafe fn allow_migration(&mut self) {
        self.migratable = true;
    }

    /// The coroutine's id: unique within the process, never 0.
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, b) = (goro_context::Coroutine::new(|| ())?, goro_context::Coroutine::new(|| ())?);
    /// assert_ne!(a.id(), b.id());
    /// # Ok::<(), goro_context::StackError>(())
    /// ```
    pub fn id(&self) -> u64 {
        self.info.id
    }

    /// The name given at creation, if any.
    pub fn name(&self) -> Option<&str> {
        self.info.name.as_deref()
    }

    /// Usable bytes of the coroutine's stack.
    pub fn stack_size(&self) -> usize {
        self.stack_size
    }

    /// Whether it has been resumed at least once.
    pub fn is_started(&self) -> bool {
        self.home != 0
    }

    /// Whether it has finished (returned, panicked or exited).
    pub fn is_finished(&self) -> bool {
        self.inner.done()
    }
}

/// The user's closure until the coroutine first runs.
///
/// Dropped unstarted, corosensei drops it in the dropper's context from inside its own
/// `Drop`, where any unwind aborts the process (a guard there panics while panicking).
/// So a panic from a capture's destructor is caught here and handed to
/// `Coroutine::drop` (`current::stash_drop_panic`), which resumes it when corosensei is
/// done.
struct Closure<F>(ManuallyDrop<F>);

impl<F> Closure<F> {
    /// Moves the closure out to run it; its `Drop` does not run.
    fn take(self) -> F {
        let mut this = ManuallyDrop::new(self);
        // SAFETY: `this` is never dropped, so `F` is moved out exactly once.
        unsafe { ManuallyDrop::take(&mut this.0) }
    }
}

impl<F> Drop for Closure<F> {
    fn drop(&mut self) {
        // SAFETY: `take` did not run (it skips this destructor), so `F` is still here;
        // it is dropped once, here. A panic midway drops its remaining captures while
        // unwinding, as any value's drop glue does.
        let dropped = panic::catch_unwind(AssertUnwindSafe(|| unsafe {
            ManuallyDrop::drop(&mut self.0)
        }));
        if let Err(payload) = dropped {
            current::stash_drop_panic(payload);
        }
    }
}

/// A coroutine's return value on its way out to `resume`.
///
/// If the coroutine's code swallows the forced unwind of a drop and returns, corosensei
/// drops the value itself, from inside its `Drop`, where any unwind aborts the process;
/// so this catches a panic from `R`'s destructor (`drop_quietly`). On the way out of
/// `resume` it is unwrapped, and `R` is the caller's to drop.
struct Returned<R>(ManuallyDrop<R>);

impl<R> Returned<R> {
    fn into_inner(self) -> R {
        let mut this = ManuallyDrop::new(self);
        // SAFETY: `this` is never dropped, so `R` is moved out exactly once.
        unsafe { ManuallyDrop::take(&mut this.0) }
    }
}

impl<R> Drop for Returned<R> {
    fn drop(&mut self) {
        // SAFETY: `into_inner` did not run (it skips this destructor), so `R` is still
        // here; it is moved out once, here, and `self` is not used again.
        drop_quietly(unsafe { ManuallyDrop::take(&mut self.0) });
    }
}

/// Drops a value nobody will see. A panic from its destructor was reported by the panic
/// hook; its payload, whose own destructor could panic again, is leaked.
fn drop_quietly<T>(value: T) {
    if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(move || drop(value))) {
        std::mem::forget(payload);
    }
}

/// Puts back the previous drop-panic slot when `Coroutine::drop` is done with its own.
struct RestoreDropPanic(*mut Option<current::Payload>);

impl Drop for RestoreDropPanic {
    fn drop(&mut self) {
        current::catch_drop_panics(self.0);
    }
}

/// Restores the previous CURRENT when `resume` ends, even if it unwinds.
struct RestoreCurrent(*const Info);

impl Drop for RestoreCurrent {
    #[inline]
    fn drop(&mut self) {
        current::set_current(self.0);
    }
}

impl<R> Drop for Coroutine<R> {
    fn drop(&mut self) {
        if self.inner.done() {
            // Finished: nothing is left on the stack, nothing runs.
            // SAFETY: `inner` is dropped exactly once, here, and never used afterwards.
            unsafe { ManuallyDrop::drop(&mut self.inner) };
            return;
        }
        if self.home == 0 {
            // Never started: corosensei drops the closure in place; its captures'
            // destructors run in the caller's context, as any dropped value's do.
            // Nothing runs on the coroutine's stack, so it must not become CURRENT: its
            // yielder does not even exist. A panic from a capture's destructor is
            // caught by `Closure` (an unwind through corosensei's drop would abort) and
            // comes out of this `drop` once corosensei is done, as it would from any
            // dropped closure.
            let mut panicked = None;
            let restore = RestoreDropPanic(current::catch_drop_panics(&raw mut panicked));
            // SAFETY: as above.
            unsafe { ManuallyDrop::drop(&mut self.inner) };
            drop(restore);
            if let Some(payload) = panicked {
                panic::resume_unwind(payload);
            }
            return;
        }
        if !self.migratable && (self.home != current::thread_id() || current::tearing_down()) {
            // Leak: see "Dropping a coroutine" and point 5 at `unsafe impl Send`. The
            // slot is lost to the pool.
            return;
        }
        // The forced unwind runs the coroutine's destructors on its own stack; they may
        // call `current()` or even `suspend`, so it must be CURRENT while they run.
        self.info.dropping.set(true);
        let restore = RestoreCurrent(current::set_current(&self.info));
        // SAFETY: `inner` is dropped exactly once, here, and never used afterwards.
        unsafe { ManuallyDrop::drop(&mut self.inner) };
        drop(restore);
    }
}

impl<R> fmt::Debug for Coroutine<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Coroutine")
            .field("id", &self.info.id)
            .field("name", &self.info.name)
            .field("started", &self.is_started())
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// The payload a coroutine unwinds with when it calls [`exit`].
///
/// `exit` is Go's `runtime.Goexit`: the coroutine's destructors run, and whoever
/// resumed it (or joins it) sees `Err(payload)` with `payload.is::<Exit>()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exit;

/// Ends the running coroutine: unwinds its stack, running destructors, without a
/// panic message. Its resumer gets [`Resumed::Finished`]`(Err(payload))` where
/// `payload.is::<Exit>()`.
///
/// On a plain thread it unwinds the thread the same way (the thread's `join` returns
/// the `Exit` payload), again without running the panic hook.
///
/// # Examples
///
/// ```
/// use goro_context::{Coroutine, Exit, Resumed};
///
/// let mut co = Coroutine::new(|| -> u32 { goro_context::exit() })?;
/// match co.resume() {
///     Ok(Resumed::Finished(Err(payload))) => assert!(payload.is::<Exit>()),
///     other => panic!("unexpected {other:?}"),
/// }
/// # Ok::<(), goro_context::StackError>(())
/// ```
pub fn exit() -> ! {
    // resume_unwind, unlike panic!, does not run the panic hook: no "panicked at".
    panic::resume_unwind(Box::new(Exit) as Box<dyn Any + Send>)
}
