//! A cluster that moves a row's slot to another master while a backend
//! holds the old slot map: every kind of pipeline unit (a put's
//! `MULTI`/`EXEC`, a small row's script, the read of a hash with its cell
//! keys, a clear) reaches the old master, is answered `MOVED` without
//! running, and is resent through per-slot routing; the data stays whole.

mod support;

use support::slots::{move_key_slot, own_cluster, owner_port};
use tq_core::{Batch, Row, Tensor, tag};

/// A row of one small cell.
fn small_row(v: f32) -> Row {
    Row::new().with("small", Tensor::from_vec_1d(vec![v]))
}

/// The values of a float32 column of `batch`.
fn f32_column(batch: &Batch, field: &str) -> Vec<f32> {
    let column = batch.tensor(field).expect("a tensor column");
    let dense = column.as_dense().expect("rows of one shape");
    dense.to_vec::<f32>().expect("float32 values")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_stay_whole_when_their_slot_moves() {
    let (_cluster, ports, backend, kv) = own_cluster("reshard", |_| {}).await;

    let big: Vec<f32> = (0..16 * 1024).map(|i| i as f32).collect();
    let large_row = |v: f32| {
        Row::new()
            .with(
                "big",
                Tensor::from_vec_1d(big.iter().map(|x| x + v).collect::<Vec<f32>>()),
            )
            .with("small", Tensor::from_vec_1d(vec![v]))
    };
    kv.kv_put("k", "p", Some(large_row(0.0)), Some(tag! {"n" => 0}))
        .await
        .unwrap();
    kv.kv_put("s", "p", Some(small_row(1.0)), None)
        .await
        .unwrap();
    // Warm the slot map, then move the slots of both rows.
    assert_eq!(kv.kv_list(Some("p")).await.unwrap()["p"].len(), 2);
    let layout = backend.layout();
    for key in ["k", "s"] {
        let row_key = String::from_utf8(layout.row(layout.bucket("p", key), "p", key)).unwrap();
        let (slot, to) = move_key_slot(&row_key, &ports);
        assert_eq!(owner_port(ports[0], slot), to);
    }

    // A read of the hash with its cell key, a selection, a large put, a
    // small put and a clear: each is redirected once and works.
    let got = kv.kv_batch_get(&["k"], "p", None).await.unwrap();
    let column = got.tensor("big").unwrap();
    assert_eq!(column.data().len(), big.len() * 4);
    assert!(backend.redirected_commands() > 0);
    let only_big = ["big"];
    kv.kv_batch_get(&["k"], "p", Some(&only_big)).await.unwrap();
    kv.kv_put("k", "p", Some(large_row(1.0)), Some(tag! {"n" => 1}))
        .await
        .unwrap();
    kv.kv_put("s", "p", Some(small_row(2.0)), None)
        .await
        .unwrap();
    let got = kv.kv_batch_get(&["k"], "p", None).await.unwrap();
    let values = f32_column(&got, "big");
    assert!(values.iter().zip(&big).all(|(v, b)| *v == b + 1.0));
    let got = kv
        .kv_batch_get(&["k", "s"], "p", Some(&["small"]))
        .await
        .unwrap();
    assert_eq!(f32_column(&got, "small"), [1.0, 2.0]);
    let listing = kv.kv_list(Some("p")).await.unwrap();
    assert_eq!(listing["p"]["k"], tag! {"n" => 1});
    assert_eq!(kv.kv_clear(&["k", "s"], "p", None).await.unwrap(), 2);
    assert!(kv.kv_list(None).await.unwrap().is_empty());
}
