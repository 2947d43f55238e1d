//! Connection-wide silence on the clock: each stream's phi and its
//! connection's joint phi decide which streams are silent, outages are
//! grouped before any stream speaks, then `feed_silent` fires per stream.
//! (A later step moves this state machine into `src/detect/`.)
//!
//! Judged on the engine clock only: no I/O, no wall clock.

use super::Engine;
use super::streams::StreamId;
use crate::alert::{Alert, Evidence, Kind, Severity};
use crate::model::{MILLI, Nanos, SECOND, format_rfc3339_ms};
use crate::state::gaps::secs;

impl Engine {
    /// Silence: per-stream phi, and per-connection joint phi; then what the
    /// streams stale together say (outages), before any stream speaks for
    /// itself, so an outage's streams are grouped from their first alert.
    pub(super) fn tick_silence(&mut self, now: Nanos, out: &mut Vec<Alert>) {
        let cfg = self.cfg.silence.clone();
        let tick = self.cfg.engine.tick_ms * MILLI;
        let mut found: Vec<(StreamId, Nanos, f64, f64)> = Vec::new();
        for ci in self.conns.ids() {
            let conn = self.conns.get(ci);
            // Streams that moved to another connection are skipped here.
            let members: Vec<StreamId> = conn
                .streams
                .iter()
                .copied()
                .filter(|&si| self.streams.get(si).conn == ci)
                .collect();
            let phis: Vec<f64> = members
                .iter()
                .map(|&si| self.streams.get(si).silence.phi(&cfg, now))
                .collect();
            let joint: f64 = phis.iter().sum();
            let quiet_streams = phis.iter().filter(|p| **p >= cfg.join_phi).count();
            // The joint verdict is about a quiet *connection*: when any of
            // its streams delivered within min_silence_s, the connection is
            // alive and a stream in a lull beside a dead one is just that.
            let newest = members
                .iter()
                .filter_map(|&si| self.streams.get(si).silence.last())
                .max();
            let conn_quiet =
                newest.is_some_and(|t| now - t >= (cfg.min_silence_s * SECOND as f64) as Nanos);
            for (&si, &phi) in members.iter().zip(&phis) {
                let convicted = phi >= cfg.phi
                    || (conn_quiet
                        && joint >= cfg.phi
                        && quiet_streams >= 2
                        && phi >= cfg.join_phi);
                let s = self.streams.get_mut(si);
                let Some(last) = s.silence.last() else {
                    continue;
                };
                if convicted {
                    s.silence.alerting_since.get_or_insert(now);
                    found.push((si, last, phi, joint));
                } else if let Some(w) = self.streams.get(si).silence.watch_from(&cfg) {
                    // In its tail but not yet convicted: keep watching.
                    self.schedule(w.max(now + tick));
                }
            }
        }
        if !found.is_empty() || self.outages.any() {
            self.tick_outage(now, out);
        }
        for (si, last, phi, joint) in found {
            self.declare_silent(si, now, last, phi, joint, out);
        }
    }

    pub(super) fn declare_silent(
        &mut self,
        si: StreamId,
        now: Nanos,
        last: Nanos,
        phi: f64,
        joint: f64,
        out: &mut Vec<Alert>,
    ) {
        let cfg = &self.cfg.silence;
        let s = self.streams.get_mut(si);
        let elapsed = secs(now - last);
        let critical = elapsed >= cfg.critical_after_s;
        if s.silence.alerting_since.is_none() {
            s.silence.alerting_since = Some(now);
        }
        let threshold = s.silence.threshold_s(cfg);
        let typical = s.silence.typical_gap_s();
        let p95 = s.silence.p95_gap_s();
        let recent_max = s.silence.recent_max_gap_s();
        let rhythm = match p95 {
            Some(t) => format!("95% of its gaps are under {t:.2} s"),
            None => "no rhythm learned yet".to_string(),
        };
        let summary = format!(
            "{} has sent no data for {:.1} s ({rhythm}): treat its prices as stale.",
            s.subject(),
            elapsed
        );
        let ev = Evidence::new()
            .num("silent_for_s", elapsed, 3)
            .num("phi", phi, 2)
            .num("connection_phi", joint, 2)
            .num("threshold_s", threshold, 3)
            .with(
                "median_gap_s",
                typical.map_or(serde_json::Value::Null, |t| crate::alert::round_value(t, 4)),
            )
            .with(
                "p95_gap_s",
                p95.map_or(serde_json::Value::Null, |t| crate::alert::round_value(t, 4)),
            )
            .num("recent_max_gap_s", recent_max, 3)
            .with("last_data_at", format_rfc3339_ms(last));
        let sev = if critical {
            Severity::Critical
        } else {
            Severity::Warning
        };
        self.incidents
            .fire(now, Kind::FeedSilent, &s.key, sev, false, summary, ev, out);
        if !critical {
            let at = last + (cfg.critical_after_s * SECOND as f64) as Nanos;
            self.schedule(at);
        }
    }
}
