//! The incident book: one entry per open incident, keyed by kind and subject.
//!
//! Detectors call [`Incidents::fire`] while their condition holds and
//! [`Incidents::clear`] when it has gone; this book emits `open` on the first
//! fire, `update` only when severity changes, the detector reports a new
//! distinct observation, or the incident changes phase, and `resolved` once
//! it has stayed clear for the probation (at once without one). A relapse
//! during probation continues the same incident (same id); an incident
//! that flaps stops announcing its phase changes until it settles; a group
//! incident (venue or shared outage, local stall) mutes the incidents it
//! explains. It must never emit two opens for one incident, a resolve
//! without an open, or anything about a muted incident.

use super::lifecycle::{FLAP_SAMPLES, flap_percent, inhibited_by};
use super::{Alert, Cause, Evidence, IncidentConfig, Kind, Phase, Severity, State, round_value};
use crate::model::{Nanos, SECOND, Symbol, Venue, format_rfc3339_ms};
use std::collections::BTreeMap;

/// What an incident is about: venue, optional symbol, optional stream.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IncidentKey {
    /// Venue.
    pub venue: Venue,
    /// Canonical symbol, `None` for venue-wide incidents.
    pub symbol: Option<Symbol>,
    /// Stream name, `None` for symbol- or venue-wide incidents.
    pub stream: Option<String>,
}

impl IncidentKey {
    /// What an alert is about, for its summary: `venue symbol stream`, as
    /// far as the key names them (`binance-spot BTC/USDT bbo`).
    pub fn subject(&self) -> String {
        let mut s = self.market();
        if let Some(stream) = &self.stream {
            s.push(' ');
            s.push_str(stream);
        }
        s
    }

    /// `venue symbol` (or the venue alone for a venue-wide key).
    pub fn market(&self) -> String {
        let mut s = self.venue.id().to_string();
        if let Some(symbol) = &self.symbol {
            s.push(' ');
            s.push_str(symbol);
        }
        s
    }

    /// A key for one stream of one symbol.
    pub fn stream(venue: Venue, symbol: &Symbol, stream: impl Into<String>) -> Self {
        IncidentKey {
            venue,
            symbol: Some(symbol.clone()),
            stream: Some(stream.into()),
        }
    }
}

/// One incident the book holds (firing, or recovered and on probation).
#[derive(Debug)]
struct Open {
    id: String,
    severity: Severity,
    updates: u32,
    cause: Cause,
    /// The incident that explains this one, if grouped.
    group: Option<String>,
    /// Inhibited by its group: nothing is emitted for it.
    muted: bool,
    /// Its group ended: if it still fires at this time, it is announced on
    /// its own (members recover a moment apart; the grace keeps the last
    /// ones to recover from being announced as new problems).
    release_at: Option<Nanos>,
    /// Its open has been emitted (an incident muted from the start has not).
    announced: bool,
    /// The condition holds now (false: in monitoring).
    firing: bool,
    opened: Nanos,
    /// Start of the clean stretch, while in monitoring.
    clear_at: Option<Nanos>,
    /// The latest summary and evidence (of the last fire or clear).
    summary: String,
    evidence: Evidence,
    /// Flap damping: bit 0 is the newest sample, set when the state changed.
    /// A change is a sample of its own, taken when it happens; a stretch of
    /// `flap_sample_s` without one adds an unchanged sample.
    flap_bits: u32,
    flap_samples: u32,
    next_sample: Nanos,
    flapping: bool,
    relapses: u32,
}

impl Open {
    fn phase(&self) -> Phase {
        if self.firing {
            self.cause.phase()
        } else {
            Phase::Monitoring
        }
    }

    /// Whether lines about it reach the desk, and it still has budget.
    fn speaks(&self) -> bool {
        !self.muted && self.announced && self.updates < MAX_UPDATES
    }

    /// Adds a flap sample (a change now, or an unchanged stretch), and says
    /// whether the incident started (`Some(true)`) or stopped
    /// (`Some(false)`) flapping; rewrites summary and evidence when it did.
    fn sample(&mut self, changed: bool, now: Nanos, cfg: &IncidentConfig) -> Option<bool> {
        let mask = (1u32 << FLAP_SAMPLES) - 1;
        self.flap_bits = (self.flap_bits << 1 | u32::from(changed)) & mask;
        self.flap_samples = (self.flap_samples + 1).min(FLAP_SAMPLES);
        self.next_sample = now + secs_to_ns(cfg.flap_sample_s).max(1);
        let pct = flap_percent(self.flap_bits, self.flap_samples);
        let start = !self.flapping && pct > cfg.flap_start_pct;
        let stop = self.flapping && pct < cfg.flap_stop_pct;
        if !start && !stop {
            return None;
        }
        self.flapping = start;
        let what = if start {
            "is flapping: further changes are held until it settles; do not trust it meanwhile"
        } else if self.firing {
            "has stopped flapping and is still failing"
        } else {
            "has stopped flapping and is healthy, in monitoring"
        };
        self.summary = format!(
            "{what} ({pct:.0}% weighted state changes over the last {} samples, {} relapses).",
            self.flap_samples, self.relapses
        );
        self.evidence = Evidence::new()
            .with("flapping", self.flapping)
            .num("state_change_pct", pct, 1)
            .with("relapses", self.relapses);
        Some(start)
    }
}

/// A group incident's hold over the incidents it explains.
#[derive(Debug)]
struct Inhibition {
    by: Kind,
    id: String,
    cause: Cause,
    /// The venues it covers; `None` covers every venue.
    venues: Option<Vec<Venue>>,
}

impl Inhibition {
    fn covers(&self, kind: Kind, key: &IncidentKey) -> bool {
        inhibited_by(self.by, kind) && self.venues.as_ref().is_none_or(|v| v.contains(&key.venue))
    }
}

/// Upper bound on updates emitted for one incident, so a detector that keeps
/// reporting new observations cannot flood the desk.
const MAX_UPDATES: u32 = 50;

/// All currently open incidents, and the group incidents' inhibitions.
#[derive(Debug)]
pub struct Incidents {
    cfg: IncidentConfig,
    open: BTreeMap<(Kind, IncidentKey), Open>,
    inhibitions: Vec<Inhibition>,
}

impl Default for Incidents {
    fn default() -> Self {
        Incidents::new()
    }
}

impl Incidents {
    /// A book that resolves at once and never damps or identifies late
    /// (one-shot scans of history).
    pub fn new() -> Self {
        Incidents::with_config(IncidentConfig::immediate())
    }

    /// A book with the lifecycle of `cfg` (probation, identification, flap
    /// damping): the live and replay engine's.
    pub fn with_config(cfg: IncidentConfig) -> Self {
        Incidents {
            cfg,
            open: BTreeMap::new(),
            inhibitions: Vec::new(),
        }
    }

    /// Whether an incident of `kind` about `key` is open (firing or in
    /// monitoring).
    pub fn is_open(&self, kind: Kind, key: &IncidentKey) -> bool {
        self.open.contains_key(&(kind, key.clone()))
    }

    /// Whether the condition of an open incident holds now (not monitoring).
    pub fn is_firing(&self, kind: Kind, key: &IncidentKey) -> bool {
        self.open
            .get(&(kind, key.clone()))
            .is_some_and(|o| o.firing)
    }

    /// Whether an incident of `kind` about any subject of `venue` holds now
    /// (e.g. any of its connections lost).
    pub fn is_firing_on(&self, kind: Kind, venue: Venue) -> bool {
        self.open
            .iter()
            .any(|((k, key), o)| *k == kind && key.venue == venue && o.firing)
    }

    /// Whether an open incident is muted by a group that explains it.
    pub fn is_muted(&self, kind: Kind, key: &IncidentKey) -> bool {
        self.open.get(&(kind, key.clone())).is_some_and(|o| o.muted)
    }

    /// The id of an open incident.
    pub fn id_of(&self, kind: Kind, key: &IncidentKey) -> Option<&str> {
        self.open.get(&(kind, key.clone())).map(|o| o.id.as_str())
    }

    /// Number of open incidents.
    pub fn open_count(&self) -> usize {
        self.open.len()
    }

    /// Every open incident: kind, subject, whether its condition holds now
    /// (false: in monitoring) and whether a group mutes it, in key order.
    pub fn open_list(&self) -> impl Iterator<Item = (Kind, &IncidentKey, bool, bool)> + '_ {
        self.open
            .iter()
            .map(|((kind, key), o)| (*kind, key, o.firing, o.muted))
    }

    /// The condition holds. Opens the incident if needed; otherwise emits an
    /// update when severity changed, when `news` says this is a new distinct
    /// observation (e.g. another bad candle in the same episode), or when it
    /// relapses out of monitoring. An incident a group inhibits is kept but
    /// not announced.
    #[allow(clippy::too_many_arguments)]
    pub fn fire(
        &mut self,
        now: Nanos,
        kind: Kind,
        key: &IncidentKey,
        severity: Severity,
        news: bool,
        summary: String,
        evidence: Evidence,
        out: &mut Vec<Alert>,
    ) {
        let flapping_held = self.cfg.probation_s > 0.0;
        if let Some(o) = self.open.get_mut(&(kind, key.clone())) {
            let relapse = !o.firing;
            if !relapse && o.severity == severity && !news {
                return;
            }
            // A relapse keeps the worst severity of the episode.
            o.severity = if relapse {
                o.severity.max(severity)
            } else {
                severity
            };
            o.summary = summary;
            o.evidence = evidence;
            if relapse {
                o.firing = true;
                o.clear_at = None;
                o.relapses += 1;
                let n = o.relapses;
                o.evidence.0.push(("relapses", n.into()));
                if flapping_held {
                    match o.sample(true, now, &self.cfg) {
                        Some(true) => o.summary = format!("{} {}", subject(kind, key), o.summary),
                        _ if o.flapping => return,
                        _ => {}
                    }
                }
            }
            if o.speaks() {
                o.updates += 1;
                out.push(make_alert(now, State::Update, kind, key, o));
            }
            return;
        }
        let inhibitor = self.inhibitions.iter().find(|i| i.covers(kind, key));
        let cause = inhibitor.map_or(kind.cause_at_open(), |i| i.cause);
        let o = Open {
            id: incident_id(kind, key, now),
            severity,
            updates: 0,
            cause,
            group: inhibitor.map(|i| i.id.clone()),
            muted: inhibitor.is_some(),
            release_at: None,
            announced: inhibitor.is_none(),
            firing: true,
            opened: now,
            clear_at: None,
            summary,
            evidence,
            flap_bits: 1,
            flap_samples: 1,
            next_sample: now + secs_to_ns(self.cfg.flap_sample_s).max(1),
            flapping: false,
            relapses: 0,
        };
        if o.announced {
            out.push(make_alert(now, State::Open, kind, key, &o));
        }
        self.open.insert((kind, key.clone()), o);
    }

    /// The condition has cleared. With a probation, the incident moves to
    /// monitoring (announced at once) and resolves after a clean stretch;
    /// without one, or when a group explained it, it ends now.
    pub fn clear(
        &mut self,
        now: Nanos,
        kind: Kind,
        key: &IncidentKey,
        summary: String,
        evidence: Evidence,
        out: &mut Vec<Alert>,
    ) {
        let k = (kind, key.clone());
        let probation = self.cfg.probation_s;
        let Some(o) = self.open.get_mut(&k) else {
            return;
        };
        if !o.firing {
            return;
        }
        o.summary = summary;
        o.evidence = evidence;
        if probation <= 0.0 || o.muted {
            if let Some(mut o) = self.open.remove(&k) {
                o.firing = false;
                if !o.muted && o.announced {
                    out.push(resolved(now, kind, key, &o));
                }
            }
            return;
        }
        o.firing = false;
        o.clear_at = Some(now);
        o.evidence
            .0
            .push(("probation_s", round_value(probation, 1)));
        match o.sample(true, now, &self.cfg) {
            Some(true) => {
                o.summary = format!("{} {}", subject(kind, key), o.summary);
                if o.speaks() {
                    o.updates += 1;
                    out.push(make_alert(now, State::Update, kind, key, o));
                }
                return;
            }
            _ if o.flapping => return,
            _ => {}
        }
        if o.speaks() {
            o.updates += 1;
            let mut a = make_alert(now, State::Update, kind, key, o);
            a.summary = format!(
                "{} Monitoring: resolves after {probation:.0} s without a relapse.",
                a.summary
            );
            out.push(a);
        }
    }

    /// Time passes: resolves incidents whose clean stretch is over,
    /// identifies staleness no group has explained, and samples state
    /// changes for flap damping. Returns when it next needs a tick.
    pub fn tick(&mut self, now: Nanos, out: &mut Vec<Alert>) -> Option<Nanos> {
        let probation = secs_to_ns(self.cfg.probation_s);
        let identify = secs_to_ns(self.cfg.identify_after_s);
        let sample = secs_to_ns(self.cfg.flap_sample_s).max(1);
        self.release_due(now, out);
        let mut done = Vec::new();
        for ((kind, key), o) in self.open.iter_mut() {
            if let Some(at) = o.clear_at
                && now - at >= probation
            {
                done.push((*kind, key.clone()));
                continue;
            }
            if o.firing && o.cause == Cause::Unknown && identify > 0 && now - o.opened >= identify {
                o.cause = Cause::VenueLocal;
                o.summary = format!(
                    "{}: identified as {} alone (no wider outage seen in {:.0} s).",
                    subject(*kind, key),
                    key.venue,
                    secs(identify)
                );
                if o.speaks() {
                    o.updates += 1;
                    out.push(make_alert(now, State::Update, *kind, key, o));
                }
            }
            if probation <= 0 {
                continue;
            }
            // Unchanged stretches, one sample each (bounded: a full history
            // of unchanged samples says all there is to say).
            let mut settled = None;
            for _ in 0..FLAP_SAMPLES {
                if o.next_sample > now {
                    break;
                }
                let at = o.next_sample;
                settled = settled.or(o.sample(false, at, &self.cfg));
            }
            if o.next_sample <= now {
                o.next_sample = now + sample;
            }
            if settled.is_some() {
                o.summary = format!("{} {}", subject(*kind, key), o.summary);
                if o.speaks() {
                    o.updates += 1;
                    out.push(make_alert(now, State::Update, *kind, key, o));
                }
            }
        }
        for k in done {
            if let Some(o) = self.open.remove(&k)
                && !o.muted
                && o.announced
            {
                {
                    let mut a = resolved(now, k.0, &k.1, &o);
                    a.summary = format!(
                        "{} Clean for {:.0} s since: resolved.",
                        a.summary,
                        secs(probation)
                    );
                    out.push(a);
                }
            }
        }
        self.next_due()
    }

    /// When [`Incidents::tick`] next has something to do.
    pub fn next_due(&self) -> Option<Nanos> {
        let probation = secs_to_ns(self.cfg.probation_s);
        let identify = secs_to_ns(self.cfg.identify_after_s);
        self.open
            .values()
            .filter_map(|o| {
                let resolve = o.clear_at.map(|t| t + probation);
                let ident = (o.firing && o.cause == Cause::Unknown && identify > 0)
                    .then_some(o.opened + identify);
                let flap = (probation > 0).then_some(o.next_sample);
                [resolve, ident, flap, o.release_at]
                    .into_iter()
                    .flatten()
                    .min()
            })
            .min()
    }

    /// A group incident (`kind`, `key`; already open) explains the
    /// incidents `inhibited_by` names on `venues` (all venues when `None`):
    /// those open are told once and then muted, new ones are kept quiet.
    pub fn group(
        &mut self,
        now: Nanos,
        kind: Kind,
        key: &IncidentKey,
        venues: Option<Vec<Venue>>,
        out: &mut Vec<Alert>,
    ) {
        let Some(g) = self.open.get(&(kind, key.clone())) else {
            return;
        };
        let (id, cause) = (g.id.clone(), g.cause);
        self.inhibitions.retain(|i| i.id != id);
        let rule = Inhibition {
            by: kind,
            id,
            cause,
            venues,
        };
        for ((k, ikey), o) in self.open.iter_mut() {
            if o.muted || !rule.covers(*k, ikey) {
                continue;
            }
            o.cause = cause;
            o.group = Some(rule.id.clone());
            o.summary = format!(
                "{}: part of {} ({}); further updates come from it.",
                subject(*k, ikey),
                rule.id,
                cause.words()
            );
            if o.speaks() {
                o.updates += 1;
                out.push(make_alert(now, State::Update, *k, ikey, o));
            }
            o.muted = true;
        }
        self.inhibitions.push(rule);
    }

    /// The group incident no longer holds: its inhibition ends, and the
    /// incidents it muted that still fire `grace` later (and that no other
    /// group covers) are announced on their own.
    pub fn ungroup(&mut self, now: Nanos, kind: Kind, key: &IncidentKey, grace: Nanos) {
        let Some(id) = self.id_of(kind, key).map(str::to_string) else {
            return;
        };
        self.inhibitions.retain(|i| i.id != id);
        for o in self.open.values_mut() {
            if o.muted && o.group.as_deref() == Some(&id) {
                o.release_at = Some(now + grace.max(0));
            }
        }
    }

    /// Announces the released incidents that still fire.
    fn release_due(&mut self, now: Nanos, out: &mut Vec<Alert>) {
        for ((k, ikey), o) in self.open.iter_mut() {
            if o.release_at.is_none_or(|t| t > now) {
                continue;
            }
            o.release_at = None;
            if let Some(i) = self.inhibitions.iter().find(|i| i.covers(*k, ikey)) {
                // Another group still explains it.
                o.group = Some(i.id.clone());
                o.cause = i.cause;
                continue;
            }
            if !o.firing {
                continue;
            }
            o.muted = false;
            o.group = None;
            o.cause = k.cause_at_open();
            let state = if o.announced {
                State::Update
            } else {
                State::Open
            };
            o.announced = true;
            if o.updates < MAX_UPDATES {
                o.updates += u32::from(state == State::Update);
                out.push(make_alert(now, state, *k, ikey, o));
            }
        }
    }
}

fn secs_to_ns(s: f64) -> Nanos {
    if s.is_finite() && s > 0.0 {
        (s * SECOND as f64) as Nanos
    } else {
        0
    }
}

fn secs(ns: Nanos) -> f64 {
    ns as f64 / SECOND as f64
}

/// "binance-spot BTC/USDT depth feed_silent": what an incident is about.
fn subject(kind: Kind, key: &IncidentKey) -> String {
    let mut s = key.venue.id().to_string();
    for part in [key.symbol.as_deref(), key.stream.as_deref()]
        .into_iter()
        .flatten()
    {
        s.push(' ');
        s.push_str(part);
    }
    s.push(' ');
    s.push_str(kind.name());
    s
}

/// A stable, readable id: kind, subject and the instant it opened.
fn incident_id(kind: Kind, key: &IncidentKey, now: Nanos) -> String {
    format!(
        "{}:{}:{}:{}:{}",
        kind.name(),
        key.venue.id(),
        key.symbol.as_deref().unwrap_or("-"),
        key.stream.as_deref().unwrap_or("-"),
        format_rfc3339_ms(now)
    )
}

fn resolved(now: Nanos, kind: Kind, key: &IncidentKey, o: &Open) -> Alert {
    let mut a = make_alert(now, State::Resolved, kind, key, o);
    a.phase = Phase::Resolved;
    a
}

fn make_alert(now: Nanos, state: State, kind: Kind, key: &IncidentKey, o: &Open) -> Alert {
    Alert {
        at: now,
        state,
        kind,
        severity: o.severity,
        venue: key.venue,
        symbol: key.symbol.as_deref().map(str::to_string),
        stream: key.stream.clone(),
        incident: o.id.clone(),
        summary: o.summary.clone(),
        evidence: o.evidence.clone(),
        phase: o.phase(),
        cause: o.cause,
        group: o.group.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::Phase;
    use std::sync::Arc;

    fn key() -> IncidentKey {
        IncidentKey::stream(Venue::BinanceSpot, &Arc::from("BTC/USDT"), "depth")
    }

    #[test]
    fn one_open_updates_on_change_one_resolve() {
        let mut inc = Incidents::new();
        let mut out = Vec::new();
        let k = key();
        for _ in 0..3 {
            inc.fire(
                1,
                Kind::FeedSilent,
                &k,
                Severity::Warning,
                false,
                "s".into(),
                Evidence::new(),
                &mut out,
            );
        }
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].state, State::Open);
        inc.fire(
            2,
            Kind::FeedSilent,
            &k,
            Severity::Critical,
            false,
            "s".into(),
            Evidence::new(),
            &mut out,
        );
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].state, State::Update);
        inc.clear(
            3,
            Kind::FeedSilent,
            &k,
            "ok".into(),
            Evidence::new(),
            &mut out,
        );
        inc.clear(
            4,
            Kind::FeedSilent,
            &k,
            "ok".into(),
            Evidence::new(),
            &mut out,
        );
        assert_eq!(out.len(), 3);
        assert_eq!(out[2].state, State::Resolved);
        assert_eq!(out[2].severity, Severity::Critical);
        assert!(out.iter().all(|a| a.incident == out[0].incident));
        assert_eq!(inc.open_count(), 0);
    }

    #[test]
    fn alert_json_has_contract_fields() {
        let mut inc = Incidents::new();
        let mut out = Vec::new();
        inc.fire(
            1_723_161_253_937_085_768,
            Kind::BookGap,
            &key(),
            Severity::Warning,
            false,
            "gap".into(),
            Evidence::new().with("expected", 5u64),
            &mut out,
        );
        let v: serde_json::Value = serde_json::from_str(&out[0].to_json()).unwrap();
        for f in [
            "at", "state", "kind", "severity", "venue", "symbol", "stream", "incident", "summary",
            "evidence",
        ] {
            assert!(v.get(f).is_some(), "missing {f}");
        }
        assert_eq!(v["at"], "2024-08-08T23:54:13.937Z");
        assert_eq!(v["kind"], "book_gap");
        assert_eq!(v["venue"], "binance-spot");
        assert_eq!(v["symbol"], "BTC/USDT");
        assert_eq!(v["evidence"]["expected"], 5);
    }

    #[test]
    fn a_group_mutes_what_it_explains_and_releases_what_still_fails() {
        let mut inc = Incidents::with_config(IncidentConfig::default());
        let mut out = Vec::new();
        let v = Venue::BinanceSpot;
        let depth = key();
        let trade = IncidentKey::stream(v, &Arc::from("BTC/USDT"), "trade");
        let venue = IncidentKey {
            venue: v,
            symbol: None,
            stream: None,
        };
        let fire = |inc: &mut Incidents, out: &mut Vec<Alert>, kind, k: &IncidentKey, t| {
            inc.fire(
                t,
                kind,
                k,
                Severity::Warning,
                false,
                "s".into(),
                Evidence::new(),
                out,
            )
        };
        // depth speaks first, then the venue outage groups it.
        fire(&mut inc, &mut out, Kind::FeedSilent, &depth, 1);
        fire(&mut inc, &mut out, Kind::VenueOutage, &venue, 2);
        inc.group(2, Kind::VenueOutage, &venue, Some(vec![v]), &mut out);
        let gid = inc.id_of(Kind::VenueOutage, &venue).unwrap().to_string();
        assert_eq!(out.len(), 3);
        assert_eq!(out[2].kind, Kind::FeedSilent);
        assert_eq!(out[2].group.as_deref(), Some(gid.as_str()));
        assert_eq!(out[2].phase, Phase::Identified);
        // trade is muted from its first line; integrity kinds are not.
        fire(&mut inc, &mut out, Kind::FeedSilent, &trade, 3);
        fire(&mut inc, &mut out, Kind::BookGap, &depth, 3);
        assert_eq!(out.len(), 4);
        assert_eq!(out[3].kind, Kind::BookGap);
        // depth recovers under the group: nothing is said.
        inc.clear(
            4,
            Kind::FeedSilent,
            &depth,
            "ok".into(),
            Evidence::new(),
            &mut out,
        );
        assert_eq!(out.len(), 4);
        // The group ends; trade still fails after the grace: announced.
        inc.ungroup(5, Kind::VenueOutage, &venue, 10);
        inc.clear(
            5,
            Kind::VenueOutage,
            &venue,
            "ok".into(),
            Evidence::new(),
            &mut out,
        );
        assert_eq!(out.last().unwrap().phase, Phase::Monitoring);
        let n = out.len();
        inc.tick(14, &mut out);
        assert_eq!(out.len(), n, "not before the grace");
        inc.tick(15, &mut out);
        let a = out.last().unwrap();
        assert_eq!((a.kind, a.state), (Kind::FeedSilent, State::Open));
        assert_eq!(a.stream.as_deref(), Some("trade"));
        assert_eq!(a.group, None);
    }
}
