//! Replay throughput on the real spot BTC/USDT recording (2024-08-08/09,
//! 99,573 frames): parse-only (fixture line + Binance adapter) beside
//! end-to-end (fixture line, then the replay's drive loop at full speed:
//! adapter + state + detectors + incidents), in one run so machine noise cancels out of the ratio: before the criterion
//! groups, the two are also timed in interleaved rounds and the medians and
//! their ratio printed (this machine's speed drifts by tens of percent
//! between seconds, so separate criterion groups can disagree). Heap
//! allocations per frame of each pass are counted (a counting global
//! allocator) and printed with them.
//!
//! `cargo bench --bench replay`; with `FEEDWATCH_BENCH_PAIRED=N` only N
//! interleaved rounds run and criterion is skipped (to compare two builds
//! by alternating their binaries, or to profile the passes alone).

use criterion::{Criterion, Throughput};
use feedwatch::alert::Alert;
use feedwatch::detect::DetectConfig;
use feedwatch::fixture::import::{ImportFormat, import};
use feedwatch::fixture::parse_line;
use feedwatch::model::Venue;
use feedwatch::record::RecordKind;
use feedwatch::replay::{Driver, Options};
use feedwatch::venues::adapter_for;
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// The system allocator, counting allocations (one relaxed add each, the
/// same in every pass measured).
struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

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

/// One pass of end-to-end replay over the lines, through the replay's own
/// drive loop at full speed (`replay::Driver`, alerts counted and dropped);
/// returns alerts raised.
fn engine_pass(lines: &[String]) -> usize {
    let drop_alert = |_: &Alert, _: bool| -> std::io::Result<()> { Ok(()) };
    let mut run = Driver::new(DetectConfig::default(), Options::default(), drop_alert);
    for line in lines {
        let Ok(rec) = parse_line(line) else { continue };
        if run.record(&rec).is_err() {
            break;
        }
    }
    run.finish().1.alerts as usize
}

/// Nanoseconds this thread has run on a CPU (Linux `schedstat`; `None`
/// elsewhere). On a shared machine the wall time of a pass includes the
/// time other processes held the core; the run time does not.
fn cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// Median of `v` (sorted in place); 0 when empty.
fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Parse-only and end-to-end passes interleaved, one after the other, so
/// that drifts in machine speed hit both alike; prints the medians and their
/// ratio (the figure the project reports), the same by CPU run time, and
/// the allocations per frame.
fn paired(lines: &[String], rounds: usize) {
    let rounds = rounds.max(1);
    let (mut parse, mut e2e) = (Vec::new(), Vec::new());
    let (mut parse_cpu, mut e2e_cpu) = (Vec::new(), Vec::new());
    let (mut parse_allocs, mut e2e_allocs) = (0u64, 0u64);
    for _ in 0..rounds {
        let a = ALLOCS.load(Ordering::Relaxed);
        let c0 = cpu_ns();
        let t = std::time::Instant::now();
        black_box(parse_pass(lines));
        parse.push(t.elapsed().as_secs_f64());
        let c1 = cpu_ns();
        let b = ALLOCS.load(Ordering::Relaxed);
        let t = std::time::Instant::now();
        black_box(engine_pass(lines));
        e2e.push(t.elapsed().as_secs_f64());
        let c2 = cpu_ns();
        let c = ALLOCS.load(Ordering::Relaxed);
        if let (Some(c0), Some(c1), Some(c2)) = (c0, c1, c2) {
            parse_cpu.push((c1 - c0) as f64 / 1e9);
            e2e_cpu.push((c2 - c1) as f64 / 1e9);
        }
        parse_allocs = b - a;
        e2e_allocs = c - b;
    }
    let n = lines.len() as f64;
    let (p, e) = (median(&mut parse), median(&mut e2e));
    println!(
        "paired medians over {rounds} interleaved rounds of {} frames: parse_only {:.0} frames/s, end_to_end {:.0} frames/s, end_to_end = {:.0}% of parse_only; allocations per frame: parse_only {:.3}, end_to_end {:.3}",
        lines.len(),
        n / p,
        n / e,
        100.0 * p / e,
        parse_allocs as f64 / n,
        e2e_allocs as f64 / n,
    );
    let (p, e) = (median(&mut parse_cpu), median(&mut e2e_cpu));
    if p > 0.0 && e > 0.0 {
        println!(
            "by CPU run time: parse_only {:.0} frames/s, end_to_end {:.0} frames/s, end_to_end = {:.0}% of parse_only",
            n / p,
            n / e,
            100.0 * p / e
        );
    }
}

fn bench(c: &mut Criterion, lines: &[String]) {
    let frames = lines.len() as u64;
    let mut g = c.benchmark_group("spot_btcusdt_replay");
    g.throughput(Throughput::Elements(frames));
    g.sample_size(20);

    g.bench_function("parse_only", |b| b.iter(|| black_box(parse_pass(lines))));
    g.bench_function("end_to_end", |b| b.iter(|| black_box(engine_pass(lines))));
    g.finish();
}

fn main() {
    let lines = load();
    if let Some(rounds) = std::env::var("FEEDWATCH_BENCH_PAIRED")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        paired(&lines, rounds);
        return;
    }
    paired(&lines, 21);
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c, &lines);
    c.final_summary();
}
