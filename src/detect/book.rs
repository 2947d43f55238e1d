//! Book checks: `book_gap` (sequence breaks, decided by [`crate::state::book`])
//! and `book_crossed` (best bid at or above best ask on one venue, held).
//!
//! A crossed book must persist (a time or a count of updates) before it is
//! an alert: a single crossed message can be a race between two sides of an
//! update. A crossed book *across* venues is normal and not checked here.

use crate::model::{MILLI, Nanos, SECOND};
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
        }
    }
}

/// What a crossed-book observation means.
#[derive(Clone, Debug, PartialEq)]
pub enum CrossedVerdict {
    /// Nothing to report.
    Quiet,
    /// Crossed long enough: alert (critical when `critical`).
    Crossed {
        /// Since when.
        since: Nanos,
        /// Consecutive crossed updates.
        updates: u32,
        /// Best bid.
        bid: f64,
        /// Best ask.
        ask: f64,
        /// Held past the critical time.
        critical: bool,
    },
    /// No longer crossed after an alert.
    Cleared {
        /// How long it was crossed.
        for_ns: Nanos,
    },
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
    pub fn observe(&mut self, cfg: &BookConfig, now: Nanos, bid: f64, ask: f64) -> CrossedVerdict {
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
            return CrossedVerdict::Cleared {
                for_ns: was.map_or(0, |s| now - s),
            };
        }
        CrossedVerdict::Quiet
    }

    /// Time passes with no update.
    pub fn on_tick(&mut self, cfg: &BookConfig, now: Nanos) -> CrossedVerdict {
        match self.since {
            Some(since) => self.judge(cfg, now, since),
            None => CrossedVerdict::Quiet,
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
            return CrossedVerdict::Crossed {
                since,
                updates: self.updates,
                bid: self.last.0,
                ask: self.last.1,
                critical: held >= cfg.crossed_critical_s * SECOND,
            };
        }
        CrossedVerdict::Quiet
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_crossed_update_is_not_an_alert() {
        let cfg = BookConfig::default();
        let mut c = CrossedTracker::new();
        assert_eq!(c.observe(&cfg, 0, 101.0, 100.0), CrossedVerdict::Quiet);
        assert_eq!(
            c.observe(&cfg, 10 * MILLI, 99.0, 100.0),
            CrossedVerdict::Quiet
        );
        assert_eq!(c.deadline(&cfg), None);
    }

    #[test]
    fn held_crossed_alerts_by_time_or_count_and_clears() {
        let cfg = BookConfig::default();
        let mut c = CrossedTracker::new();
        c.observe(&cfg, 0, 100.0, 100.0);
        assert_eq!(c.deadline(&cfg), Some(500 * MILLI));
        assert_eq!(c.on_tick(&cfg, 400 * MILLI), CrossedVerdict::Quiet);
        assert!(matches!(
            c.on_tick(&cfg, 500 * MILLI),
            CrossedVerdict::Crossed {
                critical: false,
                ..
            }
        ));
        assert!(matches!(
            c.on_tick(&cfg, 6 * SECOND),
            CrossedVerdict::Crossed { critical: true, .. }
        ));
        assert_eq!(
            c.observe(&cfg, 7 * SECOND, 99.0, 100.0),
            CrossedVerdict::Cleared { for_ns: 7 * SECOND }
        );

        let mut c = CrossedTracker::new();
        c.observe(&cfg, 0, 101.0, 100.0);
        c.observe(&cfg, MILLI, 101.0, 100.0);
        assert!(matches!(
            c.observe(&cfg, 2 * MILLI, 101.0, 100.0),
            CrossedVerdict::Crossed { updates: 3, .. }
        ));
    }
}
