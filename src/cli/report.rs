//! `feedwatch report`: fixtures (or one scenario recipe) replayed at full
//! speed into one self-contained HTML incident report.
//!
//! This file only reads the arguments and calls the library's report
//! writer; it holds no detection or rendering logic.

use super::common::load_config;
use anyhow::Result;
use std::path::PathBuf;

/// The arguments of `feedwatch report` (their docs are its `--help`).
#[derive(clap::Args, Debug)]
pub struct Args {
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
}

pub fn run(args: Args) -> Result<()> {
    let cfg = load_config(args.config.as_ref())?;
    let report = feedwatch::report::write_report(cfg.detect(), &args.inputs, &args.output)?;
    eprintln!("{report} -> {}", args.output.display());
    Ok(())
}
