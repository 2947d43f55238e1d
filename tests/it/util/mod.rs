//! Shared helpers for the integration tests (`tests/it`, `tests/live`,
//! `tests/browser`, each including this module as `util`): load real
//! recordings from `fixtures/`, run them through the engine, and look at
//! the alerts. Each binary uses some of them.
#![allow(dead_code)]

pub mod browser;

use feedwatch::alert::{Alert, Severity};
use feedwatch::config::Config;
use feedwatch::engine::Engine;
use feedwatch::fixture::import::{ImportFormat, import};
use feedwatch::fixture::reader::FixtureReader;
use feedwatch::fixture::writer::FixtureWriter;
use feedwatch::inject::Records;
use feedwatch::model::{Nanos, Venue};
use std::path::{Path, PathBuf};

/// The repository's fixtures folder.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// A fresh temporary folder under target/ (kept per test name).
pub fn temp_dir(name: &str) -> PathBuf {
    // One folder per test and process: parallel runs never share one.
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The hftbacktest recordings of one market, as (venue, files of one
/// connection) per symbol. Both days together where there are two.
pub fn market(name: &str) -> Vec<(Venue, Vec<PathBuf>)> {
    let dir = fixtures().join("binance-hftbacktest").join(name);
    let venue = match name {
        "spot" => Venue::BinanceSpot,
        "usdm" => Venue::BinanceUsdm,
        "cm" => Venue::BinanceCoinm,
        other => panic!("no market {other}"),
    };
    let mut by_symbol: std::collections::BTreeMap<String, Vec<PathBuf>> = Default::default();
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if let Some((sym, _)) = name.rsplit_once('_') {
            by_symbol.entry(sym.to_string()).or_default().push(p);
        }
    }
    by_symbol
        .into_values()
        .map(|mut files| {
            files.sort();
            (venue, files)
        })
        .collect()
}

/// Imports one connection's hftbacktest files into a fixture in `dir`.
pub fn import_connection(dir: &Path, venue: Venue, files: &[PathBuf]) -> PathBuf {
    let stem = files[0].file_stem().unwrap().to_string_lossy().to_string();
    let out = dir.join(format!("{}-{stem}.fixture.zst", venue.id()));
    import(ImportFormat::Hftbacktest, venue, files, &out).unwrap();
    out
}

/// Reads a fixture into owned records (for fault injection).
pub fn read_records(path: &Path) -> Records {
    let mut r = FixtureReader::open(path).unwrap();
    let mut out = Vec::new();
    while let Some(rec) = r.next_record() {
        out.push(rec.unwrap().into_owned());
    }
    out
}

/// Imports one connection and reads it back as records.
pub fn load(venue: Venue, files: &[PathBuf], tmp: &str) -> Records {
    let dir = temp_dir(tmp);
    let path = import_connection(&dir, venue, files);
    read_records(&path)
}

/// The spot BTC/USDT recording (both days), as records.
pub fn spot_btc(tmp: &str) -> Records {
    let (venue, files) = market("spot")
        .into_iter()
        .find(|(_, f)| {
            f[0].file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("btcusdt")
        })
        .unwrap();
    load(venue, &files, tmp)
}

/// Writes records as a fixture.
pub fn write_records(records: &Records, path: &Path) {
    let mut w = FixtureWriter::create(path).unwrap();
    for r in records {
        w.write(r).unwrap();
    }
    w.finish().unwrap();
}

/// Runs records through a fresh engine with the default config.
pub fn run(records: &Records) -> Vec<Alert> {
    run_with(Config::default(), records)
}

/// Runs records through a fresh engine.
pub fn run_with(cfg: Config, records: &Records) -> Vec<Alert> {
    let mut e = Engine::new(cfg);
    let mut out = Vec::new();
    for r in records {
        e.on_record(r, &mut out);
    }
    out
}

/// The alert that says incident `id` recovered: its move to monitoring
/// (the desk sees it at once), or its resolve when it had no probation.
pub fn recovery<'a>(alerts: &'a [Alert], id: &str) -> Option<&'a Alert> {
    alerts.iter().find(|a| {
        a.incident == id
            && (a.phase == feedwatch::alert::Phase::Monitoring
                || a.state == feedwatch::alert::State::Resolved)
    })
}

/// The resolve of incident `id`, if it came.
pub fn resolve<'a>(alerts: &'a [Alert], id: &str) -> Option<&'a Alert> {
    alerts
        .iter()
        .find(|a| a.incident == id && a.state == feedwatch::alert::State::Resolved)
}

/// Alerts of warning or critical severity.
pub fn pages(alerts: &[Alert]) -> Vec<&Alert> {
    alerts
        .iter()
        .filter(|a| a.severity >= Severity::Warning)
        .collect()
}

/// Pretty list of alerts for assertion messages.
pub fn show(alerts: &[&Alert]) -> String {
    alerts
        .iter()
        .map(|a| a.to_json())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Receive time of the first frame record.
pub fn first_ns(records: &Records) -> Nanos {
    records.iter().map(|r| r.recv_ns).min().unwrap()
}

/// The spot BTC recording with faults injected by code every 30 s of
/// recording time from 20 s on: a crossed best bid/offer (3 s), then a
/// silent trade stream (12 s), alternating with a silent depth stream. A
/// steady source of real alerts for the sink and server tests.
#[allow(dead_code)]
pub fn spot_with_periodic_faults() -> Records {
    use feedwatch::inject;
    use feedwatch::model::SECOND;
    let mut recs =
        read_records(&fixtures().join("replay/binance-spot-btcusdt-2024-08-08.fixture.zst"));
    let t0 = first_ns(&recs);
    for (i, at) in (20..600).step_by(30).enumerate() {
        let at = t0 + at * SECOND;
        inject::cross_bbo(&mut recs, at, 3 * SECOND, "@bookTicker", 1.0);
        let needle = if i % 2 == 0 { "@trade" } else { "@depth" };
        inject::silence_where(&mut recs, at + 8 * SECOND, 12 * SECOND, Some(needle));
    }
    recs
}
