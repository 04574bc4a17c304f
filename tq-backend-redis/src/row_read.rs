//! Reading rows whose cells may live under keys of their own.
//!
//! A row's hash holds its small cells (`f<field>`) and, for each large one,
//! an empty marker `x<field>` whose cell is the string key
//! [`KeyLayout::cell`](crate::keys::KeyLayout::cell). A read must not pair
//! the hash of one write with a cell of another:
//!
//! 1. one pipelined round reads every row's hash (`HGETALL`, or `HMGET` of
//!    `s`, `v` and the fields asked for); a row without markers is done. A
//!    row written with all its cells in the hash (small rows, `kv_update`)
//!    costs this one round, as before cell keys existed;
//! 2. a row with markers is read again in one `MULTI`/`EXEC`: its hash and
//!    an `MGET` of the cell keys step 1 named. Redis runs the two back to
//!    back, so they show one state of the row. When that hash names no cell
//!    key beyond those read, the read is complete (writers of other cells or
//!    of the tag never make a reader retry); otherwise (a put added a large
//!    cell in between) it goes round again with the new names, at most
//!    [`MAX_ROUNDS`] times;
//! 3. a server over `maxmemory` refuses every command queued in a `MULTI`,
//!    reads included, and reads must keep working then (so that rows can be
//!    read and cleared). Then step 2 is `MGET` of the cell keys followed by
//!    `HMGET row s v`, back to back on one connection, like a sequence
//!    lock: every write of a row stores a new stamp `v` (distinct with
//!    probability 1 - 2^-64, [`crate::write_stamp`]) and a clear removes
//!    `s`, so when `s` and `v` are still what step 1 read, the cells read
//!    in between are the ones that hash names; else the row is read again
//!    from step 1. (Writes are refused too while the server is full, so
//!    they rarely land in between.)
//!
//! The answer per row has the shape of the plain hash reply (`HGETALL`'s
//! pairs, or `[s, a, b, ...]` for a selection), with every marker replaced
//! by the cell it names (`f<field>` and its bytes), so the parsers of a
//! hash reply read both kinds of cell alike.

use redis::Value as RV;
use tq_core::{Error, ErrorKind, Result};

use crate::backend::RedisBackend;
use crate::cells::{array, bulk, in_row};
use crate::client::{Order, Unit};
use crate::error::{bad_reply, from_redis, is_oom};
use crate::keys::{CELL_KEY_MARK, CELL_MARK, SEQ_FIELD, cell_field, cell_key_field};
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
    /// The fields (names without the mark) whose cells live under keys.
    keyed: Vec<Vec<u8>>,
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
                        keyed.push(name[1..].to_vec());
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
                    .map(|(_, f)| f.as_bytes().to_vec())
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

    /// The reply in the plain hash reply's shape, each marker replaced by
    /// its cell from `cells`: the values of `MGET` of the keys of the
    /// fields `read_fields`, in that order.
    fn with_cells(
        self,
        read: HashRead<'_>,
        want: Option<&[String]>,
        read_fields: &[Vec<u8>],
        mut cells: Vec<RV>,
        missing: impl Fn(&[u8]) -> Error,
    ) -> Result<RV> {
        let mut take = |field: &[u8]| -> Result<RV> {
            let at = read_fields.iter().position(|f| f == field);
            match at.and_then(|i| cells.get_mut(i)).map(std::mem::take) {
                Some(cell @ RV::BulkString(_)) => Ok(cell),
                _ => Err(missing(field)),
            }
        };
        let mut items = self.items.into_iter();
        match read {
            HashRead::All => {
                let mut out = Vec::with_capacity(items.len());
                while let (Some(name), Some(value)) = (items.next(), items.next()) {
                    match name {
                        RV::BulkString(name) if name.first() == Some(&CELL_KEY_MARK) => {
                            let field = &name[1..];
                            if wanted(want, field) {
                                out.push(RV::BulkString([&[CELL_MARK][..], field].concat()));
                                out.push(take(field)?);
                            }
                        }
                        name => {
                            out.push(name);
                            out.push(value);
                        }
                    }
                }
                Ok(RV::Array(out))
            }
            HashRead::Selected(fields) => {
                let mut out = Vec::with_capacity(1 + fields.len());
                out.push(items.next().unwrap_or(RV::Nil));
                items.next(); // v
                for f in fields {
                    let in_hash = items.next().unwrap_or(RV::Nil);
                    let marker = items.next().unwrap_or(RV::Nil);
                    out.push(match (in_hash, marker) {
                        (RV::Nil, RV::Nil) => RV::Nil,
                        (RV::Nil, _) => take(f.as_bytes())?,
                        (cell, _) => cell,
                    });
                }
                Ok(RV::Array(out))
            }
        }
    }
}

/// What became of one row's step 2.
enum Next {
    /// The row's answer.
    Done(RV),
    /// Read the cells again: of this hash (a consistent one that names
    /// cell keys not read yet), or, with `None`, from step 1.
    Again(Option<RowHash>),
}

impl RedisBackend {
    /// Reads the hashes of `keys` in `partition` as `read` asks, with every
    /// cell kept under a key of its own (of the fields in `want`, or all)
    /// read consistently with its hash and put in its marker's place; see
    /// the module docs. One answer per key, in the plain hash reply's
    /// shape.
    pub(crate) async fn read_rows(
        &self,
        partition: &str,
        keys: &[String],
        read: HashRead<'_>,
        want: Option<&[String]>,
        op: &'static str,
    ) -> Result<Vec<RV>> {
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
        };
        let mut out: Vec<RV> = vec![RV::Nil; keys.len()];
        let mut rehash: Vec<usize> = (0..keys.len()).collect();
        let mut pending: Vec<(usize, RowHash)> = Vec::new();
        for _round in 0..=MAX_ROUNDS {
            // Step 1 (again, for rows whose sequence lock failed).
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
                        out[i] = hash.with_cells(read, want, &[], Vec::new(), rows.missing(i))?;
                    } else {
                        pending.push((i, hash));
                    }
                }
                rehash.clear();
            }
            if pending.is_empty() {
                return Ok(out);
            }
            // Step 2 (or 3).
            let nexts = rows.cells(std::mem::take(&mut pending)).await?;
            for (i, next) in nexts {
                match next {
                    Next::Done(answer) => out[i] = answer,
                    Next::Again(Some(hash)) => pending.push((i, hash)),
                    Next::Again(None) => rehash.push(i),
                }
            }
        }
        let i = pending.first().map(|(i, _)| *i).or(rehash.first().copied());
        match i {
            None => Ok(out),
            Some(i) => Err(in_row(
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
            .with_operation(op)),
        }
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

    /// `MGET` of row `i`'s cell keys of `fields`.
    fn mget(&self, i: usize, fields: &[Vec<u8>]) -> Command {
        let base = self
            .backend
            .layout
            .cell_base(self.buckets[i], self.partition, &self.keys[i]);
        let mut mget = Command::new("MGET");
        for f in fields {
            mget.arg([&base[..], f].concat());
        }
        mget
    }

    fn missing(&self, i: usize) -> impl Fn(&[u8]) -> Error + '_ {
        move |field| missing_cell_key(field, self.partition, &self.keys[i])
    }

    /// Step 2: each row's hash and cells in one `MULTI`/`EXEC`; step 3 for
    /// all of them when the server refuses a transaction for want of
    /// memory.
    async fn cells(&self, pending: Vec<(usize, RowHash)>) -> Result<Vec<(usize, Next)>> {
        let rows: Vec<usize> = pending.iter().map(|(i, _)| *i).collect();
        let outcomes = self
            .backend
            .conn
            .run_items_each(&self.buckets_of(&rows), Order::Free, |j, _| {
                let (i, hash) = &pending[j];
                Unit::TxAll(vec![self.hash_command(*i), self.mget(*i, &hash.keyed)])
            })
            .await;
        if outcomes
            .iter()
            .any(|o| o.as_ref().is_err_and(|e| is_oom(&e.error)))
        {
            return self.cells_seqlocked(pending).await;
        }
        let mut nexts = Vec::with_capacity(pending.len());
        for ((i, asked), outcome) in pending.into_iter().zip(outcomes) {
            let answer = outcome.map_err(|e| from_redis(e.error, self.op))?;
            let bad = || bad_reply("a row read's transaction answer", self.op);
            let mut both = array(answer).filter(|a| a.len() == 2).ok_or_else(bad)?;
            let cells = array(both.pop().unwrap_or_default()).ok_or_else(bad)?;
            let hash = RowHash::parse(both.pop().unwrap_or_default(), self.read, self.want)
                .ok_or_else(bad)?;
            if hash.keyed.iter().all(|f| asked.keyed.contains(f)) {
                let answer =
                    hash.with_cells(self.read, self.want, &asked.keyed, cells, self.missing(i))?;
                nexts.push((i, Next::Done(answer)));
            } else {
                // A put added a cell key after the previous read.
                nexts.push((i, Next::Again(Some(hash))));
            }
        }
        Ok(nexts)
    }

    /// Step 3: each row's cells, then its version again, without `MULTI`.
    async fn cells_seqlocked(&self, pending: Vec<(usize, RowHash)>) -> Result<Vec<(usize, Next)>> {
        let rows: Vec<usize> = pending.iter().map(|(i, _)| *i).collect();
        let answers = self
            .backend
            .conn
            .run_items(
                &self.buckets_of(&rows),
                |j, _| {
                    let (i, hash) = &pending[j];
                    let mut version = Command::new("HMGET");
                    version
                        .arg(self.row_key(*i))
                        .arg(SEQ_FIELD)
                        .arg(STAMP_FIELD);
                    Unit::Reads(vec![self.mget(*i, &hash.keyed), version])
                },
                self.op,
            )
            .await?;
        let mut nexts = Vec::with_capacity(pending.len());
        for ((i, mut hash), answer) in pending.into_iter().zip(answers) {
            let bad = || bad_reply("a row's cell keys and version", self.op);
            let mut both = array(answer).filter(|a| a.len() == 2).ok_or_else(bad)?;
            let version = array(both.pop().unwrap_or_default()).ok_or_else(bad)?;
            let cells = array(both.pop().unwrap_or_default()).ok_or_else(bad)?;
            let now = (
                version.first().cloned().and_then(bulk),
                version.get(1).cloned().and_then(bulk),
            );
            if now == hash.version {
                let keyed = std::mem::take(&mut hash.keyed);
                let answer =
                    hash.with_cells(self.read, self.want, &keyed, cells, self.missing(i))?;
                nexts.push((i, Next::Done(answer)));
            } else {
                // A write landed in between: read the row again.
                nexts.push((i, Next::Again(None)));
            }
        }
        Ok(nexts)
    }
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
