//! The vocabulary of an incident's life: phases, cause classes, and the
//! `[incidents]` settings (recovery probation, flap damping).
//!
//! Status pages taught desks this shape: an incident opens, is identified
//! (which side is at fault), is monitored once it looks healthy again, and
//! is resolved only after a clean stretch. This module holds only the names
//! and the settings; [`super::Incidents`] applies them. It never reads
//! clocks or does I/O.

use super::Kind;
use serde::{Deserialize, Serialize};

/// Where an incident is in its life (the `phase` field of an alert).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// The condition holds; the cause is not known yet.
    Open,
    /// The condition holds and its cause class is known.
    Identified,
    /// The condition has cleared; the incident stays open for a clean
    /// stretch (probation) before it is resolved. A relapse reopens it.
    Monitoring,
    /// Over.
    Resolved,
}

impl Phase {
    /// The snake_case name, as in the alert JSON.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Open => "open",
            Phase::Identified => "identified",
            Phase::Monitoring => "monitoring",
            Phase::Resolved => "resolved",
        }
    }
}

/// The cause class of an incident (the `cause` field of an alert).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// Not known yet (a stream went stale; is it the venue, a shared outage
    /// or us?).
    Unknown,
    /// One venue's own problem.
    VenueLocal,
    /// Infrastructure several venues share (hosting region, exchange).
    SharedInfrastructure,
    /// feedwatch's own side: process, network, queues.
    OurSide,
    /// A real market move that peers confirm.
    MarketMove,
    /// The venue's data contradicts itself (books, candles).
    DataIntegrity,
}

impl Cause {
    /// The phase that goes with this cause while the condition holds.
    pub fn phase(self) -> Phase {
        if self == Cause::Unknown {
            Phase::Open
        } else {
            Phase::Identified
        }
    }

    /// A few words for summaries.
    pub fn words(self) -> &'static str {
        match self {
            Cause::Unknown => "cause not known yet",
            Cause::VenueLocal => "this venue alone",
            Cause::SharedInfrastructure => "infrastructure shared by several venues",
            Cause::OurSide => "our own side",
            Cause::MarketMove => "a real market move",
            Cause::DataIntegrity => "the venue's data contradicts itself",
        }
    }
}

/// Whether a group incident of `group` kind silences an incident of `kind`
/// about one of its venues (inhibition): the kinds that are consequences of
/// a venue not sending, not separate problems.
pub fn inhibited_by(group: Kind, kind: Kind) -> bool {
    let stale = matches!(
        kind,
        Kind::FeedSilent | Kind::FeedFrozen | Kind::ConnectionLost | Kind::BookStale
    );
    match group {
        Kind::VenueOutage => stale,
        Kind::SharedOutage | Kind::LocalStall => stale || kind == Kind::VenueOutage,
        _ => false,
    }
}

/// The `[incidents]` config section.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct IncidentConfig {
    /// Clean stretch (seconds) an incident must stay clear, in `monitoring`,
    /// before it is resolved; a relapse meanwhile reopens the same incident.
    /// 0 resolves at once.
    pub probation_s: f64,
    /// A staleness incident nobody has grouped after this long (seconds) is
    /// identified as the venue's own problem.
    pub identify_after_s: f64,
    /// Flap damping samples the incident's state changes this often
    /// (seconds), keeping the last 21 samples (Nagios).
    pub flap_sample_s: f64,
    /// Weighted share of samples with a change (percent) above which an
    /// incident is flapping: its phase changes are no longer announced.
    pub flap_start_pct: f64,
    /// ... and below which it has stopped flapping.
    pub flap_stop_pct: f64,
}

impl Default for IncidentConfig {
    fn default() -> Self {
        IncidentConfig {
            probation_s: 60.0,
            identify_after_s: 10.0,
            flap_sample_s: 5.0,
            flap_start_pct: 20.0,
            flap_stop_pct: 5.0,
        }
    }
}

impl IncidentConfig {
    /// Resolve at once, never identify late, never damp: the behaviour of
    /// one-shot scans of history, where there is no "later" to wait for.
    pub fn immediate() -> Self {
        IncidentConfig {
            probation_s: 0.0,
            identify_after_s: 0.0,
            ..IncidentConfig::default()
        }
    }

    /// Checks ranges; the error names the key.
    pub fn validate(&self) -> Result<(), String> {
        let finite_nonneg = [
            ("incidents.probation_s", self.probation_s),
            ("incidents.identify_after_s", self.identify_after_s),
        ];
        for (k, v) in finite_nonneg {
            if !(v.is_finite() && (0.0..=86_400.0).contains(&v)) {
                return Err(format!("{k} must be between 0 and 86400 seconds, got {v}"));
            }
        }
        if !(self.flap_sample_s.is_finite() && (0.1..=3600.0).contains(&self.flap_sample_s)) {
            return Err(format!(
                "incidents.flap_sample_s must be between 0.1 and 3600 seconds, got {}",
                self.flap_sample_s
            ));
        }
        for (k, v) in [
            ("incidents.flap_start_pct", self.flap_start_pct),
            ("incidents.flap_stop_pct", self.flap_stop_pct),
        ] {
            if !(v.is_finite() && (0.0..=100.0).contains(&v)) {
                return Err(format!("{k} must be between 0 and 100, got {v}"));
            }
        }
        if self.flap_stop_pct > self.flap_start_pct {
            return Err(format!(
                "incidents.flap_stop_pct ({}) must not exceed incidents.flap_start_pct ({})",
                self.flap_stop_pct, self.flap_start_pct
            ));
        }
        Ok(())
    }
}

/// Samples kept for flap damping (Nagios keeps 21).
pub const FLAP_SAMPLES: u32 = 21;

/// Nagios' weighted percent state change over the kept samples: bit `i` of
/// `bits` (0 = newest) says whether the state changed in that sample; newer
/// changes weigh more (1.2 for the newest down to 0.8 for the oldest), and
/// the sum is over the 20 transitions a full history holds, so a young
/// incident is not called flapping on one change.
pub fn flap_percent(bits: u32, samples: u32) -> f64 {
    let n = samples.min(FLAP_SAMPLES);
    let transitions = f64::from(FLAP_SAMPLES - 1);
    let mut sum = 0.0;
    for i in 0..n {
        if bits & (1 << i) != 0 {
            let weight = 1.2 - 0.4 * f64::from(i) / transitions;
            sum += weight;
        }
    }
    100.0 * sum / transitions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flap_percent_weighs_recent_changes_more() {
        assert_eq!(flap_percent(0, 21), 0.0);
        // One change, newest: 1.2 / 20.
        assert!((flap_percent(1, 21) - 6.0).abs() < 1e-9);
        // One change, oldest kept: 0.8 / 20.
        assert!((flap_percent(1 << 20, 21) - 4.0).abs() < 1e-9);
        // Every other sample changed: about half.
        let alternate = (0..21).filter(|i| i % 2 == 0).fold(0u32, |b, i| b | 1 << i);
        let p = flap_percent(alternate, 21);
        assert!(p > 50.0 && p < 60.0, "{p}");
        // Four recent changes are above the 20% start, three are not.
        assert!(flap_percent(0b1111, 21) > 20.0);
        assert!(flap_percent(0b111, 21) < 20.0);
    }

    #[test]
    fn validate_names_the_key() {
        let mut c = IncidentConfig::default();
        assert!(c.validate().is_ok());
        c.flap_stop_pct = 30.0;
        assert!(c.validate().unwrap_err().contains("flap_stop_pct"));
        let c = IncidentConfig {
            probation_s: f64::NAN,
            ..IncidentConfig::default()
        };
        assert!(c.validate().unwrap_err().contains("probation_s"));
    }

    #[test]
    fn outages_inhibit_staleness_not_integrity() {
        assert!(inhibited_by(Kind::VenueOutage, Kind::FeedSilent));
        assert!(!inhibited_by(Kind::VenueOutage, Kind::BookCrossed));
        assert!(!inhibited_by(Kind::VenueOutage, Kind::VenueOutage));
        assert!(inhibited_by(Kind::SharedOutage, Kind::VenueOutage));
        assert!(!inhibited_by(Kind::FeedSilent, Kind::FeedSilent));
    }
}
