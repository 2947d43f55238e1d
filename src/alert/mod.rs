//! Alerts as the desk receives them, and the incident book that turns
//! detector findings into one open, a few updates and one resolve.
//!
//! This module decides *when* an alert is emitted; detectors decide *whether*
//! something is wrong. It never reads clocks or does I/O: every call carries
//! the engine's time, so the same findings always give the same alerts.

mod incident;
mod lifecycle;
pub mod words;

pub use incident::{IncidentKey, Incidents};
pub use lifecycle::{Cause, IncidentConfig, Phase};

use crate::model::{Nanos, Venue, format_rfc3339_ms};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

/// Where an incident is in its life.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// The first alert of an incident.
    Open,
    /// The incident is still going; severity or evidence changed.
    Update,
    /// The condition has cleared.
    Resolved,
}

/// How urgent an alert is.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Context only: nobody is paged.
    Info,
    /// Data from this stream should not be trusted right now.
    Warning,
    /// Data from this stream is wrong or missing; act now.
    Critical,
}

/// The documented list of alert kinds (see `docs/ALERTS.md`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A stream stopped delivering data for longer than its own rhythm allows.
    FeedSilent,
    /// Data arrives later than the stream's own skew-corrected baseline.
    FeedLagging,
    /// An order-book update sequence number was skipped.
    BookGap,
    /// Best bid at or above best ask, persistently.
    BookCrossed,
    /// The venue's book checksum does not match the local book.
    BookChecksum,
    /// A candle breaks a hard rule (OHLC order, price or volume sign, VWAP).
    CandleInvalid,
    /// Candles missing, duplicated, out of order, or a closed candle revised.
    CandleGap,
    /// A candle's return or wick is far outside the stream's own volatility.
    AbnormalCandle,
    /// A venue connection closed or failed; it is being retried.
    ConnectionLost,
    /// Frames were dropped between the connections and the engine (our own
    /// side could not keep up).
    FramesDropped,
    /// Frames keep coming but their values stopped changing while the same
    /// market on other venues kept moving.
    FeedFrozen,
    /// The spread is far above its own rolling median, held.
    SpreadBlowout,
    /// The quantity near the touch is far below its own rolling median, held.
    DepthCollapse,
    /// Trades print outside the same venue's best bid and ask, repeatedly:
    /// the book is not moving with the market.
    BookStale,
    /// Most streams of one venue went silent together: the venue (or our
    /// connection to it) is out, not one stream.
    VenueOutage,
    /// Several venues went silent together: infrastructure they share
    /// (hosting region, exchange) is the likely cause.
    SharedOutage,
    /// Every watched venue went quiet at once across independent
    /// infrastructure, or feedwatch itself was paused: our side first.
    LocalStall,
    /// One venue's price is far from the consensus of the other fresh
    /// venues quoting the same pair (at least 3 venues in all).
    PriceDivergence,
    /// One trade printed far outside the same venue's own best bid and
    /// offer (and far from the pair's other venues where there are any).
    BadPrint,
    /// A stablecoin quote left its peg: every market quoted in it, on
    /// every venue that lists one, moved together against the family's
    /// reference quote (USDC at 0.87 USD in March 2023).
    QuoteDepeg,
}

impl State {
    /// The snake_case name, as in the alert JSON.
    pub fn name(self) -> &'static str {
        match self {
            State::Open => "open",
            State::Update => "update",
            State::Resolved => "resolved",
        }
    }
}

impl Severity {
    /// The snake_case name, as in the alert JSON.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

impl Kind {
    /// The snake_case name used in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Kind::FeedSilent => "feed_silent",
            Kind::FeedLagging => "feed_lagging",
            Kind::BookGap => "book_gap",
            Kind::BookCrossed => "book_crossed",
            Kind::BookChecksum => "book_checksum",
            Kind::CandleInvalid => "candle_invalid",
            Kind::CandleGap => "candle_gap",
            Kind::AbnormalCandle => "abnormal_candle",
            Kind::ConnectionLost => "connection_lost",
            Kind::FramesDropped => "frames_dropped",
            Kind::FeedFrozen => "feed_frozen",
            Kind::SpreadBlowout => "spread_blowout",
            Kind::DepthCollapse => "depth_collapse",
            Kind::BookStale => "book_stale",
            Kind::VenueOutage => "venue_outage",
            Kind::SharedOutage => "shared_outage",
            Kind::LocalStall => "local_stall",
            Kind::PriceDivergence => "price_divergence",
            Kind::BadPrint => "bad_print",
            Kind::QuoteDepeg => "quote_depeg",
        }
    }

    /// The cause an incident of this kind has when it opens: staleness is
    /// `unknown` until grouping has had its say, other kinds say what they
    /// are by themselves.
    pub fn cause_at_open(self) -> Cause {
        match self {
            Kind::FeedSilent | Kind::FeedLagging | Kind::ConnectionLost => Cause::Unknown,
            // Judged against peers that kept moving: the venue's own.
            Kind::FeedFrozen | Kind::VenueOutage | Kind::AbnormalCandle | Kind::PriceDivergence => {
                Cause::VenueLocal
            }
            Kind::SharedOutage => Cause::SharedInfrastructure,
            // The quote itself moved, on every venue: the market, not a feed.
            Kind::QuoteDepeg => Cause::MarketMove,
            Kind::LocalStall | Kind::FramesDropped => Cause::OurSide,
            Kind::BookGap
            | Kind::BookCrossed
            | Kind::BookChecksum
            | Kind::CandleInvalid
            | Kind::CandleGap
            | Kind::SpreadBlowout
            | Kind::DepthCollapse
            | Kind::BookStale
            | Kind::BadPrint => Cause::DataIntegrity,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The numbers behind an alert, as ordered key/value pairs (order is kept in
/// the JSON so output is byte-for-byte reproducible).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Evidence(pub Vec<(&'static str, Value)>);

impl Evidence {
    /// An empty evidence list.
    pub fn new() -> Self {
        Evidence(Vec::new())
    }

    /// Adds one named value (builder style).
    pub fn with(mut self, key: &'static str, value: impl Into<Value>) -> Self {
        self.0.push((key, value.into()));
        self
    }

    /// Adds a float rounded to `decimals` places (NaN/inf become null), so
    /// evidence stays readable and stable.
    pub fn num(self, key: &'static str, value: f64, decimals: i32) -> Self {
        self.with(key, round_value(value, decimals))
    }

    /// Looks up a value by key.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }
}

/// Rounds a float for evidence; non-finite values become JSON null.
pub fn round_value(value: f64, decimals: i32) -> Value {
    if !value.is_finite() {
        return Value::Null;
    }
    let p = 10f64.powi(decimals);
    let r = (value * p).round() / p;
    serde_json::Number::from_f64(r).map_or(Value::Null, Value::Number)
}

impl Serialize for Evidence {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// One alert line on the feed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Alert {
    /// When, on the engine clock (the fixture's clock in replay).
    #[serde(serialize_with = "ser_time")]
    pub at: Nanos,
    /// open / update / resolved.
    pub state: State,
    /// What is wrong.
    pub kind: Kind,
    /// How urgent.
    pub severity: Severity,
    /// Venue id.
    #[serde(serialize_with = "ser_venue")]
    pub venue: Venue,
    /// Canonical `BASE/QUOTE`, or null for venue-wide alerts.
    pub symbol: Option<String>,
    /// Stream name (`trade`, `bbo`, `depth`, `kline_1m`, ...), or null.
    pub stream: Option<String>,
    /// Stable id shared by the open, updates and resolve of one incident.
    pub incident: String,
    /// Where the incident is in its life: `open`, `identified`,
    /// `monitoring` (recovered, on probation) or `resolved`.
    pub phase: Phase,
    /// The cause class: `unknown` until identified, then `venue_local`,
    /// `shared_infrastructure`, `our_side`, `market_move` or
    /// `data_integrity`.
    pub cause: Cause,
    /// The id of the incident that explains this one (a venue or shared
    /// outage, or a local stall), or null.
    pub group: Option<String>,
    /// One sentence a trader can act on.
    pub summary: String,
    /// The numbers behind it.
    pub evidence: Evidence,
}

fn ser_time<S: serde::Serializer>(ns: &Nanos, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_rfc3339_ms(*ns))
}

fn ser_venue<S: serde::Serializer>(v: &Venue, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v.id())
}

impl Alert {
    /// The alert as one JSON line (no trailing newline).
    pub fn to_json(&self) -> String {
        // Serializing plain data into a String cannot fail; fall back to a
        // minimal object rather than panic if it ever did.
        serde_json::to_string(self).unwrap_or_else(|e| {
            format!(
                "{{\"kind\":\"{}\",\"error\":\"{}\"}}",
                self.kind,
                e.to_string().replace('"', "'")
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_json_names() {
        let quoted = |n: &str| format!("\"{n}\"");
        for s in [State::Open, State::Update, State::Resolved] {
            assert_eq!(serde_json::to_string(&s).ok(), Some(quoted(s.name())));
        }
        for s in [Severity::Info, Severity::Warning, Severity::Critical] {
            assert_eq!(serde_json::to_string(&s).ok(), Some(quoted(s.name())));
        }
        for p in [
            Phase::Open,
            Phase::Identified,
            Phase::Monitoring,
            Phase::Resolved,
        ] {
            assert_eq!(serde_json::to_string(&p).ok(), Some(quoted(p.name())));
        }
    }
}
