//! Reading rows whose cells may live under keys of their own.
//!
//! A row's hash holds its small cells (`f<field>`) and, for each large one,
//! a marker `x<field>` holding the cell's codec header, whose payload is the
//! string key [`KeyLayout::cell`](crate::keys::KeyLayout::cell). A read must
//! not pair the hash of one write with a cell of another:
//!
//! 1. one pipelined round reads every row's hash (`HGETALL`, or `HMGET` of
//!    `s`, `v` and the fields asked for); a row without markers is done (a
//!    row written with all its cells in the hash costs this one round);
//! 2. a row with markers gets an `MGET` of its cell keys followed by
//!    `HMGET row s v`, back to back on one connection, without `MULTI`: a
//!    sequence lock. Every write of a row stores a new stamp `v` (distinct
//!    with probability 1 - 2^-64, [`crate::write_stamp`]) and a clear
//!    removes `s`, so when `s` and `v` are still what step 1 read, the
//!    cells read in between are the ones that hash names. On the first
//!    round the tensor payloads are read straight into one column buffer
//!    per field ([`crate::landing`]): the markers' headers gave their sizes;
//! 3. a row whose version moved is read in one `MULTI`/`EXEC`: its hash and
//!    an `MGET` of the cell keys named before. Redis runs the two back to
//!    back, so they show one state of the row. When that hash names no
//!    cell key beyond those read, the read is complete (on the first
//!    round, its tensor cells are copied into the slots planned for them
//!    where the lengths still match, so a write racing a get costs a copy
//!    of that row, not of every column); otherwise it goes round again
//!    with the new names, at most [`MAX_ROUNDS`] times. A
//!    server over `maxmemory` refuses every command queued in a `MULTI`,
//!    reads included (and reads must keep working then, so that rows can
//!    be read and cleared): such a row goes back to step 1 and 2.
//!
//! The answer per row is its hash reply without the markers
//! ([`RowAnswer`]), plus the cells under keys, decoded.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use redis::Value as RV;
use tq_core::{Bytes, DType, Error, ErrorKind, Result, Tensor, Value, codec, tensor_nbytes};

use crate::backend::RedisBackend;
use crate::cells::{array, bulk, in_row, utf8};
use crate::client::{Order, Unit};
use crate::error::{bad_reply, from_redis, is_oom};
use crate::keys::{CELL_KEY_MARK, SEQ_FIELD, cell_field, cell_key_field};
use crate::landing::{Landed, Landing, LandingPlan, ReplyLanding};
use crate::wire::Command;
use crate::write_stamp::STAMP_FIELD;

/// How many times a row is read again because writes kept changing its
/// cell keys between two reads; then the read fails with a temporary
/// `Unavailable` error.
pub const MAX_ROUNDS: usize = 8;

/// Which part of each row's hash a read asks for.
#[derive(Debug, Clone, Copy)]
pub enum HashRead<'a> {
    /// `HGETALL`: every entry (sequence, stamp, cells, tag entries).
    All,
    /// `HMGET row s v f<a> x<a> f<b> x<b> ...`: the sequence and the cells
    /// named; the answer is `[s, a, b, ...]` (nil for a missing cell).
    Selected(&'a [String]),
}

impl HashRead<'_> {
    fn command(self, row_key: &[u8]) -> Command {
        match self {
            HashRead::All => {
                let mut c = Command::new("HGETALL");
                c.arg(row_key);
                c
            }
            HashRead::Selected(fields) => {
                let mut c = Command::new("HMGET");
                c.arg(row_key).arg(SEQ_FIELD).arg(STAMP_FIELD);
                for f in fields {
                    c.arg(cell_field(f)).arg(cell_key_field(f));
                }
                c
            }
        }
    }
}

/// One row as read: its hash reply in the plain hash reply's shape
/// without the cells kept under keys of their own (`HGETALL`'s pairs
/// without the markers, or `[s, a, b, ...]` with nil in their place), and
/// those cells, decoded.
#[derive(Debug)]
pub struct RowAnswer {
    /// The hash reply.
    pub reply: RV,
    /// The cells kept under keys of their own, by field.
    pub keyed: Vec<(String, Value)>,
}

/// A row's `s` and `v` as read (`None`: absent).
type Version = (Option<Vec<u8>>, Option<Vec<u8>>);

/// Whether `field` (a name without its mark) is among `want` (all: `None`).
fn wanted(want: Option<&[String]>, field: &[u8]) -> bool {
    want.is_none_or(|w| w.iter().any(|f| f.as_bytes() == field))
}

/// One row's hash reply, with the cells it keeps under keys of their own.
struct RowHash {
    /// The reply's items: `HGETALL`'s name/value pairs, or `HMGET`'s values.
    items: Vec<RV>,
    /// The row's version in this reply.
    version: Version,
    /// The cells that live under keys of their own.
    keyed: Vec<KeyedCell>,
}

/// A cell kept under a key of its own, as its row's hash names it.
struct KeyedCell {
    /// The field (its name without the mark).
    field: Vec<u8>,
    /// Its codec header (the marker's value).
    header: Vec<u8>,
    /// The dtype and shape the header announces for a tensor (`None`: not
    /// a tensor, or a damaged header, which decoding reports).
    layout: Option<(DType, Vec<usize>)>,
}

impl KeyedCell {
    fn new(field: Vec<u8>, header: Vec<u8>) -> KeyedCell {
        let layout = codec::tensor_layout(&header).ok().flatten();
        KeyedCell {
            field,
            header,
            layout,
        }
    }

    /// The payload's length, when it is a tensor's (a slot can take it).
    fn tensor_len(&self) -> Option<usize> {
        let (dtype, shape) = self.layout.as_ref()?;
        tensor_nbytes(*dtype, shape).ok()
    }
}

impl RowHash {
    /// Reads `reply` of `read`; `want` keeps only the cells of these
    /// fields (the others' keys are not read, and their markers dropped).
    fn parse(reply: RV, read: HashRead<'_>, want: Option<&[String]>) -> Option<RowHash> {
        let items = array(reply)?;
        let text = |v: Option<&RV>| v.cloned().and_then(bulk);
        let (version, keyed) = match read {
            HashRead::All => {
                let mut version: Version = (None, None);
                let mut keyed = Vec::new();
                for pair in items.chunks(2) {
                    let [RV::BulkString(name), value] = pair else {
                        continue;
                    };
                    if name == SEQ_FIELD {
                        version.0 = text(Some(value));
                    } else if name == STAMP_FIELD {
                        version.1 = text(Some(value));
                    } else if name.first() == Some(&CELL_KEY_MARK) && wanted(want, &name[1..]) {
                        let header = text(Some(value)).unwrap_or_default();
                        keyed.push(KeyedCell::new(name[1..].to_vec(), header));
                    }
                }
                (version, keyed)
            }
            HashRead::Selected(fields) => {
                let version = (text(items.first()), text(items.get(1)));
                let keyed = fields
                    .iter()
                    .enumerate()
                    .filter(|(j, f)| {
                        !matches!(items.get(3 + 2 * j), None | Some(RV::Nil))
                            && wanted(want, f.as_bytes())
                    })
                    .map(|(j, f)| {
                        let header = text(items.get(3 + 2 * j)).unwrap_or_default();
                        KeyedCell::new(f.as_bytes().to_vec(), header)
                    })
                    .collect();
                (version, keyed)
            }
        };
        Some(RowHash {
            items,
            version,
            keyed,
        })
    }

    /// Whether every cell key `self` names is among those of `read`.
    fn names_no_more_than(&self, read: &RowHash) -> bool {
        self.keyed
            .iter()
            .all(|c| read.keyed.iter().any(|r| r.field == c.field))
    }

    /// The row's answer: the reply without its markers, and `cells`.
    fn answer(self, read: HashRead<'_>, cells: Vec<(String, Value)>) -> RowAnswer {
        let mut items = self.items.into_iter();
        let reply = match read {
            HashRead::All => {
                let mut out = Vec::with_capacity(items.len());
                while let (Some(name), Some(value)) = (items.next(), items.next()) {
                    let marker =
                        matches!(&name, RV::BulkString(n) if n.first() == Some(&CELL_KEY_MARK));
                    if !marker {
                        out.push(name);
                        out.push(value);
                    }
                }
                RV::Array(out)
            }
            HashRead::Selected(fields) => {
                let mut out = Vec::with_capacity(1 + fields.len());
                out.push(items.next().unwrap_or(RV::Nil));
                items.next(); // v
                for _ in fields {
                    let in_hash = items.next().unwrap_or(RV::Nil);
                    items.next(); // the marker: its cell is in `cells`
                    out.push(in_hash);
                }
                RV::Array(out)
            }
        };
        RowAnswer {
            reply,
            keyed: cells,
        }
    }
}

/// Where one cell kept under a key of its own was read to.
enum Payload<'a> {
    /// Into its slot of a column buffer: the buffer and where it starts.
    Landed(&'a Bytes, usize),
    /// Into a buffer of its own.
    Read(Vec<u8>),
}

/// The value of `cell` from its header and `payload`.
fn keyed_cell(cell: &KeyedCell, payload: Payload<'_>) -> Result<(String, Value)> {
    let name = utf8(cell.field.clone(), "field name")?;
    let value = match (payload, &cell.layout) {
        (Payload::Read(bytes), _) => codec::decode_parts(&cell.header, Bytes::from(bytes)),
        (Payload::Landed(column, start), Some((dtype, shape))) => {
            Tensor::in_column(*dtype, shape.clone(), column, start)
                .map(Value::Tensor)
                .map_err(|e| Error::corrupted(e.message().to_owned()))
        }
        (Payload::Landed(..), None) => Err(Error::unexpected(
            "a non-tensor cell was read into a column",
        )),
    }
    .map_err(|e| e.with_context("field", name.clone()))?;
    Ok((name, value))
}

/// What became of one row's step 2.
enum Next {
    /// The row's answer.
    Done(RowAnswer),
    /// Read the cells again in a transaction, of this hash (it names cell
    /// keys not read yet, or the row changed while being read).
    InTransaction(RowHash),
    /// Read the row again from step 1.
    Again,
}

impl RedisBackend {
    /// Reads the hashes of `keys` in `partition` as `read` asks, with every
    /// cell kept under a key of its own (of the fields in `want`, or all)
    /// read consistently with its hash; see the module docs. One answer
    /// per key.
    pub(crate) async fn read_rows(
        &self,
        partition: &str,
        keys: &[String],
        read: HashRead<'_>,
        want: Option<&[String]>,
        op: &'static str,
    ) -> Result<Vec<RowAnswer>> {
        let buckets = self
            .layout
            .buckets_of(partition, keys.iter().map(String::as_str));
        let rows = Rows {
            backend: self,
            partition,
            keys,
            buckets: &buckets,
            read,
            want,
            op,
            full: AtomicBool::new(false),
        };
        let mut out: Vec<Option<RowAnswer>> = (0..keys.len()).map(|_| None).collect();
        let mut rehash: Vec<usize> = (0..keys.len()).collect();
        let mut fresh: Vec<(usize, RowHash)> = Vec::new();
        let mut in_tx: Vec<(usize, RowHash)> = Vec::new();
        for round in 0..=MAX_ROUNDS {
            // Step 1 (again, for rows that changed while being read).
            if !rehash.is_empty() {
                let replies = self
                    .conn
                    .run_items(
                        &rows.buckets_of(&rehash),
                        |j, _| rows.hash_command(rehash[j]),
                        op,
                    )
                    .await?;
                for (&i, reply) in rehash.iter().zip(replies) {
                    let hash = RowHash::parse(reply, read, want)
                        .ok_or_else(|| bad_reply("a row hash's answer", op))?;
                    if hash.keyed.is_empty() {
                        out[i] = Some(hash.answer(read, Vec::new()));
                    } else {
                        fresh.push((i, hash));
                    }
                }
                rehash.clear();
            }
            if fresh.is_empty() && in_tx.is_empty() {
                break;
            }
            // Step 2: the cells, as a sequence lock (into the output
            // columns on the first round), or in a transaction.
            let mut nexts = rows
                .cells_seqlocked(std::mem::take(&mut fresh), round == 0)
                .await?;
            nexts.extend(
                rows.cells_in_transaction(std::mem::take(&mut in_tx))
                    .await?,
            );
            for (i, next) in nexts {
                match next {
                    Next::Done(answer) => out[i] = Some(answer),
                    Next::InTransaction(hash) => in_tx.push((i, hash)),
                    Next::Again => rehash.push(i),
                }
            }
        }
        let left = in_tx.first().map(|(i, _)| *i).or(rehash.first().copied());
        if let Some(i) = left {
            return Err(in_row(
                Error::new(
                    ErrorKind::Unavailable,
                    format!(
                        "the row's cells under keys of their own changed {MAX_ROUNDS} times \
                         while being read; try again"
                    ),
                ),
                partition,
                &keys[i],
            )
            .with_operation(op));
        }
        out.into_iter()
            .map(|answer| answer.ok_or_else(|| Error::unexpected("a row was not read")))
            .collect()
    }
}

/// One [`RedisBackend::read_rows`] call.
struct Rows<'a> {
    backend: &'a RedisBackend,
    partition: &'a str,
    keys: &'a [String],
    buckets: &'a [u16],
    read: HashRead<'a>,
    want: Option<&'a [String]>,
    op: &'static str,
    /// The server refused a transaction for want of memory: read by
    /// sequence lock only.
    full: AtomicBool,
}

impl Rows<'_> {
    fn buckets_of(&self, rows: &[usize]) -> Vec<u16> {
        rows.iter().map(|&i| self.buckets[i]).collect()
    }

    fn row_key(&self, i: usize) -> Vec<u8> {
        self.backend
            .layout
            .row(self.buckets[i], self.partition, &self.keys[i])
    }

    fn hash_command(&self, i: usize) -> Command {
        self.read.command(&self.row_key(i))
    }

    /// `MGET` of row `i`'s cell keys of the fields `hash` names.
    fn mget(&self, i: usize, hash: &RowHash) -> Command {
        let base = self
            .backend
            .layout
            .cell_base(self.buckets[i], self.partition, &self.keys[i]);
        let mut mget = Command::new("MGET");
        for cell in &hash.keyed {
            mget.arg([&base[..], &cell.field[..]].concat());
        }
        mget
    }

    /// Row `i`'s cells under keys of their own, named by `hash`, from the
    /// `MGET` answer `cells` read in one state with it; `slots`: where
    /// each may have landed.
    fn decode(
        &self,
        i: usize,
        hash: &RowHash,
        cells: Vec<RV>,
        slots: Option<(&[Option<usize>], &Landed)>,
    ) -> Result<Vec<(String, Value)>> {
        let mut out = Vec::with_capacity(hash.keyed.len());
        let mut cells = cells.into_iter();
        for (k, cell) in hash.keyed.iter().enumerate() {
            let landed = slots.and_then(|(ids, landed)| landed.slot((*ids.get(k)?)?));
            let payload = match (cells.next(), landed) {
                (Some(RV::Okay), Some((column, start))) => Payload::Landed(column, start),
                (Some(RV::BulkString(bytes)), _) => Payload::Read(bytes),
                (Some(RV::Okay), None) => {
                    return Err(Error::unexpected(
                        "a cell read into a column buffer was lost",
                    ));
                }
                _ => return Err(missing_cell_key(&cell.field, self.partition, &self.keys[i])),
            };
            out.push(
                keyed_cell(cell, payload).map_err(|e| in_row(e, self.partition, &self.keys[i]))?,
            );
        }
        Ok(out)
    }

    /// Step 2 as a sequence lock: each row's cells (`MGET`), then its
    /// version again (`HMGET s v`), back to back on one connection, no
    /// `MULTI` (which a server over `maxmemory` refuses, reads included).
    /// Every write of a row stores a new stamp `v` and a clear removes
    /// `s`, so when both are still what step 1 read, the cells read in
    /// between are the ones that hash names. With `land`, tensor cells are
    /// read straight into one column buffer per field ([`crate::landing`]).
    /// A row whose version moved is read again at once, in a transaction
    /// ([`Rows::read_in_transaction`]), its cells into their slots.
    async fn cells_seqlocked(
        &self,
        pending: Vec<(usize, RowHash)>,
        land: bool,
    ) -> Result<Vec<(usize, Next)>> {
        if pending.is_empty() {
            return Ok(Vec::new());
        }
        // Only the direct reader lands payloads (not TLS): elsewhere the
        // buffers would be allocated for nothing.
        let land = land && self.backend.conn.reads_directly();
        let mut plan = LandingPlan::default();
        let slots: Vec<Vec<Option<usize>>> = pending
            .iter()
            .map(|(_, hash)| {
                hash.keyed
                    .iter()
                    .map(|cell| {
                        let len = cell.tensor_len().filter(|_| land)?;
                        Some(plan.slot(&cell.field, len))
                    })
                    .collect()
            })
            .collect();
        let landing = (!plan.is_empty()).then(|| Arc::new(plan.build()));
        let rows: Vec<usize> = pending.iter().map(|(i, _)| *i).collect();
        let answers = self
            .backend
            .conn
            .run_items(
                &self.buckets_of(&rows),
                |j, _| {
                    let (i, hash) = &pending[j];
                    let mut mget = self.mget(*i, hash);
                    if let Some(landing) = &landing {
                        mget.land_in(ReplyLanding::new(landing.clone(), slots[j].clone()));
                    }
                    let mut version = Command::new("HMGET");
                    version
                        .arg(self.row_key(*i))
                        .arg(SEQ_FIELD)
                        .arg(STAMP_FIELD);
                    Unit::Reads(vec![mget, version])
                },
                self.op,
            )
            .await?;
        // Every command (and its handle on the landing) is gone now.
        let mut landing = landing.and_then(Arc::into_inner);
        let mut locked = Vec::with_capacity(pending.len());
        let mut moved = Vec::new();
        for (((i, hash), answer), ids) in pending.into_iter().zip(answers).zip(slots) {
            let bad = || bad_reply("a row's cell keys and version", self.op);
            let mut both = array(answer).filter(|a| a.len() == 2).ok_or_else(bad)?;
            let version = array(both.pop().unwrap_or_default()).ok_or_else(bad)?;
            let cells = array(both.pop().unwrap_or_default()).ok_or_else(bad)?;
            let now = (
                version.first().cloned().and_then(bulk),
                version.get(1).cloned().and_then(bulk),
            );
            let lost = cells.contains(&RV::Okay) && landing.is_none();
            if now == hash.version && !lost {
                locked.push((i, hash, cells, ids));
            } else {
                moved.push((i, hash, ids));
            }
        }
        let mut nexts = Vec::with_capacity(locked.len() + moved.len());
        // A write landed in between: read hash and cells at one instant,
        // now, so that the cells can still go to their slots (the row's
        // columns then stay one buffer each). When transactions are
        // refused (a full server), read the rows again.
        let asked: Vec<(usize, &RowHash)> = moved.iter().map(|(i, hash, _)| (*i, hash)).collect();
        let reads = if self.full.load(Ordering::Relaxed) || asked.is_empty() {
            None
        } else {
            self.read_in_transaction(&asked).await?
        };
        match reads {
            None => nexts.extend(moved.into_iter().map(|(i, ..)| (i, Next::Again))),
            Some(reads) => {
                for ((i, asked, ids), read) in moved.into_iter().zip(reads) {
                    match read {
                        TxRead::Whole(hash, mut cells) => {
                            let ids = match landing.as_mut() {
                                Some(landing) => refill(landing, &asked, ids, &hash, &mut cells),
                                None => Vec::new(),
                            };
                            locked.push((i, hash, cells, ids));
                        }
                        TxRead::NamesMore(hash) => nexts.push((i, Next::InTransaction(hash))),
                    }
                }
            }
        }
        let landed = landing.map(Landing::finish);
        for (i, hash, cells, ids) in locked {
            let slots = landed.as_ref().map(|l| (&ids[..], l));
            let cells = self.decode(i, &hash, cells, slots)?;
            nexts.push((i, Next::Done(hash.answer(self.read, cells))));
        }
        Ok(nexts)
    }

    /// Reads each row's hash and an `MGET` of the cell keys its `asked`
    /// hash named, in one `MULTI`/`EXEC` (one state of the row); `None`
    /// when the server refused for want of memory (then the rows are read
    /// by sequence lock only, and `full` is set).
    async fn read_in_transaction(
        &self,
        asked: &[(usize, &RowHash)],
    ) -> Result<Option<Vec<TxRead>>> {
        self.backend
            .read_again
            .fetch_add(asked.len() as u64, Ordering::Relaxed);
        let rows: Vec<usize> = asked.iter().map(|(i, _)| *i).collect();
        let outcomes = self
            .backend
            .conn
            .run_items_each(&self.buckets_of(&rows), Order::Free, |j, _| {
                let (i, hash) = &asked[j];
                Unit::TxAll(vec![self.hash_command(*i), self.mget(*i, hash)])
            })
            .await;
        if outcomes
            .iter()
            .any(|o| o.as_ref().is_err_and(|e| is_oom(&e.error)))
        {
            self.full.store(true, Ordering::Relaxed);
            return Ok(None);
        }
        let mut reads = Vec::with_capacity(asked.len());
        for ((_, asked), outcome) in asked.iter().zip(outcomes) {
            let answer = outcome.map_err(|e| from_redis(e.error, self.op))?;
            let bad = || bad_reply("a row read's transaction answer", self.op);
            let mut both = array(answer).filter(|a| a.len() == 2).ok_or_else(bad)?;
            let cells = array(both.pop().unwrap_or_default()).ok_or_else(bad)?;
            let hash = RowHash::parse(both.pop().unwrap_or_default(), self.read, self.want)
                .ok_or_else(bad)?;
            if hash.names_no_more_than(asked) {
                // `cells` follow `asked`'s names; put them in this hash's
                // order (the same state).
                let mut cells: Vec<Option<RV>> = cells.into_iter().map(Some).collect();
                let ordered = hash
                    .keyed
                    .iter()
                    .map(|cell| {
                        let at = asked.keyed.iter().position(|a| a.field == cell.field);
                        at.and_then(|k| cells.get_mut(k)?.take()).unwrap_or(RV::Nil)
                    })
                    .collect();
                reads.push(TxRead::Whole(hash, ordered));
            } else {
                // A put added a cell key after the previous read.
                reads.push(TxRead::NamesMore(hash));
            }
        }
        Ok(Some(reads))
    }

    /// Step 2 in a transaction: each row's hash and an `MGET` of the cell
    /// keys `pending`'s hash named, in one `MULTI`/`EXEC` (one state of the
    /// row). When that hash names no cell key beyond those read, the read
    /// is complete; otherwise it goes round again with the new names. A
    /// server out of memory refuses the transaction: then the rows are
    /// read by sequence lock.
    async fn cells_in_transaction(
        &self,
        pending: Vec<(usize, RowHash)>,
    ) -> Result<Vec<(usize, Next)>> {
        if pending.is_empty() {
            return Ok(Vec::new());
        }
        let asked: Vec<(usize, &RowHash)> = pending.iter().map(|(i, hash)| (*i, hash)).collect();
        let Some(reads) = self.read_in_transaction(&asked).await? else {
            return Ok(pending.into_iter().map(|(i, _)| (i, Next::Again)).collect());
        };
        let mut nexts = Vec::with_capacity(pending.len());
        for ((i, _), read) in pending.into_iter().zip(reads) {
            match read {
                TxRead::Whole(hash, cells) => {
                    let cells = self.decode(i, &hash, cells, None)?;
                    nexts.push((i, Next::Done(hash.answer(self.read, cells))));
                }
                TxRead::NamesMore(hash) => nexts.push((i, Next::InTransaction(hash))),
            }
        }
        Ok(nexts)
    }
}

/// What one row's read in a transaction found.
enum TxRead {
    /// Its hash and the cells it names (`MGET` replies in the order of the
    /// hash's cell keys), one state of the row.
    Whole(RowHash, Vec<RV>),
    /// Its hash names cell keys the read did not ask for: read again.
    NamesMore(RowHash),
}

/// Copies the cells of a row read again (`hash`, `cells`) into the slots
/// the first read (`asked`, `ids`) planned for their fields, where the
/// lengths match, and marks them landed (`RV::Okay`); returns the slots in
/// `hash`'s order. Cells that do not fit stay read on their own.
fn refill(
    landing: &mut Landing,
    asked: &RowHash,
    ids: Vec<Option<usize>>,
    hash: &RowHash,
    cells: &mut [RV],
) -> Vec<Option<usize>> {
    hash.keyed
        .iter()
        .zip(cells.iter_mut())
        .map(|(cell, reply)| {
            let at = asked.keyed.iter().position(|a| a.field == cell.field)?;
            let id = (*ids.get(at)?)?;
            let RV::BulkString(bytes) = reply else {
                return None;
            };
            if cell.tensor_len() != Some(bytes.len()) || !landing.refill(id, bytes) {
                return None;
            }
            *reply = RV::Okay;
            Some(id)
        })
        .collect()
}

/// A row whose hash marks `field` as kept under a key of its own while
/// that key does not exist (read consistently): a damaged store.
fn missing_cell_key(field: &[u8], partition: &str, key: &str) -> Error {
    let field = String::from_utf8_lossy(field).into_owned();
    in_row(
        Error::corrupted(format!(
            "the row marks cell {field:?} as kept under a key of its own, and that key is \
             missing"
        )),
        partition,
        key,
    )
    .with_context("field", field)
}
