//! A time series of bounded size for the report's charts: samples fall
//! into buckets of one width, each bucket keeps its lowest and highest
//! sample, and when there are too many buckets their width doubles and
//! neighbours merge. A day of one-second samples and a minute of them cost
//! the same memory, and no spike is lost to the thinning (a bucket's
//! extremes are kept, not its average).
//!
//! It never allocates per sample once its buckets exist, and never holds
//! more than its bucket limit.

/// The default bucket limit: at most two points per bucket, so a series
/// draws at most 2000 points.
pub const MAX_BUCKETS: usize = 1000;

/// One bucket: its index on the grid and its extreme samples (time in
/// Unix milliseconds, value).
#[derive(Copy, Clone, Debug, PartialEq)]
struct Bucket {
    idx: i64,
    lo: (i64, f64),
    hi: (i64, f64),
}

/// A decimating series of `(unix ms, value)` samples.
#[derive(Clone, Debug)]
pub struct Series {
    /// The first sample's time: bucket 0 starts there.
    origin_ms: Option<i64>,
    /// The newest sample's time.
    last_ms: Option<i64>,
    width_ms: i64,
    max_buckets: usize,
    buckets: Vec<Bucket>,
    samples: u64,
}

impl Series {
    /// An empty series whose buckets start `width_ms` wide (the sampling
    /// period: one sample per bucket until the limit is reached) and that
    /// keeps at most [`MAX_BUCKETS`].
    pub fn new(width_ms: i64) -> Series {
        Series::with_limit(width_ms, MAX_BUCKETS)
    }

    /// An empty series keeping at most `max_buckets` (at least 2).
    pub fn with_limit(width_ms: i64, max_buckets: usize) -> Series {
        Series {
            origin_ms: None,
            last_ms: None,
            width_ms: width_ms.max(1),
            max_buckets: max_buckets.max(2),
            buckets: Vec::new(),
            samples: 0,
        }
    }

    /// Adds one sample. Non-finite values are ignored; a sample older than
    /// the newest one is taken at the newest one's time (the series only
    /// grows forward, so its points stay in time order).
    pub fn push(&mut self, t_ms: i64, v: f64) {
        if !v.is_finite() {
            return;
        }
        let t_ms = t_ms.max(self.last_ms.unwrap_or(i64::MIN));
        self.last_ms = Some(t_ms);
        self.samples += 1;
        let origin = *self.origin_ms.get_or_insert(t_ms);
        let idx = t_ms.saturating_sub(origin).div_euclid(self.width_ms);
        match self.buckets.last_mut() {
            Some(b) if b.idx >= idx => {
                if v < b.lo.1 {
                    b.lo = (t_ms, v);
                }
                if v > b.hi.1 {
                    b.hi = (t_ms, v);
                }
            }
            _ => {
                self.buckets.push(Bucket {
                    idx,
                    lo: (t_ms, v),
                    hi: (t_ms, v),
                });
                while self.buckets.len() > self.max_buckets {
                    self.coarsen();
                }
            }
        }
    }

    /// Doubles the bucket width, merging neighbours in place.
    fn coarsen(&mut self) {
        self.width_ms = self.width_ms.saturating_mul(2);
        let mut kept = 0usize;
        for i in 0..self.buckets.len() {
            let Some(mut b) = self.buckets.get(i).copied() else {
                break;
            };
            b.idx = b.idx.div_euclid(2);
            let merged = match kept.checked_sub(1).and_then(|k| self.buckets.get_mut(k)) {
                Some(prev) if prev.idx == b.idx => {
                    if b.lo.1 < prev.lo.1 {
                        prev.lo = b.lo;
                    }
                    if b.hi.1 > prev.hi.1 {
                        prev.hi = b.hi;
                    }
                    true
                }
                _ => false,
            };
            if !merged {
                if let Some(slot) = self.buckets.get_mut(kept) {
                    *slot = b;
                }
                kept += 1;
            }
        }
        self.buckets.truncate(kept);
    }

    /// The points to draw, in time order: each bucket's low and high (one
    /// point when they are the same sample).
    pub fn points(&self) -> Vec<(i64, f64)> {
        let mut out = Vec::with_capacity(self.buckets.len() * 2);
        for b in &self.buckets {
            if b.lo == b.hi {
                out.push(b.lo);
            } else if b.lo.0 <= b.hi.0 {
                out.push(b.lo);
                out.push(b.hi);
            } else {
                out.push(b.hi);
                out.push(b.lo);
            }
        }
        out
    }

    /// The current bucket width (ms): points further apart than a few of
    /// these have no samples between them, and the line is broken there.
    pub fn width_ms(&self) -> i64 {
        self.width_ms
    }

    /// The highest sample and when it was taken.
    pub fn max(&self) -> Option<(i64, f64)> {
        self.buckets
            .iter()
            .map(|b| b.hi)
            .fold(None, |m: Option<(i64, f64)>, p| match m {
                Some(m) if m.1 >= p.1 => Some(m),
                _ => Some(p),
            })
    }

    /// The lowest sample and when it was taken.
    pub fn min(&self) -> Option<(i64, f64)> {
        self.buckets
            .iter()
            .map(|b| b.lo)
            .fold(None, |m: Option<(i64, f64)>, p| match m {
                Some(m) if m.1 <= p.1 => Some(m),
                _ => Some(p),
            })
    }

    /// Samples pushed (finite ones), before thinning.
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// Whether no sample was pushed.
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    /// The value at or just before `t_ms` (for placing a marker on a
    /// line), or the first one when `t_ms` is before every sample.
    pub fn value_near(&self, t_ms: i64) -> Option<f64> {
        let pts = self.points();
        let i = pts.partition_point(|p| p.0 <= t_ms);
        pts.get(i.saturating_sub(1)).map(|p| p.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn few_samples_are_kept_as_they_are() {
        let mut s = Series::new(1000);
        for (i, v) in [3.0, 1.0, 4.0, 1.0, 5.0].iter().enumerate() {
            s.push(i as i64 * 1000, *v);
        }
        assert_eq!(
            s.points(),
            vec![(0, 3.0), (1000, 1.0), (2000, 4.0), (3000, 1.0), (4000, 5.0)]
        );
        assert_eq!(s.max(), Some((4000, 5.0)));
        assert_eq!(s.min(), Some((1000, 1.0)));
        assert_eq!(s.value_near(2500), Some(4.0));
        assert_eq!(s.value_near(-5), Some(3.0));
    }

    #[test]
    fn non_finite_samples_are_ignored() {
        let mut s = Series::new(1000);
        s.push(0, f64::NAN);
        s.push(1000, f64::INFINITY);
        assert!(s.is_empty());
        s.push(2000, 1.0);
        assert_eq!(s.points(), vec![(2000, 1.0)]);
        assert_eq!(s.samples(), 1);
    }

    #[test]
    fn a_long_series_is_thinned_but_keeps_its_spike() {
        let mut s = Series::with_limit(1000, 100);
        // A day of one-second samples, flat at 1 but for one spike of 60
        // and one dip to -3.
        for i in 0..86_400i64 {
            let v = match i {
                40_000 => 60.0,
                70_001 => -3.0,
                _ => 1.0,
            };
            s.push(i * 1000, v);
        }
        let pts = s.points();
        assert!(pts.len() <= 200, "{} points", pts.len());
        assert!(pts.windows(2).all(|w| w[0].0 <= w[1].0), "time order");
        assert!(pts.contains(&(40_000_000, 60.0)), "spike kept");
        assert!(pts.contains(&(70_001_000, -3.0)), "dip kept");
        assert_eq!(s.max(), Some((40_000_000, 60.0)));
        assert_eq!(s.min(), Some((70_001_000, -3.0)));
        assert!(s.width_ms() >= 864_000, "{}", s.width_ms());
        assert_eq!(s.samples(), 86_400);
    }

    #[test]
    fn a_sample_from_the_past_joins_the_newest_bucket() {
        let mut s = Series::new(1000);
        s.push(5000, 1.0);
        s.push(6000, 2.0);
        s.push(100, 9.0);
        // Taken as a sample at the newest time: the points stay in order.
        assert_eq!(s.points(), vec![(5000, 1.0), (6000, 2.0), (6000, 9.0)]);
        assert_eq!(s.max(), Some((6000, 9.0)));
    }

    proptest! {
        /// Whatever the samples, the series stays within its limit, in time
        /// order, and keeps the true extremes.
        #[test]
        fn bounded_ordered_and_extremes_kept(
            gaps in proptest::collection::vec(0i64..5_000, 1..3_000),
            vals in proptest::collection::vec(-1e6f64..1e6, 1..3_000),
            limit in 2usize..64,
        ) {
            let mut s = Series::with_limit(1000, limit);
            let mut t = 0i64;
            let mut hi = f64::MIN;
            let mut lo = f64::MAX;
            for (g, v) in gaps.iter().zip(vals.iter()) {
                t += g;
                s.push(t, *v);
                hi = hi.max(*v);
                lo = lo.min(*v);
            }
            let pts = s.points();
            prop_assert!(pts.len() <= 2 * limit);
            prop_assert!(pts.windows(2).all(|w| w[0].0 <= w[1].0));
            prop_assert_eq!(s.max().map(|p| p.1), Some(hi));
            prop_assert_eq!(s.min().map(|p| p.1), Some(lo));
        }
    }
}
