//! The cross-venue consensus on one abnormal candle from peer candles of
//! the same minute (falling back to `span` when no peer has one), and the
//! probes an abnormal candle is judged on. It must never rewrite an alert
//! (that is `annotate`) nor read files.

use super::level::{Level, level};
use super::source::{Probe, Source, pct, probe_move};
use super::span::{MarketScale, judge_span};
use crate::alert::Alert;
use crate::detect::consensus::{ConsensusConfig, Observation, Verdict, assess, median_in_place};
use crate::model::Candle;
use serde_json::{Value, json};

/// The consensus on one abnormal candle.
pub(super) struct Judged {
    pub(super) verdict: Verdict,
    pub(super) probe: Probe,
    pub(super) fresh_venues: usize,
    pub(super) own_move_pct: f64,
    pub(super) median_move_pct: f64,
    pub(super) threshold_pct: f64,
    /// Peer sources with a candle in the minute, as `name move%`.
    pub(super) moved: Vec<String>,
    /// Peer sources with a candle in the minute that were abnormal too.
    pub(super) also_abnormal: usize,
    /// Peer sources with no candle in the minute.
    pub(super) missing: Vec<String>,
    pub(super) peers: Value,
    pub(super) close_gap_pct: f64,
    /// The venue's close against its peers' when it sits off its usual
    /// basis though its move was confirmed (then the verdict is
    /// divergent); `None` otherwise.
    pub(super) level: Option<Level>,
    /// `None`: judged on peer candles of the same minute; `Some`: no peer
    /// had one, judged over the spans that cover it (see the module docs).
    pub(super) span: Option<SpanJudged>,
}

/// What the peers without a candle in the minute said over their spans.
pub(super) struct SpanJudged {
    /// One line per peer that could speak, for the summary.
    pub(super) lines: Vec<String>,
    /// Peers that could speak.
    pub(super) speaking: usize,
    /// Why the verdict is not `confirmed`, when it is not.
    pub(super) why_not: Option<String>,
}

#[allow(clippy::too_many_arguments)]
pub(super) fn judge(
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
        let mut verdict = match a.verdict {
            // Two venues that disagree: the one calm by its own history is
            // believed (DETECTION.md's decision table).
            Verdict::Unconfirmed if a.fresh_venues == 2 && also_abnormal == 0 => Verdict::Divergent,
            v => v,
        };
        // Moves alike do not vouch for a level far off the usual basis.
        let level = (verdict == Verdict::Confirmed)
            .then(|| level(cfg, sources, me, peers, c, 1e4 * (x_s / ref_s - 1.0)))
            .flatten()
            .filter(Level::off);
        if level.is_some() {
            verdict = Verdict::Divergent;
        }
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
            level,
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

/// The probes of an abnormal candle, from its `statistic` evidence.
pub(super) fn probes_of(alert: &Alert, c: &Candle) -> Vec<Probe> {
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
