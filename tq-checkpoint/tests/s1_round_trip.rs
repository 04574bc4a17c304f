//! S1: what a save writes, a load restores exactly: rows, fields, tags, key
//! order, dtypes and shapes, over `memory://` and `file://` stores.

mod common;

use common::{dump, file_location, fill, memory_location, memory_store};
use tq_checkpoint::{LoadOptions, Location, SaveOptions, load, read_manifest, save, save_with};

async fn round_trip_all(location: &Location) {
    let source = memory_store();
    fill(&source).await;
    let manifest = save(&source, location, None).await.unwrap();
    assert_eq!(
        manifest
            .partitions
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>(),
        ["eval", "odd/partition:{x} ü", "train"]
    );
    assert_eq!(read_manifest(location).await.unwrap(), manifest);

    let target = memory_store();
    load(&target, location, &LoadOptions::default())
        .await
        .unwrap();
    assert_eq!(dump(&target).await, dump(&source).await);
}

#[tokio::test]
async fn s1_round_trip_every_partition_memory() {
    round_trip_all(&memory_location()).await;
}

#[tokio::test]
async fn s1_round_trip_every_partition_file() {
    let (_dir, location) = file_location();
    round_trip_all(&location).await;
}

async fn round_trip_subset(location: &Location) {
    let source = memory_store();
    fill(&source).await;
    let manifest = save(&source, location, Some(&["train", "eval"]))
        .await
        .unwrap();
    assert_eq!(manifest.partitions.len(), 2);

    // Load one of the two saved partitions only.
    let target = memory_store();
    load(
        &target,
        location,
        &LoadOptions::default().with_partitions(&["eval"]),
    )
    .await
    .unwrap();
    let want: Vec<_> = dump(&source)
        .await
        .into_iter()
        .filter(|(p, _)| p == "eval")
        .collect();
    assert_eq!(dump(&target).await, want);
}

#[tokio::test]
async fn s1_round_trip_partition_subset_memory() {
    round_trip_subset(&memory_location()).await;
}

#[tokio::test]
async fn s1_round_trip_partition_subset_file() {
    let (_dir, location) = file_location();
    round_trip_subset(&location).await;
}

async fn round_trip_many_objects(location: &Location) {
    let source = memory_store();
    fill(&source).await;
    // Tiny objects and reads of 3 rows: many objects per partition, key
    // order kept across them.
    let options = SaveOptions::default()
        .with_object_bytes(100)
        .with_rows_per_read(3);
    let manifest = save_with(&source, location, &options).await.unwrap();
    let train = manifest.partition("train").unwrap();
    assert!(train.objects.len() > 3, "{train:?}");
    assert_eq!(
        train.objects.iter().map(|o| o.rows).sum::<u64>(),
        train.keys
    );

    let target = memory_store();
    load(&target, location, &LoadOptions::default())
        .await
        .unwrap();
    assert_eq!(dump(&target).await, dump(&source).await);
}

#[tokio::test]
async fn s1_round_trip_across_many_objects_memory() {
    round_trip_many_objects(&memory_location()).await;
}

#[tokio::test]
async fn s1_round_trip_across_many_objects_file() {
    let (_dir, location) = file_location();
    round_trip_many_objects(&location).await;
}

#[tokio::test]
async fn s1_saving_a_partition_without_keys_is_not_found() {
    let source = memory_store();
    fill(&source).await;
    let err = save(&source, &memory_location(), Some(&["nope"]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), tq_core::ErrorKind::NotFound, "{err}");
    assert_eq!(err.context_value("partition"), Some("nope"));
}

#[tokio::test]
async fn s1_saving_an_empty_or_repeated_partition_list_is_invalid() {
    let source = memory_store();
    fill(&source).await;
    let location = memory_location();
    for names in [&[][..], &["eval", "eval"][..]] {
        let err = save(&source, &location, Some(names)).await.unwrap_err();
        assert_eq!(err.kind(), tq_core::ErrorKind::InvalidArgument, "{err}");
    }
    assert!(
        read_manifest(&location).await.is_err(),
        "no checkpoint was written"
    );
}
