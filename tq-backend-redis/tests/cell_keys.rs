//! Where a cell lives: large cells under Redis keys of their own (written
//! with `SET`), small ones in the row's hash, never both, and every reader
//! and remover treating both alike (see the crate docs, "Where a cell
//! lives"). The store is inspected through a connection of its own.

mod support;

use std::sync::Arc;

use redis::AsyncCommands;
use tq_backend_redis::{RedisBackend, RedisConfig};
use tq_core::{
    ConditionalBackend, ErrorKind, KvStore, RowVersion, RowWrite, StorageBackend, Tensor, tag,
};

/// A 64 KiB cell (over the default `cell_key_bytes`) of `value`.
fn big(value: f32) -> Tensor {
    Tensor::from_vec(vec![value; 16 * 1024], [16 * 1024]).unwrap()
}

/// A 16-byte cell (kept in the hash) of `value`.
fn small(value: f32) -> Tensor {
    Tensor::from_vec(vec![value; 4], [4]).unwrap()
}

struct Store {
    backend: RedisBackend,
    conn: redis::aio::MultiplexedConnection,
}

impl Store {
    async fn open(config: RedisConfig) -> Store {
        let url = config.url.clone().expect("a standalone config");
        let backend = RedisBackend::open(config).await.unwrap();
        let client = redis::Client::open(url).unwrap();
        let conn = client.get_multiplexed_async_connection().await.unwrap();
        Store { backend, conn }
    }

    async fn standalone() -> Store {
        Store::open(support::standalone_config().unwrap()).await
    }

    /// The row's hash field names, sorted.
    async fn hash_fields(&mut self, key: &str) -> Vec<String> {
        let layout = self.backend.layout();
        let row = layout.row(layout.bucket("p", key), "p", key);
        let mut names: Vec<String> = self.conn.hkeys(row).await.unwrap();
        names.sort();
        names
    }

    /// Whether the key of cell `field` of row `key` exists.
    async fn has_cell_key(&mut self, key: &str, field: &str) -> bool {
        let layout = self.backend.layout();
        let cell = layout.cell(layout.bucket("p", key), "p", key, field);
        self.conn.exists(cell).await.unwrap()
    }

    /// Every Redis key of the store.
    async fn all_keys(&mut self) -> Vec<String> {
        let pattern = self.backend.layout().scan_pattern();
        let mut keys: Vec<String> = self.conn.keys(pattern).await.unwrap();
        keys.sort();
        keys
    }

    /// Reading row `key`, whole or only `field`, is `Corrupted` naming
    /// the row and the field.
    async fn assert_cell_corrupted(&self, key: &str, field: &str) {
        for fields in [None, Some(&[field.to_owned()][..])] {
            let err = self
                .backend
                .get("p", &[key.to_owned()], fields)
                .await
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Corrupted, "{err}");
            assert_eq!(err.context_value("key"), Some(key), "{err}");
            assert_eq!(err.context_value("field"), Some(field), "{err}");
        }
    }

    /// The row's cells as `(field, f32 values)`, sorted by field.
    async fn cells(&self, key: &str, fields: Option<&[String]>) -> Vec<(String, Vec<f32>)> {
        let row = self
            .backend
            .get("p", &[key.to_owned()], fields)
            .await
            .unwrap()
            .remove(0)
            .expect("the row exists");
        let mut cells: Vec<(String, Vec<f32>)> = row
            .into_iter()
            .map(|(f, v)| {
                let t = v.as_tensor().expect("a tensor cell");
                (f, t.to_vec::<f32>().expect("float32 values"))
            })
            .collect();
        cells.sort_by(|a, b| a.0.cmp(&b.0));
        cells
    }
}

/// The first value of each cell, by field.
fn firsts(cells: &[(String, Vec<f32>)]) -> Vec<(&str, f32)> {
    cells.iter().map(|(f, v)| (f.as_str(), v[0])).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_cells_get_keys_of_their_own_small_ones_stay_in_the_hash() {
    let mut store = Store::standalone().await;
    let row = RowWrite::new("k")
        .with_cell("a", big(1.0))
        .with_cell("b", small(2.0))
        .with_tag(tag! {"status" => "new"});
    store.backend.put("p", vec![row]).await.unwrap();
    assert_eq!(
        store.hash_fields("k").await,
        ["fb", "s", "tstatus", "v", "xa"]
    );
    assert!(store.has_cell_key("k", "a").await);
    assert!(!store.has_cell_key("k", "b").await);

    let all = store.cells("k", None).await;
    assert_eq!(firsts(&all), [("a", 1.0), ("b", 2.0)]);
    assert_eq!(all[0].1.len(), 16 * 1024);
    assert!(all[0].1.iter().all(|v| *v == 1.0));
    let selected = ["b".to_owned(), "a".to_owned(), "missing".to_owned()];
    assert_eq!(
        firsts(&store.cells("k", Some(&selected)).await),
        [("a", 1.0), ("b", 2.0)]
    );
    // The listing and a whole-row clear see and remove both kinds.
    let kv = KvStore::new(Arc::new(store.backend.clone()));
    assert_eq!(
        kv.kv_list(Some("p")).await.unwrap()["p"]["k"],
        tag! {"status" => "new"}
    );
    assert_eq!(kv.kv_clear(&["k"], "p", None).await.unwrap(), 1);
    let left: Vec<String> = store.all_keys().await;
    assert!(
        left.iter()
            .all(|k| k.ends_with(":seq") || k.ends_with(":layout")),
        "{left:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cell_moves_between_hash_and_key_and_never_lives_in_both() {
    let mut store = Store::standalone().await;
    let backend = store.backend.clone();
    let put = |row: RowWrite| {
        let backend = backend.clone();
        async move { backend.put("p", vec![row]).await.unwrap() }
    };
    put(RowWrite::new("k")
        .with_cell("a", big(1.0))
        .with_cell("b", small(1.0)))
    .await;
    assert_eq!(store.hash_fields("k").await, ["fb", "s", "v", "xa"]);

    // Small again, by a transaction (the row has a large cell too).
    put(RowWrite::new("k")
        .with_cell("a", small(2.0))
        .with_cell("c", big(2.0)))
    .await;
    assert_eq!(store.hash_fields("k").await, ["fa", "fb", "s", "v", "xc"]);
    assert!(!store.has_cell_key("k", "a").await);
    assert_eq!(
        firsts(&store.cells("k", None).await),
        [("a", 2.0), ("b", 1.0), ("c", 2.0)]
    );

    // Large again; then small by the one-script path of small rows.
    put(RowWrite::new("k").with_cell("a", big(3.0))).await;
    assert_eq!(store.hash_fields("k").await, ["fb", "s", "v", "xa", "xc"]);
    put(RowWrite::new("k").with_cell("c", small(4.0))).await;
    assert_eq!(store.hash_fields("k").await, ["fb", "fc", "s", "v", "xa"]);
    assert!(!store.has_cell_key("k", "c").await);
    assert_eq!(
        firsts(&store.cells("k", None).await),
        [("a", 3.0), ("b", 1.0), ("c", 4.0)]
    );

    // A conditional write (kv_update) keeps its cells in the hash.
    let version = store
        .backend
        .get_versioned("p", &["k".to_owned()], None)
        .await
        .unwrap();
    let current: RowVersion = version[0].version;
    let outcome = store
        .backend
        .put_if(
            "p",
            vec![(RowWrite::new("k").with_cell("a", big(5.0)), current)],
        )
        .await
        .unwrap();
    assert!(matches!(outcome[0], tq_core::PutIfOutcome::Written(_)));
    assert_eq!(store.hash_fields("k").await, ["fa", "fb", "fc", "s", "v"]);
    assert!(!store.has_cell_key("k", "a").await);

    // Removing a cell removes its key, by either path.
    put(RowWrite::new("k").with_cell("d", big(6.0))).await;
    assert!(store.has_cell_key("k", "d").await);
    put(RowWrite::new("k").with_removed("d")).await;
    assert!(!store.has_cell_key("k", "d").await);
    put(RowWrite::new("k").with_cell("d", big(7.0))).await;
    put(RowWrite::new("k")
        .with_cell("e", big(7.0))
        .with_removed("d"))
    .await;
    assert!(!store.has_cell_key("k", "d").await);
    assert_eq!(
        store.hash_fields("k").await,
        ["fa", "fb", "fc", "s", "v", "xe"]
    );
    assert_eq!(
        firsts(&store.cells("k", None).await),
        [("a", 5.0), ("b", 1.0), ("c", 4.0), ("e", 7.0)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versioned_reads_see_cells_under_keys() {
    let store = Store::standalone().await;
    let row = RowWrite::new("k")
        .with_cell("a", big(1.0))
        .with_cell("b", small(2.0));
    store.backend.put("p", vec![row]).await.unwrap();
    let only_a = ["a".to_owned()];
    let read = store
        .backend
        .get_versioned("p", &["k".to_owned()], Some(&only_a))
        .await
        .unwrap()
        .remove(0);
    assert_eq!(read.cells.len(), 1);
    assert_eq!(read.cells[0].0, "a");
    assert_eq!(read.cells[0].1.as_tensor().unwrap().data(), big(1.0).data());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_cell_key_is_corrupted_naming_the_field_and_clear_repairs() {
    let mut store = Store::standalone().await;
    for key in ["bad", "good"] {
        let row = RowWrite::new(key).with_cell("a", big(1.0));
        store.backend.put("p", vec![row]).await.unwrap();
    }
    let layout = store.backend.layout().clone();
    let cell = layout.cell(layout.bucket("p", "bad"), "p", "bad", "a");
    let _: () = store.conn.del(cell).await.unwrap();

    store.assert_cell_corrupted("bad", "a").await;
    assert_eq!(firsts(&store.cells("good", None).await), [("a", 1.0)]);
    let kv = KvStore::new(Arc::new(store.backend.clone()));
    assert_eq!(kv.kv_clear(&["bad"], "p", None).await.unwrap(), 1);
    assert_eq!(kv.kv_list(Some("p")).await.unwrap()["p"].len(), 1);
}

/// Layout 3: the key holds the payload alone, the marker the codec
/// header, so a read learns every cell's size from the hash.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cell_key_holds_the_payload_and_its_marker_the_header() {
    let mut store = Store::standalone().await;
    let value =
        Tensor::from_vec((0..8192).map(|i| i as f32).collect::<Vec<f32>>(), [2, 4096]).unwrap();
    let row = RowWrite::new("k").with_cell("a", value.clone());
    store.backend.put("p", vec![row]).await.unwrap();
    let layout = store.backend.layout().clone();
    let b = layout.bucket("p", "k");
    let marker: Vec<u8> = store
        .conn
        .hget(layout.row(b, "p", "k"), "xa")
        .await
        .unwrap();
    let header = tq_core::codec::encode_header(&tq_core::Value::Tensor(value.clone()));
    assert_eq!(marker, header);
    let payload: Vec<u8> = store.conn.get(layout.cell(b, "p", "k", "a")).await.unwrap();
    assert_eq!(&payload[..], &value.data()[..]);

    // A damaged header is `Corrupted` naming the field, however the row is read.
    let _: () = store
        .conn
        .hset(layout.row(b, "p", "k"), "xa", &header[..7])
        .await
        .unwrap();
    store.assert_cell_corrupted("k", "a").await;
}

/// A get reads the payloads of the cells under keys straight into one
/// buffer per field, row after row (uniform and jagged fields alike), so
/// the column is that buffer: no copy after the socket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_reads_cells_into_one_buffer_per_field_and_the_column_is_that_buffer() {
    let store = Store::standalone().await;
    let rows = 8;
    let jagged = |i: usize| -> Tensor {
        let len = 8192 + 100 * i;
        Tensor::from_vec(
            (0..len).map(|x| (x + i) as f32).collect::<Vec<f32>>(),
            [len],
        )
        .unwrap()
    };
    let keys: Vec<String> = (0..rows).map(|i| format!("k{i}")).collect();
    let writes = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            RowWrite::new(k.clone())
                .with_cell("a", big(i as f32))
                .with_cell("j", jagged(i))
                .with_cell("s", small(i as f32))
        })
        .collect();
    store.backend.put("p", writes).await.unwrap();
    let all = ["a".to_owned(), "j".to_owned(), "s".to_owned()];
    for fields in [None, Some(&all[..])] {
        let got = store.backend.get("p", &keys, fields).await.unwrap();
        for field in ["a", "j"] {
            let column: Vec<Tensor> = got
                .iter()
                .map(|row| {
                    let row = row.as_ref().expect("the row exists");
                    let (_, v) = row.iter().find(|(f, _)| f == field).expect("the field");
                    v.as_tensor().expect("a tensor").clone()
                })
                .collect();
            for (i, t) in column.iter().enumerate() {
                let want = if field == "a" {
                    big(i as f32)
                } else {
                    jagged(i)
                };
                assert_eq!(t, &want, "{field} of row {i}");
            }
            for pair in column.windows(2) {
                let end = pair[0].data().as_ptr() as usize + pair[0].nbytes();
                assert_eq!(
                    end,
                    pair[1].data().as_ptr() as usize,
                    "{field}: rows not back to back"
                );
            }
            let assembled = tq_core::TensorColumn::from_rows(&column).unwrap();
            assert_eq!(
                assembled.data().as_ptr(),
                column[0].data().as_ptr(),
                "{field}: the column was copied"
            );
        }
    }
    // Through the KV API, the same values (repeats and a subset copy).
    let kv = KvStore::new(Arc::new(store.backend.clone()));
    let asked = ["k3", "k1", "k3"];
    let batch = kv.kv_batch_get(&asked, "p", Some(&["j"])).await.unwrap();
    let column = batch.tensor("j").expect("a tensor column");
    for (r, k) in asked.iter().enumerate() {
        let i: usize = k[1..].parse().unwrap();
        assert_eq!(column.row(r).unwrap(), jagged(i));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_of_another_layout_is_refused_naming_key_prefix() {
    let config = support::standalone_config().unwrap();
    let mut store = Store::open(config.clone()).await;
    let marker = store.backend.layout().layout_marker();
    for old in ["layout 1", "layout 2"] {
        let _: () = store
            .conn
            .set(&marker, format!("tq-backend-redis {old}; buckets=1"))
            .await
            .unwrap();
        let err = RedisBackend::open(config.clone()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{err}");
        assert_eq!(err.context_value("setting"), Some("key_prefix"), "{err}");
        assert!(err.to_string().contains(old), "{err}");
    }
}

/// Readers racing a writer that adds and drops large cells never see a
/// row mixing two writes, nor fail: the row alternates between the cells
/// `{a, b}` and `{a, b, c}`, each write giving all its cells one value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_racing_writes_that_add_cell_keys_see_whole_rows() {
    let store = Store::standalone().await;
    let backend = store.backend.clone();
    let write = |generation: u32| {
        let value = generation as f32;
        let mut row = RowWrite::new("k")
            .with_cell("a", big(value))
            .with_cell("b", big(value));
        row = if generation % 2 == 1 {
            row.with_cell("c", big(value))
        } else {
            row.with_removed("c")
        };
        row
    };
    backend.put("p", vec![write(0)]).await.unwrap();
    let writer = tokio::spawn(async move {
        for generation in 1..=200 {
            backend.put("p", vec![write(generation)]).await.unwrap();
        }
    });
    let mut reads = 0;
    while !writer.is_finished() {
        let cells = store.cells("k", None).await;
        let generation = cells[0].1[0];
        let expected: &[&str] = if generation as u32 % 2 == 1 {
            &["a", "b", "c"]
        } else {
            &["a", "b"]
        };
        let names: Vec<&str> = cells.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(names, expected, "generation {generation}");
        for (f, values) in &cells {
            assert!(
                values.iter().all(|v| *v == generation),
                "{f} torn at {generation}"
            );
        }
        reads += 1;
    }
    writer.await.unwrap();
    assert!(reads > 0);
}

/// A server over `maxmemory` refuses reads queued in a `MULTI`, so reads of
/// cell keys then check the row's version instead (a sequence lock):
/// readers racing clears (which a full server still accepts) see each row
/// whole or absent, never a hash whose cell keys were cleared under it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_on_a_full_server_racing_clears_see_whole_rows_or_none() {
    const ROWS: usize = 300;
    let server = tq_test_support::RedisServer::start().unwrap_or_else(|e| panic!("{e}"));
    let config = RedisConfig::standalone(server.url()).with_key_prefix("full");
    let backend = RedisBackend::open(config).await.unwrap();
    let keys: Vec<String> = (0..ROWS).map(|i| format!("k{i}")).collect();
    let rows: Vec<RowWrite> = keys
        .iter()
        .map(|k| {
            RowWrite::new(k.as_str())
                .with_cell("a", big(1.0))
                .with_cell("b", big(1.0))
        })
        .collect();
    backend.put("p", rows).await.unwrap();
    // Over maxmemory from now on: every write and every MULTI is refused.
    tq_test_support::redis_cli(server.port(), &["CONFIG", "SET", "maxmemory", "1mb"]).unwrap();
    let refused = backend
        .put("p", vec![RowWrite::new("new").with_cell("a", small(0.0))])
        .await
        .unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::CapacityExceeded, "{refused}");
    // A rejected call writes nothing.
    let new = backend.get("p", &["new".to_owned()], None).await.unwrap();
    assert!(new[0].is_none(), "{new:?}");

    let clearer = {
        let backend = backend.clone();
        let keys = keys.clone();
        tokio::spawn(async move {
            for key in keys.iter().rev() {
                backend.clear("p", std::slice::from_ref(key)).await.unwrap();
            }
        })
    };
    let mut seen_whole = 0;
    loop {
        let got = backend.get("p", &keys, None).await.unwrap();
        for cells in got.iter().flatten() {
            let names: Vec<&str> = cells.iter().map(|(f, _)| f.as_str()).collect();
            assert_eq!(names, ["a", "b"]);
            seen_whole += 1;
        }
        if got.iter().all(Option::is_none) {
            break;
        }
    }
    clearer.await.unwrap();
    assert!(seen_whole > 0);
}

/// A get whose rows are written between its read of their hashes and of
/// their cell keys reads those rows again, in one `MULTI`/`EXEC`, and puts
/// their cells into the slots the first read planned: every row is whole
/// (its two cells from one write) and each column is still one buffer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_written_during_a_get_are_read_again_into_the_same_column() {
    const ROWS: usize = 32;
    let store = Store::standalone().await;
    let backend = store.backend.clone();
    let keys: Vec<String> = (0..ROWS).map(|i| format!("k{i}")).collect();
    let write = |generation: u32| -> Vec<RowWrite> {
        keys.iter()
            .enumerate()
            .map(|(i, k)| {
                let value = (generation * 1000 + i as u32) as f32;
                RowWrite::new(k.clone())
                    .with_cell("a", big(value))
                    .with_cell("b", big(-value))
                    .with_tag(tag! {"generation" => generation})
            })
            .collect()
    };
    backend.put("p", write(0)).await.unwrap();
    let writer = {
        let backend = backend.clone();
        let batches: Vec<Vec<RowWrite>> = (1..=50).map(write).collect();
        tokio::spawn(async move {
            loop {
                for batch in &batches {
                    backend.put("p", batch.clone()).await.unwrap();
                }
            }
        })
    };
    let started = std::time::Instant::now();
    let mut gets = 0;
    while backend.rows_read_again() == 0 || gets < 20 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "no write landed inside a get in {gets} gets"
        );
        let got = backend.get("p", &keys, None).await.unwrap();
        let mut columns: Vec<Vec<Tensor>> = vec![Vec::new(), Vec::new()];
        for row in &got {
            let row = row.as_ref().expect("the row exists");
            for (column, field) in columns.iter_mut().zip(["a", "b"]) {
                let (_, v) = row.iter().find(|(f, _)| f == field).expect("the field");
                column.push(v.as_tensor().expect("a tensor").clone());
            }
        }
        // Each row whole: its own values, both cells from one write.
        for (r, (a, b)) in columns[0].iter().zip(&columns[1]).enumerate() {
            let value = a.to_vec::<f32>().unwrap()[0];
            assert_eq!(value as usize % 1000, r, "row {r} holds another row's cell");
            assert_eq!(a, &big(value), "row {r}: a torn");
            assert_eq!(b, &big(-value), "row {r} mixes two writes");
        }
        for (column, field) in columns.iter().zip(["a", "b"]) {
            let assembled = tq_core::TensorColumn::from_rows(column).unwrap();
            assert_eq!(
                assembled.data().as_ptr(),
                column[0].data().as_ptr(),
                "{field}: the column was copied ({} rows read again so far)",
                backend.rows_read_again()
            );
        }
        gets += 1;
    }
    writer.abort();
    eprintln!("{gets} gets, {} rows read again", backend.rows_read_again());
}
