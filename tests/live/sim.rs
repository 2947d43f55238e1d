//! The live consumer against the local exchange simulator, all on
//! 127.0.0.1 with ports chosen by the OS. The simulator serves slices of the
//! real spot BTC/USDT recording (fixtures/replay/, 2024-08-08); every fault
//! here is injected (by `feedwatch::scenario::inject` or the simulator's `--faults`),
//! never recorded. Every wait is bounded.

use crate::util::*;
use feedwatch::alert::Alert;
use feedwatch::config::Config;
use feedwatch::feed::{self, Counters, FeedSummary, RunOptions};
use feedwatch::model::{Nanos, SECOND};
use feedwatch::record::RecordKind;
use feedwatch::replay::{Input, Speed};
use feedwatch::scenario::inject::{self, Records};
use feedwatch::sim::{self, Faults, SimConfig, SimCounters};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

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

pub(crate) struct Sim {
    pub(crate) addr: SocketAddr,
    pub(crate) counters: Arc<SimCounters>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

async fn start_sim(fixture: &Path, speed: Speed, faults: &str) -> Sim {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    serve_sim(listener, fixture, speed, faults)
}

/// The simulator serving `fixture` on `listener`.
pub(crate) fn serve_sim(
    listener: tokio::net::TcpListener,
    fixture: &Path,
    speed: Speed,
    faults: &str,
) -> Sim {
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
        counter(&self.counters.fault_closes)
    }

    pub(crate) async fn stop(mut self) {
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
pub(crate) fn feed_config(addr: SocketAddr) -> Config {
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

pub(crate) struct Feed {
    pub(crate) counters: Arc<Counters>,
    pub(crate) alerts: Arc<Mutex<Vec<String>>>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<FeedSummary, feed::FeedError>>,
}

pub(crate) fn start_feed(cfg: Config, record: Option<PathBuf>) -> Feed {
    let counters = Arc::new(Counters::default());
    let alerts = Arc::new(Mutex::new(Vec::new()));
    let sink_alerts = alerts.clone();
    let sink: feedwatch::sink::BoxSink = Box::new(move |a: &Alert, _: bool| {
        sink_alerts.lock().unwrap().push(a.to_json());
        Ok(())
    });
    let (stop, rx) = oneshot::channel::<()>();
    let opts = RunOptions {
        record_dir: record,
        counters: counters.clone(),
        ..RunOptions::default()
    };
    let task = tokio::spawn(feed::run_with(
        cfg.detect(),
        cfg.feed,
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
    pub(crate) async fn stop(mut self) -> (FeedSummary, Vec<String>) {
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
pub(crate) async fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// All records of the recording files, in order.
pub(crate) fn recorded(files: &[PathBuf]) -> Records {
    let mut out = Vec::new();
    for f in files {
        assert!(f.extension().is_some_and(|e| e == "zst"), "{}", f.display());
        out.extend(read_records(f));
    }
    out
}

pub(crate) fn replay_json(files: &[PathBuf]) -> Vec<String> {
    let (alerts, _) = replay_alerts(&Input::Files(files.to_vec()));
    alerts.iter().map(Alert::to_json).collect()
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

/// Whether an alert line says its incident recovered: the move to
/// monitoring (at once), or the resolve.
pub(crate) fn recovered(a: &str) -> bool {
    a.contains("\"phase\":\"monitoring\"") || a.contains("\"state\":\"resolved\"")
}

/// What went stale, as (symbol, stream): streams with an opened
/// `feed_silent`, and venues with an opened `venue_outage` (`- -`, when
/// every stream of the venue went quiet together and the outage speaks for
/// them).
fn silent_streams(alerts: &[String]) -> std::collections::BTreeSet<String> {
    alerts
        .iter()
        .filter(|a| {
            (a.contains("\"kind\":\"feed_silent\"") || a.contains("\"kind\":\"venue_outage\""))
                && a.contains("\"state\":\"open\"")
        })
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
    // 120 s of real frames with an injected 25 s silence of the whole
    // connection from +60 s, served at 10x: 12 s of wall time, 2.5 s silent
    // (shorter than the 30 s after which a silence turns critical, an
    // absolute time the faster pace would shorten).
    let mut slice = spot_slice(120);
    let t0 = first_ns(&slice);
    let inj = inject::silence(&mut slice, t0 + 60 * SECOND, 25 * SECOND);
    assert!(inj.touched > 1000, "silenced only {} frames", inj.touched);
    let source = tmp.join("source.fixture.zst");
    write_records(&slice, &source);
    let want = texts(&slice);
    let want_bytes: u64 = want.iter().map(|t| t.len() as u64).sum();

    let sim = start_sim(&source, Speed::Factor(10.0), "").await;
    let rec_dir = tmp.join("rec");
    let f = start_feed(feed_config(sim.addr), Some(rec_dir.clone()));
    let c = f.counters.clone();
    wait_for("every frame", Duration::from_secs(60), || {
        counter(&c.frames) >= want.len() as u64
    })
    .await;
    let (summary, live) = f.stop().await;
    sim.stop().await;

    assert_eq!(counter(&c.frames), want.len() as u64);
    assert_eq!(counter(&c.frame_bytes), want_bytes);
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
    let replayed = replay_json(&summary.recorded);
    assert_eq!(replayed, live, "replay of the recording differs from live");
    // The injected silence was seen live, on the streams the source
    // fixture's own replay names (the pace differs, so times do not).
    let source_alerts = replay_json(&[source]);
    let source_silent = silent_streams(&source_alerts);
    let live_silent = silent_streams(&live);
    assert!(!source_silent.is_empty());
    assert_eq!(source_silent, live_silent);
    // And the same incidents: each kind on each stream, opened and resolved
    // the same number of times. An outage earns critical after
    // `outage.critical_after_s` of source time, which the 10x pace shortens
    // (25 s recorded, 2.5 s live): that one update is left out of both.
    assert_eq!(
        incident_shape(&without_held_escalation(&source_alerts)),
        incident_shape(&without_held_escalation(&live))
    );
}

/// Alerts without their times and numbers: (kind, state, venue, symbol,
/// stream), counted.
fn incident_shape(alerts: &[String]) -> std::collections::BTreeMap<String, usize> {
    let mut out = std::collections::BTreeMap::new();
    for a in alerts {
        let f = |k| inject::string_field(a, k).unwrap_or("-").to_string();
        let key = format!(
            "{} {} {} {} {}",
            f("kind"),
            f("state"),
            f("venue"),
            f("symbol"),
            f("stream")
        );
        *out.entry(key).or_insert(0) += 1;
    }
    out
}

/// The alerts less the updates that escalate an outage for having lasted.
fn without_held_escalation(alerts: &[String]) -> Vec<String> {
    alerts
        .iter()
        .filter(|a| !(a.contains("\"state\":\"update\"") && a.contains("\"escalated\":\"held\"")))
        .cloned()
        .collect()
}

/// `feed_silent` and `venue_outage` lines.
fn stale_alerts(alerts: &[String]) -> Vec<&String> {
    let mut v = alerts_of(alerts, "feed_silent");
    v.extend(alerts_of(alerts, "venue_outage"));
    v
}

/// The "next try in X s" of a close reason.
fn next_try_s(reason: &str) -> f64 {
    let rest = reason.split("next try in ").nth(1).unwrap();
    rest.trim_end_matches(" s").parse().unwrap()
}

/// A small slice (the first 20 s, about 2,000 real frames) as a fixture.
pub(crate) fn small_source(tmp: &Path) -> (PathBuf, Vec<String>) {
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
        counter(&c.opens) >= 2 && counter(&c.frames) >= 200 + want.len() as u64
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
        counter(&c.opens) >= 2 && counter(&c.frames) >= 50 + want.len() as u64
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
        counter(&c.frames) >= want.len() as u64
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
        counter(&c.frames) >= want.len() as u64
    })
    .await;
    let waited = started.elapsed();
    let (summary, _) = f.stop().await;
    sim.stop().await;
    assert_eq!(counter(&c.connect_failures), 1);
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
        counter(&c.opens) >= 2 && counter(&c.frames) >= 100 + want.len() as u64
    })
    .await;
    let (summary, live) = f.stop().await;
    sim.stop().await;
    let rec = recorded(&summary.recorded);
    let cl = closes(&rec);
    assert!(cl[0].2.contains("nothing received"), "{:?}", cl[0]);
    // The drop was a lost connection, resolved by the next session's data.
    let lost = alerts_of(&live, "connection_lost");
    assert_eq!(lost.len(), 2, "{live:?}");
    assert!(lost[0].contains("\"state\":\"open\"") && lost[0].contains("half-open"));
    assert!(recovered(lost[1]), "{}", lost[1]);
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
        counter(&c.frames) >= want.len() as u64
    })
    .await;
    let (summary, _) = f.stop().await;
    assert_eq!(counter(&sim.counters.refused), 2);
    sim.stop().await;
    assert_eq!(counter(&c.connect_failures), 2);
    assert_eq!(summary.opens, 1);
    assert_eq!(summary.engine.frames, want.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_feed_on_a_live_socket_alerts_then_is_resubscribed() {
    let tmp_dir = Tmp::new("live_sim_stall");
    let tmp = tmp_dir.0.clone();
    // 120 s of the recording at 10x: the market goes on while the first
    // session is stalled, and the second joins it where it is.
    let slice = spot_slice(120);
    let source = tmp.join("source.fixture.zst");
    write_records(&slice, &source);
    let want = texts(&slice);
    // Injected: after 1,500 frames the first connection sends nothing more,
    // but the server keeps answering pings: the socket is alive, the data
    // is not.
    let sim = start_sim(&source, Speed::Factor(10.0), "stall-after=1500,conns=1").await;
    assert!(want.len() > 1500);
    let mut cfg = feed_config(sim.addr);
    cfg.feed.data_timeout_ms = 3000;
    cfg.validate().unwrap();
    let f = start_feed(cfg, Some(tmp.join("rec")));
    let alerts = f.alerts.clone();
    let c = f.counters.clone();
    wait_for("a staleness alert", Duration::from_secs(20), || {
        !silent_streams(&alerts.lock().unwrap()).is_empty()
    })
    .await;
    // The silence is raised while the first socket still answers pings;
    // the stalled stream is then resubscribed and the silence resolves.
    assert_eq!(
        counter(&c.opens),
        1,
        "pongs kept the socket: no reconnect yet"
    );
    wait_for("reconnect and resolution", Duration::from_secs(20), || {
        let a = alerts.lock().unwrap();
        counter(&c.opens) >= 2 && stale_alerts(&a).iter().any(|x| recovered(x))
    })
    .await;
    let (summary, live) = f.stop().await;
    sim.stop().await;
    let rec = recorded(&summary.recorded);
    let first: Vec<_> = rec
        .iter()
        .filter(|r| r.conn == opens(&rec)[0].1.as_str() && matches!(r.kind, RecordKind::Frame(_)))
        .collect();
    assert_eq!(first.len(), 1500);
    let cl = closes(&rec);
    assert!(cl[0].2.contains("stalled stream"), "{:?}", cl[0]);
    assert!(
        silent_streams(&live)
            .iter()
            .all(|s| s.starts_with("BTC/USDT") || s == "- -"),
        "{live:?}"
    );
    let stale = stale_alerts(&live);
    let opened = stale
        .iter()
        .filter(|x| x.contains("\"state\":\"open\""))
        .count();
    let back = stale.iter().filter(|x| recovered(x)).count();
    assert!(opened >= 1 && back >= 1, "{live:?}");
    // The reconnect is a lost connection; when every stream of the venue
    // went quiet, the venue outage speaks for it and it is muted.
    let lost = alerts_of(&live, "connection_lost");
    let outage = !alerts_of(&live, "venue_outage").is_empty();
    assert_eq!(lost.len(), if outage { 0 } else { 2 }, "{live:?}");
}

/// The first `secs` seconds of the real spot recording with its recorded
/// REST depth snapshot (served by the simulator's REST side).
fn spot_slice_with_snapshot(secs: i64) -> Records {
    let path = fixtures().join("replay/binance-spot-btcusdt-2024-08-08.fixture.zst");
    let all = read_records(&path);
    let t0 = all.iter().map(|r| r.recv_ns).min().unwrap();
    all.into_iter()
        .filter(|r| {
            matches!(r.kind, RecordKind::Frame(_) | RecordKind::Rest { .. })
                && r.recv_ns < t0 + secs * SECOND
        })
        .collect()
}

pub(crate) fn alerts_of<'a>(alerts: &'a [String], kind: &str) -> Vec<&'a String> {
    let k = format!("\"kind\":\"{kind}\"");
    alerts.iter().filter(|a| a.contains(&k)).collect()
}

/// Replays recording files through one engine, returning it and its alerts.
fn replay_engine(files: &[PathBuf]) -> (feedwatch::engine::Engine, Vec<String>) {
    let (engine, out) = drive(&recorded(files));
    (engine, out.iter().map(Alert::to_json).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn books_sync_from_a_rest_snapshot_and_resync_after_a_lost_connection() {
    let tmp_dir = Tmp::new("live_sim_books");
    let tmp = tmp_dir.0.clone();
    let slice = spot_slice_with_snapshot(30);
    let snapshots = slice
        .iter()
        .filter(|r| matches!(r.kind, RecordKind::Rest { .. }))
        .count();
    assert_eq!(snapshots, 1, "the recording has one REST snapshot");
    let source = tmp.join("source.fixture.zst");
    write_records(&slice, &source);
    let frames = texts(&slice).len() as u64;
    // Injected: the first connection is closed by the server after 1,000
    // frames. The second session joins the market where it is by then, so
    // its snapshot is the recorded one brought up to that moment.
    let sim = start_sim(&source, Speed::Factor(10.0), "close-after=1000,conns=1").await;
    let f = start_feed(feed_config(sim.addr), Some(tmp.join("rec")));
    let c = f.counters.clone();
    wait_for(
        "two sessions, two snapshots",
        Duration::from_secs(30),
        || counter(&c.opens) >= 2 && counter(&c.rest_fetched) >= 2,
    )
    .await;
    // Then until the fixture is served out (30 s at 10x) and quiet.
    let mut last = 0;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = counter(&c.frames);
        if now == last && now > 1000 {
            break;
        }
        last = now;
    }
    let served = counter(&sim.counters.frames_sent);
    assert_eq!(counter(&c.frames), served);
    assert!(
        served < 1000 + frames,
        "the second session joined mid-way: {served}"
    );
    assert!(served > frames / 2, "{served} of {frames}");
    let (summary, live) = f.stop().await;
    sim.stop().await;
    assert_eq!(counter(&c.rest_failed), 0);
    assert_eq!(summary.dropped, 0);

    // One snapshot per session, each recorded on its own connection.
    let rec = recorded(&summary.recorded);
    let rests: Vec<(String, String)> = rec
        .iter()
        .filter_map(|r| match &r.kind {
            RecordKind::Rest { request, .. } => Some((r.conn.to_string(), request.to_string())),
            _ => None,
        })
        .collect();
    let op = opens(&rec);
    assert_eq!(op.len(), 2, "{op:?}");
    assert_eq!(rests.len(), 2, "{rests:?}");
    assert_eq!(rests[0].0, op[0].1);
    assert_eq!(rests[1].0, op[1].1);
    assert_eq!(rests[0].1, "/api/v3/depth?symbol=BTCUSDT&limit=1000");

    // The lost connection was an incident, resolved by the next session's
    // data; the books were in sync both times, no gap was reported.
    let lost = alerts_of(&live, "connection_lost");
    assert_eq!(lost.len(), 2, "{lost:?}");
    assert!(lost[0].contains("\"state\":\"open\"") && lost[0].contains("closed by server: 1001"));
    assert!(recovered(lost[1]), "{}", lost[1]);
    assert!(alerts_of(&live, "book_gap").is_empty(), "{live:?}");
    assert_eq!(summary.engine.events.get("snapshot"), Some(&2));

    // The recording replays to the same alerts, and the book ends in sync.
    let (engine, replayed) = replay_engine(&summary.recorded);
    assert_eq!(replayed, live);
    assert_eq!(
        engine.book_synced(feedwatch::model::Venue::BinanceSpot, "BTC/USDT"),
        Some(true)
    );
    assert!(engine.conn_slots() <= 2, "{}", engine.conn_slots());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnect_storm_never_exceeds_the_connect_rate() {
    let tmp_dir = Tmp::new("live_sim_storm");
    let tmp = tmp_dir.0.clone();
    let (source, want) = small_source(&tmp);
    // Injected: the first 50 TCP connections are closed before the handshake.
    let sim = start_sim(&source, Speed::Max, "refuse-first=50").await;
    let mut cfg = feed_config(sim.addr);
    // Backoff alone would allow hundreds of attempts a second here: only
    // the connect rate holds the storm back.
    cfg.feed.backoff_initial_ms = 1;
    cfg.feed.backoff_max_ms = 5;
    cfg.feed.connects_per_s = 20.0;
    cfg.feed.connect_burst = 5;
    cfg.validate().unwrap();
    let started = std::time::Instant::now();
    let f = start_feed(cfg, None);
    let c = f.counters.clone();
    // Sample the simulator's accepted connections every 5 ms.
    let mut samples: Vec<(f64, u64)> = Vec::new();
    let deadline = started + Duration::from_secs(20);
    while counter(&c.frames) < want.len() as u64 {
        assert!(
            std::time::Instant::now() < deadline,
            "no data after the storm"
        );
        samples.push((
            started.elapsed().as_secs_f64(),
            counter(&sim.counters.accepted),
        ));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (summary, _) = f.stop().await;
    assert_eq!(counter(&sim.counters.refused), 50);
    sim.stop().await;
    assert_eq!(summary.opens, 1);
    assert_eq!(counter(&c.connect_failures), 50);
    // In any window, at most the burst plus the rate times its length
    // (plus one for sampling at the window's edges).
    for (i, &(t1, n1)) in samples.iter().enumerate() {
        for &(t2, n2) in &samples[i..] {
            let allowed = 5.0 + 20.0 * (t2 - t1) + 1.0;
            assert!(
                (n2 - n1) as f64 <= allowed,
                "{} connects in {:.3} s (allowed {allowed:.1})",
                n2 - n1,
                t2 - t1
            );
        }
    }
    // 51 connects at 20/s after a burst of 5 take at least 2.3 s.
    let took = samples.last().unwrap().0;
    assert!(took >= 2.2, "storm over in {took:.2} s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aging_connection_is_replaced_before_it_is_closed() {
    let tmp_dir = Tmp::new("live_sim_replace");
    let tmp = tmp_dir.0.clone();
    let slice = spot_slice_with_snapshot(30);
    let source = tmp.join("source.fixture.zst");
    write_records(&slice, &source);
    let sim = start_sim(&source, Speed::Factor(10.0), "").await;
    let mut cfg = feed_config(sim.addr);
    // Binance closes connections at 24 h; replacing 86,398 s before that
    // replaces every 2 s here.
    cfg.feed.replace_before_s = 86_398;
    cfg.validate().unwrap();
    let f = start_feed(cfg, Some(tmp.join("rec")));
    let c = f.counters.clone();
    wait_for("a replacement with data", Duration::from_secs(20), || {
        counter(&c.opens) >= 2 && counter(&c.rest_fetched) >= 2
    })
    .await;
    let (summary, live) = f.stop().await;
    sim.stop().await;
    let rec = recorded(&summary.recorded);
    let op = opens(&rec);
    let cl = closes(&rec);
    assert!(op.len() >= 2, "{op:?}");
    // The replacement was open before the old one was closed, and the close
    // says why; nothing was lost, so nothing was alerted.
    let (t_close1, conn1, why) = cl.iter().find(|c| c.1 == op[0].1).unwrap();
    assert!(
        op[1].0 < *t_close1,
        "opened {} closed {}",
        op[1].0,
        t_close1
    );
    assert!(why.starts_with("closed by feedwatch: replaced by"), "{why}");
    assert_eq!(
        conn1.rsplit_once('#').unwrap().0,
        op[1].1.rsplit_once('#').unwrap().0
    );
    assert!(alerts_of(&live, "connection_lost").is_empty(), "{live:?}");
    assert!(alerts_of(&live, "book_gap").is_empty(), "{live:?}");
    let on_second = rec
        .iter()
        .filter(|r| r.conn == op[1].1.as_str() && matches!(r.kind, RecordKind::Frame(_)))
        .count();
    assert!(on_second > 0);
}
