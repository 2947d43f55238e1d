//! Stablecoin quotes in a multi-source scan: per base asset and quote
//! family, each minute's closes give every non-reference quote's implied
//! rate ([`quote_rate`]), a [`DepegTracker`] per quote turns them into
//! `quote_depeg` incidents, and while a quote is off its peg its sources
//! are judged against sources of the same quote only (and the others
//! without them). It must never change another alert; the rule itself
//! lives in `detect::consensus::quote`.

use super::source::Source;
use crate::alert::{Alert, Incidents};
use crate::detect::consensus::{ConsensusConfig, DepegTracker, QuotedPrice, quote_rate};
use crate::model::Nanos;

/// A source's close counts for the rate this many intervals after its
/// candle (thin markets skip minutes).
const STALE_INTERVALS: i64 = 5;

/// The quotes off their peg over the scan: per (base, quote), the open
/// times of the minutes judged within the quote, sorted.
#[derive(Default)]
pub(super) struct QuoteWatch {
    pub(super) alerts: Vec<Alert>,
    within: Vec<(String, String, Vec<Nanos>)>,
}

fn split(s: &Source) -> Option<(&str, &str)> {
    s.symbol.split_once('/')
}

impl QuoteWatch {
    /// Whether source `s`'s quote is off its peg in the minute `open_ns`.
    fn off_peg(&self, s: &Source, open_ns: Nanos) -> bool {
        let Some((base, quote)) = split(s) else {
            return false;
        };
        self.within.iter().any(|(b, q, mins)| {
            b.eq_ignore_ascii_case(base)
                && q.eq_ignore_ascii_case(quote)
                && mins.binary_search(&open_ns).is_ok()
        })
    }

    /// The peers source `me` is judged against in the minute `open_ns`:
    /// while its quote is off its peg, the peers of the same quote; while
    /// a peer's quote is, not that peer. `None`: the peers as given.
    pub(super) fn peers_at(
        &self,
        sources: &[Source],
        me: usize,
        peers: &[usize],
        open_ns: Nanos,
    ) -> Option<(Vec<usize>, Option<String>)> {
        let src = sources.get(me)?;
        let mine = self.off_peg(src, open_ns);
        let any = peers
            .iter()
            .filter_map(|&p| sources.get(p))
            .any(|p| self.off_peg(p, open_ns));
        if !mine && !any {
            return None;
        }
        let quote = split(src).map(|(_, q)| q);
        let kept = peers
            .iter()
            .copied()
            .filter(|&p| {
                sources.get(p).is_some_and(|ps| {
                    if mine {
                        split(ps).map(|(_, q)| q) == quote
                    } else {
                        !self.off_peg(ps, open_ns)
                    }
                })
            })
            .collect();
        Some((kept, mine.then(|| quote.unwrap_or("").to_string())))
    }
}

/// Watches every quote of every base's family over the scan's minutes.
pub(super) fn watch_quotes(cfg: &ConsensusConfig, sources: &[Source]) -> QuoteWatch {
    let mut w = QuoteWatch::default();
    let mut inc = Incidents::new();
    // Groups: sources of one base, family and interval.
    let mut seen: Vec<usize> = Vec::new();
    for (i, s) in sources.iter().enumerate() {
        if seen.contains(&i) || s.key.is_none() {
            continue;
        }
        let group: Vec<usize> = sources
            .iter()
            .enumerate()
            .filter(|(_, o)| o.key == s.key && o.interval_ns == s.interval_ns)
            .map(|(j, _)| j)
            .collect();
        seen.extend(&group);
        watch_group(cfg, sources, &group, &mut inc, &mut w);
    }
    w.alerts.sort_by_key(|a| a.at);
    w
}

fn watch_group(
    cfg: &ConsensusConfig,
    sources: &[Source],
    group: &[usize],
    inc: &mut Incidents,
    w: &mut QuoteWatch,
) {
    let Some(first) = group.first().and_then(|&i| sources.get(i)) else {
        return;
    };
    let Some((base, quote0)) = split(first) else {
        return;
    };
    let reference = cfg.family_of(quote0).to_ascii_uppercase();
    let mut quotes: Vec<String> = Vec::new();
    for &i in group {
        if let Some((_, q)) = sources.get(i).and_then(split) {
            let q = q.to_ascii_uppercase();
            let n = group
                .iter()
                .filter(|&&j| {
                    sources
                        .get(j)
                        .and_then(split)
                        .is_some_and(|(_, x)| x.eq_ignore_ascii_case(&q))
                })
                .count();
            if q != reference && n >= cfg.depeg_min_venues && !quotes.contains(&q) {
                quotes.push(q);
            }
        }
    }
    if quotes.is_empty() {
        return;
    }
    let interval = first.interval_ns;
    let mut minutes: Vec<Nanos> = group
        .iter()
        .filter_map(|&i| sources.get(i))
        .flat_map(|s| s.loaded.rows.iter().map(|r| r.candle.open_ns))
        .collect();
    minutes.sort_unstable();
    minutes.dedup();
    let mut trackers: Vec<(DepegTracker, Vec<Nanos>)> = quotes
        .iter()
        .map(|q| (DepegTracker::new(base, q, &reference), Vec::new()))
        .collect();
    let mut prices: Vec<QuotedPrice<'_>> = Vec::with_capacity(group.len());
    for &t in &minutes {
        prices.clear();
        for &i in group {
            let Some(s) = sources.get(i) else { continue };
            let Some((_, q)) = split(s) else { continue };
            let rows = &s.loaded.rows;
            let k = rows.partition_point(|r| r.candle.open_ns <= t);
            let Some(r) = k.checked_sub(1).and_then(|k| rows.get(k)) else {
                continue;
            };
            if t.saturating_sub(r.candle.open_ns) <= STALE_INTERVALS * interval {
                prices.push(QuotedPrice {
                    venue: s.venue,
                    quote: q,
                    price: r.candle.close,
                });
            }
        }
        let now = t.saturating_add(interval);
        for (tr, within) in &mut trackers {
            let rate = quote_rate(cfg, &reference, tr.quote(), &prices);
            let key = tr.key();
            tr.update(cfg, rate, now)
                .report(inc, &key, now, &mut w.alerts);
            if tr.judged_within() {
                within.push(t);
            }
        }
    }
    if let Some(&last) = minutes.last() {
        inc.tick(last.saturating_add(interval), &mut w.alerts);
    }
    for (tr, within) in trackers {
        w.within
            .push((base.to_ascii_uppercase(), tr.quote().to_string(), within));
    }
}
