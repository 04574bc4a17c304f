//! One bad row does not take the store down: with a row's cells or tag
//! overwritten with garbage behind the backend's back
//! (`support::corrupt::corrupt_row`), a get of that row is `Corrupted` naming its
//! partition and key, other rows and partitions read and list as before,
//! a list of the partition holding a corrupted tag is `Corrupted` naming
//! the key, and clearing the bad row brings everything back.

mod support;

use std::sync::Arc;

use bytes::Bytes;
use support::corrupt::{Corruption, corrupt_row};
use tq_backend_redis::{RedisBackend, RedisConfig};
use tq_core::{ErrorKind, KvStore, NonTensor, Row, Tensor, tag};

fn assert_corrupted(err: &tq_core::Error, partition: &str, key: &str) {
    assert_eq!(err.kind(), ErrorKind::Corrupted, "{err}");
    assert!(!err.is_temporary(), "{err}");
    assert_eq!(err.context_value("partition"), Some(partition), "{err}");
    assert_eq!(err.context_value("key"), Some(key), "{err}");
}

async fn one_bad_row(config: RedisConfig) {
    let kv = KvStore::new(Arc::new(RedisBackend::open(config.clone()).await.unwrap()));
    let row = || {
        Row::new()
            .with("x", Tensor::from_vec_1d(vec![1i64, 2, 3]))
            .with("s", "text")
            .with("b", Bytes::from_static(b"raw"))
            .with("j", NonTensor::Json(serde_json::json!({"a": [1, 2]})))
    };
    // Tricky names: the helper must find the same row the backend wrote.
    let (p, q) = ("p:{1}", "q");
    let bad = "bad/{x}:é";
    for key in ["good", bad, "bad-tag"] {
        kv.kv_put(
            key,
            p,
            Some(row()),
            Some(tag! {"status" => "new", "n" => 1}),
        )
        .await
        .unwrap();
    }
    kv.kv_put("other", q, Some(row()), Some(tag! {"status" => "new"}))
        .await
        .unwrap();
    kv.kv_put(bad, q, Some(row()), None).await.unwrap();

    // Cells of one row.
    corrupt_row(&config, p, bad, Corruption::Cells)
        .await
        .unwrap();
    let err = kv.kv_batch_get(&[bad], p, None).await.unwrap_err();
    assert_corrupted(&err, p, bad);
    let err = kv
        .kv_batch_get(&["good", bad], p, Some(&["s"]))
        .await
        .unwrap_err();
    assert_corrupted(&err, p, bad);
    assert_eq!(
        kv.kv_batch_get(&["good", "bad-tag"], p, None)
            .await
            .unwrap()
            .num_rows(),
        2
    );
    // The same key in another partition is another row.
    assert_eq!(
        kv.kv_batch_get(&[bad], q, None).await.unwrap().num_rows(),
        1
    );
    // Tags are intact, so listings work.
    assert_eq!(kv.kv_list(Some(p)).await.unwrap()[p].len(), 3);
    assert_eq!(kv.kv_list(None).await.unwrap().len(), 2);

    // The tag of another row.
    corrupt_row(&config, p, "bad-tag", Corruption::Tag)
        .await
        .unwrap();
    let err = kv.kv_list(Some(p)).await.unwrap_err();
    assert_corrupted(&err, p, "bad-tag");
    let err = kv.kv_list(None).await.unwrap_err();
    assert_corrupted(&err, p, "bad-tag");
    assert_eq!(kv.kv_list(Some(q)).await.unwrap()[q].len(), 2);
    // Its cells are fine; other rows are fine.
    assert_eq!(
        kv.kv_batch_get(&["bad-tag", "good"], p, None)
            .await
            .unwrap()
            .num_rows(),
        2
    );
    // A put to it is applied, then reports the stored entry it cannot read.
    let err = kv
        .kv_put("bad-tag", p, None, Some(tag! {"status" => "done"}))
        .await
        .unwrap_err();
    assert_corrupted(&err, p, "bad-tag");
    assert!(err.to_string().contains("was written"), "{err}");

    // Clearing the bad rows works and brings everything back.
    assert_eq!(kv.kv_clear(&[bad, "bad-tag"], p, None).await.unwrap(), 2);
    let listing = kv.kv_list(None).await.unwrap();
    assert_eq!(listing[p].keys().collect::<Vec<_>>(), ["good"]);
    assert_eq!(listing[q].len(), 2);
    let err = kv.kv_batch_get(&[bad], p, None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    // Put again, the keys start from empty rows.
    kv.kv_put(bad, p, Some(row()), None).await.unwrap();
    kv.kv_put("bad-tag", p, None, Some(tag! {"n" => 2}))
        .await
        .unwrap();
    let listing = kv.kv_list(Some(p)).await.unwrap();
    assert_eq!(listing[p]["bad-tag"], tag! {"n" => 2});
    assert_eq!(
        kv.kv_batch_get(&[bad], p, None).await.unwrap().num_rows(),
        1
    );

    // A row without tag entries gets a bad one; a missing row is an error.
    kv.kv_put("no-tag", q, Some(row()), None).await.unwrap();
    corrupt_row(&config, q, "no-tag", Corruption::Tag)
        .await
        .unwrap();
    assert_corrupted(&kv.kv_list(Some(q)).await.unwrap_err(), q, "no-tag");
    assert!(
        corrupt_row(&config, q, "missing", Corruption::Cells)
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_bad_row_does_not_take_the_store_down_standalone() {
    one_bad_row(support::standalone_config().unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_bad_row_does_not_take_the_store_down_on_a_cluster() {
    one_bad_row(support::cluster_config().unwrap()).await;
}

/// Any bytes written into a row by hand: a get or list touching it is
/// `Corrupted` naming its key (or works), never another kind or a panic;
/// other rows and partitions are unaffected; the row can be cleared.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_bytes_in_a_row_are_corrupted_or_fine_never_fatal() {
    let server = support::server().unwrap();
    let backend = support::standalone().await.unwrap();
    let kv = KvStore::new(Arc::new(backend.clone()));
    let client = redis::Client::open(server.url()).unwrap();
    let mut raw = client.get_multiplexed_async_connection().await.unwrap();
    let row_key = |p: &str, k: &str| {
        let layout = backend.layout();
        layout.row(layout.bucket(p, k), p, k)
    };
    let garbage: [(&[u8], &[u8]); 8] = [
        (b"f\xff\xfe", b"x"),
        (b"t\xff", b"1"),
        (b"tname", b"\xff\xfe"),
        (b"tname", b""),
        (b"fname", b""),
        (b"fname", b"\x01\x09\x00\x00\x00\x00\x00\x00"),
        (b"s", b"not a number"),
        (b"x-unknown", b"\xff"),
    ];
    kv.kv_put("other", "q", None, Some(tag! {"a" => 1}))
        .await
        .unwrap();
    for (name, value) in garbage {
        let what = format!("{:?}={:?}", String::from_utf8_lossy(name), value);
        let row = Row::new().with("x", Tensor::from_vec_1d(vec![1u8, 2]));
        kv.kv_put("k", "p", Some(row.clone()), Some(tag! {"t" => 1}))
            .await
            .unwrap();
        kv.kv_put("good", "p", Some(row), None).await.unwrap();
        let _: i64 = redis::cmd("HSET")
            .arg(row_key("p", "k"))
            .arg(name)
            .arg(value)
            .query_async(&mut raw)
            .await
            .unwrap();
        let outcomes = [
            kv.kv_batch_get(&["k"], "p", None).await.err(),
            kv.kv_batch_get(&["k"], "p", Some(&["x"])).await.err(),
            kv.kv_list(Some("p")).await.err(),
            kv.kv_list(None).await.err(),
        ];
        for err in outcomes.into_iter().flatten() {
            assert_corrupted(&err, "p", "k");
            eprintln!("{what}: {err}");
        }
        assert_eq!(
            kv.kv_batch_get(&["good"], "p", None)
                .await
                .unwrap()
                .num_rows(),
            1
        );
        assert_eq!(kv.kv_list(Some("q")).await.unwrap()["q"].len(), 1);
        assert_eq!(kv.kv_clear(&["k"], "p", None).await.unwrap(), 1, "{what}");
        assert_eq!(
            kv.kv_list(Some("p")).await.unwrap()["p"]
                .keys()
                .collect::<Vec<_>>(),
            ["good"],
            "{what}"
        );
    }
}
