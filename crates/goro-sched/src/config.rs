//! Runtime configuration: worker count, default stack size, migration. From
//! `GORO_WORKERS` and `GORO_STACK_SIZE`, or set in code before the runtime starts.

use std::fmt;

/// Most workers a runtime may have. More than this is almost certainly a mistake (a
/// byte count in the wrong variable).
pub const MAX_WORKERS: usize = 1024;

/// How the runtime is set up. Build one, adjust it, and pass it to [`init`](crate::init).
///
/// # Examples
///
/// ```
/// let config = goro_sched::Config::from_env()?.workers(2).stack_size(128 * 1024);
/// assert_eq!(config.worker_count(), 2);
/// # Ok::<(), goro_sched::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Config {
    pub(crate) workers: usize,
    pub(crate) stack_size: usize,
    pub(crate) allow_migration: bool,
}

/// A configuration value that cannot be used; the message names the setting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError(pub(crate) String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

impl From<ConfigError> for std::io::Error {
    fn from(err: ConfigError) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, err)
    }
}

impl Config {
    /// The defaults, overridden by `GORO_WORKERS` and `GORO_STACK_SIZE` where set:
    /// one worker per available CPU and 64 KiB stacks.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the variable if either is set to something unusable.
    pub fn from_env() -> Result<Config, ConfigError> {
        let mut config = Config {
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            stack_size: goro_stack::DEFAULT_STACK_SIZE,
            allow_migration: false,
        };
        if let Ok(v) = std::env::var("GORO_WORKERS") {
            config.workers = v.trim().parse().map_err(|_| {
                ConfigError(format!(
                    "GORO_WORKERS={v:?} is not a whole number of workers"
                ))
            })?;
            check_workers(config.workers, "GORO_WORKERS")?;
        }
        if let Ok(v) = std::env::var("GORO_STACK_SIZE") {
            config.stack_size = parse_size(&v).ok_or_else(|| {
                ConfigError(format!(
                    "GORO_STACK_SIZE={v:?} is not a size (bytes, or with a K, M or G suffix)"
                ))
            })?;
            check_stack_size(config.stack_size, "GORO_STACK_SIZE")?;
        }
        Ok(config)
    }

    /// Sets the number of workers (threads running coroutines), like GOMAXPROCS.
    pub fn workers(mut self, n: usize) -> Config {
        self.workers = n;
        self
    }

    /// Sets the default stack size of new coroutines, in bytes.
    pub fn stack_size(mut self, bytes: usize) -> Config {
        self.stack_size = bytes;
        self
    }

    /// Lets started coroutines move between workers, as goroutines do.
    ///
    /// # Safety
    ///
    /// Every coroutine of this runtime (except those spawned with `pinned`) may then
    /// resume on a different thread after any suspension point: a channel operation, a
    /// lock, a sleep, `yield_now`, a socket call. The caller promises that no coroutine
    /// holds a value that is not `Send` (an `Rc`, a `std::sync::MutexGuard`, a
    /// `RefCell` borrow of a thread-local) or a reference into a thread-local
    /// (`thread_local!`, `rand::thread_rng()`) across such a point.
    pub unsafe fn allow_migration(mut self) -> Config {
        self.allow_migration = true;
        self
    }

    /// The configured number of workers.
    pub fn worker_count(&self) -> usize {
        self.workers
    }

    /// The configured default stack size, in bytes.
    pub fn default_stack_size(&self) -> usize {
        self.stack_size
    }

    /// Whether started coroutines may migrate between workers.
    pub fn migration_allowed(&self) -> bool {
        self.allow_migration
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        check_workers(self.workers, "the worker count")?;
        check_stack_size(self.stack_size, "the default stack size")
    }
}

fn check_workers(n: usize, setting: &str) -> Result<(), ConfigError> {
    if n == 0 {
        return Err(ConfigError(format!(
            "{setting} is 0: at least one worker is needed"
        )));
    }
    if n > MAX_WORKERS {
        return Err(ConfigError(format!(
            "{setting} is {n}: at most {MAX_WORKERS} workers are supported"
        )));
    }
    Ok(())
}

fn check_stack_size(bytes: usize, setting: &str) -> Result<(), ConfigError> {
    // The stack allocator is the authority on sizes.
    goro_stack::validate_size(bytes)
        .map(drop)
        .map_err(|err| ConfigError(format!("{setting} is {bytes} bytes: {err}")))
}

/// "65536", "64K", "64k", "1M", "1G" (binary multiples).
fn parse_size(s: &str) -> Option<usize> {
    let s = s.trim();
    let (digits, shift) = match s.as_bytes().last()? {
        b'k' | b'K' => (&s[..s.len() - 1], 10),
        b'm' | b'M' => (&s[..s.len() - 1], 20),
        b'g' | b'G' => (&s[..s.len() - 1], 30),
        _ => (s, 0),
    };
    digits.parse::<usize>().ok()?.checked_mul(1 << shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_suffixes() {
        assert_eq!(parse_size("65536"), Some(65536));
        assert_eq!(parse_size("64K"), Some(65536));
        assert_eq!(parse_size(" 1m "), Some(1 << 20));
        assert_eq!(parse_size("2G"), Some(2 << 30));
        assert_eq!(parse_size("lots"), None);
        assert_eq!(parse_size(""), None);
    }

    #[test]
    fn bad_values_name_the_setting() {
        let err = Config::from_env()
            .unwrap()
            .workers(0)
            .validate()
            .unwrap_err();
        assert!(err.0.contains("worker count is 0"), "{err}");
        let err = Config::from_env()
            .unwrap()
            .stack_size(1000)
            .validate()
            .unwrap_err();
        assert!(err.0.contains("default stack size is 1000 bytes"), "{err}");
        let err = Config::from_env()
            .unwrap()
            .workers(1 << 20)
            .validate()
            .unwrap_err();
        assert!(err.0.contains("at most 1024"), "{err}");
    }
}
