//! Helpers the cases share.

use std::fmt::Debug;

use super::Kv;
use crate::batch::Batch;
use crate::error::{ErrorKind, Result};
use crate::meta::Listing;
use crate::tag::Tag;
use crate::tensor::Tensor;

/// Owned keys from string literals.
pub(crate) fn keys(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

/// `n` keys `prefix-0 .. prefix-(n-1)`.
pub(crate) fn numbered(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

/// A 1-D f32 tensor.
pub(crate) fn f32s(values: &[f32]) -> Tensor {
    Tensor::from_vec_1d(values.to_vec())
}

/// A 1-D i64 tensor.
pub(crate) fn i64s(values: &[i64]) -> Tensor {
    Tensor::from_vec_1d(values.to_vec())
}

/// Asserts `result` is an error of `kind` whose text contains every needle.
pub(crate) fn expect_err<T: Debug>(result: Result<T>, kind: ErrorKind, needles: &[&str]) {
    match result {
        Ok(v) => panic!("expected a {kind} error, got Ok({v:?})"),
        Err(e) => {
            assert_eq!(e.kind(), kind, "wrong kind for error: {e}");
            let text = e.to_string();
            for needle in needles {
                assert!(
                    text.contains(needle),
                    "error should mention {needle:?}: {text}"
                );
            }
        }
    }
}

/// The whole store's listing.
pub(crate) async fn list_all(kv: &Kv) -> Listing {
    kv.kv_list(None).await.expect("kv_list(None)")
}

/// The keys of partition `p`, in listing order.
pub(crate) async fn listed_keys(kv: &Kv, p: &str) -> Vec<String> {
    kv.kv_list(Some(p))
        .await
        .expect("kv_list")
        .get(p)
        .map(|keys| keys.keys().cloned().collect())
        .unwrap_or_default()
}

/// The tag of `key` in `p`, from the listing.
pub(crate) async fn listed_tag(kv: &Kv, p: &str, key: &str) -> Option<Tag> {
    kv.kv_list(Some(p))
        .await
        .expect("kv_list")
        .get(p)?
        .get(key)
        .cloned()
}

/// Row `i` of tensor field `field` of `batch` as f32 values.
pub(crate) fn f32_row(batch: &Batch, field: &str, i: usize) -> Vec<f32> {
    batch
        .tensor(field)
        .unwrap_or_else(|| panic!("field {field} is not a tensor column: {batch:?}"))
        .row(i)
        .expect("row in range")
        .to_vec::<f32>()
        .expect("f32 row")
}

/// Row `i` of tensor field `field` of `batch` as i64 values.
pub(crate) fn i64_row(batch: &Batch, field: &str, i: usize) -> Vec<i64> {
    batch
        .tensor(field)
        .unwrap_or_else(|| panic!("field {field} is not a tensor column: {batch:?}"))
        .row(i)
        .expect("row in range")
        .to_vec::<i64>()
        .expect("i64 row")
}

/// The field names of `batch`, owned.
pub(crate) fn fields_of(batch: &Batch) -> Vec<String> {
    batch.field_names().map(str::to_owned).collect()
}

/// A store snapshot for "nothing was written" checks: the whole listing plus
/// every row's fields.
pub(crate) async fn snapshot(kv: &Kv) -> Vec<(String, String, Tag, Vec<String>)> {
    let mut out = Vec::new();
    for (p, rows) in list_all(kv).await {
        for (key, tag) in rows {
            let batch = kv
                .kv_batch_get(std::slice::from_ref(&key), &p, None)
                .await
                .expect("get of a listed key");
            out.push((p.clone(), key, tag, fields_of(&batch)));
        }
    }
    out
}

/// `Debug` of `value`, cut to a readable length so that a failing check on a
/// long list does not flood the report.
pub(crate) fn short<T: Debug + ?Sized>(value: &T) -> String {
    const SHOW: usize = 400;
    let text = format!("{value:?}");
    if text.len() <= SHOW {
        return text;
    }
    let mut end = SHOW;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} chars in all)", &text[..end], text.len())
}

/// What [`ensure_eq!`] calls: panics naming the expression and both sides,
/// each cut to a readable length.
pub(crate) fn check_eq<L, R>(left: &L, right: &R, expr: &str, context: Option<String>)
where
    L: Debug + PartialEq<R> + ?Sized,
    R: Debug + ?Sized,
{
    if left != right {
        let context = context.map(|c| format!(" ({c})")).unwrap_or_default();
        panic!(
            "`{expr}` differs{context}:\n   got: {}\nwanted: {}",
            short(left),
            short(right)
        );
    }
}

/// `assert_eq!` with messages that name what differed and stay short.
macro_rules! ensure_eq {
    ($left:expr, $right:expr $(,)?) => {
        $crate::conformance::support::check_eq(&$left, &$right, stringify!($left), None)
    };
    ($left:expr, $right:expr, $($context:tt)+) => {
        $crate::conformance::support::check_eq(
            &$left,
            &$right,
            stringify!($left),
            Some(format!($($context)+)),
        )
    };
}
pub(crate) use ensure_eq;

/// A JSON array nested `depth` levels deep around `1`, built without
/// recursion.
pub(crate) fn nested_json(depth: usize) -> serde_json::Value {
    let mut value = serde_json::json!(1);
    for _ in 0..depth {
        value = serde_json::Value::Array(vec![value]);
    }
    value
}
