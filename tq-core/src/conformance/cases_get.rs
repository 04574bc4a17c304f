//! Get rules G1-G7.

use bytes::Bytes;

use super::Kv;
use super::support::*;
use crate::batch::Batch;
use crate::dtype::ALL_DTYPES;
use crate::error::ErrorKind;
use crate::row::Row;
use crate::tag;
use crate::tensor::Tensor;
use crate::value::NonTensor;

/// Puts rows `a`, `b`, `c` with x = [i], and `b` also with y.
async fn abc(kv: &Kv) {
    let batch = Batch::new(3)
        .with_dense("x", Tensor::from_vec(vec![0f32, 1., 2.], [3, 1]).unwrap())
        .unwrap();
    kv.kv_batch_put(&keys(&["a", "b", "c"]), "p", Some(batch), None)
        .await
        .unwrap();
    kv.kv_put("b", "p", Some(Row::new().with("y", f32s(&[10.0]))), None)
        .await
        .unwrap();
}

/// G1: rows come back in the order requested; a key requested twice comes
/// back twice.
pub async fn g1_rows_come_back_in_requested_order_with_repeats(kv: &Kv) {
    abc(kv).await;
    let batch = kv
        .kv_batch_get(&keys(&["c", "a", "c", "b"]), "p", Some(&["x"]))
        .await
        .unwrap();
    ensure_eq!(batch.num_rows(), 4);
    let got: Vec<f32> = (0..4).map(|i| f32_row(&batch, "x", i)[0]).collect();
    ensure_eq!(got, vec![2.0, 0.0, 2.0, 1.0]);
}

/// G1 for a large get (9 MiB, over the size at which columns are built on
/// other threads, and over the size at which backends may store a cell
/// apart): rows in the requested order, a repeated key twice, every value
/// intact, the non-tensor field too.
pub async fn g1_a_large_get_keeps_order_repeats_and_values(kv: &Kv) {
    const ROWS: usize = 48;
    const LEN: usize = 16 * 1024;
    let names = numbered("big", ROWS);
    let value =
        |field: usize, row: usize, i: usize| (field * 1_000_000 + row * 1_000 + i % 1_000) as f32;
    let mut batch = Batch::new(ROWS);
    for field in 0..3 {
        let data: Vec<f32> = (0..ROWS * LEN)
            .map(|j| value(field, j / LEN, j % LEN))
            .collect();
        batch = batch
            .with_dense(
                format!("t{field}"),
                Tensor::from_vec(data, [ROWS, LEN]).unwrap(),
            )
            .unwrap();
    }
    let labels = (0..ROWS)
        .map(|r| NonTensor::Str(format!("row {r}")))
        .collect();
    batch = batch.with_non_tensor("label", labels).unwrap();
    kv.kv_batch_put(&names, "p", Some(batch), None)
        .await
        .unwrap();

    let order = [47, 0, 47, 13, 1];
    let asked: Vec<String> = order.iter().map(|&r| names[r].clone()).collect();
    let got = kv.kv_batch_get(&asked, "p", None).await.unwrap();
    ensure_eq!(got.num_rows(), order.len());
    for field in 0..3 {
        for (i, &r) in order.iter().enumerate() {
            let want: Vec<f32> = (0..LEN).map(|j| value(field, r, j)).collect();
            ensure_eq!(f32_row(&got, &format!("t{field}"), i), want);
        }
    }
    let labels = got.non_tensor("label").expect("a non-tensor column");
    let want: Vec<NonTensor> = order
        .iter()
        .map(|r| NonTensor::Str(format!("row {r}")))
        .collect();
    ensure_eq!(labels.to_vec(), want);
}

/// G2: any missing key is `NotFound` naming the missing keys; no partial batch.
pub async fn g2_missing_key_is_not_found(kv: &Kv) {
    abc(kv).await;
    let before = snapshot(kv).await;
    expect_err(
        kv.kv_batch_get(&keys(&["a", "ghost-1", "b", "ghost-2"]), "p", None)
            .await,
        ErrorKind::NotFound,
        &["ghost-1", "ghost-2", "p"],
    );
    ensure_eq!(snapshot(kv).await, before);
}

/// G2: many missing keys are named up to ten, then counted; long names
/// are cut short (on a character boundary) in the message.
pub async fn g2_many_missing_keys_are_named_briefly(kv: &Kv) {
    kv.kv_put("here", "p", None, Some(tag! {})).await.unwrap();
    let ten = numbered("ghost", 10);
    let err = kv.kv_batch_get(&ten, "p", None).await.unwrap_err();
    assert!(
        err.to_string().contains("ghost-9") && !err.to_string().contains("more"),
        "ten missing keys are all named: {err}"
    );
    let twelve = numbered("ghost", 12);
    let err = kv.kv_batch_get(&twelve, "p", None).await.unwrap_err();
    assert!(
        err.to_string().contains("and 2 more"),
        "twelve missing keys: {err}"
    );
    // A 4000-byte key of three-byte characters: named, but cut short.
    let long = "\u{20ac}".repeat(1333);
    let err = kv
        .kv_batch_get(std::slice::from_ref(&long), "p", None)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("\u{20ac}\u{20ac}\u{20ac}"),
        "the key is named: {}",
        short(&text)
    );
    assert!(
        text.len() < 1000,
        "a long key is cut short in the message, got {} bytes",
        text.len()
    );
    let err = kv
        .kv_put(&"\u{20ac}".repeat(1366), "p", None, Some(tag! {}))
        .await
        .unwrap_err();
    assert!(
        err.to_string().len() < 1000,
        "an over-long key is cut short: {} bytes",
        err.to_string().len()
    );
}

/// G2: an unknown partition is `NotFound`.
pub async fn g2_unknown_partition_is_not_found(kv: &Kv) {
    abc(kv).await;
    expect_err(
        kv.kv_batch_get(&keys(&["a"]), "no-such-partition", None)
            .await,
        ErrorKind::NotFound,
        &["no-such-partition"],
    );
}

/// G2: an empty key list is `InvalidArgument`.
pub async fn g2_empty_key_list_is_invalid(kv: &Kv) {
    abc(kv).await;
    expect_err(
        kv.kv_batch_get(&[], "p", None).await,
        ErrorKind::InvalidArgument,
        &["empty", "p"],
    );
}

/// G3: without a selection, exactly the fields every requested key holds.
pub async fn g3_no_selection_returns_common_fields(kv: &Kv) {
    abc(kv).await;
    let batch = kv
        .kv_batch_get(&keys(&["a", "b"]), "p", None)
        .await
        .unwrap();
    ensure_eq!(fields_of(&batch), ["x"]);
    let batch = kv.kv_batch_get(&keys(&["b"]), "p", None).await.unwrap();
    ensure_eq!(fields_of(&batch), ["x", "y"]);
}

/// G3: the common fields do not depend on the order the keys are asked in.
pub async fn g3_common_fields_do_not_depend_on_key_order(kv: &Kv) {
    abc(kv).await;
    for order in [["a", "b"], ["b", "a"]] {
        let batch = kv.kv_batch_get(&keys(&order), "p", None).await.unwrap();
        ensure_eq!(
            fields_of(&batch),
            ["x"],
            "fields for keys in the order {order:?}"
        );
    }
    kv.kv_put(
        "d",
        "p",
        Some(Row::new().with("y", f32s(&[1.0])).with("z", f32s(&[1.0]))),
        None,
    )
    .await
    .unwrap();
    for order in [["b", "d"], ["d", "b"]] {
        let batch = kv.kv_batch_get(&keys(&order), "p", None).await.unwrap();
        ensure_eq!(
            fields_of(&batch),
            ["y"],
            "fields for keys in the order {order:?}"
        );
    }
}

/// G3: no common field gives a batch of N rows and no columns.
pub async fn g3_no_common_field_gives_rows_without_columns(kv: &Kv) {
    kv.kv_put("a", "p", Some(Row::new().with("x", f32s(&[1.0]))), None)
        .await
        .unwrap();
    kv.kv_put("b", "p", Some(Row::new().with("y", f32s(&[1.0]))), None)
        .await
        .unwrap();
    let batch = kv
        .kv_batch_get(&keys(&["a", "b"]), "p", None)
        .await
        .unwrap();
    ensure_eq!(batch.num_rows(), 2);
    ensure_eq!(batch.num_columns(), 0);
}

/// G4: a selection returns exactly those fields, in that order.
pub async fn g4_selected_fields_come_back_in_order(kv: &Kv) {
    kv.kv_put(
        "a",
        "p",
        Some(
            Row::new()
                .with("x", f32s(&[1.0]))
                .with("y", f32s(&[2.0]))
                .with("z", f32s(&[3.0])),
        ),
        None,
    )
    .await
    .unwrap();
    let batch = kv
        .kv_batch_get(&keys(&["a"]), "p", Some(&["z", "x"]))
        .await
        .unwrap();
    ensure_eq!(fields_of(&batch), ["z", "x"]);
    ensure_eq!(f32_row(&batch, "z", 0), vec![3.0]);
}

/// G4: a duplicate in the selection is `InvalidArgument` naming the field.
pub async fn g4_duplicate_selected_field_is_invalid(kv: &Kv) {
    abc(kv).await;
    expect_err(
        kv.kv_batch_get(&keys(&["a"]), "p", Some(&["x", "x"])).await,
        ErrorKind::InvalidArgument,
        &["\"x\"", "more than once"],
    );
}

/// G4: a selected field missing from any requested key is `NotFound` naming
/// the key and the field.
pub async fn g4_selected_field_missing_from_a_key_is_not_found(kv: &Kv) {
    abc(kv).await;
    expect_err(
        kv.kv_batch_get(&keys(&["b", "c"]), "p", Some(&["x", "y"]))
            .await,
        ErrorKind::NotFound,
        &["\"c\"", "\"y\""],
    );
}

/// G5: rows of one dtype and shape come back as one buffer with a zero-copy
/// dense view.
pub async fn g5_uniform_rows_give_a_dense_view(kv: &Kv) {
    let data: Vec<f32> = (0..24).map(|x| x as f32).collect();
    let batch = Batch::new(4)
        .with_dense("x", Tensor::from_vec(data.clone(), [4, 2, 3]).unwrap())
        .unwrap();
    kv.kv_batch_put(&keys(&["a", "b", "c", "d"]), "p", Some(batch), None)
        .await
        .unwrap();
    let got = kv
        .kv_batch_get(&keys(&["a", "b", "c", "d"]), "p", None)
        .await
        .unwrap();
    let column = got.tensor("x").unwrap();
    ensure_eq!(column.uniform_shape(), Some(&[2usize, 3][..]));
    let dense = column.as_dense().expect("uniform rows have a dense view");
    ensure_eq!(dense.shape(), &[4, 2, 3]);
    ensure_eq!(
        dense.data().as_ptr(),
        column.data().as_ptr(),
        "dense view copied"
    );
    ensure_eq!(dense.to_vec::<f32>().unwrap(), data);
}

/// G5: rows of different shapes come back as the same column type, with
/// per-row shapes and offsets, per-row views and padding.
pub async fn g5_jagged_rows_keep_their_shapes(kv: &Kv) {
    let rows = vec![i64s(&[1, 2, 3]), i64s(&[4]), i64s(&[5, 6])];
    let batch = Batch::new(3).with_jagged("ids", rows).unwrap();
    kv.kv_batch_put(&keys(&["a", "b", "c"]), "p", Some(batch), None)
        .await
        .unwrap();
    let got = kv
        .kv_batch_get(&keys(&["a", "b", "c"]), "p", None)
        .await
        .unwrap();
    let column = got.tensor("ids").unwrap();
    assert!(column.as_dense().is_none());
    ensure_eq!(column.shapes(), &[vec![3], vec![1], vec![2]]);
    ensure_eq!(column.offsets(), &[0, 24, 32, 48]);
    ensure_eq!(column.row(2).unwrap().to_vec::<i64>().unwrap(), vec![5, 6]);
    let padded = column.to_padded(0i64).unwrap();
    ensure_eq!(
        padded.to_vec::<i64>().unwrap(),
        vec![1, 2, 3, 4, 0, 0, 5, 6, 0]
    );
}

/// G5: padding works for rows of any rank: 2-D rows pad to the largest
/// extent of each dimension, scalar rows stack to `[N]`; a column reports
/// its length and each row's value.
pub async fn g5_rows_of_any_rank_pad_and_read_back(kv: &Kv) {
    let rows = vec![
        Tensor::from_vec(vec![1i64, 2, 3, 4, 5, 6], [2, 3]).unwrap(),
        Tensor::from_vec(vec![7i64, 8], [1, 2]).unwrap(),
        Tensor::from_vec(vec![9i64, 10, 11], [3, 1]).unwrap(),
    ];
    let scalars = (0..3)
        .map(|i| Tensor::from_vec(vec![i as f32], Vec::<usize>::new()).unwrap())
        .collect();
    let batch = Batch::new(3)
        .with_jagged("m", rows.clone())
        .unwrap()
        .with_jagged("s", scalars)
        .unwrap();
    kv.kv_batch_put(&keys(&["a", "b", "c"]), "p", Some(batch), None)
        .await
        .unwrap();
    let got = kv
        .kv_batch_get(&keys(&["a", "b", "c"]), "p", None)
        .await
        .unwrap();
    let m = got.tensor("m").unwrap();
    ensure_eq!((m.len(), m.is_empty()), (3, false), "length of the column");
    let padded = m.to_padded(-1i64).unwrap();
    ensure_eq!(padded.shape(), &[3, 3, 3]);
    #[rustfmt::skip]
    let want = vec![
        1, 2, 3,   4, 5, 6,   -1, -1, -1,
        7, 8, -1,  -1, -1, -1, -1, -1, -1,
        9, -1, -1, 10, -1, -1, 11, -1, -1,
    ];
    ensure_eq!(
        padded.to_vec::<i64>().unwrap(),
        want,
        "rows [2,3], [1,2], [3,1] padded with -1"
    );
    let column = got.column("m").unwrap();
    ensure_eq!((column.len(), column.is_empty()), (3, false));
    for (i, row) in rows.iter().enumerate() {
        ensure_eq!(
            column.value(i),
            Some(crate::value::Value::Tensor(row.clone())),
            "value of row {i}"
        );
    }
    ensure_eq!(column.value(3), None, "a row past the end");
    let s = got.tensor("s").unwrap();
    let stacked = s.to_padded(0f32).unwrap();
    ensure_eq!(stacked.shape(), &[3]);
    ensure_eq!(
        stacked.to_vec::<f32>().unwrap(),
        vec![0.0, 1.0, 2.0],
        "scalar rows stacked"
    );
    ensure_eq!(
        s.as_dense().map(|d| d.shape().to_vec()),
        Some(vec![3]),
        "scalars have a dense view"
    );
}

/// G5: jagged rows whose shapes differ but hold as many elements keep
/// their own shapes (no dense view).
pub async fn g5_jagged_rows_of_equal_size_keep_their_shapes(kv: &Kv) {
    let rows = vec![
        Tensor::from_vec(vec![1i64, 2, 3, 4, 5, 6], [2, 3]).unwrap(),
        Tensor::from_vec(vec![7i64, 8, 9, 10, 11, 12], [3, 2]).unwrap(),
    ];
    let batch = Batch::new(2).with_jagged("m", rows).unwrap();
    kv.kv_batch_put(&keys(&["a", "b"]), "p", Some(batch), None)
        .await
        .unwrap();
    let got = kv
        .kv_batch_get(&keys(&["b", "a"]), "p", None)
        .await
        .unwrap();
    let column = got.tensor("m").unwrap();
    assert!(
        column.as_dense().is_none(),
        "rows of shapes [3, 2] and [2, 3] have no dense view"
    );
    ensure_eq!(column.shapes(), &[vec![3, 2], vec![2, 3]]);
    ensure_eq!(
        column.row(0).unwrap().to_vec::<i64>().unwrap(),
        vec![7, 8, 9, 10, 11, 12]
    );
}

/// G5: dtypes of the same size (f32 and i32) in one field are still
/// `InvalidData` naming the field.
pub async fn g5_mixed_dtypes_of_one_size_are_invalid_data(kv: &Kv) {
    kv.kv_put("a", "p", Some(Row::new().with("m", f32s(&[1.0]))), None)
        .await
        .unwrap();
    let ints = Tensor::from_vec(vec![1i32], [1]).unwrap();
    kv.kv_put("b", "p", Some(Row::new().with("m", ints)), None)
        .await
        .unwrap();
    expect_err(
        kv.kv_batch_get(&keys(&["a", "b"]), "p", None).await,
        ErrorKind::InvalidData,
        &["\"m\"", "float32", "int32"],
    );
}

/// G5: rows of one field with different dtypes are `InvalidData` naming the field.
pub async fn g5_mixed_dtypes_in_a_field_are_invalid_data(kv: &Kv) {
    kv.kv_put("a", "p", Some(Row::new().with("mixed", f32s(&[1.0]))), None)
        .await
        .unwrap();
    kv.kv_put("b", "p", Some(Row::new().with("mixed", i64s(&[1]))), None)
        .await
        .unwrap();
    expect_err(
        kv.kv_batch_get(&keys(&["a", "b"]), "p", None).await,
        ErrorKind::InvalidData,
        &["mixed", "float32", "int64"],
    );
    // Each row alone is fine.
    assert!(kv.kv_batch_get(&keys(&["b"]), "p", None).await.is_ok());
}

/// G5/G6: a field holding a tensor in one row and a non-tensor value in
/// another cannot form one column: `InvalidData` naming the field.
pub async fn g5_tensor_and_non_tensor_in_a_field_are_invalid_data(kv: &Kv) {
    kv.kv_put("a", "p", Some(Row::new().with("odd", f32s(&[1.0]))), None)
        .await
        .unwrap();
    kv.kv_put("b", "p", Some(Row::new().with("odd", "text")), None)
        .await
        .unwrap();
    expect_err(
        kv.kv_batch_get(&keys(&["a", "b"]), "p", None).await,
        ErrorKind::InvalidData,
        &["odd"],
    );
}

/// G5: every dtype round-trips bit for bit, including scalars and empty tensors.
pub async fn g5_every_dtype_round_trips(kv: &Kv) {
    let mut row = Row::new();
    for (i, dtype) in ALL_DTYPES.iter().enumerate() {
        let n = 2 * 3 * dtype.size();
        let data: Vec<u8> = (0..n)
            .map(|b| (b * 7 + i) as u8 & if dtype.size() == 1 { 1 } else { 0xff })
            .collect();
        row.insert(
            format!("t_{dtype}"),
            Tensor::new(*dtype, [2, 3], data).unwrap(),
        );
    }
    row.insert(
        "scalar",
        Tensor::from_vec(vec![42u32], Vec::<usize>::new()).unwrap(),
    );
    row.insert("empty", Tensor::zeros(crate::DType::F64, [0, 5]).unwrap());
    let want = row.clone();
    kv.kv_put("k", "p", Some(row), None).await.unwrap();
    let got = kv.kv_batch_get(&keys(&["k"]), "p", None).await.unwrap();
    ensure_eq!(got.num_columns(), want.len());
    for (field, value) in want.iter() {
        let want = value.as_tensor().unwrap();
        let got = got.tensor(field).unwrap().row(0).unwrap();
        ensure_eq!(&got, want, "field {field}");
    }
}

/// G6: non-tensor columns come back as N non-tensor values: strings, raw
/// bytes and JSON, unchanged.
pub async fn g6_non_tensor_values_round_trip(kv: &Kv) {
    let values = vec![
        NonTensor::Str("héllo wörld 🚀".into()),
        NonTensor::Bytes(Bytes::from_static(b"\x00\xff raw \x00")),
        NonTensor::Json(
            serde_json::json!({"messages": [{"role": "user", "content": "hi"}], "score": 0.25, "n": null}),
        ),
        NonTensor::Str(String::new()),
    ];
    let batch = Batch::new(4).with_non_tensor("v", values.clone()).unwrap();
    kv.kv_batch_put(&keys(&["a", "b", "c", "d"]), "p", Some(batch), None)
        .await
        .unwrap();
    let got = kv
        .kv_batch_get(&keys(&["d", "c", "b", "a"]), "p", None)
        .await
        .unwrap();
    let mut want = values;
    want.reverse();
    ensure_eq!(got.non_tensor("v").unwrap(), &want[..]);
}

/// G7: `kv_batch_get_by_meta(meta, None)` reads `meta.fields` of `meta.keys`,
/// and `Some(subset)` reads the subset.
pub async fn g7_get_by_meta_reads_meta_fields(kv: &Kv) {
    abc(kv).await;
    let meta = kv
        .kv_batch_put(
            &keys(&["b", "a"]),
            "p",
            Some(
                Batch::new(2)
                    .with_non_tensor("s", vec!["B".into(), "A".into()])
                    .unwrap(),
            ),
            Some(vec![tag! {"i" => 0}, tag! {"i" => 1}]),
        )
        .await
        .unwrap();
    ensure_eq!(meta.fields, ["s", "x"]);
    let got = kv.kv_batch_get_by_meta(&meta, None).await.unwrap();
    ensure_eq!(fields_of(&got), ["s", "x"]);
    ensure_eq!(f32_row(&got, "x", 0), vec![1.0]);
    ensure_eq!(got.non_tensor("s").unwrap()[1].as_str(), Some("A"));
    let got = kv.kv_batch_get_by_meta(&meta, Some(&["x"])).await.unwrap();
    ensure_eq!(fields_of(&got), ["x"]);
}

/// G7: a selection outside `meta.fields` is `InvalidArgument` whose message
/// contains `select_fields` and `not found`.
pub async fn g7_get_by_meta_rejects_select_fields_outside_meta(kv: &Kv) {
    abc(kv).await;
    let meta = kv
        .kv_put("a", "p", None, Some(tag! {"s" => 1}))
        .await
        .unwrap();
    ensure_eq!(meta.fields, ["x"]);
    expect_err(
        kv.kv_batch_get_by_meta(&meta, Some(&["x", "y"])).await,
        ErrorKind::InvalidArgument,
        &["select_fields", "not found", "y"],
    );
}
