//! `Group`: Go's `errgroup.Group`.

use std::any::Any;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;

use super::{Cancel, Context};
use crate::loom::unmodelled::{AtomicUsize, Mutex, MutexGuard, Ordering};
use crate::sync::{Semaphore, WaitGroup};

/// A set of coroutines working on parts of one task, each returning `Result<(), E>`:
/// Go's `errgroup.Group`.
///
/// [`go`](Group::go) starts a member; [`wait`](Group::wait) waits for all of them and
/// returns the first error. A group made with [`with_context`](Group::with_context)
/// also cancels its context when the first member fails (or panics), so the others can
/// see [`Context::err`] and stop early, and when `wait` returns.
///
/// # Panics in members
///
/// A member that panics counts as failed: the group's context is cancelled at once, and
/// after every member has finished, `wait` re-raises the first panic (its payload) in
/// the caller, rather than return an error. A panic is a bug, never hidden behind an
/// ordinary error.
///
/// # Examples
///
/// ```
/// use goro::context::{Context, Group};
///
/// let (group, ctx) = Group::with_context(&Context::background());
/// for i in 0..10 {
///     let ctx = ctx.clone();
///     group.go(move || {
///         if i == 3 {
///             return Err(format!("part {i} failed"));
///         }
///         let _ = ctx.done().recv(); // the others wait for cancellation
///         Ok(())
///     });
/// }
/// assert_eq!(group.wait(), Err("part 3 failed".to_string()));
/// assert!(ctx.err().is_some());
/// ```
pub struct Group<E> {
    shared: Arc<Shared<E>>,
    running: WaitGroup,
    /// Bounds the members running at once, from `set_limit`.
    limit: Option<Arc<Semaphore>>,
}

struct Shared<E> {
    first_err: Mutex<Option<E>>,
    first_panic: Mutex<Option<Box<dyn Any + Send>>>,
    /// Members started and not finished.
    active: AtomicUsize,
    /// Cancels the context of `with_context`.
    cancel: Option<Cancel>,
}

impl<E: Send + 'static> Group<E> {
    /// A group without a context: members are not told when one fails.
    ///
    /// # Examples
    ///
    /// ```
    /// let group = goro::context::Group::<std::io::Error>::new();
    /// group.go(|| Ok(()));
    /// assert!(group.wait().is_ok());
    /// ```
    pub fn new() -> Group<E> {
        Group::build(None)
    }

    /// A group and a context derived from `parent` that is cancelled when the first
    /// member fails or panics, or when [`wait`](Group::wait) returns, whichever is first.
    /// Give the context to the members.
    ///
    /// # Examples
    ///
    /// See the [type's](Group) example.
    pub fn with_context(parent: &Context) -> (Group<E>, Context) {
        let (ctx, cancel) = parent.with_cancel();
        (Group::build(Some(cancel)), ctx)
    }

    fn build(cancel: Option<Cancel>) -> Group<E> {
        Group {
            shared: Arc::new(Shared {
                first_err: Mutex::new(None),
                first_panic: Mutex::new(None),
                active: AtomicUsize::new(0),
                cancel,
            }),
            running: WaitGroup::new(),
            limit: None,
        }
    }

    /// Allows at most `n` members to run at once: with `n` running, [`go`](Group::go)
    /// waits (parks a coroutine, blocks a thread) until one finishes.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut group = goro::context::Group::<()>::new();
    /// group.set_limit(2);
    /// for _ in 0..6 {
    ///     group.go(|| Ok(())); // never more than 2 at a time
    /// }
    /// group.wait().unwrap();
    /// ```
    ///
    /// # Panics
    ///
    /// If `n` is zero (nothing could ever run), or if members started earlier are still
    /// running (as Go's `SetLimit`).
    pub fn set_limit(&mut self, n: usize) {
        assert!(n > 0, "goro: Group::set_limit(0) would never run anything");
        assert!(
            self.shared.active.load(Ordering::Acquire) == 0,
            "goro: Group::set_limit called while members are running"
        );
        self.limit = Some(Arc::new(Semaphore::new(n)));
    }

    /// Starts `f` in a new coroutine as a member of the group. With a limit set and
    /// reached, waits for a running member to finish first.
    ///
    /// # Examples
    ///
    /// See the [type's](Group) example.
    ///
    /// # Panics
    ///
    /// As [`spawn`](crate::spawn): if no stack can be had.
    pub fn go<F>(&self, f: F)
    where
        F: FnOnce() -> Result<(), E> + Send + 'static,
    {
        if let Some(limit) = &self.limit {
            // The permit goes back in `Member`'s drop, on the member's coroutine.
            std::mem::forget(limit.acquire());
        }
        self.start(f);
    }

    /// Like [`go`](Group::go), but never waits: with a limit set and reached, returns
    /// `false` and does not start `f`. Go's `TryGo`; the way for a member to add
    /// members without waiting on a slot that only its own end would free.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut group = goro::context::Group::<()>::new();
    /// group.set_limit(1);
    /// let (release, hold) = goro::chan::bounded::<()>(0);
    /// assert!(group.try_go(move || Ok(hold.recv().unwrap_or(()))));
    /// assert!(!group.try_go(|| Ok(()))); // the one slot is taken
    /// drop(release);
    /// group.wait().unwrap();
    /// ```
    ///
    /// # Panics
    ///
    /// As [`spawn`](crate::spawn): if no stack can be had.
    pub fn try_go<F>(&self, f: F) -> bool
    where
        F: FnOnce() -> Result<(), E> + Send + 'static,
    {
        if let Some(limit) = &self.limit {
            match limit.try_acquire() {
                Some(permit) => std::mem::forget(permit), // as in `go`
                None => return false,
            }
        }
        self.start(f);
        true
    }

    /// Starts a member whose slot (if the group has a limit) is already taken.
    fn start<F>(&self, f: F)
    where
        F: FnOnce() -> Result<(), E> + Send + 'static,
    {
        self.running.add(1);
        self.shared.active.fetch_add(1, Ordering::Relaxed);
        let member = Member {
            shared: self.shared.clone(),
            running: self.running.clone(),
            limit: self.limit.clone(),
            ran: false,
        };
        crate::spawn(move || member.run(f));
    }

    /// Waits for every member to finish and returns the first error (in the order they
    /// failed), or `Ok(())`. Cancels the group's context.
    ///
    /// # Examples
    ///
    /// ```
    /// let group = goro::context::Group::new();
    /// group.go(|| Err("first"));
    /// assert_eq!(group.wait(), Err("first"));
    /// ```
    ///
    /// # Panics
    ///
    /// If a member panicked: re-raises the first such panic, after all members have
    /// finished.
    pub fn wait(self) -> Result<(), E> {
        self.running.wait();
        self.shared.cancel();
        let panic = lock(&self.shared.first_panic).take();
        if let Some(payload) = panic {
            panic::resume_unwind(payload);
        }
        match lock(&self.shared.first_err).take() {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }
}

impl<E: Send + 'static> Default for Group<E> {
    fn default() -> Group<E> {
        Group::new()
    }
}

/// A clone is the same group: members started through it are waited for by
/// [`wait`](Group::wait) on any clone, and share the first error, the context and the
/// limit set before the clone was made. Give a clone to a member so it can start
/// members of its own (Go's `g.Go` inside `g.Go`); a member starts them before it
/// returns, so `wait` cannot miss them. Call `wait` once, from outside the members.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU32, Ordering};
///
/// // Walk a small tree: each member starts members for its node's children.
/// fn visit(group: goro::context::Group<()>, node: u32, seen: Arc<AtomicU32>) {
///     seen.fetch_add(1, Ordering::Relaxed);
///     for child in [2 * node, 2 * node + 1] {
///         if child < 16 {
///             let (g, seen) = (group.clone(), seen.clone());
///             group.go(move || {
///                 visit(g, child, seen);
///                 Ok(())
///             });
///         }
///     }
/// }
///
/// let group = goro::context::Group::new();
/// let seen = Arc::new(AtomicU32::new(0));
/// let (g, s) = (group.clone(), seen.clone());
/// group.go(move || {
///     visit(g, 1, s);
///     Ok(())
/// });
/// group.wait().unwrap();
/// assert_eq!(seen.load(Ordering::Relaxed), 15); // nodes 1..16
/// ```
impl<E> Clone for Group<E> {
    fn clone(&self) -> Group<E> {
        Group {
            shared: self.shared.clone(),
            running: self.running.clone(),
            limit: self.limit.clone(),
        }
    }
}

impl<E> fmt::Debug for Group<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Group")
            .field("running", &self.running)
            .finish_non_exhaustive()
    }
}

/// One member's share of the group: records its outcome, then releases its slot and
/// its count (in `Drop`, so even a member whose closure never ran is counted out).
struct Member<E> {
    shared: Arc<Shared<E>>,
    running: WaitGroup,
    limit: Option<Arc<Semaphore>>,
    /// Set once the closure has run; a member dropped unrun (its coroutine could not get
    /// a stack) fails the group.
    ran: bool,
}

impl<E> Member<E> {
    fn run(mut self, f: impl FnOnce() -> Result<(), E>) {
        self.ran = true;
        let failed = match panic::catch_unwind(AssertUnwindSafe(f)) {
            Ok(Ok(())) => false,
            Ok(Err(err)) => {
                let mut first = lock(&self.shared.first_err);
                if first.is_none() {
                    *first = Some(err);
                }
                true
            }
            Err(payload) => {
                let mut first = lock(&self.shared.first_panic);
                if first.is_none() {
                    *first = Some(payload);
                }
                true
            }
        };
        if failed {
            self.shared.cancel();
        }
    }
}

impl<E> Shared<E> {
    fn cancel(&self) {
        if let Some(cancel) = &self.cancel {
            cancel.cancel();
        }
    }
}

impl<E> Drop for Member<E> {
    fn drop(&mut self) {
        if !self.ran {
            let payload = Box::new("goro: a Group member's coroutine could not start");
            lock(&self.shared.first_panic).get_or_insert(payload);
            self.shared.cancel();
        }
        if let Some(limit) = &self.limit {
            limit.add_permits(1);
        }
        // Release: pairs with the Acquire load in `set_limit`.
        self.shared.active.fetch_sub(1, Ordering::Release);
        self.running.done();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
