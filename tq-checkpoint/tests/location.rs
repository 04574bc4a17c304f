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
