//! Kraken end to end: the real Kraken book capture (cryptofeed, 2021-04-17,
//! WebSocket v1, ten pairs at depth 1000, `fixtures/kraken/KRAKEN.ws.50.0`)
//! rewritten by code into the v2 messages carrying the same levels, texts
//! and real checksums, plus the v2 documentation examples, replayed through
//! the engine. The clean stream raises no book fault; a quantity changed by
//! code (injected) raises `book_checksum` on its pair, and the next
//! snapshot resolves it.

use crate::util::{Drive, fixture_text, frame_record, open_record};
use feedwatch::alert::{Alert, Kind, Phase, State};
use feedwatch::engine::Engine;
use feedwatch::model::{MILLI, Nanos, Venue, format_rfc3339_ms};
use feedwatch::record::Record;
use serde_json::Value;

fn fixture(path: &str) -> String {
    fixture_text(&format!("kraken/{path}"))
}

/// A v1 frame's levels as v2 level objects, texts unchanged.
fn levels(v: &Value) -> String {
    v.as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let p = l[0].as_str().unwrap();
            let q = l[1].as_str().unwrap();
            format!(r#"{{"price":{p},"qty":{q}}}"#)
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The capture as (receive time, v2 frame): book messages and heartbeats
/// rewritten, everything else (v1 system status, v1 subscribe replies)
/// replaced by one v2 book subscribe reply per pair at depth 1000.
fn v2_frames() -> Vec<(Nanos, String)> {
    let capture = fixture("KRAKEN.ws.50.0");
    let mut frames = Vec::new();
    for line in capture.lines() {
        if line.starts_with("wss://") || line.trim().is_empty() {
            continue;
        }
        let (t, frame) = line.split_once(": ").unwrap();
        let recv_ns = (t.parse::<f64>().unwrap() * 1000.0) as Nanos * MILLI;
        let v: Value = serde_json::from_str(frame).unwrap();
        if v.get("event").and_then(Value::as_str) == Some("heartbeat") {
            frames.push((recv_ns, r#"{"channel":"heartbeat"}"#.to_string()));
            continue;
        }
        if v.get("event").and_then(Value::as_str) == Some("subscriptionStatus") {
            let pair = v["pair"].as_str().unwrap();
            frames.push((
                recv_ns,
                format!(
                    r#"{{"method":"subscribe","result":{{"channel":"book","depth":1000,"snapshot":true,"symbol":"{pair}"}},"success":true}}"#
                ),
            ));
            continue;
        }
        let Some(arr) = v.as_array() else { continue };
        let pair = arr[arr.len() - 1].as_str().unwrap();
        let (mut bids, mut asks, mut checksum, mut snapshot) =
            (Vec::new(), Vec::new(), String::new(), false);
        for part in &arr[1..arr.len() - 2] {
            for (k, x) in part.as_object().unwrap() {
                match k.as_str() {
                    "as" | "a" => asks.push(levels(x)),
                    "bs" | "b" => bids.push(levels(x)),
                    "c" => checksum = format!(r#","checksum":{}"#, x.as_str().unwrap()),
                    _ => panic!("{k}"),
                }
                snapshot |= k == "as" || k == "bs";
            }
        }
        let kind = if snapshot { "snapshot" } else { "update" };
        let ts = format_rfc3339_ms(recv_ns);
        frames.push((
            recv_ns,
            format!(
                r#"{{"channel":"book","type":"{kind}","data":[{{"symbol":"{pair}","bids":[{}],"asks":[{}]{checksum},"timestamp":"{ts}"}}]}}"#,
                bids.join(","),
                asks.join(",")
            ),
        ));
    }
    frames
}

fn run(frames: &[(Nanos, String)]) -> (Engine, Vec<Alert>) {
    let open = open_record(
        frames[0].0,
        Venue::Kraken,
        "kraken-1",
        "wss://ws.kraken.com/v2",
    );
    let recs: Vec<Record<'_>> = frames
        .iter()
        .map(|(t, f)| frame_record(*t, Venue::Kraken, "kraken-1", f))
        .collect();
    let mut d = Drive::default();
    d.record(&open).records(&recs);
    d.done()
}

fn book_faults(alerts: &[Alert]) -> Vec<&Alert> {
    alerts
        .iter()
        .filter(|a| matches!(a.kind, Kind::BookChecksum | Kind::BookGap))
        .collect()
}

#[test]
fn real_kraken_book_stream_reaches_the_engine_without_book_faults() {
    let mut frames = v2_frames();
    let end = frames.last().unwrap().0;
    // The v2 documentation examples, one second apart after the capture.
    for (i, doc) in [
        "ws_trade_update.json",
        "ws_ticker_snapshot.json",
        "ws_ohlc_update.json",
        "ws_pong.json",
        "ws_subscribe_response.json",
    ]
    .iter()
    .enumerate()
    {
        let text = fixture(&format!("schemas/{doc}"));
        frames.push((end + (i as Nanos + 1) * 1_000 * MILLI, text));
    }
    let (engine, alerts) = run(&frames);
    let stats = engine.stats();
    assert_eq!(stats.malformed, 0, "{:?}", stats.error_samples);
    assert_eq!(stats.unknown, 0, "{:?}", stats.error_samples);
    assert_eq!(stats.events.get("snapshot"), Some(&10));
    assert_eq!(stats.events.get("depth"), Some(&4269));
    assert_eq!(stats.events.get("trade"), Some(&2));
    assert_eq!(stats.events.get("quote"), Some(&1));
    assert_eq!(stats.events.get("candle"), Some(&1));
    assert_eq!(stats.events.get("integrity"), None);
    assert_eq!(
        stats.heartbeats,
        31 + 1,
        "31 recorded heartbeats and the doc pong"
    );
    assert_eq!(stats.acks, 10 + 1);
    assert!(
        book_faults(&alerts).is_empty(),
        "{:?}",
        book_faults(&alerts)
    );
}

#[test]
fn injected_quantity_change_raises_book_checksum_until_the_next_snapshot() {
    let mut frames = v2_frames();
    // Injected: the first XMR/USD update setting 5.00000000 gets 5.00000001.
    let at = frames
        .iter()
        .position(|(_, f)| {
            f.contains(r#""type":"update""#)
                && f.contains("XMR/USD")
                && f.contains(r#""qty":5.00000000"#)
        })
        .unwrap();
    frames[at].1 = frames[at]
        .1
        .replacen(r#""qty":5.00000000"#, r#""qty":5.00000001"#, 1);
    // Injected: the pair's real snapshot sent again after the capture, as a
    // resubscription would, to rebuild the book.
    let snap = frames
        .iter()
        .find(|(_, f)| f.contains(r#""type":"snapshot""#) && f.contains("XMR/USD"))
        .unwrap()
        .1
        .clone();
    let end = frames.last().unwrap().0;
    frames.push((end + 1_000 * MILLI, snap));

    let (engine, alerts) = run(&frames);
    let faults = book_faults(&alerts);
    assert_eq!(faults.len(), 2, "{faults:?}");
    assert_eq!(faults[0].kind, Kind::BookChecksum);
    assert_eq!(faults[0].state, State::Open);
    assert_eq!(faults[0].symbol.as_deref(), Some("XMR/USD"));
    assert_eq!(faults[0].at, frames[at].0);
    // Healed by the snapshot: in monitoring (resolved after the probation,
    // past this capture's end).
    assert_eq!(faults[1].phase, Phase::Monitoring);
    assert_eq!(faults[1].at, end + 1_000 * MILLI);
    let stats = engine.stats();
    assert_eq!(stats.alerts.get("book_checksum/open"), Some(&1));
    assert_eq!(stats.events.get("integrity"), Some(&1));
}
