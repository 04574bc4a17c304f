//! The blocking API inside an async runtime is an error, never a panic or a
//! blocked executor thread (contract E4).

use tq_facade::{Config, ErrorKind, blocking, tag};

#[test]
fn blocking_calls_inside_a_runtime_are_unsupported_errors() {
    // Opened outside any runtime, then used and dropped inside one.
    let tq = blocking::TransferQueue::open(Config::default()).unwrap();
    tq.kv_put("k", "p", None, Some(tag! {})).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async move {
        let err = tq.kv_list(None).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unsupported);
        assert!(err.to_string().contains("kv_list"), "{err}");
        assert!(err.to_string().contains("async"), "{err}");
        let err = blocking::TransferQueue::open(Config::default()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unsupported);
        drop(tq); // must not panic inside the runtime
    });
}

#[test]
fn blocking_api_works_from_many_plain_threads() {
    let tq = blocking::TransferQueue::open(Config::default()).unwrap();
    std::thread::scope(|s| {
        for t in 0..8 {
            let tq = &tq;
            s.spawn(move || {
                for i in 0..50 {
                    tq.kv_put(
                        &format!("k{i}"),
                        "p",
                        None,
                        Some(tag! {format!("t{t}") => i}),
                    )
                    .unwrap();
                }
            });
        }
    });
    let listing = tq.kv_list(Some("p")).unwrap();
    assert_eq!(listing["p"].len(), 50);
    assert!(listing["p"].values().all(|tag| tag.len() == 8));
}

#[test]
fn inside_spawn_blocking_the_error_names_the_way_that_works() {
    let tq = std::sync::Arc::new(blocking::TransferQueue::open(Config::default()).unwrap());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap();
    rt.block_on(async move {
        let inner = tq.clone();
        let err = tokio::task::spawn_blocking(move || inner.kv_list(None))
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unsupported);
        assert!(err.to_string().contains("spawn_blocking"), "{err}");
        assert!(
            err.to_string().contains("Handle::current().block_on"),
            "{err}"
        );
        // ... and the way it names works there.
        let inner = tq.clone();
        let listing = tokio::task::spawn_blocking(move || {
            tokio::runtime::Handle::current().block_on(inner.as_async().kv_list(None))
        })
        .await
        .unwrap()
        .unwrap();
        assert!(listing.is_empty());
        tokio::task::spawn_blocking(move || drop(tq)).await.unwrap();
    });
}
