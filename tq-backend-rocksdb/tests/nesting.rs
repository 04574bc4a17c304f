//! Finding 1 of the hardening issue: JSON nesting. Everything a put accepts
//! (tags and JSON cells nested to `tq_core::json::MAX_JSON_DEPTH`) reads back
//! through every path (get, list, merge, reopen), through `KvStore` and
//! directly on the backend; the backend itself refuses anything deeper
//! before writing, so no row it writes can fail to decode, and no depth
//! overflows a stack.

use std::sync::Arc;

use serde_json::Value as Json;
use tq_backend_rocksdb::{RocksDbBackend, RocksDbConfig};
use tq_core::json::MAX_JSON_DEPTH;
use tq_core::{ErrorKind, KvStore, NonTensor, Row, RowWrite, StorageBackend, Tag, Value, tag};

/// `[[..[{"leaf": 1}]..]]`, `depth` levels deep, built without recursion.
fn nested(depth: usize) -> Json {
    if depth == 0 {
        return Json::from(1);
    }
    let mut value = serde_json::json!({"leaf": 1});
    for _ in 1..depth {
        value = Json::Array(vec![value]);
    }
    value
}

/// A tag whose entry `deep` nests `depth` levels (the tag is one more).
fn deep_tag(depth: usize) -> Tag {
    let mut tag = tag! {"plain" => "x"};
    tag.insert("deep".into(), nested(depth));
    tag
}

fn json_cell(depth: usize) -> Value {
    Value::NonTensor(NonTensor::Json(nested(depth)))
}

async fn open(dir: &tempfile::TempDir) -> Arc<RocksDbBackend> {
    Arc::new(
        RocksDbBackend::open(RocksDbConfig::new(dir.path()))
            .await
            .unwrap(),
    )
}

#[tokio::test]
async fn json_nested_to_the_limit_reads_back_through_kvstore_and_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let tag = deep_tag(MAX_JSON_DEPTH - 1);
    let cell = nested(MAX_JSON_DEPTH);
    {
        let kv = KvStore::new(open(&dir).await);
        let row = Row::new().with("j", Value::from(cell.clone()));
        kv.kv_put("k", "p", Some(row), Some(tag.clone()))
            .await
            .unwrap();
        // A merge into the deep tag reads it and writes it back.
        let meta = kv
            .kv_put("k", "p", None, Some(tag! {"more" => 1}))
            .await
            .unwrap();
        assert_eq!(meta.tags[0].get("deep"), tag.get("deep"));
        let got = kv.kv_batch_get(&["k"], "p", None).await.unwrap();
        assert_eq!(
            got.non_tensor("j").unwrap()[0],
            NonTensor::Json(cell.clone())
        );
        let listing = kv.kv_list(None).await.unwrap();
        assert_eq!(listing["p"]["k"].get("deep"), tag.get("deep"));
    }
    let kv = KvStore::new(open(&dir).await);
    let got = kv.kv_batch_get(&["k"], "p", None).await.unwrap();
    assert_eq!(got.non_tensor("j").unwrap()[0], NonTensor::Json(cell));
    let listing = kv.kv_list(Some("p")).await.unwrap();
    let mut want = tag;
    want.insert("more".into(), 1.into());
    assert_eq!(listing["p"]["k"], want);
    assert_eq!(kv.kv_clear(&["k"], "p", None).await.unwrap(), 1);
}

#[tokio::test]
async fn json_nested_to_the_limit_reads_back_directly_on_the_backend() {
    let dir = tempfile::tempdir().unwrap();
    let backend = open(&dir).await;
    let tag = deep_tag(MAX_JSON_DEPTH - 1);
    let states = backend
        .put(
            "p",
            vec![write(
                "k",
                vec![("j".into(), json_cell(MAX_JSON_DEPTH))],
                Some(tag.clone()),
            )],
        )
        .await
        .unwrap();
    assert_eq!(states[0].tag, tag);
    let states = backend
        .put("p", vec![write("k", vec![], Some(tag! {"more" => 1}))])
        .await
        .unwrap();
    assert_eq!(states[0].tag.get("deep"), tag.get("deep"));
    let got = backend.get("p", &["k".into()], None).await.unwrap();
    let cells = got[0].as_ref().unwrap();
    assert_eq!(cells[0], ("j".to_owned(), json_cell(MAX_JSON_DEPTH)));
    let listing = backend.list(None).await.unwrap();
    assert_eq!(listing["p"]["k"].get("deep"), tag.get("deep"));
    assert_eq!(backend.clear("p", &["k".into()]).await.unwrap(), 1);
}

/// Checks that `result` is `InvalidArgument` naming every needle.
fn invalid<T: std::fmt::Debug>(result: tq_core::Result<T>, needles: &[&str]) {
    let err = result.expect_err("a too-deep value must be refused");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert!(!err.is_temporary(), "{err}");
    let text = err.to_string();
    for needle in needles {
        assert!(
            text.contains(needle),
            "the error must name {needle}: {text}"
        );
    }
}

#[tokio::test]
async fn the_backend_refuses_json_nested_past_the_limit_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let backend = open(&dir).await;
    backend
        .put("p", vec![write("keep", vec![], Some(tag! {"s" => 1}))])
        .await
        .unwrap();
    let before = backend.list(None).await.unwrap();
    // 127 and 200 are the depths of the issue; 100 000 would overflow the
    // stack of any code that serializes, clones or drops it recursively.
    for depth in [MAX_JSON_DEPTH, 127, 200, 100_000] {
        let ok = write(
            "fine",
            vec![("x".into(), Value::from("text"))],
            Some(tag! {"t" => 1}),
        );
        let deep_tag_row = write("bad", vec![], Some(deep_tag(depth)));
        invalid(
            backend.put("p", vec![ok.clone(), deep_tag_row]).await,
            &["\"p\"", "\"bad\"", "\"deep\""],
        );
        let deep_cell_row = write(
            "bad",
            vec![
                ("fine".into(), json_cell(3)),
                ("j".into(), json_cell(depth + 1)),
            ],
            None,
        );
        invalid(
            backend.put("p", vec![ok, deep_cell_row]).await,
            &["\"p\"", "\"bad\"", "\"j\""],
        );
    }
    assert_eq!(
        backend.list(None).await.unwrap(),
        before,
        "a refused put wrote"
    );
    let got = backend
        .get("p", &["bad".into(), "fine".into()], None)
        .await
        .unwrap();
    assert_eq!(got, [None, None]);
}

#[test]
fn refusing_a_value_a_million_levels_deep_does_not_overflow_a_small_stack() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_stack_size(256 * 1024)
        .max_blocking_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    runtime.block_on(async {
        let backend = open(&dir).await;
        let row = write(
            "bad",
            vec![("j".into(), json_cell(1_000_000))],
            Some(deep_tag(1_000_000)),
        );
        invalid(backend.put("p", vec![row]).await, &["\"bad\""]);
    });
}

/// A row write setting `cells` and merging `tag`.
fn write(key: &str, cells: Vec<(String, Value)>, tag: Option<Tag>) -> RowWrite {
    let mut row = RowWrite::new(key);
    for (field, value) in cells {
        row = row.with_cell(field, value);
    }
    row.tag = tag;
    row
}
