//! The `[consensus]` config section, and which venues are compared with
//! each other ([`PairKey`]: one base asset in one quote family, and one
//! market when spot and perp are not mixed).

use super::Market;
use crate::model::{Nanos, SECOND, Venue};
use crate::venues;
use serde::{Deserialize, Serialize};

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
    /// `quote_depeg`: a quote of a family (USDT, USDC against USD) whose
    /// markets all sit this far (bps) from the family's reference quote,
    /// on at least `depeg_min_venues` venues, has left its peg.
    pub depeg_bps: f64,
    /// `quote_depeg`: venues quoting the stablecoin that must agree before
    /// its own markets (not one venue's) are believed to have moved.
    pub depeg_min_venues: usize,
    /// `quote_depeg`: the quote must stay off its peg this long (s) before
    /// the incident opens, and back within half of `depeg_bps` this long
    /// before it resolves. Its venues are judged within the quote from the
    /// first instant.
    pub depeg_hold_s: f64,
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
            depeg_bps: 50.0,
            depeg_min_venues: 2,
            depeg_hold_s: 60.0,
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
        if !(self.depeg_bps.is_finite() && self.depeg_bps > 0.0 && self.depeg_bps < 10_000.0) {
            return Err(format!(
                "consensus.depeg_bps must be in (0, 10000), got {}",
                self.depeg_bps
            ));
        }
        if !(2..=64).contains(&self.depeg_min_venues) {
            return Err(format!(
                "consensus.depeg_min_venues must be in 2..=64, got {}",
                self.depeg_min_venues
            ));
        }
        if !(self.depeg_hold_s.is_finite() && (0.0..=86_400.0).contains(&self.depeg_hold_s)) {
            return Err(format!(
                "consensus.depeg_hold_s must be in [0, 86400], got {}",
                self.depeg_hold_s
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
