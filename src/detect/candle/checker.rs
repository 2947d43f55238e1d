//! [`CandleChecker`]: the state of one (venue, symbol, stream) and the
//! driver that puts each candle through the sequence rules, the hard rules
//! and the statistical test, in that order, and returns each rule's
//! verdict (a finding, or the recovery a clean candle brings). It reads no
//! clock, never touches the incident book and must never do I/O.

use super::config::{CandleConfig, MAX_THRESHOLD, MIN_THRESHOLD};
use super::rules::hard_violation;
use super::scale::ThinMarket;
use super::sequence::{RECENT, Seen, SeqFault};
use super::stats::{RING, critical_z};
use super::summary::Names;
use super::verdicts::{CandleVerdicts, Firing, Rule};
use crate::alert::IncidentKey;
use crate::detect::verdict::Verdict;
use crate::model::{Candle, Nanos, SECOND, StreamKind, Symbol, Venue};
use statrs::distribution::StudentsT;

/// Checks one candle stream (see the module docs).
pub struct CandleChecker {
    pub(super) key: IncidentKey,
    /// The stream as its alerts name it.
    pub(super) names: Names,
    pub(super) interval_ns: Nanos,
    /// Missing intervals are normal for candles built from trades.
    pub(super) expect_every_interval: bool,
    pub(super) min_history: usize,
    pub(super) alpha: f64,
    pub(super) winsor_z: f64,
    pub(super) wick_k: f64,
    pub(super) window: usize,
    pub(super) range_floor: f64,
    pub(super) sigma_floor: f64,
    pub(super) vwap_tol: f64,
    pub(super) return_threshold: f64,
    /// Unit-variance |z| at which the return surprise reaches the threshold
    /// (the inverse cdf is computed once here, not per candle).
    pub(super) z_crit: f64,
    /// `sqrt(nu / (nu - 2))`: unit-variance z to the standard t statistic.
    pub(super) t_scale: f64,
    pub(super) t: Option<StudentsT>,
    /// Latest in-order closed candle's open time.
    pub(super) last_open: Option<Nanos>,
    /// Open time and last trade id of the latest in-order closed candle,
    /// when the venue gives trade ids.
    pub(super) last_ids: Option<(Nanos, u64)>,
    /// Open time and close of the latest valid in-order closed candle.
    pub(super) last_valid: Option<(Nanos, f64)>,
    pub(super) recent: [Option<Seen>; RECENT],
    pub(super) recent_pos: usize,
    pub(super) var: f64,
    pub(super) history: usize,
    pub(super) ranges: [f64; RING],
    pub(super) volumes: [f64; RING],
    pub(super) ring_len: usize,
    pub(super) ring_pos: usize,
    /// The range scale's tick, spread and volume state (see [`ThinMarket`]).
    pub(super) thin: ThinMarket,
    /// Which rules' incidents fire (see [`Firing`]).
    pub(super) firing: Firing,
}

impl CandleChecker {
    /// A checker for one stream. The interval is taken from the stream kind
    /// (`Kline(secs)`, or 60 s for `TradeCandles`); other kinds fall back to
    /// one minute.
    pub fn new(cfg: &CandleConfig, venue: Venue, symbol: Symbol, stream: StreamKind) -> Self {
        let interval_secs = match stream {
            StreamKind::Kline(s) if s > 0 => s,
            _ => 60,
        };
        let interval = f64::from(interval_secs);
        let half_life = (cfg.half_life_secs / interval).max(cfg.min_half_life_candles);
        let alpha = if half_life.is_finite() && half_life > 0.0 {
            1.0 - 0.5f64.powf(1.0 / half_life)
        } else {
            1.0 - 0.5f64.powf(1.0 / 45.0)
        };
        let nu = if cfg.t_nu.is_finite() && cfg.t_nu > 2.0 {
            cfg.t_nu
        } else {
            4.0
        };
        let t = StudentsT::new(0.0, 1.0, nu).ok();
        let t_scale = (nu / (nu - 2.0)).sqrt();
        let return_threshold = if cfg.return_threshold.is_finite() {
            cfg.return_threshold.clamp(MIN_THRESHOLD, MAX_THRESHOLD)
        } else {
            7.0
        };
        let z_crit = t
            .as_ref()
            .map_or(f64::INFINITY, |t| critical_z(t, t_scale, return_threshold));
        let window = cfg.range_window.clamp(3, RING);
        CandleChecker {
            key: IncidentKey::stream(venue, &symbol, stream.name()),
            names: Names::new(venue, symbol, interval_secs),
            interval_ns: Nanos::from(interval_secs) * SECOND,
            expect_every_interval: stream != StreamKind::TradeCandles,
            min_history: cfg.min_history.max(1),
            alpha,
            winsor_z: cfg.winsor_z,
            wick_k: cfg.wick_k,
            window,
            range_floor: cfg.range_floor_bp * 1e-4,
            sigma_floor: cfg.sigma_floor_bp * 1e-4 * (interval / 60.0).sqrt(),
            vwap_tol: cfg.vwap_tolerance,
            return_threshold,
            z_crit,
            t_scale,
            t,
            last_open: None,
            last_ids: None,
            last_valid: None,
            recent: [None; RECENT],
            recent_pos: 0,
            var: 0.0,
            history: 0,
            ranges: [0.0; RING],
            volumes: [0.0; RING],
            ring_len: 0,
            ring_pos: 0,
            thin: ThinMarket::new(
                cfg.tick,
                cfg.spread_floor_k,
                cfg.spread_half_life_candles,
                cfg.volume_weight_ref,
            ),
            firing: Firing::default(),
        }
    }

    /// For candle streams that send nothing for an interval without trades
    /// (Kraken's `ohlc`): a missing interval is not a gap.
    pub fn sparse(mut self) -> Self {
        self.expect_every_interval = false;
        self
    }

    /// The range scale (volume-weighted median true range of the trailing
    /// window, floored at a fraction of `price`, the tick and the typical
    /// spread) the next closed candle will be judged
    /// against, once there is enough history to judge at all.
    pub fn range_scale_for(&self, price: f64) -> Option<f64> {
        (self.history >= self.min_history).then(|| self.range_scale(price))
    }

    /// Closed candles of history in the volatility baseline.
    pub fn history(&self) -> usize {
        self.history
    }

    /// The incident key every verdict of this checker is about.
    pub fn key(&self) -> &IncidentKey {
        &self.key
    }

    /// One candle update (forming or closed): what each rule concludes.
    /// Closed candles are checked; forming ones are only used to notice a
    /// closed candle that changes afterwards. Every verdict must reach the
    /// incident book under [`CandleChecker::key`] ([`CandleVerdicts::report`]):
    /// the checker remembers which of its incidents fire from them.
    pub fn on_candle(&mut self, c: &Candle) -> CandleVerdicts {
        self.check(c, None)
    }

    /// Like [`CandleChecker::on_candle`] for a closed candle from a history
    /// file that has already been put in time order, but which stood after a
    /// later candle (open time `latest_before`) in its own file: it is
    /// checked and used in its sorted place, and reported as out of order.
    pub fn on_candle_misplaced(&mut self, c: &Candle, latest_before: Nanos) -> CandleVerdicts {
        self.check(c, Some(latest_before))
    }

    fn check(&mut self, c: &Candle, misplaced: Option<Nanos>) -> CandleVerdicts {
        let seen = Seen::of(c);
        if !c.closed {
            return CandleVerdicts {
                gap: self.on_forming(&seen),
                ..CandleVerdicts::default()
            };
        }
        let mut fault = self.sequence(c, &seen);
        let in_order = matches!(
            fault,
            None | Some(SeqFault::Missing { .. } | SeqFault::TradeIds { .. })
        );
        if let (None, Some(latest)) = (&fault, misplaced) {
            fault = Some(SeqFault::OutOfOrder { latest });
        }
        let gap = match fault {
            Some(f) => self.fire_gap(&seen, f),
            None => self.firing.clean(Rule::Gap, &self.names, &seen),
        };
        if in_order {
            self.last_open = Some(c.open_ns);
            self.last_ids = c.last_trade_id.map(|l| (c.open_ns, l));
            self.remember(seen);
        }

        let violation = hard_violation(c, self.vwap_tol);
        let valid = violation.is_none();
        let invalid = match violation {
            Some(v) => self.fire_invalid(&seen, v),
            None => self.firing.clean(Rule::Invalid, &self.names, &seen),
        };
        // Bad or misplaced candles stay out of the baseline.
        let abnormal = if valid && in_order {
            self.statistics(c, &seen)
        } else {
            Verdict::Quiet
        };
        CandleVerdicts {
            gap,
            invalid,
            abnormal,
        }
    }
}
