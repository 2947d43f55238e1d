//! Venue adapters: one file (or folder) per venue behind the [`Adapter`]
//! trait, registered in [`adapter_for`].
//!
//! An adapter turns one raw frame into normalized [`Event`]s. It is pure and
//! total: any input gives events or a [`ParseError`], never a panic, and it
//! never does I/O. Connection details (URLs, subscribe messages, pings) live
//! beside the parser so that adding a venue touches one place.

pub mod binance;
pub mod bybit;
pub mod coinbase;
pub mod kraken;
pub mod okx;
pub mod symbols;
pub(crate) mod wire;

use crate::model::{Event, Venue};

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

/// Whether `venue`'s candle stream skips intervals without trades (no
/// candle is pushed for them), so a missing interval is not a gap: Kraken's
/// v2 `ohlc` channel only sends on trades; the other venues push every
/// interval.
pub fn klines_skip_quiet_intervals(venue: Venue) -> bool {
    venue == Venue::Kraken
}

/// How long (seconds) `venue` may by design leave a stream of `kind`
/// without a message while nothing changes: Bybit re-sends an unchanged
/// top of book every 3 s, so a gap up to that (plus delivery jitter) is its
/// rhythm in a calm market, whatever a busy hour taught the stream. 0 where
/// the venue documents no such cadence.
pub fn quiet_cadence_s(venue: Venue, kind: crate::model::StreamKind) -> f64 {
    use crate::model::StreamKind;
    match (venue, kind) {
        (
            Venue::BybitSpot | Venue::BybitLinear,
            StreamKind::Bbo | StreamKind::Depth | StreamKind::PartialDepth,
        ) => 3.5,
        _ => 0.0,
    }
}

/// The adapter for `venue`, or `None` where none exists yet.
pub fn adapter_for(venue: Venue) -> Option<Box<dyn Adapter>> {
    match venue {
        Venue::BinanceSpot | Venue::BinanceUsdm | Venue::BinanceCoinm => {
            Some(Box::new(binance::BinanceAdapter::new(venue)))
        }
        Venue::Coinbase => Some(Box::new(coinbase::CoinbaseAdapter::new())),
        Venue::BybitSpot | Venue::BybitLinear => Some(Box::new(bybit::BybitAdapter::new(venue))),
        Venue::Kraken => Some(Box::new(kraken::KrakenAdapter::new())),
        Venue::Okx => Some(Box::new(okx::OkxAdapter::new())),
        _ => None,
    }
}

/// The connection [`Protocol`] for `venue`, or `None` where none exists yet
/// (the live feed skips such venues with an error naming them).
pub fn protocol_for(venue: Venue) -> Option<Box<dyn Protocol>> {
    match venue {
        Venue::BinanceSpot | Venue::BinanceUsdm | Venue::BinanceCoinm => {
            binance::BinanceProtocol::new(venue).map(|p| Box::new(p) as Box<dyn Protocol>)
        }
        Venue::Coinbase => coinbase::protocol(venue),
        Venue::Kraken => kraken::protocol(venue),
        Venue::Okx => okx::protocol(venue).map(|p| Box::new(p) as Box<dyn Protocol>),
        Venue::BybitSpot | Venue::BybitLinear => {
            bybit::protocol(venue).map(|p| Box::new(p) as Box<dyn Protocol>)
        }
        Venue::Other(_) => None,
    }
}

#[cfg(test)]
mod protocol_tests {
    use super::*;

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
