//! A local file read as a stream of large chunks.
//!
//! object_store streams a `file://` object in 8 KiB reads, each a trip to
//! Tokio's blocking pool: about 25 us per 8 KiB, which made a load of a
//! 75 MB checkpoint take 0.5 s where reading the file takes 33 ms. Reads of
//! [`CHUNK_BYTES`] keep the trips rare and the memory held per object at
//! one chunk.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;

/// Bytes per read.
pub const CHUNK_BYTES: usize = 1 << 20;

const STORE: &str = "LocalFileSystem";

fn io_error(e: std::io::Error) -> object_store::Error {
    object_store::Error::Generic {
        store: STORE,
        source: Box::new(e),
    }
}

/// Runs `f` on Tokio's blocking pool when inside a runtime (as object_store
/// does for files), else right here.
async fn blocking<T, F>(f: F) -> object_store::Result<T>
where
    F: FnOnce() -> object_store::Result<T> + Send + 'static,
    T: Send + 'static,
{
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => handle
            .spawn_blocking(f)
            .await
            .map_err(|e| object_store::Error::Generic {
                store: STORE,
                source: Box::new(e),
            })?,
        Err(_) => f(),
    }
}

/// The bytes `range` of `file`, in chunks of [`CHUNK_BYTES`]; a file
/// shorter than the range ends the stream with an error.
pub fn file_stream(
    file: File,
    range: Range<u64>,
) -> BoxStream<'static, object_store::Result<Bytes>> {
    let state = (
        Some(file),
        range.start,
        range.end.saturating_sub(range.start),
    );
    futures::stream::try_unfold(state, |(file, at, left)| async move {
        let Some(mut file) = file.filter(|_| left > 0) else {
            return Ok(None);
        };
        let want = left.min(CHUNK_BYTES as u64);
        let (file, chunk) = blocking(move || {
            file.seek(SeekFrom::Start(at)).map_err(io_error)?;
            let mut chunk = Vec::with_capacity(want as usize);
            (&mut file)
                .take(want)
                .read_to_end(&mut chunk)
                .map_err(io_error)?;
            Ok((file, chunk))
        })
        .await?;
        if chunk.is_empty() {
            return Err(io_error(std::io::ErrorKind::UnexpectedEof.into()));
        }
        let read = chunk.len() as u64;
        Ok(Some((
            Bytes::from(chunk),
            (Some(file), at + read, left - read),
        )))
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::TryStreamExt;

    fn file_of(bytes: &[u8]) -> (tempfile::NamedTempFile, File) {
        let mut tmp = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut tmp, bytes).unwrap();
        let file = File::open(tmp.path()).unwrap();
        (tmp, file)
    }

    #[tokio::test]
    async fn a_range_comes_back_whole_in_large_chunks() {
        let bytes: Vec<u8> = (0..CHUNK_BYTES * 5 / 2).map(|i| i as u8).collect();
        let (_tmp, file) = file_of(&bytes);
        let chunks: Vec<Bytes> = file_stream(file, 3..bytes.len() as u64)
            .try_collect()
            .await
            .unwrap();
        assert_eq!(chunks.len(), 3);
        assert_eq!(chunks.concat(), bytes[3..]);
    }

    #[tokio::test]
    async fn a_file_shorter_than_the_range_is_an_error() {
        let (_tmp, file) = file_of(b"short");
        let got: object_store::Result<Vec<Bytes>> = file_stream(file, 0..10).try_collect().await;
        assert!(got.is_err());
    }
}
