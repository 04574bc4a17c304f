//! # tq-backend-redis
//!
//! tq-core's [`StorageBackend`](tq_core::StorageBackend) on Redis: a store
//! shared across processes and machines, on one standalone server or on a
//! Redis Cluster, with one configuration ([`RedisConfig`]) for both.
//!
//! ```no_run
//! # async fn demo() -> tq_core::Result<()> {
//! use std::sync::Arc;
//! use tq_backend_redis::{RedisBackend, RedisConfig};
//!
//! let backend = RedisBackend::open(RedisConfig::standalone("redis://127.0.0.1:6379")).await?;
//! let kv = tq_core::KvStore::new(Arc::new(backend));
//! kv.kv_put("sample-0", "train", None, Some(tq_core::tag! {"status" => "new"})).await?;
//! # Ok(()) }
//! ```
//!
//! # Settings
//!
//! | setting | default | meaning |
//! |---|---|---|
//! | `url` | none | standalone server, `redis://[[user]:password@]host[:port][/db]`; `rediss://` for TLS |
//! | `cluster_nodes` | `[]` | cluster seed nodes (URLs as above); exactly one of `url` / `cluster_nodes` |
//! | `username` | none (URL's, else `default`) | ACL user; overrides the URL's |
//! | `password` | none (URL's) | overrides the URL's; never shown by `Debug`, logs or errors (nor a password inside a URL, parseable or not) |
//! | `tls_ca_file` | none (built-in public roots) | PEM file of CA certificates to trust for `rediss://` (self-signed or private CA); only with `rediss://` URLs; unreadable: `Config` error |
//! | `key_prefix` | `"tq"` | prepended to every key, so stores can share a server; no `{` `}` |
//! | `connect_timeout_ms` | `5000` | TCP/TLS connect timeout; a whole open (connect, handshake, checks) gives up after `connect_timeout_ms + command_timeout_ms` with a temporary `Unavailable` error naming the server |
//! | `command_timeout_ms` | `60000` | timeout of one request (`0`: none; an open then still counts 60000) |
//! | `buckets` | `256` cluster, `1` standalone | how many hash slots a partition's rows spread over; fixed per store |
//! | `allow_evicting_policy` | `false` | **LOSSY** when `true` (rows can vanish silently): open even when the server's `maxmemory-policy` may evict this store's keys, or cannot be read; see below |
//! | `watch_buffer` | `4096` | events a watcher may fall behind by before it reads `Lagged` (see "Watching") |
//! | `cell_key_bytes` | `16384` | cells of at least this many stored bytes get a Redis key of their own (see "Where a cell lives") |
//!
//! Unknown settings are an error naming the setting (`deny_unknown_fields`).
//!
//! # Key layout
//!
//! See [`keys`] for the table. In short: one hash per row
//! (`P{b}:r:<len>:<partition>:<key>`) holding the insertion sequence (`s`),
//! the stamp of its last write (`v`), the small cells (`f<field>`, in
//! [`tq_core::codec`]'s layout), a marker `x<field>` holding the codec
//! header of each large cell, whose payload lives under a string key of
//! its own
//! (`P{b}:c:<len>:<partition>:<len>:<key><field>`, see "Where a cell
//! lives"), and the tag entries (`t<name>`, JSON each); per bucket and
//! partition a sorted set of
//! keys by insertion sequence (`P{b}:i:<len>:<partition>`); per bucket a set
//! of partitions (`P{b}:p`); one counter (`P:seq`) and one layout marker
//! (`P:layout`, `tq-backend-redis layout 3; buckets=<n>`) per store. The
//! row hash is the truth; its cell keys, the index and the partition set of
//! its bucket share its hash slot and are updated in the same
//! `MULTI`/`EXEC` (or script) as the row, so they can never disagree with
//! it.
//!
//! A store written by a build of another layout version (layout 1 kept
//! every cell in the hash, layout 2 kept large cells whole under their
//! keys with an empty marker) is refused at open with a `Config` error
//! naming `key_prefix`: each version misreads the others' cells. Read or
//! clear such a store with the version that wrote it, or use a new
//! `key_prefix`.
//!
//! # Where a cell lives
//!
//! Redis 7.0 stores a `SET` argument of 32 KiB or more as the very buffer
//! it read it into, while `HSET` stores a copy: in a put of 1024 rows of
//! nine 32 KiB cells, those copies were a third of the server's work
//! (BENCHMARKS.md, "Where a large Redis put and get spend their time"). So
//! a cell of at least [`cell_key_bytes`](RedisConfig::cell_key_bytes)
//! stored bytes (16 KiB by default) written by a transaction lives under a
//! key of its own (its payload alone), written with one `MSET` per row,
//! and the row's hash holds the marker `x<field>` with the cell's codec
//! header; smaller cells, every cell of a row written
//! by one script (rows of at most 8 KiB of values without such a cell),
//! and every cell of a conditional write (`kv_update`) live in the hash
//! as `f<field>`. A cell is in one place or the other, never both: a write
//! that puts it in one place removes it from the other, in the same atomic
//! step, and a removed cell (field-level clear) or a cleared row loses its
//! key too.
//!
//! A get reads the hashes first (one pipelined round), which tells the
//! dtype and shape of every large cell; it then reads each row's cell keys
//! with `MGET` followed by `HMGET s v` on the same connection, and keeps
//! them when the row's version did not move in between (a sequence lock:
//! every write stores a new stamp `v`). The payloads are read from the
//! socket straight into one buffer per field, the rows back to back, and
//! that buffer is the column the get returns: one copy in user space, into
//! memory the output pool has usually touched before (`src/landing.rs`). A
//! row written in between is read again in one `MULTI`/`EXEC` of its hash
//! and `MGET` (one state; a write that added a large cell in between makes
//! it go round again, at most 8 times, then `Unavailable`, temporary), and
//! its cells are copied into their places in the columns, so a write
//! racing a get costs a copy of that row, not of every column
//! ([`RedisBackend::rows_read_again`] counts such rows). A
//! server over `maxmemory` refuses everything queued in a `MULTI`, reads
//! included; then such a row goes back to the sequence lock
//! (`src/row_read.rs`). Small rows cost one round trip.
//!
//! # Guarantees
//!
//! - **Row atomicity and race-free merges** (SPEC P9, X1-X3): a put of a row
//!   is one transaction, `MULTI; [DEL <keys of cells removed or moving
//!   into the hash>]; HDEL row <fields replaced>; MSET <cell key> <cell>
//!   ...; HSET row x<field> <header> ... f<field> <cell> ... t<name> <json> ...;
//!   EVAL put_meta; EXEC`. The `HSET` sets the small cells, the markers of
//!   the large ones and the tag entries (one hash field each, so a shallow
//!   merge is a plain `HSET` and
//!   concurrent merges of different entries from any number of processes
//!   lose nothing); the script (`lua/put_meta.lua`, which never sees a
//!   cell's value) gives a row without a sequence (a new one, or a cleared
//!   key put again) the next sequence, its index entry and its partition
//!   entry, and answers the row's fields and full tag: read back from the
//!   hash for a row that existed, the write's own (field names and the tag
//!   entries it set, passed in) for a new one, which needs no read.
//!   `put_row.lua` does the same for a small row. Redis runs a transaction's
//!   commands back to back, so readers see the row before or after the
//!   whole put, never in between; a transaction refused while queueing
//!   (`MOVED`, `OOM`, ...) runs nothing. A clear of a row is one script
//!   (`DEL` plus its index entry), so a put and a clear of the same key are
//!   ordered and never mix. A get never pairs a hash with cells of
//!   another write (see "Where a cell lives").
//! - **No value passes through Lua**: Redis turns every script argument
//!   into a Lua string (this Redis build hashes each of its bytes) and a
//!   script's `HSET` copies it once more; a plain `HSET` goes straight to
//!   the hash. `put_meta` is sent as `EVAL` with its text (1.6 KiB,
//!   comments and indentation stripped), never `EVALSHA`: inside
//!   `MULTI`/`EXEC` an unknown script would only fail at `EXEC`, after the
//!   `HSET` had run. An error raised inside `EXEC` (a script error on a
//!   store whose keys were tampered with) fails the call and is never
//!   resent.
//! - **Insertion order** (L1, L3): a new row takes the next value of the
//!   store's counter; `kv_list` sorts by it. A cleared key leaves nothing
//!   behind (hash, index entry and, when it was the last row of its
//!   partition in its bucket, the partition entry are removed), so putting
//!   it again is a new insertion at the end.
//! - **Nested JSON**: a JSON cell and each tag entry round-trip through
//!   put, get and list up to [`MAX_JSON_DEPTH`] (127) levels of arrays and
//!   objects (tq-core's `KvStore` refuses more than 64 before calling the
//!   backend, the tag object counting as one level); anything deeper given
//!   to the backend directly is `InvalidArgument` naming partition, key and
//!   field or tag entry, before anything of the call is written. No Lua
//!   script decodes JSON (tag entries pass through `put_meta` and `list` as
//!   opaque strings), so cjson's nesting limit does not apply. A put's
//!   answer (the row's full tag) takes the entries it wrote from the call
//!   and decodes only the entries stored before: it never writes a row and
//!   then fails on decoding what it just wrote.
//! - **Corrupted rows stay contained**: whatever bytes a stored row holds
//!   (a cell, a tag entry, a field name or the sequence overwritten by
//!   hand), a get of that row is `Corrupted` naming its partition and key
//!   (and the field); a list of the partition holding it (and so
//!   `kv_list(None)`) is `Corrupted` naming the key when its tag or
//!   sequence does not decode; gets of other rows and lists of other
//!   partitions work as before, and `kv_clear` of the row always works (it
//!   decodes nothing), which repairs the store. A row whose hash marks a
//!   cell as living under a key that is gone is `Corrupted` naming the
//!   field too. A put to a row whose stored
//!   tag does not decode is applied, then `Corrupted` ("the put was
//!   written, but ..."), since its answer carries the full tag.
//!   The tests' `corrupt_row` (`tests/support/corrupt.rs`) damages a row
//!   this way.
//! - **Tag entries** are separate hash fields, so a tag comes back as a map
//!   whose entry order is Redis' hash order (insertion order for small
//!   hashes, unspecified for large ones); tags compare equal regardless.
//! - **Rows of one batch are not atomic with each other**
//!   ([`Capabilities::atomic_batch`](tq_core::Capabilities) is false), but
//!   each row is whole or absent, and a put that fails part-way says which
//!   rows it wrote. When the server runs out of memory (`OOM` under
//!   `noeviction`: writes are refused once used memory is over
//!   `maxmemory`), the rows sent before are written and the rest refused,
//!   each row's transaction whole; the error is `CapacityExceeded`
//!   (permanent until rows are cleared or `maxmemory` is raised; clears
//!   and reads still work, and so does opening an existing store) with
//!   the context `written` and `not_written` (`"728 of 1000 rows: k0, k1,
//!   ... and 718 more"`: the count and up to ten keys) and `written_rows`
//!   (the written rows' positions in the call, as ranges: `"0-727, 730"`,
//!   at most 64 ranges). A lost connection is reported the same way, with
//!   the rows whose fate is unknown under `unknown`. In a cluster, a
//!   refused `INCRBY` of the counter means nothing was written.
//! - **A call dropped midway** (a timeout around it, a cancelled task):
//!   its large pipelines (16 commands or 1 MiB and more) run as tasks of
//!   their own and finish within `command_timeout_ms`, their answers
//!   discarded (a get's buffers are freed when they end); smaller ones
//!   stop being read. Either way the rows of a dropped put may be written
//!   or not, each whole, as after a lost connection.
//! - **No eviction** (finding: an `allkeys-lru` server silently deleted
//!   2,074 of 3,000 acknowledged rows, the counter and the layout marker):
//!   [`RedisBackend::open`] reads the server's `maxmemory-policy` (`CONFIG
//!   GET`; on a cluster from every master; if `CONFIG` is renamed or
//!   refused by the ACL, `INFO memory`'s `maxmemory_policy`) and refuses,
//!   with a permanent `Config` error naming `maxmemory-policy`, its value
//!   and (cluster) the master, any policy but `noeviction` and the
//!   `volatile-*` ones ([`SAFE_POLICIES`]). `volatile-*` only evicts keys
//!   that have a TTL, and this backend never sets one (no `EXPIRE`, no
//!   `SET .. EX`; a test checks every key's `PTTL` under each of them). A
//!   policy that cannot be read is refused too. `allow_evicting_policy =
//!   true` opens anyway: **LOSSY**, rows then vanish silently when the
//!   server is full. The policy is checked at open only: changing it on a
//!   running server (`CONFIG SET`) is not noticed.
//! - **Sizes are checked before anything is sent**: a value larger than the
//!   server's `proto-max-bulk-len` (read with `CONFIG GET` at open, 512 MiB
//!   if the server does not say), or a row larger than its
//!   `client-query-buffer-limit` (1 GiB), is `CapacityExceeded` naming
//!   partition, key and field, and nothing of the call is written.
//! - **Errors**: connection refused, reset or timed out, a cluster that is
//!   down or resharding, a server still loading: `Unavailable`, temporary.
//!   A server out of memory: `CapacityExceeded`, permanent (see above).
//!   The backend reconnects by itself; the same backend works again once the
//!   server is back. A wrong password is a permanent `Config` error naming
//!   the `password` setting; a TLS server certificate that is not trusted
//!   (or not valid for the host) is a permanent `Config` error naming the
//!   `tls_ca_file` setting.
//! - **A server that vanishes silently** (powered off, cut off by the
//!   network, so no connection is closed): every connection has TCP
//!   keepalive probes after 30 s of silence, every 10 s, 3 unanswered ones
//!   dropping it, so a lost server is noticed within about a minute even
//!   by an idle connection: a watch (and so `kv_wait`) then reports the
//!   lost connection (`Unavailable`) instead of waiting on it for hours
//!   (the kernel's own default is two hours). `tests/keepalive.rs` checks
//!   the timers in the kernel's socket table.
//!
//! # Round trips per operation
//!
//! | operation | standalone | cluster |
//! |---|---|---|
//! | put (any number of rows) | 1: one pipeline of, per row, `EVALSHA put_row` (a row of at most 8 KiB: the `HSET` runs inside the script) or `MULTI; HDEL; MSET; HSET; EVAL put_meta; EXEC` (a larger row: its values never pass through Lua); 2 when over 16 MiB or 128 rows: `INCRBY` first | 2: `INCRBY` the counter (shared by the puts of this process waiting at the same time), then one pipeline per master (the same commands), all in flight together |
//! | get | 1: one pipeline of `HGETALL` / `HMGET`; 2 when rows have cells under keys of their own: then one pipeline of `MGET <cell keys>; HMGET s v` for those rows (a sequence lock; a row written in between is read once more in `MULTI; HGETALL/HMGET; MGET; EXEC`, see "Where a cell lives") | 1 (2 with cell keys): one pipeline per master, concurrently |
//! | list | 1: `EVALSHA list` per bucket in one pipeline | 1: one pipeline per master, concurrently |
//! | clear | 1: one pipeline of `EVALSHA clear` | 1: one pipeline per master, concurrently |
//!
//! On plain TCP (not `rediss://`) the large pipelines (at least 16
//! commands or 1 MiB) bypass redis-rs: each runs on a pooled connection of
//! its own (`src/direct.rs`), is written with vectored writes that take a
//! cell's payload from the caller's buffer (no user-space copy), reads
//! large replies straight into the cells' final buffers, and keeps at most
//! 16 commands in flight ahead of the replies read (so the server never
//! buffers a whole get's replies). A pipeline of more than 16 MiB or of
//! 128 rows or more is split over up to 4 connections (one per 16 MiB, or
//! per 64 rows), each row's commands whole on one of them; split by rows
//! (a get), one call takes at most 4 connections over all masters, since
//! this process reads every reply (a 1024-row cluster get: 113 ms against
//! 142 ms with 4 per master), split by bytes (a put) each master's share
//! may take 4, since each master parses its own. Such a put
//! takes its insertion sequences with one `INCRBY` first (as a cluster put
//! does), so the listing keeps the call's order, and a put that does not
//! is never split. Small pipelines (a single-row put or get) take a direct
//! connection while fewer than 2 of them are in flight, and redis-rs'
//! multiplexed connection beyond: one task's round trip is shortest on a
//! connection of its own, many tasks' small requests are cheapest
//! pipelined together on one socket (BENCHMARKS.md). The counter's
//! `INCRBY` takes a direct connection the same way, to the master the slot
//! map names (through redis-rs' cluster connection it cost about 60 us
//! more per single-row put: a hop to its routing task and back; a
//! redirection or a broken connection sends it again through redis-rs, a
//! timeout is the put's answer), and the
//! reservations of concurrent puts of one process share one `INCRBY`
//! (`src/reservations.rs`): one that starts after another ended is sent
//! after that one was answered, so it gets larger numbers (L1); puts
//! waiting together are concurrent, and their order is free. TLS connections, the
//! checks at open and commands resent
//! after a redirection always use redis-rs.
//!
//! In a cluster, the first operation of a backend also reads the slot map
//! (`CLUSTER SLOTS`, once). A command that reaches the wrong master after a
//! resharding answers `MOVED`/`ASK` without running; it is resent through
//! redis-rs's per-slot routing, which follows the redirection, and the slot
//! map is read again ([`RedisBackend::redirected_commands`] counts these;
//! `tests/resharding.rs` moves a row's slot under a backend and checks
//! every kind of request, `tests/counter.rs` the counter's slot).
//!
//! After a server restart the list and clear scripts are unknown to it: the
//! first list, clear or small-row put gets `NOSCRIPT` and resends those
//! commands with `EVAL` (one more round trip), which reloads them. A large
//! row's put sends its script as `EVAL` always, so it never pays this.
//!
//! The servers' host: with BBR as its TCP congestion control (Linux's
//! `net.ipv4.tcp_congestion_control`; the servers' sockets take the
//! system's default), every reply a server sends is paced, which cost a
//! 302 MB get from a 3-master cluster on loopback about 10-17% of its time
//! against `cubic` (BENCHMARKS.md, "Where a cluster get's time goes now").
//! The backend changes no system setting; the client's own sockets do not
//! matter here.
//!
//! # Cluster
//!
//! A row's bucket is a stable hash of partition and key, and the bucket is
//! the key's hash tag (`{b}`), so a partition's rows spread over
//! `buckets` slots and with them over the masters (not one slot per
//! partition; with the default 256 buckets and 3 masters, each master held
//! 31-35% of a 3,000-row partition's bytes in the tests). Commands are
//! grouped per master with the slot map; the redis-rs cluster client
//! sends them, reconnects, and follows redirections for resent commands.
//! Every key of a put's transaction (cell keys included) is in the row's
//! slot, so `MULTI`/`EXEC`
//! is legal on the master's connection; a transaction that reaches the
//! wrong master is refused whole (`MOVED` while queueing, then
//! `EXECABORT`) and resent through per-slot routing.
//! The counter is a key of its own slot, hence the extra round trip for
//! puts. Replicas are not read from.
//!
//! # Watching
//!
//! The backend pushes its writes to watchers in every process
//! ([`Notifications::CrossProcess`](tq_core::Notifications)), for
//! `kv_watch` and `kv_wait`:
//!
//! - **Published by the write itself.** The script that applies a row
//!   write (`put_row.lua`, or `put_meta.lua` inside a large row's
//!   `MULTI`/`EXEC`) or a clear (`clear.lua`) publishes its events after
//!   applying it, in the same atomic step: an event exists iff the write
//!   landed (none for a conditional write that did not match, a removal of
//!   a missing row, a clear of a missing row), and the events of one key
//!   leave in the order Redis applied the writes. A write that removes
//!   cells of an existing row sends the field clear first, then the put
//!   (the fields it set, the row's whole tag after the merge).
//! - **Channels**: one per partition and bucket, `P{b}:w:<len>:<partition>`
//!   ([`keys`]), in the row's hash slot. A standalone server uses
//!   `PUBLISH`/`SUBSCRIBE`; a cluster uses sharded pub/sub
//!   (`SPUBLISH`/`SSUBSCRIBE`, Redis 7), so a message goes out from the
//!   master that owns the row only, not over the whole cluster bus.
//!   Messages are a kind byte and `<len>:<bytes>` items (`src/events.rs`),
//!   so any name round-trips; one that does not decode is a `Corrupted`
//!   item of the stream.
//! - **Subscribing**: each watch opens connections of its own (RESP3, same
//!   address, TLS and credentials as the data connections; named
//!   [`WATCH_CLIENT_NAME`] in `CLIENT LIST`): one to a standalone server
//!   with a `SUBSCRIBE` per bucket channel, or one per cluster master with
//!   an `SSUBSCRIBE` per channel of the buckets it serves (by the slot
//!   map). `watch` returns once the server confirmed every subscription,
//!   so `kv_wait` misses no put that lands while it is being set up, from
//!   any process. A `kv_wait` pays this per call: a connection and a
//!   handshake per master, then one round trip.
//! - **A slow watcher** never slows the server or the writers: messages are
//!   read off the socket as they arrive into a buffer of
//!   [`watch_buffer`](RedisConfig::watch_buffer) events (4096); a watcher
//!   that falls further behind loses the oldest and reads
//!   [`WatchEvent::Lagged`](tq_core::WatchEvent) with the count lost, in
//!   their place. It resyncs with `kv_list`.
//! - **Connection loss**: if a watch connection drops (server restart,
//!   network, `CLIENT KILL`), the stream yields one `Unavailable` error and
//!   ends; events published meanwhile are lost, so watch again and resync
//!   with `kv_list`. Dropping the stream closes its connections.
//! - **Cost when nobody watches**: each row write builds one or two short
//!   messages in its script (its key and field and tag names, no values)
//!   and publishes them to a channel without subscribers, which Redis
//!   drops at once; put_meta also receives the names of the fields a large
//!   row sets and removes. On single-row puts (16 B rows, 3 alternating
//!   runs) the difference was within this machine's run-to-run noise:
//!   median 2.59x the engine's time against 2.37x from one task, 2.89x
//!   against 2.71x from 16 tasks, while unchanged gets moved by -11%/+5%.
//! - **ACL**: publishing and subscribing need the user to be allowed the
//!   store's channels (`&*`, or `&<prefix>{*`; Redis 7 creates users with
//!   none). A user that may not publish still writes (the scripts publish
//!   with `pcall`: the write has landed by then), but its writes send no
//!   event, so watchers miss them; a user that may not subscribe gets an
//!   error from `watch` (and `kv_wait`).
//! - **Resharding is not followed**: when a cluster moves a slot while a
//!   watch is open, Redis 7 ends the subscriptions of that slot's channels
//!   (an `sunsubscribe` push) and the stream then yields one `Unavailable`
//!   error and ends, as on a lost connection: watch again (the new slot
//!   map is read then) and resync. This path is not covered by a test
//!   here. A slot map that is stale when a watch opens is read once more.
//!
//! # Capabilities
//!
//! persistent (data lives in the server, as durable as its own persistence
//! settings), shared across processes, not atomic per batch, not zero-copy,
//! `max_value_bytes` = the server's `proto-max-bulk-len`, pushes events to
//! watchers in every process (`Notifications::CrossProcess`).
#![deny(missing_docs)]

mod backend;
mod cells;
mod client;
mod conditional;
pub mod config;
mod direct;
mod error;
mod events;
mod keepalive;
pub mod keys;
mod landing;
mod reply;
mod reservations;
mod row_read;
mod scripts;
mod slots;
mod watch;
mod wire;
mod write;
mod write_stamp;

pub use backend::{FALLBACK_MAX_BULK, FALLBACK_MAX_QUERY, RedisBackend, SAFE_POLICIES};
pub use cells::MAX_JSON_DEPTH;
pub use config::RedisConfig;
pub use watch::WATCH_CLIENT_NAME;
