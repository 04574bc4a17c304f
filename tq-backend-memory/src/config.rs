//! Settings of the memory backend (`[memory]` in the facade's config file).

use serde::Deserialize;

/// Settings of [`crate::MemoryBackend`].
///
/// ```toml
/// backend = "memory"
///
/// [memory]
/// capacity_bytes = 17179869184  # 16 GiB
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryConfig {
    /// The most payload bytes the store may hold; a put past it fails with
    /// `CapacityExceeded` and writes nothing. Default: no limit.
    #[serde(default)]
    pub capacity_bytes: Option<u64>,
}
