//! One venue order book (L2) kept in sync from diffs and snapshots, following
//! Binance's documented procedure: buffer diffs, take a snapshot, drop diffs
//! it already contains, then require an unbroken sequence.
//!
//! The book reports what happened ([`Applied`]); deciding whether that is an
//! alert is the book detector's job. Levels are bounded per side so a book
//! fed for weeks never grows without limit.

use crate::model::{DepthDiff, DepthSnapshot, Level};
use std::collections::VecDeque;

/// Prices as keys: positive finite f64 bit patterns sort like the values.
type PriceKey = u64;

fn key(price: f64) -> Option<PriceKey> {
    (price.is_finite() && price > 0.0).then(|| price.to_bits())
}

/// One side of the book: levels sorted from worst to best, best at the
/// back, in one contiguous ring (a 1,000-level side is 16 KiB and stays in
/// cache). Venues update levels at every depth, so an insert or delete
/// shifts whichever end of the ring is nearer, and dropping the worst level
/// is O(1); a new level beyond a full side's worst is skipped before any
/// search. Asks are stored under the bitwise complement of their key so both
/// sides sort the same way. (Measured against a B-tree map and a hash map
/// with a cached best on the real spot recording, this was the fastest.)
#[derive(Debug, Default)]
struct Side {
    levels: VecDeque<(PriceKey, f64)>,
    asks: bool,
}

impl Side {
    fn new(asks: bool) -> Self {
        Side {
            levels: VecDeque::new(),
            asks,
        }
    }

    fn order(&self, k: PriceKey) -> PriceKey {
        if self.asks { !k } else { k }
    }

    fn len(&self) -> usize {
        self.levels.len()
    }

    fn best(&self) -> Option<Level> {
        self.levels.back().map(|&(k, qty)| Level {
            price: f64::from_bits(self.order(k)),
            qty,
        })
    }

    /// The levels from the best outwards.
    fn best_first(&self) -> impl Iterator<Item = Level> + '_ {
        self.levels.iter().rev().map(|&(k, qty)| Level {
            price: f64::from_bits(self.order(k)),
            qty,
        })
    }

    /// Total quantity from the best level out to `limit` (bids at or above
    /// it, asks at or below it).
    fn qty_within(&self, limit: f64) -> f64 {
        let mut total = 0.0;
        for &(k, qty) in self.levels.iter().rev() {
            let price = f64::from_bits(self.order(k));
            let inside = if self.asks {
                price <= limit
            } else {
                price >= limit
            };
            if !inside {
                break;
            }
            total += qty;
        }
        total
    }

    /// Sets (qty > 0) or removes (qty 0) one level. When the side is full, a
    /// new level worse than the worst kept one is ignored: it lies beyond the
    /// depth the book keeps (as it would beyond a venue's snapshot depth).
    fn set(&mut self, k: PriceKey, qty: f64, cap: usize) {
        let o = self.order(k);
        // Beyond the worst kept level: a removal there has nothing to remove,
        // and a new level there is only kept while the side has room. Most
        // updates of a deep book land here and cost one comparison.
        if self.levels.front().is_some_and(|&(w, _)| o < w)
            && (qty <= 0.0 || self.levels.len() >= cap)
        {
            return;
        }
        match self.levels.binary_search_by_key(&o, |l| l.0) {
            Ok(i) => {
                if qty > 0.0 {
                    if let Some(l) = self.levels.get_mut(i) {
                        l.1 = qty;
                    }
                } else {
                    self.levels.remove(i);
                }
            }
            Err(i) => {
                if qty <= 0.0 {
                    return;
                }
                self.levels.insert(i, (o, qty));
                while self.levels.len() > cap {
                    self.levels.pop_front();
                }
            }
        }
    }

    /// Replaces the side with a snapshot's levels (any order; a repeated
    /// price keeps its last quantity; zero quantities are skipped), keeping
    /// the best `cap`.
    fn replace(&mut self, levels: &[Level], cap: usize) {
        let mut v: Vec<(PriceKey, f64)> = levels
            .iter()
            .filter_map(|l| {
                key(l.price)
                    .filter(|_| l.qty > 0.0)
                    .map(|k| (self.order(k), l.qty))
            })
            .collect();
        // Stable sort keeps the input order among equal prices, so the last
        // one given wins in the dedup below.
        v.sort_by_key(|l| l.0);
        v.reverse();
        v.dedup_by_key(|l| l.0);
        v.reverse();
        if v.len() > cap {
            let excess = v.len() - cap;
            v.drain(..excess);
        }
        self.levels = VecDeque::from(v);
    }
}

/// Whether the book can be trusted.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Sync {
    /// No snapshot yet, or a gap broke it: diffs are buffered.
    Unsynced,
    /// Snapshot applied; the next diff must straddle `last_id + 1`.
    Bridging {
        /// Last update id in the book.
        last_id: u64,
    },
    /// In sequence.
    Synced {
        /// Last update id in the book.
        last_id: u64,
    },
    /// Built from a snapshot without ids: the adapter checks sequencing
    /// (and reports breaks as integrity events); diffs apply as they come.
    Unsequenced,
}

/// What applying a message did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Applied {
    /// Applied in sequence (or buffered while unsynced).
    Ok,
    /// The book was (re)built from a snapshot and is now in sequence.
    Resynced {
        /// Buffered diffs applied after the snapshot.
        replayed: usize,
    },
    /// A sequence break: the book is now unsynced and wants a snapshot.
    Gap {
        /// The id (or previous id) that was expected.
        expected: u64,
        /// What the message carried (`U`, or `pu` on futures).
        got: u64,
        /// The message's last id.
        last_id: u64,
    },
    /// A diff older than the book (already contained): ignored.
    Stale,
    /// A message with invalid numbers (ignored, counted by the caller).
    Invalid,
}

/// An L2 book with Binance-style sequencing.
#[derive(Debug)]
pub struct Book {
    bids: Side,
    asks: Side,
    sync: Sync,
    pending: VecDeque<DepthDiff>,
    max_pending: usize,
    max_levels: usize,
    /// Diffs dropped from a full pending buffer.
    pub dropped_pending: u64,
}

impl Book {
    /// An empty, unsynced book buffering at most `max_pending` diffs and
    /// keeping at most `max_levels` levels per side.
    pub fn new(max_pending: usize, max_levels: usize) -> Self {
        Book {
            bids: Side::new(false),
            asks: Side::new(true),
            sync: Sync::Unsynced,
            pending: VecDeque::new(),
            max_pending: max_pending.max(1),
            max_levels: max_levels.max(1),
            dropped_pending: 0,
        }
    }

    /// Current sync state.
    pub fn sync(&self) -> Sync {
        self.sync
    }

    /// Whether the book is usable (snapshot applied, in sequence).
    pub fn is_synced(&self) -> bool {
        !matches!(self.sync, Sync::Unsynced)
    }

    /// Best bid.
    pub fn best_bid(&self) -> Option<Level> {
        self.bids.best()
    }

    /// Best ask.
    pub fn best_ask(&self) -> Option<Level> {
        self.asks.best()
    }

    /// Quantity resting within `bps` basis points of the mid, bids plus
    /// asks; `None` when unsynced or a side is empty. Walks only the levels
    /// inside the band, from the touch out.
    pub fn near_touch_qty(&self, bps: f64) -> Option<f64> {
        if !self.is_synced() {
            return None;
        }
        let mid = (self.bids.best()?.price + self.asks.best()?.price) / 2.0;
        let band = mid * bps / 1e4;
        Some(self.bids.qty_within(mid - band) + self.asks.qty_within(mid + band))
    }

    /// The last update id the book holds: the snapshot's while the first
    /// diff after it has not come, then the last diff's. `None` while
    /// unsynced or built from a snapshot without ids.
    pub fn last_id(&self) -> Option<u64> {
        match self.sync {
            Sync::Bridging { last_id } | Sync::Synced { last_id } => Some(last_id),
            Sync::Unsynced | Sync::Unsequenced => None,
        }
    }

    /// The levels, best first: (bids, asks).
    pub fn levels(
        &self,
    ) -> (
        impl Iterator<Item = Level> + '_,
        impl Iterator<Item = Level> + '_,
    ) {
        (self.bids.best_first(), self.asks.best_first())
    }

    /// Number of levels (bids, asks).
    pub fn depth(&self) -> (usize, usize) {
        (self.bids.len(), self.asks.len())
    }

    /// Applies a diff.
    pub fn apply_diff(&mut self, d: &DepthDiff) -> Applied {
        if d.last_id < d.first_id {
            return Applied::Invalid;
        }
        match self.sync {
            Sync::Unsynced => {
                if self.pending.len() >= self.max_pending {
                    self.pending.pop_front();
                    self.dropped_pending += 1;
                }
                self.pending.push_back(d.clone());
                Applied::Ok
            }
            Sync::Bridging { last_id } => self.bridge(last_id, d),
            Sync::Unsequenced => {
                self.set_levels(d);
                Applied::Ok
            }
            Sync::Synced { last_id } => {
                let (ok, expected, got) = match d.prev_last_id {
                    Some(pu) => (pu == last_id, last_id, pu),
                    None => (
                        d.first_id == last_id.wrapping_add(1),
                        last_id.wrapping_add(1),
                        d.first_id,
                    ),
                };
                if d.last_id <= last_id && !ok {
                    return Applied::Stale;
                }
                if !ok {
                    self.break_sync();
                    return Applied::Gap {
                        expected,
                        got,
                        last_id: d.last_id,
                    };
                }
                self.set_levels(d);
                self.sync = Sync::Synced { last_id: d.last_id };
                Applied::Ok
            }
        }
    }

    /// The first diff after a snapshot must bridge it. Spot: `U <= id + 1 <=
    /// u`. Futures (diffs carry `pu`): `U <= id <= u`, or `pu == id` (the
    /// snapshot ended exactly at the previous diff); ids there are shared
    /// across symbols, so `U` is not `pu + 1`.
    fn bridge(&mut self, snap_id: u64, d: &DepthDiff) -> Applied {
        if let Some(pu) = d.prev_last_id {
            if d.last_id < snap_id {
                return Applied::Stale;
            }
            if d.first_id > snap_id && pu != snap_id {
                self.break_sync();
                return Applied::Gap {
                    expected: snap_id,
                    got: pu,
                    last_id: d.last_id,
                };
            }
            self.set_levels(d);
            self.sync = Sync::Synced { last_id: d.last_id };
            return Applied::Ok;
        }
        if d.last_id <= snap_id {
            return Applied::Stale;
        }
        let next = snap_id.wrapping_add(1);
        if d.first_id > next {
            self.break_sync();
            return Applied::Gap {
                expected: next,
                got: d.first_id,
                last_id: d.last_id,
            };
        }
        self.set_levels(d);
        self.sync = Sync::Synced { last_id: d.last_id };
        Applied::Ok
    }

    /// The book can no longer be trusted (an integrity fault reported by the
    /// adapter): wait for the next snapshot.
    pub fn invalidate(&mut self) {
        self.break_sync();
    }

    fn break_sync(&mut self) {
        self.sync = Sync::Unsynced;
        self.pending.clear();
    }

    /// Rebuilds the book from a snapshot and replays buffered diffs. A
    /// snapshot without an update id (partial depth pushes) replaces the
    /// levels and leaves sequencing off.
    pub fn apply_snapshot(&mut self, s: &DepthSnapshot) -> Applied {
        self.bids.replace(&s.bids, self.max_levels);
        self.asks.replace(&s.asks, self.max_levels);
        let Some(snap_id) = s.last_id else {
            self.sync = Sync::Unsequenced;
            self.pending.clear();
            return Applied::Resynced { replayed: 0 };
        };
        self.sync = Sync::Bridging { last_id: snap_id };
        let pending = std::mem::take(&mut self.pending);
        let mut replayed = 0;
        for d in &pending {
            match self.apply_diff(d) {
                Applied::Stale | Applied::Ok => replayed += 1,
                gap @ Applied::Gap { .. } => return gap,
                _ => {}
            }
        }
        Applied::Resynced { replayed }
    }

    fn set_levels(&mut self, d: &DepthDiff) {
        let cap = self.max_levels;
        for l in &d.bids {
            if let Some(k) = key(l.price) {
                self.bids.set(k, l.qty, cap);
            }
        }
        for l in &d.asks {
            if let Some(k) = key(l.price) {
                self.asks.set(k, l.qty, cap);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diff(first: u64, last: u64, pu: Option<u64>, bid: f64, ask: f64) -> DepthDiff {
        DepthDiff {
            first_id: first,
            last_id: last,
            prev_last_id: pu,
            bids: vec![Level {
                price: bid,
                qty: 1.0,
            }],
            asks: vec![Level {
                price: ask,
                qty: 1.0,
            }],
            exch_ns: None,
        }
    }

    fn snap(id: u64) -> DepthSnapshot {
        DepthSnapshot {
            last_id: Some(id),
            bids: vec![
                Level {
                    price: 99.0,
                    qty: 2.0,
                },
                Level {
                    price: 98.0,
                    qty: 1.0,
                },
            ],
            asks: vec![Level {
                price: 101.0,
                qty: 2.0,
            }],
            exch_ns: None,
        }
    }

    #[test]
    fn near_touch_qty_sums_both_sides_inside_the_band() {
        let mut b = Book::new(100, 1000);
        assert_eq!(b.near_touch_qty(100.0), None);
        b.apply_snapshot(&snap(8));
        // Mid 100: 100 bps is 99..101, so 99 (2) and 101 (2); 98 is out.
        assert_eq!(b.near_touch_qty(100.0), Some(4.0));
        // 200 bps reaches 98 too.
        assert_eq!(b.near_touch_qty(200.0), Some(5.0));
        assert_eq!(b.near_touch_qty(1.0), Some(0.0));
    }

    #[test]
    fn spot_sync_procedure_buffers_then_bridges() {
        let mut b = Book::new(100, 1000);
        assert_eq!(b.apply_diff(&diff(1, 5, None, 97.0, 102.0)), Applied::Ok);
        assert_eq!(b.apply_diff(&diff(6, 12, None, 99.5, 103.0)), Applied::Ok);
        assert!(!b.is_synced());
        // Snapshot at 8: the first diff is stale, the second straddles 9.
        assert_eq!(
            b.apply_snapshot(&snap(8)),
            Applied::Resynced { replayed: 2 }
        );
        assert_eq!(b.sync(), Sync::Synced { last_id: 12 });
        assert_eq!(b.best_bid().unwrap().price, 99.5);
        assert_eq!(b.apply_diff(&diff(13, 14, None, 99.6, 100.5)), Applied::Ok);
        // 15 is skipped: a gap.
        assert_eq!(
            b.apply_diff(&diff(16, 20, None, 99.7, 100.4)),
            Applied::Gap {
                expected: 15,
                got: 16,
                last_id: 20
            }
        );
        assert!(!b.is_synced());
    }

    #[test]
    fn futures_chain_on_pu() {
        let mut b = Book::new(100, 1000);
        b.apply_snapshot(&snap(100));
        assert_eq!(
            b.apply_diff(&diff(90, 110, Some(85), 99.0, 101.0)),
            Applied::Ok
        );
        assert_eq!(
            b.apply_diff(&diff(115, 120, Some(110), 99.0, 101.0)),
            Applied::Ok
        );
        assert!(matches!(
            b.apply_diff(&diff(130, 140, Some(125), 99.0, 101.0)),
            Applied::Gap {
                expected: 120,
                got: 125,
                ..
            }
        ));
    }

    #[test]
    fn futures_bridge_accepts_the_diff_ending_at_the_snapshot() {
        // The shape of the real USD-M ETH recording: the snapshot id is the
        // `u` of a buffered diff, and the next diff's `U` is far above it.
        let mut b = Book::new(100, 1000);
        b.apply_diff(&diff(200, 276, Some(150), 99.0, 101.0));
        b.apply_diff(&diff(317, 330, Some(276), 99.0, 101.0));
        assert_eq!(
            b.apply_snapshot(&snap(276)),
            Applied::Resynced { replayed: 2 }
        );
        assert_eq!(b.sync(), Sync::Synced { last_id: 330 });
        // Snapshot past the buffer's end: the first later diff chains on pu.
        let mut b = Book::new(100, 1000);
        b.apply_snapshot(&snap(276));
        assert_eq!(
            b.apply_diff(&diff(317, 330, Some(276), 99.0, 101.0)),
            Applied::Ok
        );
        let mut b = Book::new(100, 1000);
        b.apply_snapshot(&snap(276));
        assert!(matches!(
            b.apply_diff(&diff(317, 330, Some(300), 99.0, 101.0)),
            Applied::Gap { .. }
        ));
    }

    #[test]
    fn zero_qty_deletes_and_levels_are_bounded() {
        let cap = 3;
        let mut b = Book::new(10, cap);
        b.apply_snapshot(&DepthSnapshot {
            last_id: Some(1),
            bids: vec![],
            asks: vec![],
            exch_ns: None,
        });
        // More levels than the cap: the worst are dropped, the best kept.
        let n = cap + 10;
        let mut d = diff(2, 2, None, 1.0, 1e9);
        d.bids = (1..=n)
            .map(|p| Level {
                price: p as f64,
                qty: 1.0,
            })
            .collect();
        assert_eq!(b.apply_diff(&d), Applied::Ok);
        assert_eq!(b.depth().0, cap);
        assert_eq!(b.best_bid().unwrap().price, n as f64);
        let mut d = diff(3, 3, None, n as f64, 1e9);
        d.bids[0].qty = 0.0;
        d.asks.clear();
        b.apply_diff(&d);
        assert_eq!(b.best_bid().unwrap().price, (n - 1) as f64);
    }

    #[test]
    fn a_trimmed_side_ignores_levels_beyond_its_depth() {
        let cap = 2;
        let mut b = Book::new(10, cap);
        // A snapshot deeper than the cap keeps the best two: 99 and 98.
        let mut s = snap(1);
        s.bids = (0..10)
            .map(|i| Level {
                price: 99.0 - i as f64,
                qty: 1.0,
            })
            .collect();
        s.asks = (0..10)
            .map(|i| Level {
                price: 101.0 + i as f64,
                qty: 1.0,
            })
            .collect();
        b.apply_snapshot(&s);
        assert_eq!(b.depth(), (2, 2));
        // 50 is beyond the kept depth of bids: ignored.
        let mut d = diff(2, 2, None, 50.0, 101.0);
        d.asks.clear();
        assert_eq!(b.apply_diff(&d), Applied::Ok);
        assert_eq!(b.depth().0, 2);
        // A better bid enters.
        let mut d = diff(3, 3, None, 99.5, 101.0);
        d.asks.clear();
        b.apply_diff(&d);
        assert_eq!(b.best_bid().unwrap().price, 99.5);
        // Asks: 150 is beyond the kept depth; 100.5 is better and enters.
        let mut d = diff(4, 4, None, 99.5, 150.0);
        d.bids.clear();
        b.apply_diff(&d);
        assert_eq!(b.depth().1, 2);
        let mut d = diff(5, 5, None, 99.5, 100.5);
        d.bids.clear();
        b.apply_diff(&d);
        assert_eq!(b.best_ask().unwrap().price, 100.5);
        // Deleting the best finds the next best.
        let mut d = diff(6, 6, None, 99.5, 100.5);
        d.bids.clear();
        d.asks[0].qty = 0.0;
        b.apply_diff(&d);
        assert_eq!(b.best_ask().unwrap().price, 101.0);
        // The market falls through the kept bids (99.5 and 99; 98 was
        // dropped when 99.5 entered): the side has room again and lower
        // bids are kept.
        let mut d = diff(7, 7, None, 99.5, 101.0);
        d.bids = vec![
            Level {
                price: 99.5,
                qty: 0.0,
            },
            Level {
                price: 99.0,
                qty: 0.0,
            },
        ];
        d.asks.clear();
        b.apply_diff(&d);
        assert_eq!(b.best_bid(), None);
        let mut d = diff(8, 8, None, 90.0, 101.0);
        d.asks.clear();
        b.apply_diff(&d);
        assert_eq!(b.best_bid().unwrap().price, 90.0);
    }

    #[test]
    fn unsequenced_books_apply_diffs_until_invalidated() {
        let mut b = Book::new(10, 100);
        let mut s = snap(0);
        s.last_id = None;
        assert_eq!(b.apply_snapshot(&s), Applied::Resynced { replayed: 0 });
        assert_eq!(b.sync(), Sync::Unsequenced);
        assert_eq!(b.apply_diff(&diff(0, 0, None, 99.5, 100.5)), Applied::Ok);
        assert_eq!(b.best_bid().unwrap().price, 99.5);
        b.invalidate();
        assert!(!b.is_synced());
        // Buffered until the next snapshot, which discards the buffer.
        assert_eq!(b.apply_diff(&diff(0, 0, None, 99.6, 100.4)), Applied::Ok);
        assert_eq!(b.apply_snapshot(&s), Applied::Resynced { replayed: 0 });
        assert_eq!(b.best_bid().unwrap().price, 99.0);
    }

    #[test]
    fn snapshot_levels_in_any_order_with_repeats() {
        let mut b = Book::new(10, 2);
        let lv = |p: f64, q: f64| Level { price: p, qty: q };
        b.apply_snapshot(&DepthSnapshot {
            last_id: None,
            bids: vec![
                lv(97.0, 1.0),
                lv(99.0, 1.0),
                lv(98.0, 1.0),
                lv(99.0, 3.0),
                lv(96.0, 0.0),
            ],
            asks: vec![lv(102.0, 1.0), lv(101.0, 2.0)],
            exch_ns: None,
        });
        assert_eq!(b.best_bid(), Some(lv(99.0, 3.0)));
        assert_eq!(b.best_ask(), Some(lv(101.0, 2.0)));
        assert_eq!(b.depth(), (2, 2));
        // 97 was beyond the kept depth of 2.
        let mut d = diff(0, 0, None, 99.0, 101.0);
        d.bids = vec![lv(99.0, 0.0), lv(98.0, 0.0)];
        d.asks.clear();
        b.apply_diff(&d);
        assert_eq!(b.best_bid(), None);
    }

    #[test]
    fn a_deep_side_matches_a_reference_map() {
        // Pseudo-random updates against a BTreeMap reference (no cap hit).
        let mut b = Book::new(10, 100_000);
        b.apply_snapshot(&DepthSnapshot {
            last_id: None,
            bids: vec![],
            asks: vec![],
            exch_ns: None,
        });
        let mut reference = std::collections::BTreeMap::new();
        let mut x: u64 = 12345;
        for _ in 0..20_000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let price = 1000.0 + ((x >> 33) % 500) as f64;
            let qty = if (x >> 20).is_multiple_of(3) {
                0.0
            } else {
                ((x >> 40) % 7) as f64
            };
            // The same update on both sides: bids and asks must agree with
            // the map's highest and lowest prices.
            let mut d = diff(0, 0, None, price, price);
            d.bids[0].qty = qty;
            d.asks[0].qty = qty;
            b.apply_diff(&d);
            if qty > 0.0 {
                reference.insert(price.to_bits(), qty);
            } else {
                reference.remove(&price.to_bits());
            }
            let level = |(k, q): (&u64, &f64)| Level {
                price: f64::from_bits(*k),
                qty: *q,
            };
            assert_eq!(b.best_bid(), reference.iter().next_back().map(level));
            assert_eq!(b.best_ask(), reference.iter().next().map(level));
            assert_eq!(b.depth(), (reference.len(), reference.len()));
        }
    }

    #[test]
    fn pending_buffer_is_bounded_and_bad_numbers_ignored() {
        let mut b = Book::new(2, 10);
        for i in 0..5 {
            b.apply_diff(&diff(i * 2 + 1, i * 2 + 2, None, 1.0, 2.0));
        }
        assert_eq!(b.dropped_pending, 3);
        assert_eq!(b.apply_diff(&diff(9, 3, None, 1.0, 2.0)), Applied::Invalid);
        b.apply_snapshot(&DepthSnapshot {
            last_id: None,
            bids: vec![
                Level {
                    price: f64::NAN,
                    qty: 1.0,
                },
                Level {
                    price: -1.0,
                    qty: 1.0,
                },
            ],
            asks: vec![],
            exch_ns: None,
        });
        assert_eq!(b.depth(), (0, 0));
    }
}
