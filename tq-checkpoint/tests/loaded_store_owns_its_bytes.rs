//! A loaded store holds about the bytes it loaded: every stored value owns
//! its buffer. A value kept as a slice of a read buffer keeps the whole
//! buffer alive (a 2.1 GB load once held 4.9 GB). A counting allocator
//! (this test binary only) gives the live heap bytes.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use common::{file_location, memory_store};
use tq_checkpoint::{LoadOptions, load, save};
use tq_core::{Row, Tensor};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call forwards to the system allocator with the caller's
// arguments; the counter only observes sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size(), Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const MIB: usize = 1 << 20;

#[tokio::test]
async fn s3_a_loaded_store_holds_about_the_loaded_bytes() {
    // As perftest's batch: rows of 9 fields of 8192 f32, keys of varying
    // length, so values lie at every offset of the read buffers.
    let (rows, fields, len) = (256, 9, 8192);
    let source = memory_store();
    for i in 0..rows {
        let mut row = Row::new();
        for f in 0..fields {
            let values: Vec<f32> = (0..len).map(|j| (i * j + f) as f32).collect();
            row = row.with(
                format!("field_{f}"),
                Tensor::from_vec(values, [len]).unwrap(),
            );
        }
        source
            .kv_put(&format!("test_key_{i}"), "train", Some(row), None)
            .await
            .unwrap();
    }
    let payload = rows * fields * len * 4;
    let (_dir, location) = file_location();
    save(&source, &location, None).await.unwrap();
    drop(source);

    let target = memory_store();
    let before = LIVE.load(Relaxed);
    load(&target, &location, &LoadOptions::default())
        .await
        .unwrap();
    let held = LIVE.load(Relaxed) - before;
    assert!(
        held < payload + payload / 8,
        "the loaded store holds {} MiB for {} MiB of tensors",
        held / MIB,
        payload / MIB
    );
}
