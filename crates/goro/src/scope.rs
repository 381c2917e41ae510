//! Scoped coroutines: `goro::scope`, the shape of `std::thread::scope`.
//!
//! A scope counts its unfinished children. `scope` runs the user's closure under
//! `catch_unwind`, then waits (parking a coroutine, blocking a plain thread) until the
//! count is zero, and only then returns or re-raises a panic. Each child is a coroutine
//! whose `'static` closure is the user's `'scope` closure with its lifetime erased; the
//! argument that this is sound is at the one `transmute`, in `Scope::spawn`.
//!
//! Invariants:
//! 1. `running` counts children whose closure (and everything it captured) has not yet
//!    been run to the end *and* dropped: it is incremented before a child is queued and
//!    decremented by the child's `Child` value as the very last thing it does with
//!    borrowed data, whether the closure ran or was dropped unrun.
//! 2. A child's result `T` (which may borrow `'scope` data) is dropped either by the
//!    child before its decrement (its handle is already gone), or through its
//!    `ScopedJoinHandle`, which cannot outlive `'scope`.
//! 3. `scope` does not return, and never unwinds out of its frame, while `running` is
//!    not zero.

use std::any::Any;
use std::fmt;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::thread;

use goro_sched::Unparker;

use crate::loom::unmodelled::{AtomicUsize, Mutex, Ordering};
use crate::{Builder, JoinHandle};

/// What `scope` and its children share. `'static`: it borrows nothing.
struct ScopeData {
    running: AtomicUsize,
    /// The coroutine or thread waiting in `scope`.
    owner: Unparker,
    /// The payload of the first child that panicked with nobody to take its result.
    panic: Mutex<Option<Box<dyn Any + Send>>>,
}

impl ScopeData {
    /// A child is done with everything it borrowed. Must be its last use of the scope.
    fn child_done(&self) {
        // Release: pairs with the Acquire load in `scope`'s wait, so everything the child
        // did (its result stored, its borrowed writes) happens before `scope` returns.
        if self.running.fetch_sub(1, Ordering::Release) == 1 {
            self.owner.unpark();
        }
    }

    fn record_panic(&self, payload: Box<dyn Any + Send>) {
        let mut first = self.panic.lock().unwrap_or_else(|e| e.into_inner());
        if first.is_none() {
            *first = Some(payload);
            return;
        }
        drop(first);
        drop(payload); // a later panic: the first one is re-raised
    }
}

/// A scope to spawn coroutines that may borrow from outside it: see [`scope`].
///
/// `'env` is the lifetime of what the children may borrow; `'scope` is the scope itself.
/// Children get `&Scope` too, so they can spawn siblings.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
///
/// let count = AtomicU32::new(0);
/// goro::scope(|s| {
///     s.spawn(|| {
///         count.fetch_add(1, Ordering::Relaxed);
///         s.spawn(|| count.fetch_add(1, Ordering::Relaxed)); // a sibling
///     });
/// });
/// assert_eq!(count.into_inner(), 2);
/// ```
pub struct Scope<'scope, 'env: 'scope> {
    data: Arc<ScopeData>,
    /// Invariant in both lifetimes, as `std::thread::Scope`: a child's closure may not
    /// be shortened into a lifetime the scope does not wait for.
    scope: PhantomData<&'scope mut &'scope ()>,
    env: PhantomData<&'env mut &'env ()>,
}

/// Runs `f` with a [`Scope`] whose coroutines may borrow from the caller's stack, and
/// waits for all of them before returning.
///
/// Like [`std::thread::scope`], but the children are coroutines: `s.spawn(|| ..)` takes
/// a closure that need not be `'static`, only `Send` and outliving `'env`, so it can
/// borrow locals (one child a `&mut`, others `&`, as the borrow checker allows). Every
/// child is finished and its result dropped before `scope` returns, whether `f` returns
/// or panics (except a result whose handle was leaked with `mem::forget`: that result
/// is leaked with it, and a panic in it is not re-raised).
///
/// From a coroutine, waiting parks it (its worker runs the children meanwhile); from a
/// plain thread, waiting blocks the thread.
///
/// # Examples
///
/// ```
/// let mut totals = vec![0u64; 4];
/// let data: Vec<u64> = (1..=1000).collect();
/// goro::scope(|s| {
///     for (chunk, total) in data.chunks(250).zip(&mut totals) {
///         s.spawn(move || *total = chunk.iter().sum());
///     }
/// });
/// assert_eq!(totals.iter().sum::<u64>(), 500_500);
/// ```
///
/// # Panics
///
/// If `f` panics, `scope` waits for the children, then re-raises `f`'s panic. Otherwise,
/// if a child panicked and its result was not taken with [`ScopedJoinHandle::join`]
/// (or the destructor of a result nobody took panicked), `scope` re-raises that panic
/// (the first one, if several did) after all have finished.
#[track_caller]
pub fn scope<'env, F, T>(f: F) -> T
where
    F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> T,
{
    let scope = Scope {
        data: Arc::new(ScopeData {
            running: AtomicUsize::new(0),
            owner: goro_sched::current_unparker(),
            panic: Mutex::new(None),
        }),
        scope: PhantomData,
        env: PhantomData,
    };
    let result = panic::catch_unwind(AssertUnwindSafe(|| f(&scope)));
    // From here to the return nothing unwinds but a forced unwind of this coroutine
    // (dropped while parked below); the guard keeps invariant 3 on that path.
    let guard = AbortIfChildrenRun(&scope.data);
    let on = goro_sched::Wait::new(goro_sched::WaitReason::Scope);
    // Acquire: pairs with the Release decrement in `child_done`.
    while scope.data.running.load(Ordering::Acquire) != 0 {
        goro_sched::park_on(on); // spurious returns just loop
    }
    std::mem::forget(guard);
    let child_panic = scope
        .data
        .panic
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    match result {
        Err(payload) => {
            drop(child_panic);
            panic::resume_unwind(payload)
        }
        Ok(_) if child_panic.is_some() => panic::resume_unwind(child_panic.expect("checked above")),
        Ok(value) => value,
    }
}

/// Unwinding out of `scope`'s wait with children still running would free what they
/// borrow. The only unwind that can reach the wait is a forced one (the waiting
/// coroutine dropped while parked). goro never abandons a task in `scope` while a child
/// runs: every child holds the scope's `Arc<ScopeData>` and with it the waiter's
/// `Unparker`, which keeps the waiting task alive. But a goro-context coroutine nested
/// inside a goro one can call `scope`, suspend to its resumer in the wait, and be
/// dropped there. Then the process aborts rather than let a child touch freed memory
/// (tests/reach_process.rs).
struct AbortIfChildrenRun<'a>(&'a ScopeData);

impl Drop for AbortIfChildrenRun<'_> {
    fn drop(&mut self) {
        if self.0.running.load(Ordering::Acquire) != 0 {
            eprintln!("goro: a scope was unwound while its coroutines still ran; aborting");
            std::process::abort();
        }
    }
}

impl<'scope, 'env> Scope<'scope, 'env> {
    /// Spawns a coroutine in the scope. It may borrow anything that outlives the scope.
    ///
    /// The scope waits for it before [`scope`] returns; the handle lets you take its
    /// result earlier. Returned handles may be dropped: the scope still waits.
    ///
    /// # Examples
    ///
    /// ```
    /// let greeting = String::from("hello");
    /// let len = goro::scope(|s| {
    ///     let h = s.spawn(|| greeting.len()); // borrows `greeting`
    ///     h.join().unwrap()
    /// });
    /// assert_eq!(len, 5);
    /// ```
    ///
    /// # Panics
    ///
    /// As [`spawn`](crate::spawn): if no stack can be had (the message says why). Use
    /// [`Scope::spawn_with`] to get the error instead.
    #[track_caller]
    pub fn spawn<F, T>(&'scope self, f: F) -> ScopedJoinHandle<'scope, T>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        match self.spawn_with(Builder::new(), f) {
            Ok(handle) => handle,
            Err(err) => panic!("goro: failed to spawn a coroutine: {err}"),
        }
    }

    /// Spawns a coroutine in the scope, configured by `builder` (name, stack size).
    ///
    /// # Examples
    ///
    /// ```
    /// let v = vec![1, 2, 3];
    /// goro::scope(|s| {
    ///     let h = s.spawn_with(goro::Builder::new().name("summer"), || v.iter().sum::<i32>())?;
    ///     assert_eq!(h.join().unwrap(), 6);
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Builder::spawn`]: an invalid stack size, or no stack to be had.
    #[track_caller]
    pub fn spawn_with<F, T>(
        &'scope self,
        builder: Builder,
        f: F,
    ) -> std::io::Result<ScopedJoinHandle<'scope, T>>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        let packet = Arc::new(Packet {
            state: Mutex::new(PacketState {
                result: None,
                handle_alive: true,
            }),
            scope: self.data.clone(),
        });
        // Invariant 1: counted before anything can run or drop the child.
        self.data.running.fetch_add(1, Ordering::Relaxed);
        let child = Child {
            f,
            packet: packet.clone(),
            done: ChildDone(self.data.clone()),
        };
        let body: Box<dyn FnOnce() + Send + 'scope> = Box::new(move || child.run());
        // SAFETY: only the lifetime changes, from 'scope to 'static. The closure (with
        // all it borrows for 'scope) must be finished with before 'scope ends, and it is:
        // 1. Whether the coroutine runs it or the runtime drops it unrun (this spawn
        //    fails, or its stack cannot be had when it first runs), its last act is
        //    `ChildDone`'s decrement of `running` (field order in `Child`, and
        //    `Child::run`), after the user's closure and any result it keeps are gone
        //    (invariant 2).
        // 2. `scope` neither returns nor unwinds out of its frame before `running` is
        //    zero: the user's closure runs under `catch_unwind`, the wait loop parks
        //    until zero, and a forced unwind through the wait aborts while children
        //    remain (`AbortIfChildrenRun`). So 'env, which outlives that frame, and
        //    'scope, which ends there, outlive every child's use of them.
        // 3. If the waiting coroutine is instead leaked (dropped away from its home),
        //    its stack slot is never reused or unmapped, and nothing it owns is
        //    dropped: the borrowed memory stays valid forever.
        let body: Box<dyn FnOnce() + Send + 'static> = unsafe {
            std::mem::transmute::<Box<dyn FnOnce() + Send + 'scope>, Box<dyn FnOnce() + Send>>(body)
        };
        let handle = builder.spawn(body)?;
        Ok(ScopedJoinHandle {
            handle: Some(handle),
            packet,
            scope: PhantomData,
        })
    }
}

impl fmt::Debug for Scope<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope")
            .field("running", &self.data.running.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// One child: its closure, where its result goes, and its decrement. Fields drop in
/// declaration order, so a child dropped unrun drops the user's closure before it
/// decrements `running`.
struct Child<F, T> {
    f: F,
    packet: Arc<Packet<T>>,
    done: ChildDone,
}

impl<F: FnOnce() -> T, T> Child<F, T> {
    fn run(self) {
        let Child { f, packet, done } = self;
        let result = panic::catch_unwind(AssertUnwindSafe(f));
        packet.finish(result);
        drop(packet);
        drop(done);
    }
}

/// Decrements the scope's `running` when dropped: a child's last act.
struct ChildDone(Arc<ScopeData>);

impl Drop for ChildDone {
    fn drop(&mut self) {
        self.0.child_done();
    }
}

/// Where a child leaves its result for its handle.
struct Packet<T> {
    state: Mutex<PacketState<T>>,
    scope: Arc<ScopeData>,
}

struct PacketState<T> {
    result: Option<thread::Result<T>>,
    handle_alive: bool,
}

impl<T> Packet<T> {
    /// Called by the child with its closure's result.
    fn finish(&self, result: thread::Result<T>) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.handle_alive {
            state.result = Some(result);
            return;
        }
        drop(state);
        // Nobody will take it: drop a value here (invariant 2), hand a panic to `scope`,
        // and a panic from the value's destructor too, as if the child had panicked.
        let payload = match result {
            Ok(value) => match panic::catch_unwind(AssertUnwindSafe(|| drop(value))) {
                Ok(()) => return,
                Err(payload) => payload,
            },
            Err(payload) => payload,
        };
        self.scope.record_panic(payload);
    }
}

/// An owned permission to wait for a scoped coroutine: [`Scope::spawn`]'s handle.
///
/// Dropping it does not detach the coroutine: the scope still waits for it, and if it
/// panicked, `scope` re-raises the panic.
///
/// # Examples
///
/// ```
/// let words = ["scoped", "coroutines"];
/// let lens = goro::scope(|s| {
///     let handles: Vec<_> = words.iter().map(|w| s.spawn(move || w.len())).collect();
///     handles.into_iter().map(|h| h.join().unwrap()).collect::<Vec<_>>()
/// });
/// assert_eq!(lens, [6, 10]);
/// ```
pub struct ScopedJoinHandle<'scope, T> {
    /// The coroutine's own handle; `None` once joined.
    handle: Option<JoinHandle<()>>,
    packet: Arc<Packet<T>>,
    scope: PhantomData<&'scope ()>,
}

impl<T> ScopedJoinHandle<'_, T> {
    /// Waits for the coroutine and returns its result; parks a coroutine, blocks a
    /// plain thread. A panic it returns is handled: `scope` does not re-raise it.
    ///
    /// # Examples
    ///
    /// ```
    /// goro::scope(|s| {
    ///     let h = s.spawn(|| -> u8 { panic!("handled") });
    ///     assert!(h.join().is_err());
    /// }); // does not panic: the child's panic was taken
    /// ```
    ///
    /// # Errors
    ///
    /// `Err(payload)` if the coroutine panicked or called [`exit`](crate::exit), or its
    /// stack could not be had when it first ran (a `String` saying why).
    #[track_caller]
    pub fn join(mut self) -> thread::Result<T> {
        let handle = self.handle.take().expect("a handle is joined once");
        let started = handle.join();
        let mut state = self.packet.state.lock().unwrap_or_else(|e| e.into_inner());
        match state.result.take() {
            Some(result) => result,
            None => {
                // The coroutine never ran the closure: the runtime's error says why.
                Err(started
                    .err()
                    .unwrap_or_else(|| Box::new("scoped coroutine lost")))
            }
        }
    }

    /// Whether the coroutine has finished, without waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// goro::scope(|s| {
    ///     let h = s.spawn(|| goro::sleep(std::time::Duration::from_millis(50)));
    ///     assert!(!h.is_finished());
    ///     h.join().unwrap();
    /// });
    /// ```
    pub fn is_finished(&self) -> bool {
        self.handle.as_ref().is_none_or(JoinHandle::is_finished)
    }
}

impl<T> Drop for ScopedJoinHandle<'_, T> {
    fn drop(&mut self) {
        let taken = {
            let mut state = self.packet.state.lock().unwrap_or_else(|e| e.into_inner());
            state.handle_alive = false;
            state.result.take()
        };
        if let Some(Err(payload)) = taken {
            self.packet.scope.record_panic(payload);
        }
    }
}

impl<T> fmt::Debug for ScopedJoinHandle<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopedJoinHandle")
            .field("handle", &self.handle)
            .finish_non_exhaustive()
    }
}
