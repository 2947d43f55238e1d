//! The engine clock: entering a record's time, and the ticks on a fixed
//! grid of that clock that the time-based checks ask for (`schedule`,
//! `run_ticks`, `tick`).
//!
//! Time only ever comes in as an argument (a record's receive time or
//! `advance_to`): this module must never read the wall clock, sleep, spawn
//! or do I/O, and a tick must strictly advance time so a call's work stays
//! bounded.

use super::Engine;
use crate::alert::Alert;
use crate::model::{MILLI, Nanos, SECOND};

impl Engine {
    /// Starts the clock on the first record and runs due ticks; returns the
    /// time at which the record is processed (never before the engine clock).
    pub(super) fn enter(&mut self, recv: Nanos, out: &mut Vec<Alert>) -> Nanos {
        if !self.started {
            self.started = true;
            self.now = recv;
        }
        if recv < self.now {
            self.stats.time_regressions += 1;
            return self.now;
        }
        self.run_ticks(recv, out);
        self.now = recv;
        recv
    }

    /// Asks for a tick at or after `at` (snapped to the tick grid).
    pub(super) fn schedule(&mut self, at: Nanos) {
        let tick = self.cfg.engine.tick_ms * MILLI;
        let snapped = at
            .saturating_add(tick - 1)
            .div_euclid(tick)
            .saturating_mul(tick);
        let snapped = snapped.max(self.now + tick - self.now.rem_euclid(tick));
        if snapped < self.next_tick {
            self.next_tick = snapped;
        }
    }

    /// Runs every due tick up to and including `until`.
    pub(super) fn run_ticks(&mut self, until: Nanos, out: &mut Vec<Alert>) {
        // Bound the work one call can do: a tick that schedules nothing ends
        // the loop, and each tick strictly advances time.
        while self.next_tick <= until {
            let t = self.next_tick;
            self.next_tick = Nanos::MAX;
            self.now = self.now.max(t);
            self.tick(t, out);
            if self.next_tick <= t {
                self.next_tick = t + self.cfg.engine.tick_ms * MILLI;
            }
        }
    }

    /// One clock tick at `now`: silence, held crossed books, due candles.
    pub(super) fn tick(&mut self, now: Nanos, out: &mut Vec<Alert>) {
        let tick = self.cfg.engine.tick_ms * MILLI;
        self.tick_silence(now, out);
        // A silent stream is feed_silent's: a frozen report ends, and its
        // time without a change restarts when frames come back.
        for s in &mut self.streams {
            if s.checks.silence.alerting_since.is_none() {
                continue;
            }
            if let Some(f) = s.checks.frozen.as_mut() {
                f.on_silent().report(&mut self.incidents, &s.key, now, out);
            }
        }
        // Crossed books held without further updates.
        for si in self.streams.ids() {
            let cfg = &self.cfg.book;
            let s = self.streams.get_mut(si);
            if s.checks.crossed.deadline(cfg).is_none() {
                continue;
            }
            let outcome = s.checks.crossed.on_tick(cfg, now);
            let wake = outcome.report(&mut self.incidents, &s.key, now, out);
            if let Some(d) = wake {
                // A deadline already passed asks for the next tick.
                self.schedule(if d > now { d } else { now + tick });
            }
        }
        self.tick_divergence(now, out);
        // Trade candles whose interval ended with no later trade.
        let grace = self.cfg.engine.trade_candle_grace_s * SECOND;
        for t in &mut self.trade_candles {
            if let Some(candle) = t.builder.close_due(now, grace) {
                let verdicts = t.checker.on_candle(&candle);
                verdicts.report(&mut self.incidents, t.checker.key(), now, out);
            }
        }
        // Probation, identification and flap samples of open incidents.
        if let Some(t) = self.incidents.tick(now, out) {
            self.schedule(t.max(now + tick));
        }
    }
}
