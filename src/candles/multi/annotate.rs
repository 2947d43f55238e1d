//! Rewriting an abnormal-candle alert with the consensus verdict: its
//! severity, cause, summary ending and evidence. It must never change an
//! alert other than `abnormal_candle`, nor decide the verdict itself.

use super::judge::{Judged, SpanJudged};
use crate::alert::{Alert, Severity};
use crate::detect::consensus::{MIN_VENUES, Verdict};

/// The ending the candle checker gives an abnormal candle's summary; the
/// consensus replaces it with its verdict.
pub(super) const ABNORMAL_TAIL: &str = ": abnormal print, check other venues before acting on it.";

/// Rewrites an abnormal-candle alert with the consensus verdict.
pub(super) fn annotate(alert: &mut Alert, j: Judged) {
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
    let ev = ev
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
        .num("close_gap_to_peers_pct", j.close_gap_pct, 4);
    // The level decided: its numbers (absent when the move did).
    let ev = match &j.level {
        Some(l) => ev
            .num("level_gap_bps", l.gap_bps, 1)
            .num("usual_basis_bps", l.basis_bps, 1)
            .with("basis_minutes", l.minutes)
            .num("level_threshold_bps", l.threshold_bps, 1),
        None => ev,
    };
    alert.evidence = ev.with("peers", j.peers);
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
            if let Some(l) = &j.level {
                return (
                    sev,
                    format!(
                        ": its close sits {:+.2}% off its peers' (usual basis {:.2}%, {} min) though its move looks like theirs ({own}; {}, {why}): venue-local prices, do not trade on them.",
                        l.gap_bps / 100.0,
                        l.basis_bps / 100.0,
                        l.minutes,
                        j.moved.join(", ")
                    ),
                );
            }
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
