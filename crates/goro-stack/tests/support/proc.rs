//! What the kernel says about this process: resident memory and mapping count.
//! Shared by the tests that measure stacks (goro-stack's and goro-context's).

/// Resident set size, in bytes (`/proc/self/statm`).
#[allow(dead_code)] // not every test binary that includes this uses both helpers
pub(crate) fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// Kernel mappings (VMAs) of this process (`/proc/self/maps`).
#[allow(dead_code)] // as above
pub(crate) fn mappings() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .count()
}
