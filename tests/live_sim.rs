//! The live consumer against the local exchange simulator, all on
//! 127.0.0.1 with ports chosen by the OS. The simulator serves slices of the
//! real spot BTC/USDT recording (fixtures/replay/, 2024-08-08); every fault
//! here is injected (by `feedwatch::inject` or the simulator's `--faults`),
//! never recorded. Every wait is bounded.

mod common;

use common::*;
use feedwatch::alert::Alert;
use feedwatch::config::Config;
use feedwatch::feed::{self, Counters, FeedSummary, RunOptions};
use feedwatch::fixture::RecordKind;
use feedwatch::inject::{self, Records};
use feedwatch::model::{Nanos, SECOND};
use feedwatch::replay::{Speed, replay};
use feedwatch::sim::{self, Faults, SimConfig, SimCounters};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A temporary folder unique to this process, removed when dropped (tests
/// of several checkouts may share one target folder).
struct Tmp(std::path::PathBuf);

impl Tmp {
    fn new(name: &str) -> Tmp {
        Tmp(temp_dir(&format!("{name}-{}", std::process::id())))
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Frames of the first `secs` seconds of the real spot recording (no REST
/// snapshot or connection records: the simulator serves frames only).
fn spot_slice(secs: i64) -> Records {
    let path = fixtures().join("replay/binance-spot-btcusdt-2024-08-08.fixture.zst");
    let all = read_records(&path);
    let t0 = all.iter().map(|r| r.recv_ns).min().unwrap();
    all.into_iter()
        .filter(|r| matches!(r.kind, RecordKind::Frame(_)) && r.recv_ns < t0 + secs * SECOND)
        .collect()
}

fn texts(records: &Records) -> Vec<String> {
    records
        .iter()
        .filter_map(|r| match &r.kind {
            RecordKind::Frame(t) => Some(t.to_string()),
            _ => None,
        })
        .collect()
}

struct Sim {
    addr: SocketAddr,
    counters: Arc<SimCounters>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

async fn start_sim(fixture: &Path, speed: Speed, faults: &str) -> Sim {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let counters = Arc::new(SimCounters::default());
    let (stop, rx) = oneshot::channel::<()>();
    let cfg = SimConfig::new(
        vec![fixture.to_path_buf()],
        speed,
        faults.parse::<Faults>().unwrap(),
    );
    let task = tokio::spawn(sim::serve(listener, cfg, counters.clone(), async {
        let _ = rx.await;
    }));
    Sim {
        addr,
        counters,
        stop: Some(stop),
        task,
    }
}

impl Sim {
    fn counters_fault_closes(&self) -> u64 {
        get(&self.counters.fault_closes)
    }

    async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .unwrap()
            .unwrap();
    }
}

/// The default config watching spot BTC/USDT on the simulator, with short
/// backoff and keep-alive so the tests stay quick.
fn feed_config(addr: SocketAddr) -> Config {
    let mut cfg = Config::default();
    cfg.feed.symbols = [("binance-spot".to_string(), vec!["BTC/USDT".to_string()])].into();
    cfg.feed.endpoints = [("binance-spot".to_string(), format!("ws://{addr}/stream"))].into();
    cfg.feed.backoff_initial_ms = 200;
    cfg.feed.backoff_max_ms = 400;
    cfg.feed.ping_interval_ms = 100;
    cfg.feed.ping_timeout_ms = 500;
    cfg.feed.connect_timeout_ms = 2000;
    cfg.validate().unwrap();
    cfg
}

struct Feed {
    counters: Arc<Counters>,
    alerts: Arc<Mutex<Vec<String>>>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<FeedSummary, feed::FeedError>>,
}

fn start_feed(cfg: Config, record: Option<PathBuf>) -> Feed {
    let counters = Arc::new(Counters::default());
    let alerts = Arc::new(Mutex::new(Vec::new()));
    let sink_alerts = alerts.clone();
    let sink: feed::AlertSink = Box::new(move |a: &Alert| {
        sink_alerts.lock().unwrap().push(a.to_json());
        Ok(())
    });
    let (stop, rx) = oneshot::channel::<()>();
    let opts = RunOptions {
        record_dir: record,
        counters: counters.clone(),
    };
    let task = tokio::spawn(feed::run_with(
        cfg,
        opts,
        async {
            let _ = rx.await;
        },
        sink,
    ));
    Feed {
        counters,
        alerts,
        stop: Some(stop),
        task,
    }
}

impl Feed {
    async fn stop(mut self) -> (FeedSummary, Vec<String>) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let summary = tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("feed shut down in time")
            .unwrap()
            .unwrap();
        let alerts = self.alerts.lock().unwrap().clone();
        (summary, alerts)
    }
}

/// Polls `cond` every 10 ms until it holds; fails after `limit`.
async fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn get(c: &AtomicU64) -> u64 {
    Counters::get(c)
}

/// All records of the recording files, in order.
fn recorded(files: &[PathBuf]) -> Records {
    let mut out = Vec::new();
    for f in files {
        assert!(f.extension().is_some_and(|e| e == "zst"), "{}", f.display());
        out.extend(read_records(f));
    }
    out
}

fn replay_alerts(files: &[PathBuf]) -> Vec<String> {
    let mut out = Vec::new();
    let mut sink = |a: &Alert, _flush: bool| -> std::io::Result<()> {
        out.push(a.to_json());
        Ok(())
    };
    replay(Config::default(), files, Speed::Max, &mut sink).unwrap();
    out
}

fn closes(records: &Records) -> Vec<(Nanos, String, String)> {
    records
        .iter()
        .filter_map(|r| match &r.kind {
            RecordKind::Close { reason } => {
                Some((r.recv_ns, r.conn.to_string(), reason.to_string()))
            }
            _ => None,
        })
        .collect()
}

fn opens(records: &Records) -> Vec<(Nanos, String)> {
    records
        .iter()
        .filter_map(|r| match &r.kind {
            RecordKind::Open { .. } => Some((r.recv_ns, r.conn.to_string())),
            _ => None,
        })
        .collect()
}

/// Streams with an opened `feed_silent` incident, as (symbol, stream).
fn silent_streams(alerts: &[String]) -> std::collections::BTreeSet<String> {
    alerts
        .iter()
        .filter(|a| a.contains("\"kind\":\"feed_silent\"") && a.contains("\"state\":\"open\""))
        .map(|a| {
            let stream = inject::string_field(a, "stream").unwrap_or("-").to_string();
            let symbol = inject::string_field(a, "symbol").unwrap_or("-").to_string();
            format!("{symbol} {stream}")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_frames_arrive_byte_for_byte_and_the_recording_replays_to_the_live_alerts() {
    let tmp_dir = Tmp::new("live_sim_e2e");
    let tmp = tmp_dir.0.clone();
    // 120 s of real frames with an injected 40 s silence of the whole
    // connection from +60 s, served at 20x: 6 s of wall time, 2 s silent.
    let mut slice = spot_slice(120);
    let t0 = first_ns(&slice);
    let inj = inject::silence(&mut slice, t0 + 60 * SECOND, 40 * SECOND);
    assert!(inj.touched > 1000, "silenced only {} frames", inj.touched);
    let source = tmp.join("source.fixture.zst");
    write_records(&slice, &source);
    let want = texts(&slice);
    let want_bytes: u64 = want.iter().map(|t| t.len() as u64).sum();

    let sim = start_sim(&source, Speed::Factor(20.0), "").await;
    let rec_dir = tmp.join("rec");
    let f = start_feed(feed_config(sim.addr), Some(rec_dir.clone()));
    let c = f.counters.clone();
    wait_for("every frame", Duration::from_secs(60), || {
        get(&c.frames) >= want.len() as u64
    })
    .await;
    let (summary, live) = f.stop().await;
    sim.stop().await;

    assert_eq!(get(&c.frames), want.len() as u64);
    assert_eq!(get(&c.frame_bytes), want_bytes);
    assert_eq!(summary.dropped, 0);
    assert_eq!(summary.engine.frames, want.len() as u64);
    assert_eq!(summary.opens, 1);
    let rec = recorded(&summary.recorded);
    assert_eq!(
        texts(&rec),
        want,
        "recorded frames differ from the served fixture"
    );
    assert!(matches!(
        rec.first().map(|r| &r.kind),
        Some(RecordKind::Open { .. })
    ));
    assert!(matches!(
        rec.last().map(|r| &r.kind),
        Some(RecordKind::Close { .. })
    ));
    assert!(rec.windows(2).all(|w| w[0].recv_ns < w[1].recv_ns));

    // The recording replays to exactly the alerts the live run raised.
    let replayed = replay_alerts(&summary.recorded);
    assert_eq!(replayed, live, "replay of the recording differs from live");
    // The injected silence was seen live, on the streams the source
    // fixture's own replay names (the pace differs, so times do not).
    let source_silent = silent_streams(&replay_alerts(&[source]));
    let live_silent = silent_streams(&live);
    assert!(!source_silent.is_empty());
    assert!(
        source_silent.is_subset(&live_silent),
        "source: {source_silent:?} live: {live_silent:?}"
    );
}

/// The "next try in X s" of a close reason.
fn next_try_s(reason: &str) -> f64 {
    let rest = reason.split("next try in ").nth(1).unwrap();
    rest.trim_end_matches(" s").parse().unwrap()
}

/// A small slice (the first 20 s, about 2,000 real frames) as a fixture.
fn small_source(tmp: &Path) -> (PathBuf, Vec<String>) {
    let slice = spot_slice(20);
    let path = tmp.join("source.fixture.zst");
    write_records(&slice, &path);
    (path, texts(&slice))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_simulator_closes_the_consumer_records_why_and_reconnects_within_its_backoff() {
    let tmp_dir = Tmp::new("live_sim_close");
    let tmp = tmp_dir.0.clone();
    let (source, want) = small_source(&tmp);
    // Injected: the first connection is closed by the server after 200 frames.
    let sim = start_sim(&source, Speed::Max, "close-after=200,conns=1").await;
    let cfg = feed_config(sim.addr);
    let bound_ms = cfg.feed.backoff_initial_ms;
    let f = start_feed(cfg, Some(tmp.join("rec")));
    let c = f.counters.clone();
    // The second connection gets the whole fixture again.
    wait_for("reconnect and all frames", Duration::from_secs(20), || {
        get(&c.opens) >= 2 && get(&c.frames) >= 200 + want.len() as u64
    })
    .await;
    let (summary, _) = f.stop().await;
    assert_eq!(sim.counters_fault_closes(), 1);
    sim.stop().await;

    let rec = recorded(&summary.recorded);
    let cl = closes(&rec);
    let op = opens(&rec);
    assert_eq!(op.len(), 2, "{op:?}");
    assert_eq!(cl.len(), 2, "{cl:?}");
    let (t_close, conn1, why) = &cl[0];
    assert_eq!(conn1, &op[0].1);
    assert_ne!(op[0].1, op[1].1, "a reconnect is a new connection id");
    assert!(why.contains("closed by server: 1001"), "{why}");
    assert!(why.contains("reconnect attempt 1"), "{why}");
    let planned = next_try_s(why);
    assert!(planned <= bound_ms as f64 / 1000.0, "{why}");
    // The reconnect came when planned (plus a local handshake).
    let gap = (op[1].0 - t_close) as f64 / 1e9;
    assert!(
        gap >= planned && gap < planned + 2.0,
        "gap {gap} s, planned {planned} s"
    );
    assert!(cl[1].2.contains("shutdown"), "{:?}", cl[1]);
    // Frames of the first connection: exactly the 200 served before the close.
    let first: Vec<String> = rec
        .iter()
        .filter(|r| r.conn == conn1.as_str())
        .filter_map(|r| match &r.kind {
            RecordKind::Frame(t) => Some(t.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(first.as_slice(), &want[..200]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_16_mib_frame_is_refused_without_harm_and_the_consumer_reconnects() {
    let tmp_dir = Tmp::new("live_sim_oversize");
    let tmp = tmp_dir.0.clone();
    let (source, want) = small_source(&tmp);
    // Injected: after 50 real frames, one 16 MiB text frame on the first connection.
    let sim = start_sim(&source, Speed::Max, "oversize-after=50,conns=1").await;
    let cfg = feed_config(sim.addr);
    assert!(cfg.feed.max_message_bytes < sim::faults::OVERSIZE_BYTES);
    let f = start_feed(cfg, Some(tmp.join("rec")));
    let c = f.counters.clone();
    wait_for("reconnect and all frames", Duration::from_secs(20), || {
        get(&c.opens) >= 2 && get(&c.frames) >= 50 + want.len() as u64
    })
    .await;
    let (summary, _) = f.stop().await;
    sim.stop().await;
    // The big frame never reached the engine or the recording.
    assert_eq!(summary.engine.frames, 50 + want.len() as u64);
    let rec = recorded(&summary.recorded);
    assert!(rec.iter().all(|r| match &r.kind {
        RecordKind::Frame(t) => t.len() < 1024 * 1024,
        _ => true,
    }));
    let cl = closes(&rec);
    assert!(cl[0].2.contains("too large"), "{:?}", cl[0]);
    assert!(cl[0].2.contains("reconnect attempt 1"), "{:?}", cl[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_frames_are_counted_never_fatal() {
    let tmp_dir = Tmp::new("live_sim_garbage");
    let tmp = tmp_dir.0.clone();
    let (source, want) = small_source(&tmp);
    // Injected: every 10th frame cut in half (invalid JSON).
    let sim = start_sim(&source, Speed::Max, "corrupt-every=10").await;
    let f = start_feed(feed_config(sim.addr), None);
    let c = f.counters.clone();
    wait_for("every frame", Duration::from_secs(20), || {
        get(&c.frames) >= want.len() as u64
    })
    .await;
    let (summary, _) = f.stop().await;
    sim.stop().await;
    let corrupted = want.len() as u64 / 10;
    assert!(corrupted > 100);
    assert_eq!(summary.engine.frames, want.len() as u64);
    assert_eq!(summary.engine.malformed, corrupted);
    assert_eq!(
        summary.opens, 1,
        "a garbage frame must not cost the connection"
    );
    assert!(summary.engine.events.values().sum::<u64>() > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_handshake_is_retried_no_sooner_than_retry_after() {
    let tmp_dir = Tmp::new("live_sim_429");
    let tmp = tmp_dir.0.clone();
    let (source, want) = small_source(&tmp);
    // Injected: the first handshake is answered 429 with Retry-After: 1.
    let sim = start_sim(&source, Speed::Max, "reject-429=1,retry-after=1").await;
    let started = std::time::Instant::now();
    let f = start_feed(feed_config(sim.addr), None);
    let c = f.counters.clone();
    wait_for("every frame", Duration::from_secs(20), || {
        get(&c.frames) >= want.len() as u64
    })
    .await;
    let waited = started.elapsed();
    let (summary, _) = f.stop().await;
    sim.stop().await;
    assert_eq!(get(&c.connect_failures), 1);
    assert_eq!(summary.opens, 1);
    // The backoff alone (<= 200 ms) would have retried sooner.
    assert!(waited >= Duration::from_secs(1), "{waited:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_open_socket_is_dropped_after_the_ping_timeout() {
    let tmp_dir = Tmp::new("live_sim_half_open");
    let tmp = tmp_dir.0.clone();
    let (source, want) = small_source(&tmp);
    // Injected: after 100 frames the first connection neither sends nor
    // answers pings, with the TCP connection left open.
    let sim = start_sim(&source, Speed::Max, "half-open-after=100,conns=1").await;
    let cfg = feed_config(sim.addr);
    let timeout_ms = cfg.feed.ping_timeout_ms;
    let f = start_feed(cfg, Some(tmp.join("rec")));
    let c = f.counters.clone();
    wait_for("reconnect and all frames", Duration::from_secs(20), || {
        get(&c.opens) >= 2 && get(&c.frames) >= 100 + want.len() as u64
    })
    .await;
    let (summary, _) = f.stop().await;
    sim.stop().await;
    let rec = recorded(&summary.recorded);
    let cl = closes(&rec);
    assert!(cl[0].2.contains("nothing received"), "{:?}", cl[0]);
    // Dropped after the timeout, not before.
    let last_frame = rec
        .iter()
        .filter(|r| r.conn == cl[0].1.as_str() && matches!(r.kind, RecordKind::Frame(_)))
        .map(|r| r.recv_ns)
        .max()
        .unwrap();
    let silent = (cl[0].0 - last_frame) as f64 / 1e6;
    assert!(silent >= timeout_ms as f64, "dropped after {silent} ms");
    assert!(
        silent < timeout_ms as f64 + 1000.0,
        "dropped after {silent} ms"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connections_are_retried_until_one_is_served() {
    let tmp_dir = Tmp::new("live_sim_refuse");
    let tmp = tmp_dir.0.clone();
    let (source, want) = small_source(&tmp);
    // Injected: the first two TCP connections are closed before the handshake.
    let sim = start_sim(&source, Speed::Max, "refuse-first=2").await;
    let f = start_feed(feed_config(sim.addr), None);
    let c = f.counters.clone();
    wait_for("every frame", Duration::from_secs(20), || {
        get(&c.frames) >= want.len() as u64
    })
    .await;
    let (summary, _) = f.stop().await;
    assert_eq!(get(&sim.counters.refused), 2);
    sim.stop().await;
    assert_eq!(get(&c.connect_failures), 2);
    assert_eq!(summary.opens, 1);
    assert_eq!(summary.engine.frames, want.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_feed_on_a_live_socket_alerts_without_reconnecting() {
    let tmp_dir = Tmp::new("live_sim_stall");
    let tmp = tmp_dir.0.clone();
    let (source, want) = small_source(&tmp);
    // Injected: after 1,500 frames nothing more is sent, but the server
    // keeps answering pings: the socket is alive, the data is not.
    let sim = start_sim(&source, Speed::Factor(20.0), "stall-after=1500").await;
    assert!(want.len() > 1500);
    let f = start_feed(feed_config(sim.addr), None);
    let alerts = f.alerts.clone();
    wait_for("a feed_silent alert", Duration::from_secs(20), || {
        !silent_streams(&alerts.lock().unwrap()).is_empty()
    })
    .await;
    let (summary, live) = f.stop().await;
    sim.stop().await;
    assert_eq!(summary.engine.frames, 1500);
    assert_eq!(summary.opens, 1, "pongs kept the connection: no reconnect");
    assert!(
        silent_streams(&live)
            .iter()
            .all(|s| s.starts_with("BTC/USDT")),
        "{live:?}"
    );
}
