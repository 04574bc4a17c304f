//! Concurrency rules X1-X3, each with at least 32 concurrent tasks.

use std::collections::BTreeSet;

use super::Kv;
use super::support::*;
use crate::batch::Batch;
use crate::error::ErrorKind;
use crate::row::Row;
use crate::tag;
use crate::tensor::Tensor;

const TASKS: usize = 32;
const KEYS: usize = 8;
const ROUNDS: usize = 5;

async fn join_all(tasks: Vec<tokio::task::JoinHandle<()>>) {
    for task in tasks {
        task.await.expect("a concurrent task panicked");
    }
}

/// X1: concurrent puts of different fields to the same keys, from 32 tasks,
/// lose nothing.
pub async fn x1_concurrent_puts_of_different_fields_lose_nothing(kv: &Kv) {
    let ks = numbered("k", KEYS);
    let tasks = (0..TASKS)
        .map(|t| {
            let (kv, ks) = (kv.clone(), ks.clone());
            tokio::spawn(async move {
                for round in 0..ROUNDS {
                    let value = (t * 1000 + round) as i64;
                    let batch = Batch::new(KEYS)
                        .with_dense(
                            format!("f{t}"),
                            Tensor::from_vec(vec![value; KEYS], [KEYS, 1]).unwrap(),
                        )
                        .unwrap();
                    kv.kv_batch_put(&ks, "p", Some(batch), None).await.unwrap();
                }
            })
        })
        .collect();
    join_all(tasks).await;
    let got = kv.kv_batch_get(&ks, "p", None).await.unwrap();
    ensure_eq!(
        got.num_columns(),
        TASKS,
        "fields lost: {:?}",
        fields_of(&got)
    );
    for t in 0..TASKS {
        for k in 0..KEYS {
            ensure_eq!(
                i64_row(&got, &format!("f{t}"), k),
                vec![(t * 1000 + ROUNDS - 1) as i64]
            );
        }
    }
}

/// X2: concurrent tag merges of different entries on the same keys, from 32
/// tasks, lose nothing.
pub async fn x2_concurrent_tag_merges_lose_nothing(kv: &Kv) {
    let ks = numbered("k", KEYS);
    let tasks = (0..TASKS)
        .map(|t| {
            let (kv, ks) = (kv.clone(), ks.clone());
            tokio::spawn(async move {
                for round in 0..ROUNDS {
                    let tags = vec![tag! {format!("t{t}") => round}; KEYS];
                    kv.kv_batch_put(&ks, "p", None, Some(tags)).await.unwrap();
                    // Single-key puts race the batch puts too.
                    kv.kv_put(
                        &ks[round % KEYS],
                        "p",
                        None,
                        Some(tag! {format!("s{t}") => round}),
                    )
                    .await
                    .unwrap();
                }
            })
        })
        .collect();
    join_all(tasks).await;
    let listing = kv.kv_list(Some("p")).await.unwrap();
    for key in &ks {
        let tag = &listing["p"][key];
        for t in 0..TASKS {
            ensure_eq!(
                tag.get(&format!("t{t}")),
                Some(&serde_json::json!(ROUNDS - 1)),
                "key {key} lost t{t}: {tag:?}"
            );
        }
    }
    let singles: BTreeSet<String> = listing["p"]
        .values()
        .flat_map(|tag| tag.keys().filter(|k| k.starts_with('s')).cloned())
        .collect();
    ensure_eq!(singles.len(), TASKS, "single-key tag entries lost");
}

/// X3: concurrent puts and clears of the same keys never leave a row that
/// mixes cells from different puts or keeps part of a put.
pub async fn x3_concurrent_put_and_clear_never_mix_rows(kv: &Kv) {
    const FIELDS: [&str; 4] = ["f0", "f1", "f2", "f3"];
    let ks = numbered("k", 4);
    let check = |kv: Kv, ks: Vec<String>| async move {
        for key in &ks {
            match kv.kv_batch_get(std::slice::from_ref(key), "p", None).await {
                Err(e) => ensure_eq!(e.kind(), ErrorKind::NotFound, "{e}"),
                Ok(batch) => {
                    ensure_eq!(fields_of(&batch), FIELDS, "row {key} holds part of a put");
                    let gens: Vec<i64> = FIELDS.iter().map(|f| i64_row(&batch, f, 0)[0]).collect();
                    assert!(
                        gens.iter().all(|g| *g == gens[0]),
                        "row {key} mixes puts: {gens:?}"
                    );
                }
            }
        }
    };
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let (kv, ks) = (kv.clone(), ks.clone());
        tasks.push(tokio::spawn(async move {
            for round in 0..20usize {
                let key = &ks[(t + round) % ks.len()];
                match t % 4 {
                    0 | 1 => {
                        let generation = (t * 100 + round) as i64;
                        let row: Row = FIELDS.iter().map(|f| (*f, i64s(&[generation]))).collect();
                        kv.kv_put(key, "p", Some(row), Some(tag! {"gen" => generation}))
                            .await
                            .unwrap();
                    }
                    2 => {
                        kv.kv_clear(std::slice::from_ref(key), "p", None)
                            .await
                            .unwrap();
                    }
                    _ => check(kv.clone(), ks.clone()).await,
                }
            }
        }));
    }
    join_all(tasks).await;
    check(kv.clone(), ks.clone()).await;
    // Whatever survived is listed, and what is listed can be read.
    for key in listed_keys(kv, "p").await {
        kv.kv_batch_get(&[key], "p", None).await.unwrap();
    }
}
