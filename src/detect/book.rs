//! Book checks: `book_gap` and `book_checksum` (sync lost, decided by
//! [`crate::state::book`] or the venue adapter; [`SyncVerdict`]) and
//! `book_crossed` (best bid at or above best ask on one venue, held).
//!
//! A crossed book must persist (a time or a count of updates) before it is
//! an alert: a single crossed message can be a race between two sides of an
//! update. A crossed book *across* venues is normal and not checked here.
//!
//! The keys of `spread_blowout`, `depth_collapse`, `book_stale` and
//! `bad_print` live in [`BookConfig`] too; those checks are in
//! [`crate::detect::book_health`] and [`crate::detect::bad_print`].

use super::verdict::{Finding, Outcome, Verdict, Words};
use crate::alert::{Evidence, IncidentKey, Kind, Severity};
use crate::model::{Integrity, MILLI, Nanos, SECOND, format_rfc3339_ms};
use crate::state::book::Applied;
use crate::state::gaps::secs;
use serde::{Deserialize, Serialize};

/// Thresholds for the book checks.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct BookConfig {
    /// A crossed book held this long (ms) is an alert.
    pub crossed_ms: i64,
    /// ... or this many consecutive crossed updates.
    pub crossed_updates: u32,
    /// A crossed book held this long (seconds) is critical.
    pub crossed_critical_s: i64,
    /// Diffs buffered while waiting for a snapshot.
    pub max_pending: usize,
    /// A book out of sync asks its connection for a fresh snapshot (a REST
    /// fetch or a resubscription, per venue) at most this often (ms).
    pub resync_interval_ms: i64,
    /// Levels kept per side, from the top. The checks read the top of book
    /// and near-touch depth; venues update levels at every depth (Binance
    /// snapshots hold 1,000), and keeping 200 (about 5-10 bp of BTC either
    /// side) cuts book upkeep by a third of replay time against 1,000. When
    /// a side is full, new levels beyond its worst are ignored.
    pub max_levels: usize,
    /// `spread_blowout`: a spread above `spread_k` x its rolling median ...
    pub spread_k: f64,
    /// ... and above this floor (basis points of mid), so a spread of a
    /// few ticks never pages ...
    pub spread_floor_bps: f64,
    /// ... held this long (ms) ...
    pub spread_sustain_ms: i64,
    /// ... and over at least this many updates is an alert.
    pub spread_sustain_updates: u32,
    /// The spread and near-touch depth are sampled into their rolling
    /// medians at most this often (ms); depth is judged at this cadence.
    pub health_sample_ms: i64,
    /// Samples in the rolling medians (a bounded ring).
    pub health_window: usize,
    /// Samples needed before spread or depth is judged.
    pub health_min_samples: usize,
    /// `depth_collapse`: near-touch depth is the quantity on both sides
    /// within this many basis points of mid on the synced L2 book ...
    pub depth_band_bps: f64,
    /// ... and it collapsed below this share of its rolling median ...
    pub depth_fraction: f64,
    /// ... held this long (ms).
    pub depth_sustain_ms: i64,
    /// `book_stale`: a trade printing further than this (basis points of
    /// mid) outside the same venue's best bid and ask ...
    pub stale_tolerance_bps: f64,
    /// ... at least this many times in a row ...
    pub stale_trades: usize,
    /// ... over at least this long (ms) means the book is stale (a sweep
    /// through the book prints outside it for an instant) ...
    pub stale_hold_ms: i64,
    /// ... where outside prints further apart than this (ms) start a new run.
    pub stale_window_ms: i64,
    /// `bad_print`: a trade printing further than this (basis points of
    /// mid) outside the same venue's closest fresh top of book ...
    pub bad_print_bps: f64,
    /// ... and further than this many of that top's spreads (a thin
    /// market's wide quote is not a bar of 1%) ...
    pub bad_print_spread_k: f64,
    /// ... where a top is fresh when its stream had data within this long
    /// (ms); a print far from the other venues of the pair too (by
    /// `bad_print_bps` of their median), where any are fresh.
    pub bad_print_fresh_ms: i64,
}

impl Default for BookConfig {
    fn default() -> Self {
        BookConfig {
            crossed_ms: 500,
            crossed_updates: 3,
            crossed_critical_s: 5,
            max_pending: 1000,
            max_levels: 200,
            resync_interval_ms: 10_000,
            spread_k: 10.0,
            spread_floor_bps: 5.0,
            spread_sustain_ms: 2000,
            spread_sustain_updates: 3,
            health_sample_ms: 1000,
            health_window: 300,
            health_min_samples: 60,
            depth_band_bps: 10.0,
            depth_fraction: 0.2,
            depth_sustain_ms: 3000,
            stale_tolerance_bps: 10.0,
            stale_trades: 5,
            stale_hold_ms: 1000,
            stale_window_ms: 3000,
            bad_print_bps: 100.0,
            bad_print_spread_k: 10.0,
            bad_print_fresh_ms: 5000,
        }
    }
}

impl BookConfig {
    /// Checks the ranges of the health keys; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("book.spread_k", self.spread_k),
            ("book.depth_band_bps", self.depth_band_bps),
            ("book.depth_fraction", self.depth_fraction),
            ("book.bad_print_bps", self.bad_print_bps),
        ];
        for (name, v) in positive {
            if !(v.is_finite() && v > 0.0) {
                return Err(format!("{name} must be a positive number, got {v}"));
            }
        }
        let non_negative = [
            ("book.spread_floor_bps", self.spread_floor_bps),
            ("book.stale_tolerance_bps", self.stale_tolerance_bps),
            ("book.bad_print_spread_k", self.bad_print_spread_k),
        ];
        for (name, v) in non_negative {
            if !(v.is_finite() && v >= 0.0) {
                return Err(format!("{name} must be >= 0, got {v}"));
            }
        }
        if self.depth_fraction >= 1.0 {
            return Err(format!(
                "book.depth_fraction must be below 1, got {}",
                self.depth_fraction
            ));
        }
        let times = [
            ("book.spread_sustain_ms", self.spread_sustain_ms),
            ("book.health_sample_ms", self.health_sample_ms),
            ("book.depth_sustain_ms", self.depth_sustain_ms),
            ("book.stale_hold_ms", self.stale_hold_ms),
            ("book.stale_window_ms", self.stale_window_ms),
            ("book.bad_print_fresh_ms", self.bad_print_fresh_ms),
        ];
        for (name, v) in times {
            if !(0..=3_600_000).contains(&v) {
                return Err(format!("{name} must be 0..=3600000, got {v}"));
            }
        }
        if self.health_sample_ms == 0 {
            return Err("book.health_sample_ms must be at least 1".into());
        }
        if !(1..=100_000).contains(&self.health_window) {
            return Err(format!(
                "book.health_window must be 1..=100000, got {}",
                self.health_window
            ));
        }
        if self.health_min_samples == 0 || self.health_min_samples > self.health_window {
            return Err(format!(
                "book.health_min_samples must be 1..=book.health_window, got {}",
                self.health_min_samples
            ));
        }
        if !(1..=1000).contains(&self.stale_trades) {
            return Err(format!(
                "book.stale_trades must be 1..=1000, got {}",
                self.stale_trades
            ));
        }
        Ok(())
    }
}

/// What a crossed-book observation means: crossed long enough (alert,
/// critical when held past `book.crossed_critical_s`), no longer crossed
/// after an alert, or nothing.
pub type CrossedVerdict = Verdict<Crossed, Uncrossed>;

/// A crossed-book verdict and when a tick could next change it.
pub type CrossedOutcome = Outcome<Crossed, Uncrossed>;

/// `book_crossed` fires: the best bid is at or above the best ask.
#[derive(Clone, Debug, PartialEq)]
pub struct Crossed {
    /// Since when.
    pub since: Nanos,
    /// How long it has been crossed at the judgement.
    pub held: Nanos,
    /// Consecutive crossed updates.
    pub updates: u32,
    /// Best bid.
    pub bid: f64,
    /// Best ask.
    pub ask: f64,
    /// Held past the critical time.
    pub critical: bool,
}

/// `book_crossed` clears.
#[derive(Clone, Debug, PartialEq)]
pub struct Uncrossed {
    /// How long it was crossed.
    pub for_ns: Nanos,
}

impl Words for Crossed {
    fn kind(&self) -> Kind {
        Kind::BookCrossed
    }
    fn summary(&self, key: &IncidentKey) -> String {
        format!(
            "{} is crossed: bid {} >= ask {} for {:.1} s ({} updates); this venue's book is wrong, do not quote off it.",
            key.subject(),
            self.bid,
            self.ask,
            secs(self.held),
            self.updates
        )
    }
    fn evidence(&self) -> Evidence {
        let mid = (self.bid + self.ask) / 2.0;
        let bps = if mid > 0.0 {
            (self.bid - self.ask) / mid * 1e4
        } else {
            0.0
        };
        Evidence::new()
            .with("bid", self.bid)
            .with("ask", self.ask)
            .num("crossed_bps", bps, 2)
            .num("held_s", secs(self.held), 3)
            .with("updates", self.updates)
            .with("since", format_rfc3339_ms(self.since))
    }
}

impl Finding for Crossed {
    fn severity(&self) -> Severity {
        if self.critical {
            Severity::Critical
        } else {
            Severity::Warning
        }
    }
}

impl Words for Uncrossed {
    fn kind(&self) -> Kind {
        Kind::BookCrossed
    }
    fn summary(&self, key: &IncidentKey) -> String {
        format!(
            "{} is no longer crossed (was crossed for {:.1} s).",
            key.subject(),
            secs(self.for_ns)
        )
    }
    fn evidence(&self) -> Evidence {
        Evidence::new().num("crossed_for_s", secs(self.for_ns), 3)
    }
}

/// A book losing or regaining sync: `book_gap` and `book_checksum` fire
/// on a break (news: every break is reported) and clear when a snapshot
/// rebuilds the book.
pub type SyncVerdict = Verdict<SyncLost, Resynced>;

/// The local book is out of sync with the venue's.
#[derive(Clone, Debug, PartialEq)]
pub enum SyncLost {
    /// The book's own sequencing found a jump ([`Applied::Gap`]).
    Skipped {
        /// The id (or previous id) expected.
        expected: u64,
        /// The id the message carried.
        got: u64,
        /// The message's last id.
        last_id: u64,
    },
    /// The venue adapter found a sequence jump ([`Integrity::Gap`]).
    Gap {
        /// The sequence expected.
        expected: u64,
        /// The sequence received.
        got: u64,
    },
    /// The venue's checksum differs from the local book's.
    Checksum {
        /// Checksum the venue sent.
        expected: u32,
        /// Checksum of the local book.
        computed: u32,
    },
}

/// A snapshot rebuilt the book: `kind` (`book_gap` or `book_checksum`)
/// clears.
#[derive(Clone, Debug, PartialEq)]
pub struct Resynced {
    /// The kind that clears.
    pub kind: Kind,
    /// Buffered diffs applied after the snapshot.
    pub replayed: usize,
}

/// The verdicts of a message applied to a book: a break fires `book_gap`;
/// a rebuild from a snapshot clears `book_gap` and then `book_checksum`.
pub fn applied_verdicts(applied: &Applied) -> [SyncVerdict; 2] {
    match *applied {
        Applied::Gap {
            expected,
            got,
            last_id,
        } => [
            Verdict::Fire(SyncLost::Skipped {
                expected,
                got,
                last_id,
            }),
            Verdict::Quiet,
        ],
        Applied::Resynced { replayed } => [Kind::BookGap, Kind::BookChecksum]
            .map(|kind| Verdict::Clear(Resynced { kind, replayed })),
        Applied::Ok | Applied::Stale | Applied::Invalid => [Verdict::Quiet, Verdict::Quiet],
    }
}

/// The verdict of an integrity fault an adapter found. A venue restart
/// ([`Integrity::Reset`]) is announced, not a fault: the snapshot that
/// follows rebuilds the book.
pub fn integrity_verdict(fault: &Integrity) -> SyncVerdict {
    match *fault {
        Integrity::Gap { expected, got } => Verdict::Fire(SyncLost::Gap { expected, got }),
        Integrity::Checksum { expected, computed } => {
            Verdict::Fire(SyncLost::Checksum { expected, computed })
        }
        Integrity::Reset => Verdict::Quiet,
    }
}

impl Words for SyncLost {
    fn kind(&self) -> Kind {
        match self {
            SyncLost::Skipped { .. } | SyncLost::Gap { .. } => Kind::BookGap,
            SyncLost::Checksum { .. } => Kind::BookChecksum,
        }
    }
    fn summary(&self, key: &IncidentKey) -> String {
        const REBUILT: &str = "do not trust its depth until resolved.";
        let market = key.market();
        match self {
            SyncLost::Skipped { expected, got, .. } => format!(
                "{market} order book skipped updates (expected id {expected}, got {got}): the local book is out of sync and is being rebuilt from a snapshot; {REBUILT}"
            ),
            SyncLost::Gap { expected, got } => format!(
                "{market} order book skipped updates (expected sequence {expected}, got {got}): the local book is out of sync and is being rebuilt from a snapshot; {REBUILT}"
            ),
            SyncLost::Checksum { expected, computed } => format!(
                "{market} order book checksum mismatch (venue {expected}, local {computed}): the local book differs from the venue's and is being rebuilt; {REBUILT}"
            ),
        }
    }
    fn evidence(&self) -> Evidence {
        match *self {
            SyncLost::Skipped {
                expected,
                got,
                last_id,
            } => Evidence::new()
                .with("expected", expected)
                .with("got", got)
                .with("missing", got.saturating_sub(expected))
                .with("last_id", last_id),
            SyncLost::Gap { expected, got } => Evidence::new()
                .with("expected", expected)
                .with("got", got)
                .with("missing", got.saturating_sub(expected)),
            SyncLost::Checksum { expected, computed } => Evidence::new()
                .with("venue_checksum", expected)
                .with("local_checksum", computed),
        }
    }
}

impl Finding for SyncLost {
    fn news(&self) -> bool {
        true
    }
}

impl Words for Resynced {
    fn kind(&self) -> Kind {
        self.kind
    }
    fn summary(&self, key: &IncidentKey) -> String {
        format!(
            "{} order book is back in sync from a snapshot.",
            key.market()
        )
    }
    fn evidence(&self) -> Evidence {
        Evidence::new().with("replayed_diffs", self.replayed)
    }
}

/// Tracks whether one stream's top of book is crossed, and for how long.
#[derive(Debug, Default)]
pub struct CrossedTracker {
    since: Option<Nanos>,
    updates: u32,
    last: (f64, f64),
    alerting: bool,
}

impl CrossedTracker {
    /// A new tracker.
    pub fn new() -> Self {
        Self::default()
    }

    /// A new top of book at `now`.
    pub fn observe(&mut self, cfg: &BookConfig, now: Nanos, bid: f64, ask: f64) -> CrossedOutcome {
        let verdict = self.observe_top(cfg, now, bid, ask);
        self.outcome(cfg, verdict)
    }

    fn observe_top(&mut self, cfg: &BookConfig, now: Nanos, bid: f64, ask: f64) -> CrossedVerdict {
        if bid >= ask && bid.is_finite() && ask.is_finite() && ask > 0.0 {
            let since = *self.since.get_or_insert(now);
            self.updates += 1;
            self.last = (bid, ask);
            return self.judge(cfg, now, since);
        }
        let was = self.since.take();
        self.updates = 0;
        if self.alerting {
            self.alerting = false;
            return Verdict::Clear(Uncrossed {
                for_ns: was.map_or(0, |s| now - s),
            });
        }
        Verdict::Quiet
    }

    /// Time passes with no update.
    pub fn on_tick(&mut self, cfg: &BookConfig, now: Nanos) -> CrossedOutcome {
        let verdict = match self.since {
            Some(since) => self.judge(cfg, now, since),
            None => Verdict::Quiet,
        };
        self.outcome(cfg, verdict)
    }

    /// The verdict with the next instant a tick could change it.
    fn outcome(&self, cfg: &BookConfig, verdict: CrossedVerdict) -> CrossedOutcome {
        Outcome {
            verdict,
            wake_at: self.deadline(cfg),
        }
    }

    /// When a tick could change the verdict.
    pub fn deadline(&self, cfg: &BookConfig) -> Option<Nanos> {
        let since = self.since?;
        Some(if self.alerting {
            since + cfg.crossed_critical_s * SECOND
        } else {
            since + cfg.crossed_ms * MILLI
        })
    }

    fn judge(&mut self, cfg: &BookConfig, now: Nanos, since: Nanos) -> CrossedVerdict {
        let held = now - since;
        if self.alerting || held >= cfg.crossed_ms * MILLI || self.updates >= cfg.crossed_updates {
            self.alerting = true;
            return Verdict::Fire(Crossed {
                since,
                held,
                updates: self.updates,
                bid: self.last.0,
                ask: self.last.1,
                critical: held >= cfg.crossed_critical_s * SECOND,
            });
        }
        Verdict::Quiet
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_keys_are_validated_by_name() {
        BookConfig::default().validate().unwrap();
        let e = BookConfig {
            depth_fraction: 1.5,
            ..BookConfig::default()
        }
        .validate()
        .unwrap_err();
        assert!(e.starts_with("book.depth_fraction "), "{e}");
        let e = BookConfig {
            health_min_samples: 301,
            ..BookConfig::default()
        }
        .validate()
        .unwrap_err();
        assert!(e.starts_with("book.health_min_samples "), "{e}");
        let e = BookConfig {
            spread_k: f64::NAN,
            ..BookConfig::default()
        }
        .validate()
        .unwrap_err();
        assert!(e.starts_with("book.spread_k "), "{e}");
    }

    #[test]
    fn a_single_crossed_update_is_not_an_alert() {
        let cfg = BookConfig::default();
        let mut c = CrossedTracker::new();
        assert_eq!(c.observe(&cfg, 0, 101.0, 100.0).verdict, Verdict::Quiet);
        assert_eq!(
            c.observe(&cfg, 10 * MILLI, 99.0, 100.0).verdict,
            Verdict::Quiet
        );
        assert_eq!(c.deadline(&cfg), None);
    }

    #[test]
    fn held_crossed_alerts_by_time_or_count_and_clears() {
        let cfg = BookConfig::default();
        let mut c = CrossedTracker::new();
        c.observe(&cfg, 0, 100.0, 100.0);
        assert_eq!(c.deadline(&cfg), Some(500 * MILLI));
        assert_eq!(c.on_tick(&cfg, 400 * MILLI).verdict, Verdict::Quiet);
        assert!(matches!(
            c.on_tick(&cfg, 500 * MILLI).verdict,
            Verdict::Fire(Crossed {
                critical: false,
                ..
            })
        ));
        assert!(matches!(
            c.on_tick(&cfg, 6 * SECOND).verdict,
            Verdict::Fire(Crossed { critical: true, .. })
        ));
        assert_eq!(
            c.observe(&cfg, 7 * SECOND, 99.0, 100.0).verdict,
            Verdict::Clear(Uncrossed { for_ns: 7 * SECOND })
        );

        let mut c = CrossedTracker::new();
        c.observe(&cfg, 0, 101.0, 100.0);
        c.observe(&cfg, MILLI, 101.0, 100.0);
        assert!(matches!(
            c.observe(&cfg, 2 * MILLI, 101.0, 100.0).verdict,
            Verdict::Fire(Crossed { updates: 3, .. })
        ));
    }
}
