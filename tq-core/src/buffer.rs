//! Output buffers for gets: one allocation, filled once, frozen into `Bytes`.
//!
//! A get that returns N rows as one tensor column must copy the rows into a
//! buffer. On Linux, first-touch page faults dominate such a copy into fresh
//! memory (contract section 6: about 2.2 GB/s with 4 KiB pages against 7 GB/s
//! into a touched buffer). Two measures close most of that gap:
//!
//! - **Reuse** (outputs of at least [`POOL_MIN`] bytes). Glibc hands memory
//!   of that size straight back to the kernel on free, so every get would
//!   fault its pages in again. When the last `Bytes` of such an output is dropped, its
//!   memory goes back to a process-wide pool instead of to the allocator,
//!   and the next large get of a similar size writes into those already
//!   touched pages. The pool keeps at most [`output_pool_limit`] bytes
//!   (default [`DEFAULT_POOL_LIMIT`]; [`set_output_pool_limit`]`(0)` turns
//!   reuse off). Typical RL loops get the same shapes step after step, so
//!   after the first step gets copy at touched-memory speed.
//! - **Huge pages** (outputs of at least [`LARGE`] bytes). New buffers are
//!   aligned to 2 MiB and advised with
//!   `MADV_HUGEPAGE`, which roughly halves the first-touch cost where the
//!   kernel honours the advice and is harmless where it does not.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;

/// Outputs at least this large are pooled for reuse.
pub const POOL_MIN: usize = 1 << 20;
/// Outputs at least this large get 2 MiB alignment and huge-page advice.
pub const LARGE: usize = 8 << 20;
/// The pool's default limit on retained free bytes.
pub const DEFAULT_POOL_LIMIT: usize = 1 << 30;
const HUGE_PAGE: usize = 2 << 20;

static POOL_LIMIT: AtomicUsize = AtomicUsize::new(DEFAULT_POOL_LIMIT);
static POOL: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

/// The most free bytes the output pool retains.
pub fn output_pool_limit() -> usize {
    POOL_LIMIT.load(Ordering::Relaxed)
}

/// Sets the most free bytes the output pool retains; `0` disables reuse and
/// releases what the pool holds.
pub fn set_output_pool_limit(bytes: usize) {
    POOL_LIMIT.store(bytes, Ordering::Relaxed);
    let mut pool = lock_pool();
    trim(&mut pool, bytes);
}

/// Free bytes the output pool holds now.
pub fn output_pool_bytes() -> usize {
    lock_pool().iter().map(Vec::capacity).sum()
}

fn lock_pool() -> std::sync::MutexGuard<'static, Vec<Vec<u8>>> {
    // The pool holds plain vectors; a panic elsewhere cannot leave it torn.
    POOL.lock().unwrap_or_else(|e| e.into_inner())
}

fn trim(pool: &mut Vec<Vec<u8>>, limit: usize) {
    let mut total: usize = pool.iter().map(Vec::capacity).sum();
    while total > limit {
        match pool.pop() {
            Some(v) => total -= v.capacity(),
            None => break,
        }
    }
}

/// Where the 2 MiB-aligned data starts inside the allocation `vec` (a
/// vector's slice, which starts where its allocation does) belongs to.
fn aligned_start(vec: &[u8]) -> usize {
    let base = vec.as_ptr() as usize;
    base.next_multiple_of(HUGE_PAGE) - base
}

/// `len` rounded up to one of eight size classes per power of two (at most
/// 12.5% more), so that outputs of nearly the same size share buffers.
fn size_class(len: usize) -> usize {
    if len == 0 {
        return 0;
    }
    // The largest power of two at most `len`, over eight.
    let step = ((1usize << (usize::BITS - 1 - len.leading_zeros())) / 8).max(1);
    len.next_multiple_of(step)
}

/// A pooled vector that can hold `len` bytes from its aligned start without
/// wasting more than half of itself, best fit first.
fn take_pooled(len: usize) -> Option<Vec<u8>> {
    let mut pool = lock_pool();
    let start = |v: &Vec<u8>| if len < LARGE { 0 } else { aligned_start(v) };
    let fits = |v: &Vec<u8>| {
        // A mid-sized pooled vector may end before its next 2 MiB boundary.
        let room = v.capacity().saturating_sub(start(v));
        room >= len && room / 2 <= len
    };
    let best = pool
        .iter()
        .enumerate()
        .filter(|(_, v)| fits(v))
        .min_by_key(|(_, v)| v.capacity())
        .map(|(i, _)| i)?;
    Some(pool.swap_remove(best))
}

fn give_back(vec: Vec<u8>) {
    let limit = output_pool_limit();
    if vec.capacity() > limit {
        return;
    }
    let mut pool = lock_pool();
    pool.push(vec);
    trim(&mut pool, limit);
}

/// A write-once buffer of a fixed length.
pub(crate) struct OutputBuffer {
    vec: Vec<u8>,
    start: usize,
    len: usize,
    pooled: bool,
}

impl OutputBuffer {
    /// A buffer that will hold exactly `len` bytes.
    pub(crate) fn new(len: usize) -> Self {
        if len < POOL_MIN {
            return OutputBuffer {
                vec: Vec::with_capacity(len),
                start: 0,
                len,
                pooled: false,
            };
        }
        let mut vec = match take_pooled(len) {
            Some(vec) => vec,
            None if len < LARGE => Vec::with_capacity(size_class(len)),
            None => {
                let vec = Vec::<u8>::with_capacity(size_class(len) + HUGE_PAGE);
                advise_huge_pages(vec.as_ptr(), aligned_start(&vec), len);
                vec
            }
        };
        let start = if len < LARGE { 0 } else { aligned_start(&vec) };
        // The bytes before `start` are never read, but must be initialised
        // to be part of the `Vec<u8>`'s length; a pooled vector already is.
        vec.resize(start, 0);
        OutputBuffer {
            vec,
            start,
            len,
            pooled: true,
        }
    }

    /// Appends `src`; a write past the announced length is truncated to it
    /// (callers size the buffer from the same rows, so this never happens).
    pub(crate) fn push(&mut self, src: &[u8]) {
        // `vec.len() == start + written` and the capacity covers
        // `start + len`, so this never reallocates.
        let written = self.vec.len() - self.start;
        let n = src.len().min(self.len - written);
        self.vec.extend_from_slice(&src[..n]);
    }

    /// The filled bytes, without copying.
    pub(crate) fn freeze(self) -> Bytes {
        if !self.pooled {
            return Bytes::from(self.vec);
        }
        Bytes::from_owner(Pooled {
            vec: self.vec,
            start: self.start,
        })
    }
}

/// A get's output column, written in place by a backend and then frozen:
/// the memory a backend reads cells straight into (with
/// [`Tensor::in_column`](crate::Tensor::in_column) over the frozen bytes,
/// the get then returns it without another copy).
///
/// Large buffers come from the same pool, with the same huge-page advice,
/// as the columns a get copies into; a fresh one is zeroed by the kernel
/// as it is first touched, never by a `memset`. The bytes before anything
/// is written are unspecified (zero, or an earlier output's), never
/// uninitialised.
pub struct ColumnBuffer {
    vec: Vec<u8>,
    start: usize,
    pooled: bool,
}

impl ColumnBuffer {
    /// A buffer of exactly `len` bytes.
    pub fn new(len: usize) -> Self {
        if len < POOL_MIN {
            return ColumnBuffer {
                vec: vec![0; len],
                start: 0,
                pooled: false,
            };
        }
        let mut vec = match take_pooled(len) {
            Some(vec) => vec,
            // `vec![0; n]` asks the allocator for zeroed memory: fresh pages
            // from the kernel, no `memset`.
            None if len < LARGE => vec![0; size_class(len)],
            None => {
                let vec = vec![0u8; size_class(len) + HUGE_PAGE];
                advise_huge_pages(vec.as_ptr(), aligned_start(&vec), len);
                vec
            }
        };
        let start = if len < LARGE { 0 } else { aligned_start(&vec) };
        // A pooled vector is initialised up to its length; only what lies
        // beyond it is filled.
        vec.resize(start + len, 0);
        ColumnBuffer {
            vec,
            start,
            pooled: true,
        }
    }

    /// The buffer's length.
    pub fn len(&self) -> usize {
        self.vec.len() - self.start
    }

    /// Whether the buffer holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes, to write.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.vec[self.start..]
    }

    /// The bytes, without copying; a large buffer's memory goes back to the
    /// pool when the last `Bytes` of it is dropped.
    pub fn freeze(self) -> Bytes {
        if !self.pooled {
            return Bytes::from(self.vec);
        }
        Bytes::from_owner(Pooled {
            vec: self.vec,
            start: self.start,
        })
    }
}

impl std::fmt::Debug for ColumnBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ColumnBuffer")
            .field("len", &self.len())
            .field("pooled", &self.pooled)
            .finish()
    }
}

/// Owns a large output's memory and hands it to the pool when the last
/// `Bytes` referring to it is dropped.
struct Pooled {
    vec: Vec<u8>,
    start: usize,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.vec[self.start..]
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        give_back(std::mem::take(&mut self.vec));
    }
}

/// Advises huge pages for `base + start .. base + start + len`, which must lie
/// inside one allocation (the caller allocates at least `len + HUGE_PAGE` bytes and
/// `start < HUGE_PAGE`).
#[cfg(target_os = "linux")]
fn advise_huge_pages(base: *const u8, start: usize, len: usize) {
    // SAFETY: the range lies inside the caller's allocation (see above), and
    // madvise with MADV_HUGEPAGE changes no memory contents; failure is
    // ignored: it is only advice.
    unsafe {
        let ptr = base.add(start) as *mut libc::c_void;
        let _ = libc::madvise(ptr, len.next_multiple_of(4096), libc::MADV_HUGEPAGE);
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge_pages(_base: *const u8, _start: usize, _len: usize) {}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(len: usize) -> (Bytes, Vec<u8>) {
        let mut buf = OutputBuffer::new(len);
        let chunk: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let (a, b) = chunk.split_at(len / 3);
        buf.push(a);
        buf.push(b);
        (buf.freeze(), chunk)
    }

    // One test owns the process-wide pool's state, so the checks run in order.
    #[test]
    fn buffers_hold_what_was_pushed_and_large_ones_are_reused() {
        for len in [0usize, 10, POOL_MIN - 1] {
            let (bytes, want) = fill(len);
            assert_eq!(&bytes[..], &want[..]);
        }
        let (first, want) = fill(LARGE + 12345);
        assert_eq!(&first[..], &want[..]);
        assert!((first.as_ptr() as usize).is_multiple_of(HUGE_PAGE));
        let ptr = first.as_ptr();
        drop(first);
        assert!(output_pool_bytes() >= LARGE);

        // A similar size reuses the memory; the contents are the new ones.
        let (second, want) = fill(LARGE + 100);
        assert_eq!(second.as_ptr(), ptr, "the pooled buffer was not reused");
        assert_eq!(&second[..], &want[..]);
        // A buffer still in use is not handed out twice.
        let (third, _) = fill(LARGE + 100);
        assert_ne!(third.as_ptr(), ptr);
        drop((second, third));

        // A much smaller request does not take a huge pooled buffer.
        assert!(take_pooled(1 << 10).is_none());

        // Mid-sized outputs (no huge-page alignment) are reused too.
        let (mid, want) = fill(POOL_MIN + 7);
        assert_eq!(&mid[..], &want[..]);
        let ptr = mid.as_ptr();
        drop(mid);
        let (again, want) = fill(POOL_MIN + 9);
        assert_eq!(again.as_ptr(), ptr, "a mid-sized buffer was not reused");
        assert_eq!(&again[..], &want[..]);
        drop(again);

        // Column buffers written in place, pooled or not, hold what was
        // written; a large one is aligned and reused like an output.
        for len in [0usize, 10, POOL_MIN + 7, LARGE + 12345, LARGE + 12345] {
            let mut buf = ColumnBuffer::new(len);
            assert_eq!(buf.len(), len);
            let want: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
            buf.as_mut_slice().copy_from_slice(&want);
            let bytes = buf.freeze();
            assert_eq!(&bytes[..], &want[..]);
            if len >= LARGE {
                assert!((bytes.as_ptr() as usize).is_multiple_of(HUGE_PAGE));
            }
        }
        assert!(
            output_pool_bytes() >= LARGE,
            "a column buffer was not pooled"
        );

        set_output_pool_limit(0);
        assert_eq!(output_pool_bytes(), 0);
        let (fourth, _) = fill(LARGE);
        drop(fourth);
        assert_eq!(output_pool_bytes(), 0, "a disabled pool kept a buffer");
        set_output_pool_limit(DEFAULT_POOL_LIMIT);
    }

    #[test]
    fn size_classes_waste_at_most_an_eighth() {
        for len in [
            1usize,
            7,
            1000,
            POOL_MIN,
            POOL_MIN + 1,
            3 << 20,
            (3 << 20) + 1,
            LARGE + 12345,
        ] {
            let class = size_class(len);
            assert!(
                class >= len && class - len <= len / 8 + 1,
                "{len} -> {class}"
            );
        }
        assert_eq!(size_class(POOL_MIN + 7), size_class(POOL_MIN + 9));
    }

    #[test]
    fn overlong_push_is_truncated_not_reallocated() {
        let mut buf = OutputBuffer::new(4);
        buf.push(&[1, 2, 3, 4, 5, 6]);
        assert_eq!(&buf.freeze()[..], &[1, 2, 3, 4]);
    }
}
