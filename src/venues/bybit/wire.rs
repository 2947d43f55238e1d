//! Single-pass deserializer for Bybit v5 public WebSocket frames: data
//! pushes (`{"topic":..,"type":..,"ts":..,"data":{..} or [..]}`) and control
//! replies (`{"success":..,"ret_msg":..,"op":..}`) land in one [`Frame`] of
//! borrowed fields.
//!
//! Why hand-written visitors and not `#[derive(Deserialize)]`: `data` is an
//! object on some topics and an array of rows on others, prices arrive as
//! decimal strings, and a failing value must be reported with the name of
//! its field (kept in [`Ctx::field`]), which derived impls do not do.
//!
//! This module only reads JSON into plain values; it never decides what a
//! message means (the adapter does) and never panics.

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::model::Level;
use crate::venues::wire::{Str, non_negative};

/// Error context shared by the visitors of one parse: the field being read
/// when a value failed (empty outside any value).
#[derive(Default)]
pub(super) struct Ctx {
    pub field: Cell<&'static str>,
}

/// A value of a ticker field that may be an empty string (Bybit sends `""`
/// for a side with no quote).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum MaybeNum {
    /// `""`.
    Empty,
    /// A number.
    Num(f64),
}

/// The fields of one Bybit data object or row the adapter uses (the union of
/// order book, trade, ticker and kline fields; they do not collide).
#[derive(Debug, Default)]
pub(super) struct Row<'a> {
    /// `s`: symbol (order book, trade).
    pub s: Option<Cow<'a, str>>,
    /// `symbol`: symbol (ticker).
    pub symbol: Option<Cow<'a, str>>,
    /// `b`: bid levels (order book).
    pub b: Option<Vec<Level>>,
    /// `a`: ask levels (order book).
    pub a: Option<Vec<Level>>,
    /// `u`: update id (order book).
    pub u: Option<u64>,
    /// `seq`: cross sequence (order book).
    pub seq: Option<u64>,
    /// `T`: trade time, ms.
    pub trade_ms: Option<u64>,
    /// `p`: trade price.
    pub p: Option<f64>,
    /// `v`: trade size.
    pub v: Option<f64>,
    /// `i`: trade id (numeric on spot, a UUID on linear).
    pub i: Option<Cow<'a, str>>,
    /// `S`: taker side.
    pub side: Option<Cow<'a, str>>,
    /// `bid1Price`.
    pub bid_px: Option<MaybeNum>,
    /// `bid1Size`.
    pub bid_sz: Option<MaybeNum>,
    /// `ask1Price`.
    pub ask_px: Option<MaybeNum>,
    /// `ask1Size`.
    pub ask_sz: Option<MaybeNum>,
    /// `start`: kline start, ms.
    pub start: Option<u64>,
    /// `interval`: kline interval (`"1"`, `"D"`).
    pub interval: Option<Cow<'a, str>>,
    /// `open`.
    pub open: Option<f64>,
    /// `high`.
    pub high: Option<f64>,
    /// `low`.
    pub low: Option<f64>,
    /// `close`.
    pub close: Option<f64>,
    /// `volume`.
    pub volume: Option<f64>,
    /// `turnover`: quote volume.
    pub turnover: Option<f64>,
    /// `confirm`: the candle is closed.
    pub confirm: Option<bool>,
    /// `timestamp`: kline row time, ms.
    pub timestamp: Option<u64>,
}

/// What `data` held.
#[derive(Debug, Default)]
pub(super) enum Data<'a> {
    /// No `data` key.
    #[default]
    Absent,
    /// An object (order book, ticker), read into [`Frame::row`].
    Object,
    /// An array of rows (trades, klines).
    Array(Vec<Row<'a>>),
}

/// One parsed frame.
#[derive(Debug, Default)]
pub(super) struct Frame<'a> {
    /// `topic`.
    pub topic: Option<Cow<'a, str>>,
    /// `type`: `snapshot` or `delta`.
    pub kind: Option<Cow<'a, str>>,
    /// `ts`: when the market-data service produced the message, ms.
    pub ts: Option<u64>,
    /// `cs`: ticker cross sequence.
    pub cs: Option<u64>,
    /// What `data` held.
    pub data: Data<'a>,
    /// The `data` object, when it was one (kept outside [`Data`] so the
    /// common case costs no box and the enum stays small).
    pub row: Row<'a>,
    /// `success` of a control reply.
    pub success: Option<bool>,
    /// `ret_msg` of a control reply.
    pub ret_msg: Option<Cow<'a, str>>,
    /// `op` of a control reply.
    pub op: Option<Cow<'a, str>>,
}

/// Parses `text` as one JSON object into `fr` (which should start as
/// `Frame::default()`). Trailing non-whitespace is an error. The frame is
/// filled in place rather than returned: it is large, and moving it showed
/// up in profiles.
pub(super) fn parse<'a>(
    text: &'a str,
    ctx: &Ctx,
    fr: &mut Frame<'a>,
) -> Result<(), serde_json::Error> {
    ctx.field.set("");
    let mut de = serde_json::Deserializer::from_str(text);
    de.deserialize_map(FrameVisitor { ctx, fr })?;
    de.end()
}

// ---------------------------------------------------------------------------
// keys

#[derive(Clone, Copy)]
enum Key {
    Topic,
    Type,
    Ts,
    Cs,
    Data,
    Success,
    RetMsg,
    Op,
    S,
    Symbol,
    B,
    A,
    U,
    Seq,
    TradeTime,
    P,
    V,
    I,
    Side,
    BidPx,
    BidSz,
    AskPx,
    AskSz,
    Start,
    Interval,
    Open,
    High,
    Low,
    Close,
    Volume,
    Turnover,
    Confirm,
    Timestamp,
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
                    "topic" => Key::Topic,
                    "type" => Key::Type,
                    "ts" => Key::Ts,
                    "cs" => Key::Cs,
                    "data" => Key::Data,
                    "success" => Key::Success,
                    "ret_msg" => Key::RetMsg,
                    "op" => Key::Op,
                    "s" => Key::S,
                    "symbol" => Key::Symbol,
                    "b" => Key::B,
                    "a" => Key::A,
                    "u" => Key::U,
                    "seq" => Key::Seq,
                    "T" => Key::TradeTime,
                    "p" => Key::P,
                    "v" => Key::V,
                    "i" => Key::I,
                    "S" => Key::Side,
                    "bid1Price" => Key::BidPx,
                    "bid1Size" => Key::BidSz,
                    "ask1Price" => Key::AskPx,
                    "ask1Size" => Key::AskSz,
                    "start" => Key::Start,
                    "interval" => Key::Interval,
                    "open" => Key::Open,
                    "high" => Key::High,
                    "low" => Key::Low,
                    "close" => Key::Close,
                    "volume" => Key::Volume,
                    "turnover" => Key::Turnover,
                    "confirm" => Key::Confirm,
                    "timestamp" => Key::Timestamp,
                    _ => Key::Other,
                })
            }
        }
        d.deserialize_identifier(V)
    }
}

/// Reads the value of field `name`, recording the name so that a failure
/// can be reported with it.
fn value<'de, A, T>(map: &mut A, ctx: &Ctx, name: &'static str) -> Result<T, A::Error>
where
    A: MapAccess<'de>,
    T: de::Deserialize<'de>,
{
    // Restore the enclosing name afterwards (`data` around `data.p`), so a
    // structural error later inside the enclosing value still names it.
    let outer = ctx.field.replace(name);
    let v = map.next_value()?;
    ctx.field.set(outer);
    Ok(v)
}

// ---------------------------------------------------------------------------
// scalar values

const DECIMAL: &str = "a finite non-negative decimal (string or number)";

/// A decimal string (`"27451.00"`) or JSON number; NaN, infinities and
/// negative values are rejected: no price, size or volume can be any of them.
#[inline]
fn decimal<E: de::Error>(v: &str) -> Result<f64, E> {
    non_negative(v, DECIMAL)
}

fn finite<E: de::Error>(x: f64) -> Result<f64, E> {
    if x.is_finite() && x >= 0.0 {
        Ok(x)
    } else {
        Err(E::invalid_value(de::Unexpected::Float(x), &DECIMAL))
    }
}

/// A non-negative decimal.
struct Dec(f64);

struct DecVisitor;

impl Visitor<'_> for DecVisitor {
    type Value = f64;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(DECIMAL)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<f64, E> {
        decimal(v)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
        Ok(v as f64)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
        finite(v as f64)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
        finite(v)
    }
}

impl<'de> de::Deserialize<'de> for Dec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(DecVisitor).map(Dec)
    }
}

impl<'de> de::Deserialize<'de> for MaybeNum {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = MaybeNum;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a finite non-negative decimal string or \"\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<MaybeNum, E> {
                if v.is_empty() {
                    Ok(MaybeNum::Empty)
                } else {
                    decimal(v).map(MaybeNum::Num)
                }
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<MaybeNum, E> {
                DecVisitor.visit_u64(v).map(MaybeNum::Num)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<MaybeNum, E> {
                DecVisitor.visit_f64(v).map(MaybeNum::Num)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<MaybeNum, E> {
                DecVisitor.visit_i64(v).map(MaybeNum::Num)
            }
        }
        d.deserialize_any(V)
    }
}

/// An unsigned integer, as a JSON number or a string of digits (Bybit
/// sends both forms for ids and times).
struct Int(u64);

impl<'de> de::Deserialize<'de> for Int {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Int;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a non-negative integer")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Int, E> {
                Ok(Int(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Int, E> {
                if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(E::invalid_value(de::Unexpected::Str(v), &self));
                }
                v.parse()
                    .map(Int)
                    .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
            }
        }
        d.deserialize_any(V)
    }
}

// ---------------------------------------------------------------------------
// levels

/// `[["price","size"], ...]`, read straight into the vector the event will
/// own.
struct Levels(Vec<Level>);

impl<'de> de::Deserialize<'de> for Levels {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Levels;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of [price, size] levels")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Levels, A::Error> {
                // The hint is capped so a hostile length cannot reserve much.
                let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
                while let Some(LevelPair(l)) = seq.next_element()? {
                    v.push(l);
                }
                Ok(Levels(v))
            }
        }
        d.deserialize_seq(V)
    }
}

/// One `["price","size"]` pair: exactly two decimals, price above zero.
struct LevelPair(Level);

impl<'de> de::Deserialize<'de> for LevelPair {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LevelPair;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a [price, size] pair of decimal strings")
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
                if price <= 0.0 {
                    return Err(de::Error::invalid_value(
                        de::Unexpected::Float(price),
                        &"a price above zero",
                    ));
                }
                Ok(LevelPair(Level { price, qty }))
            }
        }
        d.deserialize_seq(V)
    }
}

// ---------------------------------------------------------------------------
// rows, data and the frame

struct RowSeed<'c> {
    ctx: &'c Ctx,
}

impl<'de> DeserializeSeed<'de> for RowSeed<'_> {
    type Value = Row<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Row<'de>, D::Error> {
        d.deserialize_map(RowVisitor { ctx: self.ctx })
    }
}

struct RowVisitor<'c> {
    ctx: &'c Ctx,
}

impl<'de> Visitor<'de> for RowVisitor<'_> {
    type Value = Row<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a data object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Row<'de>, A::Error> {
        let ctx = self.ctx;
        let mut r = Row::default();
        while let Some(k) = map.next_key::<Key>()? {
            match k {
                Key::S => r.s = Some(value::<_, Str>(&mut map, ctx, "data.s")?.0),
                Key::Symbol => {
                    r.symbol = Some(value::<_, Str>(&mut map, ctx, "data.symbol")?.0);
                }
                Key::B => r.b = Some(value::<_, Levels>(&mut map, ctx, "data.b")?.0),
                Key::A => r.a = Some(value::<_, Levels>(&mut map, ctx, "data.a")?.0),
                Key::U => r.u = Some(value::<_, Int>(&mut map, ctx, "data.u")?.0),
                Key::Seq => r.seq = Some(value::<_, Int>(&mut map, ctx, "data.seq")?.0),
                Key::TradeTime => {
                    r.trade_ms = Some(value::<_, Int>(&mut map, ctx, "data.T")?.0);
                }
                Key::P => r.p = Some(value::<_, Dec>(&mut map, ctx, "data.p")?.0),
                Key::V => r.v = Some(value::<_, Dec>(&mut map, ctx, "data.v")?.0),
                Key::I => r.i = Some(value::<_, Str>(&mut map, ctx, "data.i")?.0),
                Key::Side => r.side = Some(value::<_, Str>(&mut map, ctx, "data.S")?.0),
                Key::BidPx => r.bid_px = Some(value(&mut map, ctx, "data.bid1Price")?),
                Key::BidSz => r.bid_sz = Some(value(&mut map, ctx, "data.bid1Size")?),
                Key::AskPx => r.ask_px = Some(value(&mut map, ctx, "data.ask1Price")?),
                Key::AskSz => r.ask_sz = Some(value(&mut map, ctx, "data.ask1Size")?),
                Key::Start => r.start = Some(value::<_, Int>(&mut map, ctx, "data.start")?.0),
                Key::Interval => {
                    r.interval = Some(value::<_, Str>(&mut map, ctx, "data.interval")?.0);
                }
                Key::Open => r.open = Some(value::<_, Dec>(&mut map, ctx, "data.open")?.0),
                Key::High => r.high = Some(value::<_, Dec>(&mut map, ctx, "data.high")?.0),
                Key::Low => r.low = Some(value::<_, Dec>(&mut map, ctx, "data.low")?.0),
                Key::Close => r.close = Some(value::<_, Dec>(&mut map, ctx, "data.close")?.0),
                Key::Volume => {
                    r.volume = Some(value::<_, Dec>(&mut map, ctx, "data.volume")?.0);
                }
                Key::Turnover => {
                    r.turnover = Some(value::<_, Dec>(&mut map, ctx, "data.turnover")?.0);
                }
                Key::Confirm => r.confirm = Some(value(&mut map, ctx, "data.confirm")?),
                Key::Timestamp => {
                    r.timestamp = Some(value::<_, Int>(&mut map, ctx, "data.timestamp")?.0);
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(r)
    }
}

struct DataSeed<'c, 'r, 'de> {
    ctx: &'c Ctx,
    row: &'r mut Row<'de>,
}

impl<'de> DeserializeSeed<'de> for DataSeed<'_, '_, 'de> {
    type Value = Data<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Data<'de>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for DataSeed<'_, '_, 'de> {
    type Value = Data<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object or an array of objects")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Data<'de>, A::Error> {
        *self.row = RowVisitor { ctx: self.ctx }.visit_map(map)?;
        Ok(Data::Object)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Data<'de>, A::Error> {
        let mut rows = Vec::with_capacity(seq.size_hint().unwrap_or(1).min(64));
        while let Some(r) = seq.next_element_seed(RowSeed { ctx: self.ctx })? {
            rows.push(r);
        }
        Ok(Data::Array(rows))
    }
}

struct FrameVisitor<'c, 'f, 'de> {
    ctx: &'c Ctx,
    fr: &'f mut Frame<'de>,
}

impl<'de> Visitor<'de> for FrameVisitor<'_, '_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let ctx = self.ctx;
        let fr = self.fr;
        while let Some(k) = map.next_key::<Key>()? {
            match k {
                Key::Topic => fr.topic = Some(value::<_, Str>(&mut map, ctx, "topic")?.0),
                Key::Type => fr.kind = Some(value::<_, Str>(&mut map, ctx, "type")?.0),
                Key::Ts => fr.ts = Some(value::<_, Int>(&mut map, ctx, "ts")?.0),
                Key::Cs => fr.cs = Some(value::<_, Int>(&mut map, ctx, "cs")?.0),
                Key::Success => fr.success = Some(value(&mut map, ctx, "success")?),
                Key::RetMsg => fr.ret_msg = Some(value::<_, Str>(&mut map, ctx, "ret_msg")?.0),
                Key::Op => fr.op = Some(value::<_, Str>(&mut map, ctx, "op")?.0),
                Key::Data => {
                    ctx.field.set("data");
                    fr.data = map.next_value_seed(DataSeed {
                        ctx,
                        row: &mut fr.row,
                    })?;
                    ctx.field.set("");
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}
