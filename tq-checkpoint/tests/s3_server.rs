//! Checkpoints through a real S3 API: an `s3s-fs` server that each test
//! starts on 127.0.0.1 and stops (common/s3_server.rs), signed requests,
//! multipart uploads. The stores saved and loaded are memory stores.
#![cfg(feature = "s3")]

mod common;
#[path = "common/s3_server.rs"]
mod s3;

use common::{data_objects, dump, fill, flip_a_bit, memory_store};
use s3::S3Server;
use tq_checkpoint::object_store::ObjectStoreExt;
use tq_checkpoint::{LoadOptions, Location, SaveOptions, load, read_manifest, save, save_with};
use tq_core::{ErrorKind, Row, Tensor};

async fn round_trip(location: &Location, options: &SaveOptions) {
    let source = memory_store();
    fill(&source).await;
    let manifest = save_with(&source, location, options).await.unwrap();
    assert_eq!(read_manifest(location).await.unwrap(), manifest);
    let target = memory_store();
    load(&target, location, &LoadOptions::default())
        .await
        .unwrap();
    assert_eq!(dump(&target).await, dump(&source).await);
}

#[tokio::test]
async fn s3_server_round_trip_every_partition() {
    let server = S3Server::start();
    round_trip(&server.location("ckpt/step-1"), &SaveOptions::default()).await;
}

#[tokio::test]
async fn s3_server_round_trip_across_many_objects() {
    let server = S3Server::start();
    let options = SaveOptions::default()
        .with_object_bytes(100)
        .with_rows_per_read(3);
    round_trip(&server.location("ckpt/many"), &options).await;
}

#[tokio::test]
async fn s3_server_round_trip_by_s3_url() {
    let server = S3Server::start();
    let url = format!("s3://{}/ckpt/by-url", s3::BUCKET);
    let location = Location::from_url_with(&url, server.url_options()).unwrap();
    assert_eq!(location.prefix().as_ref(), "ckpt/by-url");
    round_trip(&location, &SaveOptions::default()).await;
}

/// Saves the fixture in several objects per partition.
async fn saved(location: &Location) {
    let source = memory_store();
    fill(&source).await;
    let options = SaveOptions::default().with_object_bytes(100);
    save_with(&source, location, &options).await.unwrap();
}

#[tokio::test]
async fn s3_server_missing_object_is_refused_and_writes_nothing() {
    let server = S3Server::start();
    let location = server.location("ckpt/missing");
    saved(&location).await;
    let objects = data_objects(&location).await;
    let victim = &objects[objects.len() - 1];
    location.store().delete(victim).await.unwrap();

    let target = memory_store();
    let err = load(&target, &location, &LoadOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert_eq!(err.context_value("object"), Some(victim.as_ref()), "{err}");
    assert!(dump(&target).await.is_empty(), "a refused load wrote rows");
}

#[tokio::test]
async fn s3_server_bit_flipped_object_is_refused() {
    let server = S3Server::start();
    let location = server.location("ckpt/flipped");
    saved(&location).await;
    let objects = data_objects(&location).await;
    // The last object: the partitions before it verify, then this one fails.
    let victim = &objects[objects.len() - 1];
    flip_a_bit(&location, victim).await;

    let target = memory_store();
    let err = load(&target, &location, &LoadOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupted, "{err}");
    assert_eq!(err.context_value("object"), Some(victim.as_ref()), "{err}");
    assert!(dump(&target).await.is_empty(), "a refused load wrote rows");
}

#[tokio::test]
async fn s3_server_multipart_upload_of_a_large_object() {
    const MIB: usize = 1 << 20;
    let server = S3Server::start();
    let location = server.location("ckpt/large");
    // 6 rows of 4 MiB in one object, 5 MiB parts (S3's smallest but the
    // last): at least 4 parts.
    let source = memory_store();
    for i in 0..6u8 {
        let values: Vec<u8> = (0..4 * MIB).map(|j| (j as u8) ^ i).collect();
        let row = Row::new().with("w", Tensor::from_vec(values, [4 * MIB]).unwrap());
        source
            .kv_put(&format!("row-{i}"), "weights", Some(row), None)
            .await
            .unwrap();
    }
    let options = SaveOptions::default().with_part_bytes(5 * MIB);
    let manifest = save_with(&source, &location, &options).await.unwrap();
    let objects = &manifest.partition("weights").unwrap().objects;
    assert_eq!(objects.len(), 1, "{manifest:?}");
    assert!(objects[0].bytes > 24 * MIB as u64, "{manifest:?}");
    let parts = server.parts();
    assert!(parts >= 4, "{parts} parts for {} bytes", objects[0].bytes);

    let target = memory_store();
    load(&target, &location, &LoadOptions::default())
        .await
        .unwrap();
    assert_eq!(dump(&target).await, dump(&source).await);
}

#[tokio::test]
async fn s3_server_wrong_secret_is_a_config_error_without_the_secret() {
    let server = S3Server::start();
    let wrong = "not-the-secret-0123456789";
    let options = server
        .url_options()
        .into_iter()
        .map(|(k, v)| match k.as_str() {
            "aws_secret_access_key" => (k, wrong.to_owned()),
            _ => (k, v),
        });
    let url = format!("s3://{}/ckpt/denied", s3::BUCKET);
    let location = Location::from_url_with(&url, options).unwrap();
    let source = memory_store();
    fill(&source).await;
    let err = save(&source, &location, None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(!err.is_temporary(), "{err}");
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(wrong), "the secret leaked: {shown}");
}

#[tokio::test]
async fn s3_server_save_killed_midway_leaves_the_earlier_checkpoint() {
    const MIB: usize = 1 << 20;
    let server = S3Server::start();
    let location = server.location("ckpt/killed");
    let small = memory_store();
    fill(&small).await;
    save(&small, &location, None).await.unwrap();

    // A second save to the same prefix, of a 24 MiB partition in 5 MiB
    // parts, dropped (as a killed process stops) once its first part is in.
    let large = memory_store();
    for i in 0..6u8 {
        let values = vec![i; 4 * MIB];
        let row = Row::new().with("w", Tensor::from_vec(values, [4 * MIB]).unwrap());
        large
            .kv_put(&format!("row-{i}"), "weights", Some(row), None)
            .await
            .unwrap();
    }
    // Over the first checkpoint on purpose (a save there is refused unless
    // it may overwrite).
    let options = SaveOptions::default()
        .with_part_bytes(5 * MIB)
        .with_overwrite(true);
    let parts_before = server.parts();
    let killed = tokio::select! {
        done = save_with(&large, &location, &options) => Some(done),
        () = async {
            while server.parts() == parts_before {
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
        } => None,
    };
    assert!(
        killed.is_none(),
        "the save finished before its first part was in"
    );

    // The manifest is still the first save's: loading gives its rows.
    let target = memory_store();
    load(&target, &location, &LoadOptions::default())
        .await
        .unwrap();
    assert_eq!(dump(&target).await, dump(&small).await);
}
