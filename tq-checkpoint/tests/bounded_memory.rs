//! S3: the bytes a save or a load holds at once do not grow with the store.
//! A counting allocator (this test binary only) measures the peak of live
//! heap bytes while a 64 MiB partition is saved to `file://` and loaded
//! back; with 1 MiB parts and 2 MiB reads and writes, the peak above what
//! the stores themselves hold stays under 16 MiB. The save's object is
//! many multipart parts long.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use common::{dump, file_location, memory_store};
use tq_checkpoint::{LoadOptions, SaveOptions, load, save_with};
use tq_core::{DType, Row, Tensor};

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
const ROWS: usize = 128;
const ROW_BYTES: usize = MIB / 2;
const BUDGET: usize = 16 * MIB;

/// Resets the peak to the live bytes now, and returns them.
fn reset_peak() -> usize {
    let now = LIVE.load(Relaxed);
    PEAK.store(now, Relaxed);
    now
}

#[tokio::test]
async fn bounded_memory_save_and_load_do_not_hold_the_store() {
    let source = memory_store();
    for i in 0..ROWS {
        let row = Row::new().with("t", Tensor::zeros(DType::U8, [ROW_BYTES]).unwrap());
        source
            .kv_put(&format!("k{i}"), "big", Some(row), None)
            .await
            .unwrap();
    }
    let (_dir, location) = file_location();

    let before = reset_peak();
    let options = SaveOptions::default()
        .with_part_bytes(MIB)
        .with_read_bytes(2 * MIB as u64);
    let manifest = save_with(&source, &location, &options).await.unwrap();
    let save_peak = PEAK.load(Relaxed) - before;
    let object = &manifest.partitions[0].objects[0];
    assert!(
        object.bytes > 32 * MIB as u64,
        "one object of many parts: {object:?}"
    );
    assert!(
        save_peak < BUDGET,
        "the save held {} MiB at its peak for a {} MiB store",
        save_peak / MIB,
        ROWS * ROW_BYTES / MIB
    );

    let target = memory_store();
    reset_peak();
    let options = LoadOptions::default().with_write_bytes(2 * MIB as u64);
    load(&target, &location, &options).await.unwrap();
    let after = LIVE.load(Relaxed);
    let load_peak = PEAK.load(Relaxed).saturating_sub(after);
    assert!(
        load_peak < BUDGET,
        "the load held {} MiB beyond the loaded rows at its peak",
        load_peak / MIB
    );
    assert_eq!(dump(&target).await, dump(&source).await);
}
