//! One data object read back as rows, in chunks, checking it against its
//! manifest entry: its size before the first byte, its row count and its
//! CRC-32C at the end.

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{GetOptions, GetResultPayload, ObjectStore};
use tq_core::{Error, Result};

use crate::location::Location;
use crate::manifest::{ObjectEntry, crc_hex};
use crate::record::{RowDecoder, RowRecord};
use crate::store_error::store_error;

/// The rows of one data object, read as a stream.
pub struct ObjectRows {
    path: Path,
    e_tag: Option<String>,
    expected_rows: u64,
    expected_crc: String,
    stream: BoxStream<'static, object_store::Result<Bytes>>,
    decoder: RowDecoder,
    crc: u32,
    rows: u64,
}

impl ObjectRows {
    /// Opens `entry` under `location`: `NotFound` if it is missing,
    /// `Corrupted` if its size is not the manifest's. With `e_tag` (from
    /// [`ObjectRows::e_tag`] of an earlier read), an object rewritten since
    /// is `Corrupted` before any of its rows is read.
    pub async fn open(
        location: &Location,
        entry: &ObjectEntry,
        e_tag: Option<String>,
    ) -> Result<Self> {
        let path = location.object(&entry.path);
        let changed = || {
            Error::corrupted(format!("object {path} changed since the load verified it"))
                .with_context("object", path.as_ref())
        };
        let options = GetOptions {
            if_match: e_tag.clone(),
            ..GetOptions::default()
        };
        let got = location
            .store()
            .get_opts(&path, options)
            .await
            .map_err(|e| match e {
                object_store::Error::Precondition { .. } => changed(),
                e => store_error(e, "reading", &path),
            })?;
        // Not every S3-compatible server honours If-Match on a read (s3s-fs
        // 0.14 does not): the answer's own ETag is checked too.
        if e_tag.is_some() && got.meta.e_tag != e_tag {
            return Err(changed());
        }
        if got.meta.size != entry.bytes {
            return Err(Error::corrupted(format!(
                "object {path} is {} bytes, the manifest says {}",
                got.meta.size, entry.bytes
            ))
            .with_context("object", path.as_ref()));
        }
        let e_tag = got.meta.e_tag.clone();
        let stream = match got.payload {
            GetResultPayload::File(file, _) => crate::file_stream::file_stream(file, got.range),
            GetResultPayload::Stream(stream) => stream,
        };
        Ok(ObjectRows {
            e_tag,
            expected_rows: entry.rows,
            expected_crc: entry.crc32c.clone(),
            stream,
            decoder: RowDecoder::new(entry.bytes),
            crc: 0,
            rows: 0,
            path,
        })
    }

    /// For rows that are only checked: skips copying values to aligned
    /// buffers, work wasted on rows that are dropped.
    pub fn check_only(mut self) -> Self {
        self.decoder = self.decoder.unaligned();
        self
    }

    /// The object's ETag, if the store gives one.
    pub fn e_tag(&self) -> Option<String> {
        self.e_tag.clone()
    }

    /// The next row; `None` once the whole object was read and matched its
    /// checksum and row count.
    pub async fn next_row(&mut self) -> Result<Option<RowRecord>> {
        self.next_inner()
            .await
            .map_err(|e| match e.context_value("object") {
                Some(_) => e,
                None => e.with_context("object", self.path.as_ref()),
            })
    }

    async fn next_inner(&mut self) -> Result<Option<RowRecord>> {
        loop {
            if let Some(row) = self.decoder.next_row()? {
                self.rows += 1;
                if self.rows > self.expected_rows {
                    return Err(self.corrupted(format!(
                        "holds more rows than the {} the manifest says",
                        self.expected_rows
                    )));
                }
                return Ok(Some(row));
            }
            if self.decoder.is_done() {
                return self.finish().map(|()| None);
            }
            match self.stream.next().await {
                Some(Ok(chunk)) => {
                    self.crc = crc32c::crc32c_append(self.crc, &chunk);
                    self.decoder.feed(chunk)?;
                }
                Some(Err(e)) => return Err(store_error(e, "reading", &self.path)),
                None => return Err(self.corrupted("ends in the middle of a record".into())),
            }
        }
    }

    fn finish(&self) -> Result<()> {
        let crc = crc_hex(self.crc);
        if crc != self.expected_crc {
            return Err(self.corrupted(format!(
                "has CRC-32C {crc}, the manifest says {}",
                self.expected_crc
            )));
        }
        if self.rows != self.expected_rows {
            return Err(self.corrupted(format!(
                "holds {} rows, the manifest says {}",
                self.rows, self.expected_rows
            )));
        }
        Ok(())
    }

    fn corrupted(&self, what: String) -> Error {
        Error::corrupted(format!("object {} {what}", self.path))
            .with_context("object", self.path.as_ref())
    }
}
