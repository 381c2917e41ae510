//! Bridges to other runtimes' ecosystems.
//!
//! - `goro::compat::tokio` (feature `tokio`): call futures that need tokio's reactor or timer
//!   (`tokio::net`, HTTP clients such as hyper and reqwest, database drivers) from
//!   coroutines.
//!
//! Futures that need only a waker need no bridge: [`block_on`](crate::block_on) runs
//! them, and a [`JoinHandle`](crate::JoinHandle) is itself a future.

#[cfg(feature = "tokio")]
pub mod tokio;
