//! The wick test: a closed candle's longer wick against the stream's range
//! scale (see `scale`: the volume-weighted median true range of the
//! trailing window, floored at tick and typical spread), flagged beyond
//! `wick_k` scales. It only fills in the [`Stat`] of the candle: it must
//! never fire an alert or touch the baseline itself.

use super::CandleChecker;
use super::stats::Stat;
use crate::model::Candle;

impl CandleChecker {
    /// Fills in the wick half of `s`: the range scale, the longer wick,
    /// its side, its ratio to the scale, and whether it is abnormal.
    pub(super) fn wick_test(&self, c: &Candle, s: &mut Stat) {
        s.scale = self.range_scale(c.close);
        let upper = c.high - c.open.max(c.close);
        let lower = c.open.min(c.close) - c.low;
        s.wick_upper = upper >= lower;
        s.wick = upper.max(lower);
        s.wick_ratio = if s.scale > 0.0 { s.wick / s.scale } else { 0.0 };
        s.wick_flag = s.wick_ratio.is_finite() && s.wick_ratio > self.wick_k;
    }
}
