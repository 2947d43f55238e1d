//! Checks across venues, fed from the stream table: each venue's health
//! for the outage watch (`venue_outage`, `shared_outage`, `local_stall`,
//! [`OutageWatch`](crate::detect::outage::OutageWatch)) and prices for
//! `price_divergence` against the other venues' consensus, and
//! `quote_depeg` of its stablecoin quotes
//! ([`DivergenceWatch`](crate::detect::divergence::DivergenceWatch)). The
//! state machines and their words live in `detect/`; this file gathers
//! their inputs and applies their steps to the incident book.
//!
//! They read the stream table and the engine clock only: no I/O, no wall
//! clock, no per-frame work beyond a store and a band check.

use super::Engine;
use super::streams::StreamId;
use crate::alert::Alert;
use crate::detect::divergence::DivergenceWatch;
use crate::detect::divergence::{self, Update};
use crate::detect::frozen::FrozenGroups;
use crate::detect::outage::{OutageStep, OutageWatch, VenueHealth, unreachable_wake};
use crate::model::{Event, Nanos, Payload, Venue};

/// The checks across venues, apart from any one venue's streams: the
/// peers `feed_frozen` compares, outage attribution, and each venue's
/// price against the others' consensus. This is the state that sees
/// every venue; each venue's streams and their own checks live in the
/// stream table.
#[derive(Default)]
pub(super) struct MarketChecks {
    /// Peer groups of `feed_frozen`.
    pub(super) frozen: FrozenGroups,
    /// The outage incidents open now (venue, shared, local).
    pub(super) outages: OutageWatch,
    /// `price_divergence`: every venue's price against its peers.
    pub(super) divergence: DivergenceWatch,
}

impl Engine {
    /// How each venue's streams stand: with data, and convicted silent.
    pub(super) fn venue_health(&self) -> Vec<VenueHealth> {
        let mut health: Vec<VenueHealth> = Vec::new();
        for s in &self.streams {
            if s.checks.silence.last().is_none() {
                continue;
            }
            let i = match health.iter().position(|h| h.venue == s.venue) {
                Some(i) => i,
                None => {
                    health.push(VenueHealth {
                        venue: s.venue,
                        active: 0,
                        stale: 0,
                        since: None,
                    });
                    health.len() - 1
                }
            };
            let Some(h) = health.get_mut(i) else {
                continue;
            };
            h.active += 1;
            if s.checks.silence.alerting_since.is_some()
                && let Some(t) = s.checks.silence.last()
            {
                // Onset: the last data of the first stream to go quiet.
                h.stale += 1;
                h.since = Some(h.since.map_or(t, |x| x.min(t)));
            }
        }
        health
    }

    /// The outages (`local_stall`, `shared_outage`, `venue_outage`) as
    /// the streams stale together change: the watch's steps, applied to
    /// the incident book in its order; and a tick asked for when an outage
    /// will have lasted long enough to turn critical.
    pub(super) fn tick_outage(&mut self, now: Nanos, out: &mut Vec<Alert>) {
        let health = self.venue_health();
        let reach = self.reach();
        let steps =
            self.market
                .outages
                .tick(&self.cfg.outage, &health, &reach, &self.incidents, now);
        if let Some(t) = unreachable_wake(&self.cfg.outage, &reach, now) {
            self.schedule(t);
        }
        for step in steps {
            match step {
                OutageStep::Report(key, verdict) => {
                    verdict.report(&mut self.incidents, &key, now, out)
                }
                OutageStep::Group(kind, key, venues) => {
                    self.incidents.group(now, kind, &key, venues, out)
                }
                OutageStep::Ungroup(kind, key, grace) => {
                    self.incidents.ungroup(now, kind, &key, grace)
                }
            }
        }
        // An outage still a warning turns critical when it has lasted
        // `outage.critical_after_s`: tick then, whether data comes or not.
        if let Some(t) = self.market.outages.next_escalation(&self.cfg.outage) {
            self.schedule(t);
        }
        // After the watch: a venue that never connected is told once the
        // failures around it have been held, so every venue failing at once
        // is the one local_stall just decided, its connections muted under it.
        self.report_held_connects(now, out);
    }

    /// `price_divergence`: a best bid/offer (its mid) or trade of stream
    /// `si` is this venue's latest price for the pair's consensus. Per frame
    /// this is a store and a band check; the pair is assessed only when the
    /// price leaves its band.
    pub(super) fn check_divergence(
        &mut self,
        si: StreamId,
        venue: Venue,
        ev: &Event,
        now: Nanos,
        out: &mut Vec<Alert>,
    ) {
        let (update, price) = match &ev.payload {
            Payload::Quote(q) => match divergence::mid(q.bid.price, q.ask.price) {
                Some(m) => (Update::Mid, m),
                None => return,
            },
            Payload::Trade(t) => (Update::Trade, t.price),
            _ => return,
        };
        let cfg = &self.cfg.consensus;
        if self
            .market
            .divergence
            .on_price(cfg, si.index(), venue, &ev.symbol, update, price, now)
        {
            self.report_divergence(now, out);
        }
    }

    /// `price_divergence` on the clock: pairs with a flagged venue are
    /// re-assessed every `consensus.eval_ms` (re-admission, escalation,
    /// peers or the venue going stale).
    pub(super) fn tick_divergence(&mut self, now: Nanos, out: &mut Vec<Alert>) {
        if self.market.divergence.run_due(&self.cfg.consensus, now) {
            self.report_divergence(now, out);
        } else if let Some(t) = self.market.divergence.next_due() {
            // A tick another check asked for ran first: each tick starts
            // with nothing scheduled, so ask again for ours.
            self.schedule(t);
        }
    }

    /// Turns the watch's findings into incidents and asks for the next
    /// re-assessment.
    pub(super) fn report_divergence(&mut self, now: Nanos, out: &mut Vec<Alert>) {
        for f in self.market.divergence.findings() {
            f.verdict().report(&mut self.incidents, &f.key(), now, out);
        }
        // `quote_depeg`: a stablecoin of a pair's family off its peg.
        for (key, v) in self.market.divergence.depegs() {
            v.clone().report(&mut self.incidents, key, now, out);
        }
        if let Some(t) = self.market.divergence.next_due() {
            self.schedule(t);
        }
    }
}
