//! Persistence, opening, configuration and corruption behaviour of the
//! RocksDB backend.

use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use tq_backend_rocksdb::keys::{CF_CELLS, CF_ROWS, cell_key, row_key};
use tq_backend_rocksdb::{Compression, RocksDbBackend, RocksDbConfig};
use tq_core::{Batch, ErrorKind, KvStore, NonTensor, Row, StorageBackend, Tensor, Value, tag};

fn config(dir: &tempfile::TempDir) -> RocksDbConfig {
    RocksDbConfig::new(dir.path())
}

async fn open_kv(config: RocksDbConfig) -> KvStore {
    KvStore::new(Arc::new(RocksDbBackend::open(config).await.unwrap()))
}

#[tokio::test]
async fn data_tags_and_order_survive_close_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let kv = open_kv(config(&dir)).await;
        let batch = Batch::new(3)
            .with_dense(
                "x",
                Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], [3, 2]).unwrap(),
            )
            .unwrap()
            .with_non_tensor("s", vec!["a".into(), "b".into(), "c".into()])
            .unwrap();
        let tags = vec![tag! {"i" => 0}, tag! {"i" => 1}, tag! {"i" => 2}];
        kv.kv_batch_put(&["k2", "k0", "k1"], "train", Some(batch), Some(tags))
            .await
            .unwrap();
        kv.kv_put("k0", "train", None, Some(tag! {"status" => "done"}))
            .await
            .unwrap();
        kv.kv_put(
            "only",
            "other",
            Some(Row::new().with("j", Value::from(serde_json::json!({"a": [1, 2]})))),
            None,
        )
        .await
        .unwrap();
    }
    let kv = open_kv(config(&dir)).await;
    let listing = kv.kv_list(None).await.unwrap();
    let train: Vec<&str> = listing["train"].keys().map(String::as_str).collect();
    assert_eq!(train, ["k2", "k0", "k1"]);
    assert_eq!(listing["train"]["k0"], tag! {"i" => 1, "status" => "done"});
    assert_eq!(listing["other"]["only"], tag! {});

    let got = kv.kv_batch_get(&["k1", "k2"], "train", None).await.unwrap();
    assert_eq!(
        got.tensor("x")
            .unwrap()
            .row(0)
            .unwrap()
            .to_vec::<f32>()
            .unwrap(),
        [5.0, 6.0]
    );
    assert_eq!(
        got.tensor("x")
            .unwrap()
            .row(1)
            .unwrap()
            .to_vec::<f32>()
            .unwrap(),
        [1.0, 2.0]
    );
    assert_eq!(
        got.non_tensor("s").unwrap(),
        [NonTensor::from("c"), NonTensor::from("a")]
    );
    let other = kv.kv_batch_get(&["only"], "other", None).await.unwrap();
    assert_eq!(
        other.non_tensor("j").unwrap()[0],
        NonTensor::Json(serde_json::json!({"a": [1, 2]}))
    );
}

#[tokio::test]
async fn insertion_order_continues_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let kv = open_kv(config(&dir)).await;
        for key in ["a", "b", "c"] {
            kv.kv_put(key, "p", None, Some(tag! {})).await.unwrap();
        }
    }
    // New rows, and a row cleared and put again, go after every row written
    // before the reopen: the sequence counter was persisted.
    let kv = open_kv(config(&dir)).await;
    kv.kv_clear(&["a"], "p", None).await.unwrap();
    kv.kv_put("d", "p", None, Some(tag! {})).await.unwrap();
    kv.kv_put("a", "p", None, Some(tag! {})).await.unwrap();
    let order: Vec<String> = kv.kv_list(Some("p")).await.unwrap()["p"]
        .keys()
        .cloned()
        .collect();
    assert_eq!(order, ["b", "c", "d", "a"]);
}

#[tokio::test]
async fn opening_an_open_store_is_unavailable_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let first = RocksDbBackend::open(config(&dir)).await.unwrap();
    let err = RocksDbBackend::open(config(&dir)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(err.is_temporary());
    let path = dir.path().display().to_string();
    assert!(err.message().contains(&path), "{err}");
    assert_eq!(err.context_value("path"), Some(path.as_str()));
    // Once the holder is gone, the store opens again.
    drop(first);
    RocksDbBackend::open(config(&dir)).await.unwrap();
}

#[tokio::test]
async fn missing_store_without_create_if_missing_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = RocksDbConfig::new(dir.path().join("nope"));
    cfg.create_if_missing = false;
    let err = RocksDbBackend::open(cfg).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert_eq!(err.context_value("setting"), Some("create_if_missing"));
    assert!(!dir.path().join("nope").exists());
}

#[tokio::test]
async fn create_if_missing_creates_parent_directories() {
    let dir = tempfile::tempdir().unwrap();
    let deep = dir.path().join("a/b/c");
    RocksDbBackend::open(RocksDbConfig::new(&deep))
        .await
        .unwrap();
    assert!(deep.join("CURRENT").exists());
}

#[tokio::test]
async fn a_path_that_is_a_file_is_a_config_error_naming_path() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, b"not a store").unwrap();
    let err = RocksDbBackend::open(RocksDbConfig::new(&file))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert_eq!(err.context_value("setting"), Some("path"));
}

#[tokio::test]
async fn bad_settings_are_config_errors_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&dir);
    cfg.max_background_jobs = 0;
    let err = RocksDbBackend::open(cfg).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains("max_background_jobs"), "{err}");
}

#[test]
fn the_rocksdb_toml_table_deserializes_and_rejects_unknown_settings() {
    #[derive(serde::Deserialize)]
    struct File {
        rocksdb: RocksDbConfig,
    }
    let file: File = toml::from_str(
        "[rocksdb]\npath = \"/tmp/store\"\nsync_writes = false\ncompression = \"zstd\"\nblock_cache_bytes = 0\n",
    )
    .unwrap();
    let mut want = RocksDbConfig::new("/tmp/store");
    want.sync_writes = false;
    want.compression = Compression::Zstd;
    want.block_cache_bytes = 0;
    assert_eq!(file.rocksdb, want);
    let err = toml::from_str::<File>("[rocksdb]\npath = \"/x\"\ncache_size = 5\n")
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("cache_size"), "{err}");
}

#[tokio::test]
async fn every_setting_combination_opens_and_round_trips() {
    for (compression, blob_files, cache) in [
        (Compression::None, false, 0),
        (Compression::Zstd, true, 1 << 20),
        (Compression::Lz4, true, 64 << 20),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config(&dir);
        cfg.compression = compression;
        cfg.blob_files = blob_files;
        cfg.blob_min_bytes = 1024;
        cfg.block_cache_bytes = cache;
        cfg.sync_writes = false;
        cfg.max_open_files = 64;
        cfg.write_buffer_bytes = 1 << 20;
        let kv = open_kv(cfg).await;
        let big = Tensor::from_vec((0..100_000u32).collect::<Vec<_>>(), [100_000]).unwrap();
        kv.kv_put("k", "p", Some(Row::new().with("big", big.clone())), None)
            .await
            .unwrap();
        let got = kv.kv_batch_get(&["k"], "p", None).await.unwrap();
        assert_eq!(got.tensor("big").unwrap().row(0).unwrap(), big);
    }
}

/// The store's `max` merge operator for the sequence key. The raw handle
/// needs it: without it, RocksDB's recovery stops replaying the write-ahead
/// log at the second merge of that key and silently drops every later write.
fn max_merge(
    _key: &[u8],
    existing: Option<&[u8]>,
    operands: &rocksdb::MergeOperands,
) -> Option<Vec<u8>> {
    let read = |b: &[u8]| b.try_into().ok().map(u64::from_be_bytes);
    let mut max = existing.map_or(Some(0), read)?;
    for op in operands.iter() {
        max = max.max(read(op)?);
    }
    Some(max.to_be_bytes().to_vec())
}

/// Overwrites the value under `key` in column family `cf` with the raw
/// RocksDB API, with the backend closed.
fn poke(dir: &tempfile::TempDir, cf: &str, key: &[u8], value: &[u8]) {
    let mut opts = rocksdb::Options::default();
    opts.set_merge_operator_associative("tq_max_u64", max_merge);
    let cfs = rocksdb::DB::list_cf(&opts, dir.path())
        .unwrap()
        .into_iter()
        .map(|name| rocksdb::ColumnFamilyDescriptor::new(name, opts.clone()));
    let db = rocksdb::DB::open_cf_descriptors(&opts, dir.path(), cfs).unwrap();
    db.put_cf(db.cf_handle(cf).unwrap(), key, value).unwrap();
}

async fn store_with_one_row(dir: &tempfile::TempDir) {
    let kv = open_kv(config(dir)).await;
    let row = Row::new()
        .with("x", Tensor::from_vec(vec![1i64, 2], [2]).unwrap())
        .with("s", "text");
    kv.kv_put("k:1", "p/1", Some(row), Some(tag! {"t" => 1}))
        .await
        .unwrap();
}

#[tokio::test]
async fn corrupted_cell_bytes_are_corrupted_on_get_naming_key_and_field() {
    let dir = tempfile::tempdir().unwrap();
    store_with_one_row(&dir).await;
    for garbage in [
        &b""[..],
        b"\x01",
        b"\x07\0\0\0\0\0\0\0abc",
        b"\x01\x00\x0a\x02\0\0\0\0\x05",
    ] {
        poke(&dir, CF_CELLS, &cell_key("p/1", "k:1", "x"), garbage);
        let kv = open_kv(config(&dir)).await;
        let err = kv.kv_batch_get(&["k:1"], "p/1", None).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Corrupted, "{err}");
        assert!(!err.is_temporary());
        assert_eq!(err.context_value("partition"), Some("p/1"));
        assert_eq!(err.context_value("key"), Some("k:1"));
        assert_eq!(err.context_value("field"), Some("x"));
        // The undamaged field still reads.
        let s = kv
            .kv_batch_get(&["k:1"], "p/1", Some(&["s"]))
            .await
            .unwrap();
        assert_eq!(s.non_tensor("s").unwrap(), [NonTensor::from("text")]);
    }
}

#[tokio::test]
async fn corrupted_row_record_is_corrupted_on_get_list_and_put_and_clears() {
    let dir = tempfile::tempdir().unwrap();
    store_with_one_row(&dir).await;
    poke(&dir, CF_ROWS, &row_key("p/1", "k:1"), b"\x01\xff\xff");
    let backend = Arc::new(RocksDbBackend::open(config(&dir)).await.unwrap());
    let kv = KvStore::new(backend.clone());
    let keys = ["k:1".to_owned()];
    let errors = [
        kv.kv_batch_get(&keys, "p/1", None).await.unwrap_err(),
        kv.kv_list(Some("p/1")).await.unwrap_err(),
        kv.kv_list(None).await.unwrap_err(),
        kv.kv_put("k:1", "p/1", None, Some(tag! {}))
            .await
            .unwrap_err(),
    ];
    for err in errors {
        assert_eq!(err.kind(), ErrorKind::Corrupted, "{err}");
        assert_eq!(err.context_value("key"), Some("k:1"), "{err}");
    }
    // Other partitions are untouched.
    assert!(backend.list(Some("q")).await.unwrap().is_empty());
    // The row clears (tests/corruption.rs checks this for all kinds of bytes).
    assert_eq!(kv.kv_clear(&keys, "p/1", None).await.unwrap(), 1);
    assert!(kv.kv_list(None).await.unwrap().is_empty());
}

#[test]
fn calling_outside_a_tokio_runtime_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let mut open = pin!(RocksDbBackend::open(config(&dir)));
    let mut cx = Context::from_waker(Waker::noop());
    match open.as_mut().poll(&mut cx) {
        Poll::Ready(Err(err)) => assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}"),
        Poll::Ready(Ok(_)) => panic!("opened outside a runtime"),
        Poll::Pending => panic!("pending outside a runtime"),
    }
}
