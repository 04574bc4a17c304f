//! A 256 MiB field round-trips through a standalone server.

mod support;

use std::sync::Arc;

use tq_core::{DType, KvStore, Row, Tensor};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_256_mib_field_round_trips() {
    const LEN: usize = 256 * 1024 * 1024;
    let kv = KvStore::new(Arc::new(support::standalone().await.unwrap()));
    let pattern: Vec<u8> = (0..=250u8).collect();
    let mut data: Vec<u8> = Vec::with_capacity(LEN);
    while data.len() < LEN {
        let take = pattern.len().min(LEN - data.len());
        data.extend_from_slice(&pattern[..take]);
    }
    let tensor = Tensor::new(DType::U8, [LEN], data).unwrap();
    let meta = kv
        .kv_put(
            "big",
            "p",
            Some(Row::new().with("blob", tensor.clone())),
            None,
        )
        .await
        .unwrap();
    assert_eq!(meta.fields, ["blob"]);
    let batch = kv.kv_batch_get(&["big"], "p", None).await.unwrap();
    let back = batch.tensor("blob").unwrap().row(0).unwrap();
    assert_eq!(back.shape(), [LEN]);
    assert!(back.data() == tensor.data(), "the bytes differ");
    drop(batch);
    assert_eq!(kv.kv_clear(&["big"], "p").await.unwrap(), 1);
}
