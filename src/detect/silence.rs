//! `feed_silent`: a stream that stops delivering data for longer than its
//! own rhythm allows.
//!
//! Each stream learns its inter-arrival gaps ([`GapHistory`]); phi is the
//! -log10 probability of a silence at least this long. A stream is silent
//! when its own phi crosses the threshold, or when the streams of its
//! connection are quiet together and their summed phi crosses it (a whole
//! connection going quiet is convicted by its most regular stream, and its
//! bursty streams are named with it instead of seconds later). Heartbeats
//! never reach this detector: they prove the connection, not the data. The
//! first gap after a silence, and gaps across reconnects, stay out of the
//! history so an outage does not teach the stream that outages are normal.
//!
//! [`ConnSilence`] judges one connection's streams together; a convicted
//! stream's [`SilenceTracker::declare`] gives the finding, worded here.

use super::verdict::{Finding, Outcome, Verdict, Words};
use crate::alert::{Evidence, IncidentKey, Kind, Severity, round_value};
use crate::model::{Nanos, SECOND, format_rfc3339_ms};
use crate::state::gaps::{GapHistory, TailFit, secs};
use serde::{Deserialize, Serialize};

/// Thresholds for `feed_silent`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SilenceConfig {
    /// phi at which a stream is silent (8 = a one-in-10^8 pause).
    pub phi: f64,
    /// A stream in the tail of its own rhythm (phi at least this) is named
    /// silent together with a connection that is silent as a whole.
    pub join_phi: f64,
    /// Share of gaps treated as the tail when fitting (0.05 = above p95).
    pub tail_share: f64,
    /// Floor on the tail scale in seconds, so a metronome stream is not
    /// convicted by jitter (Akka uses a 100 ms minimum deviation).
    pub min_tail_scale_s: f64,
    /// Never alert on silences shorter than this (seconds).
    pub min_silence_s: f64,
    /// Always alert on silences longer than this, whatever the rhythm, and
    /// use it before a stream has enough history (seconds).
    pub max_silence_s: f64,
    /// Gaps recorded before the learned threshold is used.
    pub min_samples: u64,
    /// Half-life of the gap history (seconds): older rhythm fades out.
    pub half_life_s: f64,
    /// A silence this long (seconds) is critical.
    pub critical_after_s: f64,
}

impl Default for SilenceConfig {
    fn default() -> Self {
        SilenceConfig {
            phi: 8.0,
            join_phi: 1.0,
            tail_share: 0.05,
            min_tail_scale_s: 0.1,
            min_silence_s: 1.0,
            max_silence_s: 60.0,
            min_samples: 50,
            half_life_s: 1800.0,
            critical_after_s: 30.0,
        }
    }
}

/// Silence tracking for one stream.
#[derive(Debug)]
pub struct SilenceTracker {
    gaps: GapHistory,
    last: Option<Nanos>,
    fit: Option<TailFit>,
    /// Gaps pushed since the fit was last computed.
    stale_fit: u32,
    /// When the current silence was declared, if it was.
    pub alerting_since: Option<Nanos>,
    /// Whether the next gap must be skipped (after a silence or reconnect).
    skip_next: bool,
    /// A silence shorter than this (seconds) is the venue's documented calm
    /// cadence, never silence.
    floor_s: f64,
}

/// Refit the tail every this many gaps (a fit is ~100 bins of work).
const REFIT_EVERY: u32 = 64;

impl SilenceTracker {
    /// A tracker with no history.
    pub fn new(cfg: &SilenceConfig) -> Self {
        SilenceTracker {
            gaps: GapHistory::new(cfg.half_life_s),
            last: None,
            fit: None,
            stale_fit: 0,
            alerting_since: None,
            skip_next: false,
            floor_s: 0.0,
        }
    }

    /// The venue's documented calm cadence for this stream (seconds): no
    /// silence is shorter.
    pub fn with_floor(mut self, floor_s: f64) -> Self {
        self.floor_s = if floor_s.is_finite() {
            floor_s.max(0.0)
        } else {
            0.0
        };
        self
    }

    fn min_silence_s(&self, cfg: &SilenceConfig) -> f64 {
        cfg.min_silence_s.max(self.floor_s).min(cfg.max_silence_s)
    }

    /// Time of the last data message.
    pub fn last(&self) -> Option<Nanos> {
        self.last
    }

    /// The stream's connection changed: the gap across it is not rhythm.
    pub fn on_reconnect(&mut self) {
        self.skip_next = true;
    }

    /// feedwatch itself was paused until `to`: the time until then is not
    /// this stream's silence, and the gap across it is not rhythm.
    pub fn on_pause(&mut self, to: Nanos) {
        if let Some(l) = self.last {
            self.last = Some(l.max(to));
            self.skip_next = true;
        }
    }

    /// The recording this stream came from has ended: what follows is not
    /// silence. The stream is not watched until data comes again, and the
    /// gap to that data is not rhythm.
    pub fn on_end(&mut self) {
        self.last = None;
        self.skip_next = true;
    }

    /// A data message arrived at `now`: a silence that was alerting clears.
    pub fn on_data(&mut self, cfg: &SilenceConfig, now: Nanos) -> SilenceVerdict {
        let was_alerting = self.alerting_since.take();
        if let Some(last) = self.last {
            let gap = now - last;
            if was_alerting.is_none() && !self.skip_next && gap >= 0 {
                let g = secs(gap).min(cfg.max_silence_s);
                self.gaps.push(now, g);
                self.stale_fit += 1;
                if self.fit.is_none() || self.stale_fit >= REFIT_EVERY {
                    self.refit(cfg);
                }
            }
        }
        self.skip_next = false;
        let silent_for = was_alerting.and(self.last.map(|l| now - l));
        self.last = Some(now.max(self.last.unwrap_or(now)));
        match silent_for {
            Some(silent_for) => Verdict::Clear(Streaming { silent_for }),
            None => Verdict::Quiet,
        }
    }

    /// Declares the stream silent at `now` (its last data at `last`, its
    /// own phi and its connection's joint phi): the finding, and when it
    /// turns critical if it is not yet.
    pub fn declare(
        &mut self,
        cfg: &SilenceConfig,
        now: Nanos,
        last: Nanos,
        phi: f64,
        joint: f64,
    ) -> Outcome<Silent, Streaming> {
        let elapsed = secs(now - last);
        let critical = elapsed >= cfg.critical_after_s;
        self.alerting_since.get_or_insert(now);
        let silent = Silent {
            elapsed_s: elapsed,
            phi,
            joint,
            threshold_s: self.threshold_s(cfg),
            typical_s: self.typical_gap_s(),
            p95_s: self.p95_gap_s(),
            recent_max_s: self.recent_max_gap_s(),
            last,
            critical,
        };
        Outcome {
            verdict: Verdict::Fire(silent),
            wake_at: (!critical).then(|| last + (cfg.critical_after_s * SECOND as f64) as Nanos),
        }
    }

    fn refit(&mut self, cfg: &SilenceConfig) {
        self.fit = if self.gaps.count() >= cfg.min_samples {
            self.gaps.fit(cfg.tail_share, cfg.min_tail_scale_s)
        } else {
            None
        };
        self.stale_fit = 0;
    }

    /// The silence (seconds) at which this stream alone is convicted.
    pub fn threshold_s(&self, cfg: &SilenceConfig) -> f64 {
        match &self.fit {
            Some(f) => f
                .time_for_phi(cfg.phi)
                .clamp(self.min_silence_s(cfg), cfg.max_silence_s),
            None => cfg.max_silence_s,
        }
    }

    /// phi of the current silence at `now` (0 when the stream is in rhythm
    /// or has no history yet; forced to the threshold past `max_silence_s`).
    pub fn phi(&self, cfg: &SilenceConfig, now: Nanos) -> f64 {
        let Some(last) = self.last else { return 0.0 };
        let elapsed = secs(now - last);
        if elapsed < self.min_silence_s(cfg) {
            return 0.0;
        }
        if elapsed >= cfg.max_silence_s {
            return cfg.phi.max(100.0);
        }
        match &self.fit {
            Some(f) => f.phi(elapsed).min(100.0),
            None => 0.0,
        }
    }

    /// The 95th percentile gap (seconds), for summaries.
    pub fn p95_gap_s(&self) -> Option<f64> {
        self.fit.map(|f| f.p95)
    }

    /// Median gap (seconds), for summaries.
    pub fn typical_gap_s(&self) -> Option<f64> {
        self.fit.map(|f| f.median)
    }

    /// Earliest time at which this stream could enter its tail (the engine
    /// ticks from then on until data arrives or the stream is declared).
    pub fn watch_from(&self, cfg: &SilenceConfig) -> Option<Nanos> {
        let last = self.last?;
        let start = match &self.fit {
            Some(f) => f.u.max(self.min_silence_s(cfg)).min(cfg.max_silence_s),
            None => cfg.max_silence_s,
        };
        Some(last + (start * SECOND as f64) as Nanos)
    }

    /// Largest recent gap (seconds), for evidence.
    pub fn recent_max_gap_s(&mut self) -> f64 {
        self.gaps.recent_max()
    }
}

/// Which of one connection's streams are silent: a stream is convicted by
/// its own phi, or, while the whole connection is quiet, by the joint phi
/// of its quiet streams.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConnSilence {
    /// The summed phi of the connection's streams.
    pub joint: f64,
    quiet_streams: usize,
    conn_quiet: bool,
}

impl ConnSilence {
    /// The joint judgement of one connection's streams, from their phis
    /// and the newest data any of them delivered.
    pub fn judge(cfg: &SilenceConfig, now: Nanos, phis: &[f64], newest: Option<Nanos>) -> Self {
        // The joint verdict is about a quiet *connection*: when any of
        // its streams delivered within min_silence_s, the connection is
        // alive and a stream in a lull beside a dead one is just that.
        ConnSilence {
            joint: phis.iter().sum(),
            quiet_streams: phis.iter().filter(|p| **p >= cfg.join_phi).count(),
            conn_quiet: newest
                .is_some_and(|t| now - t >= (cfg.min_silence_s * SECOND as f64) as Nanos),
        }
    }

    /// Whether the stream with phi `phi` is silent.
    pub fn convicts(&self, cfg: &SilenceConfig, phi: f64) -> bool {
        phi >= cfg.phi
            || (self.conn_quiet
                && self.joint >= cfg.phi
                && self.quiet_streams >= 2
                && phi >= cfg.join_phi)
    }
}

/// `feed_silent` fires, or clears when data flows again.
pub type SilenceVerdict = Verdict<Silent, Streaming>;

/// `feed_silent` fires: no data for longer than the stream's rhythm allows.
#[derive(Clone, Debug, PartialEq)]
pub struct Silent {
    /// Seconds since the last data.
    pub elapsed_s: f64,
    /// The stream's phi.
    pub phi: f64,
    /// Its connection's joint phi.
    pub joint: f64,
    /// The silence at which the stream alone is convicted (seconds).
    pub threshold_s: f64,
    /// Median gap (seconds), when learned.
    pub typical_s: Option<f64>,
    /// 95th percentile gap (seconds), when learned.
    pub p95_s: Option<f64>,
    /// Largest recent gap (seconds).
    pub recent_max_s: f64,
    /// The last data.
    pub last: Nanos,
    /// Silent past `silence.critical_after_s`.
    pub critical: bool,
}

/// `feed_silent` clears: data again after `silent_for`.
#[derive(Clone, Debug, PartialEq)]
pub struct Streaming {
    /// How long the stream was silent.
    pub silent_for: Nanos,
}

impl Words for Silent {
    fn kind(&self) -> Kind {
        Kind::FeedSilent
    }
    fn summary(&self, key: &IncidentKey) -> String {
        let rhythm = match self.p95_s {
            Some(t) => format!("95% of its gaps are under {t:.2} s"),
            None => "no rhythm learned yet".to_string(),
        };
        format!(
            "{} has sent no data for {:.1} s ({rhythm}): treat its prices as stale.",
            key.subject(),
            self.elapsed_s
        )
    }
    fn evidence(&self) -> Evidence {
        let gap = |g: Option<f64>| g.map_or(serde_json::Value::Null, |t| round_value(t, 4));
        Evidence::new()
            .num("silent_for_s", self.elapsed_s, 3)
            .num("phi", self.phi, 2)
            .num("connection_phi", self.joint, 2)
            .num("threshold_s", self.threshold_s, 3)
            .with("median_gap_s", gap(self.typical_s))
            .with("p95_gap_s", gap(self.p95_s))
            .num("recent_max_gap_s", self.recent_max_s, 3)
            .with("last_data_at", format_rfc3339_ms(self.last))
    }
}

impl Finding for Silent {
    fn severity(&self) -> Severity {
        if self.critical {
            Severity::Critical
        } else {
            Severity::Warning
        }
    }
}

impl Words for Streaming {
    fn kind(&self) -> Kind {
        Kind::FeedSilent
    }
    fn summary(&self, key: &IncidentKey) -> String {
        format!(
            "{} is streaming again after {:.1} s of silence.",
            key.subject(),
            secs(self.silent_for)
        )
    }
    fn evidence(&self) -> Evidence {
        Evidence::new().num("silent_for_s", secs(self.silent_for), 3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::MILLI;

    #[test]
    fn metronome_is_declared_within_seconds_and_resolves() {
        let cfg = SilenceConfig::default();
        let mut s = SilenceTracker::new(&cfg);
        let mut t = 0;
        for _ in 0..600 {
            t += 100 * MILLI;
            assert_eq!(s.on_data(&cfg, t), Verdict::Quiet);
        }
        let thr = s.threshold_s(&cfg);
        assert!(thr > 1.0 && thr < 5.0, "threshold {thr}");
        assert!(s.phi(&cfg, t + 500 * MILLI) < cfg.phi);
        assert!(s.phi(&cfg, t + 5 * SECOND) >= cfg.phi);
        s.alerting_since = Some(t + 4 * SECOND);
        // Data again after 40 s: resolved with the silence length, and the
        // 40 s gap does not enter the history.
        assert_eq!(
            s.on_data(&cfg, t + 40 * SECOND),
            Verdict::Clear(Streaming {
                silent_for: 40 * SECOND
            })
        );
        assert!((s.threshold_s(&cfg) - thr).abs() < 1e-9);
    }

    #[test]
    fn without_history_only_the_hard_cap_applies() {
        let cfg = SilenceConfig::default();
        let mut s = SilenceTracker::new(&cfg);
        s.on_data(&cfg, 0);
        s.on_data(&cfg, SECOND);
        assert_eq!(s.phi(&cfg, 30 * SECOND), 0.0);
        assert!(s.phi(&cfg, 61 * SECOND) >= cfg.phi);
        assert_eq!(s.threshold_s(&cfg), cfg.max_silence_s);
    }
}
