//! How to subscribe to Coinbase Advanced Trade market data: the endpoint,
//! product ids, one subscribe frame per channel plus `heartbeats`.
//!
//! Pure: builds text, never does I/O, never panics.

use super::coinbase_canonical;
use crate::model::Venue;
use crate::venues::{Channel, Protocol};

/// How to subscribe to Coinbase Advanced Trade market data.
#[derive(Debug, Clone, Copy, Default)]
pub struct CoinbaseProtocol;

/// Production endpoint of the Advanced Trade market-data WebSocket.
pub const URL: &str = "wss://advanced-trade-ws.coinbase.com";

impl Protocol for CoinbaseProtocol {
    fn venue(&self) -> Venue {
        Venue::Coinbase
    }

    fn url(&self) -> String {
        URL.to_string()
    }

    /// `BTC/USD` -> `BTC-USD`.
    fn venue_symbol(&self, canonical: &str) -> Option<String> {
        let (base, quote) = canonical.split_once('/')?;
        let raw = format!("{base}-{quote}");
        coinbase_canonical(&raw).ok()?;
        Some(raw.to_ascii_uppercase())
    }

    /// One frame per channel (the API takes one channel per message), plus
    /// `heartbeats`, without which quiet channels are closed after 60-90 s.
    /// `Channel::Candles1m` maps to `candles`, whose buckets are 5 minutes
    /// (the only size the channel offers).
    fn subscribe(&self, symbols: &[&str], channels: &[Channel]) -> Vec<String> {
        let ids: Vec<String> = symbols
            .iter()
            .filter_map(|s| self.venue_symbol(s))
            .collect();
        if ids.is_empty() {
            return Vec::new();
        }
        // Product ids are validated alphanumeric with one '-': no escaping.
        let list = ids
            .iter()
            .map(|s| format!("\"{s}\""))
            .collect::<Vec<_>>()
            .join(",");
        let mut frames: Vec<String> = Vec::new();
        let mut seen: Vec<&str> = Vec::new();
        for ch in channels {
            let name = match ch {
                Channel::Trades => "market_trades",
                Channel::Book => "level2",
                Channel::Bbo => "ticker",
                Channel::Candles1m => "candles",
            };
            if seen.contains(&name) {
                continue;
            }
            seen.push(name);
            frames.push(format!(
                r#"{{"type":"subscribe","product_ids":[{list}],"channel":"{name}"}}"#
            ));
        }
        if !frames.is_empty() {
            frames.push(r#"{"type":"subscribe","channel":"heartbeats"}"#.to_string());
        }
        frames
    }

    /// None: the `heartbeats` subscription keeps the connection open.
    fn ping(&self) -> Option<(std::time::Duration, String)> {
        None
    }

    /// A conservative bound: every message of a connection shares one
    /// sequence count and one socket, and a busy `level2` product alone
    /// sends hundreds of updates a second.
    fn max_streams_per_connection(&self) -> usize {
        100
    }
}

/// The Coinbase [`Protocol`], for `Venue::Coinbase` only.
pub fn protocol(venue: Venue) -> Option<Box<dyn Protocol>> {
    (venue == Venue::Coinbase).then(|| Box::new(CoinbaseProtocol) as Box<dyn Protocol>)
}
