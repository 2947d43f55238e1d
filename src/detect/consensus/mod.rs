//! Cross-venue consensus: is a venue's price a venue glitch or a real move?
//!
//! Per canonical pair (base asset plus a *quote family*: USD, USDT and USDC
//! count as one unless configured otherwise), the prices of the venues that
//! are fresh are summarised by their median and a robust dispersion
//! (1.4826 x MAD), each venue judged against the *others* (leave-one-out:
//! a venue never widens its own threshold). A venue farther from the median than
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
//!
//! The files: this one (the observations, the one judgment [`assess`] and
//! its robust statistics), `config` (the `[consensus]` section and which
//! venues form a pair, [`PairKey`]) and `pair` (the stateful
//! [`PairConsensus`] the live engine keeps per pair).

mod config;
mod pair;
mod quote;

pub use crate::model::Market;
pub use config::{ConsensusConfig, PairKey};
pub use pair::{PairConsensus, Rejected};
pub use quote::{DEPEG_VENUE, Depeg, DepegTracker, QuoteRate, QuotedPrice, quote_rate};

use crate::model::{Nanos, Venue};

/// Scale factor that turns a median absolute deviation into a standard
/// deviation for normally distributed data.
pub const MAD_SCALE: f64 = 1.4826;
/// Fewer fresh venues than this cannot single out the wrong one.
pub const MIN_VENUES: usize = 3;
/// At most this many venues are kept per pair; further venues are ignored
/// (bounded memory whatever the input).
pub const MAX_VENUES: usize = 64;

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
    /// Median of the other fresh venues' prices, the subject's included
    /// only with fewer than 3 venues (NaN when the subject's own price
    /// is unusable).
    pub median: f64,
    /// 1.4826 x MAD of the same prices.
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
    if out.fresh_venues >= MIN_VENUES {
        // Leave-one-out: the subject never widens its own threshold nor
        // pulls the median towards itself (with three venues, MAD over all
        // three is the second-largest deviation: one volatile peer and the
        // subject itself would hide any outlier).
        scratch.swap_remove(0);
    }
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

#[cfg(test)]
mod tests;
