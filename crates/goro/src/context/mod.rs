//! Go's `context` and `errgroup`: cancellation and deadlines that cross coroutines.
//!
//! A [`Context`] says when some work should stop: when someone calls its [`Cancel`],
//! when its deadline passes, or when its parent context ends. Work checks
//! [`Context::err`] now and then, or waits on [`Context::done`] in a
//! [`select!`](crate::select) beside its own channels. A [`Group`] runs a set of
//! coroutines that return `Result`s and gives back the first error, cancelling the
//! others' context as soon as one fails.
//!
//! ```
//! use std::time::Duration;
//! use goro::context::{Context, Error};
//!
//! let (ctx, _cancel) = Context::background().with_timeout(Duration::from_millis(20));
//! let slow = goro::time::after(Duration::from_secs(10));
//! goro::select! {
//!     recv(slow) -> _ => unreachable!("the context ends first"),
//!     recv(ctx.done()) -> _ => assert_eq!(ctx.err(), Some(Error::DeadlineExceeded)),
//! }
//! ```
//!
//! # How it works
//!
//! Contexts form a tree. Each node knows its parent and keeps weak references to its
//! children; ending a node records its error, closes its `done` channel (waking every
//! receiver, as Go closes `ctx.Done()`) and ends its children, depth first. A deadline is
//! a scheduler timer holding a weak reference to its node, stopped when the node ends
//! or is dropped. Nothing runs in the background otherwise: no coroutine per context.

mod group;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use crate::chan::{self, Receiver, Sender};
use crate::loom::unmodelled::{AtomicU64, Mutex, MutexGuard, Ordering};

pub use group::Group;

/// Why a context ended: what [`Context::err`] returns, as Go's `context.Canceled` and
/// `context.DeadlineExceeded`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use goro::context::{Context, Error};
///
/// let (ctx, _cancel) = Context::background().with_timeout(Duration::ZERO);
/// assert_eq!(ctx.err(), Some(Error::DeadlineExceeded));
/// assert_eq!(ctx.err().unwrap().to_string(), "context deadline exceeded");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Error {
    /// Its [`Cancel`] was called or dropped, or an ancestor's was.
    Canceled,
    /// Its deadline, or an ancestor's, passed.
    DeadlineExceeded,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Error::Canceled => "context canceled",
            Error::DeadlineExceeded => "context deadline exceeded",
        })
    }
}

impl std::error::Error for Error {}

/// A cancellation signal and an optional deadline, shared by the coroutines working on
/// one request: Go's `context.Context`.
///
/// Cheap to clone (a reference count); `Send + Sync`. The root is
/// [`Context::background`], which never ends; [`with_cancel`](Context::with_cancel),
/// [`with_timeout`](Context::with_timeout) and [`with_deadline`](Context::with_deadline)
/// derive a child that ends when its own [`Cancel`] is called or dropped, when its
/// deadline passes, or when its parent ends, whichever comes first. A child's deadline
/// is never later than its parent's.
///
/// Go's contexts also carry request-scoped values; in goro that job belongs to
/// [`coroutine_local!`](crate::coroutine_local).
///
/// # Examples
///
/// ```
/// use goro::context::{Context, Error};
///
/// let (parent, cancel) = Context::background().with_cancel();
/// let (child, _child_cancel) = parent.with_cancel();
/// let worker = goro::go!(move || {
///     let _ = child.done().recv(); // blocks until the context ends
///     child.err()
/// });
/// cancel.cancel(); // ends the parent, and with it the child
/// assert_eq!(worker.join().unwrap(), Some(Error::Canceled));
/// ```
#[derive(Clone, Default)]
pub struct Context {
    /// `None` for the background context, which never ends.
    node: Option<Arc<Node>>,
}

/// Ends the context it came with: Go's `CancelFunc`.
///
/// Call [`cancel`](Cancel::cancel), or drop it: dropping a `Cancel` cancels its context,
/// the way Go code writes `defer cancel()`. (So `let (ctx, _) = parent.with_cancel()`
/// gives a context that has already ended: bind the `Cancel` to a name.) So a derived context never outlives the scope
/// that holds its `Cancel` and never stays linked to its parent longer than that (Go
/// leaks a context whose `CancelFunc` is never called; goro cannot). To let a context
/// run on until its deadline or its parent ends, [`detach`](Cancel::detach) the `Cancel`.
///
/// # Examples
///
/// ```
/// use goro::context::{Context, Error};
///
/// let (ctx, cancel) = Context::background().with_cancel();
/// assert_eq!(ctx.err(), None);
/// drop(cancel);
/// assert_eq!(ctx.err(), Some(Error::Canceled));
/// ```
#[must_use = "dropping a Cancel cancels its context at once"]
pub struct Cancel {
    node: Option<Arc<Node>>,
}

struct Node {
    /// Unique for the life of the process: the node's key in its parent's `children`.
    id: u64,
    parent: Option<Arc<Node>>,
    deadline: Option<Instant>,
    /// Closed when the node ends.
    done_tx: Sender<()>,
    done_rx: Receiver<()>,
    state: Mutex<State>,
}

struct State {
    err: Option<Error>,
    /// Live children, keyed by their id (a child removes itself when dropped).
    children: HashMap<u64, Weak<Node>>,
    /// The deadline's timer, until it fires or the node ends.
    timer: Option<goro_sched::Timer>,
}

impl Context {
    /// The root context: never cancelled, no deadline. Go's `context.Background()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let ctx = goro::context::Context::background();
    /// assert_eq!((ctx.err(), ctx.deadline()), (None, None));
    /// ```
    pub fn background() -> Context {
        Context { node: None }
    }

    /// A child context that ends when the returned [`Cancel`] is called or dropped, or
    /// when this context ends.
    ///
    /// # Examples
    ///
    /// ```
    /// let (ctx, cancel) = goro::context::Context::background().with_cancel();
    /// cancel.cancel();
    /// assert!(ctx.done().recv().is_err()); // closed: returns at once
    /// ```
    pub fn with_cancel(&self) -> (Context, Cancel) {
        self.derive(self.deadline(), false)
    }

    /// A child context that also ends `timeout` from now. The same as
    /// [`with_deadline`](Context::with_deadline)`(Instant::now() + timeout)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use goro::context::{Context, Error};
    ///
    /// let (ctx, _cancel) = Context::background().with_timeout(Duration::from_millis(10));
    /// let _ = ctx.done().recv();
    /// assert_eq!(ctx.err(), Some(Error::DeadlineExceeded));
    /// ```
    pub fn with_timeout(&self, timeout: Duration) -> (Context, Cancel) {
        match Instant::now().checked_add(timeout) {
            Some(deadline) => self.with_deadline(deadline),
            None => self.with_cancel(), // beyond any clock: no deadline at all
        }
    }

    /// A child context that also ends at `deadline` with
    /// [`Error::DeadlineExceeded`]. If this context's deadline is earlier, the child
    /// keeps that one: a child never outlives its parent's deadline. A deadline already
    /// past gives a context that has already ended.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use goro::context::Context;
    ///
    /// let soon = Instant::now() + Duration::from_secs(1);
    /// let (parent, _c1) = Context::background().with_deadline(soon);
    /// let (child, _c2) = parent.with_timeout(Duration::from_secs(3600));
    /// assert_eq!(child.deadline(), Some(soon));
    /// ```
    pub fn with_deadline(&self, deadline: Instant) -> (Context, Cancel) {
        match self.deadline() {
            // The parent's timer ends the child at that deadline: no timer of its own.
            Some(inherited) if inherited <= deadline => self.derive(Some(inherited), false),
            _ => self.derive(Some(deadline), true),
        }
    }

    /// A receiver that is closed when the context ends: `recv` on it blocks until then,
    /// then returns `Err(RecvError)`. Usable in [`select!`](crate::select). Nothing is
    /// ever sent on it. For the background context it never closes. A receiver kept after
    /// every clone of its context and its `Cancel` are gone also reads as closed: nothing
    /// is left to end.
    ///
    /// # Examples
    ///
    /// ```
    /// use goro::context::Context;
    ///
    /// let (ctx, cancel) = Context::background().with_cancel();
    /// let (tx, rx) = goro::chan::bounded::<u32>(0);
    /// let worker = goro::go!(move || loop {
    ///     goro::select! {
    ///         recv(rx) -> job => println!("job {job:?}"),
    ///         recv(ctx.done()) -> _ => return ctx.err(),
    ///     }
    /// });
    /// tx.send(1).unwrap();
    /// cancel.cancel();
    /// assert!(worker.join().unwrap().is_some());
    /// ```
    pub fn done(&self) -> Receiver<()> {
        match &self.node {
            Some(node) => node.done_rx.clone(),
            None => chan::never(),
        }
    }

    /// `None` while the context runs; then why it ended.
    ///
    /// # Examples
    ///
    /// ```
    /// use goro::context::{Context, Error};
    ///
    /// let (ctx, cancel) = Context::background().with_cancel();
    /// assert_eq!(ctx.err(), None);
    /// cancel.cancel();
    /// assert_eq!(ctx.err(), Some(Error::Canceled));
    /// ```
    pub fn err(&self) -> Option<Error> {
        self.node.as_ref().and_then(|node| node.lock().err)
    }

    /// When the context ends by itself, if it has a deadline (its own or inherited).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use goro::context::Context;
    ///
    /// let (ctx, _cancel) = Context::background().with_timeout(Duration::from_secs(5));
    /// assert!(ctx.deadline().is_some());
    /// assert_eq!(Context::background().deadline(), None);
    /// ```
    pub fn deadline(&self) -> Option<Instant> {
        self.node.as_ref().and_then(|node| node.deadline)
    }

    /// A child with `deadline`, which it enforces with a timer of its own if `timed`
    /// (else it is inherited, and the ancestor's timer ends it).
    fn derive(&self, deadline: Option<Instant>, timed: bool) -> (Context, Cancel) {
        let (done_tx, done_rx) = chan::bounded(0);
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        let node = Arc::new(Node {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            parent: self.node.clone(),
            deadline,
            done_tx,
            done_rx,
            state: Mutex::new(State {
                err: None,
                children: HashMap::new(),
                timer: None,
            }),
        });
        // Linked to the parent first, so a parent that ends from now on ends the child.
        if let Some(parent) = &self.node {
            let mut state = parent.lock();
            match state.err {
                Some(err) => {
                    drop(state);
                    node.end(err);
                }
                None => {
                    state.children.insert(node.id, Arc::downgrade(&node));
                }
            }
        }
        if let (Some(deadline), true) = (deadline, timed) {
            node.arm(deadline);
        }
        let cancel = Cancel {
            node: Some(node.clone()),
        };
        (Context { node: Some(node) }, cancel)
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("err", &self.err())
            .field("deadline", &self.deadline())
            .finish()
    }
}

impl Cancel {
    /// Ends the context, and every context derived from it, with [`Error::Canceled`]
    /// (unless it has already ended: then nothing changes). Wakes everything waiting on
    /// their [`done`](Context::done) channels. Safe to call any number of times, from any
    /// coroutine or thread.
    ///
    /// # Examples
    ///
    /// ```
    /// let (ctx, cancel) = goro::context::Context::background().with_cancel();
    /// cancel.cancel();
    /// cancel.cancel(); // no effect
    /// assert!(ctx.err().is_some());
    /// ```
    pub fn cancel(&self) {
        if let Some(node) = &self.node {
            node.end(Error::Canceled);
        }
    }

    /// Gives up the right to cancel without cancelling: the context then ends only at
    /// its deadline or when its parent ends. A context with neither runs as long as
    /// anything holds it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let (ctx, cancel) = goro::context::Context::background().with_timeout(Duration::from_millis(5));
    /// cancel.detach();
    /// assert_eq!(ctx.err(), None); // still running...
    /// let _ = ctx.done().recv(); // ...until its deadline
    /// assert!(ctx.err().is_some());
    /// ```
    pub fn detach(mut self) {
        self.node = None;
    }
}

impl Drop for Cancel {
    fn drop(&mut self) {
        self.cancel();
    }
}

impl fmt::Debug for Cancel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cancel").finish_non_exhaustive()
    }
}

impl Node {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts the deadline's timer, or ends the node now if the deadline has passed.
    fn arm(self: &Arc<Node>, deadline: Instant) {
        if deadline <= Instant::now() {
            self.end(Error::DeadlineExceeded);
            return;
        }
        let weak = Arc::downgrade(self);
        // Runs on a scheduler thread: `end` only takes short locks, closes channels and
        // drops nodes (none of which runs user code), and never panics.
        let timer = goro_sched::call_at(deadline, move || {
            if let Some(node) = weak.upgrade() {
                node.end(Error::DeadlineExceeded);
            }
        });
        let mut state = self.lock();
        if state.err.is_none() {
            state.timer = Some(timer);
        } else {
            drop(state);
            timer.cancel(); // ended meanwhile (its parent did)
        }
    }

    /// Ends this node and its descendants with `err` (those that have not already
    /// ended). Iterative, so a long chain of contexts cannot overflow a coroutine's
    /// stack.
    fn end(&self, err: Error) {
        let mut pending = self.end_one(err);
        while let Some(node) = pending.pop() {
            pending.extend(node.end_one(err));
        }
    }

    /// Ends this node alone; returns its children for the caller to end.
    fn end_one(&self, err: Error) -> Vec<Arc<Node>> {
        let (children, timer) = {
            let mut state = self.lock();
            if state.err.is_some() {
                return Vec::new();
            }
            state.err = Some(err);
            (std::mem::take(&mut state.children), state.timer.take())
        };
        if let Some(timer) = timer {
            timer.cancel();
        }
        self.done_tx.close();
        if let Some(parent) = &self.parent {
            parent.lock().children.remove(&self.id);
        }
        // Children inherit the reason: a parent that timed out times its children out.
        children
            .into_values()
            .filter_map(|weak| weak.upgrade())
            .collect()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let state = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        if let Some(timer) = state.timer.take() {
            timer.cancel();
        }
        // Unlinks from the parent, and drops ancestors this node held last one by one,
        // so dropping the leaf of a long chain does not recurse down it.
        let (mut id, mut parent) = (self.id, self.parent.take());
        while let Some(node) = parent {
            node.lock().children.remove(&id);
            let Some(mut last) = Arc::into_inner(node) else {
                break; // someone else holds it: it stays
            };
            (id, parent) = (last.id, last.parent.take());
            // `last` drops here, without a parent to recurse into.
        }
    }
}
