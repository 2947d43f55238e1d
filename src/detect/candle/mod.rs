//! Candle checks: hard rules (OHLC order, price and volume signs, VWAP),
//! sequence rules (grid, missing, duplicate, out of order, revised closed
//! candles) and a streaming statistical test of each closed candle against
//! the stream's own robust volatility.
//!
//! One [`CandleChecker`] watches one (venue, symbol, stream). It keeps a
//! fixed-size state (no growth with history), reads only the time it is
//! given, and never does I/O. It must never page on volume alone and never
//! let a bad candle (invalid, or the abnormal candle itself beyond its
//! winsorised share) move the volatility baseline.
//!
//! The files: `config` (thresholds), `checker` (the state and the driver),
//! `sequence` and `rules` (the `candle_gap` and `candle_invalid` checks),
//! `stats` (return surprise, volatility and range scale, `abnormal_candle`),
//! `wick` (the wick test), `verdicts` (the rules and the recovery
//! from any of them), `summary` (shared wording).

mod checker;
mod config;
mod rules;
mod sequence;
mod stats;
mod summary;
mod verdicts;
mod wick;

pub use checker::CandleChecker;
pub use config::CandleConfig;
pub use rules::Invalid;
pub use sequence::Gap;
pub use stats::Abnormal;
pub use summary::{Names, num};
pub use verdicts::{CandleClear, Rule};

#[cfg(test)]
mod tests;
