//! The rhythm of one stream: a time-decayed histogram of inter-arrival gaps
//! with an exponential tail fitted above its 95th percentile.
//!
//! This is phi accrual (Hayashibara et al.) made robust to bursty streams:
//! instead of assuming normal or exponential gaps, the body of the
//! distribution is the stream's own empirical one, and only the tail beyond
//! it is extrapolated (peaks over threshold, exponential excesses). A
//! metronome stream (depth every 100 ms) and a bursty trade stream (pauses of
//! 8 s) both get a threshold from their own history. Memory is fixed: 96
//! bins and a small ring of the most recent raw gaps. Nothing here reads a
//! clock; callers pass times in.

use crate::model::{Nanos, SECOND};
use std::fmt;
use std::sync::LazyLock;

/// Octaves covered: 2^-14 s (61 us) to 2^10 s (17 min).
const MIN_EXP: i32 = -14;
const OCTAVES: usize = 24;
/// Sub-bins per octave (from the top two mantissa bits).
const SUB: usize = 4;
const BINS: usize = OCTAVES * SUB;
/// How many recent raw gaps are kept for evidence.
const RECENT: usize = 64;
/// How long one computed decay weight is reused.
const WEIGHT_STEP: Nanos = 100 * crate::model::MILLI;
/// Rescale decayed weights before they can overflow.
const RESCALE_AT: f64 = 1e100;

/// Tail fit of the gap distribution (seconds).
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct TailFit {
    /// Tail start: gaps above this are the top `tail_mass` of the history.
    pub u: f64,
    /// Probability mass above `u`.
    pub tail_mass: f64,
    /// Mean excess above `u` (scale of the exponential tail), floored.
    pub scale: f64,
    /// Median gap, for summaries.
    pub median: f64,
    /// 95th percentile gap (upper edge of its bin), for summaries.
    pub p95: f64,
}

impl TailFit {
    /// phi = -log10 P(gap >= elapsed) under the fitted distribution, using
    /// the empirical body below `u` (approximated by the tail start) and the
    /// exponential tail above it.
    pub fn phi(&self, elapsed: f64) -> f64 {
        if elapsed <= self.u {
            return 0.0;
        }
        let p = -self.tail_mass.log10();
        p + (elapsed - self.u) / (self.scale * std::f64::consts::LN_10)
    }

    /// The elapsed time at which phi reaches `phi`.
    pub fn time_for_phi(&self, phi: f64) -> f64 {
        let p = -self.tail_mass.log10();
        self.u + (phi - p).max(0.0) * self.scale * std::f64::consts::LN_10
    }
}

/// Decayed gap histogram for one stream.
pub struct GapHistory {
    bins: [f64; BINS],
    total: f64,
    /// Time origin of the current weight scale.
    t_ref: Nanos,
    /// The decay weight for pushes at or after `w_at` (see `WEIGHT_STEP`).
    w: f64,
    w_at: Nanos,
    half_life: f64,
    count: u64,
    /// The last `RECENT` gaps, oldest overwritten first (slots not yet
    /// written hold 0, which no maximum of gaps >= 0 can tell apart).
    recent: [f32; RECENT],
    recent_next: usize,
}

fn bin_of(gap_s: f64) -> usize {
    // Exponent and top two mantissa bits of the f64 give a log2 bin with 4
    // sub-bins per octave without calling log().
    let bits = gap_s.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32 - 1023;
    let sub = ((bits >> 50) & 0x3) as usize;
    if exp < MIN_EXP {
        return 0;
    }
    let idx = (exp - MIN_EXP) as usize * SUB + sub;
    idx.min(BINS - 1)
}

/// Lower edge of a bin in seconds.
fn bin_low(i: usize) -> f64 {
    let oct = (i / SUB) as i32 + MIN_EXP;
    let sub = (i % SUB) as f64;
    2f64.powi(oct) * (1.0 + sub / SUB as f64)
}

/// Geometric middle of a bin in seconds.
fn bin_mid(i: usize) -> f64 {
    (bin_low(i) * bin_low(i + 1)).sqrt()
}

/// Bin edges and middles, computed once by [`bin_low`] and [`bin_mid`]
/// (the same values bit for bit): a fit reads them for every bin, and two
/// `powi` and a `sqrt` per bin made fits a visible share of the per-frame
/// cost.
struct BinTable {
    low: [f64; BINS + 1],
    mid: [f64; BINS],
}

static TABLE: LazyLock<BinTable> = LazyLock::new(|| BinTable {
    low: std::array::from_fn(bin_low),
    mid: std::array::from_fn(bin_mid),
});

impl GapHistory {
    /// An empty history whose weights halve every `half_life_s` seconds.
    pub fn new(half_life_s: f64) -> Self {
        GapHistory {
            bins: [0.0; BINS],
            total: 0.0,
            t_ref: 0,
            w: 1.0,
            w_at: 0,
            half_life: half_life_s.max(1.0),
            count: 0,
            recent: [0.0; RECENT],
            recent_next: 0,
        }
    }

    /// Number of gaps recorded so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Records one gap (seconds, already capped by the caller) seen at `now`.
    pub fn push(&mut self, now: Nanos, gap_s: f64) {
        if !gap_s.is_finite() || gap_s < 0.0 {
            return;
        }
        if self.count == 0 {
            self.t_ref = now;
        }
        // The decay weight moves by a few parts in a million per 100 ms at
        // any sensible half-life: computing it once per 100 ms instead of per
        // message saves an exp2 on the hot path.
        if now < self.w_at || now - self.w_at >= WEIGHT_STEP || self.count == 0 {
            let age = (now - self.t_ref) as f64 / SECOND as f64;
            self.w = (age / self.half_life).exp2();
            self.w_at = now;
        }
        let mut w = self.w;
        if !w.is_finite() || w > RESCALE_AT {
            // Move the origin to now: every stored weight shrinks by w.
            let scale = 1.0 / w;
            for b in &mut self.bins {
                *b *= scale;
            }
            self.total *= scale;
            self.t_ref = now;
            w = 1.0;
            self.w = 1.0;
            self.w_at = now;
        }
        let i = bin_of(gap_s);
        if let Some(b) = self.bins.get_mut(i) {
            *b += w;
        }
        self.total += w;
        self.count += 1;
        if let Some(slot) = self.recent.get_mut(self.recent_next) {
            *slot = gap_s as f32;
        }
        self.recent_next = (self.recent_next + 1) % RECENT;
    }

    /// The largest of the most recent raw gaps (seconds).
    pub fn recent_max(&mut self) -> f64 {
        self.recent.iter().fold(0f32, |a, &b| a.max(b)) as f64
    }

    /// Fits the tail: the top `q` of the mass (by bins) and its mean excess,
    /// floored at `min_scale` seconds. `None` before any gap.
    pub fn fit(&self, q: f64, min_scale: f64) -> Option<TailFit> {
        if self.total <= 0.0 {
            return None;
        }
        let table = &*TABLE;
        let want = q.clamp(1e-6, 0.5) * self.total;
        let mut acc = 0.0;
        let mut start = 0;
        for (i, &w) in self.bins.iter().enumerate().rev() {
            // A bin that would swallow the body of the distribution (most
            // gaps of a metronome sit in one bin) is left out when the bins
            // above it already hold a usable tail.
            if acc + w > 2.0 * want && acc >= want / 4.0 {
                start = i + 1;
                break;
            }
            acc += w;
            if acc >= want {
                start = i;
                break;
            }
        }
        let u = table
            .low
            .get(start)
            .copied()
            .unwrap_or_else(|| bin_low(start));
        let mut excess = 0.0;
        for (w, mid) in self.bins.iter().zip(&table.mid).skip(start) {
            excess += w * (mid - u);
        }
        let scale = (excess / acc.max(f64::MIN_POSITIVE)).max(min_scale);
        let tail_mass = (acc / self.total).clamp(f64::MIN_POSITIVE, 1.0);
        // Median and 95th percentile for summaries: the middle of the bin
        // holding the median, and the upper edge of the bin holding the
        // 95th percentile (so "95% of gaps are under p95" is true).
        let mut acc2 = 0.0;
        let mut median = None;
        let mut p95 = table.low[BINS];
        for (w, (mid, high)) in self.bins.iter().zip(table.mid.iter().zip(&table.low[1..])) {
            acc2 += w;
            if median.is_none() && acc2 >= self.total * 0.5 {
                median = Some(*mid);
            }
            if acc2 >= self.total * 0.95 {
                p95 = *high;
                break;
            }
        }
        Some(TailFit {
            u,
            tail_mass,
            scale,
            median: median.unwrap_or(p95),
            p95,
        })
    }
}

impl fmt::Debug for GapHistory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GapHistory")
            .field("count", &self.count)
            .field("total", &self.total)
            .finish()
    }
}

/// Converts a ns duration into seconds.
pub fn secs(ns: Nanos) -> f64 {
    ns as f64 / SECOND as f64
}

/// Gaps held in the recent ring (used by tests).
#[cfg(test)]
fn recent_len(h: &GapHistory) -> usize {
    (h.count as usize).min(RECENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_are_monotonic_and_cover_range() {
        let mut last = 0;
        for k in 0..2000 {
            let g = 1e-5 * 1.01f64.powi(k);
            let b = bin_of(g);
            assert!(b >= last, "bin went down at {g}");
            last = b;
            if (1e-4..1000.0).contains(&g) {
                assert!(bin_low(b) <= g * 1.0000001 && g < bin_low(b + 1) * 1.0000001);
            }
        }
    }

    #[test]
    fn metronome_gets_a_tight_threshold_bursty_a_loose_one() {
        let mut metro = GapHistory::new(1800.0);
        let mut bursty = GapHistory::new(1800.0);
        let mut t = 0;
        for i in 0..2000 {
            t += 100 * crate::model::MILLI;
            metro.push(t, 0.1 + (i % 3) as f64 * 0.001);
            // Mostly 50 ms, every 20th gap 5 s.
            bursty.push(t, if i % 20 == 0 { 5.0 } else { 0.05 });
        }
        let m = metro.fit(0.05, 0.2).unwrap();
        let b = bursty.fit(0.05, 0.2).unwrap();
        let tm = m.time_for_phi(8.0);
        let tb = b.time_for_phi(8.0);
        assert!(tm > 0.3 && tm < 5.0, "metronome threshold {tm}");
        assert!(tb > 10.0, "bursty threshold {tb} {b:?}");
        assert!(m.phi(tm) > 7.99 && m.phi(tm) < 8.01);
        assert_eq!(m.phi(0.05), 0.0);
        assert_eq!(recent_len(&metro), RECENT);
        assert!((metro.recent_max() - 0.102).abs() < 1e-6);
    }

    #[test]
    fn decay_forgets_old_rhythm_and_survives_rescale() {
        let mut h = GapHistory::new(10.0);
        let mut t = 0;
        for _ in 0..1000 {
            t += SECOND;
            h.push(t, 5.0);
        }
        // Far later: a fast rhythm; old slow gaps must have decayed away.
        t += 100_000 * SECOND;
        for _ in 0..1000 {
            t += 10 * crate::model::MILLI;
            h.push(t, 0.01);
        }
        let f = h.fit(0.05, 0.0).unwrap();
        assert!(f.u < 0.02, "old gaps still dominate: {f:?}");
        assert!(h.total.is_finite());
    }

    #[test]
    fn garbage_gaps_are_ignored() {
        let mut h = GapHistory::new(60.0);
        h.push(0, f64::NAN);
        h.push(0, -1.0);
        h.push(0, f64::INFINITY);
        assert_eq!(h.count(), 0);
        assert!(h.fit(0.05, 0.1).is_none());
    }
}
