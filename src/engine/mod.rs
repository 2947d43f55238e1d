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
//!
//! Every check lives in `src/detect/` and returns a verdict that words its
//! own alert; the engine gathers each check's inputs, keeps its state
//! (one stream's `StreamChecks`, or the `MarketChecks` across venues) and
//! hands the verdicts to the incident book, its one path to alerts.
//!
//! The files, one concept each (all `impl Engine`):
//! - `mod.rs`: the `Engine`, its public calls and accessors, record routing;
//! - `clock.rs`: entering a record's time, scheduling and running ticks;
//! - `streams.rs`: the stream table, each stream's checks, an event's way
//!   through them;
//! - `stream_checks.rs`: the per-stream checks fed and reported;
//! - `conns.rs`: the connection table, `connection_lost` (closes and
//!   failed connects), `on_stall`;
//! - `silence.rs`: connection-wide silence on the clock (`feed_silent`);
//! - `market.rs`: the checks across venues (outages, `price_divergence`);
//! - `stats.rs`: the run counters; `status.rs`: the status snapshot;
//!   `observer.rs`: the one way to watch the engine run.

mod clock;
mod conns;
#[cfg(test)]
mod divergence_tests;
mod market;
mod observer;
mod silence;
mod stats;
mod status;
mod stream_checks;
mod streams;
#[cfg(test)]
mod tests;

pub use observer::Observer;
pub use stats::Stats;
pub use status::{Counts, EngineStatus, PriceStatus, StreamState, StreamStatus, VenueStatus};

use self::conns::{ConnId, Conns};
use self::market::MarketChecks;
use self::stats::{PAYLOAD_KINDS, PAYLOAD_NAMES};
use self::streams::{RECENT_STREAMS, StreamId, Streams, TradeCandles};
use crate::alert::{Alert, Incidents};
use crate::detect::DetectConfig;
use crate::detect::connection::ConnectFailures;
use crate::model::{Event, Nanos, StreamKind, Symbol, Venue};
use crate::record::{Record, RecordKind};
use crate::state::book::Book;
use crate::venues::Control;
use rustc_hash::FxHashMap as HashMap;
use std::sync::Arc;

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

/// Most resync requests waiting for [`Engine::take_resyncs`]; more are
/// dropped (each book asks again after `book.resync_interval_ms`).
const MAX_RESYNC_REQUESTS: usize = 4096;

/// The deterministic detection engine.
pub struct Engine {
    cfg: DetectConfig,
    streams: Streams,
    index: HashMap<(Venue, StreamKind), HashMap<Symbol, StreamId>>,
    conns: Conns,
    conn_index: HashMap<String, ConnId>,
    /// The last connection looked up (records mostly come in runs from one).
    last_conn: Option<ConnId>,
    /// Planned connections failing to connect (`connect failed` records).
    failures: ConnectFailures,
    trade_candles: Vec<TradeCandles>,
    trade_candle_index: HashMap<(Venue, Symbol), usize>,
    incidents: Incidents,
    /// The checks across venues.
    market: MarketChecks,
    /// The end of the last pause of feedwatch itself (a stall record).
    stalled_until: Nanos,
    resyncs: Vec<ResyncRequest>,
    scratch: Vec<Event>,
    recent_streams: Vec<(Venue, StreamKind, Symbol, StreamId)>,
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
            streams: Streams::default(),
            index: HashMap::default(),
            conns: Conns::default(),
            conn_index: HashMap::default(),
            last_conn: None,
            failures: ConnectFailures::default(),
            trade_candles: Vec::new(),
            trade_candle_index: HashMap::default(),
            recent_streams: Vec::with_capacity(RECENT_STREAMS),
            recent_next: 0,
            event_counts: [0; PAYLOAD_KINDS],
            incidents,
            market: MarketChecks::default(),
            stalled_until: 0,
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
        for (name, n) in PAYLOAD_NAMES.iter().zip(&self.event_counts) {
            if *n > 0 {
                s.events.insert(name, *n);
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
            .filter_map(|&si| self.streams.get(si).book.as_ref())
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
        if let RecordKind::ConnectFailed { reason } = &rec.kind {
            // No slot: the attempt never opened, and the next one has
            // another id (a slot each would grow with every retry).
            self.stats.control_records += 1;
            self.on_connect_failed(rec.venue, &rec.conn, t, reason, out);
            self.count_alerts(start, out);
            return;
        }
        let Some(conn) = self.conn(&rec.conn) else {
            self.count_alerts(start, out);
            return;
        };
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
                self.on_open(rec.venue, conn, t);
            }
            RecordKind::Close { reason } => {
                self.stats.control_records += 1;
                self.on_close(rec.venue, conn, t, reason, out);
            }
            RecordKind::Sent(_) => {
                self.stats.control_records += 1;
            }
            RecordKind::Stall { .. } | RecordKind::ConnectFailed { .. } => {}
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
        let Some(c) = self.conn(conn) else {
            self.count_alerts(start, out);
            return;
        };
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
            s.checks.silence.on_end();
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

    #[allow(clippy::too_many_arguments)]
    fn on_text(
        &mut self,
        venue: Venue,
        conn: ConnId,
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
            Err(e) => self.stats.count_parse_error(&e),
        }
        for ev in &events {
            self.on_event(venue, conn, now, ev, rest, out);
        }
        self.scratch = events;
    }
}
