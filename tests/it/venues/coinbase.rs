//! End to end through the engine for Coinbase: the real legacy Exchange
//! capture (fixtures/coinbase/COINBASE.ws.28.0) and a short Advanced Trade
//! session built from the doc examples (fixtures/coinbase/schemas), both
//! credited in fixtures/SOURCES.md. Events must reach the engine,
//! and a sequence break injected by code into the Advanced Trade session
//! must raise `book_gap`.

use crate::util::{count_alerts, drive, fixture_text, frame_record};
use feedwatch::alert::{Alert, Kind, State};
use feedwatch::model::{Nanos, SECOND, Venue};
use feedwatch::record::Record;

fn fixture(rel: &str) -> String {
    fixture_text(&format!("coinbase/{rel}"))
}

/// Records of the cryptofeed capture (one connection).
fn capture_records(text: &str) -> Vec<Record<'_>> {
    crate::util::capture_records(text, Venue::Coinbase, "coinbase-legacy")
}

#[test]
fn real_legacy_capture_reaches_the_engine() {
    let text = fixture("COINBASE.ws.28.0");
    let recs = capture_records(&text);
    let (engine, alerts) = drive(&recs);
    let st = engine.stats();
    // Expected counts by plain string search over the capture.
    let n = |needle: &str| text.lines().filter(|l| l.contains(needle)).count() as u64;
    let received = text
        .lines()
        .filter(|l| l.starts_with(|c: char| c.is_ascii_digit()))
        .count() as u64;
    assert_eq!(st.frames, received);
    assert_eq!(st.control_records, 4, "one open and three subscribe frames");
    assert_eq!(st.malformed, 0, "{:?}", st.error_samples);
    assert_eq!(st.unknown, 0, "{:?}", st.error_samples);
    assert_eq!(st.acks, n(r#""type":"subscriptions""#));
    assert_eq!(st.events.get("snapshot"), Some(&n(r#""type":"snapshot""#)));
    assert_eq!(st.events.get("depth"), Some(&n(r#""type":"l2update""#)));
    assert_eq!(
        st.events.get("trade"),
        Some(&(n(r#""type":"match""#) + n(r#""type":"last_match""#)))
    );
    assert_eq!(st.events.get("quote"), Some(&n(r#""type":"ticker""#)));
    // The legacy level2 channel carries no sequence: nothing to break.
    assert_eq!(count_alerts(&alerts, Kind::BookGap, State::Open), 0);
}

/// The doc examples as one Advanced Trade connection, sequence numbers and
/// receive times set by code (0, 1, 2, ...; 200 ms apart).
fn at_session(frames: &[String], start: Nanos) -> Vec<(Nanos, String)> {
    frames
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let mut v: serde_json::Value = serde_json::from_str(f).unwrap();
            v["sequence_num"] = serde_json::json!(i);
            (start + i as i64 * SECOND / 5, v.to_string())
        })
        .collect()
}

fn run_session(session: &[(Nanos, String)]) -> (feedwatch::engine::Engine, Vec<Alert>) {
    let recs: Vec<Record<'_>> = session
        .iter()
        .map(|(t, f)| frame_record(*t, Venue::Coinbase, "coinbase-at", f))
        .collect();
    drive(&recs)
}

fn doc_frames() -> Vec<String> {
    [
        "ws_subscriptions.json",
        "ws_l2_data_snapshot.json",
        "ws_l2_data_update.json",
        "ws_market_trades.json",
        "ws_ticker.json",
        "ws_candles.json",
        "ws_heartbeats.json",
        "ws_l2_data_update.json",
    ]
    .iter()
    .map(|f| fixture(&format!("schemas/{f}")))
    .collect()
}

#[test]
fn advanced_trade_doc_session_reaches_the_engine_without_gaps() {
    // 2026-04-07T14:30:00Z, the doc examples' own time.
    let start = 1_775_572_200 * SECOND;
    let (engine, alerts) = run_session(&at_session(&doc_frames(), start));
    let st = engine.stats();
    assert_eq!((st.malformed, st.unknown), (0, 0), "{:?}", st.error_samples);
    assert_eq!((st.acks, st.heartbeats), (1, 1));
    assert_eq!(st.events.get("snapshot"), Some(&1));
    assert_eq!(st.events.get("depth"), Some(&2));
    assert_eq!(st.events.get("trade"), Some(&2));
    assert_eq!(st.events.get("quote"), Some(&1));
    assert_eq!(st.events.get("candle"), Some(&1));
    assert_eq!(st.events.get("integrity"), None);
    assert_eq!(count_alerts(&alerts, Kind::BookGap, State::Open), 0);
}

#[test]
fn injected_sequence_gap_raises_book_gap_through_the_engine() {
    let start = 1_775_572_200 * SECOND;
    let mut session = at_session(&doc_frames(), start);
    // Injected: the last frame (an l2 update) arrives with sequence 11
    // instead of 7, as if four messages were lost on the connection.
    let last = session.last_mut().unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&last.1).unwrap();
    v["sequence_num"] = serde_json::json!(11);
    last.1 = v.to_string();
    let (engine, alerts) = run_session(&session);
    assert_eq!(engine.stats().events.get("integrity"), Some(&1));
    let gaps: Vec<&Alert> = alerts
        .iter()
        .filter(|a| a.kind == Kind::BookGap && a.state == State::Open)
        .collect();
    assert_eq!(gaps.len(), 1, "{alerts:?}");
    assert_eq!(gaps[0].symbol.as_deref(), Some("BTC/USD"));
    assert_eq!(gaps[0].stream.as_deref(), Some("depth"));
}
