//! S2: a checkpoint is complete or absent. A load refuses a partial or
//! damaged checkpoint with a named error, having written nothing; it
//! refuses to load over data unless asked to replace it.

mod common;

use common::{data_objects, dump, file_location, fill, flip_a_bit, memory_location, memory_store};
use tq_checkpoint::object_store::ObjectStoreExt;
use tq_checkpoint::{LoadOptions, Location, SaveOptions, load, save_with};
use tq_core::{ErrorKind, Row, Tensor, tag};

/// Saves the fixture in several objects per partition.
async fn saved(location: &Location) {
    let source = memory_store();
    fill(&source).await;
    save_with(
        &source,
        location,
        &SaveOptions::default().with_object_bytes(100),
    )
    .await
    .unwrap();
}

async fn missing_object(location: &Location) {
    saved(location).await;
    let objects = data_objects(location).await;
    let victim = &objects[objects.len() - 1];
    location.store().delete(victim).await.unwrap();

    let target = memory_store();
    let err = load(&target, location, &LoadOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert_eq!(err.context_value("object"), Some(victim.as_ref()), "{err}");
    assert!(dump(&target).await.is_empty(), "a refused load wrote rows");
}

#[tokio::test]
async fn s2_missing_object_is_refused_and_writes_nothing() {
    missing_object(&memory_location()).await;
    let (_dir, location) = file_location();
    missing_object(&location).await;
}

async fn bit_flipped(location: &Location) {
    saved(location).await;
    let objects = data_objects(location).await;
    // The last object: the partitions before it verify, then this one fails.
    let victim = &objects[objects.len() - 1];
    flip_a_bit(location, victim).await;

    let target = memory_store();
    let err = load(&target, location, &LoadOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupted, "{err}");
    assert_eq!(err.context_value("object"), Some(victim.as_ref()), "{err}");
    assert!(dump(&target).await.is_empty(), "a refused load wrote rows");
}

#[tokio::test]
async fn s2_bit_flipped_object_is_refused_and_writes_nothing() {
    bit_flipped(&memory_location()).await;
    let (_dir, location) = file_location();
    bit_flipped(&location).await;
}

#[tokio::test]
async fn s2_truncated_object_is_refused_and_writes_nothing() {
    let location = memory_location();
    saved(&location).await;
    let objects = data_objects(&location).await;
    let victim = &objects[0];
    let bytes = location
        .store()
        .get(victim)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    location
        .store()
        .put(victim, bytes.slice(..bytes.len() - 1).into())
        .await
        .unwrap();

    let target = memory_store();
    let err = load(&target, &location, &LoadOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupted, "{err}");
    assert_eq!(err.context_value("object"), Some(victim.as_ref()), "{err}");
    assert!(dump(&target).await.is_empty());
}

async fn no_manifest(location: &Location) {
    saved(location).await;
    location.store().delete(&location.manifest()).await.unwrap();

    let target = memory_store();
    let err = load(&target, location, &LoadOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(err.to_string().contains("manifest.json"), "{err}");
    assert!(dump(&target).await.is_empty());
}

#[tokio::test]
async fn s2_no_manifest_is_refused() {
    no_manifest(&memory_location()).await;
    let (_dir, location) = file_location();
    no_manifest(&location).await;
}

#[tokio::test]
async fn s2_non_empty_target_is_refused_unless_replace() {
    let location = memory_location();
    let source = memory_store();
    fill(&source).await;
    save_with(&source, &location, &SaveOptions::default())
        .await
        .unwrap();

    let target = memory_store();
    let old = Row::new().with("old", Tensor::from_vec(vec![1u8], [1]).unwrap());
    target
        .kv_put("old-key", "eval", Some(old), Some(tag! {"old" => true}))
        .await
        .unwrap();
    let before = dump(&target).await;

    let err = load(&target, &location, &LoadOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert_eq!(err.context_value("partition"), Some("eval"), "{err}");
    assert_eq!(dump(&target).await, before, "a refused load wrote rows");

    load(
        &target,
        &location,
        &LoadOptions::default().with_replace(true),
    )
    .await
    .unwrap();
    assert_eq!(
        dump(&target).await,
        dump(&source).await,
        "replace keeps no old row"
    );
}

#[tokio::test]
async fn s4_another_format_version_is_refused() {
    let location = memory_location();
    saved(&location).await;
    let path = location.manifest();
    let bytes = location
        .store()
        .get(&path)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    let newer = text.replacen("\"version\": 1", "\"version\": 2", 1);
    assert_ne!(newer, text);
    location
        .store()
        .put(&path, newer.into_bytes().into())
        .await
        .unwrap();

    let target = memory_store();
    let err = load(&target, &location, &LoadOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
    assert!(err.to_string().contains("version 2"), "{err}");
    assert!(dump(&target).await.is_empty());
}
