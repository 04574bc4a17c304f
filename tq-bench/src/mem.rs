//! Process memory figures from Linux: resident set size, its peak, and the
//! bytes the C allocator has handed out.

/// Resets the peak RSS (VmHWM) to the current RSS by writing `5` to
/// `/proc/self/clear_refs`. Returns whether the kernel accepted it.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .map(|kib: u64| kib * 1024)
}

/// The peak resident set size since start or the last [`reset_peak_rss`], in bytes.
pub fn peak_rss() -> Option<u64> {
    status_kib("VmHWM:")
}

/// The current resident set size, in bytes.
pub fn rss() -> Option<u64> {
    status_kib("VmRSS:")
}

/// Bytes in use from the C allocator (glibc `mallinfo2`: chunks in use in
/// all arenas plus mmapped chunks, headers and rounding included).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn heap_in_use() -> Option<u64> {
    // SAFETY: mallinfo2 only reads allocator statistics.
    let info = unsafe { libc::mallinfo2() };
    Some((info.uordblks + info.hblkhd) as u64)
}

/// Not available off glibc.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn heap_in_use() -> Option<u64> {
    None
}

/// Hands memory the C allocator holds but no longer uses back to the
/// kernel (glibc `malloc_trim`), so that RSS shows live data only.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn trim() {
    // SAFETY: malloc_trim only releases free allocator memory.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Nothing to do off glibc.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn trim() {}
