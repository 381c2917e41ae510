//! Configuring the runtime before it starts.
//!
//! The runtime starts by itself on first use, configured from the environment:
//! `GORO_WORKERS` (worker threads, like Go's `GOMAXPROCS`; default: one per CPU) and
//! `GORO_STACK_SIZE` (default stack size in bytes, with an optional `K`, `M` or `G`
//! suffix; default 64 KiB). To configure it in code, build a [`Builder`] and call
//! [`init`](Builder::init) before spawning anything.

use std::fmt;

pub use goro_sched::ConfigError;

/// Settings for the runtime, applied by [`init`](Builder::init).
///
/// # Examples
///
/// ```
/// goro::runtime::Builder::new().workers(2).stack_size(128 * 1024).init()?;
/// assert_eq!(goro::go!(|| 1).join().unwrap(), 1);
/// # Ok::<(), goro::runtime::ConfigError>(())
/// ```
pub struct Builder {
    config: Result<goro_sched::Config, ConfigError>,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("config", &self.config)
            .finish()
    }
}

impl Default for Builder {
    fn default() -> Builder {
        Builder::new()
    }
}

impl Builder {
    /// Starts from the environment's settings (`GORO_WORKERS`, `GORO_STACK_SIZE`) or
    /// the defaults. An invalid environment value is reported by [`init`](Builder::init).
    pub fn new() -> Builder {
        Builder {
            config: goro_sched::Config::from_env(),
        }
    }

    /// Sets the number of worker threads (Go's `GOMAXPROCS`). Must be at least 1.
    pub fn workers(mut self, n: usize) -> Builder {
        self.config = self.config.map(|c| c.workers(n));
        self
    }

    /// Sets the default stack size of new coroutines, in bytes (16 KiB to 1 GiB).
    pub fn stack_size(mut self, bytes: usize) -> Builder {
        self.config = self.config.map(|c| c.stack_size(bytes));
        self
    }

    /// Lets started coroutines move between worker threads, as goroutines do in Go: a
    /// coroutine woken by another worker may continue there, and an idle worker may
    /// steal any runnable coroutine. This balances load better, at a price in safety
    /// that the type system cannot check. [`Builder::pin`](crate::Builder::pin) keeps
    /// a particular coroutine on its thread.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// // SAFETY: no coroutine of this program holds a thread-local reference or a
    /// // !Send value across a blocking call.
    /// unsafe { goro::runtime::Builder::new().allow_migration() }.init()?;
    /// # Ok::<(), goro::runtime::ConfigError>(())
    /// ```
    ///
    /// # Safety
    ///
    /// After any blocking call (a join, a sleep, `yield_now`, a channel operation, a
    /// lock, a socket call) a coroutine may be running on a different thread. The caller
    /// promises that no coroutine in the program, except pinned ones, holds across such
    /// a call:
    /// - a value that is not `Send`: an `Rc`, a `std::sync::MutexGuard`, a `RefCell`
    ///   borrow of a thread-local, or
    /// - a reference into a thread-local: a `thread_local!` value's reference,
    ///   `rand::thread_rng()`.
    pub unsafe fn allow_migration(mut self) -> Builder {
        // SAFETY: the caller takes on the same contract, stated above.
        self.config = self.config.map(|c| unsafe { c.allow_migration() });
        self
    }

    /// Starts the runtime with these settings.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] whose message names the setting: zero or more than 1024
    /// workers, a stack size outside 16 KiB..1 GiB, an unparsable environment
    /// variable, or a runtime that is already running (something was spawned first).
    pub fn init(self) -> Result<(), ConfigError> {
        goro_sched::init(self.config?)
    }
}
