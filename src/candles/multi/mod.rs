//! Scanning candle history from several venues at once
//! (`feedwatch scan-candles --source VENUE:BASE/QUOTE=FILE ...`): each
//! source runs its own
//! [`CandleChecker`](crate::detect::candle::CandleChecker) exactly as a
//! single-source scan does, and every `abnormal_candle` is then put to the
//! cross-venue consensus (see [`crate::detect::consensus`]) of the other
//! sources of the same pair family in the same minute:
//!
//! - peers moved too -> a market move: severity `info`, the summary says
//!   peers confirm it and names them and their move;
//! - the venue alone moved -> venue-local bad data: severity kept (raised to
//!   `critical` when 3 or more venues single it out);
//! - two venues that disagree and are both abnormal by their own history ->
//!   `unconfirmed`, severity kept.
//!
//! **A peer with no candle in the minute** (trade-built bars have none when
//! nobody traded, or when a capture lagged: Gemini BTC/USD has none from
//! 20:55 to 21:07 UTC on 2025-10-10) still speaks about the *span* that
//! covers it, from the close of its last candle before the minute to the
//! close of its first candle after (at most [`SPAN_MAX_SECS`] either side;
//! the span is in the evidence, `consensus_basis` is `span`). Two things are
//! observed on both sides of a span and one is not:
//!
//! - observed: the close-to-close move over the span, on the peer and on
//!   this venue (its closes at the same two instants). They are compared
//!   exactly like in-minute moves (same mapping, tolerance and floor): if
//!   they part, this venue's *level* left the market, and with a peer calm by
//!   its own history that is venue-local (`divergent`, never `critical`: a
//!   span is not a minute three venues saw);
//! - observed: the market's pace, the median true range of the peer's
//!   candles just around its hole (up to 5 each side). A flagged move of at
//!   most `wick_k` times that scale (the candle checker's own yardstick) is
//!   ordinary for the market at that time;
//! - *not* observed: the peer's path inside the hole. A wick there cannot be
//!   confirmed by a peer that did not trade, and its absence of trades
//!   cannot refute one either (a lagging capture looks the same).
//!
//! So `confirmed` over a span needs both observed facts (net moves agree and
//! the move is ordinary for the market's pace): the venue is at the
//! market's level before and after, and the market was moving that fast.
//! A bad print in a calm market fails the second (a 3% wick is hundreds of
//! times a calm market's range) and stays `unconfirmed` at its severity. A
//! peer with no candle within the span limit on either side, or where this
//! venue has no candle at the span's ends, cannot say; with no peer able
//! to say, the verdict is `unconfirmed`, severity kept. Reading the candles
//! after the minute is a look-ahead only a scan of history can make.
//!
//! With two venues the prices alone cannot say which one is wrong; the
//! decision table of DETECTION.md breaks the tie: a big surprise against
//! the venue's own history with a peer that is calm by *its* own history
//! is venue-local. The compared quantity is the move over the candle (from
//! the candle's open for a wick, from the previous close for a return), not
//! the price level (a peer that moved further the same way confirms the
//! move and counts as having moved as far): perp against spot and USDT against USD carry a basis
//! that widens in a crash (3.7% between Binance USD-M and Gemini spot at
//! 21:20 UTC on 2025-10-10), while the moves stay comparable. The close
//! level gap is reported as context.
//!
//! **A source with no peer of its pair** (the only venue given for that
//! asset) cannot be confirmed by the same asset elsewhere. It can still be
//! part of a market-wide shock: when another asset of the scan, at the same
//! interval, broke *its own* range in the same minute and the same
//! direction (the same probe moved the same way by at least half the
//! `wick_k` multiple of the range scale its own checker held), two
//! independent assets jumped together, which one venue's bad print cannot
//! cause. That is a market-wide move (`info`, cause
//! `market_move`, `consensus` is `market`, the other assets named in the
//! evidence). Without such a companion the alert keeps its severity and
//! says there is no peer to ask.
//!
//! A scan is a pure function of the files and the configuration: no
//! network, no clock. Alerts other than `abnormal_candle` are never changed;
//! a hard-rule break (`candle_invalid`) is corrupt data whatever peers do.
//! A source with no peer of its pair family gives exactly the alerts of a
//! single-source scan.

mod annotate;
mod judge;
mod level;
mod moved_with;
mod quote;
mod report;
mod source;
mod span;
mod spec;

pub use report::{MultiReport, SourceSummary, VerdictCounts};
pub use source::MAX_SOURCES;
pub use span::SPAN_MAX_SECS;
pub use spec::{SourceSpec, SpecError};

use super::csv::{MAX_BAD_ROW_MESSAGES, ScanError};
use crate::alert::{Alert, Kind, Severity, State};
use crate::detect::candle::CandleConfig;
use crate::detect::consensus::{ConsensusConfig, Verdict};
use annotate::annotate;
use judge::{judge, probes_of};
use moved_with::{annotate_market, market_companions};
use quote::{QuoteWatch, watch_quotes};
use source::{Source, group_specs, load_sources};
use span::MarketScale;
use std::collections::HashMap;

/// Scans several sources (see the module docs). Specs naming the same
/// venue, symbol and kind are one source whose files are concatenated in
/// time order. `interval_secs` is the interval of exchange candles;
/// trade-built sources are one-minute.
pub fn scan_sources(
    candle: &CandleConfig,
    consensus: &ConsensusConfig,
    interval_secs: u32,
    specs: &[SourceSpec],
) -> Result<MultiReport, ScanError> {
    if interval_secs == 0 {
        return Err(ScanError::BadInterval);
    }
    let groups = group_specs(specs)?;
    let (sources, total) = load_sources(candle, consensus, interval_secs, groups)?;
    let peers_of = peers_of(&sources);
    let quotes = watch_quotes(consensus, &sources);

    let market = MarketScale {
        k: candle.wick_k,
        floor: candle.range_floor_bp / 1e4,
    };
    let mut counts = VerdictCounts::default();
    let mut scratch = Vec::new();
    let mut judged: Vec<Vec<Alert>> = Vec::with_capacity(sources.len());
    for (si, src) in sources.iter().enumerate() {
        let peers = peers_of.get(si).map_or(&[][..], Vec::as_slice);
        judged.push(judge_source(
            consensus,
            &market,
            &quotes,
            &sources,
            (si, src),
            peers,
            &mut counts,
            &mut scratch,
        ));
    }

    let mut alerts: Vec<Alert> = judged.into_iter().flatten().collect();
    alerts.extend(quotes.alerts);
    // Stable: equal times keep source order, and each source's own order.
    alerts.sort_by_key(|a| a.at);
    Ok(assemble(alerts, sources, &peers_of, total, counts))
}

/// Peers: other venues of the same pair family and interval.
fn peers_of(sources: &[Source]) -> Vec<Vec<usize>> {
    sources
        .iter()
        .map(|s| {
            sources
                .iter()
                .enumerate()
                .filter(|(_, o)| {
                    o.venue != s.venue
                        && o.interval_ns == s.interval_ns
                        && s.key.is_some()
                        && o.key == s.key
                })
                .map(|(j, _)| j)
                .collect()
        })
        .collect()
}

/// One source's alerts after the consensus: each opening or update of an
/// `abnormal_candle` put to its peers (or, without peers, to the other
/// assets), each resolve given the severity the consensus left its
/// incident at; other alerts unchanged.
#[allow(clippy::too_many_arguments)]
fn judge_source(
    consensus: &ConsensusConfig,
    market: &MarketScale,
    quotes: &QuoteWatch,
    sources: &[Source],
    (si, src): (usize, &Source),
    peers: &[usize],
    counts: &mut VerdictCounts,
    scratch: &mut Vec<f64>,
) -> Vec<Alert> {
    // Incident id -> severity after the consensus, for its resolve.
    let mut sev: HashMap<String, Severity> = HashMap::new();
    let mut out = Vec::with_capacity(src.alerts.len());
    for (a, row) in &src.alerts {
        let mut a = a.clone();
        if a.kind == Kind::AbnormalCandle {
            if a.state == State::Resolved {
                if let Some(s) = sev.remove(&a.incident) {
                    a.severity = s;
                }
            } else {
                counts.abnormal += 1;
                let c = src.loaded.rows.get(*row).map(|r| &r.candle);
                // A quote off its peg: judged within the quote.
                let within = c.and_then(|c| quotes.peers_at(sources, si, peers, c.open_ns));
                let peers = within.as_ref().map_or(peers, |(p, _)| p.as_slice());
                match c {
                    Some(c) if !peers.is_empty() => {
                        let probes = probes_of(&a, c);
                        if let Some(j) =
                            judge(consensus, market, sources, si, peers, c, &probes, scratch)
                        {
                            match j.verdict {
                                Verdict::Confirmed => counts.confirmed += 1,
                                Verdict::Divergent => counts.divergent += 1,
                                Verdict::Unconfirmed => counts.unconfirmed += 1,
                            }
                            annotate(&mut a, j);
                            if let Some((_, Some(q))) = &within {
                                a.evidence.0.push(("judged_within_quote", q.clone().into()));
                            }
                        }
                    }
                    Some(c) => {
                        let with =
                            market_companions(sources, si, c, &probes_of(&a, c), market.k / 2.0);
                        if with.is_empty() {
                            counts.without_peers += 1;
                        } else {
                            counts.market_wide += 1;
                            annotate_market(&mut a, &with);
                        }
                    }
                    None => counts.without_peers += 1,
                }
                sev.insert(a.incident.clone(), a.severity);
            }
        }
        out.push(a);
    }
    out
}

/// The report: the judged alerts, one summary per source, the first bad
/// rows of all sources.
fn assemble(
    alerts: Vec<Alert>,
    sources: Vec<Source>,
    peers_of: &[Vec<usize>],
    total: usize,
    counts: VerdictCounts,
) -> MultiReport {
    let mut bad_rows = Vec::new();
    let mut bad_row_count = 0usize;
    let mut summaries = Vec::with_capacity(sources.len());
    for (si, s) in sources.into_iter().enumerate() {
        bad_row_count = bad_row_count.saturating_add(s.loaded.bad.total);
        for m in s.loaded.bad.messages {
            if bad_rows.len() < MAX_BAD_ROW_MESSAGES {
                bad_rows.push(m);
            }
        }
        summaries.push(SourceSummary {
            venue: s.venue,
            symbol: s.symbol,
            stream: s.stream.name(),
            files: s.files,
            candles: s.loaded.rows.len(),
            bad_rows: s.loaded.bad.total,
            peers: peers_of.get(si).map_or(0, Vec::len),
            first_open_ns: s.loaded.rows.first().map(|r| r.candle.open_ns),
        });
    }
    MultiReport {
        alerts,
        sources: summaries,
        candles: total,
        bad_rows,
        bad_row_count,
        verdicts: counts,
    }
}

#[cfg(test)]
mod tests;
