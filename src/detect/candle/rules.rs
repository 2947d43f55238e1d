//! The hard rules a candle must pass whatever its history (OHLC order,
//! price and volume signs, VWAP inside the range) and the
//! `candle_invalid` finding ([`Invalid`]) that words its alert. A candle
//! that breaks one is corrupt data: it must never reach the volatility
//! baseline.

use super::CandleChecker;
use super::sequence::Seen;
use super::summary::{Names, at, num, ohlcv};
use super::verdicts::{CandleClear, Rule};
use crate::alert::{Evidence, IncidentKey, Kind, Severity};
use crate::detect::verdict::{Finding, Verdict, Words};
use crate::model::Candle;

/// What is wrong with a candle that breaks a hard rule.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Violation {
    BadPrice(&'static str, f64),
    BadVolume(f64),
    HighBelow(&'static str, f64),
    LowAbove(&'static str, f64),
    BadQuoteVolume(f64),
    VwapOutside(f64),
}

/// Checks the hard rules; `None` when the candle is sound.
pub(super) fn hard_violation(c: &Candle, tol: f64) -> Option<Violation> {
    for (name, v) in [
        ("open", c.open),
        ("high", c.high),
        ("low", c.low),
        ("close", c.close),
    ] {
        if !(v.is_finite() && v > 0.0) {
            return Some(Violation::BadPrice(name, v));
        }
    }
    if !(c.volume.is_finite() && c.volume >= 0.0) {
        return Some(Violation::BadVolume(c.volume));
    }
    if c.high < c.open {
        return Some(Violation::HighBelow("open", c.open));
    }
    if c.high < c.close {
        return Some(Violation::HighBelow("close", c.close));
    }
    if c.low > c.open {
        return Some(Violation::LowAbove("open", c.open));
    }
    if c.low > c.close {
        return Some(Violation::LowAbove("close", c.close));
    }
    if let Some(qv) = c.quote_volume {
        if !(qv.is_finite() && qv >= 0.0) || (c.volume == 0.0 && qv > 0.0) {
            return Some(Violation::BadQuoteVolume(qv));
        }
        if c.volume > 0.0 {
            let vwap = qv / c.volume;
            if !(vwap >= c.low * (1.0 - tol) && vwap <= c.high * (1.0 + tol)) {
                return Some(Violation::VwapOutside(vwap));
            }
        }
    }
    None
}

impl Violation {
    fn describe(&self, c: &Seen) -> String {
        match self {
            Violation::BadPrice(f, v) => format!("{f} price {}", num(*v)),
            Violation::BadVolume(v) => format!("volume {}", num(*v)),
            Violation::HighBelow(f, v) => {
                format!("high {} below {f} {}", num(c.high), num(*v))
            }
            Violation::LowAbove(f, v) => format!("low {} above {f} {}", num(c.low), num(*v)),
            Violation::BadQuoteVolume(qv) => format!(
                "quote volume {} with base volume {}",
                num(*qv),
                num(c.volume)
            ),
            Violation::VwapOutside(v) => format!(
                "VWAP {} outside its own range {}..{}",
                num(*v),
                num(c.low),
                num(c.high)
            ),
        }
    }

    fn rule(&self) -> &'static str {
        match self {
            Violation::BadPrice(..) => "price > 0 and finite",
            Violation::BadVolume(_) => "volume >= 0 and finite",
            Violation::HighBelow(..) => "high >= max(open, close)",
            Violation::LowAbove(..) => "low <= min(open, close)",
            Violation::BadQuoteVolume(_) => "quote volume >= 0, zero when volume is zero",
            Violation::VwapOutside(_) => "low <= quote_volume/volume <= high",
        }
    }
}

impl CandleChecker {
    /// `candle_invalid` fires: `candle` breaks a hard rule.
    pub(super) fn fire_invalid(
        &mut self,
        candle: &Seen,
        violation: Violation,
    ) -> Verdict<Invalid, CandleClear> {
        let invalid = Invalid {
            names: self.names.clone(),
            candle: *candle,
            violation,
            vwap_tol: self.vwap_tol,
        };
        self.firing.fire(Rule::Invalid, invalid)
    }
}

/// `candle_invalid` fires: a candle that breaks a hard rule is corrupt.
#[derive(Clone, Debug)]
pub struct Invalid {
    names: Names,
    candle: Seen,
    violation: Violation,
    /// The VWAP tolerance it was judged with.
    vwap_tol: f64,
}

impl Words for Invalid {
    fn kind(&self) -> Kind {
        Kind::CandleInvalid
    }

    fn summary(&self, _: &IncidentKey) -> String {
        format!(
            "{} candle {} has {}: candle data is corrupt, do not trade on it.",
            self.names,
            self.names.when(self.candle.open_ns),
            self.violation.describe(&self.candle)
        )
    }

    fn evidence(&self) -> Evidence {
        let c = &self.candle;
        let mut ev = ohlcv(at(c), c).with("rule", self.violation.rule());
        if let Violation::VwapOutside(vwap) = self.violation {
            ev = ev.num("vwap", vwap, 10).num("tolerance", self.vwap_tol, 12);
        }
        ev
    }
}

/// Corrupt data is critical, and every invalid candle is reported.
impl Finding for Invalid {
    fn severity(&self) -> Severity {
        Severity::Critical
    }
    fn news(&self) -> bool {
        true
    }
}
