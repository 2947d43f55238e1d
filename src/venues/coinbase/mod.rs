//! Coinbase market data: Advanced Trade WebSocket frames
//! (`wss://advanced-trade-ws.coinbase.com`), the legacy Exchange feed
//! (`ws-feed.pro.coinbase.com`, for old recordings) and the REST product
//! book, turned into normalized [`Event`]s; plus the [`CoinbaseProtocol`] that
//! subscribes to them.
//!
//! Advanced Trade channels handled: `l2_data` (book snapshot and updates,
//! book mode (b): snapshots carry `last_id: None` and diffs ids 0, the
//! adapter checks sequencing itself), `market_trades`, `ticker` /
//! `ticker_batch` (best bid/offer), `candles` (5-minute buckets,
//! `StreamKind::Kline(300)`), `heartbeats` ([`Control::Heartbeat`]) and
//! `subscriptions` ([`Control::Ack`]). Legacy types (`legacy.rs`): `snapshot`,
//! `l2update`, `match`, `last_match`, `ticker`, `subscriptions`,
//! `heartbeat`. Error replies and anything else well-formed are
//! [`ParseError::Unknown`] naming the message; broken frames are
//! [`ParseError::Malformed`] naming the field.
//!
//! Sequencing rule. `sequence_num` counts every message of one connection,
//! across all channels, so a break cannot be pinned on one product: any
//! message lost may have been a book update of any subscribed product.
//! Hence, when a frame's `sequence_num` is not the previous one plus one,
//! every book the adapter has seen a snapshot for (and not already reported
//! broken) gets [`Integrity::Gap`] on its depth stream, before the frame's
//! own events. A `sequence_num` of 0 after a higher one is a new connection
//! (the count restarts): every book gets [`Integrity::Reset`] instead, since
//! the new connection sends fresh snapshots. A frame that cannot be used
//! (malformed) does not advance the count, so the data it carried counts as
//! lost at the next frame. A frame of a channel this adapter does not read
//! takes its number only when it is the next one (it carries no events, so
//! a break before it is reported by the next known frame). Limitation: the count is per connection, and the
//! frame does not say which connection it came on, so one adapter must see
//! one connection's frames only.
//!
//! Candles: Coinbase re-sends the forming 5-minute bucket about once a
//! second and never marks a bucket final. A bucket is closed when a later
//! `start` arrives for the same product: the adapter then emits the last
//! values it saw for the old bucket once more with `closed: true`, followed
//! by the new bucket as forming.
//!
//! Cadence (real legacy capture, 2021, ten mid-size products over 31 s):
//! about 320 frames/s in all, book updates every 0.4-4 s per product at
//! worst, but `ticker` only on trades (one per match): a quiet product's
//! best bid/offer stream can be silent for tens of seconds while its book
//! moves. The Advanced Trade `ticker` is trade-driven too.
//!
//! The parser is pure and total: no panic, no I/O, events pushed only when
//! the whole frame parsed. Memory is bounded: the symbol cache, book and
//! candle tables have fixed capacities.

mod legacy;
mod protocol;
mod time;
mod wire;

use std::collections::BTreeMap;

use super::symbols::{MAX_RAW_SYMBOL_LEN, SymbolCache, SymbolError};
use super::{Adapter, Control, ParseError, VenueSpec};
use crate::model::Market;
use crate::model::parse_rfc3339;
use crate::model::{
    Candle, DepthDiff, DepthSnapshot, Event, Integrity, Level, Nanos, Payload, Quote, StreamKind,
    Symbol, Trade, Venue,
};
pub use protocol::{CoinbaseProtocol, URL, protocol};
pub use time::epoch_secs_ns;
use wire::{AtCandle, AtEvent, Frame, Scalar};

/// Coinbase: what the rest of feedwatch needs to know about it.
pub const SPECS: &[VenueSpec] = &[VenueSpec {
    venue: Venue::Coinbase,
    exchange: "coinbase",
    market: Market::Spot,
    main_quote: "USD",
    // Coinbase documents AWS us-east-1 (and was down with it on 2025-10-20).
    hosting: Some("aws:us-east-1"),
    book_quiet_cadence_s: 0.0,
    sparse_klines: false,
    rest_depth: None,
    adapter: |_| Box::new(CoinbaseAdapter::new()),
    protocol,
}];

/// Candle bucket length on the `candles` channel, seconds.
pub const CANDLE_SECS: u32 = 300;

/// Most products whose book or candle state the adapter tracks. Past it new
/// products still parse but are not tracked (no gap report, no closing).
pub const MAX_TRACKED: usize = 4096;

const VENUE: &str = "coinbase";

/// The canonical `BASE/QUOTE` name of a Coinbase product id (`BTC-USD` ->
/// `BTC/USD`, any ASCII case). Exactly one `-` between two non-empty
/// alphanumeric parts; anything else is an error naming the input.
pub fn coinbase_canonical(raw: &str) -> Result<String, SymbolError> {
    let fail = |why: &str| {
        SymbolError(format!(
            "cannot split product id {raw:?} into base/quote: {why}"
        ))
    };
    if raw.len() > MAX_RAW_SYMBOL_LEN {
        return Err(fail("too long"));
    }
    let Some((base, quote)) = raw.split_once('-') else {
        return Err(fail("no '-'"));
    };
    let ok = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric());
    if !ok(base) || !ok(quote) {
        return Err(fail("base and quote must be non-empty and alphanumeric"));
    }
    Ok(format!(
        "{}/{}",
        base.to_ascii_uppercase(),
        quote.to_ascii_uppercase()
    ))
}

/// What the adapter knows of one product's book.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BookState {
    /// A snapshot was seen and no break since.
    Synced,
    /// A break was reported; waiting for the next snapshot.
    Broken,
}

/// Parser for Coinbase frames of one connection.
pub struct CoinbaseAdapter {
    symbols: SymbolCache,
    /// Last `sequence_num` accepted on the connection.
    last_seq: Option<u64>,
    /// Books by product, ordered so that gap reports are deterministic.
    books: BTreeMap<Symbol, BookState>,
    /// The latest values of each product's forming candle.
    candles: BTreeMap<Symbol, Candle>,
    /// Last heartbeat counter, and how many times it skipped.
    last_heartbeat: Option<u64>,
    heartbeat_gaps: u64,
    /// Scratch for one frame's level lists.
    bids: Vec<Level>,
    asks: Vec<Level>,
}

impl Default for CoinbaseAdapter {
    fn default() -> Self {
        Self::new()
    }
}

fn malformed(detail: impl Into<String>) -> ParseError {
    ParseError::Malformed {
        venue: VENUE,
        detail: detail.into(),
    }
}

fn unknown(detail: impl Into<String>) -> ParseError {
    ParseError::Unknown {
        venue: VENUE,
        detail: detail.into(),
    }
}

/// A required string field.
fn text<'s>(field: &str, v: &'s Option<Scalar<'_>>) -> Result<&'s str, ParseError> {
    match v {
        Some(Scalar::Str(s)) => Ok(s),
        None | Some(Scalar::Null) => Err(malformed(format!("missing field `{field}`"))),
        Some(_) => Err(malformed(format!("field `{field}`: expected a string"))),
    }
}

/// A required finite decimal, sent as a string (or, tolerated, a number).
fn num(field: &str, v: &Option<Scalar<'_>>) -> Result<f64, ParseError> {
    let x = match v {
        Some(Scalar::Str(s)) => s
            .parse::<f64>()
            .map_err(|_| malformed(format!("field `{field}`: bad number {s:?}")))?,
        Some(Scalar::U64(n)) => *n as f64,
        Some(Scalar::I64(n)) => *n as f64,
        Some(Scalar::F64(n)) => *n,
        None | Some(Scalar::Null) => return Err(malformed(format!("missing field `{field}`"))),
        Some(Scalar::Bool(_)) => {
            return Err(malformed(format!("field `{field}`: expected a number")));
        }
    };
    if x.is_finite() {
        Ok(x)
    } else {
        Err(malformed(format!("field `{field}`: not a finite number")))
    }
}

/// A required unsigned integer, as a number or a decimal string.
fn uint(field: &str, v: &Option<Scalar<'_>>) -> Result<u64, ParseError> {
    match v {
        Some(Scalar::U64(n)) => Ok(*n),
        Some(Scalar::Str(s)) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => s
            .parse::<u64>()
            .map_err(|_| malformed(format!("field `{field}`: integer {s:?} out of range"))),
        None | Some(Scalar::Null) => Err(malformed(format!("missing field `{field}`"))),
        Some(_) => Err(malformed(format!(
            "field `{field}`: expected a non-negative integer"
        ))),
    }
}

/// A required RFC 3339 time.
fn time_ns(field: &str, v: &Option<Scalar<'_>>) -> Result<Nanos, ParseError> {
    let s = text(field, v)?;
    parse_rfc3339(s).ok_or_else(|| malformed(format!("field `{field}`: bad RFC 3339 time {s:?}")))
}

/// What one Advanced Trade channel name means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AtChannel {
    L2,
    Trades,
    Ticker,
    Candles,
    Heartbeats,
    Subscriptions,
}

impl CoinbaseAdapter {
    /// A fresh adapter (for one connection's frames).
    pub fn new() -> Self {
        CoinbaseAdapter {
            symbols: SymbolCache::new(coinbase_canonical, SymbolCache::DEFAULT_CAPACITY),
            last_seq: None,
            books: BTreeMap::new(),
            candles: BTreeMap::new(),
            last_heartbeat: None,
            heartbeat_gaps: 0,
            bids: Vec::new(),
            asks: Vec::new(),
        }
    }

    /// How many times the `heartbeats` counter skipped a value (messages
    /// lost on the heartbeat channel; the sequence check reports the books).
    pub fn heartbeat_gaps(&self) -> u64 {
        self.heartbeat_gaps
    }

    fn symbol(&mut self, field: &str, v: &Option<Scalar<'_>>) -> Result<Symbol, ParseError> {
        let raw = text(field, v)?;
        self.symbols
            .get(raw)
            .map_err(|e| malformed(format!("field `{field}`: {e}")))
    }

    /// Parses `text` into a frame, naming what failed.
    fn frame<'a>(text: &'a str) -> Result<Frame<'a>, ParseError> {
        serde_json::from_str::<Frame<'a>>(text).map_err(|e| {
            if e.is_data() {
                malformed(format!("field type or shape: {e}"))
            } else {
                malformed(format!("not a JSON object: {e}"))
            }
        })
    }

    fn error_reply(fr: &Frame<'_>) -> ParseError {
        let msg = match (&fr.message, &fr.reason) {
            (Some(Scalar::Str(m)), Some(Scalar::Str(r))) => format!("{m} ({r})"),
            (Some(Scalar::Str(m)), _) => m.to_string(),
            (_, Some(Scalar::Str(r))) => r.to_string(),
            _ => "(no message)".to_string(),
        };
        unknown(format!("error reply: {msg}"))
    }

    /// Checks `sequence_num` against the last one accepted; pushes the
    /// integrity events the rule in the module docs prescribes and returns
    /// the book states to commit if the frame parses.
    fn check_sequence(&self, seq: u64, out: &mut Vec<Event>) -> Option<BookState> {
        let last = self.last_seq?;
        if last.checked_add(1) == Some(seq) {
            return None;
        }
        let (fault, state) = if seq == 0 {
            (Integrity::Reset, BookState::Broken)
        } else {
            (
                Integrity::Gap {
                    expected: last.saturating_add(1),
                    got: seq,
                },
                BookState::Broken,
            )
        };
        for (sym, st) in &self.books {
            // A restart concerns every book; a gap only those not already
            // reported (one alert per break until the next snapshot).
            if *st == BookState::Synced || fault == Integrity::Reset {
                out.push(Event {
                    symbol: sym.clone(),
                    stream: StreamKind::Depth,
                    payload: Payload::Integrity(fault.clone()),
                });
            }
        }
        Some(state)
    }

    fn advanced_trade(
        &mut self,
        fr: &Frame<'_>,
        out: &mut Vec<Event>,
    ) -> Result<Control, ParseError> {
        let name = text("channel", &fr.channel)?;
        let ch = match name {
            "l2_data" => AtChannel::L2,
            "market_trades" => AtChannel::Trades,
            "ticker" | "ticker_batch" => AtChannel::Ticker,
            "candles" => AtChannel::Candles,
            "heartbeats" => AtChannel::Heartbeats,
            "subscriptions" => AtChannel::Subscriptions,
            other => {
                // A channel this adapter does not read still took a number
                // in the connection's count: when it is the next one, take
                // it, so that it does not look like a loss later. Otherwise
                // leave the count alone and let the next known frame report
                // the break (an unknown frame carries no events).
                if let Ok(seq) = uint("sequence_num", &fr.sequence_num)
                    && self.last_seq.and_then(|l| l.checked_add(1)) == Some(seq)
                {
                    self.last_seq = Some(seq);
                }
                return Err(unknown(format!("channel `{other}`")));
            }
        };
        let seq = uint("sequence_num", &fr.sequence_num)?;
        let sent = time_ns("timestamp", &fr.timestamp)?;
        let Some(events) = &fr.events else {
            return Err(malformed("missing field `events`"));
        };
        let start = out.len();
        let reset_books = self.check_sequence(seq, out);
        let result = self.channel_events(ch, sent, events, out);
        match result {
            Ok(control) => {
                if let Some(state) = reset_books {
                    // Books that got a fresh snapshot in this very frame are
                    // synced again; mark only the others.
                    for (sym, st) in self.books.iter_mut() {
                        let fresh = out
                            .iter()
                            .skip(start)
                            .any(|e| matches!(e.payload, Payload::Snapshot(_)) && e.symbol == *sym);
                        if !fresh {
                            *st = state;
                        }
                    }
                }
                self.last_seq = Some(seq);
                Ok(control)
            }
            Err(e) => {
                out.truncate(start);
                Err(e)
            }
        }
    }

    fn channel_events(
        &mut self,
        ch: AtChannel,
        sent: Nanos,
        events: &[AtEvent<'_>],
        out: &mut Vec<Event>,
    ) -> Result<Control, ParseError> {
        match ch {
            AtChannel::Subscriptions => return Ok(Control::Ack),
            AtChannel::Heartbeats => {
                for ev in events {
                    let n = uint("events.heartbeat_counter", &ev.heartbeat_counter)?;
                    if let Some(last) = self.last_heartbeat
                        && n > last.saturating_add(1)
                    {
                        self.heartbeat_gaps += 1;
                    }
                    self.last_heartbeat = Some(n);
                }
                return Ok(Control::Heartbeat);
            }
            _ => {}
        }
        // Book states to commit only once the whole frame parsed.
        let mut synced: Vec<Symbol> = Vec::new();
        for ev in events {
            match ch {
                AtChannel::L2 => {
                    if let Some(sym) = self.l2_event(ev, sent, out)? {
                        synced.push(sym);
                    }
                }
                AtChannel::Trades => self.trades_event(ev, sent, out)?,
                AtChannel::Ticker => self.ticker_event(ev, sent, out)?,
                AtChannel::Candles => self.candles_event(ev, sent, out)?,
                AtChannel::Heartbeats | AtChannel::Subscriptions => {}
            }
        }
        for sym in synced {
            if self.books.len() < MAX_TRACKED || self.books.contains_key(&sym) {
                self.books.insert(sym, BookState::Synced);
            }
        }
        Ok(Control::Data)
    }

    /// One `l2_data` event; returns the product when it was a snapshot.
    fn l2_event(
        &mut self,
        ev: &AtEvent<'_>,
        sent: Nanos,
        out: &mut Vec<Event>,
    ) -> Result<Option<Symbol>, ParseError> {
        let ty = text("events.type", &ev.ty)?;
        let snapshot = match ty {
            "snapshot" => true,
            "update" => false,
            other => {
                return Err(malformed(format!(
                    "field `events.type`: `{other}` is neither snapshot nor update"
                )));
            }
        };
        let symbol = self.symbol("events.product_id", &ev.product_id)?;
        let Some(updates) = &ev.updates else {
            return Err(malformed("missing field `events.updates`"));
        };
        self.bids.clear();
        self.asks.clear();
        let mut latest: Option<Nanos> = None;
        for u in updates {
            let level = Level {
                price: num("updates.price_level", &u.price_level)?,
                qty: num("updates.new_quantity", &u.new_quantity)?,
            };
            if level.qty < 0.0 {
                return Err(malformed("field `updates.new_quantity`: negative"));
            }
            let t = time_ns("updates.event_time", &u.event_time)?;
            latest = Some(latest.map_or(t, |l: Nanos| l.max(t)));
            match text("updates.side", &u.side)? {
                "bid" => self.bids.push(level),
                "offer" | "ask" => self.asks.push(level),
                other => {
                    return Err(malformed(format!(
                        "field `updates.side`: `{other}` is neither bid nor offer"
                    )));
                }
            }
        }
        let payload = if snapshot {
            // Level event times in a snapshot say when each level last
            // changed; the snapshot itself is as of the send time.
            Payload::Snapshot(DepthSnapshot {
                last_id: None,
                bids: self.bids.clone(),
                asks: self.asks.clone(),
                exch_ns: Some(sent),
            })
        } else {
            Payload::Depth(DepthDiff {
                first_id: 0,
                last_id: 0,
                prev_last_id: None,
                bids: self.bids.clone(),
                asks: self.asks.clone(),
                exch_ns: Some(latest.unwrap_or(sent)),
            })
        };
        out.push(Event {
            symbol: symbol.clone(),
            stream: StreamKind::Depth,
            payload,
        });
        Ok(snapshot.then_some(symbol))
    }

    fn trades_event(
        &mut self,
        ev: &AtEvent<'_>,
        sent: Nanos,
        out: &mut Vec<Event>,
    ) -> Result<(), ParseError> {
        let Some(trades) = &ev.trades else {
            return Err(malformed("missing field `events.trades`"));
        };
        let start = out.len();
        for t in trades {
            let symbol = self.symbol("trades.product_id", &t.product_id)?;
            let trade = Trade {
                price: num("trades.price", &t.price)?,
                qty: num("trades.size", &t.size)?,
                id: Some(uint("trades.trade_id", &t.trade_id)?),
                exch_ns: Some(time_ns("trades.time", &t.time)?),
                event_ns: Some(sent),
            };
            out.push(Event {
                symbol,
                stream: StreamKind::Trade,
                payload: Payload::Trade(trade),
            });
        }
        // Coinbase lists a batch newest first at times (the subscription
        // snapshot); the engine wants prints in the order they happened.
        let ids = |e: Option<&Event>| match e.map(|e| &e.payload) {
            Some(Payload::Trade(t)) => t.id,
            _ => None,
        };
        if let (Some(first), Some(last)) = (ids(out.get(start)), ids(out.last()))
            && first > last
            && let Some(batch) = out.get_mut(start..)
        {
            batch.reverse();
        }
        Ok(())
    }

    fn ticker_event(
        &mut self,
        ev: &AtEvent<'_>,
        sent: Nanos,
        out: &mut Vec<Event>,
    ) -> Result<(), ParseError> {
        let Some(tickers) = &ev.tickers else {
            return Err(malformed("missing field `events.tickers`"));
        };
        for t in tickers {
            let symbol = self.symbol("tickers.product_id", &t.product_id)?;
            let quote = Quote {
                bid: Level {
                    price: num("tickers.best_bid", &t.best_bid)?,
                    qty: num("tickers.best_bid_quantity", &t.best_bid_quantity)?,
                },
                ask: Level {
                    price: num("tickers.best_ask", &t.best_ask)?,
                    qty: num("tickers.best_ask_quantity", &t.best_ask_quantity)?,
                },
                update_id: None,
                exch_ns: Some(sent),
            };
            out.push(Event {
                symbol,
                stream: StreamKind::Bbo,
                payload: Payload::Quote(quote),
            });
        }
        Ok(())
    }

    fn candle(c: &AtCandle<'_>, sent: Option<Nanos>) -> Result<Candle, ParseError> {
        let start = text("candles.start", &c.start)?;
        let open_ns = epoch_secs_ns(start).ok_or_else(|| {
            malformed(format!(
                "field `candles.start`: bad epoch seconds {start:?}"
            ))
        })?;
        let candle = Candle {
            open_ns,
            interval_secs: CANDLE_SECS,
            open: num("candles.open", &c.open)?,
            high: num("candles.high", &c.high)?,
            low: num("candles.low", &c.low)?,
            close: num("candles.close", &c.close)?,
            volume: num("candles.volume", &c.volume)?,
            quote_volume: None,
            trades: None,
            first_trade_id: None,
            last_trade_id: None,
            closed: false,
            exch_ns: sent,
        };
        Ok(candle)
    }

    fn candles_event(
        &mut self,
        ev: &AtEvent<'_>,
        sent: Nanos,
        out: &mut Vec<Event>,
    ) -> Result<(), ParseError> {
        let Some(candles) = &ev.candles else {
            return Err(malformed("missing field `events.candles`"));
        };
        // Parse everything first so that a bad candle leaves the tracked
        // buckets untouched.
        let start = out.len();
        for c in candles {
            let symbol = self.symbol("candles.product_id", &c.product_id)?;
            let candle = Self::candle(c, Some(sent))?;
            out.push(Event {
                symbol,
                stream: StreamKind::Kline(CANDLE_SECS),
                payload: Payload::Candle(candle),
            });
        }
        let new: Vec<Event> = out.drain(start..).collect();
        for e in new {
            let Payload::Candle(c) = &e.payload else {
                continue;
            };
            match self.candles.get(&e.symbol) {
                Some(prev) if prev.open_ns < c.open_ns => {
                    let mut done = prev.clone();
                    done.closed = true;
                    out.push(Event {
                        symbol: e.symbol.clone(),
                        stream: e.stream,
                        payload: Payload::Candle(done),
                    });
                    self.candles.insert(e.symbol.clone(), c.clone());
                }
                // An older bucket re-sent: pass it on as it is, but keep
                // tracking the newest.
                Some(prev) if prev.open_ns > c.open_ns => {}
                Some(_) => {
                    self.candles.insert(e.symbol.clone(), c.clone());
                }
                None if self.candles.len() < MAX_TRACKED => {
                    self.candles.insert(e.symbol.clone(), c.clone());
                }
                None => {}
            }
            out.push(e);
        }
        Ok(())
    }
}

impl Adapter for CoinbaseAdapter {
    fn venue(&self) -> Venue {
        Venue::Coinbase
    }

    fn parse_frame(&mut self, frame: &str, out: &mut Vec<Event>) -> Result<Control, ParseError> {
        let fr = Self::frame(frame)?;
        if fr.channel.is_some() {
            return self.advanced_trade(&fr, out);
        }
        match &fr.ty {
            Some(Scalar::Str(ty)) => {
                let start = out.len();
                let r = self.legacy(ty, &fr, out);
                if r.is_err() {
                    out.truncate(start);
                }
                r
            }
            Some(_) => Err(malformed("field `type`: expected a string")),
            None => Err(unknown("message with neither `channel` nor `type`")),
        }
    }

    /// Parses a REST `product_book` response (`{"pricebook":{..}}`) into a
    /// snapshot on the partial-depth stream: a REST book carries no
    /// `sequence_num`, so it cannot be lined up with the WebSocket diffs and
    /// must not seed the incremental book.
    fn parse_rest(
        &mut self,
        _request: &str,
        body: &str,
        out: &mut Vec<Event>,
    ) -> Result<Control, ParseError> {
        let fr = Self::frame(body)?;
        if matches!(&fr.ty, Some(Scalar::Str(t)) if t == "error") || fr.message.is_some() {
            return Err(Self::error_reply(&fr));
        }
        let Some(book) = &fr.pricebook else {
            return Err(unknown("REST body without `pricebook`"));
        };
        let symbol = self.symbol("pricebook.product_id", &book.product_id)?;
        let side = |field: &str, levels: &Option<Vec<wire::RestLevel<'_>>>| {
            let Some(levels) = levels else {
                return Err(malformed(format!("missing field `pricebook.{field}`")));
            };
            levels
                .iter()
                .map(|l| {
                    Ok(Level {
                        price: num("pricebook.price", &l.price)?,
                        qty: num("pricebook.size", &l.size)?,
                    })
                })
                .collect::<Result<Vec<Level>, ParseError>>()
        };
        let snap = DepthSnapshot {
            last_id: None,
            bids: side("bids", &book.bids)?,
            asks: side("asks", &book.asks)?,
            exch_ns: Some(time_ns("pricebook.time", &book.time)?),
        };
        out.push(Event {
            symbol,
            stream: StreamKind::PartialDepth,
            payload: Payload::Snapshot(snap),
        });
        Ok(Control::Data)
    }
}

#[cfg(test)]
mod tests;
