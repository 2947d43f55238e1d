//! How to reach and subscribe to Kraken's public WebSocket v2 market data,
//! and Kraken's symbol names in both directions.
//!
//! Pure: builds text, never does I/O. Symbols it cannot express are refused
//! (`None` or skipped), never guessed.

use std::time::Duration;

use super::book::VALID_DEPTHS;
use crate::model::Venue;
use crate::venues::symbols::{MAX_RAW_SYMBOL_LEN, SymbolError};
use crate::venues::{Channel, Protocol};

/// Kraken's public WebSocket v2 endpoint.
pub const URL: &str = "wss://ws.kraken.com/v2";

/// The book depth subscribed unless configured otherwise: the checksum
/// covers 10 levels, and 10 is the cheapest depth that carries them.
pub const DEFAULT_BOOK_DEPTH: usize = 10;

/// The Kraken protocol (endpoint, subscriptions, ping) for `venue`, or
/// `None` when `venue` is not Kraken.
pub fn protocol(venue: Venue) -> Option<Box<dyn Protocol>> {
    (venue == Venue::Kraken).then(|| Box::new(KrakenProtocol::default()) as Box<dyn Protocol>)
}

/// Kraken v2 subscriptions for one venue connection.
#[derive(Clone, Debug)]
pub struct KrakenProtocol {
    book_depth: usize,
}

impl Default for KrakenProtocol {
    fn default() -> Self {
        KrakenProtocol {
            book_depth: DEFAULT_BOOK_DEPTH,
        }
    }
}

impl KrakenProtocol {
    /// Subscribes books at `depth` levels, rounded up to one Kraken accepts
    /// (10, 25, 100, 500, 1000; larger values become 1000).
    pub fn with_book_depth(depth: usize) -> Self {
        let book_depth = VALID_DEPTHS
            .iter()
            .copied()
            .find(|&d| d >= depth)
            .unwrap_or(1000);
        KrakenProtocol { book_depth }
    }

    /// The book depth subscribed.
    pub fn book_depth(&self) -> usize {
        self.book_depth
    }
}

/// Whether `part` is a plausible asset code (ASCII letters and digits).
fn asset_ok(part: &str) -> bool {
    !part.is_empty() && part.len() <= 16 && part.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Kraken's legacy asset codes that v1 and REST still use, mapped to the
/// names v2 and every other venue use.
fn modern_asset(code: &str) -> &str {
    match code {
        "XBT" => "BTC",
        "XDG" => "DOGE",
        other => other,
    }
}

/// The canonical `BASE/QUOTE` for a Kraken wsname (`BTC/USD`, or the v1
/// spelling `XBT/USD`, any ASCII case): uppercase, with `XBT` -> `BTC` and
/// `XDG` -> `DOGE`.
pub fn kraken_canonical(raw: &str) -> Result<String, SymbolError> {
    let fail = |why: &str| SymbolError(format!("cannot read Kraken symbol {raw:?}: {why}"));
    if raw.len() > MAX_RAW_SYMBOL_LEN {
        return Err(fail("too long"));
    }
    let Some((base, quote)) = raw.split_once('/') else {
        return Err(fail("expected BASE/QUOTE"));
    };
    if !asset_ok(base) || !asset_ok(quote) {
        return Err(fail("base and quote must be ASCII letters and digits"));
    }
    let base = base.to_ascii_uppercase();
    let quote = quote.to_ascii_uppercase();
    Ok(format!("{}/{}", modern_asset(&base), modern_asset(&quote)))
}

/// Builds one subscribe request (`symbols` already in Kraken's spelling).
fn request(channel_params: &str, symbols: &[String], req_id: usize) -> String {
    let list = symbols
        .iter()
        .map(|s| format!("\"{s}\""))
        .collect::<Vec<_>>()
        .join(",");
    format!(
        "{{\"method\":\"subscribe\",\"params\":{{{channel_params},\"symbol\":[{list}]}},\"req_id\":{req_id}}}"
    )
}

impl Protocol for KrakenProtocol {
    fn venue(&self) -> Venue {
        Venue::Kraken
    }

    fn url(&self) -> String {
        URL.to_string()
    }

    /// v2 spells symbols like the canonical form (`BTC/USD`); only the
    /// shape is checked, Kraken itself refuses pairs it does not list.
    fn venue_symbol(&self, canonical: &str) -> Option<String> {
        let (base, quote) = canonical.split_once('/')?;
        (asset_ok(base) && asset_ok(quote)).then(|| canonical.to_ascii_uppercase())
    }

    /// One request per channel carrying every symbol. Trades are
    /// subscribed without the snapshot of past trades (history, not live
    /// data); the ticker fires on best bid/offer changes (`bbo`).
    fn subscribe(&self, symbols: &[&str], channels: &[Channel]) -> Vec<String> {
        let names: Vec<String> = symbols
            .iter()
            .filter_map(|s| self.venue_symbol(s))
            .collect();
        if names.is_empty() {
            return Vec::new();
        }
        channels
            .iter()
            .enumerate()
            .map(|(i, ch)| {
                let params = match ch {
                    Channel::Book => {
                        format!("\"channel\":\"book\",\"depth\":{}", self.book_depth)
                    }
                    Channel::Trades => "\"channel\":\"trade\",\"snapshot\":false".to_string(),
                    Channel::Bbo => "\"channel\":\"ticker\",\"event_trigger\":\"bbo\"".to_string(),
                    Channel::Candles1m => "\"channel\":\"ohlc\",\"interval\":1".to_string(),
                };
                request(&params, &names, i + 1)
            })
            .collect()
    }

    /// Kraken sends a heartbeat about once a second when nothing else is
    /// sent; an application ping every 30 s also proves the request path.
    fn ping(&self) -> Option<(Duration, String)> {
        Some((Duration::from_secs(30), "{\"method\":\"ping\"}".to_string()))
    }

    /// Kraken publishes no hard per-connection subscription limit, only
    /// request rate limits; 200 streams keeps one connection's traffic and
    /// the burst of snapshots on connect moderate.
    fn max_streams_per_connection(&self) -> usize {
        200
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_maps_legacy_codes() {
        assert_eq!(kraken_canonical("BTC/USD").unwrap(), "BTC/USD");
        assert_eq!(kraken_canonical("XBT/USD").unwrap(), "BTC/USD");
        assert_eq!(kraken_canonical("ADA/XBT").unwrap(), "ADA/BTC");
        assert_eq!(kraken_canonical("xdg/eur").unwrap(), "DOGE/EUR");
        for bad in ["", "BTCUSD", "/USD", "BTC/", "BTC/US D", "A/B/C", "BTC-USD"] {
            assert!(kraken_canonical(bad).is_err(), "{bad}");
        }
        assert!(kraken_canonical(&format!("{}/USD", "A".repeat(70))).is_err());
    }

    #[test]
    fn subscribe_frames_per_channel() {
        let p = KrakenProtocol::default();
        assert_eq!(p.url(), "wss://ws.kraken.com/v2");
        let frames = p.subscribe(
            &["BTC/USD", "ETH/EUR", "bad"],
            &[
                Channel::Book,
                Channel::Trades,
                Channel::Bbo,
                Channel::Candles1m,
            ],
        );
        assert_eq!(
            frames,
            [
                r#"{"method":"subscribe","params":{"channel":"book","depth":10,"symbol":["BTC/USD","ETH/EUR"]},"req_id":1}"#,
                r#"{"method":"subscribe","params":{"channel":"trade","snapshot":false,"symbol":["BTC/USD","ETH/EUR"]},"req_id":2}"#,
                r#"{"method":"subscribe","params":{"channel":"ticker","event_trigger":"bbo","symbol":["BTC/USD","ETH/EUR"]},"req_id":3}"#,
                r#"{"method":"subscribe","params":{"channel":"ohlc","interval":1,"symbol":["BTC/USD","ETH/EUR"]},"req_id":4}"#,
            ]
        );
        for f in &frames {
            assert!(
                serde_json::from_str::<serde::de::IgnoredAny>(f).is_ok(),
                "{f}"
            );
        }
        assert!(p.subscribe(&["nope"], &[Channel::Book]).is_empty());
        assert_eq!(KrakenProtocol::with_book_depth(11).book_depth(), 25);
        assert_eq!(KrakenProtocol::with_book_depth(5000).book_depth(), 1000);
        let (every, ping) = p.ping().unwrap();
        assert_eq!(every, Duration::from_secs(30));
        assert_eq!(ping, r#"{"method":"ping"}"#);
        assert_eq!(p.venue_symbol("btc/usd").as_deref(), Some("BTC/USD"));
        assert_eq!(p.venue_symbol("BTCUSD"), None);
    }
}
