//! A venue that cannot be reached (issue 12, item 1): the live feed writes
//! a `fail` record for every attempt that fails before its WebSocket is
//! open, and the engine turns them into one `connection_lost` incident per
//! planned connection naming the venue and the reason, resolved by its
//! first data; every venue unreachable at once is a `local_stall`, our
//! side. The records here are built in memory in the shape the live feed
//! writes them (the reasons are what `feed/connect.rs` says), and the
//! frame that ends the outage is a real one from the bundled spot
//! recording.

use crate::util::*;
use feedwatch::alert::{Alert, Cause, Kind, Phase, Severity, State};
use feedwatch::detect::DetectConfig;
use feedwatch::model::{MILLI, Nanos, SECOND, Venue};
use feedwatch::record::{Record, RecordKind};
use feedwatch::replay::Input;
use std::borrow::Cow;

const T0: Nanos = 1_723_161_253 * SECOND;

const REFUSED: &str =
    "TCP connection to 127.0.0.1:9 refused (nothing listens there, or a firewall rejects it)";

/// A failed attempt `n` of planned connection `family`, as the live feed
/// records it.
fn fail(t: Nanos, venue: Venue, family: &str, n: u32, why: &str) -> Record<'static> {
    Record {
        recv_ns: t,
        venue,
        conn: Cow::Owned(format!("{family}#{n}")),
        kind: RecordKind::ConnectFailed {
            reason: Cow::Owned(format!("{why}; reconnect attempt {n}, next try in 0.800 s")),
        },
    }
}

/// The first market data frame of the real spot recording.
fn spot_frame() -> String {
    let recs = read_records(&fixture(
        "replay/binance-spot-btcusdt-2024-08-08.fixture.zst",
    ));
    recs.into_iter()
        .find_map(|r| match r.kind {
            RecordKind::Frame(t) if t.contains("@trade") => Some(t.into_owned()),
            _ => None,
        })
        .unwrap()
}

/// Session `family#n` opens at `t` and delivers a real frame 100 ms later.
fn session(t: Nanos, venue: Venue, family: &str, n: u32, frame: &str) -> Vec<Record<'static>> {
    let conn = format!("{family}#{n}");
    vec![
        Record {
            recv_ns: t,
            venue,
            conn: Cow::Owned(conn.clone()),
            kind: RecordKind::Open {
                url: Cow::Borrowed("wss://stream.binance.com:9443/stream"),
            },
        },
        Record {
            recv_ns: t + 100 * MILLI,
            venue,
            conn: Cow::Owned(conn),
            kind: RecordKind::Frame(Cow::Owned(frame.to_string())),
        },
    ]
}

fn lost_of(alerts: &[Alert]) -> Vec<&Alert> {
    of_kind(alerts, Kind::ConnectionLost)
}

#[test]
fn a_venue_that_cannot_connect_is_one_alert_naming_it_and_why_resolved_by_its_first_data() {
    // Fifteen attempts refused over 14 s, as `run` against a closed port
    // makes them, then the venue comes up.
    let mut recs: Vec<Record<'static>> = (1..=15)
        .map(|n| {
            fail(
                T0 + i64::from(n - 1) * SECOND,
                Venue::BinanceSpot,
                "live-1-0",
                n,
                REFUSED,
            )
        })
        .collect();
    recs.extend(session(
        T0 + 16 * SECOND,
        Venue::BinanceSpot,
        "live-1-0",
        16,
        &spot_frame(),
    ));
    let mut cfg = DetectConfig::default();
    cfg.incidents.probation_s = 0.0;
    let mut d = Drive::new(cfg);
    d.records(&recs);
    let (engine, alerts) = d.done();
    let lost = lost_of(&alerts);
    let states: Vec<State> = lost.iter().map(|a| a.state).collect();
    // Open once the failure has lasted `outage.unreachable_after_s` (3 s:
    // every venue failing at once would be one local_stall then, not a line
    // per connection), identified as the venue's own 10 s later (nothing
    // wider seen), resolved by the first data: the repeats add nothing.
    assert_eq!(
        states,
        [State::Open, State::Update, State::Resolved],
        "{}",
        show(&lost)
    );
    let open = lost[0];
    assert_eq!(open.at, T0 + 3 * SECOND, "held 3 s from the first failure");
    assert!(open.severity >= Severity::Warning);
    assert_eq!(open.venue, Venue::BinanceSpot);
    assert_eq!(open.stream.as_deref(), Some("connection:live-1-0"));
    assert!(
        open.summary
            .starts_with(&format!("Cannot connect to binance-spot: {REFUSED}")),
        "{}",
        open.summary
    );
    let ev = json(open)["evidence"].clone();
    assert_eq!(ev["reason"], REFUSED);
    assert_eq!(ev["attempts"], 3);
    assert_eq!(ev["since"], "2024-08-08T23:54:13.000Z");
    assert_eq!(ev["reconnecting"], false);
    assert_eq!(ev["next_try_s"], 0.8);
    assert_eq!(lost[1].phase, Phase::Identified);
    assert_eq!(lost[1].cause, Cause::VenueLocal);
    let resolved = lost[2];
    assert_eq!(resolved.at, T0 + 16 * SECOND + 100 * MILLI);
    assert!(
        resolved
            .summary
            .contains("live-1-0#16 is back and delivering data")
    );
    assert!(
        alerts
            .iter()
            .all(|a| a.incident == open.incident || a.kind != Kind::ConnectionLost)
    );
    // The failed attempts took no connection slot: only the session that
    // opened holds one, however long the venue stays down.
    assert_eq!(engine.conn_slots(), 1);

    // Recorded, it replays to the same alerts.
    let tmp = Tmp::new("unreachable_replay");
    let path = tmp.0.join("fails.fixture.zst");
    write_records(&recs, &path);
    let back = read_records(&path);
    assert_eq!(back, recs);
    let mut d = Drive::new({
        let mut cfg = DetectConfig::default();
        cfg.incidents.probation_s = 0.0;
        cfg
    });
    d.records(&back);
    let (_, again) = d.done();
    assert_eq!(again, alerts);
    let (replayed, _) = replay_alerts(&Input::Files(vec![path]));
    let with_probation: Vec<&Alert> = of_kind(&replayed, Kind::ConnectionLost);
    assert_eq!(with_probation[0].summary, open.summary);
    assert_eq!(with_probation.last().unwrap().phase, Phase::Monitoring);
}

#[test]
fn a_new_reason_is_one_update_a_failure_after_a_loss_says_reconnect() {
    let dns = "DNS lookup of stream.binance.com failed: failed to lookup address information: Name or service not known";
    let recs = vec![
        fail(T0, Venue::BinanceSpot, "live-1-0", 1, dns),
        fail(T0 + SECOND, Venue::BinanceSpot, "live-1-0", 2, dns),
        fail(T0 + 2 * SECOND, Venue::BinanceSpot, "live-1-0", 3, dns),
        fail(T0 + 4 * SECOND, Venue::BinanceSpot, "live-1-0", 4, REFUSED),
        fail(T0 + 5 * SECOND, Venue::BinanceSpot, "live-1-0", 5, REFUSED),
    ];
    let alerts = run(&recs);
    let lost = lost_of(&alerts);
    assert_eq!(lost.len(), 2, "{}", show(&lost));
    assert!(
        lost[0]
            .summary
            .contains("DNS lookup of stream.binance.com failed")
    );
    assert_eq!(lost[1].state, State::Update);
    assert!(lost[1].summary.contains("refused"), "{}", lost[1].summary);
    assert_eq!(json(lost[1])["evidence"]["attempts"], 4);

    // A connection that was up, lost, and cannot reconnect: the close
    // opens the incident, the first refused retry is one update.
    let frame = spot_frame();
    let mut recs = session(T0, Venue::BinanceSpot, "live-2-0", 1, &frame);
    recs.push(Record {
        recv_ns: T0 + SECOND,
        venue: Venue::BinanceSpot,
        conn: Cow::Borrowed("live-2-0#1"),
        kind: RecordKind::Close {
            reason: Cow::Borrowed(
                "read error: Connection reset by peer; reconnect attempt 1, next try in 0.300 s",
            ),
        },
    });
    for n in 2..=6 {
        recs.push(fail(
            T0 + i64::from(n) * SECOND,
            Venue::BinanceSpot,
            "live-2-0",
            n,
            REFUSED,
        ));
    }
    let alerts = run(&recs);
    let lost = lost_of(&alerts);
    assert_eq!(lost.len(), 2, "{}", show(&lost));
    assert!(lost[0].summary.contains("connection lost"));
    assert!(
        lost[1]
            .summary
            .starts_with("binance-spot cannot reconnect: TCP connection"),
        "{}",
        lost[1].summary
    );
    assert_eq!(json(lost[1])["evidence"]["reconnecting"], true);
}

#[test]
fn every_venue_unreachable_at_once_is_our_side() {
    let no_net = "DNS lookup of stream.binance.com failed: Temporary failure in name resolution";
    let no_net_kraken = "DNS lookup of ws.kraken.com failed: Temporary failure in name resolution";
    let mut recs = Vec::new();
    for n in 1..=8u32 {
        let t = T0 + i64::from(n - 1) * 700 * MILLI;
        recs.push(fail(t, Venue::BinanceSpot, "live-1-0", n, no_net));
        recs.push(fail(t + MILLI, Venue::Kraken, "live-1-1", n, no_net_kraken));
    }
    // The network is back for Binance first, Kraken 8 s later.
    let frame = spot_frame();
    recs.extend(session(
        T0 + 6 * SECOND,
        Venue::BinanceSpot,
        "live-1-0",
        9,
        &frame,
    ));
    for n in 9..=20u32 {
        let t = T0 + 6 * SECOND + i64::from(n - 8) * SECOND;
        recs.push(fail(t, Venue::Kraken, "live-1-1", n, no_net_kraken));
    }
    let alerts = run(&recs);
    let lost = lost_of(&alerts);
    // After `outage.unreachable_after_s` (3 s) with both out and neither
    // open: a local stall, our side, grouping both.
    let stall = of_kind(&alerts, Kind::LocalStall);
    assert_eq!(stall[0].state, State::Open, "{}", show(&stall));
    assert_eq!(stall[0].cause, Cause::OurSide);
    assert_eq!(stall[0].stream.as_deref(), Some("all_feeds"));
    assert!(
        stall[0].at >= T0 + 3 * SECOND && stall[0].at <= T0 + 4 * SECOND,
        "{}",
        show(&alerts.iter().collect::<Vec<_>>())
    );
    assert!(
        stall[0].summary.contains("unreachable"),
        "{}",
        stall[0].summary
    );
    assert!(
        stall[0]
            .summary
            .contains("kraken: DNS lookup of ws.kraken.com failed")
    );
    let ev = json(stall[0])["evidence"].clone();
    assert_eq!(
        ev["unreachable"],
        serde_json::json!(["binance-spot", "kraken"])
    );
    // One cause, one line: each connection's failure was held until the
    // stall was decided at the same tick and is muted under it, so the desk
    // gets no connection_lost while the stall stands (nor a venue's own
    // problem called before it).
    let before_back: Vec<&&Alert> = lost
        .iter()
        .filter(|a| {
            a.at <= stall
                .iter()
                .find(|s| s.phase == Phase::Monitoring)
                .map_or(Nanos::MAX, |s| s.at)
        })
        .collect();
    assert!(before_back.is_empty(), "{}", show(&lost));
    // Binance opens: no longer every venue, the stall goes to monitoring;
    // Kraken, still failing after the release, speaks for itself.
    let back = stall.iter().find(|a| a.phase == Phase::Monitoring).unwrap();
    assert_eq!(back.at, T0 + 6 * SECOND + 100 * MILLI);
    assert!(
        back.summary.contains("no longer the suspect"),
        "{}",
        back.summary
    );
    let kraken_alone = lost
        .iter()
        .find(|a| a.venue == Venue::Kraken && a.at > back.at && a.group.is_none())
        .unwrap();
    assert!(kraken_alone.at >= back.at + 5 * SECOND);
}

#[test]
fn one_exchange_unreachable_with_another_connected_is_not_our_side() {
    let frame = spot_frame();
    let mut recs = session(T0, Venue::BinanceSpot, "live-1-0", 1, &frame);
    for n in 1..=10u32 {
        let t = T0 + i64::from(n) * SECOND;
        recs.push(fail(t, Venue::Kraken, "live-1-1", n, REFUSED));
    }
    let alerts = run(&recs);
    assert!(
        of_kind(&alerts, Kind::LocalStall).is_empty(),
        "{}",
        show(&alerts.iter().collect::<Vec<_>>())
    );
    let lost = lost_of(&alerts);
    assert_eq!(lost[0].venue, Venue::Kraken);
    assert_eq!(lost[0].state, State::Open);
}
