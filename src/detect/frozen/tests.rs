//! Unit tests of `feed_frozen`: the rhythm of changes, peers, silence.

use super::*;
use crate::model::MILLI;

fn f(v: u64) -> Fingerprint {
    [v, 0, 0, 0, 0, 0]
}

/// Two venues' bbo streams on BTC, changing every 100 ms for 60 s.
fn warmed() -> (
    FrozenConfig,
    FrozenGroups,
    FrozenTracker,
    FrozenTracker,
    Nanos,
) {
    let cfg = FrozenConfig::default();
    let mut g = FrozenGroups::new();
    let mut a = g
        .tracker(&cfg, Venue::BinanceSpot, "BTC/USDT", StreamKind::Bbo)
        .unwrap();
    let mut b = g
        .tracker(&cfg, Venue::BinanceCoinm, "BTC/USD", StreamKind::Bbo)
        .unwrap();
    let mut t = 0;
    for i in 0..600u64 {
        t += 100 * MILLI;
        assert_eq!(a.on_frame(&cfg, &mut g, t, &f(i)), FrozenVerdict::Quiet);
        assert_eq!(b.on_frame(&cfg, &mut g, t, &f(i)), FrozenVerdict::Quiet);
    }
    (cfg, g, a, b, t)
}

#[test]
fn repeats_while_peers_move_are_frozen_and_a_change_resolves() {
    let (cfg, mut g, mut a, mut b, mut t) = warmed();
    let start = t;
    let mut found = None;
    for i in 0..300u64 {
        t += 100 * MILLI;
        b.on_frame(&cfg, &mut g, t, &f(10_000 + i));
        if let FrozenVerdict::Fire(facts) = a.on_frame(&cfg, &mut g, t, &f(599)) {
            found = Some((t, facts));
            break;
        }
    }
    let (at, facts) = found.expect("never frozen");
    let delay = secs(at - start);
    assert!(delay >= cfg.min_frozen_s && delay < 10.0, "delay {delay}");
    assert!(facts.peers_known && facts.peer_changes >= cfg.min_peer_changes);
    assert!(facts.phi >= cfg.phi);
    assert_eq!(facts.unchanged_frames, (delay * 10.0).round() as u64);
    // No second report while it stays frozen; the next change resolves.
    assert_eq!(
        a.on_frame(&cfg, &mut g, t + 100 * MILLI, &f(599)),
        FrozenVerdict::Quiet
    );
    assert!(matches!(
        a.on_frame(&cfg, &mut g, t + 200 * MILLI, &f(7)),
        FrozenVerdict::Clear(Resumed { .. })
    ));
    assert!(!a.is_alerting());
}

#[test]
fn a_quiet_market_raises_nothing() {
    // Both venues repeat their values (as Bybit does every 3 s) for two
    // minutes: nobody moved, nothing is frozen.
    let (cfg, mut g, mut a, mut b, mut t) = warmed();
    for _ in 0..1200 {
        t += 100 * MILLI;
        assert_eq!(a.on_frame(&cfg, &mut g, t, &f(599)), FrozenVerdict::Quiet);
        assert_eq!(b.on_frame(&cfg, &mut g, t, &f(599)), FrozenVerdict::Quiet);
    }
}

#[test]
fn peers_that_moved_only_before_standing_still_do_not_convict() {
    // Stream a stops changing; b changes 20 more times in the next
    // 200 ms, then both stand still (repeats keep coming).
    let (cfg, mut g, mut a, mut b, mut t) = warmed();
    for i in 0..20u64 {
        t += 10 * MILLI;
        b.on_frame(&cfg, &mut g, t, &f(20_000 + i));
    }
    for _ in 0..1200 {
        t += 100 * MILLI;
        assert_eq!(a.on_frame(&cfg, &mut g, t, &f(599)), FrozenVerdict::Quiet);
        assert_eq!(
            b.on_frame(&cfg, &mut g, t, &f(20_019)),
            FrozenVerdict::Quiet
        );
    }
}

#[test]
fn a_waking_market_gives_the_stream_its_usual_time_to_follow() {
    // Both stand still for a minute; then b moves again and a keeps
    // repeating: a is judged on the time since b started moving.
    let (cfg, mut g, mut a, mut b, mut t) = warmed();
    for _ in 0..600 {
        t += 100 * MILLI;
        assert_eq!(a.on_frame(&cfg, &mut g, t, &f(599)), FrozenVerdict::Quiet);
        assert_eq!(b.on_frame(&cfg, &mut g, t, &f(599)), FrozenVerdict::Quiet);
    }
    let woke = t + 100 * MILLI;
    let mut found = None;
    for i in 0..300u64 {
        t += 100 * MILLI;
        b.on_frame(&cfg, &mut g, t, &f(30_000 + i));
        if let FrozenVerdict::Fire(x) = a.on_frame(&cfg, &mut g, t, &f(599)) {
            found = Some((t, x));
            break;
        }
    }
    let (at, x) = found.expect("never frozen");
    let delay = secs(at - woke);
    assert!(delay >= cfg.min_frozen_s && delay < 10.0, "delay {delay}");
    assert!(x.unchanged_s > 60.0, "{x:?}");
    assert!((x.peers_moving_s.unwrap() - delay).abs() < 1e-6, "{x:?}");
}

#[test]
fn without_peers_a_much_higher_phi_is_needed() {
    let cfg = FrozenConfig::default();
    let mut g = FrozenGroups::new();
    let mut a = g
        .tracker(&cfg, Venue::Kraken, "ETH/USD", StreamKind::Trade)
        .unwrap();
    // Same venue, other symbol of the same base: not a peer.
    let _same_venue = g
        .tracker(&cfg, Venue::Kraken, "ETH/EUR", StreamKind::Trade)
        .unwrap();
    let mut t = 0;
    for i in 0..600u64 {
        t += 100 * MILLI;
        a.on_frame(&cfg, &mut g, t, &f(i));
    }
    let start = t;
    let mut at = None;
    for _ in 0..1000 {
        t += 100 * MILLI;
        if let FrozenVerdict::Fire(facts) = a.on_frame(&cfg, &mut g, t, &f(599)) {
            assert!(!facts.peers_known);
            assert_eq!(facts.threshold_phi, cfg.no_peer_phi);
            at = Some(t);
            break;
        }
    }
    let delay = secs(at.expect("never frozen") - start);
    // phi 16 takes longer than phi 8 would (about 7 s here).
    assert!(delay > 10.0 && delay < 60.0, "delay {delay}");
}

#[test]
fn silence_ends_a_report_and_restarts_the_clock() {
    let (cfg, mut g, mut a, mut b, mut t) = warmed();
    for i in 0..200u64 {
        t += 100 * MILLI;
        b.on_frame(&cfg, &mut g, t, &f(10_000 + i));
        a.on_frame(&cfg, &mut g, t, &f(599));
    }
    assert!(a.is_alerting());
    assert_eq!(a.on_silent(), Verdict::Clear(WentSilent));
    assert_eq!(a.on_silent(), Verdict::Quiet);
    // Frames come back 60 s later with the same values: the clock
    // restarts, nothing is reported at once.
    t += 60 * SECOND;
    b.on_frame(&cfg, &mut g, t, &f(99_999));
    assert_eq!(a.on_frame(&cfg, &mut g, t, &f(599)), FrozenVerdict::Quiet);
    assert_eq!(
        a.on_frame(&cfg, &mut g, t + 500 * MILLI, &f(599)),
        FrozenVerdict::Quiet
    );
}

#[test]
fn too_little_history_is_never_judged() {
    let cfg = FrozenConfig::default();
    let mut g = FrozenGroups::new();
    let mut a = g
        .tracker(&cfg, Venue::BinanceSpot, "BTC/USDT", StreamKind::Bbo)
        .unwrap();
    let mut b = g
        .tracker(&cfg, Venue::Okx, "BTC/USDT", StreamKind::Bbo)
        .unwrap();
    a.on_frame(&cfg, &mut g, 0, &f(1));
    a.on_frame(&cfg, &mut g, SECOND, &f(2));
    for i in 0..1000u64 {
        let t = 2 * SECOND + i as Nanos * 100 * MILLI;
        b.on_frame(&cfg, &mut g, t, &f(i));
        assert_eq!(a.on_frame(&cfg, &mut g, t, &f(2)), FrozenVerdict::Quiet);
    }
    assert!(
        g.tracker(&cfg, Venue::Okx, "BTC/USDT", StreamKind::TradeCandles)
            .is_none()
    );
}

#[test]
fn validate_names_the_key() {
    FrozenConfig::default().validate().unwrap();
    let e = FrozenConfig {
        phi: 0.0,
        ..FrozenConfig::default()
    }
    .validate()
    .unwrap_err();
    assert!(e.starts_with("frozen.phi "), "{e}");
    let e = FrozenConfig {
        no_peer_phi: 4.0,
        ..FrozenConfig::default()
    }
    .validate()
    .unwrap_err();
    assert!(e.starts_with("frozen.no_peer_phi "), "{e}");
    let e = FrozenConfig {
        tail_share: 0.7,
        ..FrozenConfig::default()
    }
    .validate()
    .unwrap_err();
    assert!(e.starts_with("frozen.tail_share "), "{e}");
}
