//! Byte-identical behaviour across the layered-layout move: every case in
//! `tests/golden/cases.txt` (the bundled replays alone and together, every
//! scenario recipe, the scenario suite's scores, the candle scans and the
//! other real recordings imported and replayed) is run through the
//! `feedwatch` binary and its stdout compared byte for byte with what main
//! printed at d02540e, before the move (`tests/golden/<name>.out`).

use std::path::{Path, PathBuf};
use std::process::Command;

/// One golden case: its name and the command lines it runs in order.
struct Case {
    name: String,
    steps: Vec<Vec<String>>,
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn cases(tmp: &Path) -> Vec<Case> {
    let text = std::fs::read_to_string(repo().join("tests/golden/cases.txt"))
        .expect("tests/golden/cases.txt is readable");
    let tmp = tmp.to_str().expect("temporary path is UTF-8");
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            let (name, cmd) = line.split_once('|').expect("a case is `name | command`");
            let steps = cmd
                .replace("{tmp}", tmp)
                .split(" && ")
                .map(|s| s.split_whitespace().map(String::from).collect())
                .collect();
            Case {
                name: name.trim().to_string(),
                steps,
            }
        })
        .collect()
}

/// Runs a case and returns the last command's stdout.
fn run(case: &Case) -> Vec<u8> {
    let mut last = Vec::new();
    for args in &case.steps {
        let out = Command::new(env!("CARGO_BIN_EXE_feedwatch"))
            .args(args)
            .current_dir(repo())
            .output()
            .expect("feedwatch runs");
        assert!(
            out.status.success(),
            "{}: `feedwatch {}` failed: {}",
            case.name,
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        last = out.stdout;
    }
    last
}

/// The first differing line of two outputs, for a readable failure.
fn first_difference(want: &[u8], got: &[u8]) -> String {
    let want = String::from_utf8_lossy(want);
    let got = String::from_utf8_lossy(got);
    let (mut w, mut g) = (want.lines(), got.lines());
    for n in 1.. {
        match (w.next(), g.next()) {
            (None, None) => return "outputs differ only in line endings".into(),
            (a, b) if a == b => continue,
            (a, b) => return format!("line {n}:\n  golden: {a:?}\n  now:    {b:?}"),
        }
    }
    unreachable!()
}

#[test]
fn every_golden_case_prints_what_main_printed_before_the_move() {
    let tmp = crate::util::temp_dir("golden");
    let cases = cases(&tmp);
    assert!(cases.len() >= 20, "only {} golden cases read", cases.len());
    // Cases run on every core: each is one feedwatch process.
    let next = std::sync::Mutex::new(cases.iter());
    let results = std::sync::Mutex::new(Vec::new());
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                while let Some(case) = next.lock().expect("no worker panicked").next() {
                    let got = run(case);
                    results
                        .lock()
                        .expect("no worker panicked")
                        .push((case, got));
                }
            });
        }
    });
    let mut failures = Vec::new();
    let mut alerts = 0;
    for (case, got) in results.into_inner().expect("no worker panicked") {
        let golden = repo().join(format!("tests/golden/{}.out", case.name));
        let want = std::fs::read(&golden).unwrap_or_else(|e| panic!("{}: {e}", golden.display()));
        alerts += got.iter().filter(|&&b| b == b'\n').count();
        if got != want {
            failures.push(format!("{}: {}", case.name, first_difference(&want, &got)));
        }
    }
    failures.sort();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The cases must say something: a golden set of empty outputs would
    // pass whatever the engine did.
    assert!(alerts > 100, "only {alerts} golden lines compared");
}
