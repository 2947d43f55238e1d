//! The webhook sink against receivers on 127.0.0.1: a receiver that is down
//! for 30 s (refusing connections, or answering 503) still gets every alert,
//! in order, exactly once, when it comes back; a receiver answering 400
//! sends each alert to the dead-letter file with the reason; a full queue
//! and a shutdown with a dead receiver dead-letter the rest, losing none.
//!
//! Alerts are real: the 2024-08-08 Binance spot BTC recording with faults
//! injected by code (crossed best bid/offer, silenced trade and depth
//! streams), replayed through `feedwatch::replay::replay`.

use crate::util::*;
use feedwatch::alert::Alert;
use feedwatch::detect::DetectConfig;
use feedwatch::replay::{Speed, replay};
use feedwatch::sink::{SinkStats, Sinks, SinksConfig, WebhookConfig};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The injected fixture, written once per test binary.
fn injected_fixture() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = temp_dir("webhook_fixture");
        let recs = spot_with_periodic_faults();
        let path = dir.join("injected.fixture.zst");
        write_records(&recs, &path);
        path
    })
}

/// Replays the injected fixture, handing every alert to each of `sinks`;
/// returns the alerts as their JSON values, in order.
fn replay_into(sinks: &mut [&mut Sinks]) -> Vec<Value> {
    let mut sent = Vec::new();
    replay(
        DetectConfig::default(),
        &[injected_fixture().to_path_buf()],
        Speed::Max,
        &mut |a: &Alert, flush: bool| {
            sent.push(json(a));
            for s in sinks.iter_mut() {
                s.write(a, flush)?;
            }
            Ok(())
        },
    )
    .unwrap();
    assert!(sent.len() >= 5, "only {} alerts", sent.len());
    sent
}

fn webhook_sinks(url: &str, dead: &Path, tune: impl FnOnce(&mut WebhookConfig)) -> Sinks {
    let mut w = WebhookConfig {
        url: url.to_string(),
        dead_letter: Some(dead.to_path_buf()),
        timeout_ms: 2000,
        ..WebhookConfig::default()
    };
    tune(&mut w);
    let cfg = SinksConfig {
        stdout: false,
        log: None,
        webhook: Some(w),
    };
    Sinks::open(&cfg).unwrap()
}

fn dead_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// What a test receiver saw.
#[derive(Default)]
struct Seen {
    /// The `alert` of every POST answered 2xx, in arrival order.
    accepted: Mutex<Vec<Value>>,
    /// POSTs answered with something else.
    refused: AtomicU64,
}

/// Serves POSTs on `listener`: `status()` decides the answer of each.
async fn receive(
    listener: TcpListener,
    seen: Arc<Seen>,
    status: Arc<dyn Fn() -> (u16, &'static str) + Send + Sync>,
) {
    loop {
        let Ok((mut s, _)) = listener.accept().await else {
            return;
        };
        let seen = seen.clone();
        let status = status.clone();
        tokio::spawn(async move {
            let mut got = Vec::new();
            let mut chunk = [0u8; 8192];
            let body = loop {
                let n = s.read(&mut chunk).await.unwrap();
                assert!(n > 0, "client closed before the end of its request");
                got.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&got).to_string();
                if let Some(h) = text.find("\r\n\r\n") {
                    let head = &text[..h];
                    assert!(head.starts_with("POST /hook HTTP/1.1\r\n"), "{head}");
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("Content-Length: "))
                        .unwrap()
                        .parse()
                        .unwrap();
                    if got.len() >= h + 4 + len {
                        break got[h + 4..h + 4 + len].to_vec();
                    }
                }
            };
            let doc: Value = serde_json::from_slice(&body).unwrap();
            let (code, reason) = status();
            if (200..300).contains(&code) {
                // The Slack-style line names severity, kind and venue.
                let text = doc["text"].as_str().unwrap();
                let alert = &doc["alert"];
                assert!(
                    text.contains(alert["kind"].as_str().unwrap())
                        && text.contains(alert["venue"].as_str().unwrap())
                        && !text.contains('\n'),
                    "{text}"
                );
                seen.accepted.lock().unwrap().push(alert.clone());
            } else {
                seen.refused.fetch_add(1, Ordering::Relaxed);
            }
            let extra = if code == 503 {
                "Retry-After: 1\r\n"
            } else {
                ""
            };
            let resp = format!(
                "HTTP/1.1 {code} {reason}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{reason}",
                reason.len()
            );
            let _ = s.write_all(resp.as_bytes()).await;
        });
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

async fn bind_any() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    (l, a)
}

/// Waits (up to `limit`) until `seen` holds `n` alerts.
fn wait_for(seen: &Seen, n: usize, limit: Duration) {
    let start = Instant::now();
    while seen.accepted.lock().unwrap().len() < n && start.elapsed() < limit {
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_receiver_down_for_30_s_gets_every_alert_in_order_exactly_once() {
    const DOWN: Duration = Duration::from_secs(30);
    let dir = temp_dir("webhook_down");
    let rt = runtime();
    let started = Instant::now();
    // Refusing: the port is reserved, then nobody listens on it.
    let (l, refusing_addr) = rt.block_on(bind_any());
    drop(l);
    // Answering 503 (with Retry-After) until 30 s have passed.
    let (l, busy_addr) = rt.block_on(bind_any());
    let busy_seen = Arc::new(Seen::default());
    let busy_status: Arc<dyn Fn() -> (u16, &'static str) + Send + Sync> = Arc::new(move || {
        if started.elapsed() < DOWN {
            (503, "down for maintenance")
        } else {
            (200, "ok")
        }
    });
    rt.spawn(receive(l, busy_seen.clone(), busy_status));

    // A short backoff cap, so delivery resumes soon after the return.
    let tune = |w: &mut WebhookConfig| {
        w.backoff_initial_ms = 100;
        w.backoff_max_ms = 1000;
    };
    let refused_dead = dir.join("refused-dead.jsonl");
    let busy_dead = dir.join("busy-dead.jsonl");
    let mut to_refusing =
        webhook_sinks(&format!("http://{refusing_addr}/hook"), &refused_dead, tune);
    let mut to_busy = webhook_sinks(&format!("http://{busy_addr}/hook"), &busy_dead, tune);
    let sent = replay_into(&mut [&mut to_refusing, &mut to_busy]);
    let n = sent.len();

    // Both stay down until 30 s after the start.
    std::thread::sleep(DOWN.saturating_sub(started.elapsed()));
    assert!(busy_seen.accepted.lock().unwrap().is_empty());
    let refusing_seen = Arc::new(Seen::default());
    let l = rt.block_on(TcpListener::bind(refusing_addr)).unwrap();
    rt.spawn(receive(l, refusing_seen.clone(), Arc::new(|| (200, "ok"))));

    for seen in [&refusing_seen, &busy_seen] {
        wait_for(seen, n, Duration::from_secs(60));
    }
    let refusing_stats: SinkStats = to_refusing.close().unwrap();
    let busy_stats: SinkStats = to_busy.close().unwrap();
    for (name, seen, stats, dead) in [
        ("refusing", &refusing_seen, refusing_stats, &refused_dead),
        ("503", &busy_seen, busy_stats, &busy_dead),
    ] {
        let got = seen.accepted.lock().unwrap().clone();
        assert_eq!(got.len(), n, "{name}: {stats:?}");
        assert_eq!(got, sent, "{name}: every alert, in order, exactly once");
        assert_eq!(stats.webhook_delivered, n as u64, "{name}");
        assert_eq!(stats.webhook_dead_lettered, 0, "{name}");
        assert!(stats.webhook_retries > 0, "{name}: {stats:?}");
        assert_eq!(stats.webhook_queue_depth, 0, "{name}");
        assert!(dead_lines(dead).is_empty(), "{name}");
    }
    assert!(busy_seen.refused.load(Ordering::Relaxed) > 0);
}

#[test]
fn a_400_sends_each_alert_to_the_dead_letter_file_with_the_reason() {
    let dir = temp_dir("webhook_400");
    let rt = runtime();
    let (l, addr) = rt.block_on(bind_any());
    let seen = Arc::new(Seen::default());
    rt.spawn(receive(
        l,
        seen.clone(),
        Arc::new(|| (400, "invalid_payload")),
    ));
    let dead = dir.join("dead.jsonl");
    let mut sinks = webhook_sinks(&format!("http://{addr}/hook"), &dead, |_| {});
    let sent = replay_into(&mut [&mut sinks]);
    let stats = sinks.close().unwrap();
    let lines = dead_lines(&dead);
    let alerts: Vec<Value> = lines.iter().map(|l| l["alert"].clone()).collect();
    assert_eq!(alerts, sent, "every alert dead-lettered once, in order");
    for l in &lines {
        let why = l["reason"].as_str().unwrap();
        assert!(
            why.contains("HTTP 400") && why.contains("invalid_payload"),
            "{why}"
        );
        assert_eq!(l["attempts"], 1, "a 400 is not retried");
    }
    assert_eq!(seen.refused.load(Ordering::Relaxed), sent.len() as u64);
    assert_eq!(stats.webhook_dead_lettered, sent.len() as u64);
    assert_eq!((stats.webhook_delivered, stats.webhook_retries), (0, 0));
}

#[test]
fn a_full_queue_and_a_shutdown_with_the_receiver_down_lose_nothing() {
    let dir = temp_dir("webhook_full");
    let rt = runtime();
    let (l, addr) = rt.block_on(bind_any());
    drop(l);
    let dead = dir.join("dead.jsonl");
    let mut sinks = webhook_sinks(&format!("http://{addr}/hook"), &dead, |w| {
        w.queue = 2;
        w.backoff_initial_ms = 50;
        w.backoff_max_ms = 100;
        w.shutdown_flush_ms = 300;
    });
    let sent = replay_into(&mut [&mut sinks]);
    let stats = sinks.close().unwrap();
    let lines = dead_lines(&dead);
    let reasons: Vec<&str> = lines
        .iter()
        .map(|l| l["reason"].as_str().unwrap())
        .collect();
    let full = reasons.iter().filter(|r| r.contains("queue full")).count();
    assert!(full > 0, "{reasons:?}");
    assert!(
        reasons.iter().any(|r| r.contains("shutdown")),
        "{reasons:?}"
    );
    assert_eq!(stats.webhook_queue_full, full as u64);
    assert_eq!(stats.webhook_dead_lettered, sent.len() as u64);
    assert_eq!(stats.webhook_delivered, 0);
    // Every alert exactly once, whatever the order the two paths gave.
    let key = |v: &Value| v.to_string();
    let mut got: Vec<String> = lines.iter().map(|l| key(&l["alert"])).collect();
    let mut want: Vec<String> = sent.iter().map(key).collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);
}
