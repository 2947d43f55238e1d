//! How to reach Bybit v5 public streams (spot and linear): endpoints,
//! venue symbol names, subscribe frames and the application ping.
//!
//! Pure: builds text, never does I/O, never panics.

use std::time::Duration;

use crate::model::Venue;
use crate::venues::{Channel, Protocol};

/// Order book depth subscribed for [`Channel::Book`]: 50 levels (pushed
/// every 20 ms on spot and linear) cover the top of book that the detectors
/// watch, at a rate that shows gaps quickly.
pub const BOOK_DEPTH: u32 = 50;

/// Topics per subscribe request: Bybit spot accepts at most 10 args per
/// request; the same bound is used on linear.
pub const ARGS_PER_REQUEST: usize = 10;

/// How to reach Bybit v5 public streams for one venue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BybitProtocol {
    venue: Venue,
}

/// The protocol for [`Venue::BybitSpot`] or [`Venue::BybitLinear`]; `None`
/// for other venues.
pub fn protocol(venue: Venue) -> Option<BybitProtocol> {
    matches!(venue, Venue::BybitSpot | Venue::BybitLinear).then_some(BybitProtocol { venue })
}

impl BybitProtocol {
    /// The topics for one venue symbol and channel.
    fn topic(&self, sym: &str, ch: Channel) -> String {
        match ch {
            Channel::Trades => format!("publicTrade.{sym}"),
            Channel::Book => format!("orderbook.{BOOK_DEPTH}.{sym}"),
            // Level 1 exists on both categories, comes every 10 ms, and is
            // sent as whole snapshots: no partial state to keep.
            Channel::Bbo => format!("orderbook.1.{sym}"),
            Channel::Candles1m => format!("kline.1.{sym}"),
        }
    }
}

impl Protocol for BybitProtocol {
    fn venue(&self) -> Venue {
        self.venue
    }

    fn url(&self) -> String {
        match self.venue {
            Venue::BybitLinear => "wss://stream.bybit.com/v5/public/linear".into(),
            _ => "wss://stream.bybit.com/v5/public/spot".into(),
        }
    }

    /// `BTC/USDT` -> `BTCUSDT`. On linear, `X/USDC` is the USDC perpetual
    /// `XPERP`.
    fn venue_symbol(&self, canonical: &str) -> Option<String> {
        let (base, quote) = canonical.split_once('/')?;
        let ok = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric());
        if !ok(base) || !ok(quote) {
            return None;
        }
        let (base, quote) = (base.to_ascii_uppercase(), quote.to_ascii_uppercase());
        if self.venue == Venue::BybitLinear && quote == "USDC" {
            return Some(format!("{base}PERP"));
        }
        Some(format!("{base}{quote}"))
    }

    fn subscribe(&self, symbols: &[&str], channels: &[Channel]) -> Vec<String> {
        let topics: Vec<String> = symbols
            .iter()
            .filter_map(|s| self.venue_symbol(s))
            .flat_map(|s| channels.iter().map(move |c| (s.clone(), *c)))
            .map(|(s, c)| self.topic(&s, c))
            .collect();
        topics
            .chunks(ARGS_PER_REQUEST)
            .map(|args| serde_json::json!({ "op": "subscribe", "args": args }).to_string())
            .collect()
    }

    /// Bybit drops connections that send nothing; its docs ask for
    /// `{"op":"ping"}` every 20 s.
    fn ping(&self) -> Option<(Duration, String)> {
        Some((Duration::from_secs(20), r#"{"op":"ping"}"#.to_string()))
    }

    /// Bybit documents no hard topic cap per public connection (spot limits
    /// args per request, linear the total length of args); 200 topics keeps
    /// each connection's burst of snapshots small.
    fn max_streams_per_connection(&self) -> usize {
        200
    }
}
