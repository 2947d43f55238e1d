//! The one shape of a check's judgement. Every check returns a
//! [`Verdict`]: nothing to say, a finding that fires (or updates) its
//! incident, or a recovery that clears it; and the finding carries its own
//! words (kind, summary, evidence, severity), so the engine only routes
//! verdicts to the incident book ([`Verdict::report`]) and never writes a
//! check's sentences. [`Outcome`] adds when the check next needs the clock.
//!
//! Nothing here decides anything: the checks do. Words must be pure
//! functions of the facts the check captured when it judged (the time
//! included), so a replay words an alert exactly as live did.

use crate::alert::{Alert, Evidence, IncidentKey, Incidents, Kind, Severity};
use crate::model::Nanos;

/// What a check concluded from one observation or tick.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict<F, C> {
    /// Nothing to report.
    Quiet,
    /// The condition holds: open or update the incident.
    Fire(F),
    /// The condition has cleared: the incident recovers.
    Clear(C),
}

/// What an alert about a finding or a recovery says.
pub trait Words {
    /// The alert kind.
    fn kind(&self) -> Kind;
    /// One sentence a trader can act on, about `key` (its
    /// [`IncidentKey::subject`] or [`IncidentKey::market`]).
    fn summary(&self, key: &IncidentKey) -> String;
    /// The numbers behind it.
    fn evidence(&self) -> Evidence;
}

/// A finding: words plus how urgent it is.
pub trait Finding: Words {
    /// Warning unless the check says otherwise.
    fn severity(&self) -> Severity {
        Severity::Warning
    }
    /// News (a one-off event such as a sequence gap) rather than a state:
    /// the incident book reports each one.
    fn news(&self) -> bool {
        false
    }
}

/// A verdict and the next instant the check needs the clock (a held
/// condition's deadline), if any.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome<F, C> {
    /// What the check concluded.
    pub verdict: Verdict<F, C>,
    /// When to call the check again even if nothing arrives.
    pub wake_at: Option<Nanos>,
}

impl<F, C> Verdict<F, C> {
    /// The same verdict with its finding and recovery turned into other
    /// types (a shared rule worded by the check that uses it).
    pub fn map<F2, C2>(
        self,
        fire: impl FnOnce(F) -> F2,
        clear: impl FnOnce(C) -> C2,
    ) -> Verdict<F2, C2> {
        match self {
            Verdict::Quiet => Verdict::Quiet,
            Verdict::Fire(f) => Verdict::Fire(fire(f)),
            Verdict::Clear(c) => Verdict::Clear(clear(c)),
        }
    }
}

impl<F, C> From<Verdict<F, C>> for Outcome<F, C> {
    /// A verdict of a check that never needs the clock.
    fn from(verdict: Verdict<F, C>) -> Self {
        Outcome {
            verdict,
            wake_at: None,
        }
    }
}

impl<F: Finding, C: Words> Outcome<F, C> {
    /// Reports the verdict ([`Verdict::report`]) and returns when the
    /// check next needs the clock, for the engine to schedule.
    #[must_use = "a check that needs the clock is only called again if its wake-up is scheduled"]
    pub fn report(
        self,
        incidents: &mut Incidents,
        key: &IncidentKey,
        now: Nanos,
        out: &mut Vec<Alert>,
    ) -> Option<Nanos> {
        self.verdict.report(incidents, key, now, out);
        self.wake_at
    }
}

impl<F: Finding, C: Words> Verdict<F, C> {
    /// Hands the verdict to the incident book under `key`: the one path
    /// from a check's judgement to alerts.
    pub fn report(
        self,
        incidents: &mut Incidents,
        key: &IncidentKey,
        now: Nanos,
        out: &mut Vec<Alert>,
    ) {
        match self {
            Verdict::Quiet => {}
            Verdict::Fire(f) => incidents.fire(
                now,
                f.kind(),
                key,
                f.severity(),
                f.news(),
                f.summary(key),
                f.evidence(),
                out,
            ),
            Verdict::Clear(c) => {
                incidents.clear(now, c.kind(), key, c.summary(key), c.evidence(), out)
            }
        }
    }
}
