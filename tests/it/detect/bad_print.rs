//! `bad_print` on the real 2024-08-08 Binance BTC recordings with bad
//! prints injected by code (`feedwatch::scenario::inject::bad_print`),
//! never presented as recorded: a print far outside the venue's own book
//! is flagged at the print, from the first seconds of a session, with only
//! two venues of the pair's family watched.
//!
//! Kinds are matched by name so these tests also run against a build that
//! has no such kind (they fail there, as they must).

use crate::util::*;
use feedwatch::alert::{Alert, Severity, State};
use feedwatch::detect::DetectConfig;
use feedwatch::eval::eval_file;
use feedwatch::model::{SECOND, Venue};
use feedwatch::scenario::inject::{self, Records};

/// Spot and USD-M BTC/USDT (one quote family, two venues: too few for a
/// consensus), their first `secs` seconds from the earliest record.
fn spot_and_usdm(secs: i64) -> Vec<Records> {
    bundled_first_secs(&BUNDLED_BTC[..2], secs)
}

fn named<'a>(alerts: &'a [Alert], kind: &str) -> Vec<&'a Alert> {
    alerts.iter().filter(|a| a.kind.name() == kind).collect()
}

#[test]
fn a_bad_print_18s_into_a_session_with_two_venues_is_flagged_at_the_print() {
    let mut inputs = spot_and_usdm(90);
    let t0 = inputs.iter().map(first_ns).min().unwrap();
    let inj = inject::bad_print(&mut inputs[1], t0 + 18 * SECOND, "@trade", 3.0);
    assert_eq!(inj.touched, 1);
    let printed = inj.first_ns.unwrap();
    let alerts = run(&merge(inputs));
    let found = named(&alerts, "bad_print");
    assert!(!found.is_empty(), "nothing flagged the print");
    let open = found[0];
    assert_eq!(open.state, State::Open, "{}", show(&found));
    assert_eq!(open.venue, Venue::BinanceUsdm);
    assert_eq!(open.symbol.as_deref(), Some("BTC/USDT"));
    assert_eq!(open.stream.as_deref(), Some("trade"));
    assert_eq!(open.severity, Severity::Warning);
    assert_eq!(json(open)["cause"], "data_integrity");
    // At the print itself (well within the 1 s asked for).
    assert!(
        open.at >= printed && open.at - printed < SECOND,
        "flagged {} ns after the print",
        open.at - printed
    );
    let ev = &open.evidence;
    let outside = ev.get("outside_bps").and_then(|v| v.as_f64()).unwrap();
    assert!((290.0..310.0).contains(&outside), "{outside} bps outside");
    assert_eq!(ev.get("peers"), Some(&serde_json::json!(1)));
    // The next clean print sends it to monitoring.
    assert_eq!(found.len(), 3, "{}", show(&found));
    assert!(found[1].at - printed < SECOND, "{}", show(&found));
    // Nothing else pages: the only finding is the bad print.
    let others: Vec<&Alert> = pages(&alerts)
        .into_iter()
        .filter(|a| a.kind.name() != "bad_print")
        .collect();
    assert!(others.is_empty(), "{}", show(&others));
}

#[test]
fn the_early_bad_print_scenario_finds_both_prints_within_a_second() {
    let path = fixtures().join("scenarios").join("bad-print-early.toml");
    let r = eval_file(&DetectConfig::default(), &path).unwrap();
    assert_eq!(r.labels.len(), 2);
    for l in &r.labels {
        assert_eq!(l.expect.kind, "bad_print");
        let d = l.delay_s.unwrap_or_else(|| panic!("missed {:?}", l.expect));
        assert!(d < 1.0, "{:?} found after {d} s", l.expect);
    }
    assert!(r.false_alarms.is_empty(), "{:?}", r.false_alarms);
}

#[test]
fn the_bundled_recordings_print_nothing_bad() {
    // Every trade of the three recordings together is judged against its
    // own venue's book (and two peers): none is a bad print.
    let mut inputs = spot_and_usdm(1_000);
    inputs.push(read_records(
        &fixtures()
            .join("replay")
            .join("binance-coinm-btcusd_perp-2024-08-08.fixture.zst"),
    ));
    let alerts = run_ended(&merge(inputs));
    let found = named(&alerts, "bad_print");
    assert!(found.is_empty(), "{}", show(&found));
}
