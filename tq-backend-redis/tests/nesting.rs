//! Deeply nested JSON: everything up to tq-core's limit (a tag nested 64
//! levels, counting the tag object; a JSON cell nested 64 levels) round-trips
//! through put, get and list, standalone and on a cluster; deeper values
//! given to the backend directly are refused before anything is written,
//! never written and then reported as corrupted.

mod support;

use std::sync::Arc;

use serde_json::{Value as Json, json};
use tq_backend_redis::{MAX_JSON_DEPTH, RedisBackend};
use tq_core::{ErrorKind, KvStore, NonTensor, Row, RowWrite, StorageBackend, Tag, Value, tag};

/// A JSON value with `depth` nested containers (arrays and objects
/// alternating) around a string.
fn nested(depth: usize) -> Json {
    // Built by hand: `json!` would copy `v` at every level (to_value).
    let mut v = Json::from("bottom");
    for level in 0..depth {
        v = if level % 2 == 0 {
            Json::Array(vec![v, Json::from(level)])
        } else {
            let mut map = serde_json::Map::new();
            map.insert("level".into(), Json::from(level));
            map.insert("inner".into(), v);
            Json::Object(map)
        };
    }
    v
}

fn depth_of(v: &Json) -> usize {
    match v {
        Json::Array(items) => 1 + items.iter().map(depth_of).max().unwrap_or(0),
        Json::Object(map) => 1 + map.values().map(depth_of).max().unwrap_or(0),
        _ => 0,
    }
}

async fn round_trips_up_to_the_limit(backend: RedisBackend) {
    let kv = KvStore::new(Arc::new(backend));
    // The tag object is level 1: its entry nests 63 more levels.
    let entry = nested(63);
    assert_eq!(depth_of(&json!({ "deep": entry.clone() })), 64);
    let cell = nested(64);
    assert_eq!(depth_of(&cell), 64);
    let tag = tag! {"deep" => entry.clone(), "flat" => 1};
    let row = Row::new().with("doc", NonTensor::Json(cell.clone()));
    let meta = kv
        .kv_put("k", "p", Some(row), Some(tag.clone()))
        .await
        .unwrap();
    assert_eq!(meta.tags, vec![tag.clone()]);
    // A later merge reads the deep entry back.
    let meta = kv
        .kv_put("k", "p", None, Some(tag! {"other" => nested(63)}))
        .await
        .unwrap();
    assert_eq!(meta.tags[0]["deep"], entry);
    let batch = kv.kv_batch_get(&["k"], "p", None).await.unwrap();
    match batch.non_tensor("doc") {
        Some([NonTensor::Json(j)]) => assert_eq!(j, &cell),
        other => panic!("{other:?}"),
    }
    let listing = kv.kv_list(Some("p")).await.unwrap();
    assert_eq!(listing["p"]["k"]["deep"], entry);
    assert_eq!(listing["p"]["k"]["other"], nested(63));
    let all = kv.kv_list(None).await.unwrap();
    assert_eq!(all["p"]["k"]["deep"], entry);
    assert_eq!(kv.kv_clear(&["k"], "p", None).await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nesting_up_to_the_limit_round_trips_standalone() {
    round_trips_up_to_the_limit(support::standalone().await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nesting_up_to_the_limit_round_trips_on_a_cluster() {
    round_trips_up_to_the_limit(support::clustered().await.unwrap()).await;
}

fn write(key: &str, cells: Vec<(String, Value)>, tag: Option<Tag>) -> RowWrite {
    let mut row = RowWrite::new(key);
    for (field, value) in cells {
        row = row.with_cell(field, value);
    }
    row.tag = tag;
    row
}

async fn too_deep_is_refused_before_writing(backend: RedisBackend) {
    // The backend's own limit: what it can read back.
    let ok_tag: Tag = [("deep".to_owned(), nested(MAX_JSON_DEPTH))]
        .into_iter()
        .collect();
    let ok_cell = vec![(
        "doc".to_owned(),
        Value::NonTensor(NonTensor::Json(nested(MAX_JSON_DEPTH))),
    )];
    let states = backend
        .put("p", vec![write("ok", ok_cell, Some(ok_tag.clone()))])
        .await
        .unwrap();
    assert_eq!(states[0].tag, ok_tag);
    let got = backend.get("p", &["ok".to_owned()], None).await.unwrap();
    assert_eq!(got[0].as_ref().map(Vec::len), Some(1));
    assert_eq!(backend.list(Some("p")).await.unwrap()["p"]["ok"], ok_tag);

    for depth in [MAX_JSON_DEPTH + 1, 200, 1000] {
        let deep_tag: Tag = [("deep".to_owned(), nested(depth))].into_iter().collect();
        let deep_cell = vec![(
            "doc".to_owned(),
            Value::NonTensor(NonTensor::Json(nested(depth))),
        )];
        for (what, row) in [
            ("tag", write("bad", Vec::new(), Some(deep_tag.clone()))),
            ("cell", write("bad", deep_cell.clone(), None)),
        ] {
            // A good row first: nothing of the call may be written.
            let rows = vec![write("fine", Vec::new(), Some(Tag::new())), row];
            let err = backend.put("p", rows).await.unwrap_err();
            assert_eq!(
                err.kind(),
                ErrorKind::InvalidArgument,
                "{what} {depth}: {err}"
            );
            assert_eq!(err.context_value("key"), Some("bad"), "{err}");
            assert_eq!(err.context_value("partition"), Some("p"), "{err}");
            let field = if what == "tag" { "tag" } else { "field" };
            assert!(err.context_value(field).is_some(), "{err}");
            let listing = backend.list(Some("p")).await.unwrap();
            assert_eq!(
                listing["p"].keys().collect::<Vec<_>>(),
                ["ok"],
                "{what} {depth} wrote something"
            );
        }
    }
    assert_eq!(backend.clear("p", &["ok".to_owned()]).await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_deep_values_are_refused_before_writing_standalone() {
    too_deep_is_refused_before_writing(support::standalone().await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_deep_values_are_refused_before_writing_on_a_cluster() {
    too_deep_is_refused_before_writing(support::clustered().await.unwrap()).await;
}
