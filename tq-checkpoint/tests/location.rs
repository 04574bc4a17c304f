//! Checkpoint URLs may carry credentials: no error and no `Debug` output
//! repeats them.

use tq_checkpoint::Location;
use tq_core::ErrorKind;

const SECRET: &str = "hunter2-secret";

#[test]
fn location_errors_never_repeat_the_url() {
    for url in [
        format!("s3://AKIA:{SECRET}@bucket/ckpt"),
        format!("https://user:{SECRET}@example.invalid/ckpt"),
        format!("nonsense:{SECRET}"),
        format!("://{SECRET}"),
    ] {
        let err = match Location::from_url(&url) {
            // With the `s3` feature an s3 URL opens: only Debug can show it.
            Ok(location) if url.starts_with("s3:") => {
                let shown = format!("{location:?}");
                assert!(!shown.contains(SECRET), "{url} leaked: {shown}");
                continue;
            }
            Ok(location) => panic!("{location:?} opened"),
            Err(err) => err,
        };
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(SECRET), "{url} leaked: {shown}");
    }
}

#[test]
fn location_file_url_gives_its_path_as_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}/ckpt", dir.path().display());
    let location = Location::from_url(&url).unwrap();
    assert!(location.prefix().as_ref().ends_with("ckpt"), "{location:?}");
    assert_eq!(
        location.manifest().as_ref(),
        format!("{}/manifest.json", location.prefix().as_ref())
    );
}

#[tokio::test]
async fn location_memory_urls_share_one_store_per_process() {
    use object_store::{ObjectStoreExt, PutPayload};
    let first = Location::from_url("memory:///shared/ckpt").unwrap();
    let path = first.object("probe");
    first
        .store()
        .put(&path, PutPayload::from_static(b"saved"))
        .await
        .unwrap();
    // A second URL of the same prefix, parsed later, sees the object.
    let second = Location::from_url("memory:///shared/ckpt").unwrap();
    assert_eq!(second.object("probe"), path);
    let got = second
        .store()
        .get(&path)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(&got[..], b"saved");
}

// The cloud schemes are the crate's default features; without them their
// URLs are refused (is_store_setting knows none of their names).
#[cfg(all(feature = "s3", feature = "gcp", feature = "azure"))]
#[test]
fn location_cloud_schemes_open_with_their_settings() {
    for (url, settings) in [
        (
            "s3://bucket/ckpt",
            vec![
                ("aws_region", "us-east-1"),
                ("aws_access_key_id", "k"),
                ("aws_secret_access_key", "s"),
            ],
        ),
        (
            "gs://bucket/ckpt",
            vec![
                ("google_bearer_token", "t"),
                ("google_base_url", "http://127.0.0.1:1"),
            ],
        ),
        (
            "az://container/ckpt",
            vec![
                ("azure_storage_account_name", "acct"),
                ("azure_storage_account_key", "a2V5"),
            ],
        ),
    ] {
        for (name, _) in &settings {
            assert!(tq_checkpoint::is_store_setting(name), "{name}");
        }
        let location =
            Location::from_url_with(url, settings).unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!(location.prefix().as_ref(), "ckpt", "{url}");
    }
    for name in [
        "aws_regoin",
        "google_bucket_nam",
        "azure_acount",
        "password",
    ] {
        assert!(!tq_checkpoint::is_store_setting(name), "{name}");
    }
}
