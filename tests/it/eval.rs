//! `feedwatch eval` over the scenario suite in fixtures/scenarios: real
//! Binance recordings with faults injected by code, each with the alerts a
//! desk must get. Every label is detected in time and nothing at warning or
//! above goes unexplained; a scenario whose fault is taken out is missed,
//! so the score can fail.

use crate::util::temp_dir;
use feedwatch::detect::DetectConfig;
use feedwatch::eval::{eval_dir, eval_file};
use std::path::Path;

fn scenarios() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/scenarios"))
}

#[test]
fn the_scenario_suite_is_detected_in_full_without_false_alarms() {
    let report = eval_dir(&DetectConfig::default(), scenarios()).unwrap();
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
    let tmp = temp_dir("eval_labels");
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
    let r = eval_file(&DetectConfig::default(), &p).unwrap();
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
    let r = eval_file(&DetectConfig::default(), &p).unwrap();
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

/// The real crash scenario (candle sources, nothing injected) scans both
/// venues and pages nothing; a copy of it with a bad print injected by code
/// into one calm Binance minute is a false alarm until a label explains it,
/// so the quiet result can fail.
#[test]
fn candle_scenarios_score_the_consensus_scan() {
    let crash = eval_file(
        &DetectConfig::default(),
        &scenarios().join("crash-all-venues.toml"),
    )
    .unwrap();
    assert!(crash.false_alarms.is_empty(), "{:?}", crash.false_alarms);
    // Its two labels are the one-venue events outside the crash (Coinbase
    // LINK/USD at 16:44, Gemini ETH/USD at 23:49), both found.
    assert_eq!(crash.labels.len(), 2);
    assert!(
        crash.labels.iter().all(|l| l.delay_s.is_some()),
        "{:?}",
        crash.labels
    );
    // Every row of the five files was scanned (262 Binance klines, and the
    // Gemini and Coinbase one-minute bars), and the crash's abnormal
    // candles (20:56 Binance and AVAX, 20:59 AVAX, 21:13 Gemini) were
    // raised at info.
    let rows = |name: &str| {
        std::fs::read_to_string(scenarios().join("../candles").join(name))
            .unwrap()
            .lines()
            .skip(1)
            .count()
    };
    assert_eq!(
        crash.records,
        rows("BTCUSDT-UM-1m-2025-10-10_crash.csv")
            + rows("gemini_1m_from_trades_2025-10-10_BTCUSD.csv")
            + rows("gemini_1m_from_trades_2025-10-10_ETHUSD.csv")
            + rows("coinbase_1m_from_trades_2025-10-10_AVAX-USD.csv")
            + rows("coinbase_1m_from_trades_2025-10-10_LINK-USD.csv")
    );
    assert!(crash.incidents >= 6, "{}", crash.incidents);

    let candles = scenarios().join("../candles");
    let binance = candles.join("BTCUSDT-UM-1m-2025-10-10_crash.csv");
    let gemini = candles.join("gemini_1m_from_trades_2025-10-10_BTCUSD.csv");
    let tmp = temp_dir("eval_candles");
    // Injected: the 19:45 UTC candle's high 3% above its close (a calm
    // minute before the crash, in which Gemini traded).
    let minute_ms: i64 = 1_760_125_500_000;
    let text = std::fs::read_to_string(&binance).unwrap();
    let mut hit = 0;
    let rows: Vec<String> = text
        .lines()
        .map(|l| {
            let mut f: Vec<String> = l.split(',').map(str::to_string).collect();
            if f[0] == minute_ms.to_string() {
                let close: f64 = f[4].parse().unwrap();
                f[2] = format!("{:.1}", close * 1.03);
                hit += 1;
            }
            f.join(",")
        })
        .collect();
    assert_eq!(hit, 1);
    std::fs::write(
        tmp.join("injected_bad_print_1945.csv"),
        rows.join("\n") + "\n",
    )
    .unwrap();
    // Scenario times count from the earliest candle: Gemini's first bar.
    let first_gemini_ms: i64 = std::fs::read_to_string(&gemini)
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let at_s = (minute_ms - first_gemini_ms) as f64 / 1000.0;
    let sources = format!(
        "candles = [\"binance-usdm:BTC/USDT=injected_bad_print_1945.csv\", \"trades:gemini:BTC/USD={}\"]\n",
        gemini.display()
    );
    let p = tmp.join("unlabelled.toml");
    std::fs::write(
        &p,
        format!("description = \"injected, unlabelled\"\n{sources}"),
    )
    .unwrap();
    let r = eval_file(&DetectConfig::default(), &p).unwrap();
    assert_eq!(r.false_alarms.len(), 1, "{:?}", r.false_alarms);
    let fa = &r.false_alarms[0];
    assert_eq!(fa.kind, "abnormal_candle");
    assert!(fa.summary.contains("this venue alone"), "{}", fa.summary);
    assert!(
        (0.0..=120.0).contains(&(fa.at_s - at_s)),
        "{} vs {at_s}",
        fa.at_s
    );
    let p = tmp.join("labelled.toml");
    std::fs::write(
        &p,
        format!(
            "description = \"injected, labelled\"\n{sources}\n[[expect]]\nkind = \"abnormal_candle\"\n\
             venue = \"binance-usdm\"\nat_s = {at_s}\nwithin_s = 120.0\n"
        ),
    )
    .unwrap();
    let r = eval_file(&DetectConfig::default(), &p).unwrap();
    assert!(r.false_alarms.is_empty(), "{:?}", r.false_alarms);
    assert_eq!(r.detected(), 1);

    // A label may say what the desk must be told: the cause and the least
    // severity. The lone print is this venue's own, at warning: a label
    // calling it a market move, or asking for a page, is not met.
    for (extra, met) in [
        ("cause = \"venue_local\"\nseverity = \"warning\"\n", true),
        ("cause = \"market_move\"\n", false),
        ("severity = \"critical\"\n", false),
    ] {
        let p = tmp.join("labelled_cause.toml");
        std::fs::write(
            &p,
            format!(
                "description = \"injected, labelled\"\n{sources}\n[[expect]]\nkind = \"abnormal_candle\"\n\
                 venue = \"binance-usdm\"\n{extra}at_s = {at_s}\nwithin_s = 120.0\n"
            ),
        )
        .unwrap();
        let r = eval_file(&DetectConfig::default(), &p).unwrap();
        assert_eq!(r.detected() == 1, met, "{extra}: {:?}", r.labels);
        assert_eq!(
            r.false_alarms.is_empty(),
            met,
            "{extra}: {:?}",
            r.false_alarms
        );
    }
    let p = tmp.join("labelled_bad_cause.toml");
    std::fs::write(
        &p,
        format!(
            "description = \"bad cause\"\n{sources}\n[[expect]]\nkind = \"abnormal_candle\"\n\
             cause = \"venue\"\nat_s = {at_s}\nwithin_s = 120.0\n"
        ),
    )
    .unwrap();
    let e = eval_file(&DetectConfig::default(), &p)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("labelled_bad_cause.toml") && e.contains("venue_local"),
        "{e}"
    );

    // Recipes that mix the two kinds, or inject into candles, are refused.
    for (name, extra, want) in [
        ("both", "recordings = [\"x.zst\"]\n", "not both"),
        (
            "fault",
            "[[fault]]\nkind = \"silence\"\nat_s = 1.0\n",
            "takes none",
        ),
        ("window", "window_s = [0.0, 1.0]\n", "takes none"),
    ] {
        let p = tmp.join(format!("{name}.toml"));
        // `[[fault]]` must come after the top-level keys.
        std::fs::write(&p, format!("description = \"{name}\"\n{sources}{extra}")).unwrap();
        let e = eval_file(&DetectConfig::default(), &p)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&format!("{name}.toml")) && e.contains(want),
            "{e}"
        );
    }
    let p = tmp.join("badspec.toml");
    std::fs::write(
        &p,
        "description = \"x\"\ncandles = [\"gemini:BTCUSD=f.csv\"]\n",
    )
    .unwrap();
    let e = eval_file(&DetectConfig::default(), &p)
        .unwrap_err()
        .to_string();
    assert!(e.contains("candles[0]") && e.contains("BTCUSD"), "{e}");
    let _ = std::fs::remove_dir_all(&tmp);
}
