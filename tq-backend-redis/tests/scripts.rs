//! The backend's Lua scripts are sent as `EVALSHA`; a server that lost them
//! (`SCRIPT FLUSH`, a restart) answers `NOSCRIPT`, and the commands must be
//! sent again with the script's text, without writing anything twice or
//! leaving a row half written. Puts of small rows (one `EVALSHA put_row`),
//! of large rows (a transaction) and mixed batches are checked, standalone
//! and on every master of the cluster.

mod support;

use std::sync::Arc;

use tq_core::{Batch, KvStore, Row, Tensor, tag};
use tq_test_support::redis_cli;

fn flush_scripts(ports: &[u16]) {
    for &port in ports {
        let answer = redis_cli(port, &["SCRIPT", "FLUSH"]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(answer.trim(), "OK");
    }
}

async fn puts_lists_and_clears_survive_a_script_flush(kv: KvStore, ports: &[u16]) {
    // Small rows (8 KiB of values at most) and a large one (64 KiB).
    let small = |i: u32| Row::new().with("x", Tensor::from_vec(vec![i; 4], [4]).unwrap());
    let large = Row::new().with(
        "x",
        Tensor::from_vec(vec![7u32; 16 * 1024], [16 * 1024]).unwrap(),
    );
    kv.kv_put("a", "p", Some(small(1)), Some(tag! {"n" => 1}))
        .await
        .unwrap();
    flush_scripts(ports);
    kv.kv_put("b", "p", Some(small(2)), None).await.unwrap();
    flush_scripts(ports);
    kv.kv_put("big", "p", Some(large), None).await.unwrap();
    flush_scripts(ports);
    // A batch of many small rows, new and existing.
    let keys: Vec<String> = (0..200).map(|i| format!("k{i}")).collect();
    let batch = Batch::new(200)
        .with_dense(
            "x",
            Tensor::from_vec((0..800u32).collect(), [200, 4]).unwrap(),
        )
        .unwrap();
    kv.kv_batch_put(&keys, "p", Some(batch), None)
        .await
        .unwrap();
    flush_scripts(ports);
    kv.kv_put("a", "p", None, Some(tag! {"n" => 2}))
        .await
        .unwrap();
    flush_scripts(ports);
    let listing = kv.kv_list(Some("p")).await.unwrap();
    let listed: Vec<&str> = listing["p"].keys().map(String::as_str).collect();
    let mut want = vec!["a", "b", "big"];
    want.extend(keys.iter().map(String::as_str));
    assert_eq!(listed, want, "each row once, in put order");
    assert_eq!(listing["p"]["a"], tag! {"n" => 2});
    let got = kv.kv_batch_get(&["b", "k199"], "p", None).await.unwrap();
    let x = got.tensor("x").unwrap();
    let values = x.as_dense().unwrap().to_vec::<u32>().unwrap();
    assert_eq!(values, [2, 2, 2, 2, 796, 797, 798, 799]);
    flush_scripts(ports);
    let all: Vec<&str> = want.clone();
    assert_eq!(kv.kv_clear(&all, "p", None).await.unwrap(), all.len());
    assert!(kv.kv_list(None).await.unwrap().is_empty());
}

#[tokio::test]
async fn standalone_puts_survive_a_script_flush() {
    let kv = KvStore::new(Arc::new(support::standalone().await.unwrap()));
    let port = support::server().unwrap().port();
    puts_lists_and_clears_survive_a_script_flush(kv, &[port]).await;
}

#[tokio::test]
async fn cluster_puts_survive_a_script_flush() {
    let kv = KvStore::new(Arc::new(support::clustered().await.unwrap()));
    let ports: Vec<u16> = support::cluster()
        .unwrap()
        .nodes()
        .iter()
        .map(|n| n.port())
        .collect();
    puts_lists_and_clears_survive_a_script_flush(kv, &ports).await;
}
