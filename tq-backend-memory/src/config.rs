//! Settings of the memory backend (`[memory]` in the facade's config file).

use serde::{Deserialize, Serialize};

/// Settings of [`crate::MemoryBackend`].
///
/// In code, start from [`MemoryConfig::new`] (every setting at its default)
/// and change settings with the `with_*` methods:
///
/// ```
/// use tq_backend_memory::{MemoryBackend, MemoryConfig};
///
/// let config = MemoryConfig::new().with_capacity_bytes(16 << 30);
/// let backend = MemoryBackend::with_config(config);
/// assert_eq!(backend.config().capacity_bytes, Some(16 << 30));
/// ```
///
/// In the facade's TOML file, the same settings by the same names:
///
/// ```toml
/// backend = "memory"
///
/// [memory]
/// capacity_bytes = 17179869184  # 16 GiB
/// watch_buffer = 4096            # events a watcher may fall behind by
/// ```
///
/// `Serialize` writes the settings a TOML table would hold, by the same
/// names (a setting left at `None` is left out), so a config built in code
/// and one read from a file go through the same checks.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct MemoryConfig {
    /// The most payload bytes the store may hold; a put past it fails with
    /// `CapacityExceeded` and writes nothing. Default: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_bytes: Option<u64>,
    /// How many events a `kv_watch` stream (or a waiting `kv_wait`) may
    /// fall behind by before it loses the oldest and reads a `Lagged` item
    /// (contract W2). Default: 4096 (`WatchHub::DEFAULT_CAPACITY`); 0
    /// counts as 1.
    #[serde(
        default = "default_watch_buffer",
        skip_serializing_if = "is_default_watch_buffer"
    )]
    pub watch_buffer: usize,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        MemoryConfig {
            capacity_bytes: None,
            watch_buffer: default_watch_buffer(),
        }
    }
}

fn default_watch_buffer() -> usize {
    tq_core::WatchHub::DEFAULT_CAPACITY
}

fn is_default_watch_buffer(events: &usize) -> bool {
    *events == default_watch_buffer()
}

impl MemoryConfig {
    /// Every setting at its default: no capacity limit, watchers buffer
    /// 4096 events.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`capacity_bytes`](Self::capacity_bytes): a limit in bytes, or
    /// `None` for no limit.
    pub fn with_capacity_bytes(mut self, limit: impl Into<Option<u64>>) -> Self {
        self.capacity_bytes = limit.into();
        self
    }

    /// Sets [`watch_buffer`](Self::watch_buffer), in events.
    pub fn with_watch_buffer(mut self, events: usize) -> Self {
        self.watch_buffer = events;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_and_serde_agree() {
        assert_eq!(MemoryConfig::new(), MemoryConfig::default());
        assert_eq!(MemoryConfig::new().capacity_bytes, None);
        let limited = MemoryConfig::new().with_capacity_bytes(1000);
        assert_eq!(limited.capacity_bytes, Some(1000));
        assert_eq!(
            limited.clone().with_capacity_bytes(None),
            MemoryConfig::new()
        );
        let small_buffer = MemoryConfig::new().with_watch_buffer(8);
        assert_eq!(
            serde_json::to_value(&small_buffer).unwrap(),
            serde_json::json!({"watch_buffer": 8})
        );
        for config in [MemoryConfig::new(), limited, small_buffer] {
            let json = serde_json::to_value(&config).unwrap();
            assert_eq!(
                serde_json::from_value::<MemoryConfig>(json).unwrap(),
                config
            );
        }
        // No limit writes no setting, as a file without one would.
        assert_eq!(
            serde_json::to_value(MemoryConfig::new()).unwrap(),
            serde_json::json!({})
        );
        let err =
            serde_json::from_value::<MemoryConfig>(serde_json::json!({"capacity": 1})).unwrap_err();
        assert!(err.to_string().contains("capacity"), "{err}");
    }
}
