//! Out of memory under `noeviction`: a put that fills the server is
//! `CapacityExceeded`, and its error says exactly which rows were written
//! (each whole) and which were not; clears still work and free memory.

use std::collections::BTreeSet;
use std::sync::Arc;

use bytes::Bytes;
use tq_backend_redis::{RedisBackend, RedisConfig};
use tq_core::{Batch, ErrorKind, KvStore, NonTensor, Row, Tag, tag};
use tq_test_support::{RedisCluster, RedisServer, unique_prefix};

/// `"<n> of <total> rows..."` from an error's context value.
fn count_of(value: &str) -> usize {
    value
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {value:?}"))
}

/// The call positions of `"0-3, 7, 9-10"` (or `"0-3, 7 and 20 more"`), and
/// whether the list was cut short.
fn positions(ranges: &str) -> (Vec<usize>, bool) {
    let (ranges, truncated) = match ranges.split_once(" and ") {
        Some((head, _)) => (head, true),
        None => (ranges, false),
    };
    let mut out = Vec::new();
    for part in ranges.split(", ").filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => out.extend(a.parse::<usize>().unwrap()..=b.parse().unwrap()),
            None => out.push(part.parse().unwrap()),
        }
    }
    (out, truncated)
}

/// The names listed in `"<n> of <total> rows: a, b, c and 9 more"`.
fn names_in(value: &str) -> Vec<String> {
    let Some((_, names)) = value.split_once(": ") else {
        return Vec::new();
    };
    let names = names.split(" and ").next().unwrap_or("");
    names.split(", ").map(str::to_owned).collect()
}

async fn out_of_memory_put_reports_the_written_rows(config: RedisConfig) {
    let kv = &KvStore::new(Arc::new(RedisBackend::open(config.clone()).await.unwrap()));
    let n = 1000;
    let keys: Vec<String> = (0..n).map(|i| format!("k{i}")).collect();
    let values: Vec<NonTensor> = (0..n)
        .map(|i| NonTensor::Bytes(Bytes::from(vec![i as u8; 16 * 1024])))
        .collect();
    let batch = Batch::new(n).with_non_tensor("blob", values).unwrap();
    let tags: Vec<Tag> = (0..n).map(|i| tag! {"i" => i}).collect();
    let err = kv
        .kv_batch_put(&keys, "p", Some(batch), Some(tags))
        .await
        .unwrap_err();
    eprintln!("{err}");
    assert_eq!(err.kind(), ErrorKind::CapacityExceeded, "{err}");
    assert!(!err.is_temporary(), "{err}");
    assert!(err.to_string().contains("maxmemory"), "{err}");

    let written = err.context_value("written").expect("written");
    let not_written = err.context_value("not_written").expect("not_written");
    let n_written = count_of(written);
    assert!(n_written > 0 && n_written < n, "{err}");
    assert_eq!(n_written + count_of(not_written), n, "{err}");
    let (rows, truncated) = positions(err.context_value("written_rows").expect("written_rows"));
    let claimed: BTreeSet<String> = rows.iter().map(|&i| keys[i].clone()).collect();

    // Exactly the rows the error names are there, each whole.
    let listing = kv.kv_list(Some("p")).await.unwrap();
    let listed: BTreeSet<String> = listing["p"].keys().cloned().collect();
    assert_eq!(listed.len(), n_written, "{err}");
    if truncated {
        assert!(rows.len() < n_written, "{err}");
        assert!(claimed.is_subset(&listed), "{err}");
    } else {
        assert_eq!(rows.len(), n_written, "{err}");
        assert_eq!(listed, claimed);
    }
    for name in names_in(written) {
        assert!(listed.contains(&name), "{name} in {written}");
    }
    for name in names_in(not_written) {
        assert!(!listed.contains(&name), "{name} in {not_written}");
    }
    // The full store opens again (open writes nothing to an existing store).
    let again = KvStore::new(Arc::new(RedisBackend::open(config.clone()).await.unwrap()));
    assert_eq!(
        again.kv_list(Some("p")).await.unwrap()["p"].len(),
        n_written
    );
    let present: Vec<&str> = listed.iter().map(String::as_str).collect();
    // The 16 KiB blobs live under keys of their own, so this get reads
    // them without MULTI (which a full server refuses, reads included).
    if let Some(url) = &config.url {
        let layout = tq_backend_redis::keys::KeyLayout::new(&config.key_prefix, 1);
        let mut conn = redis::Client::open(url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let names: Vec<String> = redis::cmd("HKEYS")
            .arg(layout.row(0, "p", present[0]))
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(names.contains(&"xblob".to_owned()), "{names:?}");
    }
    let got = kv.kv_batch_get(&present, "p", None).await.unwrap();
    assert_eq!(got.num_rows(), present.len());
    for key in &present {
        let i: usize = key[1..].parse().unwrap();
        assert_eq!(listing["p"][*key], tag! {"i" => i});
    }
    // Clearing frees the memory again, even now.
    assert_eq!(
        kv.kv_clear(&present, "p", None).await.unwrap(),
        present.len()
    );
    let row = Row::new().with("blob", Bytes::from(vec![1u8; 1024]));
    kv.kv_put("after", "p", Some(row), None).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_memory_is_capacity_exceeded_naming_the_written_rows() {
    let server =
        RedisServer::start_with(&["--maxmemory", "4mb", "--maxmemory-policy", "noeviction"])
            .unwrap_or_else(|e| panic!("{e}"));
    let config = RedisConfig::standalone(server.url()).with_key_prefix(unique_prefix("oom"));
    out_of_memory_put_reports_the_written_rows(config).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_out_of_memory_is_capacity_exceeded_naming_the_written_rows() {
    let cluster =
        RedisCluster::start_with(3, &["--maxmemory", "4mb"]).unwrap_or_else(|e| panic!("{e}"));
    let config = RedisConfig::cluster(cluster.urls()).with_key_prefix(unique_prefix("oom"));
    out_of_memory_put_reports_the_written_rows(config).await;
}
