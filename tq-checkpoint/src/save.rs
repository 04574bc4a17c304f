//! `save`: partitions to data objects, then the manifest, last.

use object_store::{ObjectStoreExt, PutPayload};
use tq_core::indexmap::IndexMap;
use tq_core::{Error, ErrorKind, KvStore, Result, Tag, codec};

use crate::location::Location;
use crate::manifest::{FORMAT_NAME, FORMAT_VERSION, Manifest, PartitionEntry};
use crate::object_writer::ObjectWriter;
use crate::options::SaveOptions;
use crate::record::encode_row;
use crate::store_error::store_error;

const OP: &str = "checkpoint::save";

/// Saves `partitions` (`None`: all) of `store` under `location` with default
/// [`SaveOptions`]; see [`save_with`].
pub async fn save(
    store: &KvStore,
    location: &Location,
    partitions: Option<&[&str]>,
) -> Result<Manifest> {
    let options = SaveOptions {
        partitions: partitions.map(|p| p.iter().map(|s| (*s).to_owned()).collect()),
        ..SaveOptions::default()
    };
    save_with(store, location, &options).await
}

/// Saves partitions of `store` under `location`: each partition's rows in
/// key order into data objects (multipart uploads, a bounded number of rows
/// and parts in flight), then `manifest.json`. Until the manifest is written
/// the checkpoint does not exist; a failed save leaves a manifest already
/// there (an earlier checkpoint) untouched and valid.
///
/// A named partition holding no key is `NotFound`. A partition that changed
/// while it was read (a row cleared, added or retagged) is `Conflict` unless
/// [`SaveOptions::allow_fuzzy`]; changes to cells alone are not detected
/// (see DESIGN.md, "Consistency").
pub async fn save_with(
    store: &KvStore,
    location: &Location,
    options: &SaveOptions,
) -> Result<Manifest> {
    save_inner(store, location, options)
        .await
        .map_err(|e| e.with_operation(OP))
}

async fn save_inner(
    store: &KvStore,
    location: &Location,
    options: &SaveOptions,
) -> Result<Manifest> {
    let names = partition_names(store, options).await?;
    let checkpoint_id = format!("{:032x}", rand::random::<u128>());
    let mut partitions = Vec::with_capacity(names.len());
    for (index, name) in names.iter().enumerate() {
        let entry = save_partition(store, location, options, &checkpoint_id, index, name)
            .await
            .map_err(|e| with_partition(e, name))?;
        partitions.push(entry);
    }
    let manifest = Manifest {
        format: FORMAT_NAME.to_owned(),
        version: FORMAT_VERSION,
        codec_version: codec::CODEC_VERSION,
        checkpoint_id,
        partitions,
    };
    let path = location.manifest();
    location
        .store()
        .put(&path, PutPayload::from(manifest.to_json()))
        .await
        .map_err(|e| store_error(e, "writing", &path))?;
    Ok(manifest)
}

/// The partitions to save, sorted and distinct.
async fn partition_names(store: &KvStore, options: &SaveOptions) -> Result<Vec<String>> {
    let Some(asked) = &options.partitions else {
        return Ok(store.kv_list(None).await?.into_keys().collect());
    };
    if asked.is_empty() {
        return Err(Error::invalid_argument(
            "the partition list is empty (None saves every partition)",
        ));
    }
    let mut names = asked.clone();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(
            Error::invalid_argument(format!("partition {:?} is named twice", w[0]))
                .with_context("partition", w[0].clone()),
        );
    }
    Ok(names)
}

async fn save_partition(
    store: &KvStore,
    location: &Location,
    options: &SaveOptions,
    checkpoint_id: &str,
    index: usize,
    name: &str,
) -> Result<PartitionEntry> {
    let listed = list_partition(store, name).await?;
    if listed.is_empty() {
        return Err(Error::not_found(format!("partition {name:?} holds no key")));
    }
    let mut objects = Vec::new();
    let mut writer: Option<ObjectWriter> = None;
    let mut record = Vec::new();
    let mut keys_saved = 0u64;
    let keys: Vec<&String> = listed.keys().collect();
    let mut reads = ReadSize::new(options);
    let mut at = 0;
    while at < keys.len() {
        let end = keys.len().min(at + reads.rows());
        let chunk: Vec<String> = keys[at..end].iter().map(|k| (*k).clone()).collect();
        at = end;
        let mut chunk_bytes = 0u64;
        let rows = match store.backend().get(name, &chunk, None).await {
            Ok(rows) => rows,
            Err(e) => return Err(abort(writer, e).await),
        };
        // Rows are paired with keys by position: a short answer would drop
        // rows in silence.
        if rows.len() != chunk.len() {
            let e = Error::unexpected(format!(
                "backend {} returned {} rows for {} keys",
                store.backend().name(),
                rows.len(),
                chunk.len()
            ));
            return Err(abort(writer, e).await);
        }
        for (key, cells) in chunk.iter().zip(rows) {
            let Some(cells) = cells else {
                if options.allow_fuzzy {
                    continue;
                }
                return Err(abort(writer, changed(key, "was cleared")).await);
            };
            record.clear();
            // The key is in the listing, so it has a tag there.
            let tag = listed.get(key).cloned().unwrap_or_default();
            if let Err(e) = encode_row(key, &tag, &cells, &mut record) {
                return Err(abort(writer, e).await);
            }
            let mut w = match writer.take() {
                Some(w) => w,
                None => {
                    let relative = format!("{checkpoint_id}/{index:05}-{:06}.rows", objects.len());
                    ObjectWriter::create(location, relative, options.part_bytes).await?
                }
            };
            if let Err(e) = w.write_row(&record).await {
                return Err(abort(Some(w), e).await);
            }
            keys_saved += 1;
            chunk_bytes += record.len() as u64;
            if w.bytes() >= options.object_bytes {
                objects.push(w.finish().await?);
            } else {
                writer = Some(w);
            }
        }
        reads.observe(chunk.len(), chunk_bytes);
    }
    if let Some(w) = writer {
        objects.push(w.finish().await?);
    }
    if !options.allow_fuzzy {
        check_unchanged(store, name, &listed).await?;
    }
    Ok(PartitionEntry {
        name: name.to_owned(),
        keys: keys_saved,
        objects,
    })
}

async fn list_partition(store: &KvStore, name: &str) -> Result<IndexMap<String, Tag>> {
    Ok(store
        .kv_list(Some(name))
        .await?
        .swap_remove(name)
        .unwrap_or_default())
}

/// `Conflict` unless the partition lists the same keys, in the same order,
/// with the same tags as when the save began.
async fn check_unchanged(
    store: &KvStore,
    name: &str,
    before: &IndexMap<String, Tag>,
) -> Result<()> {
    let after = list_partition(store, name).await?;
    if after.len() != before.len() {
        return Err(changed_partition(format!(
            "went from {} to {} keys",
            before.len(),
            after.len()
        )));
    }
    if let Some(((key, _), _)) = before.iter().zip(after.iter()).find(|(b, a)| b != a) {
        return Err(changed(key, "was cleared, moved or retagged"));
    }
    Ok(())
}

fn changed(key: &str, what: &str) -> Error {
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

async fn abort(writer: Option<ObjectWriter>, e: Error) -> Error {
    if let Some(w) = writer {
        w.abort().await;
    }
    e
}

fn with_partition(e: Error, name: &str) -> Error {
    if e.context_value("partition").is_some() {
        e
    } else {
        e.with_context("partition", name)
    }
}

/// How many keys to read per backend call: at most `rows_per_read`, and
/// about `read_bytes` worth of rows at the sizes seen so far. It starts at
/// one row and at most doubles per read, so a partition of huge rows never
/// has `rows_per_read` of them in flight.
struct ReadSize {
    rows: usize,
    max_rows: usize,
    budget: u64,
}

impl ReadSize {
    fn new(options: &SaveOptions) -> Self {
        ReadSize {
            rows: 1,
            max_rows: options.rows_per_read.max(1),
            budget: options.read_bytes.max(1),
        }
    }

    fn rows(&self) -> usize {
        self.rows
    }

    fn observe(&mut self, rows: usize, bytes: u64) {
        let per_row = (bytes / rows.max(1) as u64).max(1);
        let fits = usize::try_from(self.budget / per_row).unwrap_or(usize::MAX);
        self.rows = fits
            .min(self.rows.saturating_mul(2))
            .min(self.max_rows)
            .max(1);
    }
}
