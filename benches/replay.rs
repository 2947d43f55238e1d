//! Replay throughput on the real spot BTC/USDT recording (2024-08-08/09,
//! 99,573 frames): parse-only (fixture line + Binance adapter) beside
//! end-to-end (fixture line + adapter + state + detectors + incidents), in
//! one run so machine noise cancels out of the ratio: before the criterion
//! groups, the two are also timed in interleaved rounds and the medians and
//! their ratio printed (this machine's speed drifts by tens of percent
//! between seconds, so separate criterion groups can disagree).
//!
//! `cargo bench --bench replay`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use feedwatch::config::Config;
use feedwatch::engine::Engine;
use feedwatch::fixture::RecordKind;
use feedwatch::fixture::import::{ImportFormat, import};
use feedwatch::fixture::reader::parse_line;
use feedwatch::model::Venue;
use feedwatch::venues::adapter_for;
use std::hint::black_box;
use std::path::Path;

/// The recording as fixture lines, in memory (I/O and decompression are
/// not what is measured).
fn load() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let src = root.join("fixtures/binance-hftbacktest/spot");
    let out = std::env::temp_dir().join(format!("feedwatch-bench-{}.fixture", std::process::id()));
    import(
        ImportFormat::Hftbacktest,
        Venue::BinanceSpot,
        &[
            src.join("btcusdt_20240808.gz"),
            src.join("btcusdt_20240809.gz"),
        ],
        &out,
    )
    .expect("import the bench recording");
    let text = std::fs::read_to_string(&out).expect("read the imported fixture");
    let _ = std::fs::remove_file(&out);
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// One pass of parse-only over the lines; returns events seen.
fn parse_pass(lines: &[String]) -> usize {
    let Some(mut adapter) = adapter_for(Venue::BinanceSpot) else {
        return 0;
    };
    let mut events = Vec::new();
    let mut n = 0usize;
    for line in lines {
        let Ok(rec) = parse_line(line) else { continue };
        events.clear();
        let _ = match &rec.kind {
            RecordKind::Frame(t) => adapter.parse_frame(t, &mut events),
            RecordKind::Rest { request, body } => adapter.parse_rest(request, body, &mut events),
            _ => continue,
        };
        n += events.len();
    }
    n
}

/// One pass of end-to-end replay over the lines; returns alerts raised.
fn engine_pass(lines: &[String]) -> usize {
    let mut engine = Engine::new(Config::default());
    let mut out = Vec::new();
    for line in lines {
        let Ok(rec) = parse_line(line) else { continue };
        engine.on_record(&rec, &mut out);
    }
    out.len()
}

/// Parse-only and end-to-end passes interleaved, one after the other, so
/// that drifts in machine speed hit both alike; prints the medians and their
/// ratio (the figure the project reports).
fn paired(lines: &[String]) {
    const ROUNDS: usize = 21;
    let mut parse = Vec::with_capacity(ROUNDS);
    let mut e2e = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let t = std::time::Instant::now();
        black_box(parse_pass(lines));
        parse.push(t.elapsed().as_secs_f64());
        let t = std::time::Instant::now();
        black_box(engine_pass(lines));
        e2e.push(t.elapsed().as_secs_f64());
    }
    parse.sort_by(f64::total_cmp);
    e2e.sort_by(f64::total_cmp);
    let n = lines.len() as f64;
    let (p, e) = (parse[ROUNDS / 2], e2e[ROUNDS / 2]);
    println!(
        "paired medians over {ROUNDS} interleaved rounds of {} frames: parse_only {:.0} frames/s, end_to_end {:.0} frames/s, end_to_end = {:.0}% of parse_only",
        lines.len(),
        n / p,
        n / e,
        100.0 * p / e
    );
}

fn bench(c: &mut Criterion) {
    let lines = load();
    paired(&lines);
    let frames = lines.len() as u64;
    let mut g = c.benchmark_group("spot_btcusdt_replay");
    g.throughput(Throughput::Elements(frames));
    g.sample_size(20);

    g.bench_function("parse_only", |b| b.iter(|| black_box(parse_pass(&lines))));
    g.bench_function("end_to_end", |b| b.iter(|| black_box(engine_pass(&lines))));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
