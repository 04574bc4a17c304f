//! The async and blocking APIs give identical results, errors included, for
//! the same script (the Python tests run every case in both modes).

use tq_facade::{Batch, Config, Result, Row, Tensor, TransferQueue, blocking, tag};

/// One line per call: its result rendered with `Debug`, or its error kind
/// and message.
fn render<T: std::fmt::Debug>(log: &mut Vec<String>, result: Result<T>) {
    log.push(match result {
        Ok(v) => format!("ok {v:?}"),
        Err(e) => format!("err {:?} {}", e.kind(), e),
    });
}

fn batch() -> Batch {
    Batch::new(3)
        .with_dense(
            "obs",
            Tensor::from_vec((0..6).map(|x| x as f32).collect(), [3, 2]).unwrap(),
        )
        .unwrap()
        .with_jagged(
            "resp",
            vec![
                Tensor::from_vec(vec![1i64], [1]).unwrap(),
                Tensor::from_vec(vec![1i64, 2], [2]).unwrap(),
                Tensor::from_vec(vec![1i64, 2, 3], [3]).unwrap(),
            ],
        )
        .unwrap()
        .with_non_tensor(
            "prompt",
            vec!["a".into(), "b".into(), serde_json::json!({"x": 1}).into()],
        )
        .unwrap()
}

async fn script_async(tq: &TransferQueue) -> Vec<String> {
    let mut log = Vec::new();
    let keys = ["k0", "k1", "k2"];
    render(
        &mut log,
        tq.kv_batch_put(&keys, "p", Some(batch()), Some(vec![tag! {"s" => 0}; 3]))
            .await,
    );
    render(
        &mut log,
        tq.kv_put(
            "k1",
            "p",
            Some(Row::new().with("extra", "x")),
            Some(tag! {"t" => 1}),
        )
        .await,
    );
    render(&mut log, tq.kv_put("k9", "p", None, None).await);
    render(
        &mut log,
        tq.kv_batch_put(&["a", "a"], "p", None, Some(vec![tag! {}; 2]))
            .await,
    );
    render(
        &mut log,
        tq.kv_batch_get(&["k2", "k0", "k2"], "p", None).await,
    );
    render(
        &mut log,
        tq.kv_batch_get(&["k1"], "p", Some(&["extra", "obs"])).await,
    );
    render(&mut log, tq.kv_batch_get(&["k0", "ghost"], "p", None).await);
    render(
        &mut log,
        tq.kv_batch_get(&["k0", "k1"], "p", Some(&["extra"])).await,
    );
    let meta = tq
        .kv_put("k0", "p", None, Some(tag! {"u" => 2}))
        .await
        .unwrap();
    render(&mut log, tq.kv_batch_get_by_meta(&meta, None).await);
    render(
        &mut log,
        tq.kv_batch_get_by_meta(&meta, Some(&["nope"])).await,
    );
    render(&mut log, tq.kv_list(None).await);
    render(&mut log, tq.kv_clear(&["k0", "ghost"], "p", None).await);
    render(&mut log, tq.kv_list(Some("p")).await);
    log
}

fn script_blocking(tq: &blocking::TransferQueue) -> Vec<String> {
    let mut log = Vec::new();
    let keys = ["k0", "k1", "k2"];
    render(
        &mut log,
        tq.kv_batch_put(&keys, "p", Some(batch()), Some(vec![tag! {"s" => 0}; 3])),
    );
    render(
        &mut log,
        tq.kv_put(
            "k1",
            "p",
            Some(Row::new().with("extra", "x")),
            Some(tag! {"t" => 1}),
        ),
    );
    render(&mut log, tq.kv_put("k9", "p", None, None));
    render(
        &mut log,
        tq.kv_batch_put(&["a", "a"], "p", None, Some(vec![tag! {}; 2])),
    );
    render(&mut log, tq.kv_batch_get(&["k2", "k0", "k2"], "p", None));
    render(
        &mut log,
        tq.kv_batch_get(&["k1"], "p", Some(&["extra", "obs"])),
    );
    render(&mut log, tq.kv_batch_get(&["k0", "ghost"], "p", None));
    render(
        &mut log,
        tq.kv_batch_get(&["k0", "k1"], "p", Some(&["extra"])),
    );
    let meta = tq.kv_put("k0", "p", None, Some(tag! {"u" => 2})).unwrap();
    render(&mut log, tq.kv_batch_get_by_meta(&meta, None));
    render(&mut log, tq.kv_batch_get_by_meta(&meta, Some(&["nope"])));
    render(&mut log, tq.kv_list(None));
    render(&mut log, tq.kv_clear(&["k0", "ghost"], "p", None));
    render(&mut log, tq.kv_list(Some("p")));
    log
}

#[test]
fn async_and_blocking_apis_agree_call_for_call() {
    let blocking_log = script_blocking(&blocking::TransferQueue::open(Config::default()).unwrap());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let async_log = rt.block_on(async {
        script_async(&TransferQueue::open(Config::default()).await.unwrap()).await
    });
    assert_eq!(async_log.len(), 13);
    // The script exercises successes and each error path at least once.
    assert_eq!(
        async_log.iter().filter(|l| l.starts_with("err")).count(),
        5,
        "{async_log:#?}"
    );
    for (i, (a, b)) in async_log.iter().zip(&blocking_log).enumerate() {
        assert_eq!(a, b, "call {i} differs between the async and blocking APIs");
    }
    assert_eq!(async_log.len(), blocking_log.len());
}
