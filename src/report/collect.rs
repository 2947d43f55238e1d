//! What the report gathers while a replay runs: once per second of engine
//! time, each venue symbol's price and each venue's worst message age and
//! lag (from [`Engine::status`]); and every alert, folded into incidents
//! (open to resolved) for the timeline.
//!
//! It only reads the engine (an [`Observer`]), so the alerts are those of
//! a plain replay. Its memory is bounded however long the replay: series
//! thin themselves ([`Series`]), and alerts and incidents beyond their caps
//! are counted, not kept.

use super::series::Series;
use crate::alert::{Alert, Kind, Phase, Severity, State};
use crate::engine::Engine;
use crate::engine::Observer;
use crate::model::{Nanos, SECOND};
use std::collections::BTreeMap;

/// Alerts kept for the table; the rest are counted.
pub const MAX_ALERTS: usize = 50_000;
/// Incidents kept for the timeline; the rest are counted.
pub const MAX_INCIDENTS: usize = 10_000;
/// How often the engine is sampled (engine time).
pub const SAMPLE_EVERY: Nanos = SECOND;

/// Per venue symbol prices and per venue age and lag, sampled once per
/// second of engine time.
#[derive(Debug, Default)]
pub struct Sampler {
    next_due: Option<Nanos>,
    /// Engine clock of the first and last sample.
    pub first_ns: Option<Nanos>,
    /// Engine clock of the last sample.
    pub last_ns: Option<Nanos>,
    /// Samples taken.
    pub samples: u64,
    /// Latest price by (venue, symbol).
    pub prices: BTreeMap<(String, String), Series>,
    /// Worst (highest) message age of each venue's watched streams, s.
    pub age: BTreeMap<String, Series>,
    /// Worst lag over each venue's streams (seconds late beyond its own
    /// baseline).
    pub lag: BTreeMap<String, Series>,
    /// Venues seen.
    pub venues: Vec<String>,
}

impl Sampler {
    /// A sampler with nothing yet.
    pub fn new() -> Sampler {
        Sampler::default()
    }

    /// One sample of the engine now.
    fn sample(&mut self, engine: &Engine) {
        let st = engine.status();
        let t_ms = st.at_ns.div_euclid(1_000_000);
        self.first_ns.get_or_insert(st.at_ns);
        self.last_ns = Some(st.at_ns);
        self.samples += 1;
        let width = SAMPLE_EVERY / 1_000_000;
        for v in &st.venues {
            if !self.venues.iter().any(|x| x == v.venue) {
                self.venues.push(v.venue.to_string());
                self.venues.sort();
            }
        }
        for p in &st.prices {
            // Lookup first: the key is only allocated for a new pair.
            match self
                .prices
                .iter_mut()
                .find(|((v, s), _)| v == p.venue && *s == p.symbol)
            {
                Some((_, series)) => series.push(t_ms, p.price),
                None => {
                    let mut s = Series::new(width);
                    s.push(t_ms, p.price);
                    self.prices
                        .insert((p.venue.to_string(), p.symbol.clone()), s);
                }
            }
        }
        let mut worst: BTreeMap<&str, (Option<f64>, Option<f64>)> = BTreeMap::new();
        for s in &st.streams {
            let w = worst.entry(s.venue).or_default();
            if let Some(a) = s.age_s {
                w.0 = Some(w.0.map_or(a, |x: f64| x.max(a)));
            }
            if let Some(l) = s.lag_s {
                w.1 = Some(w.1.map_or(l, |x: f64| x.max(l)));
            }
        }
        for (venue, (age, lag)) in worst {
            if let Some(a) = age {
                push_to(&mut self.age, venue, t_ms, a, width);
            }
            if let Some(l) = lag {
                push_to(&mut self.lag, venue, t_ms, l, width);
            }
        }
    }
}

fn push_to(map: &mut BTreeMap<String, Series>, venue: &str, t_ms: i64, v: f64, width: i64) {
    match map.get_mut(venue) {
        Some(s) => s.push(t_ms, v),
        None => {
            let mut s = Series::new(width);
            s.push(t_ms, v);
            map.insert(venue.to_string(), s);
        }
    }
}

impl Observer for Sampler {
    fn observe(&mut self, engine: &Engine) {
        let now = engine.now();
        // The cheap path, taken for all but one step a second.
        if self.next_due.is_some_and(|d| now < d) {
            return;
        }
        self.sample(engine);
        self.next_due = Some(now - now.rem_euclid(SAMPLE_EVERY) + SAMPLE_EVERY);
    }

    fn finish(&mut self, engine: &Engine) {
        if self.last_ns != Some(engine.now()) {
            self.sample(engine);
        }
    }
}

/// One incident as the timeline draws it.
#[derive(Clone, Debug, PartialEq)]
pub struct Incident {
    /// Its id.
    pub id: String,
    /// Its kind.
    pub kind: Kind,
    /// Venue id.
    pub venue: &'static str,
    /// Symbol, if about one.
    pub symbol: Option<String>,
    /// Stream, if about one.
    pub stream: Option<String>,
    /// Its first alert.
    pub opened_ns: Nanos,
    /// When its condition last cleared (monitoring), if it has not
    /// relapsed since.
    pub cleared_ns: Option<Nanos>,
    /// Its resolve, if it came.
    pub resolved_ns: Option<Nanos>,
    /// Its worst severity.
    pub severity: Severity,
    /// Alerts it had.
    pub alerts: usize,
    /// Its latest summary.
    pub summary: String,
    /// The outage that explains it, if any.
    pub group: Option<String>,
    /// The venues a shared outage names (empty for other kinds).
    pub venues: Vec<String>,
}

/// Every alert of a replay (up to a cap) and the incidents they make.
#[derive(Debug, Default)]
pub struct AlertBook {
    /// Alerts in order, up to [`MAX_ALERTS`].
    pub alerts: Vec<Alert>,
    /// Alerts seen in all.
    pub total: u64,
    /// Incidents by first alert, up to [`MAX_INCIDENTS`].
    pub incidents: Vec<Incident>,
    /// Index of each incident id in `incidents`.
    index: BTreeMap<String, usize>,
    /// Incidents not kept (over the cap).
    pub incidents_dropped: u64,
    /// Alerts by kind: (opens, all).
    pub by_kind: BTreeMap<&'static str, (u64, u64)>,
}

impl AlertBook {
    /// An empty book.
    pub fn new() -> AlertBook {
        AlertBook::default()
    }

    /// Takes one alert.
    pub fn add(&mut self, a: &Alert) {
        self.total += 1;
        let k = self.by_kind.entry(a.kind.name()).or_default();
        k.1 += 1;
        if a.state == State::Open {
            k.0 += 1;
        }
        let known = self.index.get(&a.incident).copied();
        let room = self.incidents.len() < MAX_INCIDENTS;
        match known.and_then(|i| self.incidents.get_mut(i)) {
            Some(inc) => {
                inc.alerts += 1;
                inc.severity = inc.severity.max(a.severity);
                inc.summary.clone_from(&a.summary);
                if a.group.is_some() {
                    inc.group.clone_from(&a.group);
                }
                match (a.state, a.phase) {
                    (State::Resolved, _) | (_, Phase::Resolved) => {
                        inc.resolved_ns = Some(a.at);
                        inc.cleared_ns.get_or_insert(a.at);
                    }
                    (_, Phase::Monitoring) => {
                        inc.cleared_ns.get_or_insert(a.at);
                    }
                    // A relapse: the condition holds again.
                    (_, Phase::Open | Phase::Identified) => inc.cleared_ns = None,
                }
            }
            None if room => {
                let resolved = a.state == State::Resolved || a.phase == Phase::Resolved;
                let cleared = resolved || a.phase == Phase::Monitoring;
                self.index.insert(a.incident.clone(), self.incidents.len());
                self.incidents.push(Incident {
                    id: a.incident.clone(),
                    kind: a.kind,
                    venue: a.venue.id(),
                    symbol: a.symbol.clone(),
                    stream: a.stream.clone(),
                    opened_ns: a.at,
                    cleared_ns: cleared.then_some(a.at),
                    resolved_ns: resolved.then_some(a.at),
                    severity: a.severity,
                    alerts: 1,
                    summary: a.summary.clone(),
                    group: a.group.clone(),
                    venues: evidence_venues(a),
                });
            }
            None => self.incidents_dropped += 1,
        }
        if self.alerts.len() < MAX_ALERTS {
            self.alerts.push(a.clone());
        }
    }
}

/// The `venues` a shared outage lists in its evidence.
fn evidence_venues(a: &Alert) -> Vec<String> {
    a.evidence
        .get("venues")
        .and_then(|v| v.as_array())
        .map(|vs| {
            vs.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::{Cause, Evidence};
    use crate::model::Venue;

    /// A hand-made alert (not from a recording) for the book's arithmetic.
    fn alert(at_s: i64, state: State, phase: Phase, sev: Severity) -> Alert {
        Alert {
            at: at_s * SECOND,
            state,
            kind: Kind::VenueOutage,
            severity: sev,
            venue: Venue::BinanceSpot,
            symbol: None,
            stream: None,
            incident: "venue_outage/binance-spot/1".into(),
            phase,
            cause: Cause::Unknown,
            group: None,
            summary: format!("step at {at_s}"),
            evidence: Evidence::new(),
        }
    }

    #[test]
    fn an_incident_spans_open_to_resolved_and_relapses_reset_the_clear() {
        let mut b = AlertBook::new();
        b.add(&alert(100, State::Open, Phase::Open, Severity::Warning));
        b.add(&alert(
            130,
            State::Update,
            Phase::Identified,
            Severity::Critical,
        ));
        b.add(&alert(
            160,
            State::Update,
            Phase::Monitoring,
            Severity::Critical,
        ));
        assert_eq!(b.incidents[0].cleared_ns, Some(160 * SECOND));
        b.add(&alert(
            170,
            State::Update,
            Phase::Identified,
            Severity::Critical,
        ));
        assert_eq!(b.incidents[0].cleared_ns, None, "relapse");
        b.add(&alert(
            180,
            State::Update,
            Phase::Monitoring,
            Severity::Warning,
        ));
        b.add(&alert(
            240,
            State::Resolved,
            Phase::Resolved,
            Severity::Info,
        ));
        assert_eq!(b.incidents.len(), 1);
        let inc = &b.incidents[0];
        assert_eq!(inc.opened_ns, 100 * SECOND);
        assert_eq!(inc.cleared_ns, Some(180 * SECOND));
        assert_eq!(inc.resolved_ns, Some(240 * SECOND));
        assert_eq!(inc.severity, Severity::Critical, "worst kept");
        assert_eq!(inc.alerts, 6);
        assert_eq!(inc.summary, "step at 240");
        assert_eq!(b.by_kind.get("venue_outage"), Some(&(1, 6)));
        assert_eq!(b.alerts.len(), 6);
    }
}
