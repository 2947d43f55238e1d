//! Scanning candle history from several venues at once
//! (`feedwatch scan-candles --source VENUE:BASE/QUOTE=FILE ...`): each
//! source runs its own [`CandleChecker`] exactly as a single-source scan
//! does, and every `abnormal_candle` is then put to the cross-venue
//! consensus (see [`crate::detect::consensus`]) of the other sources of the
//! same pair family in the same minute:
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

use super::csv::{MAX_BAD_ROW_MESSAGES, MAX_CANDLES, ScanError};
use super::scan::{Loaded, interval_of, load};
use crate::alert::{Alert, Incidents, Kind, Severity, State};
use crate::detect::candle::{CandleChecker, CandleConfig};
use crate::detect::consensus::{
    ConsensusConfig, MIN_VENUES, Observation, PairKey, Verdict, assess, median_in_place,
};
use crate::model::{Candle, Nanos, SECOND, StreamKind, Symbol, Venue, format_rfc3339_ms};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::PathBuf;
use std::str::FromStr;

/// At most this many distinct sources in one scan (bounded memory).
pub const MAX_SOURCES: usize = 32;

/// The ending the candle checker gives an abnormal candle's summary; the
/// consensus replaces it with its verdict.
const ABNORMAL_TAIL: &str = ": abnormal print, check other venues before acting on it.";

/// One `--source` argument: `[trades:]VENUE:BASE/QUOTE=FILE`.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceSpec {
    /// Venue id (any id, e.g. `gemini`).
    pub venue: Venue,
    /// Canonical `BASE/QUOTE`, upper case.
    pub symbol: Symbol,
    /// Candles built from trades (`trades:` prefix): a minute without
    /// trades has no candle and is not a gap.
    pub from_trades: bool,
    /// The CSV file.
    pub path: PathBuf,
}

/// A `--source` argument that cannot be used.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error(
    "bad --source `{spec}`: {reason}; use [trades:]VENUE:BASE/QUOTE=FILE, e.g. binance-usdm:BTC/USDT=klines.csv or trades:gemini:BTC/USD=bars.csv"
)]
pub struct SpecError {
    /// The argument as given.
    pub spec: String,
    /// What is wrong with it.
    pub reason: String,
}

impl FromStr for SourceSpec {
    type Err = SpecError;

    fn from_str(spec: &str) -> Result<Self, SpecError> {
        let err = |reason: String| SpecError {
            spec: spec.chars().take(200).collect(),
            reason,
        };
        let (left, path) = spec
            .split_once('=')
            .ok_or_else(|| err("no `=FILE`".into()))?;
        if path.is_empty() {
            return Err(err("empty file name".into()));
        }
        let (from_trades, rest) = match left.strip_prefix("trades:") {
            Some(r) if r.contains(':') => (true, r),
            _ => (false, left),
        };
        let (venue, symbol) = rest
            .split_once(':')
            .ok_or_else(|| err("no `VENUE:` before the symbol".into()))?;
        let venue = Venue::parse_any(venue).map_err(|e| {
            err(format!(
                "venue `{}` is not a venue id (lowercase a-z, 0-9, `-`): {e}",
                e.0
            ))
        })?;
        let ok = symbol.split_once('/').is_some_and(|(b, q)| {
            !b.is_empty()
                && !q.is_empty()
                && !q.contains('/')
                && symbol
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '/')
        });
        if !ok {
            return Err(err(format!(
                "symbol `{symbol}` is not canonical BASE/QUOTE (e.g. BTC/USDT)"
            )));
        }
        Ok(SourceSpec {
            venue,
            symbol: Symbol::from(symbol.to_ascii_uppercase()),
            from_trades,
            path: PathBuf::from(path),
        })
    }
}

/// One source of a multi-source scan, as summarised afterwards.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceSummary {
    /// Venue.
    pub venue: Venue,
    /// Canonical symbol.
    pub symbol: Symbol,
    /// Stream name in the alerts (`kline_1m`, `trade_candles_1m`).
    pub stream: String,
    /// Files read.
    pub files: usize,
    /// Candles read and checked.
    pub candles: usize,
    /// Bad rows skipped.
    pub bad_rows: usize,
    /// Other sources of the same pair family (its consensus peers).
    pub peers: usize,
    /// Open time of its first candle (`None` when it has none).
    pub first_open_ns: Option<Nanos>,
}

/// How the abnormal candles of a scan fared against their peers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VerdictCounts {
    /// `abnormal_candle` opens and updates, all sources.
    pub abnormal: usize,
    /// Of those, from sources without any peer and no other asset
    /// breaking its range with it (left as they were).
    pub without_peers: usize,
    /// From sources without any peer, moving with another asset that broke
    /// its own range the same way in the same minute (now `info`).
    pub market_wide: usize,
    /// Confirmed by peers (now `info`).
    pub confirmed: usize,
    /// This venue alone.
    pub divergent: usize,
    /// Peers could not say.
    pub unconfirmed: usize,
}

/// What a multi-source scan found.
#[derive(Debug, Default)]
pub struct MultiReport {
    /// Alerts of all sources, in time order (ties: source order).
    pub alerts: Vec<Alert>,
    /// One entry per distinct source, in the order first given.
    pub sources: Vec<SourceSummary>,
    /// Candles read, all sources.
    pub candles: usize,
    /// `FILE:LINE: reason` for skipped rows (at most
    /// [`MAX_BAD_ROW_MESSAGES`]).
    pub bad_rows: Vec<String>,
    /// All skipped rows.
    pub bad_row_count: usize,
    /// Consensus verdicts on abnormal candles.
    pub verdicts: VerdictCounts,
}

/// The summary `feedwatch scan-candles` prints on stderr for several
/// sources: counts and verdicts, one line per source, then the first ten
/// bad rows.
impl std::fmt::Display for MultiReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v = &self.verdicts;
        writeln!(
            f,
            "feedwatch scan-candles: {} candles from {} source(s), {} alerts, {} bad rows; abnormal candles: {} ({} confirmed by peers, {} venue alone, {} unconfirmed, {} with other assets' market-wide move, {} without peers)",
            self.candles,
            self.sources.len(),
            self.alerts.len(),
            self.bad_row_count,
            v.abnormal,
            v.confirmed,
            v.divergent,
            v.unconfirmed,
            v.market_wide,
            v.without_peers
        )?;
        for s in &self.sources {
            writeln!(
                f,
                "  {} {} {}: {} candles from {} file(s), {} bad rows, {} peer source(s)",
                s.venue, s.symbol, s.stream, s.candles, s.files, s.bad_rows, s.peers
            )?;
        }
        for r in self.bad_rows.iter().take(10) {
            writeln!(f, "  {r}")?;
        }
        Ok(())
    }
}

/// One source during the scan.
struct Source {
    venue: Venue,
    symbol: Symbol,
    stream: StreamKind,
    interval_ns: Nanos,
    key: Option<PairKey>,
    files: usize,
    loaded: Loaded,
    /// Alerts with the index of the row that produced them.
    alerts: Vec<(Alert, usize)>,
    /// Open times of candles the source's own checker found abnormal.
    abnormal: Vec<Nanos>,
    /// Per row, the range scale its own checker judged it against (NaN
    /// before the checker had history).
    scales: Vec<f64>,
}

impl Source {
    /// The first in-order candle with this open time.
    fn candle_at(&self, open_ns: Nanos) -> Option<&Candle> {
        self.candle_and_scale(open_ns).map(|(c, _)| c)
    }

    /// The in-order candle with this open time and the range scale it was
    /// judged against.
    fn candle_and_scale(&self, open_ns: Nanos) -> Option<(&Candle, f64)> {
        let rows = &self.loaded.rows;
        let i = rows.partition_point(|r| r.candle.open_ns < open_ns);
        let c = rows.get(i).map(|r| &r.candle)?;
        (c.open_ns == open_ns).then(|| (c, self.scales.get(i).copied().unwrap_or(f64::NAN)))
    }

    fn was_abnormal(&self, open_ns: Nanos) -> bool {
        self.abnormal.binary_search(&open_ns).is_ok()
    }
}

/// Which price of a candle the checker found abnormal.
#[derive(Copy, Clone, Debug, PartialEq)]
enum Probe {
    High,
    Low,
    Close,
}

impl Probe {
    fn name(self) -> &'static str {
        match self {
            Probe::High => "high",
            Probe::Low => "low",
            Probe::Close => "close",
        }
    }
}

/// A source's move for one probe: `(reference, price)`; the reference is
/// the candle's open for a wick and the previous close (or, with no
/// previous candle, the open) for a return.
fn probe_move(src: &Source, c: &Candle, probe: Probe) -> (f64, f64) {
    match probe {
        Probe::High => (c.open, c.high),
        Probe::Low => (c.open, c.low),
        Probe::Close => {
            let prev = src
                .candle_at(c.open_ns.saturating_sub(src.interval_ns))
                .map_or(c.open, |p| p.close);
            (prev, c.close)
        }
    }
}

fn pct(reference: f64, price: f64) -> f64 {
    100.0 * (price / reference - 1.0)
}

/// The consensus on one abnormal candle.
struct Judged {
    verdict: Verdict,
    probe: Probe,
    fresh_venues: usize,
    own_move_pct: f64,
    median_move_pct: f64,
    threshold_pct: f64,
    /// Peer sources with a candle in the minute, as `name move%`.
    moved: Vec<String>,
    /// Peer sources with a candle in the minute that were abnormal too.
    also_abnormal: usize,
    /// Peer sources with no candle in the minute.
    missing: Vec<String>,
    peers: Value,
    close_gap_pct: f64,
    /// `None`: judged on peer candles of the same minute; `Some`: no peer
    /// had one, judged over the spans that cover it (see the module docs).
    span: Option<SpanJudged>,
}

/// What the peers without a candle in the minute said over their spans.
struct SpanJudged {
    /// One line per peer that could speak, for the summary.
    lines: Vec<String>,
    /// Peers that could speak.
    speaking: usize,
    /// Why the verdict is not `confirmed`, when it is not.
    why_not: Option<String>,
}

#[allow(clippy::too_many_arguments)]
fn judge(
    cfg: &ConsensusConfig,
    market: &MarketScale,
    sources: &[Source],
    me: usize,
    peers: &[usize],
    c: &Candle,
    probes: &[Probe],
    scratch: &mut Vec<f64>,
) -> Option<Judged> {
    let src = sources.get(me)?;
    let now = c.close_ns();
    let mut best: Option<Judged> = None;
    for &probe in probes {
        let (ref_s, x_s) = probe_move(src, c, probe);
        let mut obs: Vec<Observation> = Vec::with_capacity(peers.len());
        let mut moved = Vec::new();
        let mut missing = Vec::new();
        let mut table = Vec::new();
        let mut closes = Vec::new();
        let mut also_abnormal = 0usize;
        for &p in peers {
            let Some(ps) = sources.get(p) else { continue };
            let name = format!("{} {}", ps.venue, ps.symbol);
            match ps.candle_at(c.open_ns) {
                Some(pc) => {
                    let (ref_p, x_p) = probe_move(ps, pc, probe);
                    let m = pct(ref_p, x_p);
                    let abn = ps.was_abnormal(c.open_ns);
                    also_abnormal += usize::from(abn);
                    moved.push(format!("{name} {} {m:+.2}%", probe.name()));
                    closes.push(pc.close);
                    table.push(json!({
                        "venue": ps.venue.id(),
                        "symbol": &*ps.symbol,
                        "move_pct": crate::alert::round_value(m, 4),
                        "close": crate::alert::round_value(pc.close, 10),
                        "abnormal": abn,
                    }));
                    // The peer's price had it started from this venue's
                    // reference: compares moves, not levels. A peer that
                    // moved further the same way confirms this move, so it
                    // counts as having moved exactly as far.
                    let mut price = ref_s * x_p / ref_p;
                    if (price - ref_s) * (x_s - ref_s) > 0.0
                        && (price - ref_s).abs() > (x_s - ref_s).abs()
                    {
                        price = x_s;
                    }
                    obs.push(Observation {
                        venue: ps.venue,
                        price,
                        observed_at: now,
                    });
                }
                None => {
                    missing.push(name);
                    table.push(json!({
                        "venue": ps.venue.id(),
                        "symbol": &*ps.symbol,
                        "move_pct": Value::Null,
                    }));
                }
            }
        }
        let subject = Observation {
            venue: src.venue,
            price: x_s,
            observed_at: now,
        };
        let extra = cfg.move_tolerance * (x_s - ref_s).abs();
        let a = assess(cfg, &subject, &obs, now, false, extra, scratch);
        let verdict = match a.verdict {
            // Two venues that disagree: the one calm by its own history is
            // believed (DETECTION.md's decision table).
            Verdict::Unconfirmed if a.fresh_venues == 2 && also_abnormal == 0 => Verdict::Divergent,
            v => v,
        };
        let close_gap_pct = match median_in_place(&mut closes) {
            Some(m) if m > 0.0 => pct(m, c.close),
            _ => f64::NAN,
        };
        let mut j = Judged {
            verdict,
            probe,
            fresh_venues: a.fresh_venues,
            own_move_pct: pct(ref_s, x_s),
            median_move_pct: pct(ref_s, a.median),
            threshold_pct: 100.0 * a.threshold / ref_s,
            moved,
            also_abnormal,
            missing,
            peers: Value::Array(table),
            close_gap_pct,
            span: None,
        };
        if j.moved.is_empty()
            && let Some(s) = judge_span(cfg, market, sources, me, peers, c, probe, scratch)
        {
            j = s;
        }
        // Divergent on any probe wins; otherwise unconfirmed beats
        // confirmed: every flagged price must be confirmed.
        let rank = |v: Verdict| match v {
            Verdict::Divergent => 2,
            Verdict::Unconfirmed => 1,
            Verdict::Confirmed => 0,
        };
        if best
            .as_ref()
            .is_none_or(|b| rank(j.verdict) > rank(b.verdict))
        {
            best = Some(j);
        }
    }
    best
}

/// A peer's span is at most this long (seconds): over a longer hole the
/// peer has nothing to say about one minute.
pub const SPAN_MAX_SECS: i64 = 1_800;
/// Peer candles on each side of a span whose true ranges give the market's
/// range scale.
const SCALE_BARS: usize = 5;

/// How the market's own pace judges a move when no peer saw the minute: a
/// move of at most `k` times the peers' median true range (relative, floored
/// at `floor`) is ordinary for the market at that time. `k` is the candle
/// checker's `wick_k`, so the same yardstick flags and clears.
struct MarketScale {
    k: f64,
    floor: f64,
}

/// The peer's last candle before `open_ns` and first after it, with their
/// row indices, when both are within [`SPAN_MAX_SECS`] of the minute.
fn span_of(ps: &Source, open_ns: Nanos, interval_ns: Nanos) -> Option<(usize, usize)> {
    let rows = &ps.loaded.rows;
    let after = rows.partition_point(|r| r.candle.open_ns <= open_ns);
    let before = after.checked_sub(1)?;
    let b = &rows.get(before)?.candle;
    let a = &rows.get(after)?.candle;
    if b.open_ns == open_ns {
        // The peer has the minute: not a span question.
        return None;
    }
    let max = SPAN_MAX_SECS * SECOND;
    let ok = open_ns.saturating_sub(b.close_ns()) <= max
        && a.open_ns
            .saturating_add(interval_ns)
            .saturating_sub(open_ns)
            <= max;
    ok.then_some((before, after))
}

/// Median relative true range of up to [`SCALE_BARS`] peer candles ending
/// at row `before` and as many starting at row `after`: the pace the market
/// showed on that peer just around its hole. The previous close counts only
/// when the previous candle is the adjacent interval (a hole's jump is not
/// one candle's range).
fn range_scale(ps: &Source, before: usize, after: usize, floor: f64) -> f64 {
    let rows = &ps.loaded.rows;
    let lo = before.saturating_sub(SCALE_BARS - 1);
    let hi = after.saturating_add(SCALE_BARS).min(rows.len());
    let mut v: Vec<f64> = Vec::with_capacity(2 * SCALE_BARS);
    for i in (lo..=before).chain(after..hi) {
        let Some(c) = rows.get(i).map(|r| &r.candle) else {
            continue;
        };
        let prev = i
            .checked_sub(1)
            .and_then(|j| rows.get(j))
            .map(|r| &r.candle)
            .filter(|p| p.open_ns.saturating_add(ps.interval_ns) == c.open_ns);
        let (h, l) = match prev {
            Some(p) => (c.high.max(p.close), c.low.min(p.close)),
            None => (c.high, c.low),
        };
        let tr = (h - l) / c.close;
        if tr.is_finite() {
            v.push(tr);
        }
    }
    median_in_place(&mut v).unwrap_or(f64::NAN).max(floor)
}

/// The consensus on a minute in which no peer has a candle (see the module
/// docs): each peer with candles on both sides within [`SPAN_MAX_SECS`]
/// compares its close-to-close move over its span with this venue's over
/// the same span, and its true ranges around the span give the market's
/// pace. `None` when no peer can speak at all.
#[allow(clippy::too_many_arguments)]
fn judge_span(
    cfg: &ConsensusConfig,
    market: &MarketScale,
    sources: &[Source],
    me: usize,
    peers: &[usize],
    c: &Candle,
    probe: Probe,
    scratch: &mut Vec<f64>,
) -> Option<Judged> {
    let src = sources.get(me)?;
    let (ref_s, x_s) = probe_move(src, c, probe);
    let own_rel = ((x_s - ref_s) / ref_s).abs();
    let mut lines = Vec::new();
    let mut missing = Vec::new();
    let mut table = Vec::new();
    let (mut confirmed, mut divergent, mut speaking) = (0usize, 0usize, 0usize);
    let mut why_not: Option<String> = None;
    let mut also_abnormal = 0usize;
    for &p in peers {
        let Some(ps) = sources.get(p) else { continue };
        let name = format!("{} {}", ps.venue, ps.symbol);
        let view = span_of(ps, c.open_ns, ps.interval_ns).and_then(|(bi, ai)| {
            let b = &ps.loaded.rows.get(bi)?.candle;
            let a = &ps.loaded.rows.get(ai)?.candle;
            // This venue's closes at the same two instants.
            let vb = src.candle_at(b.open_ns)?;
            let va = src.candle_at(a.open_ns)?;
            Some((bi, ai, b, a, vb, va))
        });
        let Some((bi, ai, b, a, vb, va)) = view else {
            missing.push(name);
            table.push(json!({
                "venue": ps.venue.id(),
                "symbol": &*ps.symbol,
                "move_pct": Value::Null,
                "span": Value::Null,
            }));
            continue;
        };
        speaking += 1;
        let now = a.close_ns();
        // Net moves over [b.close, a.close]: both sides observed, so they
        // compare like the in-minute moves (same mapping and tolerance).
        let (ref_v, x_v) = (vb.close, va.close);
        let peer_move = pct(b.close, a.close);
        let venue_move = pct(ref_v, x_v);
        let mut price = ref_v * a.close / b.close;
        if (price - ref_v) * (x_v - ref_v) > 0.0 && (price - ref_v).abs() > (x_v - ref_v).abs() {
            price = x_v;
        }
        let subject = Observation {
            venue: src.venue,
            price: x_v,
            observed_at: now,
        };
        let peer = Observation {
            venue: ps.venue,
            price,
            observed_at: now,
        };
        let extra = cfg.move_tolerance * (x_v - ref_v).abs();
        let agree = assess(cfg, &subject, &[peer], now, false, extra, scratch).verdict
            == Verdict::Confirmed;
        let scale = range_scale(ps, bi, ai, market.floor);
        let times = own_rel / scale;
        let ordinary = times.is_finite() && times <= market.k;
        let abn = ps.was_abnormal(b.open_ns) || ps.was_abnormal(a.open_ns);
        also_abnormal += usize::from(abn);
        let v = if agree && ordinary {
            Verdict::Confirmed
        } else if !agree && !abn {
            // Two venues whose levels part over the span: the one calm by
            // its own history is believed, as for a minute both traded.
            Verdict::Divergent
        } else {
            Verdict::Unconfirmed
        };
        let span = format!("{}-{}", hhmm(b.close_ns()), hhmm(a.close_ns()));
        match v {
            Verdict::Confirmed => confirmed += 1,
            Verdict::Divergent => divergent += 1,
            Verdict::Unconfirmed => {
                why_not.get_or_insert_with(|| {
                    if agree {
                        format!(
                            "{} {:+.2}% here is {times:.1}x the market's range scale {:.2}% around {name}'s hole {span} (ordinary up to {}x)",
                            probe.name(),
                            pct(ref_s, x_s),
                            100.0 * scale,
                            market.k
                        )
                    } else {
                        format!("the moves differ and {name} was abnormal too, so two venues cannot say which is wrong")
                    }
                });
            }
        }
        lines.push(format!(
            "{name} {peer_move:+.2}% over {span}, here {venue_move:+.2}%"
        ));
        table.push(json!({
            "venue": ps.venue.id(),
            "symbol": &*ps.symbol,
            "move_pct": crate::alert::round_value(peer_move, 4),
            "close": crate::alert::round_value(a.close, 10),
            "abnormal": abn,
            "span": {
                "from": format_rfc3339_ms(b.close_ns()),
                "to": format_rfc3339_ms(a.close_ns()),
                "minutes": (a.close_ns() - b.close_ns()) / (60 * SECOND),
                "venue_move_pct": crate::alert::round_value(venue_move, 4),
                "moves_agree": agree,
                "market_range_scale_pct": crate::alert::round_value(100.0 * scale, 4),
                "move_x_market_scale": crate::alert::round_value(times, 2),
                "verdict": v.name(),
            },
        }));
    }
    if speaking == 0 {
        return None;
    }
    // Every peer that can speak must agree; one that cannot is left out.
    let verdict = if confirmed == speaking {
        Verdict::Confirmed
    } else if divergent == speaking {
        Verdict::Divergent
    } else {
        Verdict::Unconfirmed
    };
    if verdict == Verdict::Divergent {
        why_not = None;
    } else if verdict == Verdict::Unconfirmed && why_not.is_none() {
        why_not = Some("peers disagree with each other".into());
    }
    Some(Judged {
        verdict,
        probe,
        fresh_venues: 1 + speaking,
        own_move_pct: pct(ref_s, x_s),
        median_move_pct: f64::NAN,
        threshold_pct: f64::NAN,
        moved: Vec::new(),
        also_abnormal,
        missing,
        peers: Value::Array(table),
        close_gap_pct: f64::NAN,
        span: Some(SpanJudged {
            lines,
            speaking,
            why_not,
        }),
    })
}

/// `HH:MM` of a time (UTC), for summaries.
fn hhmm(t: Nanos) -> String {
    format_rfc3339_ms(t).get(11..16).unwrap_or("?").to_string()
}

/// The probes of an abnormal candle, from its `statistic` evidence.
fn probes_of(alert: &Alert, c: &Candle) -> Vec<Probe> {
    let stat = alert
        .evidence
        .get("statistic")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut v = Vec::with_capacity(2);
    if stat.contains("wick") {
        let upper = c.high - c.open.max(c.close);
        let lower = c.open.min(c.close) - c.low;
        v.push(if upper >= lower {
            Probe::High
        } else {
            Probe::Low
        });
    }
    if stat.contains("return") || v.is_empty() {
        v.push(Probe::Close);
    }
    v
}

/// Rewrites an abnormal-candle alert with the consensus verdict.
fn annotate(alert: &mut Alert, j: Judged) {
    let head = alert
        .summary
        .strip_suffix(ABNORMAL_TAIL)
        .unwrap_or(alert.summary.trim_end_matches('.'))
        .to_string();
    let own = format!("{} {:+.2}% here", j.probe.name(), j.own_move_pct);
    let (severity, tail) = if let Some(sp) = &j.span {
        span_tail(alert.severity, &j, sp, &own)
    } else {
        minute_tail(alert.severity, &j, &own)
    };
    alert.severity = severity;
    alert.summary = format!("{head}{tail}");
    // The verdict is the incident's cause: peers moving with it make it a
    // market move, peers holding still make it this venue's own.
    alert.cause = match j.verdict {
        Verdict::Confirmed => crate::alert::Cause::MarketMove,
        Verdict::Divergent => crate::alert::Cause::VenueLocal,
        Verdict::Unconfirmed => crate::alert::Cause::Unknown,
    };
    let ev = std::mem::take(&mut alert.evidence);
    alert.evidence = ev
        .with("consensus", j.verdict.name())
        .with(
            "consensus_basis",
            if j.span.is_some() { "span" } else { "minute" },
        )
        .with("consensus_probe", j.probe.name())
        .with("consensus_venues", j.fresh_venues)
        .num("venue_move_pct", j.own_move_pct, 4)
        .num("peer_median_move_pct", j.median_move_pct, 4)
        .num("consensus_threshold_pct", j.threshold_pct, 4)
        .num("close_gap_to_peers_pct", j.close_gap_pct, 4)
        .with("peers", j.peers);
}

/// Other assets of the scan (another base asset, same interval) that
/// broke their own range in the same minute, the same way: the same probe
/// moved in the same direction by at least `k` times the range scale their
/// own checker held then. `(name, probe, move %)` of each.
fn market_companions(
    sources: &[Source],
    me: usize,
    c: &Candle,
    probes: &[Probe],
    k: f64,
) -> Vec<(String, Probe, f64)> {
    fn base(s: &Source) -> Option<&str> {
        s.symbol.split('/').next()
    }
    let Some(src) = sources.get(me) else {
        return Vec::new();
    };
    let mut with = Vec::new();
    for (i, o) in sources.iter().enumerate() {
        // Another asset: the same base in another quote or market is the
        // same asset (a peer or, with families apart, nobody), not a
        // second witness.
        if i == me || o.interval_ns != src.interval_ns || base(o) == base(src) {
            continue;
        }
        let Some((oc, scale)) = o.candle_and_scale(c.open_ns) else {
            continue;
        };
        for &probe in probes {
            let (r, x) = probe_move(src, c, probe);
            let (ro, xo) = probe_move(o, oc, probe);
            let broke = (xo - ro).abs() >= k * scale;
            if (x - r) * (xo - ro) > 0.0 && scale.is_finite() && broke {
                with.push((format!("{} {}", o.venue, o.symbol), probe, pct(ro, xo)));
                break;
            }
        }
    }
    with
}

/// Rewrites an abnormal-candle alert of a source without peers that moved
/// with other assets breaking their own ranges (see the module docs).
fn annotate_market(alert: &mut Alert, with: &[(String, Probe, f64)]) {
    let head = alert
        .summary
        .strip_suffix(ABNORMAL_TAIL)
        .unwrap_or(alert.summary.trim_end_matches('.'))
        .to_string();
    let named: Vec<String> = with
        .iter()
        .map(|(n, p, m)| format!("{n} {} {m:+.2}%", p.name()))
        .collect();
    alert.severity = Severity::Info;
    alert.cause = crate::alert::Cause::MarketMove;
    alert.summary = format!(
        "{head}: no other venue of this pair to ask, but other assets broke their own ranges the same way in the same minute ({}): a market-wide move, not a venue fault.",
        named.join(", ")
    );
    let table: Vec<Value> = with
        .iter()
        .map(|(n, p, m)| {
            json!({
                "source": n,
                "probe": p.name(),
                "move_pct": crate::alert::round_value(*m, 4),
            })
        })
        .collect();
    let ev = std::mem::take(&mut alert.evidence);
    alert.evidence = ev
        .with("consensus", "market")
        .with("consensus_basis", "other_assets")
        .with("moved_with", Value::Array(table));
}

/// Severity and summary ending when no peer had a candle in the minute.
fn span_tail(was: Severity, j: &Judged, sp: &SpanJudged, own: &str) -> (Severity, String) {
    let blind = if j.missing.is_empty() {
        String::new()
    } else {
        format!("; {} cannot say", j.missing.join(", "))
    };
    match j.verdict {
        Verdict::Confirmed => (
            Severity::Info,
            format!(
                ": no peer traded in the minute, but over the spans around it peers moved with this venue ({}{blind}) and {own} is ordinary for the market's pace they show: a market move, not a venue fault.",
                sp.lines.join("; ")
            ),
        ),
        Verdict::Divergent => (
            was.max(Severity::Warning),
            format!(
                ": no peer traded in the minute, and over the spans around it this venue alone moved ({}{blind}; {own}): venue-local bad data, check it before acting on it.",
                sp.lines.join("; ")
            ),
        ),
        Verdict::Unconfirmed => (
            was,
            format!(
                ": unconfirmed, no peer traded in the minute and {} peer(s) cannot vouch for it over the spans around it ({}{blind}; {}): check other venues before acting on it.",
                sp.speaking,
                sp.lines.join("; "),
                sp.why_not.as_deref().unwrap_or("")
            ),
        ),
    }
}

/// Severity and summary ending from peer candles of the same minute.
fn minute_tail(was: Severity, j: &Judged, own: &str) -> (Severity, String) {
    match j.verdict {
        Verdict::Confirmed => (
            Severity::Info,
            format!(
                ": peers confirm a market move ({}; {own}), not a venue fault.",
                j.moved.join(", ")
            ),
        ),
        Verdict::Divergent => {
            let sev = if j.fresh_venues >= MIN_VENUES {
                Severity::Critical
            } else {
                was.max(Severity::Warning)
            };
            let why = if j.fresh_venues >= MIN_VENUES {
                format!("{} venues", j.fresh_venues)
            } else {
                "calm by its own history".to_string()
            };
            (
                sev,
                format!(
                    ": this venue alone ({own}; {}, {why}): venue-local bad print, do not trade on it.",
                    j.moved.join(", ")
                ),
            )
        }
        Verdict::Unconfirmed => {
            let what = if j.moved.is_empty() {
                format!(
                    "no peer candle in the same minute ({})",
                    j.missing.join(", ")
                )
            } else {
                format!(
                    "{}; {own}; {} abnormal too, {} venues cannot say which is wrong",
                    j.moved.join(", "),
                    if j.also_abnormal == 1 {
                        "peer"
                    } else {
                        "peers"
                    },
                    j.fresh_venues
                )
            };
            (
                was,
                format!(": unconfirmed, {what}: check other venues before acting on it."),
            )
        }
    }
}

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
    // Group the specs into sources, keeping the order first given.
    let mut groups: Vec<(Venue, Symbol, bool, Vec<PathBuf>)> = Vec::new();
    for s in specs {
        match groups
            .iter_mut()
            .find(|g| g.0 == s.venue && g.1 == s.symbol && g.2 == s.from_trades)
        {
            Some(g) => g.3.push(s.path.clone()),
            None => {
                if groups.len() >= MAX_SOURCES {
                    return Err(ScanError::TooManySources { limit: MAX_SOURCES });
                }
                groups.push((
                    s.venue,
                    s.symbol.clone(),
                    s.from_trades,
                    vec![s.path.clone()],
                ));
            }
        }
    }

    let mut sources: Vec<Source> = Vec::with_capacity(groups.len());
    let mut total = 0usize;
    for (venue, symbol, from_trades, paths) in groups {
        let stream = if from_trades {
            StreamKind::TradeCandles
        } else {
            StreamKind::Kline(interval_secs)
        };
        let loaded = load(&paths, interval_of(stream))?;
        total = total.saturating_add(loaded.rows.len());
        if total > MAX_CANDLES {
            return Err(ScanError::TooManyCandles {
                path: paths.last().cloned().unwrap_or_default(),
                limit: MAX_CANDLES,
            });
        }
        let mut checker = CandleChecker::new(candle, venue, symbol.clone(), stream);
        let mut inc = Incidents::new();
        let mut out = Vec::new();
        let mut alerts = Vec::new();
        let mut abnormal = Vec::new();
        let mut scales = Vec::with_capacity(loaded.rows.len());
        for i in 0..loaded.rows.len() {
            let price = loaded.rows.get(i).map_or(f64::NAN, |r| r.candle.close);
            scales.push(checker.range_scale_for(price).unwrap_or(f64::NAN));
            loaded.check_row(i, &mut checker, &mut inc, &mut out);
            for a in out.drain(..) {
                if a.kind == Kind::AbnormalCandle
                    && a.state != State::Resolved
                    && let Some(r) = loaded.rows.get(i)
                {
                    abnormal.push(r.candle.open_ns);
                }
                alerts.push((a, i));
            }
        }
        abnormal.sort_unstable();
        sources.push(Source {
            venue,
            key: consensus.pair_key(venue, &symbol),
            symbol,
            stream,
            interval_ns: Nanos::from(interval_of(stream)) * SECOND,
            files: paths.len(),
            loaded,
            alerts,
            abnormal,
            scales,
        });
    }

    // Peers: other venues of the same pair family and interval.
    let peers_of: Vec<Vec<usize>> = sources
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
        .collect();

    let market = MarketScale {
        k: candle.wick_k,
        floor: candle.range_floor_bp / 1e4,
    };
    let mut counts = VerdictCounts::default();
    let mut scratch = Vec::new();
    let mut judged: Vec<Vec<Alert>> = Vec::with_capacity(sources.len());
    for (si, src) in sources.iter().enumerate() {
        let peers = peers_of.get(si).map_or(&[][..], Vec::as_slice);
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
                    match c {
                        Some(c) if !peers.is_empty() => {
                            let probes = probes_of(&a, c);
                            if let Some(j) = judge(
                                consensus,
                                &market,
                                &sources,
                                si,
                                peers,
                                c,
                                &probes,
                                &mut scratch,
                            ) {
                                match j.verdict {
                                    Verdict::Confirmed => counts.confirmed += 1,
                                    Verdict::Divergent => counts.divergent += 1,
                                    Verdict::Unconfirmed => counts.unconfirmed += 1,
                                }
                                annotate(&mut a, j);
                            }
                        }
                        Some(c) => {
                            let with = market_companions(
                                &sources,
                                si,
                                c,
                                &probes_of(&a, c),
                                market.k / 2.0,
                            );
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
        judged.push(out);
    }

    let mut alerts: Vec<Alert> = judged.into_iter().flatten().collect();
    // Stable: equal times keep source order, and each source's own order.
    alerts.sort_by_key(|a| a.at);
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
    Ok(MultiReport {
        alerts,
        sources: summaries,
        candles: total,
        bad_rows,
        bad_row_count,
        verdicts: counts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_bad_ones_name_themselves() {
        let s: SourceSpec = "binance-usdm:btc/usdt=a/b=c.csv".parse().unwrap();
        assert_eq!(s.venue, Venue::BinanceUsdm);
        assert_eq!(&*s.symbol, "BTC/USDT");
        assert!(!s.from_trades);
        assert_eq!(s.path, PathBuf::from("a/b=c.csv"));
        let s: SourceSpec = "trades:gemini:BTC/USD=g.csv".parse().unwrap();
        assert_eq!(s.venue.id(), "gemini");
        assert!(s.from_trades);
        for (bad, why) in [
            ("gemini:BTC/USD", "no `=FILE`"),
            ("gemini:BTC/USD=", "empty file name"),
            ("BTC/USD=f.csv", "no `VENUE:`"),
            ("Gemini:BTC/USD=f.csv", "venue `Gemini`"),
            ("gemini:BTCUSD=f.csv", "symbol `BTCUSD`"),
            ("gemini:BTC/US D=f.csv", "symbol `BTC/US D`"),
        ] {
            let e = bad.parse::<SourceSpec>().unwrap_err().to_string();
            assert!(e.contains(&format!("`{bad}`")), "{e}");
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    /// Synthetic one-minute bars (generated here, not recordings): a gentle
    /// zig-zag around `base`, with an upper wick of `wick` (share of price)
    /// at minute `at` when given.
    fn synthetic_bars(name: &str, base: f64, wick: Option<(usize, f64)>) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("feedwatch-multi-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut text = String::from("open_time_ms,open,high,low,close,volume\n");
        let t0 = 1_760_126_400_000i64;
        for i in 0..30usize {
            let o = base * (1.0 + 1e-4 * ((i % 3) as f64));
            let c = base * (1.0 + 1e-4 * (((i + 1) % 3) as f64));
            let mut h = o.max(c) * 1.0001;
            if let Some((at, w)) = wick
                && at == i
            {
                h = c * (1.0 + w);
            }
            let l = o.min(c) * 0.9999;
            let t = t0 + 60_000 * i as i64;
            text.push_str(&format!("{t},{o},{h},{l},{c},1.5\n"));
        }
        let p = dir.join(format!("synthetic_{name}.csv"));
        std::fs::write(&p, text).unwrap();
        p
    }

    fn spec(venue: &str, symbol: &str, path: PathBuf) -> SourceSpec {
        SourceSpec {
            venue: Venue::parse_any(venue).unwrap(),
            symbol: symbol.into(),
            from_trades: false,
            path,
        }
    }

    #[test]
    fn three_venues_single_out_a_lone_wick_and_confirm_a_shared_one() {
        let cfg = CandleConfig::default();
        let cons = ConsensusConfig::default();
        let lone = [
            spec(
                "okx",
                "BTC/USDT",
                synthetic_bars("okx_wick", 100_000.0, Some((25, 0.03))),
            ),
            spec(
                "kraken",
                "BTC/USD",
                synthetic_bars("kraken_flat", 100_050.0, None),
            ),
            spec(
                "coinbase",
                "BTC/USDC",
                synthetic_bars("coinbase_flat", 99_980.0, None),
            ),
        ];
        let r = scan_sources(&cfg, &cons, 60, &lone).unwrap();
        let ab: Vec<&Alert> = r
            .alerts
            .iter()
            .filter(|a| a.kind == Kind::AbnormalCandle && a.state == State::Open)
            .collect();
        assert_eq!(ab.len(), 1, "{:#?}", r.alerts);
        let a = ab[0];
        assert_eq!(a.venue, Venue::Okx);
        assert_eq!(a.severity, Severity::Critical);
        assert_eq!(a.evidence.get("consensus").unwrap(), "divergent");
        assert_eq!(a.evidence.get("consensus_venues").unwrap(), 3);
        assert!(a.summary.contains("this venue alone"), "{}", a.summary);
        assert!(a.summary.contains("3 venues"), "{}", a.summary);
        assert_eq!(r.verdicts.divergent, 1);

        let shared = [
            spec(
                "okx",
                "BTC/USDT",
                synthetic_bars("okx_wick", 100_000.0, Some((25, 0.03))),
            ),
            spec(
                "kraken",
                "BTC/USD",
                synthetic_bars("kraken_wick", 100_050.0, Some((25, 0.025))),
            ),
            spec(
                "coinbase",
                "BTC/USDC",
                synthetic_bars("coinbase_wick", 99_980.0, Some((25, 0.035))),
            ),
        ];
        let r = scan_sources(&cfg, &cons, 60, &shared).unwrap();
        let ab: Vec<&Alert> = r
            .alerts
            .iter()
            .filter(|a| a.kind == Kind::AbnormalCandle && a.state == State::Open)
            .collect();
        assert_eq!(ab.len(), 3, "{:#?}", r.alerts);
        for a in ab {
            assert_eq!(a.severity, Severity::Info, "{a:#?}");
            assert_eq!(a.evidence.get("consensus").unwrap(), "confirmed");
            assert!(
                a.summary.contains("peers confirm a market move"),
                "{}",
                a.summary
            );
        }
        assert_eq!(r.verdicts.confirmed, 3);
    }

    /// Like [`synthetic_bars`], without the minutes in `skip` (as a
    /// trade-built file has none where nobody traded), and with every close
    /// from minute `shift.0` on moved by `shift.1` (share of price).
    fn synthetic_holes(name: &str, skip: &[usize], shift: Option<(usize, f64)>) -> PathBuf {
        let p = synthetic_bars(name, 100_000.0, None);
        let text = std::fs::read_to_string(&p).unwrap();
        let mut out = Vec::new();
        for (i, l) in text.lines().enumerate() {
            if i == 0 {
                out.push(l.to_string());
                continue;
            }
            let m = i - 1;
            if skip.contains(&m) {
                continue;
            }
            let mut f: Vec<f64> = l.split(',').map(|x| x.parse().unwrap()).collect();
            if let Some((from, by)) = shift {
                let k = 1.0 + by;
                if m > from {
                    for x in &mut f[1..5] {
                        *x *= k;
                    }
                } else if m == from {
                    f[4] *= k;
                    f[3] = f[3].min(f[4]);
                    f[2] = f[2].max(f[4]);
                }
            }
            out.push(
                f.iter()
                    .enumerate()
                    .map(|(j, x)| {
                        if j == 0 {
                            format!("{}", *x as i64)
                        } else {
                            x.to_string()
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(","),
            );
        }
        std::fs::write(&p, out.join("\n") + "\n").unwrap();
        p
    }

    fn the_abnormal(r: &MultiReport) -> &Alert {
        let ab: Vec<&Alert> = r
            .alerts
            .iter()
            .filter(|a| a.kind == Kind::AbnormalCandle && a.state == State::Open)
            .collect();
        assert_eq!(ab.len(), 1, "{:#?}", r.alerts);
        ab[0]
    }

    #[test]
    fn a_peer_without_the_minute_speaks_over_its_span_or_cannot_say() {
        let cfg = CandleConfig::default();
        let cons = ConsensusConfig::default();
        let okx = |name: &str| {
            spec(
                "okx",
                "BTC/USDT",
                synthetic_bars(name, 100_000.0, Some((25, 0.03))),
            )
        };
        let trades = |name: &str, skip: &[usize], shift| SourceSpec {
            from_trades: true,
            ..spec("kraken", "BTC/USD", synthetic_holes(name, skip, shift))
        };
        // Kraken did not trade at 25: over 25-26 (its 24 close to its 26
        // close) both are flat, but a 3% wick is far beyond the calm
        // market's pace: not vouched for, severity kept.
        let r = scan_sources(
            &cfg,
            &cons,
            60,
            &[okx("okx_w1"), trades("kraken_hole25", &[25], None)],
        )
        .unwrap();
        let a = the_abnormal(&r);
        assert_eq!(a.evidence.get("consensus").unwrap(), "unconfirmed");
        assert_eq!(a.evidence.get("consensus_basis").unwrap(), "span");
        assert_eq!(a.severity, Severity::Warning);
        let span = &a.evidence.get("peers").unwrap()[0]["span"];
        assert_eq!(span["minutes"], 2, "{span}");
        assert_eq!(span["moves_agree"], true, "{span}");
        assert!(
            span["move_x_market_scale"].as_f64().unwrap() > 8.0,
            "{span}"
        );
        // No Kraken bar after minute 20 at all: it cannot say.
        let late: Vec<usize> = (21..30).collect();
        let r = scan_sources(
            &cfg,
            &cons,
            60,
            &[okx("okx_w2"), trades("kraken_ends20", &late, None)],
        )
        .unwrap();
        let a = the_abnormal(&r);
        assert_eq!(a.evidence.get("consensus").unwrap(), "unconfirmed");
        assert_eq!(a.evidence.get("consensus_basis").unwrap(), "minute");
        assert!(
            a.summary
                .contains("no peer candle in the same minute (kraken BTC/USD)"),
            "{}",
            a.summary
        );
        // OKX's level drops 2% at 25 and stays there while calm Kraken,
        // with no bar at 25, stays where it was: divergent over the span,
        // a warning (a span is never `critical`).
        let r = scan_sources(
            &cfg,
            &cons,
            60,
            &[
                spec(
                    "okx",
                    "BTC/USDT",
                    synthetic_holes("okx_drop", &[], Some((25, -0.02))),
                ),
                trades("kraken_hole25b", &[25], None),
            ],
        )
        .unwrap();
        let a = the_abnormal(&r);
        assert_eq!(a.venue, Venue::Okx);
        assert_eq!(a.evidence.get("consensus").unwrap(), "divergent");
        assert_eq!(a.evidence.get("consensus_basis").unwrap(), "span");
        assert_eq!(a.severity, Severity::Warning);
        assert_eq!(
            a.evidence.get("peers").unwrap()[0]["span"]["moves_agree"],
            false
        );
    }

    #[test]
    fn abnormal_tail_matches_the_candle_checker() {
        let src = include_str!("../detect/candle.rs");
        assert!(
            src.contains(&ABNORMAL_TAIL[2..]),
            "candle.rs changed its wording"
        );
    }
}
