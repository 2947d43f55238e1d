//! The consensus over a peer's *span* when no peer has a candle in the
//! minute (see the `multi` module docs): the close-to-close moves over the
//! span and the market's pace around the peer's hole. It must never read
//! the peer's path inside the hole, which nobody observed.

use super::judge::{Judged, SpanJudged};
use super::source::{Probe, Source, pct, probe_move};
use crate::detect::consensus::{ConsensusConfig, Observation, Verdict, assess, median_in_place};
use crate::model::{Candle, Nanos, SECOND, format_rfc3339_ms};
use serde_json::{Value, json};

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
pub(super) struct MarketScale {
    pub(super) k: f64,
    pub(super) floor: f64,
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

/// A peer's span around the minute: its candles on both sides (with their
/// row indices) and this venue's candles at the same two instants.
struct SpanView<'a> {
    bi: usize,
    ai: usize,
    b: &'a Candle,
    a: &'a Candle,
    vb: &'a Candle,
    va: &'a Candle,
}

/// The peer's span around the minute, when it has one within
/// [`SPAN_MAX_SECS`] and this venue has candles at both of its ends.
fn span_view<'a>(src: &'a Source, ps: &'a Source, open_ns: Nanos) -> Option<SpanView<'a>> {
    span_of(ps, open_ns, ps.interval_ns).and_then(|(bi, ai)| {
        let b = &ps.loaded.rows.get(bi)?.candle;
        let a = &ps.loaded.rows.get(ai)?.candle;
        // This venue's closes at the same two instants.
        let vb = src.candle_at(b.open_ns)?;
        let va = src.candle_at(a.open_ns)?;
        Some(SpanView {
            bi,
            ai,
            b,
            a,
            vb,
            va,
        })
    })
}

/// What one peer says over its span.
struct PeerSpan {
    peer_move: f64,
    venue_move: f64,
    /// The net moves over the span agree.
    agree: bool,
    /// The market's range scale around the peer's hole.
    scale: f64,
    /// This venue's move in multiples of `scale`.
    times: f64,
    /// The peer was abnormal at either end of the span.
    abn: bool,
    verdict: Verdict,
}

/// Compares this venue's close-to-close move over the peer's span with the
/// peer's, and this venue's move (`own_rel`) with the market's pace around
/// the span.
fn compare_over_span(
    cfg: &ConsensusConfig,
    market: &MarketScale,
    (src, ps): (&Source, &Source),
    view: &SpanView<'_>,
    own_rel: f64,
    scratch: &mut Vec<f64>,
) -> PeerSpan {
    let SpanView {
        bi,
        ai,
        b,
        a,
        vb,
        va,
    } = *view;
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
    let agree =
        assess(cfg, &subject, &[peer], now, false, extra, scratch).verdict == Verdict::Confirmed;
    let scale = range_scale(ps, bi, ai, market.floor);
    let times = own_rel / scale;
    let ordinary = times.is_finite() && times <= market.k;
    let abn = ps.was_abnormal(b.open_ns) || ps.was_abnormal(a.open_ns);
    let verdict = if agree && ordinary {
        Verdict::Confirmed
    } else if !agree && !abn {
        // Two venues whose levels part over the span: the one calm by
        // its own history is believed, as for a minute both traded.
        Verdict::Divergent
    } else {
        Verdict::Unconfirmed
    };
    PeerSpan {
        peer_move,
        venue_move,
        agree,
        scale,
        times,
        abn,
        verdict,
    }
}

/// The evidence row of a peer that spoke over its span.
fn span_row(ps: &Source, view: &SpanView<'_>, s: &PeerSpan) -> Value {
    let (a, b) = (view.a, view.b);
    json!({
        "venue": ps.venue.id(),
        "symbol": &*ps.symbol,
        "move_pct": crate::alert::round_value(s.peer_move, 4),
        "close": crate::alert::round_value(a.close, 10),
        "abnormal": s.abn,
        "span": {
            "from": format_rfc3339_ms(b.close_ns()),
            "to": format_rfc3339_ms(a.close_ns()),
            "minutes": (a.close_ns() - b.close_ns()) / (60 * SECOND),
            "venue_move_pct": crate::alert::round_value(s.venue_move, 4),
            "moves_agree": s.agree,
            "market_range_scale_pct": crate::alert::round_value(100.0 * s.scale, 4),
            "move_x_market_scale": crate::alert::round_value(s.times, 2),
            "verdict": s.verdict.name(),
        },
    })
}

/// What the peers said over their spans so far.
#[derive(Default)]
struct SpanTally {
    lines: Vec<String>,
    missing: Vec<String>,
    table: Vec<Value>,
    confirmed: usize,
    divergent: usize,
    speaking: usize,
    why_not: Option<String>,
    also_abnormal: usize,
}

/// The consensus on a minute in which no peer has a candle (see the
/// `multi` module docs): each peer with candles on both sides within
/// [`SPAN_MAX_SECS`] compares its close-to-close move over its span with
/// this venue's over the same span, and its true ranges around the span
/// give the market's pace. `None` when no peer can speak at all.
#[allow(clippy::too_many_arguments)]
pub(super) fn judge_span(
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
    let mut t = SpanTally::default();
    for &p in peers {
        let Some(ps) = sources.get(p) else { continue };
        let name = format!("{} {}", ps.venue, ps.symbol);
        let Some(view) = span_view(src, ps, c.open_ns) else {
            t.missing.push(name);
            t.table.push(json!({
                "venue": ps.venue.id(),
                "symbol": &*ps.symbol,
                "move_pct": Value::Null,
                "span": Value::Null,
            }));
            continue;
        };
        t.speaking += 1;
        let s = compare_over_span(cfg, market, (src, ps), &view, own_rel, scratch);
        t.also_abnormal += usize::from(s.abn);
        let span = format!("{}-{}", hhmm(view.b.close_ns()), hhmm(view.a.close_ns()));
        match s.verdict {
            Verdict::Confirmed => t.confirmed += 1,
            Verdict::Divergent => t.divergent += 1,
            Verdict::Unconfirmed => {
                t.why_not.get_or_insert_with(|| {
                    if s.agree {
                        format!(
                            "{} {:+.2}% here is {:.1}x the market's range scale {:.2}% around {name}'s hole {span} (ordinary up to {}x)",
                            probe.name(),
                            pct(ref_s, x_s),
                            s.times,
                            100.0 * s.scale,
                            market.k
                        )
                    } else {
                        format!("the moves differ and {name} was abnormal too, so two venues cannot say which is wrong")
                    }
                });
            }
        }
        t.lines.push(format!(
            "{name} {:+.2}% over {span}, here {:+.2}%",
            s.peer_move, s.venue_move
        ));
        t.table.push(span_row(ps, &view, &s));
    }
    if t.speaking == 0 {
        return None;
    }
    Some(span_verdict(t, probe, pct(ref_s, x_s)))
}

/// The verdict over the spans: every peer that can speak must agree; one
/// that cannot is left out.
fn span_verdict(t: SpanTally, probe: Probe, own_move_pct: f64) -> Judged {
    let SpanTally {
        lines,
        missing,
        table,
        confirmed,
        divergent,
        speaking,
        mut why_not,
        also_abnormal,
    } = t;
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
    Judged {
        verdict,
        probe,
        fresh_venues: 1 + speaking,
        own_move_pct,
        median_move_pct: f64::NAN,
        threshold_pct: f64::NAN,
        moved: Vec::new(),
        also_abnormal,
        missing,
        peers: Value::Array(table),
        close_gap_pct: f64::NAN,
        level: None,
        span: Some(SpanJudged {
            lines,
            speaking,
            why_not,
        }),
    }
}

/// `HH:MM` of a time (UTC), for summaries.
fn hhmm(t: Nanos) -> String {
    format_rfc3339_ms(t).get(11..16).unwrap_or("?").to_string()
}
