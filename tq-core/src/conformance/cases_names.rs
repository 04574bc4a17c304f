//! Names (contract section 1), scale, and E2.

use bytes::Bytes;

use super::Kv;
use super::support::*;
use crate::batch::Batch;
use crate::column::TensorColumn;
use crate::dtype::DType;
use crate::error::ErrorKind;
use crate::row::Row;
use crate::tag;
use crate::tensor::Tensor;

const SPECIAL_KEYS: [&str; 16] = [
    "a", "a_b", "a:b", "a/b", "{a}b", "a\0b", "a b", "🚀", "a\0", "\0", ":", "{}", "\\", "a\nb",
    "a ", " a",
];

/// SPEC 1: keys may contain any character; each is its own row.
pub async fn n1_special_character_keys_are_distinct_rows(kv: &Kv) {
    let ks = keys(&SPECIAL_KEYS);
    let n = ks.len();
    let batch = Batch::new(n)
        .with_dense(
            "i",
            Tensor::from_vec((0..n as i64).collect(), [n, 1]).unwrap(),
        )
        .unwrap();
    let tags = ks.iter().map(|k| tag! {"key" => k}).collect();
    kv.kv_batch_put(&ks, "p:{x}/ 🚀", Some(batch), Some(tags))
        .await
        .unwrap();
    let listing = kv.kv_list(Some("p:{x}/ 🚀")).await.unwrap();
    ensure_eq!(listing["p:{x}/ 🚀"].keys().cloned().collect::<Vec<_>>(), ks);
    for (k, tag) in &listing["p:{x}/ 🚀"] {
        ensure_eq!(tag["key"], serde_json::json!(k));
    }
    let mut reversed = ks.clone();
    reversed.reverse();
    let got = kv.kv_batch_get(&reversed, "p:{x}/ 🚀", None).await.unwrap();
    for (i, _) in reversed.iter().enumerate() {
        ensure_eq!(i64_row(&got, "i", i), vec![(n - 1 - i) as i64]);
    }
    ensure_eq!(
        kv.kv_clear(&keys(&["a\0", "a"]), "p:{x}/ 🚀", None)
            .await
            .unwrap(),
        2
    );
    ensure_eq!(listed_keys(kv, "p:{x}/ 🚀").await.len(), n - 2);
    assert!(
        kv.kv_batch_get(&keys(&["a\0b"]), "p:{x}/ 🚀", None)
            .await
            .is_ok()
    );
}

/// SPEC 1: (partition, key, field) triples that collide under naive
/// concatenation with any separator stay distinct.
pub async fn n1_partition_and_key_encoding_is_injective(kv: &Kv) {
    let pairs = [
        ("a", "b:c"),
        ("a:b", "c"),
        ("a", "b/c"),
        ("a/b", "c"),
        ("a\0", "b"),
        ("a", "\0b"),
        ("a{", "}b"),
        ("a{}", "b"),
        ("a", "b_c"),
        ("a_b", "c"),
        ("a", "1:b"),
        ("a:1", "b"),
    ];
    for (i, (p, k)) in pairs.iter().enumerate() {
        let row = Row::new()
            .with("f", i64s(&[i as i64]))
            .with("f:g", i64s(&[100 + i as i64]))
            .with("f\0", i64s(&[200 + i as i64]));
        kv.kv_put(k, p, Some(row), Some(tag! {"i" => i}))
            .await
            .unwrap();
    }
    for (i, (p, k)) in pairs.iter().enumerate() {
        let got = kv.kv_batch_get(&keys(&[k]), p, None).await.unwrap();
        ensure_eq!(fields_of(&got), ["f", "f\0", "f:g"], "({p:?}, {k:?})");
        ensure_eq!(i64_row(&got, "f", 0), vec![i as i64], "({p:?}, {k:?})");
        ensure_eq!(i64_row(&got, "f:g", 0), vec![100 + i as i64]);
        ensure_eq!(i64_row(&got, "f\0", 0), vec![200 + i as i64]);
        ensure_eq!(
            listed_keys(kv, p).await.iter().filter(|x| x == k).count(),
            1
        );
        ensure_eq!(listed_tag(kv, p, k).await, Some(tag! {"i" => i}));
    }
    let listing = list_all(kv).await;
    let total: usize = listing.values().map(|rows| rows.len()).sum();
    ensure_eq!(total, pairs.len());
}

/// Names are compared byte for byte: case and Unicode normalisation make
/// different names (contract section 1).
pub async fn n3_names_are_case_and_normalization_sensitive(kv: &Kv) {
    // "é" precomposed (U+00E9) and decomposed (e + U+0301).
    let (composed, decomposed) = ("caf\u{e9}", "cafe\u{301}");
    for (i, key) in ["key", "Key", "KEY", composed, decomposed]
        .iter()
        .enumerate()
    {
        kv.kv_put(
            key,
            "p",
            Some(Row::new().with("i", i64s(&[i as i64]))),
            None,
        )
        .await
        .unwrap();
    }
    ensure_eq!(
        listed_keys(kv, "p").await,
        ["key", "Key", "KEY", composed, decomposed]
    );
    let got = kv
        .kv_batch_get(&keys(&[decomposed, "Key"]), "p", None)
        .await
        .unwrap();
    ensure_eq!(
        (i64_row(&got, "i", 0), i64_row(&got, "i", 1)),
        (vec![4], vec![1])
    );
    for p in ["P", composed, decomposed] {
        kv.kv_put("key", p, None, Some(tag! {"p" => p}))
            .await
            .unwrap();
    }
    ensure_eq!(
        list_all(kv).await.len(),
        4,
        "partitions p, P and two spellings of café"
    );
    let row = Row::new().with("f", f32s(&[1.0])).with("F", f32s(&[2.0]));
    kv.kv_put(
        "fields",
        "p",
        Some(
            row.with(composed, f32s(&[3.0]))
                .with(decomposed, f32s(&[4.0])),
        ),
        None,
    )
    .await
    .unwrap();
    let got = kv
        .kv_batch_get(
            &keys(&["fields"]),
            "p",
            Some(&["F", decomposed, "f", composed]),
        )
        .await
        .unwrap();
    let values: Vec<Vec<f32>> = ["F", decomposed, "f", composed]
        .iter()
        .map(|f| f32_row(&got, f, 0))
        .collect();
    ensure_eq!(values, [vec![2.0], vec![4.0], vec![1.0], vec![3.0]]);
}

/// SPEC 1: partition and field names over 256 bytes and keys over 4096
/// bytes are `InvalidArgument` in every operation; names at the limits work.
pub async fn n2_names_over_the_limits_are_invalid(kv: &Kv) {
    let (p256, p257) = ("p".repeat(256), "p".repeat(257));
    let (k4096, k4097) = ("k".repeat(4096), "k".repeat(4097));
    let (f256, f257) = ("f".repeat(256), "f".repeat(257));
    let row = |f: &str| Some(Row::new().with(f, f32s(&[1.0])));
    kv.kv_put(&k4096, &p256, row(&f256), None).await.unwrap();
    let got = kv
        .kv_batch_get(std::slice::from_ref(&k4096), &p256, None)
        .await
        .unwrap();
    ensure_eq!(fields_of(&got), std::slice::from_ref(&f256));
    let invalid = ErrorKind::InvalidArgument;
    expect_err(
        kv.kv_put("k", &p257, row("f"), None).await,
        invalid,
        &["partition", "257"],
    );
    expect_err(
        kv.kv_put(&k4097, "p", row("f"), None).await,
        invalid,
        &["key", "4097"],
    );
    expect_err(
        kv.kv_put("k", "p", row(&f257), None).await,
        invalid,
        &["field", "257"],
    );
    expect_err(
        kv.kv_put("", "p", row("f"), None).await,
        invalid,
        &["key", "empty"],
    );
    expect_err(
        kv.kv_put("k", "", row("f"), None).await,
        invalid,
        &["partition", "empty"],
    );
    expect_err(
        kv.kv_batch_get(&keys(&["k"]), &p257, None).await,
        invalid,
        &["partition"],
    );
    expect_err(
        kv.kv_batch_get(std::slice::from_ref(&k4097), "p", None)
            .await,
        invalid,
        &["key"],
    );
    expect_err(
        kv.kv_batch_get(std::slice::from_ref(&k4096), &p256, Some(&[&f257]))
            .await,
        invalid,
        &["field"],
    );
    expect_err(kv.kv_list(Some(&p257)).await, invalid, &["partition"]);
    expect_err(
        kv.kv_clear(std::slice::from_ref(&k4097), "p", None).await,
        invalid,
        &["key"],
    );
    expect_err(
        kv.kv_clear(&keys(&["k"]), &p257, None).await,
        invalid,
        &["partition"],
    );
    let listing = list_all(kv).await;
    ensure_eq!(listing.len(), 1);
    ensure_eq!(listing[&p256].len(), 1);
}

/// Scale: a row with a 64 MiB tensor round-trips.
pub async fn s1_a_64_mib_tensor_round_trips(kv: &Kv) {
    let n = 64 << 20;
    let data: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
    let tensor = Tensor::from_vec(data, [n]).unwrap();
    kv.kv_put(
        "big",
        "p",
        Some(Row::new().with("blob", tensor.clone())),
        None,
    )
    .await
    .unwrap();
    let got = kv.kv_batch_get(&keys(&["big"]), "p", None).await.unwrap();
    let row = got.tensor("blob").unwrap().row(0).unwrap();
    ensure_eq!(row.shape(), &[n]);
    assert!(row.data() == tensor.data(), "64 MiB payload changed");
}

/// Scale: 10,000 rows in one partition, in one batch put, listed in order,
/// read back in one get, cleared in one clear.
pub async fn s2_ten_thousand_rows_in_one_partition(kv: &Kv) {
    const N: usize = 10_000;
    let ks = numbered("row", N);
    let data: Vec<f32> = (0..N * 8).map(|x| x as f32).collect();
    let batch = Batch::new(N)
        .with_dense("obs", Tensor::from_vec(data.clone(), [N, 8]).unwrap())
        .unwrap()
        .with_non_tensor("uid", ks.iter().map(|k| k.as_str().into()).collect())
        .unwrap();
    let tags = (0..N).map(|i| tag! {"i" => i}).collect();
    let meta = kv
        .kv_batch_put(&ks, "big", Some(batch), Some(tags))
        .await
        .unwrap();
    ensure_eq!(meta.keys.len(), N);
    ensure_eq!(listed_keys(kv, "big").await, ks);
    let got = kv.kv_batch_get_by_meta(&meta, None).await.unwrap();
    ensure_eq!(got.num_rows(), N);
    let dense = got.tensor("obs").unwrap().as_dense().unwrap();
    ensure_eq!(dense.to_vec::<f32>().unwrap(), data);
    ensure_eq!(
        got.non_tensor("uid").unwrap()[N - 1].as_str(),
        Some("row-9999")
    );
    ensure_eq!(kv.kv_clear(&ks, "big", None).await.unwrap(), N);
    assert!(list_all(kv).await.is_empty());
}

/// Scale: 100 partitions, listed together and cleared independently.
pub async fn s3_a_hundred_partitions(kv: &Kv) {
    let partitions: Vec<String> = (0..100).map(|i| format!("part-{i:03}")).collect();
    for (i, p) in partitions.iter().enumerate() {
        let batch = Batch::new(3)
            .with_dense("x", Tensor::from_vec(vec![i as f32; 3], [3, 1]).unwrap())
            .unwrap();
        kv.kv_batch_put(&keys(&["a", "b", "c"]), p, Some(batch), None)
            .await
            .unwrap();
    }
    let listing = list_all(kv).await;
    ensure_eq!(listing.keys().cloned().collect::<Vec<_>>(), partitions);
    for p in partitions.iter().step_by(2) {
        ensure_eq!(
            kv.kv_clear(&keys(&["a", "b", "c"]), p, None).await.unwrap(),
            3
        );
    }
    let listing = list_all(kv).await;
    ensure_eq!(listing.len(), 50);
    for (i, p) in partitions.iter().enumerate().skip(1).step_by(2) {
        let got = kv.kv_batch_get(&keys(&["b"]), p, None).await.unwrap();
        ensure_eq!(f32_row(&got, "x", 0), vec![i as f32]);
    }
}

/// E2: a tensor whose byte length differs from shape x dtype size cannot be
/// constructed, nor can a column whose shapes disagree with its bytes.
pub async fn e2_bad_tensor_cannot_be_constructed(kv: &Kv) {
    expect_err(
        Tensor::new(DType::F32, [2, 2], vec![0u8; 15]),
        ErrorKind::InvalidArgument,
        &["16 bytes", "15"],
    );
    expect_err(
        Tensor::new(DType::BF16, [3], vec![0u8; 7]),
        ErrorKind::InvalidArgument,
        &["6 bytes"],
    );
    expect_err(
        TensorColumn::from_parts(
            DType::I64,
            Bytes::from(vec![0u8; 8]),
            vec![vec![1], vec![1]],
        ),
        ErrorKind::InvalidArgument,
        &["16 bytes"],
    );
    assert!(list_all(kv).await.is_empty());
}
