//! Connection-wide silence on the clock: each stream's phi and its
//! connection's joint phi decide which streams are silent
//! ([`ConnSilence`]), outages are grouped before any stream speaks, then
//! `feed_silent` fires per stream ([`SilenceTracker::declare`]).
//!
//! Judged on the engine clock only: no I/O, no wall clock.
//!
//! [`SilenceTracker::declare`]: crate::detect::silence::SilenceTracker::declare

use super::Engine;
use super::streams::StreamId;
use crate::alert::Alert;
use crate::detect::silence::ConnSilence;
use crate::model::{MILLI, Nanos};

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
                .map(|&si| self.streams.get(si).checks.silence.phi(&cfg, now))
                .collect();
            let newest = members
                .iter()
                .filter_map(|&si| self.streams.get(si).checks.silence.last())
                .max();
            let verdict = ConnSilence::judge(&cfg, now, &phis, newest);
            for (&si, &phi) in members.iter().zip(&phis) {
                let s = self.streams.get_mut(si);
                let Some(last) = s.checks.silence.last() else {
                    continue;
                };
                if verdict.convicts(&cfg, phi) {
                    s.checks.silence.alerting_since.get_or_insert(now);
                    found.push((si, last, phi, verdict.joint));
                } else if let Some(w) = s.checks.silence.watch_from(&cfg) {
                    // In its tail but not yet convicted: keep watching.
                    self.schedule(w.max(now + tick));
                }
            }
        }
        if !found.is_empty() || self.market.outages.any() || self.connects_failing() {
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
        let s = self.streams.get_mut(si);
        let cfg = &self.cfg.silence;
        let outcome = s.checks.silence.declare(cfg, now, last, phi, joint);
        if let Some(at) = outcome.report(&mut self.incidents, &s.key, now, out) {
            self.schedule(at);
        }
    }
}
