//! The command line's grammar and dispatch: the clap [`Cli`], one
//! [`Command`] variant per subcommand, each holding the `Args` of its own
//! file, and [`Cli::run`], which hands the arguments to that file's `run`.
//!
//! Nothing here parses more than clap does or does any work itself: a new
//! command is a new file plus one variant and one match arm below.

mod common;
mod demo;
mod eval;
mod import;
mod replay;
mod report;
mod run;
mod scan_candles;
mod simulate;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// Market-data anomaly detector: flags silent, lagging and broken exchange
/// feeds and abnormal candles, as JSON-lines alerts.
#[derive(Parser, Debug)]
#[command(name = "feedwatch", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Replay recorded fixtures through the engine; alerts on stdout as JSON
    /// lines, a summary on stderr.
    Replay(replay::Args),
    /// Convert foreign recordings into the fixture format.
    Import(import::Args),
    /// Connect to the configured venues and watch them live; alerts on
    /// stdout as JSON lines, a summary on stderr at shutdown (SIGINT/SIGTERM).
    Run(run::Args),
    /// The live consumer against local simulators serving the bundled real
    /// recordings, in one process with no internet: alerts on stdout as
    /// JSON lines, a summary on stderr. Stops after --duration or on
    /// SIGINT/SIGTERM.
    Demo(demo::Args),
    /// Score the detectors on labelled scenarios (`DIR/*.toml`: real
    /// recordings, faults injected by code, expected alerts): a table on
    /// stdout (or JSON with --json). Fails when a label is missed or an
    /// alert of warning or above is not explained.
    Eval(eval::Args),
    /// Serve recorded fixtures over WebSocket, as a local exchange, with
    /// faults on demand (for testing `run`; see README for --faults).
    Simulate(simulate::Args),
    /// Replay fixtures (or one scenario recipe) at full speed and write an
    /// incident report: one self-contained HTML page with incidents per
    /// venue on a timeline, price charts with anomalies marked, staleness
    /// and lag per venue, and the alert table.
    Report(report::Args),
    /// Run the candle checks over historical candle CSV files.
    ///
    /// From one venue (`--venue --symbol FILES`) or from several at once
    /// (`--source`, repeatable), where each abnormal candle is put to the
    /// other venues of the same pair family (USD/USDT/USDC as one): peers
    /// that moved too make it a market move (info), a venue alone keeps
    /// its severity and is named, and without peer candles it is
    /// "unconfirmed".
    ScanCandles(scan_candles::Args),
}

impl Cli {
    /// Runs the chosen command.
    pub fn run(self) -> Result<()> {
        match self.command {
            Command::Replay(args) => replay::run(args),
            Command::Import(args) => import::run(args),
            Command::Run(args) => run::run(args),
            Command::Demo(args) => demo::run(args),
            Command::Eval(args) => eval::run(args),
            Command::Simulate(args) => simulate::run(args),
            Command::Report(args) => report::run(args),
            Command::ScanCandles(args) => scan_candles::run(args),
        }
    }
}
