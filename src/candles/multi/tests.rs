//! Unit tests of the multi-source scan: spec parsing, lone and shared
//! wicks over three venues, peers speaking over their spans. Tests only:
//! nothing here is compiled into the scan.

use super::annotate::ABNORMAL_TAIL;
use super::*;
use crate::model::Venue;
use std::path::PathBuf;

#[test]
fn specs_parse_and_bad_ones_name_themselves() {
    let s: SourceSpec = "binance-usdm:btc/usdt=a/b=c.csv".parse().unwrap();
    assert_eq!(s.venue, Venue::BinanceUsdm);
    assert_eq!(&*s.symbol, "BTC/USDT");
    assert!(!s.from_trades);
    assert_eq!(s.path, PathBuf::from("a/b=c.csv"));
    let s: SourceSpec = "trades:gemini:BTC/USD=g.csv".parse().unwrap();
    assert_eq!(s.venue.id(), "gemini");
    assert!(s.from_trades);
    for (bad, why) in [
        ("gemini:BTC/USD", "no `=FILE`"),
        ("gemini:BTC/USD=", "empty file name"),
        ("BTC/USD=f.csv", "no `VENUE:`"),
        ("Gemini:BTC/USD=f.csv", "venue `Gemini`"),
        ("gemini:BTCUSD=f.csv", "symbol `BTCUSD`"),
        ("gemini:BTC/US D=f.csv", "symbol `BTC/US D`"),
    ] {
        let e = bad.parse::<SourceSpec>().unwrap_err().to_string();
        assert!(e.contains(&format!("`{bad}`")), "{e}");
        assert!(e.contains(why), "{bad}: {e}");
    }
}

/// Synthetic one-minute bars (generated here, not recordings): a gentle
/// zig-zag around `base`, with an upper wick of `wick` (share of price)
/// at minute `at` when given.
fn synthetic_bars(name: &str, base: f64, wick: Option<(usize, f64)>) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("feedwatch-multi-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut text = String::from("open_time_ms,open,high,low,close,volume\n");
    let t0 = 1_760_126_400_000i64;
    for i in 0..30usize {
        let o = base * (1.0 + 1e-4 * ((i % 3) as f64));
        let c = base * (1.0 + 1e-4 * (((i + 1) % 3) as f64));
        let mut h = o.max(c) * 1.0001;
        if let Some((at, w)) = wick
            && at == i
        {
            h = c * (1.0 + w);
        }
        let l = o.min(c) * 0.9999;
        let t = t0 + 60_000 * i as i64;
        text.push_str(&format!("{t},{o},{h},{l},{c},1.5\n"));
    }
    let p = dir.join(format!("synthetic_{name}.csv"));
    std::fs::write(&p, text).unwrap();
    p
}

fn spec(venue: &str, symbol: &str, path: PathBuf) -> SourceSpec {
    SourceSpec {
        venue: Venue::parse_any(venue).unwrap(),
        symbol: symbol.into(),
        from_trades: false,
        price_column: None,
        path,
    }
}

#[test]
fn three_venues_single_out_a_lone_wick_and_confirm_a_shared_one() {
    let cfg = CandleConfig::default();
    let cons = ConsensusConfig::default();
    let lone = [
        spec(
            "okx",
            "BTC/USDT",
            synthetic_bars("okx_wick", 100_000.0, Some((25, 0.03))),
        ),
        spec(
            "kraken",
            "BTC/USD",
            synthetic_bars("kraken_flat", 100_050.0, None),
        ),
        spec(
            "coinbase",
            "BTC/USDC",
            synthetic_bars("coinbase_flat", 99_980.0, None),
        ),
    ];
    let r = scan_sources(&cfg, &cons, 60, &lone).unwrap();
    let ab: Vec<&Alert> = r
        .alerts
        .iter()
        .filter(|a| a.kind == Kind::AbnormalCandle && a.state == State::Open)
        .collect();
    assert_eq!(ab.len(), 1, "{:#?}", r.alerts);
    let a = ab[0];
    assert_eq!(a.venue, Venue::Okx);
    assert_eq!(a.severity, Severity::Critical);
    assert_eq!(a.evidence.get("consensus").unwrap(), "divergent");
    assert_eq!(a.evidence.get("consensus_venues").unwrap(), 3);
    assert!(a.summary.contains("this venue alone"), "{}", a.summary);
    assert!(a.summary.contains("3 venues"), "{}", a.summary);
    assert_eq!(r.verdicts.divergent, 1);

    let shared = [
        spec(
            "okx",
            "BTC/USDT",
            synthetic_bars("okx_wick", 100_000.0, Some((25, 0.03))),
        ),
        spec(
            "kraken",
            "BTC/USD",
            synthetic_bars("kraken_wick", 100_050.0, Some((25, 0.025))),
        ),
        spec(
            "coinbase",
            "BTC/USDC",
            synthetic_bars("coinbase_wick", 99_980.0, Some((25, 0.035))),
        ),
    ];
    let r = scan_sources(&cfg, &cons, 60, &shared).unwrap();
    let ab: Vec<&Alert> = r
        .alerts
        .iter()
        .filter(|a| a.kind == Kind::AbnormalCandle && a.state == State::Open)
        .collect();
    assert_eq!(ab.len(), 3, "{:#?}", r.alerts);
    for a in ab {
        assert_eq!(a.severity, Severity::Info, "{a:#?}");
        assert_eq!(a.evidence.get("consensus").unwrap(), "confirmed");
        assert!(
            a.summary.contains("peers confirm a market move"),
            "{}",
            a.summary
        );
    }
    assert_eq!(r.verdicts.confirmed, 3);
}

/// Like [`synthetic_bars`], without the minutes in `skip` (as a
/// trade-built file has none where nobody traded), and with every close
/// from minute `shift.0` on moved by `shift.1` (share of price).
fn synthetic_holes(name: &str, skip: &[usize], shift: Option<(usize, f64)>) -> PathBuf {
    let p = synthetic_bars(name, 100_000.0, None);
    let text = std::fs::read_to_string(&p).unwrap();
    let mut out = Vec::new();
    for (i, l) in text.lines().enumerate() {
        if i == 0 {
            out.push(l.to_string());
            continue;
        }
        let m = i - 1;
        if skip.contains(&m) {
            continue;
        }
        let mut f: Vec<f64> = l.split(',').map(|x| x.parse().unwrap()).collect();
        if let Some((from, by)) = shift {
            let k = 1.0 + by;
            if m > from {
                for x in &mut f[1..5] {
                    *x *= k;
                }
            } else if m == from {
                f[4] *= k;
                f[3] = f[3].min(f[4]);
                f[2] = f[2].max(f[4]);
            }
        }
        out.push(
            f.iter()
                .enumerate()
                .map(|(j, x)| {
                    if j == 0 {
                        format!("{}", *x as i64)
                    } else {
                        x.to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join(","),
        );
    }
    std::fs::write(&p, out.join("\n") + "\n").unwrap();
    p
}

fn the_abnormal(r: &MultiReport) -> &Alert {
    let ab: Vec<&Alert> = r
        .alerts
        .iter()
        .filter(|a| a.kind == Kind::AbnormalCandle && a.state == State::Open)
        .collect();
    assert_eq!(ab.len(), 1, "{:#?}", r.alerts);
    ab[0]
}

#[test]
fn a_peer_without_the_minute_speaks_over_its_span_or_cannot_say() {
    let cfg = CandleConfig::default();
    let cons = ConsensusConfig::default();
    let okx = |name: &str| {
        spec(
            "okx",
            "BTC/USDT",
            synthetic_bars(name, 100_000.0, Some((25, 0.03))),
        )
    };
    let trades = |name: &str, skip: &[usize], shift| SourceSpec {
        from_trades: true,
        price_column: None,
        ..spec("kraken", "BTC/USD", synthetic_holes(name, skip, shift))
    };
    // Kraken did not trade at 25: over 25-26 (its 24 close to its 26
    // close) both are flat, but a 3% wick is far beyond the calm
    // market's pace: not vouched for, severity kept.
    let r = scan_sources(
        &cfg,
        &cons,
        60,
        &[okx("okx_w1"), trades("kraken_hole25", &[25], None)],
    )
    .unwrap();
    let a = the_abnormal(&r);
    assert_eq!(a.evidence.get("consensus").unwrap(), "unconfirmed");
    assert_eq!(a.evidence.get("consensus_basis").unwrap(), "span");
    assert_eq!(a.severity, Severity::Warning);
    let span = &a.evidence.get("peers").unwrap()[0]["span"];
    assert_eq!(span["minutes"], 2, "{span}");
    assert_eq!(span["moves_agree"], true, "{span}");
    assert!(
        span["move_x_market_scale"].as_f64().unwrap() > 8.0,
        "{span}"
    );
    // No Kraken bar after minute 20 at all: it cannot say.
    let late: Vec<usize> = (21..30).collect();
    let r = scan_sources(
        &cfg,
        &cons,
        60,
        &[okx("okx_w2"), trades("kraken_ends20", &late, None)],
    )
    .unwrap();
    let a = the_abnormal(&r);
    assert_eq!(a.evidence.get("consensus").unwrap(), "unconfirmed");
    assert_eq!(a.evidence.get("consensus_basis").unwrap(), "minute");
    assert!(
        a.summary
            .contains("no peer candle in the same minute (kraken BTC/USD)"),
        "{}",
        a.summary
    );
    // OKX's level drops 2% at 25 and stays there while calm Kraken,
    // with no bar at 25, stays where it was: divergent over the span,
    // a warning (a span is never `critical`).
    let r = scan_sources(
        &cfg,
        &cons,
        60,
        &[
            spec(
                "okx",
                "BTC/USDT",
                synthetic_holes("okx_drop", &[], Some((25, -0.02))),
            ),
            trades("kraken_hole25b", &[25], None),
        ],
    )
    .unwrap();
    let a = the_abnormal(&r);
    assert_eq!(a.venue, Venue::Okx);
    assert_eq!(a.evidence.get("consensus").unwrap(), "divergent");
    assert_eq!(a.evidence.get("consensus_basis").unwrap(), "span");
    assert_eq!(a.severity, Severity::Warning);
    assert_eq!(
        a.evidence.get("peers").unwrap()[0]["span"]["moves_agree"],
        false
    );
}

#[test]
fn abnormal_tail_matches_the_candle_checker() {
    let src = include_str!("../../detect/candle/stats.rs");
    assert!(
        src.contains(&ABNORMAL_TAIL[2..]),
        "detect/candle/stats.rs changed its wording"
    );
}

#[test]
fn a_quote_off_its_peg_on_every_venue_is_a_quote_depeg_and_its_venues_are_judged_within_it() {
    // Synthetic bars (generated here): BTC/USD at 100,000 on one venue,
    // BTC/USDC 12% above it on two (USDC at 0.89), and a 3% wick in
    // minute 25 on both USDC venues only: USDC moved, USD did not.
    let cfg = CandleConfig::default();
    let cons = ConsensusConfig::default();
    let specs = [
        spec(
            "usd-venue",
            "BTC/USD",
            synthetic_bars("depeg_usd", 100_000.0, None),
        ),
        spec(
            "usdc-a",
            "BTC/USDC",
            synthetic_bars("depeg_usdc_a", 112_000.0, Some((25, 0.03))),
        ),
        spec(
            "usdc-b",
            "BTC/USDC",
            synthetic_bars("depeg_usdc_b", 112_100.0, Some((25, 0.032))),
        ),
    ];
    let r = scan_sources(&cfg, &cons, 60, &specs).unwrap();
    let depeg: Vec<&Alert> = r
        .alerts
        .iter()
        .filter(|a| a.kind == Kind::QuoteDepeg)
        .collect();
    assert_eq!(depeg.len(), 1, "{:#?}", r.alerts);
    let d = depeg[0];
    assert_eq!(d.state, State::Open);
    assert_eq!(d.severity, Severity::Warning);
    assert_eq!(d.cause, crate::alert::Cause::MarketMove);
    assert_eq!(d.symbol.as_deref(), Some("USDC/USD"));
    assert!(
        d.summary.starts_with("USDC is off its peg"),
        "{}",
        d.summary
    );
    let rate = d.evidence.get("rate").unwrap().as_f64().unwrap();
    assert!((rate - 0.892).abs() < 0.002, "{rate}");
    // The USDC wicks: each confirmed by the other USDC venue, never called
    // divergent against the USD venue.
    let ab: Vec<&Alert> = r
        .alerts
        .iter()
        .filter(|a| a.kind == Kind::AbnormalCandle && a.state == State::Open)
        .collect();
    assert!(!ab.is_empty(), "{:#?}", r.alerts);
    for a in ab {
        assert_eq!(a.evidence.get("consensus").unwrap(), "confirmed", "{a:#?}");
        assert_eq!(a.evidence.get("judged_within_quote").unwrap(), "USDC");
        assert_eq!(a.severity, Severity::Info);
    }
    assert_eq!(r.verdicts.divergent, 0);
}

#[test]
fn one_usdc_venue_off_alone_is_that_venue_not_the_quote() {
    let cfg = CandleConfig::default();
    let cons = ConsensusConfig::default();
    let specs = [
        spec(
            "usd-venue",
            "BTC/USD",
            synthetic_bars("alone_usd", 100_000.0, None),
        ),
        spec(
            "usdc-a",
            "BTC/USDC",
            synthetic_bars("alone_usdc_a", 112_000.0, None),
        ),
        spec(
            "usdc-b",
            "BTC/USDC",
            synthetic_bars("alone_usdc_b", 100_020.0, None),
        ),
    ];
    let r = scan_sources(&cfg, &cons, 60, &specs).unwrap();
    assert!(
        !r.alerts.iter().any(|a| a.kind == Kind::QuoteDepeg),
        "{:#?}",
        r.alerts
    );
}
