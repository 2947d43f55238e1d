//! Book health beyond sequencing: `spread_blowout` (the spread far above its
//! own rolling median, held), `depth_collapse` (the quantity near the touch
//! far below its rolling median, held) and `book_stale` (trades printing
//! outside the same venue's best bid and ask, repeatedly: the book is not
//! moving with the market).
//!
//! Baselines are each stream's own history: rolling medians over a bounded
//! ring of samples taken at most once per `book.health_sample_ms`, so the
//! per-update work is a comparison and the median is updated once per
//! sample (one insertion into a sorted copy of the window). Floors (a minimum spread in basis points, a minimum history, a
//! sustain time and count) keep a one-tick spread or one thin update from
//! paging. Nothing here reads a clock or allocates once its rings are full.

use super::verdict::{Finding, Verdict, Words};
use crate::alert::words::{pct, round_sig};
use crate::alert::{Evidence, IncidentKey, Kind};
use crate::detect::book::BookConfig;
use crate::model::{MILLI, Nanos, format_rfc3339_ms};
use crate::state::gaps::secs;
use crate::state::window::SortedWindow;

/// A median over the last `cap` samples.
#[derive(Debug, Default)]
pub struct RollingMedian {
    ring: Vec<f64>,
    next: usize,
    /// The ring's samples in order: the median is one index, not a
    /// selection over the window per sample.
    sorted: SortedWindow,
    median: f64,
    next_sample: Nanos,
}

impl RollingMedian {
    /// Whether a sample is due at `now` (at most one per `every` ns).
    pub fn due(&self, now: Nanos) -> bool {
        now >= self.next_sample
    }

    /// Adds a sample taken at `now` (the oldest falls out past `cap`) and
    /// recomputes the median.
    pub fn push(&mut self, now: Nanos, every: Nanos, cap: usize, v: f64) {
        if !v.is_finite() {
            return;
        }
        self.next_sample = now + every;
        let cap = cap.max(1);
        if self.ring.len() < cap {
            self.ring.push(v);
            self.sorted.insert(v);
        } else if let Some(slot) = self.ring.get_mut(self.next) {
            let old = std::mem::replace(slot, v);
            self.sorted.remove(old);
            self.sorted.insert(v);
        }
        self.next = (self.next + 1) % cap;
        if let Some(m) = self.sorted.at(self.sorted.len() / 2) {
            self.median = m;
        }
    }

    /// Samples held.
    pub fn len(&self) -> usize {
        self.ring.len()
    }

    /// Whether no sample is held.
    pub fn is_empty(&self) -> bool {
        self.ring.is_empty()
    }

    /// The median of the samples held (0 when empty).
    pub fn median(&self) -> f64 {
        self.median
    }
}

/// The numbers behind a spread or depth verdict.
#[derive(Clone, Debug, PartialEq)]
pub struct HealthFacts {
    /// The value now (spread in bps of mid, or near-touch quantity).
    pub value: f64,
    /// Its rolling median.
    pub median: f64,
    /// The threshold it crossed.
    pub threshold: f64,
    /// The worst value in this episode.
    pub worst: f64,
    /// When the episode started.
    pub since: Nanos,
    /// How long it has held (seconds).
    pub held_s: f64,
    /// Updates (spread) or samples (depth) in the episode.
    pub updates: u32,
    /// Samples behind the median.
    pub samples: usize,
}

/// What one observation means for a held condition: it has just held long
/// enough (alert), it is back to normal after an alert, or nothing. Spread
/// and depth share the rule and word it each their own way.
pub type HealthVerdict = Verdict<HealthFacts, HealthFacts>;

/// Evidence of a spread or depth verdict: the value, its median and the
/// threshold, and one setting that explains the threshold.
fn health_evidence(
    x: &HealthFacts,
    value: &'static str,
    setting: &'static str,
    v: f64,
) -> Evidence {
    Evidence::new()
        .num(value, x.value, 6)
        .num("median", x.median, 6)
        .num("threshold", x.threshold, 6)
        .num("worst", x.worst, 6)
        .num(setting, v, 3)
        .num("held_s", x.held_s, 3)
        .with("updates", x.updates)
        .with("baseline_samples", x.samples)
        .with("since", format_rfc3339_ms(x.since))
}

/// `spread_blowout` fires: the spread is many times its median.
#[derive(Clone, Debug, PartialEq)]
pub struct SpreadWide {
    /// The numbers.
    pub facts: HealthFacts,
    /// The top of book that is wide.
    pub bid: f64,
    /// Best ask.
    pub ask: f64,
    /// `book.spread_k`.
    pub k: f64,
}

/// `spread_blowout` clears.
#[derive(Clone, Debug, PartialEq)]
pub struct SpreadBack {
    /// The numbers.
    pub facts: HealthFacts,
    /// `book.spread_k`.
    pub k: f64,
}

/// What a top of book means for `spread_blowout`.
pub type SpreadVerdict = Verdict<SpreadWide, SpreadBack>;

impl Words for SpreadWide {
    fn kind(&self) -> Kind {
        Kind::SpreadBlowout
    }
    fn summary(&self, key: &IncidentKey) -> String {
        let x = &self.facts;
        format!(
            "{} spread is {:.1} bps, {:.0}x its median of {:.2} bps, for {:.1} s: liquidity has pulled back on this venue, widen quotes or route elsewhere.",
            key.subject(),
            x.value,
            x.value / x.median.max(f64::MIN_POSITIVE),
            x.median,
            x.held_s
        )
    }
    fn evidence(&self) -> Evidence {
        health_evidence(&self.facts, "spread_bps", "k", self.k)
            .with("bid", self.bid)
            .with("ask", self.ask)
    }
}

impl Finding for SpreadWide {}

impl Words for SpreadBack {
    fn kind(&self) -> Kind {
        Kind::SpreadBlowout
    }
    fn summary(&self, key: &IncidentKey) -> String {
        let x = &self.facts;
        format!(
            "{} spread is back to {:.2} bps (median {:.2}) after {:.1} s wide.",
            key.subject(),
            x.value,
            x.median,
            x.held_s
        )
    }
    fn evidence(&self) -> Evidence {
        health_evidence(&self.facts, "spread_bps", "k", self.k)
    }
}

/// `depth_collapse` fires: little quantity near the touch for a while.
#[derive(Clone, Debug, PartialEq)]
pub struct DepthThin {
    /// The numbers.
    pub facts: HealthFacts,
    /// `book.depth_band_bps`.
    pub band_bps: f64,
}

/// `depth_collapse` clears.
#[derive(Clone, Debug, PartialEq)]
pub struct DepthBack {
    /// The numbers.
    pub facts: HealthFacts,
    /// `book.depth_band_bps`.
    pub band_bps: f64,
}

/// What a near-touch depth sample means for `depth_collapse`.
pub type DepthVerdict = Verdict<DepthThin, DepthBack>;

impl Words for DepthThin {
    fn kind(&self) -> Kind {
        Kind::DepthCollapse
    }
    fn summary(&self, key: &IncidentKey) -> String {
        let x = &self.facts;
        format!(
            "{} order book holds {} within {} bps of mid, {:.0}% of its median {} for {:.1} s: liquidity has left this venue's book, size orders down or route elsewhere.",
            key.market(),
            round_sig(x.value),
            self.band_bps,
            pct(x.value, x.median),
            round_sig(x.median),
            x.held_s
        )
    }
    fn evidence(&self) -> Evidence {
        health_evidence(&self.facts, "depth", "band_bps", self.band_bps)
    }
}

impl Finding for DepthThin {}

impl Words for DepthBack {
    fn kind(&self) -> Kind {
        Kind::DepthCollapse
    }
    fn summary(&self, key: &IncidentKey) -> String {
        let x = &self.facts;
        format!(
            "{} order book depth near the touch is back to {} ({:.0}% of its median) after {:.1} s.",
            key.market(),
            round_sig(x.value),
            pct(x.value, x.median),
            x.held_s
        )
    }
    fn evidence(&self) -> Evidence {
        health_evidence(&self.facts, "depth", "band_bps", self.band_bps)
    }
}

/// One held condition: since when, how many updates, alerting or not.
#[derive(Debug, Default)]
struct Held {
    since: Option<Nanos>,
    updates: u32,
    worst: f64,
    alerting: bool,
}

impl Held {
    /// Judges one observation: `bad` (with `worse` ordering values),
    /// fired once held `sustain` ns over at least `min_updates`.
    #[allow(clippy::too_many_arguments)]
    fn judge(
        &mut self,
        now: Nanos,
        bad: bool,
        value: f64,
        worse: fn(f64, f64) -> f64,
        sustain: Nanos,
        min_updates: u32,
        median: &RollingMedian,
        threshold: f64,
    ) -> HealthVerdict {
        let facts = |h: &Held, since: Nanos| HealthFacts {
            value,
            median: median.median(),
            threshold,
            worst: h.worst,
            since,
            held_s: secs(now - since),
            updates: h.updates,
            samples: median.len(),
        };
        if bad {
            let since = *self.since.get_or_insert(now);
            self.worst = if self.updates == 0 {
                value
            } else {
                worse(self.worst, value)
            };
            self.updates = self.updates.saturating_add(1);
            if !self.alerting && now - since >= sustain && self.updates >= min_updates {
                self.alerting = true;
                return Verdict::Fire(facts(self, since));
            }
            return Verdict::Quiet;
        }
        let since = self.since.take();
        let verdict = if self.alerting {
            Verdict::Clear(facts(self, since.unwrap_or(now)))
        } else {
            Verdict::Quiet
        };
        self.alerting = false;
        self.updates = 0;
        verdict
    }
}

/// `spread_blowout` for one stream (bbo quotes or the synced L2 top).
#[derive(Debug, Default)]
pub struct SpreadTracker {
    median: RollingMedian,
    held: Held,
}

impl SpreadTracker {
    /// A new top of book at `now`. Crossed or empty tops are not spreads
    /// (crossed books are `book_crossed`'s) and are skipped.
    pub fn observe(&mut self, cfg: &BookConfig, now: Nanos, bid: f64, ask: f64) -> SpreadVerdict {
        let mid = (bid + ask) / 2.0;
        if !(bid > 0.0 && ask > bid && mid.is_finite()) {
            return Verdict::Quiet;
        }
        let spread = (ask - bid) / mid * 1e4;
        // Judge against the history before this sample joins it.
        let ready = self.median.len() >= cfg.health_min_samples;
        let threshold = (cfg.spread_k * self.median.median()).max(cfg.spread_floor_bps);
        if self.median.due(now) {
            self.median
                .push(now, cfg.health_sample_ms * MILLI, cfg.health_window, spread);
        }
        if !ready {
            return Verdict::Quiet;
        }
        let k = cfg.spread_k;
        self.held
            .judge(
                now,
                spread > threshold,
                spread,
                f64::max,
                cfg.spread_sustain_ms * MILLI,
                cfg.spread_sustain_updates,
                &self.median,
                threshold,
            )
            .map(
                |facts| SpreadWide { facts, bid, ask, k },
                |facts| SpreadBack { facts, k },
            )
    }

    /// Whether a blowout is being reported.
    pub fn is_alerting(&self) -> bool {
        self.held.alerting
    }
}

/// `depth_collapse` for one synced L2 book.
#[derive(Debug, Default)]
pub struct DepthTracker {
    median: RollingMedian,
    held: Held,
}

impl DepthTracker {
    /// Whether a depth sample is due (the caller sums the near-touch
    /// quantity only then).
    pub fn due(&self, now: Nanos) -> bool {
        self.median.due(now)
    }

    /// A near-touch quantity (both sides) sampled at `now`.
    pub fn observe(&mut self, cfg: &BookConfig, now: Nanos, depth: f64) -> DepthVerdict {
        if !(depth.is_finite() && depth >= 0.0) {
            return Verdict::Quiet;
        }
        let ready = self.median.len() >= cfg.health_min_samples && self.median.median() > 0.0;
        let threshold = cfg.depth_fraction * self.median.median();
        self.median
            .push(now, cfg.health_sample_ms * MILLI, cfg.health_window, depth);
        if !ready {
            return Verdict::Quiet;
        }
        // At least two low samples in a row, whatever the sustain time.
        let band_bps = cfg.depth_band_bps;
        self.held
            .judge(
                now,
                depth < threshold,
                depth,
                f64::min,
                cfg.depth_sustain_ms * MILLI,
                2,
                &self.median,
                threshold,
            )
            .map(
                |facts| DepthThin { facts, band_bps },
                |facts| DepthBack { facts, band_bps },
            )
    }

    /// Whether a collapse is being reported.
    pub fn is_alerting(&self) -> bool {
        self.held.alerting
    }
}

/// The numbers behind a stale book.
#[derive(Clone, Debug, PartialEq)]
pub struct StaleFacts {
    /// The last trade price.
    pub price: f64,
    /// Best bid and ask of the book when it printed.
    pub bid: f64,
    /// Best ask.
    pub ask: f64,
    /// How far outside the book it printed (bps of mid).
    pub outside_bps: f64,
    /// Consecutive trades outside the book.
    pub trades: usize,
    /// Time from the first to the last of them (seconds).
    pub held_s: f64,
    /// When the first of the run printed.
    pub since: Nanos,
    /// `book.stale_tolerance_bps`.
    pub tolerance_bps: f64,
}

/// What one trade means for a book: it has just been found stale, a trade
/// printed inside it again after an alert, or nothing.
pub type StaleVerdict = Verdict<StaleFacts, Fresh>;

/// `book_stale` clears: a trade printed inside the book again.
#[derive(Clone, Debug, PartialEq)]
pub struct Fresh {
    /// How long it was stale (seconds).
    pub stale_for_s: f64,
    /// Trades outside it meanwhile.
    pub trades: usize,
}

impl Words for StaleFacts {
    fn kind(&self) -> Kind {
        Kind::BookStale
    }
    fn summary(&self, key: &IncidentKey) -> String {
        format!(
            "{} is stale: {} trades in a row printed outside it over {:.1} s (last {} vs bid {} / ask {}, {:.1} bps outside); do not quote off this book.",
            key.subject(),
            self.trades,
            self.held_s,
            self.price,
            self.bid,
            self.ask,
            self.outside_bps,
        )
    }
    fn evidence(&self) -> Evidence {
        Evidence::new()
            .with("trade_price", self.price)
            .with("bid", self.bid)
            .with("ask", self.ask)
            .num("outside_bps", self.outside_bps, 2)
            .num("tolerance_bps", self.tolerance_bps, 2)
            .with("trades_outside", self.trades)
            .num("held_s", self.held_s, 3)
            .with("since", format_rfc3339_ms(self.since))
    }
}

impl Finding for StaleFacts {}

impl Words for Fresh {
    fn kind(&self) -> Kind {
        Kind::BookStale
    }
    fn summary(&self, key: &IncidentKey) -> String {
        format!(
            "{} is tracking trades again (a trade printed inside it after {:.1} s stale).",
            key.subject(),
            self.stale_for_s
        )
    }
    fn evidence(&self) -> Evidence {
        Evidence::new()
            .num("stale_for_s", self.stale_for_s, 3)
            .with("trades_outside", self.trades)
    }
}

/// `book_stale` for one book stream (bbo or L2).
#[derive(Debug, Default)]
pub struct StaleTracker {
    /// Last best bid and ask of a bbo stream (L2 books are read directly).
    pub top: Option<(f64, f64)>,
    run: usize,
    run_since: Nanos,
    last_outside: Nanos,
    alerting: bool,
}

impl StaleTracker {
    /// A trade at `price` printed at `now`, against this book's top.
    pub fn on_trade(
        &mut self,
        cfg: &BookConfig,
        now: Nanos,
        price: f64,
        bid: f64,
        ask: f64,
    ) -> StaleVerdict {
        let mid = (bid + ask) / 2.0;
        if !(price > 0.0 && bid > 0.0 && ask >= bid && price.is_finite() && mid.is_finite()) {
            return Verdict::Quiet;
        }
        let tol = mid * cfg.stale_tolerance_bps / 1e4;
        let off = if price < bid - tol {
            bid - price
        } else if price > ask + tol {
            price - ask
        } else {
            0.0
        };
        if off <= 0.0 {
            let trades = std::mem::take(&mut self.run);
            if std::mem::take(&mut self.alerting) {
                return Verdict::Clear(Fresh {
                    stale_for_s: secs(now - self.run_since),
                    trades,
                });
            }
            return Verdict::Quiet;
        }
        // Outside prints further apart than the window do not chain: an
        // isolated print minutes later starts a new run.
        if self.run == 0
            || (!self.alerting && now - self.last_outside > cfg.stale_window_ms * MILLI)
        {
            self.run = 0;
            self.run_since = now;
        }
        self.run += 1;
        self.last_outside = now;
        let held = now - self.run_since;
        // A sweep prints many trades through the book in one instant and
        // the book catches up within a few hundred ms: only a run that
        // lasts is a stale book.
        if self.alerting || self.run < cfg.stale_trades || held < cfg.stale_hold_ms * MILLI {
            return Verdict::Quiet;
        }
        self.alerting = true;
        Verdict::Fire(StaleFacts {
            price,
            bid,
            ask,
            outside_bps: off / mid * 1e4,
            trades: self.run,
            held_s: secs(held),
            since: self.run_since,
            tolerance_bps: cfg.stale_tolerance_bps,
        })
    }

    /// Whether the book is reported stale.
    pub fn is_alerting(&self) -> bool {
        self.alerting
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SECOND;

    #[test]
    fn rolling_median_is_bounded_and_forgets() {
        let mut m = RollingMedian::default();
        for i in 0..10 {
            m.push(i, 1, 5, i as f64);
        }
        assert_eq!(m.len(), 5);
        assert_eq!(m.median(), 7.0);
        assert!(!m.due(9) && m.due(10));
        m.push(20, 1, 5, f64::NAN);
        assert_eq!(m.len(), 5);
    }

    /// A spot-like book: 0.01 on 60,000 (0.0017 bps), one quote per 100 ms.
    fn warm_spread(cfg: &BookConfig) -> (SpreadTracker, Nanos) {
        let mut s = SpreadTracker::default();
        let mut t = 0;
        for _ in 0..1000 {
            t += 100 * MILLI;
            assert_eq!(s.observe(cfg, t, 60_000.0, 60_000.01), Verdict::Quiet);
        }
        (s, t)
    }

    #[test]
    fn a_held_blowout_fires_once_and_clears() {
        let cfg = BookConfig::default();
        let (mut s, mut t) = warm_spread(&cfg);
        // 20 bps wide: above the 5 bps floor and far above 10 x the median.
        let start = t + 100 * MILLI;
        let mut fired = None;
        for _ in 0..50 {
            t += 100 * MILLI;
            match s.observe(&cfg, t, 60_000.0, 60_120.0) {
                Verdict::Fire(w) => fired = Some((t, w.facts)),
                Verdict::Quiet => {}
                v => panic!("{v:?}"),
            }
        }
        let (at, f) = fired.expect("never fired");
        assert_eq!(at - start, cfg.spread_sustain_ms * MILLI);
        assert!((f.value - 19.98).abs() < 0.01, "{f:?}");
        assert_eq!(f.threshold, cfg.spread_floor_bps);
        assert!(s.is_alerting());
        assert!(matches!(
            s.observe(&cfg, t + 100 * MILLI, 60_000.0, 60_000.01),
            Verdict::Clear(_)
        ));
    }

    #[test]
    fn a_brief_or_small_widening_is_not_a_blowout() {
        let cfg = BookConfig::default();
        let (mut s, mut t) = warm_spread(&cfg);
        // 100x the median but only 0.17 bps: under the floor.
        for _ in 0..100 {
            t += 100 * MILLI;
            assert_eq!(s.observe(&cfg, t, 60_000.0, 60_001.0), Verdict::Quiet);
        }
        // Wide for 1.5 s only.
        for _ in 0..15 {
            t += 100 * MILLI;
            assert_eq!(s.observe(&cfg, t, 60_000.0, 60_120.0), Verdict::Quiet);
        }
        assert_eq!(
            s.observe(&cfg, t + MILLI, 60_000.0, 60_000.01),
            Verdict::Quiet
        );
        // Without history nothing is judged.
        let mut fresh = SpreadTracker::default();
        for i in 0..50 {
            assert_eq!(
                fresh.observe(&cfg, i * SECOND, 60_000.0, 61_000.0),
                Verdict::Quiet
            );
        }
    }

    #[test]
    fn depth_collapse_needs_a_sustained_low_and_resolves() {
        let cfg = BookConfig::default();
        let mut d = DepthTracker::default();
        let mut t = 0;
        for i in 0..120 {
            t += SECOND;
            assert!(d.due(t));
            let depth = 10.0 + (i % 5) as f64;
            assert_eq!(d.observe(&cfg, t, depth), Verdict::Quiet);
        }
        // One thin sample is not a collapse.
        t += SECOND;
        assert_eq!(d.observe(&cfg, t, 0.5), Verdict::Quiet);
        t += SECOND;
        assert_eq!(d.observe(&cfg, t, 12.0), Verdict::Quiet);
        let start = t + SECOND;
        let mut fired = None;
        for _ in 0..10 {
            t += SECOND;
            if let Verdict::Fire(w) = d.observe(&cfg, t, 1.0) {
                fired = Some((t, w.facts));
            }
        }
        let (at, f) = fired.expect("never fired");
        assert_eq!(at - start, cfg.depth_sustain_ms * MILLI);
        assert_eq!(f.median, 12.0);
        assert!((f.threshold - 2.4).abs() < 1e-9);
        assert!(d.is_alerting());
        t += SECOND;
        assert!(matches!(d.observe(&cfg, t, 11.0), Verdict::Clear(_)));
    }

    #[test]
    fn trades_outside_the_book_for_a_while_make_it_stale() {
        let cfg = BookConfig::default();
        let mut s = StaleTracker::default();
        let (bid, ask) = (60_000.0, 60_000.01);
        // Inside, and within tolerance (10 bps = 60 on 60,000): quiet.
        for (i, p) in [60_000.0, 60_050.0, 59_950.0].iter().enumerate() {
            assert_eq!(
                s.on_trade(&cfg, i as Nanos * MILLI, *p, bid, ask),
                Verdict::Quiet
            );
        }
        // A sweep: 200 prints outside in one instant, then one inside.
        for _ in 0..200 {
            assert_eq!(s.on_trade(&cfg, SECOND, 60_300.0, bid, ask), Verdict::Quiet);
        }
        assert_eq!(
            s.on_trade(&cfg, SECOND + 65 * MILLI, 60_000.0, bid, ask),
            Verdict::Quiet
        );
        // Outside prints further apart than the window never chain.
        for i in 0..10 {
            assert_eq!(
                s.on_trade(&cfg, 10 * SECOND + i * 4 * SECOND, 59_700.0, bid, ask),
                Verdict::Quiet
            );
        }
        // Then a steady run every 200 ms: stale once it has held 1 s with
        // at least 5 prints.
        let start = 60 * SECOND;
        let mut stale = None;
        for i in 0..20 {
            let t = start + i * 200 * MILLI;
            if let StaleVerdict::Fire(f) = s.on_trade(&cfg, t, 59_700.0, bid, ask) {
                stale = Some((t, f));
                break;
            }
        }
        let (at, f) = stale.expect("never stale");
        assert_eq!(at - start, cfg.stale_hold_ms * MILLI);
        assert!((f.outside_bps - 50.0).abs() < 0.01, "{f:?}");
        assert_eq!((f.trades, f.since), (6, start));
        assert!(matches!(
            s.on_trade(&cfg, 70 * SECOND, 60_000.0, bid, ask),
            StaleVerdict::Clear(Fresh { .. })
        ));
        assert!(!s.is_alerting());
    }
}
