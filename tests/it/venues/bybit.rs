//! End-to-end: real Bybit v5 `orderbook.500.XRPUSDT` frames
//! (fixtures/bybit/, credited in fixtures/SOURCES.md) and Bybit doc
//! example frames, as fixture records through the replay's drive loop
//! (`util::Drive`, which is `replay::Driver`). The real
//! book chains without a gap; a delta dropped by code (injected) raises
//! `book_gap`, the next snapshot resolves it; a `u = 1` restart snapshot
//! (injected) raises nothing.
//!
//! The recording has no receive times: each record is stamped with its
//! frame's `ts` plus 5 ms.

use crate::util::{Drive, count_alerts, fixture_text, frame_record, open_record};
use feedwatch::alert::{Alert, Kind, Phase, State};
use feedwatch::engine::Engine;
use feedwatch::model::{MILLI, Nanos, Venue};
use feedwatch::record::Record;

const CONN: &str = "bybit-linear-1";

fn real_frames() -> Vec<String> {
    let text = fixture_text("bybit/2024-12-01_XRPUSDT_ob500.data");
    text.lines().map(str::to_string).collect()
}

/// The frame's `ts` in ns, read independently of the adapter.
fn ts_ns(frame: &str) -> Nanos {
    let v: serde_json::Value = serde_json::from_str(frame).unwrap();
    v["ts"].as_i64().unwrap() * MILLI
}

fn record(recv_ns: Nanos, venue: Venue, frame: &str) -> Record<'_> {
    frame_record(recv_ns, venue, CONN, frame)
}

/// Runs frames (stamped `ts + 5 ms`, never going backwards) through a fresh
/// engine after an `open` record; returns the engine and its alerts.
fn run(venue: Venue, frames: &[String]) -> (Engine, Vec<Alert>) {
    let mut d = Drive::default();
    let first = frames.first().map(|f| ts_ns(f)).unwrap_or(0);
    d.record(&open_record(
        first,
        venue,
        CONN,
        "wss://stream.bybit.com/v5/public/linear",
    ));
    let mut last = first;
    for f in frames {
        last = last.max(ts_ns(f) + 5 * MILLI);
        d.record(&record(last, venue, f));
    }
    d.end(CONN);
    d.done()
}

#[test]
fn real_book_reaches_the_engine_without_a_gap() {
    let frames = real_frames();
    assert_eq!(frames.len(), 50);
    let (engine, alerts) = run(Venue::BybitLinear, &frames);
    let s = engine.stats();
    assert_eq!(s.frames, 50);
    assert_eq!(s.events.get("snapshot"), Some(&1));
    assert_eq!(s.events.get("depth"), Some(&49));
    assert_eq!((s.malformed, s.unknown, s.unsupported), (0, 0, 0), "{s:?}");
    assert_eq!(engine.stream_count(), 1);
    assert_eq!(
        count_alerts(&alerts, Kind::BookGap, State::Open),
        0,
        "{alerts:?}"
    );
    assert_eq!(
        count_alerts(&alerts, Kind::BookCrossed, State::Open),
        0,
        "{alerts:?}"
    );
}

#[test]
fn injected_dropped_delta_raises_book_gap_and_a_snapshot_resolves_it() {
    let mut frames = real_frames();
    // Injected: the delta with u = 20254890 (line 22) never arrives.
    let dropped = frames.remove(21);
    assert!(dropped.contains(r#""u":20254890,"#));
    // Injected: Bybit re-sends the book afterwards (the real snapshot,
    // renumbered after the last real delta and stamped later).
    let resend = frames[0]
        .replace(r#""u":20254869,"#, r#""u":20254919,"#)
        .replace(r#""ts":1733011200691"#, r#""ts":1733011205590"#);
    frames.push(resend);
    let (engine, alerts) = run(Venue::BybitLinear, &frames);
    let gaps: Vec<&Alert> = alerts
        .iter()
        .filter(|a| a.kind == Kind::BookGap && a.state == State::Open)
        .collect();
    assert_eq!(gaps.len(), 1, "{alerts:?}");
    let g = gaps[0];
    assert_eq!(g.venue, Venue::BybitLinear);
    assert_eq!(g.symbol.as_deref(), Some("XRP/USDT"));
    assert_eq!(g.stream.as_deref(), Some("depth"));
    assert!(g.summary.contains("20254890"), "{}", g.summary);
    // Raised when the frame after the hole arrived.
    assert_eq!(g.at, ts_ns(&frames[21]) + 5 * MILLI);
    let after: Vec<&Alert> = alerts
        .iter()
        .filter(|a| a.kind == Kind::BookGap && a.state != State::Open)
        .collect();
    assert_eq!(after.len(), 1, "{after:?}");
    // Healed by the re-sent snapshot, the last frame: in monitoring from
    // then on (it resolves after the probation, past this recording's end).
    assert_eq!(after[0].phase, Phase::Monitoring);
    assert_eq!(after[0].incident, g.incident);
    assert_eq!(after[0].at, 1_733_011_205_590 * MILLI + 5 * MILLI);
    assert_eq!(engine.open_incidents(), 1);
    assert_eq!(engine.stats().events.get("snapshot"), Some(&2));
}

#[test]
fn injected_restart_snapshot_is_a_reset_not_a_gap() {
    let mut frames = real_frames();
    // Injected: after the real deltas, Bybit restarts: a snapshot with u = 1
    // then a delta with u = 2.
    frames.push(
        frames[0]
            .replace(r#""u":20254869,"#, r#""u":1,"#)
            .replace(r#""ts":1733011200691"#, r#""ts":1733011205590"#),
    );
    frames.push(
        frames[1]
            .replace(r#""u":20254870,"#, r#""u":2,"#)
            .replace(r#""ts":1733011200693"#, r#""ts":1733011205690"#),
    );
    let (engine, alerts) = run(Venue::BybitLinear, &frames);
    let s = engine.stats();
    assert_eq!(s.events.get("integrity"), Some(&1));
    assert_eq!(s.events.get("snapshot"), Some(&2));
    assert_eq!(s.events.get("depth"), Some(&50));
    assert_eq!(
        count_alerts(&alerts, Kind::BookGap, State::Open),
        0,
        "{alerts:?}"
    );

    // Injected control: without a restart, a delta that jumps ahead of the
    // last real one (20254918 -> 20254925) is a gap.
    let mut frames = real_frames();
    frames.push(frames[1].replace(r#""u":20254870,"#, r#""u":20254925,"#));
    let (_, alerts) = run(Venue::BybitLinear, &frames);
    assert_eq!(
        count_alerts(&alerts, Kind::BookGap, State::Open),
        1,
        "{alerts:?}"
    );
}

#[test]
fn doc_frames_of_every_channel_reach_the_engine() {
    // Doc examples (schemas/bybit, compact) and hand-written frames modelled
    // on Bybit's documentation, on a spot connection.
    let frames: Vec<String> = [
        r#"{"success":true,"ret_msg":"","conn_id":"cejreaspqfm9se7usbrg-2xh","req_id":"sub-orderbook-1","op":"subscribe"}"#,
        r#"{"topic":"orderbook.1.BTCUSDT","type":"snapshot","ts":1709891679000,"data":{"s":"BTCUSDT","b":[["27450.00","0.500"],["27449.50","1.000"]],"a":[["27451.00","0.750"],["27451.50","0.900"]],"u":123456789,"seq":987654321}}"#,
        r#"{"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":1709891679005,"data":[{"T":1709891679000,"s":"BTCUSDT","S":"Buy","v":"0.010","p":"27451.00","i":"2290000000007764263","BT":false}]}"#,
        r#"{"topic":"kline.1.BTCUSDT","data":[{"start":1709891640000,"end":1709891699999,"interval":"1","open":"27440","close":"27451","high":"27452","low":"27439","volume":"2.081","turnover":"57112.4005","confirm":false,"timestamp":1709891679010}],"ts":1709891679010,"type":"snapshot"}"#,
        r#"{"success":true,"ret_msg":"pong","conn_id":"0970e817-426e-429a-a679-ff7f55e0b16a","op":"ping"}"#,
        r#"{"success":false,"ret_msg":"Invalid topic: invalid.topic.BTCUSDT","conn_id":"cejreaspqfm9se7usbrg-2xh","op":"subscribe"}"#,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut d = Drive::default();
    let t0: Nanos = 1_709_891_679_020 * MILLI;
    for (i, f) in frames.iter().enumerate() {
        d.record(&record(t0 + i as Nanos * MILLI, Venue::BybitSpot, f));
    }
    let s = d.engine().stats();
    assert_eq!(s.events.get("quote"), Some(&1));
    assert_eq!(s.events.get("trade"), Some(&1));
    assert_eq!(s.events.get("candle"), Some(&1));
    assert_eq!((s.acks, s.heartbeats, s.unknown, s.malformed), (1, 1, 1, 0));
    assert!(s.error_samples.iter().any(|e| e.contains("Invalid topic")));
}
