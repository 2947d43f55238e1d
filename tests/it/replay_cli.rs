//! The `feedwatch` binary end to end: import, replay at two speeds and twice
//! (byte-identical stdout), a writer round trip, and bad input that is
//! counted and never stops a replay.

use crate::util::*;
use feedwatch::model::SECOND;
use feedwatch::scenario::inject;
use std::io::Write;
use std::path::Path;

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// The spot BTC recording with a 40 s silence and a crossed book injected,
/// written as a fixture (so the replay has alerts to compare).
fn injected_fixture(dir: &Path) -> std::path::PathBuf {
    let mut recs = spot_btc(&format!(
        "{}_src",
        dir.file_name().unwrap().to_string_lossy()
    ));
    let t0 = first_ns(&recs);
    inject::cross_bbo(&mut recs, t0 + 100 * SECOND, 3 * SECOND, "@bookTicker", 1.0);
    inject::silence(&mut recs, t0 + 200 * SECOND, 40 * SECOND);
    let path = dir.join("injected.fixture.zst");
    write_records(&recs, &path);
    path
}

#[test]
fn import_then_replay_via_the_cli() {
    let dir = temp_dir("cli_import");
    let out = dir.join("spot-btc.fixture.gz");
    let src = fixtures().join("binance-hftbacktest/spot");
    let a = src.join("btcusdt_20240808.gz");
    let b = src.join("btcusdt_20240809.gz");
    feedwatch_ok(&[
        "import",
        "--from",
        "hftbacktest",
        "--venue",
        "binance-spot",
        "-o",
        p(&out),
        p(&a),
        p(&b),
    ]);
    let r = feedwatch_ok(&["replay", p(&out)]);
    // Clean recording: no alert above info on stdout, a summary on stderr.
    for line in String::from_utf8(r.stdout).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["severity"], "info", "{line}");
    }
    let err = String::from_utf8(r.stderr).unwrap();
    assert!(err.contains("99573 frames"), "{err}");
    assert!(err.contains("frames/s"), "{err}");
}

#[test]
fn replay_is_byte_identical_twice_and_at_two_speeds() {
    let dir = temp_dir("cli_determinism");
    let f = injected_fixture(&dir);
    let a = feedwatch_ok(&["replay", p(&f)]).stdout;
    let b = feedwatch_ok(&["replay", "--speed", "max", p(&f)]).stdout;
    // 650 s of recording at 2000x: about a third of a second of pacing.
    let c = feedwatch_ok(&["replay", "--speed", "2000", p(&f)]).stdout;
    let text = String::from_utf8(a.clone()).unwrap();
    // The injected silence takes out every stream of the venue at once.
    assert!(text.contains("\"kind\":\"venue_outage\""), "{text}");
    assert!(text.contains("\"kind\":\"book_crossed\""), "{text}");
    assert_eq!(a, b);
    assert_eq!(a, c);
}

#[test]
fn a_fixture_rewritten_by_the_writer_gives_the_same_alerts() {
    let dir = temp_dir("cli_roundtrip");
    let f = injected_fixture(&dir);
    let recs = read_records(&f);
    let g = dir.join("rewritten.fixture.gz");
    write_records(&recs, &g);
    let h = dir.join("rewritten.fixture");
    write_records(&read_records(&g), &h);
    let a = feedwatch_ok(&["replay", p(&f)]).stdout;
    assert!(!a.is_empty());
    assert_eq!(a, feedwatch_ok(&["replay", p(&g)]).stdout);
    assert_eq!(a, feedwatch_ok(&["replay", p(&h)]).stdout);
}

#[test]
fn bad_lines_and_frames_are_counted_and_never_stop_a_replay() {
    let dir = temp_dir("cli_bad_input");
    let f = injected_fixture(&dir);
    let good = feedwatch_ok(&["replay", p(&f)]).stdout;
    // The same records, plain, with damage spliced in by code (injected).
    let plain = dir.join("plain.fixture");
    write_records(&read_records(&f), &plain);
    let text = std::fs::read(&plain).unwrap();
    let lines: Vec<&[u8]> = text
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let mut damaged = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        damaged.extend_from_slice(line);
        damaged.push(b'\n');
        if i == 1000 {
            // Invalid UTF-8, a line with no fields, a non-JSON frame, and a
            // well-formed message of a type no adapter knows.
            damaged.extend_from_slice(b"\xff\xfe not utf8\n");
            damaged.extend_from_slice(b"garbage\n");
            let t = std::str::from_utf8(line)
                .unwrap()
                .split(' ')
                .next()
                .unwrap();
            writeln!(damaged, "{t} binance-spot x recv not json at all").unwrap();
            writeln!(damaged, "{t} binance-spot x recv {{\"stream\":\"btcusdt@markPrice\",\"data\":{{\"e\":\"markPriceUpdate\"}}}}").unwrap();
        }
    }
    // A truncated last line: half a frame, no newline.
    let last = lines.last().unwrap();
    let t = std::str::from_utf8(last)
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    write!(
        damaged,
        "{t} binance-spot x recv {{\"stream\":\"btcusdt@trade\",\"data\":{{\"e\":\"tra"
    )
    .unwrap();
    let bad = dir.join("damaged.fixture");
    std::fs::write(&bad, &damaged).unwrap();
    let r = feedwatch_ok(&["replay", p(&bad)]);
    assert_eq!(r.stdout, good, "damage changed the alerts");
    let err = String::from_utf8(r.stderr).unwrap();
    assert!(err.contains("malformed=2"), "{err}");
    assert!(err.contains("unknown=1"), "{err}");
    assert!(err.contains("fixture read errors: 2"), "{err}");
    assert!(err.contains("truncated last line: true"), "{err}");
}

#[test]
fn a_truncated_compressed_fixture_is_reported_not_fatal() {
    let dir = temp_dir("cli_truncated_gz");
    let f = injected_fixture(&dir);
    let g = dir.join("whole.fixture.gz");
    write_records(&read_records(&f), &g);
    let bytes = std::fs::read(&g).unwrap();
    let cut = dir.join("cut.fixture.gz");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let r = feedwatch_ok(&["replay", p(&cut)]);
    let err = String::from_utf8(r.stderr).unwrap();
    assert!(err.contains("fixture read errors: 1"), "{err}");
    assert!(err.contains("truncated"), "{err}");
}

#[test]
fn wrong_arguments_get_clear_errors() {
    let bad = |args: &[&str], needle: &str| {
        let out = feedwatch(args);
        assert!(!out.status.success(), "{args:?} succeeded");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    };
    bad(&["replay", "/nonexistent.fixture"], "/nonexistent.fixture");
    bad(&["replay", "--speed", "fast", "x"], "invalid speed");
    bad(
        &[
            "import",
            "--from",
            "csv",
            "--venue",
            "binance-spot",
            "-o",
            "/tmp/x",
            "y",
        ],
        "csv",
    );
    bad(
        &[
            "import",
            "--from",
            "hftbacktest",
            "--venue",
            "binanse",
            "-o",
            "/tmp/x",
            "y",
        ],
        "binanse",
    );
    bad(
        &[
            "scan-candles",
            "--venue",
            "binance-usdm",
            "--symbol",
            "BTCUSDT",
            "x.csv",
        ],
        "BASE/QUOTE",
    );
    bad(
        &[
            "scan-candles",
            "--venue",
            "binance-usdm",
            "--symbol",
            "BTC/USDT",
            "--interval",
            "7x",
            "x.csv",
        ],
        "interval",
    );
}
