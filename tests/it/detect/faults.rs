//! Faults injected by code into the real spot BTC/USDT recording
//! (2024-08-08 23:54 to 08-09 00:05 UTC) are each found, at the right time,
//! and resolve when the fault ends. Every fault here is injected, not
//! recorded: see `feedwatch::scenario::inject`.

use crate::util::*;
use feedwatch::alert::{Alert, Kind, Severity, State};
use feedwatch::detect::DetectConfig;
use feedwatch::model::{Nanos, SECOND};
use feedwatch::scenario::inject;

fn find<'a>(alerts: &'a [Alert], kind: Kind, state: State, stream: &str) -> Vec<&'a Alert> {
    alerts
        .iter()
        .filter(|a| a.kind == kind && a.state == state && a.stream.as_deref() == Some(stream))
        .collect()
}

/// Nothing pages before the fault was injected.
fn quiet_before(alerts: &[Alert], t: Nanos) {
    let early: Vec<&Alert> = pages(alerts).into_iter().filter(|a| a.at < t).collect();
    assert!(
        early.is_empty(),
        "paged before the fault:\n{}",
        show(&early)
    );
}

#[test]
fn injected_40s_connection_silence_is_one_venue_outage_within_5s_that_recovers() {
    let mut recs = spot_btc("fault_silence");
    let from = first_ns(&recs) + 200 * SECOND;
    let inj = inject::silence(&mut recs, from, 40 * SECOND);
    assert!(inj.touched > 1000, "silenced only {} frames", inj.touched);
    let last_before = recs
        .iter()
        .map(|r| r.recv_ns)
        .filter(|&t| t < from)
        .max()
        .unwrap();
    let first_after = recs
        .iter()
        .map(|r| r.recv_ns)
        .filter(|&t| t >= from)
        .min()
        .unwrap();
    let alerts = run(&recs);
    quiet_before(&alerts, from);
    // Every stream of the venue fell silent together: one venue outage,
    // not three silences.
    let outage: Vec<&Alert> = alerts
        .iter()
        .filter(|a| a.kind == Kind::VenueOutage && a.state == State::Open)
        .collect();
    assert_eq!(outage.len(), 1, "{}", show(&outage));
    let o = outage[0];
    let delay = o.at - last_before;
    assert!(
        delay > 0 && delay <= 5 * SECOND,
        "outage flagged {delay} ns after the last frame"
    );
    assert_eq!(o.venue.id(), "binance-spot");
    // Young, it is a warning; held 10 s (outage.critical_after_s) it is
    // critical, and the next line about it says so.
    assert_eq!(o.severity, Severity::Warning);
    let up = alerts
        .iter()
        .find(|a| a.incident == o.incident && a.at > o.at)
        .unwrap();
    assert_eq!(up.severity, Severity::Critical);
    assert!(up.at - last_before <= 10 * SECOND + SECOND / 10);
    assert_eq!(o.evidence.get("stale_streams"), Some(&serde_json::json!(3)));
    // A stream convicted before the venue was may have spoken first; it is
    // then told it is part of the outage and says nothing more.
    for stream in ["bbo", "trade", "depth"] {
        let mine: Vec<&Alert> = alerts
            .iter()
            .filter(|a| a.kind == Kind::FeedSilent && a.stream.as_deref() == Some(stream))
            .collect();
        if let Some(first) = mine.first() {
            assert_eq!(first.state, State::Open);
            assert!(first.at <= o.at, "{stream} spoke after the outage opened");
            assert_eq!(mine.len(), 2, "{stream}: {}", show(&mine));
            assert_eq!(mine[1].group.as_deref(), Some(o.incident.as_str()));
        }
    }
    let back = recovery(&alerts, &o.incident).expect("outage never recovered");
    assert!(back.at >= first_after && back.at < first_after + 5 * SECOND);
    let done = resolve(&alerts, &o.incident).expect("outage never resolved");
    let probation = (DetectConfig::default().incidents.probation_s * SECOND as f64) as Nanos;
    assert!(done.at >= back.at + probation && done.at < back.at + probation + SECOND);
}

#[test]
fn injected_dropped_depth_update_is_a_gap_at_the_next_update() {
    let mut recs = spot_btc("fault_gap");
    let from = first_ns(&recs) + 100 * SECOND;
    let inj = inject::drop_first(&mut recs, from, "\"e\":\"depthUpdate\"");
    assert_eq!(inj.touched, 1);
    let dropped_at = inj.first_ns.unwrap();
    let next_depth = recs
        .iter()
        .filter(|r| r.recv_ns > dropped_at)
        .find(|r| matches!(&r.kind, feedwatch::record::RecordKind::Frame(t) if t.contains("depthUpdate")))
        .unwrap()
        .recv_ns;
    let alerts = run(&recs);
    quiet_before(&alerts, dropped_at);
    let gaps = find(&alerts, Kind::BookGap, State::Open, "depth");
    assert_eq!(gaps.len(), 1, "{}", show(&gaps));
    assert_eq!(gaps[0].at, next_depth);
    assert!(gaps[0].evidence.get("expected").is_some());
}

#[test]
fn injected_crossed_book_ticker_held_3s_is_flagged() {
    let mut recs = spot_btc("fault_crossed");
    let from = first_ns(&recs) + 150 * SECOND;
    let inj = inject::cross_bbo(&mut recs, from, 3 * SECOND, "@bookTicker", 1.0);
    assert!(inj.touched > 10);
    let alerts = run(&recs);
    quiet_before(&alerts, from);
    let open = find(&alerts, Kind::BookCrossed, State::Open, "bbo");
    assert_eq!(open.len(), 1, "{}", show(&open));
    assert!(open[0].at >= inj.first_ns.unwrap() && open[0].at <= inj.first_ns.unwrap() + SECOND);
    let back = recovery(&alerts, &open[0].incident).expect("never recovered");
    assert!(back.at > inj.last_ns.unwrap());
    // The depth book was not touched and must not be reported crossed.
    assert!(find(&alerts, Kind::BookCrossed, State::Open, "depth").is_empty());
}

#[test]
fn injected_15s_drift_is_lagging_and_resolves_after_catch_up() {
    let mut recs = spot_btc("fault_lag");
    let from = first_ns(&recs) + 200 * SECOND;
    inject::drift_late(&mut recs, from, 60 * SECOND, 15 * SECOND);
    let catch_up = from + 75 * SECOND;
    let alerts = run(&recs);
    quiet_before(&alerts, from);
    for stream in ["trade", "depth"] {
        let open = find(&alerts, Kind::FeedLagging, State::Open, stream);
        assert_eq!(open.len(), 1, "{stream}: {}", show(&open));
        assert!(
            open[0].at > from + 3 * SECOND && open[0].at < from + 12 * SECOND,
            "{stream} lag flagged late"
        );
        let back = recovery(&alerts, &open[0].incident).expect("never recovered");
        assert!(back.at >= catch_up && back.at < catch_up + 10 * SECOND);
        let worst = back
            .evidence
            .get("worst_excess_s")
            .and_then(|v| v.as_f64())
            .unwrap();
        assert!(worst > 13.0 && worst < 16.0, "worst excess {worst}");
    }
    // No silence: frames kept flowing, only late.
    assert!(alerts.iter().all(|a| a.kind != Kind::FeedSilent));
}

#[test]
fn injected_6pct_bad_print_is_an_abnormal_trade_candle() {
    let mut recs = spot_btc("fault_print");
    let at = first_ns(&recs) + 400 * SECOND;
    let inj = inject::bad_print(&mut recs, at, "@trade", 6.0);
    assert_eq!(inj.touched, 1);
    let printed = inj.first_ns.unwrap();
    let alerts = run(&recs);
    quiet_before(&alerts, printed);
    let open = find(
        &alerts,
        Kind::AbnormalCandle,
        State::Open,
        "trade_candles_1m",
    );
    assert_eq!(open.len(), 1, "{}", show(&pages(&alerts)));
    // Raised when that minute's candle closes: within 70 s of the print.
    assert!(open[0].at > printed && open[0].at < printed + 70 * SECOND);
    assert_eq!(open[0].symbol.as_deref(), Some("BTC/USDT"));
}
