//! Engine-level `price_divergence`: hand-written best bid/offer and
//! trade events shaped like the venues' normalized output (not
//! recorded data).

use super::*;
use crate::alert::Phase;
use crate::alert::State;
use crate::alert::{Alert, Kind, Severity};
use crate::detect::DetectConfig;
use crate::model::{Event, MILLI, Payload, SECOND, StreamKind, Venue};
use crate::model::{Level, Quote, Trade};
use serde_json::json;
use std::sync::Arc;

fn quote(symbol: &str, mid: f64) -> Event {
    Event {
        symbol: Arc::from(symbol),
        stream: StreamKind::Bbo,
        payload: Payload::Quote(Quote {
            bid: Level {
                price: mid - 0.5,
                qty: 1.0,
            },
            ask: Level {
                price: mid + 0.5,
                qty: 1.0,
            },
            update_id: None,
            exch_ns: None,
        }),
    }
}

fn trade(symbol: &str, price: f64) -> Event {
    Event {
        symbol: Arc::from(symbol),
        stream: StreamKind::Trade,
        payload: Payload::Trade(Trade {
            price,
            qty: 0.1,
            id: None,
            exch_ns: None,
            event_ns: None,
        }),
    }
}

fn symbol_of(v: Venue) -> &'static str {
    // Coinbase and Kraken quote USD, the others USDT: one family.
    match v {
        Venue::Coinbase | Venue::Kraken => "BTC/USD",
        _ => "BTC/USDT",
    }
}

/// Feeds one bbo update per venue every 100 ms over `[from, to)` ms,
/// each venue's mid given by `price(venue, t_ms)`.
fn run(
    e: &mut Engine,
    out: &mut Vec<Alert>,
    venues: &[Venue],
    from_ms: i64,
    to_ms: i64,
    price: impl Fn(Venue, i64) -> f64,
) {
    let mut t = from_ms;
    while t < to_ms {
        for (i, &v) in venues.iter().enumerate() {
            let at = t * MILLI + i as i64 * MILLI;
            e.on_events(v, v.id(), at, &[quote(symbol_of(v), price(v, t))], out);
        }
        t += 100;
    }
}

fn divergence(out: &[Alert]) -> Vec<&Alert> {
    out.iter()
        .filter(|a| a.kind == Kind::PriceDivergence)
        .collect()
}

const VENUES: [Venue; 4] = [
    Venue::BinanceSpot,
    Venue::Coinbase,
    Venue::Kraken,
    Venue::Okx,
];

/// A calm market around 60,000 with a few dollars of venue noise.
fn calm(v: Venue, t: i64) -> f64 {
    let i = VENUES.iter().position(|x| *x == v).unwrap_or(0) as f64;
    60_000.0 + i * 3.0 + (t / 100 % 5) as f64
}

#[test]
fn one_venue_off_its_peers_opens_escalates_and_resolves_below_half() {
    let mut e = Engine::new(DetectConfig::default());
    let mut out = Vec::new();
    run(&mut e, &mut out, &VENUES, 1_000, 10_000, calm);
    assert!(divergence(&out).is_empty(), "{out:?}");
    // OKX 2% above for 15 s: four times the 50 bp floor (300 at 60,000).
    run(&mut e, &mut out, &VENUES, 10_000, 25_000, |v, t| {
        if v == Venue::Okx {
            61_200.0
        } else {
            calm(v, t)
        }
    });
    let d = divergence(&out);
    assert!(!d.is_empty(), "no price_divergence: {out:?}");
    let open = d[0].clone();
    assert_eq!(open.state, State::Open);
    assert_eq!(open.venue, Venue::Okx);
    assert_eq!(open.symbol.as_deref(), Some("BTC/USDT"));
    assert_eq!(open.stream, None);
    assert!(open.at >= 10 * SECOND && open.at < 10 * SECOND + 100 * MILLI);
    assert_eq!(open.severity, Severity::Info, "not held yet");
    let ev = &open.evidence;
    assert_eq!(ev.get("verdict"), Some(&json!("divergent")));
    assert_eq!(ev.get("price_source"), Some(&json!("bbo_mid")));
    assert_eq!(ev.get("fresh_venues"), Some(&json!(4)));
    assert_eq!(
        ev.get("peers"),
        Some(&json!(["binance-spot", "coinbase", "kraken"]))
    );
    let median = ev.get("median").and_then(|v| v.as_f64()).unwrap();
    assert!((60_000.0..60_015.0).contains(&median), "{median}");
    let gap = ev.get("gap_bps").and_then(|v| v.as_f64()).unwrap();
    assert!((195.0..200.5).contains(&gap), "{gap}");
    assert!(open.summary.contains("okx BTC/USDT"), "{}", open.summary);
    assert!(
        open.summary.contains("above the 4-venue median"),
        "{}",
        open.summary
    );
    assert!(
        open.summary.contains("do not trust okx's price for BTC"),
        "{}",
        open.summary
    );
    // Held 1 s at twice the threshold and more: critical, once.
    let up = d[1];
    assert_eq!((up.state, up.severity), (State::Update, Severity::Critical));
    assert_eq!(up.incident, open.incident);
    let held = up.at - open.at;
    assert!((SECOND..SECOND + 400 * MILLI).contains(&held), "{held}");
    assert_eq!(d.len(), 2, "{d:?}");
    // 60% of the threshold: not re-admitted yet (hysteresis).
    out.clear();
    run(&mut e, &mut out, &VENUES, 25_000, 30_000, |v, t| {
        if v == Venue::Okx {
            60_185.0
        } else {
            calm(v, t)
        }
    });
    assert!(
        divergence(&out)
            .iter()
            .all(|a| a.phase != Phase::Monitoring),
        "{out:?}"
    );
    // 10% of it: re-admitted within one re-assessment.
    run(&mut e, &mut out, &VENUES, 30_000, 32_000, |v, t| {
        if v == Venue::Okx {
            60_035.0
        } else {
            calm(v, t)
        }
    });
    let d = divergence(&out);
    let recovered: Vec<&&Alert> = d.iter().filter(|a| a.phase == Phase::Monitoring).collect();
    assert_eq!(recovered.len(), 1, "{d:?}");
    assert_eq!(recovered[0].incident, open.incident);
    let after = recovered[0].at - 30 * SECOND;
    assert!((0..400 * MILLI).contains(&after), "{after}");
    assert!(
        recovered[0].summary.contains("back with its peers"),
        "{}",
        recovered[0].summary
    );
    // In monitoring until the probation has passed clean.
    assert_eq!(e.open_incidents(), 1);
}

#[test]
fn two_venues_that_disagree_raise_nothing() {
    let mut e = Engine::new(DetectConfig::default());
    let mut out = Vec::new();
    let two = [Venue::Coinbase, Venue::Okx];
    run(&mut e, &mut out, &two, 1_000, 40_000, |v, t| {
        if v == Venue::Okx && t >= 10_000 {
            61_200.0
        } else {
            60_000.0
        }
    });
    assert!(divergence(&out).is_empty(), "{out:?}");
}

#[test]
fn spot_and_perp_split_when_not_mixed() {
    // Three venues, but one of them a perpetual: with mixing off the
    // spot consensus has two venues and cannot single one out.
    let mut cfg = DetectConfig::default();
    cfg.consensus.mix_spot_perp = false;
    let mut e = Engine::new(cfg);
    let mut out = Vec::new();
    let three = [Venue::BinanceUsdm, Venue::Coinbase, Venue::Okx];
    run(&mut e, &mut out, &three, 1_000, 20_000, |v, t| {
        if v == Venue::Okx && t >= 10_000 {
            61_200.0
        } else {
            60_000.0
        }
    });
    assert!(divergence(&out).is_empty(), "{out:?}");
    // Mixed (the default), the same prices are a divergence.
    let mut e = Engine::new(DetectConfig::default());
    run(&mut e, &mut out, &three, 1_000, 20_000, |v, t| {
        if v == Venue::Okx && t >= 10_000 {
            61_200.0
        } else {
            60_000.0
        }
    });
    assert!(!divergence(&out).is_empty());
}

#[test]
fn a_single_bad_print_is_info_and_resolves() {
    let mut e = Engine::new(DetectConfig::default());
    let mut out = Vec::new();
    let three = [Venue::BinanceSpot, Venue::Coinbase, Venue::Okx];
    run(&mut e, &mut out, &three, 1_000, 10_000, |_, _| 60_000.0);
    let v = Venue::Okx;
    e.on_events(
        v,
        v.id(),
        10_050 * MILLI,
        &[trade("BTC/USDT", 63_600.0)],
        &mut out,
    );
    e.on_events(
        v,
        v.id(),
        10_060 * MILLI,
        &[trade("BTC/USDT", 60_000.5)],
        &mut out,
    );
    run(&mut e, &mut out, &three, 10_100, 20_000, |_, _| 60_000.0);
    let d = divergence(&out);
    assert_eq!(d.len(), 2, "{d:?}");
    assert_eq!((d[0].state, d[0].severity), (State::Open, Severity::Info));
    assert_eq!(d[0].at, 10_050 * MILLI);
    assert_eq!(
        d[0].evidence.get("price_source"),
        Some(&json!("trade_print"))
    );
    assert!(d[0].summary.contains("bad print"), "{}", d[0].summary);
    assert_eq!(d[1].phase, Phase::Monitoring);
    assert!(d[1].at - d[0].at <= 400 * MILLI, "{:?}", d[1].at - d[0].at);
}

#[test]
fn a_flagged_venue_resolves_as_unconfirmed_when_peers_go_stale() {
    let mut e = Engine::new(DetectConfig::default());
    let mut out = Vec::new();
    let three = [Venue::BinanceSpot, Venue::Coinbase, Venue::Okx];
    let off = |v: Venue, _| if v == Venue::Okx { 61_200.0 } else { 60_000.0 };
    run(&mut e, &mut out, &three, 1_000, 5_000, off);
    assert_eq!(divergence(&out).first().map(|a| a.state), Some(State::Open));
    // Coinbase stops: 10 s later only two venues are fresh.
    run(
        &mut e,
        &mut out,
        &[Venue::BinanceSpot, Venue::Okx],
        5_000,
        20_000,
        off,
    );
    let d = divergence(&out);
    let last = d.last().unwrap();
    assert_eq!(last.phase, Phase::Monitoring, "{d:?}");
    assert_eq!(last.evidence.get("fresh_venues"), Some(&json!(2)));
    assert!(
        last.summary.contains("can no longer be judged"),
        "{}",
        last.summary
    );
    assert!(
        last.at >= 14_900 * MILLI && last.at < 15_500 * MILLI,
        "{}",
        last.at
    );
}
