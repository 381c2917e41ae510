//! The operating-system calls behind the arenas, one file per target.
//!
//! goro-stack is the only crate in goro that maps, protects or advises memory; the
//! rest of the runtime sees slots as plain address ranges.

#[cfg(target_os = "linux")]
#[path = "linux.rs"]
mod imp;

#[cfg(not(target_os = "linux"))]
compile_error!("Unsupported target: goro-stack supports Linux only for now");

pub(crate) use imp::*;
