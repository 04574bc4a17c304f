//! Put rules P1-P9.

use std::time::{Duration, Instant};

use super::Kv;
use super::support::*;
use crate::batch::{Batch, Column};
use crate::column::TensorColumn;
use crate::dtype::DType;
use crate::error::ErrorKind;
use crate::row::Row;
use crate::tag;
use crate::tensor::Tensor;

/// P1: a put with neither fields nor tags is `InvalidArgument`, and writes nothing.
pub async fn p1_put_with_neither_fields_nor_tag_is_invalid(kv: &Kv) {
    expect_err(
        kv.kv_put("k", "p", None, None).await,
        ErrorKind::InvalidArgument,
        &["k", "neither"],
    );
    expect_err(
        kv.kv_put("k", "p", Some(Row::new()), None).await,
        ErrorKind::InvalidArgument,
        &["k"],
    );
    expect_err(
        kv.kv_batch_put(&keys(&["a", "b"]), "p", None, None).await,
        ErrorKind::InvalidArgument,
        &["p", "neither"],
    );
    expect_err(
        kv.kv_batch_put(&keys(&["a"]), "p", Some(Batch::new(1)), None)
            .await,
        ErrorKind::InvalidArgument,
        &["p"],
    );
    assert!(
        list_all(kv).await.is_empty(),
        "a rejected put wrote something"
    );
}

/// P2: an empty key list is `InvalidArgument`.
pub async fn p2_batch_put_empty_key_list_is_invalid(kv: &Kv) {
    expect_err(
        kv.kv_batch_put(&[], "p", None, Some(vec![])).await,
        ErrorKind::InvalidArgument,
        &["empty", "p"],
    );
    expect_err(
        kv.kv_batch_put(&[], "p", Some(Batch::new(0)), None).await,
        ErrorKind::InvalidArgument,
        &["empty"],
    );
    assert!(list_all(kv).await.is_empty());
}

/// P2: duplicate keys are `InvalidArgument` naming the key; nothing is written.
pub async fn p2_batch_put_duplicate_keys_are_invalid(kv: &Kv) {
    let batch = Batch::new(3)
        .with_dense("x", Tensor::from_vec(vec![1f32, 2., 3.], [3, 1]).unwrap())
        .unwrap();
    expect_err(
        kv.kv_batch_put(&keys(&["a", "dup-key", "dup-key"]), "p", Some(batch), None)
            .await,
        ErrorKind::InvalidArgument,
        &["dup-key"],
    );
    assert!(list_all(kv).await.is_empty());
}

/// P2: a fields batch whose row count differs from the key count is
/// `InvalidArgument`; nothing is written.
pub async fn p2_batch_put_row_count_mismatch_is_invalid(kv: &Kv) {
    let batch = Batch::new(2)
        .with_dense("x", Tensor::from_vec(vec![1f32, 2.], [2, 1]).unwrap())
        .unwrap();
    expect_err(
        kv.kv_batch_put(&keys(&["a", "b", "c"]), "p", Some(batch), None)
            .await,
        ErrorKind::InvalidArgument,
        &["2 rows", "3 keys", "p"],
    );
    assert!(list_all(kv).await.is_empty());
}

/// P2: a tag list whose length differs from the key count is
/// `InvalidArgument`; nothing is written.
pub async fn p2_batch_put_tag_count_mismatch_is_invalid(kv: &Kv) {
    let tags = vec![tag! {"s" => 1}];
    expect_err(
        kv.kv_batch_put(&keys(&["a", "b"]), "p", None, Some(tags))
            .await,
        ErrorKind::InvalidArgument,
        &["1 tags", "2 keys"],
    );
    assert!(list_all(kv).await.is_empty());
}

/// P3: validation happens before any write; a rejected call leaves existing
/// rows exactly as they were.
pub async fn p3_rejected_put_writes_nothing(kv: &Kv) {
    kv.kv_put(
        "a",
        "p",
        Some(Row::new().with("x", f32s(&[1.0]))),
        Some(tag! {"v" => 1}),
    )
    .await
    .unwrap();
    let before = snapshot(kv).await;
    // The bad key is last: a backend writing row by row would have written "a" and "b".
    let long_key = "k".repeat(5000);
    let batch = Batch::new(3)
        .with_dense("y", Tensor::from_vec(vec![1f32, 2., 3.], [3, 1]).unwrap())
        .unwrap();
    expect_err(
        kv.kv_batch_put(
            &["a".to_owned(), "b".to_owned(), long_key],
            "p",
            Some(batch),
            Some(vec![tag! {"v" => 2}, tag! {"v" => 2}, tag! {"v" => 2}]),
        )
        .await,
        ErrorKind::InvalidArgument,
        &["key", "5000 bytes"],
    );
    let mut bad_field = Row::new().with("ok", f32s(&[2.0]));
    bad_field.insert("", f32s(&[3.0]));
    expect_err(
        kv.kv_put("a", "p", Some(bad_field), Some(tag! {"v" => 3}))
            .await,
        ErrorKind::InvalidArgument,
        &["field"],
    );
    expect_err(
        kv.kv_put(
            "a",
            &"p".repeat(300),
            Some(Row::new().with("x", f32s(&[1.0]))),
            None,
        )
        .await,
        ErrorKind::InvalidArgument,
        &["partition"],
    );
    ensure_eq!(snapshot(kv).await, before);
    let batch = kv.kv_batch_get(&keys(&["a"]), "p", None).await.unwrap();
    ensure_eq!(f32_row(&batch, "x", 0), vec![1.0]);
}

/// P4: a put creates missing keys; for existing keys each given field is
/// replaced and the others are kept.
pub async fn p4_put_creates_and_replaces_keeping_other_fields(kv: &Kv) {
    kv.kv_put(
        "k",
        "p",
        Some(Row::new().with("a", f32s(&[1.0])).with("b", f32s(&[2.0]))),
        None,
    )
    .await
    .unwrap();
    kv.kv_put(
        "k",
        "p",
        Some(Row::new().with("b", f32s(&[20.0])).with("c", f32s(&[30.0]))),
        None,
    )
    .await
    .unwrap();
    let batch = kv.kv_batch_get(&keys(&["k"]), "p", None).await.unwrap();
    ensure_eq!(fields_of(&batch), ["a", "b", "c"]);
    ensure_eq!(f32_row(&batch, "a", 0), vec![1.0]);
    ensure_eq!(f32_row(&batch, "b", 0), vec![20.0]);
    ensure_eq!(f32_row(&batch, "c", 0), vec![30.0]);
    ensure_eq!(listed_keys(kv, "p").await, ["k"]);
}

/// P5: tags are shallow-merged; `None` leaves the tag unchanged.
pub async fn p5_tags_shallow_merge(kv: &Kv) {
    let row = || Some(Row::new().with("x", f32s(&[1.0])));
    let meta = kv
        .kv_put(
            "k",
            "p",
            row(),
            Some(
                tag! {"status" => "running", "step" => 1, "nested" => serde_json::json!({"a": 1})},
            ),
        )
        .await
        .unwrap();
    ensure_eq!(
        meta.tags[0],
        tag! {"status" => "running", "step" => 1, "nested" => serde_json::json!({"a": 1})}
    );
    let meta = kv
        .kv_put(
            "k",
            "p",
            None,
            Some(tag! {"status" => "done", "nested" => serde_json::json!({"b": 2})}),
        )
        .await
        .unwrap();
    // Shallow: "nested" is replaced whole, not merged.
    let want = tag! {"status" => "done", "step" => 1, "nested" => serde_json::json!({"b": 2})};
    ensure_eq!(meta.tags[0], want);
    let meta = kv.kv_put("k", "p", row(), None).await.unwrap();
    ensure_eq!(meta.tags[0], want, "a put without a tag changed the tag");
    ensure_eq!(listed_tag(kv, "p", "k").await, Some(want));
}

/// P5: a key created without a tag has the tag `{}`.
pub async fn p5_key_created_without_tag_has_empty_tag(kv: &Kv) {
    let meta = kv
        .kv_put("k", "p", Some(Row::new().with("x", f32s(&[1.0]))), None)
        .await
        .unwrap();
    ensure_eq!(meta.tags, vec![tag! {}]);
    ensure_eq!(listed_tag(kv, "p", "k").await, Some(tag! {}));
}

/// P6: a tag-only put creates the row with no fields; it is listed and can
/// be cleared.
pub async fn p6_tag_only_put_creates_a_listed_row_without_fields(kv: &Kv) {
    let meta = kv
        .kv_put("k", "p", None, Some(tag! {"status" => "new"}))
        .await
        .unwrap();
    assert!(meta.fields.is_empty());
    ensure_eq!(
        listed_tag(kv, "p", "k").await,
        Some(tag! {"status" => "new"})
    );
    let batch = kv.kv_batch_get(&keys(&["k"]), "p", None).await.unwrap();
    ensure_eq!(batch.num_rows(), 1);
    ensure_eq!(batch.num_columns(), 0);
    let meta = kv
        .kv_batch_put(
            &keys(&["k", "j"]),
            "p",
            None,
            Some(vec![tag! {"n" => 1}, tag! {"n" => 2}]),
        )
        .await
        .unwrap();
    ensure_eq!(
        meta.tags,
        vec![tag! {"status" => "new", "n" => 1}, tag! {"n" => 2}]
    );
    ensure_eq!(kv.kv_clear(&keys(&["k", "j"]), "p", None).await.unwrap(), 2);
    assert!(list_all(kv).await.is_empty());
}

/// P7: a put returns the keys in call order, each key's full tag after the
/// merge, the partition, and the fields every key now holds (cumulative).
pub async fn p7_meta_has_keys_full_tags_and_cumulative_fields(kv: &Kv) {
    let m = kv
        .kv_put("k", "p", Some(Row::new().with("a", f32s(&[1.0]))), None)
        .await
        .unwrap();
    ensure_eq!(m.fields, ["a"]);
    let m = kv
        .kv_put("k", "p", Some(Row::new().with("b", f32s(&[1.0]))), None)
        .await
        .unwrap();
    ensure_eq!(m.fields, ["a", "b"]);
    let m = kv
        .kv_put(
            "k",
            "p",
            Some(Row::new().with("c", f32s(&[1.0]))),
            Some(tag! {"t" => 1}),
        )
        .await
        .unwrap();
    ensure_eq!(m.fields, ["a", "b", "c"]);
    ensure_eq!(m.keys, ["k"]);
    ensure_eq!(m.partition_id, "p");

    // Batch: keys in call order (not sorted), fields common to every key.
    let order = keys(&["z", "k", "m"]);
    let batch = Batch::new(3)
        .with_dense("d", Tensor::from_vec(vec![1f32, 2., 3.], [3, 1]).unwrap())
        .unwrap();
    let tags = vec![tag! {"i" => 0}, tag! {"i" => 1}, tag! {"i" => 2}];
    let m = kv
        .kv_batch_put(&order, "p", Some(batch), Some(tags))
        .await
        .unwrap();
    ensure_eq!(m.keys, order);
    ensure_eq!(m.fields, ["d"], "only d is held by z, k and m");
    ensure_eq!(
        m.tags[1],
        tag! {"t" => 1, "i" => 1},
        "full tag after the merge"
    );
    ensure_eq!(m.tags[0], tag! {"i" => 0});
}

/// P8: dense columns split into rows along the leading dimension; jagged
/// columns give each row its own tensor; non-tensor columns give each row
/// its value.
pub async fn p8_dense_and_jagged_columns_split_into_rows(kv: &Kv) {
    let dense = Tensor::from_vec((0..12).map(|x| x as f32).collect(), [3, 2, 2]).unwrap();
    let jagged = vec![i64s(&[1]), i64s(&[2, 3]), i64s(&[4, 5, 6])];
    let batch = Batch::new(3)
        .with_dense("dense", dense)
        .unwrap()
        .with_jagged("jagged", jagged)
        .unwrap()
        .with_non_tensor("text", vec!["a".into(), "b".into(), "c".into()])
        .unwrap()
        .with(
            "packed",
            Column::Tensor(
                TensorColumn::from_rows(&[f32s(&[1.0]), f32s(&[2.0, 3.0]), f32s(&[])]).unwrap(),
            ),
        )
        .unwrap();
    kv.kv_batch_put(&keys(&["r0", "r1", "r2"]), "p", Some(batch), None)
        .await
        .unwrap();
    for (i, key) in ["r0", "r1", "r2"].iter().enumerate() {
        let got = kv.kv_batch_get(&keys(&[key]), "p", None).await.unwrap();
        let dense_row = got.tensor("dense").unwrap().row(0).unwrap();
        ensure_eq!(dense_row.shape(), &[2, 2]);
        let want: Vec<f32> = (i * 4..i * 4 + 4).map(|x| x as f32).collect();
        ensure_eq!(dense_row.to_vec::<f32>().unwrap(), want);
        ensure_eq!(i64_row(&got, "jagged", 0).len(), i + 1);
        ensure_eq!(
            got.non_tensor("text").unwrap()[0].as_str(),
            Some(["a", "b", "c"][i])
        );
    }
    let got = kv
        .kv_batch_get(&keys(&["r2", "r1"]), "p", Some(&["packed"]))
        .await
        .unwrap();
    ensure_eq!(f32_row(&got, "packed", 0), Vec::<f32>::new());
    ensure_eq!(f32_row(&got, "packed", 1), vec![2.0, 3.0]);
}

/// P8: a jagged column with mixed dtypes, or a column whose row count is
/// not N, is `InvalidArgument` naming the field.
pub async fn p8_bad_columns_are_invalid(kv: &Kv) {
    let mixed = vec![f32s(&[1.0]), i64s(&[1])];
    expect_err(
        Batch::new(2).with_jagged("mixed_col", mixed),
        ErrorKind::InvalidArgument,
        &["mixed_col"],
    );
    expect_err(
        Batch::new(3).with_dense("short_col", Tensor::zeros(DType::F32, [2, 4]).unwrap()),
        ErrorKind::InvalidArgument,
        &["short_col"],
    );
    expect_err(
        Batch::new(1).with_dense(
            "scalar_col",
            Tensor::zeros(DType::F32, Vec::<usize>::new()).unwrap(),
        ),
        ErrorKind::InvalidArgument,
        &["scalar_col"],
    );
    assert!(list_all(kv).await.is_empty());
}

/// P9: all cells a put writes to one row become visible together: a reader
/// racing a writer never sees a row whose fields come from different puts.
pub async fn p9_cells_of_a_row_become_visible_together(kv: &Kv) {
    const FIELDS: [&str; 4] = ["f0", "f1", "f2", "f3"];
    let fields = FIELDS;
    let row = |generation: i64| {
        FIELDS
            .iter()
            .map(|f| (*f, i64s(&[generation; 16])))
            .collect::<Row>()
    };
    kv.kv_put("k", "p", Some(row(0)), None).await.unwrap();
    let writer = {
        let kv = kv.clone();
        tokio::spawn(async move {
            for generation in 1..=300 {
                kv.kv_put(
                    "k",
                    "p",
                    Some(row(generation)),
                    Some(tag! {"gen" => generation}),
                )
                .await
                .unwrap();
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut reads = 0;
    loop {
        let batch = kv
            .kv_batch_get(&keys(&["k"]), "p", Some(&fields))
            .await
            .unwrap();
        let gens: Vec<i64> = fields.iter().map(|f| i64_row(&batch, f, 0)[0]).collect();
        assert!(
            gens.iter().all(|g| *g == gens[0]),
            "torn row: generations {gens:?}"
        );
        reads += 1;
        if writer.is_finished() || Instant::now() > deadline {
            break;
        }
        tokio::task::yield_now().await;
    }
    writer.await.expect("writer task");
    assert!(reads > 0);
    let batch = kv.kv_batch_get(&keys(&["k"]), "p", None).await.unwrap();
    ensure_eq!(i64_row(&batch, "f3", 0)[0], 300);
}
