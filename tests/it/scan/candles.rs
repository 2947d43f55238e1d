//! End-to-end tests of `scan-candles` over real candle files copied to
//! fixtures/candles (see fixtures/SOURCES.md). Every fault is injected by
//! code over the real rows and named after its injection; the unmodified
//! files are never edited.

use crate::util::unresolved;
use feedwatch::alert::{Alert, Incidents, Kind, Severity, State};
use feedwatch::candles::csv::{BadRows, CsvCandle, read_file};
use feedwatch::candles::{ScanError, scan_files, scan_files_stream};
use feedwatch::detect::candle::{CandleChecker, CandleConfig};
use feedwatch::model::{MILLI, StreamKind, Symbol, Venue, format_rfc3339_ms};
use std::path::PathBuf;

const CALM: &str = "BTCUSDT-UM-1m-2025-04-15_aws_apne1.csv";

fn fixture(name: &str) -> PathBuf {
    crate::util::fixture(&format!("candles/{name}"))
}

fn lines(name: &str) -> Vec<String> {
    std::fs::read_to_string(fixture(name))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Writes injected rows to a temp file named after the injection.
fn write_injected(injection: &str, rows: &[String]) -> PathBuf {
    crate::util::write_injected("scan-candles", injection, &(rows.join("\n") + "\n"))
}

fn sym() -> Symbol {
    "BTC/USDT".into()
}

fn scan(paths: &[PathBuf]) -> feedwatch::candles::ScanReport {
    scan_files(
        &CandleConfig::default(),
        Venue::BinanceUsdm,
        sym(),
        60,
        paths,
    )
    .unwrap()
}

fn field(row: &str, i: usize) -> String {
    row.split(',').nth(i).unwrap().to_string()
}

fn set_field(row: &str, i: usize, v: &str) -> String {
    let mut f: Vec<&str> = row.split(',').collect();
    f[i] = v;
    f.join(",")
}

/// Open time of a Binance kline row, formatted as alerts format it.
fn row_time(row: &str) -> String {
    format_rfc3339_ms(field(row, 0).parse::<i64>().unwrap() * MILLI)
}

#[test]
fn injected_missing_stretch_names_the_missing_range() {
    let mut rows = lines(CALM);
    // Delete 5 consecutive data rows (file lines 51..=55).
    let removed: Vec<String> = rows.drain(51..56).collect();
    let p = write_injected("missing_stretch_5_rows", &rows);
    let r = scan(&[p]);
    let gaps = unresolved(&r.alerts, Kind::CandleGap);
    assert_eq!(gaps.len(), 1, "{:#?}", r.alerts);
    let g = gaps[0];
    assert_eq!(g.state, State::Open);
    assert_eq!(g.severity, Severity::Warning);
    assert_eq!(g.evidence.get("missing_intervals").unwrap(), 5);
    assert_eq!(
        g.evidence.get("missing_from").unwrap(),
        row_time(&removed[0]).as_str()
    );
    assert_eq!(
        g.evidence.get("missing_to").unwrap(),
        row_time(&removed[4]).as_str()
    );
    assert!(g.summary.contains("5 intervals"), "{}", g.summary);
    assert!(g.summary.contains("binance-usdm BTC/USDT"), "{}", g.summary);
    // Resolved by the next clean candle.
    assert!(
        r.alerts
            .iter()
            .any(|a| a.kind == Kind::CandleGap && a.state == State::Resolved)
    );
}

#[test]
fn injected_high_below_close_is_candle_invalid() {
    let mut rows = lines(CALM);
    // A real row where close is more than 1.0 above open, so lowering high
    // to close - 0.5 breaks only "high >= close".
    let i = (20..rows.len())
        .find(|&i| {
            let o: f64 = field(&rows[i], 1).parse().unwrap();
            let c: f64 = field(&rows[i], 4).parse().unwrap();
            c - o > 1.0
        })
        .unwrap();
    let close: f64 = field(&rows[i], 4).parse().unwrap();
    let high = format!("{:.2}", close - 0.5);
    rows[i] = set_field(&rows[i], 2, &high);
    let p = write_injected("high_below_close", &rows);
    let r = scan(&[p]);
    let inv = unresolved(&r.alerts, Kind::CandleInvalid);
    assert_eq!(inv.len(), 1, "{:#?}", r.alerts);
    assert_eq!(inv[0].severity, Severity::Critical);
    assert_eq!(
        inv[0].evidence.get("open_time").unwrap(),
        row_time(&rows[i]).as_str()
    );
    assert!(inv[0].summary.contains("below close"), "{}", inv[0].summary);
    assert!(
        inv[0].summary.contains("do not trade"),
        "{}",
        inv[0].summary
    );
    // Alert time is the candle's close time (when it would have been known).
    let open_ms: i64 = field(&rows[i], 0).parse().unwrap();
    assert_eq!(inv[0].at, (open_ms + 60_000) * MILLI);
}

#[test]
fn injected_three_percent_wick_on_calm_minute_is_abnormal() {
    let mut rows = lines(CALM);
    // Line 41 is a calm minute (range 0.1 on 85,632).
    let close: f64 = field(&rows[41], 4).parse().unwrap();
    rows[41] = set_field(&rows[41], 2, &format!("{:.1}", close * 1.03));
    let p = write_injected("wick_3pct_line41", &rows);
    let r = scan(&[p]);
    let ab = unresolved(&r.alerts, Kind::AbnormalCandle);
    assert_eq!(ab.len(), 1, "{:#?}", r.alerts);
    assert_eq!(
        ab[0].evidence.get("open_time").unwrap(),
        row_time(&rows[41]).as_str()
    );
    assert!(ab[0].summary.contains("upper wick"), "{}", ab[0].summary);
    assert!(unresolved(&r.alerts, Kind::CandleInvalid).is_empty());
}

#[test]
fn calm_window_unmodified_gives_nothing_above_info() {
    let r = scan(&[fixture(CALM)]);
    assert_eq!(r.candles, lines(CALM).len() - 1);
    assert!(r.bad_rows.is_empty());
    let loud: Vec<_> = r
        .alerts
        .iter()
        .filter(|a| a.severity > Severity::Info)
        .collect();
    assert!(loud.is_empty(), "{loud:#?}");
}

#[test]
fn file_without_header_gives_same_result_as_with_it() {
    let rows = lines(CALM);
    let plain = scan(&[fixture(CALM)]);
    let headless = scan(&[write_injected("calm_without_header", &rows[1..])]);
    assert_eq!(plain.candles, headless.candles);
    assert_eq!(plain.alerts, headless.alerts);
    // Also with something to report: the wick injection, both ways.
    let mut w = rows.clone();
    let close: f64 = field(&w[41], 4).parse().unwrap();
    w[41] = set_field(&w[41], 2, &format!("{:.1}", close * 1.03));
    let a = scan(&[write_injected("wick_with_header", &w)]);
    let b = scan(&[write_injected("wick_without_header", &w[1..])]);
    assert!(!a.alerts.is_empty());
    let json = |r: &feedwatch::candles::ScanReport| {
        r.alerts.iter().map(Alert::to_json).collect::<Vec<_>>()
    };
    assert_eq!(json(&a), json(&b));
}

#[test]
fn microsecond_times_without_header_read_like_milliseconds() {
    // Injected: Binance's 2025-on public files give open_time (and
    // close_time) in microseconds and often have no header.
    let rows = lines(CALM);
    let mut w = rows.clone();
    let close: f64 = field(&w[41], 4).parse().unwrap();
    w[41] = set_field(&w[41], 2, &format!("{:.1}", close * 1.03));
    let us: Vec<String> = w[1..]
        .iter()
        .map(|r| {
            let r = set_field(r, 0, &format!("{}000", field(r, 0)));
            set_field(&r, 6, &format!("{}999", field(&r, 6)))
        })
        .collect();
    let a = scan(&[write_injected("wick_ms_with_header", &w)]);
    let b = scan(&[write_injected("wick_us_without_header", &us)]);
    assert_eq!(a.candles, rows.len() - 1);
    assert_eq!(a.candles, b.candles);
    assert_eq!(a.first_open, b.first_open);
    assert_eq!(a.alerts.len(), 2);
    assert_eq!(a.alerts, b.alerts);
}

#[test]
fn injected_duplicate_row_is_candle_gap() {
    let mut rows = lines(CALM);
    let dup = rows[40].clone();
    rows.insert(41, dup.clone());
    let r = scan(&[write_injected("duplicate_line40", &rows)]);
    let gaps = unresolved(&r.alerts, Kind::CandleGap);
    assert_eq!(gaps.len(), 1, "{:#?}", r.alerts);
    assert_eq!(gaps[0].evidence.get("fault").unwrap(), "duplicate");
    assert_eq!(
        gaps[0].evidence.get("open_time").unwrap(),
        row_time(&dup).as_str()
    );
}

#[test]
fn injected_swapped_rows_are_out_of_order() {
    let mut rows = lines(CALM);
    rows.swap(60, 61);
    let r = scan(&[write_injected("swap_lines60_61", &rows)]);
    let gaps = unresolved(&r.alerts, Kind::CandleGap);
    assert_eq!(gaps.len(), 1, "{:#?}", r.alerts);
    assert_eq!(gaps[0].evidence.get("fault").unwrap(), "out_of_order");
    assert_eq!(
        gaps[0].evidence.get("open_time").unwrap(),
        row_time(&rows[61]).as_str()
    );
    assert_eq!(
        gaps[0].evidence.get("latest_open_time").unwrap(),
        row_time(&rows[60]).as_str()
    );
}

#[test]
fn overlapping_files_are_concatenated_in_time_order_with_duplicates() {
    let rows = lines(CALM);
    // Split the real file into two overlapping pieces (3 rows in common),
    // given to the scan in reverse order.
    let mut first = vec![rows[0].clone()];
    first.extend_from_slice(&rows[1..73]);
    let mut second = vec![rows[0].clone()];
    second.extend_from_slice(&rows[70..]);
    let a = write_injected("overlap_first_half", &first);
    let b = write_injected("overlap_second_half", &second);
    let r = scan(&[b, a]);
    assert_eq!(r.candles, rows.len() - 1 + 3);
    let gap_alerts: Vec<_> = r
        .alerts
        .iter()
        .filter(|a| a.kind == Kind::CandleGap && a.state != State::Resolved)
        .collect();
    assert_eq!(gap_alerts.len(), 3, "{gap_alerts:#?}");
    assert!(
        gap_alerts
            .iter()
            .all(|a| a.evidence.get("fault").unwrap() == "duplicate")
    );
    let times: Vec<_> = r.alerts.iter().map(|a| a.at).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
}

fn real_candles(name: &str) -> Vec<CsvCandle> {
    let mut out = Vec::new();
    let mut bad = BadRows::default();
    read_file(&fixture(name), 0, 60, &mut out, &mut bad).unwrap();
    assert_eq!(bad.total, 0);
    out
}

#[test]
fn injected_revision_of_closed_candle_is_candle_gap() {
    let candles = real_candles(CALM);
    for as_forming in [false, true] {
        let mut ck = CandleChecker::new(
            &CandleConfig::default(),
            Venue::BinanceUsdm,
            sym(),
            StreamKind::Kline(60),
        );
        let mut inc = Incidents::new();
        let mut out = Vec::new();
        for c in &candles[..30] {
            ck.on_candle(&c.candle)
                .report(&mut inc, ck.key(), c.candle.close_ns(), &mut out);
        }
        assert!(out.is_empty(), "{out:#?}");
        // Injected: candle 29 comes again with its close moved by one tick
        // (still below its high).
        let mut rev = candles[29].candle.clone();
        rev.close += 0.1;
        assert!(rev.close < rev.high);
        rev.closed = !as_forming;
        let now = candles[30].candle.open_ns + 5_000 * MILLI;
        ck.on_candle(&rev).report(&mut inc, ck.key(), now, &mut out);
        assert_eq!(out.len(), 1, "{out:#?}");
        assert_eq!(out[0].kind, Kind::CandleGap);
        assert_eq!(out[0].evidence.get("fault").unwrap(), "revised");
        assert_eq!(out[0].evidence.get("changed").unwrap(), "close");
        assert!(out[0].summary.contains("changed after it closed"));
        if as_forming {
            // The same forming revision again is not news.
            ck.on_candle(&rev)
                .report(&mut inc, ck.key(), now + 1, &mut out);
            assert_eq!(out.len(), 1);
        }
        // The next clean closed candle resolves it.
        let next = &candles[30].candle;
        ck.on_candle(next)
            .report(&mut inc, ck.key(), next.close_ns(), &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].state, State::Resolved);
    }
}

#[test]
fn injected_bad_rows_are_reported_and_scan_continues() {
    let mut rows = lines(CALM);
    let n = rows.len() - 1;
    rows[10] = set_field(&rows[10], 3, "85x01.0");
    rows[20] = rows[20].split(',').take(5).collect::<Vec<_>>().join(",");
    rows[30] = set_field(&rows[30], 0, "not-a-time");
    let p = write_injected("bad_rows_lines11_21_31", &rows);
    let r = scan(std::slice::from_ref(&p));
    let f = p.display().to_string();
    assert_eq!(
        r.bad_rows,
        vec![
            format!("{f}:11: unparsable low `85x01.0`"),
            format!("{f}:21: expected 12 columns, found 5"),
            format!("{f}:31: bad time `not-a-time`"),
        ]
    );
    assert_eq!(r.bad_row_count, 3);
    assert_eq!(r.candles, n - 3);
    // Each skipped row leaves a one-interval hole the checker reports.
    let gaps = r
        .alerts
        .iter()
        .filter(|a| a.kind == Kind::CandleGap && a.state == State::Open)
        .count();
    assert_eq!(gaps, 3);
}

#[test]
fn header_without_needed_columns_is_an_error_naming_them() {
    let rows = lines(CALM);
    let mut bad = vec!["when,open,high,low,close,qty".to_string()];
    bad.extend_from_slice(&rows[1..5]);
    let p = write_injected("header_renamed_columns", &bad);
    let err = scan_files(
        &CandleConfig::default(),
        Venue::BinanceUsdm,
        sym(),
        60,
        std::slice::from_ref(&p),
    )
    .unwrap_err();
    match &err {
        ScanError::MissingColumns { path, missing, .. } => {
            assert_eq!(path, &p);
            assert_eq!(
                missing,
                &vec![
                    "open_time|open_time_ms|timestamp|time".to_string(),
                    "volume".to_string()
                ]
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.to_string().contains("header_renamed_columns.csv"));
    let missing = scan_files(
        &CandleConfig::default(),
        Venue::BinanceUsdm,
        sym(),
        60,
        &[PathBuf::from("/nonexistent/candles.csv")],
    )
    .unwrap_err();
    assert!(missing.to_string().contains("/nonexistent/candles.csv"));
}

#[test]
fn iso_timestamp_month_file_and_trade_built_files_read() {
    let rows = lines("btc-perp-20211231-20220201_1m.csv");
    let head: Vec<String> = rows[..200].to_vec();
    let r = scan(&[write_injected("btc_perp_first_199_rows", &head)]);
    assert_eq!(r.candles, 199);
    assert!(r.bad_rows.is_empty());
    // `2021-12-31 23:01:00.000000` read as UTC.
    assert_eq!(
        r.first_open.map(format_rfc3339_ms).as_deref(),
        Some("2021-12-31T23:01:00.000Z")
    );
    // Trade-built candles skip minutes without trades: not a gap there.
    let g = fixture("gemini_1m_from_trades_2025-10-10_BTCUSD.csv");
    let as_trades = scan_files_stream(
        &CandleConfig::default(),
        Venue::parse_any("gemini").unwrap(),
        "BTC/USD".into(),
        StreamKind::TradeCandles,
        std::slice::from_ref(&g),
    )
    .unwrap();
    assert_eq!(
        as_trades.candles,
        lines(g.file_name().unwrap().to_str().unwrap()).len() - 1
    );
    assert!(unresolved(&as_trades.alerts, Kind::CandleGap).is_empty());
    // The same file as exchange klines does report its empty minutes.
    let as_klines = scan_files(
        &CandleConfig::default(),
        Venue::parse_any("gemini").unwrap(),
        "BTC/USD".into(),
        60,
        &[g],
    )
    .unwrap();
    assert!(!unresolved(&as_klines.alerts, Kind::CandleGap).is_empty());
}

#[test]
fn six_percent_wick_on_trade_built_btc_flagged_after_five_candles() {
    // The first 11 real trade-built Gemini BTC minutes (7-17 trades each),
    // as an 11-minute recording would give.
    let candles = real_candles("gemini_1m_from_trades_2025-10-10_BTCUSD.csv");
    let run = |inject: Option<usize>| {
        let mut ck = CandleChecker::new(
            &CandleConfig::default(),
            Venue::parse_any("gemini").unwrap(),
            "BTC/USD".into(),
            StreamKind::TradeCandles,
        );
        let mut inc = Incidents::new();
        let mut out = Vec::new();
        for (i, c) in candles[..11].iter().enumerate() {
            let mut c = c.candle.clone();
            if inject == Some(i) {
                // Injected: a 6% lower wick.
                c.low = c.open.min(c.close) * 0.94;
            }
            ck.on_candle(&c)
                .report(&mut inc, ck.key(), c.close_ns(), &mut out);
        }
        out
    };
    assert!(run(None).is_empty(), "{:#?}", run(None));
    let out = run(Some(6));
    let ab = unresolved(&out, Kind::AbnormalCandle);
    assert_eq!(ab.len(), 1, "{out:#?}");
    assert_eq!(
        ab[0].evidence.get("open_time").unwrap(),
        format_rfc3339_ms(candles[6].candle.open_ns).as_str()
    );
    assert!(ab[0].summary.contains("lower wick"), "{}", ab[0].summary);
}

/// Runs the checker at default settings over every real file and prints
/// the counts quoted in `CandleConfig`'s docs. Asserts the design targets:
/// nothing above info in the calm window, at most two abnormal candles a
/// day on the month of BTC-PERP, no invalid candles in real exchange data.
#[test]
fn calibrate_on_real_files() {
    let dir = fixture("");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "csv"))
        .collect();
    names.sort();
    assert_eq!(names.len(), 8);
    for p in names {
        let n = p.file_name().unwrap().to_string_lossy().to_string();
        let stream = if n.contains("from_trades") {
            StreamKind::TradeCandles
        } else {
            StreamKind::Kline(60)
        };
        let r = scan_files_stream(
            &CandleConfig::default(),
            Venue::parse_any("calibration").unwrap(),
            "BTC/USD".into(),
            stream,
            std::slice::from_ref(&p),
        )
        .unwrap();
        let count = |k: Kind| {
            r.alerts
                .iter()
                .filter(|a| a.kind == k && a.state != State::Resolved)
                .count()
        };
        let days = r.candles as f64 / 1440.0;
        println!(
            "{n}: {} candles ({days:.2} days), abnormal_candle {}, candle_invalid {}, candle_gap {}",
            r.candles,
            count(Kind::AbnormalCandle),
            count(Kind::CandleInvalid),
            count(Kind::CandleGap)
        );
        assert!(r.bad_rows.is_empty(), "{n}: {:?}", r.bad_rows);
        assert_eq!(count(Kind::CandleInvalid), 0, "{n}");
        if n == CALM {
            assert!(r.alerts.is_empty(), "{:#?}", r.alerts);
        }
        if n.starts_with("btc-perp") {
            assert_eq!(r.candles, 45_031);
            assert!((count(Kind::AbnormalCandle) as f64) <= 2.0 * days);
        }
    }
}
