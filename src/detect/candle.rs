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
