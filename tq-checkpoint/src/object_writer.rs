//! One data object being written: a multipart upload with a running size
//! and CRC-32C, so the manifest entry is known when the upload finishes.

use object_store::path::Path;
use object_store::{ObjectStoreExt, WriteMultipart};
use tq_core::Result;

use crate::location::Location;
use crate::manifest::{ObjectEntry, crc_hex};
use crate::record::OBJECT_MAGIC;
use crate::store_error::store_error;

/// Upload parts in flight at once per object: with `part_bytes` each, this
/// bounds a save's buffered bytes whatever the store's size.
const PARTS_IN_FLIGHT: usize = 2;

/// A data object open for writing.
pub struct ObjectWriter {
    relative: String,
    path: Path,
    upload: WriteMultipart,
    crc: u32,
    bytes: u64,
    rows: u64,
}

impl ObjectWriter {
    /// Starts the upload of `relative` under `location` and writes the
    /// object header.
    pub async fn create(location: &Location, relative: String, part_bytes: usize) -> Result<Self> {
        let path = location.object(&relative);
        let upload = location
            .store()
            .put_multipart(&path)
            .await
            .map_err(|e| store_error(e, "starting the upload of", &path))?;
        let mut writer = ObjectWriter {
            relative,
            path,
            upload: WriteMultipart::new_with_chunk_size(upload, part_bytes),
            crc: 0,
            bytes: 0,
            rows: 0,
        };
        writer.write(&OBJECT_MAGIC).await?;
        Ok(writer)
    }

    /// Appends one encoded row record.
    pub async fn write_row(&mut self, record: &[u8]) -> Result<()> {
        self.write(record).await?;
        self.rows += 1;
        Ok(())
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<()> {
        // Waiting first keeps at most PARTS_IN_FLIGHT parts buffered.
        self.upload
            .wait_for_capacity(PARTS_IN_FLIGHT)
            .await
            .map_err(|e| store_error(e, "uploading", &self.path))?;
        self.upload.write(bytes);
        self.crc = crc32c::crc32c_append(self.crc, bytes);
        self.bytes += bytes.len() as u64;
        Ok(())
    }

    /// Bytes written so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Completes the upload; the object exists only from here on.
    pub async fn finish(self) -> Result<ObjectEntry> {
        let path = self.path;
        self.upload
            .finish()
            .await
            .map_err(|e| store_error(e, "completing the upload of", &path))?;
        Ok(ObjectEntry {
            path: self.relative,
            bytes: self.bytes,
            rows: self.rows,
            crc32c: crc_hex(self.crc),
        })
    }

    /// Abandons the upload (best effort: the save is failing anyway, and an
    /// unfinished multipart upload is no object).
    pub async fn abort(self) {
        let _ = self.upload.abort().await;
    }
}
