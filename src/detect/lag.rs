//! `feed_lagging`: data that arrives later than it should.
//!
//! Lag is receive time minus exchange event time, which includes the clock
//! skew between the exchange and us (the recordings here run 1.27 s *behind*
//! Binance, so raw lag is negative). The baseline is therefore the stream's
//! own rolling minimum over per-second buckets, and the alert is on the
//! excess over it: above max(floor, k x p95 of normal excess) for a
//! sustained stretch. Late buckets never enter the baseline, so a feed that
//! stays late does not become the new normal.

use super::verdict::{Finding, Verdict, Words};
use crate::alert::{Evidence, IncidentKey, Kind, Severity};
use crate::model::{Nanos, SECOND};
use crate::state::gaps::secs;
use crate::state::window::SortedWindow;
use ringbuf::LocalRb;
use ringbuf::storage::Heap;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Thresholds for `feed_lagging`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LagConfig {
    /// Seconds of per-second minima kept for the baseline.
    pub window_s: usize,
    /// Seconds of data before the detector arms.
    pub warmup_s: i64,
    /// Smallest excess over baseline that can alert (seconds).
    pub floor_s: f64,
    /// Threshold = max(floor, factor x p95 of normal per-second excess).
    pub factor: f64,
    /// How long every message must be late before alerting (seconds).
    pub sustain_s: f64,
    /// How long messages must be back under half the threshold before the
    /// incident resolves (seconds).
    pub recover_s: f64,
    /// Excess (seconds) at which the alert becomes critical.
    pub critical_s: f64,
}

impl Default for LagConfig {
    fn default() -> Self {
        LagConfig {
            window_s: 300,
            warmup_s: 10,
            floor_s: 0.5,
            factor: 5.0,
            sustain_s: 3.0,
            recover_s: 3.0,
            critical_s: 10.0,
        }
    }
}

/// What one lag sample means: late for long enough (alert, or keep
/// alerting), back to normal for long enough (resolve), or nothing.
pub type LagVerdict = Verdict<Lagging, Recovered>;

/// `feed_lagging` fires: data arrives later than the stream's own baseline.
#[derive(Clone, Debug, PartialEq)]
pub struct Lagging {
    /// The numbers.
    pub facts: LagFacts,
    /// The excess reached `lag.critical_s`.
    pub critical: bool,
}

/// `feed_lagging` clears: the stream is back on time.
#[derive(Clone, Debug, PartialEq)]
pub struct Recovered(pub LagFacts);

impl LagFacts {
    fn evidence(&self) -> Evidence {
        Evidence::new()
            .num("excess_s", self.excess_s, 3)
            .num("threshold_s", self.threshold_s, 3)
            .num("baseline_lag_s", self.baseline_s, 3)
            .num("lag_s", self.lag_s, 3)
            .num("worst_excess_s", self.worst_s, 3)
            .num("for_s", self.for_s, 1)
    }
}

impl Words for Lagging {
    fn kind(&self) -> Kind {
        Kind::FeedLagging
    }
    fn summary(&self, key: &IncidentKey) -> String {
        let f = &self.facts;
        format!(
            "{} data is arriving {:.1} s later than normal (alert above {:.1} s for {:.0} s): prices shown are stale by that much.",
            key.subject(),
            f.excess_s,
            f.threshold_s,
            f.for_s
        )
    }
    fn evidence(&self) -> Evidence {
        self.facts.evidence()
    }
}

impl Finding for Lagging {
    fn severity(&self) -> Severity {
        if self.critical {
            Severity::Critical
        } else {
            Severity::Warning
        }
    }
}

impl Words for Recovered {
    fn kind(&self) -> Kind {
        Kind::FeedLagging
    }
    fn summary(&self, key: &IncidentKey) -> String {
        format!(
            "{} is back on time (lag {:.2} s over baseline, worst was {:.1} s).",
            key.subject(),
            self.0.excess_s,
            self.0.worst_s
        )
    }
    fn evidence(&self) -> Evidence {
        self.0.evidence()
    }
}

/// The numbers behind a lag verdict (seconds).
#[derive(Clone, Debug, PartialEq)]
pub struct LagFacts {
    /// Current excess over baseline.
    pub excess_s: f64,
    /// Alert threshold.
    pub threshold_s: f64,
    /// Baseline raw lag (includes clock skew).
    pub baseline_s: f64,
    /// Current raw lag.
    pub lag_s: f64,
    /// Worst excess in this episode.
    pub worst_s: f64,
    /// How long the episode has lasted.
    pub for_s: f64,
}

/// Lag tracking for one stream.
pub struct LagTracker {
    buckets: LocalRb<Heap<f64>>,
    bucket_start: Nanos,
    bucket_min: f64,
    baseline: f64,
    threshold: f64,
    first: Option<Nanos>,
    late_since: Option<Nanos>,
    ok_since: Option<Nanos>,
    alerting: bool,
    worst: f64,
    episode_start: Nanos,
    /// The buckets' minima in order: baseline and p95 are two indexes at
    /// each bucket close, not a selection over the window.
    sorted: SortedWindow,
    /// The last sample's raw lag (seconds; NaN before the first).
    last_lag: f64,
}

impl fmt::Debug for LagTracker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LagTracker")
            .field("baseline", &self.baseline)
            .field("threshold", &self.threshold)
            .field("alerting", &self.alerting)
            .finish()
    }
}

impl LagTracker {
    /// A tracker with no history.
    pub fn new(cfg: &LagConfig) -> Self {
        LagTracker {
            buckets: LocalRb::new(cfg.window_s.max(1)),
            bucket_start: 0,
            bucket_min: f64::INFINITY,
            baseline: f64::INFINITY,
            threshold: cfg.floor_s,
            first: None,
            late_since: None,
            ok_since: None,
            alerting: false,
            worst: 0.0,
            episode_start: 0,
            sorted: SortedWindow::with_capacity(cfg.window_s.max(1)),
            last_lag: f64::NAN,
        }
    }

    /// Whether an alert is in force.
    pub fn is_alerting(&self) -> bool {
        self.alerting
    }

    /// The last sample's lag over the baseline (seconds), if any.
    pub fn excess_s(&self) -> Option<f64> {
        (self.last_lag.is_finite() && self.baseline.is_finite())
            .then(|| (self.last_lag - self.baseline).max(0.0))
    }

    /// Current raw-lag baseline (seconds), if any.
    pub fn baseline_s(&self) -> Option<f64> {
        self.baseline.is_finite().then_some(self.baseline)
    }

    /// One message received at `recv` that the exchange stamped `exch`.
    pub fn on_sample(&mut self, cfg: &LagConfig, recv: Nanos, exch: Nanos) -> LagVerdict {
        let lag = secs(recv - exch);
        if !lag.is_finite() {
            return Verdict::Quiet;
        }
        self.last_lag = lag;
        let first = *self.first.get_or_insert(recv);
        let late = self.late_since.is_some() || self.alerting;
        if recv - self.bucket_start >= SECOND {
            self.close_bucket(cfg, late);
            self.bucket_start = recv - recv.rem_euclid(SECOND);
        }
        if !late {
            self.bucket_min = self.bucket_min.min(lag);
            // The baseline may only go down between bucket closes.
            self.baseline = self.baseline.min(lag);
        }
        if recv - first < cfg.warmup_s * SECOND || !self.baseline.is_finite() {
            return Verdict::Quiet;
        }
        let excess = lag - self.baseline;
        let facts = |s: &Self, since: Nanos| LagFacts {
            excess_s: excess,
            threshold_s: s.threshold,
            baseline_s: s.baseline,
            lag_s: lag,
            worst_s: s.worst,
            for_s: secs(recv - since),
        };
        if excess > self.threshold {
            self.ok_since = None;
            let since = *self.late_since.get_or_insert(recv);
            if self.alerting || secs(recv - since) >= cfg.sustain_s {
                if !self.alerting {
                    self.alerting = true;
                    self.worst = 0.0;
                    self.episode_start = since;
                }
                self.worst = self.worst.max(excess);
                let facts = facts(self, self.episode_start);
                let critical = facts.excess_s >= cfg.critical_s;
                return Verdict::Fire(Lagging { facts, critical });
            }
            return Verdict::Quiet;
        }
        if !self.alerting {
            self.late_since = None;
            return Verdict::Quiet;
        }
        if excess < self.threshold * 0.5 {
            let since = *self.ok_since.get_or_insert(recv);
            if secs(recv - since) >= cfg.recover_s {
                self.alerting = false;
                self.late_since = None;
                self.ok_since = None;
                return Verdict::Clear(Recovered(facts(self, self.episode_start)));
            }
        } else {
            self.ok_since = None;
        }
        Verdict::Quiet
    }

    /// Closes the current per-second bucket: pushes its minimum (unless the
    /// stream was late) and recomputes baseline and threshold.
    fn close_bucket(&mut self, cfg: &LagConfig, late: bool) {
        if self.bucket_min.is_finite() && !late {
            if let Some(old) = self.buckets.push_overwrite(self.bucket_min) {
                self.sorted.remove(old);
            }
            self.sorted.insert(self.bucket_min);
        }
        self.bucket_min = f64::INFINITY;
        let n = self.sorted.len();
        let Some(base) = self.sorted.at(0) else {
            return;
        };
        self.baseline = base;
        // The p95 of the excess over the baseline: subtracting one value
        // keeps the order, so it is the p95 minimum less the baseline.
        let k = ((n as f64) * 0.95) as usize;
        let k = k.min(n.saturating_sub(1));
        let p95 = self.sorted.at(k).map_or(0.0, |v| v - base);
        self.threshold = (cfg.factor * p95).max(cfg.floor_s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::MILLI;

    /// Drives a tracker with a 20 ms message rhythm and the given extra lag
    /// (seconds) as a function of time (seconds); returns the verdicts with
    /// their times.
    fn drive(extra: impl Fn(f64) -> f64, until_s: f64) -> Vec<(f64, LagVerdict)> {
        let cfg = LagConfig::default();
        let mut t = LagTracker::new(&cfg);
        let mut out = Vec::new();
        let mut recv: Nanos = 1_000 * SECOND;
        let start = recv;
        while secs(recv - start) < until_s {
            let ts = secs(recv - start);
            // Recorder 1.27 s behind the exchange, 0-4 ms jitter.
            let jitter = ((recv / MILLI) % 5) as f64 / 1000.0;
            let lag = -1.27 + jitter + extra(ts);
            let exch = recv - (lag * SECOND as f64) as Nanos;
            let v = t.on_sample(&cfg, recv, exch);
            if v != Verdict::Quiet {
                out.push((ts, v));
            }
            recv += 20 * MILLI;
        }
        out
    }

    #[test]
    fn steady_skewed_stream_is_quiet() {
        assert!(drive(|_| 0.0, 120.0).is_empty());
    }

    #[test]
    fn drift_is_caught_and_resolves_after_catch_up() {
        // 15 s of extra lag built up over a minute from t=60, gone at t=130.
        let v = drive(
            |t| {
                if (60.0..130.0).contains(&t) {
                    ((t - 60.0) / 4.0).min(15.0)
                } else {
                    0.0
                }
            },
            200.0,
        );
        let first = v
            .iter()
            .find(|(_, v)| matches!(v, Verdict::Fire(_)))
            .unwrap();
        // Excess passes 0.5 s at t=62 and must stay there 3 s.
        assert!(
            first.0 > 64.9 && first.0 < 66.0,
            "first alert at {}",
            first.0
        );
        let rec = v
            .iter()
            .find(|(_, v)| matches!(v, Verdict::Clear(_)))
            .unwrap();
        assert!(rec.0 > 132.9 && rec.0 < 134.0, "recovered at {}", rec.0);
        if let Verdict::Clear(Recovered(f)) = &rec.1 {
            assert!(f.worst_s > 14.0);
            assert!(
                (f.baseline_s + 1.27).abs() < 0.01,
                "baseline {}",
                f.baseline_s
            );
        }
    }

    #[test]
    fn a_single_late_message_is_not_an_alert() {
        assert!(
            drive(
                |t| if (50.0..50.01).contains(&t) { 5.0 } else { 0.0 },
                100.0
            )
            .is_empty()
        );
    }
}
