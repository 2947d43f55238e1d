//! `feedwatch eval` over the scenario suite in fixtures/scenarios: real
//! Binance recordings with faults injected by code, each with the alerts a
//! desk must get. Every label is detected in time and nothing at warning or
//! above goes unexplained; a scenario whose fault is taken out is missed,
//! so the score can fail.

use feedwatch::config::Config;
use feedwatch::eval::{eval_dir, eval_file};
use std::path::Path;

fn scenarios() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/scenarios"))
}

#[test]
fn the_scenario_suite_is_detected_in_full_without_false_alarms() {
    let report = eval_dir(&Config::default(), scenarios()).unwrap();
    assert!(report.scenarios.len() >= 7, "{report}");
    assert_eq!(report.recall(), 1.0, "{report}");
    assert_eq!(report.false_alarms(), 0, "{report}");
    let kinds = report.by_kind();
    for k in [
        "feed_silent",
        "feed_lagging",
        "book_gap",
        "book_crossed",
        "abnormal_candle",
        "feed_frozen",
        "spread_blowout",
        "depth_collapse",
        "book_stale",
        "price_divergence",
    ] {
        assert!(kinds.contains_key(k), "no scenario labels {k}");
    }
    // Silence on active BTC streams is found in under 2 s.
    let silent = &kinds["feed_silent"];
    let p50 = feedwatch::eval::quantile(&silent.delays_s, 0.5).unwrap();
    assert!(p50 < 2.0, "median feed_silent delay {p50} s");
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(json["recall"], 1.0);
    assert!(json["by_kind"]["feed_silent"]["delay_p95_s"].is_number());
}

#[test]
fn a_label_without_its_fault_is_missed_and_an_unlabelled_fault_is_a_false_alarm() {
    let tmp = std::env::temp_dir().join(format!("feedwatch-eval-test-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let recording = scenarios().join("../replay/binance-spot-btcusdt-2024-08-08.fixture.zst");
    let recording = recording.display();
    // Labelled, not injected.
    let p = tmp.join("missed.toml");
    std::fs::write(
        &p,
        format!(
            "description = \"label only\"\nrecordings = [\"{recording}\"]\nwindow_s = [0.0, 120.0]\n\
             [[expect]]\nkind = \"feed_silent\"\nvenue = \"binance-spot\"\nat_s = 60.0\nwithin_s = 3.0\n"
        ),
    )
    .unwrap();
    let r = eval_file(&Config::default(), &p).unwrap();
    assert_eq!(r.detected(), 0);
    assert!(r.false_alarms.is_empty());
    // Injected, not labelled.
    let p = tmp.join("unlabelled.toml");
    std::fs::write(
        &p,
        format!(
            "description = \"fault only\"\nrecordings = [\"{recording}\"]\nwindow_s = [0.0, 120.0]\n\
             [[fault]]\nkind = \"silence\"\nat_s = 60.0\ndur_s = 20.0\n"
        ),
    )
    .unwrap();
    let r = eval_file(&Config::default(), &p).unwrap();
    assert!(
        // Every stream of the venue silenced at once: a venue outage.
        r.false_alarms
            .iter()
            .any(|a| a.kind == "venue_outage" || a.kind == "feed_silent"),
        "{:?}",
        r.false_alarms
    );
    let _ = std::fs::remove_dir_all(&tmp);
}
