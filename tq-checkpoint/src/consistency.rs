//! How a save knows its copy of a partition is the partition's state at one
//! instant, from row versions (`tq_core::ConditionalBackend`, V1-V3) rather
//! than a backend snapshot, so every built-in backend can do it with no new
//! trait.
//!
//! Rows are read with their versions; only key -> version is kept once a
//! row is written out. After the last read the partition is listed again
//! and the versions alone are read again (`fields = Some(&[])`: no cells).
//! A version changes on every write of a row and never repeats, so the same
//! keys in the same order at the same versions mean no row changed between
//! its read and that second listing: the copy equals the partition at the
//! instant of the second listing.

use tq_core::indexmap::IndexMap;
use tq_core::{Cells, ConditionalBackend, Error, ErrorKind, KvStore, Result, RowVersion, Tag};

/// Keys per version-only read of the final check: no cells, so larger
/// than a data read.
const CHECK_KEYS: usize = 4096;

/// One row as read for the copy: `None` when it was cleared since the
/// listing.
pub(crate) type ReadRow = Option<(Tag, Cells, RowVersion)>;

/// Reads `keys` of `partition`: with versions and each row's own tag when
/// the backend has them, else the cells alone with the listing's tag (a
/// fuzzy save only).
pub(crate) async fn read_rows(
    store: &KvStore,
    conditional: Option<&dyn ConditionalBackend>,
    partition: &str,
    keys: &[String],
    listed: &IndexMap<String, Tag>,
) -> Result<Vec<ReadRow>> {
    let rows: Vec<ReadRow> = match conditional {
        Some(c) => c
            .get_versioned(partition, keys, None)
            .await?
            .into_iter()
            .map(|r| (!r.version.is_absent()).then_some((r.tag, r.cells, r.version)))
            .collect(),
        None => store
            .backend()
            .get(partition, keys, None)
            .await?
            .into_iter()
            .zip(keys)
            .map(|(cells, key)| {
                let tag = listed.get(key).cloned().unwrap_or_default();
                cells.map(|c| (tag, c, RowVersion::ABSENT))
            })
            .collect(),
    };
    // Rows are paired with keys by position: a short answer would drop
    // rows in silence.
    if rows.len() != keys.len() {
        return Err(Error::unexpected(format!(
            "backend {} returned {} rows for {} keys",
            store.backend().name(),
            rows.len(),
            keys.len()
        )));
    }
    Ok(rows)
}

/// `Ok(None)` when `partition` lists exactly `seen`'s keys, in order, each
/// still at the version it was read at; `Ok(Some(conflict))` naming the
/// first difference; `Err` when the backend failed.
pub(crate) async fn changed_since_read(
    store: &KvStore,
    conditional: &dyn ConditionalBackend,
    partition: &str,
    seen: &[(String, RowVersion)],
) -> Result<Option<Error>> {
    let after = list_partition(store, partition).await?;
    // The first key out of place names the change; past the shorter list,
    // the first key only one of them has.
    let moved = seen
        .iter()
        .map(|(k, _)| k)
        .zip(after.keys())
        .find(|(s, a)| s != a)
        .map(|(s, _)| s)
        .or_else(|| seen.get(after.len()).map(|(k, _)| k))
        .or_else(|| after.get_index(seen.len()).map(|(k, _)| k));
    if let Some(key) = moved {
        let what = format!(
            "was cleared, added or moved (the partition went from {} to {} keys)",
            seen.len(),
            after.len()
        );
        return Ok(Some(changed(key, &what)));
    }
    for chunk in seen.chunks(CHECK_KEYS) {
        let keys: Vec<String> = chunk.iter().map(|(k, _)| k.clone()).collect();
        let now = conditional
            .get_versioned(partition, &keys, Some(&[]))
            .await?;
        if now.len() != keys.len() {
            return Err(Error::unexpected(format!(
                "backend {} returned {} versions for {} keys",
                store.backend().name(),
                now.len(),
                keys.len()
            )));
        }
        if let Some(((key, _), _)) = chunk
            .iter()
            .zip(&now)
            .find(|((_, read), row)| row.version != *read)
        {
            return Ok(Some(changed(key, "was written after it was read")));
        }
    }
    Ok(None)
}

pub(crate) async fn list_partition(store: &KvStore, name: &str) -> Result<IndexMap<String, Tag>> {
    Ok(store
        .kv_list(Some(name))
        .await?
        .swap_remove(name)
        .unwrap_or_default())
}

/// A row that changed during the save.
pub(crate) fn changed(key: &str, what: &str) -> Error {
    changed_partition(format!("key {key:?} {what}")).with_context("key", key)
}

fn changed_partition(what: String) -> Error {
    Error::new(
        ErrorKind::Conflict,
        format!(
            "the partition changed during the save ({what}); save again, or allow a fuzzy copy"
        ),
    )
    .set_temporary(true)
}

/// A backend without versioned reads cannot show that a copy is of one
/// instant.
pub(crate) fn no_versions(backend: &str) -> Error {
    Error::new(
        ErrorKind::Unsupported,
        format!(
            "backend {backend} has no versioned reads, so a save cannot be consistent; \
             allow a fuzzy copy to save it anyway"
        ),
    )
}
