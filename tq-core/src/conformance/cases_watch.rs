//! Waiting and watching, rules W1-W3. `kv_wait` works on every backend
//! (pushed or polled); on a backend that does not push
//! (`Capabilities::notifications` is `Polling`) the `w2`/`w3` cases check
//! that `kv_watch` is `Unsupported` instead.

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;

use super::Kv;
use super::support::*;
use crate::error::ErrorKind;
use crate::row::Row;
use crate::tag;
use crate::update::{CurrentRow, RowChange};
use crate::watch::{WatchEvent, WatchStream};

/// Long enough never to be the reason a correct case fails, on a loaded
/// machine and a remote backend.
const PATIENCE: Duration = Duration::from_secs(20);

/// Far longer than a wait woken by a put (or a poll) ever takes, far
/// shorter than [`PATIENCE`].
const MISSED: Duration = Duration::from_secs(3);

/// Short: how long a case gives a wait that must time out.
const BRIEF: Duration = Duration::from_millis(150);

fn one_cell(field: &str, value: f32) -> Row {
    Row::new().with(field, f32s(&[value]))
}

/// A `kv_wait` of `waited` keys for `fields` in partition `p`, running in a
/// task of its own, with [`PATIENCE`].
fn spawn_wait(
    kv: &Kv,
    waited: &[&str],
    fields: &'static [&'static str],
) -> tokio::task::JoinHandle<crate::Result<()>> {
    let (kv, waited) = (kv.clone(), keys(waited));
    tokio::spawn(async move { kv.kv_wait(&waited, "p", Some(&fields), PATIENCE).await })
}

/// What a spawned wait returned, failing the case (with `after`: what
/// should have woken it) if it does not return in time.
async fn returned(
    waiter: tokio::task::JoinHandle<crate::Result<()>>,
    after: &str,
) -> crate::Result<()> {
    tokio::time::timeout(PATIENCE, waiter)
        .await
        .unwrap_or_else(|_| panic!("the wait did not return after {after}"))
        .expect("the waiting task panicked")
}

/// The next item of `events`, failing the case if none comes in time.
async fn next_event(events: &mut WatchStream) -> WatchEvent {
    match tokio::time::timeout(PATIENCE, events.next()).await {
        Ok(Some(Ok(event))) => event,
        Ok(Some(Err(e))) => panic!("the watch stream failed: {e}"),
        Ok(None) => panic!("the watch stream ended"),
        Err(_) => panic!("no watch event within {PATIENCE:?}"),
    }
}

/// On a backend that does not push: `kv_watch` is `Unsupported`. Returns
/// whether the backend pushes.
async fn pushes_or_unsupported(kv: &Kv) -> bool {
    if kv.capabilities().notifications.pushes() {
        return true;
    }
    expect_err(
        kv.kv_watch("p").await.map(|_| "a stream"),
        ErrorKind::Unsupported,
        &["kv_wait"],
    );
    false
}

/// W1: rows that already hold the fields: the wait returns at once.
pub async fn w1_wait_returns_at_once_when_rows_are_there(kv: &Kv) {
    kv.kv_put("a", "p", Some(one_cell("x", 1.0)), None)
        .await
        .unwrap();
    kv.kv_put("b", "p", None, Some(tag! {"s" => 1}))
        .await
        .unwrap();
    kv.kv_wait(&keys(&["a"]), "p", Some(&["x"]), Duration::ZERO)
        .await
        .expect("a wait for a field that is there, with no time at all");
    kv.kv_wait(&keys(&["a", "b", "a"]), "p", None, Duration::ZERO)
        .await
        .expect("a tag-only wait for rows that exist (a key repeated)");
}

/// W1: a wait started before the put returns after it, and not before.
pub async fn w1_wait_is_woken_by_a_later_put(kv: &Kv) {
    let waiter = spawn_wait(kv, &["a", "b"], &["x"]);
    kv.kv_put("a", "p", Some(one_cell("x", 1.0)), None)
        .await
        .unwrap();
    tokio::time::sleep(BRIEF).await;
    assert!(
        !waiter.is_finished(),
        "the wait returned although key b was never put"
    );
    kv.kv_put("b", "p", Some(one_cell("x", 2.0)), None)
        .await
        .unwrap();
    returned(waiter, "the put")
        .await
        .expect("the wait failed although both keys hold x");
}

/// W1: every listed field counts; a field put later wakes the wait.
pub async fn w1_wait_needs_every_listed_field(kv: &Kv) {
    kv.kv_put("a", "p", Some(one_cell("x", 1.0)), None)
        .await
        .unwrap();
    expect_err(
        kv.kv_wait(&keys(&["a"]), "p", Some(&["x", "y"]), BRIEF)
            .await,
        ErrorKind::Timeout,
        &["\"a\"", "y"],
    );
    let waiter = spawn_wait(kv, &["a"], &["x", "y"]);
    kv.kv_put("a", "p", Some(one_cell("y", 2.0)), None)
        .await
        .unwrap();
    returned(waiter, "the second field")
        .await
        .expect("a wait for two fields both present");
}

/// W1: a timeout is a temporary `Timeout` naming the partition, the keys
/// still missing (not those present) and the fields they lack.
pub async fn w1_timeout_names_missing_keys_and_fields(kv: &Kv) {
    kv.kv_put("here", "p", Some(one_cell("x", 1.0)), None)
        .await
        .unwrap();
    kv.kv_put("half", "p", Some(one_cell("x", 1.0)), None)
        .await
        .unwrap();
    let started = tokio::time::Instant::now();
    let err = kv
        .kv_wait(&keys(&["here", "gone", "half"]), "p", Some(&["x"]), BRIEF)
        .await
        .expect_err("key gone was never put");
    assert!(
        started.elapsed() >= BRIEF,
        "the wait gave up after {:?}, before its timeout",
        started.elapsed()
    );
    ensure_eq!(err.kind(), ErrorKind::Timeout);
    assert!(err.is_temporary(), "a timeout is temporary: {err}");
    ensure_eq!(err.context_value("partition"), Some("p"));
    let named = err.context_value("keys").unwrap_or_default().to_owned();
    assert!(
        named.contains("gone"),
        "the missing key is not named: {err}"
    );
    assert!(!named.contains("here"), "a present key is named: {err}");
    ensure_eq!(err.context_value("fields"), Some("x"));
    let err = kv
        .kv_wait(&keys(&["half"]), "p", Some(&["x", "y"]), BRIEF)
        .await
        .expect_err("field y was never put");
    ensure_eq!(err.context_value("keys"), Some("half"));
    ensure_eq!(err.context_value("fields"), Some("y"));
    let err = kv
        .kv_wait(&keys(&["gone"]), "elsewhere", None, BRIEF)
        .await
        .expect_err("a tag-only wait for a row of an empty partition");
    ensure_eq!(err.kind(), ErrorKind::Timeout);
    ensure_eq!(err.context_value("partition"), Some("elsewhere"));
    ensure_eq!(err.context_value("keys"), Some("gone"));
}

/// W1: a put racing the set-up of the wait (subscribe, check) is never
/// missed, over many repetitions.
pub async fn w1_put_racing_the_wait_set_up_is_never_missed(kv: &Kv) {
    for i in 0..200 {
        let key = format!("k{i}");
        let waited = keys(&[key.as_str()]);
        let wait = kv.kv_wait(&waited, "p", Some(&["x"]), PATIENCE);
        let put = async {
            // Vary which side starts first.
            for _ in 0..i % 3 {
                tokio::task::yield_now().await;
            }
            kv.kv_put(&key, "p", Some(one_cell("x", i as f32)), None)
                .await
        };
        let started = tokio::time::Instant::now();
        let (waited, put) = tokio::join!(wait, put);
        put.unwrap();
        waited.unwrap_or_else(|e| panic!("round {i}: the wait missed the racing put: {e}"));
        // A wait that missed the put still finds the row in its last check
        // at the deadline: only its lateness shows the miss.
        let took = started.elapsed();
        assert!(
            took < MISSED,
            "round {i}: the wait took {took:?}: it missed the racing put and found the row \
             only by its last check"
        );
    }
}

/// W1: a cleared row or field is missing again; a wait for it waits.
pub async fn w1_cleared_rows_and_fields_are_waited_for_again(kv: &Kv) {
    let row = Row::new().with("x", f32s(&[1.0])).with("y", f32s(&[2.0]));
    kv.kv_put("a", "p", Some(row.clone()), None).await.unwrap();
    kv.kv_put("b", "p", Some(row), None).await.unwrap();
    kv.kv_clear(&keys(&["a"]), "p", Some(&["y"])).await.unwrap();
    kv.kv_clear(&keys(&["b"]), "p", None).await.unwrap();
    kv.kv_wait(&keys(&["a"]), "p", Some(&["x"]), Duration::ZERO)
        .await
        .expect("field x of a was not cleared");
    let err = kv
        .kv_wait(&keys(&["a", "b"]), "p", Some(&["y"]), BRIEF)
        .await
        .expect_err("y of a and all of b were cleared");
    ensure_eq!(err.context_value("keys"), Some("a, b"));
    let waiter = spawn_wait(kv, &["a", "b"], &["y"]);
    kv.kv_put("a", "p", Some(one_cell("y", 3.0)), None)
        .await
        .unwrap();
    kv.kv_put("b", "p", Some(one_cell("y", 4.0)), None)
        .await
        .unwrap();
    returned(waiter, "the puts")
        .await
        .expect("a wait for y put again");
}

/// W1: bad arguments are `InvalidArgument`, naming the partition.
pub async fn w1_bad_arguments_are_invalid(kv: &Kv) {
    expect_err(
        kv.kv_wait(&[], "p", None, BRIEF).await,
        ErrorKind::InvalidArgument,
        &["empty", "\"p\""],
    );
    expect_err(
        kv.kv_wait(&keys(&["a"]), "p", Some(&["x", "x"]), BRIEF)
            .await,
        ErrorKind::InvalidArgument,
        &["\"x\""],
    );
    expect_err(
        kv.kv_wait(&keys(&["a"]), "", None, BRIEF).await,
        ErrorKind::InvalidArgument,
        &["partition"],
    );
    expect_err(
        kv.kv_wait(&keys(&[""]), "p", None, BRIEF).await,
        ErrorKind::InvalidArgument,
        &["key"],
    );
    expect_err(
        kv.kv_watch("").await.map(|_| "a stream"),
        ErrorKind::InvalidArgument,
        &["partition"],
    );
}

/// W2: puts (fields written, tag after the merge), field clears and row
/// clears of the watched partition, in order; nothing of other partitions
/// or of writes that changed nothing; a `kv_update` has its put event.
pub async fn w2_watch_reports_puts_and_clears(kv: &Kv) {
    if !pushes_or_unsupported(kv).await {
        return;
    }
    let mut events = kv.kv_watch("p").await.unwrap();
    kv.kv_put("a", "p", Some(one_cell("x", 1.0)), Some(tag! {"s" => 1}))
        .await
        .unwrap();
    kv.kv_put("a", "other", Some(one_cell("x", 1.0)), None)
        .await
        .unwrap();
    kv.kv_put("a", "p", Some(one_cell("y", 2.0)), Some(tag! {"r" => 0.5}))
        .await
        .unwrap();
    kv.kv_put("b", "p", None, Some(tag! {"s" => 2}))
        .await
        .unwrap();
    // Of a missing row: no event.
    kv.kv_clear(&keys(&["missing"]), "p", Some(&["x"]))
        .await
        .unwrap();
    kv.kv_clear(&keys(&["missing"]), "p", None).await.unwrap();
    kv.kv_clear(&keys(&["a"]), "p", Some(&["x"])).await.unwrap();
    kv.kv_clear(&keys(&["a", "b"]), "p", None).await.unwrap();
    let expected = [
        WatchEvent::Put {
            key: "a".into(),
            fields: vec!["x".into()],
            tag: tag! {"s" => 1},
        },
        WatchEvent::Put {
            key: "a".into(),
            fields: vec!["y".into()],
            tag: tag! {"s" => 1, "r" => 0.5},
        },
        WatchEvent::Put {
            key: "b".into(),
            fields: vec![],
            tag: tag! {"s" => 2},
        },
        WatchEvent::Clear {
            key: "a".into(),
            fields: Some(vec!["x".into()]),
        },
        WatchEvent::Clear {
            key: "a".into(),
            fields: None,
        },
        WatchEvent::Clear {
            key: "b".into(),
            fields: None,
        },
    ];
    // Rows of one call may be reported in any order across keys; one
    // key's events must come in apply order.
    let mut got = Vec::new();
    for _ in 0..expected.len() {
        got.push(next_event(&mut events).await);
    }
    for key in ["a", "b"] {
        let of = |list: &[WatchEvent]| -> Vec<WatchEvent> {
            list.iter()
                .filter(|e| e.key() == Some(key))
                .cloned()
                .collect()
        };
        ensure_eq!(of(&got), of(&expected), "events of key {key}");
    }
    // A kv_update is a write like any other: it has its event too.
    if kv.capabilities().conditional_write {
        let bump = |_: &CurrentRow| Some(RowChange::new().with_tag(tag! {"n" => 1}));
        kv.kv_update("u", "p", None, &bump).await.unwrap();
        ensure_eq!(
            next_event(&mut events).await,
            WatchEvent::Put {
                key: "u".into(),
                fields: vec![],
                tag: tag! {"n" => 1},
            },
            "the event of a kv_update"
        );
    }
    kv.kv_put("last", "p", None, Some(tag! {})).await.unwrap();
    ensure_eq!(
        next_event(&mut events).await.key(),
        Some("last"),
        "an event nobody expected came before the last put's"
    );
}

/// W2: events of one key come in the order the backend applied the
/// writes, with concurrent writers: each writer's tag entry only grows
/// from event to event, and every put has its event.
pub async fn w2_events_of_a_key_come_in_apply_order(kv: &Kv) {
    if !pushes_or_unsupported(kv).await {
        return;
    }
    const WRITERS: usize = 4;
    const PUTS: i64 = 100;
    let mut events = kv.kv_watch("p").await.unwrap();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let kv = kv.clone();
            tokio::spawn(async move {
                for n in 1..=PUTS {
                    let entry = format!("w{w}");
                    let mut tag = crate::Tag::new();
                    tag.insert(entry, n.into());
                    kv.kv_put("k", "p", None, Some(tag)).await.unwrap();
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.expect("a writer panicked");
    }
    let mut last: HashMap<String, i64> = HashMap::new();
    for i in 0..WRITERS * PUTS as usize {
        match next_event(&mut events).await {
            WatchEvent::Put { key, tag, .. } => {
                ensure_eq!(key, "k");
                for (entry, value) in &tag {
                    let value = value.as_i64().unwrap_or(-1);
                    let before = last.insert(entry.clone(), value).unwrap_or(0);
                    assert!(
                        value >= before,
                        "event {i}: tag entry {entry} went from {before} back to {value}: \
                         events left out of apply order"
                    );
                }
            }
            other => panic!("event {i}: expected a put, got {other:?}"),
        }
    }
    for w in 0..WRITERS {
        ensure_eq!(
            last.get(&format!("w{w}")).copied(),
            Some(PUTS),
            "writer {w}"
        );
    }
}

/// W2: a watcher that falls behind reads `Lagged` with the count lost,
/// never a silent gap: the events it reads plus those it is told it lost
/// are every write.
pub async fn w3_slow_watcher_reads_lagged_not_a_silent_gap(kv: &Kv) {
    if !pushes_or_unsupported(kv).await {
        return;
    }
    // Well past the default watch buffer (4096 events) of the built-ins.
    const ROWS: usize = 20_000;
    const CALL: usize = 1_000;
    let mut events = kv.kv_watch("p").await.unwrap();
    for start in (0..ROWS).step_by(CALL) {
        let names: Vec<String> = (start..start + CALL).map(|i| format!("k{i}")).collect();
        kv.kv_batch_put(&names, "p", None, Some(vec![tag! {}; CALL]))
            .await
            .unwrap();
    }
    let (mut seen, mut missed, mut lags) = (0u64, 0u64, 0);
    while seen + missed < ROWS as u64 {
        match next_event(&mut events).await {
            WatchEvent::Lagged { missed: n } => {
                assert!(n > 0, "a Lagged item that lost nothing");
                missed += n;
                lags += 1;
            }
            WatchEvent::Put { .. } => seen += 1,
            other => panic!("expected puts, got {other:?}"),
        }
    }
    ensure_eq!(seen + missed, ROWS as u64, "events read plus events lost");
    assert!(
        lags > 0,
        "{ROWS} events unread never lagged: is the buffer unbounded?"
    );
}
