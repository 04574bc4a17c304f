//! Field-level clear rules C5-C6.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::Kv;
use super::support::*;
use crate::error::ErrorKind;
use crate::row::Row;
use crate::tag;

/// Puts `a`, `b`, `c` in that order, each with fields `x` and `y` and a tag.
async fn abc_xy(kv: &Kv) {
    for (i, key) in ["a", "b", "c"].into_iter().enumerate() {
        let v = i as f32;
        let row = Row::new()
            .with("x", f32s(&[v]))
            .with("y", f32s(&[v + 10.0]));
        kv.kv_put(key, "p", Some(row), Some(tag! {"n" => i as i64}))
            .await
            .unwrap();
    }
}

/// C5: clearing fields removes only those fields of those rows; the rows keep
/// their tags, their other fields and their place in `kv_list`.
pub async fn c5_clearing_fields_keeps_the_row_its_tag_and_its_place(kv: &Kv) {
    abc_xy(kv).await;
    ensure_eq!(
        kv.kv_clear(&keys(&["b"]), "p", Some(&["x"])).await.unwrap(),
        1,
        "rows whose fields were cleared"
    );
    ensure_eq!(listed_keys(kv, "p").await, ["a", "b", "c"], "listing order");
    ensure_eq!(listed_tag(kv, "p", "b").await, Some(tag! {"n" => 1}));
    let b = kv.kv_batch_get(&keys(&["b"]), "p", None).await.unwrap();
    ensure_eq!(fields_of(&b), ["y"], "fields of b after clearing x");
    ensure_eq!(f32_row(&b, "y", 0), vec![11.0]);
    let others = kv
        .kv_batch_get(&keys(&["a", "c"]), "p", Some(&["x", "y"]))
        .await
        .unwrap();
    ensure_eq!(f32_row(&others, "x", 1), vec![2.0], "c keeps x");
    // A later put of the cleared field brings it back in the same place.
    kv.kv_put("b", "p", Some(Row::new().with("x", f32s(&[7.0]))), None)
        .await
        .unwrap();
    ensure_eq!(listed_keys(kv, "p").await, ["a", "b", "c"]);
    let b = kv
        .kv_batch_get(&keys(&["b"]), "p", Some(&["x", "y"]))
        .await
        .unwrap();
    ensure_eq!(f32_row(&b, "x", 0), vec![7.0]);
}

/// C5: fields a row lacks are ignored; missing keys and unknown partitions
/// are ignored and not created; the count is of rows that exist, each once.
pub async fn c5_clearing_fields_ignores_what_is_not_there(kv: &Kv) {
    abc_xy(kv).await;
    ensure_eq!(
        kv.kv_clear(&keys(&["a", "ghost", "c", "a"]), "p", Some(&["x", "nope"]))
            .await
            .unwrap(),
        2,
        "existing rows among a, ghost, c, a"
    );
    ensure_eq!(
        listed_keys(kv, "p").await,
        ["a", "b", "c"],
        "ghost must not be created"
    );
    ensure_eq!(
        kv.kv_clear(&keys(&["a"]), "elsewhere", Some(&["x"]))
            .await
            .unwrap(),
        0
    );
    ensure_eq!(
        list_all(kv).await.keys().cloned().collect::<Vec<_>>(),
        ["p"],
        "a field clear in an unknown partition must not create it"
    );
    ensure_eq!(kv.kv_clear(&[], "p", Some(&["y"])).await.unwrap(), 0);
    let rows = kv
        .kv_batch_get(&keys(&["a", "b", "c"]), "p", None)
        .await
        .unwrap();
    ensure_eq!(
        fields_of(&rows),
        ["y"],
        "common fields after clearing x of a and c"
    );
    expect_err(
        kv.kv_batch_get(&keys(&["a"]), "p", Some(&["x"])).await,
        ErrorKind::NotFound,
        &["\"a\"", "x"],
    );
}

/// C5: an empty or repeated field list is `InvalidArgument` naming the
/// field, and writes nothing.
pub async fn c5_empty_or_repeated_field_list_is_invalid(kv: &Kv) {
    abc_xy(kv).await;
    let before = snapshot(kv).await;
    expect_err(
        kv.kv_clear(&keys(&["a"]), "p", Some(&[] as &[&str; 0]))
            .await,
        ErrorKind::InvalidArgument,
        &["empty"],
    );
    expect_err(
        kv.kv_clear(&keys(&["a", "b"]), "p", Some(&["y", "x", "y"]))
            .await,
        ErrorKind::InvalidArgument,
        &["\"y\""],
    );
    expect_err(
        kv.kv_clear(&keys(&["a"]), "p", Some(&["x", ""])).await,
        ErrorKind::InvalidArgument,
        &[],
    );
    ensure_eq!(
        snapshot(kv).await,
        before,
        "a rejected field clear wrote something"
    );
}

/// C6: a row whose last field was cleared still exists: listed with its tag,
/// readable without fields, `NotFound` for a cleared field, and removable by
/// a whole-row clear.
pub async fn c6_a_row_without_fields_still_exists(kv: &Kv) {
    abc_xy(kv).await;
    ensure_eq!(
        kv.kv_clear(&keys(&["b"]), "p", Some(&["x", "y"]))
            .await
            .unwrap(),
        1
    );
    ensure_eq!(listed_keys(kv, "p").await, ["a", "b", "c"]);
    ensure_eq!(listed_tag(kv, "p", "b").await, Some(tag! {"n" => 1}));
    let b = kv.kv_batch_get(&keys(&["b"]), "p", None).await.unwrap();
    ensure_eq!(b.num_rows(), 1);
    ensure_eq!(fields_of(&b), Vec::<String>::new(), "b has no fields left");
    expect_err(
        kv.kv_batch_get(&keys(&["b"]), "p", Some(&["y"])).await,
        ErrorKind::NotFound,
        &["\"b\"", "y"],
    );
    // Clearing fields of a row that has none left still counts the row.
    ensure_eq!(
        kv.kv_clear(&keys(&["b"]), "p", Some(&["x"])).await.unwrap(),
        1
    );
    // A tag-only put keeps working on it, and a whole-row clear removes it.
    let meta = kv
        .kv_put("b", "p", None, Some(tag! {"done" => true}))
        .await
        .unwrap();
    ensure_eq!(meta.tags[0].clone(), tag! {"n" => 1, "done" => true});
    ensure_eq!(meta.fields, Vec::<String>::new());
    ensure_eq!(kv.kv_clear(&keys(&["b"]), "p", None).await.unwrap(), 1);
    ensure_eq!(listed_keys(kv, "p").await, ["a", "c"]);
}

/// C5 with B4: a field clear is one atomic write per row: readers running
/// for as long as the writer puts and field-clears a row see both fields or
/// neither, never one of them.
pub async fn c5_a_field_clear_is_atomic_per_row(kv: &Kv) {
    const ROUNDS: usize = 40;
    let key = keys(&["k"]);
    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let (kv, key, done) = (kv.clone(), key.clone(), done.clone());
        tokio::spawn(async move {
            for round in 0..ROUNDS {
                let v = round as f32;
                let row = Row::new().with("x", f32s(&[v])).with("y", f32s(&[v]));
                kv.kv_put(&key[0], "p", Some(row), Some(tag! {}))
                    .await
                    .unwrap();
                kv.kv_clear(&key, "p", Some(&["x", "y"])).await.unwrap();
            }
            done.store(true, Ordering::Release);
        })
    };
    let readers = (0..2).map(|_| {
        let (kv, key, done) = (kv.clone(), key.clone(), done.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::Acquire) {
                match kv.kv_batch_get(&key, "p", None).await {
                    Ok(batch) => {
                        let fields = fields_of(&batch);
                        assert!(
                            fields.is_empty() || fields == ["x", "y"],
                            "a reader saw a half-cleared row: fields {fields:?}"
                        );
                    }
                    Err(e) => ensure_eq!(e.kind(), ErrorKind::NotFound, "{e}"),
                }
                tokio::task::yield_now().await;
            }
        })
    });
    let mut all = vec![writer];
    all.extend(readers);
    for task in all {
        task.await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
    }
}
