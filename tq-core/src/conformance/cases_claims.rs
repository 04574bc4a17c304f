//! What the engine and the backend promise beyond the KV rules: B1 (one
//! backend call per kv_* operation), B9 (no blocking of the executor), every
//! [`Capabilities`](crate::Capabilities) claim, and a capacity limit.

use std::sync::{Arc, Weak};

use super::Kv;
use super::fixture::Fixture;
use super::support::*;
use super::watchdog::{MAX_STALL, longest_stall};
use crate::batch::Batch;
use crate::dtype::DType;
use crate::error::ErrorKind;
use crate::row::Row;
use crate::tag;
use crate::tensor::Tensor;

/// B1: each kv_* call, for any number of rows, is exactly one backend call
/// (none for calls rejected up front).
pub async fn b1_one_backend_call_per_kv_operation(kv: &Fixture) {
    let counts = || {
        kv.backend_calls()
            .expect(
                "B1 needs the backend's calls: build the fixture with Fixture::from_backend \
                 or Fixture::wrapping",
            )
            .counts()
    };
    let rows = numbered("k", 100);
    let start = counts();
    let batch = Batch::new(100)
        .with_dense("x", Tensor::zeros(DType::F32, [100, 4]).unwrap())
        .unwrap();
    let meta = kv
        .kv_batch_put(&rows, "p", Some(batch), Some(vec![tag! {"s" => 1}; 100]))
        .await
        .unwrap();
    kv.kv_put("one", "p", None, Some(tag! {})).await.unwrap();
    kv.kv_batch_get(&rows, "p", None).await.unwrap();
    kv.kv_batch_get_by_meta(&meta, Some(&["x"])).await.unwrap();
    kv.kv_list(Some("p")).await.unwrap();
    kv.kv_list(None).await.unwrap();
    // A field-level clear is one row write: one backend put.
    ensure_eq!(kv.kv_clear(&rows, "p", Some(&["x"])).await.unwrap(), 100);
    ensure_eq!(kv.kv_clear(&rows, "p", None).await.unwrap(), 100);
    // Rejected up front: no backend call at all.
    let _ = kv
        .kv_batch_put(&keys(&["d", "d"]), "p", None, Some(vec![tag! {}; 2]))
        .await;
    let _ = kv.kv_batch_get(&keys(&["x"]), "p", Some(&["f", "f"])).await;
    let _ = kv.kv_clear(&keys(&["x"]), "p", Some(&["f", "f"])).await;
    let end = counts();
    let calls: Vec<usize> = end.iter().zip(start).map(|(e, s)| e - s).collect();
    ensure_eq!(
        calls,
        [3, 2, 2, 1],
        "backend calls [put, get, list, clear] for 2 puts, 2 gets, 2 lists, 1 field clear, 1 clear"
    );
}

/// B9: no call holds the executor thread: on a single-threaded runtime a
/// heartbeat task keeps beating while puts, gets, lists and clears run.
pub async fn b9_no_call_blocks_the_executor(kv: &Fixture) {
    let store: Kv = kv.kv().clone();
    let stall = longest_stall(move || async move {
        let rows = numbered("k", 64);
        // Yields between calls give the heartbeat its turn whenever the
        // executor is free: only time spent inside a call counts.
        let pause = || tokio::task::yield_now();
        for round in 0..8 {
            let batch = Batch::new(64)
                .with_dense("x", Tensor::zeros(DType::F32, [64, 1024]).unwrap())
                .unwrap();
            store
                .kv_batch_put(&rows, "p", Some(batch), None)
                .await
                .unwrap();
            pause().await;
            store
                .kv_put("one", "p", None, Some(tag! {"round" => round}))
                .await
                .unwrap();
            pause().await;
            store.kv_batch_get(&rows, "p", None).await.unwrap();
            pause().await;
            store.kv_list(None).await.unwrap();
            pause().await;
            store.kv_clear(&rows, "p", None).await.unwrap();
            pause().await;
        }
    })
    .await
    .unwrap_or_else(|e| panic!("B9: {e}"));
    assert!(
        stall < MAX_STALL,
        "B9: the executor thread was held for {stall:?} in one go (limit {MAX_STALL:?}): \
         a backend call blocks instead of awaiting"
    );
}

/// Capabilities: the backend reports exactly what its fixture says it
/// documents, and the kv_* API passes that on unchanged.
pub async fn cap_reported_capabilities_match_the_claims(kv: &Fixture) {
    let claimed = kv.claimed_capabilities().expect(
        "declare the capabilities the backend documents with Fixture::claims, so the suite \
         can check them",
    );
    if let Some(reported) = kv.backend_capabilities() {
        ensure_eq!(reported, claimed, "what the backend reports");
    }
    ensure_eq!(kv.capabilities(), claimed, "what the kv_* API reports");
}

/// A buffer that reports when the last `Bytes` viewing it is gone.
struct Tracked {
    data: Vec<u8>,
    _alive: Arc<()>,
}

impl AsRef<[u8]> for Tracked {
    fn as_ref(&self) -> &[u8] {
        &self.data
    }
}

/// A `[rows, 256]` f32 tensor over a tracked buffer, and the tracker.
fn tracked_tensor(rows: usize) -> (Tensor, Weak<()>) {
    let alive = Arc::new(());
    let weak = Arc::downgrade(&alive);
    let data = vec![1u8; rows * 256 * 4];
    let bytes = bytes::Bytes::from_owner(Tracked {
        data,
        _alive: alive,
    });
    (Tensor::new(DType::F32, [rows, 256], bytes).unwrap(), weak)
}

/// P8, `zero_copy_put`: a backend that claims it keeps the caller's tensor
/// bytes without copying still holds the caller's buffer after the put, and
/// lets it go when the rows are cleared.
pub async fn cap_zero_copy_claim_keeps_the_callers_buffer(kv: &Fixture) {
    let (tensor, tracker) = tracked_tensor(4);
    let batch = Batch::new(4).with_dense("x", tensor).unwrap();
    let rows = numbered("k", 4);
    kv.kv_batch_put(&rows, "p", Some(batch), None)
        .await
        .unwrap();
    let got = kv.kv_batch_get(&rows, "p", None).await.unwrap();
    ensure_eq!(
        f32_row(&got, "x", 3)[..2],
        [f32::from_le_bytes([1; 4]); 2],
        "values"
    );
    drop(got);
    if !kv.capabilities().zero_copy_put {
        return;
    }
    assert!(
        tracker.upgrade().is_some(),
        "zero_copy_put is claimed, yet the store let go of the caller's buffer: it copied the bytes"
    );
    kv.kv_clear(&rows[..2], "p", None).await.unwrap();
    assert!(
        tracker.upgrade().is_some(),
        "two rows still view the buffer"
    );
    kv.kv_clear(&rows[2..], "p", None).await.unwrap();
    assert!(
        tracker.upgrade().is_none(),
        "every row viewing the caller's buffer was cleared, yet the store still holds it"
    );
}

/// `atomic_batch`: a backend that claims whole-call atomicity never shows a
/// reader part of a batch put or part of a clear.
pub async fn cap_atomic_batch_claim_hides_partial_batches(kv: &Fixture) {
    if !kv.capabilities().atomic_batch {
        return;
    }
    let rows = numbered("k", 64);
    let store: Kv = kv.kv().clone();
    // The reader keeps reading until the writer has done a few rounds, so
    // that the check overlaps writes however the two tasks are scheduled.
    let rounds = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let written = rounds.clone();
    let reader = tokio::spawn(async move {
        let mut seen = std::collections::BTreeSet::new();
        let mut reads = 0;
        while reads < 400 || written.load(std::sync::atomic::Ordering::SeqCst) < 5 {
            reads += 1;
            let n = listed_keys(&store, "p").await.len();
            assert!(
                n == 0 || n == 64,
                "atomic_batch is claimed, yet a reader saw {n} of 64 rows"
            );
            seen.insert(n);
            tokio::task::yield_now().await;
        }
        seen
    });
    while !reader.is_finished() {
        let batch = Batch::new(64)
            .with_dense("x", Tensor::zeros(DType::F32, [64, 16]).unwrap())
            .unwrap();
        kv.kv_batch_put(&rows, "p", Some(batch), None)
            .await
            .unwrap();
        tokio::task::yield_now().await;
        kv.kv_clear(&rows, "p", None).await.unwrap();
        rounds.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
    reader
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
}

/// `persistent`: a backend that claims its data survives the process shows
/// every row, cell and tag again after it is closed and reopened.
pub async fn cap_persistent_claim_survives_reopen(kv: &mut Fixture) {
    if !kv.capabilities().persistent {
        return;
    }
    let batch = Batch::new(2)
        .with_dense(
            "x",
            Tensor::from_vec(vec![1f32, 2., 3., 4.], [2, 2]).unwrap(),
        )
        .unwrap()
        .with_non_tensor("s", vec!["one".into(), "two".into()])
        .unwrap();
    kv.kv_batch_put(
        &keys(&["b", "a"]),
        "p",
        Some(batch),
        Some(vec![tag! {"n" => 1}, tag! {"n" => 2}]),
    )
    .await
    .unwrap();
    let before = snapshot(kv).await;
    kv.reopen()
        .await
        .unwrap_or_else(|e| panic!("persistent is claimed, so the store must reopen: {e}"));
    ensure_eq!(snapshot(kv).await, before, "the store after a reopen");
    let got = kv.kv_batch_get(&keys(&["a"]), "p", None).await.unwrap();
    ensure_eq!(
        f32_row(&got, "x", 0),
        vec![3.0, 4.0],
        "a cell after a reopen"
    );
}

/// `shared_across_processes`: two handles on one store (as two processes
/// would hold) see each other's puts and clears at once.
pub async fn cap_shared_claim_is_seen_by_another_handle(kv: &Fixture) {
    if !kv.capabilities().shared_across_processes {
        return;
    }
    let other = kv.open_another().await.unwrap_or_else(|e| {
        panic!("shared_across_processes is claimed, so a second handle must open: {e}")
    });
    kv.kv_put(
        "a",
        "p",
        Some(Row::new().with("x", f32s(&[1.0]))),
        Some(tag! {"by" => 1}),
    )
    .await
    .unwrap();
    ensure_eq!(
        listed_tag(&other, "p", "a").await,
        Some(tag! {"by" => 1}),
        "the first handle's put, seen by the second"
    );
    other
        .kv_put("a", "p", None, Some(tag! {"also" => 2}))
        .await
        .unwrap();
    ensure_eq!(
        listed_tag(kv, "p", "a").await,
        Some(tag! {"by" => 1, "also" => 2}),
        "the second handle's merge"
    );
    ensure_eq!(other.kv_clear(&keys(&["a"]), "p", None).await.unwrap(), 1);
    assert!(
        list_all(kv).await.is_empty(),
        "a clear through the second handle must show through the first"
    );
}

/// `max_value_bytes`: a cell whose encoding is one byte over the claimed
/// limit is refused up front, naming key and field, and writes nothing.
pub async fn cap_max_value_bytes_claim_is_enforced(kv: &Fixture) {
    let Some(limit) = kv.capabilities().max_value_bytes else {
        return;
    };
    let limit = usize::try_from(limit).expect("a limit that fits in memory");
    // Raw bytes encode as an 8-byte header plus the payload; the zeroed
    // buffer is never touched, so its size costs nothing.
    let payload = bytes::Bytes::from(vec![0u8; limit - 7]);
    kv.kv_put("small", "p", None, Some(tag! {})).await.unwrap();
    let before = snapshot(kv).await;
    let row = Row::new().with("ok", f32s(&[1.0])).with("big", payload);
    let err = kv
        .kv_put("k", "p", Some(row), None)
        .await
        .expect_err("a value over max_value_bytes");
    assert!(
        matches!(
            err.kind(),
            ErrorKind::InvalidArgument | ErrorKind::CapacityExceeded
        ),
        "a value over max_value_bytes must be InvalidArgument or CapacityExceeded: {err}"
    );
    assert!(
        err.to_string().contains("\"k\"") && err.to_string().contains("big"),
        "name key and field: {err}"
    );
    ensure_eq!(snapshot(kv).await, before, "a refused put wrote something");
}

/// Capacity: a store limited to N payload bytes takes exactly N, refuses a
/// put past it with `CapacityExceeded` writing nothing (not even the rows
/// of the batch that would fit), and counts replaced cells once.
pub async fn cap_limit_is_exact_and_a_put_past_it_writes_nothing(kv: &Fixture) {
    if kv.has_no_capacity_limit() {
        return;
    }
    let kv = kv
        .with_limit(1000)
        .await
        .unwrap_or_else(|e| panic!("capacity: {e}"));
    let bytes_row = |n: usize| Row::new().with("x", Tensor::zeros(DType::U8, [n]).unwrap());
    kv.kv_put("a", "p", Some(bytes_row(600)), None)
        .await
        .unwrap();
    let err = kv
        .kv_put("b", "p", Some(bytes_row(401)), None)
        .await
        .expect_err("a put past the limit");
    ensure_eq!(err.kind(), ErrorKind::CapacityExceeded, "{err}");
    ensure_eq!(err.operation(), "kv_put", "{err}");
    ensure_eq!(
        err.context()
            .iter()
            .filter(|(k, _)| *k == "partition")
            .count(),
        1,
        "the error names the partition once: {err}"
    );
    ensure_eq!(
        listed_keys(&kv, "p").await,
        ["a"],
        "a refused put wrote something"
    );
    kv.kv_put("b", "p", Some(bytes_row(400)), Some(tag! {"full" => true}))
        .await
        .unwrap();
    kv.kv_put("t", "p", None, Some(tag! {"tags" => "are not counted"}))
        .await
        .unwrap();
    expect_err(
        kv.kv_put("c", "p", Some(bytes_row(1)), None).await,
        ErrorKind::CapacityExceeded,
        &[],
    );
    let batch = Batch::new(2)
        .with_jagged(
            "y",
            vec![
                Tensor::zeros(DType::U8, [0]).unwrap(),
                Tensor::zeros(DType::U8, [1]).unwrap(),
            ],
        )
        .unwrap();
    expect_err(
        kv.kv_batch_put(&keys(&["d", "e"]), "p", Some(batch), None)
            .await,
        ErrorKind::CapacityExceeded,
        &[],
    );
    ensure_eq!(
        listed_keys(&kv, "p").await,
        ["a", "b", "t"],
        "a refused batch wrote part of itself"
    );
    // Replacing a 600-byte cell by a 500-byte one frees 100 bytes.
    kv.kv_put("a", "p", Some(bytes_row(500)), None)
        .await
        .unwrap();
    kv.kv_put("c", "p", Some(bytes_row(100)), None)
        .await
        .unwrap();
    expect_err(
        kv.kv_put("d", "p", Some(bytes_row(1)), None).await,
        ErrorKind::CapacityExceeded,
        &[],
    );
}

/// Capacity: a clear gives the space of the removed rows back, exactly.
pub async fn cap_limit_space_is_freed_by_clear(kv: &Fixture) {
    if kv.has_no_capacity_limit() {
        return;
    }
    let kv = kv
        .with_limit(1000)
        .await
        .unwrap_or_else(|e| panic!("capacity: {e}"));
    let bytes_row = |n: usize| Row::new().with("x", Tensor::zeros(DType::U8, [n]).unwrap());
    for round in 0..3 {
        kv.kv_put("a", "p", Some(bytes_row(700)), None)
            .await
            .unwrap();
        kv.kv_put("b", "q", Some(bytes_row(300)), None)
            .await
            .unwrap();
        expect_err(
            kv.kv_put("c", "p", Some(bytes_row(1)), None).await,
            ErrorKind::CapacityExceeded,
            &[],
        );
        ensure_eq!(
            kv.kv_clear(&keys(&["a", "ghost"]), "p", None)
                .await
                .unwrap(),
            1,
            "round {round}"
        );
        kv.kv_put("c", "p", Some(bytes_row(700)), None)
            .await
            .unwrap();
        kv.kv_clear(&keys(&["c"]), "p", None).await.unwrap();
        kv.kv_clear(&keys(&["b"]), "q", None).await.unwrap();
    }
    kv.kv_put("full", "p", Some(bytes_row(1000)), None)
        .await
        .unwrap();
}
