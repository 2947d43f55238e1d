//! What several commands share, in one place: loading the config, the
//! alert-sink flags and opening the sinks, the summary with the sinks'
//! counters, parsing `--speed` and `--faults`, checking a canonical symbol,
//! the async runtime of the live commands and the shutdown signal.
//!
//! Helpers here only turn command-line text into library values and wire
//! the process (signals, runtime, stderr) to the library; they never look
//! at market data. A helper one command uses stays in that command's file.

use anyhow::{Context, Result, bail};
use feedwatch::config::Config;
use feedwatch::replay::Speed;
use feedwatch::serve::Desk;
use feedwatch::sim::Faults;
use feedwatch::sink::BoxSink;
use feedwatch::sink::{SinkCounters, SinkStats, Sinks};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// Alert sinks besides stdout, over the config's `[sinks]`.
#[derive(clap::Args, Debug)]
pub struct SinkFlags {
    /// Also append every alert to this durable JSON-lines log (overrides
    /// `sinks.log.path`; other `[sinks.log]` settings or their defaults
    /// apply).
    #[arg(long, value_name = "PATH")]
    alert_log: Option<PathBuf>,
    /// Also POST every alert to this URL (overrides `sinks.webhook.url`).
    #[arg(long, value_name = "URL")]
    webhook: Option<String>,
}

/// What a live run (`run`, `demo`) does besides printing alerts: record,
/// the alert sinks, the desk server.
#[derive(clap::Args, Debug)]
pub struct LiveFlags {
    /// Record every record the engine sees into this directory (zstd
    /// fixtures, rotated by size or age; replay them with `replay`).
    #[arg(long)]
    pub record: Option<PathBuf>,
    #[command(flatten)]
    pub sinks: SinkFlags,
    /// Serve the desk feed, status, metrics and dashboard on this
    /// address (e.g. `127.0.0.1:8080`; overrides `[serve] listen`).
    #[arg(long, value_name = "ADDR")]
    pub serve: Option<String>,
}

/// The config at `path`, or the defaults without one.
pub fn load_config(path: Option<&PathBuf>) -> Result<Config> {
    match path {
        Some(p) => Ok(Config::load(p)?),
        None => Ok(Config::default()),
    }
}

/// The alert sinks of `cfg` with the command-line flags applied.
pub fn open_sinks(cfg: &mut Config, flags: SinkFlags) -> Result<Sinks> {
    cfg.sinks
        .apply_cli(flags.alert_log, flags.webhook)
        .map_err(anyhow::Error::msg)?;
    Sinks::open(&cfg.sinks).context("opening the alert sinks")
}

/// Whether `cfg` sends alerts anywhere besides stdout (then the sinks'
/// counters are part of the summary).
pub fn more_sinks(cfg: &Config) -> bool {
    cfg.sinks.log.is_some() || cfg.sinks.webhook.is_some()
}

/// The sinks of a live run (`run`, `demo`): the engine thread's alert sink,
/// and what the summary needs of them afterwards. The counters are also on
/// the desk server's `/metrics` when there is one.
pub fn live_sinks(
    cfg: &mut Config,
    flags: SinkFlags,
    desk: Option<&mut Desk>,
) -> Result<(BoxSink, SinkReport)> {
    let sinks = open_sinks(cfg, flags)?;
    let counters = sinks.counters();
    if let Some(d) = desk {
        d.server.sources.push(counters.clone());
    }
    let report = SinkReport {
        counters,
        more: more_sinks(cfg),
    };
    Ok((Box::new(sinks), report))
}

/// A live run's sink counters, read once the run is over.
pub struct SinkReport {
    counters: Arc<SinkCounters>,
    more: bool,
}

impl SinkReport {
    /// `summary` followed by the sinks' counters when there is more than
    /// stdout.
    pub fn finished<S>(&self, summary: S) -> Finished<S> {
        Finished {
            summary,
            sinks: self.more.then(|| self.counters.snapshot()),
        }
    }
}

/// The summary of a command that wrote alerts (`replay`, `run`, `demo`):
/// the command's own summary, then the sinks' counters when alerts went
/// anywhere besides stdout.
pub struct Finished<S> {
    /// The command's summary.
    pub summary: S,
    /// The sinks' counters, `None` when stdout was the only sink.
    pub sinks: Option<SinkStats>,
}

impl<S: fmt::Display> fmt::Display for Finished<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.summary)?;
        if let Some(stats) = &self.sinks {
            writeln!(f, "feedwatch {stats}")?;
        }
        Ok(())
    }
}

/// `--speed`: `max` or a factor of recorded speed.
pub fn parse_speed(s: &str) -> Result<Speed> {
    s.parse().map_err(anyhow::Error::msg)
}

/// `--faults` of a simulator (`close-after=500,conns=1`, ...).
pub fn parse_faults(s: &str) -> Result<Faults> {
    s.parse()
        .map_err(|e: String| anyhow::anyhow!("--faults: {e}"))
}

/// Checks a `BASE/QUOTE` symbol given on the command line.
pub fn canonical_symbol(s: &str) -> Result<Arc<str>> {
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

/// The async runtime of the live commands.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
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
