//! Atomic read-modify-write rules U1-U4. On a backend without conditional
//! writes (`Capabilities::conditional_write` false) every case checks that
//! `kv_update` is `Unsupported` and writes nothing instead.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::Kv;
use super::fixture::Fixture;
use super::support::*;
use crate::error::ErrorKind;
use crate::row::Row;
use crate::tag;
use crate::tag::Tag;
use crate::update::{CurrentRow, RowChange};
use crate::value::Value;

/// The i64 in tag entry `name`, 0 if absent.
fn tag_i64(tag: &Tag, name: &str) -> i64 {
    tag.get(name).and_then(|v| v.as_i64()).unwrap_or(0)
}

/// The first element of i64 tensor field `field`, 0 if absent.
fn cell_i64(row: &CurrentRow, field: &str) -> i64 {
    row.get(field)
        .and_then(Value::as_tensor)
        .and_then(|t| t.to_vec::<i64>().ok())
        .and_then(|v| v.first().copied())
        .unwrap_or(0)
}

/// On a backend without conditional writes: `kv_update` is `Unsupported`
/// and writes nothing. Returns whether the backend has them.
async fn conditional_or_unsupported(kv: &Kv) -> bool {
    if kv.capabilities().conditional_write {
        return true;
    }
    let before = snapshot(kv).await;
    let bump = |_: &CurrentRow| Some(RowChange::new().with_tag(tag! {"n" => 1}));
    expect_err(
        kv.kv_update("k", "p", None, &bump).await,
        ErrorKind::Unsupported,
        &["conditional"],
    );
    ensure_eq!(
        snapshot(kv).await,
        before,
        "an unsupported update wrote something"
    );
    false
}

/// U1: the merge function sees the asked-for fields the row holds and its
/// whole tag; what it returns lands as a put of the row would; `None` leaves
/// a row alone and out of the returned meta.
pub async fn u1_update_writes_what_the_merge_function_returns(kv: &Kv) {
    kv.kv_batch_put(
        &keys(&["a", "b"]),
        "p",
        None,
        Some(vec![tag! {"n" => 1}; 2]),
    )
    .await
    .unwrap();
    for key in ["a", "b"] {
        let row = Row::new().with("x", i64s(&[10])).with("y", i64s(&[20]));
        kv.kv_put(key, "p", Some(row), None).await.unwrap();
    }
    if !conditional_or_unsupported(kv).await {
        return;
    }
    let seen = std::sync::Mutex::new(Vec::new());
    let merge = |row: &CurrentRow| {
        seen.lock().unwrap().push((
            row.key.clone(),
            row.exists,
            row.cells
                .iter()
                .map(|(f, _)| f.to_owned())
                .collect::<Vec<_>>(),
            row.tag.clone(),
        ));
        let x = cell_i64(row, "x");
        Some(
            RowChange::new()
                .with(
                    "x",
                    crate::tensor::Tensor::from_vec(vec![x + 1], [1]).unwrap(),
                )
                .with_tag(tag! {"n" => tag_i64(&row.tag, "n") + 1, "seen" => true}),
        )
    };
    let meta = kv
        .kv_batch_update(&keys(&["b", "a"]), "p", Some(&["x", "absent"]), &merge)
        .await
        .unwrap();
    ensure_eq!(meta.keys, ["b", "a"], "written keys in call order");
    ensure_eq!(meta.tags[0].clone(), tag! {"n" => 2, "seen" => true});
    ensure_eq!(
        meta.fields,
        ["x", "y"],
        "fields the rows hold after the update"
    );
    let mut seen = seen.into_inner().unwrap();
    seen.sort_by(|l, r| l.0.cmp(&r.0));
    ensure_eq!(
        seen,
        vec![
            ("a".to_owned(), true, vec!["x".to_owned()], tag! {"n" => 1}),
            ("b".to_owned(), true, vec!["x".to_owned()], tag! {"n" => 1}),
        ],
        "what the merge function saw (asked-for fields the row holds, whole tag)"
    );
    let got = kv
        .kv_batch_get(&keys(&["a", "b"]), "p", Some(&["x", "y"]))
        .await
        .unwrap();
    ensure_eq!(i64_row(&got, "x", 0), vec![11]);
    ensure_eq!(i64_row(&got, "y", 1), vec![20], "other fields are kept");
    // `None` (and an empty change) leave rows alone.
    let only_a = |row: &CurrentRow| match row.key.as_str() {
        "a" => Some(RowChange::new().with_tag(tag! {"only" => "a"})),
        "b" => Some(RowChange::new()),
        _ => None,
    };
    let meta = kv
        .kv_batch_update(
            &keys(&["a", "b", "c"]),
            "p",
            Some(&[] as &[&str; 0]),
            &only_a,
        )
        .await
        .unwrap();
    ensure_eq!(meta.keys, ["a"]);
    ensure_eq!(
        listed_tag(kv, "p", "b").await,
        Some(tag! {"n" => 2, "seen" => true})
    );
    ensure_eq!(
        listed_keys(kv, "p").await,
        ["a", "b"],
        "c must not be created"
    );
}

/// U1: bad input is `InvalidArgument` writing nothing: repeated or no keys,
/// a repeated field, and a change a put would refuse (a bad field name).
pub async fn u1_bad_updates_are_invalid_and_write_nothing(kv: &Kv) {
    kv.kv_put("a", "p", None, Some(tag! {"n" => 1}))
        .await
        .unwrap();
    if !conditional_or_unsupported(kv).await {
        return;
    }
    let before = snapshot(kv).await;
    let bump = |_: &CurrentRow| Some(RowChange::new().with_tag(tag! {"n" => 2}));
    expect_err(
        kv.kv_batch_update(&keys(&["a", "a"]), "p", None, &bump)
            .await,
        ErrorKind::InvalidArgument,
        &["\"a\""],
    );
    expect_err(
        kv.kv_batch_update(&[], "p", None, &bump).await,
        ErrorKind::InvalidArgument,
        &["empty"],
    );
    expect_err(
        kv.kv_update("a", "p", Some(&["x", "x"]), &bump).await,
        ErrorKind::InvalidArgument,
        &["\"x\""],
    );
    let bad_name = |_: &CurrentRow| Some(RowChange::new().with("", i64s(&[1])));
    expect_err(
        kv.kv_update("a", "p", None, &bad_name).await,
        ErrorKind::InvalidArgument,
        &["\"a\""],
    );
    ensure_eq!(
        snapshot(kv).await,
        before,
        "a rejected update wrote something"
    );
}

/// U2: many tasks incrementing one counter (a cell and a tag entry) lose no
/// increment.
pub async fn u2_concurrent_updates_lose_nothing(kv: &Kv) {
    const TASKS: usize = 16;
    const EACH: usize = 8;
    if !conditional_or_unsupported(kv).await {
        return;
    }
    let bump = |row: &CurrentRow| {
        let n = cell_i64(row, "count");
        Some(
            RowChange::new()
                .with(
                    "count",
                    crate::tensor::Tensor::from_vec(vec![n + 1], [1]).unwrap(),
                )
                .with_tag(tag! {"count" => tag_i64(&row.tag, "count") + 1}),
        )
    };
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let kv = kv.clone();
            tokio::spawn(async move {
                for _ in 0..EACH {
                    kv.kv_update("counter", "p", Some(&["count"]), &bump)
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
    }
    let got = kv
        .kv_batch_get(&keys(&["counter"]), "p", None)
        .await
        .unwrap();
    let total = (TASKS * EACH) as i64;
    ensure_eq!(
        i64_row(&got, "count", 0),
        vec![total],
        "cell increments lost"
    );
    ensure_eq!(
        tag_i64(&listed_tag(kv, "p", "counter").await.unwrap(), "count"),
        total,
        "tag increments lost"
    );
}

/// U3: an update of a missing row sees no cells and an empty tag and, if it
/// writes, creates the row (P4).
pub async fn u3_update_of_a_missing_row_creates_it(kv: &Kv) {
    if !conditional_or_unsupported(kv).await {
        return;
    }
    let create = |row: &CurrentRow| {
        assert!(
            !row.exists && row.cells.is_empty() && row.tag.is_empty(),
            "{row:?}"
        );
        Some(
            RowChange::new()
                .with("x", i64s(&[1]))
                .with_tag(tag! {"new" => true}),
        )
    };
    let meta = kv.kv_update("fresh", "q", None, &create).await.unwrap();
    ensure_eq!(meta.keys, ["fresh"]);
    ensure_eq!(meta.fields, ["x"]);
    ensure_eq!(
        listed_tag(kv, "q", "fresh").await,
        Some(tag! {"new" => true})
    );
}

/// U3 with X3: updates racing whole-row clears never mix: an update read
/// before a clear never lands after it. Rows are created by puts with
/// `base: true`; updates bump `n` of existing rows only; a row listed
/// without `base` would be an update that landed on the cleared row.
pub async fn u3_an_update_racing_a_clear_never_mixes(kv: &Kv) {
    if !conditional_or_unsupported(kv).await {
        return;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let bump = |row: &CurrentRow| {
        row.exists
            .then(|| RowChange::new().with_tag(tag! {"n" => tag_i64(&row.tag, "n") + 1}))
    };
    let updaters: Vec<_> = (0..4)
        .map(|_| {
            let (kv, stop) = (kv.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Acquire) {
                    kv.kv_update("k", "p", None, &bump).await.unwrap();
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    for round in 0..40i64 {
        kv.kv_put(
            "k",
            "p",
            None,
            Some(tag! {"base" => true, "round" => round}),
        )
        .await
        .unwrap();
        // Let updaters read the row, then clear it under them.
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        kv.kv_clear(&keys(&["k"]), "p", None).await.unwrap();
        // Updates that read the row before the clear are in flight now:
        // give them time to land, or (rightly) to conflict.
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
        if let Some(tag) = listed_tag(kv, "p", "k").await {
            assert!(
                tag.contains_key("base"),
                "an update landed on a cleared row: {tag:?}"
            );
        }
    }
    stop.store(true, Ordering::Release);
    for task in updaters {
        task.await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
    }
    if let Some(tag) = listed_tag(kv, "p", "k").await {
        assert!(
            tag.contains_key("base"),
            "an update landed on a cleared row: {tag:?}"
        );
    }
}

/// U4: a row that keeps conflicting fails the call after the policy's
/// attempts with a temporary `Conflict` naming the key, writing nothing of
/// it, and saying which other rows of the batch were written; a row that
/// conflicts a few times lands.
pub async fn u4_retries_are_bounded_and_the_error_says_what_was_written(kv: &Fixture) {
    kv.kv_batch_put(
        &keys(&["cool", "hot"]),
        "p",
        None,
        Some(vec![tag! {"n" => 0}; 2]),
    )
    .await
    .unwrap();
    if !conditional_or_unsupported(kv).await {
        return;
    }
    let calls = kv.backend_calls().expect(
        "U4 needs to inject conflicts: build the fixture with Fixture::from_backend or \
         Fixture::wrapping",
    );
    calls.force_conflicts("hot", usize::MAX);
    let bump = |row: &CurrentRow| {
        Some(RowChange::new().with_tag(tag! {"n" => tag_i64(&row.tag, "n") + 1}))
    };
    let err = kv
        .kv_batch_update(&keys(&["cool", "hot"]), "p", None, &bump)
        .await
        .expect_err("a row that always conflicts must fail the update");
    ensure_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert!(err.is_temporary(), "a conflict is temporary: {err}");
    ensure_eq!(err.context_value("keys"), Some("hot"), "{err}");
    ensure_eq!(err.context_value("written"), Some("cool"), "{err}");
    ensure_eq!(err.context_value("partition"), Some("p"), "{err}");
    ensure_eq!(listed_tag(kv, "p", "hot").await, Some(tag! {"n" => 0}));
    ensure_eq!(listed_tag(kv, "p", "cool").await, Some(tag! {"n" => 1}));
    // A few conflicts are retried away.
    calls.force_conflicts("hot", 3);
    let meta = kv.kv_update("hot", "p", None, &bump).await.unwrap();
    ensure_eq!(meta.tags, vec![tag! {"n" => 1}]);
}
