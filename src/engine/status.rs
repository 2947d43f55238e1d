//! A read-only view of the engine's state for people and scrapers: every
//! stream with its state, last message age, lag, phi and book sync; every
//! venue's worst state; each venue symbol's latest price; the counters.
//!
//! It is built on demand (the status page, metrics, the dashboard), never
//! on the per-frame path, and it must never change the engine: the same
//! records give the same alerts whether or not anyone looks.

use super::Engine;
use crate::alert::{IncidentKey, Kind};
use crate::model::{Nanos, format_rfc3339_ms};
use crate::state::gaps::secs;
use serde::Serialize;
use std::collections::BTreeMap;

/// The state of one stream or venue, worst first.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamState {
    /// No data for longer than its rhythm allows (`feed_silent`, or part of
    /// a venue or shared outage).
    Silent,
    /// Frames arrive but their values stopped changing (`feed_frozen`).
    Frozen,
    /// The order book is out of sync or inconsistent (gap, crossed,
    /// checksum, stale).
    BookBroken,
    /// Data arrives late (`feed_lagging`).
    Lagging,
    /// Its price is far from the other venues' (`price_divergence`).
    Diverging,
    /// Another incident is firing on it (abnormal candle, spread, depth).
    Degraded,
    /// Its incidents have cleared and are on probation.
    Recovering,
    /// Healthy.
    Ok,
    /// Not watched now: its recording or connection ended, or no data yet.
    Idle,
}

impl StreamState {
    /// The snake_case name used in JSON and metrics.
    pub fn name(self) -> &'static str {
        match self {
            StreamState::Silent => "silent",
            StreamState::Frozen => "frozen",
            StreamState::BookBroken => "book_broken",
            StreamState::Lagging => "lagging",
            StreamState::Diverging => "diverging",
            StreamState::Degraded => "degraded",
            StreamState::Recovering => "recovering",
            StreamState::Ok => "ok",
            StreamState::Idle => "idle",
        }
    }

    /// Every state, worst first.
    pub const ALL: [StreamState; 9] = [
        StreamState::Silent,
        StreamState::Frozen,
        StreamState::BookBroken,
        StreamState::Lagging,
        StreamState::Diverging,
        StreamState::Degraded,
        StreamState::Recovering,
        StreamState::Ok,
        StreamState::Idle,
    ];

    /// What a firing incident of `kind` makes of the stream it is about.
    fn of_kind(kind: Kind) -> StreamState {
        match kind {
            Kind::FeedSilent | Kind::VenueOutage | Kind::SharedOutage | Kind::ConnectionLost => {
                StreamState::Silent
            }
            Kind::FeedFrozen => StreamState::Frozen,
            Kind::BookGap | Kind::BookCrossed | Kind::BookChecksum | Kind::BookStale => {
                StreamState::BookBroken
            }
            Kind::FeedLagging => StreamState::Lagging,
            Kind::PriceDivergence => StreamState::Diverging,
            _ => StreamState::Degraded,
        }
    }
}

/// One stream's state.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StreamStatus {
    /// Venue id.
    pub venue: &'static str,
    /// Canonical symbol.
    pub symbol: String,
    /// Stream name (`trade`, `bbo`, `depth`, `kline_1m`, ...).
    pub stream: String,
    /// The connection its data came on last.
    pub conn: String,
    /// Its worst state now.
    pub state: StreamState,
    /// Seconds since its last data message (null before the first, or when
    /// it is not watched).
    pub age_s: Option<f64>,
    /// Seconds its data arrives later than its own baseline (null without
    /// exchange timestamps).
    pub lag_s: Option<f64>,
    /// Suspicion of silence now (phi; higher is more suspicious).
    pub phi: Option<f64>,
    /// Whether its order book is in sync (null for streams without one).
    pub book_synced: Option<bool>,
    /// Kinds of the incidents open on it.
    pub incidents: Vec<&'static str>,
}

/// One venue's state: its worst stream, and incidents about it as a whole.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VenueStatus {
    /// Venue id.
    pub venue: &'static str,
    /// Its worst state (a venue-wide incident counts for every stream).
    pub state: StreamState,
    /// Streams seen.
    pub streams: usize,
    /// Streams in a state worse than recovering.
    pub unhealthy: usize,
    /// Kinds of the incidents open on the venue as a whole.
    pub incidents: Vec<&'static str>,
}

/// One venue symbol's latest price.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PriceStatus {
    /// Venue id.
    pub venue: &'static str,
    /// Canonical symbol.
    pub symbol: String,
    /// Its bbo mid, or its last trade when that is newer.
    pub price: f64,
    /// Seconds since that price was seen.
    pub age_s: f64,
}

/// Engine counters as the status page shows them.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Counts {
    /// Frames received (text and binary).
    pub frames: u64,
    /// REST responses.
    pub rest: u64,
    /// Frames that failed to parse.
    pub malformed: u64,
    /// Well-formed frames of an unknown type.
    pub unknown: u64,
    /// Frames no adapter reads.
    pub unsupported: u64,
    /// Incidents open now.
    pub open_incidents: usize,
    /// Alerts emitted, by `kind/state`.
    pub alerts: BTreeMap<String, u64>,
}

/// The whole view at one instant of the engine clock.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EngineStatus {
    /// The engine clock, RFC 3339 UTC with milliseconds.
    pub at: String,
    /// The engine clock, nanoseconds since the Unix epoch.
    pub at_ns: Nanos,
    /// Every venue seen, by id.
    pub venues: Vec<VenueStatus>,
    /// Every stream seen, by venue, symbol and stream.
    pub streams: Vec<StreamStatus>,
    /// Latest prices, by venue and symbol.
    pub prices: Vec<PriceStatus>,
    /// Counters.
    pub counts: Counts,
}

/// Whether an incident about `key` concerns the stream `stream` of
/// `symbol` on `venue`: same venue, and its symbol and stream are either
/// the stream's or absent (venue- or symbol-wide).
fn covers(key: &IncidentKey, venue: &str, symbol: &str, stream: &str) -> bool {
    key.venue.id() == venue
        && key.symbol.as_deref().is_none_or(|s| s == symbol)
        && key.stream.as_deref().is_none_or(|s| s == stream)
}

impl Engine {
    /// The state of every venue and stream now. Costs a walk over the
    /// streams and open incidents: call it on a timer, not per frame.
    pub fn status(&self) -> EngineStatus {
        let now = self.now;
        let cfg = &self.cfg.silence;
        let open: Vec<(Kind, &IncidentKey, bool)> = self
            .incidents
            .open_list()
            .map(|(k, key, firing, _)| (k, key, firing))
            .collect();
        let mut streams: Vec<StreamStatus> = Vec::with_capacity(self.streams.len());
        for s in &self.streams {
            let venue = s.venue.id();
            let name = s.kind.name();
            let mut state = match s.checks.silence.last() {
                Some(_) => StreamState::Ok,
                None => StreamState::Idle,
            };
            let mut kinds = Vec::new();
            for (kind, key, firing) in &open {
                if key.symbol.is_none() || !covers(key, venue, &s.symbol, &name) {
                    continue;
                }
                kinds.push(kind.name());
                let st = if *firing {
                    StreamState::of_kind(*kind)
                } else {
                    StreamState::Recovering
                };
                state = state.min(st);
            }
            // A venue-wide outage silences every stream of the venue.
            for (kind, key, firing) in &open {
                if *firing && key.symbol.is_none() && key.venue == s.venue {
                    state = state.min(StreamState::of_kind(*kind));
                }
            }
            let watched = s.checks.silence.last();
            streams.push(StreamStatus {
                venue,
                symbol: s.symbol.to_string(),
                stream: name,
                conn: self.conns.get(s.conn).id.to_string(),
                state,
                age_s: watched.map(|l| secs((now - l).max(0))),
                lag_s: s.checks.lag.excess_s(),
                phi: watched.map(|_| s.checks.silence.phi(cfg, now)),
                book_synced: s.book.as_ref().map(|b| b.is_synced()),
                incidents: kinds,
            });
        }
        streams
            .sort_by(|a, b| (a.venue, &a.symbol, &a.stream).cmp(&(b.venue, &b.symbol, &b.stream)));
        let mut venues: BTreeMap<&'static str, VenueStatus> = BTreeMap::new();
        for s in &streams {
            let v = venues.entry(s.venue).or_insert_with(|| VenueStatus {
                venue: s.venue,
                state: StreamState::Idle,
                streams: 0,
                unhealthy: 0,
                incidents: Vec::new(),
            });
            v.streams += 1;
            v.state = v.state.min(s.state);
            if s.state < StreamState::Recovering {
                v.unhealthy += 1;
            }
        }
        for (kind, key, _) in &open {
            if key.symbol.is_none()
                && let Some(v) = venues.get_mut(key.venue.id())
            {
                v.incidents.push(kind.name());
            }
        }
        let mut prices: Vec<PriceStatus> = self
            .market
            .divergence
            .prices()
            .map(|(venue, symbol, price, at)| PriceStatus {
                venue: venue.id(),
                symbol: symbol.to_string(),
                price,
                age_s: secs((now - at).max(0)),
            })
            .collect();
        prices.sort_by(|a, b| (a.venue, &a.symbol).cmp(&(b.venue, &b.symbol)));
        let st = &self.stats;
        EngineStatus {
            at: format_rfc3339_ms(now),
            at_ns: now,
            venues: venues.into_values().collect(),
            streams,
            prices,
            counts: Counts {
                frames: st.frames,
                rest: st.rest,
                malformed: st.malformed,
                unknown: st.unknown,
                unsupported: st.unsupported,
                open_incidents: self.incidents.open_count(),
                alerts: st.alerts.clone(),
            },
        }
    }
}
