//! The `feedwatch` command line: parses arguments, loads config, wires files
//! and stdout to the library, and reports errors in words a user can act on.
//! No detection logic lives here.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use feedwatch::alert::Alert;
use feedwatch::candles::scan::scan_files;
use feedwatch::candles::{SourceSpec, scan_sources};
use feedwatch::config::Config;
use feedwatch::fixture::import::{ImportFormat, import};
use feedwatch::model::{Venue, parse_interval};
use feedwatch::replay::{Input, Options, Speed, replay_input};
use feedwatch::sink::{SinkCounters, SinkStats, Sinks};
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// Market-data anomaly detector: flags silent, lagging and broken exchange
/// feeds and abnormal candles, as JSON-lines alerts.
#[derive(Parser, Debug)]
#[command(name = "feedwatch", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Replay recorded fixtures through the engine; alerts on stdout as JSON
    /// lines, a summary on stderr.
    Replay {
        /// TOML config (defaults apply to anything it does not set).
        #[arg(long)]
        config: Option<PathBuf>,
        /// `max` (default) or a factor of recorded speed (`1`, `10`, `0.5`).
        #[arg(long, default_value = "max")]
        speed: String,
        /// Serve the desk feed, status, metrics and dashboard on this
        /// address (e.g. `127.0.0.1:8080`; overrides `[serve] listen`);
        /// the server keeps serving the final state after the replay until
        /// SIGINT/SIGTERM.
        #[arg(long, value_name = "ADDR")]
        serve: Option<String>,
        /// Fixture files (plain, .gz or .zst), merged by receive time; or
        /// one scenario recipe (`fixtures/scenarios/*.toml`), replayed with
        /// its faults injected.
        #[arg(required = true)]
        fixtures: Vec<PathBuf>,
        #[command(flatten)]
        sinks: SinkFlags,
    },
    /// Convert foreign recordings into the fixture format.
    Import {
        /// Source format: `hftbacktest` or `cryptofeed`.
        #[arg(long)]
        from: String,
        /// Venue the recording came from (e.g. `binance-spot`).
        #[arg(long)]
        venue: String,
        /// Output fixture (`.gz` or `.zst` to compress).
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
        /// Input files; several hftbacktest files are one connection.
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
    },
    /// Connect to the configured venues and watch them live; alerts on
    /// stdout as JSON lines, a summary on stderr at shutdown (SIGINT/SIGTERM).
    Run {
        /// TOML config (`[feed]` says which venues, symbols and endpoints).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Record every record the engine sees into this directory (zstd
        /// fixtures, rotated by size or age; replay them with `replay`).
        #[arg(long)]
        record: Option<PathBuf>,
        #[command(flatten)]
        sinks: SinkFlags,
        /// Serve the desk feed, status, metrics and dashboard on this
        /// address (e.g. `127.0.0.1:8080`; overrides `[serve] listen`).
        #[arg(long, value_name = "ADDR")]
        serve: Option<String>,
    },
    /// The live consumer against local simulators serving the bundled real
    /// recordings, in one process with no internet: alerts on stdout as
    /// JSON lines, a summary on stderr. Stops after --duration or on
    /// SIGINT/SIGTERM.
    Demo {
        /// TOML config (its `[feed]` venues and endpoints are replaced by
        /// the simulators).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Fixtures to serve, one simulator per venue.
        #[arg(long = "fixture", num_args = 1.., default_values = [
            "fixtures/replay/binance-spot-btcusdt-2024-08-08.fixture.zst",
            "fixtures/replay/binance-usdm-btcusdt-2024-08-08.fixture.zst",
            "fixtures/replay/binance-coinm-btcusd_perp-2024-08-08.fixture.zst",
        ])]
        fixtures: Vec<PathBuf>,
        /// `max` or a factor of recorded speed.
        #[arg(long, default_value = "1")]
        speed: String,
        /// Faults injected by the first fixture's simulator (see
        /// `simulate`); the default closes its first connection after 3,000
        /// frames (`none` for none).
        #[arg(long, default_value = "close-after=3000,conns=1")]
        faults: String,
        /// Seconds to run (0: until SIGINT/SIGTERM).
        #[arg(long, default_value_t = 60)]
        duration: u64,
        /// Record what the consumer sees into this directory.
        #[arg(long)]
        record: Option<PathBuf>,
        #[command(flatten)]
        sinks: SinkFlags,
        /// Serve the desk feed, status, metrics and dashboard on this
        /// address (e.g. `127.0.0.1:8080`; overrides `[serve] listen`).
        #[arg(long, value_name = "ADDR")]
        serve: Option<String>,
    },
    /// Score the detectors on labelled scenarios (`DIR/*.toml`: real
    /// recordings, faults injected by code, expected alerts): a table on
    /// stdout (or JSON with --json). Fails when a label is missed or an
    /// alert of warning or above is not explained.
    Eval {
        /// TOML config.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Print JSON instead of the table.
        #[arg(long)]
        json: bool,
        /// The scenario folder.
        dir: PathBuf,
    },
    /// Serve recorded fixtures over WebSocket, as a local exchange, with
    /// faults on demand (for testing `run`; see README for --faults).
    Simulate {
        /// Fixture files (plain, .gz or .zst), merged by receive time.
        #[arg(long = "fixture", required = true, num_args = 1..)]
        fixtures: Vec<PathBuf>,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:9001")]
        listen: String,
        /// `max` or a factor of recorded speed (`1`, `10`, `0.5`).
        #[arg(long, default_value = "1")]
        speed: String,
        /// Faults, e.g. `close-after=500,corrupt-every=100,conns=1`.
        #[arg(long, default_value = "")]
        faults: String,
        /// SYNTHETIC LOAD, not recorded data: also serve every recorded
        /// frame as N alias symbols made by code (BTCUSDT -> BTC0001USDT ..
        /// BTC{N:04}USDT in the stream name and the `s` field; subscribe
        /// to e.g. BTC0001/USDT). 0 serves the recording only.
        #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=9999))]
        replicate: u32,
        /// At the end of the fixtures, start them again with time shifted
        /// (recorded pace kept) instead of idling; the connection stays open.
        #[arg(long = "loop")]
        looped: bool,
    },
    /// Replay fixtures (or one scenario recipe) at full speed and write an
    /// incident report: one self-contained HTML page with incidents per
    /// venue on a timeline, price charts with anomalies marked, staleness
    /// and lag per venue, and the alert table.
    Report {
        /// TOML config (defaults apply to anything it does not set).
        #[arg(long)]
        config: Option<PathBuf>,
        /// The HTML file to write.
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
        /// Fixture files (plain, .gz or .zst), merged by receive time; or
        /// one scenario recipe (`fixtures/scenarios/*.toml`).
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
    },
    /// Run the candle checks over historical candle CSV files.
    ///
    /// From one venue (`--venue --symbol FILES`) or from several at once
    /// (`--source`, repeatable), where each abnormal candle is put to the
    /// other venues of the same pair family (USD/USDT/USDC as one): peers
    /// that moved too make it a market move (info), a venue alone keeps
    /// its severity and is named, and without peer candles it is
    /// "unconfirmed".
    ScanCandles {
        /// Venue the candles are from (any venue id, e.g. `binance-usdm`).
        #[arg(long, required_unless_present = "sources")]
        venue: Option<String>,
        /// Canonical symbol, `BASE/QUOTE` (e.g. `BTC/USDT`).
        #[arg(long, required_unless_present = "sources")]
        symbol: Option<String>,
        /// Candle interval (`1m`, `5m`, `1h`, ...).
        #[arg(long, default_value = "1m")]
        interval: String,
        /// TOML config (its `[candle]` and `[consensus]` sections are used).
        #[arg(long)]
        config: Option<PathBuf>,
        /// One source of a multi-venue scan: `VENUE:BASE/QUOTE=FILE` for
        /// exchange candles (every interval expected), or
        /// `trades:VENUE:BASE/QUOTE=FILE` for one-minute bars built from
        /// trades (a minute without trades has no bar and is not a gap).
        /// Any venue id (e.g. `gemini`). Repeat for more venues or files;
        /// `--venue --symbol FILES` given as well is one more source.
        #[arg(long = "source", value_name = "SPEC")]
        sources: Vec<String>,
        /// CSV files, concatenated in time order.
        #[arg(required_unless_present = "sources")]
        files: Vec<PathBuf>,
    },
}

/// Alert sinks besides stdout, over the config's `[sinks]`.
#[derive(clap::Args, Debug)]
struct SinkFlags {
    /// Also append every alert to this durable JSON-lines log (overrides
    /// `sinks.log.path`; other `[sinks.log]` settings or their defaults
    /// apply).
    #[arg(long, value_name = "PATH")]
    alert_log: Option<PathBuf>,
    /// Also POST every alert to this URL (overrides `sinks.webhook.url`).
    #[arg(long, value_name = "URL")]
    webhook: Option<String>,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // A closed stdout (e.g. piped into `head`) is not an error.
            if e.downcast_ref::<io::Error>()
                .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
            {
                return ExitCode::SUCCESS;
            }
            eprintln!("feedwatch: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The alert sinks of `cfg` with the command-line flags applied.
fn open_sinks(cfg: &mut Config, flags: SinkFlags) -> Result<Sinks> {
    cfg.sinks
        .apply_cli(flags.alert_log, flags.webhook)
        .map_err(anyhow::Error::msg)?;
    Sinks::open(&cfg.sinks).context("opening the alert sinks")
}

/// The sinks of a live run (`run`, `demo`): the engine thread's alert sink,
/// the counters (also on the desk server's `/metrics` when there is one),
/// and whether there is more than stdout.
fn live_sinks(
    cfg: &mut Config,
    flags: SinkFlags,
    desk: Option<&mut feedwatch::serve::Desk>,
) -> Result<(feedwatch::sink::BoxSink, Arc<SinkCounters>, bool)> {
    let sinks = open_sinks(cfg, flags)?;
    let counters = sinks.counters();
    if let Some(d) = desk {
        d.server.sources.push(counters.clone());
    }
    let more = cfg.sinks.log.is_some() || cfg.sinks.webhook.is_some();
    Ok((Box::new(sinks), counters, more))
}

/// The sinks' counters on stderr, when there is more than stdout.
fn report_sinks(more_sinks: bool, stats: &SinkStats) {
    if more_sinks {
        eprintln!("feedwatch {stats}");
    }
}

/// `replay --serve`: the replay on a blocking thread feeding the desk
/// server, alerts on stdout as they come; then the final state is served
/// until SIGINT/SIGTERM.
fn replay_served(
    cfg: Config,
    input: Input,
    speed: Speed,
    mut desk: feedwatch::serve::Desk,
    sinks: Sinks,
) -> Result<()> {
    desk.server.sources.push(sinks.counters());
    // Someone is watching: every alert goes out (and stdout is flushed) as
    // it comes; the sinks close when the replay's thread drops them.
    let sink: feedwatch::sink::BoxSink = Box::new(sinks);
    let rt = runtime()?;
    let result = rt.block_on(feedwatch::serve::replay_served(
        cfg,
        input,
        speed,
        desk,
        sink,
        shutdown_signal(),
        |s| eprintln!("{s}"),
    ));
    // An interrupted replay's thread is not waited for.
    rt.shutdown_background();
    match result {
        Ok(Some(_)) => Ok(()),
        Ok(None) => {
            eprintln!("feedwatch replay: interrupted");
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// A batch of alerts (a scan) on stdout, one JSON line each.
fn write_alerts(alerts: &[Alert]) -> io::Result<()> {
    let mut w = BufWriter::new(io::stdout().lock());
    for a in alerts {
        w.write_all(a.to_json().as_bytes())?;
        w.write_all(b"\n")?;
    }
    w.flush()
}

/// The async runtime of the live commands.
fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn load_config(path: Option<&PathBuf>) -> Result<Config> {
    match path {
        Some(p) => Ok(Config::load(p)?),
        None => Ok(Config::default()),
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Replay {
            config,
            speed,
            serve,
            fixtures,
            sinks,
        } => {
            let mut cfg = load_config(config.as_ref())?;
            let speed: Speed = speed.parse().map_err(anyhow::Error::msg)?;
            let mut sinks = open_sinks(&mut cfg, sinks)?;
            let more_sinks = cfg.sinks.log.is_some() || cfg.sinks.webhook.is_some();
            if let Some(desk) = feedwatch::serve::Desk::from_config(&cfg.serve, serve.as_deref())? {
                let input = Input::from_paths(&fixtures)?;
                return replay_served(cfg, input, speed, desk, sinks);
            }
            let input = Input::from_paths(&fixtures)?;
            let opts = Options {
                speed: Some(speed),
                progress: true,
                observer: None,
            };
            let result = replay_input(cfg, &input, opts, &mut |a: &Alert, flush_now: bool| {
                sinks.write(a, flush_now)
            });
            // Closed on every path: the log synced, the webhook flushed.
            let closed = sinks.close();
            let summary = match result {
                Ok(s) => s,
                Err(feedwatch::replay::ReplayError::Sink(e)) => return Err(e.into()),
                Err(e) => return Err(e.into()),
            };
            let stats = closed?;
            eprintln!("{summary}");
            report_sinks(more_sinks, &stats);
            Ok(())
        }
        Command::Report {
            config,
            output,
            inputs,
        } => {
            let cfg = load_config(config.as_ref())?;
            let report = feedwatch::report::write_report(cfg, &inputs, &output)?;
            eprintln!("{report} -> {}", output.display());
            Ok(())
        }
        Command::Import {
            from,
            venue,
            output,
            inputs,
        } => {
            let format: ImportFormat = from.parse()?;
            let venue = Venue::parse(&venue)?;
            let stats = import(format, venue, &inputs, &output)
                .with_context(|| format!("importing into {}", output.display()))?;
            eprintln!(
                "feedwatch import: {} lines -> {} records ({} frames, {} sent, {} REST, {} connections) in {}; {} bad lines",
                stats.lines,
                stats.records,
                stats.frames,
                stats.sent,
                stats.rest,
                stats.opens,
                output.display(),
                stats.bad_lines
            );
            for s in &stats.bad_line_samples {
                eprintln!("  {s}");
            }
            Ok(())
        }
        Command::Run {
            config,
            record,
            sinks,
            serve,
        } => {
            let mut cfg = load_config(config.as_ref())?;
            let mut desk = feedwatch::serve::Desk::from_config(&cfg.serve, serve.as_deref())?;
            let opts = feedwatch::feed::RunOptions {
                record_dir: record,
                ..Default::default()
            };
            let hub = desk.as_ref().map(|d| d.hub.clone());
            let (sink, counters, more_sinks) = live_sinks(&mut cfg, sinks, desk.as_mut())?;
            let rt = runtime()?;
            let summary = rt.block_on(feedwatch::serve::serve_while(
                desk,
                feedwatch::serve::run_feed(cfg, opts, hub.as_ref(), shutdown_signal(), sink),
            ))?;
            match summary {
                Ok(s) => {
                    eprintln!("{s}");
                    report_sinks(more_sinks, &counters.snapshot());
                    Ok(())
                }
                Err(feedwatch::feed::FeedError::Sink(e)) => Err(e.into()),
                Err(e) => Err(e.into()),
            }
        }
        Command::Eval { config, json, dir } => {
            let cfg = load_config(config.as_ref())?;
            let report = feedwatch::eval::eval_dir(&cfg, &dir)?;
            if json {
                println!("{}", report.to_json());
            } else {
                println!("{report}");
            }
            if report.recall() < 1.0 || report.false_alarms() > 0 {
                bail!(
                    "recall {:.2} with {} false alarm(s): see the table",
                    report.recall(),
                    report.false_alarms()
                );
            }
            Ok(())
        }
        Command::Demo {
            config,
            fixtures,
            speed,
            faults,
            duration,
            record,
            sinks,
            serve,
        } => {
            let mut cfg = load_config(config.as_ref())?;
            let mut desk = feedwatch::serve::Desk::from_config(&cfg.serve, serve.as_deref())?;
            let speed: Speed = speed.parse().map_err(anyhow::Error::msg)?;
            let spec = faults.clone();
            let faults: feedwatch::sim::Faults = if faults == "none" {
                feedwatch::sim::Faults::default()
            } else {
                faults
                    .parse()
                    .map_err(|e: String| anyhow::anyhow!("--faults: {e}"))?
            };
            for f in &fixtures {
                if !f.is_file() {
                    bail!(
                        "fixture {} does not exist or is not a file (run the demo from the repository root)",
                        f.display()
                    );
                }
            }
            eprintln!(
                "feedwatch demo: simulators on 127.0.0.1 serve {} real recording(s) for {}; faults injected into the first one's simulator: {}",
                fixtures.len(),
                if duration == 0 {
                    "until interrupted".to_string()
                } else {
                    format!("{duration} s")
                },
                if faults == feedwatch::sim::Faults::default() {
                    "none"
                } else {
                    spec.as_str()
                }
            );
            let opts = feedwatch::demo::DemoOptions {
                fixtures,
                speed,
                faults,
                record_dir: record,
                hub: desk.as_ref().map(|d| d.hub.clone()),
            };
            let (sink, counters, more_sinks) = live_sinks(&mut cfg, sinks, desk.as_mut())?;
            let rt = runtime()?;
            let stop = async move {
                if duration == 0 {
                    shutdown_signal().await;
                } else {
                    tokio::select! {
                        _ = shutdown_signal() => {}
                        _ = tokio::time::sleep(std::time::Duration::from_secs(duration)) => {}
                    }
                }
            };
            match rt.block_on(feedwatch::serve::serve_while(
                desk,
                feedwatch::demo::run(cfg, opts, stop, sink),
            ))? {
                Ok(s) => {
                    eprintln!("{s}");
                    report_sinks(more_sinks, &counters.snapshot());
                    Ok(())
                }
                Err(feedwatch::demo::DemoError::Feed(feedwatch::feed::FeedError::Sink(e))) => {
                    Err(e.into())
                }
                Err(e) => Err(e.into()),
            }
        }
        Command::Simulate {
            fixtures,
            listen,
            speed,
            faults,
            replicate,
            looped,
        } => {
            let speed: Speed = speed.parse().map_err(anyhow::Error::msg)?;
            let faults: feedwatch::sim::Faults = faults
                .parse()
                .map_err(|e: String| anyhow::anyhow!("--faults: {e}"))?;
            for f in &fixtures {
                if !f.is_file() {
                    bail!("fixture {} does not exist or is not a file", f.display());
                }
            }
            let rt = runtime()?;
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind(&listen)
                    .await
                    .with_context(|| format!("cannot listen on {listen}"))?;
                let addr = listener.local_addr()?;
                eprintln!("feedwatch simulate: listening on ws://{addr}/stream");
                let counters = Arc::new(feedwatch::sim::SimCounters::default());
                let cfg = feedwatch::sim::SimConfig {
                    fixtures,
                    speed,
                    faults,
                    replicate,
                    looped,
                };
                feedwatch::sim::serve(listener, cfg, counters.clone(), shutdown_signal()).await;
                let get = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
                eprintln!(
                    "feedwatch simulate: {} connections served, {} refused, {} rejected with 429, {} frames sent, {} streams served, {} loops",
                    get(&counters.served),
                    get(&counters.refused),
                    get(&counters.rejected),
                    get(&counters.frames_sent),
                    get(&counters.streams_served),
                    get(&counters.loops)
                );
                Ok(())
            })
        }
        Command::ScanCandles {
            venue,
            symbol,
            interval,
            config,
            sources,
            files,
        } => {
            let cfg = load_config(config.as_ref())?;
            let Some(interval_secs) = parse_interval(&interval) else {
                bail!("invalid interval `{interval}`: use e.g. 1m, 5m, 1h, 1d");
            };
            if sources.is_empty() {
                let (Some(venue), Some(symbol)) = (venue, symbol) else {
                    bail!("scan-candles needs --venue and --symbol with FILES, or --source");
                };
                let venue = Venue::parse_any(&venue)?;
                let symbol = canonical_symbol(&symbol)?;
                let report = scan_files(&cfg.candle, venue, symbol, interval_secs, &files)?;
                write_alerts(&report.alerts)?;
                eprintln!(
                    "feedwatch scan-candles: {} candles from {} file(s), {} alerts, {} bad rows",
                    report.candles,
                    files.len(),
                    report.alerts.len(),
                    report.bad_rows.len()
                );
                for r in report.bad_rows.iter().take(10) {
                    eprintln!("  {r}");
                }
                return Ok(());
            }
            let mut specs: Vec<SourceSpec> = Vec::with_capacity(sources.len() + files.len());
            match (venue, symbol, files.is_empty()) {
                (None, None, true) => {}
                (Some(v), Some(s), false) => {
                    let venue = Venue::parse_any(&v)?;
                    let symbol = canonical_symbol(&s)?;
                    specs.extend(files.iter().map(|f| SourceSpec {
                        venue,
                        symbol: symbol.clone(),
                        from_trades: false,
                        path: f.clone(),
                    }));
                }
                _ => bail!(
                    "--venue, --symbol and FILES go together (one more source besides --source)"
                ),
            }
            for s in &sources {
                specs.push(s.parse::<SourceSpec>()?);
            }
            let report = scan_sources(&cfg.candle, &cfg.consensus, interval_secs, &specs)?;
            write_alerts(&report.alerts)?;
            let v = report.verdicts;
            eprintln!(
                "feedwatch scan-candles: {} candles from {} source(s), {} alerts, {} bad rows; abnormal candles: {} ({} confirmed by peers, {} venue alone, {} unconfirmed, {} with other assets' market-wide move, {} without peers)",
                report.candles,
                report.sources.len(),
                report.alerts.len(),
                report.bad_row_count,
                v.abnormal,
                v.confirmed,
                v.divergent,
                v.unconfirmed,
                v.market_wide,
                v.without_peers
            );
            for s in &report.sources {
                eprintln!(
                    "  {} {} {}: {} candles from {} file(s), {} bad rows, {} peer source(s)",
                    s.venue, s.symbol, s.stream, s.candles, s.files, s.bad_rows, s.peers
                );
            }
            for r in report.bad_rows.iter().take(10) {
                eprintln!("  {r}");
            }
            Ok(())
        }
    }
}

/// Checks a `BASE/QUOTE` symbol given on the command line.
fn canonical_symbol(s: &str) -> Result<Arc<str>> {
    let ok = s.split_once('/').is_some_and(|(b, q)| {
        !b.is_empty()
            && !q.is_empty()
            && !q.contains('/')
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '/')
    });
    if !ok {
        bail!("invalid symbol `{s}`: use canonical BASE/QUOTE, e.g. BTC/USDT");
    }
    Ok(Arc::from(s.to_ascii_uppercase()))
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM ({e}); Ctrl-C still stops");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    eprintln!("feedwatch: shutting down");
}
