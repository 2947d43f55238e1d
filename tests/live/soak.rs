//! The soak: one consumer process holding thousands of streams against the
//! local exchange simulator, all on 127.0.0.1, with memory and CPU sampled.
//!
//! The load is the real Binance spot, USD-M and COIN-M BTC recordings of
//! fixtures/replay/ (2024-08-08) served at recorded pace, looped, and
//! REPLICATED BY THE SIMULATOR into alias symbols (`BTC0001/USDT`, ...):
//! synthetic load made by code from real frames, not recorded data. Each
//! alias carries its original's full recorded rate, so the load is that of
//! N busy BTC markets per venue.
//!
//! - `soak_consumer_alone` (ignored, the reported figure): the simulators
//!   are `feedwatch simulate` child processes, so this process's RSS and
//!   CPU are the consumer's alone.
//! - `soak_in_process` (ignored): simulators and consumer in one process.
//! - `replicas_reach_the_engine` (quick): a few aliases, recorded and
//!   replayed, every alias stream reaches the engine.
//!
//! Run: `cargo test --release --test live soak:: -- --ignored --nocapture`;
//! `FEEDWATCH_SOAK_S` sets the duration (default 600 s),
//! `FEEDWATCH_SOAK_ALIASES` the aliases per venue (default 222: 223
//! symbols per venue, 669 in all, 2,676 subscribed streams of which 2,007
//! carry data; the recordings have no kline frames, so the fourth channel
//! of each symbol is subscribed but silent). Diagnostic knobs, off by
//! default: `FEEDWATCH_SOAK_MAX_PENDING` (`[book] max_pending`) and
//! `FEEDWATCH_SOAK_QUEUE` (`[feed] queue_capacity`).

#![cfg(target_os = "linux")]

use crate::util::*;
use feedwatch::alert::Alert;
use feedwatch::config::Config;
use feedwatch::feed::{self, Counters, FeedSummary, RunOptions};
use feedwatch::replay::Speed;
use feedwatch::sim::{self, Faults, SimConfig, SimCounters, replicate};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// The three recorded markets: venue id, fixture, canonical symbol.
const MARKETS: [(&str, &str, &str); 3] = [
    (
        "binance-spot",
        "replay/binance-spot-btcusdt-2024-08-08.fixture.zst",
        "BTC/USDT",
    ),
    (
        "binance-usdm",
        "replay/binance-usdm-btcusdt-2024-08-08.fixture.zst",
        "BTC/USDT",
    ),
    (
        "binance-coinm",
        "replay/binance-coinm-btcusd_perp-2024-08-08.fixture.zst",
        "BTC/USD",
    ),
];

/// Channels of the recordings that carry frames (no kline_1m recorded).
const DATA_CHANNELS: u64 = 3;

/// Allowed RSS growth over the second half of the soak. The consumer's
/// memory is bounded by design (books capped at 200 levels a side, a
/// bounded queue, per-stream state made at the first frame); after the
/// first half every stream exists and every book is full, so the second
/// half should be flat up to allocator noise. At the soak's ~10^5
/// frames/s a leak of even one byte per frame would grow by ~30 MB in
/// five minutes; 16 MiB catches that and ignores allocator jitter.
const RSS_GROWTH_BOUND_KIB: u64 = 16 * 1024;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The recorded symbol and its `n` aliases.
fn symbols(canonical: &str, n: u32) -> Vec<String> {
    let mut out = vec![canonical.to_string()];
    out.extend((1..=n).map(|k| replicate::alias_canonical(canonical, k).unwrap()));
    out
}

/// A consumer config watching every market's symbol and `n` aliases on
/// the simulators at `urls` (one per market, in `MARKETS` order).
fn feed_config(urls: &[String], n: u32) -> Config {
    let mut cfg = Config::default();
    cfg.feed.symbols.clear();
    for ((venue, _, symbol), url) in MARKETS.iter().zip(urls) {
        cfg.feed
            .symbols
            .insert(venue.to_string(), symbols(symbol, n));
        cfg.feed.endpoints.insert(venue.to_string(), url.clone());
    }
    cfg.feed.backoff_initial_ms = 200;
    cfg.feed.backoff_max_ms = 1000;
    // Diagnostic knob: the live feed fetches no REST snapshot, so every
    // depth book stays unsynced and buffers up to this many diffs.
    if let Ok(v) = std::env::var("FEEDWATCH_SOAK_MAX_PENDING") {
        cfg.book.max_pending = v.parse().unwrap();
    }
    // Diagnostic knob: records the engine queue holds before dropping.
    if let Ok(v) = std::env::var("FEEDWATCH_SOAK_QUEUE") {
        cfg.feed.queue_capacity = v.parse().unwrap();
    }
    cfg.validate().unwrap();
    cfg
}

fn subscribed_streams(cfg: &Config) -> u64 {
    let symbols: usize = cfg.feed.symbols.values().map(Vec::len).sum();
    (symbols * feed::CHANNELS.len()) as u64
}

/// A feed run in this process.
struct Feed {
    counters: Arc<Counters>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<FeedSummary, feed::FeedError>>,
}

fn start_feed(cfg: Config, record: Option<PathBuf>) -> Feed {
    let counters = Arc::new(Counters::default());
    // Alerts are counted by the engine; the sink only has to be cheap.
    let sink: feedwatch::sink::BoxSink = Box::new(|_: &Alert, _: bool| Ok(()));
    let (stop, rx) = oneshot::channel::<()>();
    let opts = RunOptions {
        record_dir: record,
        counters: counters.clone(),
        ..RunOptions::default()
    };
    let task = tokio::spawn(feed::run_with(
        cfg.detect(),
        cfg.feed,
        opts,
        async {
            let _ = rx.await;
        },
        sink,
    ));
    Feed {
        counters,
        stop: Some(stop),
        task,
    }
}

impl Feed {
    async fn stop(mut self) -> FeedSummary {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("feed shut down in time")
            .unwrap()
            .unwrap()
    }
}

/// Simulators in this process, one per market.
struct InProcess {
    urls: Vec<String>,
    counters: Vec<Arc<SimCounters>>,
    stops: Vec<oneshot::Sender<()>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

async fn start_in_process(n: u32, looped: bool) -> InProcess {
    let mut s = InProcess {
        urls: Vec::new(),
        counters: Vec::new(),
        stops: Vec::new(),
        tasks: Vec::new(),
    };
    for (_, fixture, _) in MARKETS {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        s.urls
            .push(format!("ws://{}/stream", listener.local_addr().unwrap()));
        let mut cfg = SimConfig::new(
            vec![fixtures().join(fixture)],
            Speed::Factor(1.0),
            Faults::default(),
        );
        cfg.replicate = n;
        cfg.looped = looped;
        let counters = Arc::new(SimCounters::default());
        let (stop, rx) = oneshot::channel::<()>();
        s.tasks.push(tokio::spawn(sim::serve(
            listener,
            cfg,
            counters.clone(),
            async {
                let _ = rx.await;
            },
        )));
        s.counters.push(counters);
        s.stops.push(stop);
    }
    s
}

impl InProcess {
    fn frames_sent(&self) -> u64 {
        self.counters.iter().map(|c| counter(&c.frames_sent)).sum()
    }

    fn streams_served(&self) -> u64 {
        self.counters
            .iter()
            .map(|c| counter(&c.streams_served))
            .sum()
    }

    async fn stop(self) {
        for s in self.stops {
            let _ = s.send(());
        }
        for t in self.tasks {
            tokio::time::timeout(Duration::from_secs(10), t)
                .await
                .unwrap()
                .unwrap();
        }
    }
}

/// A `feedwatch simulate` child, killed when dropped.
struct SimChild {
    child: Child,
    url: String,
    stderr: std::sync::mpsc::Receiver<String>,
}

impl Drop for SimChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_sim(fixture: &Path, n: u32) -> SimChild {
    let mut child = Command::new(env!("CARGO_BIN_EXE_feedwatch"))
        .args(["simulate", "--fixture"])
        .arg(fixture)
        .args(["--listen", "127.0.0.1:0", "--speed", "1", "--loop"])
        .args(["--replicate", &n.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let err = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut sim = SimChild {
        child,
        url: String::new(),
        stderr: rx,
    };
    let line = sim.line("listening on ", Duration::from_secs(10));
    sim.url = line.split("listening on ").nth(1).unwrap().trim().into();
    assert!(sim.url.starts_with("ws://127.0.0.1:"), "{}", sim.url);
    sim
}

impl SimChild {
    fn line(&self, needle: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(l) if l.contains(needle) => return l,
                Ok(_) => {}
                Err(e) => panic!("simulator printed no `{needle}` within {limit:?}: {e}"),
            }
        }
    }

    /// SIGTERM, then the final counters line: (frames sent, streams served).
    fn stop(mut self) -> (u64, u64) {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let line = self.line("frames sent", Duration::from_secs(15));
        let _ = self.child.wait();
        let num_before = |what: &str| -> u64 {
            let head = line.split(what).next().unwrap();
            head.rsplit([' ', ','])
                .find(|w| !w.is_empty())
                .unwrap()
                .parse()
                .unwrap()
        };
        (num_before(" frames sent"), num_before(" streams served"))
    }
}

/// Resident set size of `pid` (`self` for this process), KiB.
fn rss_kib(pid: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Clock ticks per second for /proc times.
fn clk_tck() -> f64 {
    let out = Command::new("getconf").arg("CLK_TCK").output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// User plus system CPU time of `pid`, in clock ticks.
fn cpu_ticks(pid: &str) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the `(comm)`: state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')').unwrap().1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

/// Time this process's threads spent runnable but waiting for a CPU (ns,
/// summed over threads, from /proc/self/task/*/schedstat): the share of
/// the machine this process wanted and did not get.
fn runq_wait_ns() -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    dir.filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum()
}

/// The machine's 1-minute load average (other work shares these cores).
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .next()
        .unwrap_or("?")
        .to_string()
}

struct Sample {
    t: f64,
    rss_kib: u64,
    cpu_ticks: u64,
    wait_ns: u64,
    frames: u64,
    dropped: u64,
    opens: u64,
}

fn sample(t0: Instant, c: &Counters) -> Sample {
    Sample {
        t: t0.elapsed().as_secs_f64(),
        rss_kib: rss_kib("self"),
        cpu_ticks: cpu_ticks("self"),
        wait_ns: runq_wait_ns(),
        frames: counter(&c.frames),
        dropped: counter(&c.dropped),
        opens: counter(&c.opens),
    }
}

/// Runs the soak for `secs` with `n` aliases per market; `child_sims`
/// puts the simulators in child processes.
async fn soak(secs: u64, n: u32, child_sims: bool) {
    let tck = clk_tck();
    let (children, in_proc) = if child_sims {
        let c: Vec<SimChild> = MARKETS
            .iter()
            .map(|(_, f, _)| spawn_sim(&fixtures().join(f), n))
            .collect();
        (c, None)
    } else {
        (Vec::new(), Some(start_in_process(n, true).await))
    };
    let urls: Vec<String> = match &in_proc {
        Some(s) => s.urls.clone(),
        None => children.iter().map(|c| c.url.clone()).collect(),
    };
    let cfg = feed_config(&urls, n);
    let streams = subscribed_streams(&cfg);
    let data_streams = streams / feed::CHANNELS.len() as u64 * DATA_CHANNELS;
    let mode = if child_sims {
        "consumer alone (simulators in 3 child processes)"
    } else {
        "consumer and simulators in one process"
    };
    println!(
        "soak: {mode}; {secs} s; {n} aliases per market; {streams} streams subscribed, {data_streams} carry recorded (replicated) frames; load average at start {}",
        loadavg()
    );
    let t0 = Instant::now();
    let f = start_feed(cfg, None);
    let c = f.counters.clone();
    let mut samples = vec![sample(t0, &c)];
    println!(
        "{:>6} {:>9} {:>7} {:>7} {:>12} {:>9} {:>9} {:>6} {:>8} {:>6}",
        "t_s",
        "rss_MiB",
        "cpu_%",
        "wait_%",
        "frames",
        "frames/s",
        "dropped",
        "opens",
        "sim_strm",
        "load"
    );
    let every = Duration::from_secs(10);
    let end = t0 + Duration::from_secs(secs);
    let mut child_cpu0: Vec<u64> = children
        .iter()
        .map(|ch| cpu_ticks(&ch.child.id().to_string()))
        .collect();
    let mut child_cpu = 0u64;
    while Instant::now() < end {
        let next = (t0 + every * samples.len() as u32).min(end);
        tokio::time::sleep_until(next.into()).await;
        let s = sample(t0, &c);
        let p = samples.last().unwrap();
        let dt = s.t - p.t;
        let cpu = (s.cpu_ticks - p.cpu_ticks) as f64 / tck / dt * 100.0;
        let served = in_proc.as_ref().map_or(0, InProcess::streams_served);
        println!(
            "{:>6.0} {:>9.1} {:>7.1} {:>7.1} {:>12} {:>9.0} {:>9} {:>6} {:>8} {:>6}",
            s.t,
            s.rss_kib as f64 / 1024.0,
            cpu,
            s.wait_ns.saturating_sub(p.wait_ns) as f64 / 1e9 / dt * 100.0,
            s.frames,
            (s.frames - p.frames) as f64 / dt,
            s.dropped,
            s.opens,
            served,
            loadavg()
        );
        samples.push(s);
    }
    for (i, ch) in children.iter().enumerate() {
        let now = cpu_ticks(&ch.child.id().to_string());
        child_cpu += now - child_cpu0[i];
        child_cpu0[i] = now;
    }
    let summary = f.stop().await;
    let (sim_sent, sim_streams) = match in_proc {
        Some(s) => {
            let r = (s.frames_sent(), s.streams_served());
            s.stop().await;
            r
        }
        None => children.into_iter().fold((0, 0), |(a, b), ch| {
            let (x, y) = ch.stop();
            (a + x, b + y)
        }),
    };

    // The figures: from the first sample after 10 s (connections up,
    // streams made) to the end.
    let warm = samples.get(1).unwrap();
    let last = samples.last().unwrap();
    let mid = samples
        .iter()
        .min_by(|a, b| {
            (a.t - last.t / 2.0)
                .abs()
                .total_cmp(&(b.t - last.t / 2.0).abs())
        })
        .unwrap();
    let span = last.t - warm.t;
    let cpu_pct = (last.cpu_ticks - warm.cpu_ticks) as f64 / tck / span * 100.0;
    let fps = (last.frames - warm.frames) as f64 / span;
    let k = streams as f64 / 1000.0;
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!("--- soak result ({mode}) ---");
    println!(
        "streams subscribed           {streams} ({data_streams} with data, {sim_streams} served by the simulators)"
    );
    println!("connections opened           {}", last.opens);
    println!("frames/s (consumer)          {fps:.0}");
    println!("CPU % of one core            {cpu_pct:.1}");
    println!(
        "runnable, waiting for a CPU  {:.1} % of one core (machine contention)",
        (last.wait_ns - warm.wait_ns) as f64 / 1e9 / span * 100.0
    );
    println!(
        "RSS MiB start/middle/end     {:.1} / {:.1} / {:.1} (at {:.0} s / {:.0} s / {:.0} s)",
        mib(warm.rss_kib),
        mib(mid.rss_kib),
        mib(last.rss_kib),
        warm.t,
        mid.t,
        last.t
    );
    println!(
        "per 1,000 streams            RSS {:.1} MiB, CPU {:.1} % of one core",
        mib(last.rss_kib) / k,
        cpu_pct / k
    );
    let peak = samples.iter().map(|s| s.rss_kib).max().unwrap_or(0);
    println!("RSS MiB peak                 {:.1}", mib(peak));
    println!(
        "CPU per 10^5 frames/s        {:.1} % of one core",
        cpu_pct / fps * 1e5
    );
    if child_sims {
        println!(
            "simulators (3 children)      {:.1} % of one core",
            child_cpu as f64 / tck / span * 100.0
        );
    }
    println!(
        "engine: {} frames, {} malformed, {} unknown, {} alerts; frames sent by the simulators {sim_sent}; dropped {}; load average at end {}",
        summary.engine.frames,
        summary.engine.malformed,
        summary.engine.unknown,
        summary.alerts,
        summary.dropped,
        loadavg()
    );

    // Every criterion is checked and all failures reported together, so
    // one run says everything that is wrong.
    let mut failed: Vec<String> = Vec::new();
    let mut check = |ok: bool, what: String| {
        if !ok {
            failed.push(what);
        }
    };
    check(
        streams >= 2000,
        format!("only {streams} streams subscribed"),
    );
    check(
        sim_streams >= data_streams && data_streams >= 2000,
        format!("{sim_streams} streams served, {data_streams} expected"),
    );
    let received = counter(&c.frames);
    check(
        summary.dropped == 0,
        format!(
            "{} records dropped on a full queue ({:.2} % of {received} frames)",
            summary.dropped,
            summary.dropped as f64 / received.max(1) as f64 * 100.0
        ),
    );
    check(
        summary.engine.malformed == 0 && summary.engine.unknown == 0,
        format!("{:?}", summary.engine.error_samples),
    );
    check(
        summary.engine.frames + summary.dropped >= received,
        format!(
            "{received} frames received, {} reached the engine, {} dropped",
            summary.engine.frames, summary.dropped
        ),
    );
    check(
        last.opens == MARKETS.len() as u64 * (u64::from(n) + 1).div_ceil(256),
        format!(
            "{} connections opened: one was lost and reopened",
            last.opens
        ),
    );
    // Frames kept arriving in every interval, at a rate no lower than a
    // tenth of the soak's mean (the recordings are bursty, never silent
    // for ten seconds).
    for w in samples.windows(2).skip(1) {
        let rate = (w[1].frames - w[0].frames) as f64 / (w[1].t - w[0].t);
        check(
            rate > fps / 10.0,
            format!("{rate:.0} frames/s at {:.0} s (mean {fps:.0})", w[1].t),
        );
    }
    let growth = last.rss_kib.saturating_sub(mid.rss_kib);
    check(
        growth < RSS_GROWTH_BOUND_KIB,
        format!(
            "RSS grew {:.1} MiB over the second half (bound {:.1} MiB)",
            mib(growth),
            mib(RSS_GROWTH_BOUND_KIB)
        ),
    );
    assert!(failed.is_empty(), "soak failed:\n  {}", failed.join("\n  "));
}

fn soak_params() -> (u64, u32) {
    let secs = env_u64("FEEDWATCH_SOAK_S", 600).max(30);
    let n = u32::try_from(env_u64("FEEDWATCH_SOAK_ALIASES", 222)).unwrap();
    (secs, n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "soak: minutes long; run with --release -- --ignored --nocapture"]
async fn soak_consumer_alone() {
    let (secs, n) = soak_params();
    soak(secs, n, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "soak: minutes long; run with --release -- --ignored --nocapture"]
async fn soak_in_process() {
    let (secs, n) = soak_params();
    soak(secs, n, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_reach_the_engine() {
    let tmp = Tmp::new("soak_replicas");
    // 12 aliases per market, 39 symbols, 117 streams with recorded frames
    // (trade, bookTicker, depth; the recordings have no klines).
    let n = 12u32;
    let sims = start_in_process(n, false).await;
    let cfg = feed_config(&sims.urls, n);
    let data_streams = subscribed_streams(&cfg) / feed::CHANNELS.len() as u64 * DATA_CHANNELS;
    assert_eq!(data_streams, 3 * 13 * 3);
    let f = start_feed(cfg, Some(tmp.0.join("rec")));
    let c = f.counters.clone();
    // Every stream of the recordings has a frame within the first seconds
    // (depth at 100 ms or faster, trades and book tickers more often).
    let deadline = Instant::now() + Duration::from_secs(15);
    while sims.streams_served() < data_streams {
        assert!(
            Instant::now() < deadline,
            "{} of {data_streams} streams served",
            sims.streams_served()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The frames read last are on their way (served counts them when read).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let summary = f.stop().await;
    assert_eq!(sims.streams_served(), data_streams);
    sims.stop().await;
    assert_eq!(summary.dropped, 0);
    assert_eq!(summary.engine.frames, counter(&c.frames));

    // The recording replays into an engine that knows exactly the
    // recorded and alias streams, with every frame parsed.
    let mut d = Drive::default();
    let mut alias_frames = 0u64;
    for file in &summary.recorded {
        let recs = read_records(file);
        for rec in &recs {
            if let feedwatch::record::RecordKind::Frame(t) = &rec.kind {
                alias_frames += u64::from(t.contains("0012usd"));
            }
        }
        d.records(&recs);
    }
    assert_eq!(d.engine().stream_count() as u64, data_streams);
    let stats = d.engine().stats();
    assert_eq!(stats.malformed, 0, "{:?}", stats.error_samples);
    assert_eq!(stats.unknown, 0);
    assert!(alias_frames > 0, "no frame of the 12th aliases recorded");
}
