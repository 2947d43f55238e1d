//! Binance spot, USD-M and COIN-M market data: turns combined-stream
//! envelopes, raw-stream payloads, control replies and REST depth snapshots
//! into normalized [`Event`]s.
//!
//! Message types handled: `depthUpdate` (diff depth, spot and futures with
//! `pu`), partial depth (`<sym>@depth5|10|20[@speed]`, spot and futures),
//! `bookTicker`, `trade`, `aggTrade` and `kline`. Everything else that is
//! well-formed (mark price, tickers, continuous klines, `serverShutdown`) is
//! [`ParseError::Unknown`] naming the event type or stream.
//!
//! The parser is pure and total: it never panics, never does I/O, pushes
//! events only when the whole frame parsed, and costs no allocation per
//! frame for the symbol (interned in a bounded cache). All Binance times are
//! milliseconds and become [`Nanos`] with checked arithmetic. Level arrays
//! are read into scratch vectors the adapter keeps, then copied once into an
//! exactly sized `Vec` per side for the event (the event owns its levels).
//!
//! Two readers fill the same intermediate frame: a byte scanner (`fast`)
//! for the hot combined-stream shapes (bookTicker, trade, aggTrade, diff
//! depth), and the serde reader (`wire`) for everything else and for any
//! frame the scanner finds the least bit unusual. One interpretation then
//! builds the events, so the two can never disagree on a result.

mod fast;
mod protocol;
mod wire;

use std::borrow::Cow;

use super::symbols::{SymbolCache, binance_canonical};
use super::{Adapter, Control, ParseError, Protocol, RestDepth, VenueSpec};
use crate::model::ms_to_ns;
use crate::model::{
    Candle, DepthDiff, DepthSnapshot, Event, Level, Market, Nanos, Payload, Quote, StreamKind,
    Symbol, Trade, Venue, parse_interval,
};
pub use protocol::BinanceProtocol;
use wire::{Body, Data, Frame, Side, State};

/// Binance spot: what the rest of feedwatch needs to know about it.
const SPOT: VenueSpec = VenueSpec {
    venue: Venue::BinanceSpot,
    exchange: "binance",
    market: Market::Spot,
    main_quote: "USDT",
    // Binance's 2025-04-15 incident report: AWS Tokyo.
    hosting: Some("aws:ap-northeast-1"),
    book_quiet_cadence_s: 0.0,
    sparse_klines: false,
    rest_depth: Some(RestDepth {
        base: "https://api.binance.com",
        path: "/api/v3/depth",
    }),
    adapter: |venue| Box::new(BinanceAdapter::new(venue)),
    protocol: |venue| BinanceProtocol::new(venue).map(|p| Box::new(p) as Box<dyn Protocol>),
};

/// The three Binance venues (the futures ones differ from spot in market
/// and REST endpoint only).
pub const SPECS: &[VenueSpec] = &[
    SPOT,
    VenueSpec {
        venue: Venue::BinanceUsdm,
        market: Market::Perp,
        rest_depth: Some(RestDepth {
            base: "https://fapi.binance.com",
            path: "/fapi/v1/depth",
        }),
        ..SPOT
    },
    VenueSpec {
        venue: Venue::BinanceCoinm,
        market: Market::Perp,
        main_quote: "USD",
        rest_depth: Some(RestDepth {
            base: "https://dapi.binance.com",
            path: "/dapi/v1/depth",
        }),
        ..SPOT
    },
];

/// Parser for Binance combined-stream and raw-stream frames of one venue
/// (spot, USD-M or COIN-M; the wire formats differ only in optional fields).
pub struct BinanceAdapter {
    venue: Venue,
    symbols: SymbolCache,
    state: State,
    /// Frames the byte scanner took (tests check it takes the hot ones).
    #[cfg(test)]
    fast_frames: usize,
}

/// What a stream name says the payload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StreamType {
    Trade,
    AggTrade,
    BookTicker,
    DiffDepth,
    PartialDepth,
    Kline,
}

impl BinanceAdapter {
    /// An adapter for one of the three Binance venues.
    pub fn new(venue: Venue) -> Self {
        BinanceAdapter {
            venue,
            symbols: SymbolCache::new(binance_canonical, SymbolCache::DEFAULT_CAPACITY),
            state: State::default(),
            #[cfg(test)]
            fast_frames: 0,
        }
    }

    fn malformed(&self, detail: impl Into<String>) -> ParseError {
        ParseError::malformed(self.venue, detail)
    }

    fn unknown(&self, detail: impl Into<String>) -> ParseError {
        ParseError::unknown(self.venue, detail)
    }

    /// Runs the wire parser into `fr`, naming the field at fault on error.
    fn parse_wire<'a>(&mut self, text: &'a str, fr: &mut Frame<'a>) -> Result<(), ParseError> {
        match wire::parse(text, &mut self.state, fr) {
            Ok(()) => Ok(()),
            Err(e) => {
                let detail = if self.state.field.is_empty() {
                    e.to_string()
                } else {
                    format!("field `{}`: {e}", self.state.field)
                };
                Err(self.malformed(detail))
            }
        }
    }

    fn symbol(&mut self, field: &str, raw: &str) -> Result<Symbol, ParseError> {
        match self.symbols.get(raw) {
            Ok(s) => Ok(s),
            Err(e) => Err(self.malformed(format!("field `{field}`: {e}"))),
        }
    }

    fn error_reply(&self, code: Option<i64>, msg: Option<&str>) -> ParseError {
        let code = code.map_or_else(|| "?".to_string(), |c| c.to_string());
        self.unknown(format!(
            "error reply code {code}: {}",
            msg.unwrap_or("(no msg)")
        ))
    }

    fn interpret(&mut self, fr: &Frame<'_>, out: &mut Vec<Event>) -> Result<Control, ParseError> {
        let Frame {
            stream,
            data,
            top_level_payload,
            body,
            result,
            id,
            code,
            msg,
        } = fr;
        let (data, top_level_payload, result, id, code) =
            (*data, *top_level_payload, *result, *id, *code);
        if let Some(stream) = stream {
            if top_level_payload {
                return Err(self.malformed(format!(
                    "stream `{stream}` envelope also has payload fields at the top level"
                )));
            }
            match data {
                Data::Object => {}
                Data::Array => return Err(self.unknown(format!("stream `{stream}`"))),
                Data::Absent => return Err(self.malformed("missing field `data`")),
            }
            let (raw_sym, ty) = match classify_stream(stream) {
                Some(x) => x,
                None => return Err(self.unknown(format!("stream `{stream}`"))),
            };
            if let Some(e) = body.event.as_deref()
                && !event_fits(ty, e)
            {
                return Err(self.malformed(format!("field `e`: event `{e}` on stream `{stream}`")));
            }
            return self.emit(ty, Some(raw_sym), body, out);
        }
        if data != Data::Absent {
            return Err(self.malformed("missing field `stream` beside `data`"));
        }
        if code.is_some() || msg.is_some() {
            return Err(self.error_reply(code, msg.as_deref()));
        }
        let top = body;
        let ty = match top.event.as_deref() {
            Some("depthUpdate") => StreamType::DiffDepth,
            Some("trade") => StreamType::Trade,
            Some("aggTrade") => StreamType::AggTrade,
            Some("bookTicker") => StreamType::BookTicker,
            Some("kline") => StreamType::Kline,
            Some(other) => return Err(self.unknown(format!("event `{other}`"))),
            None if result && id => return Ok(Control::Ack),
            // Spot bookTicker carries no `e`: recognise it by its fields.
            None if matches!(top.b, Side::Price(_)) && top.bid_qty.is_some() => {
                StreamType::BookTicker
            }
            None if top.last_update_id.is_some() && (top.bids || top.asks) => {
                return Err(self.malformed(
                    "field `s`: partial depth payload has no symbol without a stream name",
                ));
            }
            None => return Err(self.unknown("message without event type or stream")),
        };
        self.emit(ty, None, top, out)
    }

    /// Builds the event for a payload of known type. `stream_sym` is the
    /// (lowercase) symbol from the stream name, used when the payload has no
    /// `s`.
    fn emit(
        &mut self,
        ty: StreamType,
        stream_sym: Option<&str>,
        b: &Body<'_>,
        out: &mut Vec<Event>,
    ) -> Result<Control, ParseError> {
        let symbol = match (b.symbol.as_deref(), stream_sym) {
            (Some(s), _) => self.symbol("s", s)?,
            (None, Some(s)) => self.symbol("stream", s)?,
            (None, None) => return Err(self.malformed("missing field `s`")),
        };
        let (stream, payload) = match ty {
            StreamType::Trade | StreamType::AggTrade => {
                let id = if ty == StreamType::Trade {
                    self.need("t", b.trade_id)?
                } else {
                    match b.a {
                        Side::Id(id) => id,
                        Side::Absent => return Err(self.malformed("missing field `a`")),
                        _ => {
                            return Err(self.malformed("field `a`: expected an aggregate trade id"));
                        }
                    }
                };
                let trade = Trade {
                    price: self.need("p", b.price)?,
                    qty: self.need("q", b.qty)?,
                    id: Some(id),
                    exch_ns: Some(self.time("T", b.trade_ms)?),
                    event_ns: Some(self.time("E", b.event_ms)?),
                };
                let kind = if ty == StreamType::Trade {
                    StreamKind::Trade
                } else {
                    StreamKind::AggTrade
                };
                (kind, Payload::Trade(trade))
            }
            StreamType::BookTicker => {
                let quote = Quote {
                    bid: Level {
                        price: self.price("b", b.b)?,
                        qty: self.need("B", b.bid_qty)?,
                    },
                    ask: Level {
                        price: self.price("a", b.a)?,
                        qty: self.need("A", b.ask_qty)?,
                    },
                    update_id: b.last_id,
                    exch_ns: self.opt_time("E", b.event_ms)?,
                };
                (StreamKind::Bbo, Payload::Quote(quote))
            }
            StreamType::DiffDepth => {
                let first_id = self.need("U", b.first_id)?;
                let last_id = self.need("u", b.last_id)?;
                if first_id > last_id {
                    return Err(self.malformed(format!(
                        "field `U`: first update id {first_id} is after last update id {last_id}"
                    )));
                }
                self.levels("b", b.b)?;
                self.levels("a", b.a)?;
                let diff = DepthDiff {
                    first_id,
                    last_id,
                    prev_last_id: b.prev_id,
                    bids: self.state.bids.clone(),
                    asks: self.state.asks.clone(),
                    exch_ns: Some(self.time("E", b.event_ms)?),
                };
                (StreamKind::Depth, Payload::Depth(diff))
            }
            StreamType::PartialDepth => {
                let snap = if b.event.is_some() {
                    // Futures: a depthUpdate-shaped payload with `b`/`a`.
                    self.levels("b", b.b)?;
                    self.levels("a", b.a)?;
                    DepthSnapshot {
                        last_id: Some(self.need("u", b.last_id)?),
                        bids: self.state.bids.clone(),
                        asks: self.state.asks.clone(),
                        exch_ns: Some(self.time("E", b.event_ms)?),
                    }
                } else {
                    self.book_snapshot(b)?
                };
                (StreamKind::PartialDepth, Payload::Snapshot(snap))
            }
            StreamType::Kline => {
                let candle = self.candle(b)?;
                (
                    StreamKind::Kline(candle.interval_secs),
                    Payload::Candle(candle),
                )
            }
        };
        out.push(Event {
            symbol,
            stream,
            payload,
        });
        Ok(Control::Data)
    }

    /// A `lastUpdateId`/`bids`/`asks` book (spot partial depth, REST).
    fn book_snapshot(&self, b: &Body<'_>) -> Result<DepthSnapshot, ParseError> {
        let last_id = self.need("lastUpdateId", b.last_update_id)?;
        if !b.bids {
            return Err(self.malformed("missing field `bids`"));
        }
        if !b.asks {
            return Err(self.malformed("missing field `asks`"));
        }
        Ok(DepthSnapshot {
            last_id: Some(last_id),
            bids: self.state.bids.clone(),
            asks: self.state.asks.clone(),
            exch_ns: self.opt_time("E", b.event_ms)?,
        })
    }

    fn candle(&self, b: &Body<'_>) -> Result<Candle, ParseError> {
        let Some(k) = &b.kline else {
            return Err(self.malformed("missing field `k`"));
        };
        let interval = match k.interval.as_deref() {
            None => return Err(self.malformed("missing field `k.i`")),
            Some(i) => i,
        };
        // `model::parse_interval` splits off the last byte and panics when
        // that is inside a multi-byte character: only ASCII reaches it.
        let parsed = if interval.is_ascii() {
            parse_interval(interval)
        } else {
            None
        };
        let interval_secs = match parsed {
            Some(s) => s,
            // Monthly candles have no fixed length in seconds.
            None if interval.ends_with('M') => {
                return Err(self.unknown(format!("kline interval `{interval}`")));
            }
            None => {
                return Err(self.malformed(format!("field `k.i`: bad interval `{interval}`")));
            }
        };
        // Binance sends -1 for "no trade id"; that is absence, not an id.
        let trade_id = |v: Option<i64>| v.and_then(|x| u64::try_from(x).ok());
        Ok(Candle {
            open_ns: self.time("k.t", k.open_ms)?,
            interval_secs,
            open: self.need("k.o", k.open)?,
            high: self.need("k.h", k.high)?,
            low: self.need("k.l", k.low)?,
            close: self.need("k.c", k.close)?,
            volume: self.need("k.v", k.volume)?,
            quote_volume: k.quote_volume,
            trades: k.trades,
            first_trade_id: trade_id(k.first_trade),
            last_trade_id: trade_id(k.last_trade),
            closed: self.need("k.x", k.closed)?,
            exch_ns: Some(self.time("E", b.event_ms)?),
        })
    }

    fn need<T>(&self, field: &str, v: Option<T>) -> Result<T, ParseError> {
        v.ok_or_else(|| self.malformed(format!("missing field `{field}`")))
    }

    fn price(&self, field: &str, side: Side) -> Result<f64, ParseError> {
        match side {
            Side::Price(p) => Ok(p),
            Side::Absent => Err(self.malformed(format!("missing field `{field}`"))),
            _ => Err(self.malformed(format!("field `{field}`: expected a price string"))),
        }
    }

    fn levels(&self, field: &str, side: Side) -> Result<(), ParseError> {
        match side {
            Side::Levels => Ok(()),
            Side::Absent => Err(self.malformed(format!("missing field `{field}`"))),
            _ => Err(self.malformed(format!("field `{field}`: expected an array of levels"))),
        }
    }

    fn time(&self, field: &str, ms: Option<u64>) -> Result<Nanos, ParseError> {
        let ms = self.need(field, ms)?;
        ms_to_ns(ms)
            .ok_or_else(|| self.malformed(format!("field `{field}`: time {ms} ms is out of range")))
    }

    fn opt_time(&self, field: &str, ms: Option<u64>) -> Result<Option<Nanos>, ParseError> {
        ms.map(|_| self.time(field, ms)).transpose()
    }

    /// [`Adapter::parse_frame`] through the serde path alone, skipping the
    /// byte scanner: the reference the scanner is tested against.
    #[cfg(test)]
    fn parse_frame_serde(
        &mut self,
        frame: &str,
        out: &mut Vec<Event>,
    ) -> Result<Control, ParseError> {
        let mut fr = Frame::default();
        self.parse_wire(frame, &mut fr)?;
        self.interpret(&fr, out)
    }
}

/// Splits a stream name into its symbol and what it carries; `None` for
/// streams this adapter does not parse (mark price, tickers, continuous
/// klines, all-market `!` streams).
fn classify_stream(stream: &str) -> Option<(&str, StreamType)> {
    let (sym, rest) = stream.split_once('@')?;
    if sym.is_empty() || sym.starts_with('!') {
        return None;
    }
    let ty = match rest {
        "trade" => StreamType::Trade,
        "aggTrade" => StreamType::AggTrade,
        "bookTicker" => StreamType::BookTicker,
        _ => {
            if let Some(after) = rest.strip_prefix("depth") {
                // `depth`, `depth@100ms`: diff; `depth5`, `depth20@100ms`: partial.
                let (levels, speed) = after.split_once('@').unwrap_or((after, ""));
                let speed_ok = speed.is_empty()
                    || speed
                        .strip_suffix("ms")
                        .is_some_and(|n| !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()));
                if !speed_ok {
                    return None;
                }
                match levels {
                    "" => StreamType::DiffDepth,
                    "5" | "10" | "20" => StreamType::PartialDepth,
                    _ => return None,
                }
            } else if rest.starts_with("kline_") {
                StreamType::Kline
            } else {
                return None;
            }
        }
    };
    Some((sym, ty))
}

/// Whether payload event type `e` belongs on a stream of type `ty`.
fn event_fits(ty: StreamType, e: &str) -> bool {
    match ty {
        StreamType::Trade => e == "trade",
        StreamType::AggTrade => e == "aggTrade",
        StreamType::BookTicker => e == "bookTicker",
        StreamType::DiffDepth | StreamType::PartialDepth => e == "depthUpdate",
        StreamType::Kline => e == "kline",
    }
}

/// The value of `symbol=` in a request's query string.
fn query_symbol(request: &str) -> Option<&str> {
    crate::venues::query_param(request, "symbol")
}

impl Adapter for BinanceAdapter {
    fn venue(&self) -> Venue {
        self.venue
    }

    fn parse_frame(&mut self, frame: &str, out: &mut Vec<Event>) -> Result<Control, ParseError> {
        let mut fr = Frame::default();
        if fast::parse(frame, &mut self.state, &mut fr).is_some() {
            #[cfg(test)]
            {
                self.fast_frames += 1;
            }
        } else {
            // Not one of the hot shapes, or something odd in it: the serde
            // path decides, with its error messages.
            fr = Frame::default();
            self.parse_wire(frame, &mut fr)?;
        }
        self.interpret(&fr, out)
    }

    fn parse_rest(
        &mut self,
        request: &str,
        body: &str,
        out: &mut Vec<Event>,
    ) -> Result<Control, ParseError> {
        let mut fr = Frame::default();
        self.parse_wire(body, &mut fr)?;
        if fr.code.is_some() || fr.msg.is_some() {
            return Err(self.error_reply(fr.code, fr.msg.as_deref()));
        }
        if fr.stream.is_some() || fr.data != Data::Absent {
            return Err(self.malformed("REST body is a stream envelope, not a depth snapshot"));
        }
        let raw: Cow<'_, str> = match (query_symbol(request), fr.body.symbol_long.as_ref()) {
            (Some(q), _) => Cow::Borrowed(q),
            (None, Some(s)) => s.clone(),
            (None, None) => {
                return Err(self.malformed(
                    "field `symbol`: neither the request query nor the body names a symbol",
                ));
            }
        };
        let symbol = self.symbol("symbol", &raw)?;
        let snap = self.book_snapshot(&fr.body)?;
        out.push(Event {
            symbol,
            stream: StreamKind::Depth,
            payload: Payload::Snapshot(snap),
        });
        Ok(Control::Data)
    }
}

#[cfg(test)]
mod tests;
