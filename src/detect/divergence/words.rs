//! What a `price_divergence` alert says: a [`Finding`] of the watch as a
//! verdict ([`Finding::verdict`]), worded with the consensus numbers
//! behind it.

use super::{Action, ClearReason, Finding, PriceSource};
use crate::alert::words::fmt_price;
use crate::alert::{Evidence, IncidentKey, Kind, Severity};
use crate::detect::verdict::{self, Verdict, Words};
use crate::model::format_rfc3339_ms;

/// `price_divergence` fires: the venue's price is off its peers' median.
#[derive(Debug)]
pub struct Diverged<'a> {
    finding: &'a Finding,
    severity: Severity,
}

/// `price_divergence` clears: back with the peers, or no longer judged.
#[derive(Debug)]
pub struct Rejoined<'a> {
    finding: &'a Finding,
    reason: ClearReason,
}

impl Finding {
    /// The incident key: the venue's symbol.
    pub fn key(&self) -> IncidentKey {
        IncidentKey {
            venue: self.venue,
            symbol: Some(self.symbol.clone()),
            stream: None,
        }
    }

    /// The finding as a verdict.
    pub fn verdict(&self) -> Verdict<Diverged<'_>, Rejoined<'_>> {
        match self.action {
            Action::Fire(severity) => Verdict::Fire(Diverged {
                finding: self,
                severity,
            }),
            Action::Clear(reason) => Verdict::Clear(Rejoined {
                finding: self,
                reason,
            }),
        }
    }

    /// The numbers shared by a firing and a clearing alert.
    fn evidence(&self) -> Evidence {
        let a = &self.assessment;
        let e = Evidence::new();
        // While its quote is off its peg, the price is in the family's
        // reference, converted at the quote's implied rate.
        let e = if self.quote_rate != 1.0 {
            e.num("quote_rate", self.quote_rate, 6)
        } else {
            e
        };
        e.num("price", self.price, 8)
            .with("price_source", self.source.name())
            .num("median", a.median, 8)
            .num("dispersion", a.dispersion, 8)
            .num("threshold", a.threshold, 8)
            .num("threshold_bps", 1e4 * a.threshold / a.median, 2)
            .num("gap_bps", a.gap_bps, 2)
            .with("fresh_venues", a.fresh_venues)
            .with("peers", self.peers.clone())
            .with("verdict", a.verdict.name())
            .num("held_s", self.held_s, 3)
            .with("since", format_rfc3339_ms(self.since))
    }

    /// The gap as a sentence's parts: percent, side, median, base asset.
    fn gap_words(&self) -> (f64, &'static str, String, &str) {
        let a = &self.assessment;
        let pct = (a.gap_bps / 100.0).abs();
        let side = if a.gap >= 0.0 { "above" } else { "below" };
        let base = self.symbol.split('/').next().unwrap_or(&self.symbol);
        (pct, side, fmt_price(a.median), base)
    }
}

impl Words for Diverged<'_> {
    fn kind(&self) -> Kind {
        Kind::PriceDivergence
    }
    fn summary(&self, _key: &IncidentKey) -> String {
        let f = self.finding;
        let a = &f.assessment;
        let n = a.fresh_venues;
        let (pct, side, median, base) = f.gap_words();
        if f.source == PriceSource::TradePrint {
            return format!(
                "{} {} printed a trade at {}, {pct:.2}% {side} the {n}-venue median of {median}, that its peers do not confirm: a bad print, not a market move; do not act on it.",
                f.venue,
                f.symbol,
                fmt_price(f.price)
            );
        }
        let what = if f.source == PriceSource::BboMid {
            "quotes"
        } else {
            "trades"
        };
        let held = if f.held_s >= 0.1 {
            format!(" for {:.1} s", f.held_s)
        } else {
            String::new()
        };
        format!(
            "{} {} {what} {pct:.2}% {side} the {n}-venue median of {median} (threshold {:.2}%){held}: do not trust {}'s price for {base}.",
            f.venue,
            f.symbol,
            a.threshold / a.median * 100.0,
            f.venue
        )
    }
    fn evidence(&self) -> Evidence {
        self.finding.evidence()
    }
}

impl verdict::Finding for Diverged<'_> {
    fn severity(&self) -> Severity {
        self.severity
    }
}

impl Words for Rejoined<'_> {
    fn kind(&self) -> Kind {
        Kind::PriceDivergence
    }
    fn summary(&self, _key: &IncidentKey) -> String {
        let f = self.finding;
        let n = f.assessment.fresh_venues;
        let (pct, _, median, base) = f.gap_words();
        match self.reason {
            ClearReason::Readmitted => format!(
                "{} {} is back with its peers ({pct:.2}% from the {n}-venue median of {median}) after {:.1} s.",
                f.venue, f.symbol, f.held_s
            ),
            ClearReason::Unconfirmed => format!(
                "{} {} can no longer be judged: only {n} fresh venue(s) quote {base}, too few to say which one is wrong.",
                f.venue, f.symbol
            ),
            ClearReason::Stale => format!(
                "{} {} has no fresh price to judge (feed_silent covers a silent stream).",
                f.venue, f.symbol
            ),
        }
    }
    fn evidence(&self) -> Evidence {
        self.finding.evidence()
    }
}
