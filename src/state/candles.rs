//! Temporary stand-in for the trade candle builder (replaced on merge).

use crate::model::{Candle, Nanos};

/// Builds candles from trades.
#[derive(Debug)]
pub struct TradeCandleBuilder;

impl TradeCandleBuilder {
    /// New builder.
    pub fn new(_interval_secs: u32) -> Self {
        TradeCandleBuilder
    }
    /// A trade.
    pub fn on_trade(
        &mut self,
        _ts: Nanos,
        _price: f64,
        _qty: f64,
        _id: Option<u64>,
    ) -> Option<Candle> {
        None
    }
    /// Close due.
    pub fn close_due(&mut self, _ts: Nanos, _grace: Nanos) -> Option<Candle> {
        None
    }
}
