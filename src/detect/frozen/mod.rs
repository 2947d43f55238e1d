//! `feed_frozen`: frames keep coming but their values stop changing.
//!
//! Every *change* on a stream (a new trade, a best bid or ask price or size
//! that moved, a new top of the synced L2 book, a candle with new values) is
//! its heartbeat; the time between changes is learned per stream with the
//! same gap history and tail fit as `feed_silent` ([`GapHistory`]), and phi
//! is the -log10 probability of going this long without a change. Frames
//! that repeat the last values (Bybit re-sends an unchanged top of book
//! every 3 s by design) are not changes, and they are what a frozen stream
//! is judged on: the check runs only when a frame arrives, so a stream that
//! stops sending is `feed_silent`'s and never both.
//!
//! A quiet market is not a fault: a stream is frozen only if its peers
//! (other venues' streams of the same kind on the same base asset: BTC/USDT
//! and BTC/USD are one market) changed meanwhile. phi is then taken over
//! the time this stream stood still *while a peer kept moving* (a peer's
//! activity restarts after it paused for `peer_quiet_s`): a market that
//! stands still everywhere raises nothing, and one that wakes up gives this
//! stream its usual time to follow before it is called frozen. With no peer
//! known, a much higher phi is required, and the evidence says so.
//!
//! A best bid/offer has a faster witness than its rhythm: the same venue's
//! own L2 book top and trades ([`witness`]). A quote they contradict (the
//! book moved past it, trades print through it) for
//! `frozen.contradicted_s` while it stands still is frozen at once.
//!
//! This module never reads a clock and never allocates per frame: the
//! engine passes the time and a fingerprint of the frame's values.

use super::verdict::{Finding, Verdict, Words};
use crate::alert::{Evidence, IncidentKey, Kind};
use crate::model::{Nanos, SECOND, StreamKind, Symbol, Venue, format_rfc3339_ms};
use crate::state::gaps::{GapHistory, TailFit, secs};
use rustc_hash::FxHashMap as HashMap;
use serde::{Deserialize, Serialize};

mod witness;
pub use witness::{Contradicted, Witness, past};

/// Thresholds for `feed_frozen`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct FrozenConfig {
    /// phi (of the time without a change, under the stream's own rhythm of
    /// changes) at which a stream whose peers kept changing is frozen.
    pub phi: f64,
    /// phi required when no peer stream is known (no other venue carries
    /// the same kind of stream on the same base asset).
    pub no_peer_phi: f64,
    /// Changes the peers must have made since this stream's last change.
    pub min_peer_changes: u64,
    /// A peer with no change for this long (seconds) is not moving; its
    /// activity restarts at its next change.
    pub peer_quiet_s: f64,
    /// Share of inter-change times treated as the tail when fitting.
    pub tail_share: f64,
    /// Floor on the tail scale (seconds), so a stream that changes on every
    /// frame is not convicted by jitter.
    pub min_tail_scale_s: f64,
    /// Never frozen before this long without a change (seconds).
    pub min_frozen_s: f64,
    /// Inter-change times are capped at this before they are learned (s).
    pub max_gap_s: f64,
    /// Changes recorded before the stream can be judged at all.
    pub min_samples: u64,
    /// Half-life of the inter-change history (seconds).
    pub half_life_s: f64,
    /// A best bid/offer the same venue's own L2 book top or trades
    /// contradict (moved or printed past it) for this long (seconds),
    /// without a change of the quote meanwhile, is frozen whatever its
    /// rhythm; 0 turns this witness off.
    pub contradicted_s: f64,
}

impl Default for FrozenConfig {
    fn default() -> Self {
        FrozenConfig {
            phi: 8.0,
            no_peer_phi: 16.0,
            min_peer_changes: 5,
            peer_quiet_s: 5.0,
            tail_share: 0.05,
            min_tail_scale_s: 0.5,
            min_frozen_s: 2.0,
            max_gap_s: 300.0,
            min_samples: 100,
            half_life_s: 1800.0,
            contradicted_s: 2.0,
        }
    }
}

impl FrozenConfig {
    /// Checks ranges; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("frozen.phi", self.phi),
            ("frozen.no_peer_phi", self.no_peer_phi),
            ("frozen.tail_share", self.tail_share),
            ("frozen.min_frozen_s", self.min_frozen_s),
            ("frozen.max_gap_s", self.max_gap_s),
            ("frozen.half_life_s", self.half_life_s),
            ("frozen.peer_quiet_s", self.peer_quiet_s),
        ];
        for (name, v) in positive {
            if !(v.is_finite() && v > 0.0) {
                return Err(format!("{name} must be a positive number, got {v}"));
            }
        }
        if self.tail_share >= 0.5 {
            return Err(format!(
                "frozen.tail_share must be below 0.5, got {}",
                self.tail_share
            ));
        }
        if self.no_peer_phi < self.phi {
            return Err(format!(
                "frozen.no_peer_phi must be at least frozen.phi, got {}",
                self.no_peer_phi
            ));
        }
        if !(self.min_tail_scale_s.is_finite() && self.min_tail_scale_s >= 0.0) {
            return Err(format!(
                "frozen.min_tail_scale_s must be >= 0, got {}",
                self.min_tail_scale_s
            ));
        }
        if !(self.contradicted_s.is_finite() && (0.0..=3600.0).contains(&self.contradicted_s)) {
            return Err(format!(
                "frozen.contradicted_s must be 0..=3600, got {}",
                self.contradicted_s
            ));
        }
        if self.min_frozen_s > self.max_gap_s {
            return Err("frozen.min_frozen_s must not exceed frozen.max_gap_s".into());
        }
        Ok(())
    }
}

fn quiet_ns(cfg: &FrozenConfig) -> Nanos {
    (cfg.peer_quiet_s * SECOND as f64) as Nanos
}

/// The values of one frame, reduced to bit patterns: two frames with equal
/// fingerprints carry the same values.
pub type Fingerprint = [u64; 6];

/// Fingerprint of a float (all NaNs alike, -0 as 0).
pub fn fp(v: f64) -> u64 {
    if v.is_nan() {
        u64::MAX
    } else {
        (v + 0.0).to_bits()
    }
}

/// Which streams are peers: the same class of stream on the same base
/// asset. Trades and aggregated trades are one class, as are diff and
/// partial books; engine-built candles have no frames and no class.
fn class(kind: StreamKind) -> Option<u64> {
    match kind {
        StreamKind::Trade | StreamKind::AggTrade => Some(0),
        StreamKind::Bbo => Some(1),
        StreamKind::Depth | StreamKind::PartialDepth => Some(2),
        StreamKind::Kline(secs) => Some(3 + u64::from(secs)),
        StreamKind::TradeCandles => None,
    }
}

/// The base asset of a canonical `BASE/QUOTE` symbol.
fn base(symbol: &str) -> &str {
    symbol.split_once('/').map_or(symbol, |(b, _)| b)
}

/// One venue's streams in a peer group.
#[derive(Debug)]
struct Member {
    venue: Venue,
    /// Changes so far.
    changes: u64,
    /// Last change.
    last: Nanos,
    /// Start of its current run of activity (no pause over `peer_quiet_s`).
    active_since: Nanos,
}

#[derive(Debug, Default)]
struct Group {
    /// The venues in this group.
    venues: Vec<Member>,
    /// Changes of all members.
    total: u64,
}

/// The peer groups of all streams: change counters per (base asset, class)
/// and per venue in it, so "did the peers change since?" is two
/// subtractions.
#[derive(Debug, Default)]
pub struct FrozenGroups {
    index: HashMap<(Symbol, u64), usize>,
    groups: Vec<Group>,
}

impl FrozenGroups {
    /// No groups yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A tracker for a new stream, joined to its peer group (`None` for
    /// streams that have no frames of their own).
    pub fn tracker(
        &mut self,
        cfg: &FrozenConfig,
        venue: Venue,
        symbol: &str,
        kind: StreamKind,
    ) -> Option<FrozenTracker> {
        let class = class(kind)?;
        let key: (Symbol, u64) = (Symbol::from(base(symbol)), class);
        let g = match self.index.get(&key) {
            Some(&g) => g,
            None => {
                self.groups.push(Group::default());
                let g = self.groups.len() - 1;
                self.index.insert(key, g);
                g
            }
        };
        let group = self.groups.get_mut(g)?;
        let slot = match group.venues.iter().position(|m| m.venue == venue) {
            Some(s) => s,
            None => {
                group.venues.push(Member {
                    venue,
                    changes: 0,
                    last: Nanos::MIN,
                    active_since: Nanos::MIN,
                });
                group.venues.len() - 1
            }
        };
        Some(FrozenTracker::new(cfg, g, slot))
    }

    /// Changes by peers (other venues) since the snapshot `(total, own)`,
    /// since when a peer has been moving without a pause (`None` when no
    /// peer is moving at `now`), and whether the group has any other venue.
    fn peers_since(
        &self,
        group: usize,
        slot: usize,
        at: (u64, u64),
        now: Nanos,
        quiet: Nanos,
    ) -> (u64, Option<Nanos>, bool) {
        let Some(g) = self.groups.get(group) else {
            return (0, None, false);
        };
        let own = g.venues.get(slot).map_or(0, |v| v.changes);
        let others = g
            .total
            .saturating_sub(at.0)
            .saturating_sub(own.saturating_sub(at.1));
        let moving_since = g
            .venues
            .iter()
            .enumerate()
            .filter(|(i, m)| *i != slot && m.last != Nanos::MIN && now - m.last <= quiet)
            .map(|(_, m)| m.active_since)
            .min();
        (others, moving_since, g.venues.len() > 1)
    }

    fn counters(&self, group: usize, slot: usize) -> (u64, u64) {
        self.groups.get(group).map_or((0, 0), |g| {
            (g.total, g.venues.get(slot).map_or(0, |v| v.changes))
        })
    }

    fn count_change(&mut self, group: usize, slot: usize, now: Nanos, quiet: Nanos) {
        if let Some(g) = self.groups.get_mut(group) {
            g.total += 1;
            if let Some(v) = g.venues.get_mut(slot) {
                v.changes += 1;
                if v.last == Nanos::MIN || now - v.last > quiet {
                    v.active_since = now;
                }
                v.last = v.last.max(now);
            }
        }
    }
}

/// The numbers behind a frozen stream.
#[derive(Clone, Debug, PartialEq)]
pub struct FrozenFacts {
    /// Seconds since the last change.
    pub unchanged_s: f64,
    /// Frames received since the last change (all with the same values).
    pub unchanged_frames: u64,
    /// phi of the time without a change.
    pub phi: f64,
    /// The phi that convicted it (`phi` or `no_peer_phi`).
    pub threshold_phi: f64,
    /// Changes the peers made meanwhile.
    pub peer_changes: u64,
    /// Seconds this stream stood still while a peer kept moving (the time
    /// phi is taken over; `None` without peers).
    pub peers_moving_s: Option<f64>,
    /// Whether any peer is known.
    pub peers_known: bool,
    /// Median and 95th percentile time between changes (seconds).
    pub median_change_gap_s: f64,
    /// 95th percentile time between changes (seconds).
    pub p95_change_gap_s: f64,
    /// When the values last changed.
    pub last_change: Nanos,
    /// Convicted by the venue's own streams contradicting the quote
    /// (rather than by phi): how.
    pub contradicted: Option<Contradicted>,
}

/// What one frame means for `feed_frozen`: the stream has just been found
/// frozen, a change arrived on a frozen stream, or nothing.
pub type FrozenVerdict = Verdict<FrozenFacts, Resumed>;

/// `feed_frozen` clears: a change arrived on a frozen stream.
#[derive(Clone, Debug, PartialEq)]
pub struct Resumed {
    /// How long the values had not changed (seconds).
    pub unchanged_s: f64,
    /// Frames that repeated them.
    pub unchanged_frames: u64,
}

impl Words for FrozenFacts {
    fn kind(&self) -> Kind {
        Kind::FeedFrozen
    }
    fn summary(&self, key: &IncidentKey) -> String {
        if let Some(c) = &self.contradicted {
            let how = match c.by {
                Witness::BookTop => "the venue's own order book top moved past it",
                Witness::Trade => "the venue's own trades print through it",
            };
            return format!(
                "{} is frozen: its best bid/offer {} / {} has not changed for {:.1} s while {how} ({} for {:.1} s): do not trade on it.",
                key.subject(),
                c.bid,
                c.ask,
                self.unchanged_s,
                c.price,
                c.held_s
            );
        }
        let compared = if self.peers_known {
            format!(
                "while other venues' {} streams changed {} times",
                key.stream.as_deref().unwrap_or("same"),
                self.peer_changes
            )
        } else {
            "with no other venue to compare against (judged at the higher no-peer bar)".to_string()
        };
        format!(
            "{} keeps sending the same values, unchanged for {:.1} s over {} frames {compared}: its prices are frozen, do not trade on them.",
            key.subject(),
            self.unchanged_s,
            self.unchanged_frames
        )
    }
    fn evidence(&self) -> Evidence {
        if let Some(c) = &self.contradicted {
            return Evidence::new()
                .num("unchanged_s", self.unchanged_s, 3)
                .with("unchanged_frames", self.unchanged_frames)
                .with("witness", c.by.name())
                .with("witness_price", c.price)
                .with("bid", c.bid)
                .with("ask", c.ask)
                .num("contradicted_s", c.held_s, 3)
                .with("contradicted_since", format_rfc3339_ms(c.since))
                .num("phi", self.phi, 2)
                .num("median_change_gap_s", self.median_change_gap_s, 4)
                .num("p95_change_gap_s", self.p95_change_gap_s, 4)
                .with("last_change_at", format_rfc3339_ms(self.last_change));
        }
        Evidence::new()
            .num("unchanged_s", self.unchanged_s, 3)
            .with("unchanged_frames", self.unchanged_frames)
            .num("phi", self.phi, 2)
            .num("threshold_phi", self.threshold_phi, 2)
            .with("peers_known", self.peers_known)
            .with("peer_changes", self.peer_changes)
            .with(
                "peers_moving_s",
                self.peers_moving_s
                    .map_or(serde_json::Value::Null, |v| crate::alert::round_value(v, 3)),
            )
            .num("median_change_gap_s", self.median_change_gap_s, 4)
            .num("p95_change_gap_s", self.p95_change_gap_s, 4)
            .with("last_change_at", format_rfc3339_ms(self.last_change))
    }
}

impl Finding for FrozenFacts {}

/// `feed_frozen` ends because the stream stopped sending frames:
/// `feed_silent` speaks for it now.
#[derive(Clone, Debug, PartialEq)]
pub struct WentSilent;

impl Words for WentSilent {
    fn kind(&self) -> Kind {
        Kind::FeedFrozen
    }
    fn summary(&self, key: &IncidentKey) -> String {
        format!(
            "{} stopped sending frames while frozen; feed_silent reports it now.",
            key.subject()
        )
    }
    fn evidence(&self) -> Evidence {
        Evidence::new().with("reason", "silent")
    }
}

impl Words for Resumed {
    fn kind(&self) -> Kind {
        Kind::FeedFrozen
    }
    fn summary(&self, key: &IncidentKey) -> String {
        format!(
            "{} values are changing again after {:.1} s frozen.",
            key.subject(),
            self.unchanged_s
        )
    }
    fn evidence(&self) -> Evidence {
        Evidence::new()
            .num("unchanged_s", self.unchanged_s, 3)
            .with("unchanged_frames", self.unchanged_frames)
    }
}

/// Refit the tail every this many changes (a fit is ~100 bins of work).
const REFIT_EVERY: u32 = 64;

/// Frozen tracking for one stream.
#[derive(Debug)]
pub struct FrozenTracker {
    gaps: GapHistory,
    fit: Option<TailFit>,
    stale_fit: u32,
    group: usize,
    slot: usize,
    last: Option<Fingerprint>,
    last_change: Option<Nanos>,
    /// Group counters (total, own venue) at the last change.
    at: (u64, u64),
    unchanged_frames: u64,
    alerting: bool,
    /// The next change restarts the clock without being learned (after a
    /// silence or a reconnect).
    restart: bool,
    /// Since when the venue's own book or trades have contradicted the
    /// standing values, and the repeats counted then (bbo streams; see
    /// [`witness`]).
    contra: Option<(Nanos, u64)>,
}

impl FrozenTracker {
    fn new(cfg: &FrozenConfig, group: usize, slot: usize) -> Self {
        FrozenTracker {
            gaps: GapHistory::new(cfg.half_life_s),
            fit: None,
            stale_fit: 0,
            group,
            slot,
            last: None,
            last_change: None,
            at: (0, 0),
            unchanged_frames: 0,
            alerting: false,
            restart: false,
            contra: None,
        }
    }

    /// Whether the stream is reported frozen now.
    pub fn is_alerting(&self) -> bool {
        self.alerting
    }

    /// The stream fell silent (or moved connection): a frozen report ends
    /// (silence is `feed_silent`'s), and the time without a change counts
    /// afresh from the next frame. Clears the incident if it was reported
    /// frozen.
    pub fn on_silent(&mut self) -> Verdict<FrozenFacts, WentSilent> {
        self.restart = true;
        self.contra = None;
        if std::mem::take(&mut self.alerting) {
            Verdict::Clear(WentSilent)
        } else {
            Verdict::Quiet
        }
    }

    /// One frame at `now` carrying values `f`.
    pub fn on_frame(
        &mut self,
        cfg: &FrozenConfig,
        groups: &mut FrozenGroups,
        now: Nanos,
        f: &Fingerprint,
    ) -> FrozenVerdict {
        let changed = self.last.as_ref() != Some(f);
        if changed {
            // New values: any contradiction was of the old ones.
            self.contra = None;
        }
        if self.restart {
            // The clock restarts here; this frame is the new reference.
            self.restart = false;
            self.last = Some(*f);
            self.last_change = Some(now);
            self.unchanged_frames = 0;
            if changed {
                groups.count_change(self.group, self.slot, now, quiet_ns(cfg));
            }
            self.at = groups.counters(self.group, self.slot);
            return FrozenVerdict::Quiet;
        }
        if changed {
            return self.on_change(cfg, groups, now, f);
        }
        self.unchanged_frames += 1;
        if self.alerting {
            return FrozenVerdict::Quiet;
        }
        let (Some(last), Some(fit)) = (self.last_change, self.fit.as_ref()) else {
            return FrozenVerdict::Quiet;
        };
        let elapsed = secs(now - last);
        if elapsed < cfg.min_frozen_s || self.gaps.count() < cfg.min_samples {
            return FrozenVerdict::Quiet;
        }
        let phi_of = |t: f64| {
            if t >= cfg.max_gap_s {
                100.0
            } else {
                fit.phi(t).min(100.0)
            }
        };
        // The time judged is never longer than this, so a stream in rhythm
        // is let go here with one comparison.
        if phi_of(elapsed) < cfg.phi {
            return FrozenVerdict::Quiet;
        }
        let (peer_changes, moving_since, peers_known) =
            groups.peers_since(self.group, self.slot, self.at, now, quiet_ns(cfg));
        let (phi, threshold_phi, peers_moving_s) = if peers_known {
            // A quiet market: nobody else is moving, or not for long.
            let Some(since) = moving_since else {
                return FrozenVerdict::Quiet;
            };
            let judged = secs(now - since.max(last));
            if peer_changes < cfg.min_peer_changes || judged < cfg.min_frozen_s {
                return FrozenVerdict::Quiet;
            }
            (phi_of(judged), cfg.phi, Some(judged))
        } else {
            (phi_of(elapsed), cfg.no_peer_phi, None)
        };
        if phi < threshold_phi {
            return FrozenVerdict::Quiet;
        }
        self.alerting = true;
        FrozenVerdict::Fire(FrozenFacts {
            unchanged_s: elapsed,
            unchanged_frames: self.unchanged_frames,
            phi,
            threshold_phi,
            peer_changes,
            peers_moving_s,
            peers_known,
            median_change_gap_s: fit.median,
            p95_change_gap_s: fit.p95,
            last_change: last,
            contradicted: None,
        })
    }

    fn on_change(
        &mut self,
        cfg: &FrozenConfig,
        groups: &mut FrozenGroups,
        now: Nanos,
        f: &Fingerprint,
    ) -> FrozenVerdict {
        let was = std::mem::take(&mut self.alerting);
        let mut verdict = FrozenVerdict::Quiet;
        if let Some(last) = self.last_change {
            let gap = secs(now - last);
            if was {
                verdict = FrozenVerdict::Clear(Resumed {
                    unchanged_s: gap,
                    unchanged_frames: self.unchanged_frames,
                });
            } else if gap >= 0.0 {
                // A frozen episode is kept out of the rhythm, so a fault
                // does not teach the stream that faults are normal.
                self.gaps.push(now, gap.min(cfg.max_gap_s));
                self.stale_fit += 1;
                if self.fit.is_none() || self.stale_fit >= REFIT_EVERY {
                    self.fit = self.gaps.fit(cfg.tail_share, cfg.min_tail_scale_s);
                    self.stale_fit = 0;
                }
            }
        }
        self.last = Some(*f);
        self.last_change = Some(now.max(self.last_change.unwrap_or(now)));
        self.unchanged_frames = 0;
        groups.count_change(self.group, self.slot, now, quiet_ns(cfg));
        self.at = groups.counters(self.group, self.slot);
        verdict
    }
}

#[cfg(test)]
mod tests;
