//! Candle checks: hard rules (OHLC order, price and volume signs, VWAP),
//! sequence rules (grid, missing, duplicate, out of order, revised closed
//! candles) and a streaming statistical test of each closed candle against
//! the stream's own robust volatility.
//!
//! One [`CandleChecker`] watches one (venue, symbol, stream). It keeps a
//! fixed-size state (no growth with history), reads no clock (only the
//! candle's own times), and never does I/O. It must never page on volume alone and never
//! let a bad candle (invalid, or the abnormal candle itself beyond its
//! winsorised share) move the volatility baseline.
//!
//! It returns what each rule concludes ([`CandleVerdicts`]: a finding that
//! words its own alert, or the recovery a clean candle brings) and never
//! touches the incident book: the caller reports each verdict.
//!
//! The files: `config` (thresholds), `checker` (the state and the driver),
//! `sequence` and `rules` (the `candle_gap` and `candle_invalid` checks),
//! `stats` (return surprise, volatility, `abnormal_candle`), `scale` (the
//! range scale: volume-weighted, floored at tick and typical spread),
//! `wick` (the wick test), `verdicts` (the verdicts of one candle, the
//! recovery, and which incidents fire), `summary` (shared wording).

mod checker;
mod config;
mod rules;
mod scale;
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
pub use verdicts::{CandleClear, CandleFinding, CandleVerdict, CandleVerdicts, Rule};

#[cfg(test)]
mod tests;
