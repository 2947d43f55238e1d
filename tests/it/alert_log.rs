//! The durable alert log: `kill -9` during a paced replay leaves a log of
//! whole JSON lines holding every alert that reached stdout, in order; a
//! torn tail is cut on open; rotation keeps `keep` files of whole lines;
//! fsync policies parse; a log that cannot be written never stops the run.
//!
//! Alerts are real: the 2024-08-08 Binance spot BTC recording with faults
//! injected by code (crossed best bid/offer, silenced trade and depth
//! streams), run through the engine.

use crate::util::*;
use feedwatch::alert::Alert;
use feedwatch::config::Config;
use feedwatch::scenario::inject::Records;
use feedwatch::sink::{AlertLog, AppendLog, Fsync, LogOptions, SinkCounters, Sinks, SinksConfig};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// The shared injected recording (see [`spot_with_periodic_faults`]).
fn injected_records() -> Records {
    spot_with_periodic_faults()
}

/// The alerts of [`injected_records`] (computed once per test binary).
fn real_alerts() -> &'static [Alert] {
    static ALERTS: OnceLock<Vec<Alert>> = OnceLock::new();
    ALERTS.get_or_init(|| run(&injected_records()))
}

fn line(a: &Alert) -> Vec<u8> {
    let mut l = a.to_json().into_bytes();
    l.push(b'\n');
    l
}

fn numbered(path: &Path, k: u32) -> PathBuf {
    PathBuf::from(format!("{}.{k}", path.display()))
}

/// Lines of a file, each checked to be a whole JSON alert; the file must
/// end in `\n` (or be empty).
fn whole_alert_lines(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "{} does not end in a newline",
        path.display()
    );
    text.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("{}: not a whole JSON line ({e}): {l}", path.display()));
            assert!(v["kind"].is_string() && v["incident"].is_string(), "{l}");
            l.to_string()
        })
        .collect()
}

#[test]
fn kill_9_during_a_paced_replay_loses_no_alert_and_tears_no_line() {
    let dir = temp_dir("alert_log_kill9");
    let fixture = dir.join("injected.fixture.zst");
    write_records(&injected_records(), &fixture);
    let log = dir.join("alerts.jsonl");
    let mut child = Command::new(env!("CARGO_BIN_EXE_feedwatch"))
        .args(["replay", "--speed", "20", "--alert-log"])
        .arg(&log)
        .arg(&fixture)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut printed: Vec<String> = Vec::new();
    while printed.len() < 3 {
        let mut l = String::new();
        let n = out.read_line(&mut l).unwrap();
        assert!(
            n > 0,
            "the replay ended after {} alerts on stdout, before the kill",
            printed.len()
        );
        printed.push(l.trim_end_matches('\n').to_string());
    }
    // SIGKILL on Unix: no destructor, no flush, no fsync runs.
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "the replay finished before the kill");
    // Lines the child printed whole before it died count too.
    let mut rest = Vec::new();
    out.read_to_end(&mut rest).unwrap();
    let rest = String::from_utf8_lossy(&rest);
    let mut pieces: Vec<&str> = rest.split('\n').collect();
    pieces.pop(); // a piece after the last '\n' was cut by the kill
    printed.extend(pieces.iter().map(|s| s.to_string()));

    let logged = whole_alert_lines(&log);
    assert!(
        logged.len() >= printed.len(),
        "{} alerts on stdout, {} in the log",
        printed.len(),
        logged.len()
    );
    assert_eq!(
        &logged[..printed.len()],
        &printed[..],
        "the log must hold every alert seen on stdout, in order"
    );

    // A second run appends to the same log: what the killed run wrote stays
    // and the new lines are whole.
    let again = Command::new(env!("CARGO_BIN_EXE_feedwatch"))
        .args(["replay", "--alert-log"])
        .arg(&log)
        .arg(&fixture)
        .output()
        .unwrap();
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let second: Vec<String> = String::from_utf8(again.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert!(!second.is_empty());
    let after = whole_alert_lines(&log);
    assert_eq!(after.len(), logged.len() + second.len());
    assert_eq!(&after[..logged.len()], &logged[..]);
    assert_eq!(&after[logged.len()..], &second[..]);
    // The full run's alerts are the engine's, so the killed run's log is a
    // prefix of them.
    let expected: Vec<String> = real_alerts().iter().map(Alert::to_json).collect();
    assert_eq!(second, expected);
    assert_eq!(&expected[..logged.len()], &logged[..]);
}

fn options(path: &Path, fsync: Fsync, rotate_bytes: u64, keep: u32) -> LogOptions {
    LogOptions {
        path: path.to_path_buf(),
        fsync,
        fsync_interval: Duration::from_millis(20),
        rotate_bytes,
        keep,
    }
}

#[test]
fn a_torn_tail_is_cut_on_open_and_the_next_line_is_whole() {
    let dir = temp_dir("alert_log_torn");
    let path = dir.join("alerts.jsonl");
    let alerts = real_alerts();
    assert!(alerts.len() >= 3, "{}", alerts.len());
    let (a, b, c) = (line(&alerts[0]), line(&alerts[1]), line(&alerts[2]));
    // Two whole lines and half of a third, as a kill inside a write leaves.
    let torn = &b[..b.len() / 2];
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(&a).unwrap();
    f.write_all(torn).unwrap();
    drop(f);

    let mut log = AppendLog::open(options(&path, Fsync::Always, 0, 0)).unwrap();
    assert_eq!(log.size(), a.len() as u64);
    assert_eq!(std::fs::read(&path).unwrap(), a);
    log.append(&c).unwrap();
    drop(log);
    let mut want = a.clone();
    want.extend_from_slice(&c);
    assert_eq!(std::fs::read(&path).unwrap(), want);

    // A file that is nothing but a fragment is emptied.
    std::fs::write(&path, torn).unwrap();
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    assert_eq!(
        feedwatch::sink::log::repair_tail(&mut f).unwrap(),
        torn.len() as u64
    );
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);

    // A line that is not exactly one line is refused, and nothing written.
    let mut log = AppendLog::open(options(&path, Fsync::Never, 0, 0)).unwrap();
    assert!(log.append(torn).is_err());
    assert!(log.append(b"{\"a\":1}\n{\"b\":2}\n").is_err());
    assert_eq!(log.size(), 0);
}

#[test]
fn rotation_keeps_keep_files_and_never_splits_a_line() {
    let dir = temp_dir("alert_log_rotate");
    let path = dir.join("alerts.jsonl");
    let alerts = real_alerts();
    let lines: Vec<Vec<u8>> = alerts.iter().map(line).collect();
    let longest = lines.iter().map(Vec::len).max().unwrap() as u64;
    // Room for two to four lines per file; enough lines for several
    // rotations.
    let rotate = 2 * longest;
    let total: u64 = lines.iter().map(|l| l.len() as u64).sum();
    assert!(total > 3 * rotate, "{total} bytes of alerts only");
    let keep = 2;
    let counters = Arc::new(SinkCounters::default());
    let mut log = AlertLog::open(
        options(&path, Fsync::Interval, rotate, keep),
        counters.clone(),
    )
    .unwrap();
    for l in &lines {
        log.write(l);
    }
    drop(log);
    assert_eq!(
        counters.log_written.load(Ordering::Relaxed),
        lines.len() as u64
    );
    assert!(counters.log_rotations.load(Ordering::Relaxed) >= 2);
    assert_eq!(counters.log_write_errors.load(Ordering::Relaxed), 0);
    assert!(path.exists() && numbered(&path, 1).exists() && numbered(&path, 2).exists());
    assert!(
        !numbered(&path, 3).exists(),
        "more than keep={keep} old files"
    );
    // Oldest to newest, the kept files are the last lines written, whole,
    // in order, each file within the size limit.
    let mut kept: Vec<String> = Vec::new();
    for p in [numbered(&path, 2), numbered(&path, 1), path.clone()] {
        assert!(
            std::fs::metadata(&p).unwrap().len() <= rotate,
            "{}",
            p.display()
        );
        kept.extend(whole_alert_lines(&p));
    }
    let all: Vec<String> = alerts.iter().map(Alert::to_json).collect();
    assert!(kept.len() < all.len());
    assert_eq!(&all[all.len() - kept.len()..], &kept[..]);
}

#[test]
fn fsync_policies_parse_and_each_writes_whole_lines() {
    assert_eq!("always".parse::<Fsync>(), Ok(Fsync::Always));
    assert_eq!("interval".parse::<Fsync>(), Ok(Fsync::Interval));
    assert_eq!("never".parse::<Fsync>(), Ok(Fsync::Never));
    assert!(
        "sometimes"
            .parse::<Fsync>()
            .unwrap_err()
            .contains("sometimes")
    );
    for p in ["always", "interval", "never"] {
        let c = Config::from_toml(&format!("[sinks.log]\nfsync = \"{p}\"\n")).unwrap();
        assert_eq!(c.sinks.log.unwrap().fsync.to_string(), p);
    }
    let e = Config::from_toml("[sinks.log]\nfsync = \"sometimes\"\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("sometimes"), "{e}");

    let dir = temp_dir("alert_log_fsync");
    let alerts = &real_alerts()[..3];
    for fsync in [Fsync::Always, Fsync::Interval, Fsync::Never] {
        let path = dir.join(format!("{fsync}.jsonl"));
        let counters = Arc::new(SinkCounters::default());
        let mut log = AlertLog::open(options(&path, fsync, 0, 0), counters).unwrap();
        for a in alerts {
            log.write(&line(a));
        }
        if fsync == Fsync::Interval {
            // Lines are in the file at once; the syncer runs meanwhile.
            std::thread::sleep(Duration::from_millis(50));
        }
        drop(log);
        let want: Vec<String> = alerts.iter().map(Alert::to_json).collect();
        assert_eq!(whole_alert_lines(&path), want, "{fsync}");
    }
}

#[test]
fn a_log_that_cannot_be_written_never_stops_the_alerts() {
    // /dev/full fails every write with "no space left on device".
    let full = Path::new("/dev/full");
    if !full.exists() {
        eprintln!("no /dev/full here: skipped");
        return;
    }
    let mut cfg = SinksConfig {
        stdout: false,
        ..SinksConfig::default()
    };
    cfg.apply_cli(Some(full.to_path_buf()), None).unwrap();
    let mut sinks = Sinks::open(&cfg).unwrap();
    let counters = sinks.counters();
    let alerts = &real_alerts()[..5];
    for a in alerts {
        sinks.write(a, true).unwrap();
    }
    let s = counters.snapshot();
    assert_eq!(s.alerts, 5);
    assert_eq!(s.log_written, 0);
    assert!(s.log_write_errors >= 5, "{s:?}");
    // Kept, in order, for a retry at the next alert.
    assert_eq!(s.log_pending, 5);
    let s = sinks.close().unwrap();
    assert_eq!(s.log_pending, 5);
}
