//! The outage state machine: which venues are held out, which burst is
//! open (`shared_outage` or `local_stall`), and in what order their
//! incidents open, group what they explain, release it and close.
//!
//! [`OutageWatch::tick`] judges the venues' health and returns the steps
//! for the incident book, in order; it reads the book (which incidents are
//! firing or muted, and whether a venue's connection is lost) but never
//! writes it.
//!
//! Severity is earned: a venue or shared outage opens as a warning and
//! turns critical once it has lasted `outage.critical_after_s` since the
//! venue's last data ([`OutageWatch::next_escalation`] says when the engine
//! must tick for it), or as soon as a `connection_lost` of its venue (of a
//! member venue, for a shared outage) is firing. Once critical it stays so
//! until it ends.

use super::words::{Back, BurstFacts, Escalation, Out, OutageVerdict};
use super::{OutageConfig, Reach, VenueHealth, burst, unreachable_burst};
use crate::alert::{IncidentKey, Incidents, Kind};
use crate::detect::verdict::Verdict;
use crate::model::{Nanos, SECOND, Venue};

/// One step for the incident book, in the order the watch decided them.
#[derive(Clone, Debug, PartialEq)]
pub enum OutageStep {
    /// Report a verdict under a key.
    Report(IncidentKey, OutageVerdict),
    /// Mute what the incident explains (its venues, or all when `None`).
    Group(Kind, IncidentKey, Option<Vec<Venue>>),
    /// Release what it muted after this grace (ns).
    Ungroup(Kind, IncidentKey, Nanos),
}

/// A venue held out (its `venue_outage` fires).
#[derive(Debug)]
struct HeldOutage {
    venue: Venue,
    /// Its last data before it went quiet.
    since: Nanos,
    /// Since when it has been below the outage share.
    below_since: Option<Nanos>,
    /// Why it is critical, once it is.
    escalated: Option<Escalation>,
}

/// The outage incidents open now.
#[derive(Debug, Default)]
pub struct OutageWatch {
    /// Venues held out.
    venues: Vec<HeldOutage>,
    /// The `shared_outage` firing, and its members when last grouped.
    shared: Option<IncidentKey>,
    shared_members: Vec<Venue>,
    /// When the `shared_outage`'s earliest member went quiet, and why it
    /// is critical, once it is.
    shared_since: Nanos,
    shared_escalated: Option<Escalation>,
    /// A `local_stall` is firing.
    local: bool,
    /// ... and some venue it covers could not be reached when last judged.
    local_unreachable: bool,
}

fn venue_key(venue: Venue) -> IncidentKey {
    IncidentKey {
        venue,
        symbol: None,
        stream: None,
    }
}

/// `outage.critical_after_s` in ns.
fn critical_after(cfg: &OutageConfig) -> Nanos {
    (cfg.critical_after_s * SECOND as f64) as Nanos
}

impl OutageWatch {
    /// Whether any outage incident is open.
    pub fn any(&self) -> bool {
        !self.venues.is_empty() || self.shared.is_some() || self.local
    }

    /// When the next outage held now turns critical by lasting
    /// `outage.critical_after_s`, if one is still a warning: the engine
    /// ticks then, so the escalation needs no new data. Always after the
    /// last [`OutageWatch::tick`]'s time.
    pub fn next_escalation(&self, cfg: &OutageConfig) -> Option<Nanos> {
        let after = critical_after(cfg);
        let venues = self
            .venues
            .iter()
            .filter(|o| o.escalated.is_none() && o.below_since.is_none())
            .map(|o| o.since.saturating_add(after));
        let shared = self
            .shared
            .as_ref()
            .filter(|_| self.shared_escalated.is_none())
            .map(|_| self.shared_since.saturating_add(after));
        venues.chain(shared).min()
    }

    /// `local_stall`, `shared_outage` and `venue_outage`, opened and closed
    /// as the streams stale together change (and, for `local_stall`, the
    /// venues that cannot be reached, `reach`); each mutes what it
    /// explains. Group incidents open before the venues they cover speak,
    /// so those are muted from their first line.
    pub fn tick(
        &mut self,
        cfg: &OutageConfig,
        health: &[VenueHealth],
        reach: &Reach,
        incidents: &Incidents,
        now: Nanos,
    ) -> Vec<OutageStep> {
        let mut steps = Vec::new();
        let release = (cfg.release_s * SECOND as f64) as Nanos;
        let ended = self.hold_and_release(cfg, health, incidents, now, release);
        self.escalate(critical_after(cfg), incidents, now);
        let held: Vec<(Venue, Nanos)> = self.venues.iter().map(|o| (o.venue, o.since)).collect();
        // Venues back first: what they muted is over with them, and a group
        // that ends below must not announce them.
        for v in ended {
            let key = venue_key(v);
            let (stale, active) = health
                .iter()
                .find(|h| h.venue == v)
                .map_or((0, 0), |h| (h.stale, h.active));
            steps.push(OutageStep::Ungroup(Kind::VenueOutage, key.clone(), release));
            let back = Back::Venue { stale, active };
            steps.push(OutageStep::Report(key, Verdict::Clear(back)));
        }
        let burst = burst(cfg, health, &held);
        let local = burst.as_ref().filter(|b| b.local);
        let local = local.map(|b| BurstFacts::new(b, health, now)).or_else(|| {
            let (b, unreachable) = unreachable_burst(cfg, health, reach, &held, now)?;
            Some(BurstFacts::new(&b, health, now).with_unreachable(unreachable))
        });
        // Every venue out is our side: no shared outage among them.
        let shared = burst.as_ref().filter(|b| !b.local && local.is_none());
        self.local_stall(local, release, &mut steps);
        let shared = shared.map(|b| {
            let why = self.shared_escalation(b, critical_after(cfg), now);
            (b, BurstFacts::new(b, health, now).escalated(why))
        });
        self.shared_outage(shared, release, &mut steps);
        for (v, since) in held {
            let Some(h) = health.iter().find(|h| h.venue == v) else {
                continue;
            };
            let key = venue_key(v);
            let escalated = self
                .venues
                .iter()
                .find(|o| o.venue == v)
                .and_then(|o| o.escalated);
            let out = Out::Venue {
                stale: h.stale,
                active: h.active,
                since,
                for_ns: now - since,
                escalated,
            };
            let was = incidents.is_firing(Kind::VenueOutage, &key);
            steps.push(OutageStep::Report(key.clone(), Verdict::Fire(out)));
            if !was {
                steps.push(OutageStep::Group(Kind::VenueOutage, key, Some(vec![v])));
            }
        }
        steps
    }

    /// Which venues are out: in when most streams are stale; out again
    /// when none is, or after `release_s` below the share (one stream
    /// still dead on a healthy venue is then that stream's problem).
    /// Updates the venues held out; returns those released now.
    fn hold_and_release(
        &mut self,
        cfg: &OutageConfig,
        health: &[VenueHealth],
        incidents: &Incidents,
        now: Nanos,
        release: Nanos,
    ) -> Vec<Venue> {
        let mut ended: Vec<Venue> = Vec::new();
        for h in health {
            let held = self.venues.iter().position(|o| o.venue == h.venue);
            match held {
                None if h.is_out(cfg) => self.venues.push(HeldOutage {
                    venue: h.venue,
                    since: h.since.unwrap_or(now),
                    below_since: None,
                    escalated: None,
                }),
                None => {}
                Some(i) => {
                    let Some(o) = self.venues.get_mut(i) else {
                        continue;
                    };
                    if h.is_out(cfg) {
                        o.below_since = None;
                    } else {
                        let below = *o.below_since.get_or_insert(now);
                        // A venue a group speaks for ends with its
                        // recovery: it was never announced on its own.
                        if h.stale == 0
                            || now - below >= release
                            || incidents.is_muted(Kind::VenueOutage, &venue_key(h.venue))
                        {
                            ended.push(h.venue);
                        }
                    }
                }
            }
        }
        // A venue that lost every stream's data is not in `health` at all.
        for o in &self.venues {
            if !health.iter().any(|h| h.venue == o.venue) {
                ended.push(o.venue);
            }
        }
        self.venues.retain(|o| !ended.contains(&o.venue));
        ended
    }

    /// Venue outages still a warning turn critical: at once when a
    /// connection of the venue is lost, or once they have lasted
    /// `critical_after` (ns) since the venue's last data. A venue back
    /// below the outage share is on its way out and is not escalated.
    fn escalate(&mut self, critical_after: Nanos, incidents: &Incidents, now: Nanos) {
        for o in &mut self.venues {
            if o.escalated.is_some() || o.below_since.is_some() {
                continue;
            }
            o.escalated = if incidents.is_firing_on(Kind::ConnectionLost, o.venue) {
                Some(Escalation::ConnectionLost)
            } else if now - o.since >= critical_after {
                Some(Escalation::Held)
            } else {
                None
            };
        }
    }

    /// Why the shared outage of `burst` is critical: a member's connection
    /// is lost, or it has lasted `critical_after` (ns) since its earliest
    /// member went quiet. Kept until the shared outage ends.
    fn shared_escalation(
        &mut self,
        burst: &super::Burst,
        critical_after: Nanos,
        now: Nanos,
    ) -> Option<Escalation> {
        self.shared_since = burst.since;
        if self.shared_escalated.is_none() {
            let lost = self.venues.iter().any(|o| {
                burst.members.contains(&o.venue) && o.escalated == Some(Escalation::ConnectionLost)
            });
            self.shared_escalated = if lost {
                Some(Escalation::ConnectionLost)
            } else if now - burst.since >= critical_after {
                Some(Escalation::Held)
            } else {
                None
            };
        }
        self.shared_escalated
    }

    /// `local_stall` for a burst across independent exchanges, or its end
    /// when there is none.
    fn local_stall(
        &mut self,
        burst: Option<BurstFacts>,
        release: Nanos,
        steps: &mut Vec<OutageStep>,
    ) {
        let key = IncidentKey {
            venue: Venue::Other("feedwatch"),
            symbol: None,
            stream: Some("all_feeds".into()),
        };
        match burst {
            Some(f) => {
                self.local_unreachable = f.has_unreachable();
                steps.push(OutageStep::Report(
                    key.clone(),
                    Verdict::Fire(Out::Local(f)),
                ));
                if !self.local {
                    steps.push(OutageStep::Group(Kind::LocalStall, key, None));
                    self.local = true;
                }
            }
            None if self.local => {
                self.local = false;
                let back = if std::mem::take(&mut self.local_unreachable) {
                    Back::LocalReached
                } else {
                    Back::Local
                };
                steps.push(OutageStep::Ungroup(Kind::LocalStall, key.clone(), release));
                steps.push(OutageStep::Report(key, Verdict::Clear(back)));
            }
            None => {}
        }
    }

    /// `shared_outage` for a burst a shared tag explains, or the end of
    /// the one firing when there is none.
    fn shared_outage(
        &mut self,
        burst: Option<(&super::Burst, BurstFacts)>,
        release: Nanos,
        steps: &mut Vec<OutageStep>,
    ) {
        match burst {
            Some((b, facts)) => {
                let key = self.shared.clone().unwrap_or_else(|| {
                    venue_key(
                        b.members
                            .first()
                            .copied()
                            .unwrap_or(Venue::Other("feedwatch")),
                    )
                });
                steps.push(OutageStep::Report(
                    key.clone(),
                    Verdict::Fire(Out::Shared(facts)),
                ));
                if self.shared_members != b.members {
                    let members = Some(b.members.clone());
                    steps.push(OutageStep::Group(Kind::SharedOutage, key.clone(), members));
                    self.shared_members = b.members.clone();
                }
                self.shared = Some(key);
            }
            None => {
                if let Some(key) = self.shared.take() {
                    self.shared_members.clear();
                    self.shared_escalated = None;
                    steps.push(OutageStep::Ungroup(
                        Kind::SharedOutage,
                        key.clone(),
                        release,
                    ));
                    steps.push(OutageStep::Report(key, Verdict::Clear(Back::Shared)));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::{Alert, Evidence, Severity, State};
    use crate::detect::connection::connection_key;
    use crate::detect::verdict::{Finding, Words};

    const T0: Nanos = 1_000 * SECOND;

    fn out(venue: Venue, active: usize, stale: usize) -> VenueHealth {
        VenueHealth {
            venue,
            active,
            stale,
            since: (stale > 0).then_some(T0),
        }
    }

    /// Ticks the watch at `T0 + at_ms` and applies its steps to the book
    /// as the engine does; returns the severity and evidence of each
    /// outage finding, in order, and the alerts.
    fn tick(
        w: &mut OutageWatch,
        cfg: &OutageConfig,
        health: &[VenueHealth],
        inc: &mut Incidents,
        at_ms: i64,
    ) -> (Vec<(Kind, Severity, Evidence)>, Vec<Alert>) {
        let now = T0 + at_ms * SECOND / 1000;
        let mut found = Vec::new();
        let mut alerts = Vec::new();
        for step in w.tick(cfg, health, &Reach::default(), inc, now) {
            match step {
                OutageStep::Report(key, verdict) => {
                    if let Verdict::Fire(f) = &verdict {
                        found.push((f.kind(), f.severity(), f.evidence()));
                    }
                    verdict.report(inc, &key, now, &mut alerts);
                }
                OutageStep::Group(kind, key, venues) => {
                    inc.group(now, kind, &key, venues, &mut alerts)
                }
                OutageStep::Ungroup(kind, key, grace) => inc.ungroup(now, kind, &key, grace),
            }
        }
        (found, alerts)
    }

    fn escalated(ev: &Evidence) -> Option<&str> {
        ev.get("escalated").and_then(|v| v.as_str())
    }

    #[test]
    fn a_young_venue_outage_is_a_warning_and_turns_critical_after_critical_after_s() {
        let cfg = OutageConfig::default();
        let health = [out(Venue::BinanceSpot, 3, 3), out(Venue::Kraken, 3, 0)];
        let (mut w, mut inc) = (OutageWatch::default(), Incidents::new());
        // Convicted 1.5 s after the last data: opened, but a warning.
        let (found, alerts) = tick(&mut w, &cfg, &health, &mut inc, 1_500);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, Kind::VenueOutage);
        assert_eq!(found[0].1, Severity::Warning);
        assert_eq!(escalated(&found[0].2), None);
        assert_eq!(
            (alerts[0].state, alerts[0].severity),
            (State::Open, Severity::Warning)
        );
        // The engine is asked to tick when it will have lasted 10 s.
        assert_eq!(w.next_escalation(&cfg), Some(T0 + 10 * SECOND));
        let (found, alerts) = tick(&mut w, &cfg, &health, &mut inc, 9_900);
        assert_eq!(found[0].1, Severity::Warning);
        assert!(alerts.is_empty(), "nothing new to say: {alerts:?}");
        // At 10 s it is critical: one update says so.
        let (found, alerts) = tick(&mut w, &cfg, &health, &mut inc, 10_000);
        assert_eq!(found[0].1, Severity::Critical);
        assert_eq!(escalated(&found[0].2), Some("held"));
        assert_eq!(alerts.len(), 1);
        assert_eq!(
            (alerts[0].state, alerts[0].severity),
            (State::Update, Severity::Critical)
        );
        assert!(
            alerts[0].summary.contains("for 10.0 s"),
            "{}",
            alerts[0].summary
        );
        assert_eq!(w.next_escalation(&cfg), None);
        // It stays critical while it holds, and ends as before.
        let (found, _) = tick(&mut w, &cfg, &health, &mut inc, 30_000);
        assert_eq!(found[0].1, Severity::Critical);
        let back = [out(Venue::BinanceSpot, 3, 0), out(Venue::Kraken, 3, 0)];
        let (found, alerts) = tick(&mut w, &cfg, &back, &mut inc, 31_000);
        assert!(found.is_empty());
        assert_eq!(alerts[0].state, State::Resolved);
        assert!(!w.any());
    }

    #[test]
    fn a_lost_connection_turns_a_venue_outage_critical_at_once_and_for_good() {
        let cfg = OutageConfig::default();
        let health = [out(Venue::BinanceSpot, 3, 3), out(Venue::Kraken, 3, 0)];
        let (mut w, mut inc) = (OutageWatch::default(), Incidents::new());
        let (found, _) = tick(&mut w, &cfg, &health, &mut inc, 1_200);
        assert_eq!(found[0].1, Severity::Warning);
        // Another venue's lost connection says nothing about this one.
        let mut sink = Vec::new();
        let kraken = connection_key(Venue::Kraken, "k-1");
        let lost = |inc: &mut Incidents, key, at_ms: i64, sink: &mut Vec<Alert>| {
            let now = T0 + at_ms * SECOND / 1000;
            let (s, ev) = ("lost".to_string(), Evidence::new());
            inc.fire(
                now,
                Kind::ConnectionLost,
                key,
                Severity::Warning,
                true,
                s,
                ev,
                sink,
            );
        };
        lost(&mut inc, &kraken, 1_300, &mut sink);
        let (found, _) = tick(&mut w, &cfg, &health, &mut inc, 1_400);
        assert_eq!(found[0].1, Severity::Warning);
        // Its own connection closing unasked confirms it: critical now.
        let spot = connection_key(Venue::BinanceSpot, "s-1");
        lost(&mut inc, &spot, 1_500, &mut sink);
        let (found, alerts) = tick(&mut w, &cfg, &health, &mut inc, 1_600);
        assert_eq!(found[0].1, Severity::Critical);
        assert_eq!(escalated(&found[0].2), Some("connection_lost"));
        assert_eq!(alerts[0].severity, Severity::Critical);
        assert!(
            alerts[0].summary.contains("its connection was lost"),
            "{}",
            alerts[0].summary
        );
        assert_eq!(w.next_escalation(&cfg), None);
        // A later session delivering ends the loss, not the escalation.
        let back = Verdict::<crate::detect::connection::Lost, _>::Clear(
            crate::detect::connection::Delivering {
                connection: "s-1#2".into(),
            },
        );
        back.report(&mut inc, &spot, T0 + 2 * SECOND, &mut sink);
        let (found, alerts) = tick(&mut w, &cfg, &health, &mut inc, 2_500);
        assert_eq!(found[0].1, Severity::Critical);
        assert!(alerts.is_empty(), "{alerts:?}");
    }

    #[test]
    fn a_shared_outage_earns_critical_as_a_venue_outage_does_and_a_local_stall_never() {
        let cfg = OutageConfig::default();
        let health = [
            out(Venue::BinanceSpot, 3, 3),
            out(Venue::BinanceUsdm, 3, 3),
            out(Venue::Kraken, 3, 0),
        ];
        let (mut w, mut inc) = (OutageWatch::default(), Incidents::new());
        let (found, _) = tick(&mut w, &cfg, &health, &mut inc, 1_500);
        let kinds: Vec<Kind> = found.iter().map(|f| f.0).collect();
        assert_eq!(
            kinds,
            [Kind::SharedOutage, Kind::VenueOutage, Kind::VenueOutage]
        );
        assert!(found.iter().all(|f| f.1 == Severity::Warning), "{found:?}");
        assert_eq!(w.next_escalation(&cfg), Some(T0 + 10 * SECOND));
        let (found, alerts) = tick(&mut w, &cfg, &health, &mut inc, 10_000);
        assert!(found.iter().all(|f| f.1 == Severity::Critical), "{found:?}");
        assert_eq!(escalated(&found[0].2), Some("held"));
        // The shared outage speaks; the venue outages it groups are muted.
        let spoken: Vec<Kind> = alerts.iter().map(|a| a.kind).collect();
        assert_eq!(spoken, [Kind::SharedOutage]);
        assert_eq!(alerts[0].severity, Severity::Critical);
        // Every venue out across exchanges is our side: a warning however
        // long it lasts.
        let all = [
            out(Venue::BinanceSpot, 3, 3),
            out(Venue::Kraken, 3, 3),
            out(Venue::Okx, 3, 3),
        ];
        let (mut w, mut inc) = (OutageWatch::default(), Incidents::new());
        let (found, _) = tick(&mut w, &cfg, &all, &mut inc, 60_000);
        assert_eq!(found[0].0, Kind::LocalStall);
        assert_eq!(found[0].1, Severity::Warning);
        assert_eq!(escalated(&found[0].2), None);
    }

    #[test]
    fn critical_after_zero_pages_from_the_start_and_a_fading_outage_is_not_escalated() {
        let cfg = OutageConfig {
            critical_after_s: 0.0,
            ..OutageConfig::default()
        };
        let health = [out(Venue::BinanceSpot, 3, 3), out(Venue::Kraken, 3, 0)];
        let (mut w, mut inc) = (OutageWatch::default(), Incidents::new());
        let (found, _) = tick(&mut w, &cfg, &health, &mut inc, 1_000);
        assert_eq!(found[0].1, Severity::Critical);
        // Below the share (1 of 3 still stale), the outage is on its way
        // out: passing 10 s then does not page, and no tick is asked for.
        let cfg = OutageConfig::default();
        let (mut w, mut inc) = (OutageWatch::default(), Incidents::new());
        tick(&mut w, &cfg, &health, &mut inc, 8_000);
        let fading = [out(Venue::BinanceSpot, 3, 1), out(Venue::Kraken, 3, 0)];
        let (found, _) = tick(&mut w, &cfg, &fading, &mut inc, 9_000);
        assert_eq!(w.next_escalation(&cfg), None);
        assert_eq!(found[0].1, Severity::Warning);
        let (found, _) = tick(&mut w, &cfg, &fading, &mut inc, 11_000);
        assert_eq!(found[0].1, Severity::Warning);
    }
}
