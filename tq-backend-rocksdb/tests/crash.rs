//! Crash safety: a child process (this test binary, re-invoked with
//! `TQ_ROCKSDB_CRASH_CHILD` set) runs batch puts, tag-and-field updates and
//! clears in a loop with `sync_writes = true` and reports each operation on
//! stdout before (`B ...`) and after (`A ...`) it runs. The parent kills it
//! with SIGKILL at random moments, many times; after each kill it reopens the
//! store and checks that
//!
//! - every batch is wholly present or wholly absent, with one tag and one
//!   set of fields across its rows (batch atomicity through the crash);
//! - every acknowledged put, update and clear is there, unless a later
//!   operation on the same batch had begun;
//! - `kv_list` agrees with the rows: each listed key reads back with the
//!   fields and values its batch wrote, each key of an absent batch is
//!   absent, and keys are listed in insertion order (also across restarts:
//!   the sequence counter survives the crash).

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tq_backend_rocksdb::{RocksDbBackend, RocksDbConfig};
use tq_core::{Batch, ErrorKind, KvStore, NonTensor, StorageBackend, Tag, Tensor, Value, tag};

const CHILD_ENV: &str = "TQ_ROCKSDB_CRASH_CHILD";
const TEST_NAME: &str = "sigkill_at_random_moments_keeps_every_batch_whole";
const ROUNDS: usize = 40;
const MAX_ROWS: u64 = 5;

fn partition(id: u64) -> String {
    format!("p{}", id % 3)
}

fn keys(id: u64, n: u64) -> Vec<String> {
    (0..n).map(|j| format!("b{id}-{j}")).collect()
}

fn parse_key(key: &str) -> (u64, u64) {
    let (id, j) = key
        .strip_prefix('b')
        .and_then(|k| k.split_once('-'))
        .unwrap_or_else(|| panic!("unexpected key {key:?}"));
    (id.parse().unwrap(), j.parse().unwrap())
}

fn config(path: &str) -> RocksDbConfig {
    let mut config = RocksDbConfig::new(path);
    config.sync_writes = true;
    config.blob_min_bytes = 4096;
    config.write_buffer_bytes = 1 << 20; // flush often: crashes also hit flushes
    config
}

#[test]
fn sigkill_at_random_moments_keeps_every_batch_whole() {
    match std::env::var(CHILD_ENV) {
        Ok(spec) => child(&spec),
        Err(_) => parent(),
    }
}

// ---------------------------------------------------------------- child --

fn child(spec: &str) {
    let mut parts = spec.split('|');
    let path = parts.next().unwrap().to_owned();
    let mut num = || parts.next().unwrap().parse::<u64>().unwrap();
    let (seed, first_id, mut next_upd) = (num(), num(), num());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let kv = KvStore::new(Arc::new(RocksDbBackend::open(config(&path)).await.unwrap()));
        // The batches that exist, and their row counts, from the store.
        let mut live: Vec<(u64, u64)> = Vec::new();
        for (_, rows) in kv.kv_list(None).await.unwrap() {
            for (key, tag) in rows {
                let (id, j) = parse_key(&key);
                if j == 0 {
                    live.push((id, tag["n"].as_u64().unwrap()));
                }
            }
        }
        // libtest has printed "test <name> ... " without a newline: start a line.
        println!("\nREADY");
        let mut rng = StdRng::seed_from_u64(seed);
        let mut next_id = first_id;
        loop {
            let roll = rng.random_range(0..10);
            if roll < 5 || live.is_empty() {
                let (id, n) = (next_id, rng.random_range(1..=MAX_ROWS));
                next_id += 1;
                let pad = rng.random_range(1..=40_000usize);
                let batch = Batch::new(n as usize)
                    .with_dense(
                        "x",
                        Tensor::from_vec(vec![id as i64; n as usize * 4], [n as usize, 4]).unwrap(),
                    )
                    .unwrap()
                    .with_dense(
                        "pad",
                        Tensor::from_vec(vec![id as u8; n as usize * pad], [n as usize, pad])
                            .unwrap(),
                    )
                    .unwrap()
                    .with_non_tensor(
                        "s",
                        (0..n)
                            .map(|j| NonTensor::from(format!("b{id}-{j}")))
                            .collect(),
                    )
                    .unwrap();
                let tags = (0..n).map(|_| tag! {"batch" => id, "n" => n}).collect();
                println!("B put {id}");
                kv.kv_batch_put(&keys(id, n), &partition(id), Some(batch), Some(tags))
                    .await
                    .unwrap();
                println!("A put {id}");
                live.push((id, n));
            } else if roll < 8 {
                let (id, n) = live[rng.random_range(0..live.len())];
                let u = next_upd;
                next_upd += 1;
                let batch = Batch::new(n as usize)
                    .with_dense(
                        "z",
                        Tensor::from_vec(vec![u as i64; n as usize], [n as usize]).unwrap(),
                    )
                    .unwrap();
                let tags = (0..n).map(|_| tag! {"upd" => u}).collect();
                println!("B upd {id} {u}");
                kv.kv_batch_put(&keys(id, n), &partition(id), Some(batch), Some(tags))
                    .await
                    .unwrap();
                println!("A upd {id} {u}");
            } else {
                let (id, n) = live.swap_remove(rng.random_range(0..live.len()));
                println!("B clear {id}");
                let removed = kv
                    .kv_clear(&keys(id, n), &partition(id), None)
                    .await
                    .unwrap();
                assert_eq!(removed as u64, n);
                println!("A clear {id}");
            }
        }
    });
}

// --------------------------------------------------------------- parent --

/// Kills the child if the parent panics.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Presence {
    Yes,
    No,
    Maybe,
}

/// What the store may hold for one batch after a kill.
#[derive(Debug)]
struct Expect {
    presence: Presence,
    /// Allowed values of the batch's `upd` tag entry (None: no update).
    upd: HashSet<Option<u64>>,
}

/// A batch as found in the store.
#[derive(Debug, Clone, Copy)]
struct Found {
    upd: Option<u64>,
}

/// Streams the child's complete stdout lines (a line cut by the kill has no
/// newline and is dropped).
fn read_lines(child: &mut Child) -> Receiver<String> {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) if buf.ends_with(b"\n") => {
                    let line = String::from_utf8_lossy(&buf).trim_end().to_owned();
                    if tx.send(line).is_err() {
                        break;
                    }
                }
                Ok(_) => break,
            }
        }
    });
    rx
}

fn parent() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap().to_owned();
    let seed: u64 = rand::random();
    println!("crash test seed {seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let exe = std::env::current_exe().unwrap();
    let started = Instant::now();
    let mut model: BTreeMap<u64, Found> = BTreeMap::new();
    let mut next_id = 0u64;
    let (mut acked, mut kills_mid_run) = (0usize, 0usize);

    for round in 0..ROUNDS {
        let mut child = KillOnDrop(
            Command::new(&exe)
                .args([TEST_NAME, "--exact", "--nocapture", "--test-threads=1"])
                .env(
                    CHILD_ENV,
                    format!(
                        "{path}|{}|{next_id}|{}",
                        rng.random::<u64>(),
                        round as u64 * 1_000_000
                    ),
                )
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap(),
        );
        let lines = read_lines(&mut child.0);
        let mut log = Vec::new();
        // Most rounds wait for the child to be running; some kill it while
        // it is still opening (recovering) the store.
        if rng.random_range(0..8) != 0 {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let line = lines
                    .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                    .unwrap_or_else(|_| panic!("round {round}: the child never became ready"));
                if line == "READY" {
                    break;
                }
            }
            if round == 0 {
                // While the child holds the store, opening it here fails cleanly.
                let err = runtime
                    .block_on(RocksDbBackend::open(config(&path)))
                    .unwrap_err();
                assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
                assert!(err.message().contains(&path), "{err}");
            }
            std::thread::sleep(Duration::from_millis(rng.random_range(0..250)));
        } else {
            std::thread::sleep(Duration::from_millis(rng.random_range(0..40)));
        }
        assert!(
            child.0.try_wait().unwrap().is_none(),
            "round {round}: the child exited on its own"
        );
        child.0.kill().unwrap(); // SIGKILL
        child.0.wait().unwrap();
        log.extend(lines.iter());
        kills_mid_run += usize::from(log.iter().any(|l| l.starts_with("B ")));
        acked += log.iter().filter(|l| l.starts_with("A ")).count();

        let expect = expectations(&model, &log);
        next_id = expect
            .keys()
            .next_back()
            .map_or(next_id, |id| (id + 1).max(next_id));
        model = runtime.block_on(verify(&path, &expect, round));
    }
    println!(
        "{ROUNDS} kills, {kills_mid_run} mid-run, {acked} acknowledged operations, {} batches live, {:?}",
        model.len(),
        started.elapsed()
    );
    assert!(
        kills_mid_run >= ROUNDS / 2,
        "too few kills hit a running workload"
    );
    assert!(acked > 0);
}

/// Applies the child's log to the state found after the previous kill.
fn expectations(model: &BTreeMap<u64, Found>, log: &[String]) -> BTreeMap<u64, Expect> {
    let mut expect: BTreeMap<u64, Expect> = model
        .iter()
        .map(|(id, found)| {
            let upd = HashSet::from([found.upd]);
            (
                *id,
                Expect {
                    presence: Presence::Yes,
                    upd,
                },
            )
        })
        .collect();
    for line in log {
        let words: Vec<&str> = line.split(' ').collect();
        let num = |i: usize| words[i].parse::<u64>().unwrap();
        match words.as_slice() {
            ["B", "put", _] => {
                let upd = HashSet::from([None]);
                expect.insert(
                    num(2),
                    Expect {
                        presence: Presence::Maybe,
                        upd,
                    },
                );
            }
            ["A", "put", _] => expect.get_mut(&num(2)).unwrap().presence = Presence::Yes,
            ["B", "upd", _, _] => {
                expect.get_mut(&num(2)).unwrap().upd.insert(Some(num(3)));
            }
            ["A", "upd", _, _] => {
                expect.get_mut(&num(2)).unwrap().upd = HashSet::from([Some(num(3))])
            }
            ["B", "clear", _] => expect.get_mut(&num(2)).unwrap().presence = Presence::Maybe,
            ["A", "clear", _] => expect.get_mut(&num(2)).unwrap().presence = Presence::No,
            _ => {} // libtest's own output, READY
        }
    }
    expect
}

/// Reopens the store and checks it against `expect`; returns what it holds.
async fn verify(path: &str, expect: &BTreeMap<u64, Expect>, round: usize) -> BTreeMap<u64, Found> {
    let backend = Arc::new(RocksDbBackend::open(config(path)).await.unwrap());
    let kv = KvStore::new(backend.clone());
    let listing = kv.kv_list(None).await.unwrap();
    let mut found: BTreeMap<u64, Found> = BTreeMap::new();
    let mut listed: BTreeMap<u64, Vec<(u64, Tag)>> = BTreeMap::new();
    for (p, rows) in &listing {
        let mut last = None;
        for (key, tag) in rows {
            let (id, j) = parse_key(key);
            assert_eq!(
                p,
                &partition(id),
                "round {round}: {key} in the wrong partition"
            );
            assert!(
                last < Some((id, j)),
                "round {round}: {p} lists {key} out of insertion order"
            );
            last = Some((id, j));
            listed.entry(id).or_default().push((j, tag.clone()));
        }
    }
    for (id, rows) in &listed {
        let ctx = format!("round {round}, batch {id}");
        let e = expect
            .get(id)
            .unwrap_or_else(|| panic!("{ctx}: never written"));
        assert_ne!(
            e.presence,
            Presence::No,
            "{ctx}: acknowledged clear, but rows remain"
        );
        let tag = &rows[0].1;
        let n = tag["n"].as_u64().unwrap();
        let upd = tag.get("upd").map(|u| u.as_u64().unwrap());
        let js: Vec<u64> = rows.iter().map(|(j, _)| *j).collect();
        assert_eq!(
            js,
            (0..n).collect::<Vec<_>>(),
            "{ctx}: part of the batch is missing"
        );
        assert!(
            rows.iter().all(|(_, t)| t == tag),
            "{ctx}: rows have different tags {rows:?}"
        );
        assert_eq!(tag["batch"].as_u64(), Some(*id), "{ctx}");
        assert!(
            e.upd.contains(&upd),
            "{ctx}: upd {upd:?} not in {:?}",
            e.upd
        );

        // The rows agree with the listing: fields and values of every row.
        let cells = backend
            .get(&partition(*id), &keys(*id, n), None)
            .await
            .unwrap();
        for (j, row) in cells.into_iter().enumerate() {
            let row = row.unwrap_or_else(|| panic!("{ctx}: listed row {j} does not read"));
            let mut fields: Vec<&str> = row.iter().map(|(f, _)| f.as_str()).collect();
            fields.sort_unstable();
            let want: &[&str] = if upd.is_some() {
                &["pad", "s", "x", "z"]
            } else {
                &["pad", "s", "x"]
            };
            assert_eq!(fields, want, "{ctx}: row {j}");
            for (field, value) in &row {
                match (field.as_str(), value) {
                    ("x", Value::Tensor(t)) => {
                        assert_eq!(t.to_vec::<i64>().unwrap(), [*id as i64; 4])
                    }
                    ("z", Value::Tensor(t)) => {
                        assert_eq!(t.to_vec::<i64>().unwrap(), [upd.unwrap() as i64])
                    }
                    ("pad", Value::Tensor(t)) => assert!(t.data().iter().all(|b| *b == *id as u8)),
                    ("s", v) => assert_eq!(
                        v.as_non_tensor(),
                        Some(&NonTensor::from(format!("b{id}-{j}")))
                    ),
                    other => panic!("{ctx}: unexpected cell {other:?}"),
                }
            }
        }
        found.insert(*id, Found { upd });
    }
    for (id, e) in expect {
        if listed.contains_key(id) {
            continue;
        }
        let ctx = format!("round {round}, batch {id}");
        assert_ne!(
            e.presence,
            Presence::Yes,
            "{ctx}: acknowledged, but missing"
        );
        // Unlisted means unreadable too.
        let cells = backend
            .get(&partition(*id), &keys(*id, MAX_ROWS), None)
            .await
            .unwrap();
        assert!(
            cells.iter().all(Option::is_none),
            "{ctx}: rows read but are not listed"
        );
    }
    found
}
