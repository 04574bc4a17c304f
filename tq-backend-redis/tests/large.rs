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
    assert_eq!(kv.kv_clear(&["big"], "p", None).await.unwrap(), 1);
}

/// Rows per put in the tests below: large enough to be split over several
/// connections.
const ROWS: usize = 64;
/// u32 elements per row: 512 KiB, 32 MiB in all.
const ELEMS: usize = 128 * 1024;

/// Puts `keys` (ROWS of them) with one field `x` of distinct values;
/// returns that column as one tensor.
async fn put_rows(kv: &KvStore, keys: &[String]) -> Tensor {
    let values: Vec<u32> = (0..(ROWS * ELEMS) as u32).collect();
    let tensor = Tensor::from_vec(values, [ROWS, ELEMS]).unwrap();
    let batch = tq_core::Batch::new(ROWS)
        .with_dense("x", tensor.clone())
        .unwrap();
    kv.kv_batch_put(keys, "p", Some(batch), None).await.unwrap();
    tensor
}

/// A put large enough to be split over several connections keeps the
/// call's order in the listing, and every row reads back whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_split_put_keeps_call_order_and_bytes() {
    for backend in [
        support::standalone().await.unwrap(),
        support::clustered().await.unwrap(),
    ] {
        let kv = KvStore::new(Arc::new(backend));
        let keys: Vec<String> = (0..ROWS).rev().map(|i| format!("k{i}")).collect();
        let tensor = put_rows(&kv, &keys).await;
        let listing = kv.kv_list(Some("p")).await.unwrap();
        assert!(listing["p"].keys().eq(keys.iter()), "order changed");
        let back = kv.kv_batch_get(&keys, "p", None).await.unwrap();
        let column = back.tensor("x").unwrap();
        assert!(column.data() == tensor.data(), "the bytes differ");
        assert_eq!(kv.kv_clear(&keys, "p", None).await.unwrap(), ROWS);
    }
}

/// Large pipelines run as tasks of their own: a caller that stops
/// waiting (here a timeout, over and over, at different points of a 32 MiB
/// get) leaves them to finish on their own, and every later get on the
/// same backend reads whole, correct rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gets_abandoned_midway_leave_the_backend_whole() {
    let kv = KvStore::new(Arc::new(support::standalone().await.unwrap()));
    let keys: Vec<String> = (0..ROWS).map(|i| format!("k{i}")).collect();
    let tensor = put_rows(&kv, &keys).await;
    let mut abandoned = 0;
    for micros in [50u64, 200, 1000, 3000, 10_000] {
        let get = kv.kv_batch_get(&keys, "p", None);
        if tokio::time::timeout(std::time::Duration::from_micros(micros), get)
            .await
            .is_err()
        {
            abandoned += 1;
        }
        let back = kv.kv_batch_get(&keys, "p", None).await.unwrap();
        let column = back.tensor("x").unwrap();
        assert!(
            column.data() == tensor.data(),
            "after a get abandoned at {micros} us"
        );
    }
    assert!(
        abandoned > 0,
        "no get was abandoned midway: the test proved nothing"
    );
}
