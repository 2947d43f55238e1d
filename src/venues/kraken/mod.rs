//! Kraken spot market data over WebSocket v2 (`wss://ws.kraken.com/v2`):
//! turns `book`, `trade`, `ohlc` and `ticker` messages, heartbeats, pongs,
//! status messages and request replies into normalized [`Event`]s.
//!
//! Books: Kraken v2 carries no sequence numbers, only a CRC32 `checksum` of
//! the top 10 levels after every snapshot and update, computed over the
//! exact decimal text of prices and quantities. The adapter therefore keeps
//! its own small per-symbol book of those texts (read from the raw JSON
//! number text, never re-formatted from floats), at most the subscribed
//! depth per side, and reports a mismatch as [`Integrity::Checksum`] on the
//! symbol's depth stream. The engine gets `DepthSnapshot { last_id: None }`
//! and id-less diffs (unsequenced mode). After a mismatch the symbol's
//! checks pause until the next snapshot: the book is known wrong, and one
//! fault is reported once.
//!
//! The subscribed depth decides which levels Kraken stops telling us about,
//! so it matters for the checksum: it comes from the subscribe reply
//! (`result.depth`), else the adapter's configured depth, raised to the
//! smallest valid depth that holds a larger snapshot.
//!
//! Candles: v2 `ohlc` updates carry `interval_begin` but no "closed" flag,
//! and Kraken only sends an update when the candle changes (a trade). Every
//! update is emitted as forming (`closed: false`); when the first update of
//! a later interval arrives, the adapter first emits the last values it saw
//! of the previous interval as closed. So a candle closes when the next
//! traded interval starts, which can be minutes after its end on a quiet
//! pair; a later update for an interval already closed is passed on as a
//! closed candle (a revision, which the candle checks flag). In a snapshot
//! every interval but the newest is emitted closed.
//!
//! Trade snapshots (past trades on subscribe) are history, not live data:
//! they are acknowledged and dropped, so that lag and trade-id checks only
//! see live prints.
//!
//! The parser is pure and total: it never panics, never does I/O, pushes
//! events (and changes its books) only when the whole frame parsed, and
//! keeps all its state bounded (books, depths and forming candles per
//! symbol are capped; past the caps symbols still parse, unchecked).

mod book;
mod protocol;
mod wire;

use std::collections::HashMap;

pub use book::{MAX_DECIMAL_LEN, VALID_DEPTHS, checksum};
pub use protocol::{DEFAULT_BOOK_DEPTH, KrakenProtocol, URL, kraken_canonical, protocol};

use super::symbols::SymbolCache;
use super::{Adapter, Control, ParseError, VenueSpec};
use crate::model::Market;
use crate::model::{
    Candle, DepthDiff, DepthSnapshot, Event, Integrity, Level, Nanos, Payload, Quote, SECOND,
    StreamKind, Symbol, Trade, Venue,
};
use book::{BookSide, Text, TextBook, TextLevel, depth_for};
use wire::{
    AckResult, BookItem, Envelope, OhlcItem, RawLevel, TickerItem, TradeItem, describe_error,
    parse_time, raw_decimal,
};

/// Kraken: what the rest of feedwatch needs to know about it.
pub const SPECS: &[VenueSpec] = &[VenueSpec {
    venue: Venue::Kraken,
    exchange: "kraken",
    market: Market::Spot,
    main_quote: "USD",
    hosting: None,
    book_quiet_cadence_s: 0.0,
    // The v2 `ohlc` channel only sends on trades: a quiet interval has no
    // candle, and its absence is not a gap.
    sparse_klines: true,
    rest_depth: None,
    adapter: |_| Box::new(KrakenAdapter::new()),
    protocol,
}];

/// Most symbols whose books are kept for checksums.
pub const MAX_BOOKS: usize = 2048;
/// Most (symbol, interval) pairs whose forming candle is remembered.
pub const MAX_CANDLE_STREAMS: usize = 8192;

/// Most level texts the reused scratch keeps between frames (two full
/// sides of the deepest book).
const MAX_KEPT_TEXTS: usize = 2 * 1000;

/// Parser for Kraken WebSocket v2 public market data.
pub struct KrakenAdapter {
    symbols: SymbolCache,
    default_depth: usize,
    /// Depth per symbol from subscribe replies.
    depths: HashMap<Symbol, usize>,
    books: HashMap<Symbol, TextBook>,
    /// The latest forming candle per (symbol, interval seconds).
    forming: HashMap<(Symbol, u32), Candle>,
    verify: bool,
    /// Level texts of the frame being parsed (reused, never shrunk below
    /// the largest frame seen: at most a snapshot's levels).
    texts: Vec<TextLevel>,
}

impl Default for KrakenAdapter {
    fn default() -> Self {
        Self::new()
    }
}

/// One book item checked and converted, not yet applied.
struct ParsedBook {
    symbol: Symbol,
    bids: Vec<Level>,
    asks: Vec<Level>,
    /// Where this item's bid and ask texts are in the adapter's scratch.
    bid_texts: std::ops::Range<usize>,
    ask_texts: std::ops::Range<usize>,
    checksum: Option<u32>,
    exch_ns: Option<Nanos>,
}

impl KrakenAdapter {
    /// An adapter expecting books subscribed at [`DEFAULT_BOOK_DEPTH`]
    /// (subscribe replies override this per symbol).
    pub fn new() -> Self {
        Self::with_book_depth(DEFAULT_BOOK_DEPTH)
    }

    /// An adapter expecting books subscribed at `depth` levels (rounded up
    /// to a depth Kraken accepts).
    pub fn with_book_depth(depth: usize) -> Self {
        KrakenAdapter {
            symbols: SymbolCache::new(kraken_canonical, SymbolCache::DEFAULT_CAPACITY),
            default_depth: depth_for(depth),
            depths: HashMap::new(),
            books: HashMap::new(),
            forming: HashMap::new(),
            verify: true,
            texts: Vec::new(),
        }
    }

    /// Turns checksum verification on or off (on by default). Off, the
    /// adapter keeps no books and reports no [`Integrity`] events.
    pub fn verify_checksums(mut self, on: bool) -> Self {
        self.verify = on;
        self
    }

    /// The depth the checksum book of `symbol` (canonical) is truncated
    /// to, once a snapshot of it has been seen.
    pub fn book_depth(&self, symbol: &str) -> Option<usize> {
        self.books.get(symbol).map(TextBook::depth)
    }

    fn malformed(detail: impl Into<String>) -> ParseError {
        ParseError::Malformed {
            venue: Venue::Kraken.id(),
            detail: detail.into(),
        }
    }

    fn unknown(detail: impl Into<String>) -> ParseError {
        ParseError::Unknown {
            venue: Venue::Kraken.id(),
            detail: detail.into(),
        }
    }

    fn symbol(&mut self, field: Field, raw: &str) -> Result<Symbol, ParseError> {
        self.symbols
            .get(raw)
            .map_err(|e| Self::malformed(format!("field `{field}`: {e}")))
    }

    /// Parses a channel's `data` array into typed items.
    fn items<'a, T: serde::Deserialize<'a>>(
        channel: &str,
        data: Option<&'a serde_json::value::RawValue>,
    ) -> Result<Vec<T>, ParseError> {
        let Some(data) = data else {
            return Err(Self::malformed(format!(
                "missing field `data` on channel `{channel}`"
            )));
        };
        let text = data.get();
        serde_json::from_str(text)
            .map_err(|e| Self::malformed(format!("`{channel}` data: {}", describe_error(text, &e))))
    }

    fn time(field: Field, s: &str) -> Result<Nanos, ParseError> {
        parse_time(s).ok_or_else(|| {
            Self::malformed(format!(
                "field `{field}`: `{s}` is not an RFC 3339 UTC time"
            ))
        })
    }

    fn opt_time(field: Field, s: Option<&str>) -> Result<Option<Nanos>, ParseError> {
        s.map(|s| Self::time(field, s)).transpose()
    }

    fn reply(&mut self, env: &Envelope<'_>, method: &str) -> Result<Control, ParseError> {
        if env.success == Some(false) || env.error.is_some() {
            let sym = env
                .symbol
                .as_deref()
                .map(|s| format!(" ({s})"))
                .unwrap_or_default();
            return Err(Self::unknown(format!(
                "error reply to `{method}`{sym}: {}",
                env.error.as_deref().unwrap_or("(no error text)")
            )));
        }
        match method {
            "pong" => Ok(Control::Heartbeat),
            "subscribe" => {
                if let Some(raw) = env.result {
                    let text = raw.get();
                    let ack: AckResult<'_> = serde_json::from_str(text).map_err(|e| {
                        Self::malformed(format!("`result`: {}", describe_error(text, &e)))
                    })?;
                    if ack.channel.as_deref() == Some("book")
                        && let (Some(sym), Some(depth)) = (ack.symbol.as_deref(), ack.depth)
                    {
                        let depth = usize::try_from(depth)
                            .ok()
                            .filter(|d| VALID_DEPTHS.contains(d))
                            .ok_or_else(|| {
                                Self::malformed(format!(
                                    "field `result.depth`: {depth} is not a Kraken book depth"
                                ))
                            })?;
                        let symbol = self.symbol(
                            Field {
                                index: None,
                                name: "result.symbol",
                            },
                            sym,
                        )?;
                        if self.depths.len() < MAX_BOOKS || self.depths.contains_key(&symbol) {
                            self.depths.insert(symbol, depth);
                        }
                    }
                }
                Ok(Control::Ack)
            }
            "unsubscribe" => Ok(Control::Ack),
            other => Err(Self::unknown(format!("reply to method `{other}`"))),
        }
    }

    /// Checks one raw level and stores its texts.
    fn level(
        path: impl Fn() -> String,
        raw: &RawLevel<'_>,
    ) -> Result<(Level, TextLevel), ParseError> {
        let text = |field: &str, v: &serde_json::value::RawValue| {
            let s = raw_decimal(v);
            Text::new(s).ok_or_else(|| {
                Self::malformed(format!(
                    "field `{}.{field}`: `{s}` is not a plain decimal of at most {MAX_DECIMAL_LEN} characters",
                    path()
                ))
            })
        };
        let price_text = text("price", raw.price)?;
        let qty_text = text("qty", raw.qty)?;
        // Plain decimals always parse as f64.
        let price: f64 = price_text.as_str().parse().unwrap_or(f64::NAN);
        let qty: f64 = qty_text.as_str().parse().unwrap_or(f64::NAN);
        if !price.is_finite() || !qty.is_finite() {
            return Err(Self::malformed(format!(
                "field `{}`: price or qty out of range",
                path()
            )));
        }
        Ok((
            Level { price, qty },
            TextLevel {
                price,
                price_text,
                qty_text,
            },
        ))
    }

    fn parse_book(&mut self, i: usize, item: &BookItem<'_>) -> Result<ParsedBook, ParseError> {
        let symbol = self.symbol(at(i, "symbol"), &item.symbol)?;
        // Texts go to one scratch vector reused across frames; the levels
        // are owned by the event, so they get their own vector.
        let texts = &mut self.texts;
        let mut side = |name: &str, raws: &[RawLevel<'_>]| {
            let mut levels = Vec::with_capacity(raws.len());
            let start = texts.len();
            for (j, raw) in raws.iter().enumerate() {
                let (l, t) = Self::level(|| format!("data[{i}].{name}[{j}]"), raw)?;
                levels.push(l);
                texts.push(t);
            }
            Ok::<_, ParseError>((levels, start..texts.len()))
        };
        let (bids, bid_texts) = side("bids", &item.bids)?;
        let (asks, ask_texts) = side("asks", &item.asks)?;
        Ok(ParsedBook {
            symbol,
            bids,
            asks,
            bid_texts,
            ask_texts,
            checksum: item.checksum,
            exch_ns: Self::opt_time(at(i, "timestamp"), item.timestamp.as_deref())?,
        })
    }

    /// Applies one parsed book item to the adapter's text book and returns
    /// the integrity fault it reveals, if any.
    fn check_book(&mut self, snapshot: bool, p: &ParsedBook) -> Option<Integrity> {
        if !self.verify {
            return None;
        }
        if snapshot {
            let configured = self
                .depths
                .get(&p.symbol)
                .copied()
                .unwrap_or(self.default_depth);
            let most = p.bid_texts.len().max(p.ask_texts.len());
            let depth = if most > configured {
                depth_for(most)
            } else {
                configured
            };
            if !self.books.contains_key(&p.symbol) && self.books.len() >= MAX_BOOKS {
                return None;
            }
            let book = self
                .books
                .entry(p.symbol.clone())
                .or_insert_with(|| TextBook::new(depth));
            book.reset(depth);
        }
        // Updates before any snapshot, or after a mismatch, cannot be
        // checked: the book is missing or known wrong until a snapshot.
        let book = self.books.get_mut(&p.symbol)?;
        if book.broken {
            return None;
        }
        for (side, range) in [(BookSide::Bid, &p.bid_texts), (BookSide::Ask, &p.ask_texts)] {
            for t in self.texts.get(range.clone()).unwrap_or_default() {
                // Zero quantity removes; `Level.qty == 0.0` and the text
                // being all zeros are the same thing for a plain decimal.
                let zero = t.qty_text.as_str().bytes().all(|b| b == b'0' || b == b'.');
                book.set(side, *t, zero);
            }
        }
        let expected = p.checksum?;
        let computed = book.checksum();
        (computed != expected).then(|| {
            book.broken = true;
            Integrity::Checksum { expected, computed }
        })
    }

    fn on_book(
        &mut self,
        snapshot: bool,
        env: &Envelope<'_>,
        out: &mut Vec<Event>,
    ) -> Result<Control, ParseError> {
        let items: Vec<BookItem<'_>> = Self::items("book", env.data)?;
        self.texts.clear();
        let mut parsed = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            parsed.push(self.parse_book(i, item)?);
        }
        for p in parsed {
            let fault = self.check_book(snapshot, &p);
            let payload = if snapshot {
                Payload::Snapshot(DepthSnapshot {
                    last_id: None,
                    bids: p.bids,
                    asks: p.asks,
                    exch_ns: p.exch_ns,
                })
            } else {
                Payload::Depth(DepthDiff {
                    first_id: 0,
                    last_id: 0,
                    prev_last_id: None,
                    bids: p.bids,
                    asks: p.asks,
                    exch_ns: p.exch_ns,
                })
            };
            out.push(Event {
                symbol: p.symbol.clone(),
                stream: StreamKind::Depth,
                payload,
            });
            if let Some(f) = fault {
                out.push(Event {
                    symbol: p.symbol,
                    stream: StreamKind::Depth,
                    payload: Payload::Integrity(f),
                });
            }
        }
        // A huge frame must not pin its memory for the life of the adapter.
        if self.texts.capacity() > MAX_KEPT_TEXTS {
            self.texts = Vec::new();
        }
        Ok(Control::Data)
    }

    fn on_trade(
        &mut self,
        snapshot: bool,
        env: &Envelope<'_>,
        out: &mut Vec<Event>,
    ) -> Result<Control, ParseError> {
        let items: Vec<TradeItem<'_>> = Self::items("trade", env.data)?;
        if snapshot {
            return Ok(Control::Ack);
        }
        let start = out.len();
        for (i, t) in items.iter().enumerate() {
            let symbol = match self.symbol(at(i, "symbol"), &t.symbol) {
                Ok(s) => s,
                Err(e) => {
                    out.truncate(start);
                    return Err(e);
                }
            };
            let exch = match Self::time(at(i, "timestamp"), &t.timestamp) {
                Ok(t) => t,
                Err(e) => {
                    out.truncate(start);
                    return Err(e);
                }
            };
            out.push(Event {
                symbol,
                stream: StreamKind::Trade,
                payload: Payload::Trade(Trade {
                    price: t.price,
                    qty: t.qty,
                    id: Some(t.trade_id),
                    exch_ns: Some(exch),
                    event_ns: None,
                }),
            });
        }
        Ok(Control::Data)
    }

    fn on_ticker(
        &mut self,
        env: &Envelope<'_>,
        out: &mut Vec<Event>,
    ) -> Result<Control, ParseError> {
        let items: Vec<TickerItem<'_>> = Self::items("ticker", env.data)?;
        let start = out.len();
        for (i, t) in items.iter().enumerate() {
            let sym = self.symbol(at(i, "symbol"), &t.symbol);
            let exch = Self::opt_time(at(i, "timestamp"), t.timestamp.as_deref());
            let (symbol, exch_ns) = match (sym, exch) {
                (Ok(s), Ok(e)) => (s, e),
                (Err(e), _) | (_, Err(e)) => {
                    out.truncate(start);
                    return Err(e);
                }
            };
            out.push(Event {
                symbol,
                stream: StreamKind::Bbo,
                payload: Payload::Quote(Quote {
                    bid: Level {
                        price: t.bid,
                        qty: t.bid_qty,
                    },
                    ask: Level {
                        price: t.ask,
                        qty: t.ask_qty,
                    },
                    update_id: None,
                    exch_ns,
                }),
            });
        }
        Ok(Control::Data)
    }

    fn candle(&mut self, i: usize, c: &OhlcItem<'_>) -> Result<(Symbol, Candle), ParseError> {
        let symbol = self.symbol(at(i, "symbol"), &c.symbol)?;
        let interval_secs = c
            .interval
            .checked_mul(60)
            .filter(|s| *s > 0)
            .ok_or_else(|| {
                Self::malformed(format!(
                    "field `data[{i}].interval`: {} minutes is not a candle interval",
                    c.interval
                ))
            })?;
        let open_ns = Self::time(at(i, "interval_begin"), &c.interval_begin)?;
        // The close time must be representable for the engine's checks.
        open_ns
            .checked_add(Nanos::from(interval_secs) * SECOND)
            .ok_or_else(|| {
                Self::malformed(format!("field `data[{i}].interval_begin`: out of range"))
            })?;
        Ok((
            symbol,
            Candle {
                open_ns,
                interval_secs,
                open: c.open,
                high: c.high,
                low: c.low,
                close: c.close,
                volume: c.volume,
                quote_volume: c.vwap.map(|v| v * c.volume),
                trades: c.trades,
                first_trade_id: None,
                last_trade_id: None,
                closed: false,
                exch_ns: Self::opt_time(at(i, "timestamp"), c.timestamp.as_deref())?,
            },
        ))
    }

    fn on_ohlc(
        &mut self,
        snapshot: bool,
        env: &Envelope<'_>,
        out: &mut Vec<Event>,
    ) -> Result<Control, ParseError> {
        let items: Vec<OhlcItem<'_>> = Self::items("ohlc", env.data)?;
        let mut candles = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            candles.push(self.candle(i, item)?);
        }
        if snapshot {
            // The snapshot supersedes what was remembered: its newest
            // interval per stream is forming, all older ones are closed.
            let mut newest: HashMap<(Symbol, u32), Nanos> = HashMap::new();
            for (s, c) in &candles {
                let e = newest
                    .entry((s.clone(), c.interval_secs))
                    .or_insert(c.open_ns);
                *e = (*e).max(c.open_ns);
            }
            for key in newest.keys() {
                self.forming.remove(key);
            }
            for (symbol, mut c) in candles {
                let key = (symbol.clone(), c.interval_secs);
                if newest.get(&key).is_some_and(|&n| c.open_ns < n) {
                    c.closed = true;
                    push_candle(out, symbol, c);
                } else {
                    self.remember(key, &c);
                    push_candle(out, symbol, c);
                }
            }
            return Ok(Control::Data);
        }
        for (symbol, c) in candles {
            let key = (symbol.clone(), c.interval_secs);
            match self.forming.get(&key) {
                Some(prev) if c.open_ns < prev.open_ns => {
                    // A late update of an interval already closed.
                    let mut late = c;
                    late.closed = true;
                    push_candle(out, symbol, late);
                    continue;
                }
                Some(prev) if c.open_ns > prev.open_ns => {
                    let mut done = prev.clone();
                    done.closed = true;
                    done.exch_ns = c.exch_ns;
                    push_candle(out, symbol.clone(), done);
                }
                _ => {}
            }
            self.remember(key, &c);
            push_candle(out, symbol, c);
        }
        Ok(Control::Data)
    }

    fn remember(&mut self, key: (Symbol, u32), c: &Candle) {
        if let Some(slot) = self.forming.get_mut(&key) {
            slot.clone_from(c);
        } else if self.forming.len() < MAX_CANDLE_STREAMS {
            self.forming.insert(key, c.clone());
        }
    }
}

/// A field's path, formatted only when an error names it (keeps the hot
/// path free of allocations).
#[derive(Clone, Copy)]
struct Field {
    index: Option<usize>,
    name: &'static str,
}

impl std::fmt::Display for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.index {
            Some(i) => write!(f, "data[{i}].{}", self.name),
            None => f.write_str(self.name),
        }
    }
}

/// Field `name` of item `i` of `data`.
fn at(i: usize, name: &'static str) -> Field {
    Field {
        index: Some(i),
        name,
    }
}

fn push_candle(out: &mut Vec<Event>, symbol: Symbol, c: Candle) {
    out.push(Event {
        symbol,
        stream: StreamKind::Kline(c.interval_secs),
        payload: Payload::Candle(c),
    });
}

impl Adapter for KrakenAdapter {
    fn venue(&self) -> Venue {
        Venue::Kraken
    }

    fn parse_frame(&mut self, frame: &str, out: &mut Vec<Event>) -> Result<Control, ParseError> {
        let env: Envelope<'_> =
            serde_json::from_str(frame).map_err(|e| Self::malformed(describe_error(frame, &e)))?;
        if let Some(method) = env.method.as_deref() {
            return self.reply(&env, method);
        }
        if let Some(err) = env.error.as_deref() {
            return Err(Self::unknown(format!("error message: {err}")));
        }
        let Some(channel) = env.channel.as_deref() else {
            return Err(Self::unknown("message without `channel` or `method`"));
        };
        let snapshot = match (channel, env.ty.as_deref()) {
            ("heartbeat", _) => return Ok(Control::Heartbeat),
            ("status", _) => return Ok(Control::Ack),
            ("book" | "trade" | "ohlc" | "ticker", Some("snapshot")) => true,
            ("book" | "trade" | "ohlc" | "ticker", Some("update")) => false,
            ("book" | "trade" | "ohlc" | "ticker", Some(other)) => {
                return Err(Self::malformed(format!(
                    "field `type`: `{other}` is neither `snapshot` nor `update`"
                )));
            }
            ("book" | "trade" | "ohlc" | "ticker", None) => {
                return Err(Self::malformed("missing field `type`"));
            }
            (other, _) => return Err(Self::unknown(format!("channel `{other}`"))),
        };
        match channel {
            "book" => self.on_book(snapshot, &env, out),
            "trade" => self.on_trade(snapshot, &env, out),
            "ohlc" => self.on_ohlc(snapshot, &env, out),
            _ => self.on_ticker(&env, out),
        }
    }

    /// Kraken books need no REST snapshot (the WebSocket sends one), so no
    /// REST response is expected; any is reported as unknown.
    fn parse_rest(
        &mut self,
        request: &str,
        _body: &str,
        _out: &mut Vec<Event>,
    ) -> Result<Control, ParseError> {
        Err(Self::unknown(format!(
            "REST response to `{request}` (Kraken books sync from the WebSocket snapshot)"
        )))
    }
}

#[cfg(test)]
mod tests;
