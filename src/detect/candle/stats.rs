//! The statistical test of a valid, in-order closed candle against the
//! stream's own robust volatility: the Student-t return surprise, the
//! EWMA variance and trailing true-range ring (the range scale), and the
//! `abnormal_candle` finding ([`Abnormal`]) that words its alert. It must
//! never let a bad candle, or the abnormal candle itself beyond its
//! winsorised share, move the baseline, and never page on volume alone.

use super::CandleChecker;
use super::sequence::Seen;
use super::summary::{Names, at, num, ohlcv};
use super::verdicts::{CandleClear, Rule};
use crate::alert::{Evidence, IncidentKey, Kind};
use crate::detect::verdict::{Finding, Verdict, Words};
use crate::model::Candle;
use statrs::distribution::{ContinuousCDF, StudentsT};

/// Capacity of the trailing range/volume rings.
pub(super) const RING: usize = 32;
/// Cap on the reported -log10 p (the cdf underflows far out in the tail).
pub(super) const MAX_SCORE: f64 = 300.0;

/// The outcome of the statistical test of one candle.
#[derive(Clone, Debug, Default)]
pub(super) struct Stat {
    pub(super) ret: f64,
    pub(super) z: f64,
    pub(super) sigma: f64,
    pub(super) wick: f64,
    pub(super) wick_upper: bool,
    pub(super) wick_ratio: f64,
    pub(super) scale: f64,
    pub(super) return_flag: bool,
    pub(super) wick_flag: bool,
}

impl CandleChecker {
    /// The statistical test of a valid, in-order closed candle (`seen` is
    /// its numbers), then the (winsorised) baseline update. Quiet until
    /// there is enough history to judge.
    pub(super) fn statistics(&mut self, c: &Candle, seen: &Seen) -> Verdict<Abnormal, CandleClear> {
        let steps = match self.last_valid {
            Some((o, _)) if self.interval_ns > 0 => {
                ((c.open_ns.saturating_sub(o)) / self.interval_ns).max(1)
            }
            _ => 1,
        };
        let prev_close = self.last_valid.map(|(_, p)| p);
        let ret = prev_close.map_or(0.0, |p| (c.close / p).ln());
        let sigma = self.var.sqrt().max(self.sigma_floor);
        let tested = self.history >= self.min_history;
        let mut s = Stat {
            ret,
            sigma,
            ..Stat::default()
        };
        let mut verdict = Verdict::Quiet;
        if tested {
            self.return_test(&mut s, steps);
            self.wick_test(c, &mut s);
            verdict = if s.return_flag || s.wick_flag {
                let abnormal = self.abnormal(seen, &s);
                self.firing.fire(Rule::Abnormal, abnormal)
            } else {
                self.firing.clean(Rule::Abnormal, &self.names, seen)
            };
        }
        self.update_baseline(c, &s, steps, prev_close, tested);
        verdict
    }

    /// The return test: the close-to-close move over `steps` intervals in
    /// baseline deviations, flagged at the cached critical |z|.
    fn return_test(&self, s: &mut Stat, steps: i64) {
        let sd = s.sigma * (steps as f64).sqrt();
        s.z = if sd > 0.0 { s.ret / sd } else { 0.0 };
        s.return_flag = s.z.is_finite() && s.z.abs() >= self.z_crit;
    }

    /// Baseline update: per-candle variance from close-to-close return
    /// (per interval) and the Parkinson range estimator, each capped at
    /// winsor_z baseline deviations once the baseline exists; then the
    /// candle's true range (capped at `wick_k` range scales) into the ring.
    fn update_baseline(
        &mut self,
        c: &Candle,
        s: &Stat,
        steps: i64,
        prev_close: Option<f64>,
        tested: bool,
    ) {
        let (ret, sigma) = (s.ret, s.sigma);
        let hl = (c.high / c.low).ln();
        let cap = if tested {
            (self.winsor_z * sigma).powi(2)
        } else {
            f64::INFINITY
        };
        let park = (hl * hl / (4.0 * std::f64::consts::LN_2)).min(cap);
        let v = match prev_close {
            Some(_) => 0.5 * (ret * ret / steps as f64).min(cap) + 0.5 * park,
            None => park,
        };
        if v.is_finite() {
            let a = self.alpha.max(1.0 / (self.history as f64 + 1.0));
            self.var += a * (v - self.var);
            self.history = self.history.saturating_add(1);
        }
        let mut tr = c.high - c.low;
        if let (Some(p), 1) = (prev_close, steps) {
            tr = c.high.max(p) - c.low.min(p);
        }
        if tested && s.scale > 0.0 {
            tr = tr.min(self.wick_k * s.scale);
        }
        // The candle's spread product is capped as its true range is.
        let cap_rel = if tested && s.scale > 0.0 && c.close > 0.0 {
            (self.wick_k * s.scale / c.close).powi(2)
        } else {
            f64::INFINITY
        };
        self.observe_range(c, prev_close, tr, cap_rel);
        self.last_valid = Some((c.open_ns, c.close));
    }

    /// The finding about an abnormal candle, with the baseline it was
    /// judged against (before the candle enters it).
    fn abnormal(&self, candle: &Seen, s: &Stat) -> Abnormal {
        Abnormal {
            names: self.names.clone(),
            candle: *candle,
            stat: s.clone(),
            score: self.surprise(s.z),
            return_threshold: self.return_threshold,
            wick_k: self.wick_k,
            vol_median: median(self.volumes.get(..self.ring_len).unwrap_or(&[])),
            history: self.history,
        }
    }

    /// -log10 of the two-sided p-value of a unit-variance Student-t `z`.
    pub(super) fn surprise(&self, z: f64) -> f64 {
        match &self.t {
            Some(t) => surprise(t, self.t_scale, z),
            None => f64::NAN,
        }
    }
}

/// `abnormal_candle` fires: a wick or a close-to-close move far outside
/// the stream's own recent behaviour.
#[derive(Clone, Debug)]
pub struct Abnormal {
    names: Names,
    candle: Seen,
    stat: Stat,
    /// -log10 p of the return.
    score: f64,
    return_threshold: f64,
    wick_k: f64,
    /// Median volume of the trailing window.
    vol_median: f64,
    /// Closed candles in the baseline.
    history: usize,
}

impl Words for Abnormal {
    fn kind(&self) -> Kind {
        Kind::AbnormalCandle
    }

    fn summary(&self, _: &IncidentKey) -> String {
        let (s, c) = (&self.stat, &self.candle);
        let mut parts = Vec::with_capacity(2);
        if s.wick_flag {
            parts.push(format!(
                "{} wick of {} ({:.2}% of price), {:.1}x its recent range scale {}",
                if s.wick_upper { "an upper" } else { "a lower" },
                num(s.wick),
                100.0 * s.wick / c.close,
                s.wick_ratio,
                num(s.scale)
            ));
        }
        if s.return_flag {
            parts.push(format!(
                "a close-to-close move of {:+.2}% against a usual {:.3}% per candle (surprise {:.1}, threshold {:.0})",
                100.0 * s.ret,
                100.0 * s.sigma,
                self.score,
                self.return_threshold
            ));
        }
        format!(
            "{} candle {} has {}: abnormal print, check other venues before acting on it.",
            self.names,
            self.names.when(c.open_ns),
            parts.join(" and ")
        )
    }

    fn evidence(&self) -> Evidence {
        let (s, c) = (&self.stat, &self.candle);
        ohlcv(at(c), c)
            .with(
                "statistic",
                match (s.wick_flag, s.return_flag) {
                    (true, true) => "wick_ratio+return_surprise",
                    (true, false) => "wick_ratio",
                    _ => "return_surprise",
                },
            )
            .num("return_pct", 100.0 * s.ret, 4)
            .num("return_surprise", self.score, 2)
            .num("return_threshold", self.return_threshold, 2)
            .num("baseline_sigma_pct", 100.0 * s.sigma, 5)
            .num("wick", s.wick, 10)
            .num("wick_ratio", s.wick_ratio, 2)
            .num("wick_threshold", self.wick_k, 2)
            .num("baseline_range_scale", s.scale, 10)
            .num(
                "volume_vs_median",
                if self.vol_median > 0.0 {
                    c.volume / self.vol_median
                } else {
                    f64::NAN
                },
                2,
            )
            .with("history", self.history)
    }
}

/// Every abnormal candle is reported.
impl Finding for Abnormal {
    fn news(&self) -> bool {
        true
    }
}

/// -log10 of the two-sided p-value of unit-variance Student-t `z`. Only the
/// cdf is used, and only with a finite argument (statrs panics on NaN and
/// its inverse cdf is inaccurate far in the tail).
pub(super) fn surprise(t: &StudentsT, t_scale: f64, z: f64) -> f64 {
    if z.is_nan() {
        return f64::NAN;
    }
    let x = z.abs() * t_scale;
    if !x.is_finite() {
        return MAX_SCORE;
    }
    let p = 2.0 * t.cdf(-x);
    if p.is_nan() {
        return f64::NAN;
    }
    if p <= 0.0 {
        return MAX_SCORE;
    }
    (-p.log10()).clamp(0.0, MAX_SCORE)
}

/// The |z| at which [`surprise`] reaches `threshold`, by bisection on the
/// cdf in log space (64 cdf calls, once per checker, so the per-candle
/// test is one comparison).
pub(super) fn critical_z(t: &StudentsT, t_scale: f64, threshold: f64) -> f64 {
    let (mut lo, mut hi) = (1e-3f64.ln(), 1e150f64.ln());
    if surprise(t, t_scale, hi.exp()) < threshold {
        return f64::INFINITY;
    }
    for _ in 0..64 {
        let mid = 0.5 * (lo + hi);
        if surprise(t, t_scale, mid.exp()) >= threshold {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    hi.exp()
}

/// Median of a small slice (copied to the stack; at most [`RING`] values).
pub(super) fn median(xs: &[f64]) -> f64 {
    let mut buf = [0.0f64; RING];
    let n = xs.len().min(RING);
    let (Some(dst), Some(src)) = (buf.get_mut(..n), xs.get(..n)) else {
        return 0.0;
    };
    dst.copy_from_slice(src);
    if n == 0 {
        return 0.0;
    }
    dst.sort_unstable_by(f64::total_cmp);
    let mid = n / 2;
    match (dst.get(mid), mid.checked_sub(1).and_then(|i| dst.get(i))) {
        (Some(&hi), Some(&lo)) if n.is_multiple_of(2) => 0.5 * (hi + lo),
        (Some(&m), _) => m,
        _ => 0.0,
    }
}
