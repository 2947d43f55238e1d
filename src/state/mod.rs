//! Per-stream state the detectors read: bounded histories, order books and
//! candles built from trades. Everything here is bounded in memory.

pub mod candles;
