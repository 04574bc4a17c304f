//! The blocking engine: one RocksDB, the row locks, and the kv operations as
//! plain functions. [`crate::RocksDbBackend`] runs them off the async
//! executor.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamily, ColumnFamilyDescriptor, DB, MergeOperands, Options,
    ReadOptions, SnapshotWithThreadMode, WriteBatch, WriteOptions,
};
use tq_core::names::{check_field, check_key, check_partition};
use tq_core::{
    CellWrite, Cells, Error, Listing, Result, RowState, RowVersion, RowWrite, Tag, VersionedRow,
    WatchHub, WatchStream, codec, merge_tag,
};

use crate::config::RocksDbConfig;
use crate::error::{from_rocksdb, open_error};
use crate::keys::{
    CF_CELLS, CF_ORDER, CF_ROWS, FORMAT_KEY, FORMAT_VERSION, SEQ_KEY, cell_key, decode_order_key,
    order_key, partition_prefix, prefix_successor, row_key,
};
use crate::live_range::LiveRanges;
use crate::locks::RowLocks;
use crate::nesting::{RowWrites, check_depth};
use crate::record::{RecordHead, RowRecord};

/// The largest encoded cell value the backend stores: RocksDB keeps value
/// lengths in 32 bits.
pub const MAX_VALUE_BYTES: u64 = u32::MAX as u64;

const MERGE_OPERATOR: &str = "tq_max_u64";

/// An open store.
pub(crate) struct Store {
    db: DB,
    locks: RowLocks,
    /// Per partition, the band of sequence numbers its live rows are in.
    live: LiveRanges,
    /// The next insertion sequence number to hand out.
    next_seq: AtomicU64,
    write_opts: WriteOptions,
    /// Watchers by partition; writes publish into it under the rows' locks.
    watchers: WatchHub,
    config: RocksDbConfig,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("config", &self.config)
            .field("next_seq", &self.next_seq.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// The `max` merge operator keeping [`SEQ_KEY`]: operands and the stored
/// value are `u64be`; anything else fails the merge (RocksDB then reports
/// corruption on read).
fn max_merge(_key: &[u8], existing: Option<&[u8]>, operands: &MergeOperands) -> Option<Vec<u8>> {
    let read = |b: &[u8]| -> Option<u64> { Some(u64::from_be_bytes(b.try_into().ok()?)) };
    let mut max = match existing {
        Some(v) => read(v)?,
        None => 0,
    };
    for op in operands.iter() {
        max = max.max(read(op)?);
    }
    Some(max.to_be_bytes().to_vec())
}

fn table_options(cache: Option<&Cache>, bloom: bool) -> BlockBasedOptions {
    let mut table = BlockBasedOptions::default();
    match cache {
        Some(cache) => table.set_block_cache(cache),
        None => table.disable_cache(),
    }
    if bloom {
        table.set_bloom_filter(10.0, false);
    }
    table
}

fn cf_options(config: &RocksDbConfig, table: &BlockBasedOptions) -> Options {
    let mut opts = Options::default();
    opts.set_compression_type(config.compression.to_rocksdb());
    // Validated: fits in usize.
    opts.set_write_buffer_size(usize::try_from(config.write_buffer_bytes).unwrap_or(usize::MAX));
    opts.set_block_based_table_factory(table);
    opts
}

fn open_db(config: &RocksDbConfig) -> Result<DB> {
    let cache = (config.block_cache_bytes > 0)
        .then(|| Cache::new_lru_cache(usize::try_from(config.block_cache_bytes).unwrap_or(0)));
    let plain = table_options(cache.as_ref(), false);
    let bloom = table_options(cache.as_ref(), true);

    let mut db_opts = cf_options(config, &plain);
    db_opts.create_if_missing(config.create_if_missing);
    db_opts.create_missing_column_families(true);
    // Validated: 1..=256.
    db_opts.set_max_background_jobs(i32::try_from(config.max_background_jobs).unwrap_or(2));
    db_opts.set_max_open_files(config.max_open_files);
    db_opts.set_merge_operator_associative(MERGE_OPERATOR, max_merge);

    let rows = cf_options(config, &bloom);
    let order = cf_options(config, &plain);
    let mut cells = cf_options(config, &bloom);
    if config.blob_files {
        cells.set_enable_blob_files(true);
        cells.set_min_blob_size(config.blob_min_bytes);
        cells.set_blob_compression_type(config.compression.to_rocksdb());
        cells.set_enable_blob_gc(true);
    }
    let descriptors = vec![
        ColumnFamilyDescriptor::new(rocksdb::DEFAULT_COLUMN_FAMILY_NAME, db_opts.clone()),
        ColumnFamilyDescriptor::new(CF_ROWS, rows),
        ColumnFamilyDescriptor::new(CF_ORDER, order),
        ColumnFamilyDescriptor::new(CF_CELLS, cells),
    ];
    if !config.create_if_missing && !config.path.join("CURRENT").exists() {
        // Checked here: RocksDB would create the directory before failing.
        return Err(Error::config(format!(
            "no rocksdb store at {} and the setting `create_if_missing` is false",
            config.path.display()
        ))
        .with_context("setting", "create_if_missing")
        .with_context("path", config.path.display().to_string()));
    }
    if config.create_if_missing {
        std::fs::create_dir_all(&config.path).map_err(|e| {
            Error::config(format!(
                "cannot create the rocksdb directory {}",
                config.path.display()
            ))
            .with_context("setting", "path")
            .with_context("path", config.path.display().to_string())
            .with_source(e)
        })?;
    }
    DB::open_cf_descriptors(&db_opts, &config.path, descriptors)
        .map_err(|e| open_error(e, &config.path))
}

fn read_u64(bytes: &[u8], what: &str) -> Result<u64> {
    let bytes: [u8; 8] = bytes
        .try_into()
        .map_err(|_| Error::corrupted(format!("{what} is not 8 bytes long")))?;
    Ok(u64::from_be_bytes(bytes))
}

impl Store {
    /// Opens (or creates) the store `config` describes.
    pub fn open(config: RocksDbConfig) -> Result<Self> {
        let op = |e: Error| {
            e.with_operation("rocksdb::open")
                .with_context("path", config.path.display().to_string())
        };
        config.validate()?;
        let db = open_db(&config).map_err(|e| e.with_operation("rocksdb::open"))?;
        match db.get(FORMAT_KEY) {
            Ok(None) => {
                let mut sync = WriteOptions::default();
                sync.set_sync(true);
                db.put_opt(FORMAT_KEY, [FORMAT_VERSION], &sync)
                    .map_err(|e| op(from_rocksdb(e, "write the layout version")))?;
            }
            Ok(Some(v)) if v == [FORMAT_VERSION] => {}
            Ok(Some(v)) => {
                return Err(op(Error::corrupted(format!(
                    "the store's layout version is {v:?}, this build reads [{FORMAT_VERSION}]"
                ))));
            }
            Err(e) => return Err(op(from_rocksdb(e, "read the layout version"))),
        }
        let high = match db.get(SEQ_KEY) {
            Ok(None) => 0,
            Ok(Some(v)) => read_u64(&v, "the sequence high-water mark").map_err(op)?,
            Err(e) => return Err(op(from_rocksdb(e, "read the sequence high-water mark"))),
        };
        let next = high
            .checked_add(1)
            .ok_or_else(|| op(Error::corrupted("the sequence high-water mark is u64::MAX")))?;
        let mut write_opts = WriteOptions::default();
        write_opts.set_sync(config.sync_writes);
        Ok(Store {
            db,
            locks: RowLocks::new(),
            live: LiveRanges::default(),
            next_seq: AtomicU64::new(next),
            write_opts,
            watchers: WatchHub::with_capacity(config.watch_buffer),
            config,
        })
    }

    /// The settings the store was opened with.
    pub fn config(&self) -> &RocksDbConfig {
        &self.config
    }

    fn cf(&self, name: &str) -> Result<&ColumnFamily> {
        self.db
            .cf_handle(name)
            .ok_or_else(|| Error::unexpected(format!("column family {name:?} is not open")))
    }

    /// Behavior B2-B4: see [`crate`] docs, "Concurrency". The nesting check
    /// comes first ([`crate::nesting`]).
    pub fn put(&self, partition: &str, rows: RowWrites) -> Result<Vec<RowState>> {
        let states = self.write_rows(partition, rows, None)?;
        // Without expected versions no row conflicts.
        Ok(states.into_iter().flatten().collect())
    }

    /// Conditional writes (tq-core's `ConditionalBackend`, V2): each row is
    /// written only if its version is still `expected` (checked under the
    /// row's lock, which every write of it takes); `None` for a row that
    /// conflicted, of which nothing was written.
    pub fn put_if(
        &self,
        partition: &str,
        rows: RowWrites,
        expected: &[RowVersion],
    ) -> Result<Vec<Option<RowState>>> {
        if expected.len() != rows.len() {
            return Err(Error::unexpected(format!(
                "{} expected versions for {} rows",
                expected.len(),
                rows.len()
            )));
        }
        self.write_rows(partition, rows, Some(expected))
    }

    /// A put, or with `expected` a conditional put.
    fn write_rows(
        &self,
        partition: &str,
        rows: RowWrites,
        expected: Option<&[RowVersion]>,
    ) -> Result<Vec<Option<RowState>>> {
        check_depth(partition, &rows)?;
        check_partition(partition)?;
        let mut seen = HashSet::with_capacity(rows.len());
        for row in rows.iter() {
            check_key(&row.key).map_err(|e| e.with_context("partition", partition))?;
            if !seen.insert(row.key.as_str()) {
                return Err(Error::invalid_argument(format!(
                    "key {:?} appears more than once in one put",
                    row.key
                ))
                .with_context("partition", partition)
                .with_context("key", row.key.clone()));
            }
            for (field, cell) in &row.cells {
                let name = |e: Error| {
                    e.with_context("partition", partition)
                        .with_context("key", row.key.clone())
                };
                check_field(field).map_err(name)?;
                if !matches!(cell, CellWrite::Set(_) | CellWrite::Remove) {
                    return Err(name(Error::new(
                        tq_core::ErrorKind::Unsupported,
                        format!("the rocksdb backend does not know the cell write {cell:?}"),
                    ))
                    .with_context("field", field.clone()));
                }
            }
        }
        let (rows_cf, order_cf, cells_cf) =
            (self.cf(CF_ROWS)?, self.cf(CF_ORDER)?, self.cf(CF_CELLS)?);

        // Cells do not depend on what is stored: a plain put encodes them
        // before taking any lock (a value that is too large fails here,
        // before any write). A conditional put encodes only the rows whose
        // version matched, under their locks.
        let mut batch = WriteBatch::default();
        let mut buf = Vec::new();
        if expected.is_none() {
            for row in rows.iter() {
                encode_cells(&mut batch, cells_cf, partition, row, &mut buf)?;
            }
        }

        // Row records: read, merge and write under the rows' locks.
        let _guards = self
            .locks
            .lock(partition, rows.iter().map(|r| r.key.as_str()));
        let row_keys: Vec<Vec<u8>> = rows.iter().map(|r| row_key(partition, &r.key)).collect();
        let found =
            self.db
                .batched_multi_get_cf_opt(rows_cf, &row_keys, false, &ReadOptions::default());
        let mut states = Vec::with_capacity(rows.len());
        let mut new_seqs: Option<(u64, u64)> = None;
        for (i, ((row, rkey), found)) in rows.iter().zip(&row_keys).zip(found).enumerate() {
            let name = |e: Error| {
                e.with_context("partition", partition)
                    .with_context("key", row.key.clone())
            };
            let found = found.map_err(|e| name(from_rocksdb(e, "read a row record")))?;
            let record = found
                .map(|bytes| RowRecord::decode(&bytes).map_err(name))
                .transpose()?;
            if let Some(expected) = expected {
                let now = record
                    .as_ref()
                    .map_or(RowVersion::ABSENT, RowRecord::version);
                if expected.get(i) != Some(&now) {
                    states.push(None);
                    continue;
                }
                encode_cells(&mut batch, cells_cf, partition, row, &mut buf)?;
            }
            let existed = record.is_some();
            let mut record = match record {
                Some(record) => record,
                // Removals only, of a missing row: it stays missing (its
                // cell deletes find nothing).
                None if !row.creates() => {
                    states.push(Some(RowState::absent()));
                    continue;
                }
                None => {
                    let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
                    new_seqs = Some(match new_seqs {
                        Some((first, _)) => (first, seq),
                        None => (seq, seq),
                    });
                    batch.put_cf(order_cf, order_key(partition, seq), row.key.as_bytes());
                    RowRecord::new(seq)
                }
            };
            record.writes = record.writes.wrapping_add(1);
            for (field, cell) in &row.cells {
                match cell {
                    CellWrite::Set(_) => record.add_field(field),
                    _ => record.remove_field(field),
                }
            }
            if let Some(patch) = &row.tag {
                merge_tag(&mut record.tag, patch);
            }
            batch.put_cf(rows_cf, rkey, record.encode());
            states.push(Some(RowState::new(record.tag, record.fields, existed)));
        }
        // New rows widen their partition's live band before they can be
        // seen, and the put counts as in flight until the write is done.
        let _in_flight = new_seqs.map(|(first, last)| {
            batch.merge(SEQ_KEY, last.to_be_bytes());
            self.live.widen(partition, first, last)
        });
        self.db
            .write_opt(batch, &self.write_opts)
            .map_err(|e| from_rocksdb(e, "write the batch").with_context("partition", partition))?;
        // After the write and under the rows' locks: a watcher subscribed
        // before this lookup gets the events in apply order; one subscribed
        // after it reads rows that already hold the write.
        if let Some(publisher) = self.watchers.publisher(partition) {
            for (row, state) in rows.iter().zip(&states) {
                if let Some(state) = state {
                    publisher.row_written(row, state);
                }
            }
        }
        Ok(states)
    }

    /// A watcher of `partition`'s writes (tq-core's `WatchBackend`).
    pub fn watch(&self, partition: &str) -> WatchStream {
        self.watchers.subscribe(partition)
    }

    /// Behavior B5.
    pub fn get(
        &self,
        partition: &str,
        keys: &[String],
        fields: Option<&[String]>,
    ) -> Result<Vec<Option<Cells>>> {
        let rows = self.read_rows(partition, keys, fields)?;
        Ok(rows
            .into_iter()
            .map(|row| row.map(|(_, _, cells)| cells))
            .collect())
    }

    /// Versioned reads (tq-core's `ConditionalBackend`, V1): each row's
    /// version, cells and tag, from one snapshot.
    pub fn get_versioned(
        &self,
        partition: &str,
        keys: &[String],
        fields: Option<&[String]>,
    ) -> Result<Vec<VersionedRow>> {
        let rows = self.read_rows(partition, keys, fields)?;
        Ok(rows
            .into_iter()
            .map(|row| match row {
                Some((version, tag, cells)) => VersionedRow::new(version, cells, tag),
                None => VersionedRow::absent(),
            })
            .collect())
    }

    /// Each row's version, tag and selected cells, from one snapshot.
    fn read_rows(
        &self,
        partition: &str,
        keys: &[String],
        fields: Option<&[String]>,
    ) -> Result<Vec<Option<(RowVersion, Tag, Cells)>>> {
        check_partition(partition)?;
        for key in keys {
            check_key(key).map_err(|e| e.with_context("partition", partition))?;
        }
        for field in fields.unwrap_or_default() {
            check_field(field).map_err(|e| e.with_context("partition", partition))?;
        }
        let (rows_cf, cells_cf) = (self.cf(CF_ROWS)?, self.cf(CF_CELLS)?);
        let snapshot = self.db.snapshot();
        let mut read = ReadOptions::default();
        read.set_snapshot(&snapshot);

        let row_keys: Vec<Vec<u8>> = keys.iter().map(|k| row_key(partition, k)).collect();
        let records = self
            .db
            .batched_multi_get_cf_opt(rows_cf, &row_keys, false, &read);
        let mut out: Vec<Option<(RowVersion, Tag, Cells)>> = Vec::with_capacity(keys.len());
        // (row index, field) of every cell to read, and its RocksDB key.
        let mut wanted: Vec<(usize, String)> = Vec::new();
        let mut cell_keys: Vec<Vec<u8>> = Vec::new();
        for (i, (key, found)) in keys.iter().zip(records).enumerate() {
            let name = |e: Error| {
                e.with_context("partition", partition)
                    .with_context("key", key.clone())
            };
            let Some(bytes) = found.map_err(|e| name(from_rocksdb(e, "read a row record")))? else {
                out.push(None);
                continue;
            };
            let record = RowRecord::decode(&bytes).map_err(name)?;
            let version = record.version();
            let selected: Vec<String> = match fields {
                None => record.fields,
                Some(list) => {
                    let held: HashSet<&str> = record.fields.iter().map(String::as_str).collect();
                    list.iter()
                        .filter(|f| held.contains(f.as_str()))
                        .cloned()
                        .collect()
                }
            };
            out.push(Some((
                version,
                record.tag,
                Vec::with_capacity(selected.len()),
            )));
            for field in selected {
                cell_keys.push(cell_key(partition, key, &field));
                wanted.push((i, field));
            }
        }
        let values = self
            .db
            .batched_multi_get_cf_opt(cells_cf, &cell_keys, false, &read);
        for ((i, field), value) in wanted.into_iter().zip(values) {
            let key = keys.get(i).map(String::as_str).unwrap_or_default();
            let name = |e: Error| {
                e.with_context("partition", partition)
                    .with_context("key", key)
                    .with_context("field", field.clone())
            };
            let value = value
                .map_err(|e| name(from_rocksdb(e, "read a cell")))?
                .ok_or_else(|| {
                    name(Error::corrupted(format!(
                        "the row record lists field {field:?} but its cell is missing"
                    )))
                })?;
            let value = codec::decode(Bytes::from(value.to_vec())).map_err(name)?;
            if let Some(Some((_, _, cells))) = out.get_mut(i) {
                cells.push((field, value));
            }
        }
        Ok(out)
    }

    /// Behavior B6. One partition: a scan of the band of its order index
    /// that holds its live rows ([`crate::live_range`]), then one
    /// `multi_get` of their records, from one snapshot. The whole store:
    /// one scan of the order index and one of the row records, joined.
    pub fn list(&self, partition: Option<&str>) -> Result<Listing> {
        match partition {
            Some(p) => {
                check_partition(p)?;
                self.list_partition(p)
            }
            None => self.list_all(),
        }
    }

    fn list_partition(&self, partition: &str) -> Result<Listing> {
        let (rows_cf, order_cf) = (self.cf(CF_ROWS)?, self.cf(CF_ORDER)?);
        let (band, snapshot) = self.live.begin_listing(partition, || self.db.snapshot());
        let name = |e: Error| e.with_context("partition", partition);
        let prefix = partition_prefix(partition);
        let (start, end) = match &band.range {
            Some(r) if r.is_empty() => (None, None),
            Some(r) => (
                Some(order_key(partition, *r.start())),
                r.end().checked_add(1).map(|e| order_key(partition, e)),
            ),
            None => (Some(prefix.clone()), None),
        };
        // (sequence number, key) of every order entry in the band.
        let mut entries: Vec<(u64, String)> = Vec::new();
        if let Some(start) = start {
            let end = match end {
                Some(end) => Some(end),
                None => prefix_successor(&prefix),
            };
            self.scan_range(order_cf, &snapshot, &start, end, |k, v| {
                let (_, seq) = decode_order_key(k)
                    .ok_or_else(|| Error::corrupted("an insertion-order key does not decode"))?;
                let key = std::str::from_utf8(v).map_err(|e| {
                    Error::corrupted("an insertion-order entry holds a key that is not UTF-8")
                        .with_source(e)
                })?;
                entries.push((seq, key.to_owned()));
                Ok(())
            })
            .map_err(name)?;
        }
        let mut read = ReadOptions::default();
        read.set_snapshot(&snapshot);
        let row_keys: Vec<Vec<u8>> = entries.iter().map(|(_, k)| row_key(partition, k)).collect();
        let records = self
            .db
            .batched_multi_get_cf_opt(rows_cf, &row_keys, false, &read);
        let mut listing = Listing::new();
        for ((seq, key), found) in entries.iter().zip(records) {
            let corrupted = |what: &str| {
                name(Error::corrupted(what.to_owned())).with_context("key", key.clone())
            };
            let found = found.map_err(|e| {
                name(from_rocksdb(e, "read a row record")).with_context("key", key.clone())
            })?;
            let Some(bytes) = found else {
                return Err(corrupted("an insertion-order entry has no row record"));
            };
            let record =
                RowRecord::decode(&bytes).map_err(|e| name(e).with_context("key", key.clone()))?;
            if record.seq != *seq {
                return Err(corrupted(
                    "the row's sequence number differs from its insertion-order entry",
                ));
            }
            listing
                .entry(partition.to_owned())
                .or_default()
                .insert(key.clone(), record.tag);
        }
        let live = entries.first().zip(entries.last()).map(|(a, b)| (a.0, b.0));
        self.live.finish_listing(partition, &band, live);
        Ok(listing)
    }

    fn list_all(&self) -> Result<Listing> {
        let (rows_cf, order_cf) = (self.cf(CF_ROWS)?, self.cf(CF_ORDER)?);
        let snapshot = self.db.snapshot();
        let prefix: &[u8] = &[];

        let mut rows: HashMap<Vec<u8>, (u64, Tag)> = HashMap::new();
        self.scan(rows_cf, Some(&snapshot), prefix, |k, v| {
            let record = RowRecord::decode(v).map_err(|e| name_row_key(e, k))?;
            rows.insert(k.to_vec(), (record.seq, record.tag));
            Ok(())
        })?;
        let mut listing = Listing::new();
        self.scan(order_cf, Some(&snapshot), prefix, |k, v| {
            let (p, seq) = decode_order_key(k)
                .ok_or_else(|| Error::corrupted("an insertion-order key does not decode"))?;
            let key = std::str::from_utf8(v).map_err(|e| {
                Error::corrupted("an insertion-order entry holds a key that is not UTF-8")
                    .with_context("partition", p)
                    .with_source(e)
            })?;
            let corrupted = |what: &str| {
                Error::corrupted(what.to_owned())
                    .with_context("partition", p)
                    .with_context("key", key)
            };
            match rows.remove(&row_key(p, key)) {
                Some((s, tag)) if s == seq => {
                    listing
                        .entry(p.to_owned())
                        .or_default()
                        .insert(key.to_owned(), tag);
                    Ok(())
                }
                Some(_) => Err(corrupted(
                    "the row's sequence number differs from its insertion-order entry",
                )),
                None => Err(corrupted("an insertion-order entry has no row record")),
            }
        })?;
        if let Some(orphan) = rows.keys().next() {
            return Err(name_row_key(
                Error::corrupted("a row record has no insertion-order entry"),
                orphan,
            ));
        }
        Ok(listing)
    }

    /// Behavior B7, for any bytes the rows hold.
    ///
    /// A row's record goes, and with it its cells and its insertion-order
    /// entry. The usual way finds them from the record's head (sequence
    /// number, field list), which decodes without the tag, after checking
    /// that the order entry the head names does name this key. A row whose
    /// head does not decode, or names another row's order entry, is
    /// removed without trusting it: one scan of the partition's order
    /// entries finds those naming the key, and a range deletion removes
    /// every cell under the row's key prefix. All in one `WriteBatch`,
    /// under the rows' locks.
    pub fn clear(&self, partition: &str, keys: &[String]) -> Result<usize> {
        check_partition(partition)?;
        let mut seen = HashSet::with_capacity(keys.len());
        let mut unique = Vec::with_capacity(keys.len());
        for key in keys {
            check_key(key).map_err(|e| e.with_context("partition", partition))?;
            if seen.insert(key.as_str()) {
                unique.push(key.as_str());
            }
        }
        let (rows_cf, order_cf, cells_cf) =
            (self.cf(CF_ROWS)?, self.cf(CF_ORDER)?, self.cf(CF_CELLS)?);
        let _guards = self.locks.lock(partition, unique.iter().copied());
        let row_keys: Vec<Vec<u8>> = unique.iter().map(|k| row_key(partition, k)).collect();
        let found =
            self.db
                .batched_multi_get_cf_opt(rows_cf, &row_keys, false, &ReadOptions::default());
        let mut batch = WriteBatch::default();
        let mut removed = 0;
        let mut removed_keys: Vec<&str> = Vec::new();
        // Rows whose record head decodes, and rows to remove without it.
        let mut known: Vec<(&str, RecordHead)> = Vec::new();
        let mut lost: Vec<&str> = Vec::new();
        for ((&key, rkey), found) in unique.iter().zip(&row_keys).zip(found) {
            let found = found.map_err(|e| {
                from_rocksdb(e, "read a row record")
                    .with_context("partition", partition)
                    .with_context("key", key)
            })?;
            let Some(bytes) = found else {
                continue;
            };
            batch.delete_cf(rows_cf, rkey);
            removed += 1;
            removed_keys.push(key);
            match RowRecord::decode_head(&bytes) {
                Ok(head) => known.push((key, head)),
                Err(_) => lost.push(key),
            }
        }
        let order_keys: Vec<Vec<u8>> = known
            .iter()
            .map(|(_, head)| order_key(partition, head.seq))
            .collect();
        let entries =
            self.db
                .batched_multi_get_cf_opt(order_cf, &order_keys, false, &ReadOptions::default());
        for (((key, head), okey), entry) in known.into_iter().zip(&order_keys).zip(entries) {
            let entry = entry.map_err(|e| {
                from_rocksdb(e, "read an insertion-order entry")
                    .with_context("partition", partition)
                    .with_context("key", key)
            })?;
            if entry.as_deref() != Some(key.as_bytes()) {
                lost.push(key);
                continue;
            }
            batch.delete_cf(order_cf, okey);
            for field in &head.fields {
                batch.delete_cf(cells_cf, cell_key(partition, key, field));
            }
        }
        if !lost.is_empty() {
            self.remove_without_record(partition, &lost, &mut batch)?;
        }
        if removed > 0 {
            self.db.write_opt(batch, &self.write_opts).map_err(|e| {
                from_rocksdb(e, "write the batch").with_context("partition", partition)
            })?;
            // As in `write_rows`: after the write, under the locks.
            if let Some(publisher) = self.watchers.publisher(partition) {
                publisher.rows_cleared(removed_keys);
            }
        }
        Ok(removed)
    }

    /// Adds to `batch` the removal of every insertion-order entry of
    /// `partition` naming one of `keys`, and of every cell of those rows,
    /// without their records: one scan of the partition's order entries and
    /// one range deletion per row. Only for rows whose record cannot be
    /// trusted; the caller holds their locks, so no entry of theirs appears
    /// meanwhile.
    fn remove_without_record(
        &self,
        partition: &str,
        keys: &[&str],
        batch: &mut WriteBatch,
    ) -> Result<()> {
        let (order_cf, cells_cf) = (self.cf(CF_ORDER)?, self.cf(CF_CELLS)?);
        let wanted: HashSet<&[u8]> = keys.iter().map(|k| k.as_bytes()).collect();
        self.scan(order_cf, None, &partition_prefix(partition), |k, v| {
            if wanted.contains(v) {
                batch.delete_cf(order_cf, k);
            }
            Ok(())
        })
        .map_err(|e| e.with_context("partition", partition))?;
        for key in keys {
            // A row key is never all 0xff (its first byte is a length's
            // high byte, at most 0x10), so it always has a successor.
            let start = row_key(partition, key);
            let end = prefix_successor(&start).ok_or_else(|| {
                Error::unexpected("a row key has no successor")
                    .with_context("partition", partition)
                    .with_context("key", *key)
            })?;
            batch.delete_range_cf(cells_cf, start, end);
        }
        Ok(())
    }

    /// Test support: overwrites the stored tag (`tag`) or every stored cell
    /// of a row with bytes that do not decode, under the row's lock. See
    /// [`crate::RocksDbBackend::corrupt_row_for_tests`].
    #[cfg(feature = "testing")]
    pub fn corrupt_row(&self, partition: &str, key: &str, tag: bool) -> Result<()> {
        /// Not JSON (and not UTF-8): the tag cannot parse.
        const BAD_TAG: &[u8] = b"\xff{\"tag\": corrupted by a test";
        /// A codec version this build does not read: the cell cannot decode.
        const BAD_CELL: &[u8] = b"\xff\0\0\0\0\0\0\0corrupted by a test";
        let name = |e: Error| {
            e.with_context("partition", partition)
                .with_context("key", key)
        };
        check_partition(partition)?;
        check_key(key).map_err(name)?;
        let (rows_cf, cells_cf) = (self.cf(CF_ROWS)?, self.cf(CF_CELLS)?);
        let _guards = self.locks.lock(partition, [key]);
        let rkey = row_key(partition, key);
        let bytes = self
            .db
            .get_cf(rows_cf, &rkey)
            .map_err(|e| name(from_rocksdb(e, "read a row record")))?
            .ok_or_else(|| name(Error::not_found("there is no such row to corrupt")))?;
        let head = RowRecord::decode_head(&bytes).map_err(name)?;
        let mut batch = WriteBatch::default();
        if tag {
            let mut record = bytes.get(..head.tag_at).unwrap_or_default().to_vec();
            record.extend_from_slice(BAD_TAG);
            batch.put_cf(rows_cf, &rkey, record);
        } else {
            for field in &head.fields {
                batch.put_cf(cells_cf, cell_key(partition, key, field), BAD_CELL);
            }
        }
        self.db
            .write_opt(batch, &self.write_opts)
            .map_err(|e| name(from_rocksdb(e, "write the batch")))
    }

    /// Calls `each` with every (key, value) of `cf` in `start..end` (`end`
    /// `None`: to the end), in key order, as of `snapshot`.
    fn scan_range(
        &self,
        cf: &ColumnFamily,
        snapshot: &SnapshotWithThreadMode<'_, DB>,
        start: &[u8],
        end: Option<Vec<u8>>,
        mut each: impl FnMut(&[u8], &[u8]) -> Result<()>,
    ) -> Result<()> {
        let mut read = ReadOptions::default();
        read.set_snapshot(snapshot);
        if let Some(end) = end {
            read.set_iterate_upper_bound(end);
        }
        let mut it = self.db.raw_iterator_cf_opt(cf, read);
        it.seek(start);
        while let Some((k, v)) = it.item() {
            each(k, v)?;
            it.next();
        }
        it.status().map_err(|e| from_rocksdb(e, "scan"))
    }

    /// Calls `each` with every (key, value) of `cf` starting with `prefix`,
    /// in key order, as of `snapshot` (or of now).
    fn scan(
        &self,
        cf: &ColumnFamily,
        snapshot: Option<&SnapshotWithThreadMode<'_, DB>>,
        prefix: &[u8],
        mut each: impl FnMut(&[u8], &[u8]) -> Result<()>,
    ) -> Result<()> {
        let mut read = ReadOptions::default();
        if let Some(snapshot) = snapshot {
            read.set_snapshot(snapshot);
        }
        if let Some(upper) = prefix_successor(prefix) {
            read.set_iterate_upper_bound(upper);
        }
        let mut it = self.db.raw_iterator_cf_opt(cf, read);
        it.seek(prefix);
        while let Some((k, v)) = it.item() {
            if !k.starts_with(prefix) {
                break;
            }
            each(k, v)?;
            it.next();
        }
        it.status().map_err(|e| from_rocksdb(e, "scan"))
    }
}

/// Adds `row`'s cell writes to `batch`: a put of each set cell (refused,
/// with nothing written, when its encoding is over [`MAX_VALUE_BYTES`]) and
/// a delete of each removed one (contract C5).
fn encode_cells(
    batch: &mut WriteBatch,
    cells_cf: &ColumnFamily,
    partition: &str,
    row: &RowWrite,
    buf: &mut Vec<u8>,
) -> Result<()> {
    for (field, cell) in &row.cells {
        let CellWrite::Set(value) = cell else {
            batch.delete_cf(cells_cf, cell_key(partition, &row.key, field));
            continue;
        };
        buf.clear();
        codec::encode_into(value, buf);
        if buf.len() as u64 > MAX_VALUE_BYTES {
            return Err(Error::new(
                tq_core::ErrorKind::CapacityExceeded,
                format!(
                    "the encoded value is {} bytes, rocksdb stores at most {MAX_VALUE_BYTES}",
                    buf.len()
                ),
            )
            .with_context("partition", partition)
            .with_context("key", row.key.clone())
            .with_context("field", field.clone()));
        }
        batch.put_cf(cells_cf, cell_key(partition, &row.key, field), &*buf);
    }
    Ok(())
}

fn name_row_key(e: Error, row_key: &[u8]) -> Error {
    match crate::keys::decode_row_key(row_key) {
        Some((p, k)) => e.with_context("partition", p).with_context("key", k),
        None => e.with_context("row_key", format!("{row_key:?}")),
    }
}
