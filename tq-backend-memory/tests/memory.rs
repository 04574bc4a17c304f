//! Memory-backend promises beyond the conformance suite: zero-copy puts and
//! the capacity limit.

use std::sync::Arc;

use tq_backend_memory::{MemoryBackend, MemoryConfig};
use tq_core::{Batch, ErrorKind, KvStore, Row, StorageBackend, Tensor, Value, tag};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

#[test]
fn put_stores_slices_of_the_callers_buffer() {
    rt().block_on(async {
        let backend = Arc::new(MemoryBackend::new());
        let kv = KvStore::new(backend.clone());
        let data: Vec<f32> = (0..4 * 1024).map(|x| x as f32).collect();
        let tensor = Tensor::from_vec(data, [4, 1024]).unwrap();
        let base = tensor.data().as_ptr() as usize;
        let keys = ["a", "b", "c", "d"];
        let batch = Batch::new(4).with_dense("x", tensor).unwrap();
        kv.kv_batch_put(&keys, "p", Some(batch), None)
            .await
            .unwrap();

        let owned: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        let rows = backend.get("p", &owned, None).await.unwrap();
        for (i, row) in rows.into_iter().enumerate() {
            let cells = row.expect("row exists");
            let Value::Tensor(t) = &cells[0].1 else {
                panic!("not a tensor")
            };
            assert_eq!(
                t.data().as_ptr() as usize,
                base + i * 4096,
                "row {i} was copied instead of sliced"
            );
        }
    });
}

#[test]
fn capacity_limit_rejects_whole_puts_and_is_freed_by_clears() {
    rt().block_on(async {
        let backend = Arc::new(MemoryBackend::with_config(
            MemoryConfig::new().with_capacity_bytes(1000),
        ));
        let kv = KvStore::new(backend.clone());
        let bytes = |n: usize| Tensor::from_vec(vec![7u8; n], [n]).unwrap();
        kv.kv_put(
            "a",
            "p",
            Some(Row::new().with("x", bytes(800))),
            Some(tag! {"v" => 1}),
        )
        .await
        .unwrap();
        assert_eq!(backend.used_bytes(), 800);

        // Two rows of 150: the first alone would fit, together they do not.
        let batch = Batch::new(2)
            .with_dense("y", Tensor::from_vec(vec![1u8; 300], [2, 150]).unwrap())
            .unwrap();
        let err = kv
            .kv_batch_put(
                &["b", "c"],
                "p",
                Some(batch),
                Some(vec![tag! {"v" => 2}; 2]),
            )
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::CapacityExceeded);
        assert_eq!(err.context_value("partition"), Some("p"));
        let listing = kv.kv_list(None).await.unwrap();
        assert_eq!(listing["p"].len(), 1, "a rejected put wrote rows");
        assert_eq!(
            listing["p"]["a"],
            tag! {"v" => 1},
            "a rejected put changed a tag"
        );
        assert_eq!(backend.used_bytes(), 800);

        // Replacing a cell counts only the difference.
        kv.kv_put("a", "p", Some(Row::new().with("x", bytes(990))), None)
            .await
            .unwrap();
        assert_eq!(backend.used_bytes(), 990);
        assert_eq!(kv.kv_clear(&["a"], "p", None).await.unwrap(), 1);
        assert_eq!(backend.used_bytes(), 0);
        kv.kv_put("b", "p", Some(Row::new().with("x", bytes(1000))), None)
            .await
            .unwrap();
    });
}

#[test]
fn empty_partitions_are_dropped() {
    rt().block_on(async {
        let backend = Arc::new(MemoryBackend::new());
        let kv = KvStore::new(backend.clone());
        for i in 0..1000 {
            let p = format!("step-{i}");
            kv.kv_put("k", &p, None, Some(tag! {})).await.unwrap();
            kv.kv_clear(&["k"], &p, None).await.unwrap();
        }
        assert!(kv.kv_list(None).await.unwrap().is_empty());
        assert_eq!(backend.partition_count(), 0, "emptied partitions leaked");
    });
}
