//! OKX v5 public market data: turns WebSocket pushes (`books`, `bbo-tbt`,
//! `trades`, `candle*`), event replies, the text `pong`, and REST order-book
//! bodies into normalized [`Event`]s, and says how to connect
//! ([`OkxProtocol`]).
//!
//! Books follow the venue's rules. Pushes with `seqId` (the current API) are
//! sequenced by the engine: a snapshot has `last_id = seqId`, an update
//! covers `prevSeqId + 1 ..= seqId` with `prev_last_id = prevSeqId`, so the
//! engine checks `prevSeqId == previous seqId` (an unchanged-book update has
//! `prevSeqId == seqId` and still chains; a sequence reset to a smaller
//! `seqId` still chains on `prevSeqId`), and a REST snapshot bridges when
//! `prevSeqId <= snapshot seqId < seqId`. Pushes without `seqId` (older v5,
//! as in 2022 captures) are unsequenced: the adapter keeps the book as exact
//! strings, verifies OKX's CRC32 over the top 25 levels and reports a
//! mismatch as [`Integrity::Checksum`]. OKX has retired the checksum (always
//! 0 from 23 June 2026), so a zero checksum is never checked.
//!
//! Pure and total: never panics, never does I/O, pushes events only when the
//! whole frame parsed, interns symbols in a bounded cache, and keeps at most
//! [`MAX_STRING_BOOKS`] string books. Times are milliseconds on the wire and
//! become [`Nanos`] with checked arithmetic.

mod checksum;
mod protocol;
mod wire;

use std::collections::HashMap;

use super::symbols::{MAX_RAW_SYMBOL_LEN, SymbolCache, SymbolError};
use super::{Adapter, Control, ParseError, Protocol, VenueSpec};
use crate::model::ms_to_ns;
use crate::model::{
    Candle, DepthDiff, DepthSnapshot, Event, Integrity, Level, Nanos, Payload, Quote, StreamKind,
    Symbol, Trade, Venue,
};
use checksum::StrBook;
use wire::{BookMsg, Data, Frame, RawBookMsg, Shape, Str, TradeMsg, parse_f64};

pub use checksum::crc32;
pub use protocol::{BUSINESS_URL, Market, OkxProtocol, PUBLIC_URL, endpoint_for, protocol};

/// OKX (spot instruments): what the rest of feedwatch needs to know about
/// it.
pub const SPECS: &[VenueSpec] = &[VenueSpec {
    venue: Venue::Okx,
    exchange: "okx",
    market: crate::model::Market::Spot,
    main_quote: "USDT",
    hosting: None,
    book_quiet_cadence_s: 0.0,
    sparse_klines: false,
    rest_depth: None,
    adapter: |_| Box::new(OkxAdapter::new()),
    protocol: |venue| protocol(venue).map(|p| Box::new(p) as Box<dyn Protocol>),
}];

/// Most instruments whose unsequenced book the adapter keeps as strings for
/// checksum verification; past it, new instruments go unchecked.
pub const MAX_STRING_BOOKS: usize = 1024;

/// The canonical `BASE/QUOTE` name of an OKX instrument id.
///
/// Spot `BTC-USDT`, perpetual swap `BTC-USDT-SWAP` and dated futures
/// `BTC-USD-220527` all map to their asset pair (`BTC/USDT`, `BTC/USD`), like
/// Binance's perpetual and delivery contracts. Options
/// (`BTC-USD-240927-60000-C`) and anything else are errors naming the input.
pub fn okx_canonical(raw: &str) -> Result<String, SymbolError> {
    let fail = |why: &str| SymbolError(format!("cannot split OKX instrument {raw:?}: {why}"));
    if raw.is_empty() {
        return Err(fail("empty"));
    }
    if raw.len() > MAX_RAW_SYMBOL_LEN {
        return Err(fail("too long"));
    }
    let mut parts = raw.split('-');
    let (Some(base), Some(quote)) = (parts.next(), parts.next()) else {
        return Err(fail("expected BASE-QUOTE"));
    };
    let alnum = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric());
    if !alnum(base) || !alnum(quote) {
        return Err(fail("base and quote must be non-empty and alphanumeric"));
    }
    match (parts.next(), parts.next()) {
        (None, _) => {}
        (Some(s), None) if s.eq_ignore_ascii_case("SWAP") => {}
        (Some(d), None) if d.len() == 6 && d.bytes().all(|b| b.is_ascii_digit()) => {}
        _ => return Err(fail("neither spot, SWAP nor a YYMMDD future")),
    }
    Ok(format!(
        "{}/{}",
        base.to_ascii_uppercase(),
        quote.to_ascii_uppercase()
    ))
}

/// Parser for OKX v5 public frames.
pub struct OkxAdapter {
    symbols: SymbolCache,
    /// Unsequenced books kept as exact strings, for the checksum.
    books: HashMap<Symbol, StrBook>,
    /// Scratch for the checksum string.
    crc_buf: String,
}

impl Default for OkxAdapter {
    fn default() -> Self {
        Self::new()
    }
}

impl OkxAdapter {
    /// A fresh adapter.
    pub fn new() -> Self {
        OkxAdapter {
            symbols: SymbolCache::new(okx_canonical, SymbolCache::DEFAULT_CAPACITY),
            books: HashMap::new(),
            crc_buf: String::new(),
        }
    }

    /// Number of unsequenced books held for checksum verification.
    pub fn string_books(&self) -> usize {
        self.books.len()
    }

    fn symbol(&mut self, field: &str, raw: &str) -> Result<Symbol, ParseError> {
        self.symbols
            .get(raw)
            .map_err(|e| malformed(format!("field `{field}`: {e}")))
    }

    fn interpret(
        &mut self,
        text: &str,
        fr: Frame<'_>,
        out: &mut Vec<Event>,
    ) -> Result<Control, ParseError> {
        if let Some(ev) = fr.event.as_deref() {
            return match ev {
                "subscribe" | "unsubscribe" => Ok(Control::Ack),
                // Connection-count reports and service notices (e.g. the
                // connection will close for an upgrade) are control replies.
                "channel-conn-count" | "notice" => Ok(Control::Ack),
                "error" => Err(error_reply(fr.code.as_ref(), fr.msg.as_deref())),
                other => Err(unknown(format!("event `{other}`"))),
            };
        }
        let Some(arg) = fr.arg.as_ref() else {
            if let Some(code) = fr.code.as_ref().filter(|c| !c.is_zero()) {
                return Err(error_reply(Some(code), fr.msg.as_deref()));
            }
            return Err(unknown("message without `event` or `arg`"));
        };
        let Some(channel) = arg.channel.as_deref() else {
            return Err(malformed("missing field `arg.channel`"));
        };
        let shape = wire::shape_of(channel);
        if shape == Shape::Skip {
            return Err(unknown(format!("channel `{channel}`")));
        }
        let Some(inst) = arg.inst_id.as_deref() else {
            return Err(malformed("missing field `arg.instId`"));
        };
        let symbol = self.symbol("arg.instId", inst)?;
        let start = out.len();
        let res = match (fr.data, shape) {
            (Data::Absent, _) => Err(malformed("missing field `data`")),
            (Data::Book(items), Shape::Book) => match channel {
                "books" | "books-l2-tbt" | "books50-l2-tbt" => {
                    self.books_push(text, &symbol, fr.action.as_deref(), items, out)
                }
                "bbo-tbt" => bbo(&symbol, items, out),
                // books5 pushes full 5-level snapshots: partial depth.
                _ => partial(&symbol, items, out),
            },
            (Data::Trades(items), Shape::Trades) => self.trades(&symbol, &items, out),
            (Data::Rows(rows), Shape::Rows) => candles(&symbol, channel, &rows, out),
            _ => Err(malformed(format!(
                "field `data`: wrong shape for `{channel}`"
            ))),
        };
        if res.is_err() {
            // Only whole frames produce events.
            out.truncate(start);
        }
        res
    }

    fn books_push(
        &mut self,
        text: &str,
        symbol: &Symbol,
        action: Option<&str>,
        items: Vec<BookMsg<'_>>,
        out: &mut Vec<Event>,
    ) -> Result<Control, ParseError> {
        let snapshot = match action {
            Some("snapshot") => true,
            Some("update") => false,
            Some(other) => return Err(malformed(format!("field `action`: unknown `{other}`"))),
            None => return Err(malformed("missing field `action`")),
        };
        // Unsequenced books need the exact level strings for the checksum:
        // a second parse, only on that (older API) path.
        let raw: Vec<RawBookMsg<'_>> = if items.iter().any(|m| m.seq_id.is_none()) {
            match wire::parse(text, Some(Shape::RawBook)) {
                Ok(Frame {
                    data: Data::RawBook(r),
                    ..
                }) => r,
                Ok(_) => return Err(malformed("missing field `data`")),
                Err(e) => return Err(malformed(e.to_string())),
            }
        } else {
            Vec::new()
        };
        let empty = RawBookMsg::default();
        for (i, m) in items.into_iter().enumerate() {
            let raw = raw.get(i).unwrap_or(&empty);
            let (bids_raw, asks_raw) = (raw.bids.as_slice(), raw.asks.as_slice());
            let exch_ns = Some(ms_field("ts", m.ts.as_ref())?);
            let (bids, asks) = sides(m.bids, m.asks)?;
            match (m.seq_id, snapshot) {
                (Some(seq), true) => {
                    // Sequenced: the engine checks continuity; no string book.
                    self.books.remove(symbol);
                    out.push(depth_event(
                        symbol,
                        Payload::Snapshot(DepthSnapshot {
                            last_id: Some(seq_u64("seqId", seq)?),
                            bids,
                            asks,
                            exch_ns,
                        }),
                    ));
                }
                (Some(seq), false) => {
                    self.books.remove(symbol);
                    let last_id = seq_u64("seqId", seq)?;
                    let prev = match m.prev_seq_id {
                        Some(p) => seq_u64("prevSeqId", p)?,
                        None => return Err(malformed("missing field `prevSeqId`")),
                    };
                    // `prevSeqId + 1 ..= seqId`; an unchanged-book update
                    // (`prevSeqId == seqId`) and a reset to a smaller seqId
                    // cover just `seqId`.
                    let first_id = prev.saturating_add(1).min(last_id);
                    out.push(depth_event(
                        symbol,
                        Payload::Depth(DepthDiff {
                            first_id,
                            last_id,
                            prev_last_id: Some(prev),
                            bids,
                            asks,
                            exch_ns,
                        }),
                    ));
                }
                (None, true) => {
                    let book = StrBook::from_snapshot(bids_raw, asks_raw);
                    out.push(depth_event(
                        symbol,
                        Payload::Snapshot(DepthSnapshot {
                            last_id: None,
                            bids,
                            asks,
                            exch_ns,
                        }),
                    ));
                    self.verify(symbol, book, m.checksum, out)?;
                }
                (None, false) => {
                    out.push(depth_event(
                        symbol,
                        Payload::Depth(DepthDiff {
                            first_id: 0,
                            last_id: 0,
                            prev_last_id: None,
                            bids,
                            asks,
                            exch_ns,
                        }),
                    ));
                    // Without a snapshot first there is nothing to check.
                    if let Some(mut book) = self.books.remove(symbol) {
                        book.apply(bids_raw, asks_raw);
                        self.verify(symbol, book, m.checksum, out)?;
                    }
                }
            }
        }
        Ok(Control::Data)
    }

    /// Checks `book` against the venue checksum; keeps it if it matches (or
    /// there is nothing to check), drops it and reports the mismatch if not
    /// (the engine waits for the next snapshot, so one fault is one report).
    fn verify(
        &mut self,
        symbol: &Symbol,
        book: StrBook,
        sent: Option<i64>,
        out: &mut Vec<Event>,
    ) -> Result<(), ParseError> {
        let expected = match sent {
            // Retired checksums are 0: nothing to verify.
            None | Some(0) => None,
            Some(v) => Some(checksum::wire_to_crc(v).ok_or_else(|| {
                malformed(format!("field `checksum`: {v} is not a 32-bit integer"))
            })?),
        };
        if let Some(expected) = expected {
            let computed = book.checksum(&mut self.crc_buf);
            if computed != expected {
                out.push(depth_event(
                    symbol,
                    Payload::Integrity(Integrity::Checksum { expected, computed }),
                ));
                return Ok(());
            }
        }
        if self.books.len() < MAX_STRING_BOOKS || self.books.contains_key(symbol) {
            self.books.insert(symbol.clone(), book);
        }
        Ok(())
    }

    fn trades(
        &mut self,
        symbol: &Symbol,
        items: &[TradeMsg<'_>],
        out: &mut Vec<Event>,
    ) -> Result<Control, ParseError> {
        for t in items {
            // Each trade names its instrument; it must be the `arg` one.
            let sym = match t.inst_id.as_ref() {
                Some(i) => self.symbol("data.instId", &i.0)?,
                None => symbol.clone(),
            };
            let id = match t.trade_id.as_ref() {
                Some(s) => s.0.parse::<u64>().map_err(|_| {
                    malformed(format!("field `tradeId`: `{}` is not an integer", s.0))
                })?,
                None => return Err(malformed("missing field `tradeId`")),
            };
            out.push(Event {
                symbol: sym,
                stream: StreamKind::Trade,
                payload: Payload::Trade(Trade {
                    price: num("px", t.px.as_ref())?,
                    qty: num("sz", t.sz.as_ref())?,
                    id: Some(id),
                    exch_ns: Some(ms_field("ts", t.ts.as_ref())?),
                    event_ns: None,
                }),
            });
        }
        Ok(Control::Data)
    }
}

fn malformed(detail: impl Into<String>) -> ParseError {
    ParseError::malformed(Venue::Okx, detail)
}

fn unknown(detail: impl Into<String>) -> ParseError {
    ParseError::unknown(Venue::Okx, detail)
}

fn error_reply(code: Option<&wire::Code<'_>>, msg: Option<&str>) -> ParseError {
    let code = code.map_or_else(|| "?".to_string(), |c| c.to_string());
    unknown(format!(
        "error reply code {code}: {}",
        msg.filter(|m| !m.is_empty()).unwrap_or("(no msg)")
    ))
}

fn depth_event(symbol: &Symbol, payload: Payload) -> Event {
    Event {
        symbol: symbol.clone(),
        stream: StreamKind::Depth,
        payload,
    }
}

/// Both level arrays, which every book object must have.
fn sides(
    bids: Option<Vec<Level>>,
    asks: Option<Vec<Level>>,
) -> Result<(Vec<Level>, Vec<Level>), ParseError> {
    let bids = bids.ok_or_else(|| malformed("missing field `bids`"))?;
    let asks = asks.ok_or_else(|| malformed("missing field `asks`"))?;
    Ok((bids, asks))
}

fn num(field: &str, s: Option<&Str<'_>>) -> Result<f64, ParseError> {
    let s = s.ok_or_else(|| malformed(format!("missing field `{field}`")))?;
    parse_f64(&s.0).ok_or_else(|| malformed(format!("field `{field}`: bad number `{}`", s.0)))
}

fn ms_field(field: &str, s: Option<&Str<'_>>) -> Result<Nanos, ParseError> {
    let s = s.ok_or_else(|| malformed(format!("missing field `{field}`")))?;
    s.0.parse::<i64>()
        .ok()
        .and_then(ms_to_ns)
        .ok_or_else(|| malformed(format!("field `{field}`: bad time `{}` ms", s.0)))
}

fn seq_u64(field: &str, v: i64) -> Result<u64, ParseError> {
    u64::try_from(v).map_err(|_| malformed(format!("field `{field}`: negative id {v}")))
}

/// `bbo-tbt`: one best level per side.
fn bbo(
    symbol: &Symbol,
    items: Vec<BookMsg<'_>>,
    out: &mut Vec<Event>,
) -> Result<Control, ParseError> {
    let mut pushed = false;
    for m in items {
        let exch_ns = Some(ms_field("ts", m.ts.as_ref())?);
        let update_id = m.seq_id.map(|s| seq_u64("seqId", s)).transpose()?;
        let (bids, asks) = sides(m.bids, m.asks)?;
        // An empty side (no resting orders) has no best level: nothing to
        // quote, but the frame is valid.
        if let (Some(&bid), Some(&ask)) = (bids.first(), asks.first()) {
            out.push(Event {
                symbol: symbol.clone(),
                stream: StreamKind::Bbo,
                payload: Payload::Quote(Quote {
                    bid,
                    ask,
                    update_id,
                    exch_ns,
                }),
            });
            pushed = true;
        }
    }
    Ok(if pushed {
        Control::Data
    } else {
        Control::Heartbeat
    })
}

/// `books5`: a full 5-level book on every push.
fn partial(
    symbol: &Symbol,
    items: Vec<BookMsg<'_>>,
    out: &mut Vec<Event>,
) -> Result<Control, ParseError> {
    for m in items {
        let last_id = m.seq_id.map(|s| seq_u64("seqId", s)).transpose()?;
        let exch_ns = Some(ms_field("ts", m.ts.as_ref())?);
        let (bids, asks) = sides(m.bids, m.asks)?;
        out.push(Event {
            symbol: symbol.clone(),
            stream: StreamKind::PartialDepth,
            payload: Payload::Snapshot(DepthSnapshot {
                last_id,
                bids,
                asks,
                exch_ns,
            }),
        });
    }
    Ok(Control::Data)
}

/// The length in seconds of an OKX bar name (`1s`, `1m`, `1H`, `1D`,
/// `1Dutc`, `1W`); `None` for months and years (no fixed length) or
/// anything else.
pub fn bar_secs(bar: &str) -> Option<u32> {
    // `utc` variants align days/weeks to UTC instead of UTC+8; same length.
    let bar = bar.strip_suffix("utc").unwrap_or(bar);
    let at = bar.len().checked_sub(1)?;
    // `split_at` panics inside a multi-byte character: check first.
    if !bar.is_char_boundary(at) {
        return None;
    }
    let (num, unit) = bar.split_at(at);
    let n: u32 = num.parse().ok()?;
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "H" => 3600,
        "D" => 86_400,
        "W" => 7 * 86_400,
        _ => return None,
    };
    n.checked_mul(mult).filter(|v| *v > 0)
}

/// `candle<bar>`: rows `[ts, o, h, l, c, vol, volCcy, volCcyQuote, confirm]`.
fn candles(
    symbol: &Symbol,
    channel: &str,
    rows: &[Vec<Str<'_>>],
    out: &mut Vec<Event>,
) -> Result<Control, ParseError> {
    let bar = channel.strip_prefix("candle").unwrap_or(channel);
    let Some(interval_secs) = bar_secs(bar) else {
        return Err(unknown(format!(
            "channel `{channel}` (bar without fixed length)"
        )));
    };
    for (i, row) in rows.iter().enumerate() {
        let field = |j: usize, name: &str| -> Result<&str, ParseError> {
            row.get(j)
                .map(|s| &*s.0)
                .ok_or_else(|| malformed(format!("field `data[{i}][{j}]` ({name}) missing")))
        };
        let number = |j: usize, name: &str| -> Result<f64, ParseError> {
            let s = field(j, name)?;
            parse_f64(s)
                .ok_or_else(|| malformed(format!("field `data[{i}][{j}]` ({name}): bad `{s}`")))
        };
        let ts = field(0, "ts")?;
        let open_ns = ts
            .parse::<i64>()
            .ok()
            .and_then(ms_to_ns)
            .ok_or_else(|| malformed(format!("field `data[{i}][0]` (ts): bad time `{ts}`")))?;
        let closed = match field(8, "confirm")? {
            "1" => true,
            "0" => false,
            other => {
                return Err(malformed(format!(
                    "field `data[{i}][8]` (confirm): expected \"0\" or \"1\", got `{other}`"
                )));
            }
        };
        out.push(Event {
            symbol: symbol.clone(),
            stream: StreamKind::Kline(interval_secs),
            payload: Payload::Candle(Candle {
                open_ns,
                interval_secs,
                open: number(1, "o")?,
                high: number(2, "h")?,
                low: number(3, "l")?,
                close: number(4, "c")?,
                // `vol`: base currency on spot, contracts on derivatives.
                volume: number(5, "vol")?,
                // `volCcyQuote`: quote currency on every instrument type.
                quote_volume: Some(number(7, "volCcyQuote")?),
                trades: None,
                first_trade_id: None,
                last_trade_id: None,
                closed,
                exch_ns: None,
            }),
        });
    }
    Ok(Control::Data)
}

/// The value of `instId=` in a request's query string.
fn query_inst(request: &str) -> Option<&str> {
    crate::venues::query_param(request, "instId")
}

impl Adapter for OkxAdapter {
    fn venue(&self) -> Venue {
        Venue::Okx
    }

    fn parse_frame(&mut self, frame: &str, out: &mut Vec<Event>) -> Result<Control, ParseError> {
        // The reply to the client's text `ping` is the bare text `pong`.
        if frame == "pong" {
            return Ok(Control::Heartbeat);
        }
        let mut fr = wire::parse(frame, None).map_err(|e| malformed(e.to_string()))?;
        if fr.data_first {
            let shape = fr
                .arg
                .as_ref()
                .and_then(|a| a.channel.as_deref())
                .map(wire::shape_of);
            fr = wire::parse(frame, shape).map_err(|e| malformed(e.to_string()))?;
        }
        self.interpret(frame, fr, out)
    }

    /// Reads `GET /api/v5/market/books?instId=..` (a depth snapshot on the
    /// depth stream; sequenced when the body has `seqId`).
    fn parse_rest(
        &mut self,
        request: &str,
        body: &str,
        out: &mut Vec<Event>,
    ) -> Result<Control, ParseError> {
        let path = request.split('?').next().unwrap_or(request);
        if !matches!(path, "/api/v5/market/books" | "/api/v5/market/books-full") {
            return Err(unknown(format!("REST request `{path}`")));
        }
        let fr = wire::parse(body, Some(Shape::Book)).map_err(|e| malformed(e.to_string()))?;
        if let Some(code) = fr.code.as_ref().filter(|c| !c.is_zero()) {
            return Err(error_reply(Some(code), fr.msg.as_deref()));
        }
        let raw = query_inst(request)
            .ok_or_else(|| malformed("field `instId`: the request query names no instrument"))?;
        let symbol = self.symbol("instId", raw)?;
        let Data::Book(items) = fr.data else {
            return Err(malformed("missing field `data`"));
        };
        let n = items.len();
        let Some(m) = items.into_iter().next().filter(|_| n == 1) else {
            return Err(malformed(format!(
                "field `data`: expected one book, got {n}"
            )));
        };
        let last_id = m.seq_id.map(|s| seq_u64("seqId", s)).transpose()?;
        let exch_ns = Some(ms_field("ts", m.ts.as_ref())?);
        let (bids, asks) = sides(m.bids, m.asks)?;
        let snap = DepthSnapshot {
            last_id,
            bids,
            asks,
            exch_ns,
        };
        out.push(depth_event(&symbol, Payload::Snapshot(snap)));
        Ok(Control::Data)
    }
}

#[cfg(test)]
mod tests;
