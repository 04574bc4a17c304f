//! A get of uniform rows makes one copy into one output buffer: the only
//! payload-sized allocation during the get is the output itself.
//!
//! A counting global allocator sees every allocation of this test binary,
//! so this file holds a single test.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tq_backend_memory::MemoryBackend;
use tq_core::{Batch, KvStore, Tensor};

struct Counting;

static ALLOCATED: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged, only counting bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATED.fetch_add(new_size, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn uniform_get_allocates_the_payload_once() {
    const ROWS: usize = 64;
    const ROW_BYTES: usize = 1 << 20;
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let kv = KvStore::new(Arc::new(MemoryBackend::new()));
        let data: Vec<u8> = (0..ROWS * ROW_BYTES).map(|i| (i % 253) as u8).collect();
        let input = Tensor::from_vec(data, [ROWS, ROW_BYTES]).unwrap();
        let keys: Vec<String> = (0..ROWS).map(|i| format!("k{i}")).collect();
        let batch = Batch::new(ROWS).with_dense("x", input.clone()).unwrap();
        kv.kv_batch_put(&keys, "p", Some(batch), None)
            .await
            .unwrap();

        let before = ALLOCATED.load(Ordering::Relaxed);
        let got = kv.kv_batch_get(&keys, "p", None).await.unwrap();
        let allocated = ALLOCATED.load(Ordering::Relaxed) - before;

        let payload = ROWS * ROW_BYTES;
        let dense = got.tensor("x").unwrap().as_dense().unwrap();
        assert!(dense.data() == input.data(), "get returned other bytes");
        assert_ne!(
            dense.data().as_ptr(),
            input.data().as_ptr(),
            "expected a copy into a new buffer"
        );
        // One payload-sized buffer (plus up to 2 MiB of huge-page alignment
        // slack) and small bookkeeping; a second copy would double this.
        assert!(allocated >= payload, "allocated only {allocated} bytes");
        assert!(
            allocated < payload + (2 << 20) + (256 << 10),
            "allocated {allocated} bytes for a {payload}-byte payload: more than one copy"
        );
    });
}
