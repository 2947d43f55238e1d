//! Three venues of one pair in the multi-venue scan, on real data: the
//! Binance USD-M BTCUSDT klines and the Gemini BTC/USD trade bars of
//! 2025-10-10 (fixtures/candles), and a third venue *derived* from the
//! Gemini bars (filed as `kraken`, every price times a deterministic
//! factor within 2 bps of 1): only two real BTC venues of that day are
//! bundled. The derived venue is named as derived and never presented as
//! recorded; the moves of the judged minute are injected by code into
//! copies of the rows, never into the fixtures.

use crate::util::{fixture, unresolved, write_injected};
use feedwatch::alert::{Alert, Kind, Severity};
use feedwatch::candles::SourceSpec;
use feedwatch::candles::multi::MultiReport;
use feedwatch::candles::scan_sources;
use feedwatch::detect::candle::CandleConfig;
use feedwatch::detect::consensus::ConsensusConfig;
use feedwatch::model::{MILLI, Venue, format_rfc3339_ms};
use serde_json::Value;
use std::path::PathBuf;

const CRASH: &str = "candles/BTCUSDT-UM-1m-2025-10-10_crash.csv";
const GEMINI_BTC: &str = "candles/gemini_1m_from_trades_2025-10-10_BTCUSD.csv";

fn rows(name: &str) -> Vec<String> {
    std::fs::read_to_string(fixture(name))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Multiplies the close of the row opening at `t_ms` by `factor` (the low
/// follows it down, the high up); `close_col` is the close's column, the
/// open, high and low the three before it.
fn move_close(rows: &mut [String], t_ms: i64, close_col: usize, factor: f64) {
    let row = rows
        .iter_mut()
        .find(|r| r.starts_with(&format!("{t_ms},")))
        .unwrap();
    let mut f: Vec<String> = row.split(',').map(str::to_string).collect();
    let num = |s: &str| s.parse::<f64>().unwrap();
    let close = num(&f[close_col]) * factor;
    let (hi, lo) = (num(&f[close_col - 2]), num(&f[close_col - 1]));
    f[close_col] = format!("{close:.2}");
    f[close_col - 2] = format!("{:.2}", hi.max(close));
    f[close_col - 1] = format!("{:.2}", lo.min(close));
    *row = f.join(",");
}

/// The third venue, derived from the Gemini bars: open, high, low and
/// close of row `i` times `1 + 1e-4 * ((i % 5) - 2)`.
fn derived_from_gemini(gemini: &[String]) -> Vec<String> {
    let mut out = vec![gemini[0].clone()];
    for (i, r) in gemini.iter().enumerate().skip(1) {
        let k = 1.0 + 1e-4 * ((i % 5) as f64 - 2.0);
        let f: Vec<String> = r
            .split(',')
            .enumerate()
            .map(|(c, v)| {
                if (2..=5).contains(&c) {
                    format!("{:.2}", v.parse::<f64>().unwrap() * k)
                } else {
                    v.to_string()
                }
            })
            .collect();
        out.push(f.join(","));
    }
    out
}

fn spec(venue: Venue, symbol: &str, from_trades: bool, path: PathBuf) -> SourceSpec {
    SourceSpec {
        venue,
        symbol: symbol.into(),
        from_trades,
        price_column: None,
        path,
    }
}

/// The three venues, the judged minute's closes moved by the factors
/// (Binance, Gemini, derived; injected), and the minute's open time.
fn scan_three(name: &str, moves: [f64; 3]) -> (MultiReport, String) {
    let mut binance = rows(CRASH);
    let mut gemini = rows(GEMINI_BTC);
    let mut derived = derived_from_gemini(&gemini);
    // The first calm minute of 19:50-20:10 UTC both real venues traded in,
    // and the minute before it (the move's reference).
    let has = |rows: &[String], t: i64| rows.iter().any(|r| r.starts_with(&format!("{t},")));
    let t_ms = binance
        .iter()
        .skip(1)
        .map(|r| r.split(',').next().unwrap().parse::<i64>().unwrap())
        .find(|&t| {
            let s = format_rfc3339_ms(t * MILLI);
            ("2025-10-10T19:50".."2025-10-10T20:10").contains(&s.as_str())
                && has(&gemini, t)
                && has(&gemini, t - 60_000)
        })
        .unwrap();
    move_close(&mut binance, t_ms, 4, moves[0]);
    move_close(&mut gemini, t_ms, 5, moves[1]);
    move_close(&mut derived, t_ms, 5, moves[2]);
    let w = |who: &str, rows: &[String]| {
        write_injected(
            "scan-levels",
            &format!("{name}_{who}"),
            &(rows.join("\n") + "\n"),
        )
    };
    let specs = [
        spec(
            Venue::BinanceUsdm,
            "BTC/USDT",
            false,
            w("binance", &binance),
        ),
        spec(
            Venue::parse_any("gemini").unwrap(),
            "BTC/USD",
            true,
            w("gemini", &gemini),
        ),
        spec(Venue::Kraken, "BTC/USD", true, w("derived", &derived)),
    ];
    let r = scan_sources(
        &CandleConfig::default(),
        &ConsensusConfig::default(),
        60,
        &specs,
    )
    .unwrap();
    (r, format_rfc3339_ms(t_ms * MILLI))
}

fn alert_at<'a>(r: &'a MultiReport, venue: Venue, open_time: &str) -> &'a Alert {
    unresolved(&r.alerts, Kind::AbnormalCandle)
        .into_iter()
        .find(|a| {
            a.venue == venue
                && a.evidence.get("open_time").and_then(Value::as_str) == Some(open_time)
        })
        .unwrap_or_else(|| panic!("{open_time} not flagged: {:#?}", r.alerts))
}

fn consensus(a: &Alert) -> &str {
    a.evidence
        .get("consensus")
        .and_then(Value::as_str)
        .unwrap_or("")
}

#[test]
fn a_close_halved_is_divergent_though_a_volatile_peer_moved_the_same_way() {
    // Injected: Binance's close halves in one minute while Gemini falls 2%
    // and the derived venue 9%. Over all three moves (the candidate's
    // included) the MAD is the volatile peer's 7 points and 5 x 1.48 x 7
    // covers the candidate's 41: "peers confirm", info. Against the two
    // others only, it is alone.
    let (r, t) = scan_three("halved", [0.5, 0.98, 0.91]);
    let a = alert_at(&r, Venue::BinanceUsdm, &t);
    assert_eq!(consensus(a), "divergent", "{a:#?}");
    assert!(a.severity >= Severity::Warning, "{a:#?}");
    assert_eq!(a.cause, feedwatch::alert::Cause::VenueLocal);
}

#[test]
fn moves_of_very_different_size_the_same_way_do_not_confirm() {
    // The judged venue is Gemini. A one-minute move must pass its own
    // Student-t surprise first (a usual 0.09% a minute there: 9% is
    // surprise 7.9 against the threshold 7, 3% is not abnormal), so the
    // moves are 9% and three times that.
    let gemini = Venue::parse_any("gemini").unwrap();
    // Injected: Gemini down 27% while Binance and the derived venue fall
    // 9%: alone (this passed before too: the peers agree, the MAD is nil).
    let (r, t) = scan_three("down_3x", [0.91, 0.73, 0.9103]);
    assert_eq!(consensus(alert_at(&r, gemini, &t)), "divergent");
    // Injected: Gemini down 9% while both peers fall 27%. Each peer "moved
    // further the same way", which counted as moving exactly as far:
    // "peers confirm", info. Its close now sits 25% above theirs, against
    // a usual basis of a few bps: its level is wrong.
    let (r, t) = scan_three("peers_3x", [0.73, 0.91, 0.7297]);
    let a = alert_at(&r, gemini, &t);
    assert_eq!(consensus(a), "divergent", "{a:#?}");
    assert!(a.severity >= Severity::Warning, "{a:#?}");
    let num = |k: &str| a.evidence.get(k).and_then(Value::as_f64).unwrap();
    let (gap, basis, threshold) = (
        num("level_gap_bps"),
        num("usual_basis_bps"),
        num("level_threshold_bps"),
    );
    assert!(
        gap > 2_000.0 && gap > threshold,
        "gap {gap} bps, threshold {threshold}"
    );
    assert!(basis < 50.0, "usual basis {basis} bps");
    assert!(a.summary.contains("usual basis"), "{}", a.summary);
}
