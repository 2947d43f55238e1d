//! The candle rules (`candle_gap`, `candle_invalid`, `abnormal_candle`)
//! and the recovery a clean candle brings to any of them ([`CandleClear`]).
//! Each rule's finding lives with its check. Nothing here decides whether
//! a candle is wrong.

use super::sequence::Seen;
use super::summary::{Names, at, ohlcv};
use crate::alert::{Evidence, IncidentKey, Kind};
use crate::detect::verdict::Words;

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
