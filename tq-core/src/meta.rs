//! What puts return and `kv_batch_get_by_meta` accepts, and what `kv_list` returns.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::tag::Tag;

/// The description of a batch of rows in one partition (contract P7).
///
/// Returned by every put; hand it to `kv_batch_get_by_meta` to read the same
/// rows and fields back. Serializable, so it can travel between workers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KvBatchMeta {
    /// The keys, in call order.
    pub keys: Vec<String>,
    /// Each key's full tag after the put, aligned with `keys`.
    pub tags: Vec<Tag>,
    /// The partition the keys live in.
    pub partition_id: String,
    /// The fields every key holds after the put, sorted by name.
    pub fields: Vec<String>,
    /// Free-form information for the caller; tq-rs never reads it.
    #[serde(default)]
    pub extra_info: serde_json::Map<String, serde_json::Value>,
}

/// `kv_list`'s answer: partition -> key -> tag. Partitions are sorted by
/// name; keys are in first-insertion order (contract L1-L3).
pub type Listing = IndexMap<String, IndexMap<String, Tag>>;
