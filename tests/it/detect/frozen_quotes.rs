//! `feed_frozen` on a best bid/offer that its own venue's book and trades
//! contradict: the real 2024-08-08 Binance BTC recordings with quotes
//! frozen by code (`feedwatch::scenario::inject::freeze`: the frames keep
//! coming, their prices and sizes repeat), never presented as recorded.
//! The same venue's depth diffs and trades go on as recorded, so they
//! convict the quote within seconds.
//!
//! Kinds are matched by name and evidence by key, so these tests also run
//! against a build without the witness (they fail there, as they must).

use crate::util::*;
use feedwatch::alert::{Alert, Severity, State};
use feedwatch::detect::DetectConfig;
use feedwatch::eval::eval_file;
use feedwatch::model::{SECOND, Venue};
use feedwatch::scenario::inject::{self, Records};

fn recordings(secs: i64) -> Vec<Records> {
    bundled_first_secs(&BUNDLED_BTC, secs)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    assert!(n > 0);
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

#[test]
fn a_frozen_spot_quote_is_convicted_by_its_own_book_within_5s() {
    let mut inputs = recordings(180);
    let t0 = inputs.iter().map(first_ns).min().unwrap();
    let from = t0 + 60 * SECOND;
    let inj = inject::freeze(
        &mut inputs[0],
        from,
        30 * SECOND,
        "@bookTicker",
        &["b", "B", "a", "A"],
    );
    assert!(inj.touched > 100, "froze only {} frames", inj.touched);
    let alerts = run(&merge(inputs));
    let frozen: Vec<&Alert> = alerts
        .iter()
        .filter(|a| a.kind.name() == "feed_frozen")
        .collect();
    assert!(!frozen.is_empty(), "never frozen");
    let open = frozen[0];
    assert_eq!(open.state, State::Open, "{}", show(&frozen));
    assert_eq!(open.venue, Venue::BinanceSpot);
    assert_eq!(open.stream.as_deref(), Some("bbo"));
    assert_eq!(open.severity, Severity::Warning);
    let delay = open.at - from;
    assert!(
        delay > 0 && delay < 5 * SECOND,
        "convicted {:.2} s after the freeze",
        delay as f64 / 1e9
    );
    // The venue's own streams convicted it, after holding the set time.
    let ev = &open.evidence;
    let witness = ev.get("witness").and_then(|v| v.as_str());
    assert!(
        matches!(witness, Some("book_top" | "trade")),
        "{}",
        show(&[open])
    );
    let held = ev.get("contradicted_s").and_then(|v| v.as_f64()).unwrap();
    assert!(
        held >= DetectConfig::default().frozen.contradicted_s,
        "{held}"
    );
    // One incident; the quote's first change after the freeze sends it to
    // monitoring.
    assert!(frozen.iter().all(|a| a.incident == open.incident));
    let back = recovery(&alerts, &open.incident).expect("never recovered");
    assert!(
        back.at >= from + 30 * SECOND && back.at < from + 31 * SECOND,
        "{}",
        show(&[back])
    );
    // Nothing else pages but the stale quote itself (trades printing
    // outside it, true of the injected data).
    let others: Vec<&Alert> = pages(&alerts)
        .into_iter()
        .filter(|a| a.kind.name() != "feed_frozen")
        .filter(|a| !(a.kind.name() == "book_stale" && a.stream.as_deref() == Some("bbo")))
        .collect();
    assert!(others.is_empty(), "{}", show(&others));
}

#[test]
fn quotes_frozen_at_seven_points_are_convicted_in_under_5s_median() {
    let dir = fixtures().join("scenarios");
    let r = eval_file(&DetectConfig::default(), &dir.join("frozen-quotes.toml")).unwrap();
    assert_eq!(r.labels.len(), 7);
    let delays: Vec<f64> = r
        .labels
        .iter()
        .map(|l| l.delay_s.unwrap_or_else(|| panic!("missed {:?}", l.expect)))
        .collect();
    let m = median(delays.clone());
    assert!(m < 5.0, "median {m:.2} s over {delays:?}");
    assert!(r.false_alarms.is_empty(), "{:?}", r.false_alarms);
    // The bundled one-venue-frozen scenario's quote too.
    let r = eval_file(&DetectConfig::default(), &dir.join("one-venue-frozen.toml")).unwrap();
    let bbo = r
        .labels
        .iter()
        .find(|l| l.expect.stream.as_deref() == Some("bbo"))
        .unwrap();
    let d = bbo.delay_s.expect("bbo missed");
    assert!(d < 5.0, "one-venue-frozen bbo after {d:.2} s");
}
