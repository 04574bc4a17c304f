//! Errors and bad input: E1 (what an error says), E3 and B10 (corrupt
//! stored bytes are contained), E4 (no input breaks the store, the JSON
//! nesting limit included).

use super::fixture::{Corruption, Fixture};
use super::support::*;
use crate::batch::Batch;
use crate::dtype::DType;
use crate::error::{Error, ErrorKind, Result};
use crate::json::MAX_JSON_DEPTH;
use crate::meta::KvBatchMeta;
use crate::row::Row;
use crate::tag::Tag;
use crate::tensor::Tensor;
use crate::value::NonTensor;
use crate::{Value, tag};

/// Checks what E1 asks of an error from `op`: its kind, the operation
/// (the caller's kv_* call outermost), a permanent classification for bad
/// input, the offending name, and a source that `Display` shows.
fn check_error<T: std::fmt::Debug>(result: Result<T>, op: &str, kind: ErrorKind, name: &str) {
    let e: Error = match result {
        Ok(v) => panic!("{op}: expected a {kind} error, got Ok({})", short(&v)),
        Err(e) => e,
    };
    ensure_eq!(e.kind(), kind, "kind of {e}");
    ensure_eq!(e.operation(), op, "outermost operation of {e}");
    assert!(
        !e.is_temporary(),
        "{op}: a {kind} error for bad input must be permanent: {e}"
    );
    assert!(
        e.to_string().contains(name),
        "{op}: the error must name {name:?}: {e}"
    );
    if let Some(source) = std::error::Error::source(&e) {
        assert!(
            e.to_string().contains(&source.to_string()),
            "{op}: Display must show the source {source}: {e}"
        );
    }
}

/// E1: every kv_* call's error names the call, the offending partition, key
/// or field, and says it is permanent.
pub async fn e1_errors_name_the_operation_and_are_classified(kv: &Fixture) {
    kv.kv_put("k", "p", Some(Row::new().with("x", f32s(&[1.0]))), None)
        .await
        .unwrap();
    check_error(
        kv.kv_put("", "p", None, Some(tag! {})).await,
        "kv_put",
        ErrorKind::InvalidArgument,
        "key",
    );
    check_error(
        kv.kv_batch_put(&keys(&["dup", "dup"]), "p", None, Some(vec![tag! {}; 2]))
            .await,
        "kv_batch_put",
        ErrorKind::InvalidArgument,
        "dup",
    );
    check_error(
        kv.kv_batch_get(&keys(&["k", "ghost"]), "p", None).await,
        "kv_batch_get",
        ErrorKind::NotFound,
        "ghost",
    );
    check_error(
        kv.kv_batch_get(&keys(&["k"]), "p", Some(&["nope"])).await,
        "kv_batch_get",
        ErrorKind::NotFound,
        "nope",
    );
    let meta = KvBatchMeta {
        keys: keys(&["k"]),
        tags: vec![Tag::new()],
        partition_id: "p".into(),
        fields: vec!["x".into()],
        extra_info: Default::default(),
    };
    check_error(
        kv.kv_batch_get_by_meta(&meta, Some(&["y"])).await,
        "kv_batch_get_by_meta",
        ErrorKind::InvalidArgument,
        "y",
    );
    check_error(
        kv.kv_list(Some("")).await,
        "kv_list",
        ErrorKind::InvalidArgument,
        "partition",
    );
    check_error(
        kv.kv_clear(&keys(&["k"]), &"p".repeat(300), None).await,
        "kv_clear",
        ErrorKind::InvalidArgument,
        "partition",
    );
    ensure_eq!(listed_keys(kv, "p").await, ["k"]);
}

/// Puts rows `a` and `b` into `p` and `c` into `q`, each with a tensor, a
/// string, a JSON value and a tag.
async fn put_three_rows(kv: &Fixture) {
    let row = || {
        Row::new()
            .with("x", f32s(&[1.0, 2.0]))
            .with("s", "text")
            .with("j", serde_json::json!({"a": [1, 2]}))
    };
    for (key, p) in [("a", "p"), ("b", "p"), ("c", "q")] {
        kv.kv_put(key, p, Some(row()), Some(tag! {"status" => key}))
            .await
            .unwrap();
    }
}

/// Checks that an error, if any, is `Corrupted` and names the bad key.
fn corrupted_or_ok<T: std::fmt::Debug>(result: Result<T>, what: &str) {
    if let Err(e) = result {
        ensure_eq!(e.kind(), ErrorKind::Corrupted, "{what}: {e}");
        assert!(
            e.to_string().contains("\"a\""),
            "{what} must name key \"a\": {e}"
        );
        assert!(!e.is_temporary(), "{what}: corruption is permanent: {e}");
    }
}

/// Clears the bad row, which must work, and checks the store is whole again.
async fn clear_bad_row_and_check(kv: &Fixture) {
    ensure_eq!(
        kv.kv_clear(&keys(&["a"]), "p", None).await.unwrap(),
        1,
        "clearing the corrupted row"
    );
    ensure_eq!(listed_keys(kv, "p").await, ["b"]);
    ensure_eq!(list_all(kv).await.len(), 2, "partitions after the clear");
    kv.kv_put("a", "p", Some(Row::new().with("x", f32s(&[9.0]))), None)
        .await
        .unwrap();
    let batch = kv
        .kv_batch_get(&keys(&["a", "b"]), "p", Some(&["x"]))
        .await
        .unwrap();
    ensure_eq!(
        f32_row(&batch, "x", 0),
        vec![9.0],
        "the row put again after the clear"
    );
    ensure_eq!(
        listed_tag(kv, "p", "a").await,
        Some(Tag::new()),
        "tag of the new row"
    );
}

/// E3, B10: a row whose stored cells no longer decode is `Corrupted` naming
/// its key; other rows and partitions, the listing and a clear of the row
/// all keep working.
pub async fn e3_corrupted_cells_are_contained_to_their_row(kv: &mut Fixture) {
    put_three_rows(kv).await;
    if kv.stores_no_bytes() {
        clear_bad_row_and_check(kv).await;
        return;
    }
    kv.corrupt("p", "a", Corruption::Cells).await.unwrap();
    let err = kv
        .kv_batch_get(&keys(&["b", "a"]), "p", None)
        .await
        .expect_err("a get of a row with corrupted cells must fail");
    ensure_eq!(err.kind(), ErrorKind::Corrupted, "{err}");
    assert!(
        err.to_string().contains("\"a\""),
        "the error must name key \"a\": {err}"
    );
    ensure_eq!(err.operation(), "kv_batch_get", "{err}");
    assert!(
        err.operations().len() >= 2,
        "the error keeps the backend's own operation under kv_batch_get: {err}"
    );
    let b = kv.kv_batch_get(&keys(&["b"]), "p", None).await.unwrap();
    ensure_eq!(
        f32_row(&b, "x", 0),
        vec![1.0, 2.0],
        "the other row of the partition"
    );
    kv.kv_batch_get(&keys(&["c"]), "q", None).await.unwrap();
    ensure_eq!(
        listed_keys(kv, "p").await,
        ["a", "b"],
        "cell corruption must not break the listing"
    );
    ensure_eq!(list_all(kv).await.len(), 2);
    clear_bad_row_and_check(kv).await;
}

/// E3, B10: a row whose stored tag no longer parses breaks nothing outside
/// its partition; inside it any error is `Corrupted` naming the key, and a
/// clear of the row works and heals the partition.
pub async fn e3_corrupted_tag_is_contained_to_its_row(kv: &mut Fixture) {
    put_three_rows(kv).await;
    if kv.stores_no_bytes() {
        clear_bad_row_and_check(kv).await;
        return;
    }
    kv.corrupt("p", "a", Corruption::Tag).await.unwrap();
    ensure_eq!(
        listed_keys(kv, "q").await,
        ["c"],
        "another partition's listing"
    );
    kv.kv_batch_get(&keys(&["c"]), "q", None).await.unwrap();
    kv.kv_batch_get(&keys(&["b"]), "p", None).await.unwrap();
    corrupted_or_ok(kv.kv_list(Some("p")).await, "kv_list of the partition");
    corrupted_or_ok(kv.kv_list(None).await, "kv_list of the store");
    corrupted_or_ok(
        kv.kv_batch_get(&keys(&["a"]), "p", None).await,
        "kv_batch_get",
    );
    clear_bad_row_and_check(kv).await;
}

/// A tag whose entry `e` nests `depth` levels (so the tag is `depth + 1`).
fn deep_tag(depth: usize) -> Tag {
    let mut tag = Tag::new();
    tag.insert("e".into(), nested_json(depth));
    tag
}

/// E4: a tag and a JSON value nested exactly to the limit are stored and
/// read back whole by put, merge, get and list.
pub async fn e4_json_nested_to_the_limit_round_trips(kv: &Fixture) {
    let value = nested_json(MAX_JSON_DEPTH);
    let tag = deep_tag(MAX_JSON_DEPTH - 1);
    kv.kv_put(
        "k",
        "p",
        Some(Row::new().with("j", value.clone())),
        Some(tag.clone()),
    )
    .await
    .unwrap();
    let batch = Batch::new(2)
        .with_non_tensor(
            "j",
            vec![
                NonTensor::Json(value.clone()),
                NonTensor::Json(value.clone()),
            ],
        )
        .unwrap();
    kv.kv_batch_put(
        &keys(&["m", "n"]),
        "p",
        Some(batch),
        Some(vec![tag.clone(), tag.clone()]),
    )
    .await
    .unwrap();
    let meta = kv
        .kv_put("k", "p", None, Some(tag! {"more" => 1}))
        .await
        .unwrap();
    ensure_eq!(
        meta.tags[0].get("e"),
        tag.get("e"),
        "the deep entry after a merge"
    );
    let got = kv
        .kv_batch_get(&keys(&["k", "m", "n"]), "p", None)
        .await
        .unwrap();
    let column = got.non_tensor("j").expect("j is a non-tensor column");
    for value_back in column {
        assert!(
            value_back.as_json() == Some(&value),
            "a JSON value nested to the limit came back changed"
        );
    }
    ensure_eq!(listed_tag(kv, "p", "m").await.as_ref(), Some(&tag));
    ensure_eq!(list_all(kv).await["p"].len(), 3);
}

/// E4: a tag or JSON value nested deeper than the limit is
/// `InvalidArgument` naming the key and the field or tag entry, writes
/// nothing, and no depth (even a hundred thousand levels) overflows a stack.
pub async fn e4_json_nested_past_the_limit_is_invalid(kv: &Fixture) {
    kv.kv_put("keep", "p", None, Some(tag! {"s" => 1}))
        .await
        .unwrap();
    let before = snapshot(kv).await;
    // A tag whose entry nests MAX_JSON_DEPTH levels is one level too deep:
    // the tag object counts too.
    expect_err(
        kv.kv_put("k", "p", None, Some(deep_tag(MAX_JSON_DEPTH)))
            .await,
        ErrorKind::InvalidArgument,
        &["\"k\"", "\"e\"", "deep"],
    );
    for depth in [MAX_JSON_DEPTH + 1, 5_000, 100_000] {
        expect_err(
            kv.kv_put("k", "p", None, Some(deep_tag(depth))).await,
            ErrorKind::InvalidArgument,
            &["\"k\"", "\"e\"", "deep"],
        );
        expect_err(
            kv.kv_put(
                "k",
                "p",
                Some(Row::new().with("j", nested_json(depth + 1))),
                None,
            )
            .await,
            ErrorKind::InvalidArgument,
            &["\"k\"", "\"j\"", "deep"],
        );
        let batch = Batch::new(2)
            .with_non_tensor(
                "j",
                vec![
                    NonTensor::Json(1.into()),
                    NonTensor::Json(nested_json(depth + 1)),
                ],
            )
            .unwrap();
        expect_err(
            kv.kv_batch_put(&keys(&["a", "b"]), "p", Some(batch), None)
                .await,
            ErrorKind::InvalidArgument,
            &["\"b\"", "\"j\""],
        );
        expect_err(
            kv.kv_batch_put(
                &keys(&["a", "b"]),
                "p",
                None,
                Some(vec![Tag::new(), deep_tag(depth)]),
            )
            .await,
            ErrorKind::InvalidArgument,
            &["\"b\"", "\"e\""],
        );
    }
    ensure_eq!(snapshot(kv).await, before, "a rejected put wrote something");
}

/// E4: inputs at the edges of the data model give values or errors, never a
/// panic, and the store keeps working.
pub async fn e4_hostile_inputs_never_break_the_store(kv: &Fixture) {
    for shape in [
        vec![usize::MAX, 2],
        vec![1 << 40, 1 << 40],
        vec![isize::MAX as usize],
    ] {
        expect_err(
            Tensor::zeros(DType::F64, shape),
            ErrorKind::InvalidArgument,
            &["shape"],
        );
    }
    // Past isize::MAX bytes `Vec` would panic ("capacity overflow").
    expect_err(
        Tensor::zeros(DType::U8, [1 << 63]),
        ErrorKind::InvalidArgument,
        &["shape"],
    );
    expect_err(
        Tensor::zeros(DType::F32, [1 << 61]),
        ErrorKind::InvalidArgument,
        &["shape"],
    );
    // A petabyte is more than any allocator here gives: an error, not an abort.
    expect_err(
        Tensor::zeros(DType::U8, [1 << 50]),
        ErrorKind::CapacityExceeded,
        &["allocate"],
    );
    expect_err(
        Tensor::zeros(DType::U8, vec![1; 65]),
        ErrorKind::InvalidArgument,
        &["dimensions"],
    );
    let edge_values: Vec<(&str, Value)> = vec![
        (
            "scalar",
            Tensor::from_vec(vec![7i32], Vec::<usize>::new())
                .unwrap()
                .into(),
        ),
        ("empty", Tensor::zeros(DType::F32, [0, 3]).unwrap().into()),
        ("nan", f32s(&[f32::NAN, f32::INFINITY, -0.0]).into()),
        ("blank", "".into()),
        ("nul", "\0\u{10FFFF}".into()),
        ("nobytes", bytes::Bytes::new().into()),
        ("null", serde_json::Value::Null.into()),
    ];
    let row = edge_values.iter().fold(Row::new(), |row, (field, value)| {
        row.with(*field, value.clone())
    });
    kv.kv_put("edge", "p", Some(row), Some(tag!({"": "", "n": null})))
        .await
        .unwrap();
    let got = kv
        .kv_batch_get(&keys(&["edge", "edge"]), "p", None)
        .await
        .unwrap();
    ensure_eq!(got.num_rows(), 2);
    for (field, value) in &edge_values {
        let back = got.column(field).and_then(|c| c.value(1));
        match (value, &back) {
            (Value::Tensor(t), Some(Value::Tensor(b))) => {
                ensure_eq!(
                    (b.dtype(), b.shape()),
                    (t.dtype(), t.shape()),
                    "field {field}"
                );
                ensure_eq!(b.data(), t.data(), "bytes of field {field}");
            }
            _ => ensure_eq!(back.as_ref(), Some(value), "field {field}"),
        }
    }
    ensure_eq!(
        listed_tag(kv, "p", "edge").await,
        Some(tag!({"": "", "n": null})),
        "a tag with an empty entry name and a null"
    );
    let many = vec!["edge".to_owned(); 10_000];
    ensure_eq!(
        kv.kv_batch_get(&many, "p", Some(&[] as &[&str; 0]))
            .await
            .unwrap()
            .num_rows(),
        10_000
    );
    ensure_eq!(kv.kv_clear(&keys(&["edge"]), "p", None).await.unwrap(), 1);
    assert!(list_all(kv).await.is_empty());
}
