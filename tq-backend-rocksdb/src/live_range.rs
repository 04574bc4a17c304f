//! Where in a partition's insertion-order index its live rows are, so that
//! `kv_list` of one partition reads the live entries and not the tombstones
//! RocksDB keeps of cleared ones.
//!
//! A cleared row leaves a tombstone in the order index until a compaction
//! drops it, and a range scan steps over every tombstone in its range: after
//! 10,000 put + clear cycles, a 16-row partition listed 119x slower than a
//! fresh one. Sequence numbers only grow, so in the usual workloads (rows
//! put, read, cleared in batches) the live rows of a partition sit in a
//! narrow band of sequence numbers with the tombstones below and above it.
//! This module keeps, per partition, a band `[lo, hi]` that holds every live
//! sequence number; `kv_list` scans only that band and then narrows it to
//! the live rows it found. Each tombstone outside the live rows is therefore
//! stepped over by one listing, not by every one; tombstones between live
//! rows are still stepped over until RocksDB compacts them away.
//!
//! The band is only ever too wide, never too narrow:
//!
//! - A put that adds rows widens the band to their sequence numbers
//!   *before* its write batch commits, and counts itself as in flight until
//!   the batch has committed (or failed).
//! - A listing reads the band and takes its snapshot under the same lock,
//!   so every row in the snapshot was added by a put that had widened the
//!   band already.
//! - A listing narrows the band only if no put was in flight when it read
//!   the band and none started since (a generation count): then its
//!   snapshot holds every row the band can ever have to cover below the
//!   next put's own widening.
//!
//! Clears never touch the band: removing rows cannot make it too narrow.
//! Nothing here is persisted; a partition the process has not listed yet
//! has an unknown band (the whole partition), narrowed by its first listing.

use std::collections::HashMap;
use std::ops::RangeInclusive;
use std::sync::{Mutex, MutexGuard};

/// The band of one partition.
#[derive(Debug, Clone, Copy, Default)]
struct Band {
    /// Every live sequence number is in `lo..=hi`; `lo > hi`: none is.
    /// `None`: not known (any sequence number may be live).
    range: Option<(u64, u64)>,
    /// Puts that widened the band and have not finished committing.
    in_flight: u32,
    /// Bumped by every put that widens the band.
    generation: u64,
}

/// The bands of every partition this process has written or listed.
#[derive(Debug, Default)]
pub(crate) struct LiveRanges {
    bands: Mutex<HashMap<String, Band>>,
}

/// What a listing needs from [`LiveRanges::begin_listing`].
#[derive(Debug, Clone)]
pub(crate) struct ListingBand {
    /// The sequence numbers to scan; `None`: the whole partition.
    pub range: Option<RangeInclusive<u64>>,
    /// Whether the listing may narrow the band afterwards (no put was in
    /// flight), and the generation it read.
    narrowable: Option<u64>,
}

/// Marks a put as finished committing when dropped (also on error and
/// unwinding), see [`LiveRanges::widen`].
#[must_use = "the put counts as in flight until this is dropped"]
pub(crate) struct InFlight<'a> {
    ranges: &'a LiveRanges,
    partition: String,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut bands = self.ranges.lock();
        if let Some(band) = bands.get_mut(&self.partition) {
            band.in_flight = band.in_flight.saturating_sub(1);
        }
    }
}

impl LiveRanges {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Band>> {
        // The map holds plain numbers: a panic elsewhere leaves it usable.
        self.bands.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Before a put commits rows with new sequence numbers `first..=last`
    /// into `partition`: widens the band to hold them and counts the put as
    /// in flight until the returned guard is dropped, after the commit.
    pub fn widen(&self, partition: &str, first: u64, last: u64) -> InFlight<'_> {
        let mut bands = self.lock();
        let band = bands.entry(partition.to_owned()).or_default();
        band.range = band.range.map(|(lo, hi)| (lo.min(first), hi.max(last)));
        band.in_flight += 1;
        band.generation = band.generation.wrapping_add(1);
        InFlight {
            ranges: self,
            partition: partition.to_owned(),
        }
    }

    /// Reads the band of `partition` and, under the same lock, calls
    /// `snapshot` (which takes the listing's RocksDB snapshot).
    pub fn begin_listing<S>(
        &self,
        partition: &str,
        snapshot: impl FnOnce() -> S,
    ) -> (ListingBand, S) {
        let bands = self.lock();
        let band = bands.get(partition).copied().unwrap_or_default();
        let taken = snapshot();
        let range = band.range.map(|(lo, hi)| lo..=hi);
        let narrowable = (band.in_flight == 0).then_some(band.generation);
        (ListingBand { range, narrowable }, taken)
    }

    /// After a listing of `partition` found its live rows at sequence
    /// numbers `live` (`None`: no live row): narrows the band to them if
    /// no put was in flight or started since the listing began.
    pub fn finish_listing(&self, partition: &str, began: &ListingBand, live: Option<(u64, u64)>) {
        let Some(generation) = began.narrowable else {
            return;
        };
        let mut bands = self.lock();
        let band = bands.entry(partition.to_owned()).or_default();
        if band.generation == generation && band.in_flight == 0 {
            band.range = Some(live.unwrap_or((u64::MAX, 0)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn band(r: &LiveRanges, p: &str) -> Option<RangeInclusive<u64>> {
        r.begin_listing(p, || ()).0.range
    }

    #[test]
    fn an_unknown_band_is_the_whole_partition_until_a_quiet_listing() {
        let r = LiveRanges::default();
        assert_eq!(band(&r, "p"), None);
        drop(r.widen("p", 5, 9));
        assert_eq!(
            band(&r, "p"),
            None,
            "widening an unknown band keeps it unknown"
        );
        let (b, ()) = r.begin_listing("p", || ());
        r.finish_listing("p", &b, Some((5, 9)));
        assert_eq!(band(&r, "p"), Some(5..=9));
        drop(r.widen("p", 20, 21));
        assert_eq!(band(&r, "p"), Some(5..=21));
    }

    #[test]
    fn an_empty_band_scans_nothing_and_widens_to_the_new_rows() {
        let r = LiveRanges::default();
        let (b, ()) = r.begin_listing("p", || ());
        r.finish_listing("p", &b, None);
        assert!(band(&r, "p").unwrap().is_empty());
        drop(r.widen("p", 30, 31));
        assert_eq!(band(&r, "p"), Some(30..=31));
    }

    #[test]
    fn a_listing_that_saw_a_put_in_flight_does_not_narrow() {
        let r = LiveRanges::default();
        let (b, ()) = r.begin_listing("p", || ());
        r.finish_listing("p", &b, Some((1, 10)));
        let put = r.widen("p", 11, 11);
        // The listing's snapshot may lack row 11, committed after it.
        let (b, ()) = r.begin_listing("p", || ());
        assert_eq!(b.range, Some(1..=11));
        r.finish_listing("p", &b, Some((1, 3)));
        assert_eq!(band(&r, "p"), Some(1..=11));
        drop(put);
        let (b, ()) = r.begin_listing("p", || ());
        r.finish_listing("p", &b, Some((1, 3)));
        assert_eq!(band(&r, "p"), Some(1..=3));
    }

    #[test]
    fn a_put_that_starts_during_a_listing_keeps_the_band_wide() {
        let r = LiveRanges::default();
        let (b, ()) = r.begin_listing("p", || ());
        r.finish_listing("p", &b, Some((1, 10)));
        let (b, ()) = r.begin_listing("p", || ());
        drop(r.widen("p", 0, 0)); // a band widened below, after the snapshot
        r.finish_listing("p", &b, Some((4, 10)));
        assert_eq!(band(&r, "p"), Some(0..=10));
    }

    #[test]
    fn partitions_have_their_own_bands() {
        let r = LiveRanges::default();
        let (b, ()) = r.begin_listing("p", || ());
        r.finish_listing("p", &b, Some((1, 2)));
        assert_eq!(band(&r, "p"), Some(1..=2));
        assert_eq!(band(&r, "q"), None);
    }
}
