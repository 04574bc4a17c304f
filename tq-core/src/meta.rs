//! What puts return and `kv_batch_get_by_meta` accepts, and what `kv_list` returns.

use std::collections::{HashMap, HashSet};

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
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

/// The helpers of the Python `KVBatchMeta` ([contract M1](crate::contract#meta-helpers)): select, reorder,
/// split and join metas, keeping keys and tags aligned.
impl KvBatchMeta {
    /// The number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the meta names no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// A meta of just `keys`, in that order, each with its tag; partition,
    /// fields and `extra_info` are kept. A key the meta does not hold, or a
    /// key given twice, is `InvalidArgument` naming it.
    pub fn select_keys<K: AsRef<str>>(&self, keys: &[K]) -> Result<KvBatchMeta> {
        let index: HashMap<&str, usize> = self
            .keys
            .iter()
            .enumerate()
            .map(|(i, k)| (k.as_str(), i))
            .collect();
        let mut seen = HashSet::with_capacity(keys.len());
        let mut picked = Vec::with_capacity(keys.len());
        for key in keys.iter().map(AsRef::as_ref) {
            if !seen.insert(key) {
                return Err(self.invalid(format!("key {key:?} is selected twice"), "key", key));
            }
            let i = *index.get(key).ok_or_else(|| {
                self.invalid(format!("key {key:?} is not in this meta"), "key", key)
            })?;
            picked.push(i);
        }
        Ok(self.with_rows(&picked))
    }

    /// Puts the keys (and their tags) in the order `indexes` gives: row `i`
    /// of the result is row `indexes[i]` now. `indexes` must name every row
    /// exactly once; otherwise it is `InvalidArgument` and nothing changes.
    pub fn reorder(&mut self, indexes: &[usize]) -> Result<()> {
        if indexes.len() != self.len() {
            return Err(self.invalid(
                format!(
                    "reorder needs {} indexes, one per key, got {}",
                    self.len(),
                    indexes.len()
                ),
                "indexes",
                &indexes.len().to_string(),
            ));
        }
        let mut seen = vec![false; self.len()];
        for &i in indexes {
            match seen.get_mut(i) {
                None => {
                    return Err(self.invalid(
                        format!("index {i} is out of range for {} keys", self.len()),
                        "index",
                        &i.to_string(),
                    ));
                }
                Some(true) => {
                    return Err(self.invalid(
                        format!("index {i} appears twice"),
                        "index",
                        &i.to_string(),
                    ));
                }
                Some(slot) => *slot = true,
            }
        }
        *self = self.with_rows(indexes);
        Ok(())
    }

    /// Splits the meta into `chunks` metas of consecutive keys whose sizes
    /// differ by at most one (the first ones are the larger); with more
    /// chunks than keys, the last chunks are empty. Zero chunks is
    /// `InvalidArgument`.
    pub fn chunk(&self, chunks: usize) -> Result<Vec<KvBatchMeta>> {
        if chunks == 0 {
            return Err(self.invalid("cannot split into 0 chunks".into(), "chunks", "0"));
        }
        let (base, extra) = (self.len() / chunks, self.len() % chunks);
        let mut start = 0;
        Ok((0..chunks)
            .map(|c| {
                let end = start + base + usize::from(c < extra);
                let rows: Vec<usize> = (start..end).collect();
                start = end;
                self.with_rows(&rows)
            })
            .collect())
    }

    /// Joins metas of one partition, keys and tags in order. Empty metas are
    /// skipped; no meta at all (or only empty ones) gives an empty meta.
    /// `fields` becomes the fields every meta lists, sorted (each meta's
    /// keys hold its fields, so all keys of the result hold these);
    /// `extra_info` is the union of the metas'. Metas of different
    /// partitions, a key in two metas, or an `extra_info` entry with
    /// different values are `InvalidArgument`.
    pub fn concat(metas: &[KvBatchMeta]) -> Result<KvBatchMeta> {
        let mut parts = metas.iter().filter(|m| !m.is_empty());
        let Some(first) = parts.next() else {
            return Ok(KvBatchMeta::default());
        };
        let mut out = first.clone();
        let mut keys: HashSet<String> = first.keys.iter().cloned().collect();
        for meta in parts {
            if meta.partition_id != out.partition_id {
                return Err(Error::invalid_argument(format!(
                    "cannot concat metas of partitions {:?} and {:?}",
                    out.partition_id, meta.partition_id
                ))
                .with_context("partition", meta.partition_id.clone()));
            }
            if let Some(key) = meta.keys.iter().find(|k| keys.contains(k.as_str())) {
                return Err(out.invalid(format!("key {key:?} is in two metas"), "key", key));
            }
            keys.extend(meta.keys.iter().cloned());
            out.keys.extend(meta.keys.iter().cloned());
            out.tags.extend(meta.tags.iter().cloned());
            out.fields.retain(|f| meta.fields.contains(f));
            for (name, value) in &meta.extra_info {
                match out.extra_info.get(name) {
                    Some(existing) if existing != value => {
                        return Err(out.invalid(
                            format!("extra_info entry {name:?} differs between metas"),
                            "extra_info",
                            name,
                        ));
                    }
                    Some(_) => {}
                    None => {
                        out.extra_info.insert(name.clone(), value.clone());
                    }
                }
            }
        }
        out.fields.sort_unstable();
        Ok(out)
    }

    /// This meta with rows `rows` (indexes into `keys`, already checked).
    fn with_rows(&self, rows: &[usize]) -> KvBatchMeta {
        KvBatchMeta {
            keys: rows.iter().map(|&i| self.keys[i].clone()).collect(),
            tags: rows
                .iter()
                .map(|&i| self.tags.get(i).cloned().unwrap_or_default())
                .collect(),
            partition_id: self.partition_id.clone(),
            fields: self.fields.clone(),
            extra_info: self.extra_info.clone(),
        }
    }

    fn invalid(&self, message: String, what: &'static str, value: &str) -> Error {
        Error::invalid_argument(message)
            .with_context("partition", self.partition_id.clone())
            .with_context(what, value)
    }
}
