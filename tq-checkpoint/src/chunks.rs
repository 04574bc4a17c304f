//! The unread bytes of an object as the chunks they came in: a record
//! inside one chunk is sliced out of it without a copy; only a record
//! spanning chunks is copied, once, into a buffer of its own.

use std::collections::VecDeque;

use bytes::{Buf, Bytes, BytesMut};

/// Chunks in arrival order, the front one possibly partly consumed.
#[derive(Debug, Default)]
pub struct Chunks {
    chunks: VecDeque<Bytes>,
    len: usize,
}

impl Chunks {
    /// Appends a chunk.
    pub fn push(&mut self, chunk: Bytes) {
        if !chunk.is_empty() {
            self.len += chunk.len();
            self.chunks.push_back(chunk);
        }
    }

    /// Unread bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no byte is unread.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Copies the bytes at `at..at + out.len()` into `out`; `None` if they
    /// are not all there yet.
    pub fn copy_at(&self, at: usize, out: &mut [u8]) -> Option<()> {
        if at.checked_add(out.len())? > self.len {
            return None;
        }
        let (mut skip, mut done) = (at, 0);
        for chunk in &self.chunks {
            if skip >= chunk.len() {
                skip -= chunk.len();
                continue;
            }
            let take = (chunk.len() - skip).min(out.len() - done);
            out[done..done + take].copy_from_slice(&chunk[skip..skip + take]);
            done += take;
            skip = 0;
            if done == out.len() {
                break;
            }
        }
        Some(())
    }

    /// The first `n` bytes (at most [`Chunks::len`]), removed: a slice of
    /// the front chunk when it holds them all, else a copy.
    pub fn take(&mut self, n: usize) -> Bytes {
        let n = n.min(self.len);
        self.len -= n;
        if let Some(front) = self.chunks.front_mut()
            && front.len() >= n
        {
            let out = front.split_to(n);
            if front.is_empty() {
                self.chunks.pop_front();
            }
            return out;
        }
        let mut out = BytesMut::with_capacity(n);
        while out.len() < n {
            let Some(front) = self.chunks.front_mut() else {
                break;
            };
            let take = front.len().min(n - out.len());
            out.extend_from_slice(&front[..take]);
            front.advance(take);
            if front.is_empty() {
                self.chunks.pop_front();
            }
        }
        out.freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_and_reads_across_chunks() {
        let mut c = Chunks::default();
        for piece in [&b"abc"[..], b"", b"defg", b"h"] {
            c.push(Bytes::copy_from_slice(piece));
        }
        assert_eq!(c.len(), 8);
        let mut out = [0u8; 4];
        assert_eq!(c.copy_at(2, &mut out), Some(()));
        assert_eq!(&out, b"cdef");
        assert_eq!(c.copy_at(5, &mut out), None);
        assert_eq!(&c.take(2)[..], b"ab");
        assert_eq!(&c.take(3)[..], b"cde");
        assert_eq!(&c.take(9)[..], b"fgh");
        assert!(c.is_empty());
    }
}
