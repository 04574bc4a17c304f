//! Meta helpers M1: `KvBatchMeta::select_keys`, `reorder`, `chunk` and
//! `concat` keep keys and tags aligned, and the metas they make read the
//! right rows back from the store.

use super::Kv;
use super::support::*;
use crate::batch::Batch;
use crate::error::ErrorKind;
use crate::meta::KvBatchMeta;
use crate::tag;
use crate::tensor::Tensor;

/// Puts `n` rows `k-0 ..` into `p`, row `i` holding `x = [i]` and the tag
/// `{"i": i}`; returns the put's meta.
async fn numbered_rows(kv: &Kv, p: &str, n: usize) -> KvBatchMeta {
    let values: Vec<i64> = (0..n as i64).collect();
    let batch = Batch::new(n)
        .with_dense("x", Tensor::from_vec(values, [n, 1]).unwrap())
        .unwrap();
    let tags = (0..n).map(|i| tag! {"i" => i}).collect();
    kv.kv_batch_put(&numbered("k", n), p, Some(batch), Some(tags))
        .await
        .unwrap()
}

/// Checks that each key of `meta` has its own tag, and that a get by the
/// meta returns each key's own row.
async fn check_aligned(kv: &Kv, meta: &KvBatchMeta, what: &str) {
    ensure_eq!(meta.keys.len(), meta.tags.len(), "{what}: keys and tags");
    let got = kv.kv_batch_get_by_meta(meta, None).await.unwrap();
    for (row, (key, tag)) in meta.keys.iter().zip(&meta.tags).enumerate() {
        let i: i64 = key.trim_start_matches("k-").parse().unwrap();
        ensure_eq!(tag.get("i"), Some(&i.into()), "{what}: tag of {key}");
        ensure_eq!(
            i64_row(&got, "x", row),
            vec![i],
            "{what}: row {row} ({key})"
        );
    }
}

/// M1: select, reorder, chunk and concat keep every key with its own tag,
/// and a get by the result reads each key's own row.
pub async fn m1_meta_helpers_keep_keys_and_tags_aligned(kv: &Kv) {
    let meta = numbered_rows(kv, "p", 7).await;
    let picked = meta.select_keys(&["k-5", "k-0", "k-3"]).unwrap();
    ensure_eq!(picked.keys, ["k-5", "k-0", "k-3"]);
    ensure_eq!(picked.fields, meta.fields, "select keeps fields");
    check_aligned(kv, &picked, "select_keys").await;

    let mut reordered = meta.clone();
    reordered.reorder(&[6, 4, 2, 0, 1, 3, 5]).unwrap();
    ensure_eq!(
        reordered.keys,
        ["k-6", "k-4", "k-2", "k-0", "k-1", "k-3", "k-5"]
    );
    check_aligned(kv, &reordered, "reorder").await;

    let chunks = reordered.chunk(3).unwrap();
    let sizes: Vec<usize> = chunks.iter().map(KvBatchMeta::len).collect();
    ensure_eq!(sizes, [3, 2, 2], "chunk sizes of 7 keys in 3 chunks");
    for chunk in &chunks {
        check_aligned(kv, chunk, "chunk").await;
    }
    let many = meta.chunk(9).unwrap();
    ensure_eq!(
        many.iter().map(KvBatchMeta::len).collect::<Vec<_>>(),
        [1, 1, 1, 1, 1, 1, 1, 0, 0]
    );

    let mut reversed = chunks.clone();
    reversed.reverse();
    let joined = KvBatchMeta::concat(&reversed).unwrap();
    ensure_eq!(
        joined.keys,
        ["k-3", "k-5", "k-0", "k-1", "k-6", "k-4", "k-2"]
    );
    check_aligned(kv, &joined, "concat").await;
    ensure_eq!(
        KvBatchMeta::concat(&chunks).unwrap().keys,
        reordered.keys,
        "concat of the chunks"
    );
    ensure_eq!(
        KvBatchMeta::concat(&[]).unwrap(),
        KvBatchMeta::default(),
        "concat of nothing"
    );
}

/// M1: a key not in the meta or given twice, an index out of range or
/// repeated, a wrong number of indexes, zero chunks, and a concat across
/// partitions or with a key twice are `InvalidArgument`; a failed reorder
/// changes nothing.
pub async fn m1_meta_helpers_reject_bad_input(kv: &Kv) {
    let meta = numbered_rows(kv, "p", 3).await;
    let other = numbered_rows(kv, "q", 2).await;
    expect_err(
        meta.select_keys(&["k-9"]),
        ErrorKind::InvalidArgument,
        &["k-9"],
    );
    expect_err(
        meta.select_keys(&["k-1", "k-1"]),
        ErrorKind::InvalidArgument,
        &["k-1", "twice"],
    );
    let mut m = meta.clone();
    expect_err(
        m.reorder(&[0, 1, 3]),
        ErrorKind::InvalidArgument,
        &["3", "range"],
    );
    expect_err(
        m.reorder(&[0, 1, 1]),
        ErrorKind::InvalidArgument,
        &["twice"],
    );
    expect_err(m.reorder(&[0, 1]), ErrorKind::InvalidArgument, &["3"]);
    ensure_eq!(m, meta, "a refused reorder changed the meta");
    expect_err(meta.chunk(0), ErrorKind::InvalidArgument, &["0"]);
    expect_err(
        KvBatchMeta::concat(&[meta.clone(), other]),
        ErrorKind::InvalidArgument,
        &["\"p\"", "\"q\""],
    );
    expect_err(
        KvBatchMeta::concat(&[meta.clone(), meta.clone()]),
        ErrorKind::InvalidArgument,
        &["k-0"],
    );
    let (mut a, mut b) = (
        meta.select_keys(&["k-0"]).unwrap(),
        meta.select_keys(&["k-1"]).unwrap(),
    );
    a.extra_info.insert("step".into(), 1.into());
    b.extra_info.insert("step".into(), 2.into());
    expect_err(
        KvBatchMeta::concat(&[a, b]),
        ErrorKind::InvalidArgument,
        &["step"],
    );
}
