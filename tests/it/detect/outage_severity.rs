//! `venue_outage` earns its severity: a whole-connection pause of a second
//! or two in the real spot BTC/USDT recording (2024-08-08 23:54 to 08-09
//! 00:05 UTC) opens it as a warning, found as fast as before; held past
//! `outage.critical_after_s` (10 s, counted from the venue's last data) it
//! turns critical without any new data. Every pause here is injected by
//! code (`feedwatch::scenario::inject`), not recorded.

use crate::util::*;
use feedwatch::alert::{Alert, Kind, Severity, State};
use feedwatch::detect::DetectConfig;
use feedwatch::model::{Nanos, SECOND};
use feedwatch::record::RecordKind;
use feedwatch::scenario::inject::{self, Records};

/// The outage's onset as the engine sees it: the last data before `from`
/// of the stream that went quiet first (bbo, trade, depth).
fn onset(recs: &Records, from: Nanos) -> Nanos {
    ["@bookTicker", "@trade", "@depth"]
        .iter()
        .map(|needle| {
            recs.iter()
                .filter(|r| r.recv_ns < from)
                .filter(|r| matches!(&r.kind, RecordKind::Frame(t) if t.contains(needle)))
                .map(|r| r.recv_ns)
                .max()
                .unwrap()
        })
        .min()
        .unwrap()
}

fn outage_lines(alerts: &[Alert]) -> Vec<&Alert> {
    of_kind(alerts, Kind::VenueOutage)
}

#[test]
fn a_2s_whole_connection_pause_is_a_warning_venue_outage_not_critical() {
    let mut recs = spot_btc("sev_blip");
    let from = first_ns(&recs) + 200 * SECOND;
    let inj = inject::silence(&mut recs, from, 2 * SECOND);
    assert!(inj.touched > 50, "silenced only {} frames", inj.touched);
    let since = onset(&recs, from);
    let alerts = run(&recs);
    let outage = outage_lines(&alerts);
    let open: Vec<&&Alert> = outage.iter().filter(|a| a.state == State::Open).collect();
    assert_eq!(open.len(), 1, "{}", show(&outage));
    // Found as fast as before (< 2 s after the venue's last data) ...
    let delay = open[0].at - since;
    assert!(delay > 0 && delay < 2 * SECOND, "opened {delay} ns after");
    // ... but called a warning: a blip must earn its page.
    assert_eq!(open[0].severity, Severity::Warning, "{}", show(&outage));
    let critical: Vec<&Alert> = alerts
        .iter()
        .filter(|a| a.severity == Severity::Critical)
        .collect();
    assert!(critical.is_empty(), "paged critical:\n{}", show(&critical));
    // It is over when the frames come back, and resolves after probation.
    let back = recovery(&alerts, &open[0].incident).expect("never recovered");
    assert!(back.at >= from + 2 * SECOND && back.at < from + 3 * SECOND);
    assert_eq!(back.severity, Severity::Warning);
    assert!(resolve(&alerts, &open[0].incident).is_some());
}

#[test]
fn a_40s_whole_connection_silence_turns_critical_after_10s_without_new_data() {
    let mut recs = spot_btc("sev_long");
    let from = first_ns(&recs) + 200 * SECOND;
    inject::silence(&mut recs, from, 40 * SECOND);
    let since = onset(&recs, from);
    let alerts = run(&recs);
    let outage = outage_lines(&alerts);
    assert_eq!(outage[0].state, State::Open, "{}", show(&outage));
    assert_eq!(outage[0].severity, Severity::Warning);
    assert!(outage[0].at - since < 2 * SECOND);
    // The next line is the escalation: an update at the first tick (100
    // ms grid) at or after 10 s of silence, with no frame in between.
    let up = outage[1];
    assert_eq!((up.state, up.severity), (State::Update, Severity::Critical));
    assert_eq!(up.incident, outage[0].incident);
    let held = up.at - since;
    assert!(
        (10 * SECOND..10 * SECOND + SECOND / 10).contains(&held),
        "critical {held} ns after the last data"
    );
    assert!(up.summary.contains("for 10.0 s"), "{}", up.summary);
    // Nothing else pages critical before it.
    let early: Vec<&Alert> = alerts
        .iter()
        .filter(|a| a.severity == Severity::Critical && a.at < up.at)
        .collect();
    assert!(early.is_empty(), "{}", show(&early));
    // Recovery keeps the episode's severity.
    let back = recovery(&alerts, &outage[0].incident).expect("never recovered");
    assert!(back.at >= from + 40 * SECOND);
    assert_eq!(back.severity, Severity::Critical);
}

#[test]
fn critical_after_s_sets_when_a_held_outage_turns_critical() {
    let mut recs = spot_btc("sev_config");
    let from = first_ns(&recs) + 200 * SECOND;
    inject::silence(&mut recs, from, 40 * SECOND);
    let since = onset(&recs, from);
    let mut cfg = DetectConfig::default();
    cfg.outage.critical_after_s = 25.0;
    let alerts = run_with(cfg, &recs);
    let outage = outage_lines(&alerts);
    assert_eq!(outage[0].severity, Severity::Warning);
    let up = outage[1];
    assert_eq!((up.state, up.severity), (State::Update, Severity::Critical));
    let held = up.at - since;
    assert!(
        (25 * SECOND..25 * SECOND + SECOND / 10).contains(&held),
        "critical {held} ns after the last data"
    );
}

#[test]
fn a_lost_connection_turns_the_venue_outage_critical_at_the_next_tick() {
    let mut recs = spot_btc("sev_lost");
    let from = first_ns(&recs) + 200 * SECOND;
    // The venue goes quiet; 3 s later the socket closes unasked, and a
    // new session delivers 27 s after that.
    inject::silence(&mut recs, from, 3 * SECOND);
    let closed = from + 3 * SECOND;
    let inj = inject::lose_connection(&mut recs, closed, 27 * SECOND, "1006 abnormal closure");
    assert!(inj.touched > 1000, "lost only {} records", inj.touched);
    let since = onset(&recs, from);
    let alerts = run(&recs);
    let outage = outage_lines(&alerts);
    assert_eq!(outage[0].state, State::Open, "{}", show(&outage));
    assert_eq!(outage[0].severity, Severity::Warning);
    assert!(outage[0].at < closed);
    // The close confirms it: critical at the next tick (100 ms grid), long
    // before 10 s of silence.
    let up = outage[1];
    assert_eq!((up.state, up.severity), (State::Update, Severity::Critical));
    assert!(
        up.at > closed && up.at <= closed + SECOND / 10,
        "critical {} ns after the close",
        up.at - closed
    );
    assert!(up.at - since < 10 * SECOND);
    assert_eq!(
        up.evidence.get("escalated"),
        Some(&serde_json::json!("connection_lost"))
    );
    assert!(
        up.summary.contains("its connection was lost"),
        "{}",
        up.summary
    );
    // The loss itself is part of the outage: muted under it, then over
    // when the new session delivers.
    let lost = of_kind(&alerts, Kind::ConnectionLost);
    assert!(
        lost.iter()
            .all(|a| a.state != State::Open || a.at >= closed),
        "{}",
        show(&lost)
    );
    let back = recovery(&alerts, &outage[0].incident).expect("never recovered");
    assert!(back.at >= closed + 27 * SECOND);
    assert_eq!(back.severity, Severity::Critical);
}
