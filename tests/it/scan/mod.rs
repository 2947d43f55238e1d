//! Candle scans: one source (`scan-candles`) and across venues (consensus).

mod candles;
mod consensus;
mod levels;
mod thin;
