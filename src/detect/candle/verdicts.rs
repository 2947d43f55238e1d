//! What one candle update concludes: a [`Verdict`] per candle rule
//! (`candle_gap`, `candle_invalid`, `abnormal_candle`), in the order their
//! alerts go out ([`CandleVerdicts`]), with the findings and recoveries
//! that word them. The checker judges; the caller hands each verdict to
//! the incident book with [`Verdict::report`]. Nothing here decides
//! whether a candle is wrong.

use super::rules::Invalid;
use super::sequence::{Gap, Seen};
use super::stats::Abnormal;
use super::summary::{Names, at, ohlcv};
use crate::alert::{Alert, Evidence, IncidentKey, Incidents, Kind, Severity};
use crate::detect::verdict::{Finding, Verdict, Words};
use crate::model::Nanos;

/// The three candle rules, each its own incident kind.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Rule {
    /// `candle_gap`: the candle's place in the sequence.
    Gap,
    /// `candle_invalid`: the hard rules.
    Invalid,
    /// `abnormal_candle`: the statistical test.
    Abnormal,
}

impl Rule {
    /// The alert kind.
    pub fn kind(self) -> Kind {
        match self {
            Rule::Gap => Kind::CandleGap,
            Rule::Invalid => Kind::CandleInvalid,
            Rule::Abnormal => Kind::AbnormalCandle,
        }
    }

    /// What a clean candle says when it ends the rule's incident.
    fn recovered(self) -> &'static str {
        match self {
            Rule::Gap => "is in sequence again: candle history is complete from here",
            Rule::Invalid => "passes the hard rules again: candle data can be used",
            Rule::Abnormal => "is within its usual range again",
        }
    }
}

/// A candle finding of any rule.
#[derive(Clone, Debug)]
pub enum CandleFinding {
    /// `candle_gap`.
    Gap(Gap),
    /// `candle_invalid`.
    Invalid(Invalid),
    /// `abnormal_candle`.
    Abnormal(Abnormal),
}

impl CandleFinding {
    fn inner(&self) -> &dyn Finding {
        match self {
            CandleFinding::Gap(f) => f,
            CandleFinding::Invalid(f) => f,
            CandleFinding::Abnormal(f) => f,
        }
    }
}

impl Words for CandleFinding {
    fn kind(&self) -> Kind {
        self.inner().kind()
    }
    fn summary(&self, key: &IncidentKey) -> String {
        self.inner().summary(key)
    }
    fn evidence(&self) -> Evidence {
        self.inner().evidence()
    }
}

impl Finding for CandleFinding {
    fn severity(&self) -> Severity {
        self.inner().severity()
    }
    fn news(&self) -> bool {
        self.inner().news()
    }
}

/// A clean candle ends a rule's incident.
#[derive(Clone, Debug)]
pub struct CandleClear {
    /// The rule whose incident ends.
    pub rule: Rule,
    pub(super) names: Names,
    /// The clean candle.
    pub(super) candle: Seen,
}

impl Words for CandleClear {
    fn kind(&self) -> Kind {
        self.rule.kind()
    }
    fn summary(&self, _: &IncidentKey) -> String {
        format!(
            "{} candle {} {}.",
            self.names,
            self.names.when(self.candle.open_ns),
            self.rule.recovered()
        )
    }
    fn evidence(&self) -> Evidence {
        ohlcv(at(&self.candle), &self.candle)
    }
}

/// One candle rule's verdict, worded as any candle finding.
pub type CandleVerdict = Verdict<CandleFinding, CandleClear>;

/// What one candle update concludes, one verdict per rule (`Quiet` for a
/// rule that had nothing to say or did not judge it: forming candles only
/// meet the sequence rules, and only valid in-order candles with enough
/// history meet the statistical test). Iterating gives them in the order
/// their alerts go out: sequence, hard rules, statistics.
#[derive(Clone, Debug)]
pub struct CandleVerdicts {
    /// `candle_gap`.
    pub gap: Verdict<Gap, CandleClear>,
    /// `candle_invalid`.
    pub invalid: Verdict<Invalid, CandleClear>,
    /// `abnormal_candle`.
    pub abnormal: Verdict<Abnormal, CandleClear>,
}

impl Default for CandleVerdicts {
    fn default() -> Self {
        CandleVerdicts {
            gap: Verdict::Quiet,
            invalid: Verdict::Quiet,
            abnormal: Verdict::Quiet,
        }
    }
}

impl CandleVerdicts {
    /// Hands every verdict, in order, to the incident book under `key`
    /// (the checker's [`super::CandleChecker::key`]).
    pub fn report(
        self,
        incidents: &mut Incidents,
        key: &IncidentKey,
        now: Nanos,
        out: &mut Vec<Alert>,
    ) {
        for v in self {
            v.report(incidents, key, now, out);
        }
    }
}

impl IntoIterator for CandleVerdicts {
    type Item = CandleVerdict;
    type IntoIter = std::array::IntoIter<CandleVerdict, 3>;
    fn into_iter(self) -> Self::IntoIter {
        let same = |c| c;
        [
            self.gap.map(CandleFinding::Gap, same),
            self.invalid.map(CandleFinding::Invalid, same),
            self.abnormal.map(CandleFinding::Abnormal, same),
        ]
        .into_iter()
    }
}

/// Which rules' incidents this checker has fired and not yet cleared.
///
/// The checker is the only source of its three kinds under its key (no
/// other check fires them, and each stream has one checker), and the book
/// changes whether an incident fires only on fire and clear; so this is
/// the book's own "firing" for the checker's incidents, kept here so that
/// a clean candle yields a recovery only when there is one to report (a
/// clear of an incident that is not firing changes nothing), without the
/// check reading the book. It holds as long as the caller reports every
/// verdict, as [`CandleVerdicts::report`] does.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Firing {
    gap: bool,
    invalid: bool,
    abnormal: bool,
}

impl Firing {
    fn of(&mut self, rule: Rule) -> &mut bool {
        match rule {
            Rule::Gap => &mut self.gap,
            Rule::Invalid => &mut self.invalid,
            Rule::Abnormal => &mut self.abnormal,
        }
    }

    /// Whether `rule`'s incident fires (tests compare it with the book).
    #[cfg(test)]
    pub(super) fn is_firing(mut self, rule: Rule) -> bool {
        *self.of(rule)
    }

    /// `rule` fires `finding`.
    pub(super) fn fire<F>(&mut self, rule: Rule, finding: F) -> Verdict<F, CandleClear> {
        *self.of(rule) = true;
        Verdict::Fire(finding)
    }

    /// A clean candle for `rule`: a recovery if its incident fires.
    pub(super) fn clean<F>(
        &mut self,
        rule: Rule,
        names: &Names,
        c: &Seen,
    ) -> Verdict<F, CandleClear> {
        if !std::mem::take(self.of(rule)) {
            return Verdict::Quiet;
        }
        Verdict::Clear(CandleClear {
            rule,
            names: names.clone(),
            candle: *c,
        })
    }
}
