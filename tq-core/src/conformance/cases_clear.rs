//! Clear rules C1-C4.

use super::Kv;
use super::support::*;
use crate::batch::Batch;
use crate::error::ErrorKind;
use crate::row::Row;
use crate::tag;
use crate::tensor::Tensor;

/// C1: clear removes the named rows, every field and the tag, and counts them.
pub async fn c1_clear_removes_fields_and_tag_and_counts(kv: &Kv) {
    let batch = Batch::new(3)
        .with_dense("x", Tensor::from_vec(vec![1f32, 2., 3.], [3, 1]).unwrap())
        .unwrap();
    kv.kv_batch_put(
        &keys(&["a", "b", "c"]),
        "p",
        Some(batch),
        Some(vec![tag! {"s" => 1}; 3]),
    )
    .await
    .unwrap();
    ensure_eq!(kv.kv_clear(&keys(&["a", "c"]), "p", None).await.unwrap(), 2);
    ensure_eq!(listed_keys(kv, "p").await, ["b"]);
    expect_err(
        kv.kv_batch_get(&keys(&["a"]), "p", None).await,
        ErrorKind::NotFound,
        &["\"a\""],
    );
    let batch = kv.kv_batch_get(&keys(&["b"]), "p", None).await.unwrap();
    ensure_eq!(f32_row(&batch, "x", 0), vec![2.0]);
}

/// C2: missing keys and unknown partitions are a no-op; clearing twice is a
/// no-op; a mix removes only the present keys.
pub async fn c2_clearing_missing_keys_is_a_noop(kv: &Kv) {
    kv.kv_put("a", "p", None, Some(tag! {})).await.unwrap();
    kv.kv_put("b", "p", None, Some(tag! {})).await.unwrap();
    ensure_eq!(kv.kv_clear(&keys(&["ghost"]), "p", None).await.unwrap(), 0);
    ensure_eq!(
        kv.kv_clear(&keys(&["a"]), "no-such-partition", None)
            .await
            .unwrap(),
        0
    );
    ensure_eq!(kv.kv_clear(&[], "p", None).await.unwrap(), 0);
    ensure_eq!(listed_keys(kv, "p").await, ["a", "b"]);
    ensure_eq!(
        kv.kv_clear(&keys(&["ghost", "a", "a"]), "p", None)
            .await
            .unwrap(),
        1
    );
    ensure_eq!(kv.kv_clear(&keys(&["a"]), "p", None).await.unwrap(), 0);
    ensure_eq!(listed_keys(kv, "p").await, ["b"]);
}

/// C3: after a clear, a put of the same key starts from an empty row: no
/// old field or tag entry comes back.
pub async fn c3_cleared_key_starts_from_an_empty_row(kv: &Kv) {
    kv.kv_put(
        "k",
        "p",
        Some(
            Row::new()
                .with("old", f32s(&[1.0]))
                .with("both", f32s(&[1.0])),
        ),
        Some(tag! {"old" => true, "both" => 1}),
    )
    .await
    .unwrap();
    kv.kv_clear(&keys(&["k"]), "p", None).await.unwrap();
    let meta = kv
        .kv_put(
            "k",
            "p",
            Some(Row::new().with("both", f32s(&[2.0]))),
            Some(tag! {"both" => 2}),
        )
        .await
        .unwrap();
    ensure_eq!(meta.fields, ["both"]);
    ensure_eq!(meta.tags[0], tag! {"both" => 2});
    let batch = kv.kv_batch_get(&keys(&["k"]), "p", None).await.unwrap();
    ensure_eq!(fields_of(&batch), ["both"]);
    ensure_eq!(listed_tag(kv, "p", "k").await, Some(tag! {"both" => 2}));
}

/// C3: a cleared row's tag does not come back on a re-put, also while its
/// partition still holds other keys.
pub async fn c3_cleared_tag_stays_gone_while_the_partition_holds_keys(kv: &Kv) {
    kv.kv_put("stay", "p", None, Some(tag! {"s" => 1}))
        .await
        .unwrap();
    kv.kv_put(
        "k",
        "p",
        Some(Row::new().with("x", f32s(&[1.0]))),
        Some(tag! {"old" => true}),
    )
    .await
    .unwrap();
    ensure_eq!(kv.kv_clear(&keys(&["k"]), "p", None).await.unwrap(), 1);
    let meta = kv
        .kv_put("k", "p", None, Some(tag! {"new" => 1}))
        .await
        .unwrap();
    ensure_eq!(
        meta.tags[0],
        tag! {"new" => 1},
        "the tag after a clear and a re-put"
    );
    ensure_eq!(
        meta.fields,
        Vec::<String>::new(),
        "fields after a clear and a tag-only re-put"
    );
    kv.kv_clear(&keys(&["k"]), "p", None).await.unwrap();
    kv.kv_put("k", "p", Some(Row::new().with("y", f32s(&[2.0]))), None)
        .await
        .unwrap();
    ensure_eq!(
        listed_tag(kv, "p", "k").await,
        Some(tag! {}),
        "a row put again without a tag"
    );
    ensure_eq!(listed_keys(kv, "p").await, ["stay", "k"]);
    expect_err(
        kv.kv_batch_get(&keys(&["k"]), "p", Some(&["x"])).await,
        ErrorKind::NotFound,
        &["\"x\""],
    );
}

/// C4: writing or clearing in one partition never changes another, even for
/// the same key names.
pub async fn c4_partitions_are_isolated(kv: &Kv) {
    for p in ["p1", "p2"] {
        kv.kv_put(
            "k",
            p,
            Some(Row::new().with("x", f32s(&[if p == "p1" { 1.0 } else { 2.0 }]))),
            Some(tag! {"p" => p}),
        )
        .await
        .unwrap();
        kv.kv_put("only-in", p, None, Some(tag! {})).await.unwrap();
    }
    kv.kv_put(
        "k",
        "p1",
        Some(Row::new().with("y", f32s(&[9.0]))),
        Some(tag! {"extra" => 1}),
    )
    .await
    .unwrap();
    kv.kv_clear(&keys(&["only-in"]), "p1", None).await.unwrap();
    let b = kv.kv_batch_get(&keys(&["k"]), "p2", None).await.unwrap();
    ensure_eq!(fields_of(&b), ["x"]);
    ensure_eq!(f32_row(&b, "x", 0), vec![2.0]);
    ensure_eq!(listed_tag(kv, "p2", "k").await, Some(tag! {"p" => "p2"}));
    ensure_eq!(listed_keys(kv, "p2").await, ["k", "only-in"]);
    kv.kv_clear(&keys(&["k"]), "p2", None).await.unwrap();
    let b = kv.kv_batch_get(&keys(&["k"]), "p1", None).await.unwrap();
    ensure_eq!(fields_of(&b), ["x", "y"]);
    ensure_eq!(f32_row(&b, "x", 0), vec![1.0]);
}
