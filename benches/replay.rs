//! Replay throughput on the real spot BTC/USDT recording (2024-08-08/09,
//! 99,573 frames): parse-only (fixture line + Binance adapter) beside
//! end-to-end (fixture line + adapter + state + detectors + incidents), in
//! one run so machine noise cancels out of the ratio.
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

fn bench(c: &mut Criterion) {
    let lines = load();
    let frames = lines.len() as u64;
    let mut g = c.benchmark_group("spot_btcusdt_replay");
    g.throughput(Throughput::Elements(frames));
    g.sample_size(20);

    g.bench_function("parse_only", |b| {
        let mut adapter = adapter_for(Venue::BinanceSpot).expect("binance adapter");
        let mut events = Vec::new();
        b.iter(|| {
            let mut n = 0usize;
            for line in &lines {
                let Ok(rec) = parse_line(line) else { continue };
                events.clear();
                let _ = match &rec.kind {
                    RecordKind::Frame(t) => adapter.parse_frame(t, &mut events),
                    RecordKind::Rest { request, body } => {
                        adapter.parse_rest(request, body, &mut events)
                    }
                    _ => continue,
                };
                n += events.len();
            }
            black_box(n)
        })
    });

    g.bench_function("end_to_end", |b| {
        b.iter(|| {
            let mut engine = Engine::new(Config::default());
            let mut out = Vec::new();
            for line in &lines {
                let Ok(rec) = parse_line(line) else { continue };
                engine.on_record(&rec, &mut out);
            }
            black_box(out.len())
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
