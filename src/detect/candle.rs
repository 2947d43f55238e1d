//! Candle checks: hard rules (OHLC order, price and volume signs, VWAP),
//! sequence rules (grid, missing, duplicate, out of order, revised closed
//! candles) and a streaming statistical test of each closed candle against
//! the stream's own robust volatility.
//!
//! One [`CandleChecker`] watches one (venue, symbol, stream). It keeps a
//! fixed-size state (no growth with history), reads only the time it is
//! given, and never does I/O. It must never page on volume alone and never
//! let a bad candle (invalid, or the abnormal candle itself beyond its
//! winsorised share) move the volatility baseline.

use crate::alert::{Alert, Evidence, IncidentKey, Incidents, Kind, Severity};
use crate::model::{Candle, Nanos, SECOND, StreamKind, Symbol, Venue, format_rfc3339_ms};
use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};

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

/// Capacity of the trailing range/volume rings.
const RING: usize = 32;
/// How many recent closed candles are remembered to recognise revisions and
/// duplicates of candles that are not the latest.
const RECENT: usize = 16;
/// Cap on the reported -log10 p (the cdf underflows far out in the tail).
const MAX_SCORE: f64 = 300.0;
/// Accepted range of `return_threshold` (-log10 p).
const MIN_THRESHOLD: f64 = 0.1;
/// See [`MIN_THRESHOLD`]; 100 is far beyond any useful page.
const MAX_THRESHOLD: f64 = 100.0;

/// The numbers of one closed candle, kept to recognise a later change.
#[derive(Copy, Clone, Debug)]
struct Seen {
    open_ns: Nanos,
    open: f64,
    high: f64,
    low: f64,
    close: f64,
    volume: f64,
    quote_volume: Option<f64>,
    trades: Option<u64>,
}

impl Seen {
    fn of(c: &Candle) -> Self {
        Seen {
            open_ns: c.open_ns,
            open: c.open,
            high: c.high,
            low: c.low,
            close: c.close,
            volume: c.volume,
            quote_volume: c.quote_volume,
            trades: c.trades,
        }
    }

    /// Bitwise equality, so a NaN that stays NaN is not a change.
    fn same(&self, o: &Seen) -> bool {
        let b = |a: f64, b: f64| a.to_bits() == b.to_bits();
        b(self.open, o.open)
            && b(self.high, o.high)
            && b(self.low, o.low)
            && b(self.close, o.close)
            && b(self.volume, o.volume)
            && self.quote_volume.map(f64::to_bits) == o.quote_volume.map(f64::to_bits)
            && self.trades == o.trades
    }

    /// The first field that differs, for the summary.
    fn first_change(&self, new: &Seen) -> (&'static str, f64, f64) {
        let fields = [
            ("open", self.open, new.open),
            ("high", self.high, new.high),
            ("low", self.low, new.low),
            ("close", self.close, new.close),
            ("volume", self.volume, new.volume),
            (
                "quote volume",
                self.quote_volume.unwrap_or(f64::NAN),
                new.quote_volume.unwrap_or(f64::NAN),
            ),
        ];
        for (name, a, b) in fields {
            if a.to_bits() != b.to_bits() {
                return (name, a, b);
            }
        }
        let t = |v: Option<u64>| v.map_or(f64::NAN, |n| n as f64);
        ("trade count", t(self.trades), t(new.trades))
    }
}

/// What is wrong with a candle that breaks a hard rule.
#[derive(Clone, Debug, PartialEq)]
enum Violation {
    BadPrice(&'static str, f64),
    BadVolume(f64),
    HighBelow(&'static str, f64),
    LowAbove(&'static str, f64),
    BadQuoteVolume(f64),
    VwapOutside(f64),
}

/// Checks the hard rules; `None` when the candle is sound.
fn hard_violation(c: &Candle, tol: f64) -> Option<Violation> {
    for (name, v) in [
        ("open", c.open),
        ("high", c.high),
        ("low", c.low),
        ("close", c.close),
    ] {
        if !(v.is_finite() && v > 0.0) {
            return Some(Violation::BadPrice(name, v));
        }
    }
    if !(c.volume.is_finite() && c.volume >= 0.0) {
        return Some(Violation::BadVolume(c.volume));
    }
    if c.high < c.open {
        return Some(Violation::HighBelow("open", c.open));
    }
    if c.high < c.close {
        return Some(Violation::HighBelow("close", c.close));
    }
    if c.low > c.open {
        return Some(Violation::LowAbove("open", c.open));
    }
    if c.low > c.close {
        return Some(Violation::LowAbove("close", c.close));
    }
    if let Some(qv) = c.quote_volume {
        if !(qv.is_finite() && qv >= 0.0) || (c.volume == 0.0 && qv > 0.0) {
            return Some(Violation::BadQuoteVolume(qv));
        }
        if c.volume > 0.0 {
            let vwap = qv / c.volume;
            if !(vwap >= c.low * (1.0 - tol) && vwap <= c.high * (1.0 + tol)) {
                return Some(Violation::VwapOutside(vwap));
            }
        }
    }
    None
}

impl Violation {
    fn describe(&self, c: &Candle) -> String {
        match self {
            Violation::BadPrice(f, v) => format!("{f} price {}", num(*v)),
            Violation::BadVolume(v) => format!("volume {}", num(*v)),
            Violation::HighBelow(f, v) => {
                format!("high {} below {f} {}", num(c.high), num(*v))
            }
            Violation::LowAbove(f, v) => format!("low {} above {f} {}", num(c.low), num(*v)),
            Violation::BadQuoteVolume(qv) => format!(
                "quote volume {} with base volume {}",
                num(*qv),
                num(c.volume)
            ),
            Violation::VwapOutside(v) => format!(
                "VWAP {} outside its own range {}..{}",
                num(*v),
                num(c.low),
                num(c.high)
            ),
        }
    }

    fn rule(&self) -> &'static str {
        match self {
            Violation::BadPrice(..) => "price > 0 and finite",
            Violation::BadVolume(_) => "volume >= 0 and finite",
            Violation::HighBelow(..) => "high >= max(open, close)",
            Violation::LowAbove(..) => "low <= min(open, close)",
            Violation::BadQuoteVolume(_) => "quote volume >= 0, zero when volume is zero",
            Violation::VwapOutside(_) => "low <= quote_volume/volume <= high",
        }
    }
}

/// What is wrong with a candle's place in the sequence.
enum SeqFault {
    Missing { count: i64, from: Nanos, to: Nanos },
    OffGrid,
    Duplicate,
    OutOfOrder { latest: Nanos },
    Revised { old: Seen },
    TradeIds { expected: u64, got: u64 },
}

/// The outcome of the statistical test of one candle.
#[derive(Default)]
struct Stat {
    ret: f64,
    z: f64,
    sigma: f64,
    wick: f64,
    wick_upper: bool,
    wick_ratio: f64,
    scale: f64,
    return_flag: bool,
    wick_flag: bool,
}

/// Checks one candle stream (see the module docs).
pub struct CandleChecker {
    venue: Venue,
    symbol: Symbol,
    key: IncidentKey,
    label: String,
    interval_ns: Nanos,
    /// Missing intervals are normal for candles built from trades.
    expect_every_interval: bool,
    min_history: usize,
    alpha: f64,
    winsor_z: f64,
    wick_k: f64,
    window: usize,
    range_floor: f64,
    sigma_floor: f64,
    vwap_tol: f64,
    return_threshold: f64,
    /// Unit-variance |z| at which the return surprise reaches the threshold
    /// (the inverse cdf is computed once here, not per candle).
    z_crit: f64,
    /// `sqrt(nu / (nu - 2))`: unit-variance z to the standard t statistic.
    t_scale: f64,
    t: Option<StudentsT>,
    /// Latest in-order closed candle's open time.
    last_open: Option<Nanos>,
    /// Open time and last trade id of the latest in-order closed candle,
    /// when the venue gives trade ids.
    last_ids: Option<(Nanos, u64)>,
    /// Open time and close of the latest valid in-order closed candle.
    last_valid: Option<(Nanos, f64)>,
    recent: [Option<Seen>; RECENT],
    recent_pos: usize,
    var: f64,
    history: usize,
    ranges: [f64; RING],
    volumes: [f64; RING],
    ring_len: usize,
    ring_pos: usize,
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
            venue,
            key: IncidentKey::stream(venue, &symbol, stream.name()),
            symbol,
            label: crate::model::interval_name(interval_secs),
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
        }
    }

    /// For candle streams that send nothing for an interval without trades
    /// (Kraken's `ohlc`): a missing interval is not a gap.
    pub fn sparse(mut self) -> Self {
        self.expect_every_interval = false;
        self
    }

    /// The range scale (median true range of the trailing window, floored
    /// at a fraction of `price`) the next closed candle will be judged
    /// against, once there is enough history to judge at all.
    pub fn range_scale_for(&self, price: f64) -> Option<f64> {
        (self.history >= self.min_history).then(|| self.range_scale(price))
    }

    /// Closed candles of history in the volatility baseline.
    pub fn history(&self) -> usize {
        self.history
    }

    /// One candle update (forming or closed) seen at engine time `now`.
    /// Closed candles are checked; forming ones are only used to notice a
    /// closed candle that changes afterwards.
    pub fn on_candle(&mut self, now: Nanos, c: &Candle, inc: &mut Incidents, out: &mut Vec<Alert>) {
        self.check(now, c, None, inc, out);
    }

    /// Like [`CandleChecker::on_candle`] for a closed candle from a history
    /// file that has already been put in time order, but which stood after a
    /// later candle (open time `latest_before`) in its own file: it is
    /// checked and used in its sorted place, and reported as out of order.
    pub fn on_candle_misplaced(
        &mut self,
        now: Nanos,
        c: &Candle,
        latest_before: Nanos,
        inc: &mut Incidents,
        out: &mut Vec<Alert>,
    ) {
        self.check(now, c, Some(latest_before), inc, out);
    }

    fn check(
        &mut self,
        now: Nanos,
        c: &Candle,
        misplaced: Option<Nanos>,
        inc: &mut Incidents,
        out: &mut Vec<Alert>,
    ) {
        if !c.closed {
            self.on_forming(now, c, inc, out);
            return;
        }
        let seen = Seen::of(c);
        let mut fault = self.sequence(c, &seen);
        let in_order = matches!(
            fault,
            None | Some(SeqFault::Missing { .. } | SeqFault::TradeIds { .. })
        );
        if let (None, Some(latest)) = (&fault, misplaced) {
            fault = Some(SeqFault::OutOfOrder { latest });
        }
        match &fault {
            Some(f) => self.fire_gap(now, c, f, inc, out),
            None => self.resolve(
                now,
                Kind::CandleGap,
                c,
                "is in sequence again: candle history is complete from here",
                inc,
                out,
            ),
        }
        if in_order {
            self.last_open = Some(c.open_ns);
            self.last_ids = c.last_trade_id.map(|l| (c.open_ns, l));
            self.remember(seen);
        }

        let violation = hard_violation(c, self.vwap_tol);
        match &violation {
            Some(v) => self.fire_invalid(now, c, v, inc, out),
            None => self.resolve(
                now,
                Kind::CandleInvalid,
                c,
                "passes the hard rules again: candle data can be used",
                inc,
                out,
            ),
        }
        if violation.is_some() || !in_order {
            // Bad or misplaced candles stay out of the baseline.
            return;
        }
        self.statistics(now, c, inc, out);
    }

    /// Resolves an open incident of `kind` on a clean candle (the summary is
    /// only built when there is something to resolve).
    fn resolve(
        &self,
        now: Nanos,
        kind: Kind,
        c: &Candle,
        what: &str,
        inc: &mut Incidents,
        out: &mut Vec<Alert>,
    ) {
        if !inc.is_open(kind, &self.key) {
            return;
        }
        let summary = format!(
            "{} {} {} candle {} {what}.",
            self.venue,
            self.symbol,
            self.label,
            self.when(c.open_ns)
        );
        let ev = ohlcv(
            Evidence::new().with("open_time", format_rfc3339_ms(c.open_ns)),
            c,
        );
        inc.clear(now, kind, &self.key, summary, ev, out);
    }

    /// A forming update: only looks for a change to an already-closed candle.
    fn on_forming(&mut self, now: Nanos, c: &Candle, inc: &mut Incidents, out: &mut Vec<Alert>) {
        let Some(last) = self.last_open else { return };
        if c.open_ns > last {
            return;
        }
        let seen = Seen::of(c);
        let fault = match self.find_recent(c.open_ns) {
            Some((_, old)) if old.same(&seen) => return,
            Some((_, old)) => SeqFault::Revised { old },
            None => SeqFault::OutOfOrder { latest: last },
        };
        self.fire_gap(now, c, &fault, inc, out);
        if let Some((i, _)) = self.find_recent(c.open_ns) {
            // Remember the revised values so a repeat is not news again.
            if let Some(slot) = self.recent.get_mut(i) {
                *slot = Some(seen);
            }
        }
    }

    fn find_recent(&self, open_ns: Nanos) -> Option<(usize, Seen)> {
        self.recent
            .iter()
            .enumerate()
            .find_map(|(i, s)| s.filter(|s| s.open_ns == open_ns).map(|s| (i, s)))
    }

    fn remember(&mut self, seen: Seen) {
        if let Some(slot) = self.recent.get_mut(self.recent_pos) {
            *slot = Some(seen);
        }
        self.recent_pos = (self.recent_pos + 1) % RECENT;
    }

    /// Where a closed candle sits relative to the ones before it.
    fn sequence(&mut self, c: &Candle, seen: &Seen) -> Option<SeqFault> {
        if self.interval_ns <= 0 || c.open_ns.rem_euclid(self.interval_ns) != 0 {
            return Some(SeqFault::OffGrid);
        }
        let last = self.last_open?;
        if c.open_ns > last {
            let step = c.open_ns.saturating_sub(last) / self.interval_ns;
            if step > 1 && self.expect_every_interval {
                return Some(SeqFault::Missing {
                    count: step - 1,
                    from: last.saturating_add(self.interval_ns),
                    to: c.open_ns.saturating_sub(self.interval_ns),
                });
            }
            if step == 1 && self.expect_every_interval {
                // Venues that give first/last trade ids (Binance `f`, `L`)
                // number trades without holes: the next candle starts one
                // past the previous one's last id.
                if let (Some((o, l)), Some(f)) = (self.last_ids, c.first_trade_id) {
                    let expected = l.saturating_add(1);
                    if o == last && f != expected {
                        return Some(SeqFault::TradeIds { expected, got: f });
                    }
                }
            }
            return None;
        }
        match self.find_recent(c.open_ns) {
            Some((i, old)) if !old.same(seen) => {
                if let Some(slot) = self.recent.get_mut(i) {
                    *slot = Some(*seen);
                }
                Some(SeqFault::Revised { old })
            }
            Some(_) => Some(SeqFault::Duplicate),
            None => Some(SeqFault::OutOfOrder { latest: last }),
        }
    }

    fn fire_gap(
        &self,
        now: Nanos,
        c: &Candle,
        f: &SeqFault,
        inc: &mut Incidents,
        out: &mut Vec<Alert>,
    ) {
        let head = format!("{} {} {}", self.venue, self.symbol, self.label);
        let mut ev = Evidence::new().with("open_time", format_rfc3339_ms(c.open_ns));
        let summary = match f {
            SeqFault::Missing { count, from, to } => {
                ev = ev
                    .with("fault", "missing")
                    .with("missing_intervals", *count)
                    .with("missing_from", format_rfc3339_ms(*from))
                    .with("missing_to", format_rfc3339_ms(*to));
                let what = if *count == 1 {
                    format!("candle missing: {} never arrived", self.when(*from))
                } else {
                    format!(
                        "candles missing: {count} intervals {} to {} never arrived",
                        self.when(*from),
                        self.when(*to)
                    )
                };
                format!(
                    "{head} {what} (next candle {}): history has a hole, backfill before using it.",
                    self.when(c.open_ns)
                )
            }
            SeqFault::OffGrid => {
                ev = ev
                    .with("fault", "off_grid")
                    .with("interval_secs", self.interval_ns / SECOND);
                format!(
                    "{head} candle at {} is not on the {} grid: candle times are wrong, do not align it with other data.",
                    format_rfc3339_ms(c.open_ns),
                    self.label
                )
            }
            SeqFault::Duplicate => {
                ev = ev.with("fault", "duplicate");
                format!(
                    "{head} candle {} arrived twice with the same values: the feed repeats candles, count each interval once.",
                    self.when(c.open_ns)
                )
            }
            SeqFault::OutOfOrder { latest } => {
                ev = ev
                    .with("fault", "out_of_order")
                    .with("latest_open_time", format_rfc3339_ms(*latest));
                format!(
                    "{head} candle {} arrived after {} (out of order): candles are not in time order, re-fetch or sort before using them.",
                    self.when(c.open_ns),
                    self.when(*latest)
                )
            }
            SeqFault::TradeIds { expected, got } => {
                ev = ev
                    .with("fault", "trade_ids")
                    .with("expected_first_trade_id", *expected)
                    .with("first_trade_id", *got);
                let what = if got > expected {
                    format!("skips {} trade ids", got - expected)
                } else {
                    format!("repeats {} trade ids", expected - got)
                };
                format!(
                    "{head} candle {} {what} after the previous candle (first id {got}, expected {expected}): its numbers miss or double-count trades, re-fetch before using it.",
                    self.when(c.open_ns)
                )
            }
            SeqFault::Revised { old } => {
                let (field, was, now_v) = old.first_change(&Seen::of(c));
                ev = ev
                    .with("fault", "revised")
                    .with("changed", field)
                    .num("was", was, 10)
                    .num("now", now_v, 10);
                format!(
                    "{head} candle {} changed after it closed ({field} {} -> {}): closed candles must not change, re-fetch before trusting it.",
                    self.when(c.open_ns),
                    num(was),
                    num(now_v)
                )
            }
        };
        inc.fire(
            now,
            Kind::CandleGap,
            &self.key,
            Severity::Warning,
            true,
            summary,
            ohlcv(ev, c),
            out,
        );
    }

    fn fire_invalid(
        &self,
        now: Nanos,
        c: &Candle,
        v: &Violation,
        inc: &mut Incidents,
        out: &mut Vec<Alert>,
    ) {
        let summary = format!(
            "{} {} {} candle {} has {}: candle data is corrupt, do not trade on it.",
            self.venue,
            self.symbol,
            self.label,
            self.when(c.open_ns),
            v.describe(c)
        );
        let mut ev = ohlcv(
            Evidence::new().with("open_time", format_rfc3339_ms(c.open_ns)),
            c,
        )
        .with("rule", v.rule());
        if let Violation::VwapOutside(vwap) = v {
            ev = ev
                .num("vwap", *vwap, 10)
                .num("tolerance", self.vwap_tol, 12);
        }
        inc.fire(
            now,
            Kind::CandleInvalid,
            &self.key,
            Severity::Critical,
            true,
            summary,
            ev,
            out,
        );
    }

    /// The statistical test of a valid, in-order closed candle, then the
    /// (winsorised) baseline update.
    fn statistics(&mut self, now: Nanos, c: &Candle, inc: &mut Incidents, out: &mut Vec<Alert>) {
        let steps = match self.last_valid {
            Some((o, _)) if self.interval_ns > 0 => {
                ((c.open_ns.saturating_sub(o)) / self.interval_ns).max(1)
            }
            _ => 1,
        };
        let prev_close = self.last_valid.map(|(_, p)| p);
        let ret = prev_close.map_or(0.0, |p| (c.close / p).ln());
        let hl = (c.high / c.low).ln();
        let sigma = self.var.sqrt().max(self.sigma_floor);
        let tested = self.history >= self.min_history;
        let mut s = Stat {
            ret,
            sigma,
            ..Stat::default()
        };
        if tested {
            let sd = sigma * (steps as f64).sqrt();
            s.z = if sd > 0.0 { ret / sd } else { 0.0 };
            s.return_flag = s.z.is_finite() && s.z.abs() >= self.z_crit;
            s.scale = self.range_scale(c.close);
            let upper = c.high - c.open.max(c.close);
            let lower = c.open.min(c.close) - c.low;
            s.wick_upper = upper >= lower;
            s.wick = upper.max(lower);
            s.wick_ratio = if s.scale > 0.0 { s.wick / s.scale } else { 0.0 };
            s.wick_flag = s.wick_ratio.is_finite() && s.wick_ratio > self.wick_k;
            if s.return_flag || s.wick_flag {
                self.fire_abnormal(now, c, &s, inc, out);
            } else {
                self.resolve(
                    now,
                    Kind::AbnormalCandle,
                    c,
                    "is within its usual range again",
                    inc,
                    out,
                );
            }
        }

        // Baseline update: per-candle variance from close-to-close return
        // (per interval) and the Parkinson range estimator, each capped at
        // winsor_z baseline deviations once the baseline exists.
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
        if tr.is_finite() {
            self.push_ring(tr, c.volume);
        }
        self.last_valid = Some((c.open_ns, c.close));
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

    /// Median true range of the trailing window, floored at a fraction of
    /// price.
    fn range_scale(&self, price: f64) -> f64 {
        median(self.ranges.get(..self.ring_len).unwrap_or(&[])).max(self.range_floor * price)
    }

    fn fire_abnormal(
        &self,
        now: Nanos,
        c: &Candle,
        s: &Stat,
        inc: &mut Incidents,
        out: &mut Vec<Alert>,
    ) {
        let score = self.surprise(s.z);
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
                score,
                self.return_threshold
            ));
        }
        let summary = format!(
            "{} {} {} candle {} has {}: abnormal print, check other venues before acting on it.",
            self.venue,
            self.symbol,
            self.label,
            self.when(c.open_ns),
            parts.join(" and ")
        );
        let vol_median = median(self.volumes.get(..self.ring_len).unwrap_or(&[]));
        let ev = ohlcv(
            Evidence::new().with("open_time", format_rfc3339_ms(c.open_ns)),
            c,
        )
        .with(
            "statistic",
            match (s.wick_flag, s.return_flag) {
                (true, true) => "wick_ratio+return_surprise",
                (true, false) => "wick_ratio",
                _ => "return_surprise",
            },
        )
        .num("return_pct", 100.0 * s.ret, 4)
        .num("return_surprise", score, 2)
        .num("return_threshold", self.return_threshold, 2)
        .num("baseline_sigma_pct", 100.0 * s.sigma, 5)
        .num("wick", s.wick, 10)
        .num("wick_ratio", s.wick_ratio, 2)
        .num("wick_threshold", self.wick_k, 2)
        .num("baseline_range_scale", s.scale, 10)
        .num(
            "volume_vs_median",
            if vol_median > 0.0 {
                c.volume / vol_median
            } else {
                f64::NAN
            },
            2,
        )
        .with("history", self.history);
        inc.fire(
            now,
            Kind::AbnormalCandle,
            &self.key,
            Severity::Warning,
            true,
            summary,
            ev,
            out,
        );
    }

    /// -log10 of the two-sided p-value of a unit-variance Student-t `z`.
    fn surprise(&self, z: f64) -> f64 {
        match &self.t {
            Some(t) => surprise(t, self.t_scale, z),
            None => f64::NAN,
        }
    }

    /// The candle's open time for a summary: minute precision when the
    /// interval is whole minutes.
    fn when(&self, ns: Nanos) -> String {
        let full = format_rfc3339_ms(ns);
        let cut = if self.interval_ns % (60 * SECOND) == 0 {
            16
        } else {
            19
        };
        match full.get(..cut) {
            Some(s) => format!("{s}Z"),
            None => full,
        }
    }
}

/// -log10 of the two-sided p-value of unit-variance Student-t `z`. Only the
/// cdf is used, and only with a finite argument (statrs panics on NaN and
/// its inverse cdf is inaccurate far in the tail).
fn surprise(t: &StudentsT, t_scale: f64, z: f64) -> f64 {
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
fn critical_z(t: &StudentsT, t_scale: f64, threshold: f64) -> f64 {
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

/// Adds the candle's OHLCV to evidence.
fn ohlcv(ev: Evidence, c: &Candle) -> Evidence {
    let mut ev = ev
        .num("open", c.open, 10)
        .num("high", c.high, 10)
        .num("low", c.low, 10)
        .num("close", c.close, 10)
        .num("volume", c.volume, 10);
    if let Some(q) = c.quote_volume {
        ev = ev.num("quote_volume", q, 8);
    }
    if let Some(n) = c.trades {
        ev = ev.with("trades", n);
    }
    ev
}

/// Median of a small slice (copied to the stack; at most [`RING`] values).
fn median(xs: &[f64]) -> f64 {
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

/// A price or quantity for a summary: about 8 significant digits, thousands
/// separators, at least one decimal (`85,100.0`, `22.009`).
pub fn num(x: f64) -> String {
    if !x.is_finite() {
        return format!("{x}");
    }
    let mag = if x == 0.0 {
        0
    } else {
        x.abs().log10().floor() as i32
    };
    let decimals = (7 - mag).clamp(1, 10) as usize;
    let s = format!("{:.*}", decimals, x.abs());
    let s = match s.split_once('.') {
        Some((i, f)) => {
            let f = f.trim_end_matches('0');
            let f = if f.is_empty() { "0" } else { f };
            let mut grouped = String::with_capacity(i.len() + i.len() / 3 + f.len() + 2);
            for (k, ch) in i.chars().enumerate() {
                if k > 0 && (i.len() - k).is_multiple_of(3) {
                    grouped.push(',');
                }
                grouped.push(ch);
            }
            format!("{grouped}.{f}")
        }
        None => s,
    };
    if x < 0.0 { format!("-{s}") } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::State;
    use proptest::prelude::*;

    const MIN: Nanos = 60 * SECOND;
    /// 2025-04-15T07:45:00Z.
    const T0: Nanos = 1_744_703_100 * SECOND;

    /// Values of a real Binance USD-M BTCUSDT minute (2025-04-15 07:45 UTC,
    /// from fixtures/candles), moved to open time `open_ns`.
    fn real(open_ns: Nanos) -> Candle {
        Candle {
            open_ns,
            interval_secs: 60,
            open: 85653.0,
            high: 85653.1,
            low: 85629.4,
            close: 85634.0,
            volume: 42.874,
            quote_volume: Some(3_672_005.824_2),
            trades: Some(869),
            first_trade_id: None,
            last_trade_id: None,
            closed: true,
            exch_ns: None,
        }
    }

    fn checker(stream: StreamKind) -> CandleChecker {
        CandleChecker::new(
            &CandleConfig::default(),
            Venue::BinanceUsdm,
            "BTC/USDT".into(),
            stream,
        )
    }

    fn run(ck: &mut CandleChecker, inc: &mut Incidents, c: &Candle) -> Vec<Alert> {
        let mut out = Vec::new();
        ck.on_candle(c.open_ns + MIN, c, inc, &mut out);
        out
    }

    /// One bad candle after a clean one: exactly one candle_invalid open.
    fn invalid_summary(mutate: impl Fn(&mut Candle)) -> String {
        let mut ck = checker(StreamKind::Kline(60));
        let mut inc = Incidents::new();
        assert!(run(&mut ck, &mut inc, &real(T0)).is_empty());
        let mut bad = real(T0 + MIN);
        mutate(&mut bad);
        let out = run(&mut ck, &mut inc, &bad);
        assert_eq!(out.len(), 1, "{out:#?}");
        assert_eq!(out[0].kind, Kind::CandleInvalid);
        assert_eq!(out[0].severity, Severity::Critical);
        assert_eq!(out[0].state, State::Open);
        assert_eq!(out[0].stream.as_deref(), Some("kline_1m"));
        let summary = out[0].summary.clone();
        // The next clean candle resolves it.
        let out = run(&mut ck, &mut inc, &real(T0 + 2 * MIN));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].state, State::Resolved);
        summary
    }

    #[test]
    fn hard_rule_high_below_close() {
        let s = invalid_summary(|c| c.high = c.close - 1.0);
        assert_eq!(
            s,
            "binance-usdm BTC/USDT 1m candle 2025-04-15T07:46Z has high 85,633.0 below open 85,653.0: candle data is corrupt, do not trade on it."
        );
        let s = invalid_summary(|c| {
            c.open = 85600.0;
            c.high = 85620.0;
        });
        assert!(s.contains("high 85,620.0 below close 85,634.0"), "{s}");
    }

    #[test]
    fn hard_rule_low_above_open_or_close() {
        let s = invalid_summary(|c| c.low = 85640.0);
        assert!(s.contains("low 85,640.0 above close 85,634.0"), "{s}");
        let s = invalid_summary(|c| {
            c.close = 85660.0;
            c.high = 85660.0;
            c.low = 85655.0;
        });
        assert!(s.contains("low 85,655.0 above open 85,653.0"), "{s}");
    }

    #[test]
    fn hard_rule_prices_positive_and_finite() {
        for (v, shown) in [(0.0, "0.0"), (-1.0, "-1.0"), (f64::NAN, "NaN")] {
            let s = invalid_summary(|c| c.low = v);
            assert!(s.contains(&format!("low price {shown}")), "{s}");
        }
        let s = invalid_summary(|c| c.high = f64::INFINITY);
        assert!(s.contains("high price inf"), "{s}");
    }

    #[test]
    fn hard_rule_volume_non_negative() {
        let s = invalid_summary(|c| c.volume = -0.5);
        assert!(s.contains("volume -0.5"), "{s}");
        let s = invalid_summary(|c| c.volume = f64::NAN);
        assert!(s.contains("volume NaN"), "{s}");
    }

    #[test]
    fn hard_rule_vwap_inside_range() {
        // VWAP 3,672,005.8242 / 42.874 = 85,646.4 lies in [85,629.4, 85,653.1];
        // doubling the quote volume puts it far above the high.
        let s = invalid_summary(|c| c.quote_volume = Some(2.0 * 3_672_005.824_2));
        assert!(s.contains("VWAP 171,292.9"), "{s}");
        assert!(
            s.contains("outside its own range 85,629.4..85,653.1"),
            "{s}"
        );
        let s = invalid_summary(|c| {
            c.volume = 0.0;
        });
        assert!(
            s.contains("quote volume 3,672,005.8 with base volume 0.0"),
            "{s}"
        );
        // Zero volume with zero quote volume is a valid empty minute.
        let mut ck = checker(StreamKind::Kline(60));
        let mut inc = Incidents::new();
        let mut empty = real(T0);
        empty.volume = 0.0;
        empty.quote_volume = Some(0.0);
        empty.open = 85634.0;
        empty.high = 85634.0;
        empty.low = 85634.0;
        assert!(run(&mut ck, &mut inc, &empty).is_empty());
    }

    #[test]
    fn vwap_on_the_edge_within_tolerance_is_fine() {
        let mut c = real(T0);
        c.quote_volume = Some(c.high * c.volume * (1.0 + 1e-12));
        assert_eq!(hard_violation(&c, 1e-9), None);
        c.quote_volume = Some(c.high * c.volume * (1.0 + 1e-6));
        assert!(matches!(
            hard_violation(&c, 1e-9),
            Some(Violation::VwapOutside(_))
        ));
    }

    fn faults(out: &[Alert]) -> Vec<String> {
        out.iter()
            .filter(|a| a.kind == Kind::CandleGap && a.state != State::Resolved)
            .map(|a| {
                a.evidence
                    .get("fault")
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    }

    #[test]
    fn sequence_rules() {
        let mut ck = checker(StreamKind::Kline(60));
        let mut inc = Incidents::new();
        let mut out = Vec::new();
        for open in [T0, T0 + MIN, T0 + 4 * MIN, T0 + 4 * MIN, T0 + 2 * MIN] {
            ck.on_candle(open + MIN, &real(open), &mut inc, &mut out);
        }
        assert_eq!(faults(&out), ["missing", "duplicate", "out_of_order"]);
        let first = &out[0];
        assert_eq!(first.state, State::Open);
        assert_eq!(first.evidence.get("missing_intervals").unwrap(), 2);
        assert_eq!(
            first.summary,
            "binance-usdm BTC/USDT 1m candles missing: 2 intervals 2025-04-15T07:47Z to 2025-04-15T07:48Z never arrived (next candle 2025-04-15T07:49Z): history has a hole, backfill before using it."
        );
        // Further faults in the same episode are updates of one incident.
        assert!(out[1..].iter().all(|a| a.state == State::Update));
        assert!(out.iter().all(|a| a.incident == first.incident));
        // Off the grid.
        let mut off = real(T0 + 5 * MIN + SECOND);
        off.closed = true;
        ck.on_candle(T0 + 7 * MIN, &off, &mut inc, &mut out);
        assert_eq!(faults(&out).last().unwrap(), "off_grid");
        // A clean next candle resolves.
        ck.on_candle(T0 + 6 * MIN, &real(T0 + 5 * MIN), &mut inc, &mut out);
        assert_eq!(out.last().unwrap().state, State::Resolved);
    }

    #[test]
    fn trade_built_candles_may_skip_minutes_but_not_repeat() {
        let mut ck = checker(StreamKind::TradeCandles);
        let mut inc = Incidents::new();
        let mut out = Vec::new();
        for open in [T0, T0 + 3 * MIN, T0 + 3 * MIN, T0 + MIN] {
            ck.on_candle(open + MIN, &real(open), &mut inc, &mut out);
        }
        assert_eq!(faults(&out), ["duplicate", "out_of_order"]);
        assert_eq!(out[0].stream.as_deref(), Some("trade_candles_1m"));
    }

    #[test]
    fn sparse_exchange_candles_may_skip_intervals_but_dense_ones_may_not() {
        for (sparse, want) in [(true, vec![]), (false, vec!["missing"])] {
            let mut ck = checker(StreamKind::Kline(60));
            if sparse {
                ck = ck.sparse();
            }
            let mut inc = Incidents::new();
            let mut out = Vec::new();
            for open in [T0, T0 + MIN, T0 + 4 * MIN] {
                ck.on_candle(open + MIN, &real(open), &mut inc, &mut out);
            }
            assert_eq!(faults(&out), want, "sparse={sparse}");
        }
        assert!(crate::venues::klines_skip_quiet_intervals(Venue::Kraken));
        assert!(!crate::venues::klines_skip_quiet_intervals(Venue::Okx));
    }

    #[test]
    fn trade_id_continuity_on_exchange_candles() {
        // Ids as in a real Binance futures CTKUSDT kline pair (closed
        // L=23961360, next f=23961361), recorded by cryptofeed.
        let mut ck = checker(StreamKind::Kline(60));
        let mut inc = Incidents::new();
        let mut a = real(T0);
        a.first_trade_id = Some(23_961_275);
        a.last_trade_id = Some(23_961_360);
        let mut b = real(T0 + MIN);
        b.first_trade_id = Some(23_961_361);
        b.last_trade_id = Some(23_961_395);
        assert!(run(&mut ck, &mut inc, &a).is_empty());
        assert!(run(&mut ck, &mut inc, &b).is_empty());
        // Injected: 5 trade ids missing before the next candle.
        let mut c = real(T0 + 2 * MIN);
        c.first_trade_id = Some(23_961_401);
        c.last_trade_id = Some(23_961_420);
        let out = run(&mut ck, &mut inc, &c);
        assert_eq!(faults(&out), ["trade_ids"]);
        assert!(
            out[0].summary.contains("skips 5 trade ids"),
            "{}",
            out[0].summary
        );
    }

    #[test]
    fn forming_updates_only_matter_when_they_change_a_closed_candle() {
        let mut ck = checker(StreamKind::Kline(60));
        let mut inc = Incidents::new();
        let mut out = Vec::new();
        let mut forming = real(T0);
        forming.closed = false;
        forming.high = 1.0; // a forming candle is not checked
        ck.on_candle(T0 + SECOND, &forming, &mut inc, &mut out);
        assert!(out.is_empty());
        ck.on_candle(T0 + MIN, &real(T0), &mut inc, &mut out);
        let mut same = real(T0);
        same.closed = false;
        ck.on_candle(T0 + MIN + SECOND, &same, &mut inc, &mut out);
        assert!(out.is_empty());
        same.volume += 1.0;
        ck.on_candle(T0 + MIN + 2 * SECOND, &same, &mut inc, &mut out);
        assert_eq!(faults(&out), ["revised"]);
        assert_eq!(out[0].evidence.get("changed").unwrap(), "volume");
    }

    /// A calm stream: the real minute's range around a slowly drifting price.
    fn calm(i: i64) -> Candle {
        let mut c = real(T0 + i * MIN);
        let d = 5.0 * ((i % 3) as f64 - 1.0);
        c.open += d;
        c.high += d;
        c.low += d;
        c.close += d;
        c.quote_volume = None;
        c
    }

    #[test]
    fn abnormal_wick_needs_history_and_is_resolved_by_a_calm_candle() {
        let mut ck = checker(StreamKind::Kline(60));
        let mut inc = Incidents::new();
        let mut out = Vec::new();
        // Injected 6% wick before min_history: not tested yet.
        let mut early = calm(0);
        early.low = early.close * 0.94;
        ck.on_candle(T0 + MIN, &early, &mut inc, &mut out);
        for i in 1..6 {
            ck.on_candle(T0 + (i + 1) * MIN, &calm(i), &mut inc, &mut out);
        }
        assert!(out.is_empty(), "{out:#?}");
        let mut spike = calm(6);
        spike.low = spike.close * 0.94;
        ck.on_candle(T0 + 7 * MIN, &spike, &mut inc, &mut out);
        assert_eq!(out.len(), 1, "{out:#?}");
        let a = &out[0];
        assert_eq!(
            (a.kind, a.severity, a.state),
            (Kind::AbnormalCandle, Severity::Warning, State::Open)
        );
        assert_eq!(a.evidence.get("statistic").unwrap(), "wick_ratio");
        assert!(
            a.summary.contains("lower wick of 5,137.74"),
            "{}",
            a.summary
        );
        ck.on_candle(T0 + 8 * MIN, &calm(7), &mut inc, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].state, State::Resolved);
        // The spike did not blow up the baseline: the same spike again is
        // still abnormal.
        let mut again = calm(8);
        again.low = again.close * 0.94;
        ck.on_candle(T0 + 9 * MIN, &again, &mut inc, &mut out);
        assert_eq!(out.len(), 3);
        assert_eq!(out[2].state, State::Open);
    }

    #[test]
    fn abnormal_return_uses_student_t_surprise() {
        let mut ck = checker(StreamKind::Kline(60));
        let mut inc = Incidents::new();
        let mut out = Vec::new();
        for i in 0..30 {
            ck.on_candle(T0 + (i + 1) * MIN, &calm(i), &mut inc, &mut out);
        }
        assert!(out.is_empty());
        // Injected: the whole candle 5% lower (a gap down, no wick).
        let mut drop = calm(30);
        for p in [
            &mut drop.open,
            &mut drop.high,
            &mut drop.low,
            &mut drop.close,
        ] {
            *p *= 0.95;
        }
        ck.on_candle(T0 + 31 * MIN, &drop, &mut inc, &mut out);
        assert_eq!(out.len(), 1, "{out:#?}");
        assert_eq!(out[0].evidence.get("statistic").unwrap(), "return_surprise");
        let score = out[0]
            .evidence
            .get("return_surprise")
            .unwrap()
            .as_f64()
            .unwrap();
        assert!(score >= 7.0, "{score}");
    }

    #[test]
    fn cached_critical_z_matches_threshold() {
        let ck = checker(StreamKind::Kline(60));
        let s = ck.surprise(ck.z_crit);
        assert!((s - 7.0).abs() < 1e-6, "{s}");
        assert!(ck.surprise(ck.z_crit * 0.9) < 7.0);
        assert!(ck.surprise(f64::NAN).is_nan());
        assert_eq!(ck.surprise(f64::INFINITY), MAX_SCORE);
    }

    #[test]
    fn critical_z_is_exact_for_any_valid_config() {
        for nu in [2.01, 3.0, 4.0, 30.0, 1e6] {
            for thr in [0.1, 1.0, 7.0, 20.0, 50.0, 100.0] {
                let cfg = CandleConfig {
                    t_nu: nu,
                    return_threshold: thr,
                    ..CandleConfig::default()
                };
                let ck =
                    CandleChecker::new(&cfg, Venue::Okx, "BTC/USDT".into(), StreamKind::Kline(60));
                assert!(ck.z_crit.is_finite(), "nu {nu} thr {thr}");
                let s = ck.surprise(ck.z_crit);
                assert!(
                    (s - thr).abs() < 1e-6 * thr.max(1.0),
                    "nu {nu} thr {thr}: {s}"
                );
                assert!(ck.surprise(ck.z_crit * 0.999) < thr);
            }
        }
        // Out-of-range values that skipped validation must not panic.
        let wild = CandleConfig {
            t_nu: f64::NAN,
            return_threshold: 1e9,
            winsor_z: -1.0,
            range_window: 0,
            ..CandleConfig::default()
        };
        let mut ck = CandleChecker::new(&wild, Venue::Okx, "BTC/USDT".into(), StreamKind::Kline(0));
        let mut inc = Incidents::new();
        for i in 0..10 {
            run(&mut ck, &mut inc, &calm(i));
        }
    }

    #[test]
    fn config_validation_names_the_key() {
        assert_eq!(CandleConfig::default().validate(), Ok(()));
        let bad = CandleConfig {
            t_nu: 2.0,
            ..CandleConfig::default()
        };
        assert!(bad.validate().unwrap_err().contains("candle.t_nu"));
        let bad = CandleConfig {
            range_window: 100,
            ..CandleConfig::default()
        };
        assert!(bad.validate().unwrap_err().contains("candle.range_window"));
    }

    #[test]
    fn numbers_read_like_prices() {
        assert_eq!(num(85100.0), "85,100.0");
        assert_eq!(num(85230.5), "85,230.5");
        assert_eq!(num(22.009), "22.009");
        assert_eq!(num(-1234567.0), "-1,234,567.0");
        assert_eq!(num(0.000123), "0.000123");
        assert_eq!(num(f64::NAN), "NaN");
    }

    #[test]
    fn median_of_small_slices() {
        assert_eq!(median(&[]), 0.0);
        assert_eq!(median(&[3.0]), 3.0);
        assert_eq!(median(&[4.0, 1.0]), 2.5);
        assert_eq!(median(&[5.0, 1.0, 3.0]), 3.0);
    }

    fn any_f64() -> impl Strategy<Value = f64> {
        prop_oneof![
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(0.0),
            Just(-0.0),
            Just(f64::MAX),
            Just(f64::MIN_POSITIVE),
            -1e6f64..1e6,
            80_000.0f64..90_000.0,
        ]
    }

    proptest! {
        #[test]
        fn checker_never_panics(
            candles in proptest::collection::vec(
                (any::<i64>(), 0i64..50, any::<bool>(), any::<bool>(),
                 any_f64(), any_f64(), any_f64(), any_f64(), any_f64(),
                 proptest::option::of(any_f64()), proptest::option::of(any::<u64>())),
                1..60),
            kline in any::<bool>(),
        ) {
            let stream = if kline { StreamKind::Kline(60) } else { StreamKind::TradeCandles };
            let mut ck = checker(stream);
            let mut inc = Incidents::new();
            let mut out = Vec::new();
            for (wild, step, wild_time, closed, o, h, l, c, v, q, id) in candles {
                let open_ns = if wild_time { wild } else { T0 + step * MIN };
                let candle = Candle {
                    open_ns,
                    interval_secs: 60,
                    open: o,
                    high: h,
                    low: l,
                    close: c,
                    volume: v,
                    quote_volume: q,
                    trades: id,
                    first_trade_id: id,
                    last_trade_id: id.map(|x| x.wrapping_add(3)),
                    closed,
                    exch_ns: None,
                };
                ck.on_candle(open_ns, &candle, &mut inc, &mut out);
            }
            for a in &out {
                prop_assert!(!a.summary.is_empty());
                prop_assert!(!a.to_json().is_empty());
            }
        }
    }
}
