//! The live consumer pointed at venues that cannot be reached (issue 12,
//! item 1): a 127.0.0.1 port that is bound but not listening refuses every
//! connection, as a venue that is down or a wrong endpoint does. The alert
//! must name the venue and the reason within 15 s of start, repeated
//! failures must not repeat it, and the first data must resolve it; every
//! venue unreachable at once is our side. Nothing leaves 127.0.0.1.

use crate::sim::{
    alerts_of, feed_config, recorded, recovered, replay_json, serve_sim, small_source, start_feed,
    wait_for,
};
use crate::util::*;
use feedwatch::record::RecordKind;
use feedwatch::replay::Speed;
use serde_json::Value;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::net::TcpSocket;

/// The acceptance bound: the alert within 15 s of start.
const WITHIN: Duration = Duration::from_secs(15);

/// A 127.0.0.1 port held but not listening: connections to it are refused
/// until [`TcpSocket::listen`] (and no other process can take it meanwhile).
fn closed_port() -> (TcpSocket, SocketAddr) {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = socket.local_addr().unwrap();
    (socket, addr)
}

fn parsed(alerts: &[&String]) -> Vec<Value> {
    alerts
        .iter()
        .map(|a| serde_json::from_str(a).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_venue_behind_a_closed_port_alerts_within_15s_once_and_resolves_at_its_first_data() {
    let tmp_dir = Tmp::new("live_unreachable_one");
    let tmp = tmp_dir.0.clone();
    let (socket, addr) = closed_port();
    let started = Instant::now();
    let f = start_feed(feed_config(addr), Some(tmp.join("rec")));
    let (alerts, c) = (f.alerts.clone(), f.counters.clone());
    let lost = |alerts: &[String]| {
        alerts_of(alerts, "connection_lost")
            .into_iter()
            .cloned()
            .collect::<Vec<String>>()
    };
    wait_for("connection_lost", WITHIN, || {
        !lost(&alerts.lock().unwrap()).is_empty()
    })
    .await;
    let took = started.elapsed();
    assert!(took < WITHIN, "{took:?}");
    // Several more refused attempts (backoff 200-400 ms): no more lines.
    wait_for("five failed attempts", Duration::from_secs(10), || {
        counter(&c.connect_failures) >= 5
    })
    .await;
    let so_far = lost(&alerts.lock().unwrap());
    assert_eq!(so_far.len(), 1, "{so_far:#?}");
    let open = parsed(&so_far.iter().collect::<Vec<_>>()).remove(0);
    assert_eq!(open["state"], "open");
    assert_eq!(open["venue"], "binance-spot");
    assert_eq!(open["severity"], "warning");
    let summary = open["summary"].as_str().unwrap();
    let refused = format!("TCP connection to 127.0.0.1:{} refused", addr.port());
    assert!(
        summary.starts_with(&format!("Cannot connect to binance-spot: {refused}")),
        "{summary}"
    );
    assert!(
        open["evidence"]["reason"]
            .as_str()
            .unwrap()
            .starts_with(&refused)
    );

    // The venue comes up on that port: the first data resolves it.
    let (source, want) = small_source(&tmp);
    let sim = serve_sim(socket.listen(64).unwrap(), &source, Speed::Max, "");
    wait_for("every frame", Duration::from_secs(20), || {
        counter(&c.frames) >= want.len() as u64
    })
    .await;
    let (summary, live) = f.stop().await;
    sim.stop().await;
    let lost = lost(&live);
    // The open, the move to monitoring at the first data and, only on a
    // machine slow enough to take 10 s to get there, the identification.
    let last = lost.last().unwrap();
    assert!(recovered(last), "{last}");
    let between = &lost[1..lost.len() - 1];
    assert!(
        between.len() <= 1 && between.iter().all(|a| a.contains("identified as")),
        "{lost:#?}"
    );
    let incident = |a: &str| {
        let v: Value = serde_json::from_str(a).unwrap();
        v["incident"].as_str().unwrap().to_string()
    };
    assert_eq!(incident(&lost[0]), incident(last));
    // Every failed attempt is in the recording, and the recording replays
    // to the alerts the live run gave.
    let rec = recorded(&summary.recorded);
    let fails = rec
        .iter()
        .filter(|r| matches!(r.kind, RecordKind::ConnectFailed { .. }))
        .count() as u64;
    assert_eq!(fails, counter(&c.connect_failures));
    assert_eq!(replay_json(&summary.recorded), live);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_venue_behind_closed_ports_is_our_side_within_15s() {
    let (_spot, spot) = closed_port();
    let (_kraken, kraken) = closed_port();
    let mut cfg = feed_config(spot);
    cfg.feed
        .symbols
        .insert("kraken".into(), vec!["BTC/USD".into()]);
    cfg.feed
        .endpoints
        .insert("kraken".into(), format!("ws://{kraken}/v2"));
    cfg.validate().unwrap();
    let started = Instant::now();
    let f = start_feed(cfg, None);
    let alerts = f.alerts.clone();
    wait_for("local_stall", WITHIN, || {
        !alerts_of(&alerts.lock().unwrap(), "local_stall").is_empty()
    })
    .await;
    let took = started.elapsed();
    let (_, live) = f.stop().await;
    assert!(took < WITHIN, "{took:?}");
    let stall = parsed(&alerts_of(&live, "local_stall")).remove(0);
    assert_eq!(stall["state"], "open");
    assert_eq!(stall["cause"], "our_side");
    assert_eq!(stall["venue"], "feedwatch");
    // In the order they began failing, which the race between the two
    // connections decides.
    let mut unreachable: Vec<&str> = stall["evidence"]["unreachable"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    unreachable.sort_unstable();
    assert_eq!(unreachable, ["binance-spot", "kraken"]);
    // The stall names each venue and why; their connections' failures,
    // held until it was decided, are muted under it: one cause, one line.
    let summary = stall["summary"].as_str().unwrap();
    for (venue, addr) in [("binance-spot", spot), ("kraken", kraken)] {
        let why = format!(
            "{venue}: TCP connection to 127.0.0.1:{} refused",
            addr.port()
        );
        assert!(summary.contains(&why), "{summary}");
    }
    let lost = alerts_of(&live, "connection_lost");
    assert!(lost.is_empty(), "{lost:#?}");
}
