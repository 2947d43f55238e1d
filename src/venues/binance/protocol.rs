//! How to talk to Binance's public market-data WebSockets (spot, USD-M,
//! COIN-M): endpoints, venue symbol names and combined-stream URLs.
//!
//! Binance subscribes through the URL (`/stream?streams=a/b/c`), so
//! [`Protocol::subscribe`] returns nothing and [`Protocol::url_for`] carries
//! the subscription. Pure: builds text, never does I/O, never panics.

use crate::model::Venue;
#[cfg(doc)]
use crate::venues::RestDepth;
use crate::venues::{Channel, Protocol, Resync};
use std::time::Duration;

/// The Binance [`Protocol`] for one of the three Binance venues.
#[derive(Clone, Debug)]
pub struct BinanceProtocol {
    venue: Venue,
}

impl BinanceProtocol {
    /// The protocol for `venue`, or `None` if it is not a Binance venue.
    pub fn new(venue: Venue) -> Option<BinanceProtocol> {
        matches!(
            venue,
            Venue::BinanceSpot | Venue::BinanceUsdm | Venue::BinanceCoinm
        )
        .then_some(BinanceProtocol { venue })
    }

    /// The lowercase stream names for `symbols` x `channels`, in that order.
    pub fn streams(&self, symbols: &[&str], channels: &[Channel]) -> Vec<String> {
        let depth = match self.venue {
            // Spot's fastest diff depth is 100 ms; futures offer every
            // update (`@0ms`).
            Venue::BinanceSpot => "depth@100ms",
            _ => "depth@0ms",
        };
        let mut out = Vec::with_capacity(symbols.len() * channels.len());
        for s in symbols {
            let Some(raw) = self.venue_symbol(s) else {
                continue;
            };
            let raw = raw.to_ascii_lowercase();
            for c in channels {
                let name = match c {
                    Channel::Trades => "trade",
                    Channel::Book => depth,
                    Channel::Bbo => "bookTicker",
                    Channel::Candles1m => "kline_1m",
                };
                out.push(format!("{raw}@{name}"));
            }
        }
        out
    }
}

impl Protocol for BinanceProtocol {
    fn venue(&self) -> Venue {
        self.venue
    }

    fn url(&self) -> String {
        match self.venue {
            Venue::BinanceUsdm => "wss://fstream.binance.com/stream",
            Venue::BinanceCoinm => "wss://dstream.binance.com/stream",
            _ => "wss://stream.binance.com:9443/stream",
        }
        .to_string()
    }

    fn venue_symbol(&self, canonical: &str) -> Option<String> {
        let (base, quote) = canonical.split_once('/')?;
        let ok = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric());
        if !ok(base) || !ok(quote) {
            return None;
        }
        let (base, quote) = (base.to_ascii_uppercase(), quote.to_ascii_uppercase());
        match self.venue {
            // COIN-M lists coin-margined perpetuals as `BTCUSD_PERP`; only
            // USD-quoted contracts exist.
            Venue::BinanceCoinm => (quote == "USD").then(|| format!("{base}{quote}_PERP")),
            _ => Some(format!("{base}{quote}")),
        }
    }

    fn subscribe(&self, _symbols: &[&str], _channels: &[Channel]) -> Vec<String> {
        Vec::new()
    }

    fn url_for(&self, symbols: &[&str], channels: &[Channel]) -> String {
        format!(
            "{}?streams={}",
            self.url(),
            self.streams(symbols, channels).join("/")
        )
    }

    fn ping(&self) -> Option<(Duration, String)> {
        // Binance pings at the WebSocket level and needs no application ping.
        None
    }

    fn max_streams_per_connection(&self) -> usize {
        // Binance allows 1024 streams per connection (spot and futures).
        1024
    }

    /// Binance disconnects every connection after 24 hours.
    fn max_connection_age(&self) -> Option<Duration> {
        Some(Duration::from_secs(24 * 3600))
    }

    /// Binance diff-depth books are rebuilt from a REST snapshot (its
    /// documented procedure) at the spec's [`RestDepth`]; 1,000 levels, the most that every Binance
    /// market serves at a moderate request weight.
    fn resync(&self, canonical: &str) -> Option<Resync> {
        let sym = self.venue_symbol(canonical)?;
        let rest = super::SPECS
            .iter()
            .find(|s| s.venue == self.venue)?
            .rest_depth?;
        Some(Resync::Rest {
            base: rest.base.to_string(),
            request: format!("{}?symbol={sym}&limit=1000", rest.path),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Channel; 4] = [
        Channel::Trades,
        Channel::Bbo,
        Channel::Book,
        Channel::Candles1m,
    ];

    #[test]
    fn combined_stream_urls_per_venue() {
        let spot = BinanceProtocol::new(Venue::BinanceSpot).unwrap();
        assert_eq!(
            spot.url_for(&["BTC/USDT"], &ALL),
            "wss://stream.binance.com:9443/stream?streams=btcusdt@trade/btcusdt@bookTicker/btcusdt@depth@100ms/btcusdt@kline_1m"
        );
        let usdm = BinanceProtocol::new(Venue::BinanceUsdm).unwrap();
        assert_eq!(
            usdm.url_for(&["ETH/USDT"], &[Channel::Book]),
            "wss://fstream.binance.com/stream?streams=ethusdt@depth@0ms"
        );
        let coinm = BinanceProtocol::new(Venue::BinanceCoinm).unwrap();
        assert_eq!(
            coinm.url_for(&["BTC/USD"], &[Channel::Trades]),
            "wss://dstream.binance.com/stream?streams=btcusd_perp@trade"
        );
        assert!(spot.subscribe(&["BTC/USDT"], &ALL).is_empty());
    }

    #[test]
    fn symbols_that_cannot_be_expressed_are_refused() {
        let coinm = BinanceProtocol::new(Venue::BinanceCoinm).unwrap();
        assert_eq!(coinm.venue_symbol("BTC/USDT"), None);
        let spot = BinanceProtocol::new(Venue::BinanceSpot).unwrap();
        assert_eq!(spot.venue_symbol("BTCUSDT"), None);
        assert_eq!(spot.venue_symbol("BTC/"), None);
        assert_eq!(spot.venue_symbol("BT C/USDT"), None);
        assert_eq!(spot.venue_symbol("eth/usdt").as_deref(), Some("ETHUSDT"));
        assert!(BinanceProtocol::new(Venue::Kraken).is_none());
    }

    #[test]
    fn books_resync_from_the_rest_snapshot_of_each_market() {
        let rest = |v, s| BinanceProtocol::new(v).unwrap().resync(s);
        assert_eq!(
            rest(Venue::BinanceSpot, "BTC/USDT"),
            Some(Resync::Rest {
                base: "https://api.binance.com".into(),
                request: "/api/v3/depth?symbol=BTCUSDT&limit=1000".into()
            })
        );
        assert_eq!(
            rest(Venue::BinanceCoinm, "ETH/USD"),
            Some(Resync::Rest {
                base: "https://dapi.binance.com".into(),
                request: "/dapi/v1/depth?symbol=ETHUSD_PERP&limit=1000".into()
            })
        );
        assert!(
            matches!(rest(Venue::BinanceUsdm, "BTC/USDT"), Some(Resync::Rest { base, .. }) if base == "https://fapi.binance.com")
        );
        assert_eq!(rest(Venue::BinanceCoinm, "BTC/USDT"), None);
    }
}
