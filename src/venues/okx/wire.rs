//! Single-pass deserializer for OKX v5 public WebSocket frames and REST
//! market bodies: the push envelope (`{"arg":{..},"action":..,"data":[..]}`),
//! event replies (`{"event":"subscribe"|"error",..}`) and REST replies
//! (`{"code":"0","msg":"","data":[..]}`) all land in one [`Frame`] of
//! borrowed fields.
//!
//! Why a hand-written map visitor: what `data` holds depends on
//! `arg.channel` (objects with level arrays for books, objects for trades,
//! bare string rows for candles). OKX always sends `arg` before `data`, so
//! the visitor reads `data` straight into the right typed shape; a frame that
//! puts `data` first is parsed a second time with the channel known.
//!
//! This module only reads JSON into plain borrowed values; it never decides
//! what a message means (the adapter does), reads level arrays straight into
//! numbers (naming `asks[i]`/`bids[i]` on a bad entry) except where the
//! adapter asks for the exact strings, and never panics.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::model::Level;

/// What a channel's `data` array holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shape {
    /// Book objects (`books`, `books5`, `bbo-tbt`, ...): level arrays,
    /// parsed to numbers.
    Book,
    /// Book objects with their level strings kept exactly (checksum).
    RawBook,
    /// Trade objects.
    Trades,
    /// Candle rows (arrays of strings).
    Rows,
    /// Anything else: skipped without being materialised.
    Skip,
}

/// The `data` shape of a channel name.
pub(super) fn shape_of(channel: &str) -> Shape {
    match channel {
        "books" | "books5" | "bbo-tbt" | "books-l2-tbt" | "books50-l2-tbt" => Shape::Book,
        "trades" => Shape::Trades,
        c if c.starts_with("candle") => Shape::Rows,
        _ => Shape::Skip,
    }
}

/// `arg`: the subscription a push or reply belongs to.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Arg<'a> {
    /// Channel name (`books`, `trades`, `candle1m`, ...).
    #[serde(borrow, default)]
    pub channel: Option<Cow<'a, str>>,
    /// Instrument id (`BTC-USDT`, `BTC-USDT-SWAP`).
    #[serde(borrow, default, rename = "instId")]
    pub inst_id: Option<Cow<'a, str>>,
}

/// One `[price, size, liquidated, orders]` level, strings kept exactly as
/// sent (the checksum is computed over them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RawLevel<'a> {
    /// Price string.
    pub px: Cow<'a, str>,
    /// Size string.
    pub sz: Cow<'a, str>,
}

impl<'de: 'a, 'a> Deserialize<'de> for RawLevel<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawLevel<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a [price, size, ..] array of strings")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let px: Cow<'de, str> = seq
                    .next_element::<Str<'de>>()?
                    .ok_or_else(|| de::Error::custom("level has no price"))?
                    .0;
                let sz: Cow<'de, str> = seq
                    .next_element::<Str<'de>>()?
                    .ok_or_else(|| de::Error::custom("level has no size"))?
                    .0;
                // The liquidated-orders and order-count entries are skipped.
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(RawLevel { px, sz })
            }
        }
        d.deserialize_seq(V)
    }
}

/// A borrowed string (owned only when it had escapes).
#[derive(Debug)]
pub(super) struct Str<'a>(pub Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// A string or an integer (OKX sends error `code` as a string, but a
/// number is accepted rather than called malformed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Code<'a> {
    /// `"60012"`.
    Str(Cow<'a, str>),
    /// `60012`.
    Num(i64),
}

impl<'de: 'a, 'a> Deserialize<'de> for Code<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Code<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or integer code")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Code::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Code::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Code::Num(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                i64::try_from(v)
                    .map(Code::Num)
                    .map_err(|_| E::custom("code out of range"))
            }
        }
        d.deserialize_any(V)
    }
}

impl Code<'_> {
    /// Whether this is OKX's success code `0`.
    pub fn is_zero(&self) -> bool {
        match self {
            Code::Str(s) => s == "0",
            Code::Num(n) => *n == 0,
        }
    }
}

impl fmt::Display for Code<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Code::Str(s) => f.write_str(s),
            Code::Num(n) => write!(f, "{n}"),
        }
    }
}

/// One object of a book channel's `data` (also the REST order book), levels
/// parsed straight into the vectors the event will own.
#[derive(Debug, Default, Deserialize)]
pub(super) struct BookMsg<'a> {
    /// Asks, best (lowest) first.
    #[serde(default, deserialize_with = "de_asks")]
    pub asks: Option<Vec<Level>>,
    /// Bids, best (highest) first.
    #[serde(default, deserialize_with = "de_bids")]
    pub bids: Option<Vec<Level>>,
    /// Book time, ms, as a string.
    #[serde(borrow, default)]
    pub ts: Option<Str<'a>>,
    /// Signed CRC32 of the top 25 levels (0 once OKX retired it).
    #[serde(default)]
    pub checksum: Option<i64>,
    /// Sequence id of this message.
    #[serde(default, rename = "seqId")]
    pub seq_id: Option<i64>,
    /// Sequence id of the previous message (-1 on a snapshot).
    #[serde(default, rename = "prevSeqId")]
    pub prev_seq_id: Option<i64>,
}

/// The level strings of one book object, exactly as sent (only read for
/// unsequenced books, whose checksum is verified).
#[derive(Debug, Default, Deserialize)]
pub(super) struct RawBookMsg<'a> {
    /// Asks.
    #[serde(borrow, default)]
    pub asks: Vec<RawLevel<'a>>,
    /// Bids.
    #[serde(borrow, default)]
    pub bids: Vec<RawLevel<'a>>,
}

fn de_asks<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<Level>>, D::Error> {
    d.deserialize_seq(LevelsVisitor("asks")).map(Some)
}

fn de_bids<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<Level>>, D::Error> {
    d.deserialize_seq(LevelsVisitor("bids")).map(Some)
}

/// A finite, non-negative decimal.
pub(super) fn parse_f64(s: &str) -> Option<f64> {
    s.parse::<f64>().ok().filter(|v| v.is_finite() && *v >= 0.0)
}

/// Reads a level array into numbers, naming `side[i]` on a bad entry.
struct LevelsVisitor(&'static str);

impl<'de> Visitor<'de> for LevelsVisitor {
    type Value = Vec<Level>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "an array of levels in `{}`", self.0)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        let mut i = 0usize;
        while let Some(l) = seq.next_element::<RawLevel<'de>>()? {
            let price = parse_f64(&l.px).ok_or_else(|| {
                de::Error::custom(format!("field `{}[{i}]`: bad price `{}`", self.0, l.px))
            })?;
            let qty = parse_f64(&l.sz).ok_or_else(|| {
                de::Error::custom(format!("field `{}[{i}]`: bad size `{}`", self.0, l.sz))
            })?;
            v.push(Level { price, qty });
            i += 1;
        }
        Ok(v)
    }
}

/// One object of the `trades` channel's `data`.
#[derive(Debug, Default, Deserialize)]
pub(super) struct TradeMsg<'a> {
    /// Instrument id.
    #[serde(borrow, default, rename = "instId")]
    pub inst_id: Option<Str<'a>>,
    /// Trade id (a decimal string).
    #[serde(borrow, default, rename = "tradeId")]
    pub trade_id: Option<Str<'a>>,
    /// Price.
    #[serde(borrow, default)]
    pub px: Option<Str<'a>>,
    /// Size.
    #[serde(borrow, default)]
    pub sz: Option<Str<'a>>,
    /// Trade time, ms.
    #[serde(borrow, default)]
    pub ts: Option<Str<'a>>,
}

/// The parsed `data` array.
#[derive(Debug, Default)]
pub(super) enum Data<'a> {
    /// No `data` key.
    #[default]
    Absent,
    /// Book objects.
    Book(Vec<BookMsg<'a>>),
    /// Book objects' level strings.
    RawBook(Vec<RawBookMsg<'a>>),
    /// Trades.
    Trades(Vec<TradeMsg<'a>>),
    /// Rows of strings (candles).
    Rows(Vec<Vec<Str<'a>>>),
    /// Present but of a channel this adapter does not read.
    Skipped,
}

struct DataSeed(Shape);

impl<'de> DeserializeSeed<'de> for DataSeed {
    type Value = Data<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        Ok(match self.0 {
            Shape::Book => Data::Book(Vec::deserialize(d)?),
            Shape::RawBook => Data::RawBook(Vec::deserialize(d)?),
            Shape::Trades => Data::Trades(Vec::deserialize(d)?),
            Shape::Rows => Data::Rows(Vec::deserialize(d)?),
            Shape::Skip => {
                IgnoredAny::deserialize(d)?;
                Data::Skipped
            }
        })
    }
}

/// Every top-level field the adapter uses.
#[derive(Debug, Default)]
pub(super) struct Frame<'a> {
    /// `event`: `subscribe`, `unsubscribe`, `error`, `notice`, ...
    pub event: Option<Cow<'a, str>>,
    /// `arg`.
    pub arg: Option<Arg<'a>>,
    /// `action`: `snapshot` or `update` (books).
    pub action: Option<Cow<'a, str>>,
    /// `code` (errors, REST replies).
    pub code: Option<Code<'a>>,
    /// `msg` (errors, REST replies).
    pub msg: Option<Cow<'a, str>>,
    /// `data`.
    pub data: Data<'a>,
    /// `data` came before `arg` and was skipped: parse again with the shape.
    pub data_first: bool,
}

struct FrameVisitor {
    /// The shape of `data` when known up front (REST, or a second pass).
    shape: Option<Shape>,
}

impl<'de> Visitor<'de> for FrameVisitor {
    type Value = Frame<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an OKX JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fr = Frame::default();
        while let Some(key) = map.next_key::<Str<'de>>()? {
            match &*key.0 {
                "event" => fr.event = Some(map.next_value::<Str<'de>>()?.0),
                "arg" => fr.arg = Some(map.next_value()?),
                "action" => fr.action = Some(map.next_value::<Str<'de>>()?.0),
                "code" => fr.code = Some(map.next_value()?),
                "msg" => fr.msg = Some(map.next_value::<Str<'de>>()?.0),
                "data" => {
                    let shape = self.shape.or_else(|| {
                        fr.arg
                            .as_ref()
                            .and_then(|a| a.channel.as_deref())
                            .map(shape_of)
                    });
                    match shape {
                        Some(s) => fr.data = map.next_value_seed(DataSeed(s))?,
                        None => {
                            map.next_value::<IgnoredAny>()?;
                            fr.data_first = true;
                        }
                    }
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(fr)
    }
}

/// Parses one frame; `shape` forces the `data` shape (REST bodies, or the
/// second pass over a frame that sent `data` before `arg`).
pub(super) fn parse(text: &str, shape: Option<Shape>) -> Result<Frame<'_>, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let fr = de.deserialize_map(FrameVisitor { shape })?;
    de.end()?;
    Ok(fr)
}
