//! The cross-asset "moved with" rule for a source with no peer of its pair:
//! other assets of the scan that broke their own range the same way in the
//! same minute make the move market-wide. It must never treat the same base
//! asset in another quote or market as a second witness.

use super::annotate::ABNORMAL_TAIL;
use super::source::{Probe, Source, pct, probe_move};
use crate::alert::{Alert, Severity};
use crate::model::Candle;
use serde_json::{Value, json};

/// Other assets of the scan (another base asset, same interval) that
/// broke their own range in the same minute, the same way: the same probe
/// moved in the same direction by at least `k` times the range scale their
/// own checker held then. `(name, probe, move %)` of each.
pub(super) fn market_companions(
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
pub(super) fn annotate_market(alert: &mut Alert, with: &[(String, Probe, f64)]) {
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
