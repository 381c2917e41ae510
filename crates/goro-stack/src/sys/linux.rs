//! Linux: `mmap(MAP_NORESERVE)` arenas, guard pages through `madvise(MADV_GUARD_INSTALL)`
//! (6.13+) or `mprotect(PROT_NONE)`, and `madvise(MADV_DONTNEED)` for trimming.

use std::ffi::c_void;
use std::io;
use std::ptr::NonNull;

use memmap2::{MmapMut, MmapOptions};
use nix::sys::mman::{MmapAdvise, ProtFlags, madvise, mprotect};

use crate::{GuardMechanism, StackError};

/// `MADV_GUARD_INSTALL` from `<linux/mman.h>` (Linux 6.13+): turns the range into guard
/// regions that fault on any access, by setting page-table markers rather than by
/// splitting the mapping, so a guard costs no VMA. Neither libc nor nix define it yet.
const MADV_GUARD_INSTALL: libc::c_int = 102;

/// The kernel's page size.
pub(crate) fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions; _SC_PAGESIZE is always supported on Linux.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size).unwrap_or(4096)
}

/// `/proc/sys/vm/max_map_count`, the most mappings (VMAs) one process may have.
pub(crate) fn max_map_count() -> Option<usize> {
    std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Reserves `len` bytes of address space: nothing is committed until touched, no swap
/// is reserved, and transparent huge pages are off (a 2 MiB page behind one touched
/// stack page would cost 512 times the memory).
pub(crate) fn map_arena(len: usize) -> Result<MmapMut, StackError> {
    let map = MmapOptions::new()
        .len(len)
        .no_reserve_swap()
        .stack()
        .map_anon()
        .map_err(|source| StackError::Os {
            call: "mmap",
            source,
        })?;
    // Best effort: MAP_STACK already implies no THP on 6.7+; older kernels need the advice.
    // SAFETY: the range is exactly the mapping just created; NOHUGEPAGE only changes a
    // flag on it and never its contents.
    let _ = unsafe { madvise(base(&map), len, MmapAdvise::MADV_NOHUGEPAGE) };
    Ok(map)
}

fn base(map: &MmapMut) -> NonNull<c_void> {
    NonNull::new(map.as_ptr().cast_mut().cast()).expect("mmap never returns null")
}

/// Makes the page-aligned range `[addr, addr + len)` fault on any access.
///
/// # Safety
/// The range must lie inside an arena and hold nothing anyone will read again.
pub(crate) unsafe fn install_guard(
    addr: NonNull<u8>,
    len: usize,
    mechanism: GuardMechanism,
) -> Result<(), StackError> {
    let (call, result) = match mechanism {
        GuardMechanism::MadviseGuard => {
            // SAFETY: the caller guarantees the range is an unused part of an arena.
            let rc = unsafe { libc::madvise(addr.as_ptr().cast(), len, MADV_GUARD_INSTALL) };
            let result = if rc == 0 {
                Ok(())
            } else {
                Err(io::Error::last_os_error())
            };
            ("madvise(MADV_GUARD_INSTALL)", result)
        }
        GuardMechanism::Mprotect => {
            // SAFETY: as above; the range becomes inaccessible, which is the point.
            let result = unsafe { mprotect(addr.cast(), len, ProtFlags::PROT_NONE) };
            ("mprotect(PROT_NONE)", result.map_err(io::Error::from))
        }
    };
    result.map_err(|source| StackError::Os { call, source })
}

/// Gives the pages of `[addr, addr + len)` back to the kernel; the next touch maps a
/// fresh zero page. Guard markers and protections stay as they are.
///
/// # Safety
/// The range must lie inside an arena and hold nothing anyone will read again.
pub(crate) unsafe fn discard(addr: NonNull<u8>, len: usize) {
    // SAFETY: the caller guarantees the range is unused arena memory. Failure (only
    // possible for a bad range) just leaves the pages resident.
    let _ = unsafe { madvise(addr.cast(), len, MmapAdvise::MADV_DONTNEED) };
}

/// Whether this kernel accepts `MADV_GUARD_INSTALL` on an anonymous private mapping.
pub(crate) fn probe_guard_install() -> bool {
    let page = page_size();
    let Ok(map) = MmapOptions::new().len(2 * page).map_anon() else {
        return false;
    };
    // SAFETY: the first page of a fresh private mapping that is dropped right after.
    unsafe { libc::madvise(base(&map).as_ptr(), page, MADV_GUARD_INSTALL) == 0 }
}
