//! The incident book: one entry per open incident, keyed by kind and subject.
//!
//! Detectors call [`Incidents::fire`] while their condition holds and
//! [`Incidents::clear`] when it has gone; this book emits `open` on the first
//! fire, `update` only when severity changes or the detector reports a new
//! distinct observation, and `resolved` on the first clear. It must never emit
//! two opens for one incident or a resolve without an open.

use super::{Alert, Evidence, Kind, Severity, State};
use crate::model::{Nanos, Symbol, Venue, format_rfc3339_ms};
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
    /// A key for one stream of one symbol.
    pub fn stream(venue: Venue, symbol: &Symbol, stream: impl Into<String>) -> Self {
        IncidentKey {
            venue,
            symbol: Some(symbol.clone()),
            stream: Some(stream.into()),
        }
    }
}

#[derive(Debug)]
struct Open {
    id: String,
    severity: Severity,
    updates: u32,
}

/// Upper bound on updates emitted for one incident, so a detector that keeps
/// reporting new observations cannot flood the desk.
const MAX_UPDATES: u32 = 50;

/// All currently open incidents.
#[derive(Debug, Default)]
pub struct Incidents {
    open: BTreeMap<(Kind, IncidentKey), Open>,
}

impl Incidents {
    /// An empty book.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether an incident of `kind` about `key` is open.
    pub fn is_open(&self, kind: Kind, key: &IncidentKey) -> bool {
        self.open.contains_key(&(kind, key.clone()))
    }

    /// Number of open incidents.
    pub fn open_count(&self) -> usize {
        self.open.len()
    }

    /// The condition holds. Opens the incident if needed; otherwise emits an
    /// update when severity changed or `news` says this is a new distinct
    /// observation (e.g. another bad candle in the same episode).
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
        let state = match self.open.get_mut(&(kind, key.clone())) {
            Some(o) => {
                if o.severity == severity && !news || o.updates >= MAX_UPDATES {
                    return;
                }
                o.severity = severity;
                o.updates += 1;
                State::Update
            }
            None => {
                let id = incident_id(kind, key, now);
                self.open.insert(
                    (kind, key.clone()),
                    Open {
                        id,
                        severity,
                        updates: 0,
                    },
                );
                State::Open
            }
        };
        if let Some(o) = self.open.get(&(kind, key.clone())) {
            out.push(make_alert(
                now, state, kind, severity, key, &o.id, summary, evidence,
            ));
        }
    }

    /// The condition has cleared: resolves the incident if one is open.
    pub fn clear(
        &mut self,
        now: Nanos,
        kind: Kind,
        key: &IncidentKey,
        summary: String,
        evidence: Evidence,
        out: &mut Vec<Alert>,
    ) {
        if let Some(o) = self.open.remove(&(kind, key.clone())) {
            out.push(make_alert(
                now,
                State::Resolved,
                kind,
                o.severity,
                key,
                &o.id,
                summary,
                evidence,
            ));
        }
    }
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

#[allow(clippy::too_many_arguments)]
fn make_alert(
    now: Nanos,
    state: State,
    kind: Kind,
    severity: Severity,
    key: &IncidentKey,
    id: &str,
    summary: String,
    evidence: Evidence,
) -> Alert {
    Alert {
        at: now,
        state,
        kind,
        severity,
        venue: key.venue,
        symbol: key.symbol.as_deref().map(str::to_string),
        stream: key.stream.clone(),
        incident: id.to_string(),
        summary,
        evidence,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
}
