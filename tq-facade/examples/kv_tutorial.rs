//! The KV API tutorial: the flow of the Python TransferQueue's
//! `tutorial/02_kv_interface.py`, step by step, on the embedded default
//! backend (or whatever `TQ_CONFIG` / `TQ_BACKEND` select), then what its
//! newer KV API added: field-level `kv_clear`, `kv_batch_update` and the
//! `KvBatchMeta` helpers; and what it does not have: a consumer woken by
//! `kv_wait` and `kv_watch` instead of polling; and a checkpoint of a
//! partition saved to object storage and loaded back.
//!
//! Run it with `cargo run -p tq-facade --example kv_tutorial`.
//!
//! It uses the blocking API, like the Python tutorial; every call has an
//! async twin of the same name and arguments on `tq_facade::TransferQueue`.

use std::time::{Duration, Instant};
use tq_facade::blocking::TransferQueue;

use tq_facade::{
    Batch, Column, CurrentRow, Error, Listing, Result, Row, RowChange, Tensor, WatchEvent, tag,
};

const PARTITION: &str = "Train";

fn main() -> Result<()> {
    banner("TransferQueue (Rust) tutorial: the KV API");
    let tq = TransferQueue::open_default()?;
    println!("Opened the '{}' backend.\n", tq.as_async().backend().name());

    step(1, "Put one sample with kv_put");
    let key = "0_0"; // a meaningful user-defined key: "{uid}_{session_id}"
    let sample = Row::new()
        .with("input_ids", Tensor::from_vec(vec![1i64, 2, 3], [3])?)
        .with("attention_mask", Tensor::from_vec(vec![1i64; 3], [3])?);
    let tag = tag! {"global_steps" => 0, "status" => "running", "model_version" => 0};
    println!(
        "  key {key:?}, fields [input_ids, attention_mask], tag {}",
        json(&tag)
    );
    let meta = tq.kv_put(key, PARTITION, Some(sample), Some(tag))?;
    println!("  ✓ kv_put: the row now holds {:?}", meta.fields);

    step(2, "Put four samples with kv_batch_put");
    let keys = ["1_0", "1_1", "1_2", "2_0"];
    let input_ids = Tensor::from_vec((4..16).collect::<Vec<i64>>(), [4, 3])?;
    let batch = Batch::new(4)
        .with_dense("input_ids", input_ids)?
        .with_dense("attention_mask", Tensor::from_vec(vec![1i64; 12], [4, 3])?)?;
    let tags = vec![tag! {"global_steps" => 1, "status" => "running", "model_version" => 1}; 4];
    let meta = tq.kv_batch_put(&keys, PARTITION, Some(batch), Some(tags))?;
    println!(
        "  ✓ kv_batch_put of {:?}: fields {:?}",
        meta.keys, meta.fields
    );

    step(3, "Append a 'response' field to two of them, with new tags");
    let append_keys = ["1_1", "2_0"];
    let response = Batch::new(2).with_dense(
        "response",
        Tensor::from_vec(vec![4i64, 5, 6, 7, 8, 9], [2, 3])?,
    )?;
    let tags = vec![tag! {"global_steps" => 1, "status" => "finish", "model_version" => 1}; 2];
    let meta = tq.kv_batch_put(&append_keys, PARTITION, Some(response), Some(tags))?;
    println!("  ✓ {:?} now hold {:?}", meta.keys, meta.fields);

    step(4, "Update a tag only (fields = None)");
    let tag = tag! {"global_steps" => 0, "status" => "finish", "model_version" => 0};
    let meta = tq.kv_put(key, PARTITION, None, Some(tag))?;
    println!("  ✓ the tag of {key:?} is now {}", json(&meta.tags[0]));

    step(5, "List every partition with kv_list");
    let listing = tq.kv_list(None)?;
    print_listing(&listing);

    step(6, "Get one selected field for every key");
    let all_keys: Vec<String> = listing[PARTITION].keys().cloned().collect();
    let got = tq.kv_batch_get(&all_keys, PARTITION, Some(&["input_ids"]))?;
    print_batch(&all_keys, &got);

    step(
        7,
        "Get all fields: only the fields every key holds come back",
    );
    let got = tq.kv_batch_get(&all_keys, PARTITION, None)?;
    print_batch(&all_keys, &got);
    println!("  'response' is missing: only {append_keys:?} hold it.");

    step(8, "Clear two keys and list again");
    let removed = tq.kv_clear(&all_keys[..2], PARTITION, None)?;
    println!("  ✓ kv_clear removed {removed} rows: {:?}", &all_keys[..2]);
    print_listing(&tq.kv_list(Some(PARTITION))?);

    step(
        9,
        "Clear one field of a row with kv_clear(.., Some(fields))",
    );
    let rows = tq.kv_clear(&["2_0"], PARTITION, Some(&["response"]))?;
    let got = tq.kv_batch_get(&["2_0"], PARTITION, None)?;
    println!(
        "  ✓ cleared 'response' of {rows} row: '2_0' stays listed, now with {:?}",
        got.field_names().collect::<Vec<_>>()
    );

    step(10, "Update rows atomically with kv_batch_update");
    // The merge function sees each row's current tag (and the fields asked
    // for) and returns what to write; a concurrent writer never loses an
    // update: the write lands only if the row did not change meanwhile.
    let remaining: Vec<String> = tq.kv_list(Some(PARTITION))?[PARTITION]
        .keys()
        .cloned()
        .collect();
    let meta = tq.kv_batch_update(&remaining, PARTITION, None, |row: &CurrentRow| {
        let steps = row.tag.get("global_steps").and_then(|v| v.as_i64())?;
        Some(RowChange::new().with_tag(tag! {"global_steps" => steps + 1}))
    })?;
    for (key, tag) in meta.keys.iter().zip(&meta.tags) {
        println!("  ✓ {key:<4} tag {}", json(tag));
    }

    step(11, "Split the work with the meta helpers");
    let halves = meta.chunk(2)?;
    for (i, half) in halves.iter().enumerate() {
        let got = tq.kv_batch_get_by_meta(half, Some(&["input_ids"]))?;
        println!(
            "  ✓ chunk {i}: {:?}, {} rows read by meta",
            half.keys,
            got.num_rows()
        );
    }

    step(
        12,
        "A trainer waits for rollouts instead of polling: kv_wait, kv_watch",
    );
    // The Python tutorial's consumers poll kv_list; here the trainer is
    // woken by the puts themselves (pushed in process, or by Redis pub/sub
    // across processes), and a watcher sees each write as it lands.
    let rollouts = ["r0", "r1", "r2"];
    let mut events = tq.kv_watch(PARTITION, Duration::from_secs(5))?;
    let waited = std::thread::scope(|s| {
        let worker = s.spawn(|| -> Result<()> {
            for (i, key) in rollouts.iter().enumerate() {
                std::thread::sleep(Duration::from_millis(20));
                let row = Row::new().with("response", Tensor::from_vec(vec![i as i64; 3], [3])?);
                tq.kv_put(
                    key,
                    PARTITION,
                    Some(row),
                    Some(tag! {"status" => "rolled_out"}),
                )?;
            }
            Ok(())
        });
        let started = Instant::now();
        let waited = tq.kv_wait(
            &rollouts,
            PARTITION,
            Some(&["response"]),
            Duration::from_secs(10),
        );
        let worker = worker
            .join()
            .unwrap_or_else(|_| Err(Error::unexpected("the rollout worker panicked")));
        waited.and(worker).map(|()| started.elapsed())
    })?;
    println!(
        "  ✓ the trainer's kv_wait returned {waited:?} after it started, when all 3 responses were in"
    );
    for event in events.by_ref().take(rollouts.len()) {
        if let WatchEvent::Put { key, fields, tag } = event? {
            println!("  ✓ watched: put {key} {fields:?} tag {}", json(&tag));
        }
    }

    step(
        13,
        "Snapshot the partition to object storage, lose it, restore it",
    );
    // A checkpoint is data objects plus a manifest written last, on any
    // object_store URL (file://, s3://, ...); a load verifies every object
    // before it writes a row.
    let dir = tempfile::tempdir().map_err(|e| Error::unexpected("tempdir").with_source(e))?;
    let url = format!("file://{}", dir.path().display());
    let before = tq.kv_list(Some(PARTITION))?;
    let manifest = tq.save_checkpoint(&url, Some(&[PARTITION]))?;
    let saved = manifest.partition(PARTITION).map_or(0, |p| p.keys);
    println!("  ✓ saved {saved} rows of {PARTITION:?} to {url}");
    let keys: Vec<&String> = before[PARTITION].keys().collect();
    tq.kv_clear(&keys, PARTITION, None)?;
    println!(
        "  ✓ cleared the partition: {} keys listed",
        tq.kv_list(Some(PARTITION))?.len()
    );
    tq.load_checkpoint(&url)?;
    if tq.kv_list(Some(PARTITION))? != before {
        return Err(Error::unexpected("the restored partition differs"));
    }
    println!("  ✓ loaded it back: the same keys, in the same order, with the same tags");

    banner("Tutorial complete");
    Ok(())
}

fn banner(text: &str) {
    println!("{}\n{text}\n{}", "=".repeat(72), "=".repeat(72));
}

fn step(n: usize, text: &str) {
    println!("\n[Step {n}] {text}");
}

fn json(tag: &tq_facade::Tag) -> String {
    serde_json::Value::Object(tag.clone()).to_string()
}

fn print_listing(listing: &Listing) {
    println!(
        "  {} partition(s): {:?}",
        listing.len(),
        listing.keys().collect::<Vec<_>>()
    );
    for (partition, rows) in listing {
        for (key, tag) in rows {
            println!("    {partition} / {key:<4} tag {}", json(tag));
        }
    }
}

fn print_batch(keys: &[String], batch: &Batch) {
    println!(
        "  {} rows, fields {:?}",
        batch.num_rows(),
        batch.field_names().collect::<Vec<_>>()
    );
    for (field, column) in batch.columns() {
        let Column::Tensor(column) = column else {
            continue;
        };
        match column.as_dense() {
            Some(dense) => println!("    {field}: dense {:?} {}", dense.shape(), dense.dtype()),
            None => println!("    {field}: jagged, shapes {:?}", column.shapes()),
        }
        for (key, row) in keys.iter().zip(column.rows()) {
            println!(
                "      {key:<4} {:?}",
                row.to_vec::<i64>().unwrap_or_default()
            );
        }
    }
}
