//! `save`: partitions to data objects, then the manifest, last.

use object_store::{ObjectStoreExt, PutPayload};
use tq_core::{ConditionalBackend, Error, KvStore, Result, RowVersion, codec};

use crate::consistency::{changed, changed_since_read, list_partition, no_versions, read_rows};
use crate::location::Location;
use crate::manifest::{FORMAT_NAME, FORMAT_VERSION, Manifest, ObjectEntry, PartitionEntry};
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
/// there (an earlier checkpoint) untouched and valid. A prefix that already
/// holds a manifest is refused (`InvalidArgument`) unless
/// [`SaveOptions::overwrite`].
///
/// A named partition holding no key is `NotFound`. Each partition is copied
/// as it was at one instant of the save, checked by row versions (see
/// DESIGN.md, "Consistency"): a partition that changed while it was read is
/// copied again, up to [`SaveOptions::attempts`] times, then `Conflict`
/// naming it. With [`SaveOptions::allow_fuzzy`] it is copied once as read
/// and marked `consistent: false` in the manifest. A backend without
/// versioned reads (`as_conditional`) is `Unsupported` unless fuzzy.
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
    if !options.overwrite {
        refuse_existing(location).await?;
    }
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

/// `InvalidArgument` if a manifest is already at `location`: saving would
/// replace that checkpoint. Checked before anything is written; a save
/// racing this one to the same prefix is not excluded (the last manifest
/// written wins).
async fn refuse_existing(location: &Location) -> Result<()> {
    let path = location.manifest();
    match location.store().head(&path).await {
        Ok(_) => Err(Error::invalid_argument(format!(
            "a checkpoint already exists at {}; save elsewhere, or allow overwriting it",
            location.prefix()
        ))
        .with_context("object", path.as_ref())),
        Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(store_error(e, "checking for", &path)),
    }
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

/// Saves one partition: up to `options.attempts` times while it changes
/// under the save (each attempt rewrites the partition's objects), or once,
/// marked inconsistent if it changed, for a fuzzy save.
async fn save_partition(
    store: &KvStore,
    location: &Location,
    options: &SaveOptions,
    checkpoint_id: &str,
    index: usize,
    name: &str,
) -> Result<PartitionEntry> {
    let conditional = store.backend().as_conditional();
    if conditional.is_none() && !options.allow_fuzzy {
        return Err(no_versions(store.backend().name()));
    }
    let attempts = if options.allow_fuzzy {
        1
    } else {
        options.attempts.max(1)
    };
    let target = Target {
        location,
        options,
        checkpoint_id,
        index,
    };
    let mut last_change = None;
    for _ in 0..attempts {
        let copy = copy_partition(store, conditional, &target, name).await?;
        let change = match (copy.change, conditional) {
            (Some(e), _) => Some(e),
            (None, Some(c)) => changed_since_read(store, c, name, &copy.seen).await?,
            (None, None) => None,
        };
        if change.is_none() || options.allow_fuzzy {
            return Ok(PartitionEntry {
                name: name.to_owned(),
                keys: copy.keys_saved,
                objects: copy.objects,
                consistent: change.is_none() && conditional.is_some(),
            });
        }
        last_change = change;
    }
    Err(last_change
        .unwrap_or_else(|| Error::unexpected("no attempt was made"))
        .with_context("attempts", attempts.to_string()))
}

/// Where a partition's objects go.
struct Target<'a> {
    location: &'a Location,
    options: &'a SaveOptions,
    checkpoint_id: &'a str,
    index: usize,
}

/// What one attempt at copying a partition wrote and read.
struct Copy {
    objects: Vec<ObjectEntry>,
    keys_saved: u64,
    /// Every saved key, in order, with the version it was read at.
    seen: Vec<(String, RowVersion)>,
    /// A change seen while reading (a row cleared since the listing).
    change: Option<Error>,
}

async fn copy_partition(
    store: &KvStore,
    conditional: Option<&dyn ConditionalBackend>,
    target: &Target<'_>,
    name: &str,
) -> Result<Copy> {
    let options = target.options;
    let listed = list_partition(store, name).await?;
    if listed.is_empty() {
        return Err(Error::not_found(format!("partition {name:?} holds no key")));
    }
    let mut copy = Copy {
        objects: Vec::new(),
        keys_saved: 0,
        seen: Vec::with_capacity(listed.len()),
        change: None,
    };
    let mut writer: Option<ObjectWriter> = None;
    let mut record = Vec::new();
    let keys: Vec<&String> = listed.keys().collect();
    let mut reads = ReadSize::new(options);
    let mut at = 0;
    while at < keys.len() {
        let end = keys.len().min(at + reads.rows());
        let chunk: Vec<String> = keys[at..end].iter().map(|k| (*k).clone()).collect();
        let chunk_rows = chunk.len();
        at = end;
        let mut chunk_bytes = 0u64;
        let rows = match read_rows(store, conditional, name, &chunk, &listed).await {
            Ok(rows) => rows,
            Err(e) => return Err(abort(writer, e).await),
        };
        for (key, row) in chunk.into_iter().zip(rows) {
            let Some((tag, cells, version)) = row else {
                if copy.change.is_none() {
                    copy.change = Some(changed(&key, "was cleared"));
                }
                if options.allow_fuzzy {
                    continue;
                }
                // This attempt is lost: stop reading, the caller retries.
                if let Some(w) = writer {
                    w.abort().await;
                }
                return Ok(copy);
            };
            record.clear();
            if let Err(e) = encode_row(&key, &tag, &cells, &mut record) {
                return Err(abort(writer, e).await);
            }
            let mut w = match writer.take() {
                Some(w) => w,
                None => {
                    let relative = format!(
                        "{}/{:05}-{:06}.rows",
                        target.checkpoint_id,
                        target.index,
                        copy.objects.len()
                    );
                    ObjectWriter::create(target.location, relative, options.part_bytes).await?
                }
            };
            if let Err(e) = w.write_row(&record).await {
                return Err(abort(Some(w), e).await);
            }
            copy.keys_saved += 1;
            chunk_bytes += record.len() as u64;
            copy.seen.push((key, version));
            if w.bytes() >= options.object_bytes {
                copy.objects.push(w.finish().await?);
            } else {
                writer = Some(w);
            }
        }
        reads.observe(chunk_rows, chunk_bytes);
    }
    if let Some(w) = writer {
        copy.objects.push(w.finish().await?);
    }
    Ok(copy)
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
