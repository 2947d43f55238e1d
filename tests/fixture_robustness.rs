//! Faults injected by code over real imported recordings, read from disk:
//! every fault is a counted error naming file and line, never a panic, and
//! the good lines after it are still read.

use feedwatch::fixture::import::{ImportFormat, import};
use feedwatch::fixture::{FixtureError, FixtureReader, Merger};
use feedwatch::model::Venue;
use feedwatch::record::{Record, RecordKind};
use std::path::{Path, PathBuf};

fn temp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("feedwatch-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Imports the real cryptofeed Binance capture into `dir/name`.
fn real_fixture(dir: &Path, name: &str) -> PathBuf {
    import_cryptofeed(
        dir,
        name,
        &["BINANCE.ws.1.0", "BINANCE.http.0.0"],
        Venue::BinanceSpot,
    )
}

fn import_cryptofeed(dir: &Path, name: &str, files: &[&str], venue: Venue) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/cryptofeed");
    let inputs: Vec<PathBuf> = files.iter().map(|f| root.join(f)).collect();
    let out = dir.join(name);
    import(ImportFormat::Cryptofeed, venue, &inputs, &out).unwrap();
    out
}

fn drain(r: &mut FixtureReader) -> (Vec<Record<'static>>, Vec<FixtureError>) {
    let (mut recs, mut errs) = (Vec::new(), Vec::new());
    while let Some(item) = r.next_record() {
        match item {
            Ok(rec) => recs.push(rec.into_owned()),
            Err(e) => errs.push(e),
        }
    }
    (recs, errs)
}

#[test]
fn compressed_fixture_cut_in_half_ends_with_one_error() {
    let dir = temp_dir("robust-cut");
    for name in ["binance.fx.gz", "binance.fx.zst"] {
        // The larger capture (420 kB): zstd decodes in blocks of up to
        // 128 kB, so half of it still holds whole blocks to read.
        let files = ["BINANCE_FUTURES.ws.1.0", "BINANCE_FUTURES.http.0.0"];
        let full = import_cryptofeed(&dir, name, &files, Venue::BinanceUsdm);
        let (all, errs) = drain(&mut FixtureReader::open(&full).unwrap());
        assert!(errs.is_empty());
        let bytes = std::fs::read(&full).unwrap();
        // Injected fault: the file is cut in half, as by a crash or a full disk.
        let cut = dir.join(format!("cut-{name}"));
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        let mut r = FixtureReader::open(&cut).unwrap();
        let (recs, errs) = drain(&mut r);
        assert_eq!(errs.len(), 1, "{name}: {errs:?}");
        let err = errs.first().unwrap();
        let compression = if name.ends_with(".gz") {
            "gzip"
        } else {
            "zstd"
        };
        // Lines read = header + records (the reader may have decoded part of
        // one more line; that partial line is dropped, never yielded).
        let expected = format!(
            "truncated {compression} stream in {} after line {}",
            cut.display(),
            recs.len() + 1
        );
        assert_eq!(err.to_string(), expected);
        assert!(
            !recs.is_empty() && recs.len() < all.len(),
            "{name}: {}",
            recs.len()
        );
        assert_eq!(
            recs.as_slice(),
            &all[..recs.len()],
            "what was read is intact"
        );
        assert!(r.stats().stream_error);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_lines_in_a_real_fixture_are_skipped_and_named() {
    let dir = temp_dir("robust-lines");
    let good = real_fixture(&dir, "good.fx");
    let text = std::fs::read(&good).unwrap();
    let lines: Vec<&[u8]> = text
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let n_records = lines.len() - 1;
    // Injected faults, each replacing a copy of a real line: invalid UTF-8
    // inside the frame, a non-numeric time, an unknown tag; and the file
    // ends in the middle of its last line.
    let mut out: Vec<u8> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        out.extend_from_slice(line);
        out.push(b'\n');
        match i {
            10 => {
                let mut bad = line.to_vec();
                bad.insert(bad.len() - 5, 0xc3);
                out.extend_from_slice(&bad);
                out.push(b'\n');
            }
            20 => {
                out.extend_from_slice(b"16339985l2 ");
                out.extend_from_slice(&line[20..]);
                out.push(b'\n');
            }
            30 => {
                let s = std::str::from_utf8(line)
                    .unwrap()
                    .replacen(" recv ", " recieved ", 1);
                out.extend_from_slice(s.as_bytes());
                out.push(b'\n');
            }
            _ => {}
        }
    }
    let last = lines.last().unwrap();
    out.extend_from_slice(&last[..last.len() / 2]);
    let faulty = dir.join("faulty.fx");
    std::fs::write(&faulty, &out).unwrap();

    let mut m = Merger::new(vec![FixtureReader::open(&faulty).unwrap()]);
    let (mut recs, mut errs) = (Vec::new(), Vec::new());
    while let Some(item) = m.next_record() {
        match item {
            Ok(r) => recs.push(r.into_owned()),
            Err(e) => errs.push(e.to_string()),
        }
    }
    let name = faulty.display().to_string();
    assert_eq!(errs.len(), 3, "{errs:?}");
    assert!(
        errs[0].starts_with(&format!("{name}:12: invalid UTF-8 at byte ")),
        "{errs:?}"
    );
    assert_eq!(
        errs[1],
        format!(
            "{name}:23: bad recv_ns `16339985l2`: expected a non-negative integer of nanoseconds"
        )
    );
    assert!(
        errs[2].starts_with(&format!("{name}:34: unknown tag `recieved`")),
        "{errs:?}"
    );
    // Every real record, plus the cut copy of the last one.
    assert_eq!(recs.len(), n_records + 1);
    let stats = m.readers()[0].stats();
    assert!(stats.truncated_last_line);
    assert_eq!(stats.bad_lines, 3);
    assert_eq!(stats.records, n_records as u64 + 1);
    let (a, b) = (&recs[n_records - 1], &recs[n_records]);
    assert_eq!(a.recv_ns, b.recv_ns);
    match (&a.kind, &b.kind) {
        (RecordKind::Frame(full), RecordKind::Frame(cut)) => {
            assert!(full.starts_with(cut.as_ref()) && cut.len() < full.len())
        }
        other => panic!("{other:?}"),
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn merger_names_the_file_of_each_error() {
    let dir = temp_dir("robust-merge");
    let a = real_fixture(&dir, "a.fx");
    let b = dir.join("b.fx");
    // Injected fault: a second file whose only line has an unknown venue.
    std::fs::write(&b, "1633998512063356900 BINANCE c recv {}\n").unwrap();
    let mut m = Merger::open(&[a.clone(), b.clone()]).unwrap();
    let mut errs = Vec::new();
    let mut n = 0;
    while let Some(item) = m.next_record() {
        match item {
            Ok(_) => n += 1,
            Err(e) => errs.push(e.to_string()),
        }
    }
    assert_eq!(
        errs,
        vec![format!("{}:1: unknown venue `BINANCE`", b.display())]
    );
    assert_eq!(n, m.readers()[0].stats().records);
    let missing = dir.join("missing.fx");
    let e = Merger::open(&[a, missing.clone()]).err().unwrap();
    assert!(
        e.to_string()
            .starts_with(&format!("cannot open {}", missing.display()))
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn readers_can_move_to_another_thread() {
    fn is_send<T: Send>() {}
    is_send::<FixtureReader>();
    is_send::<Merger>();
}
