//! The level comparison of an abnormal candle: besides its move over the
//! candle, the venue's close against its peers' closes of the same minute
//! (the level gap), judged against the pair's own history (the usual
//! basis: the median |gap| between this venue and its peers over the
//! recent minutes both traded). Peers whose moves look alike do not vouch
//! for a venue whose price sits far off its usual basis: a venue that
//! moved a third as far as its peers (or already sat off them before the
//! minute) is wrong about the level, whatever its move. It must never
//! decide a verdict on its own (it only withholds a confirmation) nor
//! read files; its work is bounded by [`BASIS_MINUTES`].

use super::source::Source;
use crate::detect::consensus::{ConsensusConfig, MIN_VENUES, median_in_place};
use crate::model::Candle;

/// The usual basis is taken over at most this many recent minutes before
/// the candle.
pub(super) const BASIS_MINUTES: usize = 60;
/// Fewer minutes than this with a peer say nothing of the usual basis:
/// no level verdict.
pub(super) const BASIS_MIN_MINUTES: usize = 5;

/// The venue's level against its peers in one minute.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Level {
    /// Its close minus the median of its peers' closes, bps of the latter.
    pub(super) gap_bps: f64,
    /// Median |gap| over the recent minutes (bps): the usual basis.
    pub(super) basis_bps: f64,
    /// Minutes the basis was taken over.
    pub(super) minutes: usize,
    /// The gap beyond which the level is off: max(`floor_bps`, `k` x the
    /// basis, `move_tolerance` x the venue's own move).
    pub(super) threshold_bps: f64,
}

impl Level {
    /// Whether the venue's close sits off its usual basis.
    pub(super) fn off(&self) -> bool {
        self.gap_bps.abs() > self.threshold_bps
    }
}

/// The gap (bps) of `close` to the median of the peers' closes in the
/// minute opening at `open_ns`; `None` when no peer has it.
fn gap_at(
    sources: &[Source],
    peers: &[usize],
    close: f64,
    open_ns: i64,
    scratch: &mut Vec<f64>,
) -> Option<f64> {
    scratch.clear();
    scratch.extend(
        peers
            .iter()
            .filter_map(|&p| sources.get(p)?.candle_at(open_ns))
            .map(|pc| pc.close)
            .filter(|x| x.is_finite() && *x > 0.0),
    );
    let m = median_in_place(scratch)?;
    let g = 1e4 * (close / m - 1.0);
    g.is_finite().then_some(g)
}

/// The level of source `me`'s candle `c` against `peers` (`own_move_bps`:
/// its own move over the candle, for the tolerance); `None` when no peer
/// has the minute, fewer than two peers have it (with one peer nobody can
/// say which of the two levels is wrong: in the crash of 2025-10-10
/// Binance's perpetual fell 6.8% to Gemini's 3.3%, both real), or the
/// history is too short to know the usual basis.
pub(super) fn level(
    cfg: &ConsensusConfig,
    sources: &[Source],
    me: usize,
    peers: &[usize],
    c: &Candle,
    own_move_bps: f64,
) -> Option<Level> {
    let src = sources.get(me)?;
    let with_minute = peers
        .iter()
        .filter(|&&p| {
            sources
                .get(p)
                .is_some_and(|ps| ps.candle_at(c.open_ns).is_some())
        })
        .count();
    if with_minute + 1 < MIN_VENUES {
        return None;
    }
    let mut scratch: Vec<f64> = Vec::with_capacity(peers.len());
    let gap_bps = gap_at(sources, peers, c.close, c.open_ns, &mut scratch)?;
    let rows = &src.loaded.rows;
    let end = rows.partition_point(|r| r.candle.open_ns < c.open_ns);
    let mut gaps: Vec<f64> = Vec::with_capacity(BASIS_MINUTES);
    for r in rows.get(end.saturating_sub(BASIS_MINUTES)..end)? {
        if let Some(g) = gap_at(
            sources,
            peers,
            r.candle.close,
            r.candle.open_ns,
            &mut scratch,
        ) {
            gaps.push(g.abs());
        }
    }
    let minutes = gaps.len();
    if minutes < BASIS_MIN_MINUTES {
        return None;
    }
    let basis_bps = median_in_place(&mut gaps)?;
    let threshold_bps = cfg
        .floor_bps
        .max(cfg.k * basis_bps)
        .max(cfg.move_tolerance * own_move_bps.abs());
    Some(Level {
        gap_bps,
        basis_bps,
        minutes,
        threshold_bps,
    })
}
