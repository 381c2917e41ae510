//! The errors a stack allocation can return. Each one says what went wrong and what
//! to change; none of them is a panic or an abort.

use std::fmt;
use std::io;

/// Why a stack could not be allocated.
///
/// Converts into [`std::io::Error`] (what `goro::Builder::spawn` returns), keeping the
/// message.
#[derive(Debug)]
#[non_exhaustive]
pub enum StackError {
    /// The requested size is zero, below [`MIN_STACK_SIZE`](crate::MIN_STACK_SIZE) or
    /// above [`MAX_STACK_SIZE`](crate::MAX_STACK_SIZE).
    InvalidSize {
        /// The size that was asked for, in bytes.
        requested: usize,
        /// Why it was refused.
        reason: &'static str,
    },
    /// Another stack would take the process past its kernel mapping limit
    /// (`vm.max_map_count`). Only happens with `mprotect` guards, which cost two
    /// mappings per stack.
    MapBudget {
        /// The kernel's `vm.max_map_count`.
        max_map_count: usize,
        /// How many mappings goro-stack allows itself (the rest is left to the process).
        limit: usize,
        /// How many stacks of this kind that limit allows.
        stacks: usize,
    },
    /// The environment or [`configure`](crate::configure) asked for something invalid.
    Config(String),
    /// The operating system refused a mapping call.
    Os {
        /// The call that failed (`mmap`, `madvise`, `mprotect`).
        call: &'static str,
        /// The error it returned.
        source: io::Error,
    },
}

impl fmt::Display for StackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StackError::InvalidSize { requested, reason } => {
                write!(f, "invalid stack size of {requested} bytes: {reason}")
            }
            StackError::MapBudget {
                max_map_count,
                limit,
                stacks,
            } => write!(
                f,
                "cannot allocate another coroutine stack: vm.max_map_count is {max_map_count}, \
                 which leaves goro {limit} mappings, enough for about {stacks} stacks with \
                 mprotect guard pages (two mappings each); raise it (sysctl -w \
                 vm.max_map_count=...) or run on Linux 6.13+ where MADV_GUARD_INSTALL guards \
                 cost no mapping"
            ),
            StackError::Config(msg) => f.write_str(msg),
            StackError::Os { call, source } => {
                write!(f, "{call} failed for a coroutine stack: {source}")
            }
        }
    }
}

impl std::error::Error for StackError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StackError::Os { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<StackError> for io::Error {
    fn from(err: StackError) -> io::Error {
        let kind = match &err {
            StackError::InvalidSize { .. } | StackError::Config(_) => io::ErrorKind::InvalidInput,
            StackError::MapBudget { .. } => io::ErrorKind::OutOfMemory,
            StackError::Os { source, .. } => source.kind(),
        };
        io::Error::new(kind, err)
    }
}
