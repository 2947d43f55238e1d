//! Bybit v5 public market data, spot and linear (USDT/USDC perpetuals and
//! futures): turns WebSocket pushes and control replies into normalized
//! [`Event`]s, and says how to connect and subscribe ([`BybitProtocol`]).
//!
//! Topics handled:
//! - `orderbook.{depth}.{symbol}` with depth > 1: `snapshot` becomes a
//!   [`DepthSnapshot`] with `last_id = u`, `delta` a [`DepthDiff`] with
//!   `first_id = last_id = u` and no `prev_last_id`, on [`StreamKind::Depth`]:
//!   Bybit's `u` is continuous per topic, so the engine's book checks
//!   `u == previous u + 1`. A snapshot with `u == 1` means Bybit restarted
//!   the service: an [`Integrity::Reset`] goes out before the snapshot, so it
//!   is not mistaken for a gap.
//! - `orderbook.1.{symbol}`: level 1 is pushed only as snapshots (re-sent
//!   unchanged every 3 s when nothing moves), so each one is a best bid/offer
//!   [`Quote`] on [`StreamKind::Bbo`].
//! - `publicTrade.{symbol}`: one [`Trade`] per row.
//! - `tickers.{symbol}`: linear tickers carry `bid1Price`/`ask1Price`; the
//!   first push is a snapshot, later ones are deltas with only the fields
//!   that changed, so the adapter keeps the last best bid/offer per symbol
//!   (bounded) and emits a full [`Quote`] on [`StreamKind::Bbo`].
//! - `kline.{interval}.{symbol}`: one [`Candle`] per row, `confirm` = closed.
//!
//! Subscription replies are [`Control::Ack`] (failures are
//! [`ParseError::Unknown`] with Bybit's `ret_msg`), pongs are
//! [`Control::Heartbeat`]. Other topics are [`ParseError::Unknown`] naming
//! the topic. The parser is pure and total: it never panics, never does I/O,
//! pushes events only when the whole frame parsed, and keeps bounded state.
//! All Bybit times are milliseconds and become [`Nanos`] with checked
//! arithmetic.

mod protocol;
mod wire;

use std::collections::HashMap;

use super::symbols::{MAX_RAW_SYMBOL_LEN, SymbolCache, SymbolError, split_concatenated};
use super::{Adapter, Control, ParseError, Protocol, VenueSpec};
use crate::model::Market;
use crate::model::ms_to_ns;
use crate::model::{
    Candle, DepthDiff, DepthSnapshot, Event, Integrity, Level, Nanos, Payload, Quote, StreamKind,
    Symbol, Trade, Venue,
};
pub use protocol::{ARGS_PER_REQUEST, BOOK_DEPTH, BybitProtocol, protocol};
use wire::{Ctx, Data, Frame, MaybeNum, Row};

/// Most symbols whose last ticker best bid/offer is remembered. Past it,
/// tickers of new symbols still give quotes when a push carries all four
/// fields (snapshots do), but their partial deltas cannot be completed.
pub const MAX_TICKER_SYMBOLS: usize = 10_000;

/// Bybit spot: what the rest of feedwatch needs to know about it.
const SPOT: VenueSpec = VenueSpec {
    venue: Venue::BybitSpot,
    exchange: "bybit",
    market: Market::Spot,
    main_quote: "USDT",
    hosting: None,
    // Bybit re-sends an unchanged top of book every 3 s: a gap up to that
    // (plus delivery jitter) is its rhythm in a calm market.
    book_quiet_cadence_s: 3.5,
    sparse_klines: false,
    rest_depth: None,
    adapter: |venue| Box::new(BybitAdapter::new(venue)),
    protocol: |venue| protocol(venue).map(|p| Box::new(p) as Box<dyn Protocol>),
};

/// Bybit spot and linear (the formats are the same; linear is perpetuals).
pub const SPECS: &[VenueSpec] = &[
    SPOT,
    VenueSpec {
        venue: Venue::BybitLinear,
        market: Market::Perp,
        ..SPOT
    },
];

/// Parser for Bybit v5 public frames of one venue ([`Venue::BybitSpot`] or
/// [`Venue::BybitLinear`]; the formats are the same).
pub struct BybitAdapter {
    venue: Venue,
    symbols: SymbolCache,
    ctx: Ctx,
    /// Last known best bid/offer from `tickers` pushes, per symbol.
    tickers: HashMap<Symbol, Top>,
}

/// The best bid/offer fields of a ticker, as last sent.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Top {
    bid_px: Option<f64>,
    bid_sz: Option<f64>,
    ask_px: Option<f64>,
    ask_sz: Option<f64>,
}

impl Top {
    /// Sets the fields present in a push (`""` clears one).
    fn update(&mut self, r: &Row<'_>) {
        let set = |slot: &mut Option<f64>, v: Option<MaybeNum>| match v {
            None => {}
            Some(MaybeNum::Empty) => *slot = None,
            Some(MaybeNum::Num(x)) => *slot = Some(x),
        };
        set(&mut self.bid_px, r.bid_px);
        set(&mut self.bid_sz, r.bid_sz);
        set(&mut self.ask_px, r.ask_px);
        set(&mut self.ask_sz, r.ask_sz);
    }

    fn quote(&self) -> Option<(Level, Level)> {
        Some((
            Level {
                price: self.bid_px?,
                qty: self.bid_sz?,
            },
            Level {
                price: self.ask_px?,
                qty: self.ask_sz?,
            },
        ))
    }
}

/// What a topic carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Topic<'t> {
    Book { depth: u32, symbol: &'t str },
    Trade { symbol: &'t str },
    Ticker { symbol: &'t str },
    Kline { interval: &'t str, symbol: &'t str },
}

/// Splits a topic into what it carries; `None` for topics this adapter does
/// not parse (liquidations, leveraged tokens, anything else).
fn classify_topic(topic: &str) -> Option<Topic<'_>> {
    let (chan, rest) = topic.split_once('.')?;
    let t = match chan {
        "orderbook" => {
            let (depth, symbol) = rest.split_once('.')?;
            Topic::Book {
                depth: depth.parse().ok()?,
                symbol,
            }
        }
        "publicTrade" => Topic::Trade { symbol: rest },
        "tickers" => Topic::Ticker { symbol: rest },
        "kline" => {
            let (interval, symbol) = rest.split_once('.')?;
            Topic::Kline { interval, symbol }
        }
        _ => return None,
    };
    Some(t)
}

/// Bybit kline interval (`1`..`720` minutes, `D`, `W`) in seconds; `None`
/// for anything else (`M` has no fixed length and is reported separately).
fn interval_secs(i: &str) -> Option<u32> {
    match i {
        "D" => Some(86_400),
        "W" => Some(7 * 86_400),
        _ if !i.is_empty() && i.len() <= 4 && i.bytes().all(|b| b.is_ascii_digit()) => {
            i.parse::<u32>().ok()?.checked_mul(60).filter(|s| *s > 0)
        }
        _ => None,
    }
}

/// The canonical `BASE/QUOTE` name of a Bybit spot or linear symbol.
///
/// - `BTCUSDT` -> `BTC/USDT` (spot and USDT perpetual; the venue tells them
///   apart, not the symbol).
/// - USDC perpetuals `BTCPERP` -> `BTC/USDC`.
/// - Dated futures map to the pair of their perpetual: `BTCUSDT-27DEC24` ->
///   `BTC/USDT`, `BTC-27DEC24` (USDC-settled) -> `BTC/USDC`.
///
/// An empty or over-long name, a `/` or whitespace, a suffix after `-` that
/// is not a `DDMMMYY` date, or no known quote asset is an error naming the
/// input.
pub fn bybit_canonical(raw: &str) -> Result<String, SymbolError> {
    let fail = |why: &str| {
        SymbolError(format!(
            "cannot split symbol {raw:?} into base/quote: {why}"
        ))
    };
    if raw.is_empty() {
        return Err(fail("empty"));
    }
    if raw.len() > MAX_RAW_SYMBOL_LEN {
        return Err(fail("too long"));
    }
    if !raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(fail(
            "contains characters other than letters, digits and '-'",
        ));
    }
    let (pair, dated) = match raw.split_once('-') {
        None => (raw, false),
        Some((pair, expiry)) => {
            if !is_expiry(expiry) {
                return Err(fail("contract suffix is not a DDMMMYY date"));
            }
            (pair, true)
        }
    };
    let upper = pair.to_ascii_uppercase();
    if let Some(base) = upper.strip_suffix("PERP").filter(|b| !b.is_empty()) {
        return Ok(format!("{base}/USDC"));
    }
    match split_concatenated(&upper) {
        Some((base, quote)) => Ok(format!("{base}/{quote}")),
        // USDC-settled dated futures name only the base (`BTC-27DEC24`).
        None if dated && !upper.is_empty() => Ok(format!("{upper}/USDC")),
        None => Err(fail("no known quote asset suffix")),
    }
}

/// `27DEC24`, `3JAN25`.
fn is_expiry(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
    (1..=2).contains(&digits)
        && b.len() == digits + 5
        && b.get(digits..digits + 3)
            .is_some_and(|m| m.iter().all(|c| c.is_ascii_alphabetic()))
        && b.get(digits + 3..)
            .is_some_and(|y| y.iter().all(|c| c.is_ascii_digit()))
}

impl BybitAdapter {
    /// An adapter for [`Venue::BybitSpot`] or [`Venue::BybitLinear`].
    pub fn new(venue: Venue) -> Self {
        BybitAdapter {
            venue,
            symbols: SymbolCache::new(bybit_canonical, SymbolCache::DEFAULT_CAPACITY),
            ctx: Ctx::default(),
            tickers: HashMap::new(),
        }
    }

    fn malformed(&self, detail: impl Into<String>) -> ParseError {
        ParseError::malformed(self.venue, detail)
    }

    fn unknown(&self, detail: impl Into<String>) -> ParseError {
        ParseError::unknown(self.venue, detail)
    }

    fn need<T>(&self, field: &str, v: Option<T>) -> Result<T, ParseError> {
        v.ok_or_else(|| self.malformed(format!("missing field `{field}`")))
    }

    fn time(&self, field: &str, ms: Option<u64>) -> Result<Nanos, ParseError> {
        let ms = self.need(field, ms)?;
        ms_to_ns(ms)
            .ok_or_else(|| self.malformed(format!("field `{field}`: time {ms} ms is out of range")))
    }

    /// The symbol of `topic`, checked against the one the payload names.
    fn symbol(
        &mut self,
        topic_sym: &str,
        field: &str,
        payload_sym: Option<&str>,
    ) -> Result<Symbol, ParseError> {
        if let Some(s) = payload_sym
            && s != topic_sym
        {
            return Err(self.malformed(format!(
                "field `{field}`: symbol `{s}` on a topic for `{topic_sym}`"
            )));
        }
        match self.symbols.get(topic_sym) {
            Ok(s) => Ok(s),
            Err(e) => Err(self.malformed(format!("field `topic`: {e}"))),
        }
    }

    fn object<'f, 'a>(&self, fr: &'f mut Frame<'a>) -> Result<&'f mut Row<'a>, ParseError> {
        match &fr.data {
            Data::Object => Ok(&mut fr.row),
            Data::Array(_) => Err(self.malformed("field `data`: expected an object, got an array")),
            Data::Absent => Err(self.malformed("missing field `data`")),
        }
    }

    fn rows<'f, 'a>(&self, fr: &'f Frame<'a>) -> Result<&'f [Row<'a>], ParseError> {
        match &fr.data {
            Data::Array(r) => Ok(r),
            Data::Object => Err(self.malformed("field `data`: expected an array, got an object")),
            Data::Absent => Err(self.malformed("missing field `data`")),
        }
    }

    /// `snapshot` -> true, `delta` -> false.
    fn is_snapshot(&self, fr: &Frame<'_>) -> Result<bool, ParseError> {
        match fr.kind.as_deref() {
            Some("snapshot") => Ok(true),
            Some("delta") => Ok(false),
            Some(other) => Err(self.malformed(format!(
                "field `type`: expected `snapshot` or `delta`, got `{other}`"
            ))),
            None => Err(self.malformed("missing field `type`")),
        }
    }

    fn control(&self, fr: &Frame<'_>) -> Result<Control, ParseError> {
        let msg = fr.ret_msg.as_deref().unwrap_or("");
        let failed = |what: &str| {
            self.unknown(format!(
                "{what} failed: {}",
                if msg.is_empty() { "(no ret_msg)" } else { msg }
            ))
        };
        match (fr.op.as_deref(), fr.success) {
            // Spot answers a ping with `op: ping`, linear with `op: pong`.
            (Some("ping" | "pong"), None | Some(true)) => Ok(Control::Heartbeat),
            (Some("subscribe" | "unsubscribe" | "auth"), Some(true)) => Ok(Control::Ack),
            (Some(op), Some(false)) => Err(failed(&format!("op `{op}`"))),
            (Some(op @ ("subscribe" | "unsubscribe" | "auth")), None) => {
                Err(self.malformed(format!("missing field `success` in the reply to op `{op}`")))
            }
            (Some(op), _) => Err(self.unknown(format!("op `{op}`"))),
            (None, Some(false)) => Err(failed("request")),
            (None, _) => Err(self.unknown("message without topic or op")),
        }
    }

    fn book(
        &mut self,
        fr: &mut Frame<'_>,
        depth: u32,
        topic_sym: &str,
        out: &mut Vec<Event>,
    ) -> Result<Control, ParseError> {
        if depth == 0 {
            return Err(self.malformed("field `topic`: order book depth 0"));
        }
        let snapshot = self.is_snapshot(fr)?;
        let exch_ns = Some(self.time("ts", fr.ts)?);
        let r = self.object(fr)?;
        // The levels move into the event: the frame owns them already.
        let (raw_s, u, bids, asks) = (r.s.take(), r.u, r.b.take(), r.a.take());
        let symbol = self.symbol(topic_sym, "data.s", raw_s.as_deref())?;
        let u = self.need("data.u", u)?;
        let bids = self.need("data.b", bids)?;
        let asks = self.need("data.a", asks)?;
        if depth == 1 {
            if !snapshot {
                return Err(self.unknown(
                    "delta on a level-1 order book topic (Bybit sends level 1 as snapshots only)",
                ));
            }
            // An empty side (a one-sided market) gives no quote; the push
            // still proves the connection.
            let (Some(bid), Some(ask)) = (bids.first(), asks.first()) else {
                return Ok(Control::Heartbeat);
            };
            out.push(Event {
                symbol,
                stream: StreamKind::Bbo,
                payload: Payload::Quote(Quote {
                    bid: *bid,
                    ask: *ask,
                    update_id: Some(u),
                    exch_ns,
                }),
            });
            return Ok(Control::Data);
        }
        if snapshot {
            // `u == 1` on a snapshot: Bybit restarted the book service and
            // numbering starts over. Announce it so the book is rebuilt from
            // this snapshot rather than reported as a gap.
            if u == 1 {
                out.push(Event {
                    symbol: symbol.clone(),
                    stream: StreamKind::Depth,
                    payload: Payload::Integrity(Integrity::Reset),
                });
            }
            out.push(Event {
                symbol,
                stream: StreamKind::Depth,
                payload: Payload::Snapshot(DepthSnapshot {
                    last_id: Some(u),
                    bids,
                    asks,
                    exch_ns,
                }),
            });
        } else {
            out.push(Event {
                symbol,
                stream: StreamKind::Depth,
                payload: Payload::Depth(DepthDiff {
                    first_id: u,
                    last_id: u,
                    prev_last_id: None,
                    bids,
                    asks,
                    exch_ns,
                }),
            });
        }
        Ok(Control::Data)
    }

    fn trades(
        &mut self,
        fr: &Frame<'_>,
        topic_sym: &str,
        out: &mut Vec<Event>,
    ) -> Result<Control, ParseError> {
        let event_ns = Some(self.time("ts", fr.ts)?);
        let rows = self.rows(fr)?;
        let symbol = self.symbol(topic_sym, "data.s", None)?;
        for r in rows {
            if let Some(s) = r.s.as_deref()
                && s != topic_sym
            {
                return Err(self.malformed(format!(
                    "field `data.s`: symbol `{s}` on a topic for `{topic_sym}`"
                )));
            }
            let price = self.need("data.p", r.p)?;
            if price <= 0.0 {
                return Err(
                    self.malformed(format!("field `data.p`: price {price} is not positive"))
                );
            }
            // Spot ids are decimal numbers; linear ids are UUIDs, which
            // carry no order and are left out.
            let id = match r.i.as_deref() {
                None => return Err(self.malformed("missing field `data.i`")),
                Some(i) => i.parse::<u64>().ok(),
            };
            match r.side.as_deref() {
                Some("Buy" | "Sell") | None => {}
                Some(other) => {
                    return Err(self.malformed(format!(
                        "field `data.S`: expected `Buy` or `Sell`, got `{other}`"
                    )));
                }
            }
            out.push(Event {
                symbol: symbol.clone(),
                stream: StreamKind::Trade,
                payload: Payload::Trade(Trade {
                    price,
                    qty: self.need("data.v", r.v)?,
                    id,
                    exch_ns: Some(self.time("data.T", r.trade_ms)?),
                    event_ns,
                }),
            });
        }
        Ok(Control::Data)
    }

    fn ticker(
        &mut self,
        fr: &mut Frame<'_>,
        topic_sym: &str,
        out: &mut Vec<Event>,
    ) -> Result<Control, ParseError> {
        let snapshot = self.is_snapshot(fr)?;
        let exch_ns = Some(self.time("ts", fr.ts)?);
        let cs = fr.cs;
        let r = &*self.object(fr)?;
        let symbol = self.symbol(topic_sym, "data.symbol", r.symbol.as_deref())?;
        let touched =
            r.bid_px.is_some() || r.bid_sz.is_some() || r.ask_px.is_some() || r.ask_sz.is_some();
        let mut top = if snapshot {
            Top::default()
        } else {
            self.tickers.get(&symbol).copied().unwrap_or_default()
        };
        top.update(r);
        let room = self.tickers.len() < MAX_TICKER_SYMBOLS || self.tickers.contains_key(&symbol);
        if (snapshot || touched) && room {
            self.tickers.insert(symbol.clone(), top);
        }
        // A delta that changed other fields only (mark price, funding), or
        // a spot ticker (which has no best bid/offer), is not a quote.
        let quote = if touched { top.quote() } else { None };
        let Some((bid, ask)) = quote else {
            return Ok(Control::Heartbeat);
        };
        out.push(Event {
            symbol,
            stream: StreamKind::Bbo,
            payload: Payload::Quote(Quote {
                bid,
                ask,
                update_id: cs,
                exch_ns,
            }),
        });
        Ok(Control::Data)
    }

    fn klines(
        &mut self,
        fr: &Frame<'_>,
        interval: &str,
        topic_sym: &str,
        out: &mut Vec<Event>,
    ) -> Result<Control, ParseError> {
        let secs = match interval_secs(interval) {
            Some(s) => s,
            None if interval == "M" => {
                return Err(self.unknown(format!("kline interval `{interval}`")));
            }
            None => {
                return Err(self.malformed(format!("field `topic`: bad interval `{interval}`")));
            }
        };
        let ts = fr.ts;
        let rows = self.rows(fr)?;
        let symbol = self.symbol(topic_sym, "topic", None)?;
        for r in rows {
            if let Some(i) = r.interval.as_deref()
                && i != interval
            {
                return Err(self.malformed(format!(
                    "field `data.interval`: `{i}` on a topic for interval `{interval}`"
                )));
            }
            let time = r.timestamp.or(ts);
            out.push(Event {
                symbol: symbol.clone(),
                stream: StreamKind::Kline(secs),
                payload: Payload::Candle(Candle {
                    open_ns: self.time("data.start", r.start)?,
                    interval_secs: secs,
                    open: self.need("data.open", r.open)?,
                    high: self.need("data.high", r.high)?,
                    low: self.need("data.low", r.low)?,
                    close: self.need("data.close", r.close)?,
                    volume: self.need("data.volume", r.volume)?,
                    quote_volume: r.turnover,
                    trades: None,
                    first_trade_id: None,
                    last_trade_id: None,
                    closed: self.need("data.confirm", r.confirm)?,
                    exch_ns: Some(self.time("data.timestamp", time)?),
                }),
            });
        }
        Ok(Control::Data)
    }

    fn data(
        &mut self,
        fr: &mut Frame<'_>,
        topic: &str,
        out: &mut Vec<Event>,
    ) -> Result<Control, ParseError> {
        match classify_topic(topic) {
            Some(Topic::Book { depth, symbol }) => self.book(fr, depth, symbol, out),
            Some(Topic::Trade { symbol }) => self.trades(fr, symbol, out),
            Some(Topic::Ticker { symbol }) => self.ticker(fr, symbol, out),
            Some(Topic::Kline { interval, symbol }) => self.klines(fr, interval, symbol, out),
            None => Err(self.unknown(format!("topic `{topic}`"))),
        }
    }
}

impl Adapter for BybitAdapter {
    fn venue(&self) -> Venue {
        self.venue
    }

    fn parse_frame(&mut self, frame: &str, out: &mut Vec<Event>) -> Result<Control, ParseError> {
        let mut fr = Frame::default();
        if let Err(e) = wire::parse(frame, &self.ctx, &mut fr) {
            let field = self.ctx.field.get();
            let detail = if field.is_empty() {
                e.to_string()
            } else {
                format!("field `{field}`: {e}")
            };
            return Err(self.malformed(detail));
        }
        let Some(topic) = fr.topic.take() else {
            return self.control(&fr);
        };
        // Frames with several rows push events one by one: take them back
        // if a later row fails, so a frame gives all its events or none.
        let start = out.len();
        let r = self.data(&mut fr, &topic, out);
        if r.is_err() {
            out.truncate(start);
        }
        r
    }

    /// Bybit's REST order book carries an update id that is not guaranteed
    /// to be in the numbering of any WebSocket depth topic, and every topic
    /// starts with its own snapshot, so REST bodies are not used.
    fn parse_rest(
        &mut self,
        request: &str,
        _body: &str,
        _out: &mut Vec<Event>,
    ) -> Result<Control, ParseError> {
        Err(self.unknown(format!(
            "REST response to `{request}`: Bybit books come from WebSocket snapshots"
        )))
    }
}

#[cfg(test)]
mod tests;
