//! Venue adapters and everything else that differs per venue: one folder
//! per venue, every folder of one shape, listed once in [`REGISTRY`].
//!
//! A folder `venues/<name>/` holds `mod.rs` (the [`Adapter`]: frame text to
//! normalized [`Event`]s, and the folder's [`VenueSpec`]s), `protocol.rs`
//! (the [`Protocol`]: URL, subscribe frames, ping, resync), `wire.rs`
//! (serde wire structs) and `tests.rs`, plus files for concepts of its own
//! (a checksum, a string book, a byte scanner, a time parser, a legacy
//! feed). Code outside this module never matches on a venue: it asks
//! [`spec`] (or the lookups built on it here) for the fact it needs.
//! Adding a venue is its folder, one line in [`REGISTRY`], and its id in
//! `model::Venue`.
//!
//! An adapter turns one raw frame into normalized [`Event`]s. It is pure and
//! total: any input gives events or a [`ParseError`], never a panic, and it
//! never does I/O. Nothing here does I/O: protocols build text the live
//! feed sends. This module imports only `model` and `state`.

pub mod binance;
pub mod bybit;
pub mod coinbase;
pub mod kraken;
pub mod okx;
pub mod symbols;
pub(crate) mod wire;

use crate::model::{Event, Market, StreamKind, Venue};

/// Why a frame gave no events.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The frame is not valid for this venue (bad JSON, missing or mistyped
    /// field). The message names the field at fault.
    #[error("malformed {venue} frame: {detail}")]
    Malformed {
        /// Venue whose parser rejected the frame.
        venue: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// Well-formed, but a message type this adapter does not know.
    #[error("unknown {venue} message: {detail}")]
    Unknown {
        /// Venue.
        venue: &'static str,
        /// The message type or stream name seen.
        detail: String,
    },
}

/// The value of `name=` in a REST request's query string (non-empty).
pub(crate) fn query_param<'a>(request: &'a str, name: &str) -> Option<&'a str> {
    let (_, query) = request.split_once('?')?;
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
        .filter(|s| !s.is_empty())
}

impl ParseError {
    /// A frame `venue`'s parser rejected; `detail` names the field at fault.
    pub fn malformed(venue: Venue, detail: impl Into<String>) -> Self {
        ParseError::Malformed {
            venue: venue.id(),
            detail: detail.into(),
        }
    }

    /// A well-formed message of a type `venue`'s adapter does not know.
    pub fn unknown(venue: Venue, detail: impl Into<String>) -> Self {
        ParseError::Unknown {
            venue: venue.id(),
            detail: detail.into(),
        }
    }
}

/// What a frame was, when it carried no market data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Market data: events were pushed.
    Data,
    /// A venue heartbeat or pong: proves the connection, not the data.
    Heartbeat,
    /// A subscription acknowledgement or other control reply.
    Ack,
}

/// Translates one venue's frames into events.
pub trait Adapter: Send {
    /// Which venue this adapter speaks for.
    fn venue(&self) -> Venue;

    /// Parses one received text frame, pushing any events onto `out`.
    fn parse_frame(&mut self, frame: &str, out: &mut Vec<Event>) -> Result<Control, ParseError>;

    /// Parses a REST response (e.g. a depth snapshot) fetched with `request`
    /// (path and query, e.g. `/api/v3/depth?symbol=BTCUSDT&limit=1000`).
    fn parse_rest(
        &mut self,
        request: &str,
        body: &str,
        out: &mut Vec<Event>,
    ) -> Result<Control, ParseError>;
}

/// What a consumer subscribes to for one symbol.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Channel {
    /// Individual trades.
    Trades,
    /// The incremental L2 order book (snapshot + diffs).
    Book,
    /// Best bid and offer.
    Bbo,
    /// One-minute candles.
    Candles1m,
}

/// How to talk to one venue's public market-data WebSocket: where, how to
/// subscribe, how to keep the connection alive. Pure: builds text, does no
/// I/O (the live feed sends what this returns).
pub trait Protocol: Send + Sync {
    /// The venue.
    fn venue(&self) -> Venue;
    /// The public production endpoint (a config may point it elsewhere, e.g.
    /// at the local simulator).
    fn url(&self) -> String;
    /// The venue's own name for a canonical `BASE/QUOTE` symbol (e.g.
    /// `BTC/USDT` -> `BTCUSDT`, `BTC-USDT`, `BTC/USD`), or `None` if it cannot
    /// be expressed.
    fn venue_symbol(&self, canonical: &str) -> Option<String>;
    /// Text frames to send after connecting, subscribing `symbols`
    /// (canonical) to `channels`. Empty when the venue subscribes through the
    /// URL instead (see [`Protocol::url_for`]).
    fn subscribe(&self, symbols: &[&str], channels: &[Channel]) -> Vec<String>;
    /// The URL to connect to for these subscriptions (venues that subscribe
    /// in the URL, like Binance combined streams, override this).
    fn url_for(&self, _symbols: &[&str], _channels: &[Channel]) -> String {
        self.url()
    }
    /// An application-level ping frame and how often to send it, for venues
    /// that want one (WebSocket-level pings are the feed's business).
    fn ping(&self) -> Option<(std::time::Duration, String)>;
    /// Most streams (symbol x channel) one connection may carry.
    fn max_streams_per_connection(&self) -> usize;
    /// How long the venue keeps a connection open before closing it
    /// (Binance: 24 h); the feed opens a replacement before this.
    fn max_connection_age(&self) -> Option<std::time::Duration> {
        None
    }
    /// The channels that share one connection, in groups: one connection
    /// per group (OKX serves candles on another endpoint than books and
    /// trades). By default all channels share one.
    fn connection_groups(&self, channels: &[Channel]) -> Vec<Vec<Channel>> {
        vec![channels.to_vec()]
    }
    /// How to get a fresh snapshot of one symbol's book on a live
    /// connection. By default: resubscribe its book channel (the venues
    /// that send a snapshot on subscribe), i.e. the subscribe frames with
    /// their `"subscribe"` operation turned into `"unsubscribe"`, then the
    /// subscribe frames again.
    fn resync(&self, canonical: &str) -> Option<Resync> {
        let sub = self.subscribe(&[canonical], &[Channel::Book]);
        if sub.is_empty() {
            return None;
        }
        let mut frames: Vec<String> = sub
            .iter()
            .map(|f| f.replacen("\"subscribe\"", "\"unsubscribe\"", 1))
            .collect();
        frames.extend(sub);
        Some(Resync::Frames(frames))
    }
}

/// A way to rebuild one book, per venue (see [`Protocol::resync`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resync {
    /// GET `base` + `request` (e.g. `https://api.binance.com` and
    /// `/api/v3/depth?symbol=BTCUSDT&limit=1000`); the body is a snapshot
    /// for [`Adapter::parse_rest`] with the same `request`.
    Rest {
        /// Scheme and authority of the production REST API.
        base: String,
        /// Path and query.
        request: String,
    },
    /// Send these frames on the connection, in order.
    Frames(Vec<String>),
}

/// What the rest of feedwatch needs to know about one venue: the facts
/// that code outside `src/venues/` would otherwise match on the venue for,
/// and how to build the venue's [`Adapter`] and [`Protocol`]. Each venue
/// folder returns its specs (`SPECS`, one per [`Venue`] it serves);
/// [`REGISTRY`] lists the folders.
#[derive(Clone, Copy, Debug)]
pub struct VenueSpec {
    /// The venue.
    pub venue: Venue,
    /// The exchange it belongs to, an outage tag: Binance's spot and futures
    /// venues are one exchange, `binance`.
    pub exchange: &'static str,
    /// Spot or perpetual: an outage tag, and which venues' prices are
    /// compared when spot and perp are not mixed.
    pub market: Market,
    /// The quote currency of the venue's main markets: the live feed watches
    /// `BTC/<quote>` and `ETH/<quote>` there by default.
    pub main_quote: &'static str,
    /// Hosting provider and region (an outage tag), where the venue's own
    /// incident reports named them; the default of `[outage] hosting`.
    pub hosting: Option<&'static str>,
    /// How long (seconds) the venue may by design leave a top-of-book or
    /// depth stream without a message while nothing changes (Bybit re-sends
    /// an unchanged top of book every 3 s); 0 where it documents no such
    /// cadence. See [`VenueSpec::quiet_cadence_s`].
    pub book_quiet_cadence_s: f64,
    /// Whether the venue's candle stream skips intervals without trades (no
    /// candle is pushed for them), so a missing interval is not a gap.
    pub sparse_klines: bool,
    /// Where books are rebuilt from a REST depth snapshot, if they are.
    pub rest_depth: Option<RestDepth>,
    /// A fresh adapter for the venue.
    pub adapter: fn(Venue) -> Box<dyn Adapter>,
    /// The venue's connection protocol (`None`: a venue read from
    /// recordings only, with no live feed).
    pub protocol: fn(Venue) -> Option<Box<dyn Protocol>>,
}

/// A venue's production REST depth snapshot endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RestDepth {
    /// Scheme and authority of the production REST API
    /// (`https://api.binance.com`).
    pub base: &'static str,
    /// Path of the depth request, without its query (`/api/v3/depth`).
    pub path: &'static str,
}

impl VenueSpec {
    /// How long (seconds) the venue may by design leave a stream of `kind`
    /// without a message in a calm market, whatever a busy hour taught the
    /// stream: [`VenueSpec::book_quiet_cadence_s`] for best bid/offer and
    /// book streams, 0 for the others.
    pub fn quiet_cadence_s(&self, kind: StreamKind) -> f64 {
        match kind {
            StreamKind::Bbo | StreamKind::Depth | StreamKind::PartialDepth => {
                self.book_quiet_cadence_s
            }
            _ => 0.0,
        }
    }
}

/// Every venue with an adapter: one line per venue folder.
pub const REGISTRY: &[&[VenueSpec]] = &[
    binance::SPECS,
    coinbase::SPECS,
    kraken::SPECS,
    okx::SPECS,
    bybit::SPECS,
];

/// Every registered venue's spec, in registry order.
pub fn specs() -> impl Iterator<Item = &'static VenueSpec> {
    REGISTRY.iter().flat_map(|folder| folder.iter())
}

/// The spec of `venue`, or `None` for a venue no folder serves (a history
/// venue such as `gemini`).
pub fn spec(venue: Venue) -> Option<&'static VenueSpec> {
    specs().find(|s| s.venue == venue)
}

/// The exchange `venue` belongs to: its spec's, else (a history venue) its
/// own id.
pub fn exchange_of(venue: Venue) -> &'static str {
    spec(venue).map_or(venue.id(), |s| s.exchange)
}

/// The market of `venue`: its spec's; history venues are taken as spot.
pub fn market_of(venue: Venue) -> Market {
    spec(venue).map_or(Market::Spot, |s| s.market)
}

/// Whether `venue`'s candle stream skips intervals without trades (see
/// [`VenueSpec::sparse_klines`]); `false` for history venues.
pub fn klines_skip_quiet_intervals(venue: Venue) -> bool {
    spec(venue).is_some_and(|s| s.sparse_klines)
}

/// How long (seconds) `venue` may by design leave a stream of `kind`
/// without a message while nothing changes (see
/// [`VenueSpec::quiet_cadence_s`]); 0 for history venues.
pub fn quiet_cadence_s(venue: Venue, kind: StreamKind) -> f64 {
    spec(venue).map_or(0.0, |s| s.quiet_cadence_s(kind))
}

/// The adapter for `venue`, or `None` where none exists.
pub fn adapter_for(venue: Venue) -> Option<Box<dyn Adapter>> {
    spec(venue).map(|s| (s.adapter)(venue))
}

/// The connection [`Protocol`] for `venue`, or `None` where none exists
/// (the live feed skips such venues with an error naming them).
pub fn protocol_for(venue: Venue) -> Option<Box<dyn Protocol>> {
    spec(venue).and_then(|s| (s.protocol)(venue))
}

#[cfg(test)]
mod protocol_tests {
    use super::*;
    use crate::model::KNOWN_VENUES;

    #[test]
    fn every_known_venue_is_registered_once() {
        for v in KNOWN_VENUES {
            assert_eq!(specs().filter(|s| s.venue == v).count(), 1, "{v}");
            let s = spec(v).unwrap();
            assert_eq!(adapter_for(v).unwrap().venue(), v);
            assert_eq!(protocol_for(v).unwrap().venue(), v);
            assert!(!s.exchange.is_empty() && !s.main_quote.is_empty(), "{v}");
        }
        assert_eq!(specs().count(), KNOWN_VENUES.len());
        let gemini = Venue::parse_any("gemini").unwrap();
        assert!(spec(gemini).is_none() && adapter_for(gemini).is_none());
        assert_eq!(exchange_of(gemini), "gemini");
        assert_eq!(market_of(gemini), Market::Spot);
        assert_eq!(quiet_cadence_s(gemini, StreamKind::Bbo), 0.0);
    }

    #[test]
    fn facts_per_venue() {
        let exchange: Vec<&str> = KNOWN_VENUES.iter().map(|v| exchange_of(*v)).collect();
        assert_eq!(
            exchange,
            [
                "binance", "binance", "binance", "coinbase", "kraken", "okx", "bybit", "bybit"
            ]
        );
        let perp: Vec<Venue> = KNOWN_VENUES
            .into_iter()
            .filter(|v| market_of(*v) == Market::Perp)
            .collect();
        assert_eq!(
            perp,
            [Venue::BinanceUsdm, Venue::BinanceCoinm, Venue::BybitLinear]
        );
        for v in KNOWN_VENUES {
            let bybit = matches!(v, Venue::BybitSpot | Venue::BybitLinear);
            for kind in [StreamKind::Bbo, StreamKind::Depth, StreamKind::PartialDepth] {
                assert_eq!(quiet_cadence_s(v, kind), if bybit { 3.5 } else { 0.0 });
            }
            assert_eq!(quiet_cadence_s(v, StreamKind::Trade), 0.0);
            assert_eq!(klines_skip_quiet_intervals(v), v == Venue::Kraken);
        }
    }

    #[test]
    fn books_of_subscribe_venues_resync_by_unsubscribing_and_subscribing() {
        for venue in [
            Venue::Coinbase,
            Venue::Kraken,
            Venue::Okx,
            Venue::BybitSpot,
            Venue::BybitLinear,
        ] {
            let p = protocol_for(venue).unwrap();
            let sym = if venue == Venue::Coinbase || venue == Venue::Kraken {
                "BTC/USD"
            } else {
                "BTC/USDT"
            };
            let Some(Resync::Frames(frames)) = p.resync(sym) else {
                panic!("{venue}: no resubscription");
            };
            let sub = p.subscribe(&[sym], &[Channel::Book]);
            assert_eq!(frames.len(), 2 * sub.len(), "{venue}: {frames:?}");
            let (unsub, resub) = frames.split_at(sub.len());
            assert_eq!(resub, sub.as_slice(), "{venue}");
            for f in unsub {
                assert!(f.contains("\"unsubscribe\""), "{venue}: {f}");
                assert!(!f.contains("\"subscribe\""), "{venue}: {f}");
                serde_json::from_str::<serde::de::IgnoredAny>(f).unwrap();
            }
            assert_eq!(p.resync("NOT A SYMBOL"), None, "{venue}");
        }
    }
}
