//! The deterministic core: records in, alerts out.
//!
//! `on_record(record, out)` takes one fixture or live record (a frame, a REST
//! response, a connection event) stamped with its receive time;
//! `advance_to(now, out)` lets time pass without data. Both first run every
//! clock tick due before the given instant, on a fixed grid of the engine
//! clock, so a silence raises its alert between frames at the same virtual
//! instant in a replay at any speed and in the live run that recorded it.
//!
//! The engine owns no I/O, no threads and no async, and never reads the wall
//! clock: the same records always give the same alerts, byte for byte.

mod observer;
mod status;

pub use observer::Observer;

pub use status::{Counts, EngineStatus, PriceStatus, StreamState, StreamStatus, VenueStatus};

use crate::alert::{Alert, Evidence, IncidentKey, Incidents, Kind, Severity};
use crate::detect::DetectConfig;
use crate::detect::book::{CrossedTracker, CrossedVerdict};
use crate::detect::book_health::{
    DepthTracker, HealthFacts, HealthVerdict, SpreadTracker, StaleTracker, StaleVerdict,
};
use crate::detect::candle::CandleChecker;
use crate::detect::divergence::{self, Action, ClearReason, DivergenceWatch, PriceSource, Update};
use crate::detect::frozen::{Fingerprint, FrozenGroups, FrozenTracker, FrozenVerdict, fp};
use crate::detect::lag::{LagFacts, LagTracker, LagVerdict};
use crate::detect::outage::{self, Burst, VenueHealth};
use crate::detect::silence::SilenceTracker;
use crate::model::{
    Event, Integrity, MILLI, Nanos, Payload, SECOND, StreamKind, Symbol, Venue, format_rfc3339_ms,
};
use crate::record::{DELIBERATE_CLOSE, Record, RecordKind, conn_family};
use crate::state::book::{Applied, Book};
use crate::state::candles::TradeCandleBuilder;
use crate::state::gaps::secs;
use crate::venues::{self, Adapter, Control, ParseError};
use rustc_hash::FxHashMap as HashMap;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Counters for the run summary.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Received frames (text and binary).
    pub frames: u64,
    /// REST responses.
    pub rest: u64,
    /// Connection events (open, close) and sent frames.
    pub control_records: u64,
    /// Events by type (`trade`, `quote`, `depth`, `snapshot`, `candle`).
    pub events: BTreeMap<&'static str, u64>,
    /// Heartbeats and pongs.
    pub heartbeats: u64,
    /// Acknowledgements and other control replies.
    pub acks: u64,
    /// Frames that failed to parse.
    pub malformed: u64,
    /// Well-formed frames of a type no adapter knows.
    pub unknown: u64,
    /// Frames for a venue without an adapter, or binary frames.
    pub unsupported: u64,
    /// Records whose receive time went backwards (processed at the engine's
    /// current time).
    pub time_regressions: u64,
    /// Alerts by kind and state (`feed_silent/open`).
    pub alerts: BTreeMap<String, u64>,
    /// First few parse errors, for the summary.
    pub error_samples: Vec<String>,
}

/// Stream keys remembered for lookup by symbol pointer.
const RECENT_STREAMS: usize = 8;

/// How many parse errors are kept verbatim for the summary.
const ERROR_SAMPLES: usize = 5;

/// Most resync requests waiting for [`Engine::take_resyncs`]; more are
/// dropped (each book asks again after `book.resync_interval_ms`).
const MAX_RESYNC_REQUESTS: usize = 4096;

/// An order book that is out of sync and wants a fresh snapshot. The live
/// feed turns it into a REST fetch or a resubscription on the connection;
/// a replay ignores it (the snapshots that were fetched are in the
/// recording).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResyncRequest {
    /// Venue of the book.
    pub venue: Venue,
    /// The connection the book's stream is on.
    pub conn: Arc<str>,
    /// Canonical symbol.
    pub symbol: Symbol,
}

/// One watched stream.
struct Stream {
    venue: Venue,
    symbol: Symbol,
    kind: StreamKind,
    key: IncidentKey,
    conn: usize,
    silence: SilenceTracker,
    lag: LagTracker,
    crossed: CrossedTracker,
    book: Option<Book>,
    /// When this (unsynced) book last asked for a snapshot.
    resync_at: Option<Nanos>,
    candles: Option<CandleChecker>,
    trade_candles: Option<usize>,
    /// `feed_frozen` (`None` for streams without frames of their own).
    frozen: Option<FrozenTracker>,
    /// `spread_blowout` (bbo and L2 streams).
    spread: SpreadTracker,
    /// `depth_collapse` (L2 streams).
    depth_health: DepthTracker,
    /// `book_stale` (bbo and L2 streams, judged on the same venue's trades).
    stale: StaleTracker,
    /// Trade streams: the same venue/symbol's bbo, depth and partial depth
    /// streams, looked up when the stream count was the first value.
    book_links: (usize, [Option<usize>; 3]),
}

impl Stream {
    /// "binance-spot BTC/USDT depth": what the stream's summaries are about.
    fn subject(&self) -> String {
        format!("{} {} {}", self.venue, self.symbol, self.kind.name())
    }
}

/// One connection (as named by the fixture or the live feed).
struct Conn {
    id: Arc<str>,
    /// Streams whose data came on this connection (a stream that moved on
    /// to a later connection is skipped where this is read).
    streams: Vec<usize>,
    /// A `close` record was seen; the slot is reused once no stream is on it.
    closed: bool,
    /// Market data arrived since the last `open`.
    delivered: bool,
    /// Adapters hold per-connection state (symbol caches, Coinbase's
    /// per-connection sequence numbers), so each connection has its own;
    /// a new `open` on the connection id starts them afresh.
    adapters: Vec<(Venue, Box<dyn Adapter>)>,
}

/// Candles built from one symbol's trades.
struct TradeCandles {
    /// The stream that feeds them (trades, or aggregated trades).
    feeder: StreamKind,
    builder: TradeCandleBuilder,
    checker: CandleChecker,
}

/// The deterministic detection engine.
pub struct Engine {
    cfg: DetectConfig,
    streams: Vec<Stream>,
    index: HashMap<(Venue, StreamKind), HashMap<Symbol, usize>>,
    conns: Vec<Conn>,
    conn_index: HashMap<String, usize>,
    /// The last connection looked up (records mostly come in runs from one).
    last_conn: Option<usize>,
    trade_candles: Vec<TradeCandles>,
    trade_candle_index: HashMap<(Venue, Symbol), usize>,
    /// Peer groups of `feed_frozen`.
    frozen_groups: FrozenGroups,
    incidents: Incidents,
    /// The outage incidents open now (venue, shared, local).
    outages: Outages,
    /// The end of the last pause of feedwatch itself (a stall record).
    stalled_until: Nanos,
    /// `price_divergence`: every venue's price against its peers.
    divergence: DivergenceWatch,
    resyncs: Vec<ResyncRequest>,
    scratch: Vec<Event>,
    recent_streams: Vec<(Venue, StreamKind, Symbol, usize)>,
    recent_next: usize,
    event_counts: [u64; PAYLOAD_KINDS],
    now: Nanos,
    started: bool,
    next_tick: Nanos,
    stats: Stats,
}

impl Engine {
    /// An engine with the given configuration.
    pub fn new(cfg: DetectConfig) -> Self {
        let incidents = Incidents::with_config(cfg.incidents.clone());
        Engine {
            cfg,
            streams: Vec::new(),
            index: HashMap::default(),
            conns: Vec::new(),
            conn_index: HashMap::default(),
            last_conn: None,
            trade_candles: Vec::new(),
            trade_candle_index: HashMap::default(),
            frozen_groups: FrozenGroups::new(),
            recent_streams: Vec::with_capacity(RECENT_STREAMS),
            recent_next: 0,
            event_counts: [0; PAYLOAD_KINDS],
            incidents,
            outages: Outages::default(),
            stalled_until: 0,
            divergence: DivergenceWatch::new(),
            resyncs: Vec::new(),
            scratch: Vec::new(),
            now: 0,
            started: false,
            next_tick: Nanos::MAX,
            stats: Stats::default(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> Stats {
        let mut s = self.stats.clone();
        for (i, n) in self.event_counts.iter().enumerate() {
            if *n > 0 {
                s.events.insert(PAYLOAD_NAMES[i], *n);
            }
        }
        s
    }

    /// The engine clock.
    pub fn now(&self) -> Nanos {
        self.now
    }

    /// Number of streams seen.
    pub fn stream_count(&self) -> usize {
        self.streams.len()
    }

    /// Number of incidents open now.
    pub fn open_incidents(&self) -> usize {
        self.incidents.open_count()
    }

    /// Whether `venue`'s order book for `symbol` (diff or partial depth) is
    /// in sync now; `None` when no such book has been seen.
    pub fn book_synced(&self, venue: Venue, symbol: &str) -> Option<bool> {
        [StreamKind::Depth, StreamKind::PartialDepth]
            .iter()
            .filter_map(|k| self.index.get(&(venue, *k))?.get(symbol))
            .filter_map(|&si| self.streams.get(si)?.book.as_ref())
            .map(Book::is_synced)
            .next()
    }

    /// Moves the pending snapshot requests into `into` (oldest first).
    pub fn take_resyncs(&mut self, into: &mut Vec<ResyncRequest>) {
        into.append(&mut self.resyncs);
    }

    /// Connection slots held (open connections, and closed ones whose
    /// streams have not moved on yet): bounded by the connections alive,
    /// not by how often they reconnected.
    pub fn conn_slots(&self) -> usize {
        self.conns.len()
    }

    /// When the next clock tick is due, if any check is waiting on time.
    pub fn next_tick(&self) -> Option<Nanos> {
        (self.next_tick != Nanos::MAX).then_some(self.next_tick)
    }

    /// Processes one record. Ticks due before it run first.
    pub fn on_record(&mut self, rec: &Record<'_>, out: &mut Vec<Alert>) {
        let start = out.len();
        if let RecordKind::Stall { from_ns } = rec.kind {
            // Not `enter`: no tick ran while feedwatch was paused.
            self.stats.control_records += 1;
            self.on_stall(from_ns, rec.recv_ns, out);
            self.count_alerts(start, out);
            return;
        }
        let t = self.enter(rec.recv_ns, out);
        let conn = self.conn(&rec.conn);
        match &rec.kind {
            RecordKind::Frame(text) => {
                self.stats.frames += 1;
                self.on_text(rec.venue, conn, t, text, false, "", out);
            }
            RecordKind::Rest { request, body } => {
                self.stats.rest += 1;
                self.on_text(rec.venue, conn, t, body, true, request, out);
            }
            RecordKind::Binary(_) => {
                // No supported venue sends binary market data.
                self.stats.frames += 1;
                self.stats.unsupported += 1;
            }
            RecordKind::Open { .. } => {
                self.stats.control_records += 1;
                // A new session on this connection id: parser state restarts.
                if let Some(c) = self.conns.get_mut(conn) {
                    c.adapters.clear();
                    c.closed = false;
                    c.delivered = false;
                }
            }
            RecordKind::Close { reason } => {
                self.stats.control_records += 1;
                self.on_close(rec.venue, conn, t, reason, out);
            }
            RecordKind::Sent(_) => {
                self.stats.control_records += 1;
            }
            RecordKind::Stall { .. } => {}
        }
        self.count_alerts(start, out);
    }

    /// Processes already-normalized events (used by tests and by sources that
    /// do not come as frames). Ticks due before `recv` run first.
    pub fn on_events(
        &mut self,
        venue: Venue,
        conn: &str,
        recv: Nanos,
        events: &[Event],
        out: &mut Vec<Alert>,
    ) {
        let start = out.len();
        let t = self.enter(recv, out);
        let c = self.conn(conn);
        if !events.is_empty() {
            self.on_delivered(venue, c, t, out);
        }
        for ev in events {
            self.on_event(venue, c, t, ev, false, out);
        }
        self.count_alerts(start, out);
    }

    /// The recording of connection `conn` has ended (end of a fixture): its
    /// streams fall quiet because there is nothing more to read, which is
    /// not silence. Call it before time moves past the end.
    pub fn end_connection(&mut self, conn: &str) {
        let Some(&ci) = self.conn_index.get(conn) else {
            return;
        };
        for s in self.streams.iter_mut().filter(|s| s.conn == ci) {
            s.silence.on_end();
        }
    }

    /// Lets time pass to `now` with no data: runs every tick due at or before it.
    pub fn advance_to(&mut self, now: Nanos, out: &mut Vec<Alert>) {
        let start = out.len();
        if self.started {
            self.run_ticks(now, out);
            self.now = self.now.max(now);
        }
        self.count_alerts(start, out);
    }

    /// Starts the clock on the first record and runs due ticks; returns the
    /// time at which the record is processed (never before the engine clock).
    fn enter(&mut self, recv: Nanos, out: &mut Vec<Alert>) -> Nanos {
        if !self.started {
            self.started = true;
            self.now = recv;
        }
        if recv < self.now {
            self.stats.time_regressions += 1;
            return self.now;
        }
        self.run_ticks(recv, out);
        self.now = recv;
        recv
    }

    fn count_alerts(&mut self, start: usize, out: &[Alert]) {
        // An incident that changed may need the clock later (probation,
        // identification, flap samples).
        if out.len() > start
            && let Some(t) = self.incidents.next_due()
        {
            self.schedule(t);
        }
        for a in out.iter().skip(start) {
            let state = match a.state {
                crate::alert::State::Open => "open",
                crate::alert::State::Update => "update",
                crate::alert::State::Resolved => "resolved",
            };
            *self
                .stats
                .alerts
                .entry(format!("{}/{}", a.kind.name(), state))
                .or_default() += 1;
        }
    }

    fn conn(&mut self, id: &str) -> usize {
        if let Some(c) = self.last_conn
            && self.conns.get(c).is_some_and(|x| &*x.id == id)
        {
            return c;
        }
        if let Some(&c) = self.conn_index.get(id) {
            self.last_conn = Some(c);
            return c;
        }
        let fresh = Conn {
            id: Arc::from(id),
            streams: Vec::new(),
            adapters: Vec::new(),
            closed: false,
            delivered: false,
        };
        // A live feed reconnects for weeks: a closed connection's slot is
        // reused once none of its streams is still on it, so the table
        // stays as small as the set of connections that matter.
        let streams = &self.streams;
        let free = self.conns.iter().enumerate().position(|(ci, c)| {
            c.closed
                && c.streams
                    .iter()
                    .all(|&si| streams.get(si).is_none_or(|s| s.conn != ci))
        });
        let c = match free {
            Some(c) => {
                if let Some(old) = self.conns.get_mut(c) {
                    let old = std::mem::replace(old, fresh);
                    self.conn_index.remove(&*old.id);
                }
                c
            }
            None => {
                self.conns.push(fresh);
                self.conns.len() - 1
            }
        };
        self.conn_index.insert(id.to_string(), c);
        self.last_conn = Some(c);
        c
    }

    /// A connection closed. Unless feedwatch closed it on purpose, that is
    /// a `connection_lost` incident about its planned connection, resolved
    /// by the first market data on a later session of it.
    fn on_close(
        &mut self,
        venue: Venue,
        ci: usize,
        now: Nanos,
        reason: &str,
        out: &mut Vec<Alert>,
    ) {
        let Some(c) = self.conns.get_mut(ci) else {
            return;
        };
        c.closed = true;
        c.adapters.clear();
        if reason.starts_with(DELIBERATE_CLOSE) {
            return;
        }
        let family = conn_family(&c.id).to_string();
        let mut symbols: Vec<&str> = Vec::new();
        let mut streams = 0usize;
        for &si in &c.streams {
            if let Some(s) = self.streams.get(si).filter(|s| s.conn == ci) {
                streams += 1;
                if !symbols.contains(&&*s.symbol) {
                    symbols.push(&s.symbol);
                }
            }
        }
        let shown: Vec<&str> = symbols.iter().take(10).copied().collect();
        let more = symbols.len().saturating_sub(shown.len());
        let what = if streams == 0 {
            "no stream had data on it yet".to_string()
        } else {
            format!(
                "{streams} stream(s) of {}{} now get no data",
                shown.join(", "),
                if more > 0 {
                    format!(" and {more} more symbols")
                } else {
                    String::new()
                }
            )
        };
        let summary = format!("{venue} connection lost ({reason}): {what}.");
        let mut ev = Evidence::new()
            .with("connection", c.id.to_string())
            .with("reason", reason.to_string())
            .with("streams", streams)
            .with("symbols", symbols.len());
        if let Some(next) = retry_plan(reason) {
            ev = ev.num("next_try_s", next, 3);
        }
        let key = connection_key(venue, &family);
        self.incidents.fire(
            now,
            Kind::ConnectionLost,
            &key,
            Severity::Warning,
            true,
            summary,
            ev,
            out,
        );
    }

    /// feedwatch itself did not run from `from` to `to`: the ticks due while
    /// it still ran run, none in the pause (none ran live), and the pause is
    /// no stream's silence: the data held meanwhile arrives now in a burst.
    /// A `local_stall` about the process says so, and is over at once.
    fn on_stall(&mut self, from: Nanos, to: Nanos, out: &mut Vec<Alert>) {
        if !self.started || to <= from || to <= self.stalled_until {
            return;
        }
        self.stalled_until = to;
        if from > self.now {
            self.run_ticks(from, out);
            self.now = from;
        }
        for s in &mut self.streams {
            s.silence.on_pause(to);
        }
        self.next_tick = self.next_tick.max(to);
        self.now = self.now.max(to);
        let key = IncidentKey {
            venue: Venue::Other("feedwatch"),
            symbol: None,
            stream: Some("process".into()),
        };
        let paused = secs(to - from);
        let summary = format!(
            "feedwatch itself was paused for {paused:.1} s (from {}): no venue was judged meanwhile, and the data held back arrived late in one burst; check the host (CPU, memory, VM) before trusting alerts from that window.",
            format_rfc3339_ms(from)
        );
        let ev = Evidence::new()
            .num("paused_s", paused, 3)
            .with("from", format_rfc3339_ms(from))
            .with("to", format_rfc3339_ms(to));
        self.incidents.fire(
            to,
            Kind::LocalStall,
            &key,
            Severity::Warning,
            true,
            summary,
            ev.clone(),
            out,
        );
        let summary = format!("feedwatch is running again after a {paused:.1} s pause.");
        self.incidents
            .clear(to, Kind::LocalStall, &key, summary, ev, out);
    }

    /// The first market data of a session resolves its planned connection's
    /// `connection_lost`.
    fn on_delivered(&mut self, venue: Venue, ci: usize, now: Nanos, out: &mut Vec<Alert>) {
        let Some(c) = self.conns.get_mut(ci) else {
            return;
        };
        if c.delivered {
            return;
        }
        c.delivered = true;
        let key = connection_key(venue, conn_family(&c.id));
        if self.incidents.is_open(Kind::ConnectionLost, &key) {
            let summary = format!("{venue} connection {} is back and delivering data.", c.id);
            let ev = Evidence::new().with("connection", c.id.to_string());
            self.incidents
                .clear(now, Kind::ConnectionLost, &key, summary, ev, out);
        }
    }

    /// Asks for a snapshot when the book of stream `si` is out of sync
    /// (at most once per `book.resync_interval_ms`).
    fn maybe_resync(&mut self, si: usize, conn: usize, now: Nanos) {
        let interval = self.cfg.book.resync_interval_ms * MILLI;
        let Some(s) = self.streams.get_mut(si) else {
            return;
        };
        let Some(book) = s.book.as_ref() else {
            return;
        };
        if book.is_synced() {
            s.resync_at = None;
            return;
        }
        if s.resync_at.is_some_and(|t| now - t < interval) {
            return;
        }
        s.resync_at = Some(now);
        let Some(c) = self.conns.get(conn) else {
            return;
        };
        if self.resyncs.len() < MAX_RESYNC_REQUESTS {
            self.resyncs.push(ResyncRequest {
                venue: s.venue,
                conn: c.id.clone(),
                symbol: s.symbol.clone(),
            });
        }
    }

    fn adapter(&mut self, conn: usize, venue: Venue) -> Option<&mut Box<dyn Adapter>> {
        let adapters = &mut self.conns.get_mut(conn)?.adapters;
        let pos = match adapters.iter().position(|(v, _)| *v == venue) {
            Some(p) => p,
            None => {
                adapters.push((venue, venues::adapter_for(venue)?));
                adapters.len() - 1
            }
        };
        adapters.get_mut(pos).map(|(_, a)| a)
    }

    #[allow(clippy::too_many_arguments)]
    fn on_text(
        &mut self,
        venue: Venue,
        conn: usize,
        now: Nanos,
        text: &str,
        rest: bool,
        request: &str,
        out: &mut Vec<Alert>,
    ) {
        let mut events = std::mem::take(&mut self.scratch);
        events.clear();
        let parsed = match self.adapter(conn, venue) {
            None => {
                self.stats.unsupported += 1;
                self.scratch = events;
                return;
            }
            Some(a) if rest => a.parse_rest(request, text, &mut events),
            Some(a) => a.parse_frame(text, &mut events),
        };
        match parsed {
            Ok(Control::Data) => {
                if !rest {
                    self.on_delivered(venue, conn, now, out);
                }
            }
            Ok(Control::Heartbeat) => self.stats.heartbeats += 1,
            Ok(Control::Ack) => self.stats.acks += 1,
            Err(e) => {
                match e {
                    ParseError::Malformed { .. } => self.stats.malformed += 1,
                    ParseError::Unknown { .. } => self.stats.unknown += 1,
                }
                if self.stats.error_samples.len() < ERROR_SAMPLES {
                    self.stats.error_samples.push(e.to_string());
                }
            }
        }
        for ev in &events {
            self.on_event(venue, conn, now, ev, rest, out);
        }
        self.scratch = events;
    }

    fn stream(&mut self, venue: Venue, conn: usize, ev: &Event) -> usize {
        // Adapters intern symbols, so the same stream keeps coming with the
        // same `Arc`: a few recent (venue, kind, symbol) keys are compared by
        // pointer before hashing the name. The cache holds its `Arc`s, so a
        // pointer can never be reused by another symbol while cached.
        for (v, k, sym, i) in &self.recent_streams {
            if *v == venue && *k == ev.stream && Arc::ptr_eq(sym, &ev.symbol) {
                return *i;
            }
        }
        let i = self.stream_slow(venue, conn, ev);
        let slot = self.recent_next % RECENT_STREAMS;
        self.recent_next = self.recent_next.wrapping_add(1);
        let entry = (venue, ev.stream, ev.symbol.clone(), i);
        if let Some(e) = self.recent_streams.get_mut(slot) {
            *e = entry;
        } else {
            self.recent_streams.push(entry);
        }
        i
    }

    fn stream_slow(&mut self, venue: Venue, conn: usize, ev: &Event) -> usize {
        if let Some(&i) = self
            .index
            .get(&(venue, ev.stream))
            .and_then(|m| m.get(&*ev.symbol))
        {
            return i;
        }
        let i = self.streams.len();
        self.index
            .entry((venue, ev.stream))
            .or_default()
            .insert(ev.symbol.clone(), i);
        let cfg = &self.cfg;
        let book = matches!(ev.stream, StreamKind::Depth | StreamKind::PartialDepth)
            .then(|| Book::new(cfg.book.max_pending, cfg.book.max_levels));
        let candles = matches!(ev.stream, StreamKind::Kline(_)).then(|| {
            let c = CandleChecker::new(&cfg.candle, venue, ev.symbol.clone(), ev.stream);
            if venues::klines_skip_quiet_intervals(venue) {
                c.sparse()
            } else {
                c
            }
        });
        let frozen = self
            .frozen_groups
            .tracker(&cfg.frozen, venue, &ev.symbol, ev.stream);
        self.streams.push(Stream {
            venue,
            symbol: ev.symbol.clone(),
            kind: ev.stream,
            key: IncidentKey::stream(venue, &ev.symbol, ev.stream.name()),
            conn,
            silence: SilenceTracker::new(&cfg.silence)
                .with_floor(venues::quiet_cadence_s(venue, ev.stream)),
            lag: LagTracker::new(&cfg.lag),
            crossed: CrossedTracker::new(),
            book,
            resync_at: None,
            candles,
            trade_candles: None,
            frozen,
            spread: SpreadTracker::default(),
            depth_health: DepthTracker::default(),
            stale: StaleTracker::default(),
            book_links: (0, [None; 3]),
        });
        if let Some(c) = self.conns.get_mut(conn) {
            c.streams.push(i);
        }
        i
    }

    fn on_event(
        &mut self,
        venue: Venue,
        conn: usize,
        now: Nanos,
        ev: &Event,
        rest: bool,
        out: &mut Vec<Alert>,
    ) {
        if let Some(n) = self.event_counts.get_mut(payload_index(&ev.payload)) {
            *n += 1;
        }
        let si = self.stream(venue, conn, ev);
        // An integrity report rides on a frame that also carries data for
        // the same stream: it is not an arrival of its own.
        if !rest && !matches!(ev.payload, Payload::Integrity(_)) {
            self.on_arrival(si, conn, now, out);
            if let Some(exch) = exchange_time(&ev.payload) {
                self.on_lag_sample(si, now, exch, out);
            }
            self.check_divergence(si, venue, ev, now, out);
        }
        match &ev.payload {
            Payload::Quote(q) => {
                self.check_crossed(si, now, q.bid.price, q.ask.price, out);
                if !rest {
                    let f = [
                        fp(q.bid.price),
                        fp(q.bid.qty),
                        fp(q.ask.price),
                        fp(q.ask.qty),
                        0,
                        0,
                    ];
                    self.check_frozen(si, now, &f, out);
                }
                if let Some(s) = self.streams.get_mut(si) {
                    s.stale.top = Some((q.bid.price, q.ask.price));
                }
                self.check_spread(si, now, q.bid.price, q.ask.price, out);
            }
            Payload::Depth(d) => {
                let applied = match self.streams.get_mut(si).and_then(|s| s.book.as_mut()) {
                    Some(book) => book.apply_diff(d),
                    None => return,
                };
                self.on_book_applied(si, now, applied, out);
                self.check_book_health(si, now, rest, out);
                if !rest {
                    self.maybe_resync(si, conn, now);
                }
            }
            Payload::Snapshot(snap) => {
                let applied = match self.streams.get_mut(si).and_then(|s| s.book.as_mut()) {
                    Some(book) => book.apply_snapshot(snap),
                    None => return,
                };
                self.on_book_applied(si, now, applied, out);
                self.check_book_health(si, now, rest, out);
            }
            Payload::Trade(t) => {
                let ts = t.exch_ns.unwrap_or(now);
                self.on_trade(si, venue, ev, now, ts, t.price, t.qty, t.id, out);
                if !rest {
                    let id = t.id.map_or(u64::MAX, |i| i);
                    let f = [id, fp(t.price), fp(t.qty), ts as u64, 0, 0];
                    self.check_frozen(si, now, &f, out);
                }
                self.check_stale(si, venue, now, t.price, out);
            }
            Payload::Integrity(i) => self.on_integrity(si, now, i, out),
            Payload::Candle(c) => {
                if let Some(s) = self.streams.get_mut(si)
                    && let Some(checker) = s.candles.as_mut()
                {
                    checker.on_candle(now, c, &mut self.incidents, out);
                }
                if !rest {
                    let f = [
                        c.open_ns as u64,
                        fp(c.open),
                        fp(c.high),
                        fp(c.low),
                        fp(c.close),
                        fp(c.volume),
                    ];
                    self.check_frozen(si, now, &f, out);
                }
            }
        }
    }

    /// Data arrived on a stream: feeds its rhythm and resolves a silence.
    fn on_arrival(&mut self, si: usize, conn: usize, now: Nanos, out: &mut Vec<Alert>) {
        let cfg = &self.cfg.silence;
        let Some(s) = self.streams.get_mut(si) else {
            return;
        };
        if s.conn != conn {
            s.conn = conn;
            s.silence.on_reconnect();
            // A new session starts a new update sequence: the book waits for
            // the snapshot of this session (no gap to report).
            if let Some(b) = s.book.as_mut() {
                b.invalidate();
            }
            if let Some(c) = self.conns.get_mut(conn) {
                c.streams.push(si);
            }
        }
        if let Some(silent_for) = s.silence.on_data(cfg, now) {
            let summary = format!(
                "{} is streaming again after {:.1} s of silence.",
                s.subject(),
                secs(silent_for)
            );
            let ev = Evidence::new().num("silent_for_s", secs(silent_for), 3);
            self.incidents
                .clear(now, Kind::FeedSilent, &s.key, summary, ev, out);
            if self.outages.any() {
                self.schedule(now);
            }
        }
        let cfg = &self.cfg.silence;
        let Some(s) = self.streams.get_mut(si) else {
            return;
        };
        // Nearly every arrival asks for a tick later than the one already
        // due; a tick at or after `next_tick` never moves it (snapping only
        // rounds up), so the two divisions of `schedule` are skipped then.
        if let Some(w) = s.silence.watch_from(cfg)
            && w < self.next_tick
        {
            self.schedule(w);
        }
    }

    fn on_lag_sample(&mut self, si: usize, now: Nanos, exch: Nanos, out: &mut Vec<Alert>) {
        let cfg = &self.cfg.lag;
        let Some(s) = self.streams.get_mut(si) else {
            return;
        };
        match s.lag.on_sample(cfg, now, exch) {
            LagVerdict::Quiet => {}
            LagVerdict::Lagging(f) => {
                let severity = if f.excess_s >= cfg.critical_s {
                    Severity::Critical
                } else {
                    Severity::Warning
                };
                let summary = format!(
                    "{} data is arriving {:.1} s later than normal (alert above {:.1} s for {:.0} s): prices shown are stale by that much.",
                    s.subject(),
                    f.excess_s,
                    f.threshold_s,
                    f.for_s
                );
                self.incidents.fire(
                    now,
                    Kind::FeedLagging,
                    &s.key,
                    severity,
                    false,
                    summary,
                    lag_evidence(&f),
                    out,
                );
            }
            LagVerdict::Recovered(f) => {
                let summary = format!(
                    "{} is back on time (lag {:.2} s over baseline, worst was {:.1} s).",
                    s.subject(),
                    f.excess_s,
                    f.worst_s
                );
                self.incidents.clear(
                    now,
                    Kind::FeedLagging,
                    &s.key,
                    summary,
                    lag_evidence(&f),
                    out,
                );
            }
        }
    }

    fn check_crossed(&mut self, si: usize, now: Nanos, bid: f64, ask: f64, out: &mut Vec<Alert>) {
        let cfg = &self.cfg.book;
        let Some(s) = self.streams.get_mut(si) else {
            return;
        };
        let verdict = s.crossed.observe(cfg, now, bid, ask);
        let deadline = s.crossed.deadline(cfg);
        Self::report_crossed(&mut self.incidents, s, now, verdict, out);
        if let Some(d) = deadline {
            self.schedule(d);
        }
    }

    fn report_crossed(
        incidents: &mut Incidents,
        s: &Stream,
        now: Nanos,
        verdict: CrossedVerdict,
        out: &mut Vec<Alert>,
    ) {
        match verdict {
            CrossedVerdict::Quiet => {}
            CrossedVerdict::Crossed {
                since,
                updates,
                bid,
                ask,
                critical,
            } => {
                let mid = (bid + ask) / 2.0;
                let bps = if mid > 0.0 {
                    (bid - ask) / mid * 1e4
                } else {
                    0.0
                };
                let summary = format!(
                    "{} is crossed: bid {} >= ask {} for {:.1} s ({} updates); this venue's book is wrong, do not quote off it.",
                    s.subject(),
                    bid,
                    ask,
                    secs(now - since),
                    updates
                );
                let ev = Evidence::new()
                    .with("bid", bid)
                    .with("ask", ask)
                    .num("crossed_bps", bps, 2)
                    .num("held_s", secs(now - since), 3)
                    .with("updates", updates)
                    .with("since", format_rfc3339_ms(since));
                let sev = if critical {
                    Severity::Critical
                } else {
                    Severity::Warning
                };
                incidents.fire(now, Kind::BookCrossed, &s.key, sev, false, summary, ev, out);
            }
            CrossedVerdict::Cleared { for_ns } => {
                let summary = format!(
                    "{} is no longer crossed (was crossed for {:.1} s).",
                    s.subject(),
                    secs(for_ns)
                );
                let ev = Evidence::new().num("crossed_for_s", secs(for_ns), 3);
                incidents.clear(now, Kind::BookCrossed, &s.key, summary, ev, out);
            }
        }
    }

    fn on_book_applied(&mut self, si: usize, now: Nanos, applied: Applied, out: &mut Vec<Alert>) {
        let Some(s) = self.streams.get(si) else {
            return;
        };
        match applied {
            Applied::Gap {
                expected,
                got,
                last_id,
            } => {
                let summary = format!(
                    "{} {} order book skipped updates (expected id {}, got {}): the local book is out of sync and is being rebuilt from a snapshot; do not trust its depth until resolved.",
                    s.venue, s.symbol, expected, got
                );
                let ev = Evidence::new()
                    .with("expected", expected)
                    .with("got", got)
                    .with("missing", got.saturating_sub(expected))
                    .with("last_id", last_id);
                self.incidents.fire(
                    now,
                    Kind::BookGap,
                    &s.key,
                    Severity::Warning,
                    true,
                    summary,
                    ev,
                    out,
                );
            }
            Applied::Resynced { replayed } => {
                for kind in [Kind::BookGap, Kind::BookChecksum] {
                    let summary = format!(
                        "{} {} order book is back in sync from a snapshot.",
                        s.venue, s.symbol
                    );
                    let ev = Evidence::new().with("replayed_diffs", replayed);
                    self.incidents.clear(now, kind, &s.key, summary, ev, out);
                }
            }
            Applied::Ok | Applied::Stale | Applied::Invalid => {}
        }
        let top = self
            .streams
            .get(si)
            .and_then(|s| s.book.as_ref())
            .filter(|b| b.is_synced())
            .and_then(|b| Some((b.best_bid()?.price, b.best_ask()?.price)));
        if let Some((bid, ask)) = top {
            self.check_crossed(si, now, bid, ask, out);
        }
    }

    /// An integrity fault the adapter found: the book is unsynced until the
    /// next snapshot, which resolves the incident.
    fn on_integrity(&mut self, si: usize, now: Nanos, fault: &Integrity, out: &mut Vec<Alert>) {
        let Some(s) = self.streams.get_mut(si) else {
            return;
        };
        if let Some(book) = s.book.as_mut() {
            book.invalidate();
        }
        let (kind, summary, ev) = match *fault {
            Integrity::Gap { expected, got } => (
                Kind::BookGap,
                format!(
                    "{} {} order book skipped updates (expected sequence {}, got {}): the local book is out of sync and is being rebuilt from a snapshot; do not trust its depth until resolved.",
                    s.venue, s.symbol, expected, got
                ),
                Evidence::new()
                    .with("expected", expected)
                    .with("got", got)
                    .with("missing", got.saturating_sub(expected)),
            ),
            Integrity::Checksum { expected, computed } => (
                Kind::BookChecksum,
                format!(
                    "{} {} order book checksum mismatch (venue {}, local {}): the local book differs from the venue's and is being rebuilt; do not trust its depth until resolved.",
                    s.venue, s.symbol, expected, computed
                ),
                Evidence::new()
                    .with("venue_checksum", expected)
                    .with("local_checksum", computed),
            ),
            // A venue restart is announced, not a fault: the snapshot that
            // follows rebuilds the book.
            Integrity::Reset => return,
        };
        self.incidents
            .fire(now, kind, &s.key, Severity::Warning, true, summary, ev, out);
    }

    #[allow(clippy::too_many_arguments)]
    fn on_trade(
        &mut self,
        si: usize,
        venue: Venue,
        ev: &Event,
        now: Nanos,
        ts: Nanos,
        price: f64,
        qty: f64,
        id: Option<u64>,
        out: &mut Vec<Alert>,
    ) {
        let tc = match self.streams.get(si).and_then(|s| s.trade_candles) {
            Some(tc) => tc,
            None => {
                let key = (venue, ev.symbol.clone());
                let tc = match self.trade_candle_index.get(&key) {
                    Some(&tc) => tc,
                    None => {
                        let tc = self.trade_candles.len();
                        self.trade_candles.push(TradeCandles {
                            feeder: ev.stream,
                            builder: TradeCandleBuilder::new(
                                self.cfg.engine.trade_candle_interval_s,
                            ),
                            checker: CandleChecker::new(
                                &self.cfg.candle,
                                venue,
                                ev.symbol.clone(),
                                StreamKind::TradeCandles,
                            ),
                        });
                        self.trade_candle_index.insert(key, tc);
                        tc
                    }
                };
                if let Some(s) = self.streams.get_mut(si) {
                    s.trade_candles = Some(tc);
                }
                tc
            }
        };
        let Some(t) = self.trade_candles.get_mut(tc) else {
            return;
        };
        // With both trades and aggregated trades subscribed, candles are
        // built from the first of them only.
        if t.feeder != ev.stream {
            return;
        }
        if let Some(candle) = t.builder.on_trade(ts, price, qty, id) {
            t.checker.on_candle(now, &candle, &mut self.incidents, out);
        }
        let interval = Nanos::from(self.cfg.engine.trade_candle_interval_s) * SECOND;
        let grace = self.cfg.engine.trade_candle_grace_s * SECOND;
        // The close of this trade's interval is never before `ts`, so a tick
        // already due by then covers it without the divisions.
        if ts + grace < self.next_tick {
            self.schedule(ts - ts.rem_euclid(interval) + interval + grace);
        }
    }

    /// `feed_frozen`: one frame of stream `si` carrying values `f`.
    fn check_frozen(&mut self, si: usize, now: Nanos, f: &Fingerprint, out: &mut Vec<Alert>) {
        let cfg = &self.cfg.frozen;
        let Some(s) = self.streams.get_mut(si) else {
            return;
        };
        let Some(tracker) = s.frozen.as_mut() else {
            return;
        };
        match tracker.on_frame(cfg, &mut self.frozen_groups, now, f) {
            FrozenVerdict::Quiet => {}
            FrozenVerdict::Frozen(x) => {
                let compared = if x.peers_known {
                    format!(
                        "while other venues' {} streams changed {} times",
                        s.kind.name(),
                        x.peer_changes
                    )
                } else {
                    "with no other venue to compare against (judged at the higher no-peer bar)"
                        .to_string()
                };
                let summary = format!(
                    "{} keeps sending the same values, unchanged for {:.1} s over {} frames {compared}: its prices are frozen, do not trade on them.",
                    s.subject(),
                    x.unchanged_s,
                    x.unchanged_frames
                );
                let ev = Evidence::new()
                    .num("unchanged_s", x.unchanged_s, 3)
                    .with("unchanged_frames", x.unchanged_frames)
                    .num("phi", x.phi, 2)
                    .num("threshold_phi", x.threshold_phi, 2)
                    .with("peers_known", x.peers_known)
                    .with("peer_changes", x.peer_changes)
                    .with(
                        "peers_moving_s",
                        x.peers_moving_s
                            .map_or(serde_json::Value::Null, |v| crate::alert::round_value(v, 3)),
                    )
                    .num("median_change_gap_s", x.median_change_gap_s, 4)
                    .num("p95_change_gap_s", x.p95_change_gap_s, 4)
                    .with("last_change_at", format_rfc3339_ms(x.last_change));
                self.incidents.fire(
                    now,
                    Kind::FeedFrozen,
                    &s.key,
                    Severity::Warning,
                    false,
                    summary,
                    ev,
                    out,
                );
            }
            FrozenVerdict::Resumed {
                unchanged_s,
                unchanged_frames,
            } => {
                let summary = format!(
                    "{} values are changing again after {:.1} s frozen.",
                    s.subject(),
                    unchanged_s
                );
                let ev = Evidence::new()
                    .num("unchanged_s", unchanged_s, 3)
                    .with("unchanged_frames", unchanged_frames);
                self.incidents
                    .clear(now, Kind::FeedFrozen, &s.key, summary, ev, out);
            }
        }
    }

    /// After a book update: frozen, spread and near-touch depth of a
    /// synced L2 book.
    fn check_book_health(&mut self, si: usize, now: Nanos, rest: bool, out: &mut Vec<Alert>) {
        let Some(book) = self
            .streams
            .get(si)
            .and_then(|s| s.book.as_ref())
            .filter(|b| b.is_synced())
        else {
            return;
        };
        let (Some(bid), Some(ask)) = (book.best_bid(), book.best_ask()) else {
            return;
        };
        if !rest {
            let f = [fp(bid.price), fp(bid.qty), fp(ask.price), fp(ask.qty), 0, 0];
            self.check_frozen(si, now, &f, out);
        }
        self.check_spread(si, now, bid.price, ask.price, out);
        let cfg = &self.cfg.book;
        let Some(s) = self.streams.get_mut(si) else {
            return;
        };
        if !s.depth_health.due(now) {
            return;
        }
        let Some(depth) = s
            .book
            .as_ref()
            .and_then(|b| b.near_touch_qty(cfg.depth_band_bps))
        else {
            return;
        };
        let verdict = s.depth_health.observe(cfg, now, depth);
        let band = cfg.depth_band_bps;
        let (summary, ev) = match verdict {
            HealthVerdict::Quiet => return,
            HealthVerdict::Fired(ref x) => (
                format!(
                    "{} {} order book holds {} within {} bps of mid, {:.0}% of its median {} for {:.1} s: liquidity has left this venue's book, size orders down or route elsewhere.",
                    s.venue,
                    s.symbol,
                    round_sig(x.value),
                    band,
                    pct(x.value, x.median),
                    round_sig(x.median),
                    x.held_s
                ),
                health_evidence(x, "depth", "band_bps", band),
            ),
            HealthVerdict::Cleared(ref x) => (
                format!(
                    "{} {} order book depth near the touch is back to {} ({:.0}% of its median) after {:.1} s.",
                    s.venue,
                    s.symbol,
                    round_sig(x.value),
                    pct(x.value, x.median),
                    x.held_s
                ),
                health_evidence(x, "depth", "band_bps", band),
            ),
        };
        if matches!(verdict, HealthVerdict::Fired(_)) {
            self.incidents.fire(
                now,
                Kind::DepthCollapse,
                &s.key,
                Severity::Warning,
                false,
                summary,
                ev,
                out,
            );
        } else {
            self.incidents
                .clear(now, Kind::DepthCollapse, &s.key, summary, ev, out);
        }
    }

    /// `spread_blowout`: a new top of book of stream `si`.
    fn check_spread(&mut self, si: usize, now: Nanos, bid: f64, ask: f64, out: &mut Vec<Alert>) {
        let cfg = &self.cfg.book;
        let Some(s) = self.streams.get_mut(si) else {
            return;
        };
        match s.spread.observe(cfg, now, bid, ask) {
            HealthVerdict::Quiet => {}
            HealthVerdict::Fired(x) => {
                let summary = format!(
                    "{} spread is {:.1} bps, {:.0}x its median of {:.2} bps, for {:.1} s: liquidity has pulled back on this venue, widen quotes or route elsewhere.",
                    s.subject(),
                    x.value,
                    x.value / x.median.max(f64::MIN_POSITIVE),
                    x.median,
                    x.held_s
                );
                let ev = health_evidence(&x, "spread_bps", "k", cfg.spread_k)
                    .with("bid", bid)
                    .with("ask", ask);
                self.incidents.fire(
                    now,
                    Kind::SpreadBlowout,
                    &s.key,
                    Severity::Warning,
                    false,
                    summary,
                    ev,
                    out,
                );
            }
            HealthVerdict::Cleared(x) => {
                let summary = format!(
                    "{} spread is back to {:.2} bps (median {:.2}) after {:.1} s wide.",
                    s.subject(),
                    x.value,
                    x.median,
                    x.held_s
                );
                let ev = health_evidence(&x, "spread_bps", "k", cfg.spread_k);
                self.incidents
                    .clear(now, Kind::SpreadBlowout, &s.key, summary, ev, out);
            }
        }
    }

    /// `book_stale`: a trade of stream `si` against the same venue's books.
    fn check_stale(
        &mut self,
        si: usize,
        venue: Venue,
        now: Nanos,
        price: f64,
        out: &mut Vec<Alert>,
    ) {
        let count = self.streams.len();
        let Some(s) = self.streams.get(si) else {
            return;
        };
        let links = if s.book_links.0 == count {
            s.book_links.1
        } else {
            // A stream appeared since the last look: find the books again
            // (this happens a few times per symbol, not per trade).
            let mut l = [None; 3];
            for (slot, kind) in
                l.iter_mut()
                    .zip([StreamKind::Bbo, StreamKind::Depth, StreamKind::PartialDepth])
            {
                *slot = self
                    .index
                    .get(&(venue, kind))
                    .and_then(|m| m.get(&*s.symbol))
                    .copied();
            }
            if let Some(s) = self.streams.get_mut(si) {
                s.book_links = (count, l);
            }
            l
        };
        let cfg = &self.cfg.book;
        for b in links.into_iter().flatten() {
            let Some(s) = self.streams.get_mut(b) else {
                continue;
            };
            let top = match s.book.as_ref() {
                Some(book) if book.is_synced() => book
                    .best_bid()
                    .zip(book.best_ask())
                    .map(|(b, a)| (b.price, a.price)),
                Some(_) => None,
                None => s.stale.top,
            };
            let Some((bid, ask)) = top else {
                continue;
            };
            match s.stale.on_trade(cfg, now, price, bid, ask) {
                StaleVerdict::Quiet => {}
                StaleVerdict::Stale(x) => {
                    let summary = format!(
                        "{} is stale: {} trades in a row printed outside it over {:.1} s (last {} vs bid {} / ask {}, {:.1} bps outside); do not quote off this book.",
                        s.subject(),
                        x.trades,
                        x.held_s,
                        x.price,
                        x.bid,
                        x.ask,
                        x.outside_bps,
                    );
                    let ev = Evidence::new()
                        .with("trade_price", x.price)
                        .with("bid", x.bid)
                        .with("ask", x.ask)
                        .num("outside_bps", x.outside_bps, 2)
                        .num("tolerance_bps", cfg.stale_tolerance_bps, 2)
                        .with("trades_outside", x.trades)
                        .num("held_s", x.held_s, 3)
                        .with("since", format_rfc3339_ms(x.since));
                    self.incidents.fire(
                        now,
                        Kind::BookStale,
                        &s.key,
                        Severity::Warning,
                        false,
                        summary,
                        ev,
                        out,
                    );
                }
                StaleVerdict::Fresh {
                    stale_for_s,
                    trades,
                } => {
                    let summary = format!(
                        "{} is tracking trades again (a trade printed inside it after {:.1} s stale).",
                        s.subject(),
                        stale_for_s
                    );
                    let ev = Evidence::new()
                        .num("stale_for_s", stale_for_s, 3)
                        .with("trades_outside", trades);
                    self.incidents
                        .clear(now, Kind::BookStale, &s.key, summary, ev, out);
                }
            }
        }
    }

    /// Asks for a tick at or after `at` (snapped to the tick grid).
    fn schedule(&mut self, at: Nanos) {
        let tick = self.cfg.engine.tick_ms * MILLI;
        let snapped = at
            .saturating_add(tick - 1)
            .div_euclid(tick)
            .saturating_mul(tick);
        let snapped = snapped.max(self.now + tick - self.now.rem_euclid(tick));
        if snapped < self.next_tick {
            self.next_tick = snapped;
        }
    }

    /// Runs every due tick up to and including `until`.
    fn run_ticks(&mut self, until: Nanos, out: &mut Vec<Alert>) {
        // Bound the work one call can do: a tick that schedules nothing ends
        // the loop, and each tick strictly advances time.
        while self.next_tick <= until {
            let t = self.next_tick;
            self.next_tick = Nanos::MAX;
            self.now = self.now.max(t);
            self.tick(t, out);
            if self.next_tick <= t {
                self.next_tick = t + self.cfg.engine.tick_ms * MILLI;
            }
        }
    }

    /// One clock tick at `now`: silence, held crossed books, due candles.
    fn tick(&mut self, now: Nanos, out: &mut Vec<Alert>) {
        let tick = self.cfg.engine.tick_ms * MILLI;
        self.tick_silence(now, out);
        // A silent stream is feed_silent's: a frozen report ends, and its
        // time without a change restarts when frames come back.
        for s in &mut self.streams {
            if s.silence.alerting_since.is_none() {
                continue;
            }
            if let Some(f) = s.frozen.as_mut()
                && f.on_silent()
            {
                let summary = format!(
                    "{} stopped sending frames while frozen; feed_silent reports it now.",
                    s.subject()
                );
                let ev = Evidence::new().with("reason", "silent");
                self.incidents
                    .clear(now, Kind::FeedFrozen, &s.key, summary, ev, out);
            }
        }
        // Crossed books held without further updates.
        for si in 0..self.streams.len() {
            let cfg = &self.cfg.book;
            let Some(s) = self.streams.get_mut(si) else {
                continue;
            };
            if s.crossed.deadline(cfg).is_none() {
                continue;
            }
            let verdict = s.crossed.on_tick(cfg, now);
            if let Some(d) = s.crossed.deadline(cfg) {
                let next = if d > now { d } else { now + tick };
                self.schedule(next);
            }
            if let Some(s) = self.streams.get(si) {
                Self::report_crossed(&mut self.incidents, s, now, verdict, out);
            }
        }
        self.tick_divergence(now, out);
        // Trade candles whose interval ended with no later trade.
        let grace = self.cfg.engine.trade_candle_grace_s * SECOND;
        for t in &mut self.trade_candles {
            if let Some(candle) = t.builder.close_due(now, grace) {
                t.checker.on_candle(now, &candle, &mut self.incidents, out);
            }
        }
        // Probation, identification and flap samples of open incidents.
        if let Some(t) = self.incidents.tick(now, out) {
            self.schedule(t.max(now + tick));
        }
    }

    /// Silence: per-stream phi, and per-connection joint phi; then what the
    /// streams stale together say (outages), before any stream speaks for
    /// itself, so an outage's streams are grouped from their first alert.
    fn tick_silence(&mut self, now: Nanos, out: &mut Vec<Alert>) {
        let cfg = self.cfg.silence.clone();
        let tick = self.cfg.engine.tick_ms * MILLI;
        let mut found: Vec<(usize, Nanos, f64, f64)> = Vec::new();
        for ci in 0..self.conns.len() {
            let Some(conn) = self.conns.get(ci) else {
                continue;
            };
            // Streams that moved to another connection are skipped here.
            let members: Vec<usize> = conn
                .streams
                .iter()
                .copied()
                .filter(|&si| self.streams.get(si).is_some_and(|s| s.conn == ci))
                .collect();
            let phis: Vec<f64> = members
                .iter()
                .map(|&si| {
                    self.streams
                        .get(si)
                        .map_or(0.0, |s| s.silence.phi(&cfg, now))
                })
                .collect();
            let joint: f64 = phis.iter().sum();
            let quiet_streams = phis.iter().filter(|p| **p >= cfg.join_phi).count();
            // The joint verdict is about a quiet *connection*: when any of
            // its streams delivered within min_silence_s, the connection is
            // alive and a stream in a lull beside a dead one is just that.
            let newest = members
                .iter()
                .filter_map(|&si| self.streams.get(si)?.silence.last())
                .max();
            let conn_quiet =
                newest.is_some_and(|t| now - t >= (cfg.min_silence_s * SECOND as f64) as Nanos);
            for (&si, &phi) in members.iter().zip(&phis) {
                let convicted = phi >= cfg.phi
                    || (conn_quiet
                        && joint >= cfg.phi
                        && quiet_streams >= 2
                        && phi >= cfg.join_phi);
                let Some(s) = self.streams.get_mut(si) else {
                    continue;
                };
                let Some(last) = s.silence.last() else {
                    continue;
                };
                if convicted {
                    s.silence.alerting_since.get_or_insert(now);
                    found.push((si, last, phi, joint));
                } else if let Some(w) = self
                    .streams
                    .get(si)
                    .and_then(|s| s.silence.watch_from(&cfg))
                {
                    // In its tail but not yet convicted: keep watching.
                    self.schedule(w.max(now + tick));
                }
            }
        }
        if !found.is_empty() || self.outages.any() {
            self.tick_outage(now, out);
        }
        for (si, last, phi, joint) in found {
            self.declare_silent(si, now, last, phi, joint, out);
        }
    }

    /// How each venue's streams stand: with data, and convicted silent.
    fn venue_health(&self) -> Vec<VenueHealth> {
        let mut health: Vec<VenueHealth> = Vec::new();
        for s in &self.streams {
            if s.silence.last().is_none() {
                continue;
            }
            let i = match health.iter().position(|h| h.venue == s.venue) {
                Some(i) => i,
                None => {
                    health.push(VenueHealth {
                        venue: s.venue,
                        active: 0,
                        stale: 0,
                        since: None,
                    });
                    health.len() - 1
                }
            };
            let Some(h) = health.get_mut(i) else {
                continue;
            };
            h.active += 1;
            if s.silence.alerting_since.is_some()
                && let Some(t) = s.silence.last()
            {
                // Onset: the last data of the first stream to go quiet.
                h.stale += 1;
                h.since = Some(h.since.map_or(t, |x| x.min(t)));
            }
        }
        health
    }

    /// `local_stall`, `shared_outage` and `venue_outage`, opened and closed
    /// as the streams stale together change; each mutes what it explains.
    /// Group incidents open before the venues they cover speak, so those
    /// are muted from their first line.
    fn tick_outage(&mut self, now: Nanos, out: &mut Vec<Alert>) {
        let health = self.venue_health();
        let cfg = &self.cfg.outage;
        let release = (cfg.release_s * SECOND as f64) as Nanos;
        // Which venues are out: in when most streams are stale; out again
        // when none is, or after `release_s` below the share (one stream
        // still dead on a healthy venue is then that stream's problem).
        let mut ended: Vec<Venue> = Vec::new();
        for h in &health {
            let held = self.outages.venues.iter().position(|o| o.venue == h.venue);
            match held {
                None if h.is_out(cfg) => self.outages.venues.push(HeldOutage {
                    venue: h.venue,
                    since: h.since.unwrap_or(now),
                    below_since: None,
                }),
                None => {}
                Some(i) => {
                    let Some(o) = self.outages.venues.get_mut(i) else {
                        continue;
                    };
                    if h.is_out(cfg) {
                        o.below_since = None;
                    } else {
                        let below = *o.below_since.get_or_insert(now);
                        // A venue a group speaks for ends with its
                        // recovery: it was never announced on its own.
                        let key = IncidentKey {
                            venue: h.venue,
                            symbol: None,
                            stream: None,
                        };
                        if h.stale == 0
                            || now - below >= release
                            || self.incidents.is_muted(Kind::VenueOutage, &key)
                        {
                            ended.push(h.venue);
                        }
                    }
                }
            }
        }
        // A venue that lost every stream's data is not in `health` at all.
        for o in &self.outages.venues {
            if !health.iter().any(|h| h.venue == o.venue) {
                ended.push(o.venue);
            }
        }
        self.outages.venues.retain(|o| !ended.contains(&o.venue));
        let held: Vec<(Venue, Nanos)> = self
            .outages
            .venues
            .iter()
            .map(|o| (o.venue, o.since))
            .collect();
        // Venues back first: what they muted is over with them, and a group
        // that ends below must not announce them.
        for v in ended {
            let key = IncidentKey {
                venue: v,
                symbol: None,
                stream: None,
            };
            self.incidents
                .ungroup(now, Kind::VenueOutage, &key, release);
            let (stale, active) = health
                .iter()
                .find(|h| h.venue == v)
                .map_or((0, 0), |h| (h.stale, h.active));
            let summary =
                format!("{v} is streaming again: {stale} of its {active} streams still stale.");
            let ev = Evidence::new()
                .with("stale_streams", stale)
                .with("active_streams", active);
            self.incidents
                .clear(now, Kind::VenueOutage, &key, summary, ev, out);
        }
        let burst = outage::burst(cfg, &health, &held);
        let local_key = IncidentKey {
            venue: Venue::Other("feedwatch"),
            symbol: None,
            stream: Some("all_feeds".into()),
        };
        match burst.as_ref().filter(|b| b.local) {
            Some(b) => {
                let (detail, ev) = burst_text(b, &health, now);
                let summary = format!(
                    "Every watched venue ({}) went quiet at once across independent exchanges: suspect feedwatch's own side (network, host, process) before the venues. {detail}",
                    venue_list(&b.members)
                );
                self.incidents.fire(
                    now,
                    Kind::LocalStall,
                    &local_key,
                    Severity::Warning,
                    false,
                    summary,
                    ev,
                    out,
                );
                if !self.outages.local {
                    self.incidents
                        .group(now, Kind::LocalStall, &local_key, None, out);
                    self.outages.local = true;
                }
            }
            None if self.outages.local => {
                self.outages.local = false;
                self.incidents
                    .ungroup(now, Kind::LocalStall, &local_key, release);
                let summary = "Feeds are streaming again after every venue went quiet at once.";
                self.incidents.clear(
                    now,
                    Kind::LocalStall,
                    &local_key,
                    summary.into(),
                    Evidence::new(),
                    out,
                );
            }
            None => {}
        }
        match burst.as_ref().filter(|b| !b.local) {
            Some(b) => {
                let key = self.outages.shared.clone().unwrap_or_else(|| IncidentKey {
                    venue: b
                        .members
                        .first()
                        .copied()
                        .unwrap_or(Venue::Other("feedwatch")),
                    symbol: None,
                    stream: None,
                });
                let (detail, ev) = burst_text(b, &health, now);
                let summary = format!(
                    "{} venues went silent together ({}): a shared outage, best explained by {} {} ({} of {} watched venues there are out); use venues outside it. {detail}",
                    b.members.len(),
                    venue_list(&b.members),
                    b.tag.dimension,
                    b.tag.value,
                    (b.share_of_group * b.group_size as f64).round(),
                    b.group_size
                );
                self.incidents.fire(
                    now,
                    Kind::SharedOutage,
                    &key,
                    Severity::Critical,
                    false,
                    summary,
                    ev,
                    out,
                );
                if self.outages.shared_members != b.members {
                    self.incidents.group(
                        now,
                        Kind::SharedOutage,
                        &key,
                        Some(b.members.clone()),
                        out,
                    );
                    self.outages.shared_members = b.members.clone();
                }
                self.outages.shared = Some(key);
            }
            None => {
                if let Some(key) = self.outages.shared.take() {
                    self.outages.shared_members.clear();
                    self.incidents
                        .ungroup(now, Kind::SharedOutage, &key, release);
                    let summary = format!(
                        "The shared outage that began on {} is over: fewer than two venues are out together.",
                        key.venue
                    );
                    self.incidents.clear(
                        now,
                        Kind::SharedOutage,
                        &key,
                        summary,
                        Evidence::new(),
                        out,
                    );
                }
            }
        }
        for (v, since) in held {
            let Some(h) = health.iter().find(|h| h.venue == v) else {
                continue;
            };
            let key = IncidentKey {
                venue: v,
                symbol: None,
                stream: None,
            };
            let summary = format!(
                "{v}: {} of its {} streams have sent nothing for {:.1} s: the venue is out, not one stream; use other venues' prices.",
                h.stale,
                h.active,
                secs(now - since)
            );
            let ev = Evidence::new()
                .with("stale_streams", h.stale)
                .with("active_streams", h.active)
                .num("stale_share", h.stale as f64 / h.active.max(1) as f64, 3)
                .with("since", format_rfc3339_ms(since));
            let was = self.incidents.is_firing(Kind::VenueOutage, &key);
            self.incidents.fire(
                now,
                Kind::VenueOutage,
                &key,
                Severity::Critical,
                false,
                summary,
                ev,
                out,
            );
            if !was {
                self.incidents
                    .group(now, Kind::VenueOutage, &key, Some(vec![v]), out);
            }
        }
    }

    fn declare_silent(
        &mut self,
        si: usize,
        now: Nanos,
        last: Nanos,
        phi: f64,
        joint: f64,
        out: &mut Vec<Alert>,
    ) {
        let cfg = &self.cfg.silence;
        let Some(s) = self.streams.get_mut(si) else {
            return;
        };
        let elapsed = secs(now - last);
        let critical = elapsed >= cfg.critical_after_s;
        if s.silence.alerting_since.is_none() {
            s.silence.alerting_since = Some(now);
        }
        let threshold = s.silence.threshold_s(cfg);
        let typical = s.silence.typical_gap_s();
        let p95 = s.silence.p95_gap_s();
        let recent_max = s.silence.recent_max_gap_s();
        let rhythm = match p95 {
            Some(t) => format!("95% of its gaps are under {t:.2} s"),
            None => "no rhythm learned yet".to_string(),
        };
        let summary = format!(
            "{} has sent no data for {:.1} s ({rhythm}): treat its prices as stale.",
            s.subject(),
            elapsed
        );
        let ev = Evidence::new()
            .num("silent_for_s", elapsed, 3)
            .num("phi", phi, 2)
            .num("connection_phi", joint, 2)
            .num("threshold_s", threshold, 3)
            .with(
                "median_gap_s",
                typical.map_or(serde_json::Value::Null, |t| crate::alert::round_value(t, 4)),
            )
            .with(
                "p95_gap_s",
                p95.map_or(serde_json::Value::Null, |t| crate::alert::round_value(t, 4)),
            )
            .num("recent_max_gap_s", recent_max, 3)
            .with("last_data_at", format_rfc3339_ms(last));
        let sev = if critical {
            Severity::Critical
        } else {
            Severity::Warning
        };
        self.incidents
            .fire(now, Kind::FeedSilent, &s.key, sev, false, summary, ev, out);
        if !critical {
            let at = last + (cfg.critical_after_s * SECOND as f64) as Nanos;
            self.schedule(at);
        }
    }

    /// `price_divergence`: a best bid/offer (its mid) or trade of stream
    /// `si` is this venue's latest price for the pair's consensus. Per frame
    /// this is a store and a band check; the pair is assessed only when the
    /// price leaves its band.
    fn check_divergence(
        &mut self,
        si: usize,
        venue: Venue,
        ev: &Event,
        now: Nanos,
        out: &mut Vec<Alert>,
    ) {
        let (update, price) = match &ev.payload {
            Payload::Quote(q) => match divergence::mid(q.bid.price, q.ask.price) {
                Some(m) => (Update::Mid, m),
                None => return,
            },
            Payload::Trade(t) => (Update::Trade, t.price),
            _ => return,
        };
        let cfg = &self.cfg.consensus;
        if self
            .divergence
            .on_price(cfg, si, venue, &ev.symbol, update, price, now)
        {
            self.report_divergence(now, out);
        }
    }

    /// `price_divergence` on the clock: pairs with a flagged venue are
    /// re-assessed every `consensus.eval_ms` (re-admission, escalation,
    /// peers or the venue going stale).
    fn tick_divergence(&mut self, now: Nanos, out: &mut Vec<Alert>) {
        if self.divergence.run_due(&self.cfg.consensus, now) {
            self.report_divergence(now, out);
        } else if let Some(t) = self.divergence.next_due() {
            // A tick another check asked for ran first: each tick starts
            // with nothing scheduled, so ask again for ours.
            self.schedule(t);
        }
    }

    /// Turns the watch's findings into incidents and asks for the next
    /// re-assessment.
    fn report_divergence(&mut self, now: Nanos, out: &mut Vec<Alert>) {
        for f in self.divergence.findings() {
            let key = IncidentKey {
                venue: f.venue,
                symbol: Some(f.symbol.clone()),
                stream: None,
            };
            let a = &f.assessment;
            let n = a.fresh_venues;
            let median = fmt_price(a.median);
            let pct = (a.gap_bps / 100.0).abs();
            let side = if a.gap >= 0.0 { "above" } else { "below" };
            let base = f.symbol.split('/').next().unwrap_or(&f.symbol);
            let ev = Evidence::new()
                .num("price", f.price, 8)
                .with("price_source", f.source.name())
                .num("median", a.median, 8)
                .num("dispersion", a.dispersion, 8)
                .num("threshold", a.threshold, 8)
                .num("threshold_bps", 1e4 * a.threshold / a.median, 2)
                .num("gap_bps", a.gap_bps, 2)
                .with("fresh_venues", n)
                .with("peers", f.peers.clone())
                .with("verdict", a.verdict.name())
                .num("held_s", f.held_s, 3)
                .with("since", format_rfc3339_ms(f.since));
            match f.action {
                Action::Fire(severity) => {
                    let summary = if f.source == PriceSource::TradePrint {
                        format!(
                            "{} {} printed a trade at {}, {pct:.2}% {side} the {n}-venue median of {median}, that its peers do not confirm: a bad print, not a market move; do not act on it.",
                            f.venue,
                            f.symbol,
                            fmt_price(f.price)
                        )
                    } else {
                        let what = if f.source == PriceSource::BboMid {
                            "quotes"
                        } else {
                            "trades"
                        };
                        let held = if f.held_s >= 0.1 {
                            format!(" for {:.1} s", f.held_s)
                        } else {
                            String::new()
                        };
                        format!(
                            "{} {} {what} {pct:.2}% {side} the {n}-venue median of {median} (threshold {:.2}%){held}: do not trust {}'s price for {base}.",
                            f.venue,
                            f.symbol,
                            a.threshold / a.median * 100.0,
                            f.venue
                        )
                    };
                    self.incidents.fire(
                        now,
                        Kind::PriceDivergence,
                        &key,
                        severity,
                        false,
                        summary,
                        ev,
                        out,
                    );
                }
                Action::Clear(reason) => {
                    let summary = match reason {
                        ClearReason::Readmitted => format!(
                            "{} {} is back with its peers ({pct:.2}% from the {n}-venue median of {median}) after {:.1} s.",
                            f.venue, f.symbol, f.held_s
                        ),
                        ClearReason::Unconfirmed => format!(
                            "{} {} can no longer be judged: only {n} fresh venue(s) quote {base}, too few to say which one is wrong.",
                            f.venue, f.symbol
                        ),
                        ClearReason::Stale => format!(
                            "{} {} has no fresh price to judge (feed_silent covers a silent stream).",
                            f.venue, f.symbol
                        ),
                    };
                    self.incidents
                        .clear(now, Kind::PriceDivergence, &key, summary, ev, out);
                }
            }
        }
        if let Some(t) = self.divergence.next_due() {
            self.schedule(t);
        }
    }
}

/// A price for a summary: thousands separated above 1,000, four
/// significant digits below.
fn fmt_price(v: f64) -> String {
    if !v.is_finite() {
        return "n/a".to_string();
    }
    if v.abs() < 1000.0 {
        return format!("{}", round_sig(v));
    }
    let digits = format!("{:.0}", v.abs());
    let mut s = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if v < 0.0 {
        s.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            s.push(',');
        }
        s.push(c);
    }
    s
}

/// A venue held out (its `venue_outage` fires).
#[derive(Debug)]
struct HeldOutage {
    venue: Venue,
    /// Its last data before it went quiet.
    since: Nanos,
    /// Since when it has been below the outage share.
    below_since: Option<Nanos>,
}

/// The outage incidents open now.
#[derive(Debug, Default)]
struct Outages {
    /// Venues held out.
    venues: Vec<HeldOutage>,
    /// The `shared_outage` firing, and its members when last grouped.
    shared: Option<IncidentKey>,
    shared_members: Vec<Venue>,
    /// A `local_stall` is firing.
    local: bool,
}

impl Outages {
    fn any(&self) -> bool {
        !self.venues.is_empty() || self.shared.is_some() || self.local
    }
}

fn venue_list(v: &[Venue]) -> String {
    v.iter().map(|v| v.id()).collect::<Vec<_>>().join(", ")
}

/// The detail sentence and evidence shared by `shared_outage` and
/// `local_stall`.
fn burst_text(b: &Burst, health: &[VenueHealth], now: Nanos) -> (String, Evidence) {
    let stale: usize = health
        .iter()
        .filter(|h| b.members.contains(&h.venue))
        .map(|h| h.stale)
        .sum();
    let detail = format!(
        "{stale} streams silent, the first for {:.1} s.",
        secs(now - b.since)
    );
    let ev = Evidence::new()
        .with(
            "venues",
            b.members.iter().map(|v| v.id()).collect::<Vec<_>>(),
        )
        .with("tag", format!("{}:{}", b.tag.dimension, b.tag.value))
        .num("share_of_group", b.share_of_group, 3)
        .num("share_of_failures", b.share_of_failures, 3)
        .with("group_size", b.group_size)
        .with("stale_streams", stale)
        .with("since", format_rfc3339_ms(b.since));
    (detail, ev)
}

/// The incident key of a planned connection.
fn connection_key(venue: Venue, family: &str) -> IncidentKey {
    IncidentKey {
        venue,
        symbol: None,
        stream: Some(format!("connection:{family}")),
    }
}

/// The `next try in X s` of a live feed's close reason.
fn retry_plan(reason: &str) -> Option<f64> {
    let (_, rest) = reason.rsplit_once("next try in ")?;
    rest.strip_suffix(" s")?.trim().parse::<f64>().ok()
}

/// Event kinds counted in [`Stats::events`].
const PAYLOAD_KINDS: usize = 6;
const PAYLOAD_NAMES: [&str; PAYLOAD_KINDS] =
    ["trade", "quote", "depth", "snapshot", "candle", "integrity"];

fn payload_index(p: &Payload) -> usize {
    match p {
        Payload::Trade(_) => 0,
        Payload::Quote(_) => 1,
        Payload::Depth(_) => 2,
        Payload::Snapshot(_) => 3,
        Payload::Candle(_) => 4,
        Payload::Integrity(_) => 5,
    }
}

/// The exchange's own send time of an event, for lag.
fn exchange_time(p: &Payload) -> Option<Nanos> {
    match p {
        Payload::Trade(t) => t.event_ns.or(t.exch_ns),
        Payload::Quote(q) => q.exch_ns,
        Payload::Depth(d) => d.exch_ns,
        Payload::Snapshot(s) => s.exch_ns,
        Payload::Candle(c) => c.exch_ns,
        Payload::Integrity(_) => None,
    }
}

/// Evidence of a spread or depth verdict: the value, its median and the
/// threshold, and one setting that explains the threshold.
fn health_evidence(
    x: &HealthFacts,
    value: &'static str,
    setting: &'static str,
    v: f64,
) -> Evidence {
    Evidence::new()
        .num(value, x.value, 6)
        .num("median", x.median, 6)
        .num("threshold", x.threshold, 6)
        .num("worst", x.worst, 6)
        .num(setting, v, 3)
        .num("held_s", x.held_s, 3)
        .with("updates", x.updates)
        .with("baseline_samples", x.samples)
        .with("since", format_rfc3339_ms(x.since))
}

/// `part` as a percentage of `whole`.
fn pct(part: f64, whole: f64) -> f64 {
    if whole > 0.0 {
        part / whole * 100.0
    } else {
        0.0
    }
}

/// A quantity for a summary: four significant digits.
fn round_sig(v: f64) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    let digits = 3 - v.abs().log10().floor() as i32;
    let p = 10f64.powi(digits);
    (v * p).round() / p
}

fn lag_evidence(f: &LagFacts) -> Evidence {
    Evidence::new()
        .num("excess_s", f.excess_s, 3)
        .num("threshold_s", f.threshold_s, 3)
        .num("baseline_lag_s", f.baseline_s, 3)
        .num("lag_s", f.lag_s, 3)
        .num("worst_excess_s", f.worst_s, 3)
        .num("for_s", f.for_s, 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::{Phase, State};
    use crate::model::{DepthDiff, DepthSnapshot, Level};
    use std::sync::Arc;

    fn ev(payload: Payload) -> Event {
        Event {
            symbol: Arc::from("BTC/USD"),
            stream: StreamKind::Depth,
            payload,
        }
    }

    fn snapshot() -> Payload {
        Payload::Snapshot(DepthSnapshot {
            last_id: None,
            bids: vec![Level {
                price: 99.0,
                qty: 1.0,
            }],
            asks: vec![Level {
                price: 101.0,
                qty: 1.0,
            }],
            exch_ns: None,
        })
    }

    fn control<'a>(t: Nanos, conn: &'a str, kind: RecordKind<'a>) -> Record<'a> {
        Record {
            recv_ns: t,
            venue: Venue::BinanceSpot,
            conn: conn.into(),
            kind,
        }
    }

    fn diff(first_id: u64, last_id: u64) -> Event {
        Event {
            symbol: Arc::from("BTC/USDT"),
            stream: StreamKind::Depth,
            payload: Payload::Depth(DepthDiff {
                first_id,
                last_id,
                prev_last_id: None,
                bids: vec![],
                asks: vec![],
                exch_ns: None,
            }),
        }
    }

    /// A new session on `conn` at `t`, delivering one diff from `first_id`.
    fn session(e: &mut Engine, out: &mut Vec<Alert>, t: Nanos, conn: &str, first_id: u64) {
        let open = RecordKind::Open {
            url: "ws://x".into(),
        };
        e.on_record(&control(t, conn, open), out);
        let d = diff(first_id, first_id + 5);
        e.on_events(Venue::BinanceSpot, conn, t + 1, &[d], out);
    }

    /// 50 losses a second apart, each recovering: with `probation` they are
    /// one incident, flapping; without, one incident each.
    fn reconnect_loop(probation_s: f64) -> (Engine, Vec<Alert>, Nanos) {
        let mut cfg = DetectConfig::default();
        cfg.incidents.probation_s = probation_s;
        let mut e = Engine::new(cfg);
        let mut out = Vec::new();
        let mut t = SECOND;
        for n in 1..=50u64 {
            let conn = format!("live-1-0#{n}");
            session(&mut e, &mut out, t, &conn, n * 10);
            let reason =
                format!("closed by server: 1006; reconnect attempt {n}, next try in 0.250 s");
            e.on_record(
                &control(
                    t + 2,
                    &conn,
                    RecordKind::Close {
                        reason: reason.into(),
                    },
                ),
                &mut out,
            );
            t += SECOND;
        }
        (e, out, t)
    }

    #[test]
    fn a_reconnect_loop_is_one_flapping_incident_that_resolves_after_a_clean_stretch() {
        let (mut e, mut out, t) = reconnect_loop(60.0);
        let lost: Vec<Alert> = out
            .iter()
            .filter(|a| a.kind == Kind::ConnectionLost)
            .cloned()
            .collect();
        assert_eq!(lost[0].state, State::Open);
        assert!(
            lost.iter().all(|a| a.incident == lost[0].incident),
            "one incident across the relapses"
        );
        assert!(lost.iter().all(|a| a.state != State::Resolved));
        // It went to monitoring and relapsed, then was called flapping, and
        // from then on its changes are held: far fewer lines than the 99
        // an open and a resolve per loss would take.
        assert!(lost.iter().any(|a| a.phase == Phase::Monitoring));
        assert!(lost.iter().any(|a| a.evidence.get("relapses").is_some()));
        let flapping = lost
            .iter()
            .position(|a| a.evidence.get("flapping") == Some(&serde_json::json!(true)));
        let Some(f) = flapping else {
            panic!("never called flapping: {lost:#?}")
        };
        assert!(lost.len() < 20, "{} lines", lost.len());
        // After the notice only the identification (a different news) may
        // come: no more relapse or monitoring lines.
        assert!(
            lost[f + 1..]
                .iter()
                .all(|a| a.phase == Phase::Identified && a.summary.contains("identified")),
            "{lost:#?}"
        );
        // The last loss was followed by nothing: 60 s clean resolves it.
        session(&mut e, &mut out, t, "live-1-0#51", 1000);
        let n = out.len();
        e.advance_to(t + 59 * SECOND, &mut out);
        assert!(out[n..].iter().all(|a| a.state != State::Resolved));
        e.advance_to(t + 62 * SECOND, &mut out);
        let last = out.last().unwrap();
        assert_eq!(
            (last.kind, last.state),
            (Kind::ConnectionLost, State::Resolved)
        );
        assert_eq!(last.phase, Phase::Resolved);
        assert_eq!(last.incident, lost[0].incident);
    }

    /// A depth stream of `n` diffs, `step` apart from `t` (0: all at `t`);
    /// returns the time after the last and the next update id.
    fn metronome(
        e: &mut Engine,
        out: &mut Vec<Alert>,
        (mut t, mut id): (Nanos, u64),
        n: usize,
        step: Nanos,
    ) -> (Nanos, u64) {
        for _ in 0..n {
            e.on_events(Venue::BinanceSpot, "c", t, &[diff(id, id + 1)], out);
            id += 2;
            t += step;
        }
        (t, id)
    }

    #[test]
    fn a_stall_record_blames_ourselves_and_no_stream() {
        let mut e = Engine::new(DetectConfig::default());
        let mut out = Vec::new();
        // A metronome depth stream, 100 ms apart, for a minute.
        let (t, id) = metronome(&mut e, &mut out, (SECOND, 1), 600, 100 * MILLI);
        // feedwatch stops for 20 s; on resuming it writes the stall record,
        // then the frames the kernel held arrive at once, and the stream
        // goes on as before.
        let resumed = t + 20 * SECOND;
        let stall = Record {
            recv_ns: resumed,
            venue: Venue::Other("feedwatch"),
            conn: "process".into(),
            kind: RecordKind::Stall { from_ns: t },
        };
        e.on_record(&stall, &mut out);
        let next = metronome(&mut e, &mut out, (resumed, id), 200, 0);
        metronome(&mut e, &mut out, next, 50, 100 * MILLI);
        let kinds: Vec<Kind> = out.iter().map(|a| a.kind).collect();
        assert!(kinds.iter().all(|k| *k == Kind::LocalStall), "{out:#?}");
        assert_eq!(out[0].state, State::Open);
        assert_eq!(out[0].at, resumed);
        assert_eq!(out[0].stream.as_deref(), Some("process"));
        assert_eq!(
            out[0].evidence.get("paused_s"),
            Some(&serde_json::json!(20.0))
        );
        assert_eq!(out[1].phase, Phase::Monitoring);
        // Without the record the same gap is the stream's silence.
        let mut e = Engine::new(DetectConfig::default());
        let mut out = Vec::new();
        let (t, id) = metronome(&mut e, &mut out, (SECOND, 1), 600, 100 * MILLI);
        metronome(&mut e, &mut out, (t + 20 * SECOND, id), 1, 0);
        assert!(out.iter().any(|a| a.kind == Kind::FeedSilent), "{out:#?}");
    }

    #[test]
    fn a_lost_connection_alerts_until_data_flows_and_slots_are_reused() {
        // Without probation each loss is its own incident.
        let (mut e, mut out, t) = reconnect_loop(0.0);
        // Reconnecting for weeks does not grow the connection table.
        assert!(e.conn_slots() <= 2, "{} slots", e.conn_slots());
        let lost: Vec<&Alert> = out
            .iter()
            .filter(|a| a.kind == Kind::ConnectionLost)
            .collect();
        assert_eq!(lost.len(), 99, "50 losses, 49 recoveries");
        assert_eq!(lost[0].state, State::Open);
        assert_eq!(lost[0].stream.as_deref(), Some("connection:live-1-0"));
        assert_eq!(
            lost[0].evidence.get("next_try_s"),
            Some(&serde_json::json!(0.25))
        );
        assert_eq!(lost[0].evidence.get("streams"), Some(&serde_json::json!(1)));
        assert!(lost[0].summary.contains("BTC/USDT"), "{}", lost[0].summary);
        assert_eq!(lost[1].state, State::Resolved);
        assert_ne!(
            lost[0].incident, lost[2].incident,
            "a new loss is a new incident"
        );
        // Closing on purpose is no loss.
        out.clear();
        let conn = "live-1-0#51";
        session(&mut e, &mut out, t, conn, 1000);
        let reason = format!("{DELIBERATE_CLOSE}; shutdown, no retry");
        e.on_record(
            &control(
                t + 2,
                conn,
                RecordKind::Close {
                    reason: reason.into(),
                },
            ),
            &mut out,
        );
        assert!(
            out.iter()
                .all(|a| a.kind != Kind::ConnectionLost || a.state == State::Resolved),
            "{out:?}"
        );
        assert_eq!(conn_family("a#b#3"), "a#b");
        assert_eq!(conn_family("imp-123"), "imp-123");
    }

    #[test]
    fn an_unsynced_book_asks_for_a_snapshot_at_most_once_per_interval() {
        let mut e = Engine::new(DetectConfig::default());
        let mut out = Vec::new();
        let mut reqs = Vec::new();
        let v = Venue::BinanceSpot;
        e.on_events(v, "c#1", SECOND, &[diff(10, 15)], &mut out);
        e.on_events(v, "c#1", 2 * SECOND, &[diff(16, 20)], &mut out);
        e.take_resyncs(&mut reqs);
        assert_eq!(reqs.len(), 1, "{reqs:?}");
        assert_eq!(
            (reqs[0].venue, &*reqs[0].conn, &*reqs[0].symbol),
            (v, "c#1", "BTC/USDT")
        );
        // Still unsynced 10 s later: asked again.
        e.on_events(v, "c#1", 11 * SECOND, &[diff(21, 25)], &mut out);
        e.take_resyncs(&mut reqs);
        assert_eq!(reqs.len(), 2);
        // The snapshot bridges the buffered diffs: in sync, no more asking.
        let snap = Event {
            symbol: Arc::from("BTC/USDT"),
            stream: StreamKind::Depth,
            payload: Payload::Snapshot(DepthSnapshot {
                last_id: Some(18),
                bids: vec![],
                asks: vec![],
                exch_ns: None,
            }),
        };
        e.on_events(v, "c#1", 12 * SECOND, &[snap], &mut out);
        assert_eq!(e.book_synced(v, "BTC/USDT"), Some(true));
        e.on_events(v, "c#1", 30 * SECOND, &[diff(26, 30)], &mut out);
        e.take_resyncs(&mut reqs);
        assert_eq!(reqs.len(), 2);
        // A new session starts a new sequence: the book waits for its own
        // snapshot, and no gap is alerted.
        e.on_events(v, "c#2", 31 * SECOND, &[diff(500, 505)], &mut out);
        assert_eq!(e.book_synced(v, "BTC/USDT"), Some(false));
        e.take_resyncs(&mut reqs);
        assert_eq!(reqs.last().map(|r| &*r.conn), Some("c#2"));
        assert!(out.iter().all(|a| a.kind != Kind::BookGap), "{out:?}");
    }

    #[test]
    fn adapter_integrity_faults_open_and_a_snapshot_resolves_them() {
        let mut e = Engine::new(DetectConfig::default());
        let mut out = Vec::new();
        let v = Venue::Kraken;
        e.on_events(v, "c", SECOND, &[ev(snapshot())], &mut out);
        let diff = Payload::Depth(DepthDiff {
            first_id: 0,
            last_id: 0,
            prev_last_id: None,
            bids: vec![Level {
                price: 100.0,
                qty: 1.0,
            }],
            asks: vec![],
            exch_ns: None,
        });
        e.on_events(v, "c", 2 * SECOND, &[ev(diff)], &mut out);
        assert!(out.is_empty(), "{out:?}");
        let bad = Payload::Integrity(Integrity::Checksum {
            expected: 1,
            computed: 2,
        });
        e.on_events(v, "c", 3 * SECOND, &[ev(bad)], &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(
            (out[0].kind, out[0].state),
            (Kind::BookChecksum, State::Open)
        );
        let gap = Payload::Integrity(Integrity::Gap {
            expected: 5,
            got: 9,
        });
        e.on_events(v, "c", 3 * SECOND, &[ev(gap)], &mut out);
        assert_eq!((out[1].kind, out[1].state), (Kind::BookGap, State::Open));
        // A reset is announced, not a fault.
        e.on_events(
            v,
            "c",
            3 * SECOND,
            &[ev(Payload::Integrity(Integrity::Reset))],
            &mut out,
        );
        assert_eq!(out.len(), 2);
        e.on_events(v, "c", 4 * SECOND, &[ev(snapshot())], &mut out);
        // The snapshot heals the book: both go to monitoring at once, and
        // resolve after the clean stretch.
        let monitoring: Vec<Kind> = out
            .iter()
            .filter(|a| a.phase == Phase::Monitoring)
            .map(|a| a.kind)
            .collect();
        assert_eq!(monitoring, vec![Kind::BookGap, Kind::BookChecksum]);
        e.advance_to(65 * SECOND, &mut out);
        let resolved: Vec<Kind> = out
            .iter()
            .filter(|a| a.state == State::Resolved)
            .map(|a| a.kind)
            .collect();
        assert_eq!(resolved, vec![Kind::BookGap, Kind::BookChecksum]);
        assert_eq!(e.stats().events.get("integrity"), Some(&3));
    }
}

#[cfg(test)]
mod divergence_tests {
    //! Engine-level `price_divergence`: hand-written best bid/offer and
    //! trade events shaped like the venues' normalized output (not
    //! recorded data).
    use super::*;
    use crate::alert::Phase;
    use crate::alert::State;
    use crate::model::{Level, Quote, Trade};
    use serde_json::json;

    fn quote(symbol: &str, mid: f64) -> Event {
        Event {
            symbol: Arc::from(symbol),
            stream: StreamKind::Bbo,
            payload: Payload::Quote(Quote {
                bid: Level {
                    price: mid - 0.5,
                    qty: 1.0,
                },
                ask: Level {
                    price: mid + 0.5,
                    qty: 1.0,
                },
                update_id: None,
                exch_ns: None,
            }),
        }
    }

    fn trade(symbol: &str, price: f64) -> Event {
        Event {
            symbol: Arc::from(symbol),
            stream: StreamKind::Trade,
            payload: Payload::Trade(Trade {
                price,
                qty: 0.1,
                id: None,
                exch_ns: None,
                event_ns: None,
            }),
        }
    }

    fn symbol_of(v: Venue) -> &'static str {
        // Coinbase and Kraken quote USD, the others USDT: one family.
        match v {
            Venue::Coinbase | Venue::Kraken => "BTC/USD",
            _ => "BTC/USDT",
        }
    }

    /// Feeds one bbo update per venue every 100 ms over `[from, to)` ms,
    /// each venue's mid given by `price(venue, t_ms)`.
    fn run(
        e: &mut Engine,
        out: &mut Vec<Alert>,
        venues: &[Venue],
        from_ms: i64,
        to_ms: i64,
        price: impl Fn(Venue, i64) -> f64,
    ) {
        let mut t = from_ms;
        while t < to_ms {
            for (i, &v) in venues.iter().enumerate() {
                let at = t * MILLI + i as i64 * MILLI;
                e.on_events(v, v.id(), at, &[quote(symbol_of(v), price(v, t))], out);
            }
            t += 100;
        }
    }

    fn divergence(out: &[Alert]) -> Vec<&Alert> {
        out.iter()
            .filter(|a| a.kind == Kind::PriceDivergence)
            .collect()
    }

    const VENUES: [Venue; 4] = [
        Venue::BinanceSpot,
        Venue::Coinbase,
        Venue::Kraken,
        Venue::Okx,
    ];

    /// A calm market around 60,000 with a few dollars of venue noise.
    fn calm(v: Venue, t: i64) -> f64 {
        let i = VENUES.iter().position(|x| *x == v).unwrap_or(0) as f64;
        60_000.0 + i * 3.0 + (t / 100 % 5) as f64
    }

    #[test]
    fn one_venue_off_its_peers_opens_escalates_and_resolves_below_half() {
        let mut e = Engine::new(DetectConfig::default());
        let mut out = Vec::new();
        run(&mut e, &mut out, &VENUES, 1_000, 10_000, calm);
        assert!(divergence(&out).is_empty(), "{out:?}");
        // OKX 2% above for 15 s: four times the 50 bp floor (300 at 60,000).
        run(&mut e, &mut out, &VENUES, 10_000, 25_000, |v, t| {
            if v == Venue::Okx {
                61_200.0
            } else {
                calm(v, t)
            }
        });
        let d = divergence(&out);
        assert!(!d.is_empty(), "no price_divergence: {out:?}");
        let open = d[0].clone();
        assert_eq!(open.state, State::Open);
        assert_eq!(open.venue, Venue::Okx);
        assert_eq!(open.symbol.as_deref(), Some("BTC/USDT"));
        assert_eq!(open.stream, None);
        assert!(open.at >= 10 * SECOND && open.at < 10 * SECOND + 100 * MILLI);
        assert_eq!(open.severity, Severity::Info, "not held yet");
        let ev = &open.evidence;
        assert_eq!(ev.get("verdict"), Some(&json!("divergent")));
        assert_eq!(ev.get("price_source"), Some(&json!("bbo_mid")));
        assert_eq!(ev.get("fresh_venues"), Some(&json!(4)));
        assert_eq!(
            ev.get("peers"),
            Some(&json!(["binance-spot", "coinbase", "kraken"]))
        );
        let median = ev.get("median").and_then(|v| v.as_f64()).unwrap();
        assert!((60_000.0..60_015.0).contains(&median), "{median}");
        let gap = ev.get("gap_bps").and_then(|v| v.as_f64()).unwrap();
        assert!((195.0..200.5).contains(&gap), "{gap}");
        assert!(open.summary.contains("okx BTC/USDT"), "{}", open.summary);
        assert!(
            open.summary.contains("above the 4-venue median"),
            "{}",
            open.summary
        );
        assert!(
            open.summary.contains("do not trust okx's price for BTC"),
            "{}",
            open.summary
        );
        // Held 1 s at twice the threshold and more: critical, once.
        let up = d[1];
        assert_eq!((up.state, up.severity), (State::Update, Severity::Critical));
        assert_eq!(up.incident, open.incident);
        let held = up.at - open.at;
        assert!((SECOND..SECOND + 400 * MILLI).contains(&held), "{held}");
        assert_eq!(d.len(), 2, "{d:?}");
        // 60% of the threshold: not re-admitted yet (hysteresis).
        out.clear();
        run(&mut e, &mut out, &VENUES, 25_000, 30_000, |v, t| {
            if v == Venue::Okx {
                60_185.0
            } else {
                calm(v, t)
            }
        });
        assert!(
            divergence(&out)
                .iter()
                .all(|a| a.phase != Phase::Monitoring),
            "{out:?}"
        );
        // 10% of it: re-admitted within one re-assessment.
        run(&mut e, &mut out, &VENUES, 30_000, 32_000, |v, t| {
            if v == Venue::Okx {
                60_035.0
            } else {
                calm(v, t)
            }
        });
        let d = divergence(&out);
        let recovered: Vec<&&Alert> = d.iter().filter(|a| a.phase == Phase::Monitoring).collect();
        assert_eq!(recovered.len(), 1, "{d:?}");
        assert_eq!(recovered[0].incident, open.incident);
        let after = recovered[0].at - 30 * SECOND;
        assert!((0..400 * MILLI).contains(&after), "{after}");
        assert!(
            recovered[0].summary.contains("back with its peers"),
            "{}",
            recovered[0].summary
        );
        // In monitoring until the probation has passed clean.
        assert_eq!(e.open_incidents(), 1);
    }

    #[test]
    fn two_venues_that_disagree_raise_nothing() {
        let mut e = Engine::new(DetectConfig::default());
        let mut out = Vec::new();
        let two = [Venue::Coinbase, Venue::Okx];
        run(&mut e, &mut out, &two, 1_000, 40_000, |v, t| {
            if v == Venue::Okx && t >= 10_000 {
                61_200.0
            } else {
                60_000.0
            }
        });
        assert!(divergence(&out).is_empty(), "{out:?}");
    }

    #[test]
    fn spot_and_perp_split_when_not_mixed() {
        // Three venues, but one of them a perpetual: with mixing off the
        // spot consensus has two venues and cannot single one out.
        let mut cfg = DetectConfig::default();
        cfg.consensus.mix_spot_perp = false;
        let mut e = Engine::new(cfg);
        let mut out = Vec::new();
        let three = [Venue::BinanceUsdm, Venue::Coinbase, Venue::Okx];
        run(&mut e, &mut out, &three, 1_000, 20_000, |v, t| {
            if v == Venue::Okx && t >= 10_000 {
                61_200.0
            } else {
                60_000.0
            }
        });
        assert!(divergence(&out).is_empty(), "{out:?}");
        // Mixed (the default), the same prices are a divergence.
        let mut e = Engine::new(DetectConfig::default());
        run(&mut e, &mut out, &three, 1_000, 20_000, |v, t| {
            if v == Venue::Okx && t >= 10_000 {
                61_200.0
            } else {
                60_000.0
            }
        });
        assert!(!divergence(&out).is_empty());
    }

    #[test]
    fn a_single_bad_print_is_info_and_resolves() {
        let mut e = Engine::new(DetectConfig::default());
        let mut out = Vec::new();
        let three = [Venue::BinanceSpot, Venue::Coinbase, Venue::Okx];
        run(&mut e, &mut out, &three, 1_000, 10_000, |_, _| 60_000.0);
        let v = Venue::Okx;
        e.on_events(
            v,
            v.id(),
            10_050 * MILLI,
            &[trade("BTC/USDT", 63_600.0)],
            &mut out,
        );
        e.on_events(
            v,
            v.id(),
            10_060 * MILLI,
            &[trade("BTC/USDT", 60_000.5)],
            &mut out,
        );
        run(&mut e, &mut out, &three, 10_100, 20_000, |_, _| 60_000.0);
        let d = divergence(&out);
        assert_eq!(d.len(), 2, "{d:?}");
        assert_eq!((d[0].state, d[0].severity), (State::Open, Severity::Info));
        assert_eq!(d[0].at, 10_050 * MILLI);
        assert_eq!(
            d[0].evidence.get("price_source"),
            Some(&json!("trade_print"))
        );
        assert!(d[0].summary.contains("bad print"), "{}", d[0].summary);
        assert_eq!(d[1].phase, Phase::Monitoring);
        assert!(d[1].at - d[0].at <= 400 * MILLI, "{:?}", d[1].at - d[0].at);
    }

    #[test]
    fn a_flagged_venue_resolves_as_unconfirmed_when_peers_go_stale() {
        let mut e = Engine::new(DetectConfig::default());
        let mut out = Vec::new();
        let three = [Venue::BinanceSpot, Venue::Coinbase, Venue::Okx];
        let off = |v: Venue, _| if v == Venue::Okx { 61_200.0 } else { 60_000.0 };
        run(&mut e, &mut out, &three, 1_000, 5_000, off);
        assert_eq!(divergence(&out).first().map(|a| a.state), Some(State::Open));
        // Coinbase stops: 10 s later only two venues are fresh.
        run(
            &mut e,
            &mut out,
            &[Venue::BinanceSpot, Venue::Okx],
            5_000,
            20_000,
            off,
        );
        let d = divergence(&out);
        let last = d.last().unwrap();
        assert_eq!(last.phase, Phase::Monitoring, "{d:?}");
        assert_eq!(last.evidence.get("fresh_venues"), Some(&json!(2)));
        assert!(
            last.summary.contains("can no longer be judged"),
            "{}",
            last.summary
        );
        assert!(
            last.at >= 14_900 * MILLI && last.at < 15_500 * MILLI,
            "{}",
            last.at
        );
    }
}
