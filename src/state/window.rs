//! The samples of a bounded rolling window kept in ascending order, so a
//! rank statistic (a median, a 95th percentile) is one index instead of a
//! selection over the whole window each time a sample joins.
//!
//! The owner keeps the window itself (its ring decides which sample leaves)
//! and mirrors every insertion and eviction here. Order is `f64::total_cmp`,
//! the order the selections it replaces used, so the value at a rank is the
//! same bit pattern they returned. Never allocates once the window is full.

use std::cmp::Ordering;

/// Ascending copy of a rolling window's samples.
#[derive(Debug, Default, Clone)]
pub struct SortedWindow {
    sorted: Vec<f64>,
}

impl SortedWindow {
    /// An empty window with room for `cap` samples.
    pub fn with_capacity(cap: usize) -> Self {
        SortedWindow {
            sorted: Vec::with_capacity(cap),
        }
    }

    /// Adds one sample.
    pub fn insert(&mut self, v: f64) {
        // After any equal samples (equal under total_cmp is the same bits,
        // so where among them does not matter).
        let i = self
            .sorted
            .partition_point(|x| x.total_cmp(&v) != Ordering::Greater);
        self.sorted.insert(i, v);
    }

    /// Removes one sample equal to `v` (bit for bit); whether there was one.
    pub fn remove(&mut self, v: f64) -> bool {
        match self.sorted.binary_search_by(|x| x.total_cmp(&v)) {
            Ok(i) => {
                self.sorted.remove(i);
                true
            }
            Err(_) => false,
        }
    }

    /// The sample at `rank` in ascending order (0 is the smallest).
    pub fn at(&self, rank: usize) -> Option<f64> {
        self.sorted.get(rank).copied()
    }

    /// Samples held.
    pub fn len(&self) -> usize {
        self.sorted.len()
    }

    /// Whether no sample is held.
    pub fn is_empty(&self) -> bool {
        self.sorted.is_empty()
    }

    /// Drops every sample.
    pub fn clear(&mut self) {
        self.sorted.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Against the selection it replaces: for any stream of samples
        /// through a ring of any size, every rank equals what
        /// `select_nth_unstable_by(total_cmp)` picks from the ring.
        #[test]
        fn ranks_match_a_selection_over_the_ring(
            cap in 1usize..40,
            samples in proptest::collection::vec(
                prop_oneof![
                    -1e3f64..1e3,
                    Just(0.0),
                    Just(-0.0),
                    Just(1.5),
                    Just(f64::INFINITY),
                ],
                1..200,
            ),
        ) {
            let mut ring: Vec<f64> = Vec::new();
            let mut next = 0;
            let mut w = SortedWindow::with_capacity(cap);
            for v in samples {
                if ring.len() < cap {
                    ring.push(v);
                } else {
                    let old = std::mem::replace(&mut ring[next], v);
                    prop_assert!(w.remove(old));
                }
                next = (next + 1) % cap;
                w.insert(v);
                prop_assert_eq!(w.len(), ring.len());
                for rank in 0..ring.len() {
                    let mut scratch = ring.clone();
                    let (_, m, _) = scratch.select_nth_unstable_by(rank, f64::total_cmp);
                    prop_assert_eq!(w.at(rank).map(f64::to_bits), Some(m.to_bits()));
                }
            }
        }
    }

    #[test]
    fn removing_an_absent_sample_changes_nothing() {
        let mut w = SortedWindow::default();
        w.insert(2.0);
        w.insert(1.0);
        assert!(!w.remove(3.0));
        assert!(!w.remove(-0.0));
        assert_eq!((w.at(0), w.at(1), w.at(2)), (Some(1.0), Some(2.0), None));
        assert!(w.remove(1.0));
        assert_eq!(w.len(), 1);
        w.clear();
        assert!(w.is_empty());
    }
}
