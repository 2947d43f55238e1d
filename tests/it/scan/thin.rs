//! A thin market, injected by code over the real FTX BTC-PERP month of
//! fixtures/candles (its eleven calm days, 2021-12-31..2022-01-11, where
//! the scan raises nothing): a third of the minutes, in runs of four out of
//! every twelve, are flattened to the previous close with a one-lot volume,
//! as on a pair where a third of the minutes have no trade. The wicks of
//! the real minutes left are the market's own, under 1%; the range scale
//! must not collapse on the flat minutes and call them abnormal, while a
//! several-percent wick (injected) is still flagged.

use feedwatch::alert::{Alert, Kind, State};
use feedwatch::candles::scan_files;
use feedwatch::detect::candle::CandleConfig;
use feedwatch::model::Venue;
use std::path::PathBuf;

const MONTH: &str = "btc-perp-20211231-20220201_1m.csv";
/// Rows of the calm days (one header line, then one row a minute).
const CALM_ROWS: usize = 11 * 1440;
/// A one-lot trade in the file's volume unit (USD): 0.0001 BTC.
const ONE_LOT: &str = "4.7";

fn num(row: &str, i: usize) -> f64 {
    row.split(',').nth(i).unwrap().parse().unwrap()
}

/// Whether minute `i` is flattened: four of every twelve.
fn flat(i: usize) -> bool {
    i > 0 && (i / 4).is_multiple_of(3)
}

/// The calm days with a third of the minutes flattened (injected).
fn thinned() -> Vec<String> {
    let text = std::fs::read_to_string(crate::util::fixture(&format!("candles/{MONTH}"))).unwrap();
    let mut lines = text.lines();
    let mut rows = vec![lines.next().unwrap().to_string()];
    let mut prev_close = 0.0;
    for (i, row) in lines.take(CALM_ROWS).enumerate() {
        if flat(i) {
            let t = row.split(',').next().unwrap();
            let p = format!("{prev_close:.1}");
            rows.push(format!("{t},{p},{p},{p},{p},{ONE_LOT}"));
        } else {
            prev_close = num(row, 4);
            rows.push(row.to_string());
        }
    }
    rows
}

fn scan(injection: &str, rows: &[String]) -> Vec<Alert> {
    let p: PathBuf = crate::util::write_injected("scan-thin", injection, &(rows.join("\n") + "\n"));
    let r = scan_files(
        &CandleConfig::default(),
        Venue::parse_any("ftx").unwrap(),
        "BTC/USD".into(),
        60,
        &[p],
    )
    .unwrap();
    assert_eq!(r.candles, CALM_ROWS);
    r.alerts
}

/// The wick of an abnormal candle's alert as a percentage of its close.
fn wick_pct(a: &Alert) -> f64 {
    let e = |k: &str| a.evidence.get(k).and_then(|v| v.as_f64()).unwrap();
    100.0 * e("wick") / e("close")
}

fn opened(alerts: &[Alert]) -> Vec<&Alert> {
    alerts
        .iter()
        .filter(|a| a.kind == Kind::AbnormalCandle && a.state == State::Open)
        .collect()
}

#[test]
fn injected_thin_market_raises_no_sub_percent_wick() {
    let alerts = scan("thin_third_flat_runs_of_4", &thinned());
    let small: Vec<String> = opened(&alerts)
        .iter()
        .filter(|a| wick_pct(a) < 1.0)
        .map(|a| a.summary.clone())
        .collect();
    assert!(
        small.is_empty(),
        "{} sub-1% wicks called abnormal on the thinned calm days: {small:#?}",
        small.len()
    );
}

#[test]
fn injected_three_percent_wick_in_a_thin_market_is_still_flagged() {
    let mut rows = thinned();
    // A traded (not flattened) minute on day 7: its high lifted 3% above
    // its close (injected).
    let i = 7 * 1440 + 10;
    assert!(!flat(i));
    let row = rows[i + 1].clone();
    let mut f: Vec<String> = row.split(',').map(str::to_string).collect();
    let high = num(&row, 4) * 1.03;
    f[2] = format!("{high:.1}");
    rows[i + 1] = f.join(",");
    let alerts = scan("thin_third_flat_wick_3pct", &rows);
    let time = row.split(',').next().unwrap().replace(' ', "T");
    let hit: Vec<&Alert> = opened(&alerts)
        .into_iter()
        .filter(|a| {
            a.evidence
                .get("open_time")
                .and_then(|v| v.as_str())
                .is_some_and(|t| t.starts_with(&time[..16]))
        })
        .collect();
    assert_eq!(hit.len(), 1, "{:#?}", opened(&alerts));
    assert!(wick_pct(hit[0]) > 2.5, "{}", hit[0].summary);
    assert!(hit[0].summary.contains("upper wick"), "{}", hit[0].summary);
}
