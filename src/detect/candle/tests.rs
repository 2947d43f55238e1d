//! Unit tests of the candle checks: each hard rule, the sequence rules,
//! the return and wick tests, the cached critical z, config validation,
//! number formatting, and the verdicts (their order, and the checker's
//! record of which incidents fire against the book's). Tests only:
//! nothing here is compiled into the checker.

use super::rules::{Violation, hard_violation};
use super::stats::{MAX_SCORE, median};
use super::*;
use crate::alert::State;
use crate::alert::{Alert, IncidentConfig, Incidents, Kind, Severity};
use crate::detect::verdict::{Verdict, Words};
use crate::model::{Candle, Nanos, SECOND, StreamKind, Venue};
use proptest::prelude::*;

const MIN: Nanos = 60 * SECOND;
/// 2025-04-15T07:45:00Z.
const T0: Nanos = 1_744_703_100 * SECOND;

/// Values of a real Binance USD-M BTCUSDT minute (2025-04-15 07:45 UTC,
/// from fixtures/candles), moved to open time `open_ns`.
fn real(open_ns: Nanos) -> Candle {
    Candle {
        open_ns,
        interval_secs: 60,
        open: 85653.0,
        high: 85653.1,
        low: 85629.4,
        close: 85634.0,
        volume: 42.874,
        quote_volume: Some(3_672_005.824_2),
        trades: Some(869),
        first_trade_id: None,
        last_trade_id: None,
        closed: true,
        exch_ns: None,
    }
}

fn checker(stream: StreamKind) -> CandleChecker {
    CandleChecker::new(
        &CandleConfig::default(),
        Venue::BinanceUsdm,
        "BTC/USDT".into(),
        stream,
    )
}

/// One candle update at `now`, its verdicts reported as the engine does.
fn feed(ck: &mut CandleChecker, now: Nanos, c: &Candle, inc: &mut Incidents, out: &mut Vec<Alert>) {
    ck.on_candle(c).report(inc, ck.key(), now, out);
}

fn run(ck: &mut CandleChecker, inc: &mut Incidents, c: &Candle) -> Vec<Alert> {
    let mut out = Vec::new();
    feed(ck, c.open_ns + MIN, c, inc, &mut out);
    out
}

/// One bad candle after a clean one: exactly one candle_invalid open.
fn invalid_summary(mutate: impl Fn(&mut Candle)) -> String {
    let mut ck = checker(StreamKind::Kline(60));
    let mut inc = Incidents::new();
    assert!(run(&mut ck, &mut inc, &real(T0)).is_empty());
    let mut bad = real(T0 + MIN);
    mutate(&mut bad);
    let out = run(&mut ck, &mut inc, &bad);
    assert_eq!(out.len(), 1, "{out:#?}");
    assert_eq!(out[0].kind, Kind::CandleInvalid);
    assert_eq!(out[0].severity, Severity::Critical);
    assert_eq!(out[0].state, State::Open);
    assert_eq!(out[0].stream.as_deref(), Some("kline_1m"));
    let summary = out[0].summary.clone();
    // The next clean candle resolves it.
    let out = run(&mut ck, &mut inc, &real(T0 + 2 * MIN));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].state, State::Resolved);
    summary
}

#[test]
fn hard_rule_high_below_close() {
    let s = invalid_summary(|c| c.high = c.close - 1.0);
    assert_eq!(
        s,
        "binance-usdm BTC/USDT 1m candle 2025-04-15T07:46Z has high 85,633.0 below open 85,653.0: candle data is corrupt, do not trade on it."
    );
    let s = invalid_summary(|c| {
        c.open = 85600.0;
        c.high = 85620.0;
    });
    assert!(s.contains("high 85,620.0 below close 85,634.0"), "{s}");
}

#[test]
fn hard_rule_low_above_open_or_close() {
    let s = invalid_summary(|c| c.low = 85640.0);
    assert!(s.contains("low 85,640.0 above close 85,634.0"), "{s}");
    let s = invalid_summary(|c| {
        c.close = 85660.0;
        c.high = 85660.0;
        c.low = 85655.0;
    });
    assert!(s.contains("low 85,655.0 above open 85,653.0"), "{s}");
}

#[test]
fn hard_rule_prices_positive_and_finite() {
    for (v, shown) in [(0.0, "0.0"), (-1.0, "-1.0"), (f64::NAN, "NaN")] {
        let s = invalid_summary(|c| c.low = v);
        assert!(s.contains(&format!("low price {shown}")), "{s}");
    }
    let s = invalid_summary(|c| c.high = f64::INFINITY);
    assert!(s.contains("high price inf"), "{s}");
}

#[test]
fn hard_rule_volume_non_negative() {
    let s = invalid_summary(|c| c.volume = -0.5);
    assert!(s.contains("volume -0.5"), "{s}");
    let s = invalid_summary(|c| c.volume = f64::NAN);
    assert!(s.contains("volume NaN"), "{s}");
}

#[test]
fn hard_rule_vwap_inside_range() {
    // VWAP 3,672,005.8242 / 42.874 = 85,646.4 lies in [85,629.4, 85,653.1];
    // doubling the quote volume puts it far above the high.
    let s = invalid_summary(|c| c.quote_volume = Some(2.0 * 3_672_005.824_2));
    assert!(s.contains("VWAP 171,292.9"), "{s}");
    assert!(
        s.contains("outside its own range 85,629.4..85,653.1"),
        "{s}"
    );
    let s = invalid_summary(|c| {
        c.volume = 0.0;
    });
    assert!(
        s.contains("quote volume 3,672,005.8 with base volume 0.0"),
        "{s}"
    );
    // Zero volume with zero quote volume is a valid empty minute.
    let mut ck = checker(StreamKind::Kline(60));
    let mut inc = Incidents::new();
    let mut empty = real(T0);
    empty.volume = 0.0;
    empty.quote_volume = Some(0.0);
    empty.open = 85634.0;
    empty.high = 85634.0;
    empty.low = 85634.0;
    assert!(run(&mut ck, &mut inc, &empty).is_empty());
}

#[test]
fn vwap_on_the_edge_within_tolerance_is_fine() {
    let mut c = real(T0);
    c.quote_volume = Some(c.high * c.volume * (1.0 + 1e-12));
    assert_eq!(hard_violation(&c, 1e-9), None);
    c.quote_volume = Some(c.high * c.volume * (1.0 + 1e-6));
    assert!(matches!(
        hard_violation(&c, 1e-9),
        Some(Violation::VwapOutside(_))
    ));
}

fn faults(out: &[Alert]) -> Vec<String> {
    out.iter()
        .filter(|a| a.kind == Kind::CandleGap && a.state != State::Resolved)
        .map(|a| {
            a.evidence
                .get("fault")
                .unwrap()
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

#[test]
fn sequence_rules() {
    let mut ck = checker(StreamKind::Kline(60));
    let mut inc = Incidents::new();
    let mut out = Vec::new();
    for open in [T0, T0 + MIN, T0 + 4 * MIN, T0 + 4 * MIN, T0 + 2 * MIN] {
        feed(&mut ck, open + MIN, &real(open), &mut inc, &mut out);
    }
    assert_eq!(faults(&out), ["missing", "duplicate", "out_of_order"]);
    let first = &out[0];
    assert_eq!(first.state, State::Open);
    assert_eq!(first.evidence.get("missing_intervals").unwrap(), 2);
    assert_eq!(
        first.summary,
        "binance-usdm BTC/USDT 1m candles missing: 2 intervals 2025-04-15T07:47Z to 2025-04-15T07:48Z never arrived (next candle 2025-04-15T07:49Z): history has a hole, backfill before using it."
    );
    // Further faults in the same episode are updates of one incident.
    assert!(out[1..].iter().all(|a| a.state == State::Update));
    assert!(out.iter().all(|a| a.incident == first.incident));
    // Off the grid.
    let mut off = real(T0 + 5 * MIN + SECOND);
    off.closed = true;
    feed(&mut ck, T0 + 7 * MIN, &off, &mut inc, &mut out);
    assert_eq!(faults(&out).last().unwrap(), "off_grid");
    // A clean next candle resolves.
    feed(
        &mut ck,
        T0 + 6 * MIN,
        &real(T0 + 5 * MIN),
        &mut inc,
        &mut out,
    );
    assert_eq!(out.last().unwrap().state, State::Resolved);
}

#[test]
fn trade_built_candles_may_skip_minutes_but_not_repeat() {
    let mut ck = checker(StreamKind::TradeCandles);
    let mut inc = Incidents::new();
    let mut out = Vec::new();
    for open in [T0, T0 + 3 * MIN, T0 + 3 * MIN, T0 + MIN] {
        feed(&mut ck, open + MIN, &real(open), &mut inc, &mut out);
    }
    assert_eq!(faults(&out), ["duplicate", "out_of_order"]);
    assert_eq!(out[0].stream.as_deref(), Some("trade_candles_1m"));
}

#[test]
fn sparse_exchange_candles_may_skip_intervals_but_dense_ones_may_not() {
    for (sparse, want) in [(true, vec![]), (false, vec!["missing"])] {
        let mut ck = checker(StreamKind::Kline(60));
        if sparse {
            ck = ck.sparse();
        }
        let mut inc = Incidents::new();
        let mut out = Vec::new();
        for open in [T0, T0 + MIN, T0 + 4 * MIN] {
            feed(&mut ck, open + MIN, &real(open), &mut inc, &mut out);
        }
        assert_eq!(faults(&out), want, "sparse={sparse}");
    }
    assert!(crate::venues::klines_skip_quiet_intervals(Venue::Kraken));
    assert!(!crate::venues::klines_skip_quiet_intervals(Venue::Okx));
}

#[test]
fn trade_id_continuity_on_exchange_candles() {
    // Ids as in a real Binance futures CTKUSDT kline pair (closed
    // L=23961360, next f=23961361), recorded by cryptofeed.
    let mut ck = checker(StreamKind::Kline(60));
    let mut inc = Incidents::new();
    let mut a = real(T0);
    a.first_trade_id = Some(23_961_275);
    a.last_trade_id = Some(23_961_360);
    let mut b = real(T0 + MIN);
    b.first_trade_id = Some(23_961_361);
    b.last_trade_id = Some(23_961_395);
    assert!(run(&mut ck, &mut inc, &a).is_empty());
    assert!(run(&mut ck, &mut inc, &b).is_empty());
    // Injected: 5 trade ids missing before the next candle.
    let mut c = real(T0 + 2 * MIN);
    c.first_trade_id = Some(23_961_401);
    c.last_trade_id = Some(23_961_420);
    let out = run(&mut ck, &mut inc, &c);
    assert_eq!(faults(&out), ["trade_ids"]);
    assert!(
        out[0].summary.contains("skips 5 trade ids"),
        "{}",
        out[0].summary
    );
}

#[test]
fn forming_updates_only_matter_when_they_change_a_closed_candle() {
    let mut ck = checker(StreamKind::Kline(60));
    let mut inc = Incidents::new();
    let mut out = Vec::new();
    let mut forming = real(T0);
    forming.closed = false;
    forming.high = 1.0; // a forming candle is not checked
    feed(&mut ck, T0 + SECOND, &forming, &mut inc, &mut out);
    assert!(out.is_empty());
    feed(&mut ck, T0 + MIN, &real(T0), &mut inc, &mut out);
    let mut same = real(T0);
    same.closed = false;
    feed(&mut ck, T0 + MIN + SECOND, &same, &mut inc, &mut out);
    assert!(out.is_empty());
    same.volume += 1.0;
    feed(&mut ck, T0 + MIN + 2 * SECOND, &same, &mut inc, &mut out);
    assert_eq!(faults(&out), ["revised"]);
    assert_eq!(out[0].evidence.get("changed").unwrap(), "volume");
}

/// A calm stream: the real minute's range around a slowly drifting price.
fn calm(i: i64) -> Candle {
    let mut c = real(T0 + i * MIN);
    let d = 5.0 * ((i % 3) as f64 - 1.0);
    c.open += d;
    c.high += d;
    c.low += d;
    c.close += d;
    c.quote_volume = None;
    c
}

#[test]
fn abnormal_wick_needs_history_and_is_resolved_by_a_calm_candle() {
    let mut ck = checker(StreamKind::Kline(60));
    let mut inc = Incidents::new();
    let mut out = Vec::new();
    // Injected 6% wick before min_history: not tested yet.
    let mut early = calm(0);
    early.low = early.close * 0.94;
    feed(&mut ck, T0 + MIN, &early, &mut inc, &mut out);
    for i in 1..6 {
        feed(&mut ck, T0 + (i + 1) * MIN, &calm(i), &mut inc, &mut out);
    }
    assert!(out.is_empty(), "{out:#?}");
    let mut spike = calm(6);
    spike.low = spike.close * 0.94;
    feed(&mut ck, T0 + 7 * MIN, &spike, &mut inc, &mut out);
    assert_eq!(out.len(), 1, "{out:#?}");
    let a = &out[0];
    assert_eq!(
        (a.kind, a.severity, a.state),
        (Kind::AbnormalCandle, Severity::Warning, State::Open)
    );
    assert_eq!(a.evidence.get("statistic").unwrap(), "wick_ratio");
    assert!(
        a.summary.contains("lower wick of 5,137.74"),
        "{}",
        a.summary
    );
    feed(&mut ck, T0 + 8 * MIN, &calm(7), &mut inc, &mut out);
    assert_eq!(out.len(), 2);
    assert_eq!(out[1].state, State::Resolved);
    // The spike did not blow up the baseline: the same spike again is
    // still abnormal.
    let mut again = calm(8);
    again.low = again.close * 0.94;
    feed(&mut ck, T0 + 9 * MIN, &again, &mut inc, &mut out);
    assert_eq!(out.len(), 3);
    assert_eq!(out[2].state, State::Open);
}

#[test]
fn abnormal_return_uses_student_t_surprise() {
    let mut ck = checker(StreamKind::Kline(60));
    let mut inc = Incidents::new();
    let mut out = Vec::new();
    for i in 0..30 {
        feed(&mut ck, T0 + (i + 1) * MIN, &calm(i), &mut inc, &mut out);
    }
    assert!(out.is_empty());
    // Injected: the whole candle 5% lower (a gap down, no wick).
    let mut drop = calm(30);
    for p in [
        &mut drop.open,
        &mut drop.high,
        &mut drop.low,
        &mut drop.close,
    ] {
        *p *= 0.95;
    }
    feed(&mut ck, T0 + 31 * MIN, &drop, &mut inc, &mut out);
    assert_eq!(out.len(), 1, "{out:#?}");
    assert_eq!(out[0].evidence.get("statistic").unwrap(), "return_surprise");
    let score = out[0]
        .evidence
        .get("return_surprise")
        .unwrap()
        .as_f64()
        .unwrap();
    assert!(score >= 7.0, "{score}");
}

#[test]
fn cached_critical_z_matches_threshold() {
    let ck = checker(StreamKind::Kline(60));
    let s = ck.surprise(ck.z_crit);
    assert!((s - 7.0).abs() < 1e-6, "{s}");
    assert!(ck.surprise(ck.z_crit * 0.9) < 7.0);
    assert!(ck.surprise(f64::NAN).is_nan());
    assert_eq!(ck.surprise(f64::INFINITY), MAX_SCORE);
}

#[test]
fn critical_z_is_exact_for_any_valid_config() {
    for nu in [2.01, 3.0, 4.0, 30.0, 1e6] {
        for thr in [0.1, 1.0, 7.0, 20.0, 50.0, 100.0] {
            let cfg = CandleConfig {
                t_nu: nu,
                return_threshold: thr,
                ..CandleConfig::default()
            };
            let ck = CandleChecker::new(&cfg, Venue::Okx, "BTC/USDT".into(), StreamKind::Kline(60));
            assert!(ck.z_crit.is_finite(), "nu {nu} thr {thr}");
            let s = ck.surprise(ck.z_crit);
            assert!(
                (s - thr).abs() < 1e-6 * thr.max(1.0),
                "nu {nu} thr {thr}: {s}"
            );
            assert!(ck.surprise(ck.z_crit * 0.999) < thr);
        }
    }
    // Out-of-range values that skipped validation must not panic.
    let wild = CandleConfig {
        t_nu: f64::NAN,
        return_threshold: 1e9,
        winsor_z: -1.0,
        range_window: 0,
        ..CandleConfig::default()
    };
    let mut ck = CandleChecker::new(&wild, Venue::Okx, "BTC/USDT".into(), StreamKind::Kline(0));
    let mut inc = Incidents::new();
    for i in 0..10 {
        run(&mut ck, &mut inc, &calm(i));
    }
}

#[test]
fn config_validation_names_the_key() {
    assert_eq!(CandleConfig::default().validate(), Ok(()));
    let bad = CandleConfig {
        t_nu: 2.0,
        ..CandleConfig::default()
    };
    assert!(bad.validate().unwrap_err().contains("candle.t_nu"));
    let bad = CandleConfig {
        range_window: 100,
        ..CandleConfig::default()
    };
    assert!(bad.validate().unwrap_err().contains("candle.range_window"));
}

#[test]
fn numbers_read_like_prices() {
    assert_eq!(num(85100.0), "85,100.0");
    assert_eq!(num(85230.5), "85,230.5");
    assert_eq!(num(22.009), "22.009");
    assert_eq!(num(-1234567.0), "-1,234,567.0");
    assert_eq!(num(0.000123), "0.000123");
    assert_eq!(num(f64::NAN), "NaN");
}

#[test]
fn median_of_small_slices() {
    assert_eq!(median(&[]), 0.0);
    assert_eq!(median(&[3.0]), 3.0);
    assert_eq!(median(&[4.0, 1.0]), 2.5);
    assert_eq!(median(&[5.0, 1.0, 3.0]), 3.0);
}

/// The kinds of a candle update's verdicts, in order (`None` for quiet).
fn shape(v: CandleVerdicts) -> Vec<Option<(bool, Kind)>> {
    v.into_iter()
        .map(|v| match v {
            Verdict::Quiet => None,
            Verdict::Fire(f) => Some((true, f.kind())),
            Verdict::Clear(c) => Some((false, c.kind())),
        })
        .collect()
}

#[test]
fn verdicts_come_in_alert_order_and_recover_only_what_fires() {
    let mut ck = checker(StreamKind::Kline(60));
    let key = ck.key().clone();
    assert_eq!(key.stream.as_deref(), Some("kline_1m"));
    // A clean first candle: nothing fires, so nothing recovers.
    assert_eq!(shape(ck.on_candle(&real(T0))), [None, None, None]);
    // Missing a minute and corrupt: the gap, then the hard rule; the
    // statistics never see a bad candle.
    let mut bad = real(T0 + 2 * MIN);
    bad.high = bad.close - 1.0;
    let v = ck.on_candle(&bad);
    assert!(matches!(v.abnormal, Verdict::Quiet));
    let mut inc = Incidents::new();
    let mut out = Vec::new();
    v.report(&mut inc, &key, T0 + 3 * MIN, &mut out);
    let kinds: Vec<_> = out.iter().map(|a| (a.kind, a.state)).collect();
    assert_eq!(
        kinds,
        [
            (Kind::CandleGap, State::Open),
            (Kind::CandleInvalid, State::Open)
        ]
    );
    // The next clean candle clears both, in the same order, with the words
    // the resolved alerts carry.
    let v = ck.on_candle(&real(T0 + 3 * MIN));
    let Verdict::Clear(gap) = &v.gap else {
        panic!("{v:?}")
    };
    assert_eq!(gap.rule, Rule::Gap);
    assert_eq!(
        gap.summary(&key),
        "binance-usdm BTC/USDT 1m candle 2025-04-15T07:48Z is in sequence again: candle history is complete from here."
    );
    assert_eq!(
        gap.evidence().get("open_time").unwrap(),
        "2025-04-15T07:48:00.000Z"
    );
    let mut out = Vec::new();
    v.report(&mut inc, &key, T0 + 4 * MIN, &mut out);
    let kinds: Vec<_> = out.iter().map(|a| (a.kind, a.state)).collect();
    assert_eq!(
        kinds,
        [
            (Kind::CandleGap, State::Resolved),
            (Kind::CandleInvalid, State::Resolved)
        ]
    );
    assert_eq!(
        out[1].summary,
        "binance-usdm BTC/USDT 1m candle 2025-04-15T07:48Z passes the hard rules again: candle data can be used."
    );
    // Recovered: the next clean candle has nothing to say.
    assert_eq!(shape(ck.on_candle(&real(T0 + 4 * MIN))), [None, None, None]);
    assert_eq!(inc.open_count(), 0);
}

#[test]
fn misplaced_candle_is_out_of_order_but_used_in_its_sorted_place() {
    let mut ck = checker(StreamKind::Kline(60));
    assert_eq!(shape(ck.on_candle(&real(T0))), [None, None, None]);
    // In sequence by time, but it stood after a later candle in its file.
    let v = ck.on_candle_misplaced(&real(T0 + MIN), T0 + 5 * MIN);
    let Verdict::Fire(CandleFinding::Gap(g)) = v.clone().into_iter().next().unwrap() else {
        panic!("{v:?}")
    };
    assert_eq!(g.evidence().get("fault").unwrap(), "out_of_order");
    assert_eq!(
        g.evidence().get("latest_open_time").unwrap(),
        "2025-04-15T07:50:00.000Z"
    );
    assert_eq!(shape(v), [Some((true, Kind::CandleGap)), None, None]);
    // It was used in its sorted place: the next minute is in sequence.
    assert_eq!(
        shape(ck.on_candle(&real(T0 + 2 * MIN))),
        [Some((false, Kind::CandleGap)), None, None]
    );
    assert_eq!(ck.history(), 3);
}

fn any_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(0.0),
        Just(-0.0),
        Just(f64::MAX),
        Just(f64::MIN_POSITIVE),
        -1e6f64..1e6,
        80_000.0f64..90_000.0,
    ]
}

proptest! {
    #[test]
    fn checker_never_panics(
        candles in proptest::collection::vec(
            (any::<i64>(), 0i64..50, any::<bool>(), any::<bool>(),
             any_f64(), any_f64(), any_f64(), any_f64(), any_f64(),
             proptest::option::of(any_f64()), proptest::option::of(any::<u64>())),
            1..60),
        kline in any::<bool>(),
        probation in any::<bool>(),
    ) {
        let stream = if kline { StreamKind::Kline(60) } else { StreamKind::TradeCandles };
        let mut ck = checker(stream);
        let mut inc = if probation {
            Incidents::with_config(IncidentConfig::default())
        } else {
            Incidents::new()
        };
        let mut out = Vec::new();
        for (wild, step, wild_time, closed, o, h, l, c, v, q, id) in candles {
            let open_ns = if wild_time { wild } else { T0 + step * MIN };
            let candle = Candle {
                open_ns,
                interval_secs: 60,
                open: o,
                high: h,
                low: l,
                close: c,
                volume: v,
                quote_volume: q,
                trades: id,
                first_trade_id: id,
                last_trade_id: id.map(|x| x.wrapping_add(3)),
                closed,
                exch_ns: None,
            };
            feed(&mut ck, open_ns, &candle, &mut inc, &mut out);
            // The checker's own idea of what fires is the book's.
            for rule in [Rule::Gap, Rule::Invalid, Rule::Abnormal] {
                prop_assert_eq!(
                    ck.firing.is_firing(rule),
                    inc.is_firing(rule.kind(), ck.key()),
                    "{:?}", rule
                );
            }
        }
        for a in &out {
            prop_assert!(!a.summary.is_empty());
            prop_assert!(!a.to_json().is_empty());
        }
    }
}
