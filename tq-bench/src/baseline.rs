//! Raw baselines on the same bytes as the workload (docs/CONTRACT.md; the measuring rules are in BENCHMARKS.md).

use std::time::{Duration, Instant};

const HUGE_PAGE: usize = 2 << 20;
/// Buffers at least this large get huge-page advice (tq-core's threshold).
pub const HUGE_PAGE_THRESHOLD: usize = 8 << 20;

/// One memcpy of the payload: each field's bytes copied into a buffer that
/// is already allocated and touched, the physical limit of moving the bytes
/// once. Only the copies are timed.
pub fn memcpy_touched(fields: &[&[u8]]) -> Duration {
    let total: usize = fields.iter().map(|f| f.len()).sum();
    let mut dst = vec![1u8; total];
    std::hint::black_box(&mut dst);
    let start = Instant::now();
    let mut at = 0;
    for f in fields {
        dst[at..at + f.len()].copy_from_slice(f);
        at += f.len();
    }
    std::hint::black_box(&dst);
    start.elapsed()
}

/// A buffer allocated for one field, optionally 2 MiB aligned and advised
/// with `MADV_HUGEPAGE` when it is at least [`HUGE_PAGE_THRESHOLD`] long (as
/// tq-core's get output buffers are).
struct FreshBuffer {
    vec: Vec<u8>,
}

impl FreshBuffer {
    fn copy_of(src: &[u8], huge: bool) -> Self {
        if !huge || src.len() < HUGE_PAGE_THRESHOLD {
            let mut vec = Vec::with_capacity(src.len());
            vec.extend_from_slice(src);
            return FreshBuffer { vec };
        }
        let mut vec = Vec::<u8>::with_capacity(src.len() + HUGE_PAGE);
        let base = vec.as_ptr() as usize;
        let start = base.next_multiple_of(HUGE_PAGE) - base;
        advise_huge_pages(vec.as_ptr(), start, src.len());
        vec.resize(start, 0);
        vec.extend_from_slice(src);
        FreshBuffer { vec }
    }
}

#[cfg(target_os = "linux")]
fn advise_huge_pages(base: *const u8, start: usize, len: usize) {
    // SAFETY: `base + start .. + len` lies inside one allocation (the caller
    // reserved `len + HUGE_PAGE` bytes at `base` and `start < HUGE_PAGE`);
    // madvise changes no contents, and failure is harmless (it is only advice).
    unsafe {
        let ptr = base.add(start) as *mut libc::c_void;
        let _ = libc::madvise(ptr, len.next_multiple_of(4096), libc::MADV_HUGEPAGE);
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge_pages(_base: *const u8, _start: usize, _len: usize) {}

/// The payload copied into freshly allocated buffers, one per field, as a
/// get must: allocation, first-touch page faults and the copy are timed;
/// freeing is not.
pub fn memcpy_fresh(fields: &[&[u8]], huge_pages: bool) -> Duration {
    let start = Instant::now();
    let bufs: Vec<FreshBuffer> = fields
        .iter()
        .map(|f| FreshBuffer::copy_of(f, huge_pages))
        .collect();
    let elapsed = start.elapsed();
    std::hint::black_box(bufs.iter().map(|b| b.vec.len()).sum::<usize>());
    drop(bufs);
    elapsed
}

#[cfg(feature = "rocksdb")]
pub use self::rocks::RawRocksDb;

#[cfg(feature = "rocksdb")]
mod rocks {
    use std::path::Path;
    use std::time::{Duration, Instant};

    use crate::data::Payload;

    /// The raw `rocksdb` crate writing the cells in one `WriteBatch`,
    /// reading them with one `multi_get` and deleting them in one batch.
    pub struct RawRocksDb {
        db: rocksdb::DB,
        sync: bool,
    }

    impl RawRocksDb {
        /// Opens a store in `dir` with settings like the backend's defaults
        /// (LZ4, 64 MiB write buffer, 2 background jobs).
        pub fn open(dir: &Path, sync: bool) -> Result<Self, String> {
            let mut opts = rocksdb::Options::default();
            opts.create_if_missing(true);
            opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
            opts.set_write_buffer_size(64 << 20);
            opts.set_max_background_jobs(2);
            let db = rocksdb::DB::open(&opts, dir).map_err(|e| format!("raw rocksdb open: {e}"))?;
            Ok(RawRocksDb { db, sync })
        }

        fn key(p: &Payload, r: usize, f: usize) -> Vec<u8> {
            format!("raw/{}/{}", p.keys[r], p.fields[f].name).into_bytes()
        }

        fn write_opts(&self) -> rocksdb::WriteOptions {
            let mut wo = rocksdb::WriteOptions::default();
            wo.set_sync(self.sync);
            wo
        }

        /// Times writing every cell in one `WriteBatch`.
        pub fn put(&self, p: &Payload) -> Result<Duration, String> {
            let start = Instant::now();
            let mut batch = rocksdb::WriteBatch::default();
            for (r, f, bytes) in p.cells() {
                batch.put(Self::key(p, r, f), bytes);
            }
            self.db
                .write_opt(batch, &self.write_opts())
                .map_err(|e| e.to_string())?;
            Ok(start.elapsed())
        }

        /// Times reading every cell with one `multi_get`.
        pub fn get(&self, p: &Payload) -> Result<Duration, String> {
            let start = Instant::now();
            let keys: Vec<Vec<u8>> = p.cells().map(|(r, f, _)| Self::key(p, r, f)).collect();
            let values = self.db.multi_get(keys);
            let elapsed = start.elapsed();
            let mut bytes = 0;
            for v in values {
                bytes += v
                    .map_err(|e| e.to_string())?
                    .ok_or("raw rocksdb lost a cell")?
                    .len();
            }
            if bytes != p.bytes() {
                return Err(format!("raw rocksdb read {bytes} of {} bytes", p.bytes()));
            }
            Ok(elapsed)
        }

        /// Times deleting every cell in one `WriteBatch`.
        pub fn clear(&self, p: &Payload) -> Result<Duration, String> {
            let start = Instant::now();
            let mut batch = rocksdb::WriteBatch::default();
            for (r, f, _) in p.cells() {
                batch.delete(Self::key(p, r, f));
            }
            self.db
                .write_opt(batch, &self.write_opts())
                .map_err(|e| e.to_string())?;
            Ok(start.elapsed())
        }
    }
}

#[cfg(feature = "redis")]
pub use self::raw_redis::RawRedis;

#[cfg(feature = "redis")]
mod raw_redis {
    use std::time::{Duration, Instant};

    use redis::aio::MultiplexedConnection;

    use crate::data::Payload;
    use crate::redis_nodes::{RedisTarget, connect};

    /// The raw `redis` crate writing the cells with pipelined `SET`s, reading
    /// them with pipelined `GET`s and deleting them with one `DEL`. On a
    /// cluster, cell `i` goes to master `i % masters` under a hash tag that
    /// master serves, and the masters' pipelines run at once.
    pub struct RawRedis {
        nodes: Vec<(MultiplexedConnection, Option<String>)>,
    }

    async fn join<T: Send + 'static>(
        tasks: Vec<tokio::task::JoinHandle<Result<T, String>>>,
    ) -> Result<Vec<T>, String> {
        let mut out = Vec::with_capacity(tasks.len());
        for t in tasks {
            out.push(t.await.map_err(|e| format!("raw redis task: {e}"))??);
        }
        Ok(out)
    }

    impl RawRedis {
        /// Connects to a standalone server at `url`.
        pub async fn connect(url: &str) -> Result<Self, String> {
            Self::connect_to(&RedisTarget::standalone(url)).await
        }

        /// Connects to every node of `target`.
        pub async fn connect_to(target: &RedisTarget) -> Result<Self, String> {
            let mut nodes = Vec::with_capacity(target.nodes.len());
            for n in &target.nodes {
                let con = connect(&n.url)
                    .await
                    .map_err(|e| format!("raw redis: {e}"))?;
                nodes.push((con, n.tag.clone()));
            }
            if nodes.is_empty() {
                return Err("raw redis: no node".into());
            }
            Ok(RawRedis { nodes })
        }

        fn key(tag: &Option<String>, p: &Payload, r: usize, f: usize) -> String {
            match tag {
                None => format!("tqbench-raw/{}/{}", p.keys[r], p.fields[f].name),
                Some(t) => format!("tqbench-raw{{{t}}}/{}/{}", p.keys[r], p.fields[f].name),
            }
        }

        /// One pipeline per node, built by `add(pipe, tag, row, field, bytes)`
        /// for the node's cells.
        fn pipes(
            &self,
            p: &Payload,
            mut add: impl FnMut(&mut redis::Pipeline, String, &[u8]),
        ) -> Vec<redis::Pipeline> {
            let mut pipes: Vec<redis::Pipeline> =
                self.nodes.iter().map(|_| redis::pipe()).collect();
            for (i, (r, f, bytes)) in p.cells().enumerate() {
                let n = i % self.nodes.len();
                add(&mut pipes[n], Self::key(&self.nodes[n].1, p, r, f), bytes);
            }
            pipes
        }

        fn spawn<T: redis::FromRedisValue + Send + 'static>(
            &self,
            pipes: Vec<redis::Pipeline>,
            what: &'static str,
        ) -> Vec<tokio::task::JoinHandle<Result<T, String>>> {
            pipes
                .into_iter()
                .zip(&self.nodes)
                .filter(|(pipe, _)| !pipe.is_empty())
                .map(|(pipe, (con, _))| {
                    let mut con = con.clone();
                    tokio::spawn(async move {
                        pipe.query_async::<T>(&mut con)
                            .await
                            .map_err(|e| format!("raw redis {what}: {e}"))
                    })
                })
                .collect()
        }

        /// Times one pipeline of a `SET` per cell (per node, at once).
        pub async fn put(&mut self, p: &Payload) -> Result<Duration, String> {
            let start = Instant::now();
            let pipes = self.pipes(p, |pipe, key, bytes| {
                pipe.set(key, bytes).ignore();
            });
            join(self.spawn::<()>(pipes, "SET pipeline")).await?;
            Ok(start.elapsed())
        }

        /// Times one pipeline of a `GET` per cell (per node, at once).
        pub async fn get(&mut self, p: &Payload) -> Result<Duration, String> {
            let start = Instant::now();
            let pipes = self.pipes(p, |pipe, key, _| {
                pipe.get(key);
            });
            let values = join(self.spawn::<Vec<Vec<u8>>>(pipes, "GET pipeline")).await?;
            let elapsed = start.elapsed();
            let bytes: usize = values.iter().flatten().map(Vec::len).sum();
            if bytes != p.bytes() {
                return Err(format!("raw redis read {bytes} of {} bytes", p.bytes()));
            }
            Ok(elapsed)
        }

        /// Times one `DEL` of every cell (per node, at once).
        pub async fn clear(&mut self, p: &Payload) -> Result<Duration, String> {
            let start = Instant::now();
            let mut keys: Vec<Vec<String>> = self.nodes.iter().map(|_| Vec::new()).collect();
            for (i, (r, f, _)) in p.cells().enumerate() {
                let n = i % self.nodes.len();
                keys[n].push(Self::key(&self.nodes[n].1, p, r, f));
            }
            let pipes = keys
                .into_iter()
                .map(|k| {
                    let mut pipe = redis::pipe();
                    if !k.is_empty() {
                        pipe.cmd("DEL").arg(k).ignore();
                    }
                    pipe
                })
                .collect();
            join(self.spawn::<()>(pipes, "DEL")).await?;
            Ok(start.elapsed())
        }
    }
}
