//! Size classes: every stack is a power of two between [`MIN_STACK_SIZE`] and
//! [`MAX_STACK_SIZE`] bytes of usable memory, plus one guard page below it.

use crate::StackError;

/// The smallest usable stack goro hands out: 16 KiB.
///
/// Smaller stacks save little (a parked coroutine only pays for the pages it touched)
/// and overflow on ordinary code such as formatting a panic message.
pub const MIN_STACK_SIZE: usize = 16 * 1024;

/// The largest stack goro hands out: 1 GiB. Anything larger is almost certainly a
/// unit mistake (bytes vs KiB) and would exhaust address space quickly.
pub const MAX_STACK_SIZE: usize = 1024 * 1024 * 1024;

/// The default stack: 64 KiB of address space, of which a parked coroutine typically
/// has one page resident.
pub const DEFAULT_STACK_SIZE: usize = 64 * 1024;

/// Number of size classes: 16 KiB, 32 KiB, ..., 1 GiB.
pub(crate) const CLASSES: usize =
    (MAX_STACK_SIZE.trailing_zeros() - MIN_STACK_SIZE.trailing_zeros()) as usize + 1;

/// A power-of-two size class; `SizeClass(0)` is 16 KiB.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SizeClass(pub(crate) u8);

impl SizeClass {
    /// The class that holds `size` usable bytes, or the reason `size` is not acceptable.
    pub(crate) fn for_size(size: usize) -> Result<SizeClass, StackError> {
        let reason = if size == 0 {
            "a stack size must not be zero"
        } else if size < MIN_STACK_SIZE {
            "below the 16 KiB minimum"
        } else if size > MAX_STACK_SIZE {
            "above the 1 GiB maximum"
        } else {
            let rounded = size.next_power_of_two();
            let index = rounded.trailing_zeros() - MIN_STACK_SIZE.trailing_zeros();
            return Ok(SizeClass(index as u8));
        };
        Err(StackError::InvalidSize {
            requested: size,
            reason,
        })
    }

    /// Usable bytes of a stack in this class (the guard page not included).
    pub(crate) fn usable(self) -> usize {
        MIN_STACK_SIZE << self.0
    }

    pub(crate) fn index(self) -> usize {
        usize::from(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_round_up_to_powers_of_two() {
        assert_eq!(CLASSES, 17);
        assert_eq!(SizeClass::for_size(16 * 1024).unwrap().usable(), 16 * 1024);
        assert_eq!(
            SizeClass::for_size(16 * 1024 + 1).unwrap().usable(),
            32 * 1024
        );
        assert_eq!(
            SizeClass::for_size(DEFAULT_STACK_SIZE).unwrap().usable(),
            64 * 1024
        );
        assert_eq!(
            SizeClass::for_size(MAX_STACK_SIZE).unwrap().index(),
            CLASSES - 1
        );
    }

    #[test]
    fn bad_sizes_name_the_reason() {
        for (size, words) in [
            (0, "zero"),
            (100, "16 KiB minimum"),
            (MAX_STACK_SIZE + 1, "1 GiB maximum"),
            (usize::MAX, "1 GiB maximum"),
        ] {
            let err = SizeClass::for_size(size).unwrap_err().to_string();
            assert!(err.contains(words), "{size}: {err}");
            assert!(err.contains(&size.to_string()), "{size}: {err}");
        }
    }
}
