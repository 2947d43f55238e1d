//! Kraken WebSocket v2 wire shapes: typed, borrowed serde structs for the
//! envelope and for each channel's data items, plus the two text helpers the
//! parser needs (RFC 3339 times to [`Nanos`], and naming the field a serde
//! error points at).
//!
//! Nothing here interprets messages or keeps state. It must never use
//! `serde_json::Value`, never allocate for a string that can be borrowed,
//! and never panic on any input.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::model::Nanos;

/// The outer object of every v2 message. Data messages carry `channel`,
/// `type` and `data`; replies to requests carry `method`, `success`,
/// `result` or `error`. `data` and `result` are kept raw and parsed by
/// channel, so an unknown channel is reported as unknown, not malformed.
#[derive(Deserialize, Default)]
pub struct Envelope<'a> {
    /// `book`, `trade`, `ohlc`, `ticker`, `heartbeat`, `status`, ...
    #[serde(borrow, default)]
    pub channel: Option<Cow<'a, str>>,
    /// `snapshot` or `update`.
    #[serde(rename = "type", borrow, default)]
    pub ty: Option<Cow<'a, str>>,
    /// The channel's items, parsed once the channel is known.
    #[serde(borrow, default)]
    pub data: Option<&'a RawValue>,
    /// `subscribe`, `unsubscribe`, `pong`, ... on replies.
    #[serde(borrow, default)]
    pub method: Option<Cow<'a, str>>,
    /// Whether a request succeeded.
    #[serde(default)]
    pub success: Option<bool>,
    /// The venue's error text on a failed request.
    #[serde(borrow, default)]
    pub error: Option<Cow<'a, str>>,
    /// What a successful request did (channel, symbol, depth).
    #[serde(borrow, default)]
    pub result: Option<&'a RawValue>,
    /// The symbol a failed request named.
    #[serde(borrow, default)]
    pub symbol: Option<Cow<'a, str>>,
}

/// `result` of a successful subscribe or unsubscribe.
#[derive(Deserialize, Default)]
pub struct AckResult<'a> {
    /// Channel subscribed.
    #[serde(borrow, default)]
    pub channel: Option<Cow<'a, str>>,
    /// Symbol subscribed.
    #[serde(borrow, default)]
    pub symbol: Option<Cow<'a, str>>,
    /// Book depth subscribed.
    #[serde(default)]
    pub depth: Option<u64>,
}

/// One price level of a `book` item, both numbers kept as raw JSON text:
/// the checksum is over the exact text the venue sent.
#[derive(Deserialize)]
pub struct RawLevel<'a> {
    /// Price as sent (a JSON number, or a string on some doc examples).
    #[serde(borrow)]
    pub price: &'a RawValue,
    /// Quantity as sent.
    #[serde(borrow)]
    pub qty: &'a RawValue,
}

/// One `book` item (snapshot or update of one symbol).
#[derive(Deserialize)]
pub struct BookItem<'a> {
    /// Venue symbol, e.g. `BTC/USD`.
    #[serde(borrow)]
    pub symbol: Cow<'a, str>,
    /// Bid levels (an update may leave one side out).
    #[serde(borrow, default)]
    pub bids: Vec<RawLevel<'a>>,
    /// Ask levels.
    #[serde(borrow, default)]
    pub asks: Vec<RawLevel<'a>>,
    /// CRC32 of the top 10 levels after this item is applied.
    #[serde(default)]
    pub checksum: Option<u32>,
    /// Exchange time, RFC 3339.
    #[serde(borrow, default)]
    pub timestamp: Option<Cow<'a, str>>,
}

/// One `trade` item.
#[derive(Deserialize)]
pub struct TradeItem<'a> {
    /// Venue symbol.
    #[serde(borrow)]
    pub symbol: Cow<'a, str>,
    /// Price.
    pub price: f64,
    /// Quantity.
    pub qty: f64,
    /// Per-pair sequential trade id.
    pub trade_id: u64,
    /// Trade time, RFC 3339.
    #[serde(borrow)]
    pub timestamp: Cow<'a, str>,
}

/// One `ohlc` item.
#[derive(Deserialize)]
pub struct OhlcItem<'a> {
    /// Venue symbol.
    #[serde(borrow)]
    pub symbol: Cow<'a, str>,
    /// Open.
    pub open: f64,
    /// High.
    pub high: f64,
    /// Low.
    pub low: f64,
    /// Close.
    pub close: f64,
    /// Base volume.
    pub volume: f64,
    /// Volume-weighted average price.
    #[serde(default)]
    pub vwap: Option<f64>,
    /// Number of trades.
    #[serde(default)]
    pub trades: Option<u64>,
    /// Start of the interval, RFC 3339.
    #[serde(borrow)]
    pub interval_begin: Cow<'a, str>,
    /// Interval in minutes.
    pub interval: u32,
    /// Time of the update, RFC 3339 (newer API versions).
    #[serde(borrow, default)]
    pub timestamp: Option<Cow<'a, str>>,
}

/// One `ticker` item (best bid and offer plus daily statistics, which are
/// ignored).
#[derive(Deserialize)]
pub struct TickerItem<'a> {
    /// Venue symbol.
    #[serde(borrow)]
    pub symbol: Cow<'a, str>,
    /// Best bid.
    pub bid: f64,
    /// Quantity at the best bid.
    pub bid_qty: f64,
    /// Best ask.
    pub ask: f64,
    /// Quantity at the best ask.
    pub ask_qty: f64,
    /// Exchange time, RFC 3339 (newer API versions).
    #[serde(borrow, default)]
    pub timestamp: Option<Cow<'a, str>>,
}

/// The decimal text inside a raw JSON number or string (quotes removed).
/// Strings with escapes are returned with the backslash, which the caller's
/// decimal check then rejects.
pub fn raw_decimal(raw: &RawValue) -> &str {
    let s = raw.get();
    s.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(s)
}

/// `2023-10-06T17:35:55.440295Z` (RFC 3339, UTC `Z`, 0 to 9 fraction
/// digits) to nanoseconds since the epoch; `None` for anything else. Kraken
/// sends only this form, so anything else (an offset, a space for `T`) is
/// malformed here, though the shared parser would read it.
pub fn parse_time(s: &str) -> Option<Nanos> {
    let strict = s.as_bytes().get(10) == Some(&b'T') && s.ends_with('Z');
    crate::model::parse_rfc3339(s).filter(|_| strict)
}

/// Describes a serde error over `text`, naming the JSON key nearest before
/// the error position (serde_json's own message names a missing field but
/// not a mistyped one). Cold path only.
pub fn describe_error(text: &str, e: &serde_json::Error) -> String {
    let msg = e.to_string();
    if msg.starts_with("missing field") {
        return msg;
    }
    match key_before(text, e.line(), e.column()) {
        Some(key) => format!("field `{key}`: {msg}"),
        None => msg,
    }
}

/// The last `"key":` that starts before (line, column) of `text` (both
/// 1-based, as serde_json reports them).
fn key_before(text: &str, line: usize, column: usize) -> Option<&str> {
    let mut offset = 0usize;
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if i + 1 == line {
            offset = offset.checked_add(column.min(l.len()))?;
            break;
        }
        offset = offset.checked_add(l.len())?;
    }
    let head = text.as_bytes().get(..offset.min(text.len()))?;
    // Walk back to a ':' then to the quoted key before it.
    let colon = head.iter().rposition(|&c| c == b':')?;
    let before = head.get(..colon)?;
    let end = before.iter().rposition(|&c| !c.is_ascii_whitespace())?;
    if before.get(end) != Some(&b'"') {
        return None;
    }
    let start = before.get(..end)?.iter().rposition(|&c| c == b'"')?;
    let key = text.get(start.checked_add(1)?..end)?;
    (!key.is_empty() && key.len() <= 64).then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_with_any_fraction() {
        // 2023-10-06T17:35:55Z is 1_696_613_755 s (date -u -d ... +%s).
        assert_eq!(
            parse_time("2023-10-06T17:35:55.440295Z"),
            Some(1_696_613_755_440_295_000)
        );
        assert_eq!(
            parse_time("2023-10-04T16:25:00.000000000Z"),
            Some(1_696_436_700_000_000_000)
        );
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_time("2024-02-29T00:00:00.5Z"),
            Some(1_709_164_800_500_000_000)
        );
        for bad in [
            "",
            "2023-10-06",
            "2023-10-06T17:35:55",
            "2023-10-06T17:35:55.Z",
            "2023-10-06T17:35:55.1234567890Z",
            "2023-13-06T17:35:55Z",
            "2023-02-29T17:35:55Z",
            "2023-10-06T24:00:00Z",
            "2023-10-06T17:35:55+00:00",
            "2023-10-06 17:35:55Z",
            "２023-10-06T17:35:55Z",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn errors_name_the_key_before_them() {
        let text = r#"{"symbol":"BTC/USD","price":"x","qty":1}"#;
        let e = serde_json::from_str::<TradeItem<'_>>(text).err().unwrap();
        let d = describe_error(text, &e);
        assert!(d.starts_with("field `price`"), "{d}");
        let text = "{\n  \"symbol\": \"BTC/USD\",\n  \"price\": 1,\n  \"qty\": true\n}";
        let e = serde_json::from_str::<TradeItem<'_>>(text).err().unwrap();
        let d = describe_error(text, &e);
        assert!(d.starts_with("field `qty`"), "{d}");
        let text = r#"{"symbol":"BTC/USD","price":1,"qty":1,"timestamp":"t"}"#;
        let e = serde_json::from_str::<TradeItem<'_>>(text).err().unwrap();
        assert!(describe_error(text, &e).contains("missing field `trade_id`"));
    }

    #[test]
    fn raw_decimal_strips_quotes_only() {
        let v: Vec<Box<RawValue>> = serde_json::from_str(r#"[1.50, "2.5", "x"]"#).unwrap();
        let texts: Vec<&str> = v.iter().map(|r| raw_decimal(r)).collect();
        assert_eq!(texts, ["1.50", "2.5", "x"]);
    }
}
