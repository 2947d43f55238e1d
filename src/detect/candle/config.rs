//! [`CandleConfig`]: the thresholds of the candle checks, their defaults
//! (with the calibration that chose them) and their validation. Settings
//! only: it must never judge a candle.

use super::stats::RING;
use serde::{Deserialize, Serialize};

/// Accepted range of `return_threshold` (-log10 p).
pub(super) const MIN_THRESHOLD: f64 = 0.1;
/// See [`MIN_THRESHOLD`]; 100 is far beyond any useful page.
pub(super) const MAX_THRESHOLD: f64 = 100.0;

/// Thresholds for the candle checks.
///
/// Defaults were chosen by running the checker over the real one-minute
/// files in the project's candle data (Binance USD-M BTCUSDT around
/// 2021-05-19 and 2025-10-10 crashes and the calm 2025-04-15 window, a month
/// of BTC-PERP 2021-12-31..2022-02-01 with 45,031 candles, and candles built
/// from Gemini and Coinbase trades on 2025-10-10); the test
/// `calibrate_on_real_files` in `tests/it/scan/candles.rs` re-runs this.
///
/// abnormal_candle opens at these defaults (wick_k 6 / 8 / 10 in brackets):
///
/// | file | candles | opens |
/// |---|---|---|
/// | BTC-PERP month 2021-12-31..2022-02-01 | 45,031 | 10, 0.32 a day (19 / 10 / 4) |
/// | Binance BTCUSDT 2025-04-15 calm window | 140 | 0 (0 / 0 / 0) |
/// | Binance BTCUSDT 2025-10-10 crash | 262 | 1: 20:56, 1.34% lower wick (2 / 1 / 1) |
/// | Binance BTCUSDT 2021-05-19 crash | 134 | 0 (0 / 0 / 0) |
/// | Coinbase AVAX-USD / LINK-USD from trades | 1,433 / 1,440 | 2 / 4, all crash wicks (2-5) |
/// | Gemini BTCUSD / ETHUSD from trades | 1,351 / 1,322 | 1 / 1 (1-3) |
///
/// Every one of these is a wick; the largest return surprise in any file is
/// 5.2 (-log10 p, BTC-PERP month) against the threshold of 7, so the return
/// test fires on jumps, not on fast markets. No real file breaks a hard
/// rule. The range floor (1, 2 or 5 bp) moves the month count only between
/// 12 and 9.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CandleConfig {
    /// Minimum closed, valid candles of history before the statistical
    /// checks run. 5 lets an 11-minute recording of trade-built candles be
    /// tested; the floors below keep the early baseline from being too tight.
    pub min_history: usize,
    /// Half-life of the volatility EWMA, in seconds of market time (2,700 s =
    /// 45 one-minute candles, lambda about 0.985). For other intervals the
    /// half-life in candles is this divided by the interval, but never below
    /// [`CandleConfig::min_half_life_candles`].
    pub half_life_secs: f64,
    /// Lower bound on the EWMA half-life in candles (keeps hourly and daily
    /// candles from forgetting everything after one candle).
    pub min_half_life_candles: f64,
    /// Student-t degrees of freedom for the return surprise (scaled to unit
    /// variance, so it must be above 2).
    pub t_nu: f64,
    /// Return surprise threshold as -log10 of the two-sided p-value (7 means
    /// p = 1e-7: about 0.04 false candidates a day over 360,000 one-minute
    /// tests if the model held).
    pub return_threshold: f64,
    /// A candle's contribution to the volatility baseline is capped at this
    /// many baseline standard deviations (winsorising), so one outlier cannot
    /// blow the baseline up; a real regime change still lifts it in a few
    /// candles.
    pub winsor_z: f64,
    /// A wick (high above the body, or low below it) longer than this many
    /// times the range scale is abnormal.
    pub wick_k: f64,
    /// Candles in the trailing window whose median true range is the range
    /// scale (at most 32).
    pub range_window: usize,
    /// Floor on the range scale, in basis points of price: one-trade minutes
    /// have zero range, and a median of zeros must not make every ordinary
    /// move look abnormal.
    pub range_floor_bp: f64,
    /// The market's tick (smallest price increment). 0 infers it from the
    /// prices seen (the smallest positive difference between two of them).
    /// The range scale never falls below one tick.
    pub tick: f64,
    /// The range scale never falls below this many times the market's
    /// typical spread, estimated from the candles of minutes with trades
    /// (Abdi and Ranaldo's close/high/low estimator): in a thin market the
    /// trades that alternate between a wide bid and ask are its pace, not
    /// a wick. 0 turns the floor off.
    pub spread_floor_k: f64,
    /// Half-life, in candles with trades, of the typical spread estimate.
    pub spread_half_life_candles: f64,
    /// Volume weighting of the range scale: a candle's true range counts
    /// with weight min(1, volume / (`volume_weight_ref` x the window's median
    /// volume)), and a candle without volume stays out of the window (its
    /// move is in the next traded candle's true range), once the stream
    /// has reported volume at all. A one-lot flat minute says little about
    /// the market's pace. 0 weighs every candle alike.
    pub volume_weight_ref: f64,
    /// Floor on the per-candle volatility for a one-minute candle, in basis
    /// points (scaled by the square root of the interval for other
    /// intervals). This is the prior that keeps a short, flat history from
    /// flagging ordinary moves.
    pub sigma_floor_bp: f64,
    /// Relative tolerance when checking VWAP (quote volume / volume) against
    /// [low, high]: venues round both volumes, so equality is not exact.
    pub vwap_tolerance: f64,
}

impl Default for CandleConfig {
    fn default() -> Self {
        CandleConfig {
            min_history: 5,
            half_life_secs: 2_700.0,
            min_half_life_candles: 10.0,
            t_nu: 4.0,
            return_threshold: 7.0,
            winsor_z: 4.0,
            wick_k: 8.0,
            range_window: 20,
            range_floor_bp: 2.0,
            tick: 0.0,
            spread_floor_k: 1.0,
            spread_half_life_candles: 720.0,
            volume_weight_ref: 0.1,
            sigma_floor_bp: 2.0,
            vwap_tolerance: 1e-9,
        }
    }
}

impl CandleConfig {
    /// Checks ranges the types cannot express; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        let pos = |name: &str, v: f64| -> Result<(), String> {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(format!("candle.{name} must be a positive number, got {v}"))
            }
        };
        pos("half_life_secs", self.half_life_secs)?;
        pos("min_half_life_candles", self.min_half_life_candles)?;
        if !(MIN_THRESHOLD..=MAX_THRESHOLD).contains(&self.return_threshold) {
            return Err(format!(
                "candle.return_threshold must be in {MIN_THRESHOLD}..={MAX_THRESHOLD}, got {}",
                self.return_threshold
            ));
        }
        pos("winsor_z", self.winsor_z)?;
        pos("wick_k", self.wick_k)?;
        if !(self.t_nu.is_finite() && self.t_nu > 2.0) {
            return Err(format!("candle.t_nu must be above 2, got {}", self.t_nu));
        }
        if !(self.range_floor_bp.is_finite() && self.range_floor_bp >= 0.0) {
            return Err("candle.range_floor_bp must be >= 0".into());
        }
        for (name, v) in [
            ("tick", self.tick),
            ("spread_floor_k", self.spread_floor_k),
            ("volume_weight_ref", self.volume_weight_ref),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(format!("candle.{name} must be >= 0, got {v}"));
            }
        }
        pos("spread_half_life_candles", self.spread_half_life_candles)?;
        if !(self.sigma_floor_bp.is_finite() && self.sigma_floor_bp >= 0.0) {
            return Err("candle.sigma_floor_bp must be >= 0".into());
        }
        if !(self.vwap_tolerance.is_finite() && (0.0..0.1).contains(&self.vwap_tolerance)) {
            return Err("candle.vwap_tolerance must be in [0, 0.1)".into());
        }
        if !(3..=RING).contains(&self.range_window) {
            return Err(format!(
                "candle.range_window must be in 3..={RING}, got {}",
                self.range_window
            ));
        }
        if self.min_history == 0 {
            return Err("candle.min_history must be at least 1".into());
        }
        Ok(())
    }
}
