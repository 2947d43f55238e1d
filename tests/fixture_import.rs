//! End-to-end imports of the real recordings in `fixtures/`: every frame
//! must come out byte for byte, at its source time, with the connection
//! events and REST snapshots mapped as `fixtures/README.md` documents.

use feedwatch::fixture::import::{HFTBACKTEST_URL, ImportFormat, import};
use feedwatch::fixture::{FixtureError, FixtureReader};
use feedwatch::model::Venue;
use feedwatch::record::{Record, RecordKind};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(rel)
}

/// A fresh temporary directory for one test.
fn temp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("feedwatch-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The source lines of an hftbacktest file as `(recv_ns, frame)`, read
/// independently of the importer.
fn hft_lines(path: &Path) -> impl Iterator<Item = (i64, String)> {
    let dec = flate2::read::MultiGzDecoder::new(std::fs::File::open(path).unwrap());
    BufReader::new(dec).lines().map(|l| {
        let l = l.unwrap();
        let (ns, frame) = l.split_once(' ').unwrap();
        (ns.parse().unwrap(), frame.to_string())
    })
}

/// Imports an hftbacktest recording (one connection over `files`) and
/// compares every record with the source, line by line.
fn check_hftbacktest(venue: Venue, inputs: &[PathBuf], request: &str, out_name: &str) {
    let dir = temp_dir(out_name);
    let out = dir.join(out_name);
    let stats = import(ImportFormat::Hftbacktest, venue, inputs, &out).unwrap();
    assert_eq!(stats.bad_lines, 0, "{:?}", stats.bad_line_samples);

    let mut reader = FixtureReader::open(&out).unwrap();
    let open = reader.next_record().unwrap().unwrap().into_owned();
    let mut source = inputs.iter().flat_map(|p| hft_lines(p)).peekable();
    let (first_ns, _) = source.peek().unwrap().clone();
    let conn = open.conn.to_string();
    assert!(conn.starts_with("imp-") && conn.len() == 20, "{conn}");
    assert_eq!(stats.conns, vec![conn.clone()]);
    assert_eq!(
        open,
        Record {
            recv_ns: first_ns,
            venue,
            conn: conn.clone().into(),
            kind: RecordKind::Open {
                url: HFTBACKTEST_URL.into()
            },
        }
    );

    let (mut lines, mut snapshots, mut last_ns) = (0u64, 0u64, 0);
    for (ns, frame) in source {
        let rec = reader.next_record().unwrap().unwrap();
        lines += 1;
        last_ns = ns;
        assert_eq!(rec.recv_ns, ns, "line {lines}");
        assert_eq!(rec.venue, venue);
        assert_eq!(rec.conn, conn.as_str());
        if frame.starts_with("{\"lastUpdateId\"") {
            snapshots += 1;
            assert!(lines <= 60, "the snapshot is a few lines in (line {lines})");
            assert_eq!(
                rec.kind,
                RecordKind::Rest {
                    request: request.into(),
                    body: frame.as_str().into()
                }
            );
        } else {
            match &rec.kind {
                RecordKind::Frame(f) => assert!(f.as_bytes() == frame.as_bytes(), "line {lines}"),
                other => panic!("line {lines}: {other:?}"),
            }
        }
    }
    assert!(reader.next_record().is_none());
    assert_eq!(snapshots, 1);
    assert_eq!(reader.stats().records, lines + 1, "source lines + open");
    assert_eq!(reader.stats().bad_lines, 0);
    assert_eq!(stats.records, lines + 1);
    assert_eq!((stats.opens, stats.rest, stats.frames), (1, 1, lines - 1));
    assert_eq!(stats.first_ns, Some(first_ns));
    assert_eq!(stats.last_ns, Some(last_ns));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The first `n` lines of a real recording, gzipped into `dir` (keeps the
/// debug-build test time small; the lines are untouched).
fn head_of(rel: &str, n: usize, dir: &Path) -> PathBuf {
    use std::io::Write;
    let path = dir.join(Path::new(rel).file_name().unwrap());
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&path).unwrap(),
        flate2::Compression::fast(),
    );
    for (ns, frame) in hft_lines(&fixture(rel)).take(n) {
        writeln!(enc, "{ns} {frame}").unwrap();
    }
    enc.finish().unwrap();
    path
}

#[test]
fn hftbacktest_spot_btc_pair_is_one_connection() {
    let inputs = [
        fixture("binance-hftbacktest/spot/btcusdt_20240808.gz"),
        fixture("binance-hftbacktest/spot/btcusdt_20240809.gz"),
    ];
    check_hftbacktest(
        Venue::BinanceSpot,
        &inputs,
        "/api/v3/depth?symbol=BTCUSDT",
        "spot-btc.fx",
    );
}

#[test]
fn hftbacktest_coinm_pair_uses_snapshot_symbol() {
    let dir = temp_dir("cm-heads");
    let inputs = [
        head_of("binance-hftbacktest/cm/ethusd_perp_20240808.gz", 400, &dir),
        head_of("binance-hftbacktest/cm/ethusd_perp_20240809.gz", 400, &dir),
    ];
    check_hftbacktest(
        Venue::BinanceCoinm,
        &inputs,
        "/dapi/v1/depth?symbol=ETHUSD_PERP",
        "cm-eth.fx.gz",
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn hftbacktest_usdm_symbol_from_stream_frames() {
    let dir = temp_dir("usdm-heads");
    let inputs = [head_of(
        "binance-hftbacktest/usdm/btcusdt_20240808.gz",
        400,
        &dir,
    )];
    check_hftbacktest(
        Venue::BinanceUsdm,
        &inputs,
        "/fapi/v1/depth?symbol=BTCUSDT",
        "usdm-btc.fx",
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn connection_ids_are_deterministic_and_distinct_per_recording() {
    let dir = temp_dir("conn-ids");
    let id = |files: &[&str], out: &str| {
        let inputs: Vec<PathBuf> = files.iter().map(|f| fixture(f)).collect();
        let stats = import(
            ImportFormat::Cryptofeed,
            Venue::BinanceSpot,
            &inputs,
            &dir.join(out),
        )
        .unwrap();
        stats.conns.first().unwrap().clone()
    };
    let a = id(&["cryptofeed/BINANCE.ws.1.0"], "a.fx.zst");
    let again = id(&["cryptofeed/BINANCE.ws.1.0"], "b.fx.zst");
    let other = id(&["cryptofeed/BINANCE_FUTURES.ws.1.0"], "c.fx.zst");
    assert_eq!(a, again);
    assert_ne!(a, other);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// cryptofeed source lines (without the blank ones they end with), read
/// independently of the importer.
fn source_lines(rel: &str) -> Vec<String> {
    std::fs::read_to_string(fixture(rel))
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

fn read_all(path: &Path) -> Vec<Record<'static>> {
    let mut r = FixtureReader::open(path).unwrap();
    let mut out = Vec::new();
    while let Some(rec) = r.next_record() {
        out.push(rec.unwrap().into_owned());
    }
    assert_eq!(r.stats().bad_lines, 0);
    out
}

#[test]
fn cryptofeed_binance_ws_and_http_merge_by_time() {
    let dir = temp_dir("cf-binance");
    let out = dir.join("binance.fx");
    let inputs = [
        fixture("cryptofeed/BINANCE.ws.1.0"),
        fixture("cryptofeed/BINANCE.http.0.0"),
    ];
    let stats = import(ImportFormat::Cryptofeed, Venue::BinanceSpot, &inputs, &out).unwrap();
    assert_eq!(stats.bad_lines, 0, "{:?}", stats.bad_line_samples);
    // Both files end with an empty line, skipped as blank.
    assert_eq!(stats.blank_lines, 2);
    let ws = source_lines("cryptofeed/BINANCE.ws.1.0");
    let http = source_lines("cryptofeed/BINANCE.http.0.0");
    let sent_in_source = ws.iter().filter(|l| l.contains(" <- ")).count() as u64;
    assert_eq!(sent_in_source, 0, "this capture subscribed through the URL");
    assert_eq!(stats.sent, sent_in_source);
    assert_eq!(stats.opens, 1);
    assert_eq!(stats.rest, http.len() as u64);
    assert_eq!(stats.frames, ws.len() as u64 - 1);

    let recs = read_all(&out);
    assert_eq!(recs.len(), ws.len() + http.len());
    let conn = stats.conns.first().unwrap().clone();
    assert!(conn.starts_with("imp-") && conn.ends_with("-1"), "{conn}");
    assert!(
        recs.iter()
            .all(|r| r.conn == conn.as_str() && r.venue == Venue::BinanceSpot)
    );
    assert!(
        recs.windows(2).all(|w| w[0].recv_ns <= w[1].recv_ns),
        "merged by time"
    );

    // Line 1: `<url> <-> 1633998511.159679`.
    let (url, _) = ws
        .first()
        .unwrap()
        .split_once(" <-> 1633998511.159679")
        .unwrap();
    assert_eq!(recs.first().unwrap().recv_ns, 1_633_998_511_159_679_000);
    assert_eq!(
        recs.first().unwrap().kind,
        RecordKind::Open { url: url.into() }
    );
    // Line 2 starts `1633998512.0633569: `; as f64 this would be ...356928 ns.
    let (_, frame) = ws
        .get(1)
        .unwrap()
        .split_once("1633998512.0633569: ")
        .unwrap();
    let first_frame = recs.get(1).unwrap();
    assert_eq!(first_frame.recv_ns, 1_633_998_512_063_356_900);
    assert_eq!(first_frame.kind, RecordKind::Frame(frame.into()));

    // Every REST response, with the request taken from its URL.
    let rests: Vec<_> = recs
        .iter()
        .filter_map(|r| match &r.kind {
            RecordKind::Rest { request, body } => Some((request.to_string(), body.to_string())),
            _ => None,
        })
        .collect();
    assert_eq!(rests.len(), 4);
    for ((request, body), line) in rests.iter().zip(&http) {
        let (url, rest) = line.split_once(" -> ").unwrap();
        let (_, src_body) = rest.split_once(": ").unwrap();
        assert_eq!(format!("https://api.binance.com{request}"), url);
        assert_eq!(body, src_body);
    }
    assert_eq!(
        rests.first().unwrap().0,
        "/api/v3/depth?symbol=NKNUSDT&limit=1000"
    );
    let first_rest = recs
        .iter()
        .find(|r| matches!(r.kind, RecordKind::Rest { .. }))
        .unwrap();
    assert_eq!(first_rest.recv_ns, 1_633_998_512_320_639_000);

    // Every received frame, byte for byte and in source order.
    let frames: Vec<&str> = recs
        .iter()
        .filter_map(|r| match &r.kind {
            RecordKind::Frame(f) => Some(f.as_ref()),
            _ => None,
        })
        .collect();
    let src_frames: Vec<&str> = ws
        .iter()
        .skip(1)
        .map(|l| l.split_once(": ").unwrap().1)
        .collect();
    assert_eq!(frames, src_frames);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn cryptofeed_sent_frames_and_several_connections() {
    let dir = temp_dir("cf-multi");
    let out = dir.join("multi.fx.gz");
    let inputs = [
        fixture("cryptofeed/KRAKEN.ws.48.0"),
        fixture("cryptofeed/BINANCE_FUTURES.ws.1.0"),
    ];
    let stats = import(
        ImportFormat::Cryptofeed,
        Venue::Other("cryptofeed-mix"),
        &inputs,
        &out,
    )
    .unwrap();
    assert_eq!(stats.bad_lines, 0, "{:?}", stats.bad_line_samples);
    assert_eq!(stats.opens, 2);
    assert_eq!(stats.sent, 1);
    let recs = read_all(&out);
    let kraken = source_lines("cryptofeed/KRAKEN.ws.48.0");
    let (_, sent_frame) = kraken.get(1).unwrap().split_once(": ").unwrap();
    let sent: Vec<_> = recs
        .iter()
        .filter(|r| matches!(r.kind, RecordKind::Sent(_)))
        .collect();
    assert_eq!(sent.len(), 1);
    let sent = sent.first().unwrap();
    assert_eq!(sent.kind, RecordKind::Sent(sent_frame.into()));
    assert_eq!(
        sent.recv_ns, 1_618_678_132_830_970_000,
        "from `1618678132.83097`"
    );
    // Kraken (2021-04) comes before Binance futures; the ids are numbered
    // in order of their opens and share the import's base.
    let c1 = stats.conns.first().unwrap();
    let c2 = stats.conns.get(1).unwrap();
    assert!(c1.ends_with("-1") && c2.ends_with("-2"));
    assert_eq!(c1.trim_end_matches("-1"), c2.trim_end_matches("-2"));
    assert_eq!(&sent.conn, c1);
    let futures = source_lines("cryptofeed/BINANCE_FUTURES.ws.1.0");
    let on_c2 = recs.iter().filter(|r| r.conn == c2.as_str()).count();
    assert_eq!(on_c2, futures.len());
    assert_eq!(recs.len(), kraken.len() + futures.len());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_source_lines_are_counted_not_fatal() {
    let dir = temp_dir("cf-bad");
    let src = source_lines("cryptofeed/BINANCE.ws.1.0");
    // Injected faults over the real capture: a non-numeric time, a line of
    // invalid UTF-8, and an unknown line shape.
    let mut bytes = Vec::new();
    for (i, line) in src.iter().enumerate() {
        match i {
            3 => bytes.extend_from_slice(line.replacen("16339985", "16x39985", 1).as_bytes()),
            5 => bytes.extend_from_slice(&[0xff, 0xfe, b':', b' ', b'{', b'}']),
            7 => bytes.extend_from_slice(b"wss://x <=> 1633998512.1"),
            _ => bytes.extend_from_slice(line.as_bytes()),
        }
        bytes.push(b'\n');
    }
    let input = dir.join("BINANCE.ws.faults");
    std::fs::write(&input, &bytes).unwrap();
    let out = dir.join("out.fx");
    let stats = import(
        ImportFormat::Cryptofeed,
        Venue::BinanceSpot,
        std::slice::from_ref(&input),
        &out,
    )
    .unwrap();
    assert_eq!(stats.bad_lines, 3);
    let name = input.display().to_string();
    let samples: Vec<&str> = stats.bad_line_samples.iter().map(String::as_str).collect();
    assert_eq!(
        samples,
        [
            format!("{name}:4: bad epoch seconds").as_str(),
            format!("{name}:6: invalid UTF-8").as_str(),
            format!("{name}:8: unknown line shape (expected `<->`, `<-`, `->` or `<epoch_s>:`)")
                .as_str(),
        ]
    );
    assert_eq!(stats.records, src.len() as u64 - 3);
    assert_eq!(read_all(&out).len(), src.len() - 3);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn failed_import_leaves_no_file() {
    let dir = temp_dir("import-fail");
    let out = dir.join("out.fx.zst");
    let missing = dir.join("missing.gz");
    let e = import(
        ImportFormat::Hftbacktest,
        Venue::BinanceSpot,
        std::slice::from_ref(&missing),
        &out,
    )
    .unwrap_err();
    assert!(
        matches!(&e, FixtureError::Open { path, .. } if *path == missing.display().to_string()),
        "{e}"
    );

    // Injected fault: a real recording cut in half.
    let real = std::fs::read(fixture("binance-hftbacktest/usdm/ethusdt_20240808.gz")).unwrap();
    let cut = dir.join("ethusdt_cut.gz");
    std::fs::write(&cut, &real[..real.len() / 8]).unwrap();
    let e = import(
        ImportFormat::Hftbacktest,
        Venue::BinanceSpot,
        std::slice::from_ref(&cut),
        &out,
    )
    .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.starts_with(&format!(
            "truncated gzip stream in {} after line ",
            cut.display()
        )),
        "{msg}"
    );
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        left,
        vec![std::ffi::OsString::from("ethusdt_cut.gz")],
        "only the input remains"
    );
    assert!(!out.exists());

    let e = import(ImportFormat::Cryptofeed, Venue::BinanceSpot, &[], &out).unwrap_err();
    assert!(matches!(e, FixtureError::NoInputs));
    std::fs::remove_dir_all(&dir).unwrap();
}
