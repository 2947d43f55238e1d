//! The outage state machine: which venues are held out, which burst is
//! open (`shared_outage` or `local_stall`), and in what order their
//! incidents open, group what they explain, release it and close.
//!
//! [`OutageWatch::tick`] judges the venues' health and returns the steps
//! for the incident book, in order; it reads the book (which incidents are
//! firing or muted) but never writes it.

use super::words::{Back, BurstFacts, Out, OutageVerdict};
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
}

/// The outage incidents open now.
#[derive(Debug, Default)]
pub struct OutageWatch {
    /// Venues held out.
    venues: Vec<HeldOutage>,
    /// The `shared_outage` firing, and its members when last grouped.
    shared: Option<IncidentKey>,
    shared_members: Vec<Venue>,
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

impl OutageWatch {
    /// Whether any outage incident is open.
    pub fn any(&self) -> bool {
        !self.venues.is_empty() || self.shared.is_some() || self.local
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
        self.shared_outage(
            shared.map(|b| (b, BurstFacts::new(b, health, now))),
            release,
            &mut steps,
        );
        for (v, since) in held {
            let Some(h) = health.iter().find(|h| h.venue == v) else {
                continue;
            };
            let key = venue_key(v);
            let out = Out::Venue {
                stale: h.stale,
                active: h.active,
                since,
                for_ns: now - since,
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
