//! Finding 2 of the hardening issue: one bad row never takes the store down.
//!
//! Whatever bytes a stored row holds (its record, the tag inside it, any
//! cell: garbage, truncated, a wrong version, a tag too deep for the JSON
//! parser as an older build could write), a get of the row is `Corrupted`
//! naming partition and key, a list of its partition and a put into it are
//! `Corrupted` naming the key, other rows and partitions keep working, and
//! `kv_clear` of the row removes all of it (record, cells, insertion-order
//! entry), after which the store is whole again.
//!
//! The bytes are overwritten with the raw RocksDB API while the store is
//! closed, then the store is reopened; the last check opens the raw store
//! again and counts what is left of the row.

use std::sync::Arc;

use tq_backend_rocksdb::keys::{CF_CELLS, CF_ORDER, CF_ROWS, cell_key, partition_prefix, row_key};
use tq_backend_rocksdb::{RocksDbBackend, RocksDbConfig};
use tq_core::{Error, ErrorKind, KvStore, NonTensor, Row, Tag, Tensor, Value, tag};

/// The merge operator of the store's `default` column family: without it,
/// RocksDB's recovery stops replaying the write-ahead log at the second merge
/// of the sequence key and silently drops every later write.
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

/// The store's files, opened with the raw RocksDB API (the backend closed).
fn raw(dir: &tempfile::TempDir) -> rocksdb::DB {
    let mut opts = rocksdb::Options::default();
    opts.set_merge_operator_associative("tq_max_u64", max_merge);
    let cfs = rocksdb::DB::list_cf(&opts, dir.path()).unwrap();
    let cfs = cfs
        .into_iter()
        .map(|name| rocksdb::ColumnFamilyDescriptor::new(name, opts.clone()));
    rocksdb::DB::open_cf_descriptors(&opts, dir.path(), cfs).unwrap()
}

fn poke(dir: &tempfile::TempDir, cf: &str, key: &[u8], value: &[u8]) {
    let db = raw(dir);
    db.put_cf(db.cf_handle(cf).unwrap(), key, value).unwrap();
}

fn peek(dir: &tempfile::TempDir, cf: &str, key: &[u8]) -> Option<Vec<u8>> {
    let db = raw(dir);
    db.get_cf(db.cf_handle(cf).unwrap(), key).unwrap()
}

/// What the raw store holds of row `key` of `partition`: whether its record
/// exists, how many cells it has, how many insertion-order entries name it.
fn remains(dir: &tempfile::TempDir, partition: &str, key: &str) -> (bool, usize, usize) {
    let db = raw(dir);
    let record = db
        .get_cf(db.cf_handle(CF_ROWS).unwrap(), row_key(partition, key))
        .unwrap()
        .is_some();
    let prefix = row_key(partition, key);
    let cells = db
        .prefix_iterator_cf(db.cf_handle(CF_CELLS).unwrap(), &prefix)
        .map(Result::unwrap)
        .take_while(|(k, _)| k.starts_with(&prefix))
        .count();
    let prefix = partition_prefix(partition);
    let order = db
        .prefix_iterator_cf(db.cf_handle(CF_ORDER).unwrap(), &prefix)
        .map(Result::unwrap)
        .take_while(|(k, _)| k.starts_with(&prefix))
        .filter(|(_, v)| **v == *key.as_bytes())
        .count();
    (record, cells, order)
}

async fn open(dir: &tempfile::TempDir) -> KvStore {
    let backend = RocksDbBackend::open(RocksDbConfig::new(dir.path()))
        .await
        .unwrap();
    KvStore::new(Arc::new(backend))
}

fn row() -> Row {
    Row::new()
        .with("x", Tensor::from_vec(vec![1.0f32, 2.0], [2]).unwrap())
        .with("s", "text")
        .with("j", serde_json::json!({"a": [1, 2]}))
}

/// Rows `a` and `b` in partition `p`, `c` in `q`, each with three cells.
async fn three_rows(dir: &tempfile::TempDir) {
    let kv = open(dir).await;
    for (key, p) in [("a", "p"), ("b", "p"), ("c", "q")] {
        kv.kv_put(key, p, Some(row()), Some(tag! {"status" => key}))
            .await
            .unwrap();
    }
}

/// `Corrupted`, permanent, naming `key` (and `partition` when given).
fn corrupted<T: std::fmt::Debug>(result: tq_core::Result<T>, key: &str, partition: Option<&str>) {
    let err: Error = result.expect_err("expected a Corrupted error");
    assert_eq!(err.kind(), ErrorKind::Corrupted, "{err}");
    assert!(!err.is_temporary(), "{err}");
    assert_eq!(err.context_value("key"), Some(key), "{err}");
    if let Some(p) = partition {
        assert_eq!(err.context_value("partition"), Some(p), "{err}");
    }
}

fn keys_of(listing: &tq_core::Listing, p: &str) -> Vec<String> {
    listing
        .get(p)
        .map(|rows| rows.keys().cloned().collect())
        .unwrap_or_default()
}

/// Everything outside row `a` works; row `a` is `Corrupted` wherever it is
/// read. `list_p_fails`: whether the listing of `p` needs the bad bytes.
async fn check_contained(kv: &KvStore, list_p_fails: bool) {
    corrupted(
        kv.kv_batch_get(&["b", "a"], "p", None).await,
        "a",
        Some("p"),
    );
    corrupted(
        kv.kv_batch_get(&["a"], "p", Some(&["j"])).await,
        "a",
        Some("p"),
    );
    let b = kv.kv_batch_get(&["b"], "p", None).await.unwrap();
    assert_eq!(b.non_tensor("s").unwrap(), [NonTensor::from("text")]);
    kv.kv_batch_get(&["c"], "q", None).await.unwrap();
    assert_eq!(keys_of(&kv.kv_list(Some("q")).await.unwrap(), "q"), ["c"]);
    if list_p_fails {
        corrupted(kv.kv_list(Some("p")).await, "a", Some("p"));
        corrupted(kv.kv_list(None).await, "a", Some("p"));
    } else {
        assert_eq!(
            keys_of(&kv.kv_list(Some("p")).await.unwrap(), "p"),
            ["a", "b"]
        );
        assert_eq!(kv.kv_list(None).await.unwrap().len(), 2);
    }
}

/// Clears `a`, which must work, and checks the store is whole again.
async fn clear_and_check_healed(dir: &tempfile::TempDir, kv: KvStore) {
    assert_eq!(kv.kv_clear(&["a", "ghost"], "p", None).await.unwrap(), 1);
    assert_eq!(
        kv.kv_clear(&["a"], "p", None).await.unwrap(),
        0,
        "cleared twice"
    );
    assert_eq!(keys_of(&kv.kv_list(Some("p")).await.unwrap(), "p"), ["b"]);
    assert_eq!(kv.kv_list(None).await.unwrap().len(), 2);
    kv.kv_put("a", "p", Some(Row::new().with("s", "new")), None)
        .await
        .unwrap();
    let a = kv.kv_batch_get(&["a"], "p", None).await.unwrap();
    assert_eq!(
        a.field_names().collect::<Vec<_>>(),
        ["s"],
        "no old cell came back"
    );
    assert_eq!(a.non_tensor("s").unwrap(), [NonTensor::from("new")]);
    let listing = kv.kv_list(None).await.unwrap();
    assert_eq!(keys_of(&listing, "p"), ["b", "a"]);
    assert_eq!(listing["p"]["a"], Tag::new(), "no old tag came back");
    drop(kv);
    // Exactly the new row is left: one cell, one insertion-order entry.
    assert_eq!(remains(dir, "p", "a"), (true, 1, 1));
}

/// A tag nested `levels` deep in all (the tag object included), as an
/// older build could store it: past what the JSON parser reads.
fn too_deep_tag_json(levels: usize) -> Vec<u8> {
    let mut text = String::from("{\"e\":");
    text.push_str(&"[".repeat(levels - 1));
    text.push_str(&"]".repeat(levels - 1));
    text.push('}');
    text.into_bytes()
}

#[tokio::test]
async fn any_bytes_in_a_row_record_are_contained_and_the_row_clears() {
    // The record of row "a" as written: version 2, sequence number, write
    // count, field count, fields, tag.
    let dir = tempfile::tempdir().unwrap();
    three_rows(&dir).await;
    let good = peek(&dir, CF_ROWS, &row_key("p", "a")).unwrap();
    let tag_at = good.len() - br#"{"status":"a"}"#.len();
    let head = &good[..tag_at];
    let mut variants: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("version only", vec![1]),
        ("garbage", b"\xff\x00garbage\x13\x37".to_vec()),
        ("newer version", [&[3u8][..], &good[1..]].concat()),
        ("truncated head", good[..11].to_vec()),
        ("truncated tag", good[..good.len() - 3].to_vec()),
        ("tag not JSON", [head, b"\xffnot json"].concat()),
        ("tag not an object", [head, b"[1, 2]"].concat()),
        ("no tag", head.to_vec()),
        (
            "tag too deep to parse",
            [head, &too_deep_tag_json(200)].concat(),
        ),
        (
            "tag a million levels deep",
            [head, &too_deep_tag_json(1_000_000)].concat(),
        ),
    ];
    let mut huge_count = good.clone();
    huge_count[17..21].copy_from_slice(&u32::MAX.to_be_bytes());
    variants.push(("huge field count", huge_count));
    for (what, bytes) in variants {
        let dir = tempfile::tempdir().unwrap();
        three_rows(&dir).await;
        poke(&dir, CF_ROWS, &row_key("p", "a"), &bytes);
        let kv = open(&dir).await;
        eprintln!("variant: {what}");
        check_contained(&kv, true).await;
        corrupted(
            kv.kv_put("a", "p", None, Some(tag! {"n" => 1})).await,
            "a",
            Some("p"),
        );
        corrupted(kv.kv_put("a", "p", Some(row()), None).await, "a", Some("p"));
        clear_and_check_healed(&dir, kv).await;
    }
}

#[tokio::test]
async fn corrupted_cells_are_contained_and_the_row_clears() {
    let dir = tempfile::tempdir().unwrap();
    three_rows(&dir).await;
    for (field, garbage) in [
        ("x", &b""[..]),
        ("s", b"\xff\xff\xff"),
        ("j", b"\x07\0\0\0\0\0\0\0{"),
    ] {
        poke(&dir, CF_CELLS, &cell_key("p", "a", field), garbage);
    }
    let kv = open(&dir).await;
    check_contained(&kv, false).await;
    // A put replacing one cell works (it does not read cells); the others
    // stay bad.
    kv.kv_put(
        "a",
        "p",
        Some(Row::new().with("s", "fixed")),
        Some(tag! {"n" => 1}),
    )
    .await
    .unwrap();
    corrupted(kv.kv_batch_get(&["a"], "p", None).await, "a", Some("p"));
    clear_and_check_healed(&dir, kv).await;
}

#[tokio::test]
async fn a_record_naming_another_rows_sequence_number_does_not_clear_that_rows_order_entry() {
    // Row "a"'s record replaced by row "b"'s: it decodes, but names b's
    // insertion-order entry. A clear of "a" must remove a's entry, not b's.
    let dir = tempfile::tempdir().unwrap();
    three_rows(&dir).await;
    let b = peek(&dir, CF_ROWS, &row_key("p", "b")).unwrap();
    poke(&dir, CF_ROWS, &row_key("p", "a"), &b);
    let kv = open(&dir).await;
    corrupted(kv.kv_list(Some("p")).await, "a", Some("p"));
    clear_and_check_healed(&dir, kv).await;
    assert_eq!(remains(&dir, "p", "b"), (true, 3, 1));
}

#[tokio::test]
async fn one_clear_removes_good_and_bad_rows_together() {
    let dir = tempfile::tempdir().unwrap();
    three_rows(&dir).await;
    poke(&dir, CF_ROWS, &row_key("p", "a"), b"garbage");
    let kv = open(&dir).await;
    kv.kv_put("d", "p", None, Some(tag! {})).await.unwrap();
    assert_eq!(kv.kv_clear(&["d", "a", "b"], "p", None).await.unwrap(), 3);
    assert!(kv.kv_list(Some("p")).await.unwrap().is_empty());
    assert_eq!(keys_of(&kv.kv_list(None).await.unwrap(), "q"), ["c"]);
    drop(kv);
    for key in ["a", "b", "d"] {
        assert_eq!(remains(&dir, "p", key), (false, 0, 0), "row {key}");
    }
    assert_eq!(remains(&dir, "q", "c"), (true, 3, 1));
}

#[tokio::test]
async fn a_json_cell_too_deep_to_parse_is_corrupted_and_clears() {
    // As an older build could store it: a JSON cell nested 200 levels.
    let dir = tempfile::tempdir().unwrap();
    three_rows(&dir).await;
    let mut cell = tq_core::codec::encode(&Value::from(serde_json::json!(null)));
    cell.truncate(cell.len() - 4);
    cell.extend_from_slice("[".repeat(200).as_bytes());
    cell.extend_from_slice("]".repeat(200).as_bytes());
    poke(&dir, CF_CELLS, &cell_key("p", "a", "j"), &cell);
    let kv = open(&dir).await;
    check_contained(&kv, false).await;
    clear_and_check_healed(&dir, kv).await;
}
