//! Checks across venues that still live in the engine: outage hold,
//! release and grouping (`venue_outage`, `shared_outage`, `local_stall`)
//! and `price_divergence` against the other venues' consensus. (A later
//! step moves their state machines into `src/detect/`.)
//!
//! They read the stream table and the engine clock only: no I/O, no wall
//! clock, no per-frame work beyond a store and a band check.

use super::Engine;
use super::streams::StreamId;
use crate::alert::{Alert, Evidence, IncidentKey, Kind, Severity};
use crate::detect::divergence::{self, Update};
use crate::detect::outage::{self, Burst, VenueHealth};
use crate::model::{Event, Nanos, Payload, SECOND, Venue, format_rfc3339_ms};
use crate::state::gaps::secs;

/// A venue held out (its `venue_outage` fires).
#[derive(Debug)]
pub(super) struct HeldOutage {
    pub(super) venue: Venue,
    /// Its last data before it went quiet.
    pub(super) since: Nanos,
    /// Since when it has been below the outage share.
    pub(super) below_since: Option<Nanos>,
}

/// The outage incidents open now.
#[derive(Debug, Default)]
pub(super) struct Outages {
    /// Venues held out.
    pub(super) venues: Vec<HeldOutage>,
    /// The `shared_outage` firing, and its members when last grouped.
    pub(super) shared: Option<IncidentKey>,
    pub(super) shared_members: Vec<Venue>,
    /// A `local_stall` is firing.
    pub(super) local: bool,
}

impl Outages {
    pub(super) fn any(&self) -> bool {
        !self.venues.is_empty() || self.shared.is_some() || self.local
    }
}

pub(super) fn venue_list(v: &[Venue]) -> String {
    v.iter().map(|v| v.id()).collect::<Vec<_>>().join(", ")
}

/// The detail sentence and evidence shared by `shared_outage` and
/// `local_stall`.
pub(super) fn burst_text(b: &Burst, health: &[VenueHealth], now: Nanos) -> (String, Evidence) {
    let stale: usize = health
        .iter()
        .filter(|h| b.members.contains(&h.venue))
        .map(|h| h.stale)
        .sum();
    let detail = format!(
        "{stale} streams silent, the first for {:.1} s.",
        secs(now - b.since)
    );
    let ev = Evidence::new()
        .with(
            "venues",
            b.members.iter().map(|v| v.id()).collect::<Vec<_>>(),
        )
        .with("tag", format!("{}:{}", b.tag.dimension, b.tag.value))
        .num("share_of_group", b.share_of_group, 3)
        .num("share_of_failures", b.share_of_failures, 3)
        .with("group_size", b.group_size)
        .with("stale_streams", stale)
        .with("since", format_rfc3339_ms(b.since));
    (detail, ev)
}

impl Engine {
    /// How each venue's streams stand: with data, and convicted silent.
    pub(super) fn venue_health(&self) -> Vec<VenueHealth> {
        let mut health: Vec<VenueHealth> = Vec::new();
        for s in &self.streams {
            if s.silence.last().is_none() {
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
            if s.silence.alerting_since.is_some()
                && let Some(t) = s.silence.last()
            {
                // Onset: the last data of the first stream to go quiet.
                h.stale += 1;
                h.since = Some(h.since.map_or(t, |x| x.min(t)));
            }
        }
        health
    }

    /// `local_stall`, `shared_outage` and `venue_outage`, opened and closed
    /// as the streams stale together change; each mutes what it explains.
    /// Group incidents open before the venues they cover speak, so those
    /// are muted from their first line.
    pub(super) fn tick_outage(&mut self, now: Nanos, out: &mut Vec<Alert>) {
        let health = self.venue_health();
        let release = (self.cfg.outage.release_s * SECOND as f64) as Nanos;
        let ended = self.hold_and_release_venues(&health, now, release);
        let held: Vec<(Venue, Nanos)> = self
            .outages
            .venues
            .iter()
            .map(|o| (o.venue, o.since))
            .collect();
        // Venues back first: what they muted is over with them, and a group
        // that ends below must not announce them.
        self.end_venue_outages(ended, &health, now, release, out);
        let burst = outage::burst(&self.cfg.outage, &health, &held);
        let local = burst.as_ref().filter(|b| b.local);
        self.report_local_stall(local, &health, now, release, out);
        let shared = burst.as_ref().filter(|b| !b.local);
        self.report_shared_outage(shared, &health, now, release, out);
        self.report_venue_outages(held, &health, now, out);
    }

    /// Which venues are out: in when most streams are stale; out again
    /// when none is, or after `release_s` below the share (one stream
    /// still dead on a healthy venue is then that stream's problem).
    /// Updates the venues held out; returns those released now.
    fn hold_and_release_venues(
        &mut self,
        health: &[VenueHealth],
        now: Nanos,
        release: Nanos,
    ) -> Vec<Venue> {
        let cfg = &self.cfg.outage;
        let mut ended: Vec<Venue> = Vec::new();
        for h in health {
            let held = self.outages.venues.iter().position(|o| o.venue == h.venue);
            match held {
                None if h.is_out(cfg) => self.outages.venues.push(HeldOutage {
                    venue: h.venue,
                    since: h.since.unwrap_or(now),
                    below_since: None,
                }),
                None => {}
                Some(i) => {
                    let Some(o) = self.outages.venues.get_mut(i) else {
                        continue;
                    };
                    if h.is_out(cfg) {
                        o.below_since = None;
                    } else {
                        let below = *o.below_since.get_or_insert(now);
                        // A venue a group speaks for ends with its
                        // recovery: it was never announced on its own.
                        let key = IncidentKey {
                            venue: h.venue,
                            symbol: None,
                            stream: None,
                        };
                        if h.stale == 0
                            || now - below >= release
                            || self.incidents.is_muted(Kind::VenueOutage, &key)
                        {
                            ended.push(h.venue);
                        }
                    }
                }
            }
        }
        // A venue that lost every stream's data is not in `health` at all.
        for o in &self.outages.venues {
            if !health.iter().any(|h| h.venue == o.venue) {
                ended.push(o.venue);
            }
        }
        self.outages.venues.retain(|o| !ended.contains(&o.venue));
        ended
    }

    /// Resolves the `venue_outage` of each venue back (`ended`).
    fn end_venue_outages(
        &mut self,
        ended: Vec<Venue>,
        health: &[VenueHealth],
        now: Nanos,
        release: Nanos,
        out: &mut Vec<Alert>,
    ) {
        for v in ended {
            let key = IncidentKey {
                venue: v,
                symbol: None,
                stream: None,
            };
            self.incidents
                .ungroup(now, Kind::VenueOutage, &key, release);
            let (stale, active) = health
                .iter()
                .find(|h| h.venue == v)
                .map_or((0, 0), |h| (h.stale, h.active));
            let summary =
                format!("{v} is streaming again: {stale} of its {active} streams still stale.");
            let ev = Evidence::new()
                .with("stale_streams", stale)
                .with("active_streams", active);
            self.incidents
                .clear(now, Kind::VenueOutage, &key, summary, ev, out);
        }
    }

    /// `local_stall` for a burst across independent exchanges (`burst`),
    /// or its end when there is none.
    fn report_local_stall(
        &mut self,
        burst: Option<&Burst>,
        health: &[VenueHealth],
        now: Nanos,
        release: Nanos,
        out: &mut Vec<Alert>,
    ) {
        let local_key = IncidentKey {
            venue: Venue::Other("feedwatch"),
            symbol: None,
            stream: Some("all_feeds".into()),
        };
        match burst {
            Some(b) => {
                let (detail, ev) = burst_text(b, health, now);
                let summary = format!(
                    "Every watched venue ({}) went quiet at once across independent exchanges: suspect feedwatch's own side (network, host, process) before the venues. {detail}",
                    venue_list(&b.members)
                );
                self.incidents.fire(
                    now,
                    Kind::LocalStall,
                    &local_key,
                    Severity::Warning,
                    false,
                    summary,
                    ev,
                    out,
                );
                if !self.outages.local {
                    self.incidents
                        .group(now, Kind::LocalStall, &local_key, None, out);
                    self.outages.local = true;
                }
            }
            None if self.outages.local => {
                self.outages.local = false;
                self.incidents
                    .ungroup(now, Kind::LocalStall, &local_key, release);
                let summary = "Feeds are streaming again after every venue went quiet at once.";
                self.incidents.clear(
                    now,
                    Kind::LocalStall,
                    &local_key,
                    summary.into(),
                    Evidence::new(),
                    out,
                );
            }
            None => {}
        }
    }

    /// `shared_outage` for a burst a shared tag explains (`burst`), or the
    /// end of the one firing when there is none.
    fn report_shared_outage(
        &mut self,
        burst: Option<&Burst>,
        health: &[VenueHealth],
        now: Nanos,
        release: Nanos,
        out: &mut Vec<Alert>,
    ) {
        match burst {
            Some(b) => {
                let key = self.outages.shared.clone().unwrap_or_else(|| IncidentKey {
                    venue: b
                        .members
                        .first()
                        .copied()
                        .unwrap_or(Venue::Other("feedwatch")),
                    symbol: None,
                    stream: None,
                });
                let (detail, ev) = burst_text(b, health, now);
                let summary = format!(
                    "{} venues went silent together ({}): a shared outage, best explained by {} {} ({} of {} watched venues there are out); use venues outside it. {detail}",
                    b.members.len(),
                    venue_list(&b.members),
                    b.tag.dimension,
                    b.tag.value,
                    (b.share_of_group * b.group_size as f64).round(),
                    b.group_size
                );
                self.incidents.fire(
                    now,
                    Kind::SharedOutage,
                    &key,
                    Severity::Critical,
                    false,
                    summary,
                    ev,
                    out,
                );
                if self.outages.shared_members != b.members {
                    self.incidents.group(
                        now,
                        Kind::SharedOutage,
                        &key,
                        Some(b.members.clone()),
                        out,
                    );
                    self.outages.shared_members = b.members.clone();
                }
                self.outages.shared = Some(key);
            }
            None => {
                if let Some(key) = self.outages.shared.take() {
                    self.outages.shared_members.clear();
                    self.incidents
                        .ungroup(now, Kind::SharedOutage, &key, release);
                    let summary = format!(
                        "The shared outage that began on {} is over: fewer than two venues are out together.",
                        key.venue
                    );
                    self.incidents.clear(
                        now,
                        Kind::SharedOutage,
                        &key,
                        summary,
                        Evidence::new(),
                        out,
                    );
                }
            }
        }
    }

    /// `venue_outage` for each venue held out, grouped when it opens.
    fn report_venue_outages(
        &mut self,
        held: Vec<(Venue, Nanos)>,
        health: &[VenueHealth],
        now: Nanos,
        out: &mut Vec<Alert>,
    ) {
        for (v, since) in held {
            let Some(h) = health.iter().find(|h| h.venue == v) else {
                continue;
            };
            let key = IncidentKey {
                venue: v,
                symbol: None,
                stream: None,
            };
            let summary = format!(
                "{v}: {} of its {} streams have sent nothing for {:.1} s: the venue is out, not one stream; use other venues' prices.",
                h.stale,
                h.active,
                secs(now - since)
            );
            let ev = Evidence::new()
                .with("stale_streams", h.stale)
                .with("active_streams", h.active)
                .num("stale_share", h.stale as f64 / h.active.max(1) as f64, 3)
                .with("since", format_rfc3339_ms(since));
            let was = self.incidents.is_firing(Kind::VenueOutage, &key);
            self.incidents.fire(
                now,
                Kind::VenueOutage,
                &key,
                Severity::Critical,
                false,
                summary,
                ev,
                out,
            );
            if !was {
                self.incidents
                    .group(now, Kind::VenueOutage, &key, Some(vec![v]), out);
            }
        }
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
        if self.divergence.run_due(&self.cfg.consensus, now) {
            self.report_divergence(now, out);
        } else if let Some(t) = self.divergence.next_due() {
            // A tick another check asked for ran first: each tick starts
            // with nothing scheduled, so ask again for ours.
            self.schedule(t);
        }
    }

    /// Turns the watch's findings into incidents and asks for the next
    /// re-assessment.
    pub(super) fn report_divergence(&mut self, now: Nanos, out: &mut Vec<Alert>) {
        for f in self.divergence.findings() {
            f.verdict().report(&mut self.incidents, &f.key(), now, out);
        }
        if let Some(t) = self.divergence.next_due() {
            self.schedule(t);
        }
    }
}
