//! The `[checkpoint]` table: object_store settings for checkpoint URLs,
//! whose values (credentials) no `Debug` output or error may show. The
//! settings used are S3's: needs the facade's `s3` feature.
#![cfg(feature = "s3")]

use tq_facade::{CheckpointSettings, Config, ErrorKind, LoadOptions, TransferQueue};

mod secret_text;
use secret_text::{SECRET, all_text};

fn assert_no_secret(err: &tq_facade::Error) {
    assert!(
        !all_text(err).contains(SECRET),
        "the secret leaked: {}",
        all_text(err)
    );
}

fn table(settings: &str) -> String {
    format!("backend = \"memory\"\n[checkpoint]\n{settings}")
}

#[test]
fn checkpoint_table_sets_the_settings_and_debug_shows_names_only() {
    let config = Config::from_toml_str(&table(&format!(
        "aws_endpoint = \"http://127.0.0.1:9000\"\naws_region = \"us-east-1\"\n\
         aws_access_key_id = \"{SECRET}\"\naws_secret_access_key = \"{SECRET}\"\nallow_http = true\n"
    )))
    .unwrap();
    let names: Vec<&str> = config.checkpoint_settings().names().collect();
    assert_eq!(
        names,
        [
            "allow_http",
            "aws_access_key_id",
            "aws_endpoint",
            "aws_region",
            "aws_secret_access_key"
        ]
    );
    let debug = format!("{config:?}");
    assert!(!debug.contains(SECRET), "{debug}");
    assert!(debug.contains("aws_secret_access_key"), "{debug}");
    let settings = format!("{:?}", config.checkpoint_settings());
    assert!(!settings.contains(SECRET), "{settings}");
}

#[test]
fn checkpoint_unknown_or_mistyped_setting_is_refused_naming_it_only() {
    let err =
        Config::from_toml_str(&table(&format!("aws_secert_key = \"{SECRET}\"\n"))).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert_eq!(
        err.context_value("setting"),
        Some("checkpoint.aws_secert_key")
    );
    assert_no_secret(&err);

    let err = Config::from_toml_str(&table(&format!("aws_secret_access_key = [\"{SECRET}\"]\n")))
        .unwrap_err();
    assert_eq!(
        err.context_value("setting"),
        Some("checkpoint.aws_secret_access_key")
    );
    assert_no_secret(&err);

    let err = Config::from_toml_str("[checkpoint]\naws_region = 1.5\n").unwrap_err();
    assert!(err.to_string().contains("checkpoint.aws_region"), "{err}");
}

#[test]
fn checkpoint_syntax_error_on_a_credential_line_does_not_echo_it() {
    for line in [
        format!("aws_secret_access_key = {SECRET}\n"),
        format!("aws_access_key_id = \"{SECRET}\" oops\n"),
    ] {
        let err = Config::from_toml_str(&table(&line)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{err}");
        assert_no_secret(&err);
    }
}

#[tokio::test]
async fn checkpoint_store_refusing_its_settings_does_not_echo_them() {
    // An invalid boolean makes object_store's builder fail with a message
    // quoting the value.
    let settings = CheckpointSettings::new()
        .with("aws_secret_access_key", SECRET)
        .unwrap()
        .with("aws_access_key_id", SECRET)
        .unwrap()
        .with("aws_allow_http", SECRET)
        .unwrap();
    let tq = TransferQueue::open(Config::default())
        .await
        .unwrap()
        .with_checkpoint_settings(settings);
    assert!(!format!("{tq:?}").contains(SECRET));
    let url = format!("s3://bucket-{SECRET}/prefix");
    let err = tq.save_checkpoint(&url, None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert_no_secret(&err);
    let err = tq
        .load_checkpoint_with(&url, &LoadOptions::default())
        .await
        .unwrap_err();
    assert_no_secret(&err);
}

#[tokio::test]
async fn checkpoint_settings_are_ignored_by_file_urls() {
    let config = Config::from_toml_str(&table("aws_region = \"us-east-1\"\n")).unwrap();
    let tq = TransferQueue::open(config).await.unwrap();
    tq.kv_put("k", "p", None, Some(tq_facade::tag! {"a" => 1}))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().display());
    tq.save_checkpoint(&url, None).await.unwrap();
    let other = TransferQueue::open(Config::default()).await.unwrap();
    other.load_checkpoint(&url).await.unwrap();
    assert_eq!(
        other.kv_list(None).await.unwrap(),
        tq.kv_list(None).await.unwrap()
    );
}
