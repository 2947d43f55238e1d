//! The ten real Binance recordings (spot, USD-M, COIN-M; both days together
//! where there are two) are clean: replayed per market and all together they
//! raise nothing above info, and every frame parses.

use crate::util::*;
use feedwatch::replay::Input;

/// Imports the given markets and replays them merged, as the CLI does.
fn replay_markets(
    markets: &[&str],
    tmp: &str,
) -> (Vec<feedwatch::alert::Alert>, feedwatch::engine::Stats) {
    let dir = temp_dir(tmp);
    let mut paths = Vec::new();
    for m in markets {
        for (venue, files) in market(m) {
            paths.push(import_connection(&dir, venue, &files));
        }
    }
    let (alerts, summary) = replay_alerts(&Input::Files(paths));
    assert_eq!(summary.read_error_count, 0, "{:?}", summary.read_errors);
    (alerts, summary.engine)
}

/// `frames` and `snapshots` are the line counts of the source files
/// (`zcat | wc -l`, and the `lastUpdateId` lines among them).
fn assert_clean(markets: &[&str], tmp: &str, frames: u64, snapshots: u64) {
    let (alerts, stats) = replay_markets(markets, tmp);
    let pages = pages(&alerts);
    assert!(pages.is_empty(), "{markets:?} raised:\n{}", show(&pages));
    assert_eq!(stats.malformed, 0, "{:?}", stats.error_samples);
    assert_eq!(stats.unknown, 0, "{:?}", stats.error_samples);
    assert_eq!(stats.frames, frames);
    assert_eq!(stats.rest, snapshots);
    assert_eq!(stats.events.get("snapshot").copied(), Some(snapshots));
}

#[test]
fn spot_recordings_are_quiet() {
    // 41,249 + 58,325 + 33,618 + 46,126 lines, 2 of them REST snapshots.
    assert_clean(&["spot"], "clean_spot", 179_316, 2);
}

#[test]
fn usdm_recordings_are_quiet() {
    assert_clean(&["usdm"], "clean_usdm", 168_607, 2);
}

#[test]
fn coinm_recordings_are_quiet() {
    assert_clean(&["cm"], "clean_cm", 176_698, 2);
}

#[test]
fn all_recordings_together_are_quiet() {
    assert_clean(&["spot", "usdm", "cm"], "clean_all", 524_621, 6);
}

/// The three bundled 2024-08-08 recordings in fixtures/replay (spot BTC/USDT,
/// USD-M BTC/USDT, COIN-M BTC/USD), replayed together as
/// `feedwatch replay` does, raise nothing above info.
#[test]
fn bundled_replay_recordings_together_are_quiet() {
    let dir = fixtures().join("replay");
    let paths: Vec<std::path::PathBuf> = [
        "binance-spot-btcusdt-2024-08-08.fixture.zst",
        "binance-usdm-btcusdt-2024-08-08.fixture.zst",
        "binance-coinm-btcusd_perp-2024-08-08.fixture.zst",
    ]
    .iter()
    .map(|n| dir.join(n))
    .collect();
    let (alerts, summary) = replay_alerts(&Input::Files(paths));
    assert_eq!(summary.read_error_count, 0, "{:?}", summary.read_errors);
    assert_eq!(summary.engine.malformed, 0);
    assert_eq!(
        summary.engine.unknown, 0,
        "{:?}",
        summary.engine.error_samples
    );
    // Same record count as eval's `clean` scenario over these three files.
    let e = &summary.engine;
    assert_eq!(e.frames + e.rest + e.control_records, 291_917);
    let pages = pages(&alerts);
    assert!(pages.is_empty(), "raised:\n{}", show(&pages));
}
