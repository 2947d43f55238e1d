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
//!
//! Here: the queue (`Gate`), the counters and `run_with`; the connection
//! plans are in `plan.rs`, the connection tasks in `conn.rs` (opening a
//! socket stage by stage in `connect.rs`), the engine thread in
//! `engine_loop.rs`.
//!
//! [`Record`]: crate::record::Record
//! [`Engine::on_record`]: crate::engine::Engine::on_record
//! [`Engine::advance_to`]: crate::engine::Engine::advance_to

pub mod config;
mod conn;
mod connect;
mod engine_loop;
mod plan;
pub mod recorder;

pub use config::FeedConfig;
pub use recorder::Recorder;

use engine_loop::{AlertOut, engine_loop};
use plan::{Plan, plans};

use crate::detect::DetectConfig;
use crate::engine::{Observer, Stats};
use crate::model::{Nanos, Symbol, Venue};
use crate::sink::BoxSink;
use crate::venues::Channel;
use rustc_hash::FxHashMap as HashMap;
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
    /// An attempt that failed before its WebSocket was open.
    ConnectFailed(String),
    Sent(String),
    Rest {
        request: String,
        body: String,
    },
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

    /// Queues a connection record (open, close, failed connect, sent, REST
    /// snapshot).
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

/// The command senders of the open connections, by connection id: the
/// engine thread routes book resyncs through it.
pub(crate) type Registry = Arc<Mutex<HashMap<Arc<str>, mpsc::Sender<Symbol>>>>;

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

#[cfg(test)]
mod tests {
    use super::*;

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
