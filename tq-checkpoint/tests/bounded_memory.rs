//! S3: the bytes a save or a load holds at once do not grow with the store.
//! A counting allocator (this test binary only) measures the peak of live
//! heap bytes while a partition is saved and loaded back: 64 MiB to
//! `file://` with 1 MiB parts and 2 MiB reads and writes stays under 16 MiB
//! above what the stores themselves hold (the save's object is many
//! multipart parts long); 2 GiB with the default options, through a sparse
//! in-memory object store (tests/sparse_store: the zeros of the rows take
//! neither heap nor disk), stays under the 512 MiB. Both run in one
//! test, one after the other: the counters are the whole process's.

mod common;
mod sparse_store;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use common::{file_location, memory_store};
use sparse_store::SparseStore;
use tq_checkpoint::object_store::path::Path;
use tq_checkpoint::object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload};
use tq_checkpoint::{LoadOptions, Location, SaveOptions, load, save_with};
use tq_core::{DType, KvStore, Row, Tensor, codec};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = LIVE.fetch_add(by, Relaxed) + by;
    PEAK.fetch_max(now, Relaxed);
}

// SAFETY: every call forwards to the system allocator with the caller's
// arguments; the counters only observe sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const MIB: usize = 1 << 20;

/// Resets the peak to the live bytes now, and returns them.
fn reset_peak() -> usize {
    let now = LIVE.load(Relaxed);
    PEAK.store(now, Relaxed);
    now
}

/// Every row's key, tag and the size and CRC-32C of each cell's encoding:
/// a comparison of two stores that does not hold a copy of either.
async fn digest(store: &KvStore) -> Vec<(String, String, Vec<(String, usize, u32)>)> {
    let mut out = Vec::new();
    for (partition, keys) in store.kv_list(None).await.expect("list") {
        for (key, tag) in keys {
            let row = store
                .backend()
                .get(&partition, std::slice::from_ref(&key), None)
                .await
                .expect("get")
                .pop()
                .flatten()
                .expect("a listed row");
            let mut cells: Vec<(String, usize, u32)> = row
                .into_iter()
                .map(|(field, value)| {
                    let bytes = codec::encode(&value);
                    (field, bytes.len(), crc32c::crc32c(&bytes))
                })
                .collect();
            cells.sort();
            out.push((format!("{partition}/{key}"), format!("{tag:?}"), cells));
        }
    }
    out
}

/// Heap bytes a save and a load held at their peaks, above the store
/// being saved and above the loaded store.
struct Peaks {
    save: usize,
    load: usize,
}

/// Saves a partition of `rows` rows of `row_bytes` bytes each to `location`
/// and loads it into a fresh store; checks the loaded store has every row.
async fn measure(
    rows: usize,
    row_bytes: usize,
    location: &Location,
    save: SaveOptions,
    load_options: LoadOptions,
) -> Peaks {
    let source = memory_store();
    for i in 0..rows {
        // Each row its own bytes: a put keeps the caller's buffer, so one
        // tensor put many times would be stored once.
        let row = Row::new().with("t", Tensor::zeros(DType::U8, [row_bytes]).unwrap());
        source
            .kv_put(&format!("k{i}"), "big", Some(row), None)
            .await
            .unwrap();
    }
    let before = reset_peak();
    let manifest = save_with(&source, location, &save).await.unwrap();
    let save_peak = PEAK.load(Relaxed) - before;
    assert_eq!(manifest.partitions[0].keys, rows as u64);
    let object = &manifest.partitions[0].objects[0];
    assert!(
        object.bytes > 32 * MIB as u64,
        "one object of many parts: {object:?}"
    );
    let expected = digest(&source).await;
    drop(source);

    let target = memory_store();
    reset_peak();
    load(&target, location, &load_options).await.unwrap();
    let after = LIVE.load(Relaxed);
    let load_peak = PEAK.load(Relaxed).saturating_sub(after);
    assert_eq!(digest(&target).await, expected);
    Peaks {
        save: save_peak,
        load: load_peak,
    }
}

#[tokio::test]
async fn s3_bounded_memory_save_and_load_do_not_hold_the_store() {
    // Small parts, reads and writes: a tight bound.
    let (rows, row_bytes, budget) = (128, MIB / 2, 16 * MIB);
    let save = SaveOptions::default()
        .with_part_bytes(MIB)
        .with_read_bytes(2 * MIB as u64);
    let load = LoadOptions::default().with_write_bytes(2 * MIB as u64);
    let (_dir, location) = file_location();
    let peaks = measure(rows, row_bytes, &location, save, load).await;
    assert!(
        peaks.save < budget && peaks.load < budget,
        "a {} MiB store: the save held {} MiB, the load {} MiB beyond the loaded rows",
        rows * row_bytes / MIB,
        peaks.save / MIB,
        peaks.load / MIB
    );

    // The measure: a 2 GiB store with the default options.
    let (rows, row_bytes, budget) = (256, 8 * MIB, 512 * MIB);
    let sparse = SparseStore::new();
    let location = Location::new(Arc::new(sparse.clone()), Path::from("ckpt"));
    let peaks = measure(
        rows,
        row_bytes,
        &location,
        SaveOptions::default(),
        LoadOptions::default(),
    )
    .await;
    // The sparse store kept only the 4 KiB blocks around each row's header
    // and checksums (about 1 MiB), not the 2 GiB of zeros: what the peaks
    // count is the save and the load.
    assert!(
        sparse.kept_bytes() < 4 * MIB,
        "{} bytes kept",
        sparse.kept_bytes()
    );
    assert!(
        peaks.save < budget && peaks.load < budget,
        "a {} MiB store: the save held {} MiB, the load {} MiB beyond the loaded rows",
        rows * row_bytes / MIB,
        peaks.save / MIB,
        peaks.load / MIB
    );
    println!(
        "2 GiB store: save peak {} MiB, load peak {} MiB above steady heap",
        peaks.save / MIB,
        peaks.load / MIB
    );
}

/// The sparse store gives back every byte it was given, zeros and not,
/// whole and by range, across part boundaries that split blocks, and
/// refuses a read pinned to an older ETag.
#[tokio::test]
async fn the_sparse_store_reads_back_what_was_written() {
    let store = SparseStore::new();
    let mut data = vec![0u8; 3 * 4096 + 100];
    data[5] = 1;
    data[4096 * 2 + 7] = 2;
    data[3 * 4096 + 99] = 3;
    let path = Path::from("a/b");
    let mut upload = store.put_multipart(&path).await.unwrap();
    upload
        .put_part(PutPayload::from(data[..4000].to_vec()))
        .await
        .unwrap();
    upload
        .put_part(PutPayload::from(data[4000..].to_vec()))
        .await
        .unwrap();
    let put = upload.complete().await.unwrap();
    assert!(store.kept_bytes() < data.len());

    let whole = store.get(&path).await.unwrap().bytes().await.unwrap();
    assert_eq!(&whole[..], &data[..]);
    for range in [0..1, 3..5000, 8190..8200, 12000..data.len() as u64] {
        let got = store.get_range(&path, range.clone()).await.unwrap();
        assert_eq!(&got[..], &data[range.start as usize..range.end as usize]);
    }
    let suffix = GetOptions {
        range: Some(GetRange::Suffix(10)),
        ..GetOptions::default()
    };
    let got = store
        .get_opts(&path, suffix)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(&got[..], &data[data.len() - 10..]);

    store
        .put(&path, PutPayload::from(vec![9u8; 10]))
        .await
        .unwrap();
    let stale = GetOptions {
        if_match: put.e_tag,
        ..GetOptions::default()
    };
    assert!(matches!(
        store.get_opts(&path, stale).await,
        Err(tq_checkpoint::object_store::Error::Precondition { .. })
    ));
    assert!(store.get(&Path::from("missing")).await.is_err());
}
