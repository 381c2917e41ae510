//! Process-wide settings: which guard mechanism to use and how many kernel mappings
//! goro-stack may spend. Read once, at the first allocation or at [`configure`](crate::configure).

use std::fmt;

use crate::StackError;

/// How the guard page below each stack is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GuardMechanism {
    /// `madvise(MADV_GUARD_INSTALL)` (Linux 6.13+): a page-table marker, no extra
    /// kernel mapping. A million guarded stacks cost a few dozen mappings.
    MadviseGuard,
    /// `mprotect(PROT_NONE)` on the guard page: portable, but it splits the arena
    /// mapping, so every stack costs two mappings out of `vm.max_map_count`.
    Mprotect,
}

impl GuardMechanism {
    /// The name used by `GORO_STACK_GUARD` and in reports: `madvise` or `mprotect`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(goro_stack::GuardMechanism::Mprotect.name(), "mprotect");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            GuardMechanism::MadviseGuard => "madvise",
            GuardMechanism::Mprotect => "mprotect",
        }
    }

    /// Kernel mappings (VMAs) one more stack costs, at most.
    pub(crate) fn mappings_per_stack(self) -> usize {
        match self {
            GuardMechanism::MadviseGuard => 0,
            GuardMechanism::Mprotect => 2,
        }
    }
}

impl fmt::Display for GuardMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Settings for the process's stack pool, applied with [`configure`](crate::configure).
///
/// Fields left unset come from the environment: `GORO_STACK_GUARD` (`madvise` or
/// `mprotect`) and `GORO_STACK_MAX_MAPS` (how many mappings goro-stack may use). With
/// neither, goro probes the kernel for `MADV_GUARD_INSTALL` and budgets
/// `vm.max_map_count` minus a sixteenth for the rest of the process.
///
/// # Examples
///
/// ```
/// use goro_stack::{Config, GuardMechanism};
///
/// // Force the portable guard and a small budget, e.g. to test the error path.
/// let config = Config::new().guard(GuardMechanism::Mprotect).mapping_limit(1_000);
/// # let _ = config;
/// ```
#[derive(Clone, Debug, Default)]
pub struct Config {
    pub(crate) guard: Option<GuardMechanism>,
    pub(crate) mapping_limit: Option<usize>,
}

impl Config {
    /// Settings with nothing set: everything comes from the environment or the probe.
    pub fn new() -> Config {
        Config::default()
    }

    /// Uses this guard mechanism. Asking for [`GuardMechanism::MadviseGuard`] on a kernel
    /// without it makes the first allocation fail with a message saying so.
    pub fn guard(mut self, guard: GuardMechanism) -> Config {
        self.guard = Some(guard);
        self
    }

    /// Lets goro-stack use at most `limit` kernel mappings (arenas, plus two per stack
    /// with `mprotect` guards).
    pub fn mapping_limit(mut self, limit: usize) -> Config {
        self.mapping_limit = Some(limit);
        self
    }

    /// Fills unset fields from `GORO_STACK_GUARD` and `GORO_STACK_MAX_MAPS`.
    pub(crate) fn with_env(mut self) -> Result<Config, StackError> {
        if self.guard.is_none() {
            self.guard = match std::env::var("GORO_STACK_GUARD") {
                Err(_) => None,
                Ok(v) if v.is_empty() || v == "auto" => None,
                Ok(v) if v == "madvise" => Some(GuardMechanism::MadviseGuard),
                Ok(v) if v == "mprotect" => Some(GuardMechanism::Mprotect),
                Ok(v) => {
                    return Err(StackError::Config(format!(
                        "GORO_STACK_GUARD={v:?} is not understood: use `madvise`, `mprotect` or `auto`"
                    )));
                }
            };
        }
        if self.mapping_limit.is_none() {
            if let Ok(v) = std::env::var("GORO_STACK_MAX_MAPS") {
                self.mapping_limit = Some(v.trim().parse().map_err(|_| {
                    StackError::Config(format!(
                        "GORO_STACK_MAX_MAPS={v:?} is not a whole number of mappings"
                    ))
                })?);
            }
        }
        Ok(self)
    }
}
