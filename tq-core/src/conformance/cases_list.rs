//! List rules L1-L3.

use super::Kv;
use super::support::*;
use crate::row::Row;
use crate::tag;

/// L1: `kv_list(Some(p))` is `{p: {key: tag}}` with keys in first-insertion
/// order; updating a key does not move it.
pub async fn l1_list_partition_in_first_insertion_order(kv: &Kv) {
    for key in ["zeta", "alpha", "mid", "beta"] {
        kv.kv_put(key, "p", None, Some(tag! {"k" => key}))
            .await
            .unwrap();
    }
    // An update (fields and tag) of an existing key keeps its place.
    kv.kv_put(
        "zeta",
        "p",
        Some(Row::new().with("x", f32s(&[1.0]))),
        Some(tag! {"u" => 1}),
    )
    .await
    .unwrap();
    let listing = kv.kv_list(Some("p")).await.unwrap();
    ensure_eq!(listing.len(), 1);
    let rows = &listing["p"];
    ensure_eq!(
        rows.keys().collect::<Vec<_>>(),
        ["zeta", "alpha", "mid", "beta"]
    );
    ensure_eq!(rows["zeta"], tag! {"k" => "zeta", "u" => 1});
    ensure_eq!(rows["mid"], tag! {"k" => "mid"});
}

/// L1: an unknown or emptied partition lists as an empty map.
pub async fn l1_list_unknown_partition_is_empty(kv: &Kv) {
    assert!(kv.kv_list(Some("nothing-here")).await.unwrap().is_empty());
    kv.kv_put("k", "p", None, Some(tag! {})).await.unwrap();
    kv.kv_clear(&keys(&["k"]), "p", None).await.unwrap();
    assert!(kv.kv_list(Some("p")).await.unwrap().is_empty());
}

/// L2: `kv_list(None)` returns every partition holding a key, sorted by name,
/// each in first-insertion order.
pub async fn l2_list_all_partitions_holding_keys(kv: &Kv) {
    kv.kv_put("k1", "train", None, Some(tag! {"a" => 1}))
        .await
        .unwrap();
    kv.kv_put("k0", "train", None, Some(tag! {"a" => 0}))
        .await
        .unwrap();
    kv.kv_put("k", "eval", None, Some(tag! {})).await.unwrap();
    kv.kv_put("gone", "emptied", None, Some(tag! {}))
        .await
        .unwrap();
    kv.kv_clear(&keys(&["gone"]), "emptied", None)
        .await
        .unwrap();
    let listing = list_all(kv).await;
    ensure_eq!(listing.keys().collect::<Vec<_>>(), ["eval", "train"]);
    ensure_eq!(listing["train"].keys().collect::<Vec<_>>(), ["k1", "k0"]);
    ensure_eq!(listing["train"]["k0"], tag! {"a" => 0});
}

/// L3: a key cleared and put again counts as a new insertion.
pub async fn l3_reinserted_key_moves_to_the_end(kv: &Kv) {
    for key in ["a", "b", "c"] {
        kv.kv_put(key, "p", Some(Row::new().with("x", f32s(&[1.0]))), None)
            .await
            .unwrap();
    }
    kv.kv_clear(&keys(&["a"]), "p", None).await.unwrap();
    kv.kv_put("a", "p", None, Some(tag! {"again" => true}))
        .await
        .unwrap();
    ensure_eq!(listed_keys(kv, "p").await, ["b", "c", "a"]);
}
