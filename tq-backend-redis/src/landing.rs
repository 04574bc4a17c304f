//! Reading a get's large cells straight into its output columns.
//!
//! A cell kept under a key of its own is stored as its payload alone, its
//! codec header in the row's hash (key layout 3), so the first read of a
//! get (the hashes) tells the size of every such cell before any payload
//! is read. A [`LandingPlan`] gives each cell a slot: the field's cells
//! back to back, in the order of the rows, in one [`ColumnBuffer`] per
//! field. The `MGET` that reads a row's cells carries a [`ReplyLanding`],
//! and the reply reader ([`crate::reply`]) reads each payload from the
//! socket into its slot: the only copy of the bytes in user space, into
//! memory the output pool has usually touched already. The row's tensors
//! are then cut from the frozen buffer ([`Tensor::in_column`]), and tq-core
//! returns the buffer as the column without copying the rows again.
//!
//! A payload lands only where everything matches: a slot of exactly its
//! length, not filled before. A row written in between the reads of a get
//! is read again ([`crate::row_read`]) and its cells copied into their
//! slots ([`Landing::refill`]) where their lengths still match. Anything
//! else (a cell of another length, a resend through redis-rs after a
//! redirection, TLS) is read into a buffer of its own as before, and the
//! column is copied: landing is never needed for a correct answer.
//!
//! [`Tensor::in_column`]: tq_core::Tensor::in_column

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tq_core::Bytes;
use tq_core::buffer::ColumnBuffer;

/// Where one cell lands: `len` bytes from `start` of field `field`'s buffer.
#[derive(Debug)]
struct Slot {
    field: usize,
    start: usize,
    len: usize,
    /// Handed to a reader (at most once).
    taken: AtomicBool,
    /// Filled completely.
    landed: AtomicBool,
}

/// The slots of one get, before its buffers exist.
#[derive(Debug, Default)]
pub struct LandingPlan {
    /// Per field: its name and its buffer's length so far.
    fields: Vec<(Vec<u8>, usize)>,
    slots: Vec<Slot>,
}

impl LandingPlan {
    /// A slot of `len` bytes after the slots of `field` planned so far;
    /// returns its id.
    pub fn slot(&mut self, field: &[u8], len: usize) -> usize {
        let at = match self.fields.iter().position(|(f, _)| f == field) {
            Some(at) => at,
            None => {
                self.fields.push((field.to_vec(), 0));
                self.fields.len() - 1
            }
        };
        let start = self.fields[at].1;
        self.fields[at].1 += len;
        self.slots.push(Slot {
            field: at,
            start,
            len,
            taken: AtomicBool::new(false),
            landed: AtomicBool::new(false),
        });
        self.slots.len() - 1
    }

    /// Whether no slot was planned.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Allocates the buffers (from tq-core's output pool).
    pub fn build(self) -> Landing {
        let mut buffers: Vec<ColumnBuffer> = self
            .fields
            .iter()
            .map(|(_, len)| ColumnBuffer::new(*len))
            .collect();
        let bases = buffers
            .iter_mut()
            .map(|b| b.as_mut_slice().as_mut_ptr())
            .collect();
        Landing {
            buffers,
            bases,
            slots: self.slots,
        }
    }
}

/// The buffers of one get, which readers fill slot by slot.
#[derive(Debug)]
pub struct Landing {
    buffers: Vec<ColumnBuffer>,
    /// Where each buffer's bytes start, taken once when it was made: the
    /// buffers are not touched through `buffers` while the `Landing` is
    /// shared (only by [`Landing::refill`] and [`Landing::finish`], which
    /// take it exclusively).
    bases: Vec<*mut u8>,
    slots: Vec<Slot>,
}

// SAFETY: the raw pointers point into `buffers`, owned by the `Landing`
// (their heap memory does not move with it). Through a shared `Landing`
// that memory is reached only by `fill`, which hands out each slot's
// bytes at most once (`taken`), and the slots of one buffer are disjoint
// (each starts where the previous one of its field ends: `LandingPlan`).
// `finish` takes the `Landing` by value, so no slot is borrowed then.
unsafe impl Send for Landing {}
// SAFETY: see `Send`.
unsafe impl Sync for Landing {}

impl Landing {
    /// The bytes of slot `id` to fill with a payload of `len` bytes, or
    /// `None` (read it elsewhere) when the slot does not exist, was handed
    /// out before, or has another length.
    #[allow(clippy::mut_from_ref)] // Disjoint slots, each handed out once.
    pub fn fill(&self, id: usize, len: usize) -> Option<&mut [u8]> {
        let slot = self.slots.get(id)?;
        if slot.len != len || slot.taken.swap(true, Ordering::AcqRel) {
            return None;
        }
        let base = *self.bases.get(slot.field)?;
        // SAFETY: `slot.start + len` lies inside buffer `slot.field`
        // (`LandingPlan` sized it as the sum of its slots), the range is
        // disjoint from every other slot's, and this is its only hand-out
        // (see the `Send` impl).
        Some(unsafe { std::slice::from_raw_parts_mut(base.add(slot.start), len) })
    }

    /// Records that slot `id` was filled completely.
    pub fn landed(&self, id: usize) {
        if let Some(slot) = self.slots.get(id) {
            slot.landed.store(true, Ordering::Release);
        }
    }

    /// Writes `bytes` into slot `id` and records it as landed, whatever
    /// became of it before: the cells of a row read again after it changed
    /// under the first read, so that its column stays one buffer. `false`
    /// (read it elsewhere) when the slot does not exist or has another
    /// length. Takes `&mut self`: no reader holds a slot then.
    pub fn refill(&mut self, id: usize, bytes: &[u8]) -> bool {
        let Some(slot) = self.slots.get_mut(id) else {
            return false;
        };
        let Some(buffer) = self.buffers.get_mut(slot.field) else {
            return false;
        };
        let Some(place) = buffer
            .as_mut_slice()
            .get_mut(slot.start..slot.start + slot.len)
        else {
            return false;
        };
        if place.len() != bytes.len() {
            return false;
        }
        place.copy_from_slice(bytes);
        *slot.taken.get_mut() = true;
        *slot.landed.get_mut() = true;
        true
    }

    /// The frozen buffers, and per slot where its bytes are when it was
    /// filled completely.
    pub fn finish(self) -> Landed {
        let columns = self.buffers.into_iter().map(ColumnBuffer::freeze).collect();
        let slots = self
            .slots
            .into_iter()
            .map(|s| s.landed.into_inner().then_some((s.field, s.start)))
            .collect();
        Landed { columns, slots }
    }
}

/// The buffers after the reads.
#[derive(Debug)]
pub struct Landed {
    columns: Vec<Bytes>,
    slots: Vec<Option<(usize, usize)>>,
}

impl Landed {
    /// The column buffer and start of slot `id`'s bytes, if it landed.
    pub fn slot(&self, id: usize) -> Option<(&Bytes, usize)> {
        let (field, start) = (*self.slots.get(id)?)?;
        Some((self.columns.get(field)?, start))
    }
}

/// What an `MGET` command's reply lands in: per key asked, its slot.
#[derive(Debug, Clone)]
pub struct ReplyLanding {
    landing: Arc<Landing>,
    slots: Vec<Option<usize>>,
}

impl ReplyLanding {
    /// The `MGET`'s `k`-th value lands in `slots[k]` of `landing`.
    pub fn new(landing: Arc<Landing>, slots: Vec<Option<usize>>) -> Self {
        ReplyLanding { landing, slots }
    }

    /// Where the reply's `k`-th value of `len` bytes goes, with its slot.
    #[allow(clippy::mut_from_ref)] // See `Landing::fill`.
    pub fn fill(&self, k: usize, len: usize) -> Option<(usize, &mut [u8])> {
        let id = (*self.slots.get(k)?)?;
        self.landing.fill(id, len).map(|bytes| (id, bytes))
    }

    /// Records that slot `id` was filled completely.
    pub fn landed(&self, id: usize) {
        self.landing.landed(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_handed_out_once_at_their_length_and_land_back_to_back() {
        let mut plan = LandingPlan::default();
        let a0 = plan.slot(b"a", 4);
        let b0 = plan.slot(b"b", 2);
        let a1 = plan.slot(b"a", 3);
        let a2 = plan.slot(b"a", 5);
        let landing = plan.build();
        assert!(
            landing.fill(a0, 5).is_none(),
            "a wrong length was handed out"
        );
        landing.fill(a0, 4).expect("a0").copy_from_slice(b"0000");
        assert!(landing.fill(a0, 4).is_none(), "a slot was handed out twice");
        landing.landed(a0);
        landing.fill(a1, 3).expect("a1").copy_from_slice(b"111");
        landing.landed(a1);
        // Filled but never completed: not landed.
        landing.fill(a2, 5).expect("a2")[..2].copy_from_slice(b"22");
        landing.fill(b0, 2).expect("b0").copy_from_slice(b"bb");
        landing.landed(b0);
        assert!(landing.fill(99, 1).is_none());
        let landed = landing.finish();
        let (column, start) = landed.slot(a1).expect("a1 landed");
        assert_eq!((start, &column[..7]), (4, &b"0000111"[..]));
        assert_eq!(column.len(), 12);
        let (column, start) = landed.slot(b0).expect("b0 landed");
        assert_eq!((start, &column[..]), (0, &b"bb"[..]));
        assert!(landed.slot(a2).is_none());
        assert!(landed.slot(99).is_none());
    }

    #[test]
    fn a_slot_is_refilled_whole_at_its_length_whatever_it_held() {
        let mut plan = LandingPlan::default();
        let a0 = plan.slot(b"a", 4);
        let a1 = plan.slot(b"a", 3);
        let a2 = plan.slot(b"a", 2);
        let mut landing = plan.build();
        landing.fill(a0, 4).expect("a0").copy_from_slice(b"0000");
        landing.landed(a0);
        // Half filled by a first read, then the row is read again.
        landing.fill(a1, 3).expect("a1")[..1].copy_from_slice(b"x");
        assert!(!landing.refill(a1, b"1111"), "a wrong length was written");
        assert!(landing.refill(a1, b"111"));
        // Never handed out, and refilled: not handed out afterwards.
        assert!(landing.refill(a2, b"22"));
        assert!(
            landing.fill(a2, 2).is_none(),
            "a refilled slot was handed out"
        );
        assert!(!landing.refill(99, b"x"));
        let landed = landing.finish();
        let (column, start) = landed.slot(a1).expect("a1 landed");
        assert_eq!((start, &column[..]), (4, &b"000011122"[..]));
        assert!(landed.slot(a2).is_some());
    }
}
