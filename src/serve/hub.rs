//! The hub between the engine thread and the desk clients: numbers alerts,
//! keeps what a new client needs (open incidents, recent alerts, the latest
//! status, price series) and fans messages out to per-client bounded queues.
//!
//! It must never block the engine thread: every client queue is bounded
//! and filled with `try_send`, and a client whose queue is full is dropped
//! (told why when possible), so a slow client never slows the engine or the
//! other clients. The lock is held only for bookkeeping and fan-out, never
//! for I/O. Memory is bounded by the configured ring sizes.

use super::ServeConfig;
use crate::alert::{Alert, State};
use crate::engine::Engine;
use crate::engine::EngineStatus;
use crate::engine::Observer;
use crate::feed::Counters;
use crate::model::{Nanos, SECOND, format_rfc3339_ms};
use crate::sink::{AlertSink, BoxSink, Tee};
use axum::extract::ws::Utf8Bytes;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// Sizes and pace of a hub.
#[derive(Clone, Debug, PartialEq)]
pub struct HubOptions {
    /// Messages queued per client before it is dropped.
    pub client_queue: usize,
    /// Recent alerts kept for snapshots.
    pub recent_alerts: usize,
    /// Price samples kept per venue symbol.
    pub series_points: usize,
    /// Least wall time between two status pushes.
    pub status_interval: Duration,
}

impl HubOptions {
    /// The options `[serve]` asks for.
    pub fn from_config(cfg: &ServeConfig) -> HubOptions {
        HubOptions {
            client_queue: cfg.client_queue.max(1),
            recent_alerts: cfg.recent_alerts.max(1),
            series_points: cfg.series_points.max(1),
            status_interval: Duration::from_millis(cfg.status_interval_ms),
        }
    }
}

impl Default for HubOptions {
    fn default() -> Self {
        HubOptions::from_config(&ServeConfig::default())
    }
}

/// The live consumer's side of the hub: its counters and queue size.
#[derive(Debug)]
pub struct FeedInfo {
    /// The feed's counters (frames, opens, closes, drops, ...).
    pub counters: Arc<Counters>,
    /// Capacity of the engine queue.
    pub queue_capacity: usize,
}

/// Why a client's connection ends.
#[derive(Debug, Clone, PartialEq)]
pub enum Kick {
    /// It fell behind: its queue was full. The reason is sent to it.
    Slow(String),
    /// The server is shutting down.
    Shutdown,
}

/// One client's registration: its first message and its queue.
pub struct Subscription {
    /// Client id (for [`Hub::unsubscribe`]).
    pub id: u64,
    /// The snapshot message (JSON text).
    pub snapshot: Utf8Bytes,
    /// Every message after the snapshot, in order.
    pub rx: mpsc::Receiver<Utf8Bytes>,
    /// Fires when the hub drops the client.
    pub kick: oneshot::Receiver<Kick>,
}

struct Client {
    id: u64,
    tx: mpsc::Sender<Utf8Bytes>,
    kick: Option<oneshot::Sender<Kick>>,
}

/// One venue symbol's price samples: `[unix ms, price]`, oldest first.
#[derive(Default)]
struct Series {
    last_sec: i64,
    points: VecDeque<(i64, f64)>,
}

#[derive(Default)]
struct Inner {
    seq: u64,
    /// Latest alert of each open incident: id -> (its seq, alert JSON).
    open: HashMap<String, (u64, Arc<str>)>,
    /// Recent alerts' JSON, oldest first.
    recent: VecDeque<Arc<str>>,
    status: Option<Arc<EngineStatus>>,
    /// `status` as JSON, made when first needed after each change.
    status_json: Option<Arc<str>>,
    series: BTreeMap<(&'static str, String), Series>,
    clients: Vec<Client>,
    next_id: u64,
    closed: bool,
}

/// Shared between the engine thread (writer) and the server (readers).
pub struct Hub {
    opts: HubOptions,
    inner: Mutex<Inner>,
    feed: OnceLock<FeedInfo>,
    /// Engine clock (ns) as last observed.
    clock: AtomicI64,
    dropped_clients: AtomicU64,
    seen_data: AtomicBool,
    closing: AtomicBool,
    finished: AtomicBool,
}

impl fmt::Debug for Hub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hub")
            .field("opts", &self.opts)
            .field("clients", &self.clients())
            .field("seq", &self.seq())
            .finish_non_exhaustive()
    }
}

/// `{"type":"alert","seq":n,"alert":{...}}`.
fn alert_message(seq: u64, alert_json: &str) -> String {
    format!("{{\"type\":\"alert\",\"seq\":{seq},\"alert\":{alert_json}}}")
}

/// `{"type":"dropped","reason":"..."}`.
pub(crate) fn dropped_message(reason: &str) -> String {
    let reason = serde_json::to_string(reason).unwrap_or_else(|_| "\"\"".into());
    format!("{{\"type\":\"dropped\",\"reason\":{reason}}}")
}

impl Hub {
    /// A hub with these sizes.
    pub fn new(opts: HubOptions) -> Hub {
        Hub {
            opts,
            inner: Mutex::new(Inner::default()),
            feed: OnceLock::new(),
            clock: AtomicI64::new(0),
            dropped_clients: AtomicU64::new(0),
            seen_data: AtomicBool::new(false),
            closing: AtomicBool::new(false),
            finished: AtomicBool::new(false),
        }
    }

    /// Its options.
    pub fn options(&self) -> &HubOptions {
        &self.opts
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere while holding the lock leaves consistent data
        // (every update is a few assignments); keep serving it.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Attaches the live consumer's counters (once; later calls are
    /// ignored).
    pub fn set_feed(&self, info: FeedInfo) {
        let _ = self.feed.set(info);
    }

    /// The live consumer's counters, when live.
    pub fn feed(&self) -> Option<&FeedInfo> {
        self.feed.get()
    }

    /// The live engine queue's depth as the engine thread last set it
    /// (0 when not live).
    pub fn queue_depth(&self) -> usize {
        self.feed()
            .map_or(0, |f| Counters::get(&f.counters.queued) as usize)
    }

    /// Hooks this hub into a live run: it learns the feed's counters and
    /// queue size, watches the engine through a [`HubObserver`], takes
    /// every alert before `sink` does, and reports closing as soon as
    /// `shutdown` completes. Returns the sink and the shutdown the run
    /// should use.
    pub fn attach<F: Future<Output = ()>>(
        self: &Arc<Self>,
        opts: &mut crate::feed::RunOptions,
        queue_capacity: usize,
        sink: BoxSink,
        shutdown: F,
    ) -> (BoxSink, impl Future<Output = ()> + use<F>) {
        self.set_feed(FeedInfo {
            counters: opts.counters.clone(),
            queue_capacity,
        });
        opts.observer = Some(Box::new(HubObserver::new(self.clone())));
        let hub = self.clone();
        let shutdown = async move {
            shutdown.await;
            hub.set_closing();
        };
        (Box::new(Tee(HubSink(self.clone()), sink)), shutdown)
    }

    /// Clients connected now.
    pub fn clients(&self) -> usize {
        self.lock().clients.len()
    }

    /// Clients dropped for falling behind, since start.
    pub fn dropped_clients(&self) -> u64 {
        self.dropped_clients.load(Ordering::Relaxed)
    }

    /// The sequence number of the last alert (0 before the first).
    pub fn seq(&self) -> u64 {
        self.lock().seq
    }

    /// The latest published status.
    pub fn status(&self) -> Option<Arc<EngineStatus>> {
        self.lock().status.clone()
    }

    /// Whether the process is ready for the desk: the engine has seen data
    /// and the server is not shutting down; otherwise why not.
    pub fn ready(&self) -> Result<(), &'static str> {
        if self.closing.load(Ordering::Relaxed) {
            Err("shutting down")
        } else if !self.seen_data.load(Ordering::Relaxed) {
            Err("no market data seen yet")
        } else {
            Ok(())
        }
    }

    /// Says the engine has finished (a replay's end): the hub keeps
    /// serving the final state.
    pub fn set_finished(&self) {
        self.finished.store(true, Ordering::Relaxed);
    }

    /// Whether the engine has finished.
    pub fn finished(&self) -> bool {
        self.finished.load(Ordering::Relaxed)
    }

    /// Marks the hub as shutting down (`/readyz` says so) without
    /// disconnecting anyone yet.
    pub fn set_closing(&self) {
        self.closing.store(true, Ordering::Relaxed);
    }

    /// Shuts down: no new clients; every client is told to close.
    pub fn close(&self) {
        self.set_closing();
        let clients = {
            let mut g = self.lock();
            g.closed = true;
            std::mem::take(&mut g.clients)
        };
        for mut c in clients {
            if let Some(k) = c.kick.take() {
                let _ = k.send(Kick::Shutdown);
            }
        }
    }

    /// One alert from the engine: numbered, remembered, and queued to every
    /// client without waiting. Returns its sequence number.
    pub fn alert(&self, alert: &Alert) -> u64 {
        // Serialized outside the lock: the engine thread pays it once.
        let json: Arc<str> = Arc::from(alert.to_json());
        let mut g = self.lock();
        g.seq += 1;
        let seq = g.seq;
        if alert.state == State::Resolved {
            g.open.remove(&alert.incident);
        } else {
            g.open.insert(alert.incident.clone(), (seq, json.clone()));
        }
        while g.recent.len() >= self.opts.recent_alerts {
            g.recent.pop_front();
        }
        g.recent.push_back(json.clone());
        let msg = Utf8Bytes::from(alert_message(seq, &json));
        self.fan_out(&mut g, &msg);
        drop(g);
        self.clock.fetch_max(alert.at, Ordering::Relaxed);
        seq
    }

    /// Queues `msg` to every client; drops those whose queue is full.
    fn fan_out(&self, g: &mut Inner, msg: &Utf8Bytes) {
        let cap = self.opts.client_queue;
        g.clients.retain_mut(|c| match c.tx.try_send(msg.clone()) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.dropped_clients.fetch_add(1, Ordering::Relaxed);
                if let Some(k) = c.kick.take() {
                    let _ = k.send(Kick::Slow(format!(
                        "too slow: {cap} messages queued and not yet read"
                    )));
                }
                false
            }
            // Its connection ended; it unsubscribes itself too.
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        });
    }

    /// Stores `status` as the latest, samples its prices into the series
    /// (at most one per engine second), and pushes it to the clients when
    /// `push`.
    pub fn publish(&self, status: EngineStatus, push: bool) {
        let at = status.at_ns;
        if status.counts.frames > 0 {
            self.seen_data.store(true, Ordering::Relaxed);
        }
        let sec = at.div_euclid(SECOND);
        let ms = at.div_euclid(1_000_000);
        let status = Arc::new(status);
        let mut g = self.lock();
        for p in &status.prices {
            if !p.price.is_finite() {
                continue;
            }
            let s = g.series.entry((p.venue, p.symbol.clone())).or_default();
            if s.points.is_empty() || sec > s.last_sec {
                s.last_sec = sec;
                while s.points.len() >= self.opts.series_points {
                    s.points.pop_front();
                }
                s.points.push_back((ms, p.price));
            }
        }
        g.status = Some(status);
        g.status_json = None;
        if push && !g.clients.is_empty() {
            let json = status_json(&mut g);
            let msg = Utf8Bytes::from(format!("{{\"type\":\"status\",\"status\":{json}}}"));
            self.fan_out(&mut g, &msg);
        }
        drop(g);
        self.clock.fetch_max(at, Ordering::Relaxed);
    }

    /// The latest status as JSON (`null` before the first).
    pub fn status_json(&self) -> Arc<str> {
        status_json(&mut self.lock())
    }

    /// Registers a client: under one lock, its snapshot (every alert up to
    /// `seq`) and its queue (every alert after), so nothing is missed or
    /// repeated. `None` once the hub is closed.
    pub fn subscribe(&self) -> Option<Subscription> {
        let (tx, rx) = mpsc::channel(self.opts.client_queue);
        let (kick_tx, kick) = oneshot::channel();
        let mut g = self.lock();
        if g.closed {
            return None;
        }
        let snapshot = Utf8Bytes::from(self.snapshot(&mut g));
        g.next_id += 1;
        let id = g.next_id;
        g.clients.push(Client {
            id,
            tx,
            kick: Some(kick_tx),
        });
        Some(Subscription {
            id,
            snapshot,
            rx,
            kick,
        })
    }

    /// Forgets a client whose connection ended.
    pub fn unsubscribe(&self, id: u64) {
        self.lock().clients.retain(|c| c.id != id);
    }

    fn snapshot(&self, g: &mut Inner) -> String {
        let mut incidents: Vec<&(u64, Arc<str>)> = g.open.values().collect();
        incidents.sort_by_key(|(seq, _)| *seq);
        let size = g.recent.iter().map(|a| a.len() + 1).sum::<usize>()
            + incidents.iter().map(|(_, a)| a.len() + 1).sum::<usize>();
        let mut out = String::with_capacity(size + 4096);
        let at = format_rfc3339_ms(self.clock.load(Ordering::Relaxed));
        out.push_str(&format!(
            "{{\"type\":\"snapshot\",\"seq\":{},\"at\":\"{at}\",\"incidents\":[",
            g.seq
        ));
        push_list(&mut out, incidents.iter().map(|(_, a)| &**a));
        out.push_str("],\"recent\":[");
        push_list(&mut out, g.recent.iter().map(|a| &**a));
        out.push_str("],\"status\":");
        out.push_str(&status_json(g));
        out.push_str(",\"series\":[");
        for (i, ((venue, symbol), s)) in g.series.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let symbol = serde_json::to_string(symbol).unwrap_or_else(|_| "\"\"".into());
            out.push_str(&format!(
                "{{\"venue\":\"{venue}\",\"symbol\":{symbol},\"points\":["
            ));
            for (j, (ms, price)) in s.points.iter().enumerate() {
                if j > 0 {
                    out.push(',');
                }
                out.push_str(&format!("[{ms},{price}]"));
            }
            out.push_str("]}");
        }
        out.push_str("]}");
        out
    }
}

fn push_list<'a>(out: &mut String, items: impl Iterator<Item = &'a str>) {
    for (i, a) in items.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(a);
    }
}

fn status_json(g: &mut Inner) -> Arc<str> {
    if let Some(j) = &g.status_json {
        return j.clone();
    }
    let j: Arc<str> = match &g.status {
        None => Arc::from("null"),
        // Plain data always serializes; `null` rather than a panic if not.
        Some(s) => Arc::from(serde_json::to_string(&**s).unwrap_or_else(|_| "null".into())),
    };
    g.status_json = Some(j.clone());
    j
}

/// The hub as an alert sink: numbers and queues each alert to the clients
/// (never fails, never blocks).
pub struct HubSink(pub Arc<Hub>);

impl AlertSink for HubSink {
    fn send(&mut self, alert: &Alert, _flush: bool) -> std::io::Result<()> {
        self.0.alert(alert);
        Ok(())
    }
}

/// Feeds a hub from an engine (a replay's [`Observer`], or the live engine
/// thread): cheap when nothing is due (a clock compare), at most one status
/// per engine second, pushed to clients at most once per
/// `status_interval` of wall time.
pub struct HubObserver {
    hub: Arc<Hub>,
    next_sample: Nanos,
    next_push: Option<Instant>,
}

impl HubObserver {
    /// An observer feeding `hub`.
    pub fn new(hub: Arc<Hub>) -> HubObserver {
        HubObserver {
            hub,
            next_sample: Nanos::MIN,
            next_push: None,
        }
    }

    /// The hub it feeds.
    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }
}

impl Observer for HubObserver {
    fn observe(&mut self, engine: &Engine) {
        let now = engine.now();
        if now < self.next_sample {
            return;
        }
        self.next_sample = (now.div_euclid(SECOND) + 1).saturating_mul(SECOND);
        let wall = Instant::now();
        let push = self.next_push.is_none_or(|t| wall >= t);
        if push {
            self.next_push = Some(wall + self.hub.opts.status_interval);
        }
        self.hub.publish(engine.status(), push);
    }

    fn finish(&mut self, engine: &Engine) {
        self.hub.publish(engine.status(), true);
        self.hub.set_finished();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::{Cause, Evidence, Kind, Phase, Severity};
    use crate::model::Venue;

    /// A hand-made alert (not recorded data) for bookkeeping tests.
    fn alert(at_s: i64, incident: &str, state: State) -> Alert {
        Alert {
            at: at_s * SECOND,
            state,
            kind: Kind::FeedSilent,
            severity: Severity::Warning,
            venue: Venue::BinanceSpot,
            symbol: Some("BTC/USDT".into()),
            stream: Some("trade".into()),
            incident: incident.into(),
            phase: Phase::Open,
            cause: Cause::Unknown,
            group: None,
            summary: "test".into(),
            evidence: Evidence::new(),
        }
    }

    fn snapshot_of(hub: &Hub) -> (serde_json::Value, Subscription) {
        let sub = hub.subscribe().unwrap();
        let v: serde_json::Value = serde_json::from_str(sub.snapshot.as_str()).unwrap();
        (v, sub)
    }

    #[test]
    fn snapshot_holds_open_incidents_and_recent_alerts_then_the_queue_continues() {
        let hub = Hub::new(HubOptions {
            recent_alerts: 2,
            ..HubOptions::default()
        });
        hub.alert(&alert(1, "a", State::Open));
        hub.alert(&alert(2, "b", State::Open));
        hub.alert(&alert(3, "a", State::Resolved));
        let (v, mut sub) = snapshot_of(&hub);
        assert_eq!(v["seq"], 3);
        assert_eq!(v["at"], "1970-01-01T00:00:03.000Z");
        let inc = v["incidents"].as_array().unwrap();
        assert_eq!(inc.len(), 1);
        assert_eq!(inc[0]["incident"], "b");
        let recent = v["recent"].as_array().unwrap();
        assert_eq!(recent.len(), 2, "bounded ring");
        assert_eq!(recent[0]["incident"], "b");
        assert_eq!(recent[1]["state"], "resolved");
        assert!(v["status"].is_null());
        hub.alert(&alert(4, "c", State::Open));
        let m: serde_json::Value =
            serde_json::from_str(sub.rx.try_recv().unwrap().as_str()).unwrap();
        assert_eq!(m["type"], "alert");
        assert_eq!(m["seq"], 4);
        assert_eq!(m["alert"]["incident"], "c");
        assert!(sub.rx.try_recv().is_err());
    }

    #[test]
    fn a_full_queue_drops_that_client_only() {
        let hub = Hub::new(HubOptions {
            client_queue: 2,
            ..HubOptions::default()
        });
        let (_, mut slow) = snapshot_of(&hub);
        let (_, mut fast) = snapshot_of(&hub);
        let mut got = Vec::new();
        for i in 0..5 {
            hub.alert(&alert(i, "a", State::Update));
            while let Ok(m) = fast.rx.try_recv() {
                got.push(m);
            }
        }
        assert_eq!(got.len(), 5);
        assert_eq!(hub.dropped_clients(), 1);
        assert_eq!(hub.clients(), 1);
        match slow.kick.try_recv() {
            Ok(Kick::Slow(r)) => assert!(r.contains("2 messages"), "{r}"),
            other => panic!("{other:?}"),
        }
        hub.close();
        assert!(matches!(fast.kick.try_recv(), Ok(Kick::Shutdown)));
        assert!(hub.subscribe().is_none());
        assert_eq!(hub.ready(), Err("shutting down"));
    }

    #[test]
    fn dropped_message_escapes_its_reason() {
        let m = dropped_message("a \"b\"");
        let v: serde_json::Value = serde_json::from_str(&m).unwrap();
        assert_eq!(v["reason"], "a \"b\"");
    }
}
