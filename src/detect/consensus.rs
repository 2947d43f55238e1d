//! Cross-venue consensus: is a venue's price a venue glitch or a real move?
//!
//! Per canonical pair (base asset plus a *quote family*: USD, USDT and USDC
//! count as one unless configured otherwise), the prices of the venues that
//! are fresh are summarised by their median and a robust dispersion
//! (1.4826 x MAD). A venue farther from the median than
//! `max(k x dispersion, floor_bps x median / 1e4)` is divergent, and is
//! re-admitted only once it is back below half of that threshold (CF
//! Benchmarks' rule, see DETECTION.md). With fewer than 3 fresh venues the
//! median cannot say *which* venue is wrong: the verdict is then
//! "unconfirmed", except that two venues within the floor of each other
//! still confirm a move.
//!
//! This module is pure and deterministic: it reads only the observations and
//! the time it is given, never the wall clock, never does I/O, never panics
//! on any input (NaN, infinities, zero or negative prices are rejected, not
//! used), and allocates nothing per evaluation once its scratch buffer has
//! grown to the number of venues of a pair.

pub use crate::model::Market;
use crate::model::{Nanos, SECOND, Venue};
use crate::venues;
use serde::{Deserialize, Serialize};

/// Scale factor that turns a median absolute deviation into a standard
/// deviation for normally distributed data.
pub const MAD_SCALE: f64 = 1.4826;
/// Fewer fresh venues than this cannot single out the wrong one.
pub const MIN_VENUES: usize = 3;
/// At most this many venues are kept per pair; further venues are ignored
/// (bounded memory whatever the input).
pub const MAX_VENUES: usize = 64;

/// The `[consensus]` config section.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ConsensusConfig {
    /// A venue farther than `k` robust standard deviations from the median
    /// (and farther than the floor) is divergent.
    pub k: f64,
    /// Floor on the divergence threshold, in basis points of the median:
    /// with tight venues the dispersion is tiny and every tick would count
    /// (DETECTION.md suggests 30-100 bps for majors).
    pub floor_bps: f64,
    /// A divergent venue is re-admitted once its gap is below this share of
    /// the threshold (hysteresis, so a venue at the edge does not flap).
    pub readmit_ratio: f64,
    /// An observation older than this (seconds) is not fresh and takes no
    /// part (Binance's index drops a venue silent for 10 s).
    pub freshness_secs: f64,
    /// Quote currencies that count as one: each inner list is a family,
    /// named by its first member. A quote in no list is its own family.
    pub quote_families: Vec<Vec<String>>,
    /// Whether spot and perpetual markets of a pair share one consensus
    /// (the perp basis is usually far below the floor; in a crash it is not).
    pub mix_spot_perp: bool,
    /// For candle moves: a peer whose move differs from the venue's by less
    /// than this share of the venue's own move agrees with it (moves in a
    /// crash differ by venue liquidity; a peer that moved half as far still
    /// confirms the market moved).
    pub move_tolerance: f64,
    /// Live `price_divergence`: a venue's price must stay divergent this
    /// long (ms) before the alert is a warning; until then it is info. A
    /// single bad print corrected by the next frame is not a page.
    pub hold_ms: u64,
    /// Live `price_divergence`: while a venue is flagged, its pair is
    /// re-assessed at most this often (ms), so a flagged venue costs nothing
    /// per frame and its re-admission is seen within this delay.
    pub eval_ms: u64,
    /// Live `price_divergence`: held this long (s), the alert is critical
    /// (it is also critical from twice the threshold once held `hold_ms`).
    pub critical_after_s: f64,
}

impl Default for ConsensusConfig {
    fn default() -> Self {
        ConsensusConfig {
            k: 5.0,
            floor_bps: 50.0,
            readmit_ratio: 0.5,
            freshness_secs: 10.0,
            quote_families: vec![vec!["USD".into(), "USDT".into(), "USDC".into()]],
            mix_spot_perp: true,
            move_tolerance: 0.5,
            hold_ms: 1000,
            eval_ms: 250,
            critical_after_s: 10.0,
        }
    }
}

impl ConsensusConfig {
    /// Checks ranges the types cannot express; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.k.is_finite() && self.k > 0.0) {
            return Err(format!(
                "consensus.k must be a positive number, got {}",
                self.k
            ));
        }
        if !(self.floor_bps.is_finite() && self.floor_bps >= 0.0 && self.floor_bps < 10_000.0) {
            return Err(format!(
                "consensus.floor_bps must be in 0..10000, got {}",
                self.floor_bps
            ));
        }
        if !(self.readmit_ratio.is_finite()
            && self.readmit_ratio > 0.0
            && self.readmit_ratio <= 1.0)
        {
            return Err(format!(
                "consensus.readmit_ratio must be in (0, 1], got {}",
                self.readmit_ratio
            ));
        }
        if !(self.freshness_secs.is_finite()
            && self.freshness_secs > 0.0
            && self.freshness_secs <= 86_400.0)
        {
            return Err(format!(
                "consensus.freshness_secs must be in (0, 86400], got {}",
                self.freshness_secs
            ));
        }
        if !(self.move_tolerance.is_finite() && (0.0..=1.0).contains(&self.move_tolerance)) {
            return Err(format!(
                "consensus.move_tolerance must be in [0, 1], got {}",
                self.move_tolerance
            ));
        }
        if self.hold_ms > 3_600_000 {
            return Err(format!(
                "consensus.hold_ms must be at most 3600000 (an hour), got {}",
                self.hold_ms
            ));
        }
        if !(1..=60_000).contains(&self.eval_ms) {
            return Err(format!(
                "consensus.eval_ms must be in 1..=60000, got {}",
                self.eval_ms
            ));
        }
        if !(self.critical_after_s.is_finite()
            && self.critical_after_s > 0.0
            && self.critical_after_s <= 86_400.0)
        {
            return Err(format!(
                "consensus.critical_after_s must be in (0, 86400], got {}",
                self.critical_after_s
            ));
        }
        let mut seen: Vec<&str> = Vec::new();
        for (i, fam) in self.quote_families.iter().enumerate() {
            if fam.is_empty() {
                return Err(format!("consensus.quote_families[{i}] is empty"));
            }
            for q in fam {
                if q.is_empty() || !q.chars().all(|c| c.is_ascii_alphanumeric()) {
                    return Err(format!(
                        "consensus.quote_families[{i}]: `{q}` is not a currency code (A-Z, 0-9)"
                    ));
                }
                if seen.iter().any(|s| s.eq_ignore_ascii_case(q)) {
                    return Err(format!(
                        "consensus.quote_families[{i}]: `{q}` is in more than one family"
                    ));
                }
                seen.push(q);
            }
        }
        Ok(())
    }

    /// The family a quote currency belongs to, named by the family's first
    /// member (upper case); a quote in no family is its own family.
    pub fn family_of<'a>(&'a self, quote: &'a str) -> &'a str {
        self.quote_families
            .iter()
            .find(|f| f.iter().any(|q| q.eq_ignore_ascii_case(quote)))
            .and_then(|f| f.first())
            .map_or(quote, String::as_str)
    }

    /// The consensus group of a venue's canonical `BASE/QUOTE` symbol, or
    /// `None` when the symbol is not `BASE/QUOTE`.
    pub fn pair_key(&self, venue: Venue, symbol: &str) -> Option<PairKey> {
        let (base, quote) = symbol.split_once('/')?;
        if base.is_empty() || quote.is_empty() {
            return None;
        }
        Some(PairKey {
            base: base.to_ascii_uppercase(),
            family: self.family_of(quote).to_ascii_uppercase(),
            market: (!self.mix_spot_perp).then(|| venues::market_of(venue)),
        })
    }

    /// Freshness limit in nanoseconds.
    pub fn freshness_ns(&self) -> Nanos {
        // Validated configs are far inside i64; a bad one saturates.
        (self.freshness_secs * SECOND as f64) as Nanos
    }
}

/// Which venues are compared with each other: one base asset in one quote
/// family (and one market, when spot and perp are not mixed).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PairKey {
    /// Base asset, upper case (`BTC`).
    pub base: String,
    /// Quote family name (`USD` for USD/USDT/USDC by default).
    pub family: String,
    /// The market (the venue spec's), or `None` when spot and perp share
    /// one consensus.
    pub market: Option<Market>,
}

/// One venue's latest price for a pair.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Observation {
    /// The venue.
    pub venue: Venue,
    /// The price (must be finite and positive to count).
    pub price: f64,
    /// When it was observed (engine time).
    pub observed_at: Nanos,
}

/// What the consensus says about one venue.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// The venue is with its peers: a move it shows is a market move.
    Confirmed,
    /// The venue alone is far from its peers: venue-local data.
    Divergent,
    /// Too few fresh venues to say which one is wrong.
    Unconfirmed,
}

impl Verdict {
    /// snake_case name for evidence.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Confirmed => "confirmed",
            Verdict::Divergent => "divergent",
            Verdict::Unconfirmed => "unconfirmed",
        }
    }
}

/// The consensus about one venue, with the numbers behind it.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Assessment {
    /// The verdict.
    pub verdict: Verdict,
    /// Whether the venue is (still) flagged divergent; feed this back as
    /// `was_divergent` next time (hysteresis).
    pub divergent: bool,
    /// Fresh, valid venues counted, the subject included.
    pub fresh_venues: usize,
    /// Median of the fresh venues' prices (NaN when the subject's own price
    /// is unusable).
    pub median: f64,
    /// 1.4826 x MAD of the fresh venues' prices.
    pub dispersion: f64,
    /// The divergence threshold, in price units.
    pub threshold: f64,
    /// Subject price minus median.
    pub gap: f64,
    /// `gap` in basis points of the median.
    pub gap_bps: f64,
}

impl Assessment {
    /// Nothing could be judged: unconfirmed, no numbers, the divergence
    /// flag as it was.
    pub fn unknown(was_divergent: bool) -> Assessment {
        Assessment {
            verdict: Verdict::Unconfirmed,
            divergent: was_divergent,
            fresh_venues: 0,
            median: f64::NAN,
            dispersion: f64::NAN,
            threshold: f64::NAN,
            gap: f64::NAN,
            gap_bps: f64::NAN,
        }
    }
}

fn usable(p: f64) -> bool {
    p.is_finite() && p > 0.0
}

/// Median of a slice, sorting it in place; `None` when empty. Callers pass
/// finite values only (total order makes any input safe anyway).
pub fn median_in_place(v: &mut [f64]) -> Option<f64> {
    v.sort_unstable_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return None;
    }
    let hi = *v.get(n / 2)?;
    if n % 2 == 1 {
        Some(hi)
    } else {
        let lo = *v.get(n / 2 - 1)?;
        Some(lo + (hi - lo) / 2.0)
    }
}

/// Median and robust dispersion (1.4826 x median absolute deviation) of
/// the finite values in `v`; `v` is reordered and overwritten. `None` when
/// no value is finite.
pub fn robust_stats(v: &mut Vec<f64>) -> Option<(f64, f64)> {
    v.retain(|x| x.is_finite());
    let med = median_in_place(v)?;
    for x in v.iter_mut() {
        *x = (*x - med).abs();
    }
    let mad = median_in_place(v)?;
    Some((med, MAD_SCALE * mad))
}

/// Assesses `subject` against `peers` at time `now`.
///
/// Peers of the same venue as the subject, stale ones (older than the
/// freshness limit, or from the future by more than it) and unusable prices
/// are ignored. `was_divergent` is the venue's previous
/// [`Assessment::divergent`] (hysteresis). `min_threshold` (price units,
/// 0 for none) widens the threshold, e.g. to a share of a candle's own move.
/// `scratch` is reused so that no evaluation allocates once it has grown.
pub fn assess(
    cfg: &ConsensusConfig,
    subject: &Observation,
    peers: &[Observation],
    now: Nanos,
    was_divergent: bool,
    min_threshold: f64,
    scratch: &mut Vec<f64>,
) -> Assessment {
    let fresh_ns = cfg.freshness_ns();
    let fresh = |o: &Observation| {
        usable(o.price) && now.saturating_sub(o.observed_at).saturating_abs() <= fresh_ns
    };
    let mut out = Assessment::unknown(was_divergent);
    if !fresh(subject) {
        return out;
    }
    scratch.clear();
    scratch.push(subject.price);
    for p in peers {
        if scratch.len() >= MAX_VENUES {
            break;
        }
        if p.venue != subject.venue && fresh(p) {
            scratch.push(p.price);
        }
    }
    out.fresh_venues = scratch.len();
    let floor_of = |m: f64| cfg.floor_bps * m / 1e4;
    let extra = if min_threshold.is_finite() {
        min_threshold.max(0.0)
    } else {
        0.0
    };
    let Some((median, dispersion)) = robust_stats(scratch) else {
        return out;
    };
    out.median = median;
    out.dispersion = dispersion;
    out.gap = subject.price - median;
    out.gap_bps = 1e4 * out.gap / median;
    if out.fresh_venues < MIN_VENUES {
        // Two points: the MAD threshold always covers the gap, so only the
        // floor can tell agreement; it cannot tell who is wrong.
        out.threshold = floor_of(median).max(extra);
        let limit = if was_divergent {
            cfg.readmit_ratio * out.threshold
        } else {
            out.threshold
        };
        if out.fresh_venues == 2 && 2.0 * out.gap.abs() <= limit {
            out.verdict = Verdict::Confirmed;
            out.divergent = false;
        }
        return out;
    }
    out.threshold = (cfg.k * dispersion).max(floor_of(median)).max(extra);
    let limit = if was_divergent {
        cfg.readmit_ratio * out.threshold
    } else {
        out.threshold
    };
    out.divergent = out.gap.abs() > limit;
    out.verdict = if out.divergent {
        Verdict::Divergent
    } else {
        Verdict::Confirmed
    };
    out
}

/// The latest observation of each venue of one pair, with each venue's
/// divergent flag: the stateful form the live engine keeps per pair.
#[derive(Debug, Default)]
pub struct PairConsensus {
    slots: Vec<Slot>,
    peers: Vec<Observation>,
    scratch: Vec<f64>,
}

#[derive(Copy, Clone, Debug)]
struct Slot {
    obs: Observation,
    divergent: bool,
}

/// Why an observation was not taken.
#[derive(Copy, Clone, Debug, PartialEq, thiserror::Error)]
pub enum Rejected {
    /// The price is NaN, infinite, zero or negative.
    #[error("price {0} is not a finite positive number")]
    BadPrice(f64),
    /// The pair already holds [`MAX_VENUES`] venues.
    #[error("more than {MAX_VENUES} venues for one pair")]
    TooManyVenues,
}

impl PairConsensus {
    /// An empty pair.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a venue's latest price. Bad prices are rejected and leave the
    /// venue's previous observation in place (it goes stale on its own).
    pub fn observe(&mut self, venue: Venue, price: f64, at: Nanos) -> Result<(), Rejected> {
        if !usable(price) {
            return Err(Rejected::BadPrice(price));
        }
        let obs = Observation {
            venue,
            price,
            observed_at: at,
        };
        match self.slots.iter_mut().find(|s| s.obs.venue == venue) {
            Some(s) => s.obs = obs,
            None => {
                if self.slots.len() >= MAX_VENUES {
                    return Err(Rejected::TooManyVenues);
                }
                self.slots.push(Slot {
                    obs,
                    divergent: false,
                });
            }
        }
        Ok(())
    }

    /// Assesses `venue` at `now` and updates its divergent flag. `None`
    /// when the venue has never been observed.
    pub fn assess(
        &mut self,
        cfg: &ConsensusConfig,
        venue: Venue,
        now: Nanos,
    ) -> Option<Assessment> {
        let i = self.slots.iter().position(|s| s.obs.venue == venue)?;
        let slot = *self.slots.get(i)?;
        self.peers.clear();
        self.peers.extend(self.slots.iter().map(|s| s.obs));
        let a = assess(
            cfg,
            &slot.obs,
            &self.peers,
            now,
            slot.divergent,
            0.0,
            &mut self.scratch,
        );
        if let Some(s) = self.slots.get_mut(i) {
            s.divergent = a.divergent;
        }
        Some(a)
    }

    /// Assesses a price of `subject.venue` that need not be its recorded
    /// observation (a single trade print, or another symbol of the venue in
    /// the same quote family) against the other venues' observations. No
    /// flag is changed: `was_divergent` is the caller's own (hysteresis).
    pub fn assess_price(
        &mut self,
        cfg: &ConsensusConfig,
        subject: &Observation,
        now: Nanos,
        was_divergent: bool,
    ) -> Assessment {
        self.peers.clear();
        self.peers.extend(self.slots.iter().map(|s| s.obs));
        assess(
            cfg,
            subject,
            &self.peers,
            now,
            was_divergent,
            0.0,
            &mut self.scratch,
        )
    }

    /// The latest observation of every venue of the pair (fresh or not).
    pub fn observations(&self) -> impl Iterator<Item = &Observation> {
        self.slots.iter().map(|s| &s.obs)
    }

    /// Whether `venue` is currently flagged divergent.
    pub fn is_divergent(&self, venue: Venue) -> bool {
        self.slots
            .iter()
            .any(|s| s.obs.venue == venue && s.divergent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const T: Nanos = 1_760_130_000 * SECOND;

    fn obs(v: Venue, p: f64) -> Observation {
        Observation {
            venue: v,
            price: p,
            observed_at: T,
        }
    }

    fn run(subject: Observation, peers: &[Observation], was: bool) -> Assessment {
        assess(
            &ConsensusConfig::default(),
            &subject,
            peers,
            T,
            was,
            0.0,
            &mut Vec::new(),
        )
    }

    #[test]
    fn median_and_mad_by_hand() {
        // 1, 2, 3, 4, 100: median 3; deviations 2, 1, 0, 1, 97 -> MAD 1.
        let mut v = vec![4.0, 100.0, 1.0, 3.0, 2.0];
        let (m, d) = robust_stats(&mut v).unwrap();
        assert_eq!(m, 3.0);
        assert!((d - 1.4826).abs() < 1e-12);
        // Even count: median is the mean of the middle pair.
        let mut v = vec![10.0, 20.0];
        assert_eq!(robust_stats(&mut v).unwrap(), (15.0, 1.4826 * 5.0));
        // Non-finite values are dropped, not sorted into the middle.
        let mut v = vec![f64::NAN, 5.0, f64::INFINITY];
        assert_eq!(robust_stats(&mut v).unwrap(), (5.0, 0.0));
        assert_eq!(robust_stats(&mut vec![f64::NAN]), None);
    }

    #[test]
    fn one_venue_far_from_four_is_divergent_then_readmitted_below_half() {
        let peers = [
            obs(Venue::Coinbase, 100_000.0),
            obs(Venue::Kraken, 100_010.0),
            obs(Venue::Okx, 99_990.0),
            obs(Venue::BybitSpot, 100_005.0),
        ];
        // 2% away: far beyond the 50 bp floor (500).
        let a = run(obs(Venue::BinanceSpot, 102_000.0), &peers, false);
        assert_eq!(a.verdict, Verdict::Divergent);
        assert_eq!(a.fresh_venues, 5);
        assert_eq!(a.median, 100_005.0);
        assert!(a.divergent);
        let thr = a.threshold;
        assert!((thr - 500.025).abs() < 1e-6, "{thr}");
        // Back to 60% of the threshold: still divergent (hysteresis).
        let near = 100_005.0 + 0.6 * thr;
        let a = run(obs(Venue::BinanceSpot, near), &peers, true);
        assert_eq!(a.verdict, Verdict::Divergent);
        // A venue not flagged before is fine at the same distance.
        let a = run(obs(Venue::BinanceSpot, near), &peers, false);
        assert_eq!(a.verdict, Verdict::Confirmed);
        // Below 50%: re-admitted.
        let a = run(obs(Venue::BinanceSpot, 100_005.0 + 0.4 * thr), &peers, true);
        assert_eq!(a.verdict, Verdict::Confirmed);
        assert!(!a.divergent);
    }

    #[test]
    fn pair_consensus_keeps_the_flag_between_calls() {
        let cfg = ConsensusConfig::default();
        let mut p = PairConsensus::new();
        for (v, px) in [
            (Venue::Coinbase, 100.0),
            (Venue::Kraken, 100.01),
            (Venue::Okx, 99.99),
        ] {
            p.observe(v, px, T).unwrap();
        }
        p.observe(Venue::BinanceSpot, 103.0, T).unwrap();
        let a = p.assess(&cfg, Venue::BinanceSpot, T).unwrap();
        assert_eq!(a.verdict, Verdict::Divergent);
        assert!(p.is_divergent(Venue::BinanceSpot));
        // 0.4% away: under the 0.5% threshold but above half of it.
        p.observe(Venue::BinanceSpot, 100.4, T + SECOND).unwrap();
        let a = p.assess(&cfg, Venue::BinanceSpot, T + SECOND).unwrap();
        assert_eq!(a.verdict, Verdict::Divergent);
        p.observe(Venue::BinanceSpot, 100.1, T + 2 * SECOND)
            .unwrap();
        let a = p.assess(&cfg, Venue::BinanceSpot, T + 2 * SECOND).unwrap();
        assert_eq!(a.verdict, Verdict::Confirmed);
        assert!(!p.is_divergent(Venue::BinanceSpot));
        assert_eq!(p.assess(&cfg, Venue::BybitLinear, T), None);
    }

    #[test]
    fn two_venues_that_disagree_are_unconfirmed_two_that_agree_confirm() {
        let a = run(
            obs(Venue::BinanceSpot, 103_000.0),
            &[obs(Venue::Coinbase, 100_000.0)],
            false,
        );
        assert_eq!(a.verdict, Verdict::Unconfirmed);
        assert_eq!(a.fresh_venues, 2);
        assert!(!a.divergent, "two venues cannot single one out");
        // Both moved to the same place (within 50 bp): a market move.
        let a = run(
            obs(Venue::BinanceSpot, 100_300.0),
            &[obs(Venue::Coinbase, 100_000.0)],
            false,
        );
        assert_eq!(a.verdict, Verdict::Confirmed);
        // Alone: unconfirmed.
        let a = run(obs(Venue::BinanceSpot, 100_000.0), &[], false);
        assert_eq!(a.verdict, Verdict::Unconfirmed);
        assert_eq!(a.fresh_venues, 1);
    }

    #[test]
    fn stale_and_same_venue_peers_do_not_count() {
        let old = Observation {
            venue: Venue::Kraken,
            price: 100_000.0,
            observed_at: T - 11 * SECOND,
        };
        let peers = [
            obs(Venue::Coinbase, 100_000.0),
            old,
            obs(Venue::BinanceSpot, 100_000.0),
        ];
        let a = run(obs(Venue::BinanceSpot, 100_000.0), &peers, false);
        assert_eq!(a.fresh_venues, 2);
        // At the edge of freshness it still counts.
        let edge = Observation {
            observed_at: T - 10 * SECOND,
            ..old
        };
        let a = run(
            obs(Venue::BinanceSpot, 100_000.0),
            &[obs(Venue::Coinbase, 100_000.0), edge],
            false,
        );
        assert_eq!(a.fresh_venues, 3);
    }

    #[test]
    fn nan_inf_and_nonpositive_prices_are_rejected_without_panic() {
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.0, -1.0] {
            let a = run(
                obs(Venue::BinanceSpot, bad),
                &[obs(Venue::Coinbase, 1.0), obs(Venue::Kraken, 1.0)],
                false,
            );
            assert_eq!(a.verdict, Verdict::Unconfirmed);
            assert_eq!(a.fresh_venues, 0);
            let a = run(
                obs(Venue::BinanceSpot, 1.0),
                &[obs(Venue::Coinbase, bad), obs(Venue::Kraken, 1.0)],
                false,
            );
            assert_eq!(a.fresh_venues, 2);
            let mut p = PairConsensus::new();
            assert_eq!(
                p.observe(Venue::Okx, bad, T).unwrap_err().to_string(),
                Rejected::BadPrice(bad).to_string()
            );
        }
    }

    #[test]
    fn quote_families_and_markets() {
        let cfg = ConsensusConfig::default();
        let k = |v, s| cfg.pair_key(v, s).unwrap();
        assert_eq!(
            k(Venue::BinanceUsdm, "BTC/USDT"),
            k(Venue::Other("gemini"), "BTC/USD")
        );
        assert_eq!(k(Venue::Coinbase, "BTC/USDC").family, "USD");
        assert_ne!(k(Venue::Coinbase, "BTC/EUR"), k(Venue::Coinbase, "BTC/USD"));
        assert_ne!(k(Venue::Coinbase, "ETH/USD"), k(Venue::Coinbase, "BTC/USD"));
        assert_eq!(cfg.pair_key(Venue::Coinbase, "BTCUSD"), None);
        let split = ConsensusConfig {
            mix_spot_perp: false,
            quote_families: vec![],
            ..cfg
        };
        split.validate().unwrap();
        assert_ne!(
            split.pair_key(Venue::BinanceUsdm, "BTC/USDT"),
            split.pair_key(Venue::BinanceSpot, "BTC/USDT")
        );
        assert_ne!(
            split.pair_key(Venue::BinanceSpot, "BTC/USDT"),
            split.pair_key(Venue::Coinbase, "BTC/USD")
        );
    }

    #[test]
    fn validate_names_the_key() {
        let ok = ConsensusConfig::default();
        ok.validate().unwrap();
        let e = ConsensusConfig {
            k: 0.0,
            ..ok.clone()
        }
        .validate()
        .unwrap_err();
        assert!(e.starts_with("consensus.k "), "{e}");
        let e = ConsensusConfig {
            freshness_secs: f64::NAN,
            ..ok.clone()
        }
        .validate()
        .unwrap_err();
        assert!(e.starts_with("consensus.freshness_secs "), "{e}");
        let e = ConsensusConfig {
            readmit_ratio: 1.5,
            ..ok.clone()
        }
        .validate()
        .unwrap_err();
        assert!(e.starts_with("consensus.readmit_ratio "), "{e}");
        let e = ConsensusConfig {
            quote_families: vec![vec!["USD".into()], vec!["usd".into()]],
            ..ok.clone()
        }
        .validate()
        .unwrap_err();
        assert!(e.contains("more than one family"), "{e}");
        let e = ConsensusConfig {
            eval_ms: 0,
            ..ok.clone()
        }
        .validate()
        .unwrap_err();
        assert!(e.starts_with("consensus.eval_ms "), "{e}");
        let e = ConsensusConfig {
            critical_after_s: -1.0,
            ..ok.clone()
        }
        .validate()
        .unwrap_err();
        assert!(e.starts_with("consensus.critical_after_s "), "{e}");
        let e = ConsensusConfig {
            hold_ms: 7_200_000,
            ..ok.clone()
        }
        .validate()
        .unwrap_err();
        assert!(e.starts_with("consensus.hold_ms "), "{e}");
        let toml_err = toml::from_str::<ConsensusConfig>("kk = 5.0").unwrap_err();
        assert!(toml_err.to_string().contains("kk"), "{toml_err}");
        let c: ConsensusConfig = toml::from_str("k = 4.0\nfloor_bps = 30.0").unwrap();
        assert_eq!((c.k, c.floor_bps, c.freshness_secs), (4.0, 30.0, 10.0));
    }

    const VENUES: [Venue; 6] = [
        Venue::BinanceSpot,
        Venue::Coinbase,
        Venue::Kraken,
        Venue::Okx,
        Venue::BybitSpot,
        Venue::Other("gemini"),
    ];

    fn any_price() -> impl Strategy<Value = f64> {
        prop_oneof![
            8 => 90.0f64..110.0,
            1 => prop::num::f64::ANY,
        ]
    }

    proptest! {
        #[test]
        fn never_panics_and_order_does_not_matter(
            prices in prop::collection::vec(any_price(), 1..6),
            ages in prop::collection::vec(-20i64..20, 6),
            was in any::<bool>(),
            extra in prop::num::f64::ANY,
            rot in 0usize..6,
        ) {
            let cfg = ConsensusConfig::default();
            let all: Vec<Observation> = prices
                .iter()
                .zip(VENUES)
                .zip(&ages)
                .map(|((&p, v), &age)| Observation { venue: v, price: p, observed_at: T - age * SECOND })
                .collect();
            let subject = all[0];
            let peers = &all[1..];
            let a = assess(&cfg, &subject, peers, T, was, extra, &mut Vec::new());
            let mut shuffled: Vec<Observation> = peers.to_vec();
            shuffled.reverse();
            let n = shuffled.len();
            if n > 0 {
                shuffled.rotate_left(rot % n);
            }
            let b = assess(&cfg, &subject, &shuffled, T, was, extra, &mut Vec::new());
            prop_assert_eq!(a.verdict, b.verdict);
            prop_assert_eq!(a.fresh_venues, b.fresh_venues);
            prop_assert_eq!(a.median.to_bits(), b.median.to_bits());
            prop_assert!(a.fresh_venues <= all.len());
            if a.verdict == Verdict::Divergent {
                prop_assert!(a.fresh_venues >= MIN_VENUES);
            }
        }
    }
}
