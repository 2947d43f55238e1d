//! `feedwatch scan-candles`: the candle checks over historical candle CSV
//! files, from one venue (`--venue --symbol FILES`) or several at once
//! (`--source`, repeatable) with peer confirmation; alerts on stdout as
//! JSON lines, a summary on stderr.
//!
//! This file only turns the arguments into scan sources and calls the
//! library's scans (`feedwatch::candles`); it holds no candle check and no
//! consensus logic.

use super::common::{canonical_symbol, load_config};
use anyhow::{Result, bail};
use feedwatch::alert::Alert;
use feedwatch::candles::scan::scan_files;
use feedwatch::candles::{SourceSpec, scan_sources};
use feedwatch::config::Config;
use feedwatch::model::{Venue, parse_interval};
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

/// The arguments of `feedwatch scan-candles` (their docs are its `--help`).
#[derive(clap::Args, Debug)]
pub struct Args {
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
}

pub fn run(args: Args) -> Result<()> {
    let cfg = load_config(args.config.as_ref())?;
    let Some(interval_secs) = parse_interval(&args.interval) else {
        bail!(
            "invalid interval `{}`: use e.g. 1m, 5m, 1h, 1d",
            args.interval
        );
    };
    if args.sources.is_empty() {
        scan_one(&cfg, interval_secs, args)
    } else {
        scan_many(&cfg, interval_secs, args)
    }
}

/// One venue's files, without peers.
fn scan_one(cfg: &Config, interval_secs: u32, args: Args) -> Result<()> {
    let (Some(venue), Some(symbol)) = (args.venue, args.symbol) else {
        bail!("scan-candles needs --venue and --symbol with FILES, or --source");
    };
    let venue = Venue::parse_any(&venue)?;
    let symbol = canonical_symbol(&symbol)?;
    let report = scan_files(&cfg.candle, venue, symbol, interval_secs, &args.files)?;
    write_alerts(&report.alerts)?;
    eprint!("{report}");
    Ok(())
}

/// Every `--source`, plus `--venue --symbol FILES` when given, each abnormal
/// candle put to its peers.
fn scan_many(cfg: &Config, interval_secs: u32, args: Args) -> Result<()> {
    let mut specs: Vec<SourceSpec> = Vec::with_capacity(args.sources.len() + args.files.len());
    match (args.venue, args.symbol, args.files.is_empty()) {
        (None, None, true) => {}
        (Some(v), Some(s), false) => {
            let venue = Venue::parse_any(&v)?;
            let symbol = canonical_symbol(&s)?;
            specs.extend(args.files.iter().map(|f| SourceSpec {
                venue,
                symbol: symbol.clone(),
                from_trades: false,
                price_column: None,
                path: f.clone(),
            }));
        }
        _ => bail!("--venue, --symbol and FILES go together (one more source besides --source)"),
    }
    for s in &args.sources {
        specs.push(s.parse::<SourceSpec>()?);
    }
    let report = scan_sources(&cfg.candle, &cfg.consensus, interval_secs, &specs)?;
    write_alerts(&report.alerts)?;
    eprint!("{report}");
    Ok(())
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
