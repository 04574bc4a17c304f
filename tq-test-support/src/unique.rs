//! Names and ports that no other test of this machine picks.

use std::sync::atomic::{AtomicU64, Ordering};

/// A different, well-mixed number at every call, in every process.
pub(crate) fn pseudo_random() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut x = nanos
        ^ (u64::from(std::process::id()) << 32)
        ^ COUNTER
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^ (x >> 33)
}

/// A key prefix no other test of this machine uses: `<name>-<pid>-<hex>`.
pub fn unique_prefix(name: &str) -> String {
    format!("{name}-{}-{:x}", std::process::id(), pseudo_random())
}
