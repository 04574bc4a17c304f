//! Stores, checkpoint locations and a full dump for comparing stores.
#![allow(dead_code)]

use std::sync::Arc;

use futures::TryStreamExt;
use tq_backend_memory::MemoryBackend;
use tq_checkpoint::Location;
use tq_checkpoint::object_store::memory::InMemory;
use tq_checkpoint::object_store::path::Path;
use tq_checkpoint::object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use tq_core::serde_json::json;
use tq_core::{ALL_DTYPES, Batch, DType, KvStore, NonTensor, Row, Tag, Tensor, codec, tag};

/// One row of a dump: key, tag, cells sorted by field as codec bytes.
pub type DumpRow = (String, Tag, Vec<(String, Vec<u8>)>);

pub fn memory_store() -> KvStore {
    KvStore::new(Arc::new(MemoryBackend::new()))
}

/// A checkpoint location on object_store's in-memory store.
pub fn memory_location() -> Location {
    Location::new(Arc::new(InMemory::new()), Path::from("ckpt/step-1"))
}

/// A checkpoint location in a temporary directory, by `file://` URL.
pub fn file_location() -> (tempfile::TempDir, Location) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("file://{}/ckpt", dir.path().display());
    std::fs::create_dir_all(dir.path().join("ckpt")).expect("mkdir");
    (dir, Location::from_url(&url).expect("file URL"))
}

/// Every partition, key (in listing order), tag and cell of `store`.
pub async fn dump(store: &KvStore) -> Vec<(String, Vec<DumpRow>)> {
    let mut out = Vec::new();
    for (partition, keys) in store.kv_list(None).await.expect("list") {
        let names: Vec<String> = keys.keys().cloned().collect();
        let cells = store
            .backend()
            .get(&partition, &names, None)
            .await
            .expect("get");
        let rows = keys
            .into_iter()
            .zip(cells)
            .map(|((key, tag), cells)| {
                let mut cells: Vec<(String, Vec<u8>)> = cells
                    .expect("row listed but missing")
                    .into_iter()
                    .map(|(f, v)| (f, codec::encode(&v)))
                    .collect();
                cells.sort();
                (key, tag, cells)
            })
            .collect();
        out.push((partition, rows));
    }
    out
}

/// Fills `store` with three partitions covering every dtype, dense and
/// jagged tensors, scalars, empty tensors, non-tensor values, tags, rows
/// with no fields, special-character names and a key order that is neither
/// sorted nor the first insertion's.
pub async fn fill(store: &KvStore) {
    let train = "train";
    let dense = Tensor::from_vec((0..12i64).collect(), [4, 3]).unwrap();
    let jagged = vec![
        Tensor::from_vec(vec![1.5f32], [1]).unwrap(),
        Tensor::from_vec(vec![2.0f32, -0.0, f32::NAN], [3]).unwrap(),
        Tensor::from_vec(Vec::<f32>::new(), [0]).unwrap(),
        Tensor::from_vec(vec![1f32, 2., 3., 4.], [2, 2]).unwrap(),
    ];
    let batch = Batch::new(4)
        .with_dense("input_ids", dense)
        .unwrap()
        .with_jagged("response", jagged)
        .unwrap()
        .with_non_tensor(
            "prompt",
            vec![
                NonTensor::Str("What is 2 + 2?".into()),
                NonTensor::Str(String::new()),
                NonTensor::Bytes(vec![0u8, 255, 7].into()),
                NonTensor::Json(json!({"a": [1, null, {"b": "c"}]})),
            ],
        )
        .unwrap();
    let keys = ["z", "a/b", "emoji 🎉", "m\0n"];
    let tags = vec![
        tag! {"status" => "new"},
        tag! {"status" => "running", "step" => 3},
        Tag::new(),
        tag! {"nested" => json!({"x": [1.5, true]})},
    ];
    store
        .kv_batch_put(&keys, train, Some(batch), Some(tags))
        .await
        .unwrap();
    // One row per dtype, several shapes, a scalar.
    for (i, dtype) in ALL_DTYPES.iter().enumerate() {
        let shape: Vec<usize> = match i % 3 {
            0 => vec![],
            1 => vec![i + 1],
            _ => vec![2, i],
        };
        let tensor = Tensor::zeros(*dtype, shape).unwrap();
        let row = Row::new().with("t", tensor).with("i", json!(i * 7));
        store
            .kv_put(&format!("dtype-{i}"), train, Some(row), None)
            .await
            .unwrap();
    }
    // A row without fields, only a tag; then "z" moves to the end.
    store
        .kv_put("tag-only", train, None, Some(tag! {"only" => "tag"}))
        .await
        .unwrap();
    store.kv_clear(&["z"], train, None).await.unwrap();
    store
        .kv_put(
            "z",
            train,
            Some(Row::new().with("bf", Tensor::zeros(DType::BF16, [5]).unwrap())),
            None,
        )
        .await
        .unwrap();
    for (p, n) in [("eval", 5), ("odd/partition:{x} ü", 3)] {
        for i in 0..n {
            let row = Row::new().with("reward", Tensor::from_vec(vec![i as f64], [1]).unwrap());
            store
                .kv_put(
                    &format!("{p}-{}", n - i),
                    p,
                    Some(row),
                    Some(tag! {"i" => i}),
                )
                .await
                .unwrap();
        }
    }
}

/// The paths of the checkpoint's data objects, sorted.
pub async fn data_objects(location: &Location) -> Vec<Path> {
    let mut paths: Vec<Path> = location
        .store()
        .list(Some(location.prefix()))
        .map_ok(|meta| meta.location)
        .try_collect()
        .await
        .expect("list objects");
    paths.retain(|p| p.as_ref().ends_with(".rows"));
    paths.sort();
    paths
}

/// Flips one bit of `path`, in the middle of the object.
pub async fn flip_a_bit(location: &Location, path: &Path) {
    let bytes = location
        .store()
        .get(path)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let mut bytes = bytes.to_vec();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x10;
    location
        .store()
        .put(path, PutPayload::from(bytes))
        .await
        .unwrap();
}
