//! `load`: verify everything, then write.

use object_store::ObjectStoreExt;
use tq_core::{Error, KvStore, Result, RowWrite, codec};

use crate::location::Location;
use crate::manifest::{MANIFEST_NAME, Manifest, PartitionEntry};
use crate::object_reader::ObjectRows;
use crate::options::LoadOptions;
use crate::store_error::store_error;
use crate::validate::PartitionCheck;

const OP: &str = "checkpoint::load";

/// Reads the manifest under `location`: `NotFound` when there is none (no
/// checkpoint, or a save that did not finish), `Corrupted` when it does not
/// parse, `Unsupported` for another format version.
pub async fn read_manifest(location: &Location) -> Result<Manifest> {
    let path = location.manifest();
    let bytes = location
        .store()
        .get(&path)
        .await
        .map_err(|e| store_error(e, "reading", &path))
        .map_err(|e| match e.kind() {
            tq_core::ErrorKind::NotFound => Error::not_found(format!(
                "no checkpoint under {}: {MANIFEST_NAME} is missing (a save that did not finish writes none)",
                location.prefix()
            ))
            .with_context("object", path.as_ref()),
            _ => e,
        })?
        .bytes()
        .await
        .map_err(|e| store_error(e, "reading", &path))?;
    Manifest::from_json(&bytes).map_err(|e| e.with_context("object", path.as_ref()))
}

/// Restores the checkpoint under `location` into `store`.
///
/// Before writing anything it reads the manifest and every data object of
/// the partitions to restore, checking each object's size, row count and
/// CRC-32C and every row against the rules of a put; a missing object is
/// `NotFound` and a damaged one `Corrupted`, both naming the object, and
/// nothing is written. A target partition that holds keys is refused
/// (`InvalidArgument` naming it) unless [`LoadOptions::replace`], which
/// clears it first. Rows are then written in key order, so the partition
/// lists them as the saved one did. Returns the manifest, restricted to the
/// partitions restored.
///
/// The write phase reads the objects a second time, each pinned to the
/// ETag seen while verifying (where the store gives ETags): an object
/// rewritten in between fails the load with `Corrupted` naming it, before
/// any of its rows is written but after the rows of the objects before it.
pub async fn load(store: &KvStore, location: &Location, options: &LoadOptions) -> Result<Manifest> {
    load_inner(store, location, options)
        .await
        .map_err(|e| e.with_operation(OP))
}

async fn load_inner(
    store: &KvStore,
    location: &Location,
    options: &LoadOptions,
) -> Result<Manifest> {
    let mut manifest = read_manifest(location).await?;
    if let Some(asked) = &options.partitions {
        for name in asked {
            if manifest.partition(name).is_none() {
                return Err(
                    Error::not_found(format!("the checkpoint has no partition {name:?}"))
                        .with_context("partition", name.clone()),
                );
            }
        }
        manifest.partitions.retain(|p| asked.contains(&p.name));
    }
    let mut existing = Vec::with_capacity(manifest.partitions.len());
    for p in &manifest.partitions {
        let keys = existing_keys(store, &p.name).await?;
        if !keys.is_empty() && !options.replace {
            return Err(Error::invalid_argument(format!(
                "partition {:?} already holds {} keys; ask to replace it to load over it",
                p.name,
                keys.len()
            ))
            .with_context("partition", p.name.clone()));
        }
        existing.push(keys);
    }
    let max_value_bytes = store.capabilities().max_value_bytes;
    let mut e_tags = Vec::with_capacity(manifest.partitions.len());
    for p in &manifest.partitions {
        let tags = verify_partition(location, p, max_value_bytes)
            .await
            .map_err(|e| e.with_context("partition", p.name.clone()))?;
        e_tags.push(tags);
    }
    for ((p, keys), e_tags) in manifest.partitions.iter().zip(existing).zip(e_tags) {
        write_partition(store, location, p, &keys, e_tags, options)
            .await
            .map_err(|e| match e.context_value("partition") {
                Some(_) => e,
                None => e.with_context("partition", p.name.clone()),
            })?;
    }
    Ok(manifest)
}

async fn existing_keys(store: &KvStore, name: &str) -> Result<Vec<String>> {
    Ok(store
        .kv_list(Some(name))
        .await?
        .swap_remove(name)
        .map(|keys| keys.into_keys().collect())
        .unwrap_or_default())
}

/// Reads every object of `p` through, checking bytes and rows; returns
/// each object's ETag, so that the write phase reads the very bytes
/// verified.
async fn verify_partition(
    location: &Location,
    p: &PartitionEntry,
    max_value_bytes: Option<u64>,
) -> Result<Vec<Option<String>>> {
    let mut check = PartitionCheck::new(&p.name)?;
    let mut e_tags = Vec::with_capacity(p.objects.len());
    for entry in &p.objects {
        let mut rows = ObjectRows::open(location, entry, None).await?.check_only();
        e_tags.push(rows.e_tag());
        while let Some(row) = rows.next_row().await? {
            check
                .check_row(&row, max_value_bytes)
                .map_err(|e| e.with_context("object", location.object(&entry.path).as_ref()))?;
        }
    }
    Ok(e_tags)
}

async fn write_partition(
    store: &KvStore,
    location: &Location,
    p: &PartitionEntry,
    existing: &[String],
    e_tags: Vec<Option<String>>,
    options: &LoadOptions,
) -> Result<()> {
    let per_call = options.rows_per_write.max(1);
    for keys in existing.chunks(per_call) {
        store.kv_clear(keys, &p.name, None).await?;
    }
    let mut batch = Vec::with_capacity(per_call);
    let mut batch_bytes = 0u64;
    for (entry, e_tag) in p.objects.iter().zip(e_tags) {
        let mut rows = ObjectRows::open(location, entry, e_tag).await?;
        while let Some(row) = rows.next_row().await? {
            let mut write = RowWrite::new(row.key).with_tag(row.tag);
            for (field, value) in row.cells {
                batch_bytes += codec::encoded_len(&value) as u64;
                write = write.with_cell(field, value);
            }
            batch.push(write);
            if batch.len() >= per_call || batch_bytes >= options.write_bytes {
                put(store, &p.name, std::mem::take(&mut batch)).await?;
                batch_bytes = 0;
            }
        }
    }
    if !batch.is_empty() {
        put(store, &p.name, batch).await?;
    }
    Ok(())
}

async fn put(store: &KvStore, partition: &str, rows: Vec<RowWrite>) -> Result<()> {
    store.backend().put(partition, rows).await.map(|_| ())
}
