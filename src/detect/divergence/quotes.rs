//! Stablecoin quotes in the live consensus (`quote_depeg`): one
//! [`DepegTracker`] per quote of a pair's family other than its reference
//! (USDT and USDC against USD), fed with every subject's fresh price at
//! each assessment of the pair. While a quote is off its peg (from the
//! first instant, before its incident opens) its venues' prices enter the
//! consensus converted to the reference at the quote's implied rate, so a
//! quote that moved on every venue is not each venue's divergence, and a
//! venue off its own quote's venues still is. The rule itself lives in
//! `detect::consensus::quote`; this file only holds a pair's trackers.
//!
//! Bounded: a pair's quotes are the members of its configured family. It
//! never panics on any price (unusable ones are skipped).

use crate::alert::IncidentKey;
use crate::detect::consensus::{ConsensusConfig, Depeg, DepegTracker, QuotedPrice, quote_rate};
use crate::detect::verdict::Verdict;
use crate::model::{Nanos, Venue};

/// A `quote_depeg` verdict and the incident it is about.
pub type DepegFinding = (IncidentKey, Verdict<Depeg, Depeg>);

/// The quotes of one pair's family.
#[derive(Debug)]
pub(super) struct PairQuotes {
    base: String,
    /// Quote names, upper case; index 0 is the family's reference.
    names: Vec<String>,
    /// The tracker of quote `i + 1`.
    trackers: Vec<DepegTracker>,
    /// The latest consensus price (as sent, not converted) of each quote,
    /// for the per-frame look at whether a quote may have moved.
    last: Vec<Option<f64>>,
}

impl PairQuotes {
    /// The quotes of `base`'s family named `reference` (its first member).
    pub(super) fn new(base: &str, reference: &str) -> Self {
        PairQuotes {
            base: base.to_ascii_uppercase(),
            names: vec![reference.to_ascii_uppercase()],
            trackers: Vec::new(),
            last: vec![None],
        }
    }

    /// The index of `quote` (0 for the reference), adding it when new.
    pub(super) fn index(&mut self, quote: &str) -> usize {
        if let Some(i) = self
            .names
            .iter()
            .position(|n| n.eq_ignore_ascii_case(quote))
        {
            return i;
        }
        let name = quote.to_ascii_uppercase();
        let reference = self.names.first().cloned().unwrap_or_default();
        self.trackers
            .push(DepegTracker::new(&self.base, &name, &reference));
        self.names.push(name);
        self.last.push(None);
        self.names.len() - 1
    }

    /// What one unit of quote `q`'s prices is worth in reference units
    /// now: its implied rate while it is off its peg, else 1.
    pub(super) fn scale(&self, q: usize) -> f64 {
        q.checked_sub(1)
            .and_then(|i| self.trackers.get(i))
            .and_then(DepegTracker::rate)
            .filter(|r| r.is_finite() && *r > 0.0)
            .unwrap_or(1.0)
    }

    /// Records quote `q`'s latest consensus price.
    pub(super) fn note(&mut self, q: usize, price: f64) {
        if let Some(l) = self.last.get_mut(q) {
            *l = Some(price);
        }
    }

    /// Whether the latest prices suggest a quote on its peg has left it
    /// (its latest price `depeg_bps` from the reference's): worth an
    /// assessment even when every price is inside the pair's band.
    pub(super) fn drifted(&self, cfg: &ConsensusConfig) -> bool {
        let Some(Some(r)) = self.last.first() else {
            return false;
        };
        let band = cfg.depeg_bps / 1e4;
        self.trackers.iter().enumerate().any(|(i, t)| {
            !t.judged_within()
                && self
                    .last
                    .get(i + 1)
                    .copied()
                    .flatten()
                    .is_some_and(|p| (r / p - 1.0).abs() >= band)
        })
    }

    /// Whether some quote is off its peg (its venues are judged converted,
    /// and the tracker needs the clock).
    pub(super) fn any_within(&self) -> bool {
        self.trackers.iter().any(DepegTracker::judged_within)
    }

    /// Feeds every tracker the prices of one instant (`(venue, quote
    /// index, price)`); pushes their verdicts to `out` and returns whether
    /// some quote's scale changed.
    pub(super) fn update(
        &mut self,
        cfg: &ConsensusConfig,
        prices: &[(Venue, usize, f64)],
        now: Nanos,
        out: &mut Vec<DepegFinding>,
    ) -> bool {
        if self.trackers.is_empty() {
            return false;
        }
        let Some(reference) = self.names.first() else {
            return false;
        };
        let quoted: Vec<QuotedPrice<'_>> = prices
            .iter()
            .filter_map(|&(venue, q, price)| {
                Some(QuotedPrice {
                    venue,
                    quote: self.names.get(q)?,
                    price,
                })
            })
            .collect();
        let rates: Vec<_> = self
            .trackers
            .iter()
            .map(|t| quote_rate(cfg, reference, t.quote(), &quoted))
            .collect();
        let mut changed = false;
        for (t, rate) in self.trackers.iter_mut().zip(rates) {
            let before = t.rate();
            let v = t.update(cfg, rate, now);
            changed |= t.rate() != before;
            if !matches!(v, Verdict::Quiet) {
                out.push((t.key(), v));
            }
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use crate::detect::consensus::ConsensusConfig;
    use crate::detect::divergence::{Action, DivergenceWatch, Update};
    use crate::model::{SECOND, Symbol, Venue};
    use std::sync::Arc;

    const T: i64 = 1_723_161_300 * SECOND;

    #[test]
    fn a_quote_off_its_peg_is_read_at_its_rate_and_a_venue_off_its_quote_still_diverges() {
        let cfg = ConsensusConfig::default();
        let mut w = DivergenceWatch::new();
        let (usd, usdt): (Symbol, Symbol) = (Arc::from("BTC/USD"), Arc::from("BTC/USDT"));
        // USDT at 0.97 USD on three USDT venues; OKX a further 1.5% up.
        let prices = [
            (0, Venue::Coinbase, &usd, 100.0),
            (1, Venue::BinanceSpot, &usdt, 103.0),
            (2, Venue::BybitSpot, &usdt, 103.05),
            (3, Venue::Okx, &usdt, 104.6),
        ];
        let mut depegs = Vec::new();
        let mut fired = Vec::new();
        for s in 0..=62 {
            for &(i, v, sym, p) in &prices {
                // Findings are those of a call that assessed.
                if !w.on_price(&cfg, i, v, sym, Update::Mid, p, T + s * SECOND) {
                    continue;
                }
                depegs.extend(w.depegs().iter().map(|(k, _)| k.clone()));
                fired.extend(
                    w.findings()
                        .iter()
                        .filter(|f| matches!(f.action, Action::Fire(_)))
                        .map(|f| (f.venue, f.quote_rate)),
                );
            }
            if w.run_due(&cfg, T + s * SECOND + SECOND / 2) {
                depegs.extend(w.depegs().iter().map(|(k, _)| k.clone()));
            }
        }
        // The quote is one incident, named USDT/USD.
        assert_eq!(depegs.len(), 1, "{depegs:?}");
        assert_eq!(depegs[0].symbol.as_deref(), Some("USDT/USD"));
        // Only OKX is off its own quote's venues, judged at USDT's rate;
        // Coinbase (3% off every USDT venue) is never divergent.
        assert!(!fired.is_empty());
        assert!(
            fired
                .iter()
                .all(|(v, r)| *v == Venue::Okx && (r - 100.0 / 103.05).abs() < 1e-3),
            "{fired:?}"
        );
    }
}
