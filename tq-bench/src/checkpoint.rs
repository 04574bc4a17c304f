//! The checkpoint case (issue 12): `tq_checkpoint::save` of the put batch's
//! partition to a `file://` directory and `tq_checkpoint::load` of it into
//! a fresh memory store, against `std::fs` writing and reading the same
//! number of bytes in files of the same sizes (the checkpoint's objects and
//! manifest), in the same iteration.
//!
//! Neither side calls fsync (object_store's `LocalFileSystem` does not by
//! default): both measure writing into and reading back from the page
//! cache, which is what a save or load costs the process itself.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::ProgressBar;
use tq_checkpoint::object_store::local::LocalFileSystem;
use tq_checkpoint::{LoadOptions, Location, Manifest, SaveOptions};
use tq_facade::TransferQueue;
use tq_facade::backends::memory::MemoryBackend;

use crate::data::Payload;
use crate::open::Opened;
use crate::report::{Figure, Report, Target};
use crate::run::{Options, Samples};

/// The partition the payload is put into and saved from.
pub const PARTITION: &str = "checkpoint_src";
pub(crate) const SAVE: &str = "checkpoint save (file://)";
pub(crate) const LOAD: &str = "checkpoint load (file://)";
pub(crate) const FS_WRITE: &str = "std::fs write";
pub(crate) const FS_READ: &str = "std::fs read";
/// The goal, throughput at least 0.5x the baseline's: a time ratio
/// of at most 2.
pub const MAX_RATIO: f64 = 2.0;

fn err<E: std::fmt::Display>(what: &str) -> impl Fn(E) -> String + '_ {
    move |e| format!("checkpoint case: {what}: {e}")
}

/// A temporary directory under `opts.data_dir`, or the system's.
pub(crate) fn temp_dir(opts: &Options) -> Result<tempfile::TempDir, String> {
    let dir = match &opts.data_dir {
        Some(d) => tempfile::tempdir_in(d),
        None => tempfile::tempdir(),
    };
    dir.map_err(err("temporary directory"))
}

/// A checkpoint location in `dir`.
pub(crate) fn location_in(dir: &Path) -> Result<Location, String> {
    let fs = LocalFileSystem::new_with_prefix(dir).map_err(err("file store"))?;
    Ok(Location::new(Arc::new(fs), "ckpt".into()))
}

/// A fresh memory store to load into.
pub(crate) fn fresh_memory() -> TransferQueue {
    TransferQueue::from_backend(Arc::new(MemoryBackend::new()))
}

/// The sizes of the checkpoint's files: its data objects and manifest.
fn file_sizes(manifest: &Manifest, dir: &Path) -> Result<Vec<usize>, String> {
    let mut sizes: Vec<usize> = manifest
        .partitions
        .iter()
        .flat_map(|p| &p.objects)
        .map(|o| o.bytes as usize)
        .collect();
    let json = dir.join("ckpt").join(tq_checkpoint::MANIFEST_NAME);
    sizes.push(std::fs::metadata(json).map_err(err("manifest size"))?.len() as usize);
    Ok(sizes)
}

/// Writes one file per size from `source` (which is at least the largest
/// size), as `File::create` + `write_all`; returns the paths and the time.
fn fs_write(
    dir: &Path,
    sizes: &[usize],
    source: &[u8],
) -> Result<(Vec<PathBuf>, Duration), String> {
    use std::io::Write;
    let paths: Vec<PathBuf> = (0..sizes.len())
        .map(|i| dir.join(format!("{i}.bin")))
        .collect();
    let start = Instant::now();
    for (path, &size) in paths.iter().zip(sizes) {
        let mut f = std::fs::File::create(path).map_err(err("std::fs create"))?;
        f.write_all(&source[..size]).map_err(err("std::fs write"))?;
    }
    Ok((paths, start.elapsed()))
}

/// Reads each file into a fresh buffer, as `std::fs::read`.
fn fs_read(paths: &[PathBuf]) -> Result<Duration, String> {
    let start = Instant::now();
    for path in paths {
        let bytes = std::fs::read(path).map_err(err("std::fs read"))?;
        std::hint::black_box(&bytes);
    }
    Ok(start.elapsed())
}

/// `len` bytes of payload data, repeated as needed: what the baseline writes.
fn source_bytes(payload: &Payload, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let slices = payload.field_slices();
    while out.len() < len && slices.iter().any(|s| !s.is_empty()) {
        for s in &slices {
            let take = s.len().min(len - out.len());
            out.extend_from_slice(&s[..take]);
        }
    }
    out.resize(len, 0);
    out
}

/// The times of one iteration.
struct Times {
    save: Duration,
    load: Duration,
    write: Duration,
    read: Duration,
    sizes: Vec<usize>,
}

/// One iteration: put (untimed), save, write baseline, load, read baseline;
/// the order of each pair alternates with `i`.
async fn iteration(
    b: &Opened,
    payload: &Payload,
    opts: &Options,
    i: usize,
    known: Option<&[usize]>,
) -> Result<Times, String> {
    let store = b.tq.store();
    let batch = payload.batch().map_err(err("batch"))?;
    b.tq.kv_batch_put(&payload.keys, PARTITION, Some(batch), None)
        .await
        .map_err(err("kv_batch_put"))?;
    let ckpt_dir = temp_dir(opts)?;
    let fs_dir = temp_dir(opts)?;
    let location = location_in(ckpt_dir.path())?;
    let save = || async {
        let options = SaveOptions::default().with_partitions(&[PARTITION]);
        let start = Instant::now();
        let manifest = tq_checkpoint::save_with(store, &location, &options)
            .await
            .map_err(err("save"))?;
        Ok::<_, String>((manifest, start.elapsed()))
    };
    // The baseline needs the checkpoint's file sizes (the same in every
    // iteration): until they are known the save goes first; then the
    // order alternates.
    let (manifest, t_save, sizes, paths, t_write);
    match known.filter(|_| i % 2 == 1) {
        Some(known) => {
            sizes = known.to_vec();
            let source = source_bytes(payload, sizes.iter().copied().max().unwrap_or(0));
            (paths, t_write) = fs_write(fs_dir.path(), &sizes, &source)?;
            (manifest, t_save) = save().await?;
        }
        None => {
            (manifest, t_save) = save().await?;
            sizes = file_sizes(&manifest, ckpt_dir.path())?;
            let source = source_bytes(payload, sizes.iter().copied().max().unwrap_or(0));
            (paths, t_write) = fs_write(fs_dir.path(), &sizes, &source)?;
        }
    }

    let target = fresh_memory();
    let load = || async {
        let start = Instant::now();
        tq_checkpoint::load(target.store(), &location, &LoadOptions::default())
            .await
            .map_err(err("load"))?;
        Ok::<_, String>(start.elapsed())
    };
    let (t_load, t_read) = if i.is_multiple_of(2) {
        let l = load().await?;
        (l, fs_read(&paths)?)
    } else {
        let r = fs_read(&paths)?;
        (load().await?, r)
    };
    let got = target
        .kv_batch_get(&payload.keys, PARTITION, None)
        .await
        .map_err(err("kv_batch_get of the loaded rows"))?;
    crate::workload::check_get(payload, &got, opts.verify)?;
    drop((got, target, manifest));
    b.tq.kv_clear(&payload.keys, PARTITION, None)
        .await
        .map_err(err("kv_clear"))?;
    Ok(Times {
        save: t_save,
        load: t_load,
        write: t_write,
        read: t_read,
        sizes,
    })
}

/// The checkpoint case on one backend and shape.
pub(crate) async fn checkpoint_workload(
    b: &Opened,
    payload: &Payload,
    opts: &Options,
    bar: &ProgressBar,
    report: &mut Report,
) -> Result<(), String> {
    let label = payload.shape.label();
    let mut samples = Samples::default();
    let mut sizes: Option<Vec<usize>> = None;
    for i in 0..opts.warmup + opts.iterations {
        bar.set_message(format!("{} {label}: checkpoint {}", b.name, i + 1));
        let t = iteration(b, payload, opts, i, sizes.as_deref()).await?;
        sizes = Some(t.sizes);
        if i >= opts.warmup {
            samples.push(SAVE, t.save);
            samples.push(LOAD, t.load);
            samples.push(FS_WRITE, t.write);
            samples.push(FS_READ, t.read);
        }
        bar.inc(1);
    }
    let bytes: usize = sizes.iter().flatten().sum();
    let label = format!("{label} checkpoint");
    let fig = |name: &str, samples: &mut Samples| {
        Figure::new(&b.name, &label, name, samples.take(name)).bytes(bytes)
    };
    let write = fig(FS_WRITE, &mut samples);
    let read = fig(FS_READ, &mut samples);
    let save = fig(SAVE, &mut samples)
        .against(&write)
        .target(Target::MaxRatio(MAX_RATIO));
    let load = fig(LOAD, &mut samples)
        .against(&read)
        .target(Target::MaxRatio(MAX_RATIO));
    report.figures.extend([write, save, read, load]);
    report.notes.push(format!(
        "{} {label}: GB/s of checkpoint bytes ({bytes} B: objects + manifest); \
         std::fs writes and reads files of the same sizes; no fsync on either side",
        b.name
    ));
    Ok(())
}
