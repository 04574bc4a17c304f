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

    use crate::data::Payload;

    /// The raw `redis` crate writing the cells with pipelined `SET`s, reading
    /// them with pipelined `GET`s and deleting them with one `DEL`.
    pub struct RawRedis {
        con: redis::aio::MultiplexedConnection,
    }

    impl RawRedis {
        /// Connects to `url`.
        pub async fn connect(url: &str) -> Result<Self, String> {
            let client = redis::Client::open(url).map_err(|e| e.to_string())?;
            // The crate's default 500 ms response timeout is far too short
            // for a pipeline of hundreds of megabytes.
            let config = redis::AsyncConnectionConfig::new().set_response_timeout(None);
            let con = client
                .get_multiplexed_async_connection_with_config(&config)
                .await
                .map_err(|e| format!("raw redis: {e}"))?;
            Ok(RawRedis { con })
        }

        fn key(p: &Payload, r: usize, f: usize) -> String {
            format!("tqbench-raw/{}/{}", p.keys[r], p.fields[f].name)
        }

        /// Times one pipeline of a `SET` per cell.
        pub async fn put(&mut self, p: &Payload) -> Result<Duration, String> {
            let start = Instant::now();
            let mut pipe = redis::pipe();
            for (r, f, bytes) in p.cells() {
                pipe.set(Self::key(p, r, f), bytes).ignore();
            }
            pipe.query_async::<()>(&mut self.con)
                .await
                .map_err(|e| format!("raw redis SET pipeline: {e}"))?;
            Ok(start.elapsed())
        }

        /// Times one pipeline of a `GET` per cell.
        pub async fn get(&mut self, p: &Payload) -> Result<Duration, String> {
            let start = Instant::now();
            let mut pipe = redis::pipe();
            for (r, f, _) in p.cells() {
                pipe.get(Self::key(p, r, f));
            }
            let values: Vec<Vec<u8>> = pipe
                .query_async(&mut self.con)
                .await
                .map_err(|e| format!("raw redis GET pipeline: {e}"))?;
            let elapsed = start.elapsed();
            let bytes: usize = values.iter().map(Vec::len).sum();
            if bytes != p.bytes() {
                return Err(format!("raw redis read {bytes} of {} bytes", p.bytes()));
            }
            Ok(elapsed)
        }

        /// Times one `DEL` of every cell.
        pub async fn clear(&mut self, p: &Payload) -> Result<Duration, String> {
            let start = Instant::now();
            let keys: Vec<String> = p.cells().map(|(r, f, _)| Self::key(p, r, f)).collect();
            let mut cmd = redis::cmd("DEL");
            cmd.arg(keys);
            cmd.query_async::<()>(&mut self.con)
                .await
                .map_err(|e| format!("raw redis DEL: {e}"))?;
            Ok(start.elapsed())
        }
    }
}
