//! Stablecoin quotes of one family (`quote_depeg`): USD, USDT and USDC
//! count as one quote family only while the stablecoins hold their peg. In
//! March 2023 USDC traded near 0.87 USD and every BTC/USDC market on every
//! venue sat 10-13% above BTC/USD; judging those venues against USD peers
//! calls each of them divergent. So the quote itself is watched: the
//! family's first member is the reference (USD by default), and each other
//! quote's value in it is implied by every venue that quotes the same base
//! in it, `reference median / venue price` (BTC/USD 22,000 over BTC/USDC
//! 25,000 is USDC at 0.88).
//!
//! A quote is off its peg when at least `depeg_min_venues` venues quote
//! the base in it and *every one* of them implies a rate at least
//! `depeg_bps` from 1 on the same side: one venue alone off the others is
//! that venue's data (`price_divergence`, `abnormal_candle`), all of one
//! quote's markets moving together is the quote. Held `depeg_hold_s`, the
//! `quote_depeg` incident opens (warning, cause `market_move`); it
//! resolves once the median implied rate has been back within
//! `readmit_ratio x depeg_bps` for `depeg_hold_s`. From the first instant
//! the quote is off its peg (before the incident opens) its venues are
//! judged within the quote by the callers.
//!
//! Pure and deterministic: no clock, no I/O, never a panic on any price
//! (unusable prices are skipped).

use super::{ConsensusConfig, median_in_place, usable};
use crate::alert::words::fmt_price;
use crate::alert::{Evidence, IncidentKey, Kind, Severity};
use crate::detect::verdict::{self, Verdict, Words};
use crate::model::{Nanos, SECOND, Venue, format_rfc3339_ms};
use serde_json::{Value, json};

/// The venue a `quote_depeg` alert is filed under: the consensus across
/// venues says it, no one venue is at fault.
pub const DEPEG_VENUE: Venue = Venue::Other("consensus");

/// One venue's price of a base in one quote.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct QuotedPrice<'a> {
    /// The venue.
    pub venue: Venue,
    /// Its quote currency (`USDC`).
    pub quote: &'a str,
    /// Its price of the base.
    pub price: f64,
}

/// What the prices of one instant say of one quote against the reference.
#[derive(Clone, Debug, PartialEq)]
pub struct QuoteRate {
    /// One unit of the quote in reference units: the median of its venues'
    /// implied rates.
    pub rate: f64,
    /// Each venue quoting it, with the rate its price implies.
    pub venues: Vec<(Venue, f64)>,
    /// Venues quoting the reference.
    pub reference_venues: usize,
    /// Every venue (at least `depeg_min_venues`) implies a rate at least
    /// `depeg_bps` from 1, on the same side.
    pub off_peg: bool,
}

/// The rate of `quote` in `reference` units implied by `prices` (one base,
/// one family); `None` when no reference price is usable or fewer than
/// `depeg_min_venues` venues quote it (nothing can be said).
pub fn quote_rate(
    cfg: &ConsensusConfig,
    reference: &str,
    quote: &str,
    prices: &[QuotedPrice<'_>],
) -> Option<QuoteRate> {
    let mut refs: Vec<f64> = prices
        .iter()
        .filter(|p| p.quote.eq_ignore_ascii_case(reference) && usable(p.price))
        .map(|p| p.price)
        .collect();
    let reference_venues = refs.len();
    let r = median_in_place(&mut refs)?;
    let mut venues: Vec<(Venue, f64)> = Vec::new();
    for p in prices {
        if p.quote.eq_ignore_ascii_case(quote)
            && usable(p.price)
            && !venues.iter().any(|(v, _)| *v == p.venue)
        {
            venues.push((p.venue, r / p.price));
        }
    }
    if venues.len() < cfg.depeg_min_venues {
        return None;
    }
    let band = cfg.depeg_bps / 1e4;
    let above = venues.iter().all(|(_, x)| *x - 1.0 >= band);
    let below = venues.iter().all(|(_, x)| 1.0 - *x >= band);
    let mut rates: Vec<f64> = venues.iter().map(|(_, x)| *x).collect();
    let rate = median_in_place(&mut rates)?;
    Some(QuoteRate {
        rate,
        venues,
        reference_venues,
        off_peg: above || below,
    })
}

/// The peg of one quote of one base's family over time: pending while off
/// its peg for less than `depeg_hold_s`, then an open `quote_depeg` until
/// back near its peg for as long.
#[derive(Clone, Debug)]
pub struct DepegTracker {
    base: String,
    quote: String,
    reference: String,
    off_since: Option<Nanos>,
    back_since: Option<Nanos>,
    open: bool,
    /// The rate farthest from 1 while off its peg.
    worst: f64,
    last: Option<QuoteRate>,
}

/// `quote_depeg` fires or clears: what the tracker saw.
#[derive(Clone, Debug)]
pub struct Depeg {
    base: String,
    quote: String,
    reference: String,
    rate: QuoteRate,
    worst: f64,
    since: Nanos,
    now: Nanos,
    threshold_bps: f64,
}

impl DepegTracker {
    /// A quote on its peg, for `base` quoted in `quote` against `reference`.
    pub fn new(base: &str, quote: &str, reference: &str) -> Self {
        DepegTracker {
            base: base.to_ascii_uppercase(),
            quote: quote.to_ascii_uppercase(),
            reference: reference.to_ascii_uppercase(),
            off_since: None,
            back_since: None,
            open: false,
            worst: 1.0,
            last: None,
        }
    }

    /// The incident key: the quote against its reference (`USDC/USD`), on
    /// the stream of the base it was seen through (`quote:BTC`).
    pub fn key(&self) -> IncidentKey {
        IncidentKey {
            venue: DEPEG_VENUE,
            symbol: Some(format!("{}/{}", self.quote, self.reference).into()),
            stream: Some(format!("quote:{}", self.base)),
        }
    }

    /// Its quote currency.
    pub fn quote(&self) -> &str {
        &self.quote
    }

    /// Whether the quote's venues are judged within the quote now: off its
    /// peg (pending or open) and not yet back.
    pub fn judged_within(&self) -> bool {
        self.open || self.off_since.is_some()
    }

    /// The quote's latest rate while [`judged_within`](Self::judged_within).
    pub fn rate(&self) -> Option<f64> {
        self.judged_within()
            .then(|| self.last.as_ref().map(|r| r.rate))
            .flatten()
    }

    /// The rate at `now` (`None`: nothing can be said, the state holds).
    pub fn update(
        &mut self,
        cfg: &ConsensusConfig,
        rate: Option<QuoteRate>,
        now: Nanos,
    ) -> Verdict<Depeg, Depeg> {
        let Some(r) = rate else {
            return Verdict::Quiet;
        };
        let hold = (cfg.depeg_hold_s * SECOND as f64) as Nanos;
        let band = cfg.depeg_bps / 1e4;
        let off = r.off_peg;
        let back = (r.rate - 1.0).abs() < cfg.readmit_ratio * band;
        if (off || self.open) && (r.rate - 1.0).abs() > (self.worst - 1.0).abs() {
            self.worst = r.rate;
        }
        self.last = Some(r);
        if !self.open {
            if !off {
                self.off_since = None;
                self.worst = 1.0;
                return Verdict::Quiet;
            }
            let since = *self.off_since.get_or_insert(now);
            if now.saturating_sub(since) < hold {
                return Verdict::Quiet;
            }
            self.open = true;
            self.back_since = None;
            return Verdict::Fire(self.depeg(cfg, since, now));
        }
        if !back {
            self.back_since = None;
            return Verdict::Quiet;
        }
        let b = *self.back_since.get_or_insert(now);
        if now.saturating_sub(b) < hold {
            return Verdict::Quiet;
        }
        let since = self.off_since.unwrap_or(b);
        let d = self.depeg(cfg, since, now);
        self.open = false;
        self.off_since = None;
        self.back_since = None;
        self.worst = 1.0;
        Verdict::Clear(d)
    }

    fn depeg(&self, cfg: &ConsensusConfig, since: Nanos, now: Nanos) -> Depeg {
        Depeg {
            base: self.base.clone(),
            quote: self.quote.clone(),
            reference: self.reference.clone(),
            rate: self.last.clone().unwrap_or(QuoteRate {
                rate: f64::NAN,
                venues: Vec::new(),
                reference_venues: 0,
                off_peg: false,
            }),
            worst: self.worst,
            since,
            now,
            threshold_bps: cfg.depeg_bps,
        }
    }
}

impl Depeg {
    fn venues(&self) -> String {
        let v: Vec<&str> = self.rate.venues.iter().map(|(v, _)| v.id()).collect();
        v.join(", ")
    }
}

impl Words for Depeg {
    fn kind(&self) -> Kind {
        Kind::QuoteDepeg
    }
    fn summary(&self, _key: &IncidentKey) -> String {
        let r = self.rate.rate;
        // BTC/USDC's premium over BTC/USD is 1/rate - 1.
        let premium = 100.0 * (1.0 / r - 1.0);
        let side = if premium >= 0.0 { "above" } else { "below" };
        if self.rate.off_peg || (r - 1.0).abs() * 1e4 >= self.threshold_bps {
            format!(
                "{q} is off its peg: {q} is worth {} {rf} (low {}), so {b}/{q} trades {:.2}% {side} {b}/{rf} on every venue quoting it ({}) for {:.0} min: the quote moved, not these venues' data; {q} venues are judged against {q} peers, do not read {q} prices as {rf}.",
                fmt_price(r),
                fmt_price(self.worst),
                premium.abs(),
                self.venues(),
                (self.now - self.since) as f64 / (60 * SECOND) as f64,
                q = self.quote,
                rf = self.reference,
                b = self.base,
            )
        } else {
            format!(
                "{q} is back near its peg: worth {} {rf} ({b}/{q} {:.2}% {side} {b}/{rf}; the low was {}).",
                fmt_price(r),
                premium.abs(),
                fmt_price(self.worst),
                q = self.quote,
                rf = self.reference,
                b = self.base,
            )
        }
    }
    fn evidence(&self) -> Evidence {
        let venues: Vec<Value> = self
            .rate
            .venues
            .iter()
            .map(|(v, x)| json!({"venue": v.id(), "rate": crate::alert::round_value(*x, 6)}))
            .collect();
        Evidence::new()
            .with("quote", self.quote.clone())
            .with("reference", self.reference.clone())
            .with("base", self.base.clone())
            .num("rate", self.rate.rate, 6)
            .num("deviation_bps", 1e4 * (self.rate.rate - 1.0), 1)
            .num("worst_rate", self.worst, 6)
            .num("threshold_bps", self.threshold_bps, 1)
            .with("venues", Value::Array(venues))
            .with("reference_venues", self.rate.reference_venues)
            .with("since", format_rfc3339_ms(self.since))
    }
}

impl verdict::Finding for Depeg {
    fn severity(&self) -> Severity {
        Severity::Warning
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(venue: &str, quote: &'static str, price: f64) -> QuotedPrice<'static> {
        QuotedPrice {
            venue: Venue::parse_any(venue).unwrap(),
            quote,
            price,
        }
    }

    #[test]
    fn every_venue_of_the_quote_must_move_and_one_alone_is_not_the_quote() {
        let cfg = ConsensusConfig::default();
        let all = [
            p("a", "USD", 22_000.0),
            p("b", "USDC", 25_000.0),
            p("c", "USDC", 24_900.0),
        ];
        let r = quote_rate(&cfg, "USD", "USDC", &all).unwrap();
        assert!(r.off_peg);
        assert!((r.rate - 22_000.0 / 24_950.0).abs() < 1e-3, "{r:?}");
        // One USDC venue off, the other at the peg: that venue, not USDC.
        let one = [
            p("a", "USD", 22_000.0),
            p("b", "USDC", 25_000.0),
            p("c", "USDC", 22_010.0),
        ];
        assert!(!quote_rate(&cfg, "USD", "USDC", &one).unwrap().off_peg);
        // A single USDC venue cannot say; neither can no reference.
        assert!(quote_rate(&cfg, "USD", "USDC", &all[..2]).is_none());
        assert!(quote_rate(&cfg, "USD", "USDC", &all[1..]).is_none());
        let bad = [
            p("a", "USD", f64::NAN),
            p("b", "USDC", 1.0),
            p("c", "USDC", 0.0),
        ];
        assert!(quote_rate(&cfg, "USD", "USDC", &bad).is_none());
    }

    #[test]
    fn the_depeg_opens_after_the_hold_and_resolves_after_as_long_back() {
        let cfg = ConsensusConfig::default();
        let mut t = DepegTracker::new("BTC", "USDC", "USD");
        let at = |usdc: f64| {
            [
                p("a", "USD", 22_000.0),
                p("b", "USDC", usdc),
                p("c", "USDC", usdc * 1.001),
            ]
        };
        let step = |t: &mut DepegTracker, s: i64, usdc: f64| {
            let r = quote_rate(&cfg, "USD", "USDC", &at(usdc));
            match t.update(&cfg, r, s * SECOND) {
                Verdict::Quiet => "quiet",
                Verdict::Fire(_) => "fire",
                Verdict::Clear(_) => "clear",
            }
        };
        assert_eq!(step(&mut t, 0, 22_000.0), "quiet");
        assert!(!t.judged_within());
        assert_eq!(step(&mut t, 10, 25_000.0), "quiet");
        // Judged within the quote at once, paged only once held.
        assert!(t.judged_within());
        assert_eq!(step(&mut t, 40, 25_100.0), "quiet");
        assert_eq!(step(&mut t, 70, 25_100.0), "fire");
        assert_eq!(step(&mut t, 80, 22_000.0), "quiet");
        assert!(t.judged_within());
        assert_eq!(step(&mut t, 200, 22_000.0), "clear");
        assert!(!t.judged_within());
    }
}
