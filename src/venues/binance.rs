//! Binance spot, USD-M and COIN-M market data (placeholder; being written).

use super::{Adapter, Control, ParseError};
use crate::model::{Event, Venue};

/// Parser for Binance combined-stream and raw-stream frames.
pub struct BinanceAdapter {
    venue: Venue,
}

impl BinanceAdapter {
    /// An adapter for one of the three Binance venues.
    pub fn new(venue: Venue) -> Self {
        BinanceAdapter { venue }
    }
}

impl Adapter for BinanceAdapter {
    fn venue(&self) -> Venue {
        self.venue
    }

    fn parse_frame(&mut self, _frame: &str, _out: &mut Vec<Event>) -> Result<Control, ParseError> {
        Err(ParseError::Unknown {
            venue: self.venue.id(),
            detail: "not implemented".into(),
        })
    }

    fn parse_rest(
        &mut self,
        _request: &str,
        _body: &str,
        _out: &mut Vec<Event>,
    ) -> Result<Control, ParseError> {
        Err(ParseError::Unknown {
            venue: self.venue.id(),
            detail: "not implemented".into(),
        })
    }
}
