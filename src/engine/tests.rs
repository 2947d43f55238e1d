//! Unit tests of the engine through its public calls: connections,
//! stalls, resync requests, integrity faults.

use super::*;
use crate::alert::{Alert, Kind};
use crate::alert::{Phase, State};
use crate::detect::DetectConfig;
use crate::model::{DepthDiff, DepthSnapshot, Level};
use crate::model::{Event, Integrity, MILLI, Nanos, Payload, SECOND, StreamKind, Venue};
use crate::record::{DELIBERATE_CLOSE, Record, RecordKind, conn_family};
use std::sync::Arc;

fn ev(payload: Payload) -> Event {
    Event {
        symbol: Arc::from("BTC/USD"),
        stream: StreamKind::Depth,
        payload,
    }
}

fn snapshot() -> Payload {
    Payload::Snapshot(DepthSnapshot {
        last_id: None,
        bids: vec![Level {
            price: 99.0,
            qty: 1.0,
        }],
        asks: vec![Level {
            price: 101.0,
            qty: 1.0,
        }],
        exch_ns: None,
    })
}

fn control<'a>(t: Nanos, conn: &'a str, kind: RecordKind<'a>) -> Record<'a> {
    Record {
        recv_ns: t,
        venue: Venue::BinanceSpot,
        conn: conn.into(),
        kind,
    }
}

fn diff(first_id: u64, last_id: u64) -> Event {
    Event {
        symbol: Arc::from("BTC/USDT"),
        stream: StreamKind::Depth,
        payload: Payload::Depth(DepthDiff {
            first_id,
            last_id,
            prev_last_id: None,
            bids: vec![],
            asks: vec![],
            exch_ns: None,
        }),
    }
}

/// A new session on `conn` at `t`, delivering one diff from `first_id`.
fn session(e: &mut Engine, out: &mut Vec<Alert>, t: Nanos, conn: &str, first_id: u64) {
    let open = RecordKind::Open {
        url: "ws://x".into(),
    };
    e.on_record(&control(t, conn, open), out);
    let d = diff(first_id, first_id + 5);
    e.on_events(Venue::BinanceSpot, conn, t + 1, &[d], out);
}

/// 50 losses a second apart, each recovering: with `probation` they are
/// one incident, flapping; without, one incident each.
fn reconnect_loop(probation_s: f64) -> (Engine, Vec<Alert>, Nanos) {
    let mut cfg = DetectConfig::default();
    cfg.incidents.probation_s = probation_s;
    let mut e = Engine::new(cfg);
    let mut out = Vec::new();
    let mut t = SECOND;
    for n in 1..=50u64 {
        let conn = format!("live-1-0#{n}");
        session(&mut e, &mut out, t, &conn, n * 10);
        let reason = format!("closed by server: 1006; reconnect attempt {n}, next try in 0.250 s");
        e.on_record(
            &control(
                t + 2,
                &conn,
                RecordKind::Close {
                    reason: reason.into(),
                },
            ),
            &mut out,
        );
        t += SECOND;
    }
    (e, out, t)
}

#[test]
fn a_reconnect_loop_is_one_flapping_incident_that_resolves_after_a_clean_stretch() {
    let (mut e, mut out, t) = reconnect_loop(60.0);
    let lost: Vec<Alert> = out
        .iter()
        .filter(|a| a.kind == Kind::ConnectionLost)
        .cloned()
        .collect();
    assert_eq!(lost[0].state, State::Open);
    assert!(
        lost.iter().all(|a| a.incident == lost[0].incident),
        "one incident across the relapses"
    );
    assert!(lost.iter().all(|a| a.state != State::Resolved));
    // It went to monitoring and relapsed, then was called flapping, and
    // from then on its changes are held: far fewer lines than the 99
    // an open and a resolve per loss would take.
    assert!(lost.iter().any(|a| a.phase == Phase::Monitoring));
    assert!(lost.iter().any(|a| a.evidence.get("relapses").is_some()));
    let flapping = lost
        .iter()
        .position(|a| a.evidence.get("flapping") == Some(&serde_json::json!(true)));
    let Some(f) = flapping else {
        panic!("never called flapping: {lost:#?}")
    };
    assert!(lost.len() < 20, "{} lines", lost.len());
    // After the notice only the identification (a different news) may
    // come: no more relapse or monitoring lines.
    assert!(
        lost[f + 1..]
            .iter()
            .all(|a| a.phase == Phase::Identified && a.summary.contains("identified")),
        "{lost:#?}"
    );
    // The last loss was followed by nothing: 60 s clean resolves it.
    session(&mut e, &mut out, t, "live-1-0#51", 1000);
    let n = out.len();
    e.advance_to(t + 59 * SECOND, &mut out);
    assert!(out[n..].iter().all(|a| a.state != State::Resolved));
    e.advance_to(t + 62 * SECOND, &mut out);
    let last = out.last().unwrap();
    assert_eq!(
        (last.kind, last.state),
        (Kind::ConnectionLost, State::Resolved)
    );
    assert_eq!(last.phase, Phase::Resolved);
    assert_eq!(last.incident, lost[0].incident);
}

/// A depth stream of `n` diffs, `step` apart from `t` (0: all at `t`);
/// returns the time after the last and the next update id.
fn metronome(
    e: &mut Engine,
    out: &mut Vec<Alert>,
    (mut t, mut id): (Nanos, u64),
    n: usize,
    step: Nanos,
) -> (Nanos, u64) {
    for _ in 0..n {
        e.on_events(Venue::BinanceSpot, "c", t, &[diff(id, id + 1)], out);
        id += 2;
        t += step;
    }
    (t, id)
}

#[test]
fn a_stall_record_blames_ourselves_and_no_stream() {
    let mut e = Engine::new(DetectConfig::default());
    let mut out = Vec::new();
    // A metronome depth stream, 100 ms apart, for a minute.
    let (t, id) = metronome(&mut e, &mut out, (SECOND, 1), 600, 100 * MILLI);
    // feedwatch stops for 20 s; on resuming it writes the stall record,
    // then the frames the kernel held arrive at once, and the stream
    // goes on as before.
    let resumed = t + 20 * SECOND;
    let stall = Record {
        recv_ns: resumed,
        venue: Venue::Other("feedwatch"),
        conn: "process".into(),
        kind: RecordKind::Stall { from_ns: t },
    };
    e.on_record(&stall, &mut out);
    let next = metronome(&mut e, &mut out, (resumed, id), 200, 0);
    metronome(&mut e, &mut out, next, 50, 100 * MILLI);
    let kinds: Vec<Kind> = out.iter().map(|a| a.kind).collect();
    assert!(kinds.iter().all(|k| *k == Kind::LocalStall), "{out:#?}");
    assert_eq!(out[0].state, State::Open);
    assert_eq!(out[0].at, resumed);
    assert_eq!(out[0].stream.as_deref(), Some("process"));
    assert_eq!(
        out[0].evidence.get("paused_s"),
        Some(&serde_json::json!(20.0))
    );
    assert_eq!(out[1].phase, Phase::Monitoring);
    // Without the record the same gap is the stream's silence.
    let mut e = Engine::new(DetectConfig::default());
    let mut out = Vec::new();
    let (t, id) = metronome(&mut e, &mut out, (SECOND, 1), 600, 100 * MILLI);
    metronome(&mut e, &mut out, (t + 20 * SECOND, id), 1, 0);
    assert!(out.iter().any(|a| a.kind == Kind::FeedSilent), "{out:#?}");
}

#[test]
fn a_lost_connection_alerts_until_data_flows_and_slots_are_reused() {
    // Without probation each loss is its own incident.
    let (mut e, mut out, t) = reconnect_loop(0.0);
    // Reconnecting for weeks does not grow the connection table.
    assert!(e.conn_slots() <= 2, "{} slots", e.conn_slots());
    let lost: Vec<&Alert> = out
        .iter()
        .filter(|a| a.kind == Kind::ConnectionLost)
        .collect();
    assert_eq!(lost.len(), 99, "50 losses, 49 recoveries");
    assert_eq!(lost[0].state, State::Open);
    assert_eq!(lost[0].stream.as_deref(), Some("connection:live-1-0"));
    assert_eq!(
        lost[0].evidence.get("next_try_s"),
        Some(&serde_json::json!(0.25))
    );
    assert_eq!(lost[0].evidence.get("streams"), Some(&serde_json::json!(1)));
    assert!(lost[0].summary.contains("BTC/USDT"), "{}", lost[0].summary);
    assert_eq!(lost[1].state, State::Resolved);
    assert_ne!(
        lost[0].incident, lost[2].incident,
        "a new loss is a new incident"
    );
    // Closing on purpose is no loss.
    out.clear();
    let conn = "live-1-0#51";
    session(&mut e, &mut out, t, conn, 1000);
    let reason = format!("{DELIBERATE_CLOSE}; shutdown, no retry");
    e.on_record(
        &control(
            t + 2,
            conn,
            RecordKind::Close {
                reason: reason.into(),
            },
        ),
        &mut out,
    );
    assert!(
        out.iter()
            .all(|a| a.kind != Kind::ConnectionLost || a.state == State::Resolved),
        "{out:?}"
    );
    assert_eq!(conn_family("a#b#3"), "a#b");
    assert_eq!(conn_family("imp-123"), "imp-123");
}

#[test]
fn an_unsynced_book_asks_for_a_snapshot_at_most_once_per_interval() {
    let mut e = Engine::new(DetectConfig::default());
    let mut out = Vec::new();
    let mut reqs = Vec::new();
    let v = Venue::BinanceSpot;
    e.on_events(v, "c#1", SECOND, &[diff(10, 15)], &mut out);
    e.on_events(v, "c#1", 2 * SECOND, &[diff(16, 20)], &mut out);
    e.take_resyncs(&mut reqs);
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    assert_eq!(
        (reqs[0].venue, &*reqs[0].conn, &*reqs[0].symbol),
        (v, "c#1", "BTC/USDT")
    );
    // Still unsynced 10 s later: asked again.
    e.on_events(v, "c#1", 11 * SECOND, &[diff(21, 25)], &mut out);
    e.take_resyncs(&mut reqs);
    assert_eq!(reqs.len(), 2);
    // The snapshot bridges the buffered diffs: in sync, no more asking.
    let snap = Event {
        symbol: Arc::from("BTC/USDT"),
        stream: StreamKind::Depth,
        payload: Payload::Snapshot(DepthSnapshot {
            last_id: Some(18),
            bids: vec![],
            asks: vec![],
            exch_ns: None,
        }),
    };
    e.on_events(v, "c#1", 12 * SECOND, &[snap], &mut out);
    assert_eq!(e.book_synced(v, "BTC/USDT"), Some(true));
    e.on_events(v, "c#1", 30 * SECOND, &[diff(26, 30)], &mut out);
    e.take_resyncs(&mut reqs);
    assert_eq!(reqs.len(), 2);
    // A new session starts a new sequence: the book waits for its own
    // snapshot, and no gap is alerted.
    e.on_events(v, "c#2", 31 * SECOND, &[diff(500, 505)], &mut out);
    assert_eq!(e.book_synced(v, "BTC/USDT"), Some(false));
    e.take_resyncs(&mut reqs);
    assert_eq!(reqs.last().map(|r| &*r.conn), Some("c#2"));
    assert!(out.iter().all(|a| a.kind != Kind::BookGap), "{out:?}");
}

#[test]
fn adapter_integrity_faults_open_and_a_snapshot_resolves_them() {
    let mut e = Engine::new(DetectConfig::default());
    let mut out = Vec::new();
    let v = Venue::Kraken;
    e.on_events(v, "c", SECOND, &[ev(snapshot())], &mut out);
    let diff = Payload::Depth(DepthDiff {
        first_id: 0,
        last_id: 0,
        prev_last_id: None,
        bids: vec![Level {
            price: 100.0,
            qty: 1.0,
        }],
        asks: vec![],
        exch_ns: None,
    });
    e.on_events(v, "c", 2 * SECOND, &[ev(diff)], &mut out);
    assert!(out.is_empty(), "{out:?}");
    let bad = Payload::Integrity(Integrity::Checksum {
        expected: 1,
        computed: 2,
    });
    e.on_events(v, "c", 3 * SECOND, &[ev(bad)], &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(
        (out[0].kind, out[0].state),
        (Kind::BookChecksum, State::Open)
    );
    let gap = Payload::Integrity(Integrity::Gap {
        expected: 5,
        got: 9,
    });
    e.on_events(v, "c", 3 * SECOND, &[ev(gap)], &mut out);
    assert_eq!((out[1].kind, out[1].state), (Kind::BookGap, State::Open));
    // A reset is announced, not a fault.
    e.on_events(
        v,
        "c",
        3 * SECOND,
        &[ev(Payload::Integrity(Integrity::Reset))],
        &mut out,
    );
    assert_eq!(out.len(), 2);
    e.on_events(v, "c", 4 * SECOND, &[ev(snapshot())], &mut out);
    // The snapshot heals the book: both go to monitoring at once, and
    // resolve after the clean stretch.
    let monitoring: Vec<Kind> = out
        .iter()
        .filter(|a| a.phase == Phase::Monitoring)
        .map(|a| a.kind)
        .collect();
    assert_eq!(monitoring, vec![Kind::BookGap, Kind::BookChecksum]);
    e.advance_to(65 * SECOND, &mut out);
    let resolved: Vec<Kind> = out
        .iter()
        .filter(|a| a.state == State::Resolved)
        .map(|a| a.kind)
        .collect();
    assert_eq!(resolved, vec![Kind::BookGap, Kind::BookChecksum]);
    assert_eq!(e.stats().events.get("integrity"), Some(&3));
}
