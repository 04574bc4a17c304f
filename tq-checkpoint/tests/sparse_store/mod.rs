//! An in-memory object store that keeps only the non-zero blocks of what is
//! written, like a sparse file: a checkpoint of a store full of zeros takes
//! a few kilobytes of heap and no disk. The bounded-memory test saves and
//! loads gigabytes through it, so its heap counter sees the save and the
//! load, not the stored objects, and it needs no free disk (a 2 GiB
//! `file://` checkpoint once filled a CI machine's disk).
//!
//! Only what a checkpoint uses is implemented: multipart and single puts,
//! whole and ranged reads with ETag preconditions, head. The rest answers
//! `NotImplemented`.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};
use tq_checkpoint::object_store::path::Path;
use tq_checkpoint::object_store::{
    self, CopyOptions, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload,
    ObjectMeta, ObjectStore, PutMode, PutMultipartOptions, PutOptions, PutPayload, PutResult,
    UploadPart,
};

/// Blocks of this many bytes that are all zero are not kept.
const BLOCK: usize = 4096;
/// A read streams the object in pieces of this size, made as they are taken.
const READ_PIECE: u64 = 1 << 20;
static ZEROS: [u8; BLOCK] = [0; BLOCK];

/// An object: its length and its non-zero stretches, by offset, in order.
#[derive(Debug, Default)]
struct Sparse {
    len: u64,
    stretches: Vec<(u64, Bytes)>,
}

impl Sparse {
    /// Appends `bytes`, keeping the blocks (aligned to the append) that are
    /// not all zero; neighbouring kept blocks become one stretch.
    fn append(&mut self, bytes: &[u8]) {
        let mut pending: Option<(u64, Vec<u8>)> = None;
        for (i, block) in bytes.chunks(BLOCK).enumerate() {
            let at = self.len + (i * BLOCK) as u64;
            if block == &ZEROS[..block.len()] {
                self.flush(pending.take());
            } else {
                pending
                    .get_or_insert_with(|| (at, Vec::new()))
                    .1
                    .extend_from_slice(block);
            }
        }
        self.flush(pending);
        self.len += bytes.len() as u64;
    }

    fn flush(&mut self, stretch: Option<(u64, Vec<u8>)>) {
        if let Some((at, bytes)) = stretch {
            self.stretches.push((at, Bytes::from(bytes)));
        }
    }

    /// The bytes of `range`, zeros where nothing was kept.
    fn read(&self, range: Range<u64>) -> Bytes {
        let mut out = vec![0u8; (range.end - range.start) as usize];
        for (at, bytes) in &self.stretches {
            let end = at + bytes.len() as u64;
            if end <= range.start || *at >= range.end {
                continue;
            }
            let from = range.start.max(*at);
            let to = range.end.min(end);
            out[(from - range.start) as usize..(to - range.start) as usize]
                .copy_from_slice(&bytes[(from - at) as usize..(to - at) as usize]);
        }
        Bytes::from(out)
    }
}

#[derive(Debug)]
struct Stored {
    data: Arc<Sparse>,
    e_tag: String,
}

/// The store. Cloning shares the objects.
#[derive(Debug, Default, Clone)]
pub struct SparseStore {
    objects: Arc<Mutex<HashMap<Path, Stored>>>,
    next_e_tag: Arc<AtomicU64>,
}

impl SparseStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Heap bytes the kept stretches of every object take.
    pub fn kept_bytes(&self) -> usize {
        let objects = self.objects.lock().unwrap();
        objects
            .values()
            .flat_map(|o| o.data.stretches.iter().map(|(_, b)| b.len()))
            .sum()
    }

    fn store(&self, path: &Path, data: Sparse, mode: &PutMode) -> object_store::Result<PutResult> {
        let e_tag = format!("\"{}\"", self.next_e_tag.fetch_add(1, Ordering::Relaxed));
        let mut objects = self.objects.lock().unwrap();
        if matches!(mode, PutMode::Create) && objects.contains_key(path) {
            return Err(object_store::Error::AlreadyExists {
                path: path.to_string(),
                source: "the object exists".into(),
            });
        }
        objects.insert(
            path.clone(),
            Stored {
                data: Arc::new(data),
                e_tag: e_tag.clone(),
            },
        );
        Ok(PutResult {
            e_tag: Some(e_tag),
            version: None,
            extensions: Default::default(),
        })
    }

    fn not_implemented(operation: &str) -> object_store::Error {
        object_store::Error::NotImplemented {
            operation: operation.to_string(),
            implementer: "SparseStore".to_string(),
        }
    }
}

impl fmt::Display for SparseStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SparseStore")
    }
}

/// A multipart upload: parts are appended in the order they are given,
/// which is the order `WriteMultipart` gives them in.
#[derive(Debug)]
struct SparseUpload {
    store: SparseStore,
    path: Path,
    data: Option<Sparse>,
}

#[async_trait]
impl MultipartUpload for SparseUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        let sparse = self.data.get_or_insert_with(Sparse::default);
        for chunk in data.iter() {
            sparse.append(chunk);
        }
        Box::pin(async { Ok(()) })
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        let data = self.data.take().unwrap_or_default();
        self.store.store(&self.path, data, &PutMode::Overwrite)
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        self.data = None;
        Ok(())
    }
}

#[async_trait]
impl ObjectStore for SparseStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        if matches!(opts.mode, PutMode::Update(_)) {
            return Err(Self::not_implemented("put_opts with PutMode::Update"));
        }
        let mut data = Sparse::default();
        for chunk in payload.iter() {
            data.append(chunk);
        }
        self.store(location, data, &opts.mode)
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        _opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        Ok(Box::new(SparseUpload {
            store: self.clone(),
            path: location.clone(),
            data: None,
        }))
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        let (data, e_tag) = {
            let objects = self.objects.lock().unwrap();
            let stored = objects
                .get(location)
                .ok_or_else(|| object_store::Error::NotFound {
                    path: location.to_string(),
                    source: "no such object".into(),
                })?;
            (Arc::clone(&stored.data), stored.e_tag.clone())
        };
        let meta = ObjectMeta {
            location: location.clone(),
            last_modified: Default::default(),
            size: data.len,
            e_tag: Some(e_tag),
            version: None,
        };
        options.check_preconditions(&meta)?;
        let range = match &options.range {
            Some(range) => range
                .as_range(data.len)
                .map_err(|e| object_store::Error::Generic {
                    store: "SparseStore",
                    source: Box::new(e),
                })?,
            None => 0..data.len,
        };
        let pieces = (range.start..range.end)
            .step_by(READ_PIECE as usize)
            .map(move |at| at..(at + READ_PIECE).min(range.end));
        let payload = if options.head {
            stream::empty().boxed()
        } else {
            stream::iter(pieces).map(move |r| Ok(data.read(r))).boxed()
        };
        Ok(GetResult {
            payload: GetResultPayload::Stream(payload),
            meta,
            range,
            attributes: Default::default(),
            extensions: Default::default(),
        })
    }

    fn list(&self, _prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        stream::once(async { Err(Self::not_implemented("list")) }).boxed()
    }

    fn delete_stream(
        &self,
        _locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        stream::once(async { Err(Self::not_implemented("delete_stream")) }).boxed()
    }

    async fn list_with_delimiter(
        &self,
        _prefix: Option<&Path>,
    ) -> object_store::Result<ListResult> {
        Err(Self::not_implemented("list_with_delimiter"))
    }

    async fn copy_opts(
        &self,
        _from: &Path,
        _to: &Path,
        _options: CopyOptions,
    ) -> object_store::Result<()> {
        Err(Self::not_implemented("copy_opts"))
    }
}
