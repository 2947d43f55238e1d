//! The command line's stderr, byte for byte, where it has no wall-time
//! figure: the summaries of `import` and `scan-candles` (one source and
//! several), an error in `feedwatch: error: ...` form with exit status 1,
//! and clap's usage errors with status 2. Recorded from main at fc54277,
//! before `main.rs` was split into `src/cli/`.

use super::util::temp_dir;
use std::path::PathBuf;
use std::process::{Command, Output};

fn feedwatch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_feedwatch"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("RUST_LOG")
        .output()
        .expect("feedwatch runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).expect("stderr is UTF-8")
}

const CRASH_2025: &str = "fixtures/candles/BTCUSDT-UM-1m-2025-10-10_crash.csv";

#[test]
fn import_summary_names_counts_output_and_bad_line_samples() {
    let dir = temp_dir("summaries-import");
    let good: PathBuf = dir.join("f.fx");
    let out = feedwatch(&[
        "import",
        "--from",
        "cryptofeed",
        "--venue",
        "binance-usdm",
        "-o",
        good.to_str().unwrap(),
        "fixtures/cryptofeed/BINANCE_FUTURES.ws.1.0",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        format!(
            "feedwatch import: 1536 lines -> 1536 records (1535 frames, 0 sent, 0 REST, 1 connections) in {}; 0 bad lines\n",
            good.display()
        )
    );
    // A candle CSV is no hftbacktest recording: every line is bad, and the
    // first hundred are quoted under the summary.
    let bad = dir.join("bad.fx");
    let out = feedwatch(&[
        "import",
        "--from",
        "hftbacktest",
        "--venue",
        "binance-spot",
        "-o",
        bad.to_str().unwrap(),
        CRASH_2025,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut want = format!(
        "feedwatch import: 263 lines -> 0 records (0 frames, 0 sent, 0 REST, 0 connections) in {}; 263 bad lines\n",
        bad.display()
    );
    for line in 1..=100 {
        want.push_str(&format!(
            "  {CRASH_2025}:{line}: expected `<recv_ns> <frame>`\n"
        ));
    }
    assert_eq!(stderr(&out), want);
}

#[test]
fn scan_summaries_for_one_source_and_several() {
    let out = feedwatch(&[
        "scan-candles",
        "--venue",
        "binance-usdm",
        "--symbol",
        "BTC/USDT",
        CRASH_2025,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        "feedwatch scan-candles: 262 candles from 1 file(s), 2 alerts, 0 bad rows\n"
    );
    let out = feedwatch(&[
        "scan-candles",
        "--source",
        &format!("binance-usdm:BTC/USDT={CRASH_2025}"),
        "--source",
        "trades:gemini:BTC/USD=fixtures/candles/gemini_1m_from_trades_2025-10-10_BTCUSD.csv",
        "--source",
        "trades:gemini:ETH/USD=fixtures/candles/gemini_1m_from_trades_2025-10-10_ETHUSD.csv",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        "feedwatch scan-candles: 2935 candles from 3 source(s), 6 alerts, 0 bad rows; abnormal candles: 3 (2 confirmed by peers, 0 venue alone, 0 unconfirmed, 0 with other assets' market-wide move, 1 without peers)\n\
         \x20 binance-usdm BTC/USDT kline_1m: 262 candles from 1 file(s), 0 bad rows, 1 peer source(s)\n\
         \x20 gemini BTC/USD trade_candles_1m: 1351 candles from 1 file(s), 0 bad rows, 1 peer source(s)\n\
         \x20 gemini ETH/USD trade_candles_1m: 1322 candles from 1 file(s), 0 bad rows, 0 peer source(s)\n"
    );
}

#[test]
fn errors_are_one_line_with_status_1_and_usage_errors_status_2() {
    let out = feedwatch(&[
        "scan-candles",
        "--venue",
        "binance-usdm",
        "--symbol",
        "X",
        CRASH_2025,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "feedwatch: error: invalid symbol `X`: use canonical BASE/QUOTE, e.g. BTC/USDT\n"
    );
    let out = feedwatch(&[
        "replay",
        "--speed",
        "bogus",
        "fixtures/scenarios/clean.toml",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "feedwatch: error: invalid speed `bogus`: use `max` or a positive factor such as 1 or 10\n"
    );
    let out = feedwatch(&["bogus"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).starts_with("error: unrecognized subcommand 'bogus'"));
}
