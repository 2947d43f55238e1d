//! Per-stream state the detectors read: bounded histories, order books and
//! candles built from trades. Everything here is bounded in memory and reads
//! no clock.

pub mod book;
pub mod candles;
pub mod gaps;
pub mod window;
