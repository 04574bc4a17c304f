//! S2: a checkpoint whose objects match their checksums but hold rows a
//! store could not have written (hand-made here, as a third-party writer
//! might) is refused, naming the object and key, before anything is written.

mod common;

use common::{dump, memory_location, memory_store};
use tq_checkpoint::object_store::{ObjectStoreExt, PutPayload};
use tq_checkpoint::{LoadOptions, Location, Manifest, ObjectEntry, PartitionEntry, load};
use tq_core::ErrorKind;

/// One record: key, tag JSON, no cells (docs/CHECKPOINT_FORMAT.md).
fn record(key: &str, tag: &str) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(key.len() as u32).to_le_bytes());
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(&(tag.len() as u32).to_le_bytes());
    out.extend_from_slice(tag.as_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out
}

/// Writes a one-partition checkpoint of `records` by hand.
async fn hand_made(location: &Location, records: &[Vec<u8>]) -> String {
    let mut object = b"TQCKROW1".to_vec();
    for r in records {
        object.extend_from_slice(r);
    }
    let relative = "0123456789abcdef0123456789abcdef/00000-000000.rows".to_owned();
    let manifest = Manifest {
        format: "tq-checkpoint".into(),
        version: 1,
        codec_version: 1,
        checkpoint_id: "0123456789abcdef0123456789abcdef".into(),
        partitions: vec![PartitionEntry {
            name: "train".into(),
            keys: records.len() as u64,
            objects: vec![ObjectEntry {
                path: relative.clone(),
                bytes: object.len() as u64,
                rows: records.len() as u64,
                crc32c: format!("{:08x}", crc32c::crc32c(&object)),
            }],
            consistent: true,
        }],
    };
    let store = location.store();
    store
        .put(&location.object(&relative), PutPayload::from(object))
        .await
        .unwrap();
    store
        .put(&location.manifest(), PutPayload::from(manifest.to_json()))
        .await
        .unwrap();
    location.object(&relative).to_string()
}

async fn refused(records: &[Vec<u8>], key: &str) {
    let location = memory_location();
    let object = hand_made(&location, records).await;
    let target = memory_store();
    let err = load(&target, &location, &LoadOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupted, "{err}");
    assert_eq!(err.context_value("key"), Some(key), "{err}");
    assert_eq!(err.context_value("object"), Some(object.as_str()), "{err}");
    assert!(dump(&target).await.is_empty(), "a refused load wrote rows");
}

#[tokio::test]
async fn s2_hand_made_checkpoint_loads() {
    let location = memory_location();
    hand_made(&location, &[record("b", "{}"), record("a", r#"{"s":1}"#)]).await;
    let target = memory_store();
    load(&target, &location, &LoadOptions::default())
        .await
        .unwrap();
    let listing = target.kv_list(Some("train")).await.unwrap();
    let keys: Vec<&String> = listing["train"].keys().collect();
    assert_eq!(keys, ["b", "a"]);
}

#[tokio::test]
async fn s2_repeated_key_is_refused_and_writes_nothing() {
    refused(
        &[record("a", "{}"), record("b", "{}"), record("a", "{}")],
        "a",
    )
    .await;
}

#[tokio::test]
async fn s2_empty_key_is_refused_and_writes_nothing() {
    refused(&[record("a", "{}"), record("", "{}")], "").await;
}

#[tokio::test]
async fn s2_tag_that_is_not_an_object_is_refused_and_writes_nothing() {
    refused(&[record("a", "{}"), record("b", "[1]")], "b").await;
}
