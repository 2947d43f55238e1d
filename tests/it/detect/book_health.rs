//! `feed_frozen`, `spread_blowout`, `depth_collapse` and `book_stale` over
//! the three real Binance BTC recordings of 2024-08-08 (spot BTC/USDT, USD-M
//! BTC/USDT, COIN-M BTC/USD; `fixtures/replay/`), replayed together so each
//! venue has the other two as peers. The clean recordings raise none of
//! these kinds; each fault below is injected by code (`feedwatch::scenario::inject`),
//! not recorded, and is found within the bound stated in its test and
//! resolves after it ends.

use crate::util::*;
use feedwatch::alert::{Alert, Kind, Phase, Severity, State};
use feedwatch::detect::DetectConfig;
use feedwatch::engine::Engine;
use feedwatch::model::{Nanos, SECOND};
use feedwatch::scenario::inject::{self, Records};

const KINDS: [Kind; 4] = [
    Kind::FeedFrozen,
    Kind::SpreadBlowout,
    Kind::DepthCollapse,
    Kind::BookStale,
];

const SPOT: &str = "binance-spot-btcusdt-2024-08-08.fixture.zst";
const USDM: &str = "binance-usdm-btcusdt-2024-08-08.fixture.zst";
const COINM: &str = "binance-coinm-btcusd_perp-2024-08-08.fixture.zst";

fn recording(name: &str) -> Records {
    read_records(&fixtures().join("replay").join(name))
}

/// The three recordings merged by receive time.
fn all_markets() -> Records {
    merge(vec![recording(SPOT), recording(USDM), recording(COINM)])
}

/// Start of the merged recordings (the spot recording starts first).
fn start() -> Nanos {
    first_ns(&recording(SPOT))
}

/// When faults start (150 s in: every baseline is warm) and how long they
/// last. The USD-M recording ends about 345 s in, so all three venues are
/// there throughout.
const FAULT_AT_S: i64 = 150;
const FAULT_S: i64 = 60;
/// Replays stop here (faster; the fault is over by then).
const UNTIL_S: i64 = 300;

/// The merged recordings up to `UNTIL_S`, with `fault` injected into the
/// spot recording only (the other venues stay as recorded).
fn with_spot_fault(fault: impl Fn(&mut Records, Nanos, Nanos) -> inject::Injected) -> Records {
    let t0 = start();
    let mut spot = recording(SPOT);
    let inj = fault(&mut spot, t0 + FAULT_AT_S * SECOND, FAULT_S * SECOND);
    assert!(
        inj.touched > 100,
        "injected into only {} frames",
        inj.touched
    );
    let mut recs = merge(vec![spot, recording(USDM), recording(COINM)]);
    recs.retain(|r| r.recv_ns < t0 + UNTIL_S * SECOND);
    recs
}

/// Seconds from the fault's start to `t`.
fn after_fault(t: Nanos) -> f64 {
    secs_between(start() + FAULT_AT_S * SECOND, t)
}

fn one_incident<'a>(
    alerts: &'a [Alert],
    kind: Kind,
    venue: &str,
    stream: &str,
) -> (&'a Alert, &'a Alert) {
    let mine: Vec<&Alert> = alerts
        .iter()
        .filter(|a| a.kind == kind && a.venue.id() == venue && a.stream.as_deref() == Some(stream))
        .collect();
    let opens: Vec<&&Alert> = mine.iter().filter(|a| a.state == State::Open).collect();
    assert_eq!(opens.len(), 1, "{kind} {venue} {stream}:\n{}", show(&mine));
    let open = *opens[0];
    let of_it = |a: &&&Alert| a.incident == open.incident;
    let recovered = mine
        .iter()
        .filter(of_it)
        .find(|a| a.phase == Phase::Monitoring)
        .unwrap_or_else(|| panic!("{kind} {venue} {stream} never recovered:\n{}", show(&mine)));
    let resolved = mine
        .iter()
        .filter(of_it)
        .find(|a| a.state == State::Resolved)
        .unwrap_or_else(|| panic!("{kind} {venue} {stream} never resolved:\n{}", show(&mine)));
    let probation = DetectConfig::default().incidents.probation_s;
    let clean = secs_between(recovered.at, resolved.at);
    assert!(
        (probation..probation + 0.2).contains(&clean),
        "{kind} resolved {clean:.3} s after it recovered, not after the {probation} s probation"
    );
    assert_eq!(open.severity, Severity::Warning);
    (open, recovered)
}

/// No alert of the new kinds other than `allowed` (kind, venue, stream).
fn nothing_else(alerts: &[Alert], allowed: &[(Kind, &str, &str)]) {
    let stray: Vec<&Alert> = alerts
        .iter()
        .filter(|a| KINDS.contains(&a.kind))
        .filter(|a| {
            !allowed.iter().any(|(k, v, s)| {
                a.kind == *k && a.venue.id() == *v && a.stream.as_deref() == Some(*s)
            })
        })
        .collect();
    assert!(stray.is_empty(), "unexpected:\n{}", show(&stray));
}

/// As `run_ended`, with `cfg`.
fn run_ended_with(cfg: DetectConfig, records: &Records) -> Vec<Alert> {
    let mut d = Drive::new(cfg);
    d.records_ended(records);
    d.done().1
}

/// The default config with `feed_frozen`'s witness (the venue's own book
/// and trades against its quote) off: the rhythm-and-peers rule alone.
fn without_witness() -> DetectConfig {
    let mut cfg = DetectConfig::default();
    cfg.frozen.contradicted_s = 0.0;
    cfg
}

fn secs_between(a: Nanos, b: Nanos) -> f64 {
    (b - a) as f64 / SECOND as f64
}

#[test]
fn clean_recordings_of_all_three_markets_raise_none_of_these_kinds() {
    let recs = all_markets();
    let alerts = run_ended(&recs);
    let mine: Vec<&Alert> = alerts.iter().filter(|a| KINDS.contains(&a.kind)).collect();
    assert!(mine.is_empty(), "clean data raised:\n{}", show(&mine));
    let pages = pages(&alerts);
    assert!(pages.is_empty(), "clean data paged:\n{}", show(&pages));
}

/// Asserts the incident opened within `(min_s, max_s]` of the fault's
/// start and recovered within `resolve_s` after its end; returns the delay.
fn timely(open: &Alert, recovered: &Alert, min_s: f64, max_s: f64, resolve_s: f64) -> f64 {
    let delay = after_fault(open.at);
    eprintln!(
        "{} {} {}: opened {delay:.3} s after the fault started, recovered {:.3} s after it ended",
        open.kind,
        open.venue,
        open.stream.as_deref().unwrap_or(""),
        after_fault(recovered.at) - FAULT_S as f64
    );
    assert!(
        delay > min_s && delay <= max_s,
        "{} opened {delay:.3} s after the fault started",
        open.kind
    );
    let end = FAULT_S as f64;
    let back = after_fault(recovered.at) - end;
    assert!(
        (0.0..=resolve_s).contains(&back),
        "{} recovered {back:.3} s after the fault ended",
        open.kind
    );
    delay
}

const BBO_KEYS: [&str; 4] = ["b", "B", "a", "A"];
const TRADE_KEYS: [&str; 4] = ["t", "p", "q", "T"];

#[test]
fn injected_spot_freeze_is_frozen_within_15s_while_peers_move_and_resolves() {
    // Spot bookTicker and trades keep arriving for 60 s, all repeating the
    // last values before the fault (injected).
    let recs = with_spot_fault(|r, from, dur| {
        let a = inject::freeze(r, from, dur, "btcusdt@bookTicker", &BBO_KEYS);
        let b = inject::freeze(r, from, dur, "btcusdt@trade", &TRADE_KEYS);
        inject::Injected {
            touched: a.touched + b.touched,
            first_ns: a.first_ns,
            last_ns: b.last_ns,
        }
    });
    let alerts = run_ended(&recs);
    // The quote: spot's depth diffs go on as recorded, and its own book
    // moving past the standing quote convicts it within 5 s.
    let (open, recovered) = one_incident(&alerts, Kind::FeedFrozen, "binance-spot", "bbo");
    timely(open, recovered, 2.0, 5.0, 5.0);
    assert_eq!(
        open.evidence.get("witness"),
        Some(&serde_json::json!("book_top"))
    );
    assert!(open.summary.contains("own order book"), "{}", open.summary);
    // Trades have no such witness: their own rhythm and their peers.
    let (open, recovered) = one_incident(&alerts, Kind::FeedFrozen, "binance-spot", "trade");
    // The learned threshold is about 8 s here (phi 8 on the change
    // rhythm); never before min_frozen_s.
    let delay = timely(open, recovered, 2.0, 15.0, 5.0);
    assert!(open.at >= start() + FAULT_AT_S * SECOND);
    assert_eq!(
        open.evidence.get("peers_known"),
        Some(&serde_json::json!(true))
    );
    let peers = open.evidence.get("peer_changes").unwrap().as_u64().unwrap();
    assert!(peers >= 5, "trade: peers changed {peers} times");
    let unchanged = open.evidence.get("unchanged_s").unwrap().as_f64().unwrap();
    assert!((unchanged - delay).abs() < 1.0, "{unchanged} vs {delay}");
    assert!(open.summary.contains("frozen"), "{}", open.summary);
    // A frozen stream still delivers: no silence, and nothing else pages.
    assert!(of_kind(&alerts, Kind::FeedSilent).is_empty());
    nothing_else(
        &alerts,
        &[
            (Kind::FeedFrozen, "binance-spot", "bbo"),
            (Kind::FeedFrozen, "binance-spot", "trade"),
        ],
    );
    let pages: Vec<&Alert> = pages(&alerts)
        .into_iter()
        .filter(|a| a.kind != Kind::FeedFrozen)
        .collect();
    assert!(pages.is_empty(), "{}", show(&pages));
}

#[test]
fn a_quiet_market_frozen_on_every_venue_together_raises_no_frozen_alert() {
    // Every venue's bookTicker and trades repeat their last values for the
    // same 60 s (injected): the whole market stood still, not one venue.
    let t0 = start();
    let (from, dur) = (t0 + FAULT_AT_S * SECOND, FAULT_S * SECOND);
    let mut parts = Vec::new();
    for name in [SPOT, USDM, COINM] {
        let mut r = recording(name);
        let a = inject::freeze(&mut r, from, dur, "@bookTicker", &BBO_KEYS);
        let b = inject::freeze(&mut r, from, dur, "@trade", &TRADE_KEYS);
        assert!(a.touched > 1000 && b.touched > 50, "{name}: {a:?} {b:?}");
        parts.push(r);
    }
    let mut recs = merge(parts);
    recs.retain(|r| r.recv_ns < t0 + UNTIL_S * SECOND);
    // Judged on their rhythm and peers, nobody moved: nothing is frozen.
    let alerts = run_ended_with(without_witness(), &recs);
    let frozen = of_kind(&alerts, Kind::FeedFrozen);
    assert!(frozen.is_empty(), "{}", show(&frozen));
    // The depth diffs were left as recorded, though: each venue's own book
    // moved past its standing quote, and that (only that) convicts quotes.
    let alerts = run_ended(&recs);
    let frozen = of_kind(&alerts, Kind::FeedFrozen);
    assert!(
        frozen
            .iter()
            .filter(|a| a.state == State::Open)
            .all(|a| a.stream.as_deref() == Some("bbo") && a.evidence.get("witness").is_some()),
        "{}",
        show(&frozen)
    );
}

#[test]
fn without_peers_a_freeze_needs_the_higher_bar_and_says_so() {
    // The spot recording alone: no other venue trades BTC. Its bookTicker
    // repeats the last values for 60 s (injected).
    let t0 = start();
    let mut recs = recording(SPOT);
    let inj = inject::freeze(
        &mut recs,
        t0 + FAULT_AT_S * SECOND,
        FAULT_S * SECOND,
        "@bookTicker",
        &BBO_KEYS,
    );
    assert!(inj.touched > 1000);
    recs.retain(|r| r.recv_ns < t0 + UNTIL_S * SECOND);
    // The venue's own book convicts the quote whatever its peers.
    let alerts = run_ended(&recs);
    let (open, _) = one_incident(&alerts, Kind::FeedFrozen, "binance-spot", "bbo");
    assert!(open.evidence.get("witness").is_some(), "{}", show(&[open]));
    assert!(after_fault(open.at) < 5.0, "{}", show(&[open]));
    // Without that witness, the rhythm alone at the no-peer bar.
    let alerts = run_ended_with(without_witness(), &recs);
    let (open, recovered) = one_incident(&alerts, Kind::FeedFrozen, "binance-spot", "bbo");
    // phi 16 instead of 8: later than with peers (about 8 s), still well
    // inside the fault.
    let delay = timely(open, recovered, 10.0, 40.0, 5.0);
    assert_eq!(
        open.evidence.get("peers_known"),
        Some(&serde_json::json!(false))
    );
    assert_eq!(
        open.evidence.get("threshold_phi"),
        Some(&serde_json::json!(16.0))
    );
    assert!(open.summary.contains("no other venue"), "{}", open.summary);
    assert!(delay > 10.0);
}

#[test]
fn injected_spread_blowout_is_found_within_3s_and_resolves() {
    // Spot bookTicker asks 20 bps above the bid for 60 s (injected); the
    // recorded spread is one tick (about 0.002 bps).
    let recs = with_spot_fault(|r, from, dur| {
        inject::widen_spread(r, from, dur, "btcusdt@bookTicker", 20.0)
    });
    let alerts = run_ended(&recs);
    let (open, recovered) = one_incident(&alerts, Kind::SpreadBlowout, "binance-spot", "bbo");
    // Held 2 s (spread_sustain_ms) before it is an alert.
    timely(open, recovered, 2.0, 3.0, 1.0);
    let bps = open.evidence.get("spread_bps").unwrap().as_f64().unwrap();
    assert!((bps - 20.0).abs() < 0.05, "{bps}");
    let median = open.evidence.get("median").unwrap().as_f64().unwrap();
    assert!(median < 0.1, "median {median} bps");
    nothing_else(&alerts, &[(Kind::SpreadBlowout, "binance-spot", "bbo")]);
}

#[test]
fn injected_thin_book_is_a_depth_collapse_within_12s_and_resolves() {
    // Every spot depth update for 60 s carries 1% of its recorded size
    // (injected); levels not updated meanwhile keep theirs.
    let recs = with_spot_fault(|r, from, dur| {
        inject::thin_book(r, from, dur, "btcusdt@depth@100ms", 0.01)
    });
    let alerts = run_ended(&recs);
    let (open, recovered) = one_incident(&alerts, Kind::DepthCollapse, "binance-spot", "depth");
    // Held 3 s (depth_sustain_ms) once the near-touch levels were replaced
    // by thinned ones; resolves as levels are updated again after the fault.
    timely(open, recovered, 3.0, 12.0, 10.0);
    let depth = open.evidence.get("depth").unwrap().as_f64().unwrap();
    let median = open.evidence.get("median").unwrap().as_f64().unwrap();
    assert!(depth < 0.2 * median, "{depth} vs median {median}");
    nothing_else(&alerts, &[(Kind::DepthCollapse, "binance-spot", "depth")]);
}

#[test]
fn injected_stale_book_is_found_within_2s_of_trades_printing_outside_it() {
    // Spot bookTicker bid and ask shifted 50 bps down for 60 s (injected)
    // while the trades print where the market is.
    let recs = with_spot_fault(|r, from, dur| {
        inject::stale_book(r, from, dur, "btcusdt@bookTicker", 50.0)
    });
    let alerts = run_ended(&recs);
    let (open, recovered) = one_incident(&alerts, Kind::BookStale, "binance-spot", "bbo");
    // A run of at least 5 outside prints held 1 s (stale_hold_ms).
    timely(open, recovered, 1.0, 2.0, 1.0);
    let off = open.evidence.get("outside_bps").unwrap().as_f64().unwrap();
    assert!(off > 40.0 && off < 60.0, "{off}");
    // The L2 book was not touched: it stays fresh.
    nothing_else(&alerts, &[(Kind::BookStale, "binance-spot", "bbo")]);
}

/// A best bid/offer event (hand-written, shaped as the adapters emit them).
fn quote(symbol: &str, bid: f64, ask: f64) -> feedwatch::model::Event {
    use feedwatch::model::{Event, Level, Payload, Quote, StreamKind};
    Event {
        symbol: symbol.into(),
        stream: StreamKind::Bbo,
        payload: Payload::Quote(Quote {
            bid: Level {
                price: bid,
                qty: 1.0,
            },
            ask: Level {
                price: ask,
                qty: 2.0,
            },
            update_id: None,
            exch_ns: None,
        }),
    }
}

#[test]
fn bybit_style_repeats_of_an_unchanged_top_page_only_when_peers_move() {
    use feedwatch::model::{MILLI, Venue};
    // Hand-written quotes: Binance spot changes every 100 ms and Bybit spot
    // every 300 ms for 60 s; then Bybit only re-sends its unchanged top
    // every 3 s (as it does by design).
    let mut e = Engine::new(DetectConfig::default());
    let mut out = Vec::new();
    let mut t = 1_000 * SECOND;
    for i in 0..600 {
        t += 100 * MILLI;
        let p = 60_000.0 + (i % 7) as f64;
        e.on_events(
            Venue::BinanceSpot,
            "b",
            t,
            &[quote("BTC/USDT", p, p + 0.01)],
            &mut out,
        );
        if i % 3 == 0 {
            e.on_events(
                Venue::BybitSpot,
                "y",
                t,
                &[quote("BTC/USDT", p, p + 0.1)],
                &mut out,
            );
        }
    }
    let (last_bid, last_ask) = (
        60_000.0 + (597 % 7) as f64,
        60_000.0 + (597 % 7) as f64 + 0.1,
    );
    // 1. A quiet market: Binance repeats too. Two minutes, nothing.
    for i in 0..1200 {
        t += 100 * MILLI;
        let p = 60_000.0 + (599 % 7) as f64;
        e.on_events(
            Venue::BinanceSpot,
            "b",
            t,
            &[quote("BTC/USDT", p, p + 0.01)],
            &mut out,
        );
        if i % 30 == 0 {
            e.on_events(
                Venue::BybitSpot,
                "y",
                t,
                &[quote("BTC/USDT", last_bid, last_ask)],
                &mut out,
            );
        }
    }
    assert!(
        of_kind(&out, Kind::FeedFrozen).is_empty(),
        "{}",
        show(&of_kind(&out, Kind::FeedFrozen))
    );
    // 2. Binance moves again while Bybit keeps repeating: Bybit is frozen.
    let moving_from = t;
    for i in 0..600 {
        t += 100 * MILLI;
        let p = 60_010.0 + (i % 5) as f64;
        e.on_events(
            Venue::BinanceSpot,
            "b",
            t,
            &[quote("BTC/USDT", p, p + 0.01)],
            &mut out,
        );
        if i % 30 == 0 {
            e.on_events(
                Venue::BybitSpot,
                "y",
                t,
                &[quote("BTC/USDT", last_bid, last_ask)],
                &mut out,
            );
        }
    }
    let frozen: Vec<Alert> = of_kind(&out, Kind::FeedFrozen)
        .into_iter()
        .cloned()
        .collect();
    assert_eq!(
        frozen.len(),
        1,
        "{}",
        show(&frozen.iter().collect::<Vec<_>>())
    );
    assert_eq!(frozen[0].venue, Venue::BybitSpot);
    assert_eq!(frozen[0].state, State::Open);
    // Judged on the time Bybit stood still while Binance was moving (not
    // on the two quiet minutes before): at the first repeat after about
    // 8 s of that (phi 8 on its learned rhythm), repeats come every 3 s.
    let delay = frozen[0].at - moving_from;
    assert!(
        (5 * SECOND..=15 * SECOND).contains(&delay),
        "frozen {delay} ns after Binance moved"
    );
    let moving = frozen[0]
        .evidence
        .get("peers_moving_s")
        .unwrap()
        .as_f64()
        .unwrap();
    let unchanged = frozen[0]
        .evidence
        .get("unchanged_s")
        .unwrap()
        .as_f64()
        .unwrap();
    assert!(
        moving <= delay as f64 / SECOND as f64 && unchanged > 120.0,
        "{moving} {unchanged}"
    );
    // Bybit's top moves: recovered, in monitoring.
    t += 100 * MILLI;
    e.on_events(
        Venue::BybitSpot,
        "y",
        t,
        &[quote("BTC/USDT", 60_011.0, 60_011.1)],
        &mut out,
    );
    let recovered: Vec<&Alert> = of_kind(&out, Kind::FeedFrozen)
        .into_iter()
        .filter(|a| a.phase == Phase::Monitoring)
        .collect();
    assert_eq!(recovered.len(), 1);
    assert_eq!(recovered[0].incident, frozen[0].incident);
}
