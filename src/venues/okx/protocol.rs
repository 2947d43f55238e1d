//! How to connect to OKX v5 public market data: the public and business
//! endpoints, instrument ids, subscribe frames, connection groups (candles
//! on their own connection) and the text ping.
//!
//! Pure: builds text, never does I/O, never panics.

use std::time::Duration;

use crate::model::Venue;
use crate::venues::{Channel, Protocol};

/// The public endpoint (books, trades, bbo-tbt, tickers).
pub const PUBLIC_URL: &str = "wss://ws.okx.com:8443/ws/v5/public";
/// The business endpoint: OKX moved the `candle*` channels here in June 2023.
pub const BUSINESS_URL: &str = "wss://ws.okx.com:8443/ws/v5/business";

/// Which OKX instrument family a canonical symbol names on the wire. The
/// canonical form is the asset pair, so spot and the perpetual swap share
/// it; the protocol is built for one of them.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Market {
    /// Spot: `BTC/USDT` -> `BTC-USDT`.
    Spot,
    /// Perpetual swap: `BTC/USDT` -> `BTC-USDT-SWAP`.
    Swap,
}

/// How to connect to OKX v5 public market data.
#[derive(Clone, Debug)]
pub struct OkxProtocol {
    market: Market,
}

/// The OKX protocol for `venue` (spot instruments), or `None` for other
/// venues.
pub fn protocol(venue: Venue) -> Option<OkxProtocol> {
    (venue == Venue::Okx).then(|| OkxProtocol::new(Market::Spot))
}

/// OKX channel names per [`Channel`].
fn channel_name(c: Channel) -> &'static str {
    match c {
        Channel::Trades => "trades",
        Channel::Book => "books",
        Channel::Bbo => "bbo-tbt",
        Channel::Candles1m => "candle1m",
    }
}

/// The endpoint that serves `channel`: candles are only on `/business`.
pub fn endpoint_for(channel: Channel) -> &'static str {
    match channel {
        Channel::Candles1m => BUSINESS_URL,
        _ => PUBLIC_URL,
    }
}

/// Args per subscribe frame: keeps each frame far below OKX's 64 KB limit
/// on a connection's subscription text.
const ARGS_PER_FRAME: usize = 50;

impl OkxProtocol {
    /// A protocol naming instruments of `market`.
    pub fn new(market: Market) -> Self {
        OkxProtocol { market }
    }
}

impl Protocol for OkxProtocol {
    fn venue(&self) -> Venue {
        Venue::Okx
    }

    fn url(&self) -> String {
        PUBLIC_URL.to_string()
    }

    fn venue_symbol(&self, canonical: &str) -> Option<String> {
        let (base, quote) = canonical.split_once('/')?;
        let ok = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric());
        if !ok(base) || !ok(quote) {
            return None;
        }
        let (b, q) = (base.to_ascii_uppercase(), quote.to_ascii_uppercase());
        Some(match self.market {
            Market::Spot => format!("{b}-{q}"),
            Market::Swap => format!("{b}-{q}-SWAP"),
        })
    }

    /// Only the channels served by [`Protocol::url_for`]'s endpoint for the
    /// same arguments are subscribed: with candles mixed in, candles need a
    /// second connection (ask again with `[Channel::Candles1m]` alone).
    fn subscribe(&self, symbols: &[&str], channels: &[Channel]) -> Vec<String> {
        let url = self.url_for(symbols, channels);
        let mut args = Vec::new();
        for c in channels.iter().filter(|c| endpoint_for(**c) == url) {
            for s in symbols {
                if let Some(inst) = self.venue_symbol(s) {
                    args.push(format!(
                        r#"{{"channel":"{}","instId":"{inst}"}}"#,
                        channel_name(*c)
                    ));
                }
            }
        }
        args.chunks(ARGS_PER_FRAME)
            .map(|chunk| format!(r#"{{"op":"subscribe","args":[{}]}}"#, chunk.join(",")))
            .collect()
    }

    /// Candles on their own connection (to `/business`), the rest together.
    fn connection_groups(&self, channels: &[Channel]) -> Vec<Vec<Channel>> {
        let (candles, public): (Vec<Channel>, Vec<Channel>) = channels
            .iter()
            .partition(|c| endpoint_for(**c) == BUSINESS_URL);
        [public, candles]
            .into_iter()
            .filter(|g| !g.is_empty())
            .collect()
    }

    /// `/business` when every channel is candles, `/public` otherwise.
    fn url_for(&self, _symbols: &[&str], channels: &[Channel]) -> String {
        if !channels.is_empty() && channels.iter().all(|c| *c == Channel::Candles1m) {
            BUSINESS_URL.to_string()
        } else {
            PUBLIC_URL.to_string()
        }
    }

    /// OKX closes a connection after 30 s without traffic; the text `ping`
    /// every 25 s is answered with `pong`.
    fn ping(&self) -> Option<(Duration, String)> {
        Some((Duration::from_secs(25), "ping".to_string()))
    }

    /// OKX limits the subscription text per connection (64 KB) and the
    /// subscribe rate (480 per hour), not the stream count; 200 streams keep
    /// one connection's load and resubscription cost moderate.
    fn max_streams_per_connection(&self) -> usize {
        200
    }
}
