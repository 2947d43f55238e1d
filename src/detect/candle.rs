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
use serde::Deserialize;
use statrs::distribution::{ContinuousCDF, StudentsT};

/// Thresholds for the candle checks.
///
/// Defaults were chosen by running the checker over the real one-minute
/// files in the project's candle data (Binance USD-M BTCUSDT around
/// 2021-05-19 and 2025-10-10 crashes and the calm 2025-04-15 window, a month
/// of BTC-PERP 2021-12-31..2022-02-01 with 45,031 candles, and candles built
/// from Gemini and Coinbase trades on 2025-10-10); see the calibration test
/// `calibrate_on_real_files` in `tests/scan_candles.rs` for the counts.
#[derive(Clone, Debug, Deserialize, PartialEq)]
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
        pos("return_threshold", self.return_threshold)?;
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
        let p = 10f64.powf(-cfg.return_threshold);
        let z_crit = match &t {
            Some(t) if p.is_finite() && p > 0.0 && p < 1.0 => {
                // Lower tail for precision: 1 - p/2 would lose digits.
                let q = -t.inverse_cdf(p / 2.0);
                if q.is_finite() && q > 0.0 {
                    q / t_scale
                } else {
                    f64::INFINITY
                }
            }
            _ => f64::INFINITY,
        };
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
            return_threshold: cfg.return_threshold,
            z_crit,
            t_scale,
            t,
            last_open: None,
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
        let in_order = matches!(fault, None | Some(SeqFault::Missing { .. }));
        if let (None, Some(latest)) = (&fault, misplaced) {
            fault = Some(SeqFault::OutOfOrder { latest });
        }
        match &fault {
            Some(f) => self.fire_gap(now, c, f, inc, out),
            None => inc.clear(
                now,
                Kind::CandleGap,
                &self.key,
                format!(
                    "{} {} {} candles continuous again from {}: history is complete.",
                    self.venue,
                    self.symbol,
                    self.label,
                    self.when(c.open_ns)
                ),
                Evidence::new().with("open_time", format_rfc3339_ms(c.open_ns)),
                out,
            ),
        }
        if in_order {
            self.last_open = Some(c.open_ns);
            self.remember(seen);
        }

        let violation = hard_violation(c, self.vwap_tol);
        match &violation {
            Some(v) => self.fire_invalid(now, c, v, inc, out),
            None => inc.clear(
                now,
                Kind::CandleInvalid,
                &self.key,
                format!(
                    "{} {} {} candle {} is sound again: candle data can be used.",
                    self.venue,
                    self.symbol,
                    self.label,
                    self.when(c.open_ns)
                ),
                ohlcv(Evidence::new(), c),
                out,
            ),
        }
        if violation.is_some() || !in_order {
            // Bad or misplaced candles stay out of the baseline.
            return;
        }
        self.statistics(now, c, inc, out);
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
                let range = if count == &1 {
                    format!("the {} candle", self.when(*from))
                } else {
                    format!("{} to {}", self.when(*from), self.when(*to))
                };
                format!(
                    "{head} candles missing: {count} interval{} from {range} never arrived (next candle {}): history has a hole, backfill before using it.",
                    if *count == 1 { "" } else { "s" },
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
                inc.clear(
                    now,
                    Kind::AbnormalCandle,
                    &self.key,
                    format!(
                        "{} {} {} candle {} is within its usual range again.",
                        self.venue,
                        self.symbol,
                        self.label,
                        self.when(c.open_ns)
                    ),
                    ohlcv(Evidence::new(), c),
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
        let Some(t) = &self.t else { return f64::NAN };
        if !z.is_finite() {
            return if z.is_nan() { f64::NAN } else { MAX_SCORE };
        }
        let p = 2.0 * t.cdf(-(z.abs() * self.t_scale));
        if p.is_nan() {
            return f64::NAN;
        }
        if p <= 0.0 {
            return MAX_SCORE;
        }
        (-p.log10()).clamp(0.0, MAX_SCORE)
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
        (Some(&hi), Some(&lo)) if n % 2 == 0 => 0.5 * (hi + lo),
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
                if k > 0 && (i.len() - k) % 3 == 0 {
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
