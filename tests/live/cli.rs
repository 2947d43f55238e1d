//! `feedwatch simulate` and `feedwatch run` as processes: the simulator on
//! a free 127.0.0.1 port serving a slice of the real spot BTC/USDT
//! recording, the consumer pointed at it with `--record`, stopped by
//! SIGTERM. The close after 100 frames is an injected fault. Every wait is
//! bounded; both children are killed if a check fails.

#![cfg(unix)]

use crate::util::*;
use feedwatch::record::RecordKind;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Kills the child when dropped (a failed assertion must not leave it).
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Spawns feedwatch; its stderr lines arrive on the returned channel.
fn spawn(args: &[&str]) -> (Guard, mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_feedwatch"))
        .args(args)
        .env("RUST_LOG", "feedwatch=info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let err = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (Guard(child), rx)
}

/// Waits (bounded) for a stderr line containing `needle`.
fn wait_line(rx: &mpsc::Receiver<String>, needle: &str, limit: Duration) -> String {
    let deadline = Instant::now() + limit;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.contains(needle) => return line,
            Ok(line) => seen.push(line),
            Err(e) => panic!(
                "no stderr line with `{needle}` within {limit:?} ({e}); saw:\n{}",
                seen.join("\n")
            ),
        }
    }
}

#[test]
fn run_records_what_simulate_serves_and_stops_cleanly_on_sigterm() {
    let tmp_dir = Tmp::new("live_cli");
    let tmp = tmp_dir.0.clone();
    let all = read_records(&fixtures().join("replay/binance-spot-btcusdt-2024-08-08.fixture.zst"));
    let slice: Vec<_> = all
        .into_iter()
        .filter(|r| matches!(r.kind, RecordKind::Frame(_)))
        .take(2000)
        .collect();
    let source = tmp.join("source.fixture.zst");
    write_records(&slice, &source);

    let (_sim, sim_err) = spawn(&[
        "simulate",
        "--fixture",
        source.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--speed",
        "max",
        "--faults",
        "close-after=100,conns=1",
    ]);
    let line = wait_line(&sim_err, "listening on ", Duration::from_secs(10));
    let url = line
        .split("listening on ")
        .nth(1)
        .unwrap()
        .trim()
        .to_string();
    assert!(url.starts_with("ws://127.0.0.1:"), "{url}");

    let config = tmp.join("feed.toml");
    std::fs::write(
        &config,
        format!(
            "[feed]\nsymbols = {{ binance-spot = [\"BTC/USDT\"] }}\nendpoints = {{ binance-spot = \"{url}\" }}\nbackoff_initial_ms = 100\nbackoff_max_ms = 200\n"
        ),
    )
    .unwrap();
    let rec = tmp.join("rec");
    let (mut run, run_err) = spawn(&[
        "run",
        "--config",
        config.to_str().unwrap(),
        "--record",
        rec.to_str().unwrap(),
    ]);
    // The injected close is logged once the first 100 frames are in.
    let closed = wait_line(&run_err, "connection closed", Duration::from_secs(20));
    assert!(closed.contains("reconnect attempt 1"), "{closed}");
    // ... and the reconnect is logged (the first `connected` came before).
    wait_line(&run_err, "connected", Duration::from_secs(20));

    let pid = run.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = run.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "run did not stop within 10 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
    let summary: Vec<String> = run_err.try_iter().collect();
    assert!(
        summary.iter().any(|l| l.starts_with("feedwatch run: ")),
        "{summary:?}"
    );

    // One complete recording file (no `.part`): open, 100 frames byte for
    // byte, the close with its reason, then the reconnect, ending in the
    // shutdown close.
    let mut files: Vec<_> = std::fs::read_dir(&rec)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].to_str().unwrap().ends_with(".fixture.zst"));
    let got = read_records(&files[0]);
    let first_conn = got[0].conn.clone();
    assert!(matches!(got[0].kind, RecordKind::Open { .. }));
    let frames: Vec<&RecordKind> = got
        .iter()
        .filter(|r| r.conn == first_conn && matches!(r.kind, RecordKind::Frame(_)))
        .map(|r| &r.kind)
        .collect();
    let want: Vec<&RecordKind> = slice.iter().take(100).map(|r| &r.kind).collect();
    assert_eq!(frames, want);
    match &got.last().unwrap().kind {
        RecordKind::Close { reason } => assert!(reason.contains("shutdown"), "{reason}"),
        other => panic!("last record is not a close: {other:?}"),
    }
}

/// `feedwatch demo`: simulators and consumer in one process, offline, on
/// the bundled real recordings at their recorded pace, with an injected
/// close of the spot simulator's first connection after 600 frames.
#[test]
fn demo_runs_offline_and_shows_a_lost_connection_recovering() {
    let out = Command::new(env!("CARGO_BIN_EXE_feedwatch"))
        .args([
            "demo",
            "--duration",
            "10",
            "--faults",
            "close-after=600,conns=1",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let alerts: Vec<&str> = stdout.lines().collect();
    let lost: Vec<&&str> = alerts
        .iter()
        .filter(|a| a.contains("\"kind\":\"connection_lost\""))
        .collect();
    assert_eq!(lost.len(), 2, "{stdout}");
    assert!(lost[0].contains("\"state\":\"open\"") && lost[0].contains("binance-spot"));
    // Recovered: in monitoring at once (resolved after the probation).
    assert!(lost[1].contains("\"phase\":\"monitoring\""), "{}", lost[1]);
    // Nothing else is wrong with these recordings: no other alert.
    assert_eq!(alerts.len(), 2, "{stdout}");
    // Three venues, the spot one twice; every session's book from REST.
    assert!(stderr.contains("4 connections opened"), "{stderr}");
    assert!(
        stderr.contains("4 REST snapshots fetched (0 failed)"),
        "{stderr}"
    );
    assert!(stderr.contains("0 records dropped"), "{stderr}");
}
