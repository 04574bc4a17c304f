//! A custom backend, registered by name, chosen from a config file, and
//! checked with the conformance suite (`cargo test -p tq-facade --example
//! custom_backend` runs the suite against it).
//!
//! `TinyBackend` keeps rows in one `BTreeMap` behind one mutex: the simplest
//! correct backend, not a fast one. A real backend would live in its own
//! crate; everything it needs is in `tq_core` (re-exported by `tq_facade`).

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::Deserialize;
use tq_facade::{
    BackendRegistry, Capabilities, CellWrite, Cells, Config, Error, ErrorKind, Listing, Result,
    RowState, RowWrite, StorageBackend, Tag, TransferQueue, Value, async_trait, merge_tag, tag,
};

/// `[tiny]` settings. `deny_unknown_fields` turns a typo into an error
/// naming the setting.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TinyConfig {
    /// The most rows the store holds; puts past it fail and write nothing.
    #[serde(default = "default_max_rows")]
    pub max_rows: usize,
}

fn default_max_rows() -> usize {
    1_000_000
}

#[derive(Default)]
struct Row {
    seq: u64,
    cells: BTreeMap<String, Value>,
    tag: Tag,
}

#[derive(Default)]
struct State {
    rows: BTreeMap<(String, String), Row>,
    next_seq: u64,
}

/// The backend.
#[derive(Debug)]
pub struct TinyBackend {
    config: TinyConfig,
    state: Mutex<State>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} rows", self.rows.len())
    }
}

impl TinyBackend {
    /// An empty store.
    pub fn new(config: TinyConfig) -> Self {
        TinyBackend {
            config,
            state: Mutex::default(),
        }
    }

    fn state(&self) -> Result<std::sync::MutexGuard<'_, State>> {
        self.state
            .lock()
            .map_err(|_| Error::unexpected("a thread panicked holding the lock"))
    }
}

#[async_trait]
impl StorageBackend for TinyBackend {
    fn name(&self) -> &str {
        "tiny"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::new()
            .with_atomic_batch(true)
            .with_zero_copy_put(true)
    }

    async fn put(&self, partition: &str, rows: Vec<RowWrite>) -> Result<Vec<RowState>> {
        let mut state = self.state()?;
        let new_rows = rows
            .iter()
            .filter(|r| {
                r.creates()
                    && !state
                        .rows
                        .contains_key(&(partition.to_owned(), r.key.clone()))
            })
            .count();
        if state.rows.len() + new_rows > self.config.max_rows {
            return Err(Error::new(ErrorKind::CapacityExceeded, "max_rows reached")
                .with_context("partition", partition));
        }
        // Refuse a cell write this backend does not know before writing
        // anything (B3): `CellWrite` is `#[non_exhaustive]`.
        for write in &rows {
            for (field, cell) in &write.cells {
                if !matches!(cell, CellWrite::Set(_) | CellWrite::Remove) {
                    return Err(Error::new(ErrorKind::Unsupported, "unknown cell write")
                        .with_context("key", write.key.clone())
                        .with_context("field", field.clone()));
                }
            }
        }
        let mut out = Vec::with_capacity(rows.len());
        for write in rows {
            let id = (partition.to_owned(), write.key.clone());
            let existed = state.rows.contains_key(&id);
            if !existed && !write.creates() {
                // Removals only, of a missing row: it stays missing.
                out.push(RowState::absent());
                continue;
            }
            let seq = state.next_seq;
            let row = state.rows.entry(id).or_insert_with(|| Row {
                seq,
                ..Row::default()
            });
            for (field, cell) in write.cells {
                match cell {
                    CellWrite::Set(value) => row.cells.insert(field, value),
                    _ => row.cells.remove(&field),
                };
            }
            if let Some(patch) = &write.tag {
                merge_tag(&mut row.tag, patch);
            }
            out.push(RowState::new(
                row.tag.clone(),
                row.cells.keys().cloned().collect(),
                existed,
            ));
            if !existed {
                state.next_seq += 1;
            }
        }
        Ok(out)
    }

    async fn get(
        &self,
        partition: &str,
        keys: &[String],
        fields: Option<&[String]>,
    ) -> Result<Vec<Option<Cells>>> {
        let state = self.state()?;
        Ok(keys
            .iter()
            .map(|key| {
                let row = state.rows.get(&(partition.to_owned(), key.clone()))?;
                Some(match fields {
                    None => row
                        .cells
                        .iter()
                        .map(|(f, v)| (f.clone(), v.clone()))
                        .collect(),
                    Some(fields) => fields
                        .iter()
                        .filter_map(|f| row.cells.get(f).map(|v| (f.clone(), v.clone())))
                        .collect(),
                })
            })
            .collect())
    }

    async fn list(&self, partition: Option<&str>) -> Result<Listing> {
        let state = self.state()?;
        let mut rows: Vec<_> = state
            .rows
            .iter()
            .filter(|((p, _), _)| partition.is_none_or(|want| want == p))
            .collect();
        rows.sort_by_key(|(_, row)| row.seq);
        let mut listing = Listing::new();
        for ((p, key), row) in rows {
            listing
                .entry(p.clone())
                .or_default()
                .insert(key.clone(), row.tag.clone());
        }
        Ok(listing)
    }

    async fn clear(&self, partition: &str, keys: &[String]) -> Result<usize> {
        let mut state = self.state()?;
        Ok(keys
            .iter()
            .filter(|k| {
                state
                    .rows
                    .remove(&(partition.to_owned(), (*k).clone()))
                    .is_some()
            })
            .count())
    }
}

/// A registry with the built-ins and `tiny`.
pub fn registry() -> BackendRegistry {
    let mut registry = BackendRegistry::default();
    registry.register_typed("tiny", |config: TinyConfig| async move {
        Ok(TinyBackend::new(config))
    });
    registry
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    // In a deployment this text is the file TQ_CONFIG points at.
    let config = Config::from_toml_str("backend = \"tiny\"\n\n[tiny]\nmax_rows = 3\n")?;
    let tq = TransferQueue::open_with_registry(&registry(), config).await?;
    println!("opened the '{}' backend", tq.backend().name());

    tq.kv_put("a", "p", None, Some(tag! {"status" => "new"}))
        .await?;
    tq.kv_batch_put(
        &["b", "c"],
        "p",
        None,
        Some(vec![tag! {"status" => "new"}; 2]),
    )
    .await?;
    let err = tq.kv_put("d", "p", None, Some(tag! {})).await.unwrap_err();
    println!("a fourth row is refused: {err}");
    println!(
        "listing: {:?}",
        tq.kv_list(Some("p")).await?["p"].keys().collect::<Vec<_>>()
    );

    let typo = Config::from_toml_str("backend = \"tiny\"\n[tiny]\nmax_row = 3\n")?;
    let err = TransferQueue::open_with_registry(&registry(), typo)
        .await
        .unwrap_err();
    println!("a typo in the settings is refused: {err}");
    Ok(())
}

/// The whole conformance suite against `TinyBackend`, through the facade,
/// opened from a config file: these lines are all a backend author writes.
#[cfg(test)]
mod tests {
    use super::*;
    use tq_facade::core::conformance::Fixture;

    tq_facade::core::conformance_tests!(|| async {
        let config = Config::from_toml_str("backend = \"tiny\"\n[tiny]\n")?;
        let backend = registry().open(&config).await?;
        // The suite slips a call-counting layer under the facade (rule B1).
        Ok(Fixture::wrapping(backend, |b| {
            Ok(TransferQueue::from_backend(b).store().clone())
        })?
        // What `capabilities` above promises; the suite checks it.
        .claims(
            Capabilities::new()
                .with_atomic_batch(true)
                .with_zero_copy_put(true),
        )
        // Values stay Rust values in a map: no stored bytes to corrupt.
        .without_stored_bytes()
        // `max_rows` counts rows, not bytes: no byte capacity to check.
        .without_capacity_limit())
    });

    /// The same backend with pushed events: `WatchLayer` publishes each
    /// write it passes on, so `kv_watch` works and `kv_wait` stops polling.
    mod watched {
        use super::*;
        use std::sync::Arc;
        use tq_facade::{Notifications, WatchLayer};

        tq_facade::core::conformance_tests!(|| async {
            let tiny = TinyBackend::new(TinyConfig {
                max_rows: default_max_rows(),
            });
            Ok(Fixture::wrapping(Arc::new(WatchLayer::new(tiny)?), |b| {
                Ok(TransferQueue::from_backend(b).store().clone())
            })?
            .claims(
                Capabilities::new()
                    .with_atomic_batch(true)
                    .with_zero_copy_put(true)
                    .with_notifications(Notifications::InProcess),
            )
            .without_stored_bytes()
            .without_capacity_limit())
        });
    }
}
