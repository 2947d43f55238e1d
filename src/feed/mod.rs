//! The live consumer: one task per venue connection, one engine.
//!
//! Every connection task stamps each received frame with the wall clock
//! (ns) and hands it, as a fixture [`Record`], through ONE bounded queue to
//! one engine thread that calls [`Engine::on_record`] and, on a timer,
//! [`Engine::advance_to`]. Stamping and enqueueing happen under one lock
//! (`Gate`), and stamps strictly increase, so the queue order is the time
//! order: the engine never sees time go backwards, a timer tick never
//! overtakes a frame stamped before it, and a recording of the queue
//! (`--record`) replays to the same engine input and the same alerts.
//!
//! This module must never block a socket reader on the engine (a full queue
//! drops the frame and counts it), never buffer without bound, and never let
//! a bad frame, a bad connection or a failing recorder stop the other
//! connections.

pub mod config;
mod conn;
pub mod recorder;

pub use config::FeedConfig;
pub use recorder::Recorder;

use crate::alert::{Alert, Evidence, IncidentKey, Incidents, Kind, Severity};
use crate::detect::DetectConfig;
use crate::engine::{Engine, Observer, ResyncRequest, Stats};
use crate::model::{MILLI, Nanos, SECOND, Symbol, Venue};
use crate::net::limit::RateLimit;
use crate::record::{Record, RecordKind};
use crate::sink::BoxSink;
use crate::venues::{self, Channel, Protocol};
use rustc_hash::FxHashMap as HashMap;
use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::{Bytes, Utf8Bytes};

/// The channels every connection subscribes to, per symbol.
pub const CHANNELS: [Channel; 4] = [
    Channel::Trades,
    Channel::Bbo,
    Channel::Book,
    Channel::Candles1m,
];

/// Live counters, readable while the feed runs (tests and status lines).
#[derive(Debug, Default)]
pub struct Counters {
    /// Data frames received on all sockets (text and binary).
    pub frames: AtomicU64,
    /// Bytes of those frames.
    pub frame_bytes: AtomicU64,
    /// Connections opened (handshake completed).
    pub opens: AtomicU64,
    /// Connections closed (for any reason, shutdown included).
    pub closes: AtomicU64,
    /// Connection attempts that failed before the WebSocket was open.
    pub connect_failures: AtomicU64,
    /// Records dropped because the engine queue was full.
    pub dropped: AtomicU64,
    /// Records that reached the engine.
    pub delivered: AtomicU64,
    /// Records waiting in the engine queue (a gauge, set by the engine
    /// thread after every step).
    pub queued: AtomicU64,
    /// Book resyncs the engine asked for.
    pub resync_requests: AtomicU64,
    /// REST snapshots fetched and queued.
    pub rest_fetched: AtomicU64,
    /// REST snapshot requests that failed.
    pub rest_failed: AtomicU64,
    /// Resubscriptions sent for a book resync.
    pub resubscribes: AtomicU64,
}

impl Counters {
    fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    /// Reads one counter.
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}

/// Options of one run beyond the config.
#[derive(Default)]
pub struct RunOptions {
    /// Record every record the engine sees into this directory.
    pub record_dir: Option<PathBuf>,
    /// Counters to update (shared with the caller).
    pub counters: Arc<Counters>,
    /// Watches the engine from the engine thread after every step (the
    /// desk server's status); it must never block it.
    pub observer: Option<Box<dyn Observer + Send>>,
}

/// What a live run did.
#[derive(Debug, Default, Clone)]
pub struct FeedSummary {
    /// Engine counters.
    pub engine: Stats,
    /// Alerts handed to the sink.
    pub alerts: u64,
    /// Records dropped on a full queue.
    pub dropped: u64,
    /// Connections opened.
    pub opens: u64,
    /// Recording files written (complete), in order.
    pub recorded: Vec<PathBuf>,
    /// Records that could not be recorded (each logged).
    pub record_errors: u64,
    /// Book snapshots fetched over REST.
    pub rest_fetched: u64,
    /// REST snapshot requests that failed.
    pub rest_failed: u64,
    /// Resubscriptions sent to rebuild books.
    pub resubscribes: u64,
    /// Wall time.
    pub wall: Duration,
}

impl fmt::Display for FeedSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = &self.engine;
        writeln!(
            f,
            "feedwatch run: {} frames, {} connection records, {} connections opened, {} records dropped on a full queue in {:.1} s",
            e.frames,
            e.control_records,
            self.opens,
            self.dropped,
            self.wall.as_secs_f64()
        )?;
        writeln!(
            f,
            "  parse errors: malformed={} unknown={} unsupported={}; heartbeats={} acks={}",
            e.malformed, e.unknown, e.unsupported, e.heartbeats, e.acks
        )?;
        for s in &e.error_samples {
            writeln!(f, "    {s}")?;
        }
        writeln!(
            f,
            "  books: {} REST snapshots fetched ({} failed), {} resubscriptions",
            self.rest_fetched, self.rest_failed, self.resubscribes
        )?;
        write!(f, "  alerts: {}", self.alerts)?;
        if !self.recorded.is_empty() || self.record_errors > 0 {
            write!(
                f,
                "\n  recorded {} file(s), {} record errors",
                self.recorded.len(),
                self.record_errors
            )?;
            for p in &self.recorded {
                write!(f, "\n    {}", p.display())?;
            }
        }
        Ok(())
    }
}

/// Why a live run could not start or finish.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// The config names no venue that has a protocol.
    #[error("no venue to connect to: {0}")]
    NoVenues(String),
    /// The recording directory is unusable.
    #[error(transparent)]
    Record(#[from] crate::fixture::FixtureError),
    /// The alert sink failed (e.g. stdout closed).
    #[error("cannot write alerts: {0}")]
    Sink(std::io::Error),
    /// The engine thread died.
    #[error("engine thread failed: {0}")]
    Engine(String),
}

/// What a connection hands the engine.
pub(crate) enum Item {
    Frame(Utf8Bytes),
    Binary(Bytes),
    Open(String),
    Close(String),
    Sent(String),
    Rest { request: String, body: String },
}

/// One queued message.
pub(crate) enum Msg {
    Rec {
        t: Nanos,
        venue: Venue,
        conn: Arc<str>,
        item: Item,
    },
    /// Let engine time pass to this instant.
    Tick(Nanos),
}

/// The wall clock in ns since the epoch.
pub fn wall_ns() -> Nanos {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| Nanos::try_from(d.as_nanos()).unwrap_or(Nanos::MAX))
}

/// Stamps and enqueues under one lock so queue order is time order.
pub(crate) struct Gate {
    last: Mutex<Nanos>,
    tx: mpsc::Sender<Msg>,
    counters: Arc<Counters>,
}

/// Why a message was not queued.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PushError {
    Full,
    Closed,
}

impl Gate {
    /// Stamps (strictly after the previous stamp) and queues without
    /// waiting. A full queue gives the message back as `Full`.
    pub(crate) fn push(&self, make: impl FnOnce(Nanos) -> Msg) -> Result<(), PushError> {
        // A poisoned lock only means another task panicked mid-push; the
        // stamp inside is still a valid time.
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let t = wall_ns().max(last.saturating_add(1));
        match self.tx.try_send(make(t)) {
            Ok(()) => {
                *last = t;
                Ok(())
            }
            Err(mpsc::error::TrySendError::Full(_)) => Err(PushError::Full),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(PushError::Closed),
        }
    }

    /// Queues a data frame; a full queue drops it (counted).
    pub(crate) fn frame(&self, venue: Venue, conn: &Arc<str>, item: Item) {
        let r = self.push(|t| Msg::Rec {
            t,
            venue,
            conn: conn.clone(),
            item,
        });
        if r == Err(PushError::Full) {
            Counters::add(&self.counters.dropped, 1);
        }
    }

    /// Queues a connection record (open, close, sent, REST snapshot).
    /// These matter for the recording, so a full queue is retried briefly
    /// (re-stamped each time) before the record is dropped and counted.
    pub(crate) async fn control(&self, venue: Venue, conn: &Arc<str>, item: impl Fn() -> Item) {
        for _ in 0..200 {
            match self.push(|t| Msg::Rec {
                t,
                venue,
                conn: conn.clone(),
                item: item(),
            }) {
                Ok(()) | Err(PushError::Closed) => return,
                Err(PushError::Full) => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
        Counters::add(&self.counters.dropped, 1);
    }
}

/// One planned connection: a venue and the symbols it carries.
#[derive(Clone)]
pub(crate) struct Plan {
    pub venue: Venue,
    pub url: String,
    pub subscribe: Vec<String>,
    pub app_ping: Option<(Duration, String)>,
    pub proto: Arc<dyn Protocol>,
    /// REST base for snapshots (production, or the override).
    pub rest_base: String,
    /// New connections to this venue (shared by its connections).
    pub connect_limit: Arc<RateLimit>,
    /// REST requests to this venue (shared by its connections).
    pub rest_limit: Arc<RateLimit>,
}

impl fmt::Debug for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plan")
            .field("venue", &self.venue)
            .field("url", &self.url)
            .field("subscribe", &self.subscribe)
            .finish_non_exhaustive()
    }
}

/// The command senders of the open connections, by connection id: the
/// engine thread routes book resyncs through it.
pub(crate) type Registry = Arc<Mutex<HashMap<Arc<str>, mpsc::Sender<Symbol>>>>;

/// Builds the connection plans from `[feed]`: symbols split so no
/// connection carries more streams than the venue allows; endpoint
/// overrides applied. Venues without a protocol are reported and skipped.
fn plans(cfg: &FeedConfig) -> Result<Vec<Plan>, FeedError> {
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    for (id, symbols) in &cfg.symbols {
        let Ok(venue) = Venue::parse(id) else {
            skipped.push(format!("{id} (unknown venue)"));
            continue;
        };
        let Some(proto) = venues::protocol_for(venue).map(Arc::<dyn Protocol>::from) else {
            tracing::error!(venue = id, "no live protocol for this venue yet; skipped");
            skipped.push(format!("{id} (no protocol)"));
            continue;
        };
        let per_conn = (proto.max_streams_per_connection() / CHANNELS.len()).max(1);
        // A symbol the venue cannot express is reported and left out; a
        // venue left with none is not connected to.
        let syms: Vec<&str> = symbols
            .iter()
            .map(String::as_str)
            .filter(|s| {
                let ok = proto.venue_symbol(s).is_some();
                if !ok {
                    tracing::error!(
                        venue = id,
                        symbol = s,
                        "symbol not listed on this venue; skipped"
                    );
                    skipped.push(format!("{id} {s} (not a symbol of this venue)"));
                }
                ok
            })
            .collect();
        let connect_limit = Arc::new(RateLimit::new(cfg.connects_per_s, cfg.connect_burst));
        let rest_limit = Arc::new(RateLimit::new(cfg.rest_per_s, cfg.rest_burst));
        let rest_base = match proto.resync("BTC/USDT").or_else(|| proto.resync("BTC/USD")) {
            Some(venues::Resync::Rest { base, .. }) => cfg.rest_base(id, &base),
            _ => String::new(),
        };
        for chunk in syms.chunks(per_conn) {
            for group in proto.connection_groups(&CHANNELS) {
                let mut url = proto.url_for(chunk, &group);
                if let Some(base) = cfg.endpoints.get(id) {
                    // The override replaces the production endpoint; what
                    // the protocol appended (the subscription) is kept.
                    url = match url.strip_prefix(&proto.url()) {
                        Some(rest) => format!("{base}{rest}"),
                        None => base.clone(),
                    };
                }
                out.push(Plan {
                    venue,
                    url,
                    subscribe: proto.subscribe(chunk, &group),
                    app_ping: proto.ping(),
                    proto: proto.clone(),
                    rest_base: rest_base.clone(),
                    connect_limit: connect_limit.clone(),
                    rest_limit: rest_limit.clone(),
                });
            }
        }
    }
    if out.is_empty() {
        return Err(FeedError::NoVenues(if skipped.is_empty() {
            "feed.symbols is empty".into()
        } else {
            skipped.join(", ")
        }));
    }
    Ok(out)
}

/// Runs the live consumer until `shutdown` completes, then closes every
/// connection (a `close` record each), drains the queue, flushes alerts and
/// completes the recording. Alerts go to `sink` as they are raised.
pub async fn run_with(
    detect: DetectConfig,
    feed: FeedConfig,
    opts: RunOptions,
    shutdown: impl Future<Output = ()>,
    sink: BoxSink,
) -> Result<FeedSummary, FeedError> {
    crate::net::install_crypto();
    let started = Instant::now();
    let plans = plans(&feed)?;
    let recorder = match &opts.record_dir {
        Some(dir) => Some(Recorder::new(
            dir,
            feed.record_rotate_mib.saturating_mul(1024 * 1024),
            Duration::from_secs(feed.record_rotate_s),
        )?),
        None => None,
    };
    let (tx, rx) = mpsc::channel(feed.queue_capacity);
    let counters = opts.counters.clone();
    let gate = Arc::new(Gate {
        last: Mutex::new(0),
        tx,
        counters: counters.clone(),
    });
    let tick = Duration::from_millis(u64::try_from(detect.engine.tick_ms).unwrap_or(100).max(1));
    let feed_cfg = Arc::new(feed);
    let engine_counters = counters.clone();
    let registry: Registry = Arc::default();
    let engine_registry = registry.clone();
    let observer = opts.observer;
    // The engine thread says so when alerts can no longer be written
    // (stdout closed): the run then stops as if asked to, rather than
    // watching venues nobody hears about.
    let sink_failed = Arc::new(tokio::sync::Notify::new());
    let engine_sink_failed = sink_failed.clone();
    let engine = tokio::task::spawn_blocking(move || {
        engine_loop(
            detect,
            rx,
            AlertOut {
                sink,
                failed: engine_sink_failed,
            },
            recorder,
            engine_counters,
            engine_registry,
            observer,
        )
    });

    let (stop_tx, stop_rx) = watch::channel(false);
    // The ticker stops before the connections, so the last records the
    // engine sees are the connections' `close` records and no tick runs
    // after them: a replay of the recording ends in the same state.
    let (tick_stop_tx, mut tick_stop) = watch::channel(false);
    let run_id = format!("{:x}", wall_ns());
    let mut tasks = Vec::new();
    for (i, plan) in plans.into_iter().enumerate() {
        tasks.push(tokio::spawn(conn::run(
            plan,
            feed_cfg.clone(),
            gate.clone(),
            registry.clone(),
            stop_rx.clone(),
            format!("live-{run_id}-{i}"),
        )));
    }
    let ticker = {
        let gate = gate.clone();
        tokio::spawn(async move {
            let mut iv = tokio::time::interval(tick);
            iv.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = iv.tick() => {
                        // A full queue skips this tick: the next record runs
                        // the due ticks anyway.
                        let _ = gate.push(Msg::Tick);
                    }
                    _ = tick_stop.changed() => break,
                }
            }
        })
    };
    tokio::select! {
        _ = shutdown => {}
        _ = sink_failed.notified() => {
            tracing::error!("alerts cannot be written: stopping");
        }
    }
    let _ = tick_stop_tx.send(true);
    let _ = ticker.await;
    let _ = stop_tx.send(true);
    for t in tasks {
        if let Err(e) = t.await {
            tracing::error!("connection task failed: {e}");
        }
    }
    drop(gate);
    let mut summary = engine
        .await
        .map_err(|e| FeedError::Engine(e.to_string()))??;
    summary.dropped = Counters::get(&counters.dropped);
    summary.opens = Counters::get(&counters.opens);
    summary.rest_fetched = Counters::get(&counters.rest_fetched);
    summary.rest_failed = Counters::get(&counters.rest_failed);
    summary.resubscribes = Counters::get(&counters.resubscribes);
    summary.wall = started.elapsed();
    Ok(summary)
}

/// Drops between the connections and the engine, as an incident about our
/// own side: opened when records are dropped, resolved after a clean
/// stretch. Not part of a recording (the dropped records are not in it).
struct DropWatch {
    incidents: Incidents,
    key: IncidentKey,
    reported: u64,
    last_drop_at: Option<Nanos>,
}

/// A `frames_dropped` incident resolves after this long without drops.
const DROPS_CLEAR_NS: Nanos = 10_000_000_000;

impl DropWatch {
    fn new() -> DropWatch {
        DropWatch {
            incidents: Incidents::new(),
            key: IncidentKey {
                venue: Venue::Other("feedwatch"),
                symbol: None,
                stream: Some("engine_queue".into()),
            },
            reported: 0,
            last_drop_at: None,
        }
    }

    fn check(&mut self, now: Nanos, dropped: u64, capacity: usize, out: &mut Vec<Alert>) {
        if dropped > self.reported {
            let new = dropped - self.reported;
            tracing::warn!(
                "engine queue full: {new} records dropped since last report ({dropped} in total)"
            );
            let summary = format!(
                "feedwatch dropped {new} received frames because its engine queue ({capacity} records) was full: books and silence checks may report gaps that are ours, not the venues'."
            );
            let ev = Evidence::new()
                .with("dropped", new)
                .with("dropped_total", dropped)
                .with("queue_capacity", capacity);
            self.incidents.fire(
                now,
                Kind::FramesDropped,
                &self.key,
                Severity::Warning,
                true,
                summary,
                ev,
                out,
            );
            self.reported = dropped;
            self.last_drop_at = Some(now);
        } else if let Some(at) = self.last_drop_at
            && now - at >= DROPS_CLEAR_NS
        {
            self.last_drop_at = None;
            let summary =
                "feedwatch's engine queue has kept up for 10 s: no frames dropped since.".into();
            let ev = Evidence::new().with("dropped_total", dropped);
            self.incidents
                .clear(now, Kind::FramesDropped, &self.key, summary, ev, out);
        }
    }
}

/// Hands the engine's book resync requests to their connections (a full or
/// gone connection drops the request: the book asks again later).
fn route_resyncs(reqs: &mut Vec<ResyncRequest>, registry: &Registry, counters: &Counters) {
    if reqs.is_empty() {
        return;
    }
    let conns = registry.lock().unwrap_or_else(|p| p.into_inner());
    for r in reqs.drain(..) {
        Counters::add(&counters.resync_requests, 1);
        if let Some(tx) = conns.get(&r.conn) {
            let _ = tx.try_send(r.symbol);
        }
    }
}

/// Where the engine thread's alerts go, and how it says they cannot.
struct AlertOut {
    sink: BoxSink,
    /// Notified once when the sink fails.
    failed: Arc<tokio::sync::Notify>,
}

/// The engine thread: drains the queue until every sender is gone.
fn engine_loop(
    cfg: DetectConfig,
    mut rx: mpsc::Receiver<Msg>,
    alerts_out: AlertOut,
    mut recorder: Option<Recorder>,
    counters: Arc<Counters>,
    registry: Registry,
    mut observer: Option<Box<dyn Observer + Send>>,
) -> Result<FeedSummary, FeedError> {
    let AlertOut {
        mut sink,
        failed: sink_failed,
    } = alerts_out;
    let capacity = rx.max_capacity();
    // The ticker stamps a message every tick: a longer gap between two
    // stamps means nothing of ours ran meanwhile (process, VM or runtime
    // paused), which the engine must know before it judges the venues.
    let stall_after = (cfg.engine.tick_ms * 10 * MILLI).max(2 * SECOND);
    let mut last_t: Option<Nanos> = None;
    let mut engine = Engine::new(cfg);
    let mut out: Vec<Alert> = Vec::new();
    let mut summary = FeedSummary::default();
    let mut sink_error: Option<std::io::Error> = None;
    let mut drops = DropWatch::new();
    let mut resyncs: Vec<ResyncRequest> = Vec::new();
    while let Some(msg) = rx.blocking_recv() {
        let t = match &msg {
            Msg::Tick(t) | Msg::Rec { t, .. } => *t,
        };
        if let Some(from) = last_t
            && t - from > stall_after
        {
            tracing::warn!("feedwatch was paused for {} ms", (t - from) / MILLI);
            let rec = Record {
                recv_ns: t,
                venue: Venue::Other("feedwatch"),
                conn: Cow::Borrowed("process"),
                kind: RecordKind::Stall { from_ns: from },
            };
            if let Some(r) = recorder.as_mut()
                && let Err(e) = r.write(&rec)
            {
                summary.record_errors += 1;
                tracing::error!("recording: {e}");
            }
            engine.on_record(&rec, &mut out);
        }
        last_t = Some(last_t.map_or(t, |l| l.max(t)));
        match msg {
            Msg::Tick(t) => {
                engine.advance_to(t, &mut out);
                drops.check(t, Counters::get(&counters.dropped), capacity, &mut out);
            }
            Msg::Rec {
                t,
                venue,
                conn,
                item,
            } => {
                let kind = match &item {
                    Item::Frame(s) => RecordKind::Frame(Cow::Borrowed(s.as_str())),
                    Item::Binary(b) => RecordKind::Binary(Cow::Borrowed(b.as_ref())),
                    Item::Open(u) => RecordKind::Open {
                        url: Cow::Borrowed(u),
                    },
                    Item::Close(r) => RecordKind::Close {
                        reason: Cow::Borrowed(r),
                    },
                    Item::Sent(s) => RecordKind::Sent(Cow::Borrowed(s)),
                    Item::Rest { request, body } => RecordKind::Rest {
                        request: Cow::Borrowed(request),
                        body: Cow::Borrowed(body),
                    },
                };
                let rec = Record {
                    recv_ns: t,
                    venue,
                    conn: Cow::Borrowed(&conn),
                    kind,
                };
                if let Some(r) = recorder.as_mut()
                    && let Err(e) = r.write(&rec)
                {
                    summary.record_errors += 1;
                    if summary.record_errors <= 5 {
                        tracing::error!("recording: {e}");
                    }
                }
                engine.on_record(&rec, &mut out);
                Counters::add(&counters.delivered, 1);
            }
        }
        engine.take_resyncs(&mut resyncs);
        route_resyncs(&mut resyncs, &registry, &counters);
        for a in out.drain(..) {
            summary.alerts += 1;
            if sink_error.is_none()
                && let Err(e) = sink.send(&a, true)
            {
                tracing::error!("cannot write alerts: {e}");
                sink_error = Some(e);
                sink_failed.notify_one();
            }
        }
        counters.queued.store(rx.len() as u64, Ordering::Relaxed);
        if let Some(o) = observer.as_mut() {
            // Cheap unless a status is due (an engine clock compare).
            o.observe(&engine);
        }
    }
    if let Some(o) = observer.as_mut() {
        o.finish(&engine);
    }
    if let Some(r) = recorder {
        summary.recorded = r.finish()?;
    }
    summary.engine = engine.stats();
    if let Some(e) = sink_error {
        return Err(FeedError::Sink(e));
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_apply_endpoint_overrides_and_skip_unknown_protocols() {
        let mut cfg = FeedConfig::default();
        cfg.endpoints
            .insert("binance-usdm".into(), "ws://127.0.0.1:9001/stream".into());
        cfg.symbols.insert("kraken".into(), vec!["BTC/USD".into()]);
        cfg.symbols.insert("gemini".into(), vec!["BTC/USD".into()]);
        let p = plans(&cfg).unwrap();
        // One connection per venue, OKX two (candles are on /business);
        // gemini is no venue of ours and is skipped.
        assert_eq!(p.len(), 9, "{p:?}");
        let okx: Vec<&str> = p
            .iter()
            .filter(|p| p.venue == Venue::Okx)
            .map(|p| p.url.as_str())
            .collect();
        assert_eq!(
            okx,
            [
                "wss://ws.okx.com:8443/ws/v5/public",
                "wss://ws.okx.com:8443/ws/v5/business"
            ]
        );
        let usdm = p.iter().find(|p| p.venue == Venue::BinanceUsdm).unwrap();
        assert_eq!(usdm.rest_base, "http://127.0.0.1:9001");
        let spot = p.iter().find(|p| p.venue == Venue::BinanceSpot).unwrap();
        assert_eq!(spot.rest_base, "https://api.binance.com");
        assert!(
            p.iter()
                .filter(|p| !p.venue.id().starts_with("binance"))
                .all(|p| p.rest_base.is_empty())
        );
        let kraken = p.iter().find(|p| p.venue == Venue::Kraken).unwrap();
        assert_eq!(kraken.url, "wss://ws.kraken.com/v2");
        assert!(!kraken.subscribe.is_empty(), "kraken subscribes by frames");
        let usdm = p.iter().find(|p| p.venue == Venue::BinanceUsdm).unwrap();
        assert_eq!(
            usdm.url,
            "ws://127.0.0.1:9001/stream?streams=btcusdt@trade/btcusdt@bookTicker/btcusdt@depth@0ms/btcusdt@kline_1m/ethusdt@trade/ethusdt@bookTicker/ethusdt@depth@0ms/ethusdt@kline_1m"
        );
        let spot = p.iter().find(|p| p.venue == Venue::BinanceSpot).unwrap();
        assert!(
            spot.url
                .starts_with("wss://stream.binance.com:9443/stream?streams=btcusdt@trade/")
        );
    }

    #[test]
    fn symbols_a_venue_cannot_express_are_left_out() {
        let cfg = FeedConfig {
            symbols: [
                (
                    "binance-coinm".to_string(),
                    vec!["BTC/USDT".to_string(), "ETH/USD".to_string()],
                ),
                ("binance-spot".to_string(), vec![]),
            ]
            .into(),
            ..FeedConfig::default()
        };
        let p = plans(&cfg).unwrap();
        assert_eq!(p.len(), 1, "spot has no symbols: no connection");
        assert_eq!(
            p[0].url,
            "wss://dstream.binance.com/stream?streams=ethusd_perp@trade/ethusd_perp@bookTicker/ethusd_perp@depth@0ms/ethusd_perp@kline_1m"
        );
        let only_bad = FeedConfig {
            symbols: [("binance-coinm".to_string(), vec!["BTC/USDT".to_string()])].into(),
            ..FeedConfig::default()
        };
        let e = plans(&only_bad).unwrap_err().to_string();
        assert!(e.contains("BTC/USDT"), "{e}");
    }

    #[test]
    fn no_connectable_venue_is_an_error_naming_them() {
        let cfg = FeedConfig {
            symbols: [("gemini".to_string(), vec!["BTC/USD".to_string()])].into(),
            ..FeedConfig::default()
        };
        let e = plans(&cfg).unwrap_err().to_string();
        assert!(e.contains("gemini"), "{e}");
    }

    #[test]
    fn drops_open_an_incident_about_us_that_clears_after_a_clean_stretch() {
        let mut w = DropWatch::new();
        let mut out = Vec::new();
        w.check(1_000_000_000, 0, 8, &mut out);
        assert!(out.is_empty());
        w.check(2_000_000_000, 5, 8, &mut out);
        w.check(3_000_000_000, 7, 8, &mut out);
        assert_eq!(out.len(), 2, "{out:?}");
        assert_eq!(
            (out[0].kind, out[0].venue),
            (Kind::FramesDropped, Venue::Other("feedwatch"))
        );
        assert_eq!(out[1].evidence.get("dropped"), Some(&serde_json::json!(2)));
        // Not yet 10 s without drops; then resolved once.
        w.check(12_000_000_000, 7, 8, &mut out);
        assert_eq!(out.len(), 2);
        w.check(13_000_000_000, 7, 8, &mut out);
        w.check(20_000_000_000, 7, 8, &mut out);
        assert_eq!(out.len(), 3);
        assert_eq!(out[2].state, crate::alert::State::Resolved);
    }

    #[test]
    fn gate_stamps_strictly_increase_and_full_queue_drops() {
        let (tx, mut rx) = mpsc::channel(2);
        let counters = Arc::new(Counters::default());
        let gate = Gate {
            last: Mutex::new(0),
            tx,
            counters: counters.clone(),
        };
        let conn: Arc<str> = Arc::from("c1");
        for _ in 0..3 {
            gate.frame(
                Venue::BinanceSpot,
                &conn,
                Item::Frame(Utf8Bytes::from_static("x")),
            );
        }
        assert_eq!(Counters::get(&counters.dropped), 1);
        let mut ts = Vec::new();
        while let Ok(Msg::Rec { t, .. }) = rx.try_recv() {
            ts.push(t);
        }
        assert_eq!(ts.len(), 2);
        assert!(ts[0] < ts[1], "{ts:?}");
    }
}
