//! The range scale a wick is judged against, and what keeps it honest on a
//! thin market: the volume-weighted median true range of the trailing
//! window, floored at a fraction of price, at the market's tick and at its
//! typical spread. On a pair where a third of the minutes have no trade,
//! a plain median of true ranges collapses toward zero and every ordinary
//! trade at the far side of a wide spread looks like a wick. It only keeps
//! the scale's state: it must never fire an alert, and never let a candle
//! without volume (nothing traded) or a one-lot flat minute set the pace.

use super::CandleChecker;
use super::stats::{RING, median};
use crate::model::Candle;

/// The scale's state beyond the window of true ranges (which lives in the
/// checker's ring with the volumes).
#[derive(Clone, Debug)]
pub(super) struct ThinMarket {
    /// Configured tick (0: infer it).
    tick_cfg: f64,
    /// The smallest positive difference between two prices seen.
    tick_seen: f64,
    /// Floor in typical spreads (0: off).
    spread_k: f64,
    /// EWMA weight of one candle with trades in the spread estimate.
    spread_alpha: f64,
    /// EWMA of Abdi and Ranaldo's per-candle squared spread (log prices).
    spread_sq: f64,
    /// Products in the spread estimate.
    spread_n: usize,
    /// The last candle with trades: its log close and log mid-range.
    last_traded: Option<(f64, f64)>,
    /// Weight reference as a share of the window's mean volume (0: off).
    volume_ref: f64,
    /// Whether the stream has reported a positive volume.
    volume_seen: bool,
}

impl ThinMarket {
    /// The scale's state from the candle section's keys.
    pub(super) fn new(tick: f64, spread_k: f64, spread_half_life: f64, volume_ref: f64) -> Self {
        let spread_alpha = if spread_half_life.is_finite() && spread_half_life > 0.0 {
            1.0 - 0.5f64.powf(1.0 / spread_half_life)
        } else {
            1.0
        };
        ThinMarket {
            tick_cfg: if tick.is_finite() { tick.max(0.0) } else { 0.0 },
            tick_seen: f64::INFINITY,
            spread_k: if spread_k.is_finite() {
                spread_k.max(0.0)
            } else {
                0.0
            },
            spread_alpha,
            spread_sq: 0.0,
            spread_n: 0,
            last_traded: None,
            volume_ref: if volume_ref.is_finite() {
                volume_ref.max(0.0)
            } else {
                0.0
            },
            volume_seen: false,
        }
    }

    /// The market's tick: the configured one, else the smallest price
    /// increment seen; 0 while unknown.
    pub(super) fn tick(&self) -> f64 {
        if self.tick_cfg > 0.0 {
            self.tick_cfg
        } else if self.tick_seen.is_finite() {
            self.tick_seen
        } else {
            0.0
        }
    }

    /// The typical spread as a fraction of price, once `min_n` candles with
    /// trades have been seen; 0 before.
    pub(super) fn spread(&self, min_n: usize) -> f64 {
        if self.spread_n < min_n {
            return 0.0;
        }
        self.spread_sq.max(0.0).sqrt()
    }

    /// Learns the tick from a candle's prices (and the previous close):
    /// differences below a billionth of the price are float noise.
    fn learn_tick(&mut self, c: &Candle, prev_close: Option<f64>) {
        let prices = [
            c.open,
            c.high,
            c.low,
            c.close,
            prev_close.unwrap_or(c.close),
        ];
        let noise = c.close.abs() * 1e-9;
        for (i, a) in prices.iter().enumerate() {
            for b in prices.iter().skip(i + 1) {
                let d = (a - b).abs();
                if d.is_finite() && d > noise && d < self.tick_seen {
                    self.tick_seen = d;
                }
            }
        }
    }

    /// Abdi and Ranaldo (2017): with η the mid-range of a period, 4 (c_t -
    /// η_t)(c_t - η_t+1) estimates the squared spread; averaged over the
    /// candles with trades (a minute without a trade has no quote in it).
    /// One product is capped at `cap` (the abnormal candle's own share).
    fn learn_spread(&mut self, c: &Candle, cap: f64) {
        let eta = 0.5 * (c.high.ln() + c.low.ln());
        if let Some((close, mid)) = self.last_traded {
            let x = (4.0 * (close - mid) * (close - eta)).clamp(-cap, cap);
            if x.is_finite() {
                let a = self.spread_alpha.max(1.0 / (self.spread_n as f64 + 1.0));
                self.spread_sq += a * (x - self.spread_sq);
                self.spread_n = self.spread_n.saturating_add(1);
            }
        }
        if eta.is_finite() && c.close > 0.0 {
            self.last_traded = Some((c.close.ln(), eta));
        }
    }
}

impl CandleChecker {
    /// A valid in-order closed candle's share of the range scale: its true
    /// range `tr` (already capped) into the window unless nothing traded
    /// in it, its prices into the tick, its quotes into the spread.
    /// `cap_rel` caps its spread product (squared, relative to price).
    pub(super) fn observe_range(
        &mut self,
        c: &Candle,
        prev_close: Option<f64>,
        tr: f64,
        cap_rel: f64,
    ) {
        self.thin.learn_tick(c, prev_close);
        if c.volume > 0.0 {
            self.thin.volume_seen = true;
        } else if self.thin.volume_seen {
            // Nothing traded: the move since the last trade shows in the
            // next traded candle's true range.
            return;
        }
        self.thin.learn_spread(c, cap_rel);
        if tr.is_finite() {
            self.push_ring(tr, c.volume);
        }
    }

    fn push_ring(&mut self, range: f64, volume: f64) {
        if let Some(r) = self.ranges.get_mut(self.ring_pos) {
            *r = range;
        }
        if let Some(v) = self.volumes.get_mut(self.ring_pos) {
            *v = volume;
        }
        self.ring_pos = (self.ring_pos + 1) % self.window;
        self.ring_len = (self.ring_len + 1).min(self.window);
    }

    /// The range scale at `price`: the volume-weighted median true range
    /// of the trailing window, floored at `range_floor` of price, one tick
    /// and `spread_floor_k` typical spreads.
    pub(super) fn range_scale(&self, price: f64) -> f64 {
        let ranges = self.ranges.get(..self.ring_len).unwrap_or(&[]);
        let volumes = self.volumes.get(..self.ring_len).unwrap_or(&[]);
        // The window's median volume: a burst of volume does not make the
        // ordinary minutes around it light.
        let reference = self.thin.volume_ref * median(volumes);
        let pace = if reference > 0.0 && reference.is_finite() {
            weighted_median(ranges, volumes, reference)
        } else {
            median(ranges)
        };
        pace.max(self.range_floor * price)
            .max(self.thin.tick())
            .max(self.thin.spread_k * self.thin.spread(self.min_history) * price)
    }
}

/// The weighted median of `xs`, each weighing min(1, volume / reference):
/// the smallest x at which the weight at or below it passes half the
/// total (halfway to the next where it is exactly half, so equal weights
/// give the plain median). The plain median when no weight is positive.
pub(super) fn weighted_median(xs: &[f64], volumes: &[f64], reference: f64) -> f64 {
    let mut buf = [(0.0f64, 0.0f64); RING];
    let n = xs.len().min(volumes.len()).min(RING);
    let mut total = 0.0;
    for (slot, (x, v)) in buf.iter_mut().zip(xs.iter().zip(volumes)).take(n) {
        let w = (v / reference).clamp(0.0, 1.0);
        let w = if w.is_finite() { w } else { 0.0 };
        *slot = (*x, w);
        total += w;
    }
    if total <= 0.0 {
        return median(xs);
    }
    let Some(pairs) = buf.get_mut(..n) else {
        return median(xs);
    };
    pairs.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    // Where the weight below a sample is exactly half, the median lies
    // between it and the next sample of positive weight (so equal weights
    // give the plain median).
    let half = 0.5 * total;
    let mut acc = 0.0;
    let mut at_half: Option<f64> = None;
    for &(x, w) in pairs.iter() {
        if w <= 0.0 {
            continue;
        }
        if let Some(lo) = at_half {
            return 0.5 * (lo + x);
        }
        acc += w;
        if acc == half {
            at_half = Some(x);
        } else if acc > half {
            return x;
        }
    }
    at_half.unwrap_or_else(|| median(xs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::Kind;
    use crate::detect::candle::CandleConfig;
    use crate::detect::verdict::{Verdict, Words};
    use crate::model::{Nanos, SECOND, StreamKind, Venue};

    const MIN: Nanos = 60 * SECOND;

    fn candle(i: i64, o: f64, h: f64, l: f64, c: f64, volume: f64) -> Candle {
        Candle {
            open_ns: 1_678_320_000 * SECOND + i * MIN,
            interval_secs: 60,
            open: o,
            high: h,
            low: l,
            close: c,
            volume,
            quote_volume: None,
            trades: None,
            first_trade_id: None,
            last_trade_id: None,
            closed: true,
            exch_ns: None,
        }
    }

    fn checker(cfg: &CandleConfig) -> CandleChecker {
        CandleChecker::new(
            cfg,
            Venue::BinanceSpot,
            "X/USDT".into(),
            StreamKind::Kline(60),
        )
    }

    fn flagged(ck: &mut CandleChecker, c: &Candle) -> bool {
        matches!(ck.on_candle(c).abnormal, Verdict::Fire(f) if f.kind() == Kind::AbnormalCandle)
    }

    #[test]
    fn equal_weights_give_the_plain_median() {
        let xs = [5.0, 1.0, 3.0, 2.0];
        assert_eq!(weighted_median(&xs, &[7.0; 4], 1.0), median(&xs));
        assert_eq!(weighted_median(&xs[..3], &[7.0; 3], 1.0), median(&xs[..3]));
        // Weights are capped at 1: volume above the reference counts once.
        assert_eq!(weighted_median(&xs, &[1.0, 9.0, 1.0, 1.0], 1.0), 2.5);
    }

    #[test]
    fn one_lot_flat_minutes_do_not_set_the_pace() {
        // Five one-lot minutes of range 0 among six traded minutes of range
        // 10 and more (the window's median volume is 5).
        let xs = [0.0, 0.0, 12.0, 10.0, 0.0, 0.0, 10.0, 10.0, 0.0, 10.0, 11.0];
        let vols = [
            0.001, 0.001, 5.0, 5.0, 0.001, 0.001, 5.0, 5.0, 0.001, 5.0, 5.0,
        ];
        assert_eq!(median(&xs), 10.0);
        assert_eq!(median(&xs[..10]), 5.0);
        assert_eq!(weighted_median(&xs[..10], &vols[..10], 0.1 * 5.0), 10.0);
        assert_eq!(weighted_median(&xs, &vols, 0.1 * median(&vols)), 10.0);
        // No volume anywhere: the plain median.
        assert_eq!(weighted_median(&xs[..10], &[0.0; 10], 1.0), 5.0);
    }

    #[test]
    fn the_tick_is_inferred_from_the_prices_or_configured() {
        let cfg = CandleConfig::default();
        let mut ck = checker(&cfg);
        // A coin at 0.05 on a 0.0001 grid: mostly flat minutes, a one-tick
        // step now and then (20 bp, far above the 2 bp floor of price).
        for i in 0..30 {
            let p = if i % 10 < 5 { 0.05 } else { 0.0501 };
            ck.on_candle(&candle(i, p, p, p, p, 100.0));
        }
        assert!(
            (ck.thin.tick() - 0.0001).abs() < 1e-12,
            "{}",
            ck.thin.tick()
        );
        let scale = ck.range_scale_for(0.05).unwrap();
        assert!(scale >= 0.0001 - 1e-12, "scale {scale} is below one tick");
        // A four-tick wick is no abnormal candle on a one-tick market...
        assert!(!flagged(
            &mut ck,
            &candle(30, 0.05, 0.0504, 0.05, 0.05, 100.0)
        ));
        // ...while ten ticks (2%) still are.
        assert!(flagged(
            &mut ck,
            &candle(31, 0.05, 0.051, 0.05, 0.05, 100.0)
        ));

        let cfg = CandleConfig {
            tick: 0.001,
            ..CandleConfig::default()
        };
        let mut ck = checker(&cfg);
        for i in 0..10 {
            ck.on_candle(&candle(i, 0.05, 0.05, 0.05, 0.05, 100.0));
        }
        assert_eq!(ck.range_scale_for(0.05), Some(0.001));
    }

    /// A thin market with a 0.7% spread: two trades a minute, each at the
    /// bid or the ask, a third of the minutes without any. The typical
    /// spread is estimated from the candles and floors the scale, so a
    /// minute that trades once at the ask is no wick.
    #[test]
    fn the_scale_is_floored_at_the_typical_spread() {
        let (bid, ask) = (22_000.0, 22_154.0);
        let mut ck = checker(&CandleConfig::default());
        let mut last = bid;
        let mut seed: u64 = 7;
        let mut side = || {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            if (seed >> 33).is_multiple_of(2) {
                bid
            } else {
                ask
            }
        };
        for i in 0..600 {
            if i % 3 == 2 {
                ck.on_candle(&candle(i, last, last, last, last, 0.0));
                continue;
            }
            let (o, c) = (side(), side());
            ck.on_candle(&candle(i, o, o.max(c), o.min(c), c, 0.01));
            last = c;
        }
        let spread = ck.thin.spread(5);
        assert!(
            (0.005..0.009).contains(&spread),
            "estimated spread {spread} for a quoted 0.70%"
        );
        let scale = ck.range_scale_for(bid).unwrap();
        assert!(scale >= spread * bid, "scale {scale}");
        // A minute that opens at the bid, trades once at the ask, closes
        // at the bid.
        let c = candle(600, bid, ask, bid, bid, 0.02);
        assert!(
            !flagged(&mut ck, &c),
            "a trade at the ask was called a wick"
        );
    }

    #[test]
    fn minutes_without_volume_stay_out_of_the_window() {
        let mut ck = checker(&CandleConfig::default());
        for i in 0..10 {
            ck.on_candle(&candle(i, 100.0, 100.2, 99.8, 100.0, 3.0));
        }
        let before = ck.range_scale_for(100.0).unwrap();
        for i in 10..40 {
            ck.on_candle(&candle(i, 100.0, 100.0, 100.0, 100.0, 0.0));
        }
        assert_eq!(ck.range_scale_for(100.0), Some(before));
    }
}
