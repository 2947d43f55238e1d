//! The normalized vocabulary every other module speaks: venues (as ids),
//! markets, symbols, timestamps and the market-data events that venue
//! adapters produce.
//!
//! Nothing here does I/O or knows any venue's wire format; adapters translate
//! into these types and the engine only ever sees these types.

use std::fmt;
use std::sync::Arc;

/// Nanoseconds since the Unix epoch (UTC). Receive times, exchange times and
/// the engine clock all use this one unit so that they can be compared.
pub type Nanos = i64;

/// One second in [`Nanos`].
pub const SECOND: Nanos = 1_000_000_000;
/// One millisecond in [`Nanos`].
pub const MILLI: Nanos = 1_000_000;

/// A market-data venue as the alert feed names it.
///
/// Known venues have a variant each: an id only. What a venue *is* (its
/// exchange, market, cadences, adapter, protocol) is its `VenueSpec` in
/// `venues/<name>/`; a new venue adds its variant, its id in [`Venue::id`]
/// and its place in [`KNOWN_VENUES`] here. `Other` carries a venue id given
/// by the user for history files (for example `gemini`); ids are validated
/// by [`Venue::parse`] and live for the whole process, so the type stays
/// `Copy`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Venue {
    /// Binance spot (`stream.binance.com`).
    BinanceSpot,
    /// Binance USD-M futures (`fstream.binance.com`).
    BinanceUsdm,
    /// Binance COIN-M futures (`dstream.binance.com`).
    BinanceCoinm,
    /// Coinbase Advanced Trade.
    Coinbase,
    /// Kraken spot, WebSocket v2.
    Kraken,
    /// OKX v5.
    Okx,
    /// Bybit v5 spot.
    BybitSpot,
    /// Bybit v5 linear (USDT/USDC perpetuals).
    BybitLinear,
    /// Any other venue id, for history files only.
    Other(&'static str),
}

/// Every built-in venue, in the order they are documented.
pub const KNOWN_VENUES: [Venue; 8] = [
    Venue::BinanceSpot,
    Venue::BinanceUsdm,
    Venue::BinanceCoinm,
    Venue::Coinbase,
    Venue::Kraken,
    Venue::Okx,
    Venue::BybitSpot,
    Venue::BybitLinear,
];

impl Venue {
    /// The venue id used in alerts, fixtures and on the command line.
    pub fn id(self) -> &'static str {
        match self {
            Venue::BinanceSpot => "binance-spot",
            Venue::BinanceUsdm => "binance-usdm",
            Venue::BinanceCoinm => "binance-coinm",
            Venue::Coinbase => "coinbase",
            Venue::Kraken => "kraken",
            Venue::Okx => "okx",
            Venue::BybitSpot => "bybit-spot",
            Venue::BybitLinear => "bybit-linear",
            Venue::Other(id) => id,
        }
    }

    /// Parses a built-in venue id. Unknown ids are an error here; history
    /// commands that accept any venue use [`Venue::parse_any`].
    pub fn parse(id: &str) -> Result<Venue, UnknownVenue> {
        KNOWN_VENUES
            .iter()
            .copied()
            .find(|v| v.id() == id)
            .ok_or_else(|| UnknownVenue(id.to_string()))
    }

    /// Parses any venue id: a built-in one, or a new lowercase id made of
    /// `a-z`, `0-9` and `-` (kept for the life of the process).
    pub fn parse_any(id: &str) -> Result<Venue, UnknownVenue> {
        if let Ok(v) = Venue::parse(id) {
            return Ok(v);
        }
        let ok = !id.is_empty()
            && id.len() <= 32
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !ok {
            return Err(UnknownVenue(id.to_string()));
        }
        Ok(Venue::Other(Box::leak(id.to_string().into_boxed_str())))
    }
}

impl fmt::Display for Venue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// Spot or perpetual: which market a venue trades (each venue's spec says
/// which).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Market {
    /// Spot.
    Spot,
    /// Perpetual or other derivative.
    Perp,
}

impl Market {
    /// The name used in alerts (`spot`, `perp`).
    pub fn name(self) -> &'static str {
        match self {
            Market::Spot => "spot",
            Market::Perp => "perp",
        }
    }
}

/// A venue id that is not known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown venue `{0}` (known: {known})", known = known_ids())]
pub struct UnknownVenue(pub String);

/// The built-in venue ids, comma-separated, in [`KNOWN_VENUES`] order.
fn known_ids() -> String {
    KNOWN_VENUES.map(Venue::id).join(", ")
}

/// A canonical instrument name, `BASE/QUOTE` (e.g. `BTC/USDT`). Shared and
/// cheap to clone: adapters intern one per venue symbol.
pub type Symbol = Arc<str>;

/// What kind of stream an event came on. Together with venue and symbol it
/// names one stream the engine watches.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StreamKind {
    /// Individual trades.
    Trade,
    /// Aggregated trades (Binance `aggTrade`).
    AggTrade,
    /// Best bid and offer (Binance `bookTicker`).
    Bbo,
    /// Incremental (diff) order book.
    Depth,
    /// Partial book snapshots pushed on every update (Binance `depth5/10/20`).
    PartialDepth,
    /// Exchange candles of the given interval in seconds.
    Kline(u32),
    /// One-minute candles the engine builds from trades.
    TradeCandles,
}

impl StreamKind {
    /// The stream name used in alerts (`stream` field).
    pub fn name(self) -> String {
        match self {
            StreamKind::Trade => "trade".into(),
            StreamKind::AggTrade => "agg_trade".into(),
            StreamKind::Bbo => "bbo".into(),
            StreamKind::Depth => "depth".into(),
            StreamKind::PartialDepth => "depth_partial".into(),
            StreamKind::Kline(secs) => format!("kline_{}", interval_name(secs)),
            StreamKind::TradeCandles => "trade_candles_1m".into(),
        }
    }
}

/// `60` -> `1m`, `3600` -> `1h`, `86400` -> `1d`, `1` -> `1s`.
pub fn interval_name(secs: u32) -> String {
    if secs.is_multiple_of(86_400) {
        format!("{}d", secs / 86_400)
    } else if secs.is_multiple_of(3600) {
        format!("{}h", secs / 3600)
    } else if secs.is_multiple_of(60) {
        format!("{}m", secs / 60)
    } else {
        format!("{secs}s")
    }
}

/// Parses `1s`, `1m`, `15m`, `1h`, `4h`, `1d`, `1w` into seconds.
pub fn parse_interval(s: &str) -> Option<u32> {
    // The unit is one ASCII letter; anything else (including a multi-byte
    // last character, where a byte split would panic) is not an interval.
    let split = s.len().checked_sub(1)?;
    if !s.is_char_boundary(split) {
        return None;
    }
    let (num, unit) = s.split_at(split);
    let n: u32 = num.parse().ok()?;
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return None,
    };
    n.checked_mul(mult).filter(|v| *v > 0)
}

/// One price level: price and quantity (quantity 0 deletes the level in a diff).
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Level {
    /// Price in quote currency.
    pub price: f64,
    /// Quantity at that price (base units or contracts, as the venue sends).
    pub qty: f64,
}

/// One trade print.
#[derive(Clone, Debug, PartialEq)]
pub struct Trade {
    /// Trade price.
    pub price: f64,
    /// Trade quantity.
    pub qty: f64,
    /// Venue trade id, where given (used for continuity and change detection).
    pub id: Option<u64>,
    /// Exchange time of the trade.
    pub exch_ns: Option<Nanos>,
    /// Exchange time the message was sent (Binance `E`), if any.
    pub event_ns: Option<Nanos>,
}

/// Best bid and offer.
#[derive(Clone, Debug, PartialEq)]
pub struct Quote {
    /// Best bid.
    pub bid: Level,
    /// Best ask.
    pub ask: Level,
    /// Venue update id, where given.
    pub update_id: Option<u64>,
    /// Exchange event time, where given (Binance spot bookTicker has none).
    pub exch_ns: Option<Nanos>,
}

/// An incremental order-book update with its sequence range.
///
/// Venues whose sequencing the adapter checks itself (and reports as
/// [`Integrity`]) send their snapshots with `last_id: None`; diffs after such
/// a snapshot are applied without id checks, so their ids may be 0.
#[derive(Clone, Debug, PartialEq)]
pub struct DepthDiff {
    /// First update id in this message (Binance `U`).
    pub first_id: u64,
    /// Last update id in this message (Binance `u`).
    pub last_id: u64,
    /// Last update id of the previous message on this stream (Binance futures
    /// `pu`). When present, continuity is `prev_last_id == previous last_id`;
    /// when absent, `first_id == previous last_id + 1`.
    pub prev_last_id: Option<u64>,
    /// Bid levels to set (qty 0 removes).
    pub bids: Vec<Level>,
    /// Ask levels to set (qty 0 removes).
    pub asks: Vec<Level>,
    /// Exchange event time.
    pub exch_ns: Option<Nanos>,
}

/// A full book snapshot (REST depth response or a partial-depth push).
#[derive(Clone, Debug, PartialEq)]
pub struct DepthSnapshot {
    /// The last update id included in this snapshot.
    pub last_id: Option<u64>,
    /// Bids, best first.
    pub bids: Vec<Level>,
    /// Asks, best first.
    pub asks: Vec<Level>,
    /// Exchange time, where given.
    pub exch_ns: Option<Nanos>,
}

/// One candle (kline), forming or closed.
#[derive(Clone, Debug, PartialEq)]
pub struct Candle {
    /// Start of the interval.
    pub open_ns: Nanos,
    /// Interval length in seconds.
    pub interval_secs: u32,
    /// Open price.
    pub open: f64,
    /// High price.
    pub high: f64,
    /// Low price.
    pub low: f64,
    /// Close (last) price.
    pub close: f64,
    /// Base volume.
    pub volume: f64,
    /// Quote volume, where given (VWAP = quote_volume / volume).
    pub quote_volume: Option<f64>,
    /// Number of trades, where given.
    pub trades: Option<u64>,
    /// First trade id in the candle (Binance `f`), where given.
    pub first_trade_id: Option<u64>,
    /// Last trade id in the candle (Binance `L`), where given.
    pub last_trade_id: Option<u64>,
    /// Whether the interval has closed (final values).
    pub closed: bool,
    /// Exchange event time of the message, where given.
    pub exch_ns: Option<Nanos>,
}

impl Candle {
    /// End of the interval (exclusive).
    pub fn close_ns(&self) -> Nanos {
        self.open_ns + Nanos::from(self.interval_secs) * SECOND
    }
}

/// A book integrity problem that a venue adapter detected itself, for
/// venues whose sequencing or checksums only the adapter can check (Kraken
/// CRC32 over exact price strings, Coinbase per-connection sequence numbers,
/// Bybit `u = 1` restarts). The engine raises `book_gap` / `book_checksum`
/// and treats the book as unsynced until the next snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Integrity {
    /// A sequence break: the next id expected, and the id received.
    Gap {
        /// Expected id.
        expected: u64,
        /// Received id.
        got: u64,
    },
    /// The venue's book checksum does not match the book the adapter holds.
    Checksum {
        /// Checksum the venue sent.
        expected: u32,
        /// Checksum computed over the local book.
        computed: u32,
    },
    /// The venue restarted the stream (e.g. Bybit `u = 1`): not a fault,
    /// but the book must be rebuilt from the snapshot that follows.
    Reset,
}

/// What an adapter extracted from one frame.
#[derive(Clone, Debug, PartialEq)]
pub enum Payload {
    /// A trade.
    Trade(Trade),
    /// A best bid/offer update.
    Quote(Quote),
    /// An incremental book update.
    Depth(DepthDiff),
    /// A full book snapshot to sync from.
    Snapshot(DepthSnapshot),
    /// A candle update.
    Candle(Candle),
    /// A book integrity problem found by the adapter (on the depth stream).
    Integrity(Integrity),
}

/// One normalized market-data event.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// Canonical symbol.
    pub symbol: Symbol,
    /// Which stream of that symbol it came on.
    pub stream: StreamKind,
    /// The data.
    pub payload: Payload,
}

/// Formats nanoseconds since the epoch as RFC 3339 UTC with milliseconds,
/// e.g. `2024-08-08T23:54:14.206Z` (the alert `at` format).
pub fn format_rfc3339_ms(ns: Nanos) -> String {
    let ms = ns.div_euclid(MILLI);
    let secs = ms.div_euclid(1000);
    let milli = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{milli:03}Z",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Milliseconds since the epoch to [`Nanos`]; `None` outside `i64`
/// nanoseconds.
pub fn ms_to_ns(ms: impl TryInto<i64>) -> Option<Nanos> {
    ms.try_into().ok()?.checked_mul(MILLI)
}

/// Parses `n` ASCII digits at `s[at..at + n]`.
fn digits(s: &[u8], at: usize, n: usize) -> Option<i64> {
    let part = s.get(at..at.checked_add(n)?)?;
    let mut v: i64 = 0;
    for &b in part {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i64::from(b - b'0');
    }
    Some(v)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`); inputs are already range-checked.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// An RFC 3339 time to nanoseconds since the epoch, or `None` if it is not
/// one (or does not fit): any fraction length up to nanoseconds (digits
/// past nanoseconds are an error, not truncated), `Z` or a `+-HH:MM` offset,
/// `T` or a space between date and time. Exact and allocation-free; never
/// panics. The one parser of exchange timestamps (Coinbase, Kraken).
pub fn parse_rfc3339(text: &str) -> Option<Nanos> {
    let s = text.as_bytes();
    let year = digits(s, 0, 4)?;
    if s.get(4) != Some(&b'-') || s.get(7) != Some(&b'-') {
        return None;
    }
    let month = digits(s, 5, 2)?;
    let day = digits(s, 8, 2)?;
    if !matches!(s.get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    let hour = digits(s, 11, 2)?;
    if s.get(13) != Some(&b':') || s.get(16) != Some(&b':') {
        return None;
    }
    let minute = digits(s, 14, 2)?;
    let second = digits(s, 17, 2)?;
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        // 60 would be a leap second, which no venue of ours sends.
        || second > 59
    {
        return None;
    }
    let mut i = 19;
    let mut frac: i64 = 0;
    if s.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while let Some(b) = s.get(i).filter(|b| b.is_ascii_digit()) {
            if i - start >= 9 {
                return None;
            }
            frac = frac * 10 + i64::from(b - b'0');
            i += 1;
        }
        let n = i - start;
        if n == 0 {
            return None;
        }
        for _ in n..9 {
            frac *= 10;
        }
    }
    let offset_secs = match s.get(i) {
        Some(b'Z' | b'z') if s.len() == i + 1 => 0,
        Some(&sign @ (b'+' | b'-')) if s.len() == i + 6 && s.get(i + 3) == Some(&b':') => {
            let oh = digits(s, i + 1, 2)?;
            let om = digits(s, i + 4, 2)?;
            if oh > 23 || om > 59 {
                return None;
            }
            let off = oh * 3600 + om * 60;
            if sign == b'-' { -off } else { off }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_secs;
    secs.checked_mul(SECOND)?.checked_add(frac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(format_rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        // 2024-08-08T23:54:13.937Z, the first frame of the spot BTC recording.
        assert_eq!(
            format_rfc3339_ms(1_723_161_253_937_085_768),
            "2024-08-08T23:54:13.937Z"
        );
        assert_eq!(
            format_rfc3339_ms(951_782_400_000 * MILLI),
            "2000-02-29T00:00:00.000Z"
        );
    }

    #[test]
    fn venue_ids_round_trip() {
        for v in KNOWN_VENUES {
            assert_eq!(Venue::parse(v.id()), Ok(v));
        }
        assert!(Venue::parse("gemini").is_err());
        assert_eq!(Venue::parse_any("gemini").map(|v| v.id()), Ok("gemini"));
        assert!(Venue::parse_any("Bad Venue").is_err());
        assert_eq!(
            Venue::parse("nowhere").unwrap_err().to_string(),
            "unknown venue `nowhere` (known: binance-spot, binance-usdm, binance-coinm, coinbase, kraken, okx, bybit-spot, bybit-linear)"
        );
    }

    #[test]
    fn intervals_parse_and_name() {
        assert_eq!(parse_interval("1m"), Some(60));
        assert_eq!(parse_interval("4h"), Some(14_400));
        assert_eq!(parse_interval("0m"), None);
        assert_eq!(parse_interval("m"), None);
        assert_eq!(parse_interval(""), None);
        assert_eq!(parse_interval("1é"), None);
        assert_eq!(parse_interval("é"), None);
        assert_eq!(interval_name(60), "1m");
        assert_eq!(interval_name(1), "1s");
    }

    #[test]
    fn rfc3339_parses_known_instants_exactly() {
        // 2024-08-08T23:54:13.937Z is 1_723_161_253_937 ms (the model's own
        // formatter test uses the same instant).
        assert_eq!(
            parse_rfc3339("2024-08-08T23:54:13.937Z"),
            Some(1_723_161_253_937_000_000)
        );
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339("1970-01-01T00:00:00.000000001Z"),
            Some(1),
            "nanosecond digit kept"
        );
        // 2000-02-29 is 951_782_400 s.
        assert_eq!(
            parse_rfc3339("2000-02-29T00:00:00.5Z"),
            Some(951_782_400 * SECOND + 500_000_000)
        );
        // Offsets move the instant; the heartbeat form uses a space.
        assert_eq!(
            parse_rfc3339("2000-02-29 01:30:00.000000000+01:30"),
            Some(951_782_400 * SECOND)
        );
        assert_eq!(
            parse_rfc3339("1969-12-31T23:59:59-00:00"),
            Some(-SECOND),
            "before the epoch is negative, not an error"
        );
    }

    #[test]
    fn rfc3339_rejects_bad_times() {
        for bad in [
            "",
            "2024-08-08",
            "2024-08-08T23:54:13",
            "2024-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-08-08T24:00:00Z",
            "2024-08-08T23:60:00Z",
            "2024-08-08T23:54:13.Z",
            "2024-08-08T23:54:13.1234567890Z",
            "2024-08-08T23:54:13.937",
            "2024-08-08T23:54:13.937Zx",
            "2024-08-08T23:54:13+0100",
            "2024/08/08T23:54:13Z",
            "9999-12-31T23:59:59Z",
            "+024-08-08T23:54:13Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn ms_to_ns_checks_range() {
        assert_eq!(
            ms_to_ns(1_723_161_253_937u64),
            Some(1_723_161_253_937 * MILLI)
        );
        assert_eq!(ms_to_ns(-5i64), Some(-5 * MILLI));
        assert_eq!(ms_to_ns(u64::MAX), None);
        assert_eq!(ms_to_ns(i64::MAX), None);
    }
}
