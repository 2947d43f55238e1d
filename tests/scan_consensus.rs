//! End-to-end tests of the multi-venue `scan-candles` (`--source`) and its
//! cross-venue consensus, over real candle files copied to fixtures/candles
//! (see fixtures/SOURCES.md): Binance USD-M BTCUSDT klines through the
//! 2025-10-10 crash, and one-minute bars built from real Gemini BTC/USD
//! trades of the same day. Faults are injected by code over copies of the
//! real rows and named after their injection; the fixtures are never edited.

use feedwatch::alert::{Alert, Kind, Severity, State};
use feedwatch::candles::multi::MultiReport;
use feedwatch::candles::{SourceSpec, scan_files, scan_sources};
use feedwatch::detect::candle::CandleConfig;
use feedwatch::detect::consensus::ConsensusConfig;
use feedwatch::model::{MILLI, Venue, format_rfc3339_ms};
use serde_json::Value;
use std::collections::HashSet;
use std::path::PathBuf;

const CRASH: &str = "BTCUSDT-UM-1m-2025-10-10_crash.csv";
const GEMINI_BTC: &str = "gemini_1m_from_trades_2025-10-10_BTCUSD.csv";
const GEMINI_ETH: &str = "gemini_1m_from_trades_2025-10-10_ETHUSD.csv";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/candles")
        .join(name)
}

fn binance(path: PathBuf) -> SourceSpec {
    SourceSpec {
        venue: Venue::BinanceUsdm,
        symbol: "BTC/USDT".into(),
        from_trades: false,
        path,
    }
}

fn gemini(name: &str, symbol: &str) -> SourceSpec {
    SourceSpec {
        venue: Venue::parse_any("gemini").unwrap(),
        symbol: symbol.into(),
        from_trades: true,
        path: fixture(name),
    }
}

fn scan_with(candle: &CandleConfig, cons: &ConsensusConfig, specs: &[SourceSpec]) -> MultiReport {
    scan_sources(candle, cons, 60, specs).unwrap()
}

fn scan(specs: &[SourceSpec]) -> MultiReport {
    scan_with(&CandleConfig::default(), &ConsensusConfig::default(), specs)
}

/// Open times (`2025-10-10T21:13:00.000Z`) of the minutes present in a
/// trade-bar file, read straight from the file.
fn minutes_in(name: &str) -> HashSet<String> {
    std::fs::read_to_string(fixture(name))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| format_rfc3339_ms(l.split(',').next().unwrap().parse::<i64>().unwrap() * MILLI))
        .collect()
}

/// The Binance row (as fields) with this open time.
fn binance_row(open_time: &str) -> Vec<f64> {
    std::fs::read_to_string(fixture(CRASH))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            l.split(',')
                .map(|f| f.parse::<f64>().unwrap())
                .collect::<Vec<_>>()
        })
        .find(|f| format_rfc3339_ms(f[0] as i64 * MILLI) == open_time)
        .unwrap()
}

fn abnormal(alerts: &[Alert]) -> Vec<&Alert> {
    alerts
        .iter()
        .filter(|a| a.kind == Kind::AbnormalCandle && a.state != State::Resolved)
        .collect()
}

fn ev_str<'a>(a: &'a Alert, key: &str) -> &'a str {
    a.evidence.get(key).and_then(Value::as_str).unwrap_or("")
}

fn ev_f64(a: &Alert, key: &str) -> f64 {
    a.evidence.get(key).and_then(Value::as_f64).unwrap()
}

#[test]
fn crash_with_gemini_peer_pages_only_where_no_peer_candle_exists() {
    let r = scan(&[binance(fixture(CRASH)), gemini(GEMINI_BTC, "BTC/USD")]);
    let gemini_minutes = minutes_in(GEMINI_BTC);
    // Gemini minutes without trades are absent, not gaps.
    assert!(
        r.alerts.iter().all(|a| a.kind != Kind::CandleGap),
        "{:#?}",
        r.alerts
    );
    // Every alert at warning or above is an abnormal candle the peer could
    // not speak to: Gemini has no bar in that minute (its capture lagged to
    // 10 s and then had no trades from 20:55 to 21:07, and again from
    // 21:13:54 to 21:20:47).
    let loud: Vec<&Alert> = r
        .alerts
        .iter()
        .filter(|a| a.severity >= Severity::Warning && a.state != State::Resolved)
        .collect();
    for a in &loud {
        assert_eq!(a.kind, Kind::AbnormalCandle, "{a:#?}");
        assert_eq!(ev_str(a, "consensus"), "unconfirmed", "{a:#?}");
        assert!(
            !gemini_minutes.contains(ev_str(a, "open_time")),
            "a peer bar exists, yet {a:#?}"
        );
        assert!(
            a.summary
                .contains("unconfirmed, no peer candle in the same minute (gemini BTC/USD)"),
            "{}",
            a.summary
        );
    }
    // The crash minute 21:13 (Binance low 3.4% under its open) is flagged on
    // Gemini and confirmed by Binance: a market move, info only.
    let b = binance_row("2025-10-10T21:13:00.000Z");
    assert!(
        b[3] / b[1] - 1.0 < -0.03,
        "Binance 21:13 low {} open {}",
        b[3],
        b[1]
    );
    let confirmed: Vec<&Alert> = abnormal(&r.alerts)
        .into_iter()
        .filter(|a| ev_str(a, "consensus") == "confirmed")
        .collect();
    let c = confirmed
        .iter()
        .find(|a| ev_str(a, "open_time") == "2025-10-10T21:13:00.000Z")
        .unwrap_or_else(|| panic!("21:13 not confirmed: {:#?}", r.alerts));
    assert_eq!(c.venue.id(), "gemini");
    assert_eq!(c.severity, Severity::Info);
    assert!(
        c.summary
            .contains("peers confirm a market move (binance-usdm BTC/USDT low -3.39%"),
        "{}",
        c.summary
    );
    assert!(ev_f64(c, "venue_move_pct") < -2.0);
    let peer = &c.evidence.get("peers").unwrap()[0];
    assert_eq!(peer["venue"], "binance-usdm");
    assert!(peer["move_pct"].as_f64().unwrap() < -3.0);
    // Its resolve carries the severity the consensus gave it.
    assert!(r.alerts.iter().any(|a| a.state == State::Resolved
        && a.incident == c.incident
        && a.severity == Severity::Info));
    assert_eq!(r.verdicts.divergent, 0, "{:#?}", r.alerts);
    assert_eq!(
        r.verdicts.abnormal,
        r.verdicts.confirmed + r.verdicts.unconfirmed
    );
    eprintln!("default config: {:?}", r.verdicts);
}

#[test]
fn sensitive_checks_on_the_crash_find_only_market_moves_where_peers_traded() {
    // A far more sensitive candle config flags many crash minutes on both
    // venues; the consensus must call every one with a peer bar a market
    // move, and never single a venue out on real, unmodified data.
    let candle = CandleConfig {
        wick_k: 4.0,
        return_threshold: 4.0,
        ..CandleConfig::default()
    };
    let r = scan_with(
        &candle,
        &ConsensusConfig::default(),
        &[binance(fixture(CRASH)), gemini(GEMINI_BTC, "BTC/USD")],
    );
    let gemini_minutes = minutes_in(GEMINI_BTC);
    let binance_minutes: HashSet<String> = abnormal(&r.alerts)
        .iter()
        .filter(|a| a.venue == Venue::BinanceUsdm)
        .map(|a| ev_str(a, "open_time").to_string())
        .collect();
    let mut confirmed_crash_minutes = Vec::new();
    for a in abnormal(&r.alerts) {
        let t = ev_str(a, "open_time");
        let peer_has_bar = if a.venue == Venue::BinanceUsdm {
            gemini_minutes.contains(t)
        } else {
            // Gemini's peer is Binance, whose file covers 19:13-23:34.
            ("2025-10-10T19:13".."2025-10-10T23:35").contains(&t)
        };
        if peer_has_bar {
            assert_eq!(ev_str(a, "consensus"), "confirmed", "{a:#?}");
            assert_eq!(a.severity, Severity::Info);
            if ("2025-10-10T21:10".."2025-10-10T21:30").contains(&t) {
                confirmed_crash_minutes.push(format!("{} {}", &t[11..16], a.venue));
            }
        } else {
            assert_eq!(ev_str(a, "consensus"), "unconfirmed", "{a:#?}");
            assert_eq!(a.severity, Severity::Warning);
        }
    }
    assert!(
        confirmed_crash_minutes.len() >= 3,
        "{confirmed_crash_minutes:?}"
    );
    assert!(
        confirmed_crash_minutes.contains(&"21:13 binance-usdm".to_string()),
        "{confirmed_crash_minutes:?} (binance flagged {binance_minutes:?})"
    );
    eprintln!(
        "sensitive config: {:?}, confirmed {confirmed_crash_minutes:?}",
        r.verdicts
    );
}

/// Writes the injected rows to a fresh temp file named after the injection.
fn write_injected(injection: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("feedwatch-scan-consensus-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(format!("{injection}.csv"));
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn injected_bad_print_on_binance_in_calm_stretch_is_binance_alone() {
    let clean = scan(&[binance(fixture(CRASH)), gemini(GEMINI_BTC, "BTC/USD")]);
    let gemini_minutes = minutes_in(GEMINI_BTC);
    let text = std::fs::read_to_string(fixture(CRASH)).unwrap();
    let mut rows: Vec<String> = text.lines().map(str::to_string).collect();
    // A calm minute 19:45-20:15 that Gemini traded in, with no alert from
    // either venue within 5 minutes in the clean scan.
    let quiet = |t: i64| {
        clean
            .alerts
            .iter()
            .all(|a| (a.at / MILLI - t).abs() > 5 * 60_000)
    };
    let i = (1..rows.len())
        .find(|&i| {
            let t: i64 = rows[i].split(',').next().unwrap().parse().unwrap();
            let s = format_rfc3339_ms(t * MILLI);
            ("2025-10-10T19:45".."2025-10-10T20:15").contains(&s.as_str())
                && gemini_minutes.contains(&s)
                && quiet(t + 60_000)
        })
        .unwrap();
    // Injected: a bad print, the candle's high 3% above its close.
    let mut f: Vec<String> = rows[i].split(',').map(str::to_string).collect();
    let close: f64 = f[4].parse().unwrap();
    let open: f64 = f[1].parse().unwrap();
    f[2] = format!("{:.1}", close * 1.03);
    rows[i] = f.join(",");
    let open_time = format_rfc3339_ms(f[0].parse::<i64>().unwrap() * MILLI);
    let p = write_injected("bad_print_high_3pct", &(rows.join("\n") + "\n"));
    let r = scan(&[binance(p), gemini(GEMINI_BTC, "BTC/USD")]);
    let hit = abnormal(&r.alerts)
        .into_iter()
        .find(|a| ev_str(a, "open_time") == open_time)
        .unwrap_or_else(|| panic!("{open_time} not flagged: {:#?}", r.alerts));
    assert_eq!(hit.venue, Venue::BinanceUsdm);
    assert!(hit.severity >= Severity::Warning, "{hit:#?}");
    assert_eq!(ev_str(hit, "consensus"), "divergent", "{hit:#?}");
    assert!(
        hit.summary.starts_with("binance-usdm BTC/USDT"),
        "{}",
        hit.summary
    );
    assert!(hit.summary.contains("this venue alone"), "{}", hit.summary);
    assert!(hit.summary.contains("gemini BTC/USD"), "{}", hit.summary);
    assert_eq!(ev_str(hit, "consensus_probe"), "high");
    let want = 100.0 * (close * 1.03 / open - 1.0);
    assert!(
        (ev_f64(hit, "venue_move_pct") - want).abs() < 0.01,
        "{hit:#?}"
    );
    let peer = &hit.evidence.get("peers").unwrap()[0];
    assert!(peer["move_pct"].as_f64().unwrap().abs() < 0.5, "{peer}");
    assert_eq!(peer["abnormal"], false);
    // Nothing on Gemini: the fault is Binance's alone.
    assert!(
        r.alerts
            .iter()
            .filter(|a| a.venue != Venue::BinanceUsdm)
            .all(|a| clean.alerts.contains(a)),
        "{:#?}",
        r.alerts
    );
}

#[test]
fn binance_alone_or_with_other_pairs_is_exactly_the_single_source_scan() {
    let single = scan_files(
        &CandleConfig::default(),
        Venue::BinanceUsdm,
        "BTC/USDT".into(),
        60,
        &[fixture(CRASH)],
    )
    .unwrap();
    assert!(
        single
            .alerts
            .iter()
            .any(|a| a.kind == Kind::AbnormalCandle && a.severity == Severity::Warning),
        "the crash flags at least one candle on its own"
    );
    let alone = scan(&[binance(fixture(CRASH))]);
    assert_eq!(alone.alerts, single.alerts);
    assert_eq!(alone.verdicts.without_peers, alone.verdicts.abnormal);
    // ETH/USD is another pair: no peer, nothing changes for BTC/USDT.
    let with_eth = scan(&[binance(fixture(CRASH)), gemini(GEMINI_ETH, "ETH/USD")]);
    let btc: Vec<&Alert> = with_eth
        .alerts
        .iter()
        .filter(|a| a.venue == Venue::BinanceUsdm)
        .collect();
    assert_eq!(btc, single.alerts.iter().collect::<Vec<_>>());
}

#[test]
fn separate_quote_families_or_markets_have_no_peers() {
    let specs = [binance(fixture(CRASH)), gemini(GEMINI_BTC, "BTC/USD")];
    let by_default = scan(&specs);
    assert!(by_default.verdicts.confirmed >= 1);
    for cons in [
        ConsensusConfig {
            quote_families: vec![],
            ..ConsensusConfig::default()
        },
        ConsensusConfig {
            mix_spot_perp: false,
            ..ConsensusConfig::default()
        },
    ] {
        let r = scan_with(&CandleConfig::default(), &cons, &specs);
        assert_eq!(r.verdicts.confirmed, 0, "{cons:?}");
        assert_eq!(r.verdicts.without_peers, r.verdicts.abnormal, "{cons:?}");
        assert!(
            abnormal(&r.alerts)
                .iter()
                .all(|a| a.severity == Severity::Warning && a.evidence.get("consensus").is_none())
        );
    }
}

fn feedwatch(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_feedwatch"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn cli_sources_and_bad_specs() {
    let b = format!("binance-usdm:BTC/USDT={}", fixture(CRASH).display());
    let g = format!("trades:gemini:BTC/USD={}", fixture(GEMINI_BTC).display());
    let out = feedwatch(&["scan-candles", "--source", &b, "--source", &g]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        lines
            .iter()
            .any(|a| a["evidence"]["consensus"] == "confirmed"
                && a["severity"] == "info"
                && a["venue"] == "gemini")
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("2 source(s)"), "{stderr}");
    assert!(stderr.contains("confirmed by peers"), "{stderr}");

    for (spec, want) in [
        ("gemini:BTCUSD=x.csv", "bad --source `gemini:BTCUSD=x.csv`"),
        ("gemini/BTC/USD=x.csv", "no `VENUE:`"),
        ("gemini:BTC/USD", "no `=FILE`"),
    ] {
        let out = feedwatch(&["scan-candles", "--source", spec]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{spec}: {err}");
    }
    let out = feedwatch(&[
        "scan-candles",
        "--source",
        "gemini:BTC/USD=/nonexistent/feedwatch-test.csv",
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("/nonexistent/feedwatch-test.csv"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = feedwatch(&["scan-candles", "--venue", "binance-usdm", "--source", &g]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("go together"));
}
