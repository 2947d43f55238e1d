//! The desk server end to end, on 127.0.0.1 with ephemeral ports: real
//! scenario replays (fixtures/scenarios/aws-spot-outage.toml, faults
//! injected by code into the real 2024-08-08 Binance recordings) feed a
//! hub; desk clients, `/status` and `/metrics` are checked against what the
//! replay itself emitted and what the engine says.

use crate::util::{aws_outage, json};
use feedwatch::alert::Alert;
use feedwatch::detect::DetectConfig;
use feedwatch::engine::Engine;
use feedwatch::engine::EngineStatus;
use feedwatch::engine::Observer;
use feedwatch::replay::{Input, Options, Speed, Summary, replay_input};
use feedwatch::serve::{Hub, HubObserver, HubOptions, Server, ServerOptions};
use futures::StreamExt;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, mpsc as std_mpsc};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

/// Guard against a hang (never a measurement): a broken server fails the
/// test instead of blocking it.
const GUARD: Duration = Duration::from_secs(60);

fn scenario() -> Input {
    Input::Scenario(aws_outage())
}

async fn start(hub: &Arc<Hub>, token: Option<&str>) -> Server {
    start_with(hub, token, None).await
}

async fn start_with(hub: &Arc<Hub>, token: Option<&str>, send_buffer: Option<usize>) -> Server {
    let opts = ServerOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        token: token.map(String::from),
        sources: Vec::new(),
        send_buffer,
    };
    Server::start(hub.clone(), opts).await.unwrap()
}

/// An observer that feeds the hub, optionally pauses the replay once at an
/// engine time (until the test says go), and records the engine's own
/// status at the end.
struct TestObserver {
    inner: HubObserver,
    pause_at: Option<i64>,
    first: Option<i64>,
    paused: Option<(std_mpsc::Sender<()>, std_mpsc::Receiver<()>)>,
    last: Arc<Mutex<Option<EngineStatus>>>,
}

impl Observer for TestObserver {
    fn observe(&mut self, engine: &Engine) {
        self.inner.observe(engine);
        let now = engine.now();
        let first = *self.first.get_or_insert(now);
        if let Some(after) = self.pause_at
            && now - first >= after
        {
            self.pause_at = None;
            if let Some((reached, go)) = self.paused.take() {
                reached.send(()).unwrap();
                go.recv().unwrap();
            }
        }
    }

    fn finish(&mut self, engine: &Engine) {
        self.inner.finish(engine);
        *self.last.lock().unwrap() = Some(engine.status());
    }
}

struct Run {
    alerts: Vec<Value>,
    summary: Summary,
    last_status: Option<EngineStatus>,
}

/// Replays the scenario on a blocking thread: alerts to the hub and to a
/// list (the replay's own record of what it emitted).
fn replay(
    hub: Arc<Hub>,
    speed: Speed,
    pause: Option<(i64, std_mpsc::Sender<()>, std_mpsc::Receiver<()>)>,
) -> tokio::task::JoinHandle<Run> {
    tokio::task::spawn_blocking(move || {
        let last = Arc::new(Mutex::new(None));
        let (pause_at, paused) = match pause {
            Some((at, reached, go)) => (Some(at), Some((reached, go))),
            None => (None, None),
        };
        let mut obs = TestObserver {
            inner: HubObserver::new(hub.clone()),
            pause_at,
            first: None,
            paused,
            last: last.clone(),
        };
        let mut alerts = Vec::new();
        let mut sink = |a: &Alert, _: bool| {
            hub.alert(a);
            alerts.push(json(a));
            Ok(())
        };
        let opts = Options {
            speed: Some(speed),
            progress: false,
            observer: Some(&mut obs),
        };
        let summary = replay_input(DetectConfig::default(), &scenario(), opts, &mut sink).unwrap();
        let last_status = last.lock().unwrap().take();
        Run {
            alerts,
            summary,
            last_status,
        }
    })
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(addr: SocketAddr, query: &str) -> Ws {
    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws{query}"))
        .await
        .unwrap();
    ws
}

/// The next text message as JSON; `None` at a close or the end.
async fn next_json<S>(ws: &mut S) -> Option<Value>
where
    S: futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        match tokio::time::timeout(GUARD, ws.next())
            .await
            .expect("server hung")
        {
            Some(Ok(Message::Text(t))) => return Some(serde_json::from_str(t.as_str()).unwrap()),
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(_)) => continue,
        }
    }
}

/// Reads until the alert with sequence `last` (checking contiguity from
/// `seq`); returns the alerts and how many status messages came.
async fn alerts_until<S>(ws: &mut S, mut seq: u64, last: u64) -> (Vec<Value>, usize)
where
    S: futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let mut got = Vec::new();
    let mut statuses = 0;
    while seq < last {
        let m = next_json(ws)
            .await
            .expect("feed ended before the last alert");
        match m["type"].as_str().unwrap() {
            "alert" => {
                seq += 1;
                assert_eq!(m["seq"], seq, "sequence numbers are contiguous");
                got.push(m["alert"].clone());
            }
            "status" => {
                assert!(m["status"]["streams"].is_array());
                statuses += 1;
            }
            other => panic!("unexpected message type {other}: {m}"),
        }
    }
    (got, statuses)
}

/// What a snapshot at `seq` must hold, computed from the replay's own list:
/// the latest alert of each incident not yet resolved (oldest latest
/// first), and the last `recent` alerts.
fn expected_snapshot(alerts: &[Value], recent: usize) -> (Vec<Value>, Vec<Value>) {
    let mut open: HashMap<String, (usize, Value)> = HashMap::new();
    for (i, a) in alerts.iter().enumerate() {
        let id = a["incident"].as_str().unwrap().to_string();
        if a["state"] == "resolved" {
            open.remove(&id);
        } else {
            open.insert(id, (i, a.clone()));
        }
    }
    let mut open: Vec<(usize, Value)> = open.into_values().collect();
    open.sort_by_key(|(i, _)| *i);
    let from = alerts.len().saturating_sub(recent);
    (
        open.into_iter().map(|(_, a)| a).collect(),
        alerts[from..].to_vec(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_joining_mid_replay_gets_the_snapshot_then_every_alert_once_in_order() {
    let hub = Arc::new(Hub::new(HubOptions::default()));
    let server = start(&hub, None).await;
    let (reached_tx, reached) = std_mpsc::channel();
    let (go, go_rx) = std_mpsc::channel();
    // Paused at 150 s: inside the injected 60 s spot silence (from 120 s).
    let job = replay(
        hub.clone(),
        Speed::Max,
        Some((150_000_000_000, reached_tx, go_rx)),
    );
    tokio::task::spawn_blocking(move || reached.recv().unwrap())
        .await
        .unwrap();
    let mut ws = connect(server.addr(), "").await;
    let snap = next_json(&mut ws).await.unwrap();
    go.send(()).unwrap();
    let run = job.await.unwrap();
    assert_eq!(snap["type"], "snapshot");
    let seq = snap["seq"].as_u64().unwrap();
    let total = run.alerts.len() as u64;
    assert!(
        seq > 0 && seq < total,
        "paused mid-incident: {seq} of {total}"
    );
    let (incidents, recent) = expected_snapshot(&run.alerts[..seq as usize], 500);
    assert!(!incidents.is_empty(), "the outage is open at 150 s");
    assert_eq!(snap["incidents"].as_array().unwrap(), &incidents);
    assert_eq!(snap["recent"].as_array().unwrap(), &recent);
    assert!(
        snap["incidents"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["kind"] == "venue_outage" && a["venue"] == "binance-spot"),
        "{}",
        snap["incidents"]
    );
    // The engine clock at the pause, and the status and prices so far.
    let at = snap["at"].as_str().unwrap();
    assert!(at.starts_with("2024-08-08T"), "{at}");
    assert!(snap["status"]["streams"].as_array().unwrap().len() >= 3);
    let series = snap["series"].as_array().unwrap();
    assert!(!series.is_empty());
    for s in series {
        let pts = s["points"].as_array().unwrap();
        assert!(pts.len() > 100, "one sample per engine second for 150 s");
        let secs: Vec<i64> = pts.iter().map(|p| p[0].as_i64().unwrap() / 1000).collect();
        assert!(secs.windows(2).all(|w| w[1] > w[0]), "{secs:?}");
    }
    let (after, mut statuses) = alerts_until(&mut ws, seq, total).await;
    assert_eq!(after, run.alerts[seq as usize..]);
    assert_eq!(hub.seq(), total);
    server.stop().await.unwrap();
    // Only statuses may still be queued (the replay has finished, so its
    // final status, published after its last alert, is among them); then
    // the server says goodbye (a close frame: the stream ends instead of
    // hanging).
    while let Some(m) = next_json(&mut ws).await {
        assert_eq!(m["type"], "status", "{m}");
        statuses += 1;
    }
    assert!(statuses >= 1, "the final status is pushed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_dropped_and_the_others_get_everything() {
    // Tiny queues and a status every engine second: the silent client
    // falls behind within the run; the reading one keeps up.
    let hub = Arc::new(Hub::new(HubOptions {
        client_queue: 32,
        status_interval: Duration::ZERO,
        ..HubOptions::default()
    }));
    // Small kernel buffers on both ends, so that the queue, not the
    // kernel, is what the silent client can fall behind by.
    let server = start_with(&hub, None, Some(4096)).await;
    let addr = server.addr();
    // The silent client: a small receive buffer so the kernel cannot
    // absorb the feed for it.
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let stream = sock.connect(addr).await.unwrap();
    let (mut silent, _) = tokio_tungstenite::client_async(format!("ws://{addr}/ws"), stream)
        .await
        .unwrap();
    let mut reader = connect(addr, "").await;
    let reading = tokio::spawn(async move {
        let snap = next_json(&mut reader).await.unwrap();
        assert_eq!(snap["type"], "snapshot");
        let mut msgs = Vec::new();
        while let Some(m) = next_json(&mut reader).await {
            msgs.push(m);
        }
        (snap, msgs)
    });
    // Wait (bounded) until both are registered before the replay starts.
    tokio::time::timeout(GUARD, async {
        while hub.clients() < 2 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap();
    let job = replay(hub.clone(), Speed::Factor(100.0), None);
    // As soon as it is dropped, read what the silent client was sent.
    tokio::time::timeout(GUARD, async {
        while hub.dropped_clients() == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the silent client was never dropped");
    let snap = next_json(&mut silent).await.unwrap();
    assert_eq!(snap["type"], "snapshot");
    let mut seq = snap["seq"].as_u64().unwrap();
    let mut last = None;
    while let Some(m) = next_json(&mut silent).await {
        if m["type"] == "alert" {
            seq += 1;
            assert_eq!(m["seq"], seq);
        }
        last = Some(m);
    }
    let last = last.unwrap();
    assert_eq!(last["type"], "dropped", "{last}");
    assert!(last["reason"].as_str().unwrap().contains("32"), "{last}");
    // The replay was never held up; it finishes.
    let run = tokio::time::timeout(GUARD, job).await.unwrap().unwrap();
    server.stop().await.unwrap();
    let (snap, msgs) = reading.await.unwrap();
    assert_eq!(snap["seq"], 0);
    let alerts: Vec<Value> = msgs
        .iter()
        .filter(|m| m["type"] == "alert")
        .enumerate()
        .map(|(i, m)| {
            assert_eq!(m["seq"], i as u64 + 1);
            m["alert"].clone()
        })
        .collect();
    assert!(!run.alerts.is_empty());
    assert_eq!(alerts, run.alerts);
    assert!(msgs.iter().all(|m| m["type"] != "dropped"));
    let statuses = msgs.iter().filter(|m| m["type"] == "status").count();
    assert!(statuses > 100, "a status per engine second: {statuses}");
    assert_eq!(hub.dropped_clients(), 1);
}

/// A minimal HTTP/1.1 GET: status, headers (lowercase names), body.
async fn get(
    addr: SocketAddr,
    path: &str,
    auth: Option<&str>,
) -> (u16, HashMap<String, String>, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let auth = auth.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{auth}\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(GUARD, s.read_to_end(&mut raw))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let code: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
        .collect();
    let body = if headers
        .get("transfer-encoding")
        .is_some_and(|v| v == "chunked")
    {
        let mut out = String::new();
        let mut rest = body;
        loop {
            let (size, tail) = rest.split_once("\r\n").unwrap();
            let n = usize::from_str_radix(size.trim(), 16).unwrap();
            if n == 0 {
                break;
            }
            out.push_str(&tail[..n]);
            rest = &tail[n + 2..];
        }
        out
    } else {
        body.to_string()
    };
    (code, headers, body)
}

/// One sample of the exposition format.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

fn is_metric_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_' || f == ':')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_' || x == ':')
}

fn is_label_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
}

/// A strict parser of the text format 0.0.4 as the server must write it:
/// every sample's family has a TYPE line before it, names and label names
/// are valid, label values are quoted with only `\\`, `\"` and `\n`
/// escapes, values parse as floats, no sample repeats.
fn parse_prometheus(text: &str) -> (HashMap<String, String>, Vec<Sample>) {
    let mut types: HashMap<String, String> = HashMap::new();
    let mut samples = Vec::new();
    let mut seen = HashSet::new();
    for (no, line) in text.lines().enumerate() {
        let at = |why: &str| format!("line {}: {why}: {line}", no + 1);
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest
                .split_once(' ')
                .unwrap_or_else(|| panic!("{}", at("TYPE")));
            assert!(is_metric_name(name), "{}", at("name"));
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "{}",
                at("type")
            );
            assert!(
                types.insert(name.into(), kind.into()).is_none(),
                "{}",
                at("second TYPE")
            );
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, _) = rest.split_once(' ').unwrap_or((rest, ""));
            assert!(is_metric_name(name), "{}", at("HELP name"));
            continue;
        }
        assert!(
            !line.starts_with('#') || line.starts_with("# "),
            "{}",
            at("comment")
        );
        if line.starts_with('#') {
            continue;
        }
        let end = line
            .find(['{', ' '])
            .unwrap_or_else(|| panic!("{}", at("no value")));
        let name = &line[..end];
        assert!(is_metric_name(name), "{}", at("name"));
        let mut labels = BTreeMap::new();
        let mut rest = &line[end..];
        if let Some(r) = rest.strip_prefix('{') {
            let mut chars = r.char_indices().peekable();
            let consumed: usize;
            loop {
                // label name
                let start = chars.peek().map(|(i, _)| *i).unwrap();
                let mut eq = None;
                for (i, c) in chars.by_ref() {
                    if c == '=' {
                        eq = Some(i);
                        break;
                    }
                }
                let eq = eq.unwrap_or_else(|| panic!("{}", at("label without =")));
                let lname = &r[start..eq];
                assert!(is_label_name(lname), "{}", at("label name"));
                assert_eq!(
                    chars.next().map(|(_, c)| c),
                    Some('"'),
                    "{}",
                    at("unquoted")
                );
                let mut value = String::new();
                loop {
                    match chars
                        .next()
                        .unwrap_or_else(|| panic!("{}", at("open quote")))
                    {
                        (_, '"') => break,
                        (_, '\\') => match chars.next().map(|(_, c)| c) {
                            Some('\\') => value.push('\\'),
                            Some('"') => value.push('"'),
                            Some('n') => value.push('\n'),
                            _ => panic!("{}", at("bad escape")),
                        },
                        (_, '\n') => panic!("{}", at("raw newline")),
                        (_, c) => value.push(c),
                    }
                }
                assert!(
                    labels.insert(lname.to_string(), value).is_none(),
                    "{}",
                    at("dup label")
                );
                match chars.next() {
                    Some((_, ',')) => continue,
                    Some((i, '}')) => {
                        consumed = i + 1;
                        break;
                    }
                    _ => panic!("{}", at("label list")),
                }
            }
            rest = &r[consumed..];
        }
        let value = rest
            .strip_prefix(' ')
            .unwrap_or_else(|| panic!("{}", at("space")));
        assert!(!value.contains(' '), "{}", at("timestamps are not written"));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            v => v.parse().unwrap_or_else(|_| panic!("{}", at("value"))),
        };
        assert!(types.contains_key(name), "{}", at("sample before its TYPE"));
        assert!(
            seen.insert(format!("{name}{labels:?}")),
            "{}",
            at("repeated sample")
        );
        samples.push(Sample {
            name: name.into(),
            labels,
            value,
        });
    }
    (types, samples)
}

fn one(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    let hits: Vec<&Sample> = samples
        .iter()
        .filter(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(v))
        })
        .collect();
    assert_eq!(hits.len(), 1, "{name} {labels:?}: {hits:?}");
    hits[0].value
}

#[test]
fn the_prometheus_parser_rejects_what_it_must() {
    // Injected mistakes on a valid page: each must be caught.
    let good = "# HELP m a\n# TYPE m gauge\nm{a=\"x\\\"y\"} 1\n";
    assert_eq!(parse_prometheus(good).1.len(), 1);
    for bad in [
        "m 1\n",
        "# TYPE m gauge\nm{a=\"x} 1\n",
        "# TYPE m gauge\nm{a=\"\\q\"} 1\n",
        "# TYPE m gauge\nm one\n",
        "# TYPE m gauge\n1m 1\n",
        "# TYPE m gauge\nm 1\nm 2\n",
    ] {
        let r = std::panic::catch_unwind(|| parse_prometheus(bad));
        assert!(r.is_err(), "accepted: {bad:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_and_status_matches_the_engine_after_a_replay() {
    let hub = Arc::new(Hub::new(HubOptions::default()));
    let server = start(&hub, None).await;
    let addr = server.addr();
    let (code, _, body) = get(addr, "/readyz", None).await;
    assert_eq!(code, 503);
    assert!(body.contains("no market data"), "{body}");
    let run = replay(hub.clone(), Speed::Max, None).await.unwrap();
    let e = &run.summary.engine;
    let (code, headers, body) = get(addr, "/metrics", None).await;
    assert_eq!(code, 200);
    assert!(headers["content-type"].starts_with("text/plain; version=0.0.4"));
    let (types, samples) = parse_prometheus(&body);
    assert_eq!(types["feedwatch_frames_total"], "counter");
    assert_eq!(
        one(&samples, "feedwatch_frames_total", &[]),
        e.frames as f64
    );
    for (reason, n) in [
        ("malformed", e.malformed),
        ("unknown", e.unknown),
        ("unsupported", e.unsupported),
    ] {
        assert_eq!(
            one(
                &samples,
                "feedwatch_parse_errors_total",
                &[("reason", reason)]
            ),
            n as f64
        );
    }
    let alert_sum: f64 = samples
        .iter()
        .filter(|s| s.name == "feedwatch_alerts_total")
        .map(|s| s.value)
        .sum();
    assert_eq!(alert_sum, run.alerts.len() as f64);
    for (key, n) in &e.alerts {
        let (kind, state) = key.split_once('/').unwrap();
        assert_eq!(
            one(
                &samples,
                "feedwatch_alerts_total",
                &[("kind", kind), ("state", state)]
            ),
            *n as f64
        );
    }
    assert_eq!(
        one(&samples, "feedwatch_desk_alerts_total", &[]),
        run.alerts.len() as f64
    );
    assert_eq!(one(&samples, "feedwatch_desk_clients", &[]), 0.0);
    assert_eq!(
        one(&samples, "feedwatch_desk_clients_dropped_total", &[]),
        0.0
    );
    assert_eq!(one(&samples, "feedwatch_ready", &[]), 1.0);
    // Per stream: age, and exactly one state at 1, the engine's.
    let last = run.last_status.unwrap();
    assert!(!last.streams.is_empty());
    for st in &last.streams {
        let l = [
            ("venue", st.venue),
            ("symbol", st.symbol.as_str()),
            ("stream", st.stream.as_str()),
        ];
        let states: Vec<&Sample> = samples
            .iter()
            .filter(|s| {
                s.name == "feedwatch_stream_state"
                    && l.iter()
                        .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(v))
            })
            .collect();
        assert_eq!(states.len(), 9);
        let on: Vec<&str> = states
            .iter()
            .filter(|s| s.value == 1.0)
            .map(|s| s.labels["state"].as_str())
            .collect();
        assert_eq!(on, [st.state.name()]);
        if let Some(age) = st.age_s {
            assert_eq!(one(&samples, "feedwatch_stream_age_seconds", &l), age);
        }
    }
    // Live-only families are absent from a replay.
    assert!(!types.contains_key("feedwatch_engine_queue_depth"));

    // /status: the engine's own view at the end, field for field.
    let (code, _, body) = get(addr, "/status", None).await;
    assert_eq!(code, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    // Both sides through the same JSON text and parser (floats compare
    // exactly only that way).
    let want: Value = serde_json::from_str(&serde_json::to_string(&last).unwrap()).unwrap();
    assert_eq!(v["engine"]["streams"], want["streams"]);
    assert_eq!(v["engine"]["venues"], want["venues"]);
    assert_eq!(v["engine"], want);
    assert_eq!(v["engine"]["counts"]["frames"], e.frames);
    assert!(v["feed"].is_null());
    assert_eq!(v["server"]["alerts"], run.alerts.len());
    assert_eq!(v["server"]["finished"], true);
    let (code, _, _) = get(addr, "/readyz", None).await;
    assert_eq!(code, 200);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_guards_the_feed_status_and_metrics_only() {
    let hub = Arc::new(Hub::new(HubOptions::default()));
    let token = "s3cret/+x";
    let server = start(&hub, Some(token)).await;
    let addr = server.addr();
    for path in ["/status", "/metrics"] {
        assert_eq!(get(addr, path, None).await.0, 401, "{path}");
        assert_eq!(get(addr, path, Some("wrong")).await.0, 401, "{path}");
        assert_eq!(get(addr, path, Some(token)).await.0, 200, "{path}");
        let q = format!("{path}?token=s3cret%2F%2Bx");
        assert_eq!(get(addr, &q, None).await.0, 200, "{q}");
        assert_eq!(
            get(addr, &format!("{path}?token=s3cret"), None).await.0,
            401
        );
    }
    assert_eq!(get(addr, "/healthz", None).await.0, 200);
    assert_eq!(get(addr, "/readyz", None).await.0, 503);
    let (code, headers, body) = get(addr, "/", None).await;
    assert_eq!(code, 200);
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(body, feedwatch::serve::dashboard::INDEX_HTML);
    // The WebSocket: refused without, a snapshot with `?token=`.
    match tokio_tungstenite::connect_async(format!("ws://{addr}/ws")).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 401),
        other => panic!("{:?}", other.map(|_| ())),
    }
    let mut ws = connect(addr, "?token=s3cret%2F%2Bx").await;
    let snap = next_json(&mut ws).await.unwrap();
    assert_eq!(snap["type"], "snapshot");
    assert_eq!(snap["seq"], 0);
    assert!(snap["status"].is_null());
    server.stop().await.unwrap();
}
