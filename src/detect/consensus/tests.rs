//! Unit tests of the consensus: the judgment, the config and the per-pair state.

use super::*;
use crate::model::SECOND;
use proptest::prelude::*;

const T: Nanos = 1_760_130_000 * SECOND;

fn obs(v: Venue, p: f64) -> Observation {
    Observation {
        venue: v,
        price: p,
        observed_at: T,
    }
}

fn run(subject: Observation, peers: &[Observation], was: bool) -> Assessment {
    assess(
        &ConsensusConfig::default(),
        &subject,
        peers,
        T,
        was,
        0.0,
        &mut Vec::new(),
    )
}

#[test]
fn median_and_mad_by_hand() {
    // 1, 2, 3, 4, 100: median 3; deviations 2, 1, 0, 1, 97 -> MAD 1.
    let mut v = vec![4.0, 100.0, 1.0, 3.0, 2.0];
    let (m, d) = robust_stats(&mut v).unwrap();
    assert_eq!(m, 3.0);
    assert!((d - 1.4826).abs() < 1e-12);
    // Even count: median is the mean of the middle pair.
    let mut v = vec![10.0, 20.0];
    assert_eq!(robust_stats(&mut v).unwrap(), (15.0, 1.4826 * 5.0));
    // Non-finite values are dropped, not sorted into the middle.
    let mut v = vec![f64::NAN, 5.0, f64::INFINITY];
    assert_eq!(robust_stats(&mut v).unwrap(), (5.0, 0.0));
    assert_eq!(robust_stats(&mut vec![f64::NAN]), None);
}

#[test]
fn one_venue_far_from_four_is_divergent_then_readmitted_below_half() {
    let peers = [
        obs(Venue::Coinbase, 100_000.0),
        obs(Venue::Kraken, 100_010.0),
        obs(Venue::Okx, 99_990.0),
        obs(Venue::BybitSpot, 100_005.0),
    ];
    // 2% away: far beyond the 50 bp floor (500).
    let a = run(obs(Venue::BinanceSpot, 102_000.0), &peers, false);
    assert_eq!(a.verdict, Verdict::Divergent);
    assert_eq!(a.fresh_venues, 5);
    // The median of the four others (leave-one-out).
    assert_eq!(a.median, 100_002.5);
    assert!(a.divergent);
    let thr = a.threshold;
    assert!((thr - 500.0125).abs() < 1e-6, "{thr}");
    // Back to 60% of the threshold: still divergent (hysteresis).
    let near = 100_002.5 + 0.6 * thr;
    let a = run(obs(Venue::BinanceSpot, near), &peers, true);
    assert_eq!(a.verdict, Verdict::Divergent);
    // A venue not flagged before is fine at the same distance.
    let a = run(obs(Venue::BinanceSpot, near), &peers, false);
    assert_eq!(a.verdict, Verdict::Confirmed);
    // Below 50%: re-admitted.
    let a = run(obs(Venue::BinanceSpot, 100_002.5 + 0.4 * thr), &peers, true);
    assert_eq!(a.verdict, Verdict::Confirmed);
    assert!(!a.divergent);
}

#[test]
fn a_volatile_peer_does_not_hide_an_outlier_of_three() {
    // Three venues: the subject 1.5% off, one peer 0.25% off the other.
    // Over all three, MAD is the volatile peer's deviation and the
    // subject's own, and 5 x 1.4826 x MAD covered the gap; against the
    // two others alone it does not.
    let peers = [
        obs(Venue::Coinbase, 100_000.0),
        obs(Venue::Kraken, 100_250.0),
    ];
    let a = run(obs(Venue::BinanceSpot, 101_500.0), &peers, false);
    assert_eq!(a.fresh_venues, 3);
    assert_eq!(a.median, 100_125.0);
    assert_eq!(a.verdict, Verdict::Divergent, "{a:?}");
    // The volatile peer itself is with the market: the calm peer and the
    // outlier straddle it.
    let others = [
        obs(Venue::Coinbase, 100_000.0),
        obs(Venue::BinanceSpot, 101_500.0),
    ];
    let b = run(obs(Venue::Kraken, 100_250.0), &others, false);
    assert_eq!(b.verdict, Verdict::Confirmed, "{b:?}");
}

#[test]
fn pair_consensus_keeps_the_flag_between_calls() {
    let cfg = ConsensusConfig::default();
    let mut p = PairConsensus::new();
    for (v, px) in [
        (Venue::Coinbase, 100.0),
        (Venue::Kraken, 100.01),
        (Venue::Okx, 99.99),
    ] {
        p.observe(v, px, T).unwrap();
    }
    p.observe(Venue::BinanceSpot, 103.0, T).unwrap();
    let a = p.assess(&cfg, Venue::BinanceSpot, T).unwrap();
    assert_eq!(a.verdict, Verdict::Divergent);
    assert!(p.is_divergent(Venue::BinanceSpot));
    // 0.4% away: under the 0.5% threshold but above half of it.
    p.observe(Venue::BinanceSpot, 100.4, T + SECOND).unwrap();
    let a = p.assess(&cfg, Venue::BinanceSpot, T + SECOND).unwrap();
    assert_eq!(a.verdict, Verdict::Divergent);
    p.observe(Venue::BinanceSpot, 100.1, T + 2 * SECOND)
        .unwrap();
    let a = p.assess(&cfg, Venue::BinanceSpot, T + 2 * SECOND).unwrap();
    assert_eq!(a.verdict, Verdict::Confirmed);
    assert!(!p.is_divergent(Venue::BinanceSpot));
    assert_eq!(p.assess(&cfg, Venue::BybitLinear, T), None);
}

#[test]
fn two_venues_that_disagree_are_unconfirmed_two_that_agree_confirm() {
    let a = run(
        obs(Venue::BinanceSpot, 103_000.0),
        &[obs(Venue::Coinbase, 100_000.0)],
        false,
    );
    assert_eq!(a.verdict, Verdict::Unconfirmed);
    assert_eq!(a.fresh_venues, 2);
    assert!(!a.divergent, "two venues cannot single one out");
    // Both moved to the same place (within 50 bp): a market move.
    let a = run(
        obs(Venue::BinanceSpot, 100_300.0),
        &[obs(Venue::Coinbase, 100_000.0)],
        false,
    );
    assert_eq!(a.verdict, Verdict::Confirmed);
    // Alone: unconfirmed.
    let a = run(obs(Venue::BinanceSpot, 100_000.0), &[], false);
    assert_eq!(a.verdict, Verdict::Unconfirmed);
    assert_eq!(a.fresh_venues, 1);
}

#[test]
fn stale_and_same_venue_peers_do_not_count() {
    let old = Observation {
        venue: Venue::Kraken,
        price: 100_000.0,
        observed_at: T - 11 * SECOND,
    };
    let peers = [
        obs(Venue::Coinbase, 100_000.0),
        old,
        obs(Venue::BinanceSpot, 100_000.0),
    ];
    let a = run(obs(Venue::BinanceSpot, 100_000.0), &peers, false);
    assert_eq!(a.fresh_venues, 2);
    // At the edge of freshness it still counts.
    let edge = Observation {
        observed_at: T - 10 * SECOND,
        ..old
    };
    let a = run(
        obs(Venue::BinanceSpot, 100_000.0),
        &[obs(Venue::Coinbase, 100_000.0), edge],
        false,
    );
    assert_eq!(a.fresh_venues, 3);
}

#[test]
fn nan_inf_and_nonpositive_prices_are_rejected_without_panic() {
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.0, -1.0] {
        let a = run(
            obs(Venue::BinanceSpot, bad),
            &[obs(Venue::Coinbase, 1.0), obs(Venue::Kraken, 1.0)],
            false,
        );
        assert_eq!(a.verdict, Verdict::Unconfirmed);
        assert_eq!(a.fresh_venues, 0);
        let a = run(
            obs(Venue::BinanceSpot, 1.0),
            &[obs(Venue::Coinbase, bad), obs(Venue::Kraken, 1.0)],
            false,
        );
        assert_eq!(a.fresh_venues, 2);
        let mut p = PairConsensus::new();
        assert_eq!(
            p.observe(Venue::Okx, bad, T).unwrap_err().to_string(),
            Rejected::BadPrice(bad).to_string()
        );
    }
}

#[test]
fn quote_families_and_markets() {
    let cfg = ConsensusConfig::default();
    let k = |v, s| cfg.pair_key(v, s).unwrap();
    assert_eq!(
        k(Venue::BinanceUsdm, "BTC/USDT"),
        k(Venue::Other("gemini"), "BTC/USD")
    );
    assert_eq!(k(Venue::Coinbase, "BTC/USDC").family, "USD");
    assert_ne!(k(Venue::Coinbase, "BTC/EUR"), k(Venue::Coinbase, "BTC/USD"));
    assert_ne!(k(Venue::Coinbase, "ETH/USD"), k(Venue::Coinbase, "BTC/USD"));
    assert_eq!(cfg.pair_key(Venue::Coinbase, "BTCUSD"), None);
    let split = ConsensusConfig {
        mix_spot_perp: false,
        quote_families: vec![],
        ..cfg
    };
    split.validate().unwrap();
    assert_ne!(
        split.pair_key(Venue::BinanceUsdm, "BTC/USDT"),
        split.pair_key(Venue::BinanceSpot, "BTC/USDT")
    );
    assert_ne!(
        split.pair_key(Venue::BinanceSpot, "BTC/USDT"),
        split.pair_key(Venue::Coinbase, "BTC/USD")
    );
}

#[test]
fn validate_names_the_key() {
    let ok = ConsensusConfig::default();
    ok.validate().unwrap();
    let e = ConsensusConfig {
        k: 0.0,
        ..ok.clone()
    }
    .validate()
    .unwrap_err();
    assert!(e.starts_with("consensus.k "), "{e}");
    let e = ConsensusConfig {
        freshness_secs: f64::NAN,
        ..ok.clone()
    }
    .validate()
    .unwrap_err();
    assert!(e.starts_with("consensus.freshness_secs "), "{e}");
    let e = ConsensusConfig {
        readmit_ratio: 1.5,
        ..ok.clone()
    }
    .validate()
    .unwrap_err();
    assert!(e.starts_with("consensus.readmit_ratio "), "{e}");
    let e = ConsensusConfig {
        quote_families: vec![vec!["USD".into()], vec!["usd".into()]],
        ..ok.clone()
    }
    .validate()
    .unwrap_err();
    assert!(e.contains("more than one family"), "{e}");
    let e = ConsensusConfig {
        eval_ms: 0,
        ..ok.clone()
    }
    .validate()
    .unwrap_err();
    assert!(e.starts_with("consensus.eval_ms "), "{e}");
    let e = ConsensusConfig {
        critical_after_s: -1.0,
        ..ok.clone()
    }
    .validate()
    .unwrap_err();
    assert!(e.starts_with("consensus.critical_after_s "), "{e}");
    let e = ConsensusConfig {
        hold_ms: 7_200_000,
        ..ok.clone()
    }
    .validate()
    .unwrap_err();
    assert!(e.starts_with("consensus.hold_ms "), "{e}");
    let toml_err = toml::from_str::<ConsensusConfig>("kk = 5.0").unwrap_err();
    assert!(toml_err.to_string().contains("kk"), "{toml_err}");
    let c: ConsensusConfig = toml::from_str("k = 4.0\nfloor_bps = 30.0").unwrap();
    assert_eq!((c.k, c.floor_bps, c.freshness_secs), (4.0, 30.0, 10.0));
}

const VENUES: [Venue; 6] = [
    Venue::BinanceSpot,
    Venue::Coinbase,
    Venue::Kraken,
    Venue::Okx,
    Venue::BybitSpot,
    Venue::Other("gemini"),
];

fn any_price() -> impl Strategy<Value = f64> {
    prop_oneof![
        8 => 90.0f64..110.0,
        1 => prop::num::f64::ANY,
    ]
}

proptest! {
    #[test]
    fn never_panics_and_order_does_not_matter(
        prices in prop::collection::vec(any_price(), 1..6),
        ages in prop::collection::vec(-20i64..20, 6),
        was in any::<bool>(),
        extra in prop::num::f64::ANY,
        rot in 0usize..6,
    ) {
        let cfg = ConsensusConfig::default();
        let all: Vec<Observation> = prices
            .iter()
            .zip(VENUES)
            .zip(&ages)
            .map(|((&p, v), &age)| Observation { venue: v, price: p, observed_at: T - age * SECOND })
            .collect();
        let subject = all[0];
        let peers = &all[1..];
        let a = assess(&cfg, &subject, peers, T, was, extra, &mut Vec::new());
        let mut shuffled: Vec<Observation> = peers.to_vec();
        shuffled.reverse();
        let n = shuffled.len();
        if n > 0 {
            shuffled.rotate_left(rot % n);
        }
        let b = assess(&cfg, &subject, &shuffled, T, was, extra, &mut Vec::new());
        prop_assert_eq!(a.verdict, b.verdict);
        prop_assert_eq!(a.fresh_venues, b.fresh_venues);
        prop_assert_eq!(a.median.to_bits(), b.median.to_bits());
        prop_assert!(a.fresh_venues <= all.len());
        if a.verdict == Verdict::Divergent {
            prop_assert!(a.fresh_venues >= MIN_VENUES);
        }
    }
}
