//! Row writes: a put's rows encoded and checked, then sent as one
//! `put_row.lua` per small row or one `MULTI`/`EXEC` per large row (cells
//! of at least `cell_key_bytes` under keys of their own), and the errors of
//! a put that failed part-way.

use redis::Value as RV;
use tq_core::{Error, Result, RowState, RowVersion, RowWrite};

use crate::backend::RedisBackend;
use crate::cells::{EncodedRow, FieldValue, array, bulk, decode_tag, encode_row, in_row, utf8};
use crate::client::{ItemError, Order, SPLIT_BYTES, SPLIT_ITEMS, Unit};
use crate::conditional::version_text;
use crate::error::{bad_reply, classify, is_oom, position_ranges};
use crate::keys::{CELL_KEY_MARK, CELL_MARK, TAG_MARK};
use crate::scripts::{PUT_META, PUT_ROW};
use crate::wire::Command;
use crate::write_stamp::{STAMP_FIELD, next_stamp};
use tq_core::names::list_names;

impl RedisBackend {
    pub(crate) async fn put_rows(
        &self,
        partition: &str,
        rows: Vec<RowWrite>,
    ) -> Result<Vec<RowState>> {
        const OP: &str = "redis::put";
        let rows = self
            .encode_rows(rows, partition)
            .map_err(|e| e.with_operation(OP))?;
        let answers = self.send_row_writes(partition, &rows, None).await?;
        rows.iter()
            .zip(answers)
            .map(|(row, answer)| parse_state(answer, partition, row))
            .collect::<Result<_>>()
            .map_err(|e| e.with_operation(OP))
    }

    /// Encodes and checks every row before anything is sent (B3).
    pub(crate) fn encode_rows(
        &self,
        rows: Vec<RowWrite>,
        partition: &str,
    ) -> Result<Vec<EncodedRow>> {
        rows.into_iter()
            .map(|r| encode_row(r, partition, self.max_bulk, self.max_query))
            .collect()
    }

    /// Sends the row writes of one put, or with `expected` (each row's
    /// version) of one conditional put, and returns each row's answer from
    /// its script. A conditional write always goes as one `put_row.lua`
    /// (the check and the write must be one step) and is never split.
    pub(crate) async fn send_row_writes(
        &self,
        partition: &str,
        rows: &[EncodedRow],
        expected: Option<&[RowVersion]>,
    ) -> Result<Vec<RV>> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let buckets = self
            .layout
            .buckets_of(partition, rows.iter().map(|r| r.key.as_str()));
        let bytes: usize = rows
            .iter()
            .flat_map(|r| r.pairs.iter().map(|(_, v)| v.len()))
            .sum();
        // A large put is split over several connections, whose rows then
        // run interleaved: they take their sequence from the call's order,
        // reserved up front, instead of from the order they run in. A
        // cluster node has no insertion counter of its own: there every
        // new row takes a reserved sequence.
        let split = expected.is_none()
            && rows.len() > 1
            && (bytes > SPLIT_BYTES || rows.len() >= 2 * SPLIT_ITEMS);
        let first_seq = if self.conn.is_cluster() || split {
            // Nothing is written yet if this fails.
            let seqs = self.reserve_seqs(rows.len()).await;
            Some(seqs.map_err(|e| put_error(e, partition, rows, &[], &[]))?)
        } else {
            None
        };
        let counter = self.layout.counter();
        let publish = self.publish_command();
        let order = if first_seq.is_some() {
            Order::Free
        } else {
            Order::Kept
        };
        let outcomes = self
            .conn
            .run_items_each(&buckets, order, |i, by_text| {
                let b = buckets[i];
                let row = &rows[i];
                let row_key = self.layout.row(b, partition, &row.key);
                let index = self.layout.index(b, partition);
                let parts = self.layout.partitions(b);
                let seq = match first_seq {
                    Some(s) => (s + i as u64).to_string(),
                    None => String::new(),
                };
                let channel = self.layout.watch_channel(b, partition);
                let cell_base = self.layout.cell_base(b, partition, &row.key);
                let mut keys: Vec<&[u8]> = vec![&row_key, &index, &parts];
                if first_seq.is_none() {
                    keys.push(&counter);
                }
                // A conditional write checks and writes in one script,
                // whatever its size; a small row is one EVALSHA too (EVAL
                // after a NOSCRIPT).
                let expected =
                    expected.map(|e| version_text(e.get(i).copied().unwrap_or_default()));
                if expected.is_some() || self.by_script(row) {
                    return Unit::Cmd(put_row_command(
                        by_text,
                        &keys,
                        &seq,
                        row,
                        partition,
                        expected.as_deref().unwrap_or(""),
                        (publish, &channel, &cell_base),
                    ));
                }
                let creates = if row.creates { "1" } else { "" };
                // The values go with plain commands (never through Lua);
                // the script runs after them in the same MULTI/EXEC, sent
                // as EVAL (see `Unit::Tx`).
                let mut cmds = self.row_value_commands(&row_key, &cell_base, row);
                let mut meta = PUT_META.invocation(true, &keys);
                meta.arg(&seq).arg(&row.key).arg(partition).arg(creates);
                meta.arg(next_stamp()).arg(publish).arg(&channel);
                // The names of the cells removed and set, for the events,
                // and the tag entries set: a new row's whole tag.
                meta.arg(row.removed.len().to_string());
                for name in &row.removed {
                    meta.arg(name);
                }
                let is_cell = |name: &[u8]| name.first() == Some(&CELL_MARK);
                let cells = row.pairs.iter().filter(|(name, _)| is_cell(name));
                meta.arg(cells.clone().count().to_string());
                for (name, _) in cells {
                    meta.arg(name);
                }
                let is_tag = |name: &[u8]| name.first() == Some(&TAG_MARK);
                for (name, value) in row.pairs.iter().filter(|(name, _)| is_tag(name)) {
                    meta.arg(name);
                    value.write_to(&mut meta);
                }
                cmds.push(meta);
                Unit::Tx(cmds)
            })
            .await;
        if outcomes.iter().any(|o| o.is_err()) {
            return Err(partial_put_error(outcomes, partition, rows));
        }
        Ok(outcomes.into_iter().map(|o| o.unwrap_or(RV::Nil)).collect())
    }

    /// The smallest stored cell that gets a key of its own.
    fn cell_key_bytes(&self) -> usize {
        usize::try_from(self.config().cell_key_bytes.max(1)).unwrap_or(usize::MAX)
    }

    /// Whether `row` is written by one `put_row.lua` (all its cells in the
    /// hash) rather than by a transaction: small rows without a cell that
    /// gets a key of its own.
    fn by_script(&self, row: &EncodedRow) -> bool {
        let cell_key_bytes = self.cell_key_bytes();
        row.pairs.len() + row.removed.len() <= SCRIPT_ROW_PAIRS
            && row.pairs.iter().map(|(_, v)| v.len()).sum::<usize>() <= SCRIPT_ROW_BYTES
            && !row
                .pairs
                .iter()
                .any(|(name, v)| name.first() == Some(&CELL_MARK) && v.len() >= cell_key_bytes)
    }

    /// The commands of a transaction's row write before its `put_meta`:
    /// `DEL` of the keys of cells removed or now kept in the hash, `HDEL`
    /// of the hash fields they replace, `MSET` of the cells that get keys of
    /// their own (at least [`cell_key_bytes`](crate::RedisConfig::cell_key_bytes):
    /// Redis keeps a `SET` argument as read, where `HSET` stores a copy),
    /// and one `HSET` of the other cells, the `x` markers and the tag
    /// entries. A cell is in the hash or under its key, never both.
    fn row_value_commands(
        &self,
        row_key: &[u8],
        cell_base: &[u8],
        row: &EncodedRow,
    ) -> Vec<Command> {
        let cell_key_bytes = self.cell_key_bytes();
        let cell_key = |field: &[u8]| [cell_base, field].concat();
        let marker = |field: &[u8]| [&[CELL_KEY_MARK][..], field].concat();
        let mut del = Command::new("DEL");
        let mut hdel = Command::new("HDEL");
        hdel.arg(row_key);
        let mut mset = Command::new("MSET");
        let mut hset = Command::new("HSET");
        hset.arg(row_key);
        let (mut dels, mut hdels, mut msets, mut hsets) = (0, 0, 0, 0);
        for name in &row.removed {
            let field = name.get(1..).unwrap_or_default();
            del.arg(cell_key(field));
            hdel.arg(name).arg(marker(field));
            (dels, hdels) = (dels + 1, hdels + 2);
        }
        for (name, value) in &row.pairs {
            let is_cell = name.first() == Some(&CELL_MARK);
            let field = name.get(1..).unwrap_or_default();
            if let (true, FieldValue::Cell { header, payload }) =
                (is_cell && value.len() >= cell_key_bytes, value)
            {
                // The key holds the payload alone, the marker its header:
                // a read learns every cell's size from the hash, then reads
                // the payloads straight into the output columns.
                hdel.arg(name);
                mset.arg(cell_key(field));
                mset.arg_parts(&[], payload);
                hset.arg(marker(field)).arg(header);
                (hdels, msets, hsets) = (hdels + 1, msets + 1, hsets + 1);
            } else {
                if is_cell {
                    del.arg(cell_key(field));
                    hdel.arg(marker(field));
                    (dels, hdels) = (dels + 1, hdels + 1);
                }
                hset.arg(name);
                value.write_to(&mut hset);
                hsets += 1;
            }
        }
        [(del, dels), (hdel, hdels), (mset, msets), (hset, hsets)]
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .map(|(cmd, _)| cmd)
            .collect()
    }
}

/// Rows whose values add up to at most this many bytes are written by one
/// `EVALSHA` of [`PUT_ROW`] instead of `MULTI; HSET; EVAL put_meta; EXEC`:
/// one command instead of four, and no script text to send and hash. Past
/// a few KiB, passing the values through Lua (hashed, then copied once more
/// by the script's `HSET`) costs more than the transaction saves.
const SCRIPT_ROW_BYTES: usize = 8 * 1024;
/// ... and at most this many hash fields (`unpack` puts each on Lua's
/// stack, which holds 8,000).
const SCRIPT_ROW_PAIRS: usize = 512;

/// The `put_row.lua` call writing `row`, with `expected` its version
/// precondition (`""`: none; see the script), publishing its events with
/// `publish`: the command (`PUBLISH`/`SPUBLISH`), the channel, and the
/// base of the row's cell keys ([`KeyLayout::cell_base`](crate::keys::KeyLayout::cell_base)).
fn put_row_command(
    by_text: bool,
    keys: &[&[u8]],
    seq: &str,
    row: &EncodedRow,
    partition: &str,
    expected: &str,
    publish: (&str, &[u8], &[u8]),
) -> Command {
    let mut put = PUT_ROW.invocation(by_text, keys);
    let creates = if row.creates { "1" } else { "" };
    put.arg(seq).arg(&row.key).arg(partition).arg(creates);
    put.arg(expected)
        .arg(publish.0)
        .arg(publish.1)
        .arg(publish.2);
    put.arg(row.removed.len().to_string());
    for name in &row.removed {
        put.arg(name);
    }
    for (name, value) in &row.pairs {
        put.arg(name);
        value.write_to(&mut put);
    }
    put.arg(STAMP_FIELD).arg(next_stamp());
    put
}

/// The error of a put some of whose rows failed: the first out-of-memory
/// refusal (`CapacityExceeded`) if any, else the first row's error, with
/// which rows were written (each whole), which were not, and which may or
/// may not have been (their connection failed).
fn partial_put_error(
    outcomes: Vec<std::result::Result<RV, ItemError>>,
    partition: &str,
    rows: &[EncodedRow],
) -> Error {
    let mut written = Vec::new();
    let mut unknown = Vec::new();
    let mut first_error: Option<ItemError> = None;
    for (i, outcome) in outcomes.into_iter().enumerate() {
        match outcome {
            Ok(_) => written.push(i),
            Err(e) => {
                // An OOM refusal never writes: a transaction refused while
                // queueing runs nothing, and a script refused inside EXEC
                // is refused at its first write.
                let not_run = e.ran == Some(false) || is_oom(&e.error);
                // A script that failed inside EXEC may have written part
                // of the bookkeeping; say "unknown" for it too.
                if !not_run {
                    unknown.push(i);
                }
                let better = match &first_error {
                    None => true,
                    Some(f) => is_oom(&e.error) && !is_oom(&f.error),
                };
                if better {
                    first_error = Some(e);
                }
            }
        }
    }
    let Some(first) = first_error else {
        return bad_reply("a put failed without an error", "redis::put");
    };
    put_error(first.error, partition, rows, &written, &unknown)
}

/// A put's error from the Redis error `e` (see [`from_redis`]), saying
/// which of `rows` were written (the positions `written`), which may have
/// been (`unknown`), and which were not (the rest): counts, up to ten keys
/// each, and the written positions.
fn put_error(
    e: redis::RedisError,
    partition: &str,
    rows: &[EncodedRow],
    written: &[usize],
    unknown: &[usize],
) -> Error {
    let total = rows.len();
    let not_written: Vec<usize> = (0..total)
        .filter(|i| written.binary_search(i).is_err() && unknown.binary_search(i).is_err())
        .collect();
    let keys = |positions: &[usize]| {
        let names = list_names(positions.iter().map(|&i| rows[i].key.as_str()));
        if names.is_empty() {
            format!("{} of {total} rows", positions.len())
        } else {
            format!("{} of {total} rows: {names}", positions.len())
        }
    };
    let mut summary = format!(
        "{} of the call's {total} rows were written (each whole), {} were not",
        written.len(),
        not_written.len()
    );
    if !unknown.is_empty() {
        summary.push_str(&format!(
            ", {} may or may not have been (each is whole or absent)",
            unknown.len()
        ));
    }
    let (kind, message, setting) = classify(&e);
    let mut err = Error::new(kind, format!("{message}; {summary}"))
        .with_operation("redis::put")
        .with_context("partition", partition);
    if let Some(setting) = setting {
        err = err.with_context("setting", setting);
    }
    err = err
        .with_context("written", keys(written))
        .with_context("not_written", keys(&not_written))
        .with_context("written_rows", position_ranges(written));
    if !unknown.is_empty() {
        err = err.with_context("unknown", keys(unknown));
    }
    err.with_source(e)
}

/// The put_meta script's `{ {'f<field>'...}, {'t<name>', json, ...} }`.
/// The entries this put wrote are taken from `row`, never decoded.
pub(crate) fn parse_state(answer: RV, partition: &str, row: &EncodedRow) -> Result<RowState> {
    let bad = || bad_reply("the put script's answer", "redis::put");
    let mut parts = array(answer).ok_or_else(bad)?.into_iter();
    let (Some(fields), Some(tags), Some(existed)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    let existed = matches!(existed, RV::Int(1));
    let fields = array(fields)
        .ok_or_else(bad)?
        .into_iter()
        .map(|f| {
            let f = bulk(f).ok_or_else(bad)?;
            utf8(f.get(1..).unwrap_or_default().to_vec(), "field name")
                .map_err(|e| in_row(e, partition, &row.key))
        })
        .collect::<Result<Vec<String>>>()?;
    let tag = decode_tag(
        array(tags).ok_or_else(bad)?,
        partition,
        &row.key,
        Some(&row.tag),
    )?;
    Ok(RowState::new(tag, fields, existed))
}
