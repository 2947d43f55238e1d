//! Candle checks (placeholder; being written).

use serde::Deserialize;

/// Thresholds for the candle checks.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CandleConfig {
    /// Minimum closed candles of history before statistical checks run.
    pub min_history: usize,
}

impl Default for CandleConfig {
    fn default() -> Self {
        CandleConfig { min_history: 5 }
    }
}

/// Temporary stand-in (replaced on merge).
#[derive(Debug)]
pub struct CandleChecker;

impl CandleChecker {
    /// New checker.
    pub fn new(
        _cfg: &CandleConfig,
        _venue: crate::model::Venue,
        _symbol: crate::model::Symbol,
        _stream: crate::model::StreamKind,
    ) -> Self {
        CandleChecker
    }
    /// One candle.
    pub fn on_candle(
        &mut self,
        _now: crate::model::Nanos,
        _c: &crate::model::Candle,
        _inc: &mut crate::alert::Incidents,
        _out: &mut Vec<crate::alert::Alert>,
    ) {
    }
}
