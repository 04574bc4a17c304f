//! Watching a partition (contract W1-W3) on a standalone server and on a
//! cluster: the events the row scripts publish for puts, field clears and
//! clears; none for writes that did not land; per-key apply order under
//! concurrent writers; a lagging watcher; `kv_wait` in one process.

mod support;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tq_backend_redis::RedisBackend;
use tq_core::{
    CellWrite, ConditionalBackend, ErrorKind, KvStore, Notifications, PutIfOutcome, RowVersion,
    RowWrite, StorageBackend, Tag, Tensor, WatchBackend, WatchEvent, WatchStream, tag,
};

async fn backends() -> Vec<RedisBackend> {
    vec![
        support::standalone().await.unwrap(),
        support::clustered().await.unwrap(),
    ]
}

/// The next event, within 10 s.
async fn next(events: &mut WatchStream) -> WatchEvent {
    tokio::time::timeout(Duration::from_secs(10), events.next())
        .await
        .expect("an event within 10 s")
        .expect("the stream goes on")
        .expect("an event, not an error")
}

fn put_event(key: &str, fields: &[&str], tag: Tag) -> WatchEvent {
    WatchEvent::Put {
        key: key.to_owned(),
        fields: fields.iter().map(|f| f.to_string()).collect(),
        tag,
    }
}

fn clear_event(key: &str, fields: Option<&[&str]>) -> WatchEvent {
    WatchEvent::Clear {
        key: key.to_owned(),
        fields: fields.map(|f| f.iter().map(|f| f.to_string()).collect()),
    }
}

/// The event with its field names sorted (a put names them in the
/// write's order, which these tests do not fix).
fn sorted(mut event: WatchEvent) -> WatchEvent {
    match &mut event {
        WatchEvent::Put { fields, .. }
        | WatchEvent::Clear {
            fields: Some(fields),
            ..
        } => fields.sort(),
        _ => {}
    }
    event
}

fn small(v: f32) -> Tensor {
    Tensor::from_vec(vec![v; 4], [4]).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn puts_field_clears_and_clears_send_their_events() {
    for backend in backends().await {
        let mut events = backend.watch("p").await.unwrap();
        let p = "p";
        // A new row: the fields set and the tag.
        let write = RowWrite::new("k")
            .with_cell("a", small(1.0))
            .with_cell("b", small(2.0))
            .with_tag(tag! {"s" => "new"});
        backend.put(p, vec![write]).await.unwrap();
        assert_eq!(
            sorted(next(&mut events).await),
            put_event("k", &["a", "b"], tag! {"s" => "new"})
        );
        // Tag entries only: no field, the merged tag.
        backend
            .put(p, vec![RowWrite::new("k").with_tag(tag! {"r" => 1})])
            .await
            .unwrap();
        let merged = tag! {"s" => "new", "r" => 1};
        assert_eq!(next(&mut events).await, put_event("k", &[], merged.clone()));
        // A set and a removal: the clear of the removed field first.
        let write = RowWrite::new("k")
            .with_cell("c", small(3.0))
            .with_removed("a");
        backend.put(p, vec![write]).await.unwrap();
        assert_eq!(next(&mut events).await, clear_event("k", Some(&["a"])));
        assert_eq!(
            next(&mut events).await,
            put_event("k", &["c"], merged.clone())
        );
        // A removal only: a field clear, no put.
        backend
            .put(p, vec![RowWrite::new("k").with_removed("b")])
            .await
            .unwrap();
        assert_eq!(next(&mut events).await, clear_event("k", Some(&["b"])));
        // The large-row path (MULTI, HSET, put_meta): 256 KiB.
        let big = Tensor::from_vec(vec![0f32; 64 * 1024], [64 * 1024]).unwrap();
        let write = RowWrite::new("k")
            .with_cell("big", big)
            .with_removed("c")
            .with_tag(tag! {"r" => 2});
        backend.put(p, vec![write]).await.unwrap();
        assert_eq!(next(&mut events).await, clear_event("k", Some(&["c"])));
        let merged = tag! {"s" => "new", "r" => 2};
        assert_eq!(
            next(&mut events).await,
            put_event("k", &["big"], merged.clone())
        );
        // No event for writes that did not land or changed nothing:
        // removals of a missing row (script and transaction paths), a
        // conditional write that did not match, a clear of a missing row.
        let mut ghost = RowWrite::new("ghost");
        ghost.cells = (0..600)
            .map(|i| (format!("f{i}"), CellWrite::Remove))
            .collect();
        let ghosts = vec![RowWrite::new("ghost").with_removed("x"), ghost];
        backend.put(p, ghosts).await.unwrap();
        let stale = vec![(
            RowWrite::new("k").with_cell("z", small(0.0)),
            RowVersion::ABSENT,
        )];
        let outcome = backend.put_if(p, stale).await.unwrap();
        assert!(matches!(outcome[0], PutIfOutcome::Conflict));
        let cleared = backend
            .clear(p, &["ghost".to_owned(), "k".to_owned()])
            .await
            .unwrap();
        assert_eq!(cleared, 1);
        // ... so the next event is the clear of the row that existed.
        assert_eq!(next(&mut events).await, clear_event("k", None));
        // Names that look like the message's framing.
        for key in [":", "1:k", "{0}", "a\0b", "P3:abc", "é🦀"] {
            let write = RowWrite::new(key)
                .with_cell(key, small(1.0))
                .with_tag(tag! {key => key});
            backend.put(p, vec![write]).await.unwrap();
            backend.clear(p, &[key.to_owned()]).await.unwrap();
            assert_eq!(
                next(&mut events).await,
                put_event(key, &[key], tag! {key => key})
            );
            assert_eq!(next(&mut events).await, clear_event(key, None));
        }
        // Another partition's writes are not in this stream.
        backend
            .put("other", vec![RowWrite::new("o").with_tag(tag! {"x" => 1})])
            .await
            .unwrap();
        backend
            .put(p, vec![RowWrite::new("last").with_tag(tag! {"x" => 1})])
            .await
            .unwrap();
        assert_eq!(next(&mut events).await.key(), Some("last"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_of_one_key_keep_the_apply_order_of_concurrent_writers() {
    const TASKS: usize = 4;
    const PUTS: i64 = 200;
    for backend in backends().await {
        let mut events = backend.watch("order").await.unwrap();
        let writers: Vec<_> = (0..TASKS)
            .map(|i| {
                let backend = backend.clone();
                tokio::spawn(async move {
                    for n in 1..=PUTS {
                        let write = RowWrite::new("k").with_tag(tag! {format!("t{i}") => n});
                        backend.put("order", vec![write]).await.unwrap();
                    }
                })
            })
            .collect();
        let mut last = [0i64; TASKS];
        let total = TASKS as i64 * PUTS;
        for _ in 0..total {
            let WatchEvent::Put { key, tag, .. } = next(&mut events).await else {
                panic!("only puts were made");
            };
            assert_eq!(key, "k");
            for (i, seen) in last.iter_mut().enumerate() {
                let now = tag
                    .get(&format!("t{i}"))
                    .and_then(|v| v.as_i64())
                    .unwrap_or(0);
                assert!(now >= *seen, "t{i} went from {seen} back to {now}");
                *seen = now;
            }
        }
        assert_eq!(last, [PUTS; TASKS]);
        for w in writers {
            w.await.unwrap();
        }
        // Exactly one event per put: nothing more comes.
        let more = tokio::time::timeout(Duration::from_millis(300), events.next()).await;
        assert!(more.is_err(), "an extra event: {more:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_watcher_is_told_how_many_events_it_lost() {
    const ROWS: u64 = 1000;
    for config in [
        support::standalone_config().unwrap(),
        support::cluster_config().unwrap(),
    ] {
        let backend = RedisBackend::open(config.with_watch_buffer(16))
            .await
            .unwrap();
        let mut events = backend.watch("lag").await.unwrap();
        for chunk in 0..10 {
            let rows = (0..ROWS / 10)
                .map(|i| RowWrite::new(format!("k{chunk}-{i}")).with_tag(tag! {"i" => i}))
                .collect();
            backend.put("lag", rows).await.unwrap();
        }
        // Let every message reach the buffer before reading any.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (mut seen, mut missed, mut lags) = (0u64, 0u64, 0);
        while seen + missed < ROWS {
            match next(&mut events).await {
                WatchEvent::Lagged { missed: n } => {
                    lags += 1;
                    missed += n;
                }
                WatchEvent::Put { .. } => seen += 1,
                other => panic!("{other:?}"),
            }
        }
        assert!(lags >= 1);
        assert_eq!(seen + missed, ROWS);
        assert!(seen <= 16 + lags, "seen {seen}, lagged {lags} times");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_of_no_fields_tells_whether_rows_exist() {
    for backend in backends().await {
        let write = RowWrite::new("here").with_tag(tag! {"x" => 1});
        backend.put("p", vec![write]).await.unwrap();
        let keys = ["here".to_owned(), "gone".to_owned()];
        let rows = backend.get("p", &keys, Some(&[])).await.unwrap();
        assert_eq!(rows, vec![Some(vec![]), None]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_wait_is_woken_by_a_put_and_times_out_naming_what_lacks() {
    for backend in backends().await {
        let kv = KvStore::new(Arc::new(backend));
        assert_eq!(kv.capabilities().notifications, Notifications::CrossProcess);
        let writer = kv.clone();
        let put = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            writer
                .kv_put("s0", "train", None, Some(tag! {"ready" => true}))
                .await
                .unwrap();
        });
        kv.kv_wait(&["s0"], "train", None, Duration::from_secs(30))
            .await
            .unwrap();
        put.await.unwrap();
        let err = kv
            .kv_wait(
                &["s0"],
                "train",
                Some(&["reward"]),
                Duration::from_millis(200),
            )
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
        assert_eq!(err.context_value("fields"), Some("reward"), "{err}");
    }
}
