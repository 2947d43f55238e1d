//! Shared helpers for the integration tests (`tests/it`, `tests/live`,
//! `tests/browser`, each including this module as `util`): load real
//! recordings from `fixtures/`, run them through the engine, and look at
//! the alerts. Each binary uses some of them.
#![allow(dead_code)]

pub mod browser;

use feedwatch::alert::{Alert, Kind, Severity, State};
use feedwatch::detect::DetectConfig;
use feedwatch::engine::Engine;
use feedwatch::fixture::import::{ImportFormat, import};
use feedwatch::fixture::reader::FixtureReader;
use feedwatch::fixture::writer::FixtureWriter;
use feedwatch::model::{Nanos, SECOND, Venue};
use feedwatch::record::{Record, RecordKind};
use feedwatch::replay::{Driver, Input, Options, Summary, replay_input};
use feedwatch::scenario::inject::Records;
use feedwatch::sink::AlertSink;
use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository's fixtures folder.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// A file or folder under `fixtures/`.
pub fn fixture(rel: &str) -> PathBuf {
    fixtures().join(rel)
}

/// The text of a file under `fixtures/`.
pub fn fixture_text(rel: &str) -> String {
    std::fs::read_to_string(fixture(rel)).unwrap()
}

/// The AWS-style outage scenario recipe (real Binance recordings, spot
/// silenced for 60 s by injected code).
pub fn aws_outage() -> PathBuf {
    fixture("scenarios/aws-spot-outage.toml")
}

/// A fresh temporary folder under target/ (kept per test name).
pub fn temp_dir(name: &str) -> PathBuf {
    // One folder per test and process: parallel runs never share one.
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A temporary folder unique to this process, removed when dropped (tests
/// of several checkouts may share one target folder).
pub struct Tmp(pub PathBuf);

impl Tmp {
    /// A fresh [`temp_dir`].
    pub fn new(name: &str) -> Tmp {
        Tmp(temp_dir(name))
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes `text` to `<temp>/feedwatch-<area>-<pid>/<injection>.csv`, a file
/// named after the fault injected into it (the folder is shared by the
/// area's tests in this process and not emptied).
pub fn write_injected(area: &str, injection: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("feedwatch-{area}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(format!("{injection}.csv"));
    std::fs::write(&p, text).unwrap();
    p
}

/// Runs the `feedwatch` binary.
pub fn feedwatch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_feedwatch"))
        .args(args)
        .output()
        .unwrap()
}

/// Runs the `feedwatch` binary, which must succeed.
pub fn feedwatch_ok(args: &[&str]) -> Output {
    let out = feedwatch(args);
    assert!(
        out.status.success(),
        "feedwatch {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
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

/// Recordings merged by receive time (stable: input order breaks ties).
pub fn merge(parts: Vec<Records>) -> Records {
    let mut recs: Records = parts.into_iter().flatten().collect();
    recs.sort_by_key(|r| r.recv_ns);
    recs
}

/// Writes records as a fixture.
pub fn write_records(records: &Records, path: &Path) {
    let mut w = FixtureWriter::create(path).unwrap();
    for r in records {
        w.write(r).unwrap();
    }
    w.finish().unwrap();
}

/// Collects every alert into a Vec (the sink of [`Drive`]).
#[derive(Default)]
pub struct Collect(pub Vec<Alert>);

impl AlertSink for Collect {
    fn send(&mut self, alert: &Alert, _flush: bool) -> std::io::Result<()> {
        self.0.push(alert.clone());
        Ok(())
    }
}

/// The engine run over records held in memory: the library's drive loop
/// (`replay::Driver`, at `Speed::Max`, as `feedwatch replay` drives it),
/// its alerts collected in order. Each record goes through
/// `Engine::on_record`, which first runs the ticks due before it; no tick
/// runs between records beyond those, and none after the last record. A
/// connection is told it ended only where the test says so
/// ([`Drive::end`], [`Drive::records_ended`]), as a replay of files does
/// at an input's end.
pub struct Drive {
    run: Driver<'static, Collect>,
}

impl Default for Drive {
    /// A fresh engine with the default config.
    fn default() -> Drive {
        Drive::new(DetectConfig::default())
    }
}

impl Drive {
    /// A fresh engine with `cfg`.
    pub fn new(cfg: DetectConfig) -> Drive {
        Drive {
            run: Driver::new(cfg, Options::default(), Collect::default()),
        }
    }

    /// The engine, to be asked during or after the run.
    pub fn engine(&self) -> &Engine {
        self.run.engine()
    }

    /// One record.
    pub fn record(&mut self, rec: &Record<'_>) -> &mut Drive {
        self.run
            .record(rec)
            .expect("collecting alerts in a Vec cannot fail");
        self
    }

    /// Records in the order given.
    pub fn records<'r, 'a: 'r>(
        &mut self,
        recs: impl IntoIterator<Item = &'r Record<'a>>,
    ) -> &mut Drive {
        for r in recs {
            self.record(r);
        }
        self
    }

    /// Tells the engine connection `conn` ended: what follows is not its
    /// silence.
    pub fn end(&mut self, conn: &str) -> &mut Drive {
        self.run.end_connection(conn);
        self
    }

    /// Records in the order given, ending each connection right after its
    /// last record (the end of a recording is not silence).
    pub fn records_ended(&mut self, recs: &[Record<'_>]) -> &mut Drive {
        let mut last: HashMap<&str, usize> = HashMap::new();
        for (i, r) in recs.iter().enumerate() {
            last.insert(&r.conn, i);
        }
        for (i, r) in recs.iter().enumerate() {
            self.record(r);
            if last.get(&*r.conn) == Some(&i) {
                self.end(&r.conn);
            }
        }
        self
    }

    /// The engine and its alerts.
    pub fn done(mut self) -> (Engine, Vec<Alert>) {
        let alerts = std::mem::take(&mut self.run.sink().0);
        let (engine, _) = self.run.finish();
        (engine, alerts)
    }
}

/// Runs records through a fresh engine with the default config; returns
/// the engine and its alerts.
pub fn drive<'r, 'a: 'r>(recs: impl IntoIterator<Item = &'r Record<'a>>) -> (Engine, Vec<Alert>) {
    let mut d = Drive::default();
    d.records(recs);
    d.done()
}

/// Runs records through a fresh engine with the default config.
pub fn run(records: &Records) -> Vec<Alert> {
    run_with(DetectConfig::default(), records)
}

/// Runs records through a fresh engine.
pub fn run_with(cfg: DetectConfig, records: &Records) -> Vec<Alert> {
    let mut d = Drive::new(cfg);
    d.records(records);
    d.done().1
}

/// Runs records through a fresh engine with the default config, ending
/// each connection after its last record, as a replay does.
pub fn run_ended(records: &Records) -> Vec<Alert> {
    let mut d = Drive::default();
    d.records_ended(records);
    d.done().1
}

/// Replays `input` (files or a scenario recipe) with the library's replay
/// (`replay_input`, default config, full speed); returns its alerts and
/// summary.
pub fn replay_alerts(input: &Input) -> (Vec<Alert>, Summary) {
    let mut alerts = Vec::new();
    let mut sink = |a: &Alert, _: bool| -> std::io::Result<()> {
        alerts.push(a.clone());
        Ok(())
    };
    let summary = replay_input(
        DetectConfig::default(),
        input,
        Options::default(),
        &mut sink,
    )
    .unwrap();
    (alerts, summary)
}

/// An alert as its JSON value.
pub fn json(a: &Alert) -> serde_json::Value {
    serde_json::from_str(&a.to_json()).unwrap()
}

/// Alerts of one kind.
pub fn of_kind(alerts: &[Alert], kind: Kind) -> Vec<&Alert> {
    alerts.iter().filter(|a| a.kind == kind).collect()
}

/// Alerts of one kind in one state.
pub fn count_alerts(alerts: &[Alert], kind: Kind, state: State) -> usize {
    alerts
        .iter()
        .filter(|a| a.kind == kind && a.state == state)
        .count()
}

/// The opening alerts of one kind.
pub fn opened(alerts: &[Alert], kind: Kind) -> Vec<&Alert> {
    alerts
        .iter()
        .filter(|a| a.kind == kind && a.state == State::Open)
        .collect()
}

/// Alerts of one kind that are not resolves.
pub fn unresolved(alerts: &[Alert], kind: Kind) -> Vec<&Alert> {
    alerts
        .iter()
        .filter(|a| a.kind == kind && a.state != State::Resolved)
        .collect()
}

/// A received frame.
pub fn frame_record<'a>(recv_ns: Nanos, venue: Venue, conn: &'a str, text: &'a str) -> Record<'a> {
    Record {
        recv_ns,
        venue,
        conn: Cow::Borrowed(conn),
        kind: RecordKind::Frame(Cow::Borrowed(text)),
    }
}

/// A connection opened to `url`.
pub fn open_record<'a>(recv_ns: Nanos, venue: Venue, conn: &'a str, url: &'a str) -> Record<'a> {
    Record {
        recv_ns,
        venue,
        conn: Cow::Borrowed(conn),
        kind: RecordKind::Open {
            url: Cow::Borrowed(url),
        },
    }
}

/// Epoch seconds with a fraction (`1652459225.5037491`) to ns, exactly
/// (no float rounding).
pub fn epoch_ns(s: &str) -> Nanos {
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let mut digits = frac.to_string();
    digits.truncate(9);
    while digits.len() < 9 {
        digits.push('0');
    }
    secs.parse::<i64>().unwrap() * SECOND + digits.parse::<i64>().unwrap()
}

/// Records of a cryptofeed capture, all of one connection: `<url> <->
/// <t>` opened, `<url> <- <t>: <json>` sent, `<t>: <json>` received.
pub fn capture_records<'a>(text: &'a str, venue: Venue, conn: &'a str) -> Vec<Record<'a>> {
    let mut recs = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let (recv_ns, kind) = if let Some((url, t)) = line.split_once(" <-> ") {
            (
                epoch_ns(t),
                RecordKind::Open {
                    url: Cow::Borrowed(url),
                },
            )
        } else if let Some((_, rest)) = line.split_once(" <- ") {
            let (t, json) = rest.split_once(": ").unwrap();
            (epoch_ns(t), RecordKind::Sent(Cow::Borrowed(json)))
        } else {
            let (t, json) = line.split_once(": ").unwrap();
            (epoch_ns(t), RecordKind::Frame(Cow::Borrowed(json)))
        };
        recs.push(Record {
            recv_ns,
            venue,
            conn: Cow::Borrowed(conn),
            kind,
        });
    }
    recs
}

/// A live run's counter, read.
pub fn counter(c: &std::sync::atomic::AtomicU64) -> u64 {
    feedwatch::feed::Counters::get(c)
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
    use feedwatch::model::SECOND;
    use feedwatch::scenario::inject;
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

/// The three bundled 2024-08-08 Binance BTC recordings (spot, USD-M,
/// COIN-M), in that order.
pub const BUNDLED_BTC: [&str; 3] = [
    "binance-spot-btcusdt-2024-08-08.fixture.zst",
    "binance-usdm-btcusdt-2024-08-08.fixture.zst",
    "binance-coinm-btcusd_perp-2024-08-08.fixture.zst",
];

/// The named `fixtures/replay` recordings, each cut to its records in the
/// first `secs` seconds from the earliest record of all of them.
pub fn bundled_first_secs(names: &[&str], secs: i64) -> Vec<Records> {
    let all: Vec<Records> = names
        .iter()
        .map(|f| read_records(&fixtures().join("replay").join(f)))
        .collect();
    let t0 = all.iter().map(first_ns).min().unwrap_or(0);
    all.into_iter()
        .map(|mut r| {
            r.retain(|x| x.recv_ns < t0 + secs * feedwatch::model::SECOND);
            r
        })
        .collect()
}
