//! Single-pass deserializer for Binance frames: the combined-stream envelope
//! (`{"stream":..,"data":{..}}`), bare raw-stream payloads, control replies
//! and REST depth bodies all land in one [`Frame`] of borrowed fields.
//!
//! Why hand-written visitors and not `#[derive(Deserialize)]`: the same key
//! means different things per message (`b` is a price string in
//! `bookTicker` but an array of levels in `depthUpdate`; `a` is also the
//! aggregate trade id in `aggTrade`), the envelope must not cost a second
//! parse, and level arrays go straight into reusable scratch vectors. The
//! visitors record which field they were reading so an error can name it.
//!
//! This module only reads JSON into plain values; it never decides what a
//! message means (that is the adapter's job) and never panics or allocates
//! per level beyond the scratch vectors' growth.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::model::Level;
use crate::venues::wire::{Str, non_negative};

/// Reusable buffers and error context shared by the visitors of one parse.
#[derive(Default)]
pub(super) struct State {
    /// Bid levels of the last parsed `b`/`bids` array.
    pub bids: Vec<Level>,
    /// Ask levels of the last parsed `a`/`asks` array.
    pub asks: Vec<Level>,
    /// The field being read when a value failed, for the error message.
    pub field: &'static str,
}

/// What a `b` or `a` key held.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub(super) enum Side {
    /// Key not present.
    #[default]
    Absent,
    /// A decimal string (bookTicker best price).
    Price(f64),
    /// An array of levels, now in [`State::bids`] / [`State::asks`].
    Levels,
    /// An unsigned integer (aggTrade id `a`).
    Id(u64),
}

/// The fields of one Binance payload that the adapter uses; everything else
/// is skipped without being materialised.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Body<'a> {
    /// `e`: event type.
    pub event: Option<Cow<'a, str>>,
    /// `E`: event time, ms.
    pub event_ms: Option<u64>,
    /// `T`: trade / transaction time, ms.
    pub trade_ms: Option<u64>,
    /// `s`: symbol.
    pub symbol: Option<Cow<'a, str>>,
    /// `symbol`: symbol in COIN-M REST bodies.
    pub symbol_long: Option<Cow<'a, str>>,
    /// `U`: first update id.
    pub first_id: Option<u64>,
    /// `u`: last update id.
    pub last_id: Option<u64>,
    /// `pu`: previous last update id (futures).
    pub prev_id: Option<u64>,
    /// `lastUpdateId` (REST and spot partial depth).
    pub last_update_id: Option<u64>,
    /// `b`.
    pub b: Side,
    /// `a`.
    pub a: Side,
    /// `bids` present (levels in [`State::bids`]).
    pub bids: bool,
    /// `asks` present (levels in [`State::asks`]).
    pub asks: bool,
    /// `B`: best bid quantity.
    pub bid_qty: Option<f64>,
    /// `A`: best ask quantity.
    pub ask_qty: Option<f64>,
    /// `p`: trade price.
    pub price: Option<f64>,
    /// `q`: trade quantity.
    pub qty: Option<f64>,
    /// `t`: trade id.
    pub trade_id: Option<u64>,
    /// `k`: kline.
    pub kline: Option<Box<Kline<'a>>>,
}

/// The `k` object of a kline event.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Kline<'a> {
    /// `t`: open time, ms.
    pub open_ms: Option<u64>,
    /// `i`: interval.
    pub interval: Option<Cow<'a, str>>,
    /// `o`.
    pub open: Option<f64>,
    /// `h`.
    pub high: Option<f64>,
    /// `l`.
    pub low: Option<f64>,
    /// `c`.
    pub close: Option<f64>,
    /// `v`.
    pub volume: Option<f64>,
    /// `q`.
    pub quote_volume: Option<f64>,
    /// `n`.
    pub trades: Option<u64>,
    /// `f`; Binance uses -1 for "no trade", kept as `Some(-1)` here.
    pub first_trade: Option<i64>,
    /// `L`; as `f`.
    pub last_trade: Option<i64>,
    /// `x`.
    pub closed: Option<bool>,
}

/// What the combined-stream `data` key held.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) enum Data {
    /// No `data` key.
    #[default]
    Absent,
    /// An object payload, read into [`Frame::body`].
    Object,
    /// An array payload (all-market streams such as `!ticker@arr`).
    Array,
}

/// One parsed frame or REST body. Kept small (the kline is boxed, the
/// payload is read into one [`Body`] whether enveloped or not) because it is
/// returned by value on every frame.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Frame<'a> {
    /// `stream` of a combined-stream envelope.
    pub stream: Option<Cow<'a, str>>,
    /// What `data` held.
    pub data: Data,
    /// Whether payload keys appeared at the top level (raw streams, REST
    /// bodies) rather than inside `data`.
    pub top_level_payload: bool,
    /// The payload: the `data` object of an envelope, or the top-level keys.
    pub body: Body<'a>,
    /// `result` key present (control reply).
    pub result: bool,
    /// `id` key present (control reply).
    pub id: bool,
    /// `code` of an error reply.
    pub code: Option<i64>,
    /// `msg` of an error reply.
    pub msg: Option<Cow<'a, str>>,
}

/// Parses `text` as one JSON object into `fr` (which should start as
/// `Frame::default()`), filling `st`'s level buffers. Trailing
/// non-whitespace is an error. The frame is filled in place rather than
/// returned because moving it cost a measurable share of a bookTicker parse.
pub(super) fn parse<'a>(
    text: &'a str,
    st: &mut State,
    fr: &mut Frame<'a>,
) -> Result<(), serde_json::Error> {
    st.field = "";
    let mut de = serde_json::Deserializer::from_str(text);
    de.deserialize_any(FrameVisitor { st, fr })?;
    st.field = "";
    de.end()
}

// ---------------------------------------------------------------------------
// keys

/// Keys the frame and payload visitors care about.
#[derive(Clone, Copy)]
enum Key {
    Stream,
    Data,
    Result,
    Id,
    Code,
    Msg,
    EventType,
    EventTime,
    TradeTime,
    Sym,
    SymLong,
    FirstId,
    LastId,
    PrevId,
    LastUpdateId,
    B,
    A,
    BidQty,
    AskQty,
    Bids,
    Asks,
    Price,
    Qty,
    TradeId,
    K,
    Other,
}

impl<'de> de::Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
                Ok(match v {
                    "stream" => Key::Stream,
                    "data" => Key::Data,
                    "result" => Key::Result,
                    "id" => Key::Id,
                    "code" => Key::Code,
                    "msg" => Key::Msg,
                    "e" => Key::EventType,
                    "E" => Key::EventTime,
                    "T" => Key::TradeTime,
                    "s" => Key::Sym,
                    "symbol" => Key::SymLong,
                    "U" => Key::FirstId,
                    "u" => Key::LastId,
                    "pu" => Key::PrevId,
                    "lastUpdateId" => Key::LastUpdateId,
                    "b" => Key::B,
                    "a" => Key::A,
                    "B" => Key::BidQty,
                    "A" => Key::AskQty,
                    "bids" => Key::Bids,
                    "asks" => Key::Asks,
                    "p" => Key::Price,
                    "q" => Key::Qty,
                    "t" => Key::TradeId,
                    "k" => Key::K,
                    _ => Key::Other,
                })
            }
        }
        d.deserialize_identifier(V)
    }
}

/// Keys of the kline `k` object.
#[derive(Clone, Copy)]
enum KKey {
    OpenTime,
    Interval,
    Open,
    High,
    Low,
    Close,
    Volume,
    QuoteVolume,
    Trades,
    First,
    Last,
    Closed,
    Other,
}

impl<'de> de::Deserialize<'de> for KKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = KKey;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a kline field name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<KKey, E> {
                Ok(match v {
                    "t" => KKey::OpenTime,
                    "i" => KKey::Interval,
                    "o" => KKey::Open,
                    "h" => KKey::High,
                    "l" => KKey::Low,
                    "c" => KKey::Close,
                    "v" => KKey::Volume,
                    "q" => KKey::QuoteVolume,
                    "n" => KKey::Trades,
                    "f" => KKey::First,
                    "L" => KKey::Last,
                    "x" => KKey::Closed,
                    _ => KKey::Other,
                })
            }
        }
        d.deserialize_identifier(V)
    }
}

// ---------------------------------------------------------------------------
// scalar values

/// What a decimal string must be: finite and not negative.
const DECIMAL: &str = "a non-negative decimal string";

/// Parses a Binance decimal string (`"61837.63000000"`). NaN, infinities and
/// negative values are rejected: no price or quantity can be any of them.
#[inline]
fn decimal<E: de::Error>(v: &str) -> Result<f64, E> {
    non_negative(v, DECIMAL)
}

/// A decimal sent as a JSON string.
struct Dec(f64);

impl<'de> de::Deserialize<'de> for Dec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Dec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(DECIMAL)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Dec, E> {
                decimal(v).map(Dec)
            }
        }
        d.deserialize_str(V)
    }
}

// ---------------------------------------------------------------------------
// levels and the polymorphic `b` / `a`

/// Fills a level buffer from `[["price","qty"], ...]`.
struct LevelsSeed<'s>(&'s mut Vec<Level>);

impl<'de> DeserializeSeed<'de> for LevelsSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(LevelsVisitor(self.0))
    }
}

struct LevelsVisitor<'s>(&'s mut Vec<Level>);

impl<'de> LevelsVisitor<'_> {
    fn fill<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.0.clear();
        while let Some(LevelPair(level)) = seq.next_element()? {
            self.0.push(level);
        }
        Ok(())
    }
}

impl<'de> Visitor<'de> for LevelsVisitor<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of [price, quantity] levels")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        self.fill(seq)
    }
}

/// One `["price","qty"]` pair; exactly two elements.
struct LevelPair(Level);

impl<'de> de::Deserialize<'de> for LevelPair {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LevelPair;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a [price, quantity] pair of decimal strings")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<LevelPair, A::Error> {
                let Some(Dec(price)) = seq.next_element()? else {
                    return Err(de::Error::invalid_length(0, &self));
                };
                let Some(Dec(qty)) = seq.next_element()? else {
                    return Err(de::Error::invalid_length(1, &self));
                };
                if seq.next_element::<IgnoredAny>()?.is_some() {
                    return Err(de::Error::invalid_length(3, &self));
                }
                Ok(LevelPair(Level { price, qty }))
            }
        }
        d.deserialize_seq(V)
    }
}

/// `b` / `a`: a price string, a level array or an id.
struct SideSeed<'s>(&'s mut Vec<Level>);

impl<'de> DeserializeSeed<'de> for SideSeed<'_> {
    type Value = Side;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Side, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for SideSeed<'_> {
    type Value = Side;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a decimal string, an array of levels or an unsigned id")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Side, E> {
        decimal(v).map(Side::Price)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Side, E> {
        Ok(Side::Id(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Side, A::Error> {
        LevelsVisitor(self.0).fill(seq)?;
        Ok(Side::Levels)
    }
}

// ---------------------------------------------------------------------------
// objects

/// Reads the value of one payload key into `body`. Returns `false` when
/// `key` is not a payload key (the caller decides what to do with it).
fn body_field<'de, A: MapAccess<'de>>(
    key: Key,
    body: &mut Body<'de>,
    map: &mut A,
    st: &mut State,
) -> Result<bool, A::Error> {
    macro_rules! read {
        ($name:literal, $ty:ty) => {{
            st.field = $name;
            map.next_value::<$ty>()?
        }};
    }
    match key {
        Key::EventType => body.event = Some(read!("e", Str).0),
        Key::EventTime => body.event_ms = Some(read!("E", u64)),
        Key::TradeTime => body.trade_ms = Some(read!("T", u64)),
        Key::Sym => body.symbol = Some(read!("s", Str).0),
        Key::SymLong => body.symbol_long = Some(read!("symbol", Str).0),
        Key::FirstId => body.first_id = Some(read!("U", u64)),
        Key::LastId => body.last_id = Some(read!("u", u64)),
        Key::PrevId => body.prev_id = Some(read!("pu", u64)),
        Key::LastUpdateId => body.last_update_id = Some(read!("lastUpdateId", u64)),
        Key::BidQty => body.bid_qty = Some(read!("B", Dec).0),
        Key::AskQty => body.ask_qty = Some(read!("A", Dec).0),
        Key::Price => body.price = Some(read!("p", Dec).0),
        Key::Qty => body.qty = Some(read!("q", Dec).0),
        Key::TradeId => body.trade_id = Some(read!("t", u64)),
        Key::B => {
            st.field = "b";
            body.b = map.next_value_seed(SideSeed(&mut st.bids))?;
        }
        Key::A => {
            st.field = "a";
            body.a = map.next_value_seed(SideSeed(&mut st.asks))?;
        }
        Key::Bids => {
            st.field = "bids";
            map.next_value_seed(LevelsSeed(&mut st.bids))?;
            body.bids = true;
        }
        Key::Asks => {
            st.field = "asks";
            map.next_value_seed(LevelsSeed(&mut st.asks))?;
            body.asks = true;
        }
        Key::K => {
            st.field = "k";
            body.kline = Some(Box::new(map.next_value_seed(KlineSeed(st))?));
        }
        Key::Stream | Key::Data | Key::Result | Key::Id | Key::Code | Key::Msg | Key::Other => {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The `data` object (or array) of an envelope, read into `body`.
struct DataSeed<'s, 'b, 'de> {
    st: &'s mut State,
    body: &'b mut Body<'de>,
}

impl<'de> DeserializeSeed<'de> for DataSeed<'_, '_, 'de> {
    type Value = Data;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Data, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for DataSeed<'_, '_, 'de> {
    type Value = Data;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a payload object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Data, A::Error> {
        while let Some(key) = map.next_key::<Key>()? {
            if !body_field(key, self.body, &mut map, self.st)? {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(Data::Object)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Data, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Data::Array)
    }
}

/// The kline `k` object.
struct KlineSeed<'s>(&'s mut State);

impl<'de> DeserializeSeed<'de> for KlineSeed<'_> {
    type Value = Kline<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Kline<'de>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for KlineSeed<'_> {
    type Value = Kline<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a kline object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Kline<'de>, A::Error> {
        let st = self.0;
        let mut k = Kline::default();
        macro_rules! read {
            ($name:literal, $ty:ty) => {{
                st.field = $name;
                map.next_value::<$ty>()?
            }};
        }
        while let Some(key) = map.next_key::<KKey>()? {
            match key {
                KKey::OpenTime => k.open_ms = Some(read!("k.t", u64)),
                KKey::Interval => k.interval = Some(read!("k.i", Str).0),
                KKey::Open => k.open = Some(read!("k.o", Dec).0),
                KKey::High => k.high = Some(read!("k.h", Dec).0),
                KKey::Low => k.low = Some(read!("k.l", Dec).0),
                KKey::Close => k.close = Some(read!("k.c", Dec).0),
                KKey::Volume => k.volume = Some(read!("k.v", Dec).0),
                KKey::QuoteVolume => k.quote_volume = Some(read!("k.q", Dec).0),
                KKey::Trades => k.trades = Some(read!("k.n", u64)),
                KKey::First => k.first_trade = Some(read!("k.f", i64)),
                KKey::Last => k.last_trade = Some(read!("k.L", i64)),
                KKey::Closed => k.closed = Some(read!("k.x", bool)),
                KKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        st.field = "k";
        Ok(k)
    }
}

/// The top-level object.
struct FrameVisitor<'s, 'f, 'de> {
    st: &'s mut State,
    fr: &'f mut Frame<'de>,
}

impl<'de> Visitor<'de> for FrameVisitor<'_, '_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let FrameVisitor { st, fr } = self;
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Stream => {
                    st.field = "stream";
                    fr.stream = Some(map.next_value::<Str>()?.0);
                }
                Key::Data => {
                    st.field = "data";
                    fr.data = map.next_value_seed(DataSeed {
                        st,
                        body: &mut fr.body,
                    })?;
                }
                Key::Result => {
                    st.field = "result";
                    map.next_value::<IgnoredAny>()?;
                    fr.result = true;
                }
                Key::Id => {
                    st.field = "id";
                    map.next_value::<IgnoredAny>()?;
                    fr.id = true;
                }
                Key::Code => {
                    st.field = "code";
                    fr.code = Some(map.next_value::<i64>()?);
                }
                Key::Msg => {
                    st.field = "msg";
                    fr.msg = Some(map.next_value::<Str>()?.0);
                }
                _ => {
                    if body_field(key, &mut fr.body, &mut map, st)? {
                        fr.top_level_payload = true;
                    } else {
                        st.field = "";
                        map.next_value::<IgnoredAny>()?;
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse<'a>(text: &'a str, st: &mut State) -> Result<Frame<'a>, serde_json::Error> {
        let mut fr = Frame::default();
        super::parse(text, st, &mut fr)?;
        Ok(fr)
    }

    #[test]
    fn side_takes_three_shapes() {
        let mut st = State::default();
        let f = parse(r#"{"b":"1.5","a":[["2","3"],["4","0"]]}"#, &mut st).unwrap();
        assert_eq!(f.body.b, Side::Price(1.5));
        assert_eq!(f.body.a, Side::Levels);
        assert_eq!(
            st.asks,
            vec![
                Level {
                    price: 2.0,
                    qty: 3.0
                },
                Level {
                    price: 4.0,
                    qty: 0.0
                }
            ]
        );
        let f = parse(r#"{"a":12345}"#, &mut st).unwrap();
        assert_eq!(f.body.a, Side::Id(12345));
    }

    #[test]
    fn errors_record_the_field() {
        let mut st = State::default();
        assert!(parse(r#"{"data":{"b":[["1","x"]]}}"#, &mut st).is_err());
        assert_eq!(st.field, "b");
        assert!(parse(r#"{"E":-5}"#, &mut st).is_err());
        assert_eq!(st.field, "E");
        assert!(parse(r#"{"k":{"o":"NaN"}}"#, &mut st).is_err());
        assert_eq!(st.field, "k.o");
        assert!(parse(r#"{"p":"-1"}"#, &mut st).is_err());
        assert_eq!(st.field, "p");
        assert!(parse(r#"{"p":"inf"}"#, &mut st).is_err());
        assert!(parse(r#"{"b":[["1","2","3"]]}"#, &mut st).is_err());
        assert!(parse(r#"{"b":[["1"]]}"#, &mut st).is_err());
    }

    #[test]
    fn escaped_strings_fall_back_to_owned() {
        let mut st = State::default();
        let f = parse(r#"{"stream":"btc\u0075sdt@trade","p":"1\u002e5"}"#, &mut st).unwrap();
        assert_eq!(f.stream.as_deref(), Some("btcusdt@trade"));
        assert_eq!(f.body.price, Some(1.5));
    }

    #[test]
    fn trailing_garbage_and_non_objects_fail() {
        let mut st = State::default();
        assert!(parse(r#"{"u":1} x"#, &mut st).is_err());
        assert!(parse("[1,2]", &mut st).is_err());
        assert!(parse("", &mut st).is_err());
        assert!(parse("{\"u\":1}\n", &mut st).is_ok());
    }
}
