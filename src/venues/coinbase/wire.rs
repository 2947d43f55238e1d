//! Borrowed serde shapes of Coinbase frames: the Advanced Trade envelope
//! (`channel`, `timestamp`, `sequence_num`, `events`) and the legacy
//! Exchange feed messages (`type` at the top level), read in one pass into
//! one flat [`Frame`].
//!
//! Leaf values are kept as [`Scalar`]s (string or number, borrowed where the
//! JSON has no escapes) so that the adapter, which knows the field names,
//! reports a mistyped value by name; this module never decides what a
//! message means and never panics.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

/// A JSON scalar as sent: Coinbase sends most numbers as strings, some
/// (`sequence_num`, legacy `trade_id`) as numbers.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Scalar<'a> {
    /// A string (decimal numbers, times, ids, names).
    Str(Cow<'a, str>),
    /// A non-negative integer.
    U64(u64),
    /// A negative integer.
    I64(i64),
    /// A number with a fraction or exponent.
    F64(f64),
    /// `true` / `false`.
    Bool(bool),
    /// `null`.
    Null,
}

// Generic over `'a` (not only `Scalar<'de>`) so that `Option<Scalar<'a>>`
// and tuples of scalars borrow from the input too.
impl<'de: 'a, 'a> Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Scalar<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, number, boolean or null")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Scalar::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Scalar::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Scalar::Str(Cow::Owned(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Scalar::U64(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Scalar::I64(v))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Scalar::F64(v))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(Scalar::Bool(v))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Scalar::Null)
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// One whole frame, Advanced Trade or legacy; absent keys stay `None` and
/// unknown keys are skipped without being materialised.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct Frame<'a> {
    /// Advanced Trade channel name (`l2_data`, `market_trades`, ...).
    #[serde(borrow)]
    pub channel: Option<Scalar<'a>>,
    /// Advanced Trade send time (RFC 3339).
    #[serde(borrow)]
    pub timestamp: Option<Scalar<'a>>,
    /// Advanced Trade per-connection sequence number.
    #[serde(borrow)]
    pub sequence_num: Option<Scalar<'a>>,
    /// Advanced Trade events.
    #[serde(borrow)]
    pub events: Option<Vec<AtEvent<'a>>>,
    /// Legacy message type, or `error` in both APIs.
    #[serde(borrow, rename = "type")]
    pub ty: Option<Scalar<'a>>,
    /// Error text.
    #[serde(borrow)]
    pub message: Option<Scalar<'a>>,
    /// Error detail (legacy `reason`).
    #[serde(borrow)]
    pub reason: Option<Scalar<'a>>,
    /// Legacy product.
    #[serde(borrow)]
    pub product_id: Option<Scalar<'a>>,
    /// Legacy event time.
    #[serde(borrow)]
    pub time: Option<Scalar<'a>>,
    /// Legacy snapshot bids `[[price, size], ..]`.
    #[serde(borrow)]
    pub bids: Option<Vec<(Scalar<'a>, Scalar<'a>)>>,
    /// Legacy snapshot asks.
    #[serde(borrow)]
    pub asks: Option<Vec<(Scalar<'a>, Scalar<'a>)>>,
    /// Legacy l2update changes `[[side, price, size], ..]`.
    #[serde(borrow)]
    pub changes: Option<Vec<(Scalar<'a>, Scalar<'a>, Scalar<'a>)>>,
    /// Legacy match trade id.
    #[serde(borrow)]
    pub trade_id: Option<Scalar<'a>>,
    /// Legacy match price.
    #[serde(borrow)]
    pub price: Option<Scalar<'a>>,
    /// Legacy match size.
    #[serde(borrow)]
    pub size: Option<Scalar<'a>>,
    /// Legacy ticker best bid.
    #[serde(borrow)]
    pub best_bid: Option<Scalar<'a>>,
    /// Legacy ticker best ask.
    #[serde(borrow)]
    pub best_ask: Option<Scalar<'a>>,
    /// Legacy ticker best bid size (later feed versions only).
    #[serde(borrow)]
    pub best_bid_size: Option<Scalar<'a>>,
    /// Legacy ticker best ask size (later feed versions only).
    #[serde(borrow)]
    pub best_ask_size: Option<Scalar<'a>>,
    /// REST product book body.
    #[serde(borrow)]
    pub pricebook: Option<PriceBook<'a>>,
}

/// One element of an Advanced Trade `events` array; which fields are set
/// depends on the channel.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct AtEvent<'a> {
    /// `snapshot` or `update`.
    #[serde(borrow, rename = "type")]
    pub ty: Option<Scalar<'a>>,
    /// `l2_data` product.
    #[serde(borrow)]
    pub product_id: Option<Scalar<'a>>,
    /// `l2_data` level changes.
    #[serde(borrow)]
    pub updates: Option<Vec<L2Update<'a>>>,
    /// `market_trades` trades.
    #[serde(borrow)]
    pub trades: Option<Vec<AtTrade<'a>>>,
    /// `ticker` / `ticker_batch` tickers.
    #[serde(borrow)]
    pub tickers: Option<Vec<AtTicker<'a>>>,
    /// `candles` buckets.
    #[serde(borrow)]
    pub candles: Option<Vec<AtCandle<'a>>>,
    /// `heartbeats` counter.
    #[serde(borrow)]
    pub heartbeat_counter: Option<Scalar<'a>>,
}

/// One `l2_data` level change.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct L2Update<'a> {
    /// `bid` or `offer`.
    #[serde(borrow)]
    pub side: Option<Scalar<'a>>,
    /// Matching-engine time of the change.
    #[serde(borrow)]
    pub event_time: Option<Scalar<'a>>,
    /// Price.
    #[serde(borrow)]
    pub price_level: Option<Scalar<'a>>,
    /// New quantity at the price (0 removes).
    #[serde(borrow)]
    pub new_quantity: Option<Scalar<'a>>,
}

/// One `market_trades` trade.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct AtTrade<'a> {
    /// Trade id (a decimal string).
    #[serde(borrow)]
    pub trade_id: Option<Scalar<'a>>,
    /// Product.
    #[serde(borrow)]
    pub product_id: Option<Scalar<'a>>,
    /// Price.
    #[serde(borrow)]
    pub price: Option<Scalar<'a>>,
    /// Size.
    #[serde(borrow)]
    pub size: Option<Scalar<'a>>,
    /// Trade time.
    #[serde(borrow)]
    pub time: Option<Scalar<'a>>,
}

/// One `ticker` entry.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct AtTicker<'a> {
    /// Product.
    #[serde(borrow)]
    pub product_id: Option<Scalar<'a>>,
    /// Best bid price.
    #[serde(borrow)]
    pub best_bid: Option<Scalar<'a>>,
    /// Best bid quantity.
    #[serde(borrow)]
    pub best_bid_quantity: Option<Scalar<'a>>,
    /// Best ask price.
    #[serde(borrow)]
    pub best_ask: Option<Scalar<'a>>,
    /// Best ask quantity.
    #[serde(borrow)]
    pub best_ask_quantity: Option<Scalar<'a>>,
}

/// One `candles` bucket (also the REST candle shape).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct AtCandle<'a> {
    /// Bucket start, epoch seconds as a string.
    #[serde(borrow)]
    pub start: Option<Scalar<'a>>,
    /// High.
    #[serde(borrow)]
    pub high: Option<Scalar<'a>>,
    /// Low.
    #[serde(borrow)]
    pub low: Option<Scalar<'a>>,
    /// Open.
    #[serde(borrow)]
    pub open: Option<Scalar<'a>>,
    /// Close.
    #[serde(borrow)]
    pub close: Option<Scalar<'a>>,
    /// Base volume.
    #[serde(borrow)]
    pub volume: Option<Scalar<'a>>,
    /// Product.
    #[serde(borrow)]
    pub product_id: Option<Scalar<'a>>,
}

/// The REST `product_book` body's `pricebook`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct PriceBook<'a> {
    /// Product.
    #[serde(borrow)]
    pub product_id: Option<Scalar<'a>>,
    /// Bids, best first.
    #[serde(borrow)]
    pub bids: Option<Vec<RestLevel<'a>>>,
    /// Asks, best first.
    #[serde(borrow)]
    pub asks: Option<Vec<RestLevel<'a>>>,
    /// Book time.
    #[serde(borrow)]
    pub time: Option<Scalar<'a>>,
}

/// One REST book level.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RestLevel<'a> {
    /// Price.
    #[serde(borrow)]
    pub price: Option<Scalar<'a>>,
    /// Size.
    #[serde(borrow)]
    pub size: Option<Scalar<'a>>,
}
